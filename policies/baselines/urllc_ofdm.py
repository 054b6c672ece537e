"""Classical controllers of the URLLC OFDM environment: uniform random (the behaviour policy of the
offline dataset), a heuristic (everyone everywhere), an orthogonal schedule (one UE per subband) and the
paper's Lyapunov drift-plus-penalty baseline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cfmarl.envs.urllc_ofdm.core import UrllcCore, UrllcState
from cfmarl.policies.baselines.spec import OwnStream, parse_spec


def _agent_layout(core: UrllcCore, flat: np.ndarray) -> np.ndarray:
    """(E, B 3 U K) -> (E, n_agents, action_dim)."""
    return flat.reshape(core.num_envs, core.n_agents, core.action_dim)


@dataclass
class UniformRandom(OwnStream):
    """Every action component uniform in [-1, 1] (seeded)."""

    seed: int = 0
    name: str = "random"
    privileged: bool = False

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def act(self, core: UrllcCore, state: UrllcState, obs: np.ndarray) -> np.ndarray:
        return self._rng.uniform(-1.0, 1.0, (core.num_envs, core.n_agents, core.action_dim))


def heuristic_actions(core: UrllcCore, state: UrllcState) -> np.ndarray:
    """Max-gain beam, every UE with packets scheduled on every subband, power split in proportion to
    (1 + urgent packets) x beam gain (urgent packets first); in the env's action encoding (E, B 3 U K)."""
    gain = core.pbm(state)  # (E, B, U, K, M)
    beam = gain.argmax(-1)  # (E, B, U, K)
    best = gain.max(-1)
    urgent = core.urgent_packets(state)  # (E, U)
    has = state.qlen > 0
    weight = (1.0 + urgent)[:, None, :, None] * best * has[:, None, :, None]
    share = weight / np.maximum(weight.max((-1, -2), keepdims=True), 1e-300)
    x = np.empty((core.num_envs, core.B, 3, core.U, core.K))
    x[:, :, 0] = np.where(has[:, None, :, None], 1.0, -1.0)
    x[:, :, 1] = 2.0 * beam / max(core.M - 1, 1) - 1.0
    x[:, :, 2] = 2.0 * share - 1.0  # softmax of [-1, 1]: the largest share gets up to e^2 times the smallest
    return x.reshape(core.num_envs, -1)


def orthogonal_actions(core: UrllcCore, state: UrllcState, on: float = 1.0, off: float = -1.0,
                       assign: str = "greedy", serve: str = "all") -> np.ndarray:
    """Each subband to one UE (no intra-subband interference), served on max-gain beams by every AP
    (``serve="all"``) or only by the AP with the strongest beam to that UE on it (``serve="best"``: fewer
    scheduled entries per AP, so eq. 15's softmax can send less power).

    ``assign="static"``: subband k to UE k mod U, whatever the channels and queues (a fixed reuse pattern).
    ``assign="greedy"``: greedy over the K subbands (vectorised over env copies): the next assignment is the (UE, subband) pair
    with the largest demand x summed beam gain / (1 + subbands the UE already has), where demand = buffered
    packets (urgent ones counted twice); UEs with empty buffers get nothing. Each AP splits its power evenly
    over the entries it schedules (logit +1 scheduled, -1 otherwise: the unscheduled entries' softmax share is
    not transmitted). Uses only what the agents observe (probing-beam gains, queue state)."""
    E, B, U, K, M = core.num_envs, core.B, core.U, core.K, core.M
    gain = core.pbm(state)  # (E, B, U, K, M)
    beam = gain.argmax(-1)
    g = (gain.max(-1) ** 2).sum(1)  # (E, U, K) summed best-beam power gain over APs
    demand = (state.qlen + core.urgent_packets(state)).astype(float)  # (E, U)
    owner = np.full((E, K), -1)
    count = np.zeros((E, U))
    free = np.ones((E, K), bool)
    rows = np.arange(E)
    if assign == "static":
        owner[:] = np.arange(K) % U
        free[:] = False
    for _ in range(K if assign == "greedy" else 0):
        score = demand[:, :, None] * g / (1.0 + count[:, :, None])
        score = np.where(free[:, None, :] & (demand[:, :, None] > 0), score, -1.0)
        flat = score.reshape(E, -1).argmax(-1)
        u, k = np.divmod(flat, K)
        ok = score.reshape(E, -1)[rows, flat] > 0
        owner[rows[ok], k[ok]] = u[ok]
        count[rows[ok], u[ok]] += 1
        free[rows[ok], k[ok]] = False
    sched = np.broadcast_to((owner[:, None, :] == np.arange(U)[None, :, None])[:, None], (E, B, U, K))
    if serve == "best":  # only the AP with the strongest beam to the subband's owner
        best_ap = gain.max(-1).argmax(1)  # (E, U, K)
        sched = sched & (np.arange(B)[None, :, None, None] == best_ap[:, None])
    x = np.empty((E, B, 3, U, K))
    x[:, :, 0] = np.where(sched, 1.0, -1.0)
    x[:, :, 1] = 2.0 * beam / max(M - 1, 1) - 1.0
    x[:, :, 2] = np.where(sched, on, off)
    return x.reshape(E, -1)


@dataclass
class Orthogonal:
    """:func:`orthogonal_actions`; ``on`` / ``off``: power logits of scheduled / unscheduled entries in
    [-1, 1] (``on=-1,off=1``: the least power for the chosen schedule); ``assign``: greedy or static
    subband assignment; ``serve``: all APs or only the best one per subband."""

    on: float = 1.0
    off: float = -1.0
    assign: str = "greedy"  # greedy (by demand x gain) | static (subband k to UE k mod U)
    serve: str = "all"  # all APs serve a subband's owner | best: only its strongest AP
    name: str = "orthogonal"
    privileged: bool = False

    def __post_init__(self) -> None:
        if self.assign not in ("greedy", "static"):
            raise ValueError(f"orthogonal.assign: must be greedy or static, got {self.assign!r}")
        if self.serve not in ("all", "best"):
            raise ValueError(f"orthogonal.serve: must be all or best, got {self.serve!r}")
        for key in ("on", "off"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not -1.0 <= v <= 1.0:
                raise ValueError(f"orthogonal.{key}: must be a number in [-1, 1], got {v!r}")

    def act(self, core: UrllcCore, state: UrllcState, obs: np.ndarray) -> np.ndarray:
        return _agent_layout(core, orthogonal_actions(core, state, self.on, self.off, self.assign, self.serve))


@dataclass
class Heuristic:
    name: str = "heuristic"
    privileged: bool = False

    def act(self, core: UrllcCore, state: UrllcState, obs: np.ndarray) -> np.ndarray:
        return _agent_layout(core, heuristic_actions(core, state))


@dataclass
class Lyapunov(OwnStream):
    """Drift-plus-penalty (Neely; the paper's baseline): each slot, sample ``candidates`` actions (uniform,
    plus the heuristic's and three orthogonal schedules': all APs at the most and at the least power, the
    best AP per subband at the least power), evaluate each with the true one-slot model, and pick the one
    minimising -V r + Z c; the virtual queue Z <- max(Z + c - d, 0) tracks the delay-violation target d.
    With uniform candidates only, V = 0.001 (r in Mbit/J) gave ~0.65 % violations at 1.4e8 bit/J on
    ``paper``; the structured candidates are what make it a strong baseline (it then mostly picks the
    least-power best-AP orthogonal schedule)."""

    candidates: int = 200
    v: float = 0.001
    seed: int = 0
    name: str = "lyapunov"
    privileged: bool = True
    _z: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates < 1:
            raise ValueError(f"lyapunov.candidates: must be an integer >= 1, got {self.candidates!r}")
        self._rng = np.random.default_rng(self.seed)

    def act(self, core: UrllcCore, state: UrllcState, obs: np.ndarray) -> np.ndarray:
        if state.t == 0 or self._z is None or len(self._z) != core.num_envs:
            self._z = np.zeros(core.num_envs)
        dim = core.B * core.block
        cand = self._rng.uniform(-1.0, 1.0, (core.num_envs, self.candidates, dim))
        cand[:, 0] = heuristic_actions(core, state)
        structured = [orthogonal_actions(core, state), orthogonal_actions(core, state, on=-1.0, off=1.0),
                      orthogonal_actions(core, state, on=-1.0, off=1.0, serve="best")]
        for i, x in enumerate(structured[:self.candidates - 1]):
            cand[:, 1 + i] = x
        _, _, reward, cost, *_ = core.outcome(state, cand)  # (E, n)
        pick = np.argmin(-self.v * reward + self._z[:, None] * cost, axis=1)
        chosen_cost = cost[np.arange(core.num_envs), pick]
        self._z = np.maximum(self._z + chosen_cost - core.config.delay_cost_limit, 0.0)
        return _agent_layout(core, cand[np.arange(core.num_envs), pick])


FACTORIES = {"random": UniformRandom, "heuristic": Heuristic, "orthogonal": Orthogonal, "lyapunov": Lyapunov}
OPTIONS = {"random": {"seed"}, "orthogonal": {"on", "off", "assign", "serve"}, "lyapunov": {"candidates", "v", "seed"}}


def _lyapunov_kan(**kw):  # imported on use: it loads torch and the fitted models
    from cfmarl.policies.offline.virtual_cmdp.lyapunov import LyapunovKan

    return LyapunovKan(**kw)


# not among the defaults `cfmarl evaluate` runs (FACTORIES): it needs fitted models (models=DIR)
_WITH_MODELS = {**FACTORIES, "lyapunov-kan": _lyapunov_kan}
_WITH_MODELS_OPTIONS = {**OPTIONS, "lyapunov-kan": {"models", "candidates", "v", "predictor", "structured", "seed"}}


def make_baseline(spec: str):
    return parse_spec(spec, "urllc", _WITH_MODELS, _WITH_MODELS_OPTIONS)
