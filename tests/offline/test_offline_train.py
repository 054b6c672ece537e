"""`cfmarl train` with offline learners (no Ray): dataset collected once and shared, epochs with held-out
losses and validation, exact resume, evaluation against the baselines, `cfmarl evaluate --policy RUN[:opts]`,
clear errors."""

import csv

import numpy as np
import pytest
import yaml

pytest.importorskip("diffusers")

from cfmarl.cli import main  # noqa: E402

CONFIG = "tune_configs/mftdma_cdmp_tiny.yaml"


def _rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _variant(tmp_path, run, algorithm):
    data = yaml.safe_load(open(CONFIG))
    data["name"] = run
    data["algorithm"].update(algorithm)
    path = tmp_path / f"{run}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("offline_train")
    assert main(["train", CONFIG, "--out", str(out)]) == 0
    return out


def test_train_writes_losses_validation_checkpoints_and_evaluation(trained):
    run = trained / "train-mftdma_cdmp_tiny"
    rows = _rows(run)
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3]
    for key in ("loss/diffusion_loss", "loss/classifier_loss", "loss/inverse_loss", "heldout/diffusion_loss"):
        assert all(np.isfinite(float(r[key])) for r in rows), key
    assert rows[1]["val/team_return"] and rows[2]["val/mean_cost"] and not rows[0]["val/team_return"]
    with open(run / "evaluation.csv") as f:
        policies = [r["policy"] for r in csv.DictReader(f)]
    assert policies == ["mftdma_cdmp_tiny", "equal", "load-proportional"]
    for name in ("learning_curves.png", "evaluation.png", "dataset.json", "checkpoints/best/method.pt"):
        assert (run / name).exists(), name
    datasets = list((trained / "datasets").iterdir())
    assert len(datasets) == 1 and (datasets[0] / "manifest.json").exists()


def test_interrupted_training_resumes_exactly(trained, tmp_path):
    assert main(["train", CONFIG, "--out", str(tmp_path), "--iterations", "1"]) == 0
    assert main(["train", CONFIG, "--out", str(tmp_path)]) == 0
    a, b = _rows(trained / "train-mftdma_cdmp_tiny"), _rows(tmp_path / "train-mftdma_cdmp_tiny")
    for key in a[0]:  # (the 1-epoch run validated at its end, epoch 1: validation rows from epoch 2 on)
        if key.startswith(("loss/", "heldout/")):
            assert [r[key] for r in a] == [r[key] for r in b], key
        if key.startswith("val/"):
            assert [r[key] for r in a[1:]] == [r[key] for r in b[1:]], key


@pytest.mark.parametrize("name,algorithm", [
    ("bc", {"name": "bc", "options": {"hidden": [16]}}),
    ("td3bc", {"name": "ma_td3bc", "options": {"hidden": [16], "policy_delay": 2}}),
    ("cql", {"name": "ma_cql", "options": {"hidden": [16], "cql_samples": 2, "mean_field": False}}),
    ("cdmp_nomf", {"options": {"horizon": 4, "dims": [8, 16], "diffusion_steps": 20, "sampling_steps": 2,
                               "mean_field": False, "sampler": "ddpm"}}),
])
def test_every_offline_learner_trains_from_the_shared_dataset(trained, tmp_path, name, algorithm, capsys):
    cfg = _variant(tmp_path, f"tiny_{name}", algorithm)
    assert main(["train", cfg, "--out", str(trained), "--iterations", "2"]) == 0
    out = capsys.readouterr().out
    assert "Collecting" not in out  # the same offline section -> the same dataset
    assert (trained / f"train-tiny_{name}" / "evaluation.csv").exists()


def test_evaluate_a_trained_offline_policy_with_other_sampling(trained, tmp_path, capsys):
    run = trained / "train-mftdma_cdmp_tiny"
    assert main(["evaluate", "--env", "mftdma", "--scenario", "n4-1:3", "--set", "episode_frames=10",
                 "--policy", str(run), "--policy", f"{run}:guidance=0.5,sampler=ddpm", "--policy", "equal",
                 "--episodes", "2", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "guidance=0.5" in out and "equal" in out
    assert main(["evaluate", "--env", "mftdma", "--policy", f"{run}:horizon=8", "--out", str(tmp_path)]) == 2
    assert "need retraining" in capsys.readouterr().err


def test_clear_errors(tmp_path, capsys):
    bad = _variant(tmp_path, "bad", {"options": {"horizon": 4, "dims": [8, 16], "guidanse": 1.0}})
    assert main(["train", bad, "--out", str(tmp_path)]) == 2
    assert "algorithm.options.guidanse: not an option of ma_cdmp" in capsys.readouterr().err
    rl = _variant(tmp_path, "rl", {"name": "ppo_lagrangian"})
    assert main(["train", rl, "--out", str(tmp_path)]) == 2
    assert "algorithm.options: only read by the offline learners" in capsys.readouterr().err
    assert main(["tune", CONFIG, "--storage", str(tmp_path)]) == 2
    assert "is an offline learner" in capsys.readouterr().err
