"""Batched array core of the distributed-precoding environment (no per-agent Python loops).

Shapes: B env copies, L O-RUs (N_t antennas), K users (N_r antennas, d = N_r
streams), |Omega| observed users per agent. Channels are kept in
noise-normalised units (divided by sigma), so the noise power is 1.

**Three timescales** (oran_distributed_precoding Sec. III-B): one ``step`` is
one near-RT loop of ``rt_per_step`` RT loops; an episode is one non-RT loop.
In every RT loop: (1) the small-scale fading advances one Gauss-Markov step
(rho = J0(2 pi f_d T_RT)); (2) the O-DUs see the channel estimate
H_hat = H + E (E ~ CN(0, csi_error beta) per entry); (3) every user updates
its min-rate multiplier lambda_k <- [lambda_k - eta (R_k - R_min,k)]^+ from the
rate of the previous RT loop (eq. (29)); (4) the precoders are recomputed from
H_hat with the closed-form block-coordinate update (eqs. (23)-(28), (30)) using
the agents' U_k, W_k and the weights alpha_k = 1 + lambda_k, each O-RU's
multiplier mu found exactly (Newton on the secular equation, see
:func:`physics.mimo.wmmse_precoder_sweep`); the O-DUs work in parallel, each on
its O-RUs one after the other (round r updates the r-th O-RU of every O-DU);
(5) the rates R_k are evaluated on the true channel (optimal receiver,
physics_reference.md (ix)).

O-RUs are dropped uniformly inside the O-DU subareas, the same number in each
(O-RU l belongs to O-DU l // (L / G)), so that the rounds are the same for every
env copy.

**Action** of user k (2 N_r d + d^2 numbers in [-1, 1]): U_k = u_range (A_re +
j A_im) / g_k with g_k = sqrt(1 + ||H_k V_k||_F^2 / d) from the last RT loop
(the agent observes H_k V_k, so g_k is its own information), and the Cholesky
factor L_k of W_k = L_k L_k^H: diagonal exp(w_log_range a) > 0 (positive
definiteness guaranteed), strictly-lower entries (a_re + j a_im) L_jj.
Layout: [Re U (N_r d), Im U (N_r d), log-diag (d), Re/Im of the d(d-1)/2
lower entries]. :meth:`PrecodingCore.expert_actions` encodes the MMSE U and
W computed from an agent's own observation (the WMMSE expert). With
``action_mode='residual'`` the agent's action is a correction to that expert
action, clip(expert + residual_scale a, -1, 1): a = 0 is the expert, and the
agent still acts on its own observation only (the expert is a function of it).
``precoder_update='decoupled'`` replaces the coherent update of step (4) by the
cellular one of eq. (43) (every O-RU ignores the other O-RUs' signals), the
paper's DRL-WMMSE baseline.

**Observation** of user k: H_hat_k V_j for the |Omega| users j whose
large-scale profiles are most similar to k's (cosine similarity of beta over
O-RUs; k itself first), from the last RT loop, real-valued as
sign(x) log(1 + |x|) of the real and imaginary parts: |Omega| * 2 N_r d.

**Reward** of user k: its average rate over the near-RT loop [bit/s/Hz]
(``reward='own'``, eq. (32)), or with ``reward='difference'`` the sum rate
minus the sum rate of the same near-RT loop (same channels, same start) with
user k on the WMMSE expert's U_k, W_k (K counterfactual loops run batched
beside the real one).
**Cost**: its min-rate shortfall max(0, R_min,k - reward_k) / R_min,k
(0 when R_min = 0).

**Global state** (``global_state``, for centralised critics): every user's
observation concatenated (K |Omega| 2 N_r d), then per user what no agent
observes but drives the next near-RT loop: log(1 + lambda_k) (the min-rate
multiplier weighting the precoder update), R_min,k [bit/s/Hz] (it changes
mid-episode with ``rate_change_step``) and log(1 + R_k) of the last near-RT
loop (its reward), 3K more numbers. lambda_k <= (RT loops per episode) x
dual_step x max R_min bounds the multipliers.

Classical precoders (C-RZF, D-RZF, MRT, iterative WMMSE) replace step (4) via
``step(state, actions, precoder=fn)`` with ``fn(core, state, h_hat) -> V``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cfmarl.envs.physics import fading, geometry, mimo, pathloss, shadowing
from cfmarl.envs.physics.units import kmh_to_mps, thermal_noise_power_w
from cfmarl.envs.precoding.config import PrecodingConfig
from cfmarl.envs.validation import check_num_envs, coerce_box_actions, make_rngs

BITS_PER_COMPLEX = 64  # two float32 per complex number on the E2 interface


@dataclass
class PrecodingState:
    rngs: list[np.random.Generator]
    t: int
    oru_pos: np.ndarray  # (B, L, 2)
    ue_pos: np.ndarray  # (B, K, 2)
    beta: np.ndarray  # (B, K, L) large-scale gain over noise (static within an episode)
    serve: np.ndarray  # (B, L, K) user-centric clusters
    omega: np.ndarray  # (B, K, |Omega|) observed users, self first
    small: np.ndarray  # (B, K, Nr, L, Nt) small-scale fading
    h_hat: np.ndarray  # (B, K, Nr, L, Nt) channel estimate of the last RT loop
    v: np.ndarray  # (B, K, L, Nt, d) precoders of the last RT loop
    s_hat: np.ndarray  # (B, K, K, Nr, d) H_hat V of the last RT loop
    lam: np.ndarray  # (B, K) min-rate multipliers
    min_rate: np.ndarray  # (B, K) R_min per user
    rate_change_user: np.ndarray  # (B,) the user whose R_min changes (if enabled)
    last_rate: np.ndarray  # (B, K) rate of the last RT loop
    step_rate: np.ndarray  # (B, K) average rate over the last near-RT loop
    e2_kbit: float  # E2 signalling of the last near-RT loop for the scheme used


def _fan_out(x: np.ndarray, n: int) -> np.ndarray:
    """(B, ...) -> (B n, ...): every env copy repeated n times in a row (n = 1: x itself)."""
    return x if n == 1 else np.repeat(x, n, axis=0)


def _counterfactuals(u: np.ndarray, w: np.ndarray, expert: tuple[np.ndarray, np.ndarray]
                     ) -> tuple[np.ndarray, np.ndarray]:
    """U (B, K, Nr, d), W (B, K, d, d) -> (B (K + 1), K, ...): copy 0 as given, copy j + 1 with user j's
    U, W replaced by the expert's."""
    out = []
    for x, xe in zip((u, w), expert):
        b, k = x.shape[:2]
        y = np.repeat(x[:, None], k + 1, axis=1)
        y[:, 1 + np.arange(k), np.arange(k)] = xe
        out.append(y.reshape(b * (k + 1), *x.shape[1:]))
    return out[0], out[1]


class PrecodingCore:
    """Vectorised simulator: ``reset(seeds)`` / ``step(state, actions, precoder=None)``."""

    def __init__(self, config: PrecodingConfig, num_envs: int = 1):
        check_num_envs(num_envs)
        self.config = c = config
        self.num_envs = num_envs
        self.L, self.K = c.num_orus, c.num_ues
        self.nt, self.nr, self.d = c.oru_antennas, c.ue_antennas, c.streams
        self.n_agents = self.K
        self.n_costs = 1
        self.action_bounds = (-1.0, 1.0)  # every action component
        self.agent_ids = [f"ue{k}" for k in range(self.K)]
        self.obs_dim = c.obs_users * 2 * self.nr * self.d
        self.n_lower = self.d * (self.d - 1) // 2
        self.action_dim = 2 * self.nr * self.d + self.d + 2 * self.n_lower
        self.noise_w = thermal_noise_power_w(c.bandwidth_hz, c.noise_figure_db)
        self.p_max = c.oru_power_w  # channels are noise-normalised, so powers stay in W
        self.rho = float(fading.jakes_correlation(kmh_to_mps(c.ue_speed_kmh), c.carrier_hz, c.rt_loop_s))
        self._tril = np.tril_indices(self.d, -1)
        self.orus_per_odu = self.L // c.num_odus
        # the O-DUs work in parallel, each on its O-RUs one after the other (Sec. III-B): round r
        # updates the r-th O-RU of every O-DU at the same time
        self.rounds = [np.arange(r, self.L, self.orus_per_odu) for r in range(self.orus_per_odu)]
        bound = float(np.log1p(1e8))
        self._obs_low = np.full(self.obs_dim, -bound, np.float32)
        self._obs_high = np.full(self.obs_dim, bound, np.float32)

    @property
    def obs_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self._obs_low, self._obs_high

    # ------------------------------------------------------------------ API
    def reset(self, seeds) -> tuple[PrecodingState, np.ndarray]:
        rngs = make_rngs(seeds, self.num_envs)
        c, B, L, K = self.config, self.num_envs, self.L, self.K
        oru = np.stack([self._drop_orus(g) for g in rngs])
        ue = np.stack([geometry.drop_uniform_square(g, K, c.area_size_m) for g in rngs])
        d2d = geometry.horizontal_distance_m(ue, oru, c.area_size_m)  # (B, K, L)
        d3d = geometry.distance_3d_m(d2d, c.oru_height_m, c.ue_height_m)
        pl = pathloss.umi_36814_nlos_pl_db(d3d, c.carrier_hz)
        sh = np.stack([shadowing.iid_shadowing_db(g, (K, L), c.shadowing_std_db) for g in rngs])
        beta = np.power(10.0, -0.1 * (pl - sh)) / self.noise_w
        top = np.argsort(-beta, axis=-1, kind="stable")[..., :c.cluster_size]  # (B, K, cluster)
        serve_kl = np.zeros((B, K, L), bool)
        np.put_along_axis(serve_kl, top, True, axis=-1)
        unit = beta / np.linalg.norm(beta, axis=-1, keepdims=True)
        sim = unit @ np.swapaxes(unit, 1, 2)  # (B, K, K) cosine similarity
        sim[:, np.arange(K), np.arange(K)] = np.inf  # self first
        omega = np.argsort(-sim, axis=-1, kind="stable")[..., :c.obs_users]
        small = np.stack([fading.rayleigh(g, (K, self.nr, L, self.nt)) for g in rngs])
        change_user = np.array([g.integers(K) for g in rngs])
        state = PrecodingState(
            rngs=rngs, t=0, oru_pos=oru, ue_pos=ue, beta=beta, serve=np.swapaxes(serve_kl, 1, 2), omega=omega,
            small=small, h_hat=np.empty(0), v=np.empty(0), s_hat=np.empty(0), lam=np.zeros((B, K)),
            min_rate=np.full((B, K), c.min_rate_bps_hz), rate_change_user=change_user,
            last_rate=np.zeros((B, K)), step_rate=np.zeros((B, K)), e2_kbit=0.0)
        # the first RT loop runs with local MRT precoders, so the agents have something to observe
        h = self._channel(state)
        state.h_hat = self._estimate(state, h)
        state.v = mimo.mrt(state.h_hat, state.serve, self.p_max)
        state.s_hat = mimo.effective_channels(state.h_hat, state.v)
        state.last_rate = mimo.rates(mimo.effective_channels(h, state.v))
        return state, self._observe(state)

    def step(self, state: PrecodingState, actions=None,
             precoder: Callable[[PrecodingCore, PrecodingState, np.ndarray], np.ndarray] | None = None
             ) -> tuple[PrecodingState, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One near-RT loop. ``actions`` (B, K, A) / (K, A) in [-1, 1] set U, W for the loop; a
        classical ``precoder`` (then actions may be None) replaces the WMMSE-expert update."""
        c = self.config
        if precoder is None:
            a = coerce_box_actions(actions, self.num_envs, self.K * self.action_dim, -1.0, 1.0, self.agent_ids,
                                   per_agent=self.action_dim).reshape(self.num_envs, self.K, self.action_dim)
            expert = self.expert_actions(state) if c.action_mode == "residual" or c.reward == "difference" else None
            if c.action_mode == "residual":
                a = np.clip(expert + c.residual_scale * a, -1.0, 1.0)
            u, w = self.decode_actions(state, a)
        state.t += 1
        if c.rate_change_step and state.t == c.rate_change_step:
            state.min_rate[np.arange(self.num_envs), state.rate_change_user] = c.rate_change_bps_hz
        # the difference reward runs K counterfactual near-RT loops beside the real one (copy j: user j
        # applies the expert's U_j, W_j) on the same channels; copy 0 is the real one
        n = self.K + 1 if precoder is None and c.reward == "difference" else 1
        lam, v, last_rate, min_rate, serve = (_fan_out(x, n) for x in
                                              (state.lam, state.v, state.last_rate, state.min_rate, state.serve))
        if precoder is None and n > 1:
            u, w = _counterfactuals(u, w, self.decode_actions(state, expert))
        total = np.zeros((self.num_envs * n, self.K))
        for _ in range(c.rt_per_step):  # RT loops in time order
            h = self._channel(state)
            h_hat = self._estimate(state, h)
            lam = np.maximum(lam - c.dual_step * (last_rate - min_rate), 0.0)
            if n == 1:
                state.lam = lam  # a classical precoder reads the state of this RT loop
            if precoder is None:
                v, _, s_hat = mimo.wmmse_precoder_sweep(
                    _fan_out(h_hat, n), u, w, 1.0 + lam, v, serve, self.p_max,
                    served_only=c.precoder_users == "served", groups=self.rounds,
                    coupled=c.precoder_update == "bcd")
            else:
                v = precoder(self, state, h_hat)
                s_hat = mimo.effective_channels(h_hat, v)
            last_rate = mimo.rates(mimo.effective_channels(_fan_out(h, n), v)) if c.csi_error > 0 else mimo.rates(s_hat)
            total += last_rate
            real = slice(None, None, n)  # copy 0 of every env copy
            state.h_hat, state.v, state.s_hat = h_hat, v[real], s_hat[real]
            state.lam, state.last_rate = lam[real], last_rate[real]
        rates = (total / c.rt_per_step).reshape(self.num_envs, n, self.K)
        state.step_rate = rates[:, 0]
        scheme = "proposed" if precoder is None else getattr(precoder, "e2_scheme", "local")
        state.e2_kbit = self.e2_overhead_kbit(state, scheme)
        rmin = state.min_rate
        cost = np.where(rmin > 0, np.maximum(rmin - state.step_rate, 0.0) / np.where(rmin > 0, rmin, 1.0), 0.0)
        done = np.full(self.num_envs, state.t >= c.episode_steps)
        if n > 1:  # D_j = sum rate - sum rate with user j on the expert
            total_rate = rates.sum(-1)
            reward = total_rate[:, :1] - total_rate[:, 1:]
        else:
            reward = state.step_rate.copy()
        return state, self._observe(state), reward, cost[..., None], done

    def kpis(self, state: PrecodingState) -> dict[str, np.ndarray]:
        r = state.step_rate
        p = mimo.oru_powers(state.v)
        return {"sum_rate_bps_hz": r.sum(-1), "mean_rate_bps_hz": r.mean(-1), "min_rate_bps_hz": r.min(-1),
                "min_rate_satisfaction": (r >= state.min_rate - 1e-9).mean(-1), "mean_lambda": state.lam.mean(-1),
                "max_oru_power_w": p.max(-1), "mean_oru_power_w": p.mean(-1),
                "e2_overhead_kbit": np.full(self.num_envs, state.e2_kbit)}

    summary_kpis = ("sum_rate_bps_hz", "min_rate_bps_hz", "min_rate_satisfaction", "mean_lambda",
                    "max_oru_power_w", "e2_overhead_kbit")

    def user_records(self, state: PrecodingState) -> dict[str, np.ndarray]:
        return {"throughput_bps_hz": state.step_rate.copy(), "lambda": state.lam.copy()}

    #: the interaction graph changes per episode (clusters and Omega); models get it as an edge mask
    graph_kind = "episode"

    def candidate_graph(self) -> tuple[np.ndarray, np.ndarray]:
        """Every edge the graph can have: all ordered pairs j -> k, j != k, once as type 0 (shared
        O-RU) and once as type 1 (j in Omega_k); (2, 2K(K-1)), (2K(K-1),)."""
        src, dst = np.nonzero(~np.eye(self.K, dtype=bool))
        ei = np.stack([np.concatenate([src, src]), np.concatenate([dst, dst])]).astype(np.int64)
        return ei, np.repeat(np.arange(2, dtype=np.int64), src.size)

    def edge_mask(self, state: PrecodingState) -> np.ndarray:
        """(B, 2K(K-1)) bool over :meth:`candidate_graph`: the edges of :meth:`agent_graph` per env copy."""
        K = self.K
        src, dst = np.nonzero(~np.eye(K, dtype=bool))
        serve = state.serve.astype(np.int64)  # (B, L, K)
        share = np.einsum("blj,blk->bjk", serve, serve) > 0  # users j, k share an O-RU
        obs = np.zeros((self.num_envs, K, K), bool)  # obs[b, k, j]: j in Omega_k
        b_idx = np.repeat(np.arange(self.num_envs), K * state.omega.shape[-1])
        k_idx = np.tile(np.repeat(np.arange(K), state.omega.shape[-1]), self.num_envs)
        obs[b_idx, k_idx, state.omega.reshape(-1)] = True
        return np.concatenate([share[:, src, dst], obs[:, dst, src]], axis=1)

    def agent_graph(self, state: PrecodingState | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Edges j -> k of type 0 when users j and k share a serving O-RU (coupled precoders) and of
        type 1 when j is in k's observation set Omega_k, for env copy 0 of ``state`` (they
        depend on the episode's geometry). Before any reset: the complete graph, type 0."""
        K = self.K
        if state is None:
            src, dst = np.nonzero(~np.eye(K, dtype=bool))
            return np.stack([src, dst]).astype(np.int64), np.zeros(src.size, np.int64)
        serve = state.serve[0]  # (L, K)
        share = (serve.T.astype(int) @ serve.astype(int)) > 0
        np.fill_diagonal(share, False)
        s0, d0 = np.nonzero(share)
        obs = np.zeros((K, K), bool)
        obs[np.repeat(np.arange(K), state.omega.shape[-1]), state.omega[0].ravel()] = True
        np.fill_diagonal(obs, False)
        d1, s1 = np.nonzero(obs)  # obs[k, j]: j observed by k -> edge j -> k
        ei = np.stack([np.concatenate([s0, s1]), np.concatenate([d0, d1])]).astype(np.int64)
        return ei, np.concatenate([np.zeros(s0.size), np.ones(s1.size)]).astype(np.int64)

    # -------------------------------------------------------- actions
    def decode_actions(self, state: PrecodingState, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Actions (B, K, A) -> U (B, K, Nr, d), W = L L^H (B, K, d, d)."""
        c, nr, d = self.config, self.nr, self.d
        B, K = a.shape[:2]
        n = nr * d
        g = self._own_gain(state)
        u = (a[..., :n] + 1j * a[..., n:2 * n]).reshape(B, K, nr, d) * (c.u_range / g)[..., None, None]
        low = np.zeros((B, K, d, d), complex)
        diag = np.exp(c.w_log_range * a[..., 2 * n:2 * n + d])
        low[..., np.arange(d), np.arange(d)] = diag
        off = a[..., 2 * n + d:]
        rows, cols = self._tril
        low[..., rows, cols] = (off[..., :self.n_lower] + 1j * off[..., self.n_lower:]) * diag[..., cols]
        return u, low @ mimo.herm(low)

    def encode_actions(self, state: PrecodingState, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`decode_actions` (clipped to [-1, 1]): U, W -> actions (B, K, A)."""
        c, d = self.config, self.d
        B, K = u.shape[:2]
        g = self._own_gain(state)
        uu = (u * (g / c.u_range)[..., None, None]).reshape(B, K, -1)
        low = np.linalg.cholesky(w)
        diag = np.real(np.diagonal(low, axis1=-2, axis2=-1))
        rows, cols = self._tril
        off = low[..., rows, cols] / diag[..., cols]
        a = np.concatenate([uu.real, uu.imag, np.log(diag) / c.w_log_range, off.real, off.imag], axis=-1)
        return np.clip(a, -1.0, 1.0)

    def expert_actions(self, state: PrecodingState) -> np.ndarray:
        """The WMMSE expert from each agent's own observation: MMSE receiver and weight computed
        from H_k V_j, j in Omega_k (unobserved interference ignored), encoded as actions."""
        B, K = self.num_envs, self.K
        s = state.s_hat
        obs_s = np.take_along_axis(s, state.omega[..., None, None], axis=2)  # (B, K, |Omega|, Nr, d)
        cov = np.einsum("bkjrd,bkjsd->bkrs", obs_s, np.conj(obs_s)) + np.eye(self.nr)
        skk = s[:, np.arange(K), np.arange(K)]
        u = np.linalg.solve(cov, skk)
        w = np.linalg.inv(np.eye(self.d) - mimo.herm(u) @ skk)
        return self.encode_actions(state, u, 0.5 * (w + mimo.herm(w))).reshape(B, K, -1)

    # ------------------------------------------------------- E2 signalling
    def e2_overhead_kbit(self, state: PrecodingState, scheme: str) -> float:
        """E2 traffic of one near-RT loop [kbit], mean over env copies (oran Fig. 10 bookkeeping).

        proposed: up |Omega| N_r d complex per user (H_k V_j), down U_k (N_r d) and W_k (d^2) to
        every O-DU serving user k, once per near-RT loop. centralised (C-RZF, iterative WMMSE):
        every RT loop, each O-RU's channels to all users up (K N_r N_t) and its precoders down
        (N_t K d). local (D-RZF, MRT): none."""
        c, K = self.config, self.K
        if scheme == "local":
            return 0.0
        if scheme == "centralised":
            n = c.rt_per_step * self.L * (K * self.nr * self.nt + self.nt * K * self.d)
            return n * BITS_PER_COMPLEX / 1e3
        odu = self._odu_of_oru(state)  # (B, L)
        onehot = odu[..., None] == np.arange(c.num_odus)  # (B, L, G)
        odus_per_user = (np.einsum("blg,blk->bgk", onehot, state.serve) > 0).sum(1)  # (B, K)
        n = K * c.obs_users * self.nr * self.d + odus_per_user.sum(-1) * (self.nr * self.d + self.d * self.d)
        return float(np.mean(n)) * BITS_PER_COMPLEX / 1e3

    # ------------------------------------------------------------- internals
    def _odu_of_oru(self, state: PrecodingState) -> np.ndarray:
        return np.broadcast_to(np.arange(self.L) // self.orus_per_odu, (self.num_envs, self.L))

    def _drop_orus(self, rng: np.random.Generator) -> np.ndarray:
        """L / G O-RUs uniformly in each of the G square O-DU subareas; O-RU l belongs to O-DU
        l // (L / G) (subarea (gx, gy) = divmod(l // (L / G), g))."""
        c = self.config
        side = c.area_size_m / c.odu_grid
        odu = np.arange(self.L) // self.orus_per_odu
        corner = np.stack([odu // c.odu_grid, odu % c.odu_grid], -1) * side
        return corner + geometry.drop_uniform_square(rng, self.L, side)

    def _channel(self, state: PrecodingState) -> np.ndarray:
        """Advance the fading one RT loop; true channel (B, K, Nr, L, Nt)."""
        state.small = np.stack([fading.gauss_markov_step(g, state.small[b], self.rho)
                                for b, g in enumerate(state.rngs)])
        return np.sqrt(state.beta)[:, :, None, :, None] * state.small

    def _estimate(self, state: PrecodingState, h: np.ndarray) -> np.ndarray:
        eps = self.config.csi_error
        if eps == 0.0:
            return h
        err = np.stack([fading.rayleigh(g, h.shape[1:]) for g in state.rngs])
        return h + np.sqrt(eps * state.beta)[:, :, None, :, None] * err

    def _own_gain(self, state: PrecodingState) -> np.ndarray:
        K = self.K
        skk = state.s_hat[:, np.arange(K), np.arange(K)]
        return np.sqrt(1.0 + np.sum(np.abs(skk) ** 2, axis=(-1, -2)) / self.d)

    def _observe(self, state: PrecodingState) -> np.ndarray:
        obs_s = np.take_along_axis(state.s_hat, state.omega[..., None, None], axis=2)  # (B, K, |Omega|, Nr, d)
        x = np.concatenate([obs_s.real, obs_s.imag], axis=-1).reshape(self.num_envs, self.K, -1)
        return (np.sign(x) * np.log1p(np.abs(x))).astype(np.float32)

    # ------------------------------------------------------------ global state
    @property
    def state_dim(self) -> int:
        """Length S of :meth:`global_state`: K (|Omega| 2 N_r d + 3)."""
        return self.K * (self.obs_dim + 3)

    @property
    def state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (S,) float32 of :meth:`global_state`."""
        c, K = self.config, self.K
        r_min = max(c.min_rate_bps_hz, c.rate_change_bps_hz)
        lam_max = c.episode_steps * c.rt_per_step * c.dual_step * r_min  # lambda grows <= eta R_min per RT loop
        low = np.concatenate([np.tile(self._obs_low, K), np.zeros(3 * K)])
        high = np.concatenate([np.tile(self._obs_high, K), np.full(K, np.log1p(lam_max)), np.full(K, r_min),
                               np.full(K, self._obs_high[0])])
        return low.astype(np.float32), high.astype(np.float32)

    def global_state(self, state: PrecodingState) -> np.ndarray:
        """Global state for centralised critics, (B, K (|Omega| 2 N_r d + 3)) float32: all observations, then
        log(1 + lambda_k), R_min,k and log(1 + R_k) of the last near-RT loop (K each)."""
        B = self.num_envs
        extra = np.concatenate([np.log1p(state.lam), state.min_rate, np.log1p(state.step_rate)], -1)
        return np.concatenate([self._observe(state).reshape(B, -1), extra], -1).astype(np.float32)
