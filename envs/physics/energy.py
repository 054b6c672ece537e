"""Access-point power consumption: Ngo et al. 2018, "On the Total Energy
Efficiency of Cell-Free Massive MIMO", IEEE TGCN 2(1), eqs. for P_m and P_bh,m.
Values: physics_reference.md (ii), checked against the authors' code.
"""

from __future__ import annotations

import numpy as np

#: PA efficiency alpha (Ngo 2018 Table/Sec. VI).
NGO2018_PA_EFFICIENCY = 0.4
#: Internal circuit power per antenna P_tc [W].
NGO2018_P_TC_W = 0.2
#: Fixed backhaul power per AP P_0 [W].
NGO2018_P_0_W = 0.825
#: Traffic-dependent backhaul power P_bt [W per bit/s] (0.25 W per Gbit/s).
NGO2018_P_BT_W_PER_BPS = 0.25e-9
#: Per-AP downlink power [W] (Ngo 2018 author code: 1 W).
NGO2018_P_DL_W = 1.0


def ngo2018_fixed_power_w(n_antennas: int = 1, p_tc_w: float = NGO2018_P_TC_W,
                          p_0_w: float = NGO2018_P_0_W) -> float:
    """Load-independent power of an active AP: N P_tc + P_0 [W] (1.025 W for N = 1)."""
    return n_antennas * p_tc_w + p_0_w


def ngo2018_ap_power_w(tx_power_w: np.ndarray, active: np.ndarray, n_antennas: int = 1,
                       pa_efficiency: float = NGO2018_PA_EFFICIENCY, p_tc_w: float = NGO2018_P_TC_W,
                       p_0_w: float = NGO2018_P_0_W, throughput_bps: np.ndarray | float = 0.0,
                       p_bt_w_per_bps: float = NGO2018_P_BT_W_PER_BPS) -> np.ndarray:
    """Power drawn by each AP [W]: P_tx/alpha + N P_tc + P_0 + P_bt * R_l if active, else 0.

    ``tx_power_w``: radiated power per AP [W]; ``active``: bool per AP (an AP that
    serves nobody is switched off and draws nothing, aps_gnn Sec. III-B);
    ``throughput_bps``: backhaul traffic per AP [bit/s] (the traffic term is 0.25 W
    per Gbit/s; pass 0 to drop it as the AP-selection paper does).
    """
    on = np.asarray(active, dtype=bool)
    p = np.asarray(tx_power_w, dtype=float) / pa_efficiency + n_antennas * p_tc_w + p_0_w
    p = p + p_bt_w_per_bps * np.asarray(throughput_bps, dtype=float)
    return np.where(on, p, 0.0)


def energy_efficiency_bit_per_j(sum_rate_bps: np.ndarray, total_power_w: np.ndarray) -> np.ndarray:
    """EE = sum rate [bit/s] / total power [W] -> [bit/J]; 0 where no power is drawn."""
    r = np.asarray(sum_rate_bps, dtype=float)
    p = np.asarray(total_power_w, dtype=float)
    return np.where(p > 0.0, r / np.where(p > 0.0, p, 1.0), 0.0)
