"""PettingZoo conformance, seeding, pickling and bad input of ap_selection_v0."""

import pickle
import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from cfmarl.envs import ap_selection_v0
from cfmarl.envs.validation import ActionError, ConfigError

SCENARIOS = ap_selection_v0.scenario_names()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_parallel_api(scenario):
    env = ap_selection_v0.parallel_env(scenario=scenario, episode_windows=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PettingZoo reports contract slips as warnings
        parallel_api_test(env, num_cycles=10)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_parallel_seed(scenario):
    parallel_seed_test(lambda: ap_selection_v0.parallel_env(scenario=scenario, episode_windows=3), num_cycles=5)


def _rollout(env, seed, steps=3):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [np.stack(list(obs.values()))]
    for _ in range(steps):
        acts = dict(zip(env.agents, rng.integers(0, 2, len(env.agents)).tolist()))
        obs, rew, _, _, infos = env.step(acts)
        out += [np.stack(list(obs.values())), np.array(list(rew.values())),
                np.array([i["cost"] for i in infos.values()])]
    return out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_pickle_round_trip_continues_identically(scenario):
    env = ap_selection_v0.parallel_env(scenario=scenario, episode_windows=4)
    env.reset(seed=3)
    env.step(dict.fromkeys(env.agents, 1))
    clone = pickle.loads(pickle.dumps(env))
    acts = dict.fromkeys(env.agents, 0)
    acts[env.agents[0]] = 1
    a, b = env.step(acts), clone.step(acts)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
    np.testing.assert_array_equal(np.stack(list(a[0].values())), np.stack(list(b[0].values())))
    assert a[1] == b[1] and a[4] == b[4]
    # a fresh pickle of an un-reset env also works (Ray ships envs that way)
    fresh = pickle.loads(pickle.dumps(ap_selection_v0.parallel_env(scenario=scenario)))
    assert fresh.possible_agents == env.possible_agents


def test_same_seed_same_trajectory_and_different_seed_differs():
    env = ap_selection_v0.parallel_env(scenario="medium-vehicular")
    a, b = _rollout(env, 7), _rollout(env, 7)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = _rollout(env, 8)
    assert not np.array_equal(a[0], c[0])


def test_batched_core_copy_equals_single_env_with_same_seed():
    cfg = ap_selection_v0.make_config("medium-vehicular")
    seeds = [11, 12, 13]
    batched = ap_selection_v0.ApSelectionCore(cfg, num_envs=3)
    single = ap_selection_v0.ApSelectionCore(cfg, num_envs=1)
    sb, ob = batched.reset(seeds)
    ss, os_ = single.reset([12])
    np.testing.assert_array_equal(ob[1], os_[0])
    rng = np.random.default_rng(0)
    for _ in range(4):
        acts = rng.integers(0, 2, (3, cfg.num_links))
        sb, ob, rb, cb, _ = batched.step(sb, acts)
        ss, os_, rs, cs, _ = single.step(ss, acts[1])
        np.testing.assert_array_equal(ob[1], os_[0])
        np.testing.assert_allclose(cb[1], cs[0], rtol=0, atol=1e-9)  # BLAS batching may differ in ulps


def test_spaces_agents_and_episode_end():
    env = ap_selection_v0.parallel_env(scenario="tiny", episode_windows=2, history_len=3)
    assert env.possible_agents == [f"ap{l}_ue{k}" for l in range(4) for k in range(2)]
    assert env.observation_space("ap0_ue0") is env.observation_space("ap3_ue1")
    assert env.observation_space("ap0_ue0").shape == (5,)
    assert env.action_space("ap1_ue0").n == 2
    obs, infos = env.reset(seed=0)
    assert all(i["cost"] == 0.0 for i in infos.values())
    for a, o in obs.items():
        assert env.observation_space(a).contains(o)
    _, _, terms, truncs, infos = env.step(dict.fromkeys(env.agents, 1))
    assert not any(truncs.values()) and not any(terms.values())
    assert all("cost" in i for i in infos.values())
    _, _, terms, truncs, _ = env.step(dict.fromkeys(env.agents, 1))
    assert all(truncs.values()) and not any(terms.values())
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


@pytest.mark.parametrize("overrides, field", [
    ({"num_aps": 0}, "num_aps"), ({"num_ues": 2.5}, "num_ues"), ({"area_shape": "hexagon"}, "area_shape"),
    ({"se_target_bps_hz": float("nan")}, "se_target_bps_hz"), ({"se_target_bps_hz": -1}, "se_target_bps_hz"),
    ({"wrap_around": True}, "wrap_around"), ({"vehicular_fraction": 1.5}, "vehicular_fraction"),
    ({"pathloss": "cost231"}, "pathloss"), ({"history_len": 0}, "history_len"),
    ({"small_scale": "nakagami"}, "small_scale"), ({"window_slots": True}, "window_slots"),
])
def test_invalid_config_names_the_field(overrides, field):
    with pytest.raises(ConfigError, match=rf"ApSelectionConfig\.{field}"):
        ap_selection_v0.make_config("medium", **overrides)


def test_unknown_scenario_and_unknown_field():
    with pytest.raises(ConfigError, match="unknown scenario 'mediun'.*medium, medium-vehicular"):
        ap_selection_v0.make_config("mediun")
    with pytest.raises(ConfigError, match="unknown field.*se_target.*allowed"):
        ap_selection_v0.make_config("medium", se_target=2.0)


@pytest.mark.parametrize("actions, message", [
    (np.ones(7), r"expected shape \(8,\) or \(1, 8\), got \(7,\)"),
    (np.ones((2, 8)), r"expected shape"),
    (np.array([1, 0, 2, 0, 0, 0, 0, 0]), r"agent ap1_ue0 has action 2"),
    (np.array([1, 0, 0, np.nan, 0, 0, 0, 0]), r"NaN for agent ap1_ue1"),
    (np.array(["a"] * 8), r"numeric"),
    ([[1, 0], [1]], r"cannot be read|numeric|shape"),
])
def test_bad_core_actions_raise_clear_errors(actions, message):
    core = ap_selection_v0.ApSelectionCore(ap_selection_v0.make_config("tiny"), 1)
    state, _ = core.reset([0])
    with pytest.raises(ActionError, match=message):
        core.step(state, actions)


def test_bad_dict_actions_raise_clear_errors():
    env = ap_selection_v0.parallel_env(scenario="tiny")
    env.reset(seed=0)
    acts = dict.fromkeys(env.agents, 1)
    del acts["ap2_ue1"]
    with pytest.raises(ActionError, match="missing.*ap2_ue1"):
        env.step(acts)
    acts = dict.fromkeys(env.agents, 1)
    acts["ap0_ue0"] = float("nan")
    with pytest.raises(ActionError, match="NaN for agent ap0_ue0"):
        env.step(acts)
    acts["ap0_ue0"] = [1, 0]
    with pytest.raises(ActionError, match=r"actions\['ap0_ue0'\]"):
        env.step(acts)
    with pytest.raises(ActionError, match="dict"):
        env.step([1] * 8)
