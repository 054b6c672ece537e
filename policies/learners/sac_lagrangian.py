"""SAC-Lagrangian (and multi-agent SAC with centralised critics) on RLlib's new API stack.

Soft actor-critic (Haarnoja et al., "Soft Actor-Critic Algorithms and Applications",
2018, eqs. 5-7, 11-18) with a cost critic and Lagrange multipliers (the SAC-Lagrangian
of Ha et al., "Learning to Walk in the Real World with Minimal Human Effort", CoRL 2020,
eq. 5), per node in graph mode (one sample = a node of an env step, parameter sharing)
or on the joint action for the central agent:

    y_r = r + gamma^n (1 - d) [min_j Q'_j(s', a') - alpha log pi(a'|s')],   a' ~ pi(.|s')
    y_c = c + gamma^n (1 - d) Q'_c(s', a')                                  (one per constraint)
    L_Q  = 1/2 E[(Q_1(s,a) - y_r)^2 + (Q_2(s,a) - y_r)^2],   L_C = 1/2 E[sum_k (Q_c,k(s,a) - y_c,k)^2]
    L_pi = E[alpha log pi(a~|s) - min_j Q_j(s,a~) + sum_k lambda_k Q_c,k(s,a~)],   a~ = f(eps; s) (reparameterised)
    L_alpha = -E[log alpha (log pi(a~|s) + H_target)]

with Q' the Polyak-averaged targets (tau). r and c are the node's reward and costs
(graph mode; the team's mean for the central agent), the n-step discounted sums over
the node's own signals. In graph mode Q_j, Q_c are node-level heads of a critic that
reads every node's observation and action of the step (:mod:`graph_sac`); the actor's
loss is the sum of the nodes' terms, so every node's action is improved against all
the Q heads it affects. The target entropy is per node (-action_dim) in graph mode and
joint (-N action_dim) for the central agent.

The multipliers use the PPO-Lagrangian machinery (:mod:`lagrange_learner`): one per
module and constraint, gradient or PID rule, updated once per iteration from the
exact mean per-node cost of the env steps sampled in that iteration (on-policy, not
the replay batch, which lags the policy), learner state, logged every iteration.

Pieces: :class:`SACLagrangianConfig` (``SACConfig`` + constraint settings +
``updates_per_iteration``, ``target_entropy_per_dim``, ``replay_in_checkpoint``; the buffer's
sampler is seeded from ``config.seed``),
:class:`SACLagrangian` (own ``training_step``: sample, add, n updates, multipliers,
weight sync; the replay buffer in the checkpoint), :class:`GraphReplayBuffer` (RLlib's
``MultiAgentEpisodeReplayBuffer`` with a seeded sampler and the per-node n-step reward
and cost columns, read from the replayed episodes' infos) and
:class:`SACLagrangianTorchLearner`. ``lagrangian_rule="none"`` is plain (multi-agent) SAC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.sac import SAC, SACConfig
from ray.rllib.algorithms.sac.torch.sac_torch_learner import SACTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import POLICY_LOSS_KEY
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.metrics import (ALL_MODULES, ENV_RUNNER_RESULTS, ENV_RUNNER_SAMPLING_TIMER, LEARNER_RESULTS,
                                     LEARNER_UPDATE_TIMER, NUM_AGENT_STEPS_SAMPLED_LIFETIME,
                                     NUM_ENV_STEPS_SAMPLED_LIFETIME, REPLAY_BUFFER_SAMPLE_TIMER,
                                     SYNCH_WORKER_WEIGHTS_TIMER, TIMERS)
from ray.rllib.utils.replay_buffers.multi_agent_episode_buffer import MultiAgentEpisodeReplayBuffer

from cfmarl.policies.learners.fused_step import FusedGradientStepMixin, adam
from cfmarl.policies.learners.lagrange_learner import LagrangeConfigMixin, LagrangeLearnerMixin
from cfmarl.policies.learners.masking import masked_mean
from cfmarl.policies.models import graph_sac as gs

NODE_REWARDS, NODE_COSTS = "node_rewards", "node_costs"  # batch columns (B, N) and (B, N, C)
FRESH_COST_KEY = "cfmarl_fresh_mean_node_cost"  # timesteps entry: the iteration's on-policy mean cost
QF_LOSS, CF_LOSS, ALPHA_LOSS = "qf_loss", "cf_loss", "alpha_loss"
REPLAY_STATE_KEY = "cfmarl_replay_buffer"


def action_regulariser(q_pi: torch.Tensor, action_sq: torch.Tensor | None, weight: torch.Tensor,
                       coef: float) -> torch.Tensor:
    """coef * mean|Q(s, a~)| * mean ||a~||^2: the behaviour-cloning term of TD3+BC (Fujimoto & Gu,
    NeurIPS 2021, eq. 3: lambda = alpha / mean|Q|, written here as a weight on the squared action
    scaled by the critic's magnitude, so ``coef`` = 1 / alpha is free of the reward's scale) with
    the reference action 0: the expert itself where the env's action is a residual on an expert
    (precoding ``action_mode: residual``), the centre of the action box elsewhere. 0 when coef is 0."""
    if not coef or action_sq is None:
        return torch.zeros((), dtype=q_pi.dtype, device=q_pi.device)
    return coef * masked_mean(q_pi.abs(), weight).detach() * masked_mean(action_sq, weight)


def action_sq_per_sample(a_pi: torch.Tensor, node_mask: torch.Tensor, per_node: bool) -> torch.Tensor:
    """||a||^2 per sample: (B, N) per node, (B,) summed over the real nodes for the central agent."""
    sq = (a_pi ** 2).sum(-1) * node_mask.to(a_pi.dtype)
    return sq if per_node else sq.sum(-1)


def sac_lagrangian_loss(*, q1, q2, qc, q1_pi, q2_pi, qc_pi, logp_pi, q_next, qc_next, logp_next, rewards, costs,
                        discount, log_alpha, target_entropy, multipliers, weight, action_sq=None, action_l2=0.0
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The four SAC-Lagrangian losses on per-sample tensors (a sample = a node-step, or a step for
    the central agent). ``qc*`` and ``costs`` carry a trailing constraint axis; ``discount`` is
    gamma^n (1 - terminated); ``weight`` masks padding nodes; ``action_sq`` (||a~||^2 per sample)
    and ``action_l2`` add :func:`action_regulariser` to the actor's loss. Returns (losses, stats)."""
    alpha = log_alpha.exp()
    a = alpha.detach()
    lam = torch.as_tensor(np.asarray(multipliers, dtype=np.float32), device=q1.device)
    with torch.no_grad():
        y = rewards + discount * (q_next - a * logp_next)
        yc = costs + discount[..., None] * qc_next
    qf_loss = 0.5 * masked_mean((q1 - y) ** 2 + (q2 - y) ** 2, weight)
    cf_loss = 0.5 * masked_mean(((qc - yc) ** 2).sum(-1), weight)
    q_pi = torch.minimum(q1_pi, q2_pi)
    reg = action_regulariser(q_pi, action_sq, weight, action_l2)
    policy_loss = masked_mean(a * logp_pi - q_pi + (qc_pi * lam).sum(-1), weight) + reg
    alpha_loss = -masked_mean(log_alpha * (logp_pi.detach() + target_entropy), weight)
    stats = {"q_mean": masked_mean(q1, weight).detach(), "qc_mean": masked_mean(qc.sum(-1), weight).detach(),
             "td_error_mean": masked_mean((q1 - y).abs(), weight).detach(), "logp_mean": masked_mean(
                 logp_pi, weight).detach(), "alpha_value": a.reshape(-1)[0], "action_reg": reg.detach()}
    return {POLICY_LOSS_KEY: policy_loss, QF_LOSS: qf_loss, CF_LOSS: cf_loss, ALPHA_LOSS: alpha_loss}, stats


class GraphReplayBuffer(MultiAgentEpisodeReplayBuffer):
    """RLlib's multi-agent episode buffer with a seeded sampler and per-node n-step columns.

    ``sample`` adds, to every sampled transition (t -> t+n), ``node_rewards`` (N,) and
    ``node_costs`` (N, C): sum_{k<n} gamma^k of the node signals of steps t..t+n-1, read
    from the infos of the source episode (the signals of the action at t arrive with
    observation t+1). RLlib's learner connector turns them into (B, N) / (B, N, C)."""

    def __init__(self, capacity: int = 10000, *, seed: int = 0, **kwargs):
        super().__init__(capacity=capacity, **kwargs)
        self.rng = np.random.default_rng(seed)

    def sample(self, num_items=None, *, n_step=1, gamma=0.99, **kwargs):
        kwargs.pop("include_infos", None)
        eps = super().sample(num_items=num_items, n_step=n_step, gamma=gamma, include_infos=False, **kwargs)
        for e in eps:
            src = self.episodes[self.episode_id_to_index[e.multi_agent_episode_id] - self._num_episodes_evicted]
            sa = src.agent_episodes[e.agent_id]
            t, n = e.t_started, int(e.get_extra_model_outputs("n_step")[0])
            infos = sa.get_infos(slice(t + 1, t + n + 1))
            disc = gamma ** np.arange(n, dtype=np.float64)
            r = sum(d * np.asarray(i[NODE_REWARDS], np.float64) for d, i in zip(disc, infos))
            c = sum(d * np.asarray(i[NODE_COSTS], np.float64) for d, i in zip(disc, infos))
            e.extra_model_outputs[NODE_REWARDS] = InfiniteLookbackBuffer([np.asarray(r, np.float32)])
            e.extra_model_outputs[NODE_COSTS] = InfiniteLookbackBuffer([np.asarray(c, np.float32)])
        return eps

    def get_state(self) -> dict[str, Any]:
        return super().get_state() | {"rng_state": self.rng.bit_generator.state}

    def set_state(self, state) -> None:
        super().set_state(state)
        if "rng_state" in state:
            self.rng.bit_generator.state = state["rng_state"]


def fresh_mean_node_cost(episodes) -> np.ndarray | None:
    """Mean per-node cost (C,) over the env steps of freshly sampled (graph-mode) episode chunks."""
    total, steps = None, 0
    for ep in episodes:
        for sa in getattr(ep, "agent_episodes", {}).values():
            infos = sa.get_infos(slice(1, len(sa) + 1)) if len(sa) else []
            for info in infos:
                if "mean_node_cost" in info:
                    c = np.asarray(info["mean_node_cost"], np.float64)
                    total = c if total is None else total + c
                    steps += 1
    return None if total is None else total / steps


class SACLagrangianConfig(LagrangeConfigMixin, SACConfig):
    """SACConfig plus the constraint settings, the updates per iteration and the buffer's seed."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or SACLagrangian)
        self._init_lagrange()
        self.updates_per_iteration = 50
        self.action_l2 = 0.0  # TD3+BC-style weight of the actor's squared action (see action_regulariser)
        self.replay_in_checkpoint = True
        self.target_entropy_per_dim = -1.0
        self.initial_alpha = 0.1
        self.replay_buffer_config = {"type": "MultiAgentEpisodeReplayBuffer", "capacity": 100_000}
        # one training_step per iteration, whatever the wall time (determinism)
        self.min_time_s_per_iteration = 0
        self.min_sample_timesteps_per_iteration = 0
        self.min_train_timesteps_per_iteration = 0

    def training(self, *, cost_limit=NotProvided, lagrangian_rule=NotProvided, lambda_lr=NotProvided,
                 lambda_init=NotProvided, pid_kp=NotProvided, pid_ki=NotProvided, pid_kd=NotProvided,
                 pid_ema_alpha=NotProvided, lambda_max=NotProvided, updates_per_iteration=NotProvided,
                 replay_in_checkpoint=NotProvided,
                 target_entropy_per_dim=NotProvided, action_l2=NotProvided, **kwargs) -> "SACLagrangianConfig":
        super().training(**kwargs)
        self._set_given(dict(cost_limit=cost_limit, lagrangian_rule=lagrangian_rule, lambda_lr=lambda_lr,
                             lambda_init=lambda_init, pid_kp=pid_kp, pid_ki=pid_ki, pid_kd=pid_kd,
                             pid_ema_alpha=pid_ema_alpha, lambda_max=lambda_max,
                             updates_per_iteration=updates_per_iteration,
                             replay_in_checkpoint=replay_in_checkpoint,
                             target_entropy_per_dim=target_entropy_per_dim, action_l2=action_l2), NotProvided)
        return self

    def validate(self) -> None:
        super().validate()
        self.lagrange_config()
        if not (isinstance(self.updates_per_iteration, int) and self.updates_per_iteration >= 0):
            raise ValueError(f"updates_per_iteration: must be an integer >= 0, got {self.updates_per_iteration!r}")
        if not (isinstance(self.action_l2, (int, float)) and np.isfinite(self.action_l2) and self.action_l2 >= 0):
            raise ValueError(f"action_l2: must be a finite number >= 0, got {self.action_l2!r}")
        if not isinstance(self.n_step, int) or self.n_step < 1:
            raise ValueError(f"n_step: must be an integer >= 1, got {self.n_step!r}")

    def get_default_learner_class(self):
        return SACLagrangianTorchLearner


class SACLagrangian(SAC):
    @classmethod
    def get_default_config(cls) -> SACLagrangianConfig:
        return SACLagrangianConfig()

    def _create_local_replay_buffer_if_necessary(self, config):
        rb = config["replay_buffer_config"]
        return GraphReplayBuffer(capacity=int(rb.get("capacity", 100_000)), seed=int(config["seed"] or 0),
                                 metrics_num_episodes_for_smoothing=config["metrics_num_episodes_for_smoothing"])

    def training_step(self) -> None:
        cfg = self.config
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, runner_results = synchronous_parallel_sample(
                worker_set=self.env_runner_group, concat=True, sample_timeout_s=cfg.sample_timeout_s,
                _uses_new_env_runners=True, _return_metrics=True)
        self.metrics.aggregate(runner_results, key=ENV_RUNNER_RESULTS)
        fresh_cost = fresh_mean_node_cost(episodes)
        self.local_replay_buffer.add(episodes)
        sampled = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        if sampled < cfg.num_steps_sampled_before_learning_starts or cfg.updates_per_iteration == 0:
            return
        learner_results = None
        for k in range(cfg.updates_per_iteration):
            with self.metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
                replay = self.local_replay_buffer.sample(num_items=cfg.total_train_batch_size, n_step=cfg.n_step,
                                                         gamma=cfg.gamma, sample_episodes=True)
            timesteps = {NUM_ENV_STEPS_SAMPLED_LIFETIME: sampled,
                         NUM_AGENT_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                             (ENV_RUNNER_RESULTS, NUM_AGENT_STEPS_SAMPLED_LIFETIME), default={})}
            if k == cfg.updates_per_iteration - 1 and fresh_cost is not None:
                timesteps[FRESH_COST_KEY] = fresh_cost.tolist()
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                learner_results = self.learner_group.update(episodes=replay, timesteps=timesteps)
            self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(from_worker_or_learner_group=self.learner_group,
                                               policies=set(learner_results[0].keys()) - {ALL_MODULES},
                                               inference_only=True)

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self.config.replay_in_checkpoint and self.local_replay_buffer is not None and components is None:
            state[REPLAY_STATE_KEY] = self.local_replay_buffer.get_state()
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if REPLAY_STATE_KEY in state and self.local_replay_buffer is not None:
            self.local_replay_buffer.set_state(state[REPLAY_STATE_KEY])


class SACLagrangianTorchLearner(LagrangeLearnerMixin, FusedGradientStepMixin, SACTorchLearner):
    def build(self) -> None:
        super().build()
        self._init_multipliers()
        self._skip_optimizers: set[str] = set()  # optimizers that sit out this update (TD3's delayed actor)

    def _get_target_entropy(self, module_id):
        """target_entropy_per_dim x the action components of a node (graph mode: per-node entropy), or
        of all N nodes (the central agent's joint entropy)."""
        cfg = self.config.get_config_for_module(module_id)
        module = self.module[module_id].unwrapped()
        dims = module.action_dim if module.per_node_critic else module.n_max * module.action_dim
        return float(cfg.target_entropy_per_dim) * dims

    uses_temperature = True  # SAC's entropy temperature alpha has its own optimizer (not TD3 / DDPG)

    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        """One Adam per part: the actor, the reward critics (twin or single), the cost critic, alpha."""
        module = self._module[module_id].unwrapped()
        critics = [p for n in ("q1", "q2") if getattr(module, n) is not None for p in getattr(module, n).parameters()]
        groups = [("policy", module.actor_parameters(), config.actor_lr), ("qf", critics, config.critic_lr),
                  ("cf", list(module.qc.parameters()), config.critic_lr)]
        if self.uses_temperature:
            groups.append(("alpha", [self.curr_log_alpha[module_id]], config.alpha_lr))
        for name, params, lr in groups:
            self.register_optimizer(module_id=module_id, optimizer_name=name, optimizer=adam(params, eps=1e-7),
                                    params=params, lr_or_lr_schedule=lr)

    @staticmethod
    def _signals(module, config, batch, dtype):
        """(rewards, costs, discount gamma^n (1 - terminated), weight) per sample: per node in graph
        mode (weight = node mask), the team's mean over the real nodes for the central agent."""
        mask = batch[Columns.OBS]["node_mask"].to(dtype)
        rewards, costs = batch[NODE_REWARDS], batch[NODE_COSTS]
        discount = (config.gamma ** batch["n_step"].to(dtype)) * (1.0 - batch[Columns.TERMINATEDS].to(dtype))
        if module.per_node_critic:
            return rewards, costs, discount[:, None].expand_as(mask), mask
        n = mask.sum(-1).clamp(min=1.0)
        return (rewards * mask).sum(-1) / n, (costs * mask[..., None]).sum(-2) / n[:, None], discount, \
            torch.ones_like(discount)

    def _losses(self, module_id, module, fwd_out, rewards, costs, discount, weight, action_reg):
        """(losses by optimizer, stats) of one module's batch (``action_reg``: :meth:`_action_reg`'s kwargs)."""
        return sac_lagrangian_loss(
            q1=fwd_out[gs.Q1], q2=fwd_out[gs.Q2], qc=fwd_out[gs.QC], q1_pi=fwd_out[gs.Q1_PI], q2_pi=fwd_out[gs.Q2_PI],
            qc_pi=fwd_out[gs.QC_PI], logp_pi=fwd_out[gs.LOGP_PI], q_next=fwd_out[gs.Q_NEXT],
            qc_next=fwd_out[gs.QC_NEXT], logp_next=fwd_out[gs.LOGP_NEXT], rewards=rewards, costs=costs,
            discount=discount, log_alpha=self.curr_log_alpha[module_id],
            target_entropy=self.target_entropy[module_id], multipliers=self.multipliers(module_id), weight=weight,
            **action_reg)

    def _action_reg(self, module_id, module, fwd_out, node_mask) -> dict:
        """``action_sq`` / ``action_l2`` for the loss, when the config asks for the regulariser."""
        coef = float(getattr(self.config.get_config_for_module(module_id), "action_l2", 0.0) or 0.0)
        if not coef:
            return {}
        return {"action_sq": action_sq_per_sample(fwd_out[gs.A_PI], node_mask, module.per_node_critic),
                "action_l2": coef}

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        module = self._module[module_id].unwrapped()
        rewards, costs, discount, weight = self._signals(module, config, batch, fwd_out[gs.Q1].dtype)
        action_reg = self._action_reg(module_id, module, fwd_out, batch[Columns.OBS]["node_mask"])
        losses, stats = self._losses(module_id, module, fwd_out, rewards, costs, discount, weight, action_reg)
        for name, loss in losses.items():
            self._temp_losses[(module_id, name)] = loss
        self.metrics.log_dict({**losses, **stats}, key=module_id, window=1)
        return sum(losses.values())

    def compute_gradients(self, loss_per_module, **kwargs):
        """One backward per optimizer on its own loss (as RLlib's SAC learner), skipping the
        optimizers in ``_skip_optimizers``."""
        grads = {}
        for module_id in set(loss_per_module) - {ALL_MODULES}:
            for name, optim in self.get_optimizers_for_module(module_id):
                loss = self._temp_losses.pop((module_id, name + "_loss"))
                if f"{module_id}_{name}" in self._skip_optimizers:
                    continue
                optim.zero_grad(set_to_none=True)
                loss.backward(retain_graph=True)
                grads.update({pid: p.grad for pid, p in self.filter_param_dict_for_optimizer(self._params, optim).items()})
        assert not self._temp_losses
        return grads

    def apply_gradients(self, gradients_dict) -> None:
        if not self._skip_optimizers:
            return super().apply_gradients(gradients_dict)
        saved = {mid: list(names) for mid, names in self._module_optimizers.items()}
        try:
            for mid in self._module_optimizers:
                self._module_optimizers[mid] = [n for n in saved[mid] if n not in self._skip_optimizers]
            super().apply_gradients(gradients_dict)
        finally:
            self._module_optimizers.update(saved)
            self._skip_optimizers.clear()

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)  # Polyak-averages the targets
        self._after_update_multipliers(timesteps)

    def _after_update_multipliers(self, timesteps: dict[str, Any]) -> None:
        if FRESH_COST_KEY in timesteps:
            for module_id in self.module.keys():
                self.update_multipliers(module_id, timesteps[FRESH_COST_KEY])
        self.log_multipliers()

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        state["log_alpha"] = {mid: float(t.detach().reshape(-1)[0]) for mid, t in self.curr_log_alpha.items()}
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        for mid, v in state.get("log_alpha", {}).items():
            with torch.no_grad():
                self.curr_log_alpha[mid].fill_(v)  # in place: the alpha optimizer holds this tensor
