"""Every env through TorchRL's PettingZoo wrapper (``PettingZooWrapper``, parallel API, global state
on): its spec checker, then rollouts across episode ends whose data lie inside the specs."""

import importlib

import numpy as np
import pytest

pytest.importorskip("torchrl", reason="torchrl is not installed (it comes with the dev extra: pip install -e .[dev])")

import torch  # noqa: E402
from torchrl.envs.libs.pettingzoo import PettingZooWrapper  # noqa: E402
from torchrl.envs.utils import MarlGroupMapType, check_env_specs  # noqa: E402

from cfmarl.registry import env_registry  # noqa: E402

# the smallest scenario of every env (both agent layouts where an env has two) and its episode-length field
CASES = [("aps", "tiny", "episode_windows"), ("power", "tiny", "episode_steps"),
         ("power", "tiny-central", "episode_steps"), ("precoding", "tiny", "episode_steps"),
         ("mftdma", "n4-1:3", "episode_frames"), ("urllc", "s2222", "episode_slots"),
         ("urllc", "s2222-per-ap", "episode_slots")]

pytestmark = pytest.mark.filterwarnings("ignore:PettingZoo in TorchRL is tested")


def _wrap(name, scenario, **overrides):
    module = importlib.import_module(env_registry()[name].module)
    base = module.parallel_env(scenario=scenario, **overrides)
    # one group for all agents (they share their spaces); the default would make one group per agent here
    env = PettingZooWrapper(base, return_state=True, group_map=MarlGroupMapType.ALL_IN_ONE_GROUP, seed=0)
    return env, base


def test_every_registered_env_is_covered():
    assert {c[0] for c in CASES} == set(env_registry())


@pytest.mark.parametrize("name,scenario,_", CASES)
def test_check_env_specs(name, scenario, _):
    env, base = _wrap(name, scenario)
    assert env.group_map == {"agents": base.possible_agents}
    assert env.observation_spec["state"].shape == base.state_space.shape
    assert env.observation_spec["state"].dtype == torch.float32
    obs_shape = base.observation_space(base.possible_agents[0]).shape
    assert env.observation_spec["agents", "observation"].shape == (base.num_agents, *obs_shape)
    check_env_specs(env, seed=0)


@pytest.mark.parametrize("name,scenario,length_field", CASES)
def test_rollout_across_episode_ends_stays_inside_the_specs(name, scenario, length_field):
    env, base = _wrap(name, scenario, **{length_field: 3})
    td = env.rollout(7, break_when_any_done=False)  # 3 + 3 + 1 steps: two truncations, auto-reset
    assert td.batch_size == (7,)
    nxt = td["next"]
    np.testing.assert_array_equal(nxt["truncated"].squeeze(-1).numpy(), [0, 0, 1, 0, 0, 1, 0])
    assert not nxt["terminated"].any()  # PettingZoo truncation, not termination
    obs_spec = env.observation_spec
    for key in ("state", ("agents", "observation")):
        assert obs_spec[key].is_in(td[key]) and obs_spec[key].is_in(nxt[key]), key
    assert env.full_action_spec["agents", "action"].is_in(td["agents", "action"])
    assert torch.isfinite(nxt["agents", "reward"]).all() and torch.isfinite(nxt["agents", "info", "cost"]).all()
    # the wrapper's state is the env's state(), i.e. the core's global state of the current step
    np.testing.assert_array_equal(nxt["state"][-1].numpy(), base.state())
