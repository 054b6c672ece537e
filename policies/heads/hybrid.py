"""Per-node hybrid distribution for bounded actions that the env partly quantises.

Some envs read a component of their ``Box`` action only through a rounding to ``L``
evenly spaced levels: URLLC's scheduling threshold (eq. 13, 2 levels: x > 0) and beam
index (eq. 14, M levels: round((x + 1)(M - 1)/2)). A continuous head spends its
exploration noise and its likelihood on the inside of those cells, where the env cannot
tell actions apart; sampled thresholds flip at random whatever the policy has learnt.
The env declares the levels (core attribute ``action_levels``: one int per action
component of a node, 0 = continuous) and this head models each quantised component as a
**categorical over its L levels** (a Bernoulli when L = 2) emitting the level's value
low + (high - low) k / (L - 1), and each continuous component as a **Beta** (as
:class:`~cfmarl.policies.heads.continuous.PerNodeBeta`). The components are independent
given the node's parameters, so

    log pi(a) = sum_{d quantised} log softmax(z_d)[k_d] + sum_{d continuous} log Beta(...)
    H         = sum_{d quantised} H(Categorical(z_d)) + sum_{d continuous} H_Beta(...)

with k_d = round((a_d - low_d) / (high_d - low_d) (L_d - 1)) - the env's own reading of
a stored action, so actions from any policy (a teacher's uniform samples included) get
the log-probability of the decision the env makes from them.

Parameter layout per node: for each distinct L (ascending), the L logits of each of its
components (component-major); then alpha raw outputs and beta raw outputs of the
continuous components. One categorical per distinct L: no per-component Python loop.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from ray.rllib.core.distribution.torch.torch_distribution import TorchDistribution

from cfmarl.policies.heads.continuous import EPS, PerNodeDeterministic


class PerNodeHybrid(TorchDistribution):
    """Class attributes (set by :func:`make_hybrid`): ``low``, ``high``, ``levels`` (tuples per component)."""

    discrete = False
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    levels: tuple[int, ...] = ()

    # ------------------------------------------------------------------ layout
    @classmethod
    def groups(cls) -> list[tuple[int, list[int]]]:
        """[(L, component indices)] for each distinct L > 0, ascending."""
        return [(L, [d for d, l in enumerate(cls.levels) if l == L]) for L in sorted({l for l in cls.levels if l})]

    @classmethod
    def continuous(cls) -> list[int]:
        return [d for d, l in enumerate(cls.levels) if l == 0]

    @classmethod
    def param_dim(cls) -> int:
        return sum(L * len(idx) for L, idx in cls.groups()) + 2 * len(cls.continuous())

    @classmethod
    def required_input_dim(cls, space=None, **kwargs) -> int:
        return cls.param_dim()

    def __init__(self, logits: torch.Tensor):
        self.logits = logits
        super().__init__(logits)

    def _get_torch_distribution(self, logits):
        lead = logits.shape[:-1]
        self._cats, at = [], 0
        for L, idx in self.groups():
            n = L * len(idx)
            cat = torch.distributions.Categorical(logits=logits[..., at:at + n].reshape(*lead, len(idx), L),
                                                    validate_args=False)
            self._cats.append((L, idx, cat))
            at += n
        cont = self.continuous()
        self._cont = cont
        if cont:
            c = len(cont)
            alpha = 1.0 + F.softplus(logits[..., at:at + c])
            beta = 1.0 + F.softplus(logits[..., at + c:at + 2 * c])
            return torch.distributions.Beta(alpha, beta, validate_args=False)
        return None

    @classmethod
    def from_logits(cls, logits, **kwargs):
        return cls(logits)

    # ------------------------------------------------------------------ helpers
    def _bounds(self, idx, like):
        return self._level_grid(idx, like)

    def _level_value(self, L, idx, k):
        low, span = self._bounds(idx, self.logits)
        return low + span * k.to(self.logits.dtype) / (L - 1)

    def _assemble(self, parts, like_shape):
        out = torch.empty(*like_shape, len(self.levels), dtype=self.logits.dtype, device=self.logits.device)
        for idx, value in parts:
            out[..., idx] = value
        return out

    @classmethod
    def _level_grid(cls, idx, like) -> tuple[torch.Tensor, torch.Tensor]:
        low = torch.as_tensor([cls.low[d] for d in idx], dtype=like.dtype, device=like.device)
        return low, torch.as_tensor([cls.high[d] for d in idx], dtype=like.dtype, device=like.device) - low

    @classmethod
    def _level_index(cls, value, L, idx) -> torch.Tensor:
        """The level k the env reads from ``value``'s components ``idx``: round((a - low)/(high - low) (L - 1))."""
        low, span = cls._level_grid(idx, value)
        return torch.round((value[..., idx] - low) / span * (L - 1)).clamp(0, L - 1)

    @classmethod
    def quantise(cls, value: torch.Tensor) -> torch.Tensor:
        """The action as the env reads it: quantised components snapped to their level's value."""
        out = value.clone()
        for L, idx in cls.groups():
            low, span = cls._level_grid(idx, value)
            out[..., idx] = low + span * cls._level_index(value, L, idx) / (L - 1)
        return out

    def _levels_of(self, value, L, idx):
        return self._level_index(value.to(self.logits.dtype), L, idx).long()

    # ------------------------------------------------------------------ API
    def _draw(self, rsample: bool, sample_shape):
        shape = sample_shape or torch.Size()
        parts = [(idx, self._level_value(L, idx, cat.sample(shape))) for L, idx, cat in self._cats]
        if self._cont:
            low, span = self._bounds(self._cont, self.logits)
            x = self._dist.rsample(shape) if rsample else self._dist.sample(shape)
            parts.append((self._cont, low + span * x))
        return self._assemble(parts, tuple(shape) + tuple(self.logits.shape[:-1]))

    def sample(self, *, sample_shape=None):
        return self._draw(False, sample_shape)

    def rsample(self, *, sample_shape=None):
        raise NotImplementedError("the hybrid head has categorical components: no reparameterised sample "
                                  "(use beta or squashed_gaussian for reparameterised learners)")

    def logp(self, value, **kwargs):
        total = self.level_logp(value)
        if self._cont:
            low, span = self._bounds(self._cont, self.logits)
            x = ((value[..., self._cont].to(self.logits.dtype) - low) / span).clamp(EPS, 1.0 - EPS)
            total = total + (self._dist.log_prob(x) - torch.log(span)).sum(-1)
        return total

    def level_logp(self, value):
        """Log-probability of the quantised components alone (the cross-entropy part of behaviour cloning)."""
        total = torch.zeros(self.logits.shape[:-1], dtype=self.logits.dtype, device=self.logits.device)
        for L, idx, cat in self._cats:
            total = total + cat.log_prob(self._levels_of(value, L, idx)).sum(-1)
        return total

    def entropy(self):
        total = torch.zeros(self.logits.shape[:-1], dtype=self.logits.dtype, device=self.logits.device)
        for _, _, cat in self._cats:
            total = total + cat.entropy().sum(-1)
        if self._cont:
            _, span = self._bounds(self._cont, self.logits)
            total = total + (self._dist.entropy() + torch.log(span)).sum(-1)
        return total

    def kl(self, other):
        total = torch.zeros(self.logits.shape[:-1], dtype=self.logits.dtype, device=self.logits.device)
        for (_, _, p), (_, _, q) in zip(self._cats, other._cats):
            total = total + torch.distributions.kl_divergence(p, q).sum(-1)
        if self._cont:
            total = total + torch.distributions.kl_divergence(self._dist, other._dist).sum(-1)
        return total

    def to_deterministic(self) -> PerNodeDeterministic:
        parts = [(idx, self._level_value(L, idx, cat.logits.argmax(-1))) for L, idx, cat in self._cats]
        if self._cont:
            low, span = self._bounds(self._cont, self.logits)
            parts.append((self._cont, low + span * self._dist.mean))
        return PerNodeDeterministic(self._assemble(parts, tuple(self.logits.shape[:-1])))


def check_levels(levels, width: int) -> tuple[int, ...]:
    """Validate an env's ``action_levels`` against its per-node action width."""
    levels = tuple(int(v) for v in levels)
    if len(levels) != width:
        raise ValueError(f"action_levels: one entry per action component ({width}), got {len(levels)}")
    if any(v < 0 or v == 1 for v in levels):
        raise ValueError("action_levels: each entry must be 0 (continuous) or a number of levels >= 2")
    return levels


@functools.lru_cache(maxsize=None)
def make_hybrid(low: tuple[float, ...], high: tuple[float, ...], levels: tuple[int, ...]) -> type[PerNodeHybrid]:
    """A :class:`PerNodeHybrid` bound to per-component bounds and levels."""
    tag = ",".join(f"{lo:g}:{hi:g}:{L}" for lo, hi, L in zip(low, high, levels))
    return type(f"PerNodeHybrid[{tag}]", (PerNodeHybrid,), {"low": tuple(low), "high": tuple(high),
                                                            "levels": tuple(levels)})
