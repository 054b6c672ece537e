"""PPO-Lagrangian (MAPPO-L with parameter sharing) on RLlib's new API stack.

* :class:`PPOLagrangianConfig` - a typed ``PPOConfig`` subclass:
  ``.training(cost_limit=..., lagrangian_rule="gradient"|"pid"|"multiplicative"|"none", lambda_lr=...,
  lambda_init=..., pid_kp=..., pid_ki=..., pid_kd=..., pid_ema_alpha=..., value_chunk_size=...,
  multiplier_per_graph=..., critic_warmup_iterations=..., entropy_floor=..., entropy_floor_lr=...,
  entropy_floor_max=..., entropy_floor_push=..., entropy_ceiling=...)``.
* :class:`PPOLagrangianTorchLearner` - per-node GAE for reward and cost
  (:class:`PerNodeGAE` replaces RLlib's GAE connector), the Lagrangian advantage
  (A_r - sum_i lambda_i A_c,i) / (1 + sum_i lambda_i), the clipped surrogate per
  node (or on the joint log-probability for a team-critic module), reward and
  cost value losses and an entropy bonus. One multiplier per module and
  constraint, updated after the gradient step from the iteration's exact mean
  per-node cost (:mod:`lagrange`) - or, with ``multiplier_per_graph`` on a mixture of sizes, one
  multiplier per graph and constraint, each sample's advantage weighted by its own graph's; the
  multipliers and their rule state are learner state (checkpointed, restored) and logged every iteration under
  ``learners/<module>/lagrange/...``.

Critic warm-up (``critic_warmup_iterations`` = W > 0): the first W iterations train only the reward and cost
value heads, on embeddings detached from the shared encoder, so the policy (a behaviour-cloned warm start) stays
exactly as it is while the critics learn its values; the policy's first update then uses trained baselines
instead of freshly initialised ones. The multipliers update as usual meanwhile (they settle on the warm start's
cost). The iteration count is the multiplier state's ``updates`` (checkpointed), so a resumed run continues the
warm-up where it stopped.

Entropy floor (``entropy_floor`` > 0, :mod:`entropy_floor`): an entropy bonus (or a push towards the uniform
policy) whose weight rises like a multiplier while the mean per-sample entropy is below the floor (and back to 0
above it), so a walk does not freeze in a deterministic policy; ``entropy_ceiling`` > 0 the mirror image (an
entropy penalty whose weight rises while the entropy is above the ceiling).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.learner import GeneralAdvantageEstimation
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY

from cfmarl.policies.learners.entropy_floor import EntropyFloorLearnerMixin, validate_floor
from cfmarl.policies.learners.fused_step import FusedGradientStepMixin
from cfmarl.policies.learners.lagrange_learner import LagrangeConfigMixin, LagrangeLearnerMixin
from cfmarl.policies.learners.masking import masked_mean
from cfmarl.policies.learners.per_node_gae import NODE_ADV_C, NODE_ADV_R, NODE_VT_C, NODE_VT_R, PerNodeGAE

COST_VF_LOSS_KEY = "cost_vf_loss"


class PPOLagrangianConfig(LagrangeConfigMixin, PPOConfig):
    """PPOConfig plus the Lagrangian constraint settings."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or PPOLagrangian)
        self._init_lagrange()
        self.value_chunk_size = 256
        self.advantage_scaling = "joint"
        self.use_kl_loss = False
        self.critic_warmup_iterations = 0
        self.entropy_floor = 0.0
        self.entropy_floor_lr = 0.02
        self.entropy_floor_max = 1.0
        self.entropy_floor_push = "entropy"
        self.entropy_ceiling = 0.0

    def training(self, *, cost_limit=NotProvided, lagrangian_rule=NotProvided, lambda_lr=NotProvided,
                 lambda_init=NotProvided, pid_kp=NotProvided, pid_ki=NotProvided, pid_kd=NotProvided,
                 pid_ema_alpha=NotProvided, lambda_max=NotProvided, value_chunk_size=NotProvided,
                 advantage_scaling=NotProvided,
                 multiplier_per_graph=NotProvided, critic_warmup_iterations=NotProvided,
                 entropy_floor=NotProvided, entropy_floor_lr=NotProvided, entropy_floor_max=NotProvided,
                 entropy_floor_push=NotProvided, entropy_ceiling=NotProvided, **kwargs) -> "PPOLagrangianConfig":
        super().training(**kwargs)
        self._set_given(dict(cost_limit=cost_limit, lagrangian_rule=lagrangian_rule, lambda_lr=lambda_lr,
                             lambda_init=lambda_init, pid_kp=pid_kp, pid_ki=pid_ki, pid_kd=pid_kd,
                             pid_ema_alpha=pid_ema_alpha, lambda_max=lambda_max, value_chunk_size=value_chunk_size,
                             advantage_scaling=advantage_scaling, multiplier_per_graph=multiplier_per_graph,
                             critic_warmup_iterations=critic_warmup_iterations, entropy_floor=entropy_floor,
                             entropy_floor_lr=entropy_floor_lr, entropy_floor_max=entropy_floor_max,
                             entropy_floor_push=entropy_floor_push, entropy_ceiling=entropy_ceiling), NotProvided)
        return self

    def validate(self) -> None:
        super().validate()
        self.lagrange_config()  # raises ValueError naming the bad field
        if self.advantage_scaling not in ("joint", "separate"):
            raise ValueError(f"advantage_scaling: must be 'joint' or 'separate', got {self.advantage_scaling!r}")
        if not (isinstance(self.value_chunk_size, int) and self.value_chunk_size >= 1):
            raise ValueError(f"value_chunk_size: must be an integer >= 1, got {self.value_chunk_size!r}")
        if not isinstance(self.multiplier_per_graph, bool):
            raise ValueError(f"multiplier_per_graph: must be true or false, got {self.multiplier_per_graph!r}")
        w = self.critic_warmup_iterations
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise ValueError(f"critic_warmup_iterations: must be an integer >= 0, got {w!r}")
        validate_floor(self.entropy_floor, self.entropy_floor_lr, self.entropy_floor_max, self.entropy_floor_push,
                       self.entropy_ceiling)

    def get_default_learner_class(self):
        return PPOLagrangianTorchLearner


class PPOLagrangian(PPO):
    @classmethod
    def get_default_config(cls) -> PPOLagrangianConfig:
        return PPOLagrangianConfig()


def ppo_lagrangian_loss(*, logp: torch.Tensor, old_logp: torch.Tensor, entropy: torch.Tensor,
                        adv_r: torch.Tensor, adv_c: torch.Tensor, values: torch.Tensor, value_targets: torch.Tensor,
                        cost_values: torch.Tensor, cost_targets: torch.Tensor, weight: torch.Tensor,
                        multipliers, clip_param: float, vf_clip_param: float, vf_loss_coeff: float,
                        entropy_coeff: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The PPO-Lagrangian loss on per-sample tensors (one sample = a node-step, or a
    step for a joint action). ``adv_c``, ``cost_*`` carry a trailing constraint axis;
    ``multipliers`` is one value per constraint, or a tensor broadcastable to ``adv_c`` (each
    sample's own multipliers); ``weight`` masks padding and artificial steps."""
    lam = multipliers if isinstance(multipliers, torch.Tensor) else \
        torch.as_tensor(np.asarray(multipliers, dtype=np.float32), device=adv_r.device)
    adv = (adv_r - (adv_c * lam).sum(-1)) / (1.0 + lam.sum(-1))
    ratio = torch.exp(logp - old_logp)
    surrogate = torch.minimum(adv * ratio, adv * torch.clamp(ratio, 1 - clip_param, 1 + clip_param))
    policy_loss = -masked_mean(surrogate, weight)
    vf_loss = masked_mean(torch.clamp((values - value_targets) ** 2, 0, vf_clip_param), weight)
    cost_vf_loss = masked_mean(torch.clamp((cost_values - cost_targets) ** 2, 0, vf_clip_param).sum(-1), weight)
    mean_entropy = masked_mean(entropy, weight)
    total = policy_loss + vf_loss_coeff * (vf_loss + cost_vf_loss) - entropy_coeff * mean_entropy
    return total, {POLICY_LOSS_KEY: policy_loss, VF_LOSS_KEY: vf_loss, COST_VF_LOSS_KEY: cost_vf_loss,
                   ENTROPY_KEY: mean_entropy}


class PPOLagrangianTorchLearner(LagrangeLearnerMixin, EntropyFloorLearnerMixin, FusedGradientStepMixin,
                                 PPOTorchLearner):
    def build(self) -> None:
        super().build()
        self._init_multipliers()
        self._init_entropy_floor()
        self._pending_cost: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self._learner_connector is not None and self.config.add_default_connectors_to_learner_pipeline:
            self._learner_connector.remove(GeneralAdvantageEstimation)
            self._learner_connector.append(PerNodeGAE(gamma=self.config.gamma, lambda_=self.config.lambda_,
                                                      value_chunk_size=self.config.value_chunk_size,
                                                      advantage_scaling=self.config.advantage_scaling,
                                                      on_mean_cost=self._record_mean_cost,
                                                      per_graph=self.config.multiplier_per_graph))

    def _record_mean_cost(self, module_id: str, mean_cost: np.ndarray, observed: np.ndarray) -> None:
        self._pending_cost[module_id] = (np.asarray(mean_cost, float), np.asarray(observed, bool))

    def sample_multipliers(self, module_id: str, batch) -> torch.Tensor | list[float]:
        """The multipliers each sample's advantage uses: one list for all, or per row (R, C) from the row's
        graph with ``multiplier_per_graph``."""
        table = self.multiplier_table(module_id)
        if table.shape[0] == 1:
            return table[0].tolist()
        gid = batch[Columns.OBS]["graph_id"].reshape(-1).round().long()
        return torch.as_tensor(table, dtype=torch.float32, device=gid.device)[gid]

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        module = self.module[module_id].unwrapped()
        dist = module.get_train_action_dist_cls().from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        logp = dist.logp(batch[Columns.ACTIONS])  # (R, N)
        entropy = dist.entropy()
        old_logp = batch[Columns.ACTION_LOGP]
        node_mask = batch[Columns.OBS]["node_mask"]
        row_mask = batch[Columns.LOSS_MASK].to(node_mask.dtype) if Columns.LOSS_MASK in batch else \
            torch.ones(node_mask.shape[0], device=node_mask.device)
        emb = fwd_out[Columns.EMBEDDINGS]
        warmup = self.in_critic_warmup(module_id)
        if warmup:  # the value heads only: the shared encoder and the policy get no gradient
            emb = emb.detach()
        values = module.compute_values(batch, embeddings=emb)
        cost_values = module.compute_cost_values(batch, embeddings=emb)
        lam = self.sample_multipliers(module_id, batch)
        if module.per_node_critic:
            weight = node_mask * row_mask[:, None]
            if isinstance(lam, torch.Tensor):
                lam = lam[:, None, :]  # (R, 1, C): every node of a row on the row's graph
        else:  # joint action: one sample per step, log-probabilities of the nodes add up
            logp = (logp * node_mask).sum(-1)
            old_logp = (old_logp * node_mask).sum(-1)
            entropy = (entropy * node_mask).sum(-1)
            weight = row_mask
        total, stats = ppo_lagrangian_loss(
            logp=logp, old_logp=old_logp, entropy=entropy, adv_r=batch[NODE_ADV_R], adv_c=batch[NODE_ADV_C],
            values=values, value_targets=batch[NODE_VT_R], cost_values=cost_values, cost_targets=batch[NODE_VT_C],
            weight=weight, multipliers=lam, clip_param=config.clip_param,
            vf_clip_param=config.vf_clip_param, vf_loss_coeff=config.vf_loss_coeff,
            entropy_coeff=self.entropy_coeff_schedulers_per_module[module_id].get_current_value())
        self.record_entropy(module_id, stats[ENTROPY_KEY].detach())
        push = self.floor_push(module_id, dist, node_mask, weight, joint=not module.per_node_critic, entropy=entropy)
        if push is not None:
            total = total + push
        if warmup:
            total = config.vf_loss_coeff * (stats[VF_LOSS_KEY] + stats[COST_VF_LOSS_KEY])
        self.metrics.log_dict(stats, key=module_id, window=1)
        self.metrics.log_value((module_id, "critic_warmup"), float(warmup), window=1)
        return total

    def in_critic_warmup(self, module_id: str) -> bool:
        """Whether this iteration trains the value heads only (the first ``critic_warmup_iterations``)."""
        w = self.config.get_config_for_module(module_id).critic_warmup_iterations
        return w > 0 and min(self.lagrange_state(module_id)["updates"]) < w

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        frozen = {module_id: self.in_critic_warmup(module_id) for module_id in self.module.keys()}  # this iteration's
        for module_id, (mean_cost, observed) in self._pending_cost.items():
            self.update_multipliers(module_id, mean_cost, observed)
        self._pending_cost.clear()
        self.log_multipliers()
        self.update_entropy_floor(frozen=lambda module_id: frozen.get(module_id, False))
