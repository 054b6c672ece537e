"""Evaluation figures of power control (the DHI paper's Figs. 5-8)

Drawn with the generic helpers of :mod:`cfmarl.plots`; named in the env's declaration
(``plots``), so ``cfmarl evaluate`` and ``cfmarl train`` draw them without naming the env.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cfmarl.plots import draw_bars, draw_cdf, plt, save_figure
from cfmarl.rundir import atomic_write_bytes


def plot_power_control(results: Sequence, summaries: Sequence[dict], config, title: str, path: Path) -> None:
    """Sum SE, min SE, QoS satisfaction and mean SINR per policy; CDFs of per-UE SE, of the sum SE
    per step and of per-UE SINR with the QoS threshold (the DHI paper's Figs. 5-7)."""
    colors = plt.cm.tab10(np.arange(len(results)) % 10)
    fig, axes = plt.subplots(2, 4, figsize=(20, 8.4))
    for ax, (key, label) in zip(axes[0], [("sum_se_bps_hz", "sum SE [bit/s/Hz]"),
                                          ("min_se_bps_hz", "min SE [bit/s/Hz]"),
                                          ("qos_satisfaction", "QoS satisfaction [fraction]"),
                                          ("mean_sinr_db", "mean SINR [dB]")]):
        draw_bars(ax, summaries, key, label, colors)
    for r, c in zip(results, colors):
        draw_cdf(axes[1, 0], r.record("se_bps_hz"), c, r.policy)
        draw_cdf(axes[1, 1], r.step_kpi("sum_se_bps_hz"), c, r.policy)
        draw_cdf(axes[1, 2], r.record("sinr_db"), c, r.policy)
    axes[1, 2].axvline(config.sinr_threshold_db, color="k", ls="--", lw=1, label="QoS threshold")
    for ax, label in zip(axes[1, :3], ["per-UE SE [bit/s/Hz]", "sum SE per step [bit/s/Hz]", "per-UE SINR [dB]"]):
        ax.set_xlabel(label)
        ax.set_ylabel("CDF")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    draw_bars(axes[1, 3], summaries, "decision_latency_ms", "decision time [ms / env step]", colors)
    axes[1, 3].set_yscale("log")
    fig.suptitle(title)
    save_figure(fig, path, dpi=100)


def plot_sinr_maps(results: Sequence, summaries: Sequence[dict], config, title: str, path: Path, bins: int = 20) -> None:
    """Spatial SINR heat map per policy: mean SINR [dB] of the UEs found in each cell of the area
    over all steps and episodes (the DHI paper's Fig. 8)."""
    n = len(results)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 1, 4.2), squeeze=False)
    side = config.area_size_m
    edges = np.linspace(0.0, side, bins + 1)
    maps = []
    for r in results:
        x, y, v = (r.record(k).ravel() for k in ("x_m", "y_m", "sinr_db"))
        total, _, _ = np.histogram2d(x, y, [edges, edges], weights=v)
        count, _, _ = np.histogram2d(x, y, [edges, edges])
        maps.append(np.where(count > 0, total / np.maximum(count, 1), np.nan))
    finite = np.concatenate([m[np.isfinite(m)] for m in maps]) if maps else np.zeros(1)
    vmin, vmax = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
    for ax, r, m in zip(axes[0], results, maps):
        im = ax.imshow(m.T, origin="lower", extent=(0, side, 0, side), vmin=vmin, vmax=vmax, cmap="viridis")
        ax.set_title(r.policy)
        ax.set_xlabel("x [m]")
        ax.set_ylabel("y [m]")
    fig.colorbar(im, ax=axes[0].tolist(), label="mean SINR [dB]", shrink=0.85)
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
