"""What OFDM URLLC declares to orchestration (KPIs, constraint, scaling axes); see :mod:`cfmarl.envs.declarations`."""

from __future__ import annotations

from cfmarl.envs.declarations import KPI, Constraint, EnvDeclaration, Record, ScaleAxes

DECLARATION = EnvDeclaration(
    kpis=(KPI("energy_efficiency_bit_per_j", "bit/J", "higher", "energy efficiency", "{:.4g}"),
          KPI("delay_violation_rate", "", "lower", "delay-violation rate", "{:.4f}"),
          KPI("throughput_kbps", "kbit/s", "higher", "throughput", "{:.1f}"),
          KPI("tx_power_w", "W", "lower", "transmit power", "{:.4f}"),
          KPI("dropped_packets", "", "lower", "dropped packets", "{:.3f}")),
    # the cost is (violations + drops) / packets due, per slot; the paper's limit eta_u = 0.5 %
    constraint=Constraint(label="delay-violation rate (violations + drops per packet due)", limit=0.005),
    progress=("energy_efficiency_bit_per_j", "delay_violation_rate", "throughput_kbps"),
    scale=ScaleAxes(fields=("num_aps", "num_ues", "subbands", "antennas"), label="(B, U, K, M)"),
    episode_length="episode_slots",
    records=(Record("served_kbit", "per-UE bits served per slot [kbit]"),
             Record("queue", "per-UE buffer [packets]")),
)
