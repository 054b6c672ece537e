"""benchmarks/urllc_transition_probe.py on the tiny dataset: a row per view, model and clip with the recorded
means beside the model's, the cache reused on a rerun, the clip bounding the one-step error, bad arguments named."""

import csv

import pytest
from bench_scripts import load

pytest.importorskip("kan")
pytest.importorskip("diffusers")


def test_probe_rows_cache_and_clip(fitted, tmp_path, capsys):
    data = fitted[0] / "data"
    script = load("urllc_transition_probe")
    args = ["--dataset", str(data), "--kinds", "cvae", "--rows", "40", "--epochs", "2", "--clip", "0", "0.5",
            "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out")]
    assert script.main(args) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "vcmdp_transition_probe.csv").open()))
    assert [(r["view"], r["kind"], float(r["clip"])) for r in rows] == [
        ("queue", "cvae", 0.0), ("queue", "cvae", 0.5), ("channel", "cvae", 0.0), ("channel", "cvae", 0.5)]
    for r in rows:
        assert float(r["one_step_mae"]) >= 0 and float(r["persistence_mae"]) >= 0
    # the queue rollout starts from the recorded first state: its first range's recorded mean is the data's
    assert float(rows[0]["range0_recorded"]) == pytest.approx(float(rows[1]["range0_recorded"]))
    assert float(rows[3]["one_step_max_error"]) <= float(rows[2]["one_step_max_error"]) + 1e-9
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["channel_cvae_40_2.pt", "queue_cvae_40_2.pt"]
    md = (tmp_path / "out" / "vcmdp_transition_probe.md").read_text()
    assert "| queue | recorded |" in md and "| channel | cvae | 0.5 |" in md
    capsys.readouterr()
    assert script.main(args) == 0
    assert "fitted" not in capsys.readouterr().out  # cached: evaluated only
    again = list(csv.DictReader((tmp_path / "out" / "vcmdp_transition_probe.csv").open()))
    timing = ("eval_seconds", "fit_seconds")
    assert [{k: v for k, v in r.items() if k not in timing} for r in again] == \
        [{k: v for k, v in r.items() if k not in timing} for r in rows]  # same draws from the cached fits
    assert script.main(["--dataset", str(tmp_path / "nowhere")]) == 2
    assert "--dataset: " in capsys.readouterr().err
    assert script.main(["--dataset", str(data), "--rows", "0", "--clip", "-1", "--z-draws", "0"]) == 2
    assert "--rows 0, --z-draws 0, --clip -1.0" in capsys.readouterr().err
