"""Classical RB-request policies for the MF-TDMA environment (the behaviour policies of its datasets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfmarl.envs.mf_tdma.core import MfTdmaCore, MfTdmaState
from cfmarl.policies.baselines.spec import OwnStream, parse_spec


@dataclass
class EqualSplit:
    """Every node requests M L / N RBs."""

    name: str = "equal"
    privileged: bool = False

    def act(self, core: MfTdmaCore, state: MfTdmaState, obs: np.ndarray) -> np.ndarray:
        return np.full((core.num_envs, core.N), core.config.num_rbs / core.N)


@dataclass
class LoadProportional(OwnStream):
    """Requests proportional to the node's queue (generation + transmission) at the end of the last
    frame, scaled to M L; equal split when every queue is empty. Uses only the node's own
    observation and the total (the normalisation the protocol performs anyway)."""

    noise: float = 0.0  # > 0: requests times exp(noise * N(0, 1)), seeded (a perturbed behaviour policy for
    #                     offline datasets: actions around a good policy)
    seed: int = 0
    name: str = "load-proportional"
    privileged: bool = False

    def __post_init__(self) -> None:
        if not self.noise >= 0:
            raise ValueError(f"policy 'load-proportional': noise must be >= 0, got {self.noise!r}")
        self._rng = np.random.default_rng(self.seed)

    def act(self, core: MfTdmaCore, state: MfTdmaState, obs: np.ndarray) -> np.ndarray:
        q = obs[..., 0] + obs[..., 2]
        total = q.sum(-1, keepdims=True)
        share = np.where(total > 0, q / np.where(total > 0, total, 1.0), 1.0 / core.N)
        req = core.config.num_rbs * share
        if self.noise:
            req = req * np.exp(self.noise * self._rng.standard_normal(req.shape))
        return np.minimum(req, core.config.num_rbs)


@dataclass
class RandomRequests(OwnStream):
    """Uniform requests in [0, 2 M L / N] (mean = equal split), seeded."""

    seed: int = 0
    name: str = "random"
    privileged: bool = False

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def act(self, core: MfTdmaCore, state: MfTdmaState, obs: np.ndarray) -> np.ndarray:
        return self._rng.uniform(0.0, 2.0 * core.config.num_rbs / core.N, (core.num_envs, core.N))


FACTORIES = {"equal": EqualSplit, "load-proportional": LoadProportional, "random": RandomRequests}
OPTIONS = {"random": {"seed"}, "load-proportional": {"noise", "seed"}}


def make_baseline(spec: str):
    return parse_spec(spec, "mftdma", FACTORIES, OPTIONS)
