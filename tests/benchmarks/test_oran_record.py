"""benchmarks/oran_precoding.py / oran_report.py (issue 12): a partial re-run merges its rows into the record
only when the classical schemes it evaluated again agree with it, and the claims rebuilt from the recorded CSV
files are the recorded claims.csv (the record and the code that reads it have not drifted apart)."""

import csv
import sys
from pathlib import Path

import pytest
from bench_scripts import load

ROOT = Path(__file__).resolve().parents[2]
RECORD = ROOT / "benchmarks" / "results" / "precoding"


op = load("oran_precoding", siblings=True)  # it imports its siblings (seed_runs, oran_report)
report = sys.modules["oran_report"]  # the record module oran_precoding imported (the one merge_record uses)


def _row(method: str, rate: float, seeds: int = 0, csi: float = 0.0) -> dict:
    return {"scenario": "medium", "csi_error": csi, "method": method, "seeds": seeds, "sum_rate_bps_hz": rate}


def test_merge_replaces_the_methods_rows_and_keeps_the_others(tmp_path):
    path = tmp_path / "table.csv"
    report.write_csv(path, [_row("C-RZF", 132.577), _row("MASAC", 70.0, 3), _row("DRL-WMMSE", 44.0, 3),
                            _row("C-RZF", 107.043, csi=0.01)])
    # the record keeps 6 significant digits: a fresh classical value that rounds to it agrees
    merged = op.merge_record(path, [_row("C-RZF", 132.5771), _row("MASAC", 72.0, 3), _row("new", 1.0, 3)], "test")
    assert [(r["method"], r["sum_rate_bps_hz"]) for r in merged] == [
        ("C-RZF", 132.5771), ("MASAC", 72.0), ("DRL-WMMSE", 44.0), ("C-RZF", 107.043), ("new", 1.0)]
    on_disk = {(r["method"], float(r["csi_error"])): float(r["sum_rate_bps_hz"]) for r in report.read_csv(path)}
    assert on_disk == {("C-RZF", 0.0): 132.577, ("MASAC", 0.0): 72.0, ("DRL-WMMSE", 0.0): 44.0,
                       ("C-RZF", 0.01): 107.043, ("new", 0.0): 1.0}


def test_merge_refuses_when_a_classical_scheme_disagrees_with_the_record(tmp_path):
    path = tmp_path / "table.csv"
    report.write_csv(path, [_row("C-RZF", 132.577), _row("MASAC", 70.0, 3)])
    before = path.read_text()
    with pytest.raises(SystemExit, match="C-RZF .*was 132.577, now 131.0: not the recorded episodes"):
        op.merge_record(path, [_row("C-RZF", 131.0), _row("MASAC", 72.0, 3)], "--episodes")
    assert path.read_text() == before  # nothing written


@pytest.mark.skipif(not (RECORD / "claims.csv").exists(), reason="no recorded O-RAN results")
def test_claims_rebuilt_from_the_recorded_csv_files_are_the_recorded_claims():
    agg, csi = report.read_csv(RECORD / "oran_table.csv"), report.read_csv(RECORD / "oran_csi_error.csv")
    change = report.read_csv(RECORD / "oran_rate_change.csv")
    rebuilt = report.claims(agg, csi, change, seeds=[0, 1, 2], change_step=20)
    with open(RECORD / "claims.csv") as f:
        recorded = list(csv.DictReader(f))
    assert [r["claim"] for r in rebuilt] == [r["claim"] for r in recorded]
    for new, old in zip(rebuilt, recorded):
        assert (new["measured"], new["holds"]) == (old["measured"], old["holds"]), new["claim"]
