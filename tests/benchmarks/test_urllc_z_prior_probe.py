"""benchmarks/urllc_z_prior_probe.py on a tiny URLLC dataset: a row per z prior and z draws, rows of another
budget kept, bad arguments refused by name."""

import csv

import pytest
from bench_scripts import load


def test_probe_rows_per_prior_and_budget(tmp_path, capsys):
    from cfmarl.datasets import collect

    collect("urllc", "s2222", {"episode_slots": 5}, ["random"], episodes=10, seed=32, out=tmp_path / "data",
            quiet=True)
    probe = load("urllc_z_prior_probe")
    args = ["--dataset", str(tmp_path / "data"), "--conditions", "8", "--draw-seeds", "2", "--out", str(tmp_path)]
    assert probe.main(args + ["--rows", "30", "--epochs", "1"]) == 0
    assert probe.main(args + ["--rows", "30", "--epochs", "2", "--priors", "conditional", "--z-draws", "1", "3"]) == 0
    rows = list(csv.DictReader((tmp_path / "z_prior_probe.csv").open()))
    assert [(r["z_prior"], r["z_draws"], r["epochs"]) for r in rows] == [
        ("standard", "1", "1"), ("conditional", "1", "1"), ("conditional", "1", "2"), ("conditional", "3", "2")]
    for r in rows:
        assert int(r["train_rows"]) == 30 and int(r["test_conditions"]) == 8
        assert 0 < float(r["median_abs"]) <= float(r["p99_abs"]) <= float(r["max_abs"])
        assert 0 <= float(r["credible_components"]) <= 8 and float(r["us_per_draw"]) > 0
        assert 0 <= float(r["fallback_share"]) <= 1
    assert "| conditional | 3 | 30 | 2 |" in (tmp_path / "z_prior_probe.md").read_text()
    with pytest.raises(SystemExit):
        probe.main(["--dataset", str(tmp_path / "nowhere")])
    assert "has no manifest.json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        probe.main(args + ["--z-draws", "0"])
    assert "--z-draws: integers >= 1" in capsys.readouterr().err
