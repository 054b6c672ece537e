"""PettingZoo conformance, seeding, pickling, bad input and semantics of power_control_v0 and precoding_v0."""

import pickle
import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from cfmarl.envs import power_control_v0, precoding_v0
from cfmarl.envs.physics import fading, mimo
from cfmarl.envs.validation import ActionError, ConfigError

SHORT = {"power": {"episode_steps": 3}, "precoding": {"episode_steps": 3, "rt_per_step": 2}}
# every registered scenario; the large ones only for construction and one step (they are benchmarks)
CASES = ([("power", power_control_v0, s) for s in power_control_v0.scenario_names()]
         + [("precoding", precoding_v0, s) for s in precoding_v0.scenario_names()])
SMALL = [c for c in CASES if not c[2].startswith(("large", "paper"))]


def _make(mod, name, scenario, **kw):
    return mod.parallel_env(scenario=scenario, **{**SHORT[name], **kw})


@pytest.mark.parametrize("name,mod,scenario", SMALL)
def test_parallel_api(name, mod, scenario):
    env = _make(mod, name, scenario)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=5)


@pytest.mark.parametrize("name,mod,scenario", SMALL)
def test_parallel_seed(name, mod, scenario):
    parallel_seed_test(lambda: _make(mod, name, scenario), num_cycles=3)


@pytest.mark.parametrize("name,mod,scenario", CASES)
def test_every_scenario_builds_steps_and_pickles(name, mod, scenario):
    env = _make(mod, name, scenario, episode_steps=2)
    env.reset(seed=1)
    acts = {a: env.action_space(a).sample() * 0 for a in env.agents}
    env.step(acts)
    clone = pickle.loads(pickle.dumps(env))
    a, b = env.step(acts), clone.step(acts)
    np.testing.assert_array_equal(np.stack(list(a[0].values())), np.stack(list(b[0].values())))
    assert a[1] == b[1] and a[4] == b[4]
    assert all(isinstance(i["cost"], float) for i in a[4].values())
    assert env.observation_space(env.possible_agents[0]) is env.observation_space(env.possible_agents[0])
    k = env.kpis()
    assert all(isinstance(v, float) for v in k.values())


TINY = [("power", power_control_v0, "tiny"), ("precoding", precoding_v0, "tiny")]


@pytest.mark.parametrize("name,mod,scenario", TINY)
def test_bad_input_is_a_clear_error(name, mod, scenario):
    env = _make(mod, name, scenario)
    env.reset(seed=0)
    good = {a: np.zeros(env.action_space(a).shape) for a in env.agents}
    bad = dict(good)
    bad[env.agents[1]] = np.full(env.action_space(env.agents[1]).shape, np.nan)
    with pytest.raises(ActionError, match=f"agent {env.agents[1]}"):
        env.step(bad)
    bad[env.agents[1]] = np.full(env.action_space(env.agents[1]).shape, 3.0)
    with pytest.raises(ActionError, match=r"allowed: finite values in \[-1, 1\]"):
        env.step(bad)
    with pytest.raises(ActionError, match="missing"):
        env.step({env.agents[0]: good[env.agents[0]]})
    with pytest.raises(ConfigError, match="unknown scenario 'huge'"):
        mod.parallel_env(scenario="huge")
    with pytest.raises(ConfigError, match="unknown field"):
        mod.parallel_env(scenario="tiny", not_a_field=1)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="PowerControlConfig.p_min_w: must be < p_max_w"):
        power_control_v0.make_config("tiny", p_min_w=1.0)
    with pytest.raises(ConfigError, match="PowerControlConfig.objective: must be one of"):
        power_control_v0.make_config("tiny", objective="max_fun")
    with pytest.raises(ConfigError, match="PrecodingConfig.cluster_size: must be <= 4"):
        precoding_v0.make_config("tiny", cluster_size=9)


# ------------------------------------------------------------------------- power control
def test_power_mapping_budget_and_sinr_by_hand():
    core = power_control_v0.PowerControlCore(power_control_v0.make_config("small", episode_steps=5), 2)
    state, obs = core.reset([1, 2])
    assert obs.shape == (2, 6, 21)
    g = state.gain.copy()
    a = np.random.default_rng(0).uniform(-1, 1, (2, 6))
    state, obs, rew, cost, done = core.step(state, a)
    c = core.config
    p = c.p_min_w + (a + 1) / 2 * (c.p_max_w - c.p_min_w)
    np.testing.assert_allclose(state.p, p)
    # SINR from the gain matrix of the step's channel (saved before the step advanced it)
    sinr = np.diagonal(g, axis1=1, axis2=2) * p / (np.einsum("bkj,bj->bk", g, p) - np.diagonal(g, axis1=1, axis2=2) * p
                                                  + core.noise_w)
    np.testing.assert_allclose(state.sinr, sinr, rtol=1e-12)
    assert np.all(core.kpis(state)["max_ap_power_w"] <= c.ap_power_w * (1 + 1e-12))
    th = c.sinr_threshold
    np.testing.assert_allclose(cost[..., 0], np.maximum(th - sinr, 0) / th)
    # team reward (eq. (25)) with the product objective
    f = np.log2(sinr + c.product_eps).mean(-1)
    team = f / c.se_threshold_bps_hz + 0.5 * (sinr >= th).mean(-1) - (np.maximum(th - sinr, 0) / th).mean(-1)
    np.testing.assert_allclose(rew, np.repeat(team[:, None], 6, 1), rtol=1e-12)


def test_gain_matrix_matches_the_mr_precoder_definition():
    core = power_control_v0.PowerControlCore(power_control_v0.make_config("tiny"), 1)
    state, _ = core.reset(0)
    h, w = state.h[0], state.w[0]
    L, K = h.shape
    amp = np.array([[sum(np.sqrt(w[l, j]) * h[l, k] * np.conj(h[l, j]) / abs(h[l, j]) for l in range(L))
                     for j in range(K)] for k in range(K)])
    np.testing.assert_allclose(state.gain[0], np.abs(amp) ** 2, rtol=1e-12)
    np.testing.assert_allclose(w.sum(-1), core.config.ap_power_w / core.config.p_max_w)  # full shares per AP


def test_central_agent_sees_everything_and_lbfgs_refinement_is_timed():
    env = power_control_v0.parallel_env(scenario="tiny-central", episode_steps=2, lbfgs_refine=True,
                                        objective="max_sum_rate")
    obs, _ = env.reset(seed=0)
    assert env.possible_agents == ["central"] and obs["central"].shape == (3 * 11,)
    assert env.action_space("central").shape == (3,)
    _, rew, _, _, info = env.step({"central": np.zeros(3)})
    assert env.kpis()["refine_ms"] > 0
    # refinement moved the powers away from the mid-range action towards a better sum rate
    assert not np.allclose(env._core_state.p, (env.config.p_min_w + env.config.p_max_w) / 2)


def test_local_reward_mode_gives_each_user_its_own_terms():
    core = power_control_v0.PowerControlCore(power_control_v0.make_config("small", reward_mode="local",
                                                                          objective="max_sum_rate"), 1)
    state, _ = core.reset(3)
    state, _, rew, cost, _ = core.step(state, np.zeros(6))
    c, s = core.config, state.sinr[0]
    expect = (np.log2(1 + s) / c.se_threshold_bps_hz + 0.5 * (s >= c.sinr_threshold)
              - np.maximum(c.sinr_threshold - s, 0) / c.sinr_threshold)
    np.testing.assert_allclose(rew[0], expect, rtol=1e-12)


# ---------------------------------------------------------------------------- precoding
def test_gauss_markov_statistics_match_jakes():
    rng = np.random.default_rng(0)
    rho = float(fading.jakes_correlation(np.array(30 / 3.6), 3.5e9, 1e-3))
    h0 = fading.rayleigh(rng, (200_000,))
    h1 = fading.gauss_markov_step(rng, h0, rho)
    assert np.mean(np.abs(h1) ** 2) == pytest.approx(1.0, abs=0.01)
    assert np.real(np.mean(h1 * np.conj(h0))) == pytest.approx(rho, abs=0.01)


def test_precoding_action_encoding_round_trip_and_positive_definite_w():
    core = precoding_v0.PrecodingCore(precoding_v0.make_config("tiny"), 2)
    state, obs = core.reset([0, 1])
    assert obs.shape == (2, 3, 3 * 8)
    a = np.random.default_rng(0).uniform(-1, 1, (2, 3, core.action_dim))
    u, w = core.decode_actions(state, a)
    assert np.all(np.linalg.eigvalsh(w) > 0)
    np.testing.assert_allclose(core.encode_actions(state, u, w), a, atol=1e-10)


def test_precoding_step_follows_the_three_timescales():
    cfg = precoding_v0.make_config("tiny", rt_per_step=3, min_rate_bps_hz=50.0, dual_step=0.1)
    core = precoding_v0.PrecodingCore(cfg, 1)
    state, _ = core.reset(4)
    a = core.expert_actions(state)
    state, obs, rew, cost, done = core.step(state, a)
    # rates far below the 50 bit/s/Hz minimum: lambda grew by eta (R_min - R) in each of the 3 RT loops
    assert np.all(state.lam > 0.1 * 3 * 5)
    assert np.all(mimo.oru_powers(state.v) <= core.p_max * (1 + 1e-9))
    np.testing.assert_allclose(cost[0, :, 0], np.maximum(50 - rew[0], 0) / 50)
    np.testing.assert_allclose(state.s_hat, mimo.effective_channels(state.h_hat, state.v), atol=1e-9)


def test_rate_change_and_csi_error_options():
    cfg = precoding_v0.make_config("tiny", rate_change_step=2, rate_change_bps_hz=7.0, episode_steps=3,
                                   rt_per_step=1)
    core = precoding_v0.PrecodingCore(cfg, 1)
    state, _ = core.reset(0)
    for t in range(2):
        state, *_ = core.step(state, core.expert_actions(state))
    assert sorted(state.min_rate[0].tolist()) == [1.0, 1.0, 7.0]
    noisy = precoding_v0.PrecodingCore(precoding_v0.make_config("tiny", csi_error=0.1, rt_per_step=1), 1)
    s1, _ = noisy.reset(0)
    s1, *_ = noisy.step(s1, noisy.expert_actions(s1))
    perfect = precoding_v0.PrecodingCore(precoding_v0.make_config("tiny", rt_per_step=1), 1)
    s2, _ = perfect.reset(0)
    s2, *_ = perfect.step(s2, perfect.expert_actions(s2))
    assert not np.allclose(s1.h_hat, s2.h_hat)


def test_precoding_graph_and_signalling():
    env = precoding_v0.parallel_env(scenario="medium", episode_steps=2, rt_per_step=1)
    env.reset(seed=0)
    ei, et = env.agent_graph()
    assert ei.shape[0] == 2 and ei.shape[1] == et.shape[0] and set(et.tolist()) <= {0, 1}
    assert np.sum(et == 1) == 8 * (3 - 1)  # every user observes |Omega| - 1 others
    env.step({a: np.zeros(env.action_space(a).shape) for a in env.agents})
    c = env.config
    proposed = env.kpis()["e2_overhead_kbit"]
    central = env.core.e2_overhead_kbit(env._core_state, "centralised")
    assert central == pytest.approx(c.rt_per_step * c.num_orus * (c.num_ues * 2 * 4 + 4 * c.num_ues * 2) * 64 / 1e3)
    assert 0 < proposed < central


def test_precoding_budget_holds_and_nothing_is_nan_for_any_action():
    core = precoding_v0.PrecodingCore(precoding_v0.make_config("medium", rt_per_step=2), 3)
    state, _ = core.reset([5, 6, 7])
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no silent 0/0 in the multiplier search
        for t in range(8):
            a = core.expert_actions(state) if t % 2 else np.sign(rng.uniform(-1, 1, (3, 8, core.action_dim)))
            state, obs, rew, cost, _ = core.step(state, a)
            assert np.all(np.isfinite(obs)) and np.all(np.isfinite(rew))
            assert mimo.oru_powers(state.v).max() <= core.p_max * (1 + 1e-9)
