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

import yaml

from cfmarl.envs.validation import ConfigError


@dataclass(frozen=True)
class EnvSection:
    name: str = "aps"  # registry name (cfmarl envs)
    scenario: str = "medium"  # scenario name
    overrides: dict = field(default_factory=dict)  # env config fields, e.g. {se_target_bps_hz: 1.0}
    reward_mode: str = "local"  # local (per-node env reward) | engineered (r - w * cost, unconstrained ablation)
    engineered_weight: float = 0.0  # w of the engineered reward


@dataclass(frozen=True)
class ModelSection:
    architecture: str = "graph"  # graph (per-node actor, dual per-node critics) | central (single agent, team critics)
    encoder: str = "gnn"  # gnn (relational TransformerConv) | mlp (no message passing)
    rounds: int = 2  # message-passing rounds (= hops of a node's receptive field)
    hidden: int = 64  # width of node embeddings (central: MLP width)
    use_gru: bool = True  # GRU over the node's history features (False = the no-RNN ablation)
    gru_hidden: int = 32


@dataclass(frozen=True)
class AlgorithmSection:
    lr: float = 3e-4
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
    lagrangian_rule: str = "pid"  # gradient (paper eq. 14) | pid (Stooke 2020) | none (unconstrained)
    lambda_lr: float = 0.05  # gradient rule step size
    lambda_init: float = 0.0
    pid_kp: float = 1.0
    pid_ki: float = 0.1
    pid_kd: float = 0.0
    pid_ema_alpha: float = 0.0
    advantage_scaling: str = "joint"  # joint (reward and cost advantages share one scale) | separate


@dataclass(frozen=True)
class PretrainSection:
    enabled: bool = False  # behaviour cloning of the teacher before RL
    teacher: str = "k-strongest:k=4,by=large_scale"  # baseline spec (the paper's 4-strongest by large-scale fading)
    episodes: int = 40  # teacher episodes collected (each gives episode_windows samples)
    epochs: int = 30
    lr: float = 1e-3
    minibatch_size: int = 64


@dataclass(frozen=True)
class TrainingSection:
    iterations: int = 50
    checkpoint_every: int = 5  # iterations between checkpoints (and always at the end)
    keep_checkpoints: int = 3
    init_from: str = ""  # run directory or checkpoint whose policy weights initialise the model (any graph size)
    validate_every: int = 0  # >0: every n iterations evaluate the greedy policy on validation seeds and keep
    #                          checkpoints/best: the best return among cost <= limit, else the lowest cost
    validation_episodes: int = 5
    validation_seed: int = 500  # validation seeds are disjoint from training and evaluation seeds


@dataclass(frozen=True)
class ResourcesSection:
    num_env_runners: int = 0  # 0 = sample in the driver
    num_envs_per_env_runner: int = 4
    torch_threads: int = 1  # driver/learner torch threads (1 is fastest on small CPUs)


@dataclass(frozen=True)
class EvaluationSection:
    episodes: int = 10
    seed: int = 1000  # evaluation seeds are disjoint from training seeds
    baselines: list = field(default_factory=lambda: ["k-strongest", "all-on", "greedy"])


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

    def __post_init__(self) -> None:
        _validate(self)

    def env_config(self) -> dict:
        return {"env": self.env.name, "scenario": self.env.scenario, "overrides": dict(self.env.overrides),
                "reward_mode": self.env.reward_mode, "engineered_weight": self.env.engineered_weight,
                "seed": self.seed}


_CHOICES = {"env.reward_mode": ("local", "engineered"), "model.architecture": ("graph", "central"),
            "model.encoder": ("gnn", "mlp"), "algorithm.lagrangian_rule": ("gradient", "pid", "none"),
            "algorithm.advantage_scaling": ("joint", "separate")}
_POSITIVE = {"model.rounds", "model.hidden", "model.gru_hidden", "algorithm.lr", "algorithm.num_epochs",
             "algorithm.minibatch_size", "algorithm.train_batch_size", "algorithm.clip_param",
             "algorithm.vf_clip_param", "algorithm.grad_clip", "pretrain.episodes", "pretrain.epochs", "pretrain.lr",
             "pretrain.minibatch_size", "training.iterations", "training.checkpoint_every",
             "training.keep_checkpoints", "training.validation_episodes", "resources.num_envs_per_env_runner", "resources.torch_threads",
             "evaluation.episodes"}
_NON_NEGATIVE = {"env.engineered_weight", "algorithm.entropy_coeff", "algorithm.vf_loss_coeff",
                 "algorithm.cost_limit", "algorithm.lambda_lr", "algorithm.lambda_init", "algorithm.pid_kp",
                 "algorithm.pid_ki", "algorithm.pid_kd", "resources.num_env_runners", "training.validate_every"}
_UNIT = {"algorithm.gamma", "algorithm.lambda_"}


def _validate(exp: ExperimentConfig) -> None:
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
    if exp.algorithm.minibatch_size > exp.algorithm.train_batch_size:
        raise ConfigError("algorithm.minibatch_size: must be <= algorithm.train_batch_size "
                          f"({exp.algorithm.minibatch_size} > {exp.algorithm.train_batch_size})")
    if not 0 <= exp.algorithm.pid_ema_alpha < 1:
        raise ConfigError(f"algorithm.pid_ema_alpha: must be in [0, 1), got {exp.algorithm.pid_ema_alpha!r}")
    from cfmarl.registry import get_env  # validate env name, scenario and overrides now, not at run time

    try:
        entry = get_env(exp.env.name)
        entry.make_config(exp.env.scenario, **exp.env.overrides)
        for spec in exp.evaluation.baselines:
            entry.make_baseline(spec)
        if exp.pretrain.enabled:
            entry.make_baseline(exp.pretrain.teacher)
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"env: {exc}") from None


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
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"experiment file {str(path)!r} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return from_dict(ExperimentConfig, data or {})


def to_dict(exp: ExperimentConfig) -> dict:
    return dataclasses.asdict(exp)
