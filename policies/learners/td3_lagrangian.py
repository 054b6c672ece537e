"""TD3 and DDPG (optionally with the Lagrangian cost term) on the SAC-Lagrangian machinery.

TD3 (Fujimoto, van Hoof & Meger, "Addressing Function Approximation Error in Actor-Critic
Methods", ICML 2018, Algorithm 1) per node in graph mode, or on the joint action:

    a' = clip(mu'(s') + clip(eps, -c, c), low, high),  eps ~ N(0, sigma^2)      (target policy smoothing)
    y_r = r + gamma^n (1 - d) min(Q'_1, Q'_2)(s', a'),   y_c = c + gamma^n (1 - d) Q'_c(s', a')
    L_Q = 1/2 E[(Q_1 - y_r)^2 + (Q_2 - y_r)^2],   L_C = 1/2 E[sum_k (Q_c,k - y_c,k)^2]
    every ``policy_delay`` updates:  L_mu = E[-Q_1(s, mu(s)) + sum_k lambda_k Q_c,k(s, mu(s))],
                                     then the targets (critics and actor) move by tau.

DDPG (Lillicrap et al., ICLR 2016) is the same with one critic, no smoothing and no delay.
``sigma`` and ``c`` are fractions of half the action range; exploration adds Gaussian noise
of ``exploration_noise`` x half the range to mu(s) (the ``deterministic`` head). The
multipliers, replay buffer, per-node columns and checkpointing are SAC-Lagrangian's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.learner.learner import POLICY_LOSS_KEY, Learner
from ray.rllib.core.learner.utils import update_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI

from cfmarl.policies.learners.masking import masked_mean
from cfmarl.policies.learners.sac_lagrangian import (CF_LOSS, QF_LOSS, SACLagrangian, SACLagrangianConfig,
                                                     SACLagrangianTorchLearner, action_regulariser)
from cfmarl.policies.models import graph_sac as gs


def td3_lagrangian_loss(*, q1, q2, qc, q1_pi, qc_pi, q_next, qc_next, rewards, costs, discount, multipliers, weight,
                        twin_q: bool = True, action_sq=None, action_l2=0.0
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The three TD3 / DDPG (-Lagrangian) losses on per-sample tensors (``q_next`` is already the
    min over the target twins for TD3); see :func:`sac_lagrangian_loss` for the conventions."""
    lam = torch.as_tensor(np.asarray(multipliers, dtype=np.float32), device=q1.device)
    with torch.no_grad():
        y = rewards + discount * q_next
        yc = costs + discount[..., None] * qc_next
    sq = (q1 - y) ** 2 + ((q2 - y) ** 2 if twin_q else 0.0)
    qf_loss = 0.5 * masked_mean(sq, weight)
    cf_loss = 0.5 * masked_mean(((qc - yc) ** 2).sum(-1), weight)
    reg = action_regulariser(q1_pi, action_sq, weight, action_l2)  # TD3+BC with action_l2 = 1 / alpha
    policy_loss = masked_mean(-q1_pi + (qc_pi * lam).sum(-1), weight) + reg
    stats = {"q_mean": masked_mean(q1, weight).detach(), "qc_mean": masked_mean(qc.sum(-1), weight).detach(),
             "td_error_mean": masked_mean((q1 - y).abs(), weight).detach(), "action_reg": reg.detach()}
    return {POLICY_LOSS_KEY: policy_loss, QF_LOSS: qf_loss, CF_LOSS: cf_loss}, stats


class TD3LagrangianConfig(SACLagrangianConfig):
    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class or TD3Lagrangian)
        self.policy_delay = 2
        self.target_noise = 0.2
        self.target_noise_clip = 0.5
        self.exploration_noise = 0.1

    def training(self, *, policy_delay=NotProvided, target_noise=NotProvided, target_noise_clip=NotProvided,
                 exploration_noise=NotProvided, **kwargs) -> "TD3LagrangianConfig":
        super().training(**kwargs)
        self._set_given(dict(policy_delay=policy_delay, target_noise=target_noise, target_noise_clip=target_noise_clip,
                             exploration_noise=exploration_noise), NotProvided)
        return self

    def validate(self) -> None:
        super().validate()
        if not (isinstance(self.policy_delay, int) and self.policy_delay >= 1):
            raise ValueError(f"policy_delay: must be an integer >= 1, got {self.policy_delay!r}")
        for name in ("target_noise", "target_noise_clip", "exploration_noise"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: must be a finite number >= 0, got {v!r}")

    def get_default_learner_class(self):
        return TD3LagrangianTorchLearner


class TD3Lagrangian(SACLagrangian):
    @classmethod
    def get_default_config(cls) -> TD3LagrangianConfig:
        return TD3LagrangianConfig()


class TD3LagrangianTorchLearner(SACLagrangianTorchLearner):
    """Critics every update; the actor and the targets every ``policy_delay`` updates."""

    def build(self) -> None:
        super().build()
        self._updates: dict[str, int] = {}

    def _policy_step(self, module_id) -> bool:
        return self._updates.get(module_id, 0) % self.config.get_config_for_module(module_id).policy_delay == 0

    uses_temperature = False

    def _losses(self, module_id, module, fwd_out, rewards, costs, discount, weight, action_reg):
        if not self._policy_step(module_id):  # the actor sits this update out
            self._skip_optimizers.add(f"{module_id}_policy")
        return td3_lagrangian_loss(
            q1=fwd_out[gs.Q1], q2=fwd_out[gs.Q2], qc=fwd_out[gs.QC], q1_pi=fwd_out[gs.Q1_PI], qc_pi=fwd_out[gs.QC_PI],
            q_next=fwd_out[gs.Q_NEXT], qc_next=fwd_out[gs.QC_NEXT], rewards=rewards, costs=costs, discount=discount,
            multipliers=self.multipliers(module_id), weight=weight, twin_q=module.twin_q, **action_reg)

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        Learner.after_gradient_based_update(self, timesteps=timesteps)  # lr schedules; not DQN's every-step Polyak
        for module_id, module in self.module._rl_modules.items():
            m = module.unwrapped()
            if self._policy_step(module_id) and isinstance(m, TargetNetworkAPI):
                tau = self.config.get_config_for_module(module_id).tau
                for main, target in m.get_target_network_pairs():
                    update_target_network(main_net=main, target_net=target, tau=tau)
            self._updates[module_id] = self._updates.get(module_id, 0) + 1
        self._after_update_multipliers(timesteps)

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        state["td3_updates"] = dict(self._updates)
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        self._updates = dict(state.get("td3_updates", self._updates))

