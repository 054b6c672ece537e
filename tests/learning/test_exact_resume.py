"""Exact resume and damaged run folders (real Ray / RLlib, tiny sizes).

An interrupted run resumed from a checkpoint must give the same metrics after the resume point
as an uninterrupted run with the same seed: `cfmarl train` (in-process interruption and a
SIGKILLed process), an off-policy learner (replay buffer, SAC sampling), a remote env runner,
and a Tune trial. Damaged checkpoints are skipped with a message; nothing intact left is one line.
"""

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cfmarl import checkpoints
from cfmarl.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tune_configs" / "aps_gnn_tiny.yaml"
SAC_TINY = ROOT / "tune_configs" / "power_sac_tiny.yaml"


def _yaml(tmp: Path, src: Path, name: str, **sections) -> Path:
    data = yaml.safe_load(src.read_text())
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    data["name"] = name
    out = tmp / f"{name}.yaml"
    out.write_text(yaml.safe_dump(data))
    return out


def _rows(run: Path) -> list[dict]:
    """metrics.csv without the wall-clock column."""
    return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(open(run / "metrics.csv"))]


def _train(path: Path, out: Path, iterations: int, *extra: str) -> int:
    return main(["train", str(path), "--out", str(out), "--iterations", str(iterations), "--quiet", *extra])


@pytest.mark.parametrize("src,sections", [
    (TINY, {"algorithm": {"entropy_floor": 1.0, "entropy_floor_lr": 0.2}}),  # PPO-Lagrangian, GRU model, envs in
    #                 the driver, the entropy floor's multiplier rising every iteration (above ln 2: learner state)
    (SAC_TINY, {}),  # SAC-Lagrangian: replay buffer and its sampler, stochastic actions in the loss
    (TINY, {"resources": {"num_env_runners": 1, "num_envs_per_env_runner": 2}}),  # a remote env runner
    (TINY, {"algorithm": {"critic_warmup_iterations": 3,  # interrupted inside the warm-up, with a steered target
                          "lr_schedule": [[0, 3.0e-4], [3, 3.0e-5]]},  # and halfway down an lr schedule
            "training": {"selection": "judged", "retarget_rate": 0.5}}),
], ids=["ppo", "sac", "remote-runner", "warmup-retarget"])
def test_resumed_train_equals_uninterrupted(ray_session, tmp_path, capsys, src, sections):
    y = _yaml(tmp_path, src, "exact", **sections)
    assert _train(y, tmp_path / "a", 4) == 0
    assert _train(y, tmp_path / "b", 2) == 0  # "interrupted" after iteration 2 ...
    assert _train(y, tmp_path / "b", 4) == 0  # ... and resumed
    out = capsys.readouterr().out
    assert "Resuming" in out and "not an exact resume" not in out
    a, b = _rows(tmp_path / "a" / "train-exact"), _rows(tmp_path / "b" / "train-exact")
    assert [r["iteration"] for r in b] == ["1", "2", "3", "4"]
    assert a == b
    if "entropy_floor" in sections.get("algorithm", {}):
        assert 0 < float(a[1]["entropy_floor/extra"]) < float(a[3]["entropy_floor/extra"])


def test_sigkilled_train_resumes_exactly(ray_session, tmp_path, capsys):
    """Kill -9 the CLI while it trains (possibly in the middle of writing a checkpoint); the re-run
    resumes from the newest intact checkpoint and ends with the uninterrupted run's metrics."""
    iters = 12
    y = _yaml(tmp_path, TINY, "killed", algorithm={"train_batch_size": 200, "minibatch_size": 50},
              training={"validate_every": 0})
    run = tmp_path / "b" / "train-killed"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "cfmarl.cli", "train", str(y), "--out", str(tmp_path / "b"),
                             "--iterations", str(iters), "--quiet"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and not (run / "checkpoints" / "iter_000002").exists():
            assert proc.poll() is None, "the training process ended before its second checkpoint"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = [int(p.name[5:]) for p in (run / "checkpoints").glob("iter_*")]
    assert max(done_before) < iters  # really interrupted
    assert _train(y, tmp_path / "b", iters) == 0
    assert _train(y, tmp_path / "a", iters) == 0
    out = capsys.readouterr().out
    assert "Resuming" in out and "not an exact resume" not in out
    assert _rows(run) == _rows(tmp_path / "a" / "train-killed")
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_tune_trial_resumes_exactly(ray_session, tmp_path):
    """A Tune trial restored from its own checkpoint continues exactly; from another trial's (a PBT
    exploit) it keeps the weights but draws its own env streams."""
    from cfmarl.tune_trainable import BASE_KEY, SEED_OFFSET_KEY, ExperimentTrainable

    data = yaml.safe_load(TINY.read_text())
    config = {BASE_KEY: data, SEED_OFFSET_KEY: 0, "algorithm.lr": 3e-4}
    keys = ("episode_return", "loss/policy_loss", "loss/vf_loss", "lagrange/multiplier_0", "kpi/active_aps",
            "weights_digest", "fitness")

    def run(trainable, n):
        return [{k: r.get(k) for k in keys} for r in (trainable.train() for _ in range(n))]

    ref = ExperimentTrainable(config)
    expected = run(ref, 4)
    ref.stop()
    first = ExperimentTrainable(config)
    assert run(first, 2) == expected[:2]
    saved = first.save(str(tmp_path / "ckpt"))
    first.stop()
    assert checkpoints.damage(tmp_path / "ckpt") is None  # manifest written and intact
    second = ExperimentTrainable(config)
    second.restore(saved)
    resumed = [second.train() for _ in range(2)]
    second.stop()
    assert resumed[0]["restore/exact"] == 1.0
    assert [{k: r.get(k) for k in keys} for r in resumed] == expected[2:]

    # a damaged trial checkpoint is one clear error, not a traceback from deep inside RLlib
    victim = next((tmp_path / "ckpt").rglob("module_state*"))
    victim.write_bytes(b"")
    third = ExperimentTrainable(config)
    try:
        with pytest.raises(checkpoints.CheckpointError, match="damaged"):
            third.restore(saved)
    finally:
        third.stop()


# -- damaged run folders -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_run(ray_session, tmp_path_factory):
    """A 3-iteration tiny run with checkpoints iter_1..3 (copied per test before damaging it)."""
    tmp = tmp_path_factory.mktemp("damaged")
    y = _yaml(tmp, TINY, "dmg", training={"keep_checkpoints": 3})
    assert _train(y, tmp / "out", 3) == 0
    return y, tmp / "out"


def _copy(trained_run, tmp_path) -> tuple[Path, Path, Path]:
    y, out = trained_run
    dst = tmp_path / "out"
    shutil.copytree(out, dst)
    return y, dst, dst / "train-dmg"


def _module_state(ckpt: Path) -> Path:
    """The policy weights `cfmarl evaluate` loads (the learner's RLModule state)."""
    from cfmarl.policies.module_controller import module_checkpoint_dir

    return next(p for p in module_checkpoint_dir(ckpt).glob("module_state*") if p.is_file())


@pytest.mark.parametrize("damage_kind", ["zero-byte", "truncated", "deleted", "empty-folder", "no-manifest"])
def test_resume_falls_back_to_newest_intact_checkpoint(trained_run, tmp_path, capsys, damage_kind):
    y, out, run = _copy(trained_run, tmp_path)
    newest = run / "checkpoints" / "iter_000003"
    if damage_kind == "zero-byte":
        _module_state(newest).write_bytes(b"")
    elif damage_kind == "truncated":
        biggest = _largest(newest)  # the learner / optimizer state or the runtime state
        biggest.write_bytes(biggest.read_bytes()[: biggest.stat().st_size // 2])
    elif damage_kind == "deleted":
        _module_state(newest).unlink()
    elif damage_kind == "empty-folder":
        shutil.rmtree(newest)
        newest.mkdir()
    else:
        (newest / checkpoints.MANIFEST).unlink()
    capsys.readouterr()
    assert _train(y, out, 4) == 0
    text = capsys.readouterr().out
    assert "Falling back to iter_000002" in text and "iter_000003 is damaged" in text
    assert "Resuming" in text and "from iter_000002" in text
    assert [r["iteration"] for r in _rows(run)] == ["1", "2", "3", "4"]
    assert checkpoints.damage(run / "checkpoints" / "iter_000004") is None


def _largest(folder: Path) -> Path:
    return max((p for p in folder.rglob("*") if p.is_file() and p.name != checkpoints.MANIFEST),
               key=lambda p: p.stat().st_size)


def test_stray_folders_and_truncated_metrics(trained_run, tmp_path, capsys):
    y, out, run = _copy(trained_run, tmp_path)
    for stray in ("iter_", "iter_abc", "notes", "iter_000007.bak"):
        (run / "checkpoints" / stray).mkdir()
    (run / "checkpoints" / ".tmp-iter_000004").mkdir()  # a save that was interrupted
    text = (run / "metrics.csv").read_text()
    (run / "metrics.csv").write_text(text[: len(text) - 25])  # the last row cut mid-line
    capsys.readouterr()
    assert _train(y, out, 4) == 0
    said = capsys.readouterr().out
    assert "from iter_000003" in said
    assert "dropped unreadable line(s) 4" in said and "iteration(s) 3 before the checkpoint" in said
    assert [r["iteration"] for r in _rows(run)] == ["1", "2", "4"]
    assert not (run / "checkpoints" / ".tmp-iter_000004").exists()


def test_zero_byte_metrics_and_unreadable_best(trained_run, tmp_path, capsys):
    y, out, run = _copy(trained_run, tmp_path)
    (run / "metrics.csv").write_bytes(b"")
    (run / "checkpoints" / "best.json").write_text("{not json")
    capsys.readouterr()
    assert _train(y, out, 4) == 0
    said = capsys.readouterr().out
    assert "best.json: unreadable" in said and "iteration(s) 1-3 before the checkpoint" in said
    assert [r["iteration"] for r in _rows(run)] == ["4"]


def test_nothing_intact_is_one_line(trained_run, tmp_path, capsys):
    y, out, run = _copy(trained_run, tmp_path)
    for ckpt in checkpoints.numbered(run / "checkpoints"):
        _module_state(ckpt[1]).write_bytes(b"")
    capsys.readouterr()
    assert _train(y, out, 4) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no intact checkpoint left" in err and "--fresh" in err
    assert "Traceback" not in err
    # evaluate on the run directory: the same message; on a damaged checkpoint folder: one line too
    assert main(["evaluate", "--scenario", "tiny", "--policy", str(run), "--episodes", "1", "--quiet",
                 "--out", str(tmp_path / "ev")]) == 2
    assert "no intact checkpoint left" in capsys.readouterr().err
    assert main(["evaluate", "--scenario", "tiny", "--policy", str(run / "checkpoints" / "iter_000003"),
                 "--episodes", "1", "--quiet", "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "damaged checkpoint" in err


def test_evaluate_falls_back_and_says_so(trained_run, tmp_path, capsys):
    y, out, run = _copy(trained_run, tmp_path)
    _module_state(run / "checkpoints" / "iter_000003").write_bytes(b"")
    capsys.readouterr()
    assert main(["evaluate", "--scenario", "tiny", "--policy", str(run), "--policy", "all-on", "--episodes", "1",
                 "--quiet", "--out", str(tmp_path / "ev"), "--set", "se_target_bps_hz=2.0",
                 "--set", "episode_windows=10"]) == 0
    said = capsys.readouterr().out
    assert "Falling back to iter_000002" in said
    kp = list(csv.DictReader(open(next((tmp_path / "ev").iterdir()) / "kpis.csv")))
    assert kp[0]["policy"] == "train-dmg@iter_000002"


def test_module_without_manifest_that_cannot_load_is_one_line(trained_run, tmp_path, capsys):
    """A foreign checkpoint folder (no manifest) with a zero-byte module state."""
    y, out, run = _copy(trained_run, tmp_path)
    ckpt = run / "checkpoints" / "iter_000003"
    (ckpt / checkpoints.MANIFEST).unlink()
    _module_state(ckpt).write_bytes(b"")
    assert main(["evaluate", "--scenario", "tiny", "--policy", str(ckpt), "--episodes", "1", "--quiet",
                 "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot load its RLModule" in err
