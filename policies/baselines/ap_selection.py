"""Classical AP-selection controllers, evaluated by the same harness as learned ones.

A controller maps the array core's state (and observations) of B env copies
to actions (B, N) in {0, 1}, N = L K links in AP-major order. Controllers that
read simulator internals rather than observations say so with ``privileged``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfmarl.envs.ap_selection.core import ApSelectionCore, ApSelectionState
from cfmarl.policies.baselines.spec import parse_spec


@dataclass
class AllOn:
    """Every AP serves every UE."""

    name: str = "all-on"
    privileged: bool = False

    def act(self, core: ApSelectionCore, state: ApSelectionState, obs: np.ndarray) -> np.ndarray:
        return np.ones((core.num_envs, core.n_agents), np.int8)


@dataclass
class KStrongest:
    """Each UE is served by the k APs with the strongest channels to it (aps_gnn Sec. VI-B).

    ``by="instantaneous"`` ranks by |h_lk|^2 at the decision instant (the paper's
    baseline); ``by="large_scale"`` ranks by the large-scale gain beta_lk (the
    pretraining labels, Sec. VI-C). The two coincide for a deterministic LoS
    channel. It needs only each link's own gain and the ranking among the links
    of its UE, so it is not privileged.
    """

    k: int = 4
    by: str = "instantaneous"
    name: str = "k-strongest"
    privileged: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k-strongest.k: must be an integer >= 1, got {self.k!r}")
        check_gain_kind(self.name, self.by)

    def act(self, core: ApSelectionCore, state: ApSelectionState, obs: np.ndarray) -> np.ndarray:
        return k_strongest_mask(link_gain(state, self.by), self.k).reshape(core.num_envs, -1).astype(np.int8)


GAIN_KINDS = ("instantaneous", "large_scale")


def check_gain_kind(policy: str, by: str) -> None:
    if by not in GAIN_KINDS:
        raise ValueError(f"{policy}.by: must be 'instantaneous' or 'large_scale', got {by!r}")


def link_gain(state: ApSelectionState, by: str) -> np.ndarray:
    """(B, L, K) gains the heuristics rank: |h_lk|^2 at the decision instant, or the large-scale beta_lk."""
    return np.abs(state.h_next[:, 0]) ** 2 if by == "instantaneous" else state.beta_next


@dataclass
class PowerFraction:
    """Received-power-based AP selection (Ngo et al. 2018, "On the total energy efficiency of cell-free massive
    MIMO", IEEE TGCN 2(1), Sec. V): each UE is served by the fewest APs whose gains add up to at least ``delta`` of
    the UE's total gain over all APs - one AP for a UE next to it, several for a UE between them, where k-strongest
    gives every UE the same k. ``min_k`` (beyond Ngo et al.) serves every UE by at least its ``min_k`` strongest APs
    whatever their share: with ``min_k`` = k - 1 it starts from (k-1)-strongest and adds APs, strongest first, only
    for UEs whose k - 1 strongest hold less than ``delta`` of their gain (at the deltas the yardsticks choose most
    UEs keep k - 1, a few get k or more). ``by`` as in :class:`KStrongest`; not
    privileged."""

    delta: float = 0.9
    by: str = "large_scale"
    min_k: int = 1
    name: str = "power-fraction"
    privileged: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.delta, bool) or not isinstance(self.delta, (int, float)) or not 0 < self.delta <= 1:
            raise ValueError(f"power-fraction.delta: must be a number in (0, 1], got {self.delta!r}")
        if isinstance(self.min_k, bool) or not isinstance(self.min_k, int) or self.min_k < 1:
            raise ValueError(f"power-fraction.min_k: must be an integer >= 1, got {self.min_k!r}")
        check_gain_kind(self.name, self.by)

    def act(self, core: ApSelectionCore, state: ApSelectionState, obs: np.ndarray) -> np.ndarray:
        mask = power_fraction_mask(link_gain(state, self.by), self.delta, self.min_k)
        return mask.reshape(core.num_envs, -1).astype(np.int8)


def power_fraction_mask(gain: np.ndarray, delta: float, min_k: int = 1) -> np.ndarray:
    """Bool mask (..., L, K): for every UE (column) its strongest APs, in decreasing gain, up to and including the
    first one at which their share of the UE's total gain reaches ``delta``, and at least its ``min_k`` strongest."""
    order = np.argsort(-gain, axis=-2, kind="stable")
    ranked = np.take_along_axis(gain, order, axis=-2)
    share = np.cumsum(ranked, axis=-2) / ranked.sum(axis=-2, keepdims=True)
    # keep rank r if the share before it is still short of delta (the first rank always; 1e-12: rounding of sums)
    before = np.concatenate([np.zeros_like(share[..., :1, :]), share[..., :-1, :]], axis=-2)
    rank = np.arange(gain.shape[-2]).reshape(-1, 1)
    keep = (before < delta - 1e-12) | (rank < min_k)
    mask = np.zeros(gain.shape, bool)
    np.put_along_axis(mask, order, keep, axis=-2)
    return mask


def k_strongest_mask(gain: np.ndarray, k: int) -> np.ndarray:
    """Bool mask (..., L, K) selecting, for every UE (column), its k largest gains."""
    L = gain.shape[-2]
    if k >= L:
        return np.ones(gain.shape, bool)
    top = np.argpartition(-gain, k - 1, axis=-2)[..., :k, :]
    mask = np.zeros(gain.shape, bool)
    np.put_along_axis(mask, top, True, axis=-2)
    return mask


@dataclass
class GreedyOracle:
    """Centralised greedy reference that knows the channels of the coming window (``window="coming"``, the
    non-causal bound), or its causal counterpart (``window="previous"``: the same search run on the channels
    of the window just played - what a controller that stores past channels could do; at the first decision
    of an episode, on the snapshot at the decision instant). Both read complex channels, so both are
    privileged.

    Starting from all links on, it (1) tries to switch off whole APs, weakest
    total large-scale gain first, then (2) tries to drop single links, weakest
    first; a change is kept when the total SE shortfall
    sum_k max(0, target - SE_k) over the window does not grow. So if all-on meets
    every target, every UE still meets it at the end; otherwise the shortfall
    never gets worse than all-on's. Each trial evaluates the exact window SE of
    the env (MRT, equal split), so the cost is O(L K) window evaluations per decision.
    """

    window: str = "coming"
    name: str = "greedy"
    privileged: bool = True
    tol: float = 1e-9

    def __post_init__(self) -> None:
        if self.window not in ("coming", "previous"):
            raise ValueError(f"greedy.window: must be 'coming' (the oracle) or 'previous' (causal), "
                             f"got {self.window!r}")
        if self.window == "previous" and self.name == "greedy":
            self.name = "greedy-causal"
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def act(self, core: ApSelectionCore, state: ApSelectionState, obs: np.ndarray) -> np.ndarray:
        h, beta = state.h_next, state.beta_next
        if self.window == "previous":
            fresh = state.t == 0 or self._prev is None or self._prev[0].shape[0] != core.num_envs
            h, beta = (state.h_next[:, :1], state.beta_next) if fresh else self._prev
            self._prev = (state.h_next.copy(), state.beta_next.copy())  # the window about to be played
        out = np.empty((core.num_envs, core.n_agents), np.int8)
        for b in range(core.num_envs):  # env copies, not agents
            out[b] = self._one(core, h[b], beta[b]).reshape(-1)
        return out

    def _one(self, core: ApSelectionCore, h: np.ndarray, beta: np.ndarray) -> np.ndarray:
        target = core.config.se_target_bps_hz

        def shortfall(assoc: np.ndarray) -> float:
            return float(np.maximum(target - core.window_se(h, assoc), 0.0).sum())

        assoc = np.ones(beta.shape, bool)
        best = shortfall(assoc)
        for l in np.argsort(beta.sum(axis=1), kind="stable"):
            trial = assoc.copy()
            trial[l] = False
            s = shortfall(trial)
            if s <= best + self.tol:
                assoc, best = trial, min(best, s)
        flat = np.argsort(np.where(assoc, beta, np.inf), axis=None, kind="stable")[: int(assoc.sum())]
        for idx in flat:
            l, k = divmod(int(idx), beta.shape[1])
            trial = assoc.copy()
            trial[l, k] = False
            s = shortfall(trial)
            if s <= best + self.tol:
                assoc, best = trial, min(best, s)
        return assoc


FACTORIES = {"k-strongest": KStrongest, "power-fraction": PowerFraction, "all-on": AllOn, "greedy": GreedyOracle}
OPTIONS = {"k-strongest": {"k", "by"}, "power-fraction": {"delta", "by", "min_k"}, "greedy": {"window"}}


def make_baseline(spec: str):
    """Build a baseline from a spec ``name[:key=value,...]``, e.g. ``k-strongest:k=2,by=large_scale``."""
    return parse_spec(spec, "aps", FACTORIES, OPTIONS)
