"""Configuration and named scenarios of the downlink power-control environment.

The DHI paper (dhi_sac_power_control) fixes the problem (32 UEs, scalar AP-UE
channels, per-UE power in [P_min, P_max], three objectives, QoS threshold) but
its simulation table did not survive extraction. The physical defaults are
therefore those of Ngo et al. 2017 ("Cell-free massive MIMO versus small
cells", Table I / Sec. VI; physics_reference.md (i)): 1 km x 1 km square with
wrap-around, 100 single-antenna APs, 1.9 GHz, 20 MHz, noise figure 9 dB,
three-slope path loss with 8 dB shadowing (beyond 50 m) decorrelating over
100 m, 15 m / 1.65 m antenna heights and 200 mW per AP. The UE count is the
DHI paper's 32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cfmarl.envs.physics.pathloss import NGO2017_SHADOWING_STD_DB
from cfmarl.envs.physics.shadowing import NGO2017_DECORR_M
from cfmarl.envs.validation import (ConfigError, check_bool, check_choice, check_float, check_int, check_memory,
                                    replace_config)

OBJECTIVES = ("max_min", "max_product", "max_sum_rate")
AGENT_MODES = ("per_user", "central")
REWARD_MODES = ("team", "local")
BUDGET_SPLITS = ("proportional", "equal")


@dataclass(frozen=True)
class PowerControlConfig:
    """All parameters of one power-control environment (SI units; dB values suffixed)."""

    # --- network (Ngo 2017 Sec. VI; K from the DHI paper) --------------------------
    num_aps: int = 100  # M single-antenna APs (Ngo 2017: 100)
    num_ues: int = 32  # K single-antenna UEs (DHI paper: 32)
    area_size_m: float = 1000.0  # square side D (Ngo 2017: 1 km), wrapped around
    serving_aps: int = 0  # APs serving each UE: 0 = all (Ngo 2017), else the N largest beta
    budget_split: str = "proportional"  # AP budget shares: beta-proportional (Ngo 2017 'equal power'
    #                                     eta_mk = 1 / sum_k' gamma_mk') or equal among served UEs
    # --- radio (Ngo 2017 Table I) ---------------------------------------------------
    carrier_hz: float = 1.9e9
    bandwidth_hz: float = 20e6
    noise_figure_db: float = 9.0
    ap_height_m: float = 15.0
    ue_height_m: float = 1.65
    shadowing_std_db: float = NGO2017_SHADOWING_STD_DB  # 8 dB, only beyond d1 = 50 m
    shadowing_decorr_m: float = NGO2017_DECORR_M  # 100 m (Gudmundson along each UE's path)
    # --- power ------------------------------------------------------------------------
    ap_power_w: float = 0.2  # per-AP budget (Ngo 2017: 200 mW)
    p_max_w: float = 0.2  # P_max of the UE power level (a = +1)
    p_min_w: float = 0.0002  # P_min (a = -1): 30 dB below P_max (our choice; the paper's value is lost)
    # --- mobility and time -------------------------------------------------------------
    step_s: float = 0.1  # time between power decisions [s]
    episode_steps: int = 50
    vehicular_fraction: float = 0.0  # share of vehicular (30 km/h) UEs; the rest walk at 3 km/h
    # --- objective, QoS and reward (DHI Sec. 3.1, 3.2.3) -------------------------------
    objective: str = "max_product"
    sinr_threshold_db: float = -5.0  # QoS threshold gamma_th (calibrated, see the module doc)
    product_eps: float = 1e-6  # epsilon in log(SINR + eps)
    w_objective: float = 1.0
    w_satisfaction: float = 0.5
    w_qos: float = 1.0
    w_power: float = 1.0
    reward_mode: str = "team"  # every agent gets the system reward, or its own share ("local")
    # --- agents and refinement --------------------------------------------------------
    agents: str = "per_user"  # one agent per UE, or one central agent (the DHI paper's setting)
    lbfgs_refine: bool = False  # L-BFGS-B refinement of the action (product and sum-rate only)
    lbfgs_max_iter: int = 50

    def __post_init__(self) -> None:
        c = type(self).__name__
        check_int(c, "num_aps", self.num_aps, 1, 4096)
        check_int(c, "num_ues", self.num_ues, 1, 1024)
        check_float(c, "area_size_m", self.area_size_m, 0.0, 1e6, lo_open=True)
        check_int(c, "serving_aps", self.serving_aps, 0, self.num_aps)
        check_choice(c, "budget_split", self.budget_split, BUDGET_SPLITS)
        check_float(c, "carrier_hz", self.carrier_hz, 1.5e8, 2e9)  # COST-Hata constant: 150-2000 MHz
        check_float(c, "bandwidth_hz", self.bandwidth_hz, 0.0, 1e10, lo_open=True)
        check_float(c, "noise_figure_db", self.noise_figure_db, 0.0, 30.0)
        check_float(c, "ap_height_m", self.ap_height_m, 0.0, 300.0, lo_open=True)
        check_float(c, "ue_height_m", self.ue_height_m, 0.0, 300.0, lo_open=True)
        check_float(c, "shadowing_std_db", self.shadowing_std_db, 0.0, 20.0)
        check_float(c, "shadowing_decorr_m", self.shadowing_decorr_m, 0.0, 1e5, lo_open=True)
        check_float(c, "ap_power_w", self.ap_power_w, 0.0, 1e3, lo_open=True)
        check_float(c, "p_max_w", self.p_max_w, 0.0, 1e3, lo_open=True)
        check_float(c, "p_min_w", self.p_min_w, 0.0, 1e3, lo_open=True)
        if not self.p_min_w < self.p_max_w:
            raise ConfigError(f"{c}.p_min_w: must be < p_max_w ({self.p_max_w}), got {self.p_min_w}")
        check_float(c, "step_s", self.step_s, 0.0, 3600.0, lo_open=True)
        check_int(c, "episode_steps", self.episode_steps, 1, 1_000_000)
        check_float(c, "vehicular_fraction", self.vehicular_fraction, 0.0, 1.0)
        check_choice(c, "objective", self.objective, OBJECTIVES)
        check_float(c, "sinr_threshold_db", self.sinr_threshold_db, -50.0, 60.0)
        check_float(c, "product_eps", self.product_eps, 0.0, 1.0, lo_open=True)
        for name in ("w_objective", "w_satisfaction", "w_qos", "w_power"):
            check_float(c, name, getattr(self, name), 0.0, 1e6)
        check_choice(c, "reward_mode", self.reward_mode, REWARD_MODES)
        check_choice(c, "agents", self.agents, AGENT_MODES)
        check_bool(c, "lbfgs_refine", self.lbfgs_refine)
        check_int(c, "lbfgs_max_iter", self.lbfgs_max_iter, 1, 10_000)
        check_memory(type(self).__name__, self.memory_terms())

    def memory_terms(self) -> list[tuple[str, tuple[str, ...], float]]:
        """Bytes of one env copy by what grows (upper bound within ~2x of tracemalloc, see
        tests/envs/test_memory_guard.py)."""
        L, K = self.num_aps, self.num_ues
        return [("AP-UE arrays", ("num_aps", "num_ues"), 64.0 * L * K), ("AP pairs", ("num_aps",), 32.0 * L * L),
                ("UE pairs and agent graph", ("num_ues",), 160.0 * K * K)]

    @property
    def sinr_threshold(self) -> float:
        return 10.0 ** (self.sinr_threshold_db / 10.0)

    @property
    def se_threshold_bps_hz(self) -> float:
        """log2(1 + gamma_th): the SE at the QoS threshold, the objective's normaliser."""
        return math.log2(1.0 + self.sinr_threshold)

    @property
    def num_vehicular(self) -> int:
        return int(round(self.vehicular_fraction * self.num_ues))

    def describe(self) -> dict[str, str]:
        """One row of ``cfmarl envs``."""
        agents = 1 if self.agents == "central" else self.num_ues
        return {"size": f"{self.num_aps} APs x {self.num_ues} UEs", "agents": str(agents),
                "area": f"square {self.area_size_m:g} m", "task": f"{self.objective}, "
                f"QoS {self.sinr_threshold_db:g} dB"}


# Sizes keep Ngo 2017's AP density (100 per km^2): the side grows with sqrt(M).
_SIZES = {
    "tiny": (6, 3),
    "small": (16, 6),
    "paper": (100, 32),
    "large": (400, 128),
}


def _side_m(num_aps: int) -> float:
    return 1000.0 * math.sqrt(num_aps / 100.0)


def scenario_names() -> list[str]:
    """Scenario names: sizes x agent granularity (``paper`` and ``paper-central`` ...)."""
    return [f"{size}{suffix}" for size in _SIZES for suffix in ("", "-central")]


def make_config(scenario: str = "paper", **overrides) -> PowerControlConfig:
    """The config of a named scenario with field overrides (validated).

    ``<size>`` has one agent per UE, ``<size>-central`` one central agent; every
    other field (``objective``, ``sinr_threshold_db``, ``lbfgs_refine``...) can be
    overridden.
    """
    for size, (m, k) in _SIZES.items():
        for suffix, agents in (("", "per_user"), ("-central", "central")):
            if scenario == f"{size}{suffix}":
                base = PowerControlConfig(num_aps=m, num_ues=k, area_size_m=_side_m(m), agents=agents)
                return replace_config(base, **overrides)
    raise ConfigError(f"unknown scenario {scenario!r} for env 'power'; known: {', '.join(scenario_names())}")
