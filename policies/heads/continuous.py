"""Per-node distributions for bounded continuous actions ``Box(low, high, (N, D))``.

Which and why. The default is a **Beta** per action component (Chou, Maturana &
Scherer, ICML 2017): its support is exactly [low, high], so every sample is a valid
action, ``logp`` of a stored action needs no inversion and is exact at any point of
the interval, and the entropy has a closed form - what PPO's ratio and entropy
bonus need. Parameters per node: 2 D raw outputs z; alpha = 1 + softplus(z[:D]),
beta = 1 + softplus(z[D:]) (alpha, beta > 1: unimodal, no mass piling at the bounds).
With a = low + (high - low) x, x ~ Beta(alpha, beta):

    log pi(a) = sum_d [ log Beta(x_d; alpha_d, beta_d) - log(high_d - low_d) ]
    H        = sum_d [ H_Beta(alpha_d, beta_d) + log(high_d - low_d) ]

The **squashed Gaussian** (Haarnoja et al. 2018, App. C) is kept for SAC, whose
reparameterised actor loss it suits: u ~ N(mu, sigma), a = low + (tanh(u) + 1)(high - low)/2.
Change of variables (the squash correction):

    log pi(a) = sum_d [ log N(u_d; mu_d, sigma_d) - log(1 - tanh(u_d)^2) - log((high_d - low_d) / 2) ],
    log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2 u))      (numerically stable form),

with u = atanh(y), y = 2 (a - low)/(high - low) - 1 clipped to +-(1 - 1e-6) for a stored
action. Its entropy has no closed form: ``entropy()`` returns the single-sample
reparameterised estimate -log pi(a), a ~ pi (unbiased, differentiable).

All tensors are (B, N, 2D) in, (B, N, D) actions and (B, N) logp / entropy out.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from ray.rllib.core.distribution.torch.torch_distribution import TorchDistribution

EPS = 1e-6
LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class _Bounded(TorchDistribution):
    """Base: class attributes ``low`` / ``high`` (tuples, one per action component)."""

    discrete = False
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()

    def _bounds(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = torch.as_tensor(self.low, dtype=like.dtype, device=like.device)
        return low, torch.as_tensor(self.high, dtype=like.dtype, device=like.device) - low

    @classmethod
    def required_input_dim(cls, space, **kwargs) -> int:
        return 2 * int(space.shape[-1])


class PerNodeBeta(_Bounded):
    def __init__(self, alpha: torch.Tensor, beta: torch.Tensor):
        self.alpha, self.beta = alpha, beta
        super().__init__(alpha, beta)

    def _get_torch_distribution(self, alpha, beta):
        return torch.distributions.Beta(alpha, beta, validate_args=False)

    @classmethod
    def from_logits(cls, logits, **kwargs):
        d = logits.shape[-1] // 2
        return cls(1.0 + F.softplus(logits[..., :d]), 1.0 + F.softplus(logits[..., d:]))

    def _to_action(self, x):
        low, span = self._bounds(x)
        return low + span * x

    def sample(self, *, sample_shape=None):
        return self._to_action(self._dist.sample(sample_shape or torch.Size()))

    def rsample(self, *, sample_shape=None):
        return self._to_action(self._dist.rsample(sample_shape or torch.Size()))

    def logp(self, value, **kwargs):
        low, span = self._bounds(self.alpha)
        x = ((value.to(self.alpha.dtype) - low) / span).clamp(EPS, 1.0 - EPS)
        return (self._dist.log_prob(x) - torch.log(span)).sum(-1)

    def entropy(self):
        _, span = self._bounds(self.alpha)
        return (self._dist.entropy() + torch.log(span)).sum(-1)

    def kl(self, other):
        return torch.distributions.kl_divergence(self._dist, other._dist).sum(-1)

    def to_deterministic(self) -> "PerNodeDeterministic":
        return PerNodeDeterministic(self._to_action(self.alpha / (self.alpha + self.beta)))


class PerNodeSquashedGaussian(_Bounded):
    def __init__(self, loc: torch.Tensor, log_std: torch.Tensor):
        self.loc, self.log_std = loc, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        super().__init__(self.loc, self.log_std)

    def _get_torch_distribution(self, loc, log_std):
        return torch.distributions.Normal(loc, log_std.exp(), validate_args=False)

    @classmethod
    def from_logits(cls, logits, **kwargs):
        d = logits.shape[-1] // 2
        return cls(logits[..., :d], logits[..., d:])

    def _squash(self, u):
        low, span = self._bounds(u)
        return low + 0.5 * (torch.tanh(u) + 1.0) * span

    def _logp_u(self, u):
        _, span = self._bounds(u)
        log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))  # log(1 - tanh(u)^2)
        return (self._dist.log_prob(u) - log_det - torch.log(0.5 * span)).sum(-1)

    def sample(self, *, sample_shape=None):
        return self._squash(self._dist.sample(sample_shape or torch.Size()))

    def rsample(self, *, sample_shape=None):
        return self._squash(self._dist.rsample(sample_shape or torch.Size()))

    def sample_and_logp(self, *, sample_shape=None):
        u = self._dist.sample(sample_shape or torch.Size())
        return self._squash(u), self._logp_u(u)

    def rsample_and_logp(self, *, sample_shape=None):
        u = self._dist.rsample(sample_shape or torch.Size())
        return self._squash(u), self._logp_u(u)

    def logp(self, value, **kwargs):
        low, span = self._bounds(self.loc)
        y = (2.0 * (value.to(self.loc.dtype) - low) / span - 1.0).clamp(-1.0 + EPS, 1.0 - EPS)
        return self._logp_u(torch.atanh(y))

    def entropy(self):
        return -self.rsample_and_logp()[1]

    def kl(self, other):  # KL is invariant under the (shared, invertible) squash
        return torch.distributions.kl_divergence(self._dist, other._dist).sum(-1)

    def to_deterministic(self) -> "PerNodeDeterministic":
        return PerNodeDeterministic(self._squash(self.loc))


class PerNodeDeterministic:
    """Deterministic per-node action (greedy evaluation of a continuous head)."""

    def __init__(self, action: torch.Tensor):
        self.action = action

    def sample(self, **kwargs):
        return self.action

    def logp(self, value, **kwargs):
        return torch.zeros(value.shape[:-1], dtype=self.action.dtype, device=self.action.device)

    def sample_and_logp(self, **kwargs):
        return self.action, self.logp(self.action)

    def to_deterministic(self):
        return self


class PerNodeNoisyDeterministic(_Bounded):
    """The deterministic actor of DDPG / TD3 (Lillicrap et al. 2016; Fujimoto et al. 2018): D raw outputs
    z per node, mu = low + (tanh(z) + 1)(high - low)/2; exploration adds Gaussian noise of standard
    deviation ``noise`` x (high - low)/2 and clips to the bounds; the greedy action is mu. No density:
    ``logp`` is 0 (the off-policy learners never use it)."""

    noise: float = 0.1

    def __init__(self, mean: torch.Tensor):
        self.mean = mean

    def _get_torch_distribution(self, *args):  # pragma: no cover - no torch distribution behind it
        raise NotImplementedError

    @classmethod
    def required_input_dim(cls, space, **kwargs) -> int:
        return int(space.shape[-1])

    @classmethod
    def from_logits(cls, logits, **kwargs):
        low, span = cls._bounds(cls, logits)
        return cls(low + 0.5 * (torch.tanh(logits) + 1.0) * span)

    def sample(self, *, sample_shape=None):
        low, span = self._bounds(self.mean)
        noisy = self.mean + self.noise * 0.5 * span * torch.randn_like(self.mean)
        return torch.minimum(torch.maximum(noisy, low), low + span)

    def rsample(self, *, sample_shape=None):
        return self.mean

    def logp(self, value, **kwargs):
        return torch.zeros(value.shape[:-1], dtype=self.mean.dtype, device=self.mean.device)

    def sample_and_logp(self, **kwargs):
        a = self.sample()
        return a, self.logp(a)

    def entropy(self):
        return torch.zeros(self.mean.shape[:-1], dtype=self.mean.dtype, device=self.mean.device)

    def kl(self, other):
        return torch.zeros(self.mean.shape[:-1], dtype=self.mean.dtype, device=self.mean.device)

    def to_deterministic(self) -> "PerNodeDeterministic":
        return PerNodeDeterministic(self.mean)


@functools.lru_cache(maxsize=None)
def make_noisy_deterministic(low: tuple[float, ...], high: tuple[float, ...],
                             noise: float = 0.1) -> type[PerNodeNoisyDeterministic]:
    """A :class:`PerNodeNoisyDeterministic` bound to ``low`` / ``high`` with exploration noise ``noise``."""
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"algorithm.exploration_noise: must be a finite number >= 0, got {noise!r}")
    return type(f"PerNodeNoisyDeterministic{_tag(low, high)}~{noise:g}", (PerNodeNoisyDeterministic,),
                {"low": tuple(low), "high": tuple(high), "noise": float(noise)})


@functools.lru_cache(maxsize=None)
def make_beta(low: tuple[float, ...], high: tuple[float, ...]) -> type[PerNodeBeta]:
    """A :class:`PerNodeBeta` bound to per-component bounds ``low`` / ``high``."""
    return type(f"PerNodeBeta{_tag(low, high)}", (PerNodeBeta,), {"low": tuple(low), "high": tuple(high)})


@functools.lru_cache(maxsize=None)
def make_squashed_gaussian(low: tuple[float, ...], high: tuple[float, ...]) -> type[PerNodeSquashedGaussian]:
    """A :class:`PerNodeSquashedGaussian` bound to per-component bounds ``low`` / ``high``."""
    return type(f"PerNodeSquashedGaussian{_tag(low, high)}", (PerNodeSquashedGaussian,),
                {"low": tuple(low), "high": tuple(high)})


def _tag(low, high) -> str:
    """A class-name suffix for the bounds: the bound classes are not importable by name, so
    plain pickle refuses them loudly and cloudpickle (Ray) ships them by value."""
    return f"[{','.join(f'{v:g}' for v in low)}|{','.join(f'{v:g}' for v in high)}]"
