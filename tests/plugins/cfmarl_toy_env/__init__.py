"""A third-party environment for cfmarl, outside ``envs/`` (docs/adding_an_environment.md).

Toy constrained resource sharing: N agents each request a share a_i in [0, 1] of a
channel; agent i's reward is -(a_i - w_i)^2 for its own wish w_i ~ U(0, 1) (redrawn
every episode, observed), its cost is max(0, sum_j a_j - 1) (over-subscription, the
same for every agent). Agents interact through the shared budget: complete graph.
The best feasible joint action scales the wishes down to sum 1 when they exceed it.

Plugging it in takes this one folder plus one registration: the function
:func:`registration` below, named in an experiment as ``env.name:
"cfmarl_toy_env:registration"`` (or passed to ``cfmarl.registry.register_env``, or
listed as an entry point in the group ``cfmarl.envs``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cfmarl.envs.declarations import KPI, Constraint, EnvDeclaration, Record, ScaleAxes
from cfmarl.envs.shell import CoreParallelEnv


@dataclass(frozen=True)
class ToyConfig:
    num_agents: int = 4
    episode_steps: int = 10

    def __post_init__(self):
        if not (isinstance(self.num_agents, int) and 2 <= self.num_agents <= 1024):
            raise ValueError(f"toy.num_agents: must be an integer in [2, 1024], got {self.num_agents!r}")
        if not (isinstance(self.episode_steps, int) and self.episode_steps >= 1):
            raise ValueError(f"toy.episode_steps: must be an integer >= 1, got {self.episode_steps!r}")

    def describe(self) -> dict:
        return {"size": f"{self.num_agents} agents", "agents": str(self.num_agents), "area": "-",
                "task": "share one channel"}


def make_config(scenario: str = "small", **overrides) -> ToyConfig:
    sizes = {"small": 4, "large": 16}
    if scenario not in sizes:
        raise ValueError(f"unknown scenario {scenario!r} for env 'toy'; known: {', '.join(sizes)}")
    return replace(ToyConfig(num_agents=sizes[scenario]), **overrides)


@dataclass
class ToyState:
    rngs: list
    t: int
    wish: np.ndarray  # (B, N)
    share: np.ndarray  # (B, N) last actions


class ToyCore:
    summary_kpis = ("total_share", "wish_error")

    def __init__(self, config: ToyConfig, num_envs: int = 1):
        self.config, self.num_envs = config, num_envs
        self.n_agents = config.num_agents
        self.obs_dim, self.n_costs, self.action_dim = 2, 1, 1
        self.action_bounds = (0.0, 1.0)
        self.obs_bounds = (np.zeros(2, np.float32), np.ones(2, np.float32))
        # PettingZoo's state(): the wishes and shares of all agents
        self.state_bounds = (np.zeros(2 * self.n_agents, np.float32), np.ones(2 * self.n_agents, np.float32))
        self.agent_ids = [f"agent{i}" for i in range(self.n_agents)]

    def reset(self, seeds):
        rngs = [np.random.default_rng(s) for s in seeds]
        wish = np.stack([g.random(self.n_agents) for g in rngs])
        state = ToyState(rngs=rngs, t=0, wish=wish, share=np.zeros_like(wish))
        return state, self._obs(state)

    def step(self, state, actions):
        a = np.asarray(actions, float).reshape(self.num_envs, self.n_agents)
        if not np.all(np.isfinite(a)):
            raise ValueError("actions: must be finite")
        state.share = np.clip(a, 0.0, 1.0)
        state.t += 1
        reward = -(state.share - state.wish) ** 2
        over = np.maximum(state.share.sum(-1) - 1.0, 0.0)
        cost = np.repeat(over[:, None, None], self.n_agents, 1)
        return state, self._obs(state), reward, cost, np.full(self.num_envs, state.t >= self.config.episode_steps)

    def kpis(self, state):
        return {"total_share": state.share.sum(-1), "wish_error": np.abs(state.share - state.wish).mean(-1)}

    def user_records(self, state):
        return {"share": state.share.copy()}

    def agent_graph(self, state=None):
        src, dst = np.nonzero(~np.eye(self.n_agents, dtype=bool))
        return np.stack([src, dst]).astype(np.int64), np.zeros(src.size, np.int64)

    def global_state(self, state):
        return np.concatenate([state.wish, state.share], -1).astype(np.float32)

    def _obs(self, state):
        total = np.repeat(state.share.sum(-1, keepdims=True) / self.n_agents, self.n_agents, 1)
        return np.stack([state.wish, total], -1).astype(np.float32)


class ToyEnv(CoreParallelEnv):
    metadata = {"name": "toy_v0", "render_modes": [], "is_parallelizable": True}
    core_cls = ToyCore
    make_config = staticmethod(make_config)
    default_scenario = "small"


def parallel_env(**kwargs) -> ToyEnv:
    return ToyEnv(**kwargs)


class Proportional:
    """Baseline: the wishes, scaled down to a total of 1 when they exceed it (the optimum)."""

    name = "proportional"
    privileged = False

    def act(self, core, state, obs):
        w = state.wish
        return w / np.maximum(w.sum(-1, keepdims=True), 1.0)


def make_baseline(spec: str):
    if spec != "proportional":
        raise ValueError(f"unknown policy {spec!r} for env 'toy'; known: proportional")
    return Proportional()


DECLARATION = EnvDeclaration(
    kpis=(KPI("wish_error", "", "lower", "mean |share - wish|"), KPI("total_share", "", "none", "total share")),
    constraint=Constraint(label="over-subscription of the channel", limit=0.05),
    progress=("wish_error", "total_share"),
    scale=ScaleAxes(fields=("num_agents",), label="agents"),
    episode_length="episode_steps",
    records=(Record("share", "per-agent share"),),
)


def registration():
    """The one registration: everything cfmarl needs to train, tune, scale and evaluate this env."""
    from cfmarl.registry import EnvEntry

    return EnvEntry(name="toy", module=__name__, family="per-agent", description="toy channel sharing (example)",
                    scenario_names=lambda: ["small", "large"], make_config=make_config,
                    make_core=lambda cfg, n: ToyCore(cfg, num_envs=n), make_baseline=make_baseline,
                    baselines=("proportional",), declaration=DECLARATION, default_scenario="small")
