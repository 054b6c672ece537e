"""Experiment files: YAML -> typed, validated dataclasses -> RLlib AlgorithmConfig.

One YAML file = one reproducible experiment (sections: name, seed, env, model,
algorithm, pretrain, training, resources, evaluation). Loading is strict:
unknown keys, wrong types and out-of-range values are errors that name the key
path (e.g. ``algorithm.lr: must be > 0, got -1``). Every field is documented
where it is declared.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from cfmarl.envs.validation import ConfigError
from cfmarl.experiment_checks import validate_experiment
from cfmarl.offline_section import OfflineSection
from cfmarl.registry import DEFAULT_ENV
from cfmarl.search_space import parse_space, set_path, split_search_space
from cfmarl.yamlfile import read_yaml  # noqa: F401  (re-exported: tests and tools read raw experiment files)


@dataclass(frozen=True)
class EnvSection:
    name: str = DEFAULT_ENV  # registry name (cfmarl envs), or "package.module:function" returning an EnvEntry
    scenario: str = ""  # scenario name ("" = the env's default scenario)
    overrides: dict = field(default_factory=dict)  # env config fields (the env's config dataclass), e.g. {field: value}
    reward_mode: str = "local"  # local (per-node env reward) | engineered (r - w * cost, unconstrained ablation) |
    #                             team (every node gets the mean reward: the cooperative game; costs per node)
    engineered_weight: float = 0.0  # w of the engineered reward
    mix: list = field(default_factory=list)  # graph mode: sizes along the env's scaling axes (e.g. ["32x8", "64x16"])
    #   trained alongside the experiment's own size: each training episode draws one of them uniformly; validation
    #   covers every size (the worst size's cost decides feasibility); evaluation stays at the own size


@dataclass(frozen=True)
class ModelSection:
    mode: str = "graph"  # graph (per-node actor, dual per-node critics, one RLlib agent per env) | central (one
    #                      joint model, team critics) | per_agent (stock RLlib multi-agent, shared MLP)
    action_head: str = "auto"  # auto (categorical for discrete; hybrid where the env declares quantised action
    #                            components, else beta) | categorical | beta | squashed_gaussian | hybrid |
    #                            gated (binary actions: a gate per group of nodes times a Bernoulli per node)
    #                            (see cfmarl.policies.heads)
    gate_relation: int = 0  # gated head: the graph relation whose cliques are the groups (aps: 0 = links of one AP)
    encoder: str = "gnn"  # graph: gnn (relational TransformerConv) | mlp (no message passing); central: mlp
    #                       (concatenated state, the default) | deepsets (rows through one shared MLP + pooled
    #                       context) | mat (MAT-Lagr: transformer, per-node autoregressive actions, per-node
    #                       critics; rounds = blocks)
    cost_encoder: bool = False  # mat: a second encoder for the cost values, its embeddings fused with the reward
    #                             encoder's by a linear layer before the decoder (the paper's MAT-Lagr, aps_gnn
    #                             Sec. V-C); False: one encoder feeds both value heads and the decoder
    rounds: int = 2  # message-passing rounds (= hops of a node's receptive field)
    hidden: int = 64  # width of node embeddings (central / per_agent: MLP width)
    use_gru: bool = True  # GRU over the node's history features (False = the no-RNN ablation)
    gru_hidden: int = 32
    critic: str = "attention"  # SAC learners' critics: attention (MASAC: self-attention over every node's observation
    #                            and action of the step) | meanfield (mean of the nodes' rows, O(N)) | local (own row)
    critic_rounds: int = 2  # attention blocks of the SAC critic
    pi_init_scale: float = 1.0  # initial weights of the final policy layer times this, its bias 0 (< 1: the first
    #                             policy is close to the head's centre, e.g. the expert in a residual action mode)


@dataclass(frozen=True)
class AlgorithmSection:
    name: str = "ppo_lagrangian"  # learner (cfmarl.policies.learners.registry): ppo_lagrangian | ppo (per_agent) |
    #                              sac_lagrangian | sac (continuous actions; `cfmarl learners` lists them)
    lr: float = 3e-4
    lr_schedule: list = field(default_factory=list)  # [[iteration, lr], ...]: lr piecewise linear in training
    #                                                  iterations (first point at 0; constant after the last);
    #                                                  replaces lr; learners with one lr (ppo_lagrangian, ppo)
    gamma: float = 0.95
    lambda_: float = 0.95  # GAE lambda
    clip_param: float = 0.2
    vf_clip_param: float = 10.0
    grad_clip: float = 0.5
    entropy_coeff: float = 0.01
    vf_loss_coeff: float = 0.5
    num_epochs: int = 5
    minibatch_size: int = 64  # env steps per minibatch (each carries all nodes)
    train_batch_size: int = 400  # env steps per iteration
    cost_limit: float = 0.02  # d: limit of the mean per-node cost
    lagrangian_rule: str = "pid"  # gradient (paper eq. 14) | pid (Stooke 2020) | multiplicative (log lambda
    #                               += lr log(J_c / d): steps scale with lambda) | none (unconstrained)
    lambda_lr: float = 0.05  # gradient / multiplicative rule step size
    lambda_init: float = 0.0
    lambda_max: float = 0.0  # cap of every multiplier (0 = none; multiplicative rule: 1e4)
    pid_kp: float = 1.0
    pid_ki: float = 0.1
    pid_kd: float = 0.0
    pid_ema_alpha: float = 0.0
    advantage_scaling: str = "joint"  # joint (reward and cost advantages share one scale) | separate
    multiplier_per_graph: bool = False  # with env.mix: one multiplier per size, each size meets the limit on its own
    critic_warmup_iterations: int = 0  # first n iterations train the value heads only (the warm-started policy and
    #                                    the shared encoder frozen), so the policy's first update has trained baselines
    entropy_floor: float = 0.0  # mean entropy per loss sample (loss/entropy: nats per node, or of the joint action)
    #                             below which the floor's push gains weight like a multiplier (0 = off;
    #                             policies/learners/entropy_floor.py)
    entropy_floor_lr: float = 0.02  # step of the floor's multiplier per iteration at full relative shortfall
    entropy_floor_max: float = 1.0  # cap of the floor's multiplier
    entropy_floor_push: str = "entropy"  # what the floor's multiplier weighs: entropy (an adaptive entropy bonus;
    #                                      vanishes on a saturated policy) | uniform_kl (KL(uniform || pi) per node:
    #                                      revives a saturated categorical policy, but pulls every node alike)
    entropy_ceiling: float = 0.0  # mean entropy per loss sample above which an entropy penalty gains weight like a
    #                               multiplier (0 = off; above entropy_floor; the floor's lr and max)
    # off-policy learners (sac_lagrangian, sac): train_batch_size = env steps sampled per iteration, minibatch_size =
    # replayed transitions per gradient update (each carries all nodes); lr, clip / vf / entropy settings unused
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4  # entropy temperature
    initial_alpha: float = 0.1
    target_entropy_per_dim: float = -1.0  # target entropy = this x action components (per node; x N for central)
    tau: float = 0.005  # Polyak averaging of the target critics
    n_step: int = 1
    updates_per_iteration: int = 50  # gradient updates per iteration
    learning_starts: int = 1000  # env steps in the buffer before the first update
    replay_capacity: int = 100000  # env steps kept (each holds every node's transition)
    replay_in_checkpoint: bool = True  # save the buffer with every checkpoint (exact resume; ~1-10 kB per step)
    action_l2: float = 0.0  # off-policy: TD3+BC-style weight on the actor's squared action, scaled by mean|Q|
    #                          (reference action 0 = the expert for residual actions); 0 = off
    # td3 / td3_lagrangian / ddpg (noise as fractions of half the action range)
    exploration_noise: float = 0.1  # std of the Gaussian noise added to the deterministic action while sampling
    policy_delay: int = 2  # td3: critic updates per actor (and target) update
    target_noise: float = 0.2  # td3: target policy smoothing std
    target_noise_clip: float = 0.5  # td3: ... clipped at +-this
    # offline learners (`cfmarl learners`): iterations = epochs of updates_per_iteration steps; lr, gamma,
    # minibatch_size
    options: dict = field(default_factory=dict)  # the offline method's own options (its Options dataclass)


@dataclass(frozen=True)
class PretrainSection:
    enabled: bool = False  # behaviour cloning of the teacher before RL
    teacher: str = ""  # a baseline spec of the env (cfmarl envs lists them); needed when enabled
    loss: str = "auto"  # auto (cross-entropy for discrete actions, nll for continuous) | nll (negative
    #                     log-likelihood of the teacher's action under the head) | mse (deterministic action)
    episodes: int = 40  # teacher episodes collected (each gives one sample per env step)
    epochs: int = 30
    lr: float = 1e-3
    minibatch_size: int = 64
    label_smoothing: float = 0.0  # discrete heads: cross-entropy against (1 - e) x the teacher's action + e
    #                               spread evenly, so an exact clone stays stochastic (a node at most 1 - e + e / A
    #                               sure) and the RL's gradients, ~p (1 - p) per logit, do not vanish at the start


@dataclass(frozen=True)
class TrainingSection:
    iterations: int = 50
    checkpoint_every: int = 5  # iterations between checkpoints (and always at the end)
    keep_checkpoints: int = 3
    init_from: str = ""  # run directory or checkpoint whose policy weights initialise the model (any graph size)
    validate_every: int = 0  # >0: every n iterations validate the greedy policy; checkpoints/best = best return
    #                          among feasible, else lowest cost
    selection: str = "target"  # feasible on validation: target (cost <= algorithm.cost_limit) | judged (cost + 2
    #                            std. errors <= judged limit)
    validation_episodes: int = 5
    validation_seed: int = 500  # validation seeds are disjoint from training and evaluation seeds
    # the training target steered by the judged policy's validation cost (needs selection: judged): after each
    # validation, algorithm.cost_limit (the target the multiplier holds the *sampled* cost at) is multiplied by
    # (aim / (validation cost + 2 std. errors))^retarget_rate, aim = retarget_aim x the judged limit, and clipped to
    # retarget_bounds x the judged limit; 0 = the target stays algorithm.cost_limit
    retarget_rate: float = 0.0
    retarget_aim: float = 0.9
    retarget_bounds: list = field(default_factory=lambda: [0.5, 3.0])
    # going back to the best validated policy when a walk overshoots: after a validation that is infeasible by the
    # selection rule while the best validated checkpoint is feasible, the learner's weights (policy and value heads)
    # are replaced by that checkpoint's - the multipliers, training targets and optimizer moments are kept - and the
    # learning rate is multiplied by rollback_lr_factor (1 = unchanged; < 1 narrows the step each time);
    # rollback_patience: that many validations in a row must break the rule first (1 = at the first; more gives the
    # multiplier time to pull an overshooting walk back on its own)
    rollback: bool = False
    rollback_lr_factor: float = 1.0
    rollback_patience: int = 1


@dataclass(frozen=True)
class ResourcesSection:
    num_env_runners: int = 0  # 0 = sample in the driver
    num_envs_per_env_runner: int = 4
    torch_threads: int = 1  # driver/learner torch threads (1 is fastest on small CPUs)
    allow_large: bool = False  # build sizes the memory guard refuses (sets CFMARL_ALLOW_LARGE=1 for this run)


@dataclass(frozen=True)
class EvaluationSection:
    episodes: int = 10
    seed: int = 1000  # evaluation seeds are disjoint from training seeds
    baselines: list = field(default_factory=list)  # baseline specs; [] = the env's default baselines
    stochastic: bool = False  # evaluate / validate the learned policy with (seeded) samples instead of its
    #                           deterministic action (argmax / mean): faithful when a continuous head's mean
    #                           is not a typical action of an env that thresholds or rounds it
    cost_limit: float = 0.0  # the constraint the policy is judged by; 0 = algorithm.cost_limit. Setting
    #                          algorithm.cost_limit below it trains with a safety margin.

    def judged_limit(self, algorithm: "AlgorithmSection") -> float:
        return self.cost_limit or algorithm.cost_limit


@dataclass(frozen=True)
class TuneSection:
    """``cfmarl tune`` settings (ignored by ``cfmarl train``). Search spaces are tagged
    values anywhere in the other sections (see :mod:`cfmarl.search_space`)."""

    scheduler: str = "fifo"  # fifo (grid / random search, every trial to the end) | asha | pbt | pb2
    num_samples: int = 1  # trials per grid point; trial i gets seed + i (a PBT population = num_samples)
    metric: str = "fitness"  # fitness (below) | episode_return | any reported metric
    mode: str = "max"  # max | min (of metric)
    fitness: str = "constrained"  # constrained: feasible trials by return, then infeasible by violation |
    #                               reward: return only | penalty: return - penalty_weight * violation
    fitness_source: str = "auto"  # auto (validation if training.validate_every > 0, else training) | training
    penalty_weight: float = 1000.0
    fitness_cost_limit: float = 0.0  # the limit fitness judges by; 0 = evaluation.cost_limit, else algorithm.cost_limit
    #                                  (PBT may mutate algorithm.cost_limit: fitness keeps one fixed yardstick)
    fitness_window: int = 1  # mean over the last n reports (smooths noisy training metrics)
    max_concurrent_trials: int = 0  # 0 = as many as the cluster's CPUs allow
    max_failures: int = 3  # restarts of a failed trial from its last checkpoint
    checkpoint_every: int = 0  # 0 = training.checkpoint_every (PBT/PB2: perturbation_interval)
    storage: str = "runs"  # experiment root: a local folder or a pyarrow URI (s3://..., gs://...)
    perturbation_interval: int = 4  # PBT/PB2, in training iterations
    quantile_fraction: float = 0.25  # PBT/PB2: bottom fraction copies the top fraction
    resample_probability: float = 0.25  # PBT: chance a mutated value is resampled instead of perturbed
    synch: bool = True  # PBT/PB2: the population waits at each perturbation point (reproducible exploits)
    mutations: dict = field(default_factory=dict)  # PBT/PB2: {algorithm.lr: {loguniform: [a, b]}, ...}
    grace_period: int = 4  # ASHA: iterations before a trial can be stopped
    reduction_factor: int = 3  # ASHA


@dataclass(frozen=True)
class ScaleSection:
    """``cfmarl scale`` settings (ignored by train / tune)."""

    sizes: list = field(default_factory=list)  # sizes along the env's scaling axes, e.g. ["16x6", "64x16"]
    #                                            along the axes the env declares (cfmarl envs)
    train_size: str = ""  # the policy is trained here and evaluated at every size
    train_iterations: int = 20
    runners: list = field(default_factory=lambda: [0, 1, 2])  # env runners of the throughput sweep
    throughput_iterations: int = 2  # timed training iterations per throughput point (after one warm-up)
    throughput_node_steps: int = 40000  # node-steps per timed iteration (batch size adapts to the size)
    per_agent: bool = True  # also measure stock per-agent sampling
    per_agent_max_links: int = 1024  # ... up to this many links (it is slow)
    evaluation_episodes: int = 5
    latency_repeats: int = 20


#: hyperparameters a PBT exploit may change on a running trial (they are re-applied after the restore)
MUTABLE = ("algorithm.lr", "algorithm.actor_lr", "algorithm.critic_lr", "algorithm.alpha_lr", "algorithm.tau",
           "algorithm.entropy_coeff", "algorithm.clip_param", "algorithm.lambda_lr",
           "algorithm.cost_limit", "algorithm.pid_kp", "algorithm.pid_ki", "algorithm.pid_kd")


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "experiment"
    seed: int = 0
    env: EnvSection = field(default_factory=EnvSection)
    model: ModelSection = field(default_factory=ModelSection)
    algorithm: AlgorithmSection = field(default_factory=AlgorithmSection)
    pretrain: PretrainSection = field(default_factory=PretrainSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    resources: ResourcesSection = field(default_factory=ResourcesSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    tune: TuneSection = field(default_factory=TuneSection)
    scale: ScaleSection = field(default_factory=ScaleSection)
    offline: OfflineSection = field(default_factory=OfflineSection)

    def __post_init__(self) -> None:
        validate_experiment(self)

    def scenario(self) -> str:
        """The env's scenario name (its default when ``env.scenario`` is empty)."""
        from cfmarl.registry import get_env

        if self.env.scenario:
            return self.env.scenario
        entry = get_env(self.env.name)
        return entry.default_scenario or entry.scenario_names()[0]

    def env_entry(self):
        from cfmarl.registry import get_env

        return get_env(self.env.name)

    def make_env_config(self):
        """The env's frozen config (scenario + overrides)."""
        return self.env_entry().make_config(self.scenario(), **self.env.overrides)

    def baselines(self) -> list[str]:
        """The baseline specs to evaluate against (the env's defaults when the list is empty)."""
        return list(self.evaluation.baselines) or list(self.env_entry().baselines)

    def judged_limit(self) -> float:
        return self.evaluation.judged_limit(self.algorithm)

    def scale_label(self) -> str:
        """The experiment's own size in the env's scale-axis form (e.g. "16x6")."""
        cfg = self.make_env_config()
        return "x".join(str(getattr(cfg, f)) for f in self.env_entry().declaration.scale.fields)

    def mix_sizes(self) -> list[str]:
        """The sizes of ``env.mix`` (the env's scale-axis form, e.g. "64x16"), duplicates dropped."""
        return list(dict.fromkeys(str(s) for s in self.env.mix))

    def mix_overrides(self) -> list[dict]:
        """Per ``env.mix`` size: the experiment's overrides with that size's (and what follows the size)."""
        entry, own = self.env_entry(), self.make_env_config()
        return [{**self.env.overrides, **entry.declaration.scale.overrides(own, size)} for size in self.mix_sizes()]

    def size_env_configs(self) -> list:
        """The env configs the experiment trains on: its own, then those of ``env.mix`` (graph_id order)."""
        entry = self.env_entry()
        return [self.make_env_config()] + [entry.make_config(self.scenario(), **o) for o in self.mix_overrides()]

    def env_config(self) -> dict:
        out = {"env": self.env.name, "scenario": self.scenario(), "overrides": dict(self.env.overrides),
               "reward_mode": self.env.reward_mode, "engineered_weight": self.env.engineered_weight,
               "seed": self.seed}
        if self.env.mix:  # graph 0 is the own size; the mix sizes follow (GraphEnv draws one per episode)
            out["mix"] = self.mix_overrides()
        return out


def _check_type(path: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: must be true or false, got {value!r}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: must be an integer, got {value!r}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{path}: must be a finite number, got {value!r}")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: must be a string, got {value!r}")
    elif tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: must be a mapping, got {value!r}")
    elif tp is list or origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: must be a list, got {value!r}")
    elif isinstance(tp, types.UnionType):
        raise ConfigError(f"{path}: unsupported type")
    return value


def from_dict(cls: type, data: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data`` strictly (unknown keys and wrong types raise)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'experiment'}: must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(f"{where}{unknown[0]}: unknown key; allowed here: {', '.join(names)}")
    kwargs = {}
    for name, value in data.items():
        sub = f"{path}.{name}" if path else name
        tp = hints[name]
        kwargs[name] = from_dict(tp, value, sub) if dataclasses.is_dataclass(tp) else _check_type(sub, value, tp)
    return cls(**kwargs)


def load_experiment(path: str | Path) -> ExperimentConfig:
    """A plain experiment (``cfmarl train``): search spaces are an error here."""
    data = read_yaml(path)
    _, spaces = split_search_space(data, skip={"tune"})
    if spaces:
        key, space = next(iter(spaces.items()))
        raise ConfigError(f"{key}: a search space ({space.kind}) is only allowed with `cfmarl tune`; "
                          f"`cfmarl train` needs a plain value")
    return from_dict(ExperimentConfig, data)


@dataclass(frozen=True)
class TuneExperiment:
    """An experiment with its search space: ``base`` is the raw mapping with every tagged
    value replaced by a representative one, ``spaces``/``mutations`` map key paths to spaces."""

    exp: ExperimentConfig
    base: dict
    spaces: dict
    mutations: dict

    def config_for(self, values: dict) -> ExperimentConfig:
        """The typed experiment of one trial (``values``: key path -> sampled value)."""
        data = self.base
        for key, value in values.items():
            data = set_path(data, key, value)
        return from_dict(ExperimentConfig, data)


def load_tune_experiment(path: str | Path) -> TuneExperiment:
    """An experiment with search spaces (``cfmarl tune``). Every candidate value of every
    space (both bounds of a range, every choice) is checked by the typed schema."""
    data = read_yaml(path)
    base, spaces = split_search_space(data, skip={"tune"})
    exp = from_dict(ExperimentConfig, base)
    for key, space in spaces.items():
        if key.startswith("tune."):
            raise ConfigError(f"{key}: tune settings cannot be searched")
        if key == "algorithm.lr" and exp.algorithm.lr_schedule:
            raise ConfigError(f"{key}: algorithm.lr_schedule replaces lr (a searched lr would be ignored); search "
                              f"one or clear the schedule")
        for value in space.candidates():
            from_dict(ExperimentConfig, set_path(base, key, value))
    mutations = {}
    for key, raw in exp.tune.mutations.items():
        where = f"tune.mutations.{key}"
        if key not in MUTABLE:
            raise ConfigError(f"{where}: not a mutable hyperparameter; allowed: {', '.join(MUTABLE)}")
        if key == "algorithm.cost_limit" and exp.training.retarget_rate:
            raise ConfigError(f"{where}: training.retarget_rate moves the training target itself (a mutated "
                              f"cost_limit would be overridden); mutate one or the other")
        if key == "algorithm.lr" and exp.algorithm.lr_schedule:
            raise ConfigError(f"{where}: algorithm.lr_schedule sets lr after every update (a mutated lr would be "
                              f"overridden); mutate one or clear the schedule")
        space = parse_space(where, raw)
        if space is None or space.is_grid:
            raise ConfigError(f"{where}: must be a search space {{choice | uniform | loguniform | randint: ...}}, "
                              f"got {raw!r}")
        for value in space.candidates():
            from_dict(ExperimentConfig, set_path(base, key, value))
        mutations[key] = space
    if exp.tune.scheduler in ("pbt", "pb2") and not mutations:
        raise ConfigError(f"tune.mutations: scheduler {exp.tune.scheduler} needs at least one mutation")
    if exp.tune.scheduler not in ("pbt", "pb2") and mutations:
        raise ConfigError(f"tune.mutations: only used by the pbt / pb2 schedulers (scheduler is "
                          f"{exp.tune.scheduler})")
    return TuneExperiment(exp=exp, base=base, spaces=spaces, mutations=mutations)


def to_dict(exp: ExperimentConfig) -> dict:
    return dataclasses.asdict(exp)
