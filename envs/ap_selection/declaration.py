"""What AP selection declares to orchestration (KPIs, constraint, scaling axes); see :mod:`cfmarl.envs.declarations`."""

from __future__ import annotations

import math

from cfmarl.envs.declarations import KPI, Constraint, EnvDeclaration, Record, ScaleAxes

#: APs per m^2 of the `medium` disc (16 APs, radius 150 m): scaled sizes keep it
MEDIUM_DENSITY = 16 / (math.pi * 150.0 ** 2)


def _area_at_medium_density(config, sizes: tuple[int, ...]) -> dict:
    """Disc radius (or square side) that keeps the AP density of `medium` for L APs."""
    return {"area_size_m": round(math.sqrt(sizes[0] / (math.pi * MEDIUM_DENSITY)), 1)}


DECLARATION = EnvDeclaration(
    kpis=(KPI("active_aps", "", "lower", "active APs", "{:.2f}"),
          KPI("mean_se_bps_hz", "bit/s/Hz", "higher", "mean SE"),
          KPI("target_satisfaction", "", "higher", "UEs >= SE target"),
          KPI("network_power_w", "W", "lower", "network power", "{:.1f}"),
          KPI("energy_efficiency_bit_per_j", "bit/J", "higher", "energy efficiency", "{:.4g}"),
          KPI("min_se_bps_hz", "bit/s/Hz", "higher", "min SE"),
          KPI("active_links", "", "none", "active links", "{:.1f}")),
    constraint=Constraint(label="normalised SE shortfall per link", limit=0.02),
    progress=("active_aps", "mean_se_bps_hz", "target_satisfaction"),
    scale=ScaleAxes(fields=("num_aps", "num_ues"), label="APs x UEs", follow=_area_at_medium_density),
    episode_length="episode_windows",
    records=(Record("se_bps_hz", "per-UE window SE [bit/s/Hz]", reference_field="se_target_bps_hz"),),
)
