"""Evaluation harness: run controllers on an env's array core with common random numbers.

Every controller sees the same episodes: episode i of every policy uses the
i-th child of ``SeedSequence(seed)``, and channels and mobility do not depend
on actions, so the comparison is paired. Learned policies will plug in through
the same ``act(core, state, obs)`` interface.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

@dataclass
class PolicyResult:
    policy: str
    episodes: list[dict[str, float]] = field(default_factory=list)  # one row per episode
    # per-user outcomes, one (episodes, steps * users) array per batch (for CDFs and maps)
    records: dict[str, list[np.ndarray]] = field(default_factory=dict)
    # per-step system KPIs, one (episodes, steps) array per batch
    step_kpis: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def record(self, name: str) -> np.ndarray:
        """All episodes' per-user values of ``name``, (episodes, steps * users)."""
        return np.concatenate(self.records[name])

    def step_kpi(self, name: str) -> np.ndarray:
        return np.concatenate(self.step_kpis[name])

    def summary(self) -> dict[str, Any]:
        row: dict[str, Any] = {"policy": self.policy, "episodes": len(self.episodes)}
        for key in self.episodes[0]:
            if key in ("episode", "seed"):
                continue
            vals = np.array([e[key] for e in self.episodes], float)
            row[key] = float(vals.mean())
            row[f"{key}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        return row


def episode_seeds(seed: int, episodes: int) -> list[np.random.SeedSequence]:
    """The per-episode seeds shared by every policy."""
    return np.random.SeedSequence(seed).spawn(episodes)


def make_baselines(entry, specs: Sequence[str]) -> list[Any]:
    """The env's baseline controllers for ``specs``; one built from a spec with options is named by the whole
    spec (``k-strongest:k=3,by=large_scale``), so several variants of one baseline stay apart in the tables."""
    out = []
    for spec in specs:
        c = entry.make_baseline(spec)
        if ":" in spec:
            c.name = spec
        out.append(c)
    return out


def run_policy(make_core: Callable[[int], Any], controller: Any, seeds: Sequence[np.random.SeedSequence],
               batch: int = 8, on_window: Callable[[int], None] | None = None) -> PolicyResult:
    """Run ``controller`` on the episodes ``seeds`` (``batch`` env copies at a time).

    ``make_core(n)`` builds an array core with n env copies. Per episode it records
    the mean over steps of the core's ``summary_kpis``, the team return (sum over
    steps of the summed agent rewards), the mean agent cost and the mean decision
    latency [ms]; per step the core's ``user_records`` (per-user outcomes) and the
    summary KPIs. A controller with ``step_kwargs`` passes them to ``core.step``.
    """
    res = PolicyResult(getattr(controller, "name", type(controller).__name__))
    step_kwargs = getattr(controller, "step_kwargs", {})  # e.g. a classical precoder replacing the agents'
    for start in range(0, len(seeds), batch):
        chunk = list(seeds[start:start + batch])
        core = make_core(len(chunk))
        names = core.summary_kpis
        state, obs = core.reset(chunk)
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, np.ndarray] = {}
        per_step: dict[str, list[np.ndarray]] = {k: [] for k in names}
        per_user: dict[str, list[np.ndarray]] = {}
        ret = np.zeros(len(chunk))
        cost_sum = np.zeros(len(chunk))
        latency = 0.0
        steps = 0
        done = np.zeros(len(chunk), bool)
        while not done.all():
            t0 = time.perf_counter()
            actions = controller.act(core, state, obs)
            latency += time.perf_counter() - t0
            state, obs, rew, cost, done = core.step(state, actions, **step_kwargs)
            if hasattr(controller, "take_elapsed_s"):  # work the controller did inside the step
                latency += controller.take_elapsed_s()
            ret += rew.sum(axis=1)
            cost_sum += cost.mean(axis=(1, 2))
            for k, v in core.kpis(state).items():
                if k in names:  # NaN = undefined this step (e.g. a delay with no delivery): skipped
                    ok = np.isfinite(v)
                    sums[k] = sums.get(k, 0.0) + np.where(ok, v, 0.0)
                    counts[k] = counts.get(k, 0) + ok
                    per_step[k].append(v)
            for k, v in core.user_records(state).items():
                per_user.setdefault(k, []).append(v)
            steps += 1
            if on_window is not None:
                on_window(len(chunk))
        for k, v in per_user.items():
            res.records.setdefault(k, []).append(np.stack(v, axis=1).reshape(len(chunk), -1))
        for k, v in per_step.items():
            res.step_kpis.setdefault(k, []).append(np.stack(v, axis=1))
        for i, s in enumerate(chunk):
            row: dict[str, float] = {"episode": start + i, "seed": int(s.generate_state(1)[0])}
            row.update({k: float(sums[k][i] / counts[k][i]) if counts[k][i] else float("nan") for k in names})
            row["team_return"] = float(ret[i])
            row["mean_cost"] = float(cost_sum[i] / steps)
            # latency of one decision for one env copy: the batched call is shared by the copies
            row["decision_latency_ms"] = 1e3 * latency / steps / len(chunk)
            res.episodes.append(row)
    return res


def format_table(summaries: Sequence[dict], declaration, cost_limit: float | None = None) -> str:
    """Policy x KPI table of the env's declared KPIs (mean ± std over episodes), the mean cost
    (with the judged limit) and the decision latency."""
    kpis = [k for k in declaration.kpis if k.name in summaries[0]]
    kpi_names = {k.name for k in kpis}
    cols = [(k.label or k.name, k.name, k.fmt) for k in kpis]
    cols += [("mean cost", "mean_cost", "{:.4f}"), ("ms/decision", "decision_latency_ms", "{:.3f}")]
    table = [["policy", *(c[0] for c in cols)]]
    for s in summaries:
        row = [s["policy"]]
        for _, key, fmt in cols:
            v, sd = s.get(key, float("nan")), s.get(f"{key}_std")
            spread = sd is not None and key in kpi_names and s.get("episodes", 1) > 1
            row.append(fmt.format(v) + (f" ± {fmt.format(sd)}" if spread else ""))
        table.append(row)
    if cost_limit is not None:
        table[0].append(f"<= {cost_limit:g}")
        for row, s in zip(table[1:], summaries):
            row.append("yes" if s["mean_cost"] <= cost_limit else "no")
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in table]
    units = ", ".join(f"{k.label or k.name} [{k.unit}]" for k in kpis if k.unit)
    better = ", ".join(f"{k.label or k.name} {'↑' if k.better == 'higher' else '↓'}" for k in kpis
                       if k.better != "none")
    lines.append(f"(mean ± std over episodes; {units}; better: {better}; cost = {declaration.constraint.label})")
    return "\n".join(lines)
