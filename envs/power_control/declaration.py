"""What power control declares to orchestration (KPIs, constraint, scaling axes); see :mod:`cfmarl.envs.declarations`."""

from __future__ import annotations

import math

from cfmarl.envs.declarations import KPI, Constraint, EnvDeclaration, Record, ScaleAxes


def _area_at_paper_density(config, sizes: tuple[int, ...]) -> dict:
    """Square side keeping the paper's 100 APs per km^2 (Ngo 2017) for L APs."""
    return {"area_size_m": round(1000.0 * math.sqrt(sizes[0] / 100.0), 1)}


DECLARATION = EnvDeclaration(
    kpis=(KPI("objective_bps_hz", "bit/s/Hz", "higher", "objective"),
          KPI("sum_se_bps_hz", "bit/s/Hz", "higher", "sum SE"),
          KPI("min_se_bps_hz", "bit/s/Hz", "higher", "min SE"),
          KPI("qos_satisfaction", "", "higher", "QoS satisfaction"),
          KPI("mean_sinr_db", "dB", "higher", "mean SINR", "{:.2f}"),
          KPI("outage_probability", "", "lower", "outage"),
          KPI("mean_power_w", "W", "lower", "mean UE power", "{:.4f}"),
          KPI("max_ap_power_w", "W", "none", "max AP power", "{:.4f}")),
    constraint=Constraint(label="normalised QoS (SINR) shortfall per UE", limit=0.02),
    progress=("objective_bps_hz", "sum_se_bps_hz", "qos_satisfaction"),
    scale=ScaleAxes(fields=("num_aps", "num_ues"), label="APs x UEs", follow=_area_at_paper_density),
    episode_length="episode_steps",
    records=(Record("se_bps_hz", "per-UE SE [bit/s/Hz]"),
             Record("sinr_db", "per-UE SINR [dB]", reference_field="sinr_threshold_db")),
    plots=(("kpis.png", "cfmarl.envs.power_control.figures:plot_power_control"), ("sinr_map.png", "cfmarl.envs.power_control.figures:plot_sinr_maps")),
)
