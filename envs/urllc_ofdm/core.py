"""Batched array core of the CF-MIMO OFDM URLLC environment (no per-agent Python loops).

Shapes: E env copies, B APs x M antennas, U UEs, K subbands, Q = buffer / smallest packet.

**Slot t** (one ``step``; conventions of physics_reference.md "Queue conventions"):
arrivals happen at the slot start (observed before the decision; a packet that does
not fit in the 30 kbit buffer is dropped), a packet arriving in slot a can be served
in slots a .. a + D - 1 (D = deadline / slot), service is EDF with FIFO (FIFO here:
one common deadline per UE) over bits, and a packet not fully served at the end of
its last slot violates its deadline and leaves the buffer.

**Action** (eqs. 13-15), per AP b and entry (u, k), three numbers in [-1, 1]:
scheduling zeta = 1 if the first is > 0 (the floor((x + 1)/2) threshold of eq. 13 read as
a rounding, else no value but x = 1 would schedule), beam index round((x + 1)(M - 1)/2)
into the DFT codebook, and the power split P_b = P_max softmax over the AP's (u, k) entries
(only scheduled entries transmit). Layout (B, 3, U, K) flattened; a per-AP agent owns
its (3, U, K) block. ``action_levels`` declares the first two as read on 2 and M levels (the
hybrid action head models them as categoricals).

**SINR** (eq. 3) per (u, k) with P/C per subcarrier and noise N0 x subcarrier spacing;
bits psi_u by the finite-blocklength rate (eqs. 4-5, :func:`physics.fbl.fbl_bits`).
**Reward** (eq. 16): slot energy efficiency sum_u psi_u / (sum zeta P Delta_t), in Mbit/J
(0 when nothing is transmitted). **Cost** (eq. 17): per UE (violated + dropped) /
(violated + dropped + transmitted) packets of the slot, averaged over UEs (the paper's
system-level aggregate); every agent gets the system reward and cost.
**Observation**: the probing-beam measurements |h_buk^H f_m| (as received SNR of a full-power
beam, dB / 10) and the queue state (buffered packets, packets at their last slot) / lambda;
a per-AP agent sees its own AP's measurements and the queue state.
**Global state** (``global_state``, for centralised critics): the central agent's observation
(every AP's measurements, then the queue state once; B U K M + 2U) and each UE's buffered
bits / buffer size (U, in [0, 1]): packets differ in size, so the packet counts alone do not
say how many bits the slot must carry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfmarl.envs.physics.fbl import fbl_bits
from cfmarl.envs.urllc_ofdm import channel as ch
from cfmarl.envs.urllc_ofdm.config import UrllcConfig
from cfmarl.envs.validation import ConfigError, check_num_envs, coerce_box_actions, make_rngs


@dataclass
class UrllcState:
    rngs: list[np.random.Generator]
    t: int
    cell: np.ndarray  # (E, U, 2) grid cells
    heading: np.ndarray  # (E, U)
    scatterers: np.ndarray  # (E, B, U, S, 2)
    file_offset: np.ndarray  # (E,) start index into a channel file
    h: np.ndarray  # (E, B, U, K, M) channel of the current slot
    rem: np.ndarray  # (E, U, Q) remaining bits of queued packets (FIFO order)
    arr: np.ndarray  # (E, U, Q) arrival slot of queued packets
    qlen: np.ndarray  # (E, U)
    drops: np.ndarray  # (E, U) packets dropped at this slot's arrivals
    # last slot's outcome
    bits: np.ndarray  # (E, U) psi
    served_bits: np.ndarray  # (E, U)
    tx: np.ndarray  # (E, U) packets fully transmitted
    vio: np.ndarray  # (E, U) deadline violations
    last_drops: np.ndarray  # (E, U)
    power_w: np.ndarray  # (E,) transmitted power sum zeta P
    delays: np.ndarray  # (E, U) summed delay [slots] of transmitted packets


def decode_actions(actions, B: int, U: int, K: int, M: int, p_max_w: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The env's reading of actions (..., B 3 U K) (eqs. 13-15): zeta (..., B, U, K) bool, beam index, power [W]
    (P_max softmax of the power logits over each AP's (u, k) entries)."""
    x = np.asarray(actions)
    x = x.reshape(x.shape[:-1] + (B, 3, U, K))
    zeta = x[..., 0, :, :] > 0.0
    beam = np.rint((x[..., 1, :, :] + 1.0) * (M - 1) / 2.0).astype(int)
    logits = x[..., 2, :, :].reshape(x.shape[:-3] + (-1,))
    w = np.exp(logits - logits.max(-1, keepdims=True))
    power = (p_max_w * w / w.sum(-1, keepdims=True)).reshape(zeta.shape)
    return zeta, beam, power


class UrllcCore:
    def __init__(self, config: UrllcConfig, num_envs: int = 1):
        check_num_envs(num_envs)
        self.config = c = config
        self.num_envs = num_envs
        self.B, self.U, self.K, self.M = c.num_aps, c.num_ues, c.subbands, c.antennas
        self.central = c.agents == "central"
        self.n_agents = 1 if self.central else self.B
        self.block = 3 * self.U * self.K
        self.action_dim = self.block * (self.B if self.central else 1)
        self.pbm_dim = self.U * self.K * self.M
        self.obs_dim = (self.B if self.central else 1) * self.pbm_dim + 2 * self.U
        self.n_costs = 1
        self.action_bounds = (-1.0, 1.0)  # every action component
        # how the env reads each component of an agent's action (0 = continuous): the threshold of eq. 13 as
        # 2 levels (x > 0), the beam of eq. 14 as M levels (round((x + 1)(M - 1)/2)), the power logit as is
        uk = self.U * self.K
        self.action_levels = tuple(([2] * uk + [self.M if self.M > 1 else 0] * uk + [0] * uk) * (self.B if self.central else 1))
        self.agent_ids = ["central"] if self.central else [f"ap{b}" for b in range(self.B)]
        self.p_max_w = 10 ** ((c.p_max_dbm - 30) / 10)
        self.noise_w = 10 ** ((c.noise_dbm_hz - 30) / 10) * c.subcarrier_hz  # per subcarrier
        self.codebook = ch.dft_codebook(self.M)
        self.ap_pos = ch.ap_positions(self.B, c.area_x_m, c.area_y_m)
        self.grid = ch.grid_shape(c)
        self.Q = c.max_packets
        self.D = c.deadline_slots
        self._file = None
        if c.channel_file:
            want = (self.B, self.U, self.K, self.M)
            try:
                arr = np.load(c.channel_file)  # allow_pickle=False: a pickle is refused, never executed
            except (OSError, ValueError, EOFError) as exc:
                raise ConfigError(f"UrllcConfig.channel_file: cannot read {c.channel_file!r} as a .npy array "
                                  f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
            if not isinstance(arr, np.ndarray):  # an .npz archive
                arr.close()
                raise ConfigError(f"UrllcConfig.channel_file: {c.channel_file!r} is an .npz archive; expected one "
                                  f".npy complex array (T, {', '.join(map(str, want))})")
            if arr.ndim != 5 or arr.shape[1:] != want or not np.iscomplexobj(arr):
                raise ConfigError(f"UrllcConfig.channel_file: expected a complex array (T, {', '.join(map(str, want))}),"
                                  f" got {arr.dtype} {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"UrllcConfig.channel_file: {c.channel_file!r} holds NaN or infinite values")
            self._file = arr
        hi = np.concatenate([np.full(self.obs_dim - 2 * self.U, 30.0), np.full(2 * self.U, 1e3)]).astype(np.float32)
        self._obs_low, self._obs_high = -hi, hi

    @property
    def obs_bounds(self):
        return self._obs_low, self._obs_high

    # ------------------------------------------------------------------ API
    def reset(self, seeds):
        rngs = make_rngs(seeds, self.num_envs)
        c, E, B, U = self.config, self.num_envs, self.B, self.U
        cell = np.stack([np.stack([g.integers(0, self.grid[0], U), g.integers(0, self.grid[1], U)], -1) for g in rngs])
        heading = np.stack([g.integers(0, 4, U) for g in rngs])
        lo = -ch.AP_MARGIN_M
        span = np.array([c.area_x_m + 2 * ch.AP_MARGIN_M, c.area_y_m + 2 * ch.AP_MARGIN_M])
        scat = np.stack([lo + span * g.random((B, U, c.clusters - 1, 2)) for g in rngs])
        offset = np.array([g.integers(0, len(self._file)) if self._file is not None else 0 for g in rngs])
        z = np.zeros((E, U))
        state = UrllcState(rngs=rngs, t=0, cell=cell, heading=heading, scatterers=scat, file_offset=offset,
                           h=np.empty(0), rem=np.zeros((E, U, self.Q)), arr=np.zeros((E, U, self.Q), int),
                           qlen=np.zeros((E, U), int), drops=z.copy(), bits=z.copy(), served_bits=z.copy(),
                           tx=z.copy(), vio=z.copy(), last_drops=z.copy(), power_w=np.zeros(E), delays=z.copy())
        state.h = self._channel(state)
        self._arrivals(state)
        return state, self._observe(state)

    def decode(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Actions (..., B 3 U K) -> zeta (..., B, U, K) bool, beam index (..., B, U, K), power (..., B, U, K) [W]."""
        return decode_actions(actions, self.B, self.U, self.K, self.M, self.p_max_w)

    def outcome(self, state: UrllcState, actions: np.ndarray):
        """One-slot model for actions (E, ..., A) (any candidate axes after E): bits psi (E, ..., U),
        transmitted power, reward [Mbit/J], cost, and the service outcome (tx, vio) per UE."""
        c = self.config
        zeta, beam, power = self.decode(actions)
        extra = actions.ndim - 2
        h = state.h.reshape((self.num_envs,) + (1,) * extra + state.h.shape[1:])  # (E, ..., B, U, K, M)
        f = self.codebook[beam]  # (E, ..., B, V, K, M)
        g = np.einsum("...bukm,...bvkm->...bukv", np.conj(h), f)  # gain at u of AP b's beam for v
        amp = np.sqrt(zeta * power / c.subcarriers)  # (E, ..., B, V, K)
        s = np.einsum("...bvk,...bukv->...ukv", amp, g)  # received amplitude at u, subband k, stream v
        p = np.abs(s) ** 2
        own = np.diagonal(p, axis1=-3, axis2=-1)  # (..., K, U)
        sinr = np.swapaxes(own / (p.sum(-1).swapaxes(-1, -2) - own + self.noise_w), -1, -2)  # (..., U, K)
        bits = fbl_bits(sinr, c.res_per_tfu, c.block_error)  # (..., U)
        tx_power = (zeta * power).sum((-1, -2, -3))
        energy = tx_power * c.slot_s
        reward = np.where(energy > 0, bits.sum(-1) / np.where(energy > 0, energy, 1.0), 0.0) / 1e6
        tx, vio, served = self._service(state, bits)
        drops = state.drops.reshape((self.num_envs,) + (1,) * extra + (self.U,))
        den = tx + vio + drops
        cost = np.where(den > 0, (vio + drops) / np.where(den > 0, den, 1), 0.0).mean(-1)
        return bits, tx_power, reward, cost, tx, vio, served

    def step(self, state: UrllcState, actions):
        a = coerce_box_actions(actions, self.num_envs, self.B * self.block, -1.0, 1.0, self.agent_ids,
                               per_agent=self.action_dim)
        bits, tx_power, reward, cost, tx, vio, served = self.outcome(state, a)
        # delays of the packets transmitted now: they are the first tx of the queue
        idx = np.arange(self.Q)
        done = idx[None, None, :] < tx[..., None]
        state.delays = ((state.t - state.arr + 1) * done).sum(-1).astype(float)
        self._advance_queue(state, bits)
        state.bits, state.served_bits, state.tx, state.vio = bits, served, tx.astype(float), vio.astype(float)
        state.last_drops, state.power_w = state.drops.copy(), tx_power
        state.t += 1
        done_flag = np.full(self.num_envs, state.t >= self.config.episode_slots)
        self._move(state)
        state.h = self._channel(state)
        self._arrivals(state)
        r = np.repeat(reward[:, None], self.n_agents, 1)
        cst = np.repeat(cost[:, None, None], self.n_agents, 1)
        return state, self._observe(state), r, cst, done_flag

    def kpis(self, state: UrllcState) -> dict[str, np.ndarray]:
        c = self.config
        energy = state.power_w * c.slot_s
        ee = np.where(energy > 0, state.bits.sum(-1) / np.where(energy > 0, energy, 1.0), 0.0)
        den = state.tx + state.vio + state.last_drops
        rate = np.where(den > 0, (state.vio + state.last_drops) / np.where(den > 0, den, 1), 0.0).mean(-1)
        tx = state.tx.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            delay_ms = np.where(tx > 0, state.delays.sum(-1) / np.maximum(tx, 1) * c.slot_s * 1e3, np.nan)
        return {"energy_efficiency_bit_per_j": ee, "delay_violation_rate": rate, "mean_delay_ms": delay_ms,
                "dropped_packets": state.last_drops.sum(-1), "violated_packets": state.vio.sum(-1),
                "throughput_kbps": state.served_bits.sum(-1) / c.slot_s / 1e3,
                "tx_power_w": state.power_w, "buffered_packets": state.qlen.sum(-1).astype(float)}

    summary_kpis = ("energy_efficiency_bit_per_j", "delay_violation_rate", "dropped_packets", "throughput_kbps",
                    "tx_power_w")

    def user_records(self, state: UrllcState) -> dict[str, np.ndarray]:
        return {"served_kbit": state.served_bits / 1e3, "queue": state.qlen.astype(float)}

    def agent_graph(self, state=None):
        """Per-AP agents: every AP's power interferes at every UE (complete graph); none for central."""
        if self.central:
            return np.zeros((2, 0), np.int64), np.zeros(0, np.int64)
        src, dst = np.nonzero(~np.eye(self.B, dtype=bool))
        return np.stack([src, dst]).astype(np.int64), np.zeros(src.size, np.int64)

    def pbm(self, state: UrllcState) -> np.ndarray:
        """Probing-beam measurements |h_buk^H f_m|, (E, B, U, K, M)."""
        return np.abs(np.einsum("ebukm,nm->ebukn", np.conj(state.h), self.codebook))

    # ------------------------------------------------------------- internals
    def _service(self, state: UrllcState, bits: np.ndarray):
        """FIFO service of ``bits`` (E, ..., U): packets fully transmitted, deadline violations (packets at
        their last slot not fully served) and bits actually served."""
        shape = (self.num_envs,) + (1,) * (bits.ndim - 2) + (self.U, self.Q)
        valid, cs, expiring = self._fifo(state)
        tx = ((cs.reshape(shape) <= bits[..., None] + 1e-9) & valid.reshape(shape)).sum(-1)
        vio = np.maximum(expiring.reshape(shape[:-1]) - tx, 0)
        served = np.minimum(bits, cs[..., -1].reshape(shape[:-1]))
        return tx, vio, served

    def urgent_packets(self, state: UrllcState) -> np.ndarray:
        """Packets at their last service slot (their delay reaches the deadline now), (E, U)."""
        return self._fifo(state)[2]

    def _fifo(self, state: UrllcState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Valid queue slots (E, U, Q), cumulative queued bits in FIFO order (E, U, Q) and the number of
        packets at their last slot (E, U), which are a prefix of the queue (one deadline per UE)."""
        valid = np.arange(self.Q) < state.qlen[..., None]
        cs = np.cumsum(np.where(valid, state.rem, 0.0), -1)
        expiring = ((state.t - state.arr + 1 >= self.D) & valid).sum(-1)
        return valid, cs, expiring

    def _advance_queue(self, state: UrllcState, bits: np.ndarray) -> None:
        valid, cs, expiring = self._fifo(state)
        tx = ((cs <= bits[..., None] + 1e-9) & valid).sum(-1)
        # the first packet not fully served keeps what is left of it
        left = cs - bits[..., None]
        first = np.arange(self.Q)[None, None, :] == tx[..., None]
        state.rem = np.where(first & valid, np.minimum(state.rem, np.maximum(left, 0.0)), state.rem)
        k = np.maximum(tx, expiring)
        idx = np.minimum(np.arange(self.Q)[None, None, :] + k[..., None], self.Q - 1)
        state.rem = np.take_along_axis(state.rem, idx, -1)
        state.arr = np.take_along_axis(state.arr, idx, -1)
        state.qlen = state.qlen - k

    def _arrivals(self, state: UrllcState) -> None:
        """Poisson packets with U[min, max] bits at the start of slot t; per-packet tail drop at the buffer."""
        c, E, U = self.config, self.num_envs, self.U
        n = np.stack([g.poisson(c.arrival_rate, U) for g in state.rngs])  # (E, U)
        amax = int(n.max(initial=0))
        state.drops = np.zeros((E, U))
        if amax == 0:
            return
        # each copy draws (U, its own largest count) sizes from its own stream, padded to the batch's largest:
        # drawing (U, amax) for every copy would make a copy's later draws depend on the copies batched with it
        sizes = np.zeros((E, U, amax), np.int64)
        for e, (g, m) in enumerate(zip(state.rngs, n.max(-1))):
            sizes[e, :, :m] = g.integers(c.packet_bits_min, c.packet_bits_max + 1, (U, m))
        self.enqueue(state, np.where(np.arange(amax) < n[..., None], sizes, 0))

    def enqueue(self, state: UrllcState, sizes: np.ndarray) -> None:
        """Packets arriving now (sizes (E, U, A) in arrival order, 0 = none): each is dropped if it does not
        fit in the buffer when it arrives (per-packet tail drop); the rest join the FIFO."""
        c = self.config
        queued = self._fifo(state)[1][..., -1]  # bits in the buffer (E, U)
        if np.all(queued + sizes.sum(-1) <= c.buffer_bits):
            accept = sizes > 0
        else:  # packets in arrival order (rarely needed)
            accept = np.zeros(sizes.shape, bool)
            level = queued.copy()
            for a in range(sizes.shape[-1]):
                fits = (sizes[..., a] > 0) & (level + sizes[..., a] <= c.buffer_bits)
                accept[..., a] = fits
                level += np.where(fits, sizes[..., a], 0)
        state.drops = ((sizes > 0) & ~accept).sum(-1).astype(float)
        rank = np.cumsum(accept, -1) - 1
        pos = state.qlen[..., None] + rank
        e, u, a = np.nonzero(accept)
        state.rem[e, u, pos[e, u, a]] = sizes[e, u, a]
        state.arr[e, u, pos[e, u, a]] = state.t
        state.qlen = state.qlen + accept.sum(-1)

    def _move(self, state: UrllcState) -> None:
        u = np.stack([g.random(self.U) for g in state.rngs])
        state.cell, state.heading = ch.move(state.cell, state.heading, u, self.grid)

    def _channel(self, state: UrllcState) -> np.ndarray:
        if self._file is not None:
            return self._file[(state.file_offset + state.t) % len(self._file)]
        return ch.channels(self.ap_pos, state.cell * self.config.grid_step_m, state.scatterers, self.config)

    def _observe(self, state: UrllcState) -> np.ndarray:
        c = self.config
        snr = (self.pbm(state) ** 2) * (self.p_max_w / c.subcarriers) / self.noise_w
        feat = np.clip(10 * np.log10(np.maximum(snr, 1e-30)) / 10.0, -30.0, 30.0)  # (E, B, U, K, M)
        queue = np.concatenate([state.qlen, self.urgent_packets(state)], -1) / max(c.arrival_rate, 1.0)  # (E, 2U)
        if self.central:
            return np.concatenate([feat.reshape(self.num_envs, -1), queue], -1)[:, None].astype(np.float32)
        per_ap = feat.reshape(self.num_envs, self.B, -1)
        return np.concatenate([per_ap, np.repeat(queue[:, None], self.B, 1)], -1).astype(np.float32)

    # ------------------------------------------------------------ global state
    @property
    def state_dim(self) -> int:
        """Length S of :meth:`global_state`: B U K M + 3U."""
        return self.B * self.pbm_dim + 3 * self.U

    @property
    def state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (S,) float32 of :meth:`global_state`."""
        reps = 1 if self.central else self.B
        lo, hi = self._obs_low, self._obs_high
        low = np.concatenate([np.tile(lo[:-2 * self.U], reps), lo[-2 * self.U:], np.zeros(self.U, np.float32)])
        high = np.concatenate([np.tile(hi[:-2 * self.U], reps), hi[-2 * self.U:], np.ones(self.U, np.float32)])
        return low, high

    def global_state(self, state: UrllcState) -> np.ndarray:
        """Global state for centralised critics, (E, B U K M + 3U) float32: the central observation layout
        (all APs' probing-beam features, the queue features once) and the buffered bits / buffer size per UE."""
        E, u2 = self.num_envs, 2 * self.U
        obs = self._observe(state)  # (E, agents, obs_dim): per-AP rows share the queue features
        base = obs[:, 0] if self.central else np.concatenate([obs[..., :-u2].reshape(E, -1), obs[:, 0, -u2:]], -1)
        bits = self._fifo(state)[1][..., -1] / self.config.buffer_bits
        return np.concatenate([base, bits], -1).astype(np.float32)
