"""What MF-TDMA declares to orchestration (KPIs, constraint, scaling axes); see :mod:`cfmarl.envs.declarations`."""

from __future__ import annotations

import math

from cfmarl.envs.declarations import KPI, Constraint, EnvDeclaration, Record, ScaleAxes


def _area_and_mix(config, sizes: tuple[int, ...]) -> dict:
    """The scenarios' rules at N nodes: area 10 km x sqrt(N / 8), a quarter of the nodes high-rate."""
    n = sizes[0]
    return {"area_size_m": round(10_000.0 * math.sqrt(n / 8.0), 1), "num_high": max(1, n // 4)}


DECLARATION = EnvDeclaration(
    kpis=(KPI("throughput_mbps", "Mbit/s", "higher", "throughput"),
          KPI("mean_delay_ms", "ms", "lower", "mean delay", "{:.2f}"),
          KPI("packet_loss_rate", "", "lower", "packet loss rate", "{:.4f}"),
          KPI("rb_utilisation", "", "none", "RB utilisation"),
          KPI("queued_packets", "", "lower", "queued packets", "{:.1f}")),
    # random requests drop ~0.04 packets per node and frame on n8-2:6, equal sharing ~0.006
    constraint=Constraint(label="packets dropped per node and frame", limit=0.01, unit="packets"),
    progress=("throughput_mbps", "mean_delay_ms", "packet_loss_rate"),
    scale=ScaleAxes(fields=("num_nodes",), label="nodes", follow=_area_and_mix),
    episode_length="episode_frames",
    neighbour_features=(4, 5, 6, 7),  # the 1-hop mean of the neighbours' [gen, gen_max, tran, tran_max] (eq. 11)
    records=(Record("node_delay_ms", "per-node delay of received packets [ms]"),
             Record("queue", "per-node queue [packets]")),
)
