"""Configuration and named scenarios of the AP-selection environment.

Values follow the AP-selection paper (aps_gnn, Table II) where its extraction
kept them (LoS, urban, MRT, disc area, 3-D distance) and published sources
otherwise; each default cites its source. The paper's lost numbers (radius,
carrier, heights, speeds, window) are replaced by 3GPP values:
TR 38.901 UMi (3.5 GHz evaluations, h_BS = 10 m, h_UT = 1.5 m) and TR 38.913
speeds (3 km/h pedestrian, 30 km/h vehicular).
"""

from __future__ import annotations

from dataclasses import dataclass

from cfmarl.envs.physics.energy import NGO2018_P_DL_W, NGO2018_PA_EFFICIENCY, ngo2018_fixed_power_w
from cfmarl.envs.validation import (ConfigError, check_bool, check_choice, check_float, check_int, check_memory,
                                    replace_config)

PATHLOSS_MODELS = ("umi_38901_los", "umi_36814_los", "free_space", "ngo2017")
SMALL_SCALE_MODELS = ("none", "rician")


@dataclass(frozen=True)
class ApSelectionConfig:
    """All parameters of one AP-selection environment (SI units; dB values suffixed)."""

    # --- network -----------------------------------------------------------
    num_aps: int = 16  # L, single-antenna APs
    num_ues: int = 6  # K, single-antenna UEs
    area_shape: str = "disc"  # "disc" (paper: area radius) or "square"
    area_size_m: float = 150.0  # disc radius or square side [m] (our choice; see README)
    wrap_around: bool = False  # square only: torus distances and wrap-around mobility
    # --- radio (TR 38.901 UMi; Ngo 2017 for bandwidth and noise figure) -----------
    carrier_hz: float = 3.5e9  # NR band n78, as in the TR 38.901 reference values
    bandwidth_hz: float = 20e6  # Ngo 2017 Table I
    noise_figure_db: float = 9.0  # Ngo 2017 Table I
    ap_height_m: float = 10.0  # TR 38.901 UMi h_BS
    ue_height_m: float = 1.5  # TR 38.901 UMi h_UT
    pathloss: str = "umi_38901_los"  # one of PATHLOSS_MODELS, on the 3-D distance
    shadowing_std_db: float = 0.0  # 0 = pure LoS as in the paper; TR 38.901 UMi LOS: 4 dB
    shadowing_decorr_m: float = 10.0  # TR 38.901 Table 7.5-6, UMi LOS
    small_scale: str = "none"  # "none" (deterministic LoS, the paper) or "rician"
    rician_k_db: float = 9.0  # TR 38.901 Table 7.5-6 UMi LOS K-factor mean
    # --- power (Ngo 2018) ----------------------------------------------------
    ap_max_power_w: float = NGO2018_P_DL_W  # P_max per AP [W]
    pa_efficiency: float = NGO2018_PA_EFFICIENCY  # eta
    ap_fixed_power_w: float = ngo2018_fixed_power_w(1)  # P_fixed = P_tc + P_0 = 1.025 W
    # --- timing ---------------------------------------------------------------
    slot_s: float = 0.01  # slot duration [s]
    window_slots: int = 10  # T_w: slots per APS window (association held)
    episode_windows: int = 20  # decisions per episode
    # --- service -----------------------------------------------------------------
    se_target_bps_hz: float = 1.0  # per-UE target of the window-average SE (calibrated: see README)
    vehicular_fraction: float = 0.0  # share of vehicular UEs (the first round(f K) UEs)
    # --- observation -------------------------------------------------------------
    history_len: int = 4  # past decision instants of link SNR in each observation
    # include the link's previous action (else that feature is 0). Off by default: the paper observes
    # only channel history, and a policy cloned from a stable teacher learns "repeat the last action",
    # which turns exploration noise into a self-sustaining switch-off (see README).
    observe_previous_action: bool = False
    # append the link's marginal SE of the window just played: UE k's window-average SE with link (l, k) on
    # minus with it off, everything else as played, over the target (causal: the previous window's channels,
    # which carry the phases the SNR history lacks). Off by default (the paper observes channel history only).
    observe_link_gain: bool = False
    # append the link's rank among its UE's L links by the current SNR (0 = the UE's strongest AP), as
    # min(rank, 8) / 8: what the UE's pilot measurements tell each of its serving APs. Size-free (a rank,
    # not a gain), so k-strongest is one threshold on it at every network size. Off by default (the paper
    # observes channel history only).
    observe_link_rank: bool = False
    # --- credit ------------------------------------------------------------------
    # which links carry UE k's SE shortfall as their cost: "ue" (the paper's rule: every link (l, k) of UE k
    # carries it) or "large_scale" (link (l, k) carries L beta_lk / sum_l' beta_l'k of it: the APs that matter
    # to UE k get the credit, an AP's links together carry the shortfalls of the UEs it is strong for). Both
    # give every UE's shortfall the same total over its L links, so the mean cost per link - the constraint -
    # is the same number; only the credit moves.
    cost_credit: str = "ue"

    def __post_init__(self) -> None:
        c = type(self).__name__
        check_int(c, "num_aps", self.num_aps, 1, 4096)
        check_int(c, "num_ues", self.num_ues, 1, 1024)
        check_choice(c, "area_shape", self.area_shape, ("disc", "square"))
        check_float(c, "area_size_m", self.area_size_m, 0.0, 1e6, lo_open=True)
        check_bool(c, "wrap_around", self.wrap_around)
        if self.wrap_around and self.area_shape != "square":
            raise ConfigError(f"{c}.wrap_around: only allowed with area_shape='square'")
        check_float(c, "carrier_hz", self.carrier_hz, 1e8, 1e11)
        check_float(c, "bandwidth_hz", self.bandwidth_hz, 0.0, 1e10, lo_open=True)
        check_float(c, "noise_figure_db", self.noise_figure_db, 0.0, 30.0)
        check_float(c, "ap_height_m", self.ap_height_m, 0.0, 300.0)
        check_float(c, "ue_height_m", self.ue_height_m, 0.0, 300.0)
        if self.pathloss in ("umi_38901_los", "umi_36814_los") and not (
                self.ap_height_m > 1.0 and self.ue_height_m > 1.0):
            raise ConfigError(f"{c}.ap_height_m/ue_height_m: 3GPP UMi models need heights > 1 m "
                              "(effective height h - 1 m)")
        check_choice(c, "pathloss", self.pathloss, PATHLOSS_MODELS)
        check_float(c, "shadowing_std_db", self.shadowing_std_db, 0.0, 20.0)
        check_float(c, "shadowing_decorr_m", self.shadowing_decorr_m, 0.0, 1e4, lo_open=True)
        check_choice(c, "small_scale", self.small_scale, SMALL_SCALE_MODELS)
        check_float(c, "rician_k_db", self.rician_k_db, -30.0, 40.0)
        check_float(c, "ap_max_power_w", self.ap_max_power_w, 0.0, 1e3, lo_open=True)
        check_float(c, "pa_efficiency", self.pa_efficiency, 0.0, 1.0, lo_open=True)
        check_float(c, "ap_fixed_power_w", self.ap_fixed_power_w, 0.0, 1e4)
        check_float(c, "slot_s", self.slot_s, 0.0, 10.0, lo_open=True)
        check_int(c, "window_slots", self.window_slots, 1, 10_000)
        check_int(c, "episode_windows", self.episode_windows, 1, 1_000_000)
        check_float(c, "se_target_bps_hz", self.se_target_bps_hz, 0.0, 100.0, lo_open=True)
        check_float(c, "vehicular_fraction", self.vehicular_fraction, 0.0, 1.0)
        check_int(c, "history_len", self.history_len, 1, 256)
        check_bool(c, "observe_previous_action", self.observe_previous_action)
        check_bool(c, "observe_link_gain", self.observe_link_gain)
        check_bool(c, "observe_link_rank", self.observe_link_rank)
        check_choice(c, "cost_credit", self.cost_credit, ("ue", "large_scale"))
        check_memory(type(self).__name__, self.memory_terms())

    def memory_terms(self) -> list[tuple[str, tuple[str, ...], float]]:
        """Bytes of one env copy by what grows (measured with tracemalloc: reset + steps + agent graph;
        the estimate is an upper bound within ~2x at 16x6 .. 128x32, tests/envs/test_memory_guard.py)."""
        n = self.num_aps * self.num_ues
        return [("channels of a window", ("window_slots", "num_aps", "num_ues"), 96.0 * self.window_slots * n),
                ("SNR history", ("history_len", "num_aps", "num_ues"), 16.0 * self.history_len * n),
                ("per-link state", ("num_aps", "num_ues"), 400.0 * n),
                ("agent graph", ("num_aps", "num_ues"), 64.0 * n * (self.num_aps + self.num_ues - 2))] + (
            # one slot of toggled gains G' (L K K complex) and its powers, plus the window's unit phases
            [("link-gain feature", ("num_aps", "num_ues", "num_ues"), 64.0 * n * self.num_ues
              + 16.0 * self.window_slots * n)] if self.observe_link_gain else [])

    def describe(self) -> dict[str, str]:
        """One row of ``cfmarl envs``."""
        mob = "vehicular" if self.vehicular_fraction == 1 else (
            "pedestrian" if self.vehicular_fraction == 0 else f"{self.vehicular_fraction:.0%} vehicular")
        return {"size": f"{self.num_aps} APs x {self.num_ues} UEs", "agents": str(self.num_links),
                "area": f"{self.area_shape} {self.area_size_m:g} m",
                "task": f"{mob}, SE target {self.se_target_bps_hz:g} b/s/Hz"}

    @property
    def num_links(self) -> int:
        return self.num_aps * self.num_ues

    @property
    def num_vehicular(self) -> int:
        return int(round(self.vehicular_fraction * self.num_ues))

    @property
    def ap_active_power_w(self) -> float:
        """Power drawn by an active AP: P_fixed + P_max / eta [W] (aps_gnn eq. (9), Ngo 2018)."""
        return self.ap_fixed_power_w + self.ap_max_power_w / self.pa_efficiency


# Scenario sizes keep the paper's proportions: a handful of UEs with 2-3x as
# many APs (medium), several times that (large), and a stress size. The radius
# grows with sqrt(L) so that the AP density stays that of `medium`.
_SIZES = {
    "tiny": (4, 2, 80.0),
    "medium": (16, 6, 150.0),
    "large": (64, 16, 300.0),
    "xlarge": (128, 32, 425.0),
}
_MOBILITY = {"": 0.0, "-vehicular": 1.0}


def scenario_names() -> list[str]:
    """All registered scenario names, e.g. ``medium`` and ``medium-vehicular``."""
    return [f"{size}{suffix}" for size in _SIZES for suffix in _MOBILITY]


def make_config(scenario: str = "medium", **overrides) -> ApSelectionConfig:
    """The config of a named scenario, with field overrides (validated).

    Pedestrian scenarios are plain names (``medium``); ``-vehicular`` variants put
    every UE in the vehicular class. ``se_target_bps_hz`` and every other field can
    be overridden.
    """
    for size, (num_aps, num_ues, radius) in _SIZES.items():
        for suffix, frac in _MOBILITY.items():
            if scenario == f"{size}{suffix}":
                base = ApSelectionConfig(num_aps=num_aps, num_ues=num_ues, area_size_m=radius,
                                         vehicular_fraction=frac)
                return replace_config(base, **overrides)
    raise ConfigError(f"unknown scenario {scenario!r} for env 'aps'; known: {', '.join(scenario_names())}")
