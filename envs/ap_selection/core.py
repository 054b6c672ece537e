"""Batched array core of the AP-selection environment (no per-agent Python loops).

Shapes: B env copies, L APs, K UEs, N = L K links (agents, AP-major:
n = l K + k), T = window_slots, H = history_len, F = H + 2 features.

One ``step`` is one APS window: the association chosen for the window is held
for its T slots (aps_gnn eq. (7)); the SE is averaged over the window (eq. (10b)).
Channels and mobility do not depend on actions, so the channels of the coming
window are computed in one vectorised pass when the previous window ends
(``state.h_next``); the decision is taken at the window's first slot, whose
channel is what the agents observe. A controller given the privilege may read
the whole coming window (the greedy oracle baseline does).

Observation of link (l, k) (all link-local):
  * f[0:H]  link SNR |h_lk|^2 P_max / sigma^2 at the last H decision instants,
            in dB, normalised as (SNR_dB - 35) / 10 and clipped to [-8, 8];
            oldest first, the current instant last;
  * f[H]    the link's own previous action (1 = it served last window) when
            ``observe_previous_action`` is set, else 0;
  * f[H+1]  the UE's achieved SE of the previous window over the target,
            clipped to [0, 4] (the UE reports its rate to its serving APs;
            it is the same number for all links of that UE);
  * f[H+2]  only with ``observe_link_gain``: the link's marginal SE of the
            previous window, (SE_k with link (l, k) on - SE_k with it off) /
            target, every other link as played, on that window's channels;
            clipped to [-1, 4]; 0 before the first window (:meth:`link_gain`).
  * last    only with ``observe_link_rank``: the link's rank among UE k's L
            links by the current SNR (0 = strongest), min(rank, 8) / 8.
Reward of link (l, k): -P_l / P_on = -1 if AP l is active this window, else 0
  (aps_gnn eq. (11): shared by all links of AP l).
Cost of link (l, k): max(0, target - SE_k) / target (eq. (12): shared by all
  links of UE k), where SE_k is UE k's window-average SE.
Global state (``global_state``, for centralised critics): the N link observations
  concatenated in agent order, N F numbers. Channels and mobility do not depend on
  actions, and the links' SNR histories together are the whole network's channel
  picture, so nothing global is missing from them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cfmarl.envs.ap_selection.config import ApSelectionConfig
from cfmarl.envs.physics import fading, geometry, mobility, pathloss, precoding, shadowing
from cfmarl.envs.physics.units import thermal_noise_power_w
from cfmarl.envs.validation import check_num_envs, coerce_binary_actions, make_rngs

OBS_SNR_CENTER_DB = 35.0
OBS_SNR_SCALE_DB = 10.0
OBS_SNR_CLIP = 8.0
OBS_SE_RATIO_CLIP = 4.0
OBS_GAIN_LOW = -1.0
OBS_RANK_CLIP = 8  # ranks from 8 on read as 1


@dataclass
class ApSelectionState:
    """Mutable state of B env copies (updated in place by :meth:`ApSelectionCore.step`)."""

    rngs: list[np.random.Generator]
    t: int  # windows elapsed in the episode
    ap_pos: np.ndarray  # (B, L, 2) [m]
    mob: mobility.MobilityState  # arrays (B, K) / (B, K, 2)
    shadow_db: np.ndarray  # (B, L, K) shadowing at the last decision instant [dB]
    scatter: np.ndarray | None  # (B, L, K) unit-power scattered component (rician only)
    h_next: np.ndarray  # (B, T, L, K) complex channels of the coming window
    beta_next: np.ndarray  # (B, L, K) large-scale gain at the coming decision instant
    snr_hist: np.ndarray  # (B, H, L, K) normalised SNR feature history
    prev_action: np.ndarray  # (B, L, K) bool
    prev_se_ratio: np.ndarray  # (B, K)
    prev_link_gain: np.ndarray  # (B, L, K) marginal SE / target of the previous window (observe_link_gain)
    # last step's outputs (KPIs)
    se_window: np.ndarray  # (B, K) window-average SE [bit/s/Hz]
    active: np.ndarray  # (B, L) bool


class ApSelectionCore:
    """Vectorised simulator: ``reset(seeds) -> state, obs`` and
    ``step(state, actions) -> state, obs, reward, cost, done``."""

    def __init__(self, config: ApSelectionConfig, num_envs: int = 1):
        check_num_envs(num_envs)
        self.config = c = config
        self.num_envs = num_envs
        self.L, self.K = c.num_aps, c.num_ues
        self.n_agents = self.L * self.K
        self.obs_dim = c.history_len + 2 + int(c.observe_link_gain) + int(c.observe_link_rank)
        self.n_costs = 1
        self.n_actions = 2  # Discrete(2) per agent
        self.sequence_features = c.history_len  # leading obs features form one scalar time series
        self.agent_ids = [f"ap{l}_ue{k}" for l in range(self.L) for k in range(self.K)]
        self.noise_w = thermal_noise_power_w(c.bandwidth_hz, c.noise_figure_db)
        self.area = mobility.Area(c.area_shape, c.area_size_m, c.wrap_around)
        self._wrap = c.area_size_m if c.wrap_around else None
        self._mean_speed, self._mean_leg, self._pause_prob, self._mean_pause = mobility.class_parameters(
            self.K, c.num_vehicular)
        gain_low, gain_high = ([OBS_GAIN_LOW], [OBS_SE_RATIO_CLIP]) if c.observe_link_gain else ([], [])
        rank_low, rank_high = ([0.0], [1.0]) if c.observe_link_rank else ([], [])
        self._obs_low = np.concatenate([np.full(c.history_len, -OBS_SNR_CLIP), [0.0, 0.0], gain_low, rank_low]
                                       ).astype(np.float32)
        self._obs_high = np.concatenate([np.full(c.history_len, OBS_SNR_CLIP), [1.0, OBS_SE_RATIO_CLIP], gain_high,
                                         rank_high]).astype(np.float32)

    # ------------------------------------------------------------------ API
    @property
    def obs_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature lower and upper bounds of an observation row (F,)."""
        return self._obs_low, self._obs_high

    def reset(self, seeds: int | Sequence[int | np.random.SeedSequence] | Sequence[np.random.Generator]
              ) -> tuple[ApSelectionState, np.ndarray]:
        """Start B new episodes. ``seeds``: one seed / SeedSequence / Generator per env
        copy (an int is allowed when B == 1). Copy b's trajectory depends only on its seed."""
        rngs = make_rngs(seeds, self.num_envs)
        c, B, L, K = self.config, self.num_envs, self.L, self.K
        if c.area_shape == "disc":
            drop = lambda g, n: geometry.drop_uniform_disc(g, n, c.area_size_m)  # noqa: E731
        else:
            drop = lambda g, n: geometry.drop_uniform_square(g, n, c.area_size_m)  # noqa: E731
        ap_pos = np.stack([drop(g, L) for g in rngs])
        ue_pos = np.stack([drop(g, K) for g in rngs])
        u0 = np.stack([g.random((K, 3)) for g in rngs])
        mob = mobility.init_state(ue_pos, u0, self._mean_speed, self._mean_leg)
        shadow = np.stack([shadowing.iid_shadowing_db(g, (L, K), c.shadowing_std_db) for g in rngs])
        scatter = np.stack([fading.rayleigh(g, (L, K)) for g in rngs]) if c.small_scale == "rician" else None
        state = ApSelectionState(
            rngs=rngs, t=0, ap_pos=ap_pos, mob=mob, shadow_db=shadow, scatter=scatter,
            h_next=np.empty((B, c.window_slots, L, K), complex), beta_next=np.empty((B, L, K)),
            snr_hist=np.empty((B, c.history_len, L, K)), prev_action=np.zeros((B, L, K), bool),
            prev_se_ratio=np.zeros((B, K)), prev_link_gain=np.zeros((B, L, K)), se_window=np.zeros((B, K)),
            active=np.zeros((B, L), bool))
        # warm-up: the history holds real past decision instants, not copies
        for i in range(c.history_len):
            self._advance_channels(state)
            state.snr_hist[:, i] = self._snr_feature(state.h_next[:, 0])
        return state, self._observe(state)

    def step(self, state: ApSelectionState, actions) -> tuple[ApSelectionState, np.ndarray, np.ndarray,
                                                               np.ndarray, np.ndarray]:
        """Apply one association per env copy for one APS window.

        actions: (B, N) (or (N,) when B == 1) of 0/1. Returns the updated state,
        obs (B, N, F) float32, reward (B, N), cost (B, N, 1) and done (B,) bool.
        """
        c = self.config
        assoc = coerce_binary_actions(actions, self.num_envs, self.n_agents, self.agent_ids)
        assoc = assoc.reshape(self.num_envs, self.L, self.K)
        se = self.window_se(state.h_next, assoc)  # (B, K)
        active = assoc.any(axis=-1)  # (B, L)
        reward = np.broadcast_to(np.where(active, -1.0, 0.0)[:, :, None], assoc.shape).reshape(self.num_envs, -1)
        shortfall = np.maximum(c.se_target_bps_hz - se, 0.0) / c.se_target_bps_hz  # (B, K)
        if c.cost_credit == "large_scale":  # UE k's shortfall shared by its links in proportion to beta_lk
            beta = state.beta_next  # (B, L, K): the window just played (h_next before _advance_channels)
            cost = (self.L * beta / beta.sum(axis=1, keepdims=True) * shortfall[:, None, :]).reshape(
                self.num_envs, -1, 1)
        else:
            cost = np.broadcast_to(shortfall[:, None, :], assoc.shape).reshape(self.num_envs, -1, 1)
        state.se_window, state.active = se, active
        state.prev_action = assoc
        state.prev_se_ratio = np.minimum(se / c.se_target_bps_hz, OBS_SE_RATIO_CLIP)
        if c.observe_link_gain:
            state.prev_link_gain = np.clip(self.link_gain(state.h_next, assoc, se) / c.se_target_bps_hz,
                                           OBS_GAIN_LOW, OBS_SE_RATIO_CLIP)
        state.t += 1
        self._advance_channels(state)
        state.snr_hist[:, :-1] = state.snr_hist[:, 1:]
        state.snr_hist[:, -1] = self._snr_feature(state.h_next[:, 0])
        done = np.full(self.num_envs, state.t >= c.episode_windows)
        return state, self._observe(state), np.ascontiguousarray(reward), np.ascontiguousarray(cost), done

    def window_se(self, h: np.ndarray, assoc: np.ndarray) -> np.ndarray:
        """Window-average SE per UE (..., K) [bit/s/Hz] of association ``assoc`` (..., L, K)
        over the slots of ``h`` (..., T, L, K): MRT, equal per-AP power split."""
        p = precoding.equal_power_split(assoc, self.config.ap_max_power_w)
        sinr = precoding.mrt_sinr(h, p[..., None, :, :], self.noise_w)
        return precoding.spectral_efficiency(sinr).mean(axis=-2)

    def link_gain(self, h: np.ndarray, assoc: np.ndarray, se: np.ndarray | None = None) -> np.ndarray:
        """Marginal window-average SE of every link, (B, L, K) [bit/s/Hz]: SE_k with link (l, k)
        served minus SE_k with it not served, every other link as in ``assoc`` (B, L, K), over the
        slots of ``h`` (B, T, L, K). ``se``: ``window_se(h, assoc)`` when already computed.

        Toggling (l, k) changes only AP l's power split (MRT, equal split), so only AP l's terms
        of UE k's gains G_kj move: G'_kj = G_kj + h_lk (sqrt(p'_lj) - sqrt(p_lj)) h_lj^* / |h_lj|.
        All L K toggles at once, one slot at a time: O(T L K^2) per env copy, no per-link loop.
        """
        c = self.config
        a = np.asarray(assoc, bool)
        if se is None:
            se = self.window_se(h, a)
        B, T, L, K = h.shape
        eye = np.eye(K, dtype=bool)
        toggled = a[:, :, None, :] ^ eye  # (B, L, K toggled, K j): AP l's association with link (l, k) toggled
        p = precoding.equal_power_split(a, c.ap_max_power_w)
        delta = np.sqrt(precoding.equal_power_split(toggled, c.ap_max_power_w)) - np.sqrt(p)[:, :, None, :]
        se_new = np.zeros((B, L, K))
        diag = np.arange(K)
        for t in range(T):  # slots; every toggle of every env copy at once
            ht = h[:, t]
            mag = np.abs(ht)
            unit = np.conj(ht) / np.where(mag > 0.0, mag, 1.0)  # (B, L, K)
            g = precoding.mrt_received_amplitudes(ht, p)  # (B, K, K) [k, j]
            g_new = g[:, None] + ht[:, :, :, None] * delta * unit[:, :, None, :]  # (B, L, K, K) [l, k, j]
            pw = g_new.real * g_new.real + g_new.imag * g_new.imag
            sig = pw[:, :, diag, diag]
            se_new += precoding.spectral_efficiency(sig / (pw.sum(axis=-1) - sig + self.noise_w))
        se_new /= T
        return np.where(a, se[:, None, :] - se_new, se_new - se[:, None, :])

    def kpis(self, state: ApSelectionState) -> dict[str, np.ndarray]:
        """System KPIs of the last window per env copy, each of shape (B,)."""
        c = self.config
        n_active = state.active.sum(axis=-1).astype(float)
        power = n_active * c.ap_active_power_w
        sum_se = state.se_window.sum(axis=-1)
        out = {
            "active_aps": n_active,
            "mean_se_bps_hz": state.se_window.mean(axis=-1),
            "min_se_bps_hz": state.se_window.min(axis=-1),
            "sum_se_bps_hz": sum_se,
            "target_satisfaction": (state.se_window >= c.se_target_bps_hz - 1e-9).mean(axis=-1),
            "network_power_w": power,
            "energy_efficiency_bit_per_j": np.where(power > 0, c.bandwidth_hz * sum_se / np.maximum(power, 1e-300),
                                                    0.0),
            "active_links": state.prev_action.reshape(self.num_envs, -1).sum(axis=-1).astype(float),
        }
        for k in range(self.K):
            out[f"se_ue{k}_bps_hz"] = state.se_window[:, k]
        return out

    def agent_graph(self, state: ApSelectionState | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Directed edges between links sharing an AP (type 0) or a UE (type 1).

        Returns edge_index (2, E) int64 (source, target) and edge_type (E,) int64,
        E = L K (K-1) + K L (L-1); no self loops.
        """
        L, K = self.L, self.K
        idx = np.arange(L * K).reshape(L, K)
        # same AP: all ordered pairs (k, k') with k != k' within each row
        src_a = np.repeat(idx, K, axis=1).reshape(L, K, K)
        dst_a = np.broadcast_to(idx[:, None, :], (L, K, K))
        off_k = ~np.eye(K, dtype=bool)[None]
        same_ap = np.stack([src_a[np.broadcast_to(off_k, src_a.shape)], dst_a[np.broadcast_to(off_k, dst_a.shape)]])
        # same UE: all ordered pairs (l, l') with l != l' within each column
        idx_t = idx.T  # (K, L)
        src_u = np.repeat(idx_t, L, axis=1).reshape(K, L, L)
        dst_u = np.broadcast_to(idx_t[:, None, :], (K, L, L))
        off_l = ~np.eye(L, dtype=bool)[None]
        same_ue = np.stack([src_u[np.broadcast_to(off_l, src_u.shape)], dst_u[np.broadcast_to(off_l, dst_u.shape)]])
        edge_index = np.concatenate([same_ap, same_ue], axis=1).astype(np.int64)
        edge_type = np.concatenate([np.zeros(same_ap.shape[1], np.int64), np.ones(same_ue.shape[1], np.int64)])
        return edge_index, edge_type

    #: KPIs averaged per episode by the evaluation harness
    summary_kpis = ("active_aps", "active_links", "mean_se_bps_hz", "min_se_bps_hz", "target_satisfaction",
                    "network_power_w", "energy_efficiency_bit_per_j")

    def user_records(self, state: ApSelectionState) -> dict[str, np.ndarray]:
        """Per-UE window-average SE of the last window, (B, K)."""
        return {"se_bps_hz": state.se_window.copy()}

    # ------------------------------------------------------------- internals
    def _large_scale_gain(self, d2d: np.ndarray) -> np.ndarray:
        """Path gain 10^(-PL/10) for horizontal distances (..., L, K) [m]."""
        c = self.config
        if c.pathloss == "umi_38901_los":
            pl = pathloss.umi_38901_los_pl_db(d2d, c.carrier_hz, c.ap_height_m, c.ue_height_m)
        elif c.pathloss == "umi_36814_los":
            pl = pathloss.umi_36814_los_pl_db(geometry.distance_3d_m(d2d, c.ap_height_m, c.ue_height_m),
                                              c.carrier_hz, c.ap_height_m, c.ue_height_m)
        elif c.pathloss == "free_space":
            pl = pathloss.free_space_pl_db(geometry.distance_3d_m(d2d, c.ap_height_m, c.ue_height_m), c.carrier_hz)
        else:
            pl = pathloss.ngo2017_three_slope_pl_db(d2d, c.carrier_hz / 1e6, c.ap_height_m, c.ue_height_m)
        return np.power(10.0, -0.1 * pl)

    def _advance_channels(self, state: ApSelectionState) -> None:
        """Move UEs through one window and compute that window's channels h_next."""
        c, B, K, T = self.config, self.num_envs, self.K, self.config.window_slots
        u = np.stack([g.random((T, K, mobility.DRAWS_PER_SLOT)) for g in state.rngs], axis=1)  # (T, B, K, 4)
        traj, new_mob = mobility.advance(state.mob, u, c.slot_s, T, self._mean_speed, self._mean_leg,
                                         self._pause_prob, self._mean_pause, self.area)
        ue_pos = np.moveaxis(traj, 0, 1)  # (B, T, K, 2)
        d2d = geometry.horizontal_distance_m(state.ap_pos[:, None], ue_pos, self._wrap)  # (B, T, L, K)
        beta = self._large_scale_gain(d2d)
        if c.shadowing_std_db > 0.0:
            moved = np.hypot(*(new_mob.pos - state.mob.pos).transpose(2, 0, 1))  # (B, K) straight-line proxy
            state.shadow_db = np.stack([
                shadowing.gudmundson_update_db(g, state.shadow_db[b], moved[b][None, :], c.shadowing_std_db,
                                               c.shadowing_decorr_m) for b, g in enumerate(state.rngs)])
            beta = beta * np.power(10.0, 0.1 * state.shadow_db)[:, None]
        d3d = geometry.distance_3d_m(d2d, c.ap_height_m, c.ue_height_m)
        small = fading.los_phase(d3d, c.carrier_hz)
        if c.small_scale == "rician":
            rho = fading.jakes_correlation(state.mob.speed, c.carrier_hz, c.slot_s)[:, None, :]  # (B, 1, K)
            scat = np.empty((B, T, self.L, K), complex)
            for b, g in enumerate(state.rngs):  # env copies and slots, each step vectorised over links
                s = state.scatter[b]
                for t in range(T):
                    scat[b, t] = s
                    s = fading.gauss_markov_step(g, s, rho[b])
                state.scatter[b] = s
            small = fading.rician(small, scat, c.rician_k_db)
        state.h_next = np.sqrt(beta) * small
        state.beta_next = beta[:, 0]
        state.mob = new_mob

    def _snr_feature(self, h0: np.ndarray) -> np.ndarray:
        """Normalised link SNR in dB at a decision instant, (B, L, K)."""
        c = self.config
        snr = (h0.real * h0.real + h0.imag * h0.imag) * (c.ap_max_power_w / self.noise_w)
        snr_db = 10.0 * np.log10(np.maximum(snr, 1e-30))
        return np.clip((snr_db - OBS_SNR_CENTER_DB) / OBS_SNR_SCALE_DB, -OBS_SNR_CLIP, OBS_SNR_CLIP)

    @staticmethod
    def link_rank(snr: np.ndarray) -> np.ndarray:
        """Rank feature of every link, (B, L, K): link (l, k)'s place among UE k's L links by ``snr``
        (B, L, K), 0 = strongest (ties by AP index), as min(rank, OBS_RANK_CLIP) / OBS_RANK_CLIP."""
        order = np.argsort(-snr, axis=1, kind="stable")  # (B, L, K): APs of each UE, strongest first
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(snr.shape[1])[None, :, None], axis=1)
        return np.minimum(rank, OBS_RANK_CLIP) / OBS_RANK_CLIP

    def _observe(self, state: ApSelectionState) -> np.ndarray:
        c, B, H = self.config, self.num_envs, self.config.history_len
        obs = np.empty((B, self.L, self.K, self.obs_dim), np.float32)
        obs[..., :H] = np.moveaxis(state.snr_hist, 1, -1)
        obs[..., H] = state.prev_action if c.observe_previous_action else 0.0
        obs[..., H + 1] = state.prev_se_ratio[:, None, :]
        if c.observe_link_gain:
            obs[..., H + 2] = state.prev_link_gain
        if c.observe_link_rank:
            obs[..., -1] = self.link_rank(state.snr_hist[:, -1])
        return obs.reshape(B, self.n_agents, self.obs_dim)

    # ------------------------------------------------------------ global state
    @property
    def state_dim(self) -> int:
        """Length S of :meth:`global_state`: N F."""
        return self.n_agents * self.obs_dim

    @property
    def state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (S,) float32 of :meth:`global_state`: the observation bounds per link."""
        low, high = self.obs_bounds
        return np.tile(low, self.n_agents), np.tile(high, self.n_agents)

    def global_state(self, state: ApSelectionState) -> np.ndarray:
        """Global state for centralised critics, (B, N F) float32: every link's observation, in agent order."""
        return self._observe(state).reshape(self.num_envs, -1)
