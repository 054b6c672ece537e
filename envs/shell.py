"""PettingZoo ParallelEnv shell shared by every environment: a dict view of one env copy of an array core.

The shell only converts between dicts keyed by agent id and the core's arrays;
all simulation happens in the core. A subclass names its core class, its
``make_config`` and default scenario; agents act in Box(*core.action_bounds,
(core.action_dim,)) unless the subclass overrides :meth:`_action_space` and
:meth:`_action_array` (AP selection's Discrete(2)).

``state()`` is PettingZoo's global state for centralised critics: the core's
``global_state`` of the current env copy, inside ``state_space`` (Box over
``core.state_bounds``, created once); each core's docstring of ``global_state``
says what it holds. The core's mutable state lives in ``self._core_state`` (an
attribute named ``state`` would hide the method).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from cfmarl.envs.validation import ActionError, check_seed, real_numbers


class CoreParallelEnv(ParallelEnv):
    """ParallelEnv around ``core_cls(config, num_envs=1)``."""

    metadata: dict[str, Any] = {"render_modes": [], "is_parallelizable": True}
    core_cls: type
    make_config: Callable[..., Any]  # (scenario, **overrides) -> config
    default_scenario: str

    def __init__(self, config: Any = None, scenario: str | None = None, render_mode: str | None = None,
                 **overrides: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode: this environment does not render; got {render_mode!r}")
        if config is None:
            config = type(self).make_config(scenario or self.default_scenario, **overrides)
        elif scenario is not None or overrides:
            raise ValueError("pass either config or scenario/overrides, not both")
        elif not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
            raise ValueError(f"config: expected the env's config object (from make_config(scenario, **fields)); "
                             f"got {type(config).__name__} - pass scenario= and field keywords instead")
        self.config = config
        self.core = core = self.core_cls(config, num_envs=1)
        self.render_mode = None
        self.possible_agents = list(core.agent_ids)
        self.agents: list[str] = []
        low, high = core.obs_bounds
        obs_space = spaces.Box(low, high, dtype=np.float32)
        act_space = self._action_space()
        self._obs_spaces = {a: obs_space for a in self.possible_agents}
        self._act_spaces = {a: act_space for a in self.possible_agents}
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self._rng: np.random.Generator | None = None
        self._core_state = None
        self.state_space = spaces.Box(*core.state_bounds, dtype=np.float32)

    # spaces are created once and shared, so the same object is returned every call
    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        check_seed(seed)
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        # each episode gets its own child generator, so episodes are independent and reproducible
        self._core_state, obs = self.core.reset([int(self._rng.integers(2**63))])
        self.agents = list(self.possible_agents)
        return dict(zip(self.agents, obs[0])), {a: {"cost": 0.0} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        if not isinstance(actions, dict):
            raise ActionError(f"actions: expected a dict keyed by agent id, got {type(actions).__name__}")
        if actions.keys() != self._index.keys():
            missing = [a for a in self.agents if a not in actions]
            unknown = [a for a in actions if a not in self._index]
            raise ActionError(f"actions: every live agent needs an action; missing {missing[:5]}"
                              f"{'...' if len(missing) > 5 else ''}, unknown {unknown[:5]}")
        self._core_state, obs, rew, cost, done = self.core.step(self._core_state, self._action_array(actions))
        agents = self.possible_agents
        infos = {a: {"cost": c} for a, c in zip(agents, cost[0, :, 0].tolist())}
        truncated = bool(done[0])
        truncs = dict.fromkeys(agents, truncated)
        if truncated:
            self.agents = []
        return (dict(zip(agents, obs[0])), dict(zip(agents, rew[0].tolist())), dict.fromkeys(agents, False),
                truncs, infos)

    # ------------------------------------------------------------ actions
    def _action_space(self) -> spaces.Space:
        return spaces.Box(*self.core.action_bounds, (self.core.action_dim,), dtype=np.float32)

    def _action_array(self, actions: dict[str, Any]) -> np.ndarray:
        """Dict of per-agent actions -> the core's (1, n_agents, action_dim) array."""
        dim = self.core.action_dim
        arr = np.empty((len(self.possible_agents), dim))
        for i, a in enumerate(self.possible_agents):  # dict -> array (the shell's job, not the physics)
            v = real_numbers(actions[a], f"actions[{a!r}]", f"{dim} number(s)")
            if v.size != dim:
                raise ActionError(f"actions[{a!r}]: expected {dim} value(s), got shape {v.shape}")
            arr[i] = v.reshape(-1)
        return arr[None]

    # ---------------------------------------------------------------- extras
    def state(self) -> np.ndarray:
        """Global state of the env (S,) float32, inside ``state_space`` (see the core's ``global_state``)."""
        if self._core_state is None:
            raise RuntimeError(f"{type(self).__name__}.state() needs reset() first")
        return self.core.global_state(self._core_state)[0]

    def agent_graph(self) -> tuple[np.ndarray, np.ndarray]:
        """Interaction graph among ``possible_agents``: edge_index (2, E), edge_type (E,) (see the env's module)."""
        return self.core.agent_graph(self._core_state)

    def kpis(self) -> dict[str, float]:
        """KPIs of the last step as a flat dict of floats (units in the key names)."""
        if self._core_state is None:
            raise RuntimeError("kpis() needs reset() and at least one step()")
        return {k: float(v[0]) for k, v in self.core.kpis(self._core_state).items()}

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None
