"""The decentralised offline MARL methods (MA-CDMP, BC, MA-TD3+BC, MA-CQL): per-node data, hand-computed
targets and losses, decentralised execution, and problems whose right answer is known."""

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from cfmarl.envs.validation import ConfigError  # noqa: E402
from cfmarl.policies.offline.baselines.bc import BCOptions, BehaviourCloning  # noqa: E402
from cfmarl.policies.offline.baselines.q_learning import CQL, TD3BC, CQLOptions, TD3BCOptions  # noqa: E402
from cfmarl.policies.offline.diffusion_planner.planner import MACDMP, CdmpOptions  # noqa: E402
from cfmarl.policies.offline.method import NodeData, NodeSpec, OfflineController, parse_options  # noqa: E402


class Alg:
    lr, gamma, minibatch_size = 3e-3, 0.9, 64


SPEC = NodeSpec(obs_dim=8, action_dim=1, action_low=(0.0,), action_high=(40.0,), neighbour_features=(4, 5, 6, 7),
                obs_mean=(0.0,) * 8, obs_std=(1.0,) * 8)


def _arrays(E=3, T=6, N=2, F=8, seed=0):
    r = np.random.default_rng(seed)
    obs = r.normal(size=(E, T, N, F)).astype(np.float32)
    return {"obs": obs, "next_obs": np.roll(obs, -1, 1), "actions": r.uniform(0, 40, (E, T, N, 1)).astype(np.float32),
            "rewards": r.normal(size=(E, T, N)).astype(np.float32)}


def test_windows_and_discounted_returns_by_hand():
    a = _arrays()
    data = NodeData(a, np.array([0, 2]))
    assert (data.E, data.T, data.N) == (2, 6, 2)
    w = data.windows(np.array([1]), np.array([2]), np.array([1]), 3)  # episode 2 of the arrays, steps 2-4, node 1
    np.testing.assert_array_equal(w["obs"][0], a["obs"][2, 2:5, 1])
    m = MACDMP(SPEC, CdmpOptions(horizon=4, dims=[8, 16], diffusion_steps=10), Alg, 0)
    y = m._returns(data, np.array([1]), np.array([2]), np.array([1]))
    r = a["rewards"][2, 2:6, 1]
    assert y[0] == pytest.approx(r[0] + 0.9 * r[1] + 0.81 * r[2] + 0.729 * r[3], rel=1e-5)
    e, t, n = data.flat_index(np.array([0, 13]))
    assert (e.tolist(), t.tolist(), n.tolist()) == ([0, 1], [0, 0], [0, 1])


def test_options_are_strict_and_named():
    with pytest.raises(ConfigError, match="algorithm.options.horizn: not an option of ma_cdmp"):
        parse_options(CdmpOptions, {"horizn": 8}, "ma_cdmp")
    with pytest.raises(ConfigError, match=r"algorithm.options.horizon: must be >= 2 and divisible by 2\^\(levels - 1\) = 4"):
        parse_options(CdmpOptions, {"horizon": 6, "dims": [8, 16, 32]}, "ma_cdmp")
    with pytest.raises(ConfigError, match="algorithm.options.sampler"):
        parse_options(CdmpOptions, {"sampler": "euler"}, "ma_cdmp")
    with pytest.raises(ConfigError, match="algorithm.options.guidance: must be a finite number"):
        parse_options(CdmpOptions, {"guidance": "high"}, "ma_cdmp")
    nomf = NodeSpec(**{**SPEC.to_json(), "neighbour_features": ()})
    with pytest.raises(ConfigError, match="declares none"):
        BehaviourCloning(nomf, BCOptions(mean_field=False), Alg, 0)
    m = MACDMP(SPEC, CdmpOptions(horizon=4, dims=[8, 16], diffusion_steps=10), Alg, 0)
    with pytest.raises(ConfigError, match="horizon.*need retraining"):
        m.with_sampling({"horizon": 8})
    assert m.with_sampling({"guidance": 1, "sampler": "ddpm"}).options.guidance == 1.0


def test_forward_noising_matches_the_closed_form_and_keeps_the_first_observation():
    m = MACDMP(SPEC, CdmpOptions(horizon=4, dims=[8, 16], diffusion_steps=10), Alg, 0)
    x0, eps = torch.randn(5, 8, 4), torch.randn(5, 8, 4)
    k = torch.tensor([0, 3, 5, 7, 9])
    abar = m.train_sched.alphas_cumprod[k][:, None, None]
    torch.testing.assert_close(m.train_sched.add_noise(x0, eps, k), abar.sqrt() * x0 + (1 - abar).sqrt() * eps)
    x = m.plan(torch.randn(5, 8), torch.Generator().manual_seed(1))
    assert x.shape == (5, 8, 4)
    cond = torch.full((3, 8), 0.7)
    assert torch.equal(m.plan(cond, torch.Generator().manual_seed(2))[:, :, 0], cond)


@pytest.mark.parametrize("sampler", ["dpm", "sde-dpm", "ddpm"])
def test_classifier_guidance_raises_the_predicted_return(sampler):
    m = MACDMP(SPEC, CdmpOptions(horizon=4, dims=[8, 16], diffusion_steps=20, sampler=sampler, sampling_steps=5),
               Alg, 0)

    class Linear(torch.nn.Module):  # J(x) = sum of the planned first feature: its gradient is known
        def forward(self, x, k):
            return x[:, 0, 1:].sum(-1)

    m.classifier = Linear()
    cond = torch.zeros(16, 8)
    plain = m.with_sampling({"guidance": 0.0}).plan(cond, torch.Generator().manual_seed(3))
    guided = m.with_sampling({"guidance": 2.0}).plan(cond, torch.Generator().manual_seed(3))
    assert guided[:, 0, 1:].mean() > plain[:, 0, 1:].mean() + 0.1


@pytest.mark.parametrize("sampler,steps,std_tol", [("ddpm", 100, 0.03), ("dpm", 100, 0.03), ("sde-dpm", 100, 0.03),
                                                   ("dpm", 10, 0.1), ("sde-dpm", 10, 0.15)])
def test_samplers_draw_the_known_conditional_with_the_exact_noise_model(sampler, steps, std_tol):
    """Plans (o_0, o_1) of jointly Gaussian data, o_1 | o_0 ~ N(rho o_0, 1 - rho^2), with the exact noise model
    E[eps | o_1^k, o_0] = sqrt(1 - a)(o_1^k - sqrt(a) rho o_0) / (a (1 - rho^2) + 1 - a): every sampler must draw the
    conditional (the SDE solver with fresh noise at each step, the ODE one deterministically from x_K). At 10 steps
    the first-order solvers under-disperse (std 0.53 ODE / 0.48 SDE, 0.60 / 0.58 at 100 steps), the mean holds."""
    rho = 0.8
    spec = NodeSpec(1, 1, (-3.0,), (3.0,), (), (0.0,), (1.0,))
    m = MACDMP(spec, CdmpOptions(horizon=2, dims=[8], diffusion_steps=100, sampler=sampler, sampling_steps=steps,
                                 guidance=0.0), Alg, 0)
    abar = m.train_sched.alphas_cumprod

    class Exact(torch.nn.Module):
        def forward(self, x, k):
            a = abar[k][:, None]
            eps1 = (1 - a).sqrt() * (x[:, :, 1] - a.sqrt() * rho * x[:, :, 0]) / (a * (1 - rho**2) + 1 - a)
            return torch.stack([torch.zeros_like(eps1), eps1], -1)

    m.eps = Exact()
    o1 = m.plan(torch.ones(4000, 1), torch.Generator().manual_seed(0))[:, 0, 1]
    assert float(o1.mean()) == pytest.approx(rho, abs=0.02)
    assert float(o1.std()) == pytest.approx((1 - rho**2) ** 0.5, abs=std_tol)
    again = m.plan(torch.ones(4000, 1), torch.Generator().manual_seed(0))[:, 0, 1]
    assert torch.equal(o1, again)  # the generator decides every draw


def test_ranked_candidates_execute_the_plan_the_classifier_values_most():
    m = MACDMP(SPEC, CdmpOptions(horizon=4, dims=[8, 16], diffusion_steps=10, sampling_steps=3, candidates=5,
                                 temperature=0.7), Alg, 0)

    class Linear(torch.nn.Module):
        def forward(self, x, k):
            return x[:, 0, 1:].sum(-1)

    m.classifier = Linear()
    cond = torch.randn(3, 8)
    best = m.plan(cond, torch.Generator().manual_seed(7))
    every = m.with_sampling({"candidates": 1}).plan(cond.repeat_interleave(5, 0), torch.Generator().manual_seed(7))
    every = every.view(3, 5, 8, 4)
    pick = every[:, :, 0, 1:].sum(-1).argmax(1)
    torch.testing.assert_close(best, every[torch.arange(3), pick])


def test_decentralised_execution_a_node_uses_only_its_own_row():
    m = MACDMP(SPEC, CdmpOptions(horizon=4, dims=[8, 16], diffusion_steps=10, sampling_steps=3, candidates=3), Alg, 0)
    ctrl = OfflineController(m, "cdmp", seed=5)
    obs = np.random.default_rng(0).uniform(0, 2, (2, 4, 8)).astype(np.float32)
    a = ctrl.act(None, None, obs)
    other = obs.copy()
    other[:, 2] += 1.5  # node 2's queues (its own and its neighbourhood mean) change
    b = OfflineController(m, "cdmp", seed=5).act(None, None, other)
    assert a.shape == (2, 4) and np.all((a >= 0) & (a <= 40))
    np.testing.assert_allclose(np.delete(a, 2, 1), np.delete(b, 2, 1), rtol=0, atol=1e-5)
    assert not np.allclose(a[:, 2], b[:, 2])
    # without mean field the neighbour columns are not read at all
    nomf = MACDMP(SPEC, CdmpOptions(horizon=4, dims=[8, 16], diffusion_steps=10, sampling_steps=3, mean_field=False),
                  Alg, 0)
    mf = obs.copy()
    mf[..., 4:] += 3.0
    np.testing.assert_allclose(OfflineController(nomf, "x", 5).act(None, None, obs),
                               OfflineController(nomf, "x", 5).act(None, None, mf), rtol=0, atol=1e-5)


def test_planner_learns_a_known_dynamics_and_inverse_model():
    """Sequences are constant (o_t = c per node and episode), the action equals the observation: a trained
    planner must continue the constant from the current observation and act a = o."""
    torch.manual_seed(0)
    r = np.random.default_rng(0)
    E, T, N = 64, 8, 4
    c = r.uniform(-2, 2, (E, 1, N, 1)).astype(np.float32)
    obs = np.broadcast_to(c, (E, T, N, 1)).copy()
    arrays = {"obs": obs, "next_obs": obs, "actions": obs.copy(), "rewards": obs[..., 0].copy()}
    spec = NodeSpec(1, 1, (-3.0,), (3.0,), (), (0.0,), (1.0,))
    m = MACDMP(spec, CdmpOptions(horizon=4, dims=[16, 32], diffusion_steps=20, sampling_steps=10, guidance=0.0),
               type("A", (), {"lr": 3e-3, "gamma": 0.9, "minibatch_size": 128}), 0)
    data = NodeData(arrays, np.arange(E))
    rng = np.random.default_rng(1)
    m.prepare(data, rng)
    for step in range(400):
        m.update(m.sample(data, 128, rng), step)
    test = np.array([[-1.5], [-0.5], [0.3], [1.2]], np.float32)
    plan = m.plan(m.norm_obs(test, [0]), torch.Generator().manual_seed(0))[:, 0]
    np.testing.assert_allclose(plan[:, 1:].detach().numpy(), np.repeat(test, 3, 1), atol=0.35)
    np.testing.assert_allclose(m.act(test, torch.Generator().manual_seed(0)), test, atol=0.35)


def test_bc_learns_a_linear_policy():
    r = np.random.default_rng(0)
    obs = r.uniform(0, 1, (20, 10, 3, 8)).astype(np.float32)
    arrays = {"obs": obs, "next_obs": obs, "actions": (40 * obs[..., :1]), "rewards": np.zeros((20, 10, 3), np.float32)}
    m = BehaviourCloning(SPEC, BCOptions(hidden=[32]), Alg, 0)
    data = NodeData(arrays, np.arange(20))
    for step in range(600):
        m.update(m.sample(data, 64, r), step)
    test = r.uniform(0.1, 0.9, (50, 8)).astype(np.float32)
    np.testing.assert_allclose(m.act(test, None)[:, 0], 40 * test[:, 0], atol=1.5)


def _set_const(net: torch.nn.Sequential, value: float) -> None:
    """An MLP whose output is ``value`` whatever the input (last layer weight 0, bias value)."""
    last = [mod for mod in net if isinstance(mod, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)


def test_td3bc_target_and_actor_loss_by_hand():
    m = TD3BC(SPEC, TD3BCOptions(hidden=[16], policy_noise=0.0, alpha=2.0), Alg, 0)
    _set_const(m.q1_t, 3.0)
    _set_const(m.q2_t, -1.0)
    batch = {"s": torch.randn(4, 8), "a": torch.full((4, 1), 0.5), "r": torch.tensor([1.0, 0.0, -1.0, 2.0]),
             "s2": torch.randn(4, 8)}
    torch.testing.assert_close(m.target(batch), batch["r"] + 0.9 * -1.0)  # r + gamma min(Q1', Q2')
    _set_const(m.q1, -4.0)
    _set_const(m.pi, 0.0)  # tanh(0) = 0: the actor's action is 0
    loss, info = m.actor_loss(batch)
    # -alpha / mean|Q| * mean Q + mean (pi - a)^2 = -2 / 4 * -4 + 0.25
    assert float(loss) == pytest.approx(2.0 + 0.25)
    assert info["bc_loss"] == pytest.approx(0.25)


def test_cql_penalty_by_hand():
    m = CQL(SPEC, CQLOptions(hidden=[16], cql_alpha=1.0, cql_samples=3), Alg, 0)
    _set_const(m.q1, 1.5)
    _set_const(m.q2, -2.0)
    batch = {"s": torch.randn(5, 8), "a": torch.zeros(5, 1), "r": torch.zeros(5), "s2": torch.randn(5, 8)}
    y = torch.zeros(5)
    loss, info = m.critic_loss(batch, y)
    # constant Q: logsumexp over 2M + 1 = 7 actions - Q(s, a) = log 7 per critic
    assert info["cql_penalty"] == pytest.approx(2 * np.log(7), rel=1e-5)
    assert float(loss) == pytest.approx(1.5**2 + 2.0**2 + 2 * np.log(7), rel=1e-5)


def test_noisy_load_proportional_behaviour_is_seeded_and_perturbs_the_requests():
    from cfmarl.policies.baselines.mf_tdma import make_baseline
    from cfmarl.registry import get_env

    entry = get_env("mftdma")
    core = entry.make_core(entry.make_config("n8-2:6", episode_frames=20), 2)
    state, obs = core.reset([0, 1])
    for _ in range(10):
        state, obs, *_ = core.step(state, make_baseline("load-proportional").act(core, state, obs))
    plain = make_baseline("load-proportional").act(core, state, obs)
    noisy = make_baseline("load-proportional:noise=0.5,seed=1").act(core, state, obs)
    again = make_baseline("load-proportional:noise=0.5,seed=1").act(core, state, obs)
    np.testing.assert_array_equal(noisy, again)
    busy = plain > 1
    ratio = np.log(noisy[busy] / plain[busy])
    assert busy.sum() >= 4 and 0.2 < ratio.std() < 1.0 and np.all(noisy <= 40)
    with pytest.raises(ValueError, match="noise must be >= 0"):
        make_baseline("load-proportional:noise=-1")
