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

The training target d starts at ``cost_limit``; :meth:`LagrangeLearnerMixin.retarget` (called by the training
loop after a validation when ``training.retarget_rate`` > 0) moves it towards the target at which the judged
policy's validation cost sits at an aim (:func:`lagrange.retarget`). The moved target is part of the multiplier
state (key ``target``; absent = ``cost_limit``), so it is checkpointed and resumed with the multipliers.

With ``multiplier_per_graph`` (a module trained on a mixture of sizes, whose observations carry
``graph_id``), every graph has its own multipliers: entry ``g C + c`` is graph g's constraint c,
updated from the mean cost of graph g's samples only, so each size must meet the limit on its own
(one shared multiplier is driven by the hardest size and leaves the easier ones far inside it).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cfmarl.policies.learners import lagrange

LAGRANGE_STATE_KEY = "lagrange"
TARGET_KEY = "target"  # entry of a module's multiplier state: the training targets retarget() set
LAGRANGE_FIELDS = ("cost_limit", "lagrangian_rule", "lambda_lr", "lambda_init", "pid_kp", "pid_ki", "pid_kd",
                   "pid_ema_alpha", "multiplier_per_graph", "lambda_max")


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
        self.multiplier_per_graph = False
        self.lambda_max = 0.0

    def _set_given(self, values: dict, not_provided) -> None:
        for name, value in values.items():
            if value is not not_provided:
                setattr(self, name, value)

    def lagrange_config(self) -> lagrange.LagrangeConfig:
        limits = self.cost_limit if isinstance(self.cost_limit, (list, tuple)) else [self.cost_limit]
        return lagrange.LagrangeConfig(cost_limit=tuple(float(c) for c in limits), rule=self.lagrangian_rule,
                                       lr=float(self.lambda_lr), init=float(self.lambda_init), kp=float(self.pid_kp),
                                       ki=float(self.pid_ki), kd=float(self.pid_kd),
                                       ema_alpha=float(self.pid_ema_alpha),
                                       max_multiplier=float(self.lambda_max))


class LagrangeLearnerMixin:
    """Per-module multipliers in a Learner (put it before the RLlib learner class in the bases)."""

    def _init_multipliers(self) -> None:
        self._lagrange: dict[str, dict[str, list[float]]] = {}

    def n_graphs(self, module_id: str) -> int:
        """Multiplier groups of the module: the graphs of its size mixture (the module's ``n_graphs``, one per
        ``graph_id``) with ``multiplier_per_graph``, else 1."""
        if not getattr(self.config.get_config_for_module(module_id), "multiplier_per_graph", False):
            return 1
        return int(getattr(self.module[module_id].unwrapped(), "n_graphs", 1))

    def module_lagrange_config(self, module_id: str) -> lagrange.LagrangeConfig:
        """The module's multiplier settings, the cost limits repeated per graph (entry g C + c), or the
        training targets :meth:`retarget` set."""
        cfg = self.config.get_config_for_module(module_id).lagrange_config()
        g = self.n_graphs(module_id)
        cfg = cfg if g == 1 else dataclasses.replace(cfg, cost_limit=cfg.cost_limit * g)
        target = self._lagrange.get(module_id, {}).get(TARGET_KEY)
        return cfg if target is None else dataclasses.replace(cfg, cost_limit=tuple(float(t) for t in target))

    def cost_targets(self, module_id: str) -> list[float]:
        """The training targets d the multipliers hold the sampled cost at (one per multiplier)."""
        return list(self.module_lagrange_config(module_id).cost_limit)

    def retarget(self, validation_cost, aim: float, rate: float, bounds: tuple[float, float]
                 ) -> dict[str, list[float]]:
        """Move every module's training targets after a validation of the judged policy (see
        :func:`lagrange.retarget`): ``validation_cost`` is one value for all targets, or one per graph of the size
        mixture (``multiplier_per_graph``: each size's targets move by that size's validation); returns the new
        targets per module."""
        out = {}
        for module_id in self.module.keys():
            d = self.cost_targets(module_id)
            g = self.n_graphs(module_id)
            costs = np.atleast_1d(np.asarray(validation_cost, float))
            if costs.size not in (1, g):
                raise ValueError(f"retarget: expected one validation cost or one per graph ({g}), got {costs.tolist()}")
            per_entry = np.repeat(np.broadcast_to(costs, (g,)), len(d) // g)  # entry g C + c: graph g's cost
            new = lagrange.retarget(d, per_entry.tolist(), aim, rate, bounds)
            self.lagrange_state(module_id)[TARGET_KEY] = new
            out[module_id] = new
        return out

    def lagrange_state(self, module_id: str) -> dict[str, list[float]]:
        if module_id not in self._lagrange:
            self._lagrange[module_id] = lagrange.initial_state(self.module_lagrange_config(module_id))
        return self._lagrange[module_id]

    def multipliers(self, module_id: str) -> list[float]:
        return list(self.lagrange_state(module_id)["multiplier"])

    def multiplier_table(self, module_id: str) -> np.ndarray:
        """The multipliers as (graphs, constraints); one row unless ``multiplier_per_graph``."""
        return np.asarray(self.multipliers(module_id), float).reshape(self.n_graphs(module_id), -1)

    def update_multipliers(self, module_id: str, mean_cost, observed=None) -> None:
        """Apply the module's rule to the iteration's mean per-node cost (one value per multiplier); entries
        with ``observed`` False (a graph without samples this iteration) keep their state."""
        cfg = self.module_lagrange_config(module_id)
        mean_cost = np.atleast_1d(np.asarray(mean_cost, float))
        seen = np.ones(mean_cost.shape, bool) if observed is None else np.atleast_1d(np.asarray(observed, bool))
        state = self.lagrange_state(module_id)
        self._lagrange[module_id] = lagrange.update(cfg, state, mean_cost, seen)
        if TARGET_KEY in state:
            self._lagrange[module_id][TARGET_KEY] = list(state[TARGET_KEY])
        for i, c in enumerate(mean_cost):
            if seen[i]:
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
