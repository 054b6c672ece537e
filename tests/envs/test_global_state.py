"""PettingZoo's ``state()`` / ``state_space`` on every registered env (issue 11: the shell used to
store the core's state in ``self.state``, hiding the method, so ``env.state()`` raised TypeError)."""

import importlib
import pickle

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import state_test

from cfmarl.registry import env_registry

# the smallest scenario of every env, plus the other agent layout where an env has two
SMALLEST = {"aps": ["tiny"], "power": ["tiny", "tiny-central"], "precoding": ["tiny"], "mftdma": ["n4-1:3"],
            "urllc": ["s2222", "s2222-per-ap"]}
CASES = [(name, sc) for name, scs in SMALLEST.items() for sc in scs]


def _make(name, scenario, aec=False):
    module = importlib.import_module(env_registry()[name].module)
    return module.env(scenario=scenario) if aec else module.parallel_env(scenario=scenario)


def test_every_registered_env_is_covered():
    assert set(SMALLEST) == set(env_registry()), "add the new env's smallest scenario to SMALLEST"


@pytest.mark.parametrize("name,scenario", CASES)
def test_state_is_a_method_inside_a_cached_state_space(name, scenario):
    env = _make(name, scenario)
    space = env.state_space
    assert isinstance(space, spaces.Box) and space.dtype == np.float32 and space.shape == (env.core.state_dim,)
    assert env.state_space is space  # created once
    lo, hi = env.core.state_bounds
    np.testing.assert_array_equal(space.low, lo)
    np.testing.assert_array_equal(space.high, hi)
    assert np.all(space.low <= space.high)
    with pytest.raises(RuntimeError, match=r"state\(\) needs reset\(\)"):
        env.state()

    env.reset(seed=3)
    env.action_space(env.possible_agents[0]).seed(4)
    for t in range(40):
        s = env.state()
        assert isinstance(s, np.ndarray) and s.dtype == np.float32 and s.shape == space.shape
        outside = np.flatnonzero((s < space.low) | (s > space.high))
        assert space.contains(s), f"step {t}: state entries {outside[:10]} outside state_space"
        np.testing.assert_array_equal(s, env.core.global_state(env._core_state)[0])
        if not env.agents:
            break
        env.step({a: env.action_space(a).sample() for a in env.agents})

    # the state survives a pickle round trip (Ray ships envs to workers)
    clone = pickle.loads(pickle.dumps(env))
    np.testing.assert_array_equal(clone.state(), env.state())


@pytest.mark.parametrize("name,scenario", CASES)
def test_pettingzoo_state_checker(name, scenario, recwarn):
    state_test(_make(name, scenario, aec=True), _make(name, scenario), num_cycles=10)
    assert not [w for w in recwarn if "state" in str(w.message).lower()]  # its warnings too


@pytest.mark.parametrize("name,scenario", CASES)
def test_global_state_is_batched_and_starts_with_the_observations(name, scenario):
    """The core's global_state is vectorised over env copies (B, S), and its leading part holds the
    agents' observations (see each core's docstring for what follows them)."""
    entry = env_registry()[name]
    core = entry.make_core(entry.make_config(scenario), 3)
    state, obs = core.reset([0, 1, 2])
    gs = core.global_state(state)
    assert gs.shape == (3, core.state_dim) and gs.dtype == np.float32
    lo, hi = core.state_bounds
    assert np.all((gs >= lo) & (gs <= hi))
    n = obs.shape[1] * obs.shape[2]
    if name == "urllc" and obs.shape[1] > 1:  # per-AP rows repeat the queue features; the state has them once
        n_q = 2 * core.U
        np.testing.assert_array_equal(gs[:, :n - obs.shape[1] * n_q], obs[..., :-n_q].reshape(3, -1))
    else:
        np.testing.assert_array_equal(gs[:, :n], obs.reshape(3, -1))
    assert not np.array_equal(gs[0], gs[1])  # copies are different episodes
