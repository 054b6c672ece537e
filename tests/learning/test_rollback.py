"""training.rollback: after an infeasible validation the learner goes back to the best validated policy
(real Ray / RLlib, tiny sizes; the validations are scripted so that the overshoot happens on cue)."""

import csv
from pathlib import Path

import pytest
import torch
import yaml

from cfmarl import checkpoints
from cfmarl import train as train_mod
from cfmarl.algo_builder import build_algo_config
from cfmarl.cli import main
from cfmarl.experiment import load_experiment
from cfmarl.policies.module_controller import load_module
from cfmarl.train import MODULE

TINY = Path(__file__).resolve().parents[2] / "tune_configs" / "aps_gnn_tiny.yaml"


def _weights(module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_rollback_restores_the_best_weights_and_narrows_the_lr(ray_session, tmp_path, monkeypatch):
    data = yaml.safe_load(TINY.read_text())
    data["name"] = "rb"
    data["pretrain"] = {"enabled": False}
    data["algorithm"]["lr"] = 4.0e-4
    data["training"].update(rollback=True, rollback_lr_factor=0.5)
    y = tmp_path / "rb.yaml"
    y.write_text(yaml.safe_dump(data))
    # iteration 1 feasible (the best), 2 and 3 infeasible (cost 0.5 > limit 0.05): two rollbacks to iteration 1
    script = iter([(0.01, 5.0), (0.5, 9.0), (0.5, 9.0)])
    monkeypatch.setattr(train_mod, "validate", lambda exp, algo: dict(
        zip(("val/mean_cost", "val/team_return"), next(script))))
    assert main(["train", str(y), "--out", str(tmp_path), "--iterations", "3", "--quiet"]) == 0
    run = tmp_path / "train-rb"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r.get("rollback/to_iteration") or "" for r in rows] == ["", "1", "1"]
    assert [float(r["rollback/lr_scale"] or "nan") for r in rows[1:]] == [0.5, 0.25]
    best = _weights(load_module(run / "checkpoints" / "best"))
    it, last = checkpoints.numbered(run / "checkpoints")[-1]
    assert it == 3
    restored = _weights(load_module(last))  # saved after iteration 3's rollback: the best policy's weights
    assert restored.keys() == best.keys() and all(torch.equal(restored[k], best[k]) for k in best)
    # the scale is learner state: a restored algorithm trains at lr x 0.25
    algo = build_algo_config(load_experiment(y)).build_algo()
    try:
        algo.restore_from_path(str(last))
        learner = algo.learner_group._learner
        assert learner.lr_scale(MODULE) == 0.25
        opts = list(learner._named_optimizers.values())
        assert [o.param_groups[0]["lr"] for o in opts] == [pytest.approx(1.0e-4, rel=1e-12)]
        algo.train()  # RLlib sets the schedule's lr after the update; the scale stays on top of it
        assert [o.param_groups[0]["lr"] for o in opts] == [pytest.approx(1.0e-4, rel=1e-12)]
    finally:
        algo.stop()


def test_no_rollback_while_the_best_is_infeasible(ray_session, tmp_path, monkeypatch):
    """Nothing feasible validated yet: nothing to go back to, training goes on (lr unchanged)."""
    data = yaml.safe_load(TINY.read_text())
    data["name"] = "rb0"
    data["pretrain"] = {"enabled": False}
    data["training"].update(rollback=True)
    y = tmp_path / "rb0.yaml"
    y.write_text(yaml.safe_dump(data))
    script = iter([(0.5, 5.0), (0.6, 9.0)])
    monkeypatch.setattr(train_mod, "validate", lambda exp, algo: dict(
        zip(("val/mean_cost", "val/team_return"), next(script))))
    assert main(["train", str(y), "--out", str(tmp_path), "--iterations", "2", "--quiet"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "train-rb0" / "metrics.csv")))
    assert all("rollback/lr_scale" not in r for r in rows)
