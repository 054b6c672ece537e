"""Learner registry: ``algorithm.name`` -> how to build the RLlib config, and what it supports.

Capability flags say which action kinds (discrete / continuous), data regime
(on- / off-policy) and model modes (graph: one RLlib agent per env with a per-node
model; central: one agent with a joint model; per_agent: stock RLlib multi-agent,
one agent per env agent) a learner handles, so an unsupported experiment fails at
load time with one line naming both sides. A new learner adds its folder and one
:func:`register_learner` call (or an entry in :func:`_builtin`).

``training_kwargs(algorithm_section) -> dict`` maps the experiment's typed
``algorithm`` section to the config class's ``.training(...)`` arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ACTION_KINDS = ("discrete", "continuous", "hybrid")  # hybrid: the env declares quantised components
MODES = ("graph", "central", "per_agent")


@dataclass(frozen=True)
class LearnerEntry:
    name: str
    description: str
    make_config: Callable[[], Any]  # () -> an RLlib AlgorithmConfig instance
    training_kwargs: Callable[[Any], dict]  # experiment.algorithm -> .training(**kwargs)
    actions: frozenset  # subset of ACTION_KINDS
    modes: frozenset  # subset of MODES
    off_policy: bool = False
    constrained: bool = True  # uses the env's costs (Lagrange multipliers)
    module_class: Callable[[str], Any] | None = None  # mode -> RLModule class (graph / central); None = the PPO
    #                                                  actor-critic models (cfmarl.policies.models.graph_actor_critic)
    module_config: Callable[[Any], dict] | None = None  # experiment.algorithm -> extra model_config of the module
    deterministic: bool = False  # a deterministic actor (DDPG / TD3): model.action_head deterministic (auto picks it)
    optimizer_lrs: Callable[[Any], dict] | None = None  # experiment.algorithm -> {optimizer: (algorithm field, lr)};
    #                                                   None = every optimizer uses algorithm.lr
    offline: Callable[[], type] | None = None  # () -> the OfflineMethod class: trained from a dataset by
    #                                          cfmarl/offline_train.py instead of RLlib (make_config unused)
    per_graph_multipliers: bool = False  # supports algorithm.multiplier_per_graph (one multiplier per env.mix size)
    critic_warmup: bool = False  # supports algorithm.critic_warmup_iterations (value heads first, policy frozen)
    rollback: bool = False  # supports training.rollback (its weights replaced by the best checkpoint's, lr scaled)
    entropy_floor: bool = False  # supports algorithm.entropy_floor (an entropy bonus that rises below a floor) and
    #                              algorithm.entropy_ceiling (a penalty that rises above a ceiling)

    def check(self, action_kind: str, mode: str) -> None:
        """Raise ValueError (one line, naming both) when this learner cannot run the pair."""
        if mode not in self.modes:
            raise ValueError(f"algorithm.name {self.name!r} does not support model.mode {mode!r} "
                             f"(it supports: {', '.join(sorted(self.modes))})")
        if action_kind not in self.actions:
            raise ValueError(f"algorithm.name {self.name!r} does not support {action_kind} actions "
                             f"(it supports: {', '.join(sorted(self.actions))})")


def lr_setting(a) -> float | list:
    """algorithm.lr, or algorithm.lr_schedule as RLlib's piecewise-linear schedule over env steps sampled
    (iteration i = i x train_batch_size env steps)."""
    if not a.lr_schedule:
        return a.lr
    return [[int(it) * a.train_batch_size, float(lr)] for it, lr in a.lr_schedule]


def _ppo_common(a) -> dict:
    return dict(lr=lr_setting(a), gamma=a.gamma, lambda_=a.lambda_, clip_param=a.clip_param, vf_clip_param=a.vf_clip_param,
                grad_clip=a.grad_clip, entropy_coeff=a.entropy_coeff, vf_loss_coeff=a.vf_loss_coeff,
                num_epochs=a.num_epochs, minibatch_size=a.minibatch_size,
                train_batch_size_per_learner=a.train_batch_size)


def _ppo_lagrangian_kwargs(a) -> dict:
    return dict(_ppo_common(a), cost_limit=a.cost_limit, lagrangian_rule=a.lagrangian_rule, lambda_lr=a.lambda_lr,
                lambda_init=a.lambda_init, pid_kp=a.pid_kp, pid_ki=a.pid_ki, pid_kd=a.pid_kd,
                pid_ema_alpha=a.pid_ema_alpha, lambda_max=a.lambda_max, advantage_scaling=a.advantage_scaling,
                multiplier_per_graph=a.multiplier_per_graph, critic_warmup_iterations=a.critic_warmup_iterations,
                entropy_floor=a.entropy_floor, entropy_floor_lr=a.entropy_floor_lr, entropy_floor_max=a.entropy_floor_max,
                entropy_floor_push=a.entropy_floor_push, entropy_ceiling=a.entropy_ceiling)


def _ppo_lagrangian_config():
    from cfmarl.policies.learners.ppo_lagrangian import PPOLagrangianConfig

    return PPOLagrangianConfig()


def _ppo_config():
    from ray.rllib.algorithms.ppo import PPOConfig

    return PPOConfig()


def _sac_common(a) -> dict:
    return dict(gamma=a.gamma, actor_lr=a.actor_lr, critic_lr=a.critic_lr, alpha_lr=a.alpha_lr, tau=a.tau,
                initial_alpha=a.initial_alpha, n_step=a.n_step, twin_q=True, train_batch_size_per_learner=a.minibatch_size,
                num_steps_sampled_before_learning_starts=a.learning_starts,
                replay_buffer_config={"type": "MultiAgentEpisodeReplayBuffer", "capacity": a.replay_capacity})


def _sac_lagrangian_kwargs(a, constrained: bool = True) -> dict:
    return dict(_sac_common(a), cost_limit=a.cost_limit, lagrangian_rule=a.lagrangian_rule if constrained else "none",
                lambda_lr=a.lambda_lr, lambda_init=a.lambda_init if constrained else 0.0, pid_kp=a.pid_kp,
                pid_ki=a.pid_ki, pid_kd=a.pid_kd, pid_ema_alpha=a.pid_ema_alpha, lambda_max=a.lambda_max,
                updates_per_iteration=a.updates_per_iteration, replay_in_checkpoint=a.replay_in_checkpoint,
                target_entropy_per_dim=a.target_entropy_per_dim, action_l2=a.action_l2)


def _sac_lrs(a) -> dict:
    return {"policy": ("actor_lr", a.actor_lr), "qf": ("critic_lr", a.critic_lr), "cf": ("critic_lr", a.critic_lr),
            "alpha": ("alpha_lr", a.alpha_lr)}


def _sac_lagrangian_config():
    from cfmarl.policies.learners.sac_lagrangian import SACLagrangianConfig

    return SACLagrangianConfig()


def _td3_kwargs(a, twin: bool = True) -> dict:
    kw = _sac_lagrangian_kwargs(a)
    for k in ("initial_alpha", "alpha_lr", "target_entropy_per_dim"):
        kw.pop(k, None)
    return dict(kw, twin_q=twin, policy_delay=a.policy_delay if twin else 1, target_noise=a.target_noise if twin else 0.0,
                target_noise_clip=a.target_noise_clip if twin else 0.0, exploration_noise=a.exploration_noise)


def _td3_module_config(a, twin: bool = True) -> dict:
    return {"twin_q": twin, "target_noise": a.target_noise if twin else 0.0,
            "target_noise_clip": a.target_noise_clip if twin else 0.0, "exploration_noise": a.exploration_noise}


def _td3_lrs(a) -> dict:
    return {"policy": ("actor_lr", a.actor_lr), "qf": ("critic_lr", a.critic_lr), "cf": ("critic_lr", a.critic_lr)}


def _td3_config():
    from cfmarl.policies.learners.td3_lagrangian import TD3LagrangianConfig

    return TD3LagrangianConfig()


def _td3_module(mode: str):
    from cfmarl.policies.models.graph_sac import CentralTD3, GraphTD3

    return CentralTD3 if mode == "central" else GraphTD3


def _sac_module(mode: str):
    from cfmarl.policies.models.graph_sac import CentralSAC, GraphSAC

    return CentralSAC if mode == "central" else GraphSAC


def _builtin() -> list[LearnerEntry]:
    return [
        LearnerEntry(name="ppo_lagrangian",
                     description="MAPPO-Lagrangian: per-node GAE for reward and cost, one multiplier per "
                                 "constraint (gradient / PID), parameter sharing",
                     make_config=_ppo_lagrangian_config, training_kwargs=_ppo_lagrangian_kwargs,
                     actions=frozenset(ACTION_KINDS), modes=frozenset({"graph", "central"}),
                     per_graph_multipliers=True, critic_warmup=True, rollback=True, entropy_floor=True),
        LearnerEntry(name="ppo",
                     description="stock RLlib PPO on the env reward (unconstrained; costs are logged), "
                                 "per-agent shared MLP, for comparisons",
                     make_config=_ppo_config, training_kwargs=_ppo_common,
                     actions=frozenset(ACTION_KINDS), modes=frozenset({"per_agent"}), constrained=False),
        LearnerEntry(name="sac_lagrangian",
                     description="SAC-Lagrangian / MASAC: decentralised per-node actors, twin reward and cost Q "
                                 "critics over every node's observation and action (model.critic), automatic "
                                 "entropy temperature, one multiplier per constraint (gradient / PID), replay",
                     make_config=_sac_lagrangian_config, training_kwargs=_sac_lagrangian_kwargs,
                     actions=frozenset({"continuous"}), modes=frozenset({"graph", "central"}), off_policy=True,
                     module_class=_sac_module, optimizer_lrs=_sac_lrs),
        LearnerEntry(name="sac",
                     description="(multi-agent) SAC on the env reward, the sac_lagrangian machinery with the "
                                 "multipliers held at 0 (costs are logged), for comparisons",
                     make_config=_sac_lagrangian_config,
                     training_kwargs=lambda a: _sac_lagrangian_kwargs(a, constrained=False),
                     actions=frozenset({"continuous"}), modes=frozenset({"graph", "central"}), off_policy=True,
                     constrained=False, module_class=_sac_module, optimizer_lrs=_sac_lrs),
        LearnerEntry(name="td3_lagrangian",
                     description="TD3 with a cost critic and multipliers: deterministic per-node actors, twin "
                                 "critics, target policy smoothing, delayed actor and target updates",
                     make_config=_td3_config, training_kwargs=_td3_kwargs, actions=frozenset({"continuous"}),
                     modes=frozenset({"graph", "central"}), off_policy=True, module_class=_td3_module,
                     optimizer_lrs=_td3_lrs, deterministic=True, module_config=_td3_module_config),
        LearnerEntry(name="td3",
                     description="TD3 on the env reward (multipliers held at 0; costs logged)",
                     make_config=_td3_config,
                     training_kwargs=lambda a: dict(_td3_kwargs(a), lagrangian_rule="none", lambda_init=0.0),
                     actions=frozenset({"continuous"}), modes=frozenset({"graph", "central"}), off_policy=True,
                     constrained=False, module_class=_td3_module, optimizer_lrs=_td3_lrs, deterministic=True,
                     module_config=_td3_module_config),
        LearnerEntry(name="ddpg",
                     description="DDPG on the env reward (one critic, no smoothing or delay; the DHI paper's "
                                 "learned baseline)",
                     make_config=_td3_config,
                     training_kwargs=lambda a: dict(_td3_kwargs(a, twin=False), lagrangian_rule="none",
                                                    lambda_init=0.0),
                     actions=frozenset({"continuous"}), modes=frozenset({"graph", "central"}), off_policy=True,
                     constrained=False, module_class=_td3_module, optimizer_lrs=_td3_lrs, deterministic=True,
                     module_config=lambda a: _td3_module_config(a, twin=False)),
    ]


def _no_rllib(name: str):
    def make():
        raise ValueError(f"algorithm.name {name!r} is an offline learner: `cfmarl train` runs it from a dataset "
                         f"(cfmarl/offline_train.py); RLlib (cfmarl tune / scale) does not")
    return make


def _offline(name: str, description: str, cls: str) -> LearnerEntry:
    def load():
        import importlib

        mod, _, attr = cls.partition(":")
        return getattr(importlib.import_module(mod), attr)

    return LearnerEntry(name=name, description=description, make_config=_no_rllib(name), training_kwargs=lambda a: {},
                        actions=frozenset({"continuous"}), modes=frozenset(MODES), off_policy=True, constrained=False,
                        offline=load)


def _offline_builtin() -> list[LearnerEntry]:
    p = "cfmarl.policies.offline"
    return [
        _offline("ma_cdmp", "offline: MA-CDMP, per-node conditional diffusion planner over own + 1-hop mean-field "
                 "observation sequences, return-classifier guidance, inverse dynamics (DDPM / DPM-Solver)",
                 f"{p}.diffusion_planner.planner:MACDMP"),
        _offline("bc", "offline: behaviour cloning, per-node MLP (parameter sharing)", f"{p}.baselines.bc:BehaviourCloning"),
        _offline("ma_td3bc", "offline: MA-TD3+BC, decentralised TD3 with a behaviour-cloning actor term",
                 f"{p}.baselines.q_learning:TD3BC"),
        _offline("ma_cql", "offline: MA-CQL, decentralised TD3 critic with the conservative (CQL(H)) penalty",
                 f"{p}.baselines.q_learning:CQL"),
    ]


_REGISTERED: dict[str, LearnerEntry] = {}


def register_learner(entry: LearnerEntry, *, replace: bool = False) -> None:
    if not replace and entry.name in learner_registry():
        raise ValueError(f"register_learner: a learner named {entry.name!r} is already registered")
    _REGISTERED[entry.name] = entry


def learner_registry() -> dict[str, LearnerEntry]:
    reg = {e.name: e for e in [*_builtin(), *_offline_builtin()]}
    reg.update(_REGISTERED)
    return reg


def get_learner(name: str) -> LearnerEntry:
    reg = learner_registry()
    if name not in reg:
        raise ValueError(f"algorithm.name: unknown learner {name!r}; known: {', '.join(reg)}")
    return reg[name]
