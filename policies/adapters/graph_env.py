"""Graph mode: all agents of one cfmarl env become ONE RLlib agent.

The RLlib agent ``"graph"`` observes ``{"x": (N_max, F), "node_mask": (N_max,)}``
(rows beyond the env's N agents are zero padding with mask 0) and acts with one
sub-action per node (``MultiDiscrete([n_actions] * N_max)``). The scalar reward
is the mean node reward (team reward, for logging and team-level learners);
the per-node rewards and costs travel in ``infos["graph"]`` beside it:

    infos["graph"] = {"node_rewards": (N_max,) float32, "node_costs": (N_max, C) float32,
                      "kpis": {name: float}, "mean_node_cost": (C,)}

Infos travel with observations, so the signals of the action taken at step t
arrive in the info returned with observation t+1; the learner connector aligns
them (tested). The interaction graph is static for a given env (it depends on
the agent set only), so it is not repeated in every observation: the adapter's
``graph()`` gives (edge_index, edge_type) once and the model stores it. This
keeps a `large` train batch at a few MB instead of ~1 MB of edges per step.

RLlib's per-step overhead is thus paid per env, not per agent (RLLIB_NOTES.md).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

AGENT_ID = "graph"
MODULE_ID = "shared"
REWARD_MODES = ("local", "engineered")


def make_core_from_config(env_config: dict) -> Any:
    """Build the array core described by an env_config dict (see :class:`GraphEnv`)."""
    from cfmarl.registry import get_env

    entry = get_env(env_config.get("env", "aps"))
    cfg = entry.make_config(env_config.get("scenario", "medium"), **dict(env_config.get("overrides", {})))
    return entry.make_core(cfg, 1)


class GraphEnv(MultiAgentEnv):
    """RLlib MultiAgentEnv over any cfmarl array core (one agent = the whole env).

    env_config keys: ``env`` (registry name), ``scenario``, ``overrides`` (config
    fields), ``max_nodes`` (padding, default the env's N), ``reward_mode``
    (``local``: the env's per-node reward; ``engineered``: r - w * sum(costs), the
    unconstrained ablation of aps_gnn eq. (16) with ``engineered_weight`` w),
    ``seed`` (base seed; each runner / vector slot derives its own stream).
    """

    def __init__(self, config: dict | None = None):
        super().__init__()
        worker = getattr(config, "worker_index", 0)  # EnvContext attributes, lost by dict()
        vector = getattr(config, "vector_index", 0)
        config = dict(config or {})
        self._env_config = config
        self.core = make_core_from_config(config)
        self.n = self.core.n_agents
        self.n_max = int(config.get("max_nodes") or self.n)
        if self.n_max < self.n:
            raise ValueError(f"max_nodes: must be >= the env's {self.n} agents, got {self.n_max}")
        self.reward_mode = config.get("reward_mode", "local")
        if self.reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode: must be one of {', '.join(REWARD_MODES)}; got {self.reward_mode!r}")
        self.engineered_weight = float(config.get("engineered_weight", 0.0))
        low, high = self.core.obs_bounds
        F, C = self.core.obs_dim, self.core.n_costs
        self._x_space = gym.spaces.Box(np.tile(low, (self.n_max, 1)), np.tile(high, (self.n_max, 1)), dtype=np.float32)
        obs_space = gym.spaces.Dict({"x": self._x_space,
                                     "node_mask": gym.spaces.Box(0.0, 1.0, (self.n_max,), np.float32)})
        act_space = gym.spaces.MultiDiscrete(np.full(self.n_max, self.core.n_actions))
        self.possible_agents = [AGENT_ID]
        self.agents = [AGENT_ID]
        self.observation_spaces = {AGENT_ID: obs_space}
        self.action_spaces = {AGENT_ID: act_space}
        self._mask = np.zeros(self.n_max, np.float32)
        self._mask[: self.n] = 1.0
        self._x = np.zeros((self.n_max, F), np.float32)
        self._zero_r = np.zeros(self.n_max, np.float32)
        self._zero_c = np.zeros((self.n_max, C), np.float32)
        self._base_seed = (int(config.get("seed", 0)), worker, vector)
        self._rng: np.random.Generator | None = None
        self.state = None

    def graph(self) -> tuple[np.ndarray, np.ndarray]:
        """Static interaction graph among the N real nodes: edge_index (2, E), edge_type (E,)."""
        return self.core.agent_graph()

    def reseed(self, entropy) -> None:
        """Replace the episode-seed stream (used after restoring a checkpoint)."""
        self._rng = np.random.default_rng(entropy)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._rng is None:
            self._rng = np.random.default_rng(list(self._base_seed))
        self.state, obs = self.core.reset([int(self._rng.integers(2**63))])
        self.agents = [AGENT_ID]
        return {AGENT_ID: self._obs(obs[0])}, {AGENT_ID: {"node_rewards": self._zero_r, "node_costs": self._zero_c}}

    def step(self, action_dict: dict):
        action = np.asarray(action_dict[AGENT_ID])
        if action.shape != (self.n_max,):
            raise ValueError(f"actions[{AGENT_ID!r}]: expected shape ({self.n_max},), got {action.shape}")
        self.state, obs, rew, cost, done = self.core.step(self.state, action[None, : self.n])
        node_r = np.zeros(self.n_max, np.float32)
        node_c = np.zeros_like(self._zero_c)
        node_r[: self.n] = rew[0]
        node_c[: self.n] = cost[0]
        if self.reward_mode == "engineered":
            node_r[: self.n] -= self.engineered_weight * cost[0].sum(axis=-1)
        kpis = {k: float(v[0]) for k, v in self.core.kpis(self.state).items() if not k.startswith("se_ue")}
        info = {AGENT_ID: {"node_rewards": node_r, "node_costs": node_c, "kpis": kpis,
                           "mean_node_cost": cost[0].mean(axis=0)}}
        truncated = bool(done[0])
        if truncated:
            self.agents = []
        return ({AGENT_ID: self._obs(obs[0])}, {AGENT_ID: float(node_r[: self.n].mean())},
                {"__all__": False}, {AGENT_ID: truncated, "__all__": truncated}, info)

    def _obs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = self._x.copy()
        out[: self.n] = x
        return {"x": out, "node_mask": self._mask}


def policy_mapping_fn(agent_id, episode=None, **kwargs) -> str:
    """Every graph agent uses the shared module (parameter sharing)."""
    return MODULE_ID
