"""Classical downlink power-control controllers (DHI paper's objectives, solved exactly or locally).

Each controller maps the core's state of B env copies to actions (B, K) in
[-1, 1] (the env's own action encoding, so the harness treats them like a
learned policy). The optimisation baselines read the current gain matrix G
(instantaneous CSI at the CPU) and are marked ``privileged``; their values are
the references ("fraction of optimum") learned policies are reported against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfmarl.envs.power_control import objectives as obj
from cfmarl.envs.power_control.core import PowerControlCore, PowerControlState
from cfmarl.policies.baselines.spec import OwnStream, parse_spec


@dataclass
class FullPower:
    """Every UE at P_max."""

    name: str = "full-power"
    privileged: bool = False

    def act(self, core: PowerControlCore, state: PowerControlState, obs: np.ndarray) -> np.ndarray:
        return np.ones((core.num_envs, core.K))


@dataclass
class EqualPower:
    """Every UE at the same mid-range level (P_min + P_max) / 2 (action 0)."""

    name: str = "equal-power"
    privileged: bool = False

    def act(self, core: PowerControlCore, state: PowerControlState, obs: np.ndarray) -> np.ndarray:
        return np.zeros((core.num_envs, core.K))


@dataclass
class MaxMin:
    """Exact max-min SINR with per-UE caps P_max (Perron-Frobenius closed form), then
    raised to P_min where the optimum asks for less (P_min is 30 dB below P_max by default,
    so this rarely binds)."""

    name: str = "max-min"
    privileged: bool = True

    def act(self, core: PowerControlCore, state: PowerControlState, obs: np.ndarray) -> np.ndarray:
        c = core.config
        _, p = obj.max_min_optimum(state.gain, core.noise_w, c.p_max_w)
        return core.action_of_power(np.clip(p, c.p_min_w, c.p_max_w))


@dataclass
class MaxProduct:
    """Global optimum of sum_k log SINR_k over [P_min, P_max]^K (concave in log p; L-BFGS-B)."""

    name: str = "max-product"
    privileged: bool = True

    def act(self, core: PowerControlCore, state: PowerControlState, obs: np.ndarray) -> np.ndarray:
        c = core.config
        return core.action_of_power(obj.max_product_optimum(state.gain, core.noise_w, c.p_min_w, c.p_max_w))


@dataclass
class MaxSumRate(OwnStream):
    """Max-sum-rate by multi-start L-BFGS-B (the problem is non-convex): starts at full power,
    at the max-product optimum and at ``starts`` uniform random points; the best local optimum wins."""

    starts: int = 4
    max_iter: int = 200
    seed: int = 0
    name: str = "max-sum-rate"
    privileged: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.starts, bool) or not isinstance(self.starts, int) or self.starts < 0:
            raise ValueError(f"max-sum-rate.starts: must be an integer >= 0, got {self.starts!r}")
        self._rng = np.random.default_rng(self.seed)

    def act(self, core: PowerControlCore, state: PowerControlState, obs: np.ndarray) -> np.ndarray:
        c = core.config
        g, n = state.gain, core.noise_w
        inits = [np.full((core.num_envs, core.K), c.p_max_w),
                 obj.max_product_optimum(g, n, c.p_min_w, c.p_max_w)]
        inits += [c.p_min_w + self._rng.random((core.num_envs, core.K)) * (c.p_max_w - c.p_min_w)
                  for _ in range(self.starts)]
        best, best_val = None, None
        for p0 in inits:
            p = obj.lbfgs_maximize("max_sum_rate", g, n, p0, c.p_min_w, c.p_max_w, max_iter=self.max_iter)
            val = np.log2(1.0 + obj.sinr(g, p, n)[0]).sum(-1)
            if best is None:
                best, best_val = p, val
            else:
                better = val > best_val
                best[better], best_val[better] = p[better], val[better]
        return core.action_of_power(best)


@dataclass
class Refined:
    """Any controller's decision refined by bounded L-BFGS-B on ``objective`` (the DHI paper's hybrid,
    Sec. 3.3.4 and Algorithm 1: the SAC power vector as the starting point, ``max_iter`` iterations
    over [P_min, P_max]^K with the current gains). Privileged like the optimisation baselines: the
    refinement reads the instantaneous CSI; its time counts in the decision latency. ``max_min`` has
    no refinement in the paper and is refused here. The env's ``lbfgs_refine: true`` applies the same
    refinement inside the env step (training with it in the loop, as the paper's Algorithm 1)."""

    inner: object
    objective: str
    max_iter: int = 50
    name: str = ""
    privileged: bool = True

    def __post_init__(self) -> None:
        if self.objective not in ("max_product", "max_sum_rate"):
            raise ValueError(f"L-BFGS-B refinement: objective must be max_product or max_sum_rate, got "
                             f"{self.objective!r}")
        self.name = self.name or f"{getattr(self.inner, 'name', 'policy')} + L-BFGS-B"

    def act(self, core: PowerControlCore, state: PowerControlState, obs: np.ndarray) -> np.ndarray:
        c = core.config
        a = np.asarray(self.inner.act(core, state, obs), float).reshape(core.num_envs, core.K)
        p0 = c.p_min_w + 0.5 * (np.clip(a, -1.0, 1.0) + 1.0) * (c.p_max_w - c.p_min_w)
        p = obj.lbfgs_maximize(self.objective, state.gain, core.noise_w, p0, c.p_min_w, c.p_max_w, c.product_eps,
                               self.max_iter)
        return core.action_of_power(p)


FACTORIES = {"full-power": FullPower, "equal-power": EqualPower, "max-min": MaxMin, "max-product": MaxProduct,
             "max-sum-rate": MaxSumRate}
OPTIONS = {"max-sum-rate": {"starts", "max_iter", "seed"}}


def make_baseline(spec: str):
    """Build a controller from ``name[:key=value,...]``, e.g. ``max-sum-rate:starts=8``."""
    return parse_spec(spec, "power", FACTORIES, OPTIONS)
