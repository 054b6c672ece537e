"""Evaluation figures of distributed precoding

Drawn with the generic helpers of :mod:`cfmarl.plots`; named in the env's declaration
(``plots``), so ``cfmarl evaluate`` and ``cfmarl train`` draw them without naming the env.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cfmarl.plots import draw_bars, draw_cdf, plt, save_figure


def plot_precoding(results: Sequence, summaries: Sequence[dict], config, title: str, path: Path) -> None:
    """Sum rate, min rate, min-rate satisfaction and E2 signalling per policy; CDFs of per-user
    throughput (with R_min; the O-RAN paper's Fig. 6) and of the sum rate per near-RT loop."""
    colors = plt.cm.tab10(np.arange(len(results)) % 10)
    fig, axes = plt.subplots(2, 4, figsize=(20, 8.4))
    for ax, (key, label) in zip(axes[0], [("sum_rate_bps_hz", "sum rate [bit/s/Hz]"),
                                          ("min_rate_bps_hz", "min user rate [bit/s/Hz]"),
                                          ("min_rate_satisfaction", "users meeting R_min [fraction]"),
                                          ("e2_overhead_kbit", "E2 signalling per near-RT loop [kbit]")]):
        draw_bars(ax, summaries, key, label, colors)
    for r, c in zip(results, colors):
        draw_cdf(axes[1, 0], r.record("throughput_bps_hz"), c, r.policy)
        draw_cdf(axes[1, 1], r.step_kpi("sum_rate_bps_hz"), c, r.policy)
    axes[1, 0].axvline(config.min_rate_bps_hz, color="k", ls="--", lw=1, label="R_min")
    for ax, label in zip(axes[1, :2], ["per-user throughput [bit/s/Hz]", "sum rate per near-RT loop [bit/s/Hz]"]):
        ax.set_xlabel(label)
        ax.set_ylabel("CDF")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    draw_bars(axes[1, 2], summaries, "mean_lambda", "mean min-rate multiplier", colors)
    draw_bars(axes[1, 3], summaries, "decision_latency_ms", "decision time [ms / near-RT loop]", colors)
    axes[1, 3].set_yscale("log")
    fig.suptitle(title)
    save_figure(fig, path, dpi=100)
