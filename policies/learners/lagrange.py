"""Lagrange-multiplier update rules (pure numpy, one multiplier per constraint).

* ``gradient``: projected gradient ascent, aps_gnn eq. (14):
  lambda <- max(0, lambda + lr (J_c - d)).
* ``pid``: PID-Lagrangian, Stooke, Achiam & Abbeel, "Responsive Safety in
  Reinforcement Learning by PID Lagrangian Methods", ICML 2020, Algorithm 2:
  delta = J_c - d;  I <- max(0, I + delta);  D = max(0, J_c - J_c,prev);
  lambda = max(0, K_P delta + K_I I + K_D D). With ``ema_alpha`` > 0 the P and D
  terms use exponentially smoothed costs (their Sec. 5.2).
* ``multiplicative``: a step in log lambda by the log ratio of cost to limit,
  lambda <- clip(lambda (max(J_c, d / 10) / d)^lr, 1e-3, max): the step scales with the multiplier and is
  symmetric in the ratio (a cost 4x the limit raises lambda as much as a quarter of it lowers it), so a
  multiplier wound up while the cost was far above the limit comes down as fast once the cost is below it
  (the additive rules need (lambda - lambda*) / (lr |J_c - d|) iterations, long when the cost is small against
  the multiplier); needs d > 0 and init > 0.
* ``none``: the multipliers stay at their initial value (unconstrained runs).

``max_multiplier`` > 0 caps every rule's multiplier (0: no cap; the multiplicative rule's default cap is 1e4).

:func:`retarget` moves the training target d itself (an outer loop, slower than the multiplier's): the
multiplier holds the *sampled* policy's cost at d, but a policy judged acting greedily can run at another cost
(on AP selection ~0.6-0.8 of the sampled one while the policy recovers from its post-cloning collapse), so d is
steered until the judged policy's validation cost sits at an aim: d <- clip(d (aim / max(c_val, aim / 10))^rate,
lo, hi).

Entries not observed in an iteration (``observed`` False: e.g. a graph of a size mixture
that no episode of the batch was drawn on) keep their whole state, as if that
iteration had not happened for them.

States are plain dicts of float lists so they checkpoint and compare exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RULES = ("gradient", "pid", "multiplicative", "none")
MULTIPLICATIVE_BOUNDS = (1e-3, 1e4)  # lambda_min, default lambda_max of the multiplicative rule
LOG_RATIO_FLOOR = 0.1  # the multiplicative rule reads a cost below this fraction of the limit as this fraction


@dataclass(frozen=True)
class LagrangeConfig:
    cost_limit: tuple[float, ...]  # d, one per constraint
    rule: str = "gradient"
    lr: float = 0.05  # gradient rule step size
    init: float = 0.0  # initial multiplier
    kp: float = 0.1  # PID gains
    ki: float = 0.01
    kd: float = 0.0
    ema_alpha: float = 0.0  # smoothing of the P and D terms (0 = none)
    max_multiplier: float = 0.0  # cap of the multiplier (0 = none)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"lagrangian_rule: must be one of {', '.join(RULES)}; got {self.rule!r}")
        for name in ("lr", "init", "kp", "ki", "kd", "max_multiplier"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"lagrangian {name}: must be a finite number >= 0, got {v!r}")
        if not 0.0 <= self.ema_alpha < 1.0:
            raise ValueError(f"lagrangian ema_alpha: must be in [0, 1), got {self.ema_alpha!r}")
        if not self.cost_limit or not all(np.isfinite(c) for c in self.cost_limit):
            raise ValueError(f"cost_limit: must be finite numbers, got {self.cost_limit!r}")
        if self.rule == "multiplicative":
            if not all(c > 0 for c in self.cost_limit):
                raise ValueError(f"cost_limit: the multiplicative rule divides the cost by the limit, so it must be "
                                 f"> 0, got {self.cost_limit!r}")
            lo, hi = MULTIPLICATIVE_BOUNDS[0], self.max_multiplier or MULTIPLICATIVE_BOUNDS[1]
            if not lo <= self.init <= hi:
                raise ValueError(f"lambda_init: the multiplicative rule needs a start in [{lo:g}, {hi:g}] (a "
                                 f"multiplier of 0 would stay 0), got {self.init!r}")


def initial_state(cfg: LagrangeConfig) -> dict[str, list[float]]:
    n = len(cfg.cost_limit)
    return {"multiplier": [float(cfg.init)] * n, "integral": [float(cfg.init / cfg.ki) if cfg.rule == "pid"
                                                              and cfg.ki > 0 else 0.0] * n,
            "smoothed_delta": [0.0] * n, "smoothed_cost": [0.0] * n, "prev_smoothed_cost": [0.0] * n,
            "updates": [0.0] * n}


def update(cfg: LagrangeConfig, state: dict[str, list[float]], mean_cost, observed=None) -> dict[str, list[float]]:
    """New state after observing the iteration's mean cost J_c (one value per constraint); entries where
    ``observed`` (bool per constraint, default all) is False keep their state and may be NaN."""
    j = np.atleast_1d(np.asarray(mean_cost, dtype=float))
    d = np.asarray(cfg.cost_limit, dtype=float)
    if j.shape != d.shape:
        raise ValueError(f"mean_cost: expected {d.size} value(s) (one per constraint), got {j.size}")
    seen = np.ones(j.shape, bool) if observed is None else np.atleast_1d(np.asarray(observed, bool))
    if seen.shape != j.shape:
        raise ValueError(f"observed: expected {j.size} flag(s) (one per constraint), got {seen.size}")
    if not np.all(np.isfinite(j[seen])):
        raise ValueError(f"mean_cost: must be finite, got {j.tolist()}")
    if not seen.all():
        new = update(cfg, state, np.where(seen, j, d), None)
        return {k: np.where(seen, new[k], np.asarray(state[k], float)).tolist() for k in new}
    lam = np.asarray(state["multiplier"], float)
    integral = np.asarray(state["integral"], float)
    s_delta = np.asarray(state["smoothed_delta"], float)
    s_cost = np.asarray(state["smoothed_cost"], float)
    first = np.asarray(state["updates"], float) == 0
    delta = j - d
    if cfg.rule == "gradient":
        lam = np.maximum(0.0, lam + cfg.lr * delta)
        prev_cost = s_cost
        new_cost = j
    elif cfg.rule == "pid":
        a = cfg.ema_alpha
        integral = np.maximum(0.0, integral + delta)
        s_delta = np.where(first, delta, a * s_delta + (1 - a) * delta)
        prev_cost = np.where(first, j, s_cost)
        new_cost = np.where(first, j, a * s_cost + (1 - a) * j)
        deriv = np.maximum(0.0, new_cost - prev_cost)
        lam = np.maximum(0.0, cfg.kp * s_delta + cfg.ki * integral + cfg.kd * deriv)
    elif cfg.rule == "multiplicative":
        ratio = np.maximum(j, LOG_RATIO_FLOOR * d) / d  # max_multiplier, when set, caps it below
        lam = np.clip(lam * np.exp(np.clip(cfg.lr * np.log(ratio), -50.0, 50.0)), *MULTIPLICATIVE_BOUNDS)
        prev_cost = s_cost
        new_cost = j
    else:
        prev_cost = s_cost
        new_cost = j
    if cfg.max_multiplier > 0:
        lam = np.minimum(lam, cfg.max_multiplier)
    return {"multiplier": lam.tolist(), "integral": integral.tolist(), "smoothed_delta": s_delta.tolist(),
            "smoothed_cost": np.asarray(new_cost, float).tolist(),
            "prev_smoothed_cost": np.asarray(prev_cost, float).tolist(),
            "updates": (np.asarray(state["updates"], float) + 1).tolist()}


def retarget(target, validation_cost, aim: float, rate: float, bounds: tuple[float, float]) -> list[float]:
    """New training targets d (one per constraint) after a validation of the judged policy measured
    ``validation_cost`` (its selection bound, e.g. cost + 2 standard errors): a step in log d by ``rate`` times
    log(aim / cost), the cost read as at least aim / 10, clipped to ``bounds`` = (lo, hi)."""
    d = np.atleast_1d(np.asarray(target, float))
    c = np.atleast_1d(np.asarray(validation_cost, float))
    if c.shape != d.shape or not np.all(np.isfinite(c)):
        raise ValueError(f"validation_cost: expected {d.size} finite value(s), got {c.tolist()}")
    if not (aim > 0 and rate >= 0 and 0 < bounds[0] <= bounds[1]):
        raise ValueError(f"retarget: needs aim > 0, rate >= 0 and 0 < lo <= hi, got aim {aim!r}, rate {rate!r}, "
                         f"bounds {bounds!r}")
    step = np.exp(rate * np.log(aim / np.maximum(c, aim * LOG_RATIO_FLOOR)))
    return np.clip(d * step, *bounds).tolist()
