"""Behaviour cloning of continuous and hybrid heads (policies/pretrain.py)."""

import numpy as np
import pytest
import torch

from cfmarl.algo_builder import module_spec
from cfmarl.experiment import ExperimentConfig, from_dict
from cfmarl.policies.pretrain import BCResult, behaviour_clone, collect_teacher_dataset, majority_share
from cfmarl.registry import get_env


def _module(env, scenario, mode="graph", head="auto"):
    exp = from_dict(ExperimentConfig, {"env": {"name": env, "scenario": scenario},
                                       "model": {"mode": mode, "hidden": 32, "rounds": 1, "use_gru": False,
                                                 "action_head": head}})
    torch.manual_seed(0)
    return exp, module_spec(exp).build()


def test_beta_clones_a_teacher_on_the_bound():
    """A teacher always at full power (the upper bound, where a Beta with alpha, beta > 1 has zero
    density): the NLL fit pulls the target 1 % inside and the greedy action lands next to the bound
    instead of the Beta going flat."""
    exp, module = _module("power", "tiny")
    entry = exp.env_entry()
    obs, y = collect_teacher_dataset(lambda n: entry.make_core(exp.make_env_config(), n),
                                     entry.make_baseline("full-power"), episodes=4, seed=0)
    assert np.all(y == y.max())  # every action on the bound
    res = behaviour_clone(module, obs, y, epochs=40, lr=3e-3, minibatch_size=32, seed=0, loss="nll")
    assert res.val_score < 0.03, res  # mean |greedy - teacher| as a fraction of the range


@pytest.mark.parametrize("loss", ["nll", "mse"])
def test_hybrid_clones_schedule_and_beams(loss):
    """URLLC's hybrid head learns the static orthogonal schedule (a fixed pattern of thresholds) exactly and
    the power logits' mean; beams (argmax of the observed gains) mostly."""
    exp, module = _module("urllc", "s2222", mode="central")
    entry = get_env("urllc")
    obs, y = collect_teacher_dataset(lambda n: entry.make_core(exp.make_env_config(), n),
                                     entry.make_baseline("orthogonal:assign=static,on=0.5,off=-0.5"),
                                     episodes=4, seed=0)
    res = behaviour_clone(module, obs, y, epochs=30, lr=3e-3, minibatch_size=32, seed=0, loss=loss)
    head = module.get_train_action_dist_cls()
    from ray.rllib.core.columns import Columns
    with torch.no_grad():
        out = module.forward_inference({Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}})
        a = head.quantise(head.from_logits(out[Columns.ACTION_DIST_INPUTS]).to_deterministic().sample()).numpy()
    core = entry.make_core(exp.make_env_config(), 1)
    part = np.zeros((core.B, 3, core.U, core.K), int)
    part[:, 1], part[:, 2] = 1, 2  # the env's layout: threshold, beam, power logit per (AP, UE, subband)
    part = part.reshape(-1)
    target = head.quantise(torch.as_tensor(y)).numpy()
    assert np.array_equal(a[..., part == 0], target[..., part == 0])  # the schedule
    assert np.abs(a[..., part == 2] - target[..., part == 2]).mean() < 0.1  # power logits (range 2)
    assert res.metric == "mean_abs_error" and res.val_score < 0.15


def test_majority_share_and_the_warning_when_the_clone_is_no_better():
    """The accuracy of always taking the teacher's most common action (per component, real nodes only), and
    describe() flags a clone whose held-out accuracy does not beat it (on large AP selection 4-strongest leaves
    93.75 % of the links off, and a clone given 18 gradient steps scored exactly that, all links off)."""
    y = np.zeros((4, 3, 2), np.int64)
    y[0, 0, 0] = 1  # component 0: 11 of 12 zeros; component 1: all zeros
    assert majority_share(y) == pytest.approx((11 / 12 + 1.0) / 2)
    mask = np.ones((4, 3)); mask[:, 2] = 0  # the padded node does not count: 7 of 8, 8 of 8
    assert majority_share(y, mask) == pytest.approx((7 / 8 + 1.0) / 2)
    assert majority_share(np.array([[1, 1, 2, 3]])) == 0.5
    flat = BCResult(samples=200, metric="accuracy", train_score=0.938, val_score=0.9375, final_loss=0.3,
                    majority=0.9375)
    assert "93.8 %" in flat.describe() and "WARNING: the clone is no better" in flat.describe()
    good = BCResult(samples=200, metric="accuracy", train_score=0.984, val_score=0.984, final_loss=0.1,
                    majority=0.9375)
    assert "WARNING" not in good.describe() and "most common action alone: 93.8 %" in good.describe()
    constant = BCResult(samples=8, metric="accuracy", train_score=1.0, val_score=1.0, final_loss=0.0, majority=1.0)
    assert "WARNING" not in constant.describe()  # a teacher with one action, cloned perfectly
