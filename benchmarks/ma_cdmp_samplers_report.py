"""The sampler studies of MA-CDMP (Fig. 9) in ``report``: results/samplers/<scenario>.csv (``python
benchmarks/ma_cdmp.py samplers --scenario S``) -> a table per setting in ma_cdmp_settings.md, claims rows and
ma_cdmp_samplers.png. Split from ma_cdmp_report.py, whose ``settings`` calls it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ma_cdmp import read_rows, scenarios, slug  # noqa: I001 (benchmarks/ is the script folder)
from ma_cdmp_report import SETTINGS_EVIDENCE, _fmt, where

SAMPLER_LABELS = {"ddpm": "DDPM", "dpm": "DPM-Solver++ ODE (= DDIM)", "sde-dpm": "DPM-Solver++ SDE"}
SAMPLER_KPIS = ("team_return", "mean_delay_ms", "decision_latency_ms")


def sampler_studies(results: Path, seeds: list[int]) -> dict[str, dict[tuple[str, int], dict]]:
    """scenario -> (sampler, steps) -> {kpi: array over the seeds}, from results/samplers/<scenario>.csv
    (``python benchmarks/ma_cdmp.py samplers --scenario S``); only seeds with a DDPM row count, so every
    sampler is compared on the same trained runs."""
    out = {}
    for path in sorted((results / "samplers").glob("*.csv")):
        scenario = next((s for s in scenarios() if slug(s) == path.stem), None)
        rows = [r for r in read_rows(path) if int(r["seed"]) in seeds] if scenario else []
        paired = {r["seed"] for r in rows if r["sampler"] == "ddpm"}
        by: dict[tuple[str, int], dict] = {}
        for r in sorted(rows, key=lambda r: (list(SAMPLER_LABELS).index(r["sampler"]), int(r["steps"]), r["seed"])):
            if r["seed"] in paired:
                d = by.setdefault((r["sampler"], int(r["steps"])), {k: [] for k in SAMPLER_KPIS})
                for k in SAMPLER_KPIS:
                    d[k].append(float(r[k]))
        if len(by) > 1:
            out[scenario] = {key: {k: np.array(v) for k, v in d.items()} for key, d in by.items()}
    return out


def sampler_lines(scenario: str, by: dict) -> list[str]:
    n = len(next(iter(by.values()))["team_return"])
    lines = [f"## Samplers, {where(scenario)} (`samplers --scenario {scenario}`)", "",
             f"The trained MA-CDMP runs ({n} seed(s)) on the same 8 test episodes with each sampler (the rest of "
             "the sampling as the experiment file says: guidance zeta 0.1, one plan per decision); DDPM is the "
             "table's MA-CDMP row.", "",
             "| sampler | steps | seeds | reward (team return) | delay [ms] | ms / decision |",
             "|---|---:|---:|---:|---:|---:|"]
    for (sampler, steps), d in by.items():
        lines.append(f"| {SAMPLER_LABELS[sampler]} | {steps} | {len(d['team_return'])} | "
                     f"{_fmt(d['team_return'], 'team_return')} | {_fmt(d['mean_delay_ms'], 'mean_delay_ms')} | "
                     f"{_fmt(d['decision_latency_ms'], 'decision_latency_ms')} |")
    return lines


def sampler_claims(scenario: str, by: dict) -> list[dict]:
    """One row per fast solver at 10 steps against DDPM (K steps) on the same runs: ``yes`` when its mean
    return is within 10 % of DDPM's (or better) at under half the decision time, ``partial`` within 50 %."""
    full = next(((s, k) for s, k in by if s == "ddpm"), None)
    rows = []
    for sampler in ("dpm", "sde-dpm"):
        if full is None or (sampler, 10) not in by:
            continue
        fast, ref = by[(sampler, 10)], by[full]
        ratio = np.mean(fast["team_return"]) / np.mean(ref["team_return"])  # returns are negative: < 1 is better
        quick = np.mean(fast["decision_latency_ms"]) < 0.5 * np.mean(ref["decision_latency_ms"])
        others = ", ".join(f"{k} steps {_fmt(d['team_return'], 'team_return')}" for (s, k), d in by.items()
                           if s == sampler and k != 10)
        rows.append({
            "claim": f"{SAMPLER_LABELS[sampler]} with 10 steps keeps the reward of the full DDPM chain at a fraction "
                     f"of the decision time ({where(scenario)})",
            "paper": "slight decline with fewer steps, much faster (Fig. 9)",
            "measured": f"team return {_fmt(fast['team_return'], 'team_return')} at "
                        f"{np.mean(fast['decision_latency_ms']):.0f} ms/decision vs DDPM (K = {full[1]}) "
                        f"{_fmt(ref['team_return'], 'team_return')} at {np.mean(ref['decision_latency_ms']):.0f} ms "
                        f"({len(fast['team_return'])} seed(s)); " + (others or ""),
            "holds": "yes" if ratio <= 1.1 and quick else "partial" if ratio <= 1.5 and quick else "no",
            "evidence": f"{SETTINGS_EVIDENCE}, ma_cdmp_samplers.png (python benchmarks/ma_cdmp.py samplers "
                        f"--scenario {scenario})"})
    return rows


def plot_samplers(studies: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(studies), figsize=(5.2 * len(studies), 4.2), squeeze=False)
    for ax, (scenario, by) in zip(axes[0], studies.items()):
        for i, sampler in enumerate(SAMPLER_LABELS):
            pts = [(np.mean(d["decision_latency_ms"]), np.mean(d["team_return"]), np.std(d["team_return"]), k)
                   for (s, k), d in by.items() if s == sampler]
            if not pts:
                continue
            x, y, e, ks = zip(*pts)
            ax.errorbar(x, y, yerr=e, marker="o", capsize=3, color=f"C{i}", label=SAMPLER_LABELS[sampler])
            for xi, yi, k in zip(x, y, ks):
                ax.annotate(str(k), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set(xscale="log", xlabel="ms per decision (8 env copies)", ylabel="team return (higher is better)",
               title=where(scenario))
        ticks = [t for t in (10, 20, 50, 100, 200, 500, 1000, 2000) if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.legend(fontsize=7)
    fig.suptitle("MA-CDMP: samplers by steps (labels), mean ± std over seeds, the same test episodes")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
