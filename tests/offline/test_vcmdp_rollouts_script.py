"""benchmarks/urllc_vcmdp_rollouts.py on the tiny fitted models: the recorded episodes' own row, one row per
predictor and per learned env, the plot, and a missing model folder named in one line."""

import csv

import pytest
from bench_scripts import load

pytest.importorskip("kan")
pytest.importorskip("diffusers")


def test_rollout_table_rows_and_plot(fitted, tmp_path, capsys):
    root = fitted[0]
    runs = tmp_path / "offline-x"
    runs.mkdir()
    (runs / "dataset").symlink_to(root / "data")
    (runs / "models").symlink_to(root / "models")
    script = load("urllc_vcmdp_rollouts")
    assert script.main(["--runs", str(runs), "--out", str(tmp_path / "out"), "--frameworks", "vae_chmdn", "vae"]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "vcmdp_rollouts.csv").open()))
    assert [r["source"] for r in rows] == [
        "real env (recorded)", "one step, KAN predictors on the recorded (s, a)",
        "one step, MLP predictors on the recorded (s, a)", "rollout, VAE-ChMDN + EA-CGMM (KAN predictors)",
        "rollout, VAE + CVAE (KAN predictors)"]
    real = rows[0]
    assert float(real["reward_ratio"]) == pytest.approx(1.0) and float(real["episode_violation_mae"]) == 0.0
    for r in rows:
        assert 0 <= float(r["violation_rate"]) <= 1 and float(r["reward_mbit_per_j"]) >= 0
    assert float(rows[3]["buffered_packets"]) >= 0
    assert (tmp_path / "out" / "vcmdp_rollouts.png").stat().st_size > 0
    assert "| real env (recorded) |" in (tmp_path / "out" / "vcmdp_rollouts.md").read_text()
    assert script.main(["--runs", str(runs), "--out", str(tmp_path / "dec"), "--frameworks", "vae_chmdn",
                        "--decompose", "--stem", "dec"]) == 0
    dec = list(csv.DictReader((tmp_path / "dec" / "dec.csv").open()))
    assert [r["source"] for r in dec[3:]] == [
        "rollout, VAE-ChMDN + EA-CGMM (KAN predictors)",
        "rollout, VAE-ChMDN + EA-CGMM, real channel states (queue model alone)",
        "rollout, VAE-ChMDN + EA-CGMM, real queue states (channel model alone)"]
    assert float(dec[-1]["buffered_packets"]) == pytest.approx(float(real["buffered_packets"]))
    assert "--decompose" in (tmp_path / "dec" / "dec.md").read_text()
    assert script.main(["--runs", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert script.main(["--runs", str(runs), "--out", str(tmp_path / "out"), "--frameworks"]) == 2
    assert "--frameworks: (none) not fitted" in capsys.readouterr().err
    assert script.main(["--runs", str(runs), "--out", str(tmp_path / "out"), "--policy", str(tmp_path / "no-run")]) == 2
    err = capsys.readouterr().err
    assert "--policy: " in err and "no such checkpoint or run directory" in err
    assert script.main(["--runs", str(runs), "--out", str(tmp_path / "out"), "--policy", str(tmp_path / "no-run"),
                        "--ensemble", "1"]) == 2
    assert "--ensemble: 0 (none) or at least 2" in capsys.readouterr().err
