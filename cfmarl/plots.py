"""PNG plots of evaluation results (matplotlib, Agg backend)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cfmarl.rundir import atomic_write_bytes  # noqa: E402


def _save(fig, path: str | Path, dpi: int) -> None:
    """Lay out, render to PNG and write atomically; closes the figure."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_policy_comparison(summaries: Sequence[dict], ue_se: dict[str, np.ndarray], se_target: float,
                           title: str, path: str | Path) -> None:
    """Bars (mean +- std over episodes) of active APs, mean SE, target satisfaction and
    network power per policy, plus the CDF of per-UE window SE with the target marked."""
    names = [s["policy"] for s in summaries]
    colors = plt.cm.tab10(np.arange(len(names)) % 10)
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.2))
    panels = [("active_aps", "active APs"), ("mean_se_bps_hz", "mean SE [bit/s/Hz]"),
              ("target_satisfaction", "UEs meeting target [fraction]"), ("network_power_w", "network power [W]")]
    x = np.arange(len(names))
    for ax, (key, label) in zip(axes, panels):
        means = [s[key] for s in summaries]
        stds = [s.get(f"{key}_std", 0.0) for s in summaries]
        ax.bar(x, means, yerr=stds, color=colors, capsize=4)
        ax.set_xticks(x, names, rotation=20, ha="right")
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
        if key == "mean_se_bps_hz":
            ax.axhline(se_target, color="k", ls="--", lw=1, label="target")
            ax.legend(loc="lower right")
        if key == "target_satisfaction":
            ax.set_ylim(0, 1.05)
    ax = axes[-1]
    for name, c in zip(names, colors):
        v = np.sort(ue_se[name].ravel())
        ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=c, label=name)
    ax.axvline(se_target, color="k", ls="--", lw=1, label="target")
    ax.set_xlabel("per-UE window SE [bit/s/Hz]")
    ax.set_title("CDF of per-UE SE")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, path, dpi=110)


def plot_learning_curves(rows: Sequence[dict], exp, path: str | Path) -> None:
    """Per-iteration curves: return, mean node cost (with the limit), multiplier, active APs,
    mean SE (with the target) and target satisfaction."""
    it = np.array([r["iteration"] for r in rows])

    def col(k):
        return np.array([r.get(k, np.nan) for r in rows], float)

    panels = [("episode_return", "episode return (team)", None),
              ("lagrange/mean_cost_0", "mean node cost", ("limit", exp.algorithm.cost_limit)),
              ("lagrange/multiplier_0", "Lagrange multiplier", None),
              ("kpi/active_aps", "active APs", None),
              ("kpi/mean_se_bps_hz", "mean SE [bit/s/Hz]",
               ("target", exp.env.overrides.get("se_target_bps_hz")) if "se_target_bps_hz" in exp.env.overrides
               else None),
              ("kpi/target_satisfaction", "UEs meeting target [fraction]", None)]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    for ax, (key, label, line) in zip(axes.ravel(), panels):
        ax.plot(it, col(key), marker=".", lw=1.2)
        if line is not None and line[1] is not None:
            ax.axhline(line[1], color="k", ls="--", lw=1, label=line[0])
            ax.legend(loc="best")
        ax.set_title(label)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{exp.name} ({exp.env.name}/{exp.env.scenario}, rule {exp.algorithm.lagrangian_rule})")
    _save(fig, path, dpi=100)
