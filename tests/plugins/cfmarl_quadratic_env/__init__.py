"""A constrained continuous problem whose optimum is known in closed form (learner tests).

Each of N nodes chooses a_i in [0, 1]; its reward is a_i and its cost a_i^2, and the
constraint is on the mean per-node cost: E[a^2] <= d. The observation is constant, so
this is a per-node bandit: the best deterministic policy is a_i = sqrt(d) for every
node (reward sqrt(d), cost exactly d), and the Lagrangian max_a a - lambda a^2 has it
at lambda* = 1 / (2 sqrt(d)). Unconstrained, the best action is the bound a = 1.

Registered in experiments as ``env.name: "cfmarl_quadratic_env:registration"``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cfmarl.envs.declarations import KPI, Constraint, EnvDeclaration, ScaleAxes


@dataclass(frozen=True)
class QuadraticConfig:
    num_agents: int = 4
    episode_steps: int = 10

    def describe(self) -> dict:
        return {"size": f"{self.num_agents} nodes", "agents": str(self.num_agents), "area": "-",
                "task": "a - a^2 bandit"}


def make_config(scenario: str = "small", **overrides) -> QuadraticConfig:
    if scenario != "small":
        raise ValueError(f"unknown scenario {scenario!r} for env 'quadratic'; known: small")
    return replace(QuadraticConfig(), **overrides)


@dataclass
class QuadraticState:
    t: int
    action: np.ndarray  # (B, N)


class QuadraticCore:
    summary_kpis = ("mean_action",)

    def __init__(self, config: QuadraticConfig, num_envs: int = 1):
        self.config, self.num_envs = config, num_envs
        self.n_agents = config.num_agents
        self.obs_dim, self.n_costs, self.action_dim = 1, 1, 1
        self.action_bounds = (0.0, 1.0)
        self.obs_bounds = (np.zeros(1, np.float32), np.ones(1, np.float32))
        self.agent_ids = [f"node{i}" for i in range(self.n_agents)]

    def reset(self, seeds):
        state = QuadraticState(t=0, action=np.zeros((len(seeds), self.n_agents)))
        return state, self._obs(state)

    def step(self, state, actions):
        a = np.clip(np.asarray(actions, float).reshape(self.num_envs, self.n_agents), 0.0, 1.0)
        state.action, state.t = a, state.t + 1
        return (state, self._obs(state), a, (a ** 2)[..., None],
                np.full(self.num_envs, state.t >= self.config.episode_steps))

    def kpis(self, state):
        return {"mean_action": state.action.mean(-1)}

    def user_records(self, state):
        return {}

    def agent_graph(self, state=None):
        src, dst = np.nonzero(~np.eye(self.n_agents, dtype=bool))
        return np.stack([src, dst]).astype(np.int64), np.zeros(src.size, np.int64)

    def _obs(self, state):
        return np.ones((state.action.shape[0], self.n_agents, 1), np.float32)


class Half:
    """The optimum for d = 0.25: a = 0.5 everywhere."""

    name = "half"
    privileged = False

    def act(self, core, state, obs):
        return np.full((obs.shape[0], obs.shape[1], 1), 0.5)


def make_baseline(spec: str):
    if spec != "half":
        raise ValueError(f"unknown policy {spec!r} for env 'quadratic'; known: half")
    return Half()


DECLARATION = EnvDeclaration(
    kpis=(KPI("mean_action", "", "higher", "mean action"),),
    constraint=Constraint(label="a^2", limit=0.25),
    progress=("mean_action",),
    scale=ScaleAxes(fields=("num_agents",), label="nodes"),
    episode_length="episode_steps",
    records=(),
)


def registration():
    from cfmarl.registry import EnvEntry

    return EnvEntry(name="quadratic", module=__name__, family="per-node", description="a - a^2 bandit (tests)",
                    scenario_names=lambda: ["small"], make_config=make_config,
                    make_core=lambda cfg, n: QuadraticCore(cfg, num_envs=n), make_baseline=make_baseline,
                    baselines=("half",), declaration=DECLARATION, default_scenario="small")
