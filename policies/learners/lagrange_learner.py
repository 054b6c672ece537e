"""The multiplier machinery every constrained learner shares (PPO-Lagrangian, SAC-Lagrangian).

* :class:`LagrangeConfigMixin` - the typed constraint settings of an ``AlgorithmConfig``
  (``cost_limit`` (one per constraint), ``lagrangian_rule`` gradient | pid | none,
  ``lambda_lr``, ``lambda_init``, ``pid_kp`` / ``pid_ki`` / ``pid_kd``, ``pid_ema_alpha``)
  and :meth:`lagrange_config`, which validates them (one-line errors naming the field).
* :class:`LagrangeLearnerMixin` - one multiplier state per module and constraint in the
  Learner, updated by :mod:`lagrange` from an iteration's exact mean per-node cost
  (:meth:`update_multipliers`), logged every iteration under
  ``learners/<module>/lagrange/{multiplier,mean_cost,cost_limit}_<i>``, and part of the
  learner state (checkpointed and restored with it).
"""

from __future__ import annotations

import numpy as np

from cfmarl.policies.learners import lagrange

LAGRANGE_STATE_KEY = "lagrange"
LAGRANGE_FIELDS = ("cost_limit", "lagrangian_rule", "lambda_lr", "lambda_init", "pid_kp", "pid_ki", "pid_kd",
                   "pid_ema_alpha")


class LagrangeConfigMixin:
    """Constraint settings of an AlgorithmConfig subclass (call :meth:`_init_lagrange` in ``__init__``)."""

    def _init_lagrange(self) -> None:
        self.cost_limit: float | list[float] = 0.0
        self.lagrangian_rule = "gradient"
        self.lambda_lr = 0.05
        self.lambda_init = 0.0
        self.pid_kp = 0.1
        self.pid_ki = 0.01
        self.pid_kd = 0.0
        self.pid_ema_alpha = 0.0

    def _set_given(self, values: dict, not_provided) -> None:
        for name, value in values.items():
            if value is not not_provided:
                setattr(self, name, value)

    def lagrange_config(self) -> lagrange.LagrangeConfig:
        limits = self.cost_limit if isinstance(self.cost_limit, (list, tuple)) else [self.cost_limit]
        return lagrange.LagrangeConfig(cost_limit=tuple(float(c) for c in limits), rule=self.lagrangian_rule,
                                       lr=float(self.lambda_lr), init=float(self.lambda_init), kp=float(self.pid_kp),
                                       ki=float(self.pid_ki), kd=float(self.pid_kd), ema_alpha=float(self.pid_ema_alpha))


class LagrangeLearnerMixin:
    """Per-module multipliers in a Learner (put it before the RLlib learner class in the bases)."""

    def _init_multipliers(self) -> None:
        self._lagrange: dict[str, dict[str, list[float]]] = {}

    def lagrange_state(self, module_id: str) -> dict[str, list[float]]:
        if module_id not in self._lagrange:
            cfg = self.config.get_config_for_module(module_id).lagrange_config()
            self._lagrange[module_id] = lagrange.initial_state(cfg)
        return self._lagrange[module_id]

    def multipliers(self, module_id: str) -> list[float]:
        return list(self.lagrange_state(module_id)["multiplier"])

    def update_multipliers(self, module_id: str, mean_cost) -> None:
        """Apply the module's rule to the iteration's mean per-node cost (one value per constraint)."""
        cfg = self.config.get_config_for_module(module_id).lagrange_config()
        mean_cost = np.atleast_1d(np.asarray(mean_cost, float))
        self._lagrange[module_id] = lagrange.update(cfg, self.lagrange_state(module_id), mean_cost)
        for i, c in enumerate(mean_cost):
            self.metrics.log_value((module_id, f"lagrange/mean_cost_{i}"), float(c), window=1)
            self.metrics.log_value((module_id, f"lagrange/cost_limit_{i}"), cfg.cost_limit[i], window=1)

    def log_multipliers(self) -> None:
        for module_id in self.module.keys():
            for i, lam in enumerate(self.lagrange_state(module_id)["multiplier"]):
                self.metrics.log_value((module_id, f"lagrange/multiplier_{i}"), lam, window=1)

    def get_state(self, components=None, *, not_components=None, **kwargs):
        state = super().get_state(components, not_components=not_components, **kwargs)
        state[LAGRANGE_STATE_KEY] = {mid: {k: list(v) for k, v in s.items()} for mid, s in self._lagrange.items()}
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if LAGRANGE_STATE_KEY in state:
            self._lagrange = {mid: {k: list(v) for k, v in s.items()} for mid, s in state[LAGRANGE_STATE_KEY].items()}
