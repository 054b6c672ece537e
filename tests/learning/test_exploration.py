"""Keeping a behaviour-cloned policy exploring, on real RLlib (tiny AP selection): label smoothing in the clone
(policies/pretrain.py) and the entropy floor of PPO-Lagrangian (policies/learners/entropy_floor.py)."""

from pathlib import Path

import pytest
import torch
from ray.rllib.core.columns import Columns

from cfmarl.algo_builder import build_algo_config
from cfmarl.experiment import ExperimentConfig, from_dict
from cfmarl.policies.adapters.graph_env import MODULE_ID
from cfmarl.train import pretrain

TINY = Path(__file__).resolve().parents[2] / "tune_configs" / "aps_gnn_tiny.yaml"


def _exp(**sections) -> ExperimentConfig:
    import yaml

    data = yaml.safe_load(TINY.read_text())
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v}
    return from_dict(ExperimentConfig, data)


def test_label_smoothing_keeps_the_clone_exact_but_unsure(ray_session):
    """pretrain.label_smoothing e: the clone acts like the teacher (argmax) while its probabilities settle at the
    smoothed target 1 - e / 2 per link instead of saturating (without smoothing: > 1 - 1e-3); the gated head's joint
    likelihood has no labels to smooth (a one-line error)."""
    from cfmarl.algo_builder import module_spec
    from cfmarl.policies.baselines.ap_selection import KStrongest
    from cfmarl.policies.pretrain import behaviour_clone, collect_teacher_dataset
    from cfmarl.envs import ap_selection_v0

    cfg = ap_selection_v0.make_config("tiny", episode_windows=10)
    obs, y = collect_teacher_dataset(lambda n: ap_selection_v0.ApSelectionCore(cfg, n),
                                     KStrongest(k=2, by="large_scale"), episodes=40, seed=0)
    sure = {}
    for e in (0.0, 0.1):
        torch.manual_seed(0)
        module = module_spec(_exp()).build()
        res = behaviour_clone(module, obs, y, epochs=30, lr=1e-2, minibatch_size=32, seed=0, label_smoothing=e)
        assert res.val_score >= 0.99, res
        with torch.no_grad():
            logits = module._forward({Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}})[
                Columns.ACTION_DIST_INPUTS]
        sure[e] = torch.softmax(logits, -1).max(-1).values
    assert float(sure[0.0].median()) > 1 - 1e-3
    assert float(sure[0.1].mean()) == pytest.approx(0.95, abs=0.01) and float(sure[0.1].max()) < 0.975
    with pytest.raises(ValueError, match="pretrain.label_smoothing: for the per-node cross-entropy"):
        behaviour_clone(module_spec(_exp(model={"action_head": "gated"})).build(), obs, y, epochs=1, lr=1e-2,
                        minibatch_size=32, seed=0, label_smoothing=0.1)


def test_entropy_floor_keeps_a_cloned_policy_exploring(ray_session):
    """algorithm.entropy_floor on a behaviour-cloned policy so sure of itself that an entropy bonus cannot move it
    (its gradient is ~p |z|, here ~1e-19): the floor's multiplier rises by entropy_floor_lr per iteration while the
    mean link entropy is below the floor (not in the critic warm-up), its push (KL from uniform, gradient p - 1/2)
    brings the entropy back up where the same run with a large fixed entropy coefficient stays frozen, and the
    multiplier is learner state (get / set)."""
    runs = {}
    for name, algorithm in (("bonus", {"entropy_coeff": 1.0}),
                            ("floor", {"entropy_floor": 0.3, "entropy_floor_lr": 0.5, "entropy_floor_max": 1.0,
                                       "entropy_floor_push": "uniform_kl"})):
        exp = _exp(pretrain={"epochs": 30, "lr": 0.01}, algorithm={"critic_warmup_iterations": 1, "entropy_coeff": 0.0, "lr": 0.01,
                                                                   **algorithm})
        algo = build_algo_config(exp).build_algo()
        try:
            pretrain(exp, algo, None, lambda _: None)
            runs[name] = [algo.train()["learners"][MODULE_ID] for _ in range(4)]
            learner = algo.learner_group._learner
            if name == "floor":
                state = learner.get_state()
                assert state["entropy_floor"] == {MODULE_ID: pytest.approx(runs[name][-1]["entropy_floor/extra"])}
                learner.set_state({**state, "entropy_floor": {MODULE_ID: 0.25}})
                assert learner.entropy_extra(MODULE_ID) == 0.25
        finally:
            algo.stop()
    bonus, floor = runs["bonus"], runs["floor"]
    assert "entropy_floor/extra" not in bonus[0]
    assert floor[0]["entropy"] == pytest.approx(bonus[0]["entropy"], rel=1e-6) and floor[0]["entropy"] < 1e-9
    assert bonus[-1]["entropy"] < 1e-9  # a fixed coefficient of 1 does not move a saturated policy
    extras = [r["entropy_floor/extra"] for r in floor]
    assert extras[:2] == pytest.approx([0.0, 0.5], abs=1e-9)  # frozen in the warm-up; then a full shortfall step
    for prev, cur, r in zip(extras[1:], extras[2:], floor[2:]):
        assert cur == pytest.approx(min(1.0, max(0.0, prev + 0.5 * max(-1.0, 1 - r["entropy"] / 0.3))))
    assert floor[-1]["entropy"] > 1e-3 and floor[-1]["entropy_floor/push"] > 0
