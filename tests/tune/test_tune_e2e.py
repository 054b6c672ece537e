"""Real Ray Tune runs on the tiny scenario: PBT exploit semantics, search + summary files, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("ray_session")


def _results(exp_dir: Path) -> dict[str, list[dict]]:
    out = {}
    for d in sorted(exp_dir.glob("ExperimentTrainable_*")):
        if not (d / "result.json").exists():
            continue
        rows = [json.loads(line) for line in (d / "result.json").read_text().splitlines() if line.strip()]
        if rows:
            out[rows[0]["trial_id"]] = rows
    return out


@pytest.mark.parametrize("config", ["aps_pbt_tiny", "aps_pb2_tiny"])
def test_pbt_exploit_carries_weights_and_multipliers_and_keeps_own_hyperparameters(tmp_path, config):
    from cfmarl.tune import tune_experiment

    out = tune_experiment(f"tune_configs/{config}.yaml", storage=str(tmp_path), quiet=True)
    assert (out / "trials.csv").exists() and (out / "tune.png").exists()
    res = _results(out)
    assert len(res) == 2 and all(rows[-1]["training_iteration"] == 6 for rows in res.values())
    exploits = 0
    for trial, rows in res.items():
        for prev, row in zip(rows, rows[1:]):
            if "restore/from_iteration" not in row or row["restore/from_trial"] == trial:
                continue  # not restored, or a plain pause/resume of itself
            exploits += 1
            # the donor's weights and multipliers as its checkpoint holds them ...
            assert row["restore/digest"] == row["restore/checkpoint_digest"]
            assert row["restore/multipliers"] == row["restore/checkpoint_multipliers"]
            # ... which are what the donor reported after that iteration. After an exploit Ray resets a trial's
            # iteration counter to the donor's, so a trial's file can hold two rows of one iteration (or lose
            # rows it logged before a restore): the donor's reports at that iteration must include the digest.
            reported = [r for r in res[row["restore/from_trial"]]
                        if r["training_iteration"] == row["restore/from_iteration"]]
            if reported:
                assert row["restore/checkpoint_digest"] in {r["weights_digest"] for r in reported}
            # ... trained on with the trial's OWN perturbed hyperparameters
            cfg = row["config"]
            assert row["hp/lr"] == pytest.approx(cfg["algorithm.lr"], rel=1e-9)
            assert row["hp/lambda_lr"] == pytest.approx(cfg["algorithm.lambda_lr"], rel=1e-9)
            if config == "aps_pbt_tiny":  # PBT perturbs by 0.8 / 1.2 (PB2 picks by its GP: may keep a value)
                assert cfg["algorithm.lr"] != pytest.approx(row["restore/from_values"]["algorithm.lr"], rel=1e-6)
            # the multiplier step of this iteration used the new lambda_lr (gradient rule, eq. 14)
            expected = max(0.0, row["restore/multipliers"][0]
                           + row["hp/lambda_lr"] * (row["lagrange/mean_cost_0"] - row["hp/cost_limit"]))
            assert row["lagrange/multipliers"][0] == pytest.approx(expected, rel=1e-6)
    assert exploits >= 1


def test_random_search_with_validation_fitness(tmp_path):
    from cfmarl.tune import tune_experiment

    out = tune_experiment("tune_configs/aps_random_tiny.yaml", storage=str(tmp_path), iterations=2, quiet=True)
    res = _results(out)
    assert len(res) == 2
    seeds = {rows[0]["hp/seed"] for rows in res.values()}
    assert seeds == {0.0, 1.0}  # num_samples -> distinct seeds
    for rows in res.values():
        last = rows[-1]
        assert last["fitness/source"] == 1.0 and "val/mean_cost" in last  # validated at iteration 2
        assert 1e-4 <= last["hp/lr"] <= 1e-3 and last["hp/lambda_lr"] in (0.5, 2.0)
    import csv

    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"algorithm.lr", "fitness", "checkpoint"} <= set(rows[0])
    fit = [float(r["fitness"]) for r in rows]
    assert fit == sorted(fit, reverse=True)
    from cfmarl.policies.module_controller import load_module

    module = load_module(rows[0]["checkpoint"])  # a tune trial checkpoint is a policy for `cfmarl evaluate`
    assert module.n_max == 8


def test_random_search_on_a_continuous_action_env(tmp_path):
    """`cfmarl tune` on power control: the trials table carries the env's declared headline KPI."""
    import csv

    from cfmarl.policies.module_controller import load_module
    from cfmarl.tune import tune_experiment

    out = tune_experiment("tune_configs/power_random_tiny.yaml", storage=str(tmp_path), quiet=True)
    with open(out / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(r["status"] == "TERMINATED" for r in rows)
    assert all(float(r["kpi/objective_bps_hz"]) > 0 and "val/objective_bps_hz" in r for r in rows)
    assert (out / "tune.png").exists()
    module = load_module(rows[0]["checkpoint"])
    assert module.action_space.shape == (3, 1)  # one power level per UE agent


def test_existing_experiment_needs_resume_or_fresh(tmp_path):
    from cfmarl.envs.validation import ConfigError
    from cfmarl.tune import tune_experiment

    tune_experiment("tune_configs/aps_random_tiny.yaml", storage=str(tmp_path), iterations=1, num_samples=1,
                    quiet=True)
    with pytest.raises(ConfigError, match="--resume"):
        tune_experiment("tune_configs/aps_random_tiny.yaml", storage=str(tmp_path), iterations=1, quiet=True)


def test_resume_after_interrupt_keeps_finished_trials(tmp_path):
    """SIGINT the CLI while the second trial runs; --resume finishes it from its checkpoint
    and leaves the first (finished) trial's results untouched. Trials are long enough
    (ITERS iterations) that the interrupted one cannot finish before SIGINT lands."""
    ITERS = 30
    exp_dir = tmp_path / "tune-aps_random_tiny"
    cmd = [sys.executable, "-m", "cfmarl.cli", "tune", "tune_configs/aps_random_tiny.yaml", "--storage",
           str(tmp_path), "--quiet", "--iterations", str(ITERS)]
    env = dict(os.environ, TUNE_MAX_PENDING_TRIALS_PG="1")
    yaml_override = tmp_path / "exp.yaml"
    yaml_override.write_text(Path("tune_configs/aps_random_tiny.yaml").read_text().replace(
        "tune: {scheduler: fifo, num_samples: 2, max_failures: 3}",
        "tune: {scheduler: fifo, num_samples: 2, max_failures: 3, max_concurrent_trials: 1}"))
    cmd[4] = str(yaml_override)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            res = _results(exp_dir) if exp_dir.exists() else {}
            done = [r for r in res.values() if r[-1]["training_iteration"] == ITERS]
            running = [r for r in res.values() if 2 <= r[-1]["training_iteration"] < ITERS // 2]
            if done and running:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the experiment did not reach the interrupt point")
        finished_id = done[0][0]["trial_id"]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = {tid: rows for tid, rows in _results(exp_dir).items()}
    interrupted_id = next(t for t in before if t != finished_id)
    assert before[interrupted_id][-1]["training_iteration"] < ITERS

    from cfmarl.tune import tune_experiment

    out = tune_experiment(str(yaml_override), storage=str(tmp_path), resume=True, iterations=ITERS, quiet=True)
    after = _results(out)
    assert after[finished_id] == before[finished_id]  # not redone, nothing lost
    rows = after[interrupted_id]
    assert rows[-1]["training_iteration"] == ITERS
    resumed = [r for r in rows if "restore/from_iteration" in r]
    assert resumed and resumed[0]["restore/from_iteration"] >= 1  # continued from a checkpoint, not from scratch
    assert rows[:len(before[interrupted_id])] == before[interrupted_id]  # earlier results kept


def test_uri_storage(tmp_path, monkeypatch):
    """A pyarrow URI as storage: Tune writes the experiment through pyarrow, the summary lands locally."""
    from cfmarl.tune import tune_experiment

    config = str(Path("tune_configs/aps_random_tiny.yaml").resolve())
    monkeypatch.chdir(tmp_path)
    summary = tune_experiment(config, storage=f"file://{tmp_path}/store", iterations=1, num_samples=1, quiet=True)
    assert (tmp_path / "store" / "tune-aps_random_tiny").is_dir()
    assert len(_results(tmp_path / "store" / "tune-aps_random_tiny")) == 1
    assert (tmp_path / summary / "trials.csv").exists()
