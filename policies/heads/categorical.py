"""Per-node categorical distribution over (B, N, A) logits (Bernoulli when A = 2).

The heads build torch distributions with ``validate_args=False``: the actions they score come
from the env runner (validated by the env), and the per-call support check was 11 % of an
APS-GNN learner update at medium on a CPU."""

from __future__ import annotations

import math

import torch
from ray.rllib.core.distribution.torch.torch_distribution import TorchDistribution


class PerNodeCategorical(TorchDistribution):
    """Independent categorical per node over the last axis of (B, N, A) logits.

    ``logp(a)`` = log softmax(logits)[a] per node, (B, N); ``entropy`` per node."""

    discrete = True

    def _get_torch_distribution(self, logits):
        return torch.distributions.Categorical(logits=logits, validate_args=False)

    def logp(self, value, **kwargs):
        return self._dist.log_prob(value.long())

    @classmethod
    def required_input_dim(cls, space, **kwargs) -> int:
        return int(space.nvec.reshape(-1)[0])

    @classmethod
    def from_logits(cls, logits, **kwargs):
        return cls(logits=logits)

    def uniform_kl(self) -> torch.Tensor:
        """KL(uniform || pi) per node, (B, N): -mean_a log pi(a) - log A. Its gradient in the logits is
        pi - 1/A, which does not vanish as the node becomes certain (the entropy's does): the push of
        ``algorithm.entropy_floor`` (policies/learners/entropy_floor.py)."""
        log_p = self._dist.logits  # normalised log-probabilities
        return -log_p.mean(-1) - math.log(log_p.shape[-1])

    def to_deterministic(self) -> "PerNodeArgmax":
        return PerNodeArgmax(self._dist.logits)


class PerNodeArgmax:
    """Greedy per-node action (inference): argmax of each node's logits."""

    def __init__(self, logits: torch.Tensor):
        self.logits = logits

    def sample(self, **kwargs):
        return torch.argmax(self.logits, dim=-1)

    def logp(self, value, **kwargs):
        return torch.zeros(value.shape, dtype=self.logits.dtype, device=self.logits.device)

    def sample_and_logp(self, **kwargs):
        a = self.sample()
        return a, self.logp(a)

    def to_deterministic(self):
        return self
