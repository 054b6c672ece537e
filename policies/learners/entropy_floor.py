"""Entropy floor (and ceiling): an exploration term whose weight rises like a Lagrange multiplier when the policy's
entropy falls below a target, and falls back to 0 above it (SAC's automatic temperature, for PPO); and its mirror
image, an entropy penalty whose weight rises while the entropy is above a ceiling.

The floor treats ``H >= entropy_floor`` as a constraint with its own multiplier ``extra`` >= 0, stepped by dual
ascent on the relative shortfall (clipped to [-1, 1], so a policy far above the floor sheds the term at the rate a
collapsed one gains it)::

    extra <- clip(extra + entropy_floor_lr * clip(1 - H / entropy_floor, -1, 1), 0, entropy_floor_max)

and the loss adds ``extra * mean(push)``. H is the iteration's mean entropy per loss sample over its minibatches,
logged as ``entropy_band/entropy`` (``loss/entropy`` is the last minibatch's): per node for a per-node critic, of
the joint action (nodes summed, the push too) for a team critic. ``extra`` starts at 0, does not move during a
critic warm-up (the policy is frozen then), is learner state (checkpointed, restored, kept by a rollback like the
multipliers) and is logged every iteration as ``entropy_floor/extra`` with the push's mean (``entropy_floor/push``).

The push (``entropy_floor_push``):

* ``entropy`` (default): ``-entropy()``, an entropy bonus of adaptive weight. Its gradient is largest on the nodes
  near a decision and vanishes on sure ones (-p (log p - E log p) per logit, exponentially small in |z|), so it
  keeps a stochastic policy from collapsing but cannot revive a saturated one - start such a policy unsure
  (``pretrain.label_smoothing`` for a behaviour-cloned start).
* ``uniform_kl``: the head's ``uniform_kl()``, KL(uniform || pi) per node, whose gradient (p - 1/A per logit) does
  not vanish however sure the policy is (measured: tests/learning/test_rllib_e2e.py, where an entropy coefficient
  of 1 leaves a cloned tiny policy at 1e-19 nats and this push brings it to 6e-3 in 3 iterations). It pulls every
  node alike, the sure ones included, so on a saturated policy (where it is the only gradient and Adam makes its
  steps full-size) it blurs the whole policy at once (benchmarks/results/aps/README.md, rank_k3_floor).

The ceiling (``entropy_ceiling`` > 0, above the floor when both are set) is the same constraint the other way round,
``H <= entropy_ceiling``, with its own multiplier stepped by the relative excess::

    extra_c <- clip(extra_c + entropy_floor_lr * clip(H / entropy_ceiling - 1, -1, 1), 0, entropy_floor_max)

and the loss adds ``extra_c * mean(entropy)`` (an entropy penalty of adaptive weight; the step and the cap are the
floor's settings). It is for a policy that is unsure on purpose (a label-smoothed clone) and whose logits then
diffuse where the advantages carry no signal: measured on AP selection, the mean link entropy of such a walk rose
from 0.005 to 0.25-0.37 nats with nothing pushing it, and its greedy decisions stopped tracking the sampled ones the
learner was judged on. Like the floor's it is learner state, frozen in a critic warm-up and logged
(``entropy_ceiling/extra``).
"""

from __future__ import annotations

import numpy as np

from cfmarl.policies.learners.masking import masked_mean

ENTROPY_FLOOR_STATE_KEY = "entropy_floor"
ENTROPY_CEILING_STATE_KEY = "entropy_ceiling"
PUSHES = ("entropy", "uniform_kl")


def update_extra(extra: float, entropy: float, floor: float, lr: float, max_extra: float) -> float:
    """The floor multiplier after an iteration whose mean entropy was ``entropy`` (see the module docstring)."""
    if not np.isfinite(entropy):
        raise ValueError(f"entropy: the iteration's mean entropy must be finite, got {entropy!r}")
    shortfall = float(np.clip(1.0 - entropy / floor, -1.0, 1.0))
    return float(np.clip(extra + lr * shortfall, 0.0, max_extra))


def update_ceiling_extra(extra: float, entropy: float, ceiling: float, lr: float, max_extra: float) -> float:
    """The ceiling multiplier after an iteration whose mean entropy was ``entropy`` (see the module docstring)."""
    if not np.isfinite(entropy):
        raise ValueError(f"entropy: the iteration's mean entropy must be finite, got {entropy!r}")
    excess = float(np.clip(entropy / ceiling - 1.0, -1.0, 1.0))
    return float(np.clip(extra + lr * excess, 0.0, max_extra))


def validate_floor(floor, lr, max_extra, push: str = "entropy", ceiling=0.0) -> None:
    """One-line errors naming the field."""
    if push not in PUSHES:
        raise ValueError(f"entropy_floor_push: must be one of {', '.join(PUSHES)}, got {push!r}")
    for name, value in (("entropy_floor", floor), ("entropy_floor_lr", lr), ("entropy_floor_max", max_extra),
                        ("entropy_ceiling", ceiling)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
    on = "entropy_floor" if floor > 0 else "entropy_ceiling"
    if (floor > 0 or ceiling > 0) and not (lr > 0 and max_extra > 0):
        raise ValueError(f"entropy_floor_lr, entropy_floor_max: must be > 0 with {on} {max(floor, ceiling)} (got "
                         f"{lr!r}, {max_extra!r})")
    if floor > 0 and ceiling > 0 and not ceiling > floor:
        raise ValueError(f"entropy_ceiling: must be above entropy_floor ({floor}) or 0 (off), got {ceiling!r}")


class EntropyFloorLearnerMixin:
    """Per-module floor (and ceiling) multipliers in a Learner (call :meth:`_init_entropy_floor` in ``build``, add
    :meth:`floor_push` to the loss and :meth:`record_entropy` per minibatch and :meth:`update_entropy_floor` after the
    iteration's gradient updates)."""

    def _init_entropy_floor(self) -> None:
        self._floor_extra: dict[str, float] = {}
        self._ceiling_extra: dict[str, float] = {}
        self._floor_seen: dict[str, list[float]] = {}
        self._floor_push: dict[str, list[float]] = {}

    def floor_settings(self, module_id: str) -> tuple[float, float, float]:
        cfg = self.config.get_config_for_module(module_id)
        return float(cfg.entropy_floor), float(cfg.entropy_floor_lr), float(cfg.entropy_floor_max)

    def ceiling_setting(self, module_id: str) -> float:
        return float(getattr(self.config.get_config_for_module(module_id), "entropy_ceiling", 0.0))

    def _band_on(self, module_id: str) -> bool:
        return self.floor_settings(module_id)[0] > 0 or self.ceiling_setting(module_id) > 0

    def floor_push_kind(self, module_id: str) -> str:
        return self.config.get_config_for_module(module_id).entropy_floor_push

    def entropy_extra(self, module_id: str) -> float:
        return self._floor_extra.get(module_id, 0.0)

    def ceiling_extra(self, module_id: str) -> float:
        return self._ceiling_extra.get(module_id, 0.0)

    def floor_push(self, module_id: str, dist, node_mask, weight, joint: bool, entropy=None):
        """The floor's loss term ``extra * mean(push)`` plus the ceiling's ``extra_c * mean(entropy)`` (a 0-d
        tensor), or None when both are off; records the push's mean for the log. ``entropy``: the loss's entropy
        per loss sample (nodes summed for a joint action), reused rather than computed again from ``dist``."""
        if not self._band_on(module_id):
            return None
        if entropy is None:
            entropy = dist.entropy()
            if joint:
                entropy = (entropy * node_mask).sum(-1)
        term = None
        if self.ceiling_setting(module_id) > 0:
            term = self.ceiling_extra(module_id) * masked_mean(entropy, weight)
        if self.floor_settings(module_id)[0] <= 0:
            return term
        if self.floor_push_kind(module_id) == "uniform_kl":
            if not hasattr(dist, "uniform_kl"):
                raise ValueError(f"entropy_floor_push: 'uniform_kl' needs a head with uniform_kl() (the categorical "
                                 f"heads), not {type(dist).__name__}; use 'entropy'")
            push = dist.uniform_kl()
            if joint:
                push = (push * node_mask).sum(-1)
        else:
            push = -entropy
        mean_push = masked_mean(push, weight)
        self._floor_push.setdefault(module_id, []).append(float(mean_push.detach()))
        floor_term = self.entropy_extra(module_id) * mean_push
        return floor_term if term is None else floor_term + term

    def record_entropy(self, module_id: str, mean_entropy) -> None:
        if self._band_on(module_id):
            self._floor_seen.setdefault(module_id, []).append(float(mean_entropy))

    def update_entropy_floor(self, frozen=lambda module_id: False) -> None:
        """Step every module's floor and ceiling multipliers from the iteration's mean minibatch entropy (not while
        ``frozen(module_id)``: a critic warm-up) and log them."""
        for module_id, seen in self._floor_seen.items():
            floor, lr, max_extra = self.floor_settings(module_id)
            ceiling, entropy = self.ceiling_setting(module_id), float(np.mean(seen))
            if not frozen(module_id):
                if floor > 0:
                    self._floor_extra[module_id] = update_extra(self.entropy_extra(module_id), entropy, floor, lr,
                                                                max_extra)
                if ceiling > 0:
                    self._ceiling_extra[module_id] = update_ceiling_extra(self.ceiling_extra(module_id), entropy,
                                                                          ceiling, lr, max_extra)
            self.metrics.log_value((module_id, "entropy_band/entropy"), entropy, window=1)
            if floor > 0:
                self.metrics.log_value((module_id, "entropy_floor/extra"), self.entropy_extra(module_id), window=1)
            if ceiling > 0:
                self.metrics.log_value((module_id, "entropy_ceiling/extra"), self.ceiling_extra(module_id), window=1)
            push = self._floor_push.get(module_id)
            if push:
                self.metrics.log_value((module_id, "entropy_floor/push"), float(np.mean(push)), window=1)
        self._floor_seen.clear()
        self._floor_push.clear()

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        state[ENTROPY_FLOOR_STATE_KEY] = dict(self._floor_extra)
        state[ENTROPY_CEILING_STATE_KEY] = dict(self._ceiling_extra)
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if ENTROPY_FLOOR_STATE_KEY in state:
            self._floor_extra = {mid: float(v) for mid, v in state[ENTROPY_FLOOR_STATE_KEY].items()}
        if ENTROPY_CEILING_STATE_KEY in state:  # absent in checkpoints written before the ceiling existed
            self._ceiling_extra = {mid: float(v) for mid, v in state[ENTROPY_CEILING_STATE_KEY].items()}
