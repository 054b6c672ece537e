"""Memory guard of a whole run: the estimate of ``envs/validation.check_memory`` for one env copy
(each env config's ``memory_terms``) times the copies a run holds at once, plus its sample batch
and replay buffer. Refused before Ray starts or anything is allocated; ``resources.allow_large:
true`` (or ``CFMARL_ALLOW_LARGE=1``) overrides it. Model activations are not estimated."""

from __future__ import annotations

from cfmarl.envs.validation import check_memory


def check_run_memory(exp, entry, env_cfg) -> None:
    """The env copies a run holds at once (runners x envs each, the model's probe, validation) and
    its sample batch / replay buffer, against what the machine can spare (envs/validation.py)."""
    if not hasattr(env_cfg, "memory_terms"):
        return  # a third-party env without an estimate
    r, a = exp.resources, exp.algorithm
    copies = max(1, r.num_env_runners) * r.num_envs_per_env_runner + 2
    terms = [(f"{what}, {copies} env copies", fields, b * copies) for what, fields, b in env_cfg.memory_terms()]
    core = entry.make_core(env_cfg, 1)
    width = core.obs_dim + 2 * int(getattr(core, "action_dim", 1)) + core.n_costs + 6  # obs, action, logp, ...
    step = 4.0 * core.n_agents * width  # float32 bytes of one env step (every agent)
    terms.append(("sample batch", ("algorithm.train_batch_size", "agents", "obs features"),
                  4.0 * a.train_batch_size * step))  # episodes, batch, tensors, advantages
    from cfmarl.policies.learners.registry import get_learner

    if get_learner(a.name).off_policy:
        terms.append(("replay buffer", ("algorithm.replay_capacity", "agents", "obs features"),
                      2.0 * a.replay_capacity * step))
    check_memory("experiment", terms)
