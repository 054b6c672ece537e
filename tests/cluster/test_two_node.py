"""Multi-node for real: a tuning run on an emulated 2-node cluster survives losing a node."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _results(exp_dir: Path) -> dict[str, list[dict]]:
    out = {}
    for d in sorted(exp_dir.glob("ExperimentTrainable_*")):
        if (d / "result.json").exists():
            rows = [json.loads(x) for x in (d / "result.json").read_text().splitlines() if x.strip()]
            out[rows[0]["trial_id"]] = rows
    return out


def test_two_node_tune_survives_worker_loss(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "cluster" / "two_node_tune.py"), str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=420)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    ev = json.loads(lines[-1][len("RESULT "):])
    res = _results(tmp_path / "tune-aps_random_tiny")
    assert len(res) == 2
    nodes = {r["node_id"] for rows in res.values() for r in rows}
    assert {ev["head"], ev["worker"]} <= nodes  # work ran on both nodes
    killed = ev["killed_at"]
    assert killed is not None, "the worker node was never killed"
    for tid, rows in res.items():
        its = [r["training_iteration"] for r in rows]
        assert its[-1] == 6, (tid, its)  # every trial completed
    victim = res[killed["trial"]]
    after = [r for r in victim if r["node_id"] != ev["worker"]]
    assert after and "restore/from_iteration" in after[0]  # restarted elsewhere ...
    assert after[0]["restore/from_iteration"] >= 1  # ... from its last checkpoint, not from scratch
    assert after[0]["training_iteration"] == after[0]["restore/from_iteration"] + 1
    survivor = next(rows for tid, rows in res.items() if tid != killed["trial"])
    assert [r["training_iteration"] for r in survivor] == list(range(1, 7))  # nothing lost, nothing redone
