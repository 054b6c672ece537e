"""Batched array core of the MF-TDMA ad hoc network (no per-agent Python loops).

Shapes: B env copies, N nodes (agents), Q queue capacity, M slots, L channels.

**Topology** (reset): nodes uniform in the square, redrawn until the 1-hop graph
(distance <= hop radius) is connected. Link SNR from the FSPL budget (eqs. 9-10:
P_r = P_t G_t G_r (lambda / 4 pi d)^2, noise -174 dBm/Hz + NF over the RB rate's
bandwidth); a packet crosses a link with probability (1 - Q(sqrt(2 SNR)))^bits
(uncoded BPSK). Usable links: within the radius and packet error <= 0.5.
Packets follow shortest paths by expected transmission count 1 / (1 - PER).

**Traffic**: node i generates Poisson packets (high or low rate) in every slot,
each to a uniformly drawn other node; a packet to an unreachable node is lost.
Every node has a generation queue (own packets) and a transmission queue
(packets to forward and unacknowledged ones, which go back to its end).

**Frame** (one ``step``): the RB requests a_i >= 0 are scaled by
min(1, M L / sum a) and rounded by largest remainder, so sum g <= M L
(paper Sec. III-B); the granted RBs are placed at random among the M x L
(slot, channel) RBs. Slot by slot: arrivals, then every node sends one packet
per RB it holds in that slot, transmission queue first, then generation queue.
A packet delivered to its destination counts its delay from generation to the
end of the slot.

**Observation** of node i: [gen, gen_max, tran, tran_max] / (M L) (queue lengths at
the end of the frame and their maxima within it, paper) and the mean of the
same over its 1-hop neighbours (the mean-field term, eq. 11): 8 features.
**Reward** (eq. 12): minus the mean delay, in frames, of the packets node i received
as their destination in the frame (0 when it received none). **Cost**: packets
dropped at node i in the frame (full queue or retry limit).
**Global state** (``global_state``, for centralised critics): every node's
observation (8N), the episode's topology as the usable-link adjacency matrix (N^2
zeros and ones, row i = node i's neighbours) and the RBs granted to each node in
the last frame / (M L) (N): the observations see only 1-hop means, not where
the nodes sit in the multi-hop routes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import shortest_path
from scipy.special import erfc

from cfmarl.envs.mf_tdma.config import RF_SETTINGS, MfTdmaConfig
from cfmarl.envs.physics import geometry, pathloss
from cfmarl.envs.physics.units import thermal_noise_power_w
from cfmarl.envs.validation import check_num_envs, coerce_box_actions, make_rngs

MAX_TOPOLOGY_DRAWS = 10_000


@dataclass
class MfTdmaState:
    rngs: list[np.random.Generator]
    t: int
    pos: np.ndarray  # (B, N, 2)
    neighbours: np.ndarray  # (B, N, N) bool, usable 1-hop links
    next_hop: np.ndarray  # (B, N, N) int, -1 = unreachable
    success: np.ndarray  # (B, N, N) per-packet success probability of each link
    # queues: (B N, Q) ring buffers of packet attributes + lengths (B N,); a queue's packets sit at columns
    # (head + i) mod Q, i < length (the heads are the last fields: states pickled before them start at 0)
    gen_dest: np.ndarray
    gen_birth: np.ndarray
    gen_len: np.ndarray
    tr_dest: np.ndarray
    tr_birth: np.ndarray
    tr_retry: np.ndarray
    tr_len: np.ndarray
    obs_raw: np.ndarray  # (B, N, 4) [gen, gen_max, tran, tran_max]
    # last frame's outcome
    grants: np.ndarray  # (B, N)
    delivered: np.ndarray  # (B, N) packets delivered to each destination
    delay_sum: np.ndarray  # (B, N) their summed delay [s]
    dropped: np.ndarray  # (B, N) packets dropped at each node
    lost_unreachable: np.ndarray  # (B,) packets generated for unreachable destinations this frame
    generated: np.ndarray  # (B,) packets generated this frame
    sent: np.ndarray  # (B,) transmissions
    gen_head: np.ndarray | None = None  # (B N,) column of each generation queue's first packet
    tr_head: np.ndarray | None = None  # (B N,) the same for the transmission queues


class MfTdmaCore:
    def __init__(self, config: MfTdmaConfig, num_envs: int = 1):
        check_num_envs(num_envs)
        self.config = c = config
        self.num_envs = num_envs
        self.N = c.num_nodes
        self.n_agents = self.N
        self.obs_dim = 8
        self.action_dim = 1
        self.n_costs = 1
        self.action_bounds = (0.0, float(c.num_rbs))  # RB request
        self.agent_ids = [f"node{i}" for i in range(self.N)]
        self.rate_pps = np.where(np.arange(self.N) < c.num_high, c.high_rate_pps, c.low_rate_pps)
        fc, p_dbm = RF_SETTINGS[c.rf]
        self.carrier_hz, self.tx_power_dbm = fc, p_dbm
        self.noise_dbm = 10 * np.log10(thermal_noise_power_w(c.rb_rate_bps, c.noise_figure_db)) + 30
        self._obs_low = np.zeros(8, np.float32)
        self._obs_high = np.full(8, 2 * c.queue_capacity / c.num_rbs, np.float32)

    @property
    def obs_bounds(self):
        return self._obs_low, self._obs_high

    # ------------------------------------------------------------------ links
    def link_snr_db(self, d_m: np.ndarray) -> np.ndarray:
        """Received SNR [dB] over distance d: P_t + G_t + G_r - FSPL(d, f_c) - noise (eqs. 9-10)."""
        c = self.config
        fspl = pathloss.free_space_pl_db(d_m, self.carrier_hz)
        return self.tx_power_dbm + 2 * c.antenna_gain_dbi - fspl - self.noise_dbm

    def packet_success(self, snr_db: np.ndarray) -> np.ndarray:
        """(1 - BER)^bits with the uncoded BPSK BER Q(sqrt(2 SNR)) = erfc(sqrt(SNR)) / 2."""
        ber = 0.5 * erfc(np.sqrt(10.0 ** (np.asarray(snr_db) / 10.0)))
        return np.exp(self.config.packet_bits * np.log1p(-np.minimum(ber, 1 - 1e-300)))

    def _topology(self, rng: np.random.Generator):
        c, N = self.config, self.N
        for _ in range(MAX_TOPOLOGY_DRAWS):
            pos = geometry.drop_uniform_square(rng, N, c.area_size_m)
            d = geometry.horizontal_distance_m(pos, pos)
            in_range = (d <= c.hop_radius_m) & ~np.eye(N, dtype=bool)
            if _connected(in_range):
                return (pos, *self.links(pos))
        raise RuntimeError(f"no connected topology of {N} nodes with a {c.hop_radius_m:g} m radius in a "
                           f"{c.area_size_m:g} m square after {MAX_TOPOLOGY_DRAWS} draws")

    def links(self, pos: np.ndarray):
        """For node positions (N, 2): usable links (N, N), next hops (N, N) (-1 = unreachable) and the
        per-packet success probability of every link within the radius."""
        c, N = self.config, self.N
        d = geometry.horizontal_distance_m(pos, pos)
        in_range = (d <= c.hop_radius_m) & ~np.eye(N, dtype=bool)
        succ = np.where(in_range, self.packet_success(self.link_snr_db(np.maximum(d, 1.0))), 0.0)
        usable = in_range & (succ >= 0.5)
        etx = np.where(usable, 1.0 / np.maximum(succ, 1e-12), 0.0)
        dist, pred = shortest_path(etx, directed=False, return_predecessors=True)
        idx = np.arange(N)
        nh = np.where(pred == idx[:, None], idx[None, :], -1)  # direct neighbours on the path
        nh[~np.isfinite(dist)] = -1
        for _ in range(N):  # next hop of i to j = next hop of i to pred(i, j)
            back = np.take_along_axis(nh, np.maximum(pred, 0), axis=1)
            nh = np.where((nh < 0) & (pred >= 0), back, nh)
        np.fill_diagonal(nh, -1)
        return usable, nh, succ

    # ------------------------------------------------------------------ API
    def reset(self, seeds):
        rngs = make_rngs(seeds, self.num_envs)
        B, N, Q = self.num_envs, self.N, self.config.queue_capacity
        topo = [self._topology(g) for g in rngs]
        z = np.zeros((B, N))
        state = MfTdmaState(
            rngs=rngs, t=0, pos=np.stack([x[0] for x in topo]), neighbours=np.stack([x[1] for x in topo]),
            next_hop=np.stack([x[2] for x in topo]), success=np.stack([x[3] for x in topo]),
            gen_dest=np.zeros((B * N, Q), np.int32), gen_birth=np.zeros((B * N, Q)), gen_len=np.zeros(B * N, int),
            tr_dest=np.zeros((B * N, Q), np.int32), tr_birth=np.zeros((B * N, Q)), tr_retry=np.zeros((B * N, Q), int),
            tr_len=np.zeros(B * N, int), obs_raw=np.zeros((B, N, 4)), grants=z.copy(), delivered=z.copy(),
            delay_sum=z.copy(), dropped=z.copy(), lost_unreachable=np.zeros(B), generated=np.zeros(B),
            sent=np.zeros(B), gen_head=np.zeros(B * N, int), tr_head=np.zeros(B * N, int))
        return state, self._observe(state)

    def normalise_requests(self, requests: np.ndarray) -> np.ndarray:
        """RB requests (B, N) >= 0 -> integer grants with sum <= M L: scale by min(1, M L / sum),
        floor, and hand the remaining RBs to the largest fractional parts."""
        total = self.config.num_rbs
        a = np.maximum(np.asarray(requests, float), 0.0)
        s = a.sum(-1, keepdims=True)
        x = a * np.minimum(1.0, total / np.maximum(s, 1e-300))
        g = np.floor(x + 1e-9)
        left = np.minimum(np.round(x.sum(-1)), total) - g.sum(-1)  # RBs still to hand out (B,)
        order = np.argsort(-(x - g), axis=-1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(self.N)[None].repeat(len(g), 0), axis=-1)
        g += rank < left[:, None]
        return g.astype(int)

    def step(self, state: MfTdmaState, actions):
        c, B, N, M, L = self.config, self.num_envs, self.N, self.config.slots, self.config.channels
        a = coerce_box_actions(actions, B, N, 0.0, float(c.num_rbs), self.agent_ids)
        grants = self.normalise_requests(a)
        # RB placement: granted RBs at random (slot, channel) positions
        owner = (np.arange(c.num_rbs)[None, None, :] >= np.cumsum(grants, -1)[..., None]).sum(1)  # (B, M L), N = idle
        perm = np.stack([g.permutation(c.num_rbs) for g in state.rngs])
        owner = np.take_along_axis(owner, perm, -1).reshape(B, M, L)
        per_slot = (owner[..., None] == np.arange(N)).sum(2)  # (B, M, N) RBs of node i in slot m
        state.grants = grants.astype(float)
        state.delivered[:] = 0.0
        state.delay_sum[:] = 0.0
        state.dropped[:] = 0.0
        state.sent[:] = 0.0
        state.lost_unreachable[:] = 0.0
        state.generated[:] = 0.0
        gen_max = state.gen_len.reshape(B, N).astype(float)
        tr_max = state.tr_len.reshape(B, N).astype(float)
        t0 = state.t * c.frame_s
        for m in range(M):  # slots in time order
            start, end = t0 + m * c.slot_s, t0 + (m + 1) * c.slot_s
            self._arrivals(state, start)
            gen_max = np.maximum(gen_max, state.gen_len.reshape(B, N))
            tr_max = np.maximum(tr_max, state.tr_len.reshape(B, N))
            self._transmit(state, per_slot[:, m] * c.packets_per_rb, end)
            gen_max = np.maximum(gen_max, state.gen_len.reshape(B, N))
            tr_max = np.maximum(tr_max, state.tr_len.reshape(B, N))
        state.obs_raw = np.stack([state.gen_len.reshape(B, N), gen_max, state.tr_len.reshape(B, N), tr_max], -1)
        state.t += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_delay = np.where(state.delivered > 0, state.delay_sum / np.maximum(state.delivered, 1), 0.0)
        reward = -mean_delay / c.frame_s
        done = np.full(B, state.t >= c.episode_frames)
        return state, self._observe(state), reward, state.dropped.copy()[..., None], done

    def kpis(self, state: MfTdmaState) -> dict[str, np.ndarray]:
        c = self.config
        delivered = state.delivered.sum(-1)
        lost = state.dropped.sum(-1) + state.lost_unreachable
        with np.errstate(invalid="ignore", divide="ignore"):
            delay = np.where(delivered > 0, state.delay_sum.sum(-1) / np.maximum(delivered, 1), np.nan)
            loss = np.where(delivered + lost > 0, lost / np.maximum(delivered + lost, 1), 0.0)
        return {"throughput_mbps": delivered * c.packet_bits / c.frame_s / 1e6, "mean_delay_ms": 1e3 * delay,
                "packet_loss_rate": loss, "delivered_packets": delivered, "lost_packets": lost,
                "queued_packets": (state.gen_len + state.tr_len).reshape(self.num_envs, -1).sum(-1).astype(float),
                "rb_utilisation": state.sent / c.num_rbs / c.packets_per_rb,
                "granted_rbs": state.grants.sum(-1)}

    summary_kpis = ("throughput_mbps", "mean_delay_ms", "packet_loss_rate", "queued_packets", "rb_utilisation")

    def user_records(self, state: MfTdmaState) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.where(state.delivered > 0, state.delay_sum / np.maximum(state.delivered, 1), np.nan)
        return {"node_delay_ms": 1e3 * d, "grants": state.grants.copy(),
                "queue": state.obs_raw[..., 0] + state.obs_raw[..., 2]}

    #: the interaction graph changes per episode (topology); models get it as an edge mask
    graph_kind = "episode"

    def candidate_graph(self) -> tuple[np.ndarray, np.ndarray]:
        """Every edge the graph can ever have: all ordered pairs i != j, one type; (2, N(N-1)), (N(N-1),)."""
        src, dst = np.nonzero(~np.eye(self.N, dtype=bool))
        return np.stack([src, dst]).astype(np.int64), np.zeros(src.size, np.int64)

    def edge_mask(self, state: MfTdmaState) -> np.ndarray:
        """(B, N(N-1)) bool: which candidate edges are usable 1-hop links in each env copy."""
        src, dst = np.nonzero(~np.eye(self.N, dtype=bool))
        return state.neighbours[:, src, dst]

    def agent_graph(self, state: MfTdmaState | None = None):
        """1-hop radio neighbours (usable links) of env copy 0 of ``state``, one edge type; the
        complete graph before any reset."""
        if state is None:
            src, dst = np.nonzero(~np.eye(self.N, dtype=bool))
        else:
            src, dst = np.nonzero(state.neighbours[0])
        return np.stack([src, dst]).astype(np.int64), np.zeros(src.size, np.int64)

    # ------------------------------------------------------------- internals
    def _observe(self, state: MfTdmaState) -> np.ndarray:
        own = state.obs_raw / self.config.num_rbs
        nb = state.neighbours.astype(float)
        mean = (nb @ own) / np.maximum(nb.sum(-1, keepdims=True), 1.0)
        return np.concatenate([own, mean], -1).astype(np.float32)

    # ------------------------------------------------------------ global state
    @property
    def state_dim(self) -> int:
        """Length S of :meth:`global_state`: 8N + N^2 + N."""
        return self.N * self.obs_dim + self.N * self.N + self.N

    @property
    def state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (S,) float32 of :meth:`global_state`."""
        n = self.N * self.N + self.N
        return (np.concatenate([np.tile(self._obs_low, self.N), np.zeros(n, np.float32)]),
                np.concatenate([np.tile(self._obs_high, self.N), np.ones(n, np.float32)]))

    def global_state(self, state: MfTdmaState) -> np.ndarray:
        """Global state for centralised critics, (B, 8N + N^2 + N) float32: all observations, the usable-link
        adjacency (row-major) and the last frame's grants / (M L)."""
        B = self.num_envs
        return np.concatenate([self._observe(state).reshape(B, -1), state.neighbours.reshape(B, -1),
                               state.grants / self.config.num_rbs], -1).astype(np.float32)

    def _arrivals(self, state: MfTdmaState, start: float) -> None:
        c, B, N = self.config, self.num_envs, self.N
        counts = np.stack([g.poisson(self.rate_pps * c.slot_s) for g in state.rngs])  # (B, N)
        total = counts.sum(-1)
        state.generated += total
        if not total.any():
            return
        src = np.concatenate([np.repeat(np.arange(N), counts[b]) for b in range(B)])  # packets, by env copy
        env = np.repeat(np.arange(B), total)
        u = np.concatenate([g.random((n, 2)) for g, n in zip(state.rngs, total)])
        dest = (src + 1 + (u[:, 0] * (N - 1)).astype(int)) % N  # uniform over the other nodes
        birth = start + u[:, 1] * c.slot_s
        reach = state.next_hop[env, src, dest] >= 0
        np.add.at(state.lost_unreachable, env[~reach], 1)
        node = env * N + src
        over = _push(state.gen_dest, state.gen_birth, None, _heads(state, "gen"), state.gen_len, node[reach],
                     dest[reach], birth[reach], None)
        np.add.at(state.dropped.reshape(-1), node[reach][over], 1)

    def _transmit(self, state: MfTdmaState, capacity: np.ndarray, end: float) -> None:
        B, N = self.num_envs, self.N
        cap = capacity.reshape(-1)
        k_tr = np.minimum(cap, state.tr_len)
        k_gen = np.minimum(cap - k_tr, state.gen_len)
        d1, b1, r1, n1 = _pop(state.tr_dest, state.tr_birth, state.tr_retry, _heads(state, "tr"), state.tr_len, k_tr)
        d2, b2, _, n2 = _pop(state.gen_dest, state.gen_birth, None, _heads(state, "gen"), state.gen_len, k_gen)
        node = np.concatenate([n1, n2])
        if node.size == 0:
            return
        dest = np.concatenate([d1, d2])
        birth = np.concatenate([b1, b2])
        retry = np.concatenate([r1, np.zeros(n2.size, int)])
        env, src = np.divmod(node, N)
        nxt = state.next_hop[env, src, dest]
        # one success draw per packet from its own copy's stream, in the copy's packet order (the packets are the
        # transmission queues' then the generation queues', so not grouped by copy when B > 1)
        order = np.argsort(env, kind="stable")
        u = np.empty(env.size)
        u[order] = np.concatenate([state.rngs[b].random(n) for b, n in enumerate(np.bincount(env, minlength=B))])
        ok = u < state.success[env, src, nxt]
        np.add.at(state.sent, env, 1)
        arrived = ok & (nxt == dest)
        np.add.at(state.delivered.reshape(-1), (env * N + dest)[arrived], 1)
        np.add.at(state.delay_sum.reshape(-1), (env * N + dest)[arrived], end - birth[arrived])
        fwd = ok & (nxt != dest)
        failed = ~ok
        retry = retry + failed
        give_up = failed & (retry > self.config.max_retries)
        np.add.at(state.dropped.reshape(-1), node[give_up], 1)
        back = failed & ~give_up
        # forwarded packets join the next hop's queue, unacknowledged ones the end of the sender's
        target = np.concatenate([(env * N + nxt)[fwd], node[back]])
        over = _push(state.tr_dest, state.tr_birth, state.tr_retry, _heads(state, "tr"), state.tr_len, target,
                     np.concatenate([dest[fwd], dest[back]]), np.concatenate([birth[fwd], birth[back]]),
                     np.concatenate([np.zeros(int(fwd.sum()), int), retry[back]]))
        np.add.at(state.dropped.reshape(-1), target[over], 1)


def _connected(adj: np.ndarray) -> bool:
    """Whether the undirected graph of the symmetric boolean adjacency (N, N) is connected: a breadth-first
    search from node 0 on the matrix (the topology draw tests thousands of candidates at 32 nodes and more, where
    scipy's connected_components spent ~0.7 ms a call on validation)."""
    seen = np.zeros(len(adj), bool)
    seen[0] = True
    frontier = seen.copy()
    while frontier.any():
        frontier = adj[frontier].any(0) & ~seen
        seen |= frontier
    return bool(seen.all())


def _heads(state: MfTdmaState, kind: str) -> np.ndarray:
    """The ring buffers' head columns of the ``kind`` ("gen" / "tr") queues (zeros for a state pickled before the
    queues were rings: their packets started at column 0)."""
    name = f"{kind}_head"
    if getattr(state, name, None) is None:
        setattr(state, name, np.zeros(len(getattr(state, f"{kind}_len")), int))
    return getattr(state, name)


def _pop(dest, birth, retry, head, length, k):
    """Remove the first k[q] packets of every queue q; returns their attributes and queue ids (in queue order).
    O(queues x largest pop): the head moves, nothing is shifted (the shifting form was O(queues x capacity))."""
    kmax = int(k.max(initial=0))
    if kmax == 0:
        empty = np.zeros(0, int)
        return empty, np.zeros(0), empty, empty
    q_ids, i = np.nonzero(np.arange(kmax)[None, :] < k[:, None])
    col = (head[q_ids] + i) % dest.shape[1]
    out = (dest[q_ids, col], birth[q_ids, col], retry[q_ids, col] if retry is not None else None, q_ids)
    head += k
    head %= dest.shape[1]
    length -= k
    return out


def _push(dest, birth, retry, head, length, target, p_dest, p_birth, p_retry) -> np.ndarray:
    """Append packets to the ends of queues ``target`` (in the given order per queue); returns the mask of
    packets that did not fit (dropped)."""
    if target.size == 0:
        return np.zeros(0, bool)
    cap = dest.shape[1]
    order = np.argsort(target, kind="stable")
    t = target[order]
    counts = np.bincount(t, minlength=len(length))
    first = np.cumsum(counts) - counts
    pos = length[t] + np.arange(t.size) - first[t]
    fits = pos < cap
    q, col = t[fits], (head[t[fits]] + pos[fits]) % cap
    dest[q, col] = p_dest[order][fits]
    birth[q, col] = p_birth[order][fits]
    if retry is not None:
        retry[q, col] = p_retry[order][fits]
    length += np.minimum(counts, np.maximum(cap - length, 0))
    over = np.zeros(target.size, bool)
    over[order[~fits]] = True
    return over
