"""Per-agent mode: stock RLlib multi-agent wrapping of a cfmarl PettingZoo env
(one RLlib agent per env agent, shared MLP policy), for small problems and
comparisons with graph mode.

Fixes the traps of RLlib's ``ParallelPettingZooEnv`` (RLLIB_NOTES.md):
``possible_agents`` and the per-agent space dicts are set explicitly from the
env (not from the agents present after one reset, in set order), ``agents``
follows the env, ``__all__`` is computed from the live agents (never ``all()``
of an empty dict), infos are only returned for live agents, and the
constructor does not reset the env.
"""

from __future__ import annotations

import numpy as np
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from cfmarl.policies.adapters.graph_env import MODULE_ID


def make_parallel_env(env_config: dict):
    from cfmarl.registry import get_env

    entry = get_env(env_config.get("env", "aps"))
    import importlib

    module = importlib.import_module(entry.module)
    scenario = env_config.get("scenario") or entry.default_scenario or entry.scenario_names()[0]
    cfg = entry.make_config(scenario, **dict(env_config.get("overrides", {})))
    return module.parallel_env(config=cfg)


class PerAgentEnv(MultiAgentEnv):
    """RLlib MultiAgentEnv with one RLlib agent per cfmarl agent."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        worker = getattr(config, "worker_index", 0)  # EnvContext attributes, lost by dict()
        vector = getattr(config, "vector_index", 0)
        config = dict(config or {})
        self.par_env = make_parallel_env(config)
        self._first_seed = int(np.random.SeedSequence([int(config.get("seed", 0)), worker, vector]).generate_state(1)[0])
        self._kpi_names = tuple(getattr(self.par_env.core, "summary_kpis", ()))
        self.possible_agents = list(self.par_env.possible_agents)
        self.agents = []
        self.observation_spaces = {a: self.par_env.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: self.par_env.action_space(a) for a in self.possible_agents}

    def reset(self, *, seed=None, options=None):
        if seed is None and self._first_seed is not None:  # seeded per runner / vector slot, like GraphEnv
            seed = self._first_seed
        self._first_seed = None
        obs, infos = self.par_env.reset(seed=seed, options=options)
        self.agents = list(self.par_env.agents)
        return obs, {a: infos[a] for a in self.agents}

    def step(self, action_dict):
        obs, rew, term, trunc, infos = self.par_env.step(action_dict)
        live = set(self.par_env.agents)
        term = dict(term)
        trunc = dict(trunc)
        term["__all__"] = bool(term) and all(term[a] for a in term)
        trunc["__all__"] = not live and not term["__all__"]
        self.agents = list(self.par_env.agents)
        # system KPIs and the mean agent cost ride on the first agent's info (GraphEpisodeMetrics reads them)
        first = self.possible_agents[0]
        kpis = self.par_env.kpis()
        infos[first] = dict(infos[first], kpis={k: kpis[k] for k in self._kpi_names if k in kpis},
                            mean_node_cost=np.atleast_1d(np.mean([infos[a]["cost"] for a in infos], axis=0)))
        return obs, rew, term, trunc, infos

    def close(self):
        self.par_env.close()


def per_agent_policy_mapping_fn(agent_id, episode=None, **kwargs) -> str:
    """Parameter sharing: every agent maps to the same module."""
    return MODULE_ID
