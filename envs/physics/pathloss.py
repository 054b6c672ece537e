"""Large-scale path-loss models.

Every function returns the path *loss* in dB (a positive number that grows
with distance); the linear channel power gain is ``10 ** (-PL / 10)``.
Distances in metres, carrier frequencies in Hz unless the name says otherwise.
Formulas and reference values: physics_reference.md (i), (iii), (iv).

Models outside their validity range: distances below the model's minimum are
clamped to it (documented per function) so that a UE standing under an AP
does not get an unphysical gain > 1.
"""

from __future__ import annotations

import numpy as np

from cfmarl.envs.physics.units import SPEED_OF_LIGHT_MPS


def free_space_pl_db(d_m: np.ndarray, fc_hz: float, min_distance_m: float = 1.0) -> np.ndarray:
    """Friis free-space loss, isotropic antennas: 20 log10(4 pi d f / c) [dB].

    ``d_m`` is clamped below at ``min_distance_m`` (1 m).
    Reference: 1.9 GHz -> 78.02 dB at 100 m; 3.5 GHz -> 83.33 dB at 100 m.
    """
    d = np.maximum(d_m, min_distance_m)
    return 20.0 * np.log10(4.0 * np.pi * d * fc_hz / SPEED_OF_LIGHT_MPS)


# --------------------------------------------------------------------------
# 3GPP TR 38.901 V17, Table 7.4.1-1, UMi - Street Canyon
# --------------------------------------------------------------------------
#: Shadow-fading std for UMi LOS / NLOS [dB] (TR 38.901 Table 7.4.1-1).
UMI_38901_SF_STD_LOS_DB = 4.0
UMI_38901_SF_STD_NLOS_DB = 7.82
#: Shadow-fading decorrelation distance LOS / NLOS [m] (TR 38.901 Table 7.5-6).
UMI_38901_SF_DECORR_LOS_M = 10.0
UMI_38901_SF_DECORR_NLOS_M = 13.0
#: Effective environment height h_E for UMi [m] (TR 38.901 Note 1 of Table 7.4.1-1).
UMI_38901_H_E_M = 1.0


def umi_38901_breakpoint_m(fc_hz: float, h_bs_m: float, h_ut_m: float) -> float:
    """Breakpoint distance d'_BP = 4 h'_BS h'_UT f_c / c with h' = h - 1 m [m].

    Reference: 3.5 GHz, h_BS = 10 m, h_UT = 1.5 m -> 210.15 m.
    """
    return 4.0 * (h_bs_m - UMI_38901_H_E_M) * (h_ut_m - UMI_38901_H_E_M) * fc_hz / SPEED_OF_LIGHT_MPS


def umi_38901_los_pl_db(d2d_m: np.ndarray, fc_hz: float, h_bs_m: float = 10.0,
                        h_ut_m: float = 1.5) -> np.ndarray:
    """TR 38.901 UMi-Street-Canyon LOS path loss [dB].

    PL1 = 32.4 + 21 log10(d3D) + 20 log10(fc_GHz)                 d2D <= d'_BP
    PL2 = 32.4 + 40 log10(d3D) + 20 log10(fc_GHz)
          - 9.5 log10(d'_BP^2 + (h_BS - h_UT)^2)                  d2D >  d'_BP
    The 3-D distance enters the log terms. d2D is clamped below at 10 m (the
    model's validity range starts there). Reference: 3.5 GHz, h_UT = 1.5 m,
    d2D = 100 m -> 85.314 dB.
    """
    d2d = np.maximum(d2d_m, 10.0)
    dh = h_bs_m - h_ut_m
    d3d = np.sqrt(d2d * d2d + dh * dh)
    fc_ghz = fc_hz / 1e9
    d_bp = umi_38901_breakpoint_m(fc_hz, h_bs_m, h_ut_m)
    log_d3d = np.log10(d3d)
    pl1 = 32.4 + 21.0 * log_d3d + 20.0 * np.log10(fc_ghz)
    pl2 = 32.4 + 40.0 * log_d3d + 20.0 * np.log10(fc_ghz) - 9.5 * np.log10(d_bp * d_bp + dh * dh)
    return np.where(d2d <= d_bp, pl1, pl2)


def umi_38901_nlos_pl_db(d2d_m: np.ndarray, fc_hz: float, h_bs_m: float = 10.0,
                         h_ut_m: float = 1.5) -> np.ndarray:
    """TR 38.901 UMi-Street-Canyon NLOS path loss [dB]: max(PL_LOS, PL'_NLOS).

    PL'_NLOS = 35.3 log10(d3D) + 22.4 + 21.3 log10(fc_GHz) - 0.3 (h_UT - 1.5).
    d2D clamped below at 10 m. Reference: 3.5 GHz, h_UT = 1.5 m, d2D = 100 m -> 104.644 dB.
    """
    d2d = np.maximum(d2d_m, 10.0)
    dh = h_bs_m - h_ut_m
    d3d = np.sqrt(d2d * d2d + dh * dh)
    pl_nlos = 35.3 * np.log10(d3d) + 22.4 + 21.3 * np.log10(fc_hz / 1e9) - 0.3 * (h_ut_m - 1.5)
    return np.maximum(umi_38901_los_pl_db(d2d, fc_hz, h_bs_m, h_ut_m), pl_nlos)


def umi_38901_los_probability(d2d_m: np.ndarray) -> np.ndarray:
    """TR 38.901 Table 7.4.2-1 UMi LOS probability: 1 for d2D <= 18 m,
    else 18/d2D + exp(-d2D/36) (1 - 18/d2D)."""
    d = np.maximum(np.asarray(d2d_m, dtype=float), 1e-9)
    p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    return np.where(d <= 18.0, 1.0, p)


# --------------------------------------------------------------------------
# 3GPP TR 36.814 V9.0.0, Table B.1.2.1-1, UMi
# --------------------------------------------------------------------------
#: Shadow-fading std UMi LOS / NLOS [dB] (TR 36.814 Table B.1.2.1-1).
UMI_36814_SF_STD_LOS_DB = 3.0
UMI_36814_SF_STD_NLOS_DB = 4.0


def umi_36814_los_pl_db(d_m: np.ndarray, fc_hz: float, h_bs_m: float = 10.0,
                        h_ms_m: float = 1.5) -> np.ndarray:
    """TR 36.814 UMi LOS path loss [dB].

    PL = 22.0 log10(d) + 28.0 + 20 log10(fc_GHz)                            10 m < d < d'_BP
    PL = 40 log10(d) + 7.8 - 18 log10(h'_BS) - 18 log10(h'_MS) + 2 log10(fc_GHz)   d'_BP < d
    with h' = h - 1 m, d'_BP = 4 h'_BS h'_MS f_c / c. d clamped below at 10 m.
    """
    d = np.maximum(d_m, 10.0)
    fc_ghz = fc_hz / 1e9
    hb, hm = h_bs_m - 1.0, h_ms_m - 1.0
    d_bp = 4.0 * hb * hm * fc_hz / SPEED_OF_LIGHT_MPS
    pl1 = 22.0 * np.log10(d) + 28.0 + 20.0 * np.log10(fc_ghz)
    pl2 = 40.0 * np.log10(d) + 7.8 - 18.0 * np.log10(hb) - 18.0 * np.log10(hm) + 2.0 * np.log10(fc_ghz)
    return np.where(d <= d_bp, pl1, pl2)


def umi_36814_nlos_pl_db(d_m: np.ndarray, fc_hz: float) -> np.ndarray:
    """TR 36.814 UMi NLOS (hexagonal layout): 36.7 log10(d) + 22.7 + 26 log10(fc_GHz) [dB].

    d clamped below at 10 m. At 2 GHz this is 140.6 + 36.7 log10(d_km).
    """
    d = np.maximum(d_m, 10.0)
    return 36.7 * np.log10(d) + 22.7 + 26.0 * np.log10(fc_hz / 1e9)


def umi_36814_los_probability(d_m: np.ndarray) -> np.ndarray:
    """TR 36.814 UMi LOS probability: min(18/d, 1)(1 - exp(-d/36)) + exp(-d/36)."""
    d = np.maximum(np.asarray(d_m, dtype=float), 1e-9)
    e = np.exp(-d / 36.0)
    return np.minimum(18.0 / d, 1.0) * (1.0 - e) + e


# --------------------------------------------------------------------------
# Ngo et al. 2017, "Cell-Free Massive MIMO Versus Small Cells", eq. (52)
# --------------------------------------------------------------------------
#: Break points of the three-slope model [m] (Ngo 2017 Sec. VI, d0 = 10 m, d1 = 50 m).
NGO2017_D0_M = 10.0
NGO2017_D1_M = 50.0
#: Shadowing std [dB], applied only beyond d1 (Ngo 2017 Table I; author code).
NGO2017_SHADOWING_STD_DB = 8.0


def ngo2017_hata_constant_db(f_mhz: float = 1900.0, h_ap_m: float = 15.0, h_ue_m: float = 1.65) -> float:
    """COST-Hata constant L of Ngo 2017 eq. (52) [dB] (f in MHz, heights in m).

    L = 46.3 + 33.9 log10 f - 13.82 log10 h_AP - [(1.1 log10 f - 0.7) h_u - (1.56 log10 f - 0.8)];
    140.7151 dB for the paper's f = 1900 MHz, h_AP = 15 m, h_u = 1.65 m.
    """
    lf = np.log10(f_mhz)
    return float(46.3 + 33.9 * lf - 13.82 * np.log10(h_ap_m) - ((1.1 * lf - 0.7) * h_ue_m - (1.56 * lf - 0.8)))


def ngo2017_three_slope_pl_db(d2d_m: np.ndarray, f_mhz: float = 1900.0, h_ap_m: float = 15.0,
                              h_ue_m: float = 1.65) -> np.ndarray:
    """Ngo 2017 three-slope path loss [dB] on the horizontal distance (km inside the formula).

    PL = L + 35 log10(d)                          d > d1
       = L + 15 log10(d1) + 20 log10(d)           d0 < d <= d1
       = L + 15 log10(d1) + 20 log10(d0)          d <= d0
    Reference: 81.20 dB at 10 m, 95.18 dB at 50 m, 105.72 dB at 100 m, 140.72 dB at 1 km.
    Shadowing (8 dB, only for d > d1) is added separately, see :mod:`shadowing`.
    """
    L = ngo2017_hata_constant_db(f_mhz, h_ap_m, h_ue_m)
    d_km = np.asarray(d2d_m, dtype=float) / 1000.0
    d0, d1 = NGO2017_D0_M / 1000.0, NGO2017_D1_M / 1000.0
    far = L + 35.0 * np.log10(np.maximum(d_km, d1))
    mid = L + 15.0 * np.log10(d1) + 20.0 * np.log10(np.clip(d_km, d0, d1))
    return np.where(d_km > d1, far, mid)
