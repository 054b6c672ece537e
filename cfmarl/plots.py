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


def save_figure(fig, path: str | Path, dpi: int) -> None:
    """Lay out, render to PNG and write atomically; closes the figure."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def plot_learning_curves(rows: Sequence[dict], exp, path: str | Path) -> None:
    """Per-iteration curves: return, mean node cost (with the limit), multiplier and the env's
    declared progress KPIs."""
    it = np.array([r["iteration"] for r in rows])
    decl = exp.env_entry().declaration

    def col(k):
        return np.array([r.get(k, np.nan) for r in rows], float)

    from cfmarl.train import indexed_keys

    seen: dict = {}
    for r in rows:
        seen.update(dict.fromkeys(r))
    # several multipliers (one per constraint, or per size with multiplier_per_graph): one line each
    cost_keys = indexed_keys(seen, "lagrange/mean_cost_") or ["cost/mean_node_cost_0"]
    lam_keys = indexed_keys(seen, "lagrange/multiplier_") or ["lagrange/multiplier_0"]
    panels = [(["episode_return"], "episode return (team)", None),
              (cost_keys, f"mean node cost ({decl.constraint.label})", ("limit", exp.algorithm.cost_limit)),
              (lam_keys, "Lagrange multiplier", None)]
    panels += [([f"kpi/{k}"], decl.kpi(k).title, None) for k in decl.progress[:3]]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5))
    for ax, (keys, label, line) in zip(axes.ravel(), panels):
        for key in keys:
            ax.plot(it, col(key), marker=".", lw=1.2, label=key.rsplit("_", 1)[-1] if len(keys) > 1 else None)
        if len(keys) > 1:
            ax.legend(loc="best", fontsize=7, title="index")
        if line is not None and line[1] is not None:
            ax.axhline(line[1], color="k", ls="--", lw=1, label=line[0])
            ax.legend(loc="best")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    from cfmarl.policies.learners.registry import get_learner

    rule = f"rule {exp.algorithm.lagrangian_rule}" if get_learner(exp.algorithm.name).constrained else "unconstrained"
    fig.suptitle(f"{exp.name} ({exp.env.name}/{exp.scenario()}, {exp.algorithm.name}, {rule})")
    save_figure(fig, path, dpi=100)


def plot_tune_curves(curves: dict, cost_limit: float, hp_columns: Sequence[str], title: str,
                     path: str | Path, kpi: tuple[str, str] | None = None) -> None:
    """Per trial against training iteration: the return and cost the fitness sees (cost
    limit drawn), the env's headline KPI (``kpi`` = (metric column, label)) and each
    mutated hyperparameter."""
    panels = [("fitness/return", "return (fitness source)"), ("fitness/cost", "mean cost")]
    if kpi is not None:
        panels.append(kpi)
    hp = [c for c in hp_columns if any(c in df.columns for df in curves.values())]
    panels += [(c, c.replace("hp/", "")) for c in hp]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0), squeeze=False)
    colors = plt.cm.tab10(np.arange(len(curves)) % 10)
    for ax, (key, label) in zip(axes[0], panels):
        for color, (trial, df) in zip(colors, curves.items()):
            if key in df.columns and "training_iteration" in df.columns:
                ax.plot(df["training_iteration"], df[key], color=color, label=str(trial)[-5:], lw=1.2)
        if key == "fitness/cost":
            ax.axhline(cost_limit, color="k", ls="--", lw=1, label="limit")
        if key.startswith("hp/") and key in ("hp/lr", "hp/lambda_lr"):
            ax.set_yscale("log")
        ax.set_xlabel("training iteration")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    save_figure(fig, path, 110)


def plot_scale(rows: Sequence[dict], cost_limit: float, title: str, path: str | Path,
               kpi: tuple[str, str] = ("team_return", "team return"), size_label: str = "agents",
               cost_label: str = "mean cost") -> None:
    """Scaling study: the headline KPI (``kpi`` = (column, label)) and cost vs agents per policy;
    graph vs per-agent throughput vs agents; sampling throughput vs env runners with the
    ideal-linear line; decision latency vs agents per policy."""
    fig, axes = plt.subplots(1, 5, figsize=(24, 4.2))
    kpi_rows = [r for r in rows if r["kind"] == "kpi"]
    for p in dict.fromkeys(r["policy"] for r in kpi_rows):
        pts = sorted(((r["agents"], r) for r in kpi_rows if r["policy"] == p), key=lambda t: t[0])
        x = [lk for lk, _ in pts]
        axes[0].plot(x, [r.get(kpi[0], np.nan) for _, r in pts], "o-", label=p)
        axes[1].plot(x, [r.get("mean_cost", np.nan) for _, r in pts], "o-", label=p)
        axes[4].plot(x, [r.get("latency_ms", np.nan) for _, r in pts], "o-", label=p)
    axes[1].axhline(cost_limit, color="k", ls="--", lw=1, label="cost limit")
    tp = [r for r in rows if r["kind"] == "throughput"]
    for gran, key, label in (("graph", "sample_node_steps_per_s", "graph: sampling"),
                             ("graph", "train_node_steps_per_s", "graph: training"),
                             ("per_agent", "sample_node_steps_per_s", "per-agent: sampling")):
        pts = sorted((r["agents"], r.get(key, np.nan)) for r in tp if r["granularity"] == gran)
        if pts:
            axes[2].plot([a for a, _ in pts], [b for _, b in pts], "o-", label=label)
    run = sorted((r["runners"], r["sample_node_steps_per_s"]) for r in rows if r["kind"] == "runners")
    remote = [(k, v) for k, v in run if k >= 1]
    if remote:
        axes[3].plot([k for k, _ in remote], [v for _, v in remote], "o-", label="remote env runners")
        k0, v0 = remote[0]
        axes[3].plot([k for k, _ in remote], [v0 * k / k0 for k, _ in remote], "k--", lw=1, label="ideal linear")
    for k, v in run:
        if k == 0:
            axes[3].plot([0], [v], "*", ms=12, label="sampling in the driver (0 runners)")
    xl = f"agents ({size_label})"
    labels = [(xl, kpi[1]), (xl, cost_label), (xl, "node-steps/s (1 runner)"), ("env runners", "sampling [node-steps/s]"),
              (xl, "decision latency [ms] (batch 1)")]
    for ax, (xlab, yl) in zip(axes, labels):
        ax.set_xlabel(xlab)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
        if xlab.startswith("agents"):
            ax.set_xscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axes[2].set_yscale("log")
    axes[4].set_yscale("log")
    fig.suptitle(title)
    save_figure(fig, path, 100)


def draw_cdf(ax, values: np.ndarray, color, label: str) -> None:
    v = np.sort(np.asarray(values, float).ravel())
    ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=color, label=label)


def draw_bars(ax, summaries: Sequence[dict], key: str, label: str, colors) -> None:
    x = np.arange(len(summaries))
    ax.bar(x, [s[key] for s in summaries], yerr=[s.get(f"{key}_std", 0.0) for s in summaries], color=colors,
           capsize=4)
    ax.set_xticks(x, [s["policy"] for s in summaries], rotation=20, ha="right")
    ax.set_title(label)
    ax.grid(axis="y", alpha=0.3)


def plot_evaluation(declaration, results: Sequence, summaries: Sequence[dict], config, title: str,
                    out: Path, stem: str = "kpis") -> list[str]:
    """The evaluation figures of one env, from its declaration: its own figures when it declares
    them (``plots``), else bars of its bar KPIs plus CDFs of its per-user records. Returns the file
    names written into ``out`` (``<stem>.png``; further figures under their declared names, prefixed
    ``<stem>_`` unless the stem is ``kpis``)."""
    import importlib

    names = []
    if declaration.plots:
        for i, (fname, target) in enumerate(declaration.plots):
            mod, _, attr = target.partition(":")
            fn = getattr(importlib.import_module(mod), attr)
            name = f"{stem}.png" if i == 0 else (fname if stem == "kpis" else f"{stem}_{fname}")
            fn(results, summaries, config, title, out / name)
            names.append(name)
        return names
    bars = [(k.name, k.title) for k in declaration.bar_kpis]
    cdfs = [(r.name, r.label, getattr(config, r.reference_field, None) if r.reference_field else None)
            for r in declaration.records]
    plot_summary_and_cdfs(results, summaries, bars, cdfs, title, out / f"{stem}.png")
    return [f"{stem}.png"]


def plot_summary_and_cdfs(results: Sequence, summaries: Sequence[dict], bars: Sequence[tuple[str, str]],
                          cdfs: Sequence[tuple], title: str, path: Path) -> None:
    """Bars (mean +- std over episodes) of summary KPIs and CDFs of per-agent records, one row each;
    ``cdfs``: (record, label[, reference value drawn as a dashed line or None])."""
    colors = plt.cm.tab10(np.arange(len(results)) % 10)
    fig, axes = plt.subplots(2, max(len(bars), len(cdfs)), figsize=(5 * max(len(bars), len(cdfs)), 8.4),
                             squeeze=False)
    for ax, (key, label) in zip(axes[0], bars):
        draw_bars(ax, summaries, key, label, colors)
    for ax, (key, label, *ref) in zip(axes[1], cdfs):
        for r, c in zip(results, colors):
            v = r.record(key)
            draw_cdf(ax, v[np.isfinite(v)], c, r.policy)
        if ref and ref[0] is not None:
            ax.axvline(ref[0], color="k", ls="--", lw=1, label="reference")
        ax.set_xlabel(label)
        ax.set_ylabel("CDF")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[1, len(cdfs):]:
        ax.axis("off")
    fig.suptitle(title)
    save_figure(fig, path, dpi=100)
