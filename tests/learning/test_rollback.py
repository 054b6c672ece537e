"""training.rollback: after an infeasible validation the learner goes back to the best validated policy
(real Ray / RLlib, tiny sizes; the validations are scripted so that the overshoot happens on cue)."""

import csv
import json
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


def _tiny(tmp_path, name: str, training: dict, algorithm: dict | None = None, pretrain: bool = False) -> Path:
    """The tiny APS experiment as ``name`` with these training / algorithm fields (pretraining off unless asked)."""
    data = yaml.safe_load(TINY.read_text())
    data["name"] = name
    if not pretrain:
        data["pretrain"] = {"enabled": False}
    data["algorithm"].update(algorithm or {})
    data["training"].update(training)
    y = tmp_path / f"{name}.yaml"
    y.write_text(yaml.safe_dump(data))
    return y


def _script_validations(monkeypatch, results) -> None:
    """train.validate returns (mean cost, team return) from ``results`` in turn."""
    script = iter(results)
    monkeypatch.setattr(train_mod, "validate", lambda exp, algo: dict(
        zip(("val/mean_cost", "val/team_return"), next(script))))


def test_rollback_restores_the_best_weights_and_narrows_the_lr(ray_session, tmp_path, monkeypatch):
    y = _tiny(tmp_path, "rb", dict(rollback=True, rollback_lr_factor=0.5), dict(lr=4.0e-4))
    # iteration 1 feasible (the best), 2 and 3 infeasible (cost 0.5 > limit 0.05): two rollbacks to iteration 1
    _script_validations(monkeypatch, [(0.01, 5.0), (0.5, 9.0), (0.5, 9.0)])
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
    y = _tiny(tmp_path, "rb0", dict(rollback=True))
    _script_validations(monkeypatch, [(0.5, 5.0), (0.6, 9.0)])
    assert main(["train", str(y), "--out", str(tmp_path), "--iterations", "2", "--quiet"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "train-rb0" / "metrics.csv")))
    assert all("rollback/lr_scale" not in r for r in rows)


def test_rollback_lands_on_the_newest_checkpoint_of_an_unchanged_best(ray_session, tmp_path, monkeypatch):
    """The same validation twice (an unchanged policy): the best checkpoint moves to the newer iteration, so a
    rollback restores that iteration's weights (its value heads trained since), not the first one's."""
    y = _tiny(tmp_path, "rbtie", dict(rollback=True, keep_checkpoints=5))
    _script_validations(monkeypatch, [(0.01, 5.0), (0.01, 5.0), (0.5, 9.0)])
    assert main(["train", str(y), "--out", str(tmp_path), "--iterations", "3", "--quiet"]) == 0
    run = tmp_path / "train-rbtie"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r.get("rollback/to_iteration") or "" for r in rows] == ["", "", "2"]
    second = _weights(load_module(run / "checkpoints" / "iter_000002"))
    first = _weights(load_module(run / "checkpoints" / "iter_000001"))
    restored = _weights(load_module(run / "checkpoints" / "iter_000003"))
    assert any(not torch.equal(first[k], second[k]) for k in first)  # iteration 2 trained: the two differ
    assert all(torch.equal(restored[k], second[k]) for k in second)


def test_critic_warmup_keeps_the_policy_so_the_best_moves_to_the_warmed_critics(ray_session, tmp_path):
    """Real validations during a critic warm-up: the policy does not move, so every validation is the same and
    the best checkpoint follows the newest one - with the value heads trained, the policy's weights untouched."""
    y = _tiny(tmp_path, "warm", dict(keep_checkpoints=5), dict(critic_warmup_iterations=2), pretrain=True)
    assert main(["train", str(y), "--out", str(tmp_path), "--iterations", "2", "--quiet"]) == 0
    run = tmp_path / "train-warm"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert rows[0]["val/mean_cost"] == rows[1]["val/mean_cost"]
    assert json.loads((run / "checkpoints" / "best.json").read_text())["iteration"] == 2
    best = _weights(load_module(run / "checkpoints" / "best"))
    first = _weights(load_module(run / "checkpoints" / "iter_000001"))
    heads = [k for k in best if k.split(".")[0] in ("vf", "cf")]
    assert heads and any(not torch.equal(best[k], first[k]) for k in heads)
    assert all(torch.equal(best[k], first[k]) for k in best if k not in heads)


def test_rollback_patience_waits_for_breaks_in_a_row(ray_session, tmp_path, monkeypatch):
    """rollback_patience 2: one infeasible validation followed by a feasible one rolls nothing back; two in a row
    do, and the count starts again after the rollback."""
    y = _tiny(tmp_path, "rbpat", dict(rollback=True, rollback_patience=2))
    _script_validations(monkeypatch, [(0.01, 5.0), (0.5, 9.0), (0.01, 4.0), (0.5, 9.0), (0.5, 9.0), (0.5, 9.0)])
    assert main(["train", str(y), "--out", str(tmp_path), "--iterations", "6", "--quiet"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "train-rbpat" / "metrics.csv")))
    assert [r.get("rollback/to_iteration") or "" for r in rows] == ["", "", "", "", "1", ""]


def test_rule_breaks_in_a_row_is_recounted_from_the_metrics_rows():
    """What a resumed run counts: validations breaking the rule since the last feasible one or rollback."""
    exp = load_experiment(TINY)  # selection: target, limit = algorithm.cost_limit 0.05, z = 0
    rows = [{"iteration": 1, "val/mean_cost": 0.01}, {"iteration": 2}, {"iteration": 3, "val/mean_cost": 0.5},
            {"iteration": 4, "val/mean_cost": 0.6}]
    assert train_mod.rule_breaks_in_a_row(exp, rows) == 2
    assert train_mod.rule_breaks_in_a_row(exp, rows + [{"iteration": 5, "val/mean_cost": 0.04}]) == 0
    rows[-1]["rollback/to_iteration"] = 1.0
    assert train_mod.rule_breaks_in_a_row(exp, rows) == 0
    assert train_mod.rule_breaks_in_a_row(exp, rows + [{"iteration": 5, "val/mean_cost": 0.3}]) == 1
    assert train_mod.rule_breaks_in_a_row(exp, []) == 0
