"""Classical precoders for the distributed-precoding environment, evaluated by the same harness.

C-RZF, D-RZF, MRT and the iterative WMMSE replace the env's per-RT-loop
precoder computation (``core.step(state, None, precoder=...)``); the WMMSE
expert instead acts through the agents' own action path (U, W from each
user's observation) and is the policy a learned agent imitates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cfmarl.envs.physics import mimo
from cfmarl.envs.precoding.core import PrecodingCore, PrecodingState
from cfmarl.policies.baselines.spec import parse_spec


class _ClassicalPrecoder:
    """Base: ``act`` returns no actions and ``step_kwargs`` hands the env this precoder, which the
    env calls every RT loop; the time spent there is this controller's decision time
    (``take_elapsed_s``, read by the evaluation harness)."""

    name = "precoder"
    privileged = False
    e2_scheme = "local"

    def act(self, core: PrecodingCore, state: PrecodingState, obs: np.ndarray):
        return None

    def __call__(self, core: PrecodingCore, state: PrecodingState, h_hat: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        v = self.compute(core, state, h_hat)
        self._elapsed = getattr(self, "_elapsed", 0.0) + time.perf_counter() - t0
        return v

    def take_elapsed_s(self) -> float:
        t, self._elapsed = getattr(self, "_elapsed", 0.0), 0.0
        return t

    @property
    def step_kwargs(self) -> dict:
        return {"precoder": self}


@dataclass
class CRZF(_ClassicalPrecoder):
    """Centralised RZF on the global channel estimate, one common scale (every O-RU within budget)."""

    reg_scale: float = 1.0
    name: str = "c-rzf"
    privileged: bool = True  # global CSI at the near-RT RIC
    e2_scheme: str = "centralised"

    def compute(self, core: PrecodingCore, state: PrecodingState, h_hat: np.ndarray) -> np.ndarray:
        return mimo.c_rzf(h_hat, core.p_max, self.reg_scale)


@dataclass
class DRZF(_ClassicalPrecoder):
    """Distributed RZF: each O-RU inverts its local channels to the users it serves."""

    name: str = "d-rzf"

    def compute(self, core: PrecodingCore, state: PrecodingState, h_hat: np.ndarray) -> np.ndarray:
        return mimo.d_rzf(h_hat, state.serve, core.p_max)


@dataclass
class MRT(_ClassicalPrecoder):
    """Maximum-ratio transmission on the serving O-RUs, each at full power."""

    name: str = "mrt"

    def compute(self, core: PrecodingCore, state: PrecodingState, h_hat: np.ndarray) -> np.ndarray:
        return mimo.mrt(h_hat, state.serve, core.p_max)


@dataclass
class IterativeWMMSE(_ClassicalPrecoder):
    """Centralised iterative WMMSE with per-O-RU power constraints (Shi et al. 2011 extended to
    coherent joint transmission by block-coordinate O-RU updates, physics_reference.md (viii)).

    Like C-RZF it uses global CSI and every O-RU for every user; it starts from C-RZF in an
    episode's first RT loop and from the previous RT loop's precoders afterwards, and sweeps
    until the weighted sum rate (weights 1 + lambda_k) improves by less than ``tol`` (relative)
    or ``max_iter`` sweeps (``start_iter`` in an episode's first RT loop, where it starts cold; warm-started
    loops converge in ~3 sweeps on ``medium``). Each sweep is monotone, so it never ends below its C-RZF start.
    """

    max_iter: int = 20
    start_iter: int = 200
    tol: float = 1e-3
    name: str = "wmmse"
    privileged: bool = True
    e2_scheme: str = "centralised"

    def compute(self, core: PrecodingCore, state: PrecodingState, h_hat: np.ndarray) -> np.ndarray:
        alpha = 1.0 + state.lam
        everyone = np.ones_like(state.serve)
        budget = self.max_iter
        if getattr(self, "_episode", None) is not state:  # an episode's first RT loop
            self._episode = state
            v = mimo.c_rzf(h_hat, core.p_max)
            budget = self.start_iter
        else:
            v = state.v
        s = mimo.effective_channels(h_hat, v)
        prev = (alpha * mimo.rates(s)).sum(-1)
        self.last_iterations = 0
        for _ in range(budget):
            u, w = mimo.mmse_receivers(s)
            v, _, s = mimo.wmmse_precoder_sweep(h_hat, u, w, alpha, v, everyone, core.p_max, s=s)
            cur = (alpha * mimo.rates(s)).sum(-1)
            self.last_iterations += 1
            done = np.all(cur - prev <= self.tol * np.abs(prev))
            prev = cur
            if done:
                break
        return v


@dataclass
class WMMSEExpert:
    """Per-user WMMSE expert through the agents' action path: U_k, W_k from the MMSE formulas
    on the user's own observation (H_k V_j, j in Omega_k); the env then runs its
    distributed precoder update. Not privileged. With the env's ``action_mode: residual`` the actions are
    corrections to this expert, so the expert acts with zeros (as a baseline and as a cloning teacher)."""

    name: str = "wmmse-expert"
    privileged: bool = False

    def act(self, core: PrecodingCore, state: PrecodingState, obs: np.ndarray) -> np.ndarray:
        if core.config.action_mode == "residual":
            return np.zeros((core.num_envs, core.K, core.action_dim))
        return core.expert_actions(state)


FACTORIES = {"c-rzf": CRZF, "d-rzf": DRZF, "mrt": MRT, "wmmse": IterativeWMMSE, "wmmse-expert": WMMSEExpert}
OPTIONS = {"c-rzf": {"reg_scale"}, "wmmse": {"max_iter", "start_iter", "tol"}}


def make_baseline(spec: str):
    """Build a controller from ``name[:key=value,...]``, e.g. ``wmmse:max_iter=50``."""
    return parse_spec(spec, "precoding", FACTORIES, OPTIONS)
