"""Graph mode: all agents of one cfmarl env become ONE RLlib agent.

The RLlib agent ``"graph"`` observes ``{"x": (N_max, F), "node_mask": (N_max,)}``
(rows beyond the env's N agents are zero padding with mask 0) and, when the env's
interaction graph changes (``core.graph_kind`` "episode" or "step"), also
``"edge_mask": (E,)`` over the env's fixed candidate edges (``core.candidate_graph()``):
edge e exists in this observation iff edge_mask[e] = 1. It acts with one sub-action
per node:

* discrete cores (``core.n_actions``): ``MultiDiscrete([n_actions] * N_max)``;
* continuous cores (``core.action_dim``, ``core.action_bounds``):
  ``Box(low, high, (N_max, action_dim))``.

The scalar reward is the mean node reward (team reward, for logging and team-level
learners); the per-node rewards and costs travel in ``infos["graph"]`` beside it:

    infos["graph"] = {"node_rewards": (N_max,) float32, "node_costs": (N_max, C) float32,
                      "kpis": {name: float}, "mean_node_cost": (C,)}

Infos travel with observations, so the signals of the action taken at step t
arrive in the info returned with observation t+1; the learner connector aligns
them (tested). A static graph (``graph_kind`` "static", the default) depends on the
agent set only, so it is not repeated in every observation: :meth:`GraphEnv.graph`
gives (edge_index, edge_type) once and the model stores it - a `large` AP-selection
train batch stays at a few MB instead of ~1 MB of edges per step.

RLlib's per-step overhead is thus paid per env, not per agent (RLLIB_NOTES.md).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

AGENT_ID = "graph"
MODULE_ID = "shared"
REWARD_MODES = ("local", "engineered", "team")
GRAPH_KINDS = ("static", "episode", "step")


def make_core_from_config(env_config: dict, num_envs: int = 1) -> Any:
    """Build the array core described by an env_config dict (see :class:`GraphEnv`)."""
    from cfmarl.registry import get_env

    entry = get_env(env_config.get("env", "aps"))
    scenario = env_config.get("scenario") or entry.default_scenario or entry.scenario_names()[0]
    cfg = entry.make_config(scenario, **dict(env_config.get("overrides", {})))
    return entry.make_core(cfg, num_envs)


def graph_kind(core) -> str:
    kind = getattr(core, "graph_kind", "static")
    if kind not in GRAPH_KINDS:
        raise ValueError(f"{type(core).__name__}.graph_kind: must be one of {', '.join(GRAPH_KINDS)}, got {kind!r}")
    return kind


def is_discrete(core) -> bool:
    return hasattr(core, "n_actions")


def graph_spaces(core, n_max: int, n_graphs: int = 1) -> tuple[gym.spaces.Dict, gym.spaces.Space]:
    """Observation and action space of the graph agent for ``core`` padded to ``n_max`` nodes (``n_graphs`` > 1:
    a mixture of sizes, each observation says which graph it is on in ``graph_id``)."""
    low, high = core.obs_bounds
    x_space = gym.spaces.Box(np.tile(low, (n_max, 1)), np.tile(high, (n_max, 1)), dtype=np.float32)
    obs = {"x": x_space, "node_mask": gym.spaces.Box(0.0, 1.0, (n_max,), np.float32)}
    if n_graphs > 1:
        obs["graph_id"] = gym.spaces.Box(0.0, float(n_graphs - 1), (1,), np.float32)
    if graph_kind(core) != "static":
        n_edges = core.candidate_graph()[0].shape[1]
        obs["edge_mask"] = gym.spaces.Box(0.0, 1.0, (n_edges,), np.float32)
    if is_discrete(core):
        act: gym.spaces.Space = gym.spaces.MultiDiscrete(np.full(n_max, core.n_actions))
    else:
        lo, hi = core.action_bounds
        act = gym.spaces.Box(np.full((n_max, core.action_dim), lo, np.float32),
                             np.full((n_max, core.action_dim), hi, np.float32), dtype=np.float32)
    return gym.spaces.Dict(obs), act


def graph_observation(core, state, x: np.ndarray, n_max: int, graph_id: int | None = None) -> dict[str, np.ndarray]:
    """Padded graph observations of all env copies of ``core``: x (B, N, F) -> {"x": (B, N_max, F),
    "node_mask": (B, N_max)[, "edge_mask": (B, E)][, "graph_id": (B, 1)]} (float32)."""
    B, N, F = x.shape
    out = np.zeros((B, n_max, F), np.float32)
    out[:, :N] = x
    mask = np.zeros((B, n_max), np.float32)
    mask[:, :N] = 1.0
    obs = {"x": out, "node_mask": mask}
    if graph_kind(core) != "static":
        obs["edge_mask"] = core.edge_mask(state).astype(np.float32)
    if graph_id is not None:
        obs["graph_id"] = np.full((B, 1), graph_id, np.float32)
    return obs


class GraphEnv(MultiAgentEnv):
    """RLlib MultiAgentEnv over any cfmarl array core (one agent = the whole env).

    env_config keys: ``env`` (registry name), ``scenario``, ``overrides`` (config
    fields), ``max_nodes`` (padding, default the env's N), ``reward_mode``
    (``local``: the env's per-node reward; ``engineered``: r - w * sum(costs), the
    unconstrained ablation of aps_gnn eq. (16) with ``engineered_weight`` w; ``team``: every
    node gets the mean of the nodes' rewards, the fully cooperative game; costs stay per node),
    ``seed`` (base seed; each runner / vector slot derives its own stream), ``mix`` (a list of overrides
    dicts: a mixture of sizes - graph 0 is the env as configured, graph g >= 1 the env with ``mix[g - 1]``;
    every episode draws its graph uniformly from the env's episode stream, nodes are padded to the largest
    size and each observation carries its ``graph_id``; static graphs only).
    """

    def __init__(self, config: dict | None = None):
        super().__init__()
        worker = getattr(config, "worker_index", 0)  # EnvContext attributes, lost by dict()
        vector = getattr(config, "vector_index", 0)
        config = dict(config or {})
        self._env_config = config
        self.core = make_core_from_config(config)
        self.cores = [self.core] + [make_core_from_config({**config, "overrides": {**dict(config.get("overrides", {})),
                                                                                    **dict(o)}})
                                    for o in config.get("mix") or ()]
        if len(self.cores) > 1 and any(graph_kind(c) != "static" for c in self.cores):
            raise ValueError("mix: a mixture of sizes needs an env with a static interaction graph")
        self.graph_id = 0
        self.n = self.core.n_agents
        self.n_max = int(config.get("max_nodes") or max(c.n_agents for c in self.cores))
        if self.n_max < max(c.n_agents for c in self.cores):
            raise ValueError(f"max_nodes: must be >= the env's {max(c.n_agents for c in self.cores)} agents, "
                             f"got {self.n_max}")
        self.reward_mode = config.get("reward_mode", "local")
        if self.reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode: must be one of {', '.join(REWARD_MODES)}; got {self.reward_mode!r}")
        self.engineered_weight = float(config.get("engineered_weight", 0.0))
        self.graph_kind = graph_kind(self.core)
        self.discrete = is_discrete(self.core)
        obs_space, act_space = graph_spaces(self.core, self.n_max, len(self.cores))
        self.possible_agents = [AGENT_ID]
        self.agents = [AGENT_ID]
        self.observation_spaces = {AGENT_ID: obs_space}
        self.action_spaces = {AGENT_ID: act_space}
        self._act_shape = act_space.shape
        self._kpi_names = tuple(getattr(self.core, "summary_kpis", ()))
        C = self.core.n_costs
        self._zero_r = np.zeros(self.n_max, np.float32)
        self._zero_c = np.zeros((self.n_max, C), np.float32)
        self._base_seed = (int(config.get("seed", 0)), worker, vector)
        self._rng: np.random.Generator | None = None
        self.state = None

    def graph(self) -> tuple[np.ndarray, np.ndarray]:
        """Edges among the N real nodes: the static graph, or (dynamic graphs) every candidate
        edge, of which each observation's ``edge_mask`` selects the present ones."""
        if self.graph_kind == "static":
            return self.cores[0].agent_graph()
        return self.core.candidate_graph()

    def graphs(self) -> list[tuple[np.ndarray, np.ndarray, int]]:
        """Per graph of the mixture (one entry without ``mix``): (edge_index, edge_type, number of nodes)."""
        if len(self.cores) == 1:
            return [(*self.graph(), self.n)]
        return [(*c.agent_graph(), c.n_agents) for c in self.cores]

    def reseed(self, entropy) -> None:
        """Replace the episode-seed stream (used after restoring a checkpoint)."""
        self._rng = np.random.default_rng(entropy)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        elif self._rng is None:
            self._rng = np.random.default_rng(list(self._base_seed))
        if len(self.cores) > 1:  # a mixture of sizes: this episode's graph
            self.graph_id = int(self._rng.integers(len(self.cores)))
            self.core = self.cores[self.graph_id]
            self.n = self.core.n_agents
        self.state, obs = self.core.reset([int(self._rng.integers(2**63))])
        self.agents = [AGENT_ID]
        return {AGENT_ID: self._obs(obs)}, {AGENT_ID: {"node_rewards": self._zero_r, "node_costs": self._zero_c}}

    def step(self, action_dict: dict):
        action = np.asarray(action_dict[AGENT_ID])
        if action.shape != self._act_shape:
            raise ValueError(f"actions[{AGENT_ID!r}]: expected shape {self._act_shape}, got {action.shape}")
        self.state, obs, rew, cost, done = self.core.step(self.state, action[None, : self.n])  # padding dropped
        node_r = np.zeros(self.n_max, np.float32)
        node_c = np.zeros_like(self._zero_c)
        node_r[: self.n] = rew[0]
        node_c[: self.n] = cost[0]
        if self.reward_mode == "engineered":
            node_r[: self.n] -= self.engineered_weight * cost[0].sum(axis=-1)
        elif self.reward_mode == "team":
            node_r[: self.n] = rew[0].mean()
        kpis = {k: float(v[0]) for k, v in self.core.kpis(self.state).items() if k in self._kpi_names}
        info = {AGENT_ID: {"node_rewards": node_r, "node_costs": node_c, "kpis": kpis,
                           "mean_node_cost": cost[0].mean(axis=0)}}
        truncated = bool(done[0])
        if truncated:
            self.agents = []
        return ({AGENT_ID: self._obs(obs)}, {AGENT_ID: float(node_r[: self.n].mean())},
                {"__all__": False}, {AGENT_ID: truncated, "__all__": truncated}, info)

    def _obs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        gid = self.graph_id if len(self.cores) > 1 else None
        return {k: v[0] for k, v in graph_observation(self.core, self.state, x, self.n_max, gid).items()}


def policy_mapping_fn(agent_id, episode=None, **kwargs) -> str:
    """Every graph agent uses the shared module (parameter sharing)."""
    return MODULE_ID
