"""Multiplier rules, GAE, the Lagrangian advantage and the loss, against hand-computed numbers."""

import numpy as np
import pytest
import torch

from cfmarl.policies.learners import lagrange
from cfmarl.policies.learners.advantages import gae, lagrangian_advantage
from cfmarl.policies.learners.ppo_lagrangian import ppo_lagrangian_loss


def _run(cfg, costs):
    st = lagrange.initial_state(cfg)
    out = []
    for c in costs:
        st = lagrange.update(cfg, st, c)
        out.append(st["multiplier"][0])
    return out, st


def test_gradient_rule_by_hand():
    cfg = lagrange.LagrangeConfig(cost_limit=(0.1,), rule="gradient", lr=0.5)
    # 0 + 0.5 (0.3 - 0.1) = 0.1; 0.1 + 0.5 (0 - 0.1) = 0.05; 0.05 - 0.05 = 0; projected at 0
    lams, _ = _run(cfg, [0.3, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(lams, [0.1, 0.05, 0.0, 0.0], atol=1e-12)


def test_pid_rule_by_hand():
    cfg = lagrange.LagrangeConfig(cost_limit=(0.1,), rule="pid", kp=1.0, ki=0.5, kd=2.0)
    # step 1: delta 0.2, I 0.2, D 0 (first)            -> 0.2 + 0.1        = 0.3
    # step 2: delta 0.4, I 0.6, D = 0.5 - 0.3 = 0.2   -> 0.4 + 0.3 + 0.4  = 1.1
    # step 3: delta 0.1, I 0.7, D = max(0, -0.3) = 0  -> 0.1 + 0.35       = 0.45
    # step 4: delta -0.1, I 0.6, D 0                  -> -0.1 + 0.3       = 0.2
    lams, st = _run(cfg, [0.3, 0.5, 0.2, 0.0])
    np.testing.assert_allclose(lams, [0.3, 1.1, 0.45, 0.2], atol=1e-12)
    assert st["integral"] == pytest.approx([0.6])


def test_multiplicative_rule_by_hand():
    cfg = lagrange.LagrangeConfig(cost_limit=(0.1,), rule="multiplicative", lr=0.5, init=2.0)
    # 2 (0.3 / 0.1)^0.5 = 2 sqrt(3); a cost of 0 reads as the floor d / 10: x 0.1^0.5 each time
    lams, _ = _run(cfg, [0.3, 0.0, 0.0, 0.0])
    r = np.sqrt(0.1)
    np.testing.assert_allclose(lams, [2 * np.sqrt(3), 2 * np.sqrt(3) * r, 2 * np.sqrt(3) * r ** 2,
                                      2 * np.sqrt(3) * r ** 3], rtol=1e-12)
    # symmetric in the ratio: 4x the limit then a quarter of it returns to the start
    assert _run(cfg, [0.4, 0.025])[0][-1] == pytest.approx(2.0, rel=1e-12)
    # bounded: far below the limit it stops at lambda_min, far above at lambda_max (1e4, or max_multiplier)
    lo, hi = lagrange.MULTIPLICATIVE_BOUNDS
    assert _run(cfg, [0.0] * 100)[0][-1] == lo
    assert _run(cfg, [10.0] * 100)[0][-1] == hi
    capped = lagrange.LagrangeConfig(cost_limit=(0.1,), rule="multiplicative", lr=0.5, init=2.0, max_multiplier=40.0)
    assert _run(capped, [10.0] * 100)[0][-1] == 40.0


def test_retarget_rule_by_hand():
    """The training target steered by the judged validation cost: d (aim / c)^rate, c read as >= aim / 10,
    clipped to the bounds."""
    b = (0.01, 0.1)
    # judged cost below the aim: 0.02 (0.018 / 0.015)^0.5 = 0.02 sqrt(1.2) -> a higher target
    assert lagrange.retarget([0.02], [0.015], 0.018, 0.5, b) == pytest.approx([0.02 * np.sqrt(1.2)], rel=1e-12)
    # above it: 0.03 (0.018 / 0.024)^1 = 0.0225 -> lower
    assert lagrange.retarget([0.03], [0.024], 0.018, 1.0, b) == pytest.approx([0.0225], rel=1e-12)
    # a cost of 0 reads as aim / 10: one step of 10^rate, then the bound
    assert lagrange.retarget([0.02], [0.0], 0.018, 0.5, b) == pytest.approx([0.02 * np.sqrt(10)], rel=1e-12)
    assert lagrange.retarget([0.05], [0.0], 0.018, 1.0, b) == [0.1]
    assert lagrange.retarget([0.02], [1.0], 0.018, 1.0, b) == [0.01]
    assert lagrange.retarget([0.02], [0.5], 0.018, 0.0, b) == [0.02]  # rate 0: unchanged
    with pytest.raises(ValueError, match="validation_cost"):
        lagrange.retarget([0.02], [float("nan")], 0.018, 0.5, b)
    with pytest.raises(ValueError, match="aim > 0"):
        lagrange.retarget([0.02], [0.01], 0.0, 0.5, b)


def test_max_multiplier_caps_the_additive_rules_too():
    for cfg in (lagrange.LagrangeConfig(cost_limit=(0.1,), rule="gradient", lr=10.0, max_multiplier=3.0),
                lagrange.LagrangeConfig(cost_limit=(0.1,), rule="pid", kp=10.0, ki=10.0, max_multiplier=3.0)):
        lams, _ = _run(cfg, [1.0] * 5)
        assert max(lams) == 3.0


def test_multiplicative_rule_unwinds_faster_than_gradient():
    """A multiplier wound up to 10 while the cost was above the limit, then a cost one order below the limit:
    the additive rule needs (10 - 1) / (lr |J_c - d|) iterations to reach 1, the multiplicative one
    log(10) / (lr log(10))."""
    grad = lagrange.LagrangeConfig(cost_limit=(0.014,), rule="gradient", lr=5.0, init=10.0)
    mult = lagrange.LagrangeConfig(cost_limit=(0.014,), rule="multiplicative", lr=0.3, init=10.0)
    g, _ = _run(grad, [0.0014] * 20)
    m, _ = _run(mult, [0.0014] * 20)
    assert g[-1] > 8.5  # 10 - 20 x 5 x 0.0126 = 8.74: only ~1.3 down
    assert m[3] < 1.0  # 10 x 0.1^(0.3 x 4) = 0.63


def test_multiplicative_rule_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="cost_limit"):
        lagrange.LagrangeConfig(cost_limit=(0.0,), rule="multiplicative", init=1.0)
    with pytest.raises(ValueError, match="lambda_init"):
        lagrange.LagrangeConfig(cost_limit=(0.1,), rule="multiplicative", init=0.0)


def test_pid_integral_and_multiplier_stay_non_negative():
    cfg = lagrange.LagrangeConfig(cost_limit=(0.5,), rule="pid", kp=1.0, ki=1.0)
    lams, st = _run(cfg, [0.0] * 5)
    assert lams == [0.0] * 5 and st["integral"] == [0.0]


def test_pid_damps_oscillation_compared_with_gradient_ascent():
    """On a toy constrained problem (cost = 1 - lambda-driven policy response with lag),
    PID with a derivative term overshoots less than plain gradient ascent."""
    def simulate(cfg):
        st, cost, lams = lagrange.initial_state(cfg), 1.0, []
        for _ in range(60):
            st = lagrange.update(cfg, st, cost)
            lam = st["multiplier"][0]
            cost = 0.5 * cost + 0.5 * max(0.0, 1.0 - lam)  # the policy reacts with a one-step lag
            lams.append(lam)
        return np.array(lams)
    g = simulate(lagrange.LagrangeConfig(cost_limit=(0.2,), rule="gradient", lr=1.0))
    p = simulate(lagrange.LagrangeConfig(cost_limit=(0.2,), rule="pid", kp=0.5, ki=0.5, kd=1.0))
    assert np.abs(p[-10:] - 0.8).max() < 0.05  # converges to the lambda giving cost = limit
    assert p.max() < g.max()


def test_several_constraints_and_none_rule():
    cfg = lagrange.LagrangeConfig(cost_limit=(0.1, 0.2), rule="gradient", lr=1.0)
    st = lagrange.update(cfg, lagrange.initial_state(cfg), [0.3, 0.1])
    np.testing.assert_allclose(st["multiplier"], [0.2, 0.0])
    cfg0 = lagrange.LagrangeConfig(cost_limit=(0.1,), rule="none", init=0.7)
    assert _run(cfg0, [5.0, 5.0])[0] == [0.7, 0.7]
    with pytest.raises(ValueError, match="one per constraint"):
        lagrange.update(cfg, st, [0.1])
    with pytest.raises(ValueError, match="lagrangian_rule"):
        lagrange.LagrangeConfig(cost_limit=(0.1,), rule="adam")
    with pytest.raises(ValueError, match="lagrangian kp"):
        lagrange.LagrangeConfig(cost_limit=(0.1,), kp=-1.0)


def test_gae_by_hand():
    r, v = np.array([1.0, 0.0, 2.0]), np.array([0.5, 0.2, 0.1])
    # delta = [1 + .9*.2 - .5, 0 + .9*.1 - .2, 2 + .9*.4 - .1] = [0.68, -0.11, 2.26]; gamma*lambda = 0.72
    adv, vt = gae(r, v, 0.4, False, 0.9, 0.8)
    np.testing.assert_allclose(adv, [0.68 + 0.72 * 1.5172, -0.11 + 0.72 * 2.26, 2.26], atol=1e-12)
    np.testing.assert_allclose(vt, adv + v)
    adv_t, _ = gae(r, v, 0.4, True, 0.9, 0.8)  # terminal: no bootstrap
    np.testing.assert_allclose(adv_t, [0.68 + 0.72 * 1.258, -0.11 + 0.72 * 1.9, 1.9], atol=1e-12)
    # per node and per constraint: columns are independent
    adv2, _ = gae(np.stack([r, 2 * r], 1)[..., None], np.stack([v, 2 * v], 1)[..., None],
                  np.array([[0.4], [0.8]]), False, 0.9, 0.8)
    np.testing.assert_allclose(adv2[:, 0, 0], adv)
    np.testing.assert_allclose(adv2[:, 1, 0], 2 * adv)


def test_lagrangian_advantage_by_hand():
    a_r = np.array([1.0, -2.0])
    a_c = np.array([[0.5, 1.0], [0.0, -1.0]])
    # (1 - (1*0.5 + 3*1)) / 5 = -0.5 ; (-2 - (0 - 3)) / 5 = 0.2
    np.testing.assert_allclose(lagrangian_advantage(a_r, a_c, [1.0, 3.0]), [-0.5, 0.2])
    np.testing.assert_allclose(lagrangian_advantage(a_r, a_c, [0.0, 0.0]), a_r)


def _loss(weight):
    t = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    return ppo_lagrangian_loss(
        logp=torch.log(t([0.5, 0.8])), old_logp=torch.log(t([0.4, 0.8])), entropy=t([0.6, 0.4]),
        adv_r=t([1.0, -1.0]), adv_c=t([[0.5], [0.0]]), values=t([0.0, 1.0]), value_targets=t([1.0, 1.0]),
        cost_values=t([[0.2], [0.0]]), cost_targets=t([[0.0], [0.5]]), weight=t(weight), multipliers=[1.0],
        clip_param=0.2, vf_clip_param=10.0, vf_loss_coeff=0.5, entropy_coeff=0.01)


def test_loss_value_on_a_tiny_batch_by_hand():
    # A = [(1 - 0.5)/2, (-1 - 0)/2] = [0.25, -0.5]; ratio = [1.25, 1.0]
    # surrogate = [min(0.3125, 0.25*1.2), -0.5] = [0.3, -0.5] -> policy loss 0.1
    # vf = (1 + 0)/2 = 0.5; cost vf = (0.04 + 0.25)/2 = 0.145; entropy 0.5
    # total = 0.1 + 0.5 (0.5 + 0.145) - 0.01 * 0.5 = 0.4175
    total, stats = _loss([1.0, 1.0])
    assert float(total) == pytest.approx(0.4175, abs=1e-6)
    assert float(stats["policy_loss"]) == pytest.approx(0.1, abs=1e-6)
    assert float(stats["cost_vf_loss"]) == pytest.approx(0.145, abs=1e-6)
    # masking the second sample: -0.3 + 0.5 (1 + 0.04) - 0.006 = 0.214
    total_m, _ = _loss([1.0, 0.0])
    assert float(total_m) == pytest.approx(0.214, abs=1e-6)


def test_unobserved_entries_keep_their_state():
    """A graph of a size mixture without samples this iteration: its multiplier and PID state stay as they were,
    the observed entries update as if alone."""
    for cfg in (lagrange.LagrangeConfig(cost_limit=(0.1, 0.1), rule="gradient", lr=0.5),
                lagrange.LagrangeConfig(cost_limit=(0.1, 0.1), rule="pid", kp=1.0, ki=0.5, kd=2.0, ema_alpha=0.5)):
        st = lagrange.update(cfg, lagrange.initial_state(cfg), [0.3, 0.5])
        new = lagrange.update(cfg, st, [0.2, float("nan")], observed=[True, False])
        alone = lagrange.update(cfg, st, [0.2, 0.5])
        for k in st:
            assert new[k][1] == st[k][1], k
            assert new[k][0] == alone[k][0], k
    with pytest.raises(ValueError, match="must be finite"):
        lagrange.update(cfg, st, [float("nan"), 0.1], observed=[True, True])
    with pytest.raises(ValueError, match="observed: expected 2"):
        lagrange.update(cfg, st, [0.1, 0.1], observed=[True])


def test_loss_with_per_sample_multipliers_by_hand():
    """Each sample with its own multiplier (its graph's): sample 1 with lambda 3, sample 2 with lambda 0.
    A = [(1 - 3 * 0.5) / 4, -1 / 1] = [-0.125, -1]; ratio [1.25, 1]; surrogate [min(-0.15625, -0.15), -1]
    -> policy loss (0.15625 + 1) / 2 = 0.578125; one multiplier for both as a (2, 1) tensor equals the list."""
    t = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    kw = dict(logp=torch.log(t([0.5, 0.8])), old_logp=torch.log(t([0.4, 0.8])), entropy=t([0.6, 0.4]),
              adv_r=t([1.0, -1.0]), adv_c=t([[0.5], [0.0]]), values=t([0.0, 1.0]), value_targets=t([1.0, 1.0]),
              cost_values=t([[0.2], [0.0]]), cost_targets=t([[0.0], [0.5]]), weight=t([1.0, 1.0]),
              clip_param=0.2, vf_clip_param=10.0, vf_loss_coeff=0.5, entropy_coeff=0.01)
    _, stats = ppo_lagrangian_loss(multipliers=t([[3.0], [0.0]]), **kw)
    assert float(stats["policy_loss"]) == pytest.approx(0.578125, abs=1e-6)
    same, _ = ppo_lagrangian_loss(multipliers=t([[1.0], [1.0]]), **kw)
    ref, _ = ppo_lagrangian_loss(multipliers=[1.0], **kw)
    assert float(same) == pytest.approx(float(ref), abs=1e-7)


def test_entropy_floor_multiplier_by_hand():
    from cfmarl.policies.learners.entropy_floor import update_extra, validate_floor

    # floor 0.1, lr 0.2, cap 0.3: H 0 -> shortfall 1 -> 0.2; H 0.05 -> 0.5 -> 0.2 + 0.1 = 0.3 (the cap);
    # H 0.12 -> -0.2 -> 0.3 - 0.04 = 0.26; H 1.0 -> clipped to -1 -> 0.26 - 0.2 = 0.06; again -> 0 (projected)
    extra, seen = 0.0, []
    for h in [0.0, 0.05, 0.12, 1.0, 1.0]:
        extra = update_extra(extra, h, floor=0.1, lr=0.2, max_extra=0.3)
        seen.append(extra)
    np.testing.assert_allclose(seen, [0.2, 0.3, 0.26, 0.06, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="entropy: .*finite"):
        update_extra(0.0, float("nan"), 0.1, 0.2, 0.3)
    with pytest.raises(ValueError, match="entropy_floor: must be a finite number >= 0"):
        validate_floor(-0.1, 0.02, 1.0)
    with pytest.raises(ValueError, match="entropy_floor_lr, entropy_floor_max: must be > 0"):
        validate_floor(0.1, 0.0, 1.0)
    validate_floor(0.0, 0.0, 0.0)  # off: the step settings are unused


@pytest.mark.parametrize("push", ["entropy", "uniform_kl"])
def test_entropy_floor_loss_term_by_hand(push):
    """The floor's loss term extra x the weighted mean of the push over real nodes: -entropy, or KL(uniform || pi)
    = -(log p + log(1 - p)) / 2 - log 2 for a Bernoulli node; the entropies recorded for the step."""
    from types import SimpleNamespace

    from cfmarl.policies.heads.categorical import PerNodeCategorical
    from cfmarl.policies.learners.entropy_floor import EntropyFloorLearnerMixin

    class Learner(EntropyFloorLearnerMixin):
        config = SimpleNamespace(get_config_for_module=lambda _: SimpleNamespace(
            entropy_floor=0.1, entropy_floor_lr=0.2, entropy_floor_max=1.0, entropy_floor_push=push))

    learner = Learner()
    learner._init_entropy_floor()
    learner._floor_extra["m"] = 0.5
    p = torch.tensor([[0.5, 0.9, 0.99]])  # P(action 1) of three nodes, the last one padding
    dist = PerNodeCategorical.from_logits(torch.stack([torch.log(1 - p), torch.log(p)], -1))
    weight = torch.tensor([[1.0, 1.0, 0.0]])
    term = learner.floor_push("m", dist, node_mask=weight, weight=weight, joint=False)
    if push == "entropy":
        h = [np.log(2), -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))]
        want = -0.5 * np.mean(h)
    else:
        want = 0.5 * np.mean([-(np.log(q) + np.log(1 - q)) / 2 - np.log(2) for q in (0.5, 0.9)])
    assert float(term) == pytest.approx(want, rel=1e-5)
    joint = learner.floor_push("m", dist, node_mask=weight, weight=torch.ones(1), joint=True)  # nodes summed
    assert float(joint) == pytest.approx(2 * want, rel=1e-5)
    # the loss's own entropy is reused when handed over (the "entropy" push reads it; KL(uniform || pi) does not)
    given = learner.floor_push("m", dist, node_mask=weight, weight=weight, joint=False, entropy=2 * dist.entropy())
    assert float(given) == pytest.approx(2 * want if push == "entropy" else want, rel=1e-5)


def test_entropy_ceiling_multiplier_and_loss_term_by_hand():
    """The ceiling: its multiplier steps by the relative excess H / C - 1 (clipped to [-1, 1], projected to [0,
    cap]), only the ceiling's moves when the floor is off, and the loss adds extra_c x the weighted mean entropy
    over real nodes on top of the floor's term; the multipliers are learner state apart."""
    from types import SimpleNamespace

    from cfmarl.policies.heads.categorical import PerNodeCategorical
    from cfmarl.policies.learners.entropy_floor import (EntropyFloorLearnerMixin, update_ceiling_extra,
                                                        validate_floor)

    # ceiling 0.2, lr 0.1, cap 0.25: H 0.5 -> excess clipped to 1 -> 0.1; H 0.3 -> 0.5 -> 0.15; H 0.6 -> 1 ->
    # 0.25 (the cap); H 0.1 -> -0.5 -> 0.2; H 0 -> -1 -> 0.1; again -> 0.0; again -> 0 (projected)
    extra, seen = 0.0, []
    for h in [0.5, 0.3, 0.6, 0.1, 0.0, 0.0, 0.0]:
        extra = update_ceiling_extra(extra, h, ceiling=0.2, lr=0.1, max_extra=0.25)
        seen.append(extra)
    np.testing.assert_allclose(seen, [0.1, 0.15, 0.25, 0.2, 0.1, 0.0, 0.0], atol=1e-12)
    with pytest.raises(ValueError, match="entropy_ceiling: must be above entropy_floor"):
        validate_floor(0.1, 0.02, 1.0, ceiling=0.05)
    with pytest.raises(ValueError, match="entropy_ceiling: must be a finite number >= 0"):
        validate_floor(0.0, 0.02, 1.0, ceiling=float("inf"))
    with pytest.raises(ValueError, match="must be > 0 with entropy_ceiling 0.3"):
        validate_floor(0.0, 0.0, 1.0, ceiling=0.3)

    settings = {"entropy_floor": 0.0}

    class Learner(EntropyFloorLearnerMixin):
        config = SimpleNamespace(get_config_for_module=lambda _: SimpleNamespace(
            entropy_floor_lr=0.1, entropy_floor_max=1.0, entropy_floor_push="entropy", entropy_ceiling=0.2,
            **settings))
        metrics = SimpleNamespace(log_value=lambda key, value, window: logged.__setitem__(key[1], value))

    logged = {}
    learner = Learner()
    learner._init_entropy_floor()
    p = torch.tensor([[0.5, 0.9, 0.99]])  # P(action 1) of three nodes, the last one padding
    dist = PerNodeCategorical.from_logits(torch.stack([torch.log(1 - p), torch.log(p)], -1))
    weight = torch.tensor([[1.0, 1.0, 0.0]])
    h = np.mean([np.log(2), -(0.9 * np.log(0.9) + 0.1 * np.log(0.1))])  # 0.509 nats per real node
    assert float(learner.floor_push("m", dist, node_mask=weight, weight=weight, joint=False)) == 0.0  # extra_c 0
    learner.record_entropy("m", h)
    learner.update_entropy_floor()
    assert learner.ceiling_extra("m") == pytest.approx(0.1) and learner.entropy_extra("m") == 0.0
    assert logged == {"entropy_ceiling/extra": pytest.approx(0.1),  # no floor column with the floor off
                      "entropy_band/entropy": pytest.approx(h)}
    term = learner.floor_push("m", dist, node_mask=weight, weight=weight, joint=False)
    assert float(term) == pytest.approx(0.1 * h, rel=1e-5)
    learner.record_entropy("m", h)
    learner.update_entropy_floor(frozen=lambda _: True)  # a critic warm-up: nothing moves
    assert learner.ceiling_extra("m") == pytest.approx(0.1)
    settings["entropy_floor"] = 0.05  # both on: the floor's bonus (-extra x H) and the ceiling's penalty add up
    learner._floor_extra["m"] = 0.5
    both = learner.floor_push("m", dist, node_mask=weight, weight=weight, joint=False)
    assert float(both) == pytest.approx((0.1 - 0.5) * h, rel=1e-5)


def test_entropy_ceiling_is_learner_state():
    from cfmarl.policies.learners.entropy_floor import EntropyFloorLearnerMixin

    class Base:
        def get_state(self, components=None, *, not_components=None, **kwargs):
            return {}

        def set_state(self, state):
            pass

    class Learner(EntropyFloorLearnerMixin, Base):
        pass

    a, b = Learner(), Learner()
    a._init_entropy_floor(), b._init_entropy_floor()
    a._floor_extra["m"], a._ceiling_extra["m"] = 0.3, 0.7
    b.set_state(a.get_state())
    assert (b.entropy_extra("m"), b.ceiling_extra("m")) == (0.3, 0.7)
    b.set_state({"entropy_floor": {"m": 0.1}})  # a checkpoint from before the ceiling: its multiplier stays
    assert (b.entropy_extra("m"), b.ceiling_extra("m")) == (0.1, 0.7)
