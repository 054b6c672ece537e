"""Per-node action heads: hand-computed log-probabilities and entropies, and a round trip from every
env's action space through a module's output to env actions (bounds respected, never NaN)."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from scipy.special import digamma

from cfmarl.policies.heads import PerNodeCategorical, head_for, head_input_dim


def _box(n, d, lo, hi):
    return gym.spaces.Box(np.full((n, d), lo, np.float32), np.full((n, d), hi, np.float32))


def test_categorical_by_hand():
    logits = torch.tensor([[[0.0, math.log(3.0)]]])  # p = (1/4, 3/4)
    d = PerNodeCategorical.from_logits(logits)
    assert d.logp(torch.tensor([[1]])).item() == pytest.approx(math.log(0.75), abs=1e-6)
    assert d.entropy().item() == pytest.approx(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), abs=1e-6)
    assert d.to_deterministic().sample().tolist() == [[1]]


def test_beta_logp_and_entropy_by_hand():
    head = head_for(_box(2, 1, -1.0, 1.0))
    z = torch.zeros(1, 2, 2)  # alpha = beta = 1 + softplus(0) = 1 + ln 2
    d = head.from_logits(z)
    c = 1.0 + math.log(2.0)
    log_b = 2 * math.lgamma(c) - math.lgamma(2 * c)
    # a = 0 is x = 0.5 on [-1, 1]: log pdf = 2 (c - 1) ln 0.5 - ln B(c, c) - ln 2 (the Jacobian of the range)
    want = 2 * (c - 1) * math.log(0.5) - log_b - math.log(2.0)
    assert d.logp(torch.zeros(1, 2, 1))[0].tolist() == pytest.approx([want, want], abs=1e-5)
    h_beta = log_b - 2 * (c - 1) * digamma(c) + (2 * c - 2) * digamma(2 * c)
    assert d.entropy()[0].tolist() == pytest.approx([h_beta + math.log(2.0)] * 2, abs=1e-5)
    assert d.to_deterministic().sample().flatten().tolist() == pytest.approx([0.0, 0.0], abs=1e-6)  # the mean


def test_beta_sums_over_components():
    head = head_for(_box(1, 3, 0.0, 40.0))
    z = torch.tensor([[[0.3, -1.0, 2.0, 0.5, 0.1, -0.7]]])
    d = head.from_logits(z)
    a = torch.tensor([[[10.0, 39.0, 0.5]]])
    single = [head_for(_box(1, 1, 0.0, 40.0)).from_logits(torch.tensor([[[z[0, 0, i], z[0, 0, 3 + i]]]]))
              for i in range(3)]
    assert d.logp(a).item() == pytest.approx(sum(s.logp(a[..., i:i + 1]).item() for i, s in enumerate(single)),
                                             abs=1e-5)


def test_squashed_gaussian_logp_by_hand():
    head = head_for(_box(1, 1, 0.0, 40.0), "squashed_gaussian")
    d = head.from_logits(torch.tensor([[[0.5, math.log(0.5)]]]))  # mu 0.5, sigma 0.5
    u = 0.3
    a = 20.0 + 20.0 * math.tanh(u)
    log_normal = -0.5 * ((u - 0.5) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi)
    want = log_normal - math.log(1 - math.tanh(u) ** 2) - math.log(20.0)  # squash correction and range
    assert d.logp(torch.tensor([[[a]]])).item() == pytest.approx(want, abs=1e-4)
    act, logp = d.sample_and_logp()
    assert 0.0 <= act.item() <= 40.0 and logp.item() == pytest.approx(d.logp(act).item(), abs=1e-3)
    assert d.to_deterministic().sample().item() == pytest.approx(20.0 + 20.0 * math.tanh(0.5), abs=1e-4)


def test_heads_match_the_action_kind():
    assert head_for(gym.spaces.MultiDiscrete([2, 2, 2])) is PerNodeCategorical
    assert head_input_dim(gym.spaces.MultiDiscrete([2, 2])) == 2 and head_input_dim(_box(3, 12, -1, 1)) == 24
    with pytest.raises(ValueError, match="discrete"):
        head_for(gym.spaces.MultiDiscrete([2, 2]), "beta")
    with pytest.raises(ValueError, match="continuous"):
        head_for(_box(2, 1, 0, 1), "categorical")
    with pytest.raises(ValueError, match="must be one of"):
        head_for(_box(2, 1, 0, 1), "gaussian")


ENVS = [("aps", "tiny", {"episode_windows": 3}), ("power", "tiny", {"episode_steps": 3}),
        ("power", "tiny-central", {"episode_steps": 3}), ("precoding", "tiny", {"episode_steps": 3}),
        ("mftdma", "n4-1:3", {"episode_frames": 3}), ("urllc", "s2222", {"episode_slots": 3}),
        ("urllc", "s2222-per-ap", {"episode_slots": 3})]


@pytest.mark.parametrize("env,scenario,overrides", ENVS)
@pytest.mark.parametrize("head", ["auto", "squashed_gaussian"])
def test_round_trip_space_module_env(env, scenario, overrides, head):
    """Action space -> module output -> sampled and greedy actions -> env.step: inside the bounds,
    finite log-probabilities, even for extreme module outputs."""
    from cfmarl.algo_builder import module_spec
    from cfmarl.experiment import from_dict, ExperimentConfig
    from cfmarl.policies.adapters.graph_env import GraphEnv
    from ray.rllib.core.columns import Columns

    env_cfg = {"env": env, "scenario": scenario, "overrides": overrides}
    genv = GraphEnv(env_cfg)
    space = genv.action_spaces["graph"]
    if head != "auto" and isinstance(space, gym.spaces.MultiDiscrete):
        pytest.skip("squashed Gaussian is for continuous actions")
    exp = from_dict(ExperimentConfig, {"env": {"name": env, "scenario": scenario, "overrides": overrides},
                                       "model": {"mode": "graph", "hidden": 8, "rounds": 1, "use_gru": False,
                                                 "action_head": head}})
    module = module_spec(exp, env_cfg).build()
    obs, _ = genv.reset(seed=0)
    batch = {Columns.OBS: {k: torch.as_tensor(v)[None] for k, v in obs["graph"].items()}}
    out = module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    cls = module.get_exploration_action_dist_cls()
    for scale in (1.0, 60.0):  # ordinary and saturated module outputs
        dist = cls.from_logits(out * scale)
        for action in (dist.sample(), dist.to_deterministic().sample()):
            a = action[0].detach().numpy()
            assert a.shape == space.shape and np.all(np.isfinite(a))
            assert space.contains(a.astype(space.dtype)), (a.min(), a.max())
            assert torch.isfinite(dist.logp(action)).all()
            _, _, _, _, info = genv.step({"graph": a})
            assert np.all(np.isfinite(info["graph"]["node_rewards"])) and np.all(np.isfinite(info["graph"]["node_costs"]))


def test_stochastic_evaluation_is_seeded_and_differs_from_greedy():
    """evaluation.stochastic: controllers with the same seed draw the same actions (no global RNG
    involved), and the samples are not the deterministic action."""
    from cfmarl.algo_builder import module_spec
    from cfmarl.experiment import ExperimentConfig, from_dict
    from cfmarl.policies.module_controller import controller_for
    from cfmarl.registry import get_env

    exp = from_dict(ExperimentConfig, {"env": {"name": "power", "scenario": "tiny"},
                                       "model": {"hidden": 8, "rounds": 1, "use_gru": False}})
    module = module_spec(exp).build()
    entry = get_env("power")
    core = entry.make_core(entry.make_config("tiny"), 2)
    state, obs = core.reset([1, 2])
    a1 = controller_for(module, "a", stochastic=True, seed=5).act(core, state, obs)
    torch.manual_seed(123)  # the global stream does not matter
    a2 = controller_for(module, "b", stochastic=True, seed=5).act(core, state, obs)
    greedy = controller_for(module, "c").act(core, state, obs)
    assert np.array_equal(a1, a2) and not np.allclose(a1, greedy)
    assert np.all((a1 >= -1) & (a1 <= 1)) and a1.shape == greedy.shape == (2, 3, 1)


def _hybrid():
    from cfmarl.policies.heads import make_hybrid

    # components: threshold (2 levels), beam (4 levels), power logit (continuous), threshold (2 levels)
    return make_hybrid((-1.0,) * 4, (1.0,) * 4, (2, 4, 0, 2))


def test_hybrid_logp_and_entropy_by_hand():
    head = _hybrid()
    assert head.param_dim() == 2 * 2 + 4 + 2
    # layout: L=2 group (components 0, 3: 2 logits each), L=4 group (component 1), then alpha, beta raw of 2
    z = torch.tensor([[[0.0, math.log(3.0), math.log(4.0), 0.0, 0.0, 0.0, math.log(2.0), 0.0, 0.0, 0.0]]])
    d = head.from_logits(z)
    c = 1.0 + math.log(2.0)  # alpha = beta = 1 + softplus(0)
    log_b = 2 * math.lgamma(c) - math.lgamma(2 * c)
    # a = (+0.7 -> level 1 of 2, -0.2 -> level round(0.8 * 3 / 2) = 1 of 4, 0.0, -0.9 -> level 0 of 2)
    a = torch.tensor([[[0.7, -0.2, 0.0, -0.9]]])
    want = (math.log(0.75) + math.log(0.8) + math.log(1 / 5)
            + 2 * (c - 1) * math.log(0.5) - log_b - math.log(2.0))
    assert d.logp(a).item() == pytest.approx(want, abs=1e-5)
    # the logp of an action is that of the decision the env reads from it
    assert d.logp(head.quantise(a)).item() == pytest.approx(want, abs=1e-5)
    h_cat = lambda p: -sum(q * math.log(q) for q in p)  # noqa: E731
    h_beta = log_b - 2 * (c - 1) * digamma(c) + (2 * c - 2) * digamma(2 * c) + math.log(2.0)
    want_h = h_cat([0.25, 0.75]) + h_cat([0.8, 0.2]) + h_cat([0.2, 0.4, 0.2, 0.2]) + h_beta
    assert d.entropy().item() == pytest.approx(want_h, abs=1e-5)
    # greedy: the most likely level of each quantised component, the Beta mean of the continuous one
    assert d.to_deterministic().sample().flatten().tolist() == pytest.approx([1.0, 1.0 / 3.0, 0.0, -1.0], abs=1e-6)
    assert d.kl(d).abs().max().item() < 1e-6
    with pytest.raises(NotImplementedError, match="reparameterised"):
        d.rsample()


def test_hybrid_samples_only_the_levels_and_the_env_reads_them():
    """Every sampled quantised component is one of its levels, and the URLLC core decodes the scheduling
    and beam choices the head sampled."""
    from cfmarl.envs.urllc_ofdm.config import make_config
    from cfmarl.envs.urllc_ofdm.core import UrllcCore
    from cfmarl.policies.heads import make_hybrid

    core = UrllcCore(make_config("s2222"), 1)
    lv = np.array(core.action_levels)
    head = make_hybrid((-1.0,) * lv.size, (1.0,) * lv.size, tuple(lv.tolist()))
    torch.manual_seed(0)
    a = head.from_logits(torch.randn(64, 1, head.param_dim()) * 3).sample()[:, 0].numpy()
    assert np.all(np.abs(a) <= 1.0)
    for L in (2, core.M):
        k = (a[:, lv == L] + 1.0) * (L - 1) / 2.0
        assert np.allclose(k, np.round(k), atol=1e-5)
    zeta, beam, _ = core.decode(a)
    x = a.reshape(64, core.B, 3, core.U, core.K)
    assert np.array_equal(zeta, x[:, :, 0] > 0) and np.array_equal(beam, np.rint((x[:, :, 1] + 1) * (core.M - 1) / 2))


def test_hybrid_is_chosen_from_the_env_declaration():
    from cfmarl.experiment import ConfigError, ExperimentConfig, from_dict
    from cfmarl.policies.heads import PerNodeHybrid

    box = _box(1, 3, -1.0, 1.0)
    assert issubclass(head_for(box, "auto", (2, 0, 4)), PerNodeHybrid)
    assert not issubclass(head_for(box, "auto", (0, 0, 0)), PerNodeHybrid)
    assert head_input_dim(box, head_for(box, "auto", (2, 0, 4))) == 2 + 2 + 4
    with pytest.raises(ValueError, match="declares quantised"):
        head_for(box, "hybrid")
    with pytest.raises(ValueError, match="one entry per action component"):
        head_for(box, "hybrid", (2, 0))
    with pytest.raises(ValueError, match=">= 2"):
        head_for(box, "hybrid", (1, 0, 0))
    with pytest.raises(ConfigError, match="model.action_head: 'hybrid' needs quantised"):
        from_dict(ExperimentConfig, {"env": {"name": "power", "scenario": "tiny"}, "model": {"action_head": "hybrid"}})


# ---------------------------------------------------------------- gated head (a gate per group of binary nodes)
def _gated_case(seed=0, group_size=3, groups=2):
    """A gated head over ``groups`` groups whose nodes are interleaved (perm not the identity)."""
    from cfmarl.policies.heads import make_gated

    n = group_size * groups
    perm = np.arange(n).reshape(group_size, groups).T.ravel()  # group j = nodes j, j + G, j + 2G, ...
    head = make_gated(tuple(perm.tolist()), group_size)
    logits = torch.randn(2, n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 1.5
    return head, logits, perm


def _enumerate_gated(logits, perm, group_size):
    """Brute force: P(a) of every action a in {0,1}^N by summing over the latent gates and link draws."""
    import itertools

    n = logits.shape[-2]
    p_on = torch.softmax(logits[..., :2], -1)[..., 1]  # (B, N)
    groups = perm.reshape(-1, group_size)
    gate_p = torch.sigmoid(torch.stack([logits[..., g, 2].mean(-1) for g in groups], -1))  # (B, G)
    actions = torch.tensor(list(itertools.product([0, 1], repeat=n)))
    probs = torch.zeros(logits.shape[0], len(actions), dtype=logits.dtype)
    for gates in itertools.product([0, 1], repeat=len(groups)):
        pg = torch.ones(logits.shape[0], dtype=logits.dtype)
        for j, gj in enumerate(gates):
            pg = pg * (gate_p[:, j] if gj else 1 - gate_p[:, j])
        # the action is links * gate; sum P(links) over the links mapping to each action
        for links in itertools.product([0, 1], repeat=n):
            links = torch.tensor(links)
            pl = torch.prod(torch.where(links.bool(), p_on, 1 - p_on), -1)
            gate_of_node = torch.zeros(n, dtype=torch.long)
            for j, g in enumerate(groups):
                gate_of_node[g] = gates[j]
            a = links * gate_of_node
            idx = int("".join(map(str, a.tolist())), 2)
            probs[:, idx] += pg * pl
    return actions, probs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gated_logp_entropy_and_mode_by_enumeration(seed):
    head, logits, perm = _gated_case(seed)
    d = head.from_logits(logits)
    actions, probs = _enumerate_gated(logits, perm, head.group_size)
    assert torch.allclose(probs.sum(-1), torch.ones(2, dtype=probs.dtype), atol=1e-12)
    # the joint log-probability: log P(a) / s on each node of a group, summed over nodes = log P(a)
    acts = actions[:, None, :].expand(-1, 2, -1).long()  # (A, B, N)
    share = d.joint_logp_share(acts)
    groups = perm.reshape(-1, head.group_size)
    for g in groups:  # every node of a group carries the same value
        assert torch.allclose(share[..., g], share[..., g[:1]].expand_as(share[..., g]))
    assert torch.allclose(share.sum(-1).T.exp(), probs, atol=1e-10)
    # per node: the factors its action depends on - log g + log q_k(a_k) in an open group, log P(0) in a closed one
    p_on = torch.softmax(logits[..., :2], -1)[..., 1]
    lp = d.logp(acts)
    for g in groups:
        log_g = torch.nn.functional.logsigmoid(logits[..., g, 2].mean(-1))  # (B,)
        a_g = acts[..., g]
        on = a_g.amax(-1, keepdim=True) > 0
        own = log_g[None, :, None] + torch.log(torch.where(a_g.bool(), p_on[:, g], 1 - p_on[:, g]))
        log_p0 = torch.log(1 - log_g.exp() + log_g.exp() * (1 - p_on[:, g]).prod(-1))  # (B,)
        want = torch.where(on, own, log_p0[None, :, None].expand_as(own))
        assert torch.allclose(lp[..., g], want, atol=1e-10)
    want_h = -(probs * torch.log(probs)).sum(-1)
    h = d.entropy()  # each node carries its group's entropy / s: the sum over nodes is the joint entropy
    for g in groups:
        assert torch.allclose(h[:, g], h[:, g[:1]].expand(-1, len(g)))
    assert torch.allclose(h.sum(-1), want_h, atol=1e-10)
    mode = d.to_deterministic().sample()
    for b in range(2):
        assert torch.equal(mode[b], actions[int(probs[b].argmax())])


def test_gated_samples_follow_the_mixture():
    head, logits, perm = _gated_case(3, group_size=2, groups=2)
    actions, probs = _enumerate_gated(logits, perm, 2)
    d = head.from_logits(logits)
    torch.manual_seed(0)
    draws = d.sample(sample_shape=(40000,))  # (S, B, N)
    codes = (draws * (2 ** torch.arange(3, -1, -1))).sum(-1)  # action index, node 0 most significant
    freq = torch.stack([torch.bincount(codes[:, b], minlength=16) for b in range(2)]).double() / 40000
    assert torch.allclose(freq, probs, atol=0.012)
    assert set(draws.unique().tolist()) <= {0, 1}


def test_gated_limits_and_errors():
    from cfmarl.policies.heads import make_gated

    head = make_gated((0, 1, 2, 3), 2)
    big = 30.0
    # gate closed: all off with probability 1; gate open: independent Bernoullis
    z = torch.tensor([[[0.0, 0.0, -big], [0.0, 0.0, -big], [0.0, math.log(3.0), big], [0.0, 0.0, big]]])
    d = head.from_logits(z)
    a = torch.tensor([[0, 0, 1, 0]])
    lp, share = d.logp(a)[0], d.joint_logp_share(a)[0]
    assert lp[0].item() == pytest.approx(0.0, abs=1e-9) and lp[1].item() == lp[0].item()
    assert lp[2].item() == pytest.approx(math.log(0.75), abs=1e-6) and lp[3].item() == pytest.approx(math.log(0.5))
    assert share[2].item() == pytest.approx(math.log(0.75 * 0.5) / 2, abs=1e-6) and share[3] == share[2]
    h = d.entropy()[0]
    assert h[0].item() == pytest.approx(0.0, abs=1e-9)
    h_b = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert h[2].item() == pytest.approx((h_b(0.75) + h_b(0.5)) / 2, abs=1e-6)  # the group's entropy, halved
    with pytest.raises(ValueError, match="permutation"):
        make_gated((0, 0, 1, 2), 2)
    with pytest.raises(ValueError, match=r"expected \(\.\.\., 4, 3\)"):
        head.from_logits(torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="binary"):
        head_for(gym.spaces.MultiDiscrete([3] * 4), "gated", groups=(np.arange(4), 2))
    with pytest.raises(ValueError, match="discrete"):
        head_for(_box(4, 1, 0.0, 1.0), "gated")
    assert head_input_dim(gym.spaces.MultiDiscrete([2] * 4), head) == 3
