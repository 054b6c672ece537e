"""Configuration and named scenarios of the distributed-precoding environment.

From oran_distributed_precoding Sec. IV where the extraction kept the values:
N_t = 4 antennas per O-RU, N_r = 2 per user, square area with wrap-around split
into square O-DU subareas, 3GPP UMi NLOS path loss (TR 36.814) with its 4 dB
shadowing, user-centric clusters of the O-RUs with the largest beta, Gauss-Markov
fading with the Jakes correlation. The paper's lost numbers are replaced by:
3.5 GHz (NR n78; inside TR 36.814's 2-6 GHz range), 20 MHz and noise figure 9 dB
(Ngo 2017), O-RU height 10 m and user height 1.5 m (TR 36.814 UMi), 30 dBm per
O-RU (small-cell class), 3 km/h users, RT loop 1 ms, a near-RT loop of 10 RT
loops (10 ms, the lower end of O-RAN's 10 ms - 1 s), an episode (non-RT loop) of
100 near-RT loops (1 s), 1 bit/s/Hz minimum rate, |Omega| = 3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cfmarl.envs.physics.pathloss import UMI_36814_SF_STD_NLOS_DB
from cfmarl.envs.validation import ConfigError, check_choice, check_float, check_int, check_memory, replace_config


@dataclass(frozen=True)
class PrecodingConfig:
    """All parameters of one distributed-precoding environment (SI units; dB values suffixed)."""

    # --- network ---------------------------------------------------------------
    num_orus: int = 16  # L
    num_ues: int = 8  # K
    oru_antennas: int = 4  # N_t (paper)
    ue_antennas: int = 2  # N_r (paper); d = N_r streams per user
    area_size_m: float = 400.0  # square side, wrapped around
    odu_grid: int = 2  # O-DUs on a g x g grid of square subareas
    cluster_size: int = 4  # O-RUs serving each user (largest beta)
    # --- radio ------------------------------------------------------------------------
    carrier_hz: float = 3.5e9
    bandwidth_hz: float = 20e6
    noise_figure_db: float = 9.0
    oru_height_m: float = 10.0
    ue_height_m: float = 1.5
    shadowing_std_db: float = UMI_36814_SF_STD_NLOS_DB  # TR 36.814 UMi NLOS: 4 dB
    oru_power_dbm: float = 30.0  # per-O-RU budget
    ue_speed_kmh: float = 3.0
    # --- timescales --------------------------------------------------------------------
    rt_loop_s: float = 1e-3  # RT loop (precoders recomputed)
    rt_per_step: int = 10  # RT loops per near-RT loop (one agent step)
    episode_steps: int = 100  # near-RT loops per non-RT loop (episode)
    # --- service and duals ---------------------------------------------------------------
    min_rate_bps_hz: float = 1.0  # R_min for every user
    dual_step: float = 0.05  # eta in lambda_k <- [lambda_k - eta (R_k - R_min)]^+ (eq. (29)), every RT loop
    rate_change_step: int = 0  # near-RT loop at which one random user's R_min changes (0 = never)
    rate_change_bps_hz: float = 2.0  # that user's new R_min
    # --- agents, observation, CSI ----------------------------------------------------------
    obs_users: int = 3  # |Omega|: users with the most similar large-scale profile, self included
    csi_error: float = 0.0  # relative CSI error power (0 = perfect CSI): H_hat = H + E, E ~ CN(0, csi_error beta)
    precoder_users: str = "served"  # users an O-RU accounts for in its update: 'served' (eq. (30)) or 'all'
    u_range: float = 2.0  # action scale of U (in units of 1 / g_k, see the core)
    w_log_range: float = 5.0  # action scale of log diag(L_W)
    # 'absolute': the action encodes U, W; 'residual': the action is a correction added to the WMMSE
    # expert's encoded action (computed from the agent's own observation), clip(expert + residual_scale a)
    action_mode: str = "absolute"
    residual_scale: float = 0.25
    # 'bcd': the paper's coherent block-coordinate O-RU update (eqs. (23)-(30)); 'decoupled': every O-RU
    # solves its subproblem as in cellular WMMSE, ignoring the other O-RUs' signals (eq. (43), DRL-WMMSE)
    precoder_update: str = "bcd"
    # reward of user k: 'own' = its own rate (the paper's eq. (32)); 'difference' = the sum rate minus the sum
    # rate had user k applied the WMMSE expert's U_k, W_k instead (Wolpert & Tumer's difference reward with the
    # expert as the default action): its gradient in user k's action is the sum rate's, its variance is far
    # below the team reward's (the other users' contributions cancel). Costs K extra precoder updates per step.
    reward: str = "own"

    def __post_init__(self) -> None:
        c = type(self).__name__
        check_int(c, "num_orus", self.num_orus, 1, 1024)
        check_int(c, "num_ues", self.num_ues, 1, 512)
        check_int(c, "oru_antennas", self.oru_antennas, 1, 64)
        check_int(c, "ue_antennas", self.ue_antennas, 1, 8)
        check_float(c, "area_size_m", self.area_size_m, 0.0, 1e5, lo_open=True)
        check_int(c, "odu_grid", self.odu_grid, 1, 32)
        if self.num_orus % (self.odu_grid * self.odu_grid):
            raise ConfigError(f"{c}.num_orus: must be a multiple of the number of O-DUs odu_grid^2 = "
                              f"{self.odu_grid ** 2} (the same number of O-RUs in every subarea), got {self.num_orus}")
        check_int(c, "cluster_size", self.cluster_size, 1, self.num_orus)
        check_float(c, "carrier_hz", self.carrier_hz, 2e9, 6e9)  # TR 36.814 UMi range
        check_float(c, "bandwidth_hz", self.bandwidth_hz, 0.0, 1e10, lo_open=True)
        check_float(c, "noise_figure_db", self.noise_figure_db, 0.0, 30.0)
        check_float(c, "oru_height_m", self.oru_height_m, 0.0, 300.0, lo_open=True)
        check_float(c, "ue_height_m", self.ue_height_m, 0.0, 300.0, lo_open=True)
        check_float(c, "shadowing_std_db", self.shadowing_std_db, 0.0, 20.0)
        check_float(c, "oru_power_dbm", self.oru_power_dbm, -30.0, 60.0)
        check_float(c, "ue_speed_kmh", self.ue_speed_kmh, 0.0, 500.0)
        check_float(c, "rt_loop_s", self.rt_loop_s, 0.0, 1.0, lo_open=True)
        check_int(c, "rt_per_step", self.rt_per_step, 1, 10_000)
        check_int(c, "episode_steps", self.episode_steps, 1, 1_000_000)
        check_float(c, "min_rate_bps_hz", self.min_rate_bps_hz, 0.0, 100.0)
        check_float(c, "dual_step", self.dual_step, 0.0, 100.0)
        check_int(c, "rate_change_step", self.rate_change_step, 0, self.episode_steps)
        check_float(c, "rate_change_bps_hz", self.rate_change_bps_hz, 0.0, 100.0)
        check_int(c, "obs_users", self.obs_users, 1, self.num_ues)
        check_float(c, "csi_error", self.csi_error, 0.0, 10.0)
        check_choice(c, "precoder_users", self.precoder_users, ("served", "all"))
        check_float(c, "u_range", self.u_range, 0.0, 1e3, lo_open=True)
        check_float(c, "w_log_range", self.w_log_range, 0.0, 20.0, lo_open=True)
        check_choice(c, "action_mode", self.action_mode, ("absolute", "residual"))
        check_float(c, "residual_scale", self.residual_scale, 0.0, 2.0, lo_open=True)
        check_choice(c, "precoder_update", self.precoder_update, ("bcd", "decoupled"))
        check_choice(c, "reward", self.reward, ("own", "difference"))
        check_memory(type(self).__name__, self.memory_terms())

    def memory_terms(self) -> list[tuple[str, tuple[str, ...], float]]:
        """Bytes of one env copy by what grows (upper bound within ~2x of tracemalloc, see
        tests/envs/test_memory_guard.py): channels and their estimates, precoders and the WMMSE
        temporaries are a dozen copies of the channel array."""
        ch = 16.0 * self.num_ues * self.ue_antennas * self.num_orus * self.oru_antennas
        # the difference reward runs K + 1 precoder updates side by side
        copies = self.num_ues + 1 if self.reward == "difference" else 1
        fields = ("num_ues", "ue_antennas", "num_orus", "oru_antennas") + (("reward",) if copies > 1 else ())
        return [("channels, precoders, WMMSE", fields, 12.0 * copies * ch),
                ("user pairs", ("num_ues", "ue_antennas"), 64.0 * (self.num_ues * self.ue_antennas) ** 2)]

    @property
    def streams(self) -> int:
        return self.ue_antennas

    @property
    def oru_power_w(self) -> float:
        return 10.0 ** ((self.oru_power_dbm - 30.0) / 10.0)

    @property
    def num_odus(self) -> int:
        return self.odu_grid * self.odu_grid

    def describe(self) -> dict[str, str]:
        return {"size": f"{self.num_orus} O-RUs x {self.num_ues} UEs", "agents": str(self.num_ues),
                "area": f"square {self.area_size_m:g} m", "task": f"Nt={self.oru_antennas}, Nr={self.ue_antennas}, "
                f"R_min {self.min_rate_bps_hz:g} b/s/Hz"}


# (O-RUs, users, O-DU grid); the side keeps medium's O-RU density (100 per km^2).
_SIZES = {
    "tiny": (4, 3, 1),
    "medium": (16, 8, 2),
    "large": (64, 32, 4),
}


def scenario_names() -> list[str]:
    return list(_SIZES)


def make_config(scenario: str = "medium", **overrides) -> PrecodingConfig:
    """The config of a named scenario with field overrides (validated)."""
    if scenario not in _SIZES:
        raise ConfigError(f"unknown scenario {scenario!r} for env 'precoding'; known: {', '.join(_SIZES)}")
    l, k, g = _SIZES[scenario]
    base = PrecodingConfig(num_orus=l, num_ues=k, odu_grid=g, area_size_m=400.0 * math.sqrt(l / 16.0),
                           cluster_size=min(4, l), obs_users=min(3, k))
    return replace_config(base, **overrides)
