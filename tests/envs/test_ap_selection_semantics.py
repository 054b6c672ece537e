"""What the AP-selection env computes: graph, reward/cost sharing, window SE, KPIs,
observations, and a seeded regression of a short trajectory."""

import itertools

import numpy as np
import pytest

from cfmarl.envs import ap_selection_v0
from cfmarl.envs.physics import precoding
from cfmarl.envs.physics.units import thermal_noise_power_w


def test_graph_has_exactly_the_expected_edges():
    env = ap_selection_v0.parallel_env(scenario="tiny", num_aps=3, num_ues=4)
    edge_index, edge_type = env.agent_graph()
    L, K = 3, 4
    assert edge_index.dtype == np.int64 and edge_type.dtype == np.int64
    assert edge_index.shape == (2, L * K * (K - 1) + K * L * (L - 1))
    got = {(int(s), int(d), int(t)) for (s, d), t in zip(edge_index.T, edge_type)}
    want = set()
    for (l1, k1), (l2, k2) in itertools.permutations(itertools.product(range(L), range(K)), 2):
        s, d = l1 * K + k1, l2 * K + k2
        if l1 == l2:
            want.add((s, d, 0))
        elif k1 == k2:
            want.add((s, d, 1))
    assert got == want
    assert len(got) == edge_index.shape[1]  # no duplicates
    names = env.possible_agents
    assert names[5] == "ap1_ue1"


def test_reward_and_cost_sharing_rule():
    env = ap_selection_v0.parallel_env(scenario="medium", se_target_bps_hz=2.5)
    env.reset(seed=5)
    rng = np.random.default_rng(5)
    L, K = env.config.num_aps, env.config.num_ues
    for _ in range(5):
        a = (rng.random((L, K)) < 0.2).astype(int)
        a[0] = 0  # AP 0 idle
        _, rew, _, _, infos = env.step({f"ap{l}_ue{k}": int(a[l, k]) for l in range(L) for k in range(K)})
        kp = env.kpis()
        r = np.array([[rew[f"ap{l}_ue{k}"] for k in range(K)] for l in range(L)])
        c = np.array([[infos[f"ap{l}_ue{k}"]["cost"] for k in range(K)] for l in range(L)])
        np.testing.assert_array_equal(r, np.where(a.any(axis=1), -1.0, 0.0)[:, None] * np.ones(K))
        se = np.array([kp[f"se_ue{k}_bps_hz"] for k in range(K)])
        np.testing.assert_allclose(c, np.ones((L, 1)) * np.maximum(2.5 - se, 0) / 2.5)
        assert kp["active_aps"] == a.any(axis=1).sum()
        assert kp["network_power_w"] == pytest.approx(kp["active_aps"] * (1.025 + 1.0 / 0.4))


def test_window_se_is_average_of_per_slot_se_from_the_physics():
    cfg = ap_selection_v0.make_config("medium-vehicular")
    core = ap_selection_v0.ApSelectionCore(cfg, 1)
    state, _ = core.reset([1])
    h = state.h_next[0].copy()  # (T, L, K): the coming window
    assert h.shape == (cfg.window_slots, cfg.num_aps, cfg.num_ues)
    assoc = np.random.default_rng(1).random((cfg.num_aps, cfg.num_ues)) < 0.3
    p = precoding.equal_power_split(assoc, cfg.ap_max_power_w)
    noise = thermal_noise_power_w(cfg.bandwidth_hz, cfg.noise_figure_db)
    expected = np.mean([precoding.spectral_efficiency(precoding.mrt_sinr(h[t], p, noise))
                        for t in range(cfg.window_slots)], axis=0)
    state, *_ = core.step(state, assoc.reshape(1, -1))
    np.testing.assert_allclose(state.se_window[0], expected, rtol=1e-12)
    kp = core.kpis(state)
    assert kp["mean_se_bps_hz"][0] == pytest.approx(expected.mean())
    sum_se = expected.sum()
    power = assoc.any(1).sum() * cfg.ap_active_power_w
    assert kp["energy_efficiency_bit_per_j"][0] == pytest.approx(cfg.bandwidth_hz * sum_se / power)


def test_channels_change_within_a_window_and_follow_los_distance():
    cfg = ap_selection_v0.make_config("medium-vehicular")
    core = ap_selection_v0.ApSelectionCore(cfg, 1)
    state, _ = core.reset([2])
    h = state.h_next[0]
    assert not np.allclose(h[0], h[-1])  # phases rotate as UEs move (30 km/h)
    # |h|^2 equals the path gain of the 3-D distance at slot 0
    np.testing.assert_allclose(np.abs(h[0]) ** 2, state.beta_next[0], rtol=1e-6)  # single-precision phase


def test_observation_features():
    env = ap_selection_v0.parallel_env(scenario="tiny", history_len=3, se_target_bps_hz=2.0,
                                       observe_previous_action=True)
    obs, _ = env.reset(seed=9)
    core, state = env.core, env._core_state
    snr_db = 10 * np.log10(np.abs(state.h_next[0, 0]) ** 2 * 1.0 / core.noise_w)
    o = np.stack([obs[a] for a in env.possible_agents]).reshape(4, 2, 5)
    np.testing.assert_allclose(o[..., 2], (snr_db - 35) / 10, rtol=1e-5)  # current instant is last
    assert np.all(o[..., 3] == 0) and np.all(o[..., 4] == 0)
    acts = dict.fromkeys(env.agents, 0)
    acts["ap1_ue0"] = acts["ap2_ue1"] = 1
    obs, *_ = env.step(acts)
    o2 = np.stack([obs[a] for a in env.possible_agents]).reshape(4, 2, 5)
    np.testing.assert_array_equal(o2[..., 3], [[0, 0], [1, 0], [0, 1], [0, 0]])
    kp = env.kpis()
    np.testing.assert_allclose(o2[:, 0, 4], min(kp["se_ue0_bps_hz"] / 2.0, 4.0), rtol=1e-6)
    # history shifts by one decision instant
    np.testing.assert_array_equal(o2[..., :2], o[..., 1:3])
    # by default the previous action is not observed
    env0 = ap_selection_v0.parallel_env(scenario="tiny")
    env0.reset(seed=9)
    obs0, *_ = env0.step(dict.fromkeys(env0.agents, 1))
    assert all(o[-2] == 0.0 for o in obs0.values())


def test_idle_network_costs_full_shortfall_and_no_power():
    env = ap_selection_v0.parallel_env(scenario="tiny")
    env.reset(seed=0)
    _, rew, _, _, infos = env.step(dict.fromkeys(env.agents, 0))
    assert set(rew.values()) == {0.0}
    assert {i["cost"] for i in infos.values()} == {1.0}
    kp = env.kpis()
    assert kp["network_power_w"] == 0.0 and kp["energy_efficiency_bit_per_j"] == 0.0


def test_seeded_regression_short_trajectory():
    """Stored values from the first implementation (tiny-vehicular, seed 123, target 3)."""
    core = ap_selection_v0.ApSelectionCore(ap_selection_v0.make_config("tiny-vehicular", se_target_bps_hz=3.0), 1)
    state, obs = core.reset([123])
    np.testing.assert_allclose(obs[0, [0, 3, 7], :4], [[0.509614, 0.50739, 0.505171, 0.502954],
                                                       [1.339904, 1.35705, 1.368799, 1.374712],
                                                       [1.432534, 1.418148, 1.397734, 1.372084]], atol=2e-6)
    expected_se = [[2.076696, 3.653685], [2.773645, 5.629694], [2.33509, 3.505023]]
    expected_r = [[-1, -1, -1, -1, -1, -1, 0, 0], [-1] * 8, [0, 0, -1, -1, -1, -1, 0, 0]]
    expected_c0 = [0.307768, 0.075452, 0.221637]
    for i, a in enumerate([[1, 0, 0, 1, 1, 1, 0, 0], [1] * 8, [0, 0, 0, 1, 1, 0, 0, 0]]):
        state, obs, r, c, done = core.step(state, np.array(a))
        np.testing.assert_allclose(state.se_window[0], expected_se[i], atol=2e-6)
        np.testing.assert_array_equal(r[0], expected_r[i])
        np.testing.assert_allclose(c[0, ::2, 0], expected_c0[i], atol=2e-6)
        np.testing.assert_array_equal(c[0, 1::2, 0], 0.0)
    np.testing.assert_allclose(obs[0, 7], [1.372084, 1.34208, 1.308616, 1.272534, 0.0, 1.168341], atol=2e-6)


@pytest.mark.parametrize("overrides", [{"small_scale": "rician"}, {"shadowing_std_db": 4.0},
                                       {"pathloss": "free_space"}, {"pathloss": "umi_36814_los"},
                                       {"pathloss": "ngo2017", "carrier_hz": 1.9e9, "ap_height_m": 15.0,
                                        "ue_height_m": 1.65},
                                       {"area_shape": "square", "area_size_m": 300.0, "wrap_around": True}])
def test_channel_variants_run_and_keep_contract(overrides):
    env = ap_selection_v0.parallel_env(scenario="medium-vehicular", episode_windows=3, **overrides)
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        obs, rew, _, trunc, infos = env.step(dict.fromkeys(env.agents, 1))
    assert all(trunc.values())
    assert all(np.isfinite(o).all() and env.observation_space(a).contains(o) for a, o in obs.items())
    assert 0 < env.kpis()["mean_se_bps_hz"] < 30


def test_rician_instantaneous_differs_from_large_scale():
    core = ap_selection_v0.ApSelectionCore(ap_selection_v0.make_config("medium", small_scale="rician"), 1)
    state, _ = core.reset([0])
    ratio = np.abs(state.h_next[0, 0]) ** 2 / state.beta_next[0]
    assert ratio.std() > 0.05 and ratio.mean() == pytest.approx(1.0, abs=0.25)


def test_link_gain_feature_equals_brute_force_toggles():
    """f[H+2] with observe_link_gain: UE k's window SE with link (l, k) on minus off, every other link as
    played, on the window just played - checked against window_se of each toggled association."""
    env = ap_selection_v0.parallel_env(scenario="tiny", history_len=2, se_target_bps_hz=2.0,
                                       observe_link_gain=True)
    obs, _ = env.reset(seed=4)
    core = env.core
    L, K = core.L, core.K
    assert env.observation_space(env.possible_agents[0]).shape == (5,)
    o = np.stack([obs[a] for a in env.possible_agents]).reshape(L, K, 5)
    assert np.all(o[..., 4] == 0)  # nothing played yet
    played = np.zeros((L, K), bool)
    played[0, 0] = played[1, 0] = played[1, 1] = played[3, 1] = True
    h = env._core_state.h_next.copy()  # the window the actions are played on
    obs, *_ = env.step({f"ap{l}_ue{k}": int(played[l, k]) for l in range(L) for k in range(K)})
    o2 = np.stack([obs[a] for a in env.possible_agents]).reshape(L, K, 5)
    want = np.empty((L, K))
    for l in range(L):
        for k in range(K):
            on, off = played.copy(), played.copy()
            on[l, k], off[l, k] = True, False
            want[l, k] = (core.window_se(h, on[None])[0, k] - core.window_se(h, off[None])[0, k]) / 2.0
    np.testing.assert_allclose(o2[..., 4], np.clip(want, -1.0, 4.0), rtol=1e-5, atol=1e-6)
    assert np.all(o2[played, 4] > 0)  # a served link carries part of its UE's signal
    # the other features are those of the plain env on the same seed and actions
    plain = ap_selection_v0.parallel_env(scenario="tiny", history_len=2, se_target_bps_hz=2.0)
    plain.reset(seed=4)
    obs_p, *_ = plain.step({f"ap{l}_ue{k}": int(played[l, k]) for l in range(L) for k in range(K)})
    np.testing.assert_array_equal(np.stack([obs_p[a] for a in plain.possible_agents]).reshape(L, K, 4),
                                  o2[..., :4])


def test_link_rank_hand_computed():
    """Rank among a UE's links, strongest 0, ties by AP index, clipped at 8 and scaled to [0, 1]."""
    snr = np.array([[3.0, -1.0], [5.0, -1.0], [1.0, 2.0]])[None]  # (B=1, L=3, K=2)
    want = np.array([[1, 1], [0, 2], [2, 0]]) / 8.0
    np.testing.assert_array_equal(ap_selection_v0.ApSelectionCore.link_rank(snr)[0], want)
    many = -np.arange(12.0)[None, :, None]  # 12 APs of one UE, AP 0 strongest
    np.testing.assert_array_equal(ap_selection_v0.ApSelectionCore.link_rank(many)[0, :, 0],
                                  np.minimum(np.arange(12), 8) / 8.0)


def test_link_rank_feature_orders_each_ues_links_by_current_snr():
    """The last feature with observe_link_rank (after the link gain when both are on): the link's rank among
    its UE's links by the current SNR (f[H-1]); thresholding it at k / 8 is k-strongest by instantaneous
    gain, and the other features are those of the plain env on the same seed."""
    kw = dict(scenario="medium", history_len=2, se_target_bps_hz=1.0)
    env = ap_selection_v0.parallel_env(**kw, observe_link_gain=True, observe_link_rank=True)
    plain = ap_selection_v0.parallel_env(**kw)
    obs, _ = env.reset(seed=5)
    obs_p, _ = plain.reset(seed=5)
    L, K = env.core.L, env.core.K
    space = env.observation_space(env.possible_agents[0])
    assert space.shape == (6,) and space.low[-1] == 0.0 and space.high[-1] == 1.0
    for _ in range(2):
        o = np.stack([obs[a] for a in env.possible_agents]).reshape(L, K, 6)
        assert space.contains(obs[env.possible_agents[0]])
        snr = o[..., 1]  # the current instant
        for k in range(K):
            order = np.argsort(-snr[:, k], kind="stable")
            np.testing.assert_array_equal(o[order, k, 5], np.minimum(np.arange(L), 8) / 8.0)
        top3 = o[..., 5] < 3 / 8
        assert np.all(top3.sum(axis=0) == 3)
        np.testing.assert_array_equal(top3, snr >= np.sort(snr, axis=0)[-3])
        np.testing.assert_array_equal(np.stack([obs_p[a] for a in plain.possible_agents]).reshape(L, K, 4),
                                      o[..., :4])
        act = {a: int(top3.reshape(-1)[i]) for i, a in enumerate(env.possible_agents)}
        obs, *_ = env.step(act)
        obs_p, *_ = plain.step(act)


def test_cost_credit_large_scale_moves_the_credit_not_the_mean():
    """cost_credit large_scale: link (l, k) carries L beta_lk / sum_l' beta_l'k of UE k's shortfall (beta of the
    window just played); per UE the links' costs add up to L x its shortfall, as with the paper's rule, so the
    mean cost per link is the same number."""
    kw = dict(scenario="medium", se_target_bps_hz=2.5, shadowing_std_db=4.0)
    paper = ap_selection_v0.parallel_env(**kw)
    moved = ap_selection_v0.parallel_env(**kw, cost_credit="large_scale")
    paper.reset(seed=3)
    moved.reset(seed=3)
    L, K = paper.core.L, paper.core.K
    rng = np.random.default_rng(3)
    for _ in range(3):
        a = (rng.random((L, K)) < 0.25).astype(int)
        act = {f"ap{l}_ue{k}": int(a[l, k]) for l in range(L) for k in range(K)}
        beta = moved._core_state.beta_next.copy()[0]  # (L, K): the window about to be played
        _, rew_p, _, _, info_p = paper.step(act)
        _, rew_m, _, _, info_m = moved.step(act)
        c_p = np.array([[info_p[f"ap{l}_ue{k}"]["cost"] for k in range(K)] for l in range(L)])
        c_m = np.array([[info_m[f"ap{l}_ue{k}"]["cost"] for k in range(K)] for l in range(L)])
        assert rew_p == rew_m
        np.testing.assert_allclose(c_m, L * beta / beta.sum(0, keepdims=True) * c_p, rtol=1e-10)
        np.testing.assert_allclose(c_m.sum(0), L * c_p[0], rtol=1e-10)  # per UE: L x its shortfall
        assert c_m.mean() == pytest.approx(c_p.mean(), rel=1e-12) and c_p.mean() > 0
        assert not np.allclose(c_m, c_p)
    with pytest.raises(Exception, match="cost_credit"):
        ap_selection_v0.parallel_env(scenario="tiny", cost_credit="nearest")
