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

from ray.rllib.env.multi_agent_env import MultiAgentEnv

from cfmarl.policies.adapters.graph_env import MODULE_ID


def make_parallel_env(env_config: dict):
    from cfmarl.registry import get_env

    entry = get_env(env_config.get("env", "aps"))
    import importlib

    module = importlib.import_module(entry.module)
    cfg = entry.make_config(env_config.get("scenario", "medium"), **dict(env_config.get("overrides", {})))
    return module.parallel_env(config=cfg)


class PerAgentEnv(MultiAgentEnv):
    """RLlib MultiAgentEnv with one RLlib agent per cfmarl agent."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        self.par_env = make_parallel_env(dict(config or {}))
        self.possible_agents = list(self.par_env.possible_agents)
        self.agents = []
        self.observation_spaces = {a: self.par_env.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: self.par_env.action_space(a) for a in self.possible_agents}

    def reset(self, *, seed=None, options=None):
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
        return obs, rew, term, trunc, infos

    def close(self):
        self.par_env.close()


def per_agent_policy_mapping_fn(agent_id, episode=None, **kwargs) -> str:
    """Parameter sharing: every agent maps to the same module."""
    return MODULE_ID
