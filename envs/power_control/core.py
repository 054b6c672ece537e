"""Batched array core of the power-control environment (no per-agent Python loops).

Shapes: B env copies, L APs, K UEs, F = L + 5 features per UE.

**Channel.** h_lk = sqrt(beta_lk) g_lk: beta from the Ngo 2017 three-slope path
loss on the wrapped horizontal distance, times shadowing beyond 50 m
(two-component correlated draw at reset, Gudmundson update along each UE's
path); g ~ CN(0, 1) evolving as a Gauss-Markov process with the Jakes
correlation J0(2 pi f_d T) of each UE's speed (random-waypoint mobility).

**Power.** Action a_k in [-1, 1] -> UE power level p_k = P_min + (a_k + 1)/2
(P_max - P_min) (DHI eq. (23)). AP l spends p_lk = w_lk p_k on UE k (DHI
eq. (24)) with w_lk = s_lk P_AP / P_max: s_lk is AP l's budget share for UE k
(beta-proportional over the UEs it serves, Ngo 2017's "equal power"
eta_lk = 1/sum_k' gamma_lk', or equal), so an AP's total sum_k p_lk <= P_AP
whatever the action: the per-AP budget holds by construction.

**SINR.** Each AP precodes with the normalised conjugate (phase-only MR)
beamformer; UE k receives stream j with amplitude
A_kj = sum_l sqrt(w_lj) h_lk h_lj^* / |h_lj| (:func:`physics.precoding.mrt_received_amplitudes`),
so SINR_k = G_kk p_k / (sum_{j!=k} G_kj p_j + sigma^2) with G = |A|^2: linear in p,
the scalar form the exact baselines solve. SE_k = log2(1 + SINR_k) (pre-log 1,
DHI eq. (10) without pilot overhead).

**Timing.** The decision at step t is applied to the channel of step t; the
agent observes large-scale quantities of step t and the outcome of step t-1.

**Observation** of UE k (DHI Sec. 3.2.1, made local), F = L + 5 features:
  * f[0:L]  beta_lk P_AP / sigma^2 in dB / 20, clipped to [-5, 5];
  * f[L:L+2] position / area side, in [0, 1];
  * f[L+2]  previous SINR in dB / 10, clipped to [-10, 10];
  * f[L+3]  previous interference-plus-noise over noise, dB / 10, clipped to [0, 10];
  * f[L+4]  previous power level p_k / P_max.
The central variant has one agent observing all K rows concatenated (K F).

**Reward** (DHI eq. (25)): w_obj f / SE_th + w_sat QoS_rate - w_qos P_qos - w_pow P_pow,
with the objective f in bit/s/Hz per user (max-min: min_k SE_k; product:
mean_k log2(SINR_k + eps); sum-rate: mean_k SE_k), SE_th = log2(1 + gamma_th),
QoS_rate = fraction of UEs with SINR_k >= gamma_th, P_qos = mean_k
max(0, gamma_th - SINR_k) / gamma_th, P_pow = mean bound violation of p (0 with the
bounded mapping, kept as in the paper). ``reward_mode="team"`` gives every agent
this system reward; ``"local"`` gives UE k its own terms (its objective share, its
QoS indicator and shortfall; max-min keeps the shared minimum).
**Cost** of UE k: max(0, gamma_th - SINR_k) / gamma_th (the QoS shortfall as a
constraint for Lagrangian learners); the central agent's cost is the mean.

**Global state** (``global_state``, for centralised critics), K F + K^2 numbers:
every UE's observation row (the central agent's observation), then the gain
matrix the coming decision is applied to, G_kj P_max / sigma^2 in dB / 20
clipped to [-5, 5] (row k = UE k's receiver, column j = UE j's stream). The
agents see only large-scale gains; with G the SINRs, hence the reward, are a
known function of the powers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cfmarl.envs.physics import fading, geometry, mobility, pathloss, shadowing
from cfmarl.envs.physics.precoding import mrt_received_amplitudes
from cfmarl.envs.physics.units import thermal_noise_power_w
from cfmarl.envs.power_control import objectives as obj
from cfmarl.envs.power_control.config import PowerControlConfig
from cfmarl.envs.validation import check_num_envs, coerce_box_actions, make_rngs

BETA_SCALE_DB = 20.0


@dataclass
class PowerControlState:
    """Mutable state of B env copies."""

    rngs: list[np.random.Generator]
    t: int
    ap_pos: np.ndarray  # (B, L, 2)
    mob: mobility.MobilityState  # (B, K)
    shadow_db: np.ndarray  # (B, L, K)
    small: np.ndarray  # (B, L, K) complex CN(0, 1) small-scale fading
    beta: np.ndarray  # (B, L, K) large-scale gain of the current step
    h: np.ndarray  # (B, L, K) complex channel of the current step
    w: np.ndarray  # (B, L, K) AP-UE power weights (p_lk = w_lk p_k)
    gain: np.ndarray  # (B, K, K) G_kj per unit power level
    # outcome of the last step (observed by the next decision)
    p: np.ndarray  # (B, K) power levels [W]
    sinr: np.ndarray  # (B, K)
    interf: np.ndarray  # (B, K) interference plus noise [W]
    refine_ms: float  # wall time of the last L-BFGS-B refinement (all copies) [ms]
    pos_at_step: np.ndarray  # (B, K, 2) UE positions of the last step
    w_applied: np.ndarray  # (B, L, K) the weights the last decision was applied with


class PowerControlCore:
    """Vectorised simulator: ``reset(seeds) -> state, obs``; ``step(state, actions) ->
    state, obs, reward, cost, done``."""

    def __init__(self, config: PowerControlConfig, num_envs: int = 1):
        check_num_envs(num_envs)
        self.config = c = config
        self.num_envs = num_envs
        self.L, self.K = c.num_aps, c.num_ues
        self.central = c.agents == "central"
        self.n_agents = 1 if self.central else self.K
        self.features_per_ue = self.L + 5
        self.obs_dim = self.K * self.features_per_ue if self.central else self.features_per_ue
        self.action_dim = self.K if self.central else 1
        self.n_costs = 1
        self.action_bounds = (-1.0, 1.0)  # every action component
        self.agent_ids = ["central"] if self.central else [f"ue{k}" for k in range(self.K)]
        self.noise_w = thermal_noise_power_w(c.bandwidth_hz, c.noise_figure_db)
        self.area = mobility.Area("square", c.area_size_m, wrap=True)
        self._mean_speed, self._mean_leg, self._pause_prob, self._mean_pause = mobility.class_parameters(
            self.K, c.num_vehicular)
        row_lo = np.concatenate([np.full(self.L, -5.0), [0.0, 0.0, -10.0, 0.0, 0.0]]).astype(np.float32)
        row_hi = np.concatenate([np.full(self.L, 5.0), [1.0, 1.0, 10.0, 10.0, 1.0]]).astype(np.float32)
        reps = self.K if self.central else 1
        self._obs_low, self._obs_high = np.tile(row_lo, reps), np.tile(row_hi, reps)

    # ------------------------------------------------------------------ API
    @property
    def obs_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self._obs_low, self._obs_high

    def reset(self, seeds) -> tuple[PowerControlState, np.ndarray]:
        """Start B episodes (one seed / SeedSequence / Generator per env copy)."""
        rngs = make_rngs(seeds, self.num_envs)
        c, B, L, K = self.config, self.num_envs, self.L, self.K
        ap_pos = np.stack([geometry.drop_uniform_square(g, L, c.area_size_m) for g in rngs])
        ue_pos = np.stack([geometry.drop_uniform_square(g, K, c.area_size_m) for g in rngs])
        mob = mobility.init_state(ue_pos, np.stack([g.random((K, 3)) for g in rngs]),
                                  self._mean_speed, self._mean_leg)
        shadow = np.stack([shadowing.ngo2017_correlated_shadowing_db(
            g, ap_pos[b], ue_pos[b], c.shadowing_std_db, c.shadowing_decorr_m, wrap_side_m=c.area_size_m)
            for b, g in enumerate(rngs)])
        small = np.stack([fading.rayleigh(g, (L, K)) for g in rngs])
        z = np.zeros((B, K))
        state = PowerControlState(rngs=rngs, t=0, ap_pos=ap_pos, mob=mob, shadow_db=shadow, small=small,
                                  beta=np.empty((B, L, K)), h=np.empty((B, L, K), complex),
                                  w=np.empty((B, L, K)), gain=np.empty((B, K, K)), p=z + c.p_max_w,
                                  sinr=z.copy(), interf=z.copy(), refine_ms=0.0, pos_at_step=ue_pos.copy(),
                                  w_applied=np.zeros((B, L, K)))
        self._channels(state)
        # the initial power vector p_0 = P_max is applied once, so the first observation has a "previous" outcome
        state.sinr, state.interf = obj.sinr(state.gain, state.p, self.noise_w)
        self._advance(state)
        return state, self._observe(state)

    def step(self, state: PowerControlState, actions) -> tuple[PowerControlState, np.ndarray, np.ndarray,
                                                                np.ndarray, np.ndarray]:
        """Apply one power decision per env copy. actions: (B, K) / (K,) (B == 1) or the
        agent layout (B, N, A), values in [-1, 1]."""
        c = self.config
        a = coerce_box_actions(actions, self.num_envs, self.K, -1.0, 1.0, self.agent_ids,
                               per_agent=self.action_dim)
        p = c.p_min_w + 0.5 * (a + 1.0) * (c.p_max_w - c.p_min_w)
        state.refine_ms = 0.0
        if c.lbfgs_refine and c.objective != "max_min":
            t0 = time.perf_counter()
            p = obj.lbfgs_maximize(c.objective, state.gain, self.noise_w, p, c.p_min_w, c.p_max_w,
                                   c.product_eps, c.lbfgs_max_iter)
            state.refine_ms = 1e3 * (time.perf_counter() - t0)
        state.p = p
        state.sinr, state.interf = obj.sinr(state.gain, p, self.noise_w)
        state.pos_at_step = state.mob.pos.copy()
        state.w_applied = state.w
        reward, cost = self._reward_cost(state)
        state.t += 1
        done = np.full(self.num_envs, state.t >= c.episode_steps)
        self._advance(state)
        return state, self._observe(state), reward, cost, done

    def kpis(self, state: PowerControlState) -> dict[str, np.ndarray]:
        """System KPIs of the last step, arrays (B,)."""
        c = self.config
        s = state.sinr
        se = np.log2(1.0 + s)
        sinr_db = 10.0 * np.log10(np.maximum(s, 1e-30))
        ok = s >= c.sinr_threshold
        ap_power = np.einsum("blk,bk->bl", state.w_applied, state.p)
        return {
            "sum_se_bps_hz": se.sum(-1), "mean_se_bps_hz": se.mean(-1), "min_se_bps_hz": se.min(-1),
            "qos_satisfaction": ok.mean(-1), "outage_probability": 1.0 - ok.mean(-1),
            "mean_sinr_db": sinr_db.mean(-1), "min_sinr_db": sinr_db.min(-1), "max_sinr_db": sinr_db.max(-1),
            "objective_bps_hz": obj.objective_value(c.objective, s, c.product_eps),
            "mean_power_w": state.p.mean(-1), "max_ap_power_w": ap_power.max(-1),
            "refine_ms": np.full(self.num_envs, state.refine_ms / self.num_envs),
        }

    #: KPIs averaged per episode by the evaluation harness
    summary_kpis = ("sum_se_bps_hz", "min_se_bps_hz", "mean_sinr_db", "qos_satisfaction",
                    "outage_probability", "objective_bps_hz", "mean_power_w", "max_ap_power_w")

    def user_records(self, state: PowerControlState) -> dict[str, np.ndarray]:
        """Per-UE outcomes of the last step, (B, K) each (for CDFs and the SINR map)."""
        s = state.sinr
        return {"se_bps_hz": np.log2(1.0 + s), "sinr_db": 10.0 * np.log10(np.maximum(s, 1e-30)),
                "x_m": state.pos_at_step[..., 0], "y_m": state.pos_at_step[..., 1]}

    def agent_graph(self, state: PowerControlState | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Complete directed graph among UE agents (every UE's power interferes with every other's;
        one edge type; the same for every episode); no edges for the central agent."""
        if self.central:
            return np.zeros((2, 0), np.int64), np.zeros(0, np.int64)
        src, dst = np.nonzero(~np.eye(self.K, dtype=bool))
        return np.stack([src, dst]).astype(np.int64), np.zeros(src.size, np.int64)

    def power_of_action(self, actions: np.ndarray) -> np.ndarray:
        c = self.config
        return c.p_min_w + 0.5 * (np.asarray(actions, float) + 1.0) * (c.p_max_w - c.p_min_w)

    def action_of_power(self, p: np.ndarray) -> np.ndarray:
        """Inverse of the action mapping, (B, K) powers -> actions in [-1, 1] (for baselines)."""
        c = self.config
        return np.clip(2.0 * (np.asarray(p, float) - c.p_min_w) / (c.p_max_w - c.p_min_w) - 1.0, -1.0, 1.0)

    # ------------------------------------------------------------- internals
    def _reward_cost(self, state: PowerControlState) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        s, th = state.sinr, c.sinr_threshold
        se_th = c.se_threshold_bps_hz
        short = np.maximum(th - s, 0.0) / th  # (B, K)
        ok = (s >= th).astype(float)
        p_viol = (np.maximum(state.p - c.p_max_w, 0.0) + np.maximum(c.p_min_w - state.p, 0.0)) / c.p_max_w
        f = obj.objective_value(c.objective, s, c.product_eps)  # (B,)
        team = (c.w_objective * f / se_th + c.w_satisfaction * ok.mean(-1) - c.w_qos * short.mean(-1)
                - c.w_power * p_viol.mean(-1))
        if self.central:
            return team[:, None], short.mean(-1)[:, None, None]
        if c.reward_mode == "team":
            reward = np.repeat(team[:, None], self.K, axis=1)
        else:
            if c.objective == "max_min":
                f_k = np.repeat(f[:, None], self.K, axis=1)
            elif c.objective == "max_product":
                f_k = np.log2(s + c.product_eps)
            else:
                f_k = np.log2(1.0 + s)
            reward = c.w_objective * f_k / se_th + c.w_satisfaction * ok - c.w_qos * short - c.w_power * p_viol
        return reward, short[..., None]

    def _channels(self, state: PowerControlState) -> None:
        """Large-scale gains, channels, AP weights and the gain matrix at the UEs' current positions."""
        c = self.config
        d2d = geometry.horizontal_distance_m(state.ap_pos, state.mob.pos, c.area_size_m)  # (B, L, K)
        pl = pathloss.ngo2017_three_slope_pl_db(d2d, c.carrier_hz / 1e6, c.ap_height_m, c.ue_height_m)
        shadow = np.where(d2d > pathloss.NGO2017_D1_M, state.shadow_db, 0.0)  # Ngo 2017: only beyond d1
        state.beta = np.power(10.0, -0.1 * (pl - shadow))
        state.h = np.sqrt(state.beta) * state.small
        serve = self._serving(state.beta)
        if c.budget_split == "proportional":
            share = state.beta * serve
        else:
            share = serve.astype(float)
        share = share / np.maximum(share.sum(-1, keepdims=True), 1e-300)
        state.w = share * (c.ap_power_w / c.p_max_w)
        amp = mrt_received_amplitudes(state.h, state.w)
        state.gain = amp.real * amp.real + amp.imag * amp.imag

    def _serving(self, beta: np.ndarray) -> np.ndarray:
        n = self.config.serving_aps
        if n == 0 or n >= self.L:
            return np.ones(beta.shape, bool)
        top = np.argpartition(-beta, n - 1, axis=-2)[..., :n, :]
        mask = np.zeros(beta.shape, bool)
        np.put_along_axis(mask, top, True, axis=-2)
        return mask

    def _advance(self, state: PowerControlState) -> None:
        """Move the UEs by one step and draw the next step's channel."""
        c, K = self.config, self.K
        u = np.stack([g.random((1, K, mobility.DRAWS_PER_SLOT)) for g in state.rngs], axis=1)  # (1, B, K, 4)
        _, new_mob = mobility.advance(state.mob, u, c.step_s, 1, self._mean_speed, self._mean_leg,
                                      self._pause_prob, self._mean_pause, self.area)
        moved = geometry.horizontal_distance_m(state.mob.pos[:, :, None], new_mob.pos[:, :, None],
                                               c.area_size_m)[..., 0, 0]  # (B, K)
        if c.shadowing_std_db > 0.0:
            state.shadow_db = np.stack([shadowing.gudmundson_update_db(
                g, state.shadow_db[b], moved[b][None, :], c.shadowing_std_db, c.shadowing_decorr_m)
                for b, g in enumerate(state.rngs)])
        rho = fading.jakes_correlation(new_mob.speed, c.carrier_hz, c.step_s)[:, None, :]  # (B, 1, K)
        state.small = np.stack([fading.gauss_markov_step(g, state.small[b], rho[b])
                                for b, g in enumerate(state.rngs)])
        state.mob = new_mob
        self._channels(state)

    def _observe(self, state: PowerControlState) -> np.ndarray:
        c, B, L, K = self.config, self.num_envs, self.L, self.K
        obs = np.empty((B, K, self.features_per_ue), np.float32)
        snr_db = 10.0 * np.log10(np.maximum(state.beta * (c.ap_power_w / self.noise_w), 1e-30))
        obs[..., :L] = np.clip(np.swapaxes(snr_db, 1, 2) / BETA_SCALE_DB, -5.0, 5.0)
        obs[..., L:L + 2] = state.mob.pos / c.area_size_m
        obs[..., L + 2] = np.clip(10.0 * np.log10(np.maximum(state.sinr, 1e-30)) / 10.0, -10.0, 10.0)
        obs[..., L + 3] = np.clip(10.0 * np.log10(state.interf / self.noise_w) / 10.0, 0.0, 10.0)
        obs[..., L + 4] = state.p / c.p_max_w
        return obs.reshape(B, 1, -1) if self.central else obs

    # ------------------------------------------------------------ global state
    @property
    def state_dim(self) -> int:
        """Length S of :meth:`global_state`: K F + K^2."""
        return self.K * self.features_per_ue + self.K * self.K

    @property
    def state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (S,) float32 of :meth:`global_state`."""
        low, high = self.obs_bounds
        reps = 1 if self.central else self.K
        g = np.full(self.K * self.K, 5.0, np.float32)
        return np.concatenate([np.tile(low, reps), -g]), np.concatenate([np.tile(high, reps), g])

    def global_state(self, state: PowerControlState) -> np.ndarray:
        """Global state for centralised critics, (B, K F + K^2) float32: all K observation rows, then the
        gain matrix G_kj P_max / sigma^2 [dB] / 20 clipped to [-5, 5], row-major (see the module docstring)."""
        snr_db = 10.0 * np.log10(np.maximum(state.gain * (self.config.p_max_w / self.noise_w), 1e-30))
        g = np.clip(snr_db / BETA_SCALE_DB, -5.0, 5.0).reshape(self.num_envs, -1)
        return np.concatenate([self._observe(state).reshape(self.num_envs, -1), g], -1).astype(np.float32)
