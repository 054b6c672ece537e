"""What distributed precoding declares to orchestration (KPIs, constraint, scaling axes); see :mod:`cfmarl.envs.declarations`."""

from __future__ import annotations

import math

from cfmarl.envs.declarations import KPI, Constraint, EnvDeclaration, Record, ScaleAxes


def _area_at_medium_density(config, sizes: tuple[int, ...]) -> dict:
    """Square side keeping `medium`'s 16 O-RUs per 400 m x 400 m for L O-RUs."""
    return {"area_size_m": round(400.0 * math.sqrt(sizes[0] / 16.0), 1)}


DECLARATION = EnvDeclaration(
    kpis=(KPI("sum_rate_bps_hz", "bit/s/Hz", "higher", "sum rate"),
          KPI("min_rate_bps_hz", "bit/s/Hz", "higher", "min rate"),
          KPI("min_rate_satisfaction", "", "higher", "users >= R_min"),
          KPI("e2_overhead_kbit", "kbit", "lower", "E2 signalling", "{:.1f}"),
          KPI("mean_lambda", "", "none", "mean min-rate multiplier"),
          KPI("max_oru_power_w", "W", "none", "max O-RU power")),
    constraint=Constraint(label="normalised min-rate shortfall per user", limit=0.05),
    progress=("sum_rate_bps_hz", "min_rate_bps_hz", "min_rate_satisfaction"),
    scale=ScaleAxes(fields=("num_orus", "num_ues"), label="O-RUs x users", follow=_area_at_medium_density),
    episode_length="episode_steps",
    records=(Record("throughput_bps_hz", "per-user rate [bit/s/Hz]", reference_field="min_rate_bps_hz"),),
    plots=(("kpis.png", "cfmarl.envs.precoding.figures:plot_precoding"),),
)
