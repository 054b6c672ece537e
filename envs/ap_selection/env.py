"""PettingZoo ParallelEnv shell over :class:`ApSelectionCore` (one env copy).

The shell only converts between dicts keyed by agent id and the core's arrays;
all simulation happens in the core.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from cfmarl.envs.ap_selection.config import ApSelectionConfig, make_config
from cfmarl.envs.ap_selection.core import ApSelectionCore
from cfmarl.envs.validation import ActionError


class ApSelectionEnv(ParallelEnv):
    """AP selection in a cell-free massive-MIMO downlink, one agent per AP-UE link.

    See :mod:`cfmarl.envs.ap_selection_v0` for the full documentation.
    """

    metadata = {"name": "ap_selection_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: ApSelectionConfig | None = None, scenario: str | None = None,
                 render_mode: str | None = None, **overrides: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode: this environment does not render; got {render_mode!r}")
        if config is None:
            config = make_config(scenario or "medium", **overrides)
        elif scenario is not None or overrides:
            raise ValueError("pass either config or scenario/overrides, not both")
        self.config = config
        self.render_mode = None
        self.core = ApSelectionCore(config, num_envs=1)
        self.possible_agents = list(self.core.agent_ids)
        self.agents: list[str] = []
        low, high = self.core.obs_bounds
        obs_space = spaces.Box(low, high, dtype=np.float32)
        act_space = spaces.Discrete(2)
        self._obs_spaces = {a: obs_space for a in self.possible_agents}
        self._act_spaces = {a: act_space for a in self.possible_agents}
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self._rng: np.random.Generator | None = None
        self.state = None

    # spaces are created once and shared, so the same object is returned every call
    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        # each episode gets its own child generator, so episodes are independent and reproducible
        episode_seed = int(self._rng.integers(2**63))
        self.state, obs = self.core.reset([episode_seed])
        self.agents = list(self.possible_agents)
        zero_cost = {"cost": 0.0}
        return self._obs_dict(obs[0]), {a: dict(zero_cost) for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        if not isinstance(actions, dict):
            raise ActionError(f"actions: expected a dict keyed by agent id, got {type(actions).__name__}")
        if len(actions) != len(self.agents) or actions.keys() != self._index.keys():
            missing = [a for a in self.agents if a not in actions]
            unknown = [a for a in actions if a not in self._index]
            raise ActionError(f"actions: every live agent needs an action; missing {missing[:5]}"
                              f"{'...' if len(missing) > 5 else ''}, unknown {unknown[:5]}")
        arr = np.fromiter((_scalar(actions[a], a) for a in self.possible_agents), float, len(self.possible_agents))
        self.state, obs, rew, cost, done = self.core.step(self.state, arr)
        agents = self.possible_agents
        obs_d = self._obs_dict(obs[0])
        rew_d = dict(zip(agents, rew[0].tolist()))
        infos = {a: {"cost": c} for a, c in zip(agents, cost[0, :, 0].tolist())}
        truncated = bool(done[0])
        terms = dict.fromkeys(agents, False)
        truncs = dict.fromkeys(agents, truncated)
        if truncated:
            self.agents = []
        return obs_d, rew_d, terms, truncs, infos

    def _obs_dict(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, obs))

    # ---------------------------------------------------------------- extras
    def agent_graph(self) -> tuple[np.ndarray, np.ndarray]:
        """Interaction graph among ``possible_agents``: edge_index (2, E), edge_type (E,)
        with 0 = same AP, 1 = same UE."""
        return self.core.agent_graph()

    def kpis(self) -> dict[str, float]:
        """KPIs of the last window as a flat dict of floats (units in the key names)."""
        if self.state is None:
            raise RuntimeError("kpis() needs reset() and at least one step()")
        return {k: float(v[0]) for k, v in self.core.kpis(self.state).items()}

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None


def _scalar(value: Any, agent: str) -> float:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ActionError(f"actions[{agent!r}]: must be 0 or 1, got {value!r}") from None
    if arr.size != 1:
        raise ActionError(f"actions[{agent!r}]: must be a single 0/1 value, got shape {arr.shape}")
    return float(arr.reshape(()))
