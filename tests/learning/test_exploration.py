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
        res = behaviour_clone(module, obs, y, epochs=60, lr=1e-2, minibatch_size=32, seed=0, label_smoothing=e)
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
        assert cur == pytest.approx(min(1.0, max(0.0, prev + 0.5 * max(-1.0, 1 - r["entropy_band/entropy"] / 0.3))))
    assert floor[-1]["entropy"] > 1e-3 and floor[-1]["entropy_floor/push"] > 0


def test_entropy_ceiling_holds_an_unsure_clone_down(ray_session):
    """algorithm.entropy_ceiling on a label-smoothed clone (~0.2 nats per link) pushed up by a fixed entropy
    coefficient of 1: without the ceiling the policy goes uniform (ln 2 per link) in a few iterations; with a
    ceiling of 0.1 its multiplier climbs by entropy_floor_lr x the relative excess (frozen in the critic warm-up,
    capped), outweighs the bonus and brings the entropy below the ceiling, and then falls back (dual ascent both
    ways; measured: entropy 0.18, 0.12, 0.17, 0.62, 0.55, 0.14, 0.015 with multipliers 0 ... 3.0, 2.4)."""
    runs = {}
    for name, algorithm in (("bonus", {}),
                            ("ceiling", {"entropy_ceiling": 0.1, "entropy_floor_lr": 1.0, "entropy_floor_max": 3.0})):
        exp = _exp(pretrain={"epochs": 30, "lr": 0.01, "label_smoothing": 0.1},
                   algorithm={"critic_warmup_iterations": 1, "entropy_coeff": 1.0, "lr": 0.01, **algorithm})
        algo = build_algo_config(exp).build_algo()
        try:
            pretrain(exp, algo, None, lambda _: None)
            runs[name] = [algo.train()["learners"][MODULE_ID] for _ in range(7)]
        finally:
            algo.stop()
    bonus, ceiling = runs["bonus"], runs["ceiling"]
    assert "entropy_ceiling/extra" not in bonus[0]
    assert ceiling[0]["entropy"] == pytest.approx(bonus[0]["entropy"], rel=1e-6)
    assert 0.15 < ceiling[0]["entropy"] < 0.3  # the smoothed clone's ~0.2 nats, above the ceiling
    extras = [r["entropy_ceiling/extra"] for r in ceiling]
    assert extras[0] == 0.0  # frozen in the warm-up
    for prev, cur, r in zip(extras, extras[1:], ceiling[1:]):
        h = r["entropy_band/entropy"]  # the iteration's mean over its minibatches (loss/entropy: the last one's)
        assert cur == pytest.approx(min(3.0, max(0.0, prev + min(1.0, max(-1.0, h / 0.1 - 1)))))
    assert min(r["entropy"] for r in bonus[3:]) > 0.6  # uniform under the fixed bonus
    assert max(extras) == 3.0 and extras[-1] < 3.0  # capped while above, falling once below
    assert ceiling[-1]["entropy_band/entropy"] < 0.1 and ceiling[-1]["entropy"] < 0.1
