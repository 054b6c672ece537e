"""The value rules of an experiment file beyond its types: choices, ranges, and the rules that span sections
(env name / scenario / overrides, the size mixture, the teacher, learner x model mode x the env's action kind, the
action head). :func:`validate_experiment` runs when an :class:`cfmarl.experiment.ExperimentConfig` is built, so a
bad file fails at load time with one line naming the key (``algorithm.lr: must be > 0, got -1``)."""

from __future__ import annotations

import dataclasses
import os

from cfmarl.envs.validation import ALLOW_LARGE_ENV, ConfigError
from cfmarl.memguard import check_run_memory

#: key path -> the values allowed
_CHOICES = {
    "algorithm.advantage_scaling": ("joint", "separate"),
    "algorithm.entropy_floor_push": ("entropy", "uniform_kl"),
    "algorithm.lagrangian_rule": ("gradient", "pid", "multiplicative", "none"),
    "env.reward_mode": ("local", "engineered", "team"),
    "model.action_head": ("auto", "categorical", "beta", "squashed_gaussian", "hybrid", "deterministic", "gated"),
    "model.critic": ("attention", "meanfield", "local"),
    "model.encoder": ("gnn", "mlp", "deepsets", "mat"),
    "model.mode": ("graph", "central", "per_agent"),
    "pretrain.loss": ("auto", "nll", "mse"),
    "training.selection": ("target", "judged"),
    "tune.fitness": ("constrained", "reward", "penalty"),
    "tune.fitness_source": ("auto", "training"),
    "tune.mode": ("max", "min"),
    "tune.scheduler": ("fifo", "asha", "pbt", "pb2"),
}
#: key paths that must be > 0
_POSITIVE = {
    "algorithm.actor_lr", "algorithm.alpha_lr", "algorithm.clip_param", "algorithm.critic_lr", "algorithm.grad_clip",
    "algorithm.initial_alpha", "algorithm.lr", "algorithm.minibatch_size", "algorithm.n_step",
    "algorithm.num_epochs", "algorithm.policy_delay", "algorithm.replay_capacity", "algorithm.train_batch_size",
    "algorithm.vf_clip_param", "evaluation.episodes", "model.critic_rounds", "model.gru_hidden", "model.hidden",
    "model.rounds", "offline.episodes", "offline.pretrain_iterations", "pretrain.episodes", "pretrain.epochs",
    "pretrain.lr", "pretrain.minibatch_size", "resources.num_envs_per_env_runner", "resources.torch_threads",
    "scale.evaluation_episodes", "scale.latency_repeats", "scale.per_agent_max_links", "scale.throughput_iterations",
    "scale.throughput_node_steps", "scale.train_iterations", "training.checkpoint_every", "training.iterations",
    "training.keep_checkpoints", "training.validation_episodes", "tune.fitness_window", "tune.grace_period",
    "tune.num_samples", "tune.perturbation_interval"}
#: key paths that must be >= 0
_NON_NEGATIVE = {
    "algorithm.action_l2", "algorithm.cost_limit", "algorithm.critic_warmup_iterations", "algorithm.entropy_coeff",
    "algorithm.entropy_ceiling", "algorithm.entropy_floor", "algorithm.entropy_floor_lr", "algorithm.entropy_floor_max",
    "algorithm.exploration_noise", "algorithm.lambda_init", "algorithm.lambda_lr", "algorithm.lambda_max",
    "algorithm.learning_starts", "algorithm.pid_kd", "algorithm.pid_ki", "algorithm.pid_kp", "algorithm.target_noise",
    "algorithm.target_noise_clip", "algorithm.updates_per_iteration", "algorithm.vf_loss_coeff",
    "env.engineered_weight", "evaluation.cost_limit", "evaluation.seed", "offline.dataset_seed",
    "offline.finetune_from", "resources.num_env_runners", "training.validate_every", "training.validation_seed",
    "training.retarget_rate", "tune.checkpoint_every", "tune.fitness_cost_limit", "tune.max_concurrent_trials",
    "tune.max_failures", "tune.penalty_weight"}
#: key paths in [0, 1]
_UNIT = {"algorithm.gamma", "algorithm.lambda_", "algorithm.tau", "model.pi_init_scale", "pretrain.label_smoothing"}


def validate_experiment(exp) -> None:
    """Every cross-field rule of an experiment (called by ``ExperimentConfig.__post_init__``); raises
    :class:`ConfigError` naming the key path and what is allowed."""
    if isinstance(exp.seed, bool) or not isinstance(exp.seed, int) or exp.seed < 0:
        raise ConfigError(f"seed: must be a non-negative integer (numpy seeds), got {exp.seed!r}")
    for sec in dataclasses.fields(exp):
        value = getattr(exp, sec.name)
        if not dataclasses.is_dataclass(value):
            continue
        for f in dataclasses.fields(value):
            path, v = f"{sec.name}.{f.name}", getattr(value, f.name)
            if path in _CHOICES and v not in _CHOICES[path]:
                raise ConfigError(f"{path}: must be one of {', '.join(_CHOICES[path])}; got {v!r}")
            if path in _POSITIVE and not v > 0:
                raise ConfigError(f"{path}: must be > 0, got {v!r}")
            if path in _NON_NEGATIVE and not v >= 0:
                raise ConfigError(f"{path}: must be >= 0, got {v!r}")
            if path in _UNIT and not 0 <= v <= 1:
                raise ConfigError(f"{path}: must be in [0, 1], got {v!r}")
    if not 0 < exp.tune.quantile_fraction <= 0.5:
        raise ConfigError(f"tune.quantile_fraction: must be in (0, 0.5], got {exp.tune.quantile_fraction!r}")
    if not 0 <= exp.tune.resample_probability <= 1:
        raise ConfigError(f"tune.resample_probability: must be in [0, 1], got {exp.tune.resample_probability!r}")
    if exp.tune.reduction_factor < 2:
        raise ConfigError(f"tune.reduction_factor: must be >= 2, got {exp.tune.reduction_factor!r}")
    if not exp.scale.runners or any(
            isinstance(r, bool) or not isinstance(r, int) or r < 0 for r in exp.scale.runners):
        raise ConfigError(f"scale.runners: needs a non-empty list of integers >= 0, got {exp.scale.runners!r}")
    if not exp.tune.storage:
        raise ConfigError("tune.storage: must be a folder or a URI, got ''")
    if not exp.offline.seeds or any(isinstance(x, bool) or not isinstance(x, int) or x < 0 for x in exp.offline.seeds):
        raise ConfigError(f"offline.seeds: needs a non-empty list of integers >= 0, got {exp.offline.seeds!r}")
    if not 0 <= exp.algorithm.pid_ema_alpha < 1:
        raise ConfigError(f"algorithm.pid_ema_alpha: must be in [0, 1), got {exp.algorithm.pid_ema_alpha!r}")
    if exp.algorithm.lagrangian_rule == "multiplicative":  # its own rules on cost_limit / lambda_init
        from cfmarl.policies.learners.lagrange import LagrangeConfig

        a = exp.algorithm
        try:
            LagrangeConfig(cost_limit=(a.cost_limit,), rule=a.lagrangian_rule, lr=a.lambda_lr, init=a.lambda_init,
                           max_multiplier=a.lambda_max)
        except ValueError as exc:
            raise ConfigError(f"algorithm.{exc}") from None
    from cfmarl.registry import get_env  # validate env name, scenario and overrides now, not at run time

    if exp.resources.allow_large:  # the user means it: this process and the Ray workers it starts
        os.environ[ALLOW_LARGE_ENV] = "1"
    try:
        entry = get_env(exp.env.name)
        env_cfg = entry.make_config(exp.env.scenario or entry.default_scenario or entry.scenario_names()[0],
                                    **exp.env.overrides)
        for spec in exp.evaluation.baselines:
            entry.make_baseline(spec)
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"env: {exc}") from None
    check_run_memory(exp, entry, env_cfg)
    if exp.env.mix:
        _validate_mix(exp, entry)
    if exp.pretrain.enabled:
        if not exp.pretrain.teacher:
            raise ConfigError(f"pretrain.teacher: needed when pretrain.enabled; a baseline spec of env "
                              f"{entry.name!r} ({', '.join(entry.baselines)})")
        try:
            entry.make_baseline(exp.pretrain.teacher)
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"pretrain.teacher: {exc}") from None
    _validate_learner(exp, entry, env_cfg)
    if exp.scale.sizes or exp.scale.train_size:
        for size in [*exp.scale.sizes, exp.scale.train_size]:
            try:
                entry.declaration.scale.parse(size)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None


def _validate_mix(exp, entry) -> None:
    """env.mix: graph mode with a size-independent model, sizes along the env's declared axes that fit."""
    if not isinstance(exp.env.mix, list):
        raise ConfigError(f"env.mix: a list of sizes ({entry.declaration.scale.label}, e.g. '32x8'), "
                          f"got {exp.env.mix!r}")
    if exp.model.mode != "graph":
        raise ConfigError(f"env.mix: needs model.mode 'graph' (per-node weights that do not depend on the size), "
                          f"got {exp.model.mode!r}")
    try:
        cfgs = exp.size_env_configs()[1:]
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"env.mix: {str(exc).replace('scale.sizes: ', '')}") from None
    for cfg in cfgs:
        check_run_memory(exp, entry, cfg)


def _validate_retarget(exp, learner) -> None:
    """training.retarget_*: the training target steered by the judged policy's validation cost."""
    t, a = exp.training, exp.algorithm
    if not learner.constrained or learner.offline is not None or a.lagrangian_rule == "none":
        raise ConfigError(f"training.retarget_rate: moves the Lagrange multiplier's target, so it needs a constrained "
                          f"online learner with a multiplier rule (got {a.name} with lagrangian_rule "
                          f"{a.lagrangian_rule!r}); leave it 0")
    if not t.validate_every or t.selection != "judged":
        raise ConfigError("training.retarget_rate: steers by the judged validation, so it needs "
                          "training.validate_every > 0 and training.selection: judged")
    if not exp.judged_limit() > 0:
        raise ConfigError("training.retarget_rate: aims at a fraction of the judged limit, which is 0; set "
                          "evaluation.cost_limit (or algorithm.cost_limit) > 0")
    if not 0 < t.retarget_aim <= 1:
        raise ConfigError(f"training.retarget_aim: must be in (0, 1] (a fraction of the judged limit), got "
                          f"{t.retarget_aim!r}")
    b = t.retarget_bounds
    if not (isinstance(b, (list, tuple)) and len(b) == 2 and all(isinstance(x, (int, float)) and not isinstance(
            x, bool) for x in b) and 0 < b[0] <= b[1] < float("inf")):
        raise ConfigError(f"training.retarget_bounds: needs [lo, hi] with 0 < lo <= hi (multiples of the judged "
                          f"limit), got {b!r}")


def _validate_rollback(exp, learner) -> None:
    """training.rollback: back to the best validated checkpoint after an infeasible validation."""
    from cfmarl.policies.learners.registry import learner_registry

    t = exp.training
    if t.rollback is not True:
        raise ConfigError(f"training.rollback: must be true or false, got {t.rollback!r}")
    if not learner.rollback:
        names = ", ".join(n for n, e in learner_registry().items() if e.rollback)
        raise ConfigError(f"training.rollback: not supported by {exp.algorithm.name} (supported by: {names})")
    if not t.validate_every:
        raise ConfigError("training.rollback: goes back to the best validated checkpoint, so it needs "
                          "training.validate_every > 0")
    f = t.rollback_lr_factor
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
        raise ConfigError(f"training.rollback_lr_factor: must be in (0, 1] (the learning rate's factor at each "
                          f"rollback), got {f!r}")
    n = t.rollback_patience
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
        raise ConfigError(f"training.rollback_patience: an integer in [1, 1000] (validations in a row that break the "
                          f"rule before a rollback), got {n!r}")


def _validate_lr_schedule(exp, learner) -> None:
    """algorithm.lr_schedule: [[iteration, lr], ...] from iteration 0, increasing, lr > 0; a learner with one lr."""
    from cfmarl.policies.learners.registry import learner_registry

    a = exp.algorithm
    if learner.offline is not None or learner.optimizer_lrs is not None:
        names = ", ".join(n for n, e in learner_registry().items() if e.offline is None and e.optimizer_lrs is None)
        raise ConfigError(f"algorithm.lr_schedule: for learners with one algorithm.lr ({names}), not {a.name}; "
                          f"leave it []")
    sched = a.lr_schedule
    ok = isinstance(sched, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], int) and not isinstance(p[0], bool)
        and isinstance(p[1], (int, float)) and not isinstance(p[1], bool) and 0 < p[1] < float("inf") for p in sched)
    if not ok or sched[0][0] != 0 or any(q[0] <= p[0] for p, q in zip(sched, sched[1:])):
        raise ConfigError(f"algorithm.lr_schedule: needs [[iteration, lr], ...] with the first iteration 0, "
                          f"iterations increasing integers and every lr > 0, got {sched!r}")


def _validate_gated(exp, entry, core, kind, learner) -> None:
    """model.action_head gated: binary actions, graph mode with per-node critics, an on-policy learner, one static
    graph whose relation model.gate_relation splits the nodes into cliques of one size."""
    import numpy as np

    from cfmarl.policies.models.relational_attention import clique_groups

    if kind != "discrete" or int(getattr(core, "n_actions", 0)) != 2:
        raise ConfigError(f"model.action_head: 'gated' is for binary actions (2 per node); env {entry.name!r} has "
                          f"{kind} actions" + (f" with {core.n_actions} per node" if kind == "discrete" else ""))
    if exp.model.mode != "graph" or learner.off_policy or learner.offline is not None:
        raise ConfigError(f"model.action_head: 'gated' needs model.mode graph and an on-policy learner "
                          f"(ppo_lagrangian); got mode {exp.model.mode!r}, {exp.algorithm.name}")
    if exp.env.mix:
        raise ConfigError("model.action_head: 'gated' needs one graph; env.mix trains on several sizes")
    if not hasattr(core, "agent_graph") or getattr(core, "graph_kind", "static") != "static":
        raise ConfigError(f"model.action_head: 'gated' needs a static agent graph; env {entry.name!r}'s is absent or changes per episode")
    e_i, e_t = (np.asarray(x) for x in core.agent_graph())
    r = exp.model.gate_relation
    if isinstance(r, bool) or not isinstance(r, int) or r < 0:
        raise ConfigError(f"model.gate_relation: must be an integer >= 0 (a relation of the env's graph), got {r!r}")
    if clique_groups(e_i[:, e_t == r], int(core.n_agents)) is None:
        raise ConfigError(f"model.gate_relation: relation {r} of env {entry.name!r}'s graph must split the nodes into "
                          f"disjoint cliques of one size (the gated groups); it does not "
                          f"(relations present: {sorted(set(e_t.tolist()))})")


def _validate_learner(exp, entry, env_cfg) -> None:
    """algorithm.name x model.mode x the env's action kind, and the action head."""
    from cfmarl.envs.declarations import action_levels
    from cfmarl.policies.learners.registry import get_learner, learner_registry

    core = entry.make_core(env_cfg, 1)
    kind = "discrete" if hasattr(core, "n_actions") else "continuous"
    quantised = action_levels(core) is not None
    head = exp.model.action_head
    try:
        learner = get_learner(exp.algorithm.name)
        deterministic_actor = head == "deterministic" or (head == "auto" and learner.deterministic)
        if kind == "continuous" and exp.model.mode != "per_agent" and not deterministic_actor and (
                head == "hybrid" or (head == "auto" and quantised)):
            kind = "hybrid"  # the hybrid head: categorical levels + Beta (no reparameterised sample)
        learner.check(kind, exp.model.mode)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if exp.algorithm.entropy_floor and exp.algorithm.entropy_floor_push == "uniform_kl" and (
            kind != "discrete" or head == "gated"):
        raise ConfigError(f"algorithm.entropy_floor_push: 'uniform_kl' is for the categorical heads, not for "
                          f"{'the gated head' if head == 'gated' else f'{kind} actions'}; use 'entropy'")
    if exp.pretrain.label_smoothing and (kind != "discrete" or head == "gated"):
        raise ConfigError(f"pretrain.label_smoothing: for the per-node cross-entropy of the categorical heads, not "
                          f"for {'the gated head' if head == 'gated' else f'{kind} actions'}; leave it 0")
    a = exp.algorithm
    if a.multiplier_per_graph is not False:
        if a.multiplier_per_graph is not True:
            raise ConfigError(f"algorithm.multiplier_per_graph: must be true or false, got {a.multiplier_per_graph!r}")
        if not learner.per_graph_multipliers:
            names = ", ".join(n for n, e in learner_registry().items() if e.per_graph_multipliers)
            raise ConfigError(f"algorithm.multiplier_per_graph: not supported by {a.name} (supported by: {names})")
        if not exp.env.mix:
            raise ConfigError("algorithm.multiplier_per_graph: needs env.mix (a mixture of sizes, one multiplier each)")
    if exp.training.retarget_rate:
        _validate_retarget(exp, learner)
    if exp.training.rollback is not False:
        _validate_rollback(exp, learner)
    elif exp.training.rollback_lr_factor != 1.0 or exp.training.rollback_patience != 1:
        which = "rollback_lr_factor" if exp.training.rollback_lr_factor != 1.0 else "rollback_patience"
        raise ConfigError(f"training.{which}: only used with training.rollback: true")
    if a.lr_schedule:
        _validate_lr_schedule(exp, learner)
    if a.critic_warmup_iterations and not learner.critic_warmup:
        names = ", ".join(n for n, e in learner_registry().items() if e.critic_warmup)
        raise ConfigError(f"algorithm.critic_warmup_iterations: not supported by {a.name} (supported by: {names}); "
                          f"leave it 0")
    for field in ("entropy_floor", "entropy_ceiling"):
        value = getattr(a, field)
        if value and not learner.entropy_floor:
            names = ", ".join(n for n, e in learner_registry().items() if e.entropy_floor)
            raise ConfigError(f"algorithm.{field}: not supported by {a.name} (supported by: {names}); leave it 0")
        if value and not (a.entropy_floor_lr > 0 and a.entropy_floor_max > 0):
            which = "entropy_floor_lr" if not a.entropy_floor_lr > 0 else "entropy_floor_max"
            raise ConfigError(f"algorithm.{which}: must be > 0 with algorithm.{field} {value}")
    if a.entropy_floor and a.entropy_ceiling and not a.entropy_ceiling > a.entropy_floor:
        raise ConfigError(f"algorithm.entropy_ceiling: must be above algorithm.entropy_floor ({a.entropy_floor}) or 0 "
                          f"(off), got {a.entropy_ceiling}")
    if learner.offline is not None:  # trained from a dataset by cfmarl/offline_train.py, not by RLlib
        from cfmarl.policies.offline.method import parse_options

        parse_options(learner.offline().Options, a.options, a.name)
        return
    if a.options:
        raise ConfigError(f"algorithm.options: only read by the offline learners, not by {a.name}; remove it")
    if not learner.off_policy and a.minibatch_size > a.train_batch_size:  # off-policy: minibatches come from replay
        raise ConfigError("algorithm.minibatch_size: must be <= algorithm.train_batch_size "
                          f"({a.minibatch_size} > {a.train_batch_size})")
    if a.action_l2 and not learner.off_policy:
        raise ConfigError(f"algorithm.action_l2: the actor regulariser of the off-policy learners (sac_lagrangian, "
                          f"sac, td3_lagrangian, td3, ddpg), not of {a.name}; leave it 0")
    if learner.off_policy and a.minibatch_size > a.replay_capacity:
        raise ConfigError(f"algorithm.minibatch_size: must be <= algorithm.replay_capacity "
                          f"({a.minibatch_size} > {a.replay_capacity})")
    if learner.deterministic and head not in ("auto", "deterministic"):
        raise ConfigError(f"model.action_head: {a.name} has a deterministic actor (use deterministic or auto), "
                          f"got {head!r}")
    if not learner.deterministic and head == "deterministic":
        raise ConfigError(f"model.action_head: 'deterministic' is the head of td3 / ddpg, not of {a.name}")
    if learner.off_policy and not learner.deterministic and head not in ("auto", "squashed_gaussian", "beta"):
        raise ConfigError(f"model.action_head: {a.name} needs a reparameterisable head (squashed_gaussian or beta), "
                          f"got {head!r}")
    if head == "gated":
        _validate_gated(exp, entry, core, kind, learner)
    elif (kind == "discrete" and head not in ("auto", "categorical")) or (kind != "discrete" and head == "categorical"):
        raise ConfigError(f"model.action_head: {head!r} does not fit env {entry.name!r}'s {kind} actions")
    encoder = exp.model.encoder
    if (encoder in ("deepsets", "mat") and exp.model.mode != "central") or (
            encoder == "mat" and (kind != "discrete" or learner.off_policy)):
        raise ConfigError(f"model.encoder: {encoder!r} is a central-mode encoder (mat: discrete actions, on-policy "
                          f"learners); "
                          f"here model.mode {exp.model.mode!r}, {kind} actions, {a.name}")
    if not isinstance(exp.model.cost_encoder, bool):
        raise ConfigError(f"model.cost_encoder: must be true or false, got {exp.model.cost_encoder!r}")
    if exp.model.cost_encoder and encoder != "mat":
        raise ConfigError(f"model.cost_encoder: true is MAT-Lagr's second (cost) encoder: it needs model.encoder: mat "
                          f"(model.mode: central), here {encoder!r}")
    if head == "hybrid" and not quantised:
        raise ConfigError(f"model.action_head: 'hybrid' needs quantised action components (action_levels) and env "
                          f"{entry.name!r} declares none; use beta, squashed_gaussian or auto")
