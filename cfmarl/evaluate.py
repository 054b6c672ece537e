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

#: KPIs summarised per episode (mean over the episode's windows).
SUMMARY_KPIS = ("active_aps", "active_links", "mean_se_bps_hz", "min_se_bps_hz", "target_satisfaction",
                "network_power_w", "energy_efficiency_bit_per_j")


@dataclass
class PolicyResult:
    policy: str
    episodes: list[dict[str, float]] = field(default_factory=list)  # one row per episode
    ue_window_se: list[np.ndarray] = field(default_factory=list)  # per-UE window SEs (for CDFs)

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


def run_policy(make_core: Callable[[int], Any], controller: Any, seeds: Sequence[np.random.SeedSequence],
               batch: int = 8, on_window: Callable[[int], None] | None = None) -> PolicyResult:
    """Run ``controller`` on the episodes ``seeds`` (``batch`` env copies at a time).

    ``make_core(n)`` builds an array core with n env copies. Per episode it records
    the mean over windows of every KPI, the team return (sum over windows of the
    summed link rewards), the mean link cost and the mean decision latency [ms].
    """
    res = PolicyResult(getattr(controller, "name", type(controller).__name__))
    for start in range(0, len(seeds), batch):
        chunk = list(seeds[start:start + batch])
        core = make_core(len(chunk))
        state, obs = core.reset(chunk)
        sums: dict[str, np.ndarray] = {}
        ret = np.zeros(len(chunk))
        cost_sum = np.zeros(len(chunk))
        latency = 0.0
        windows = 0
        ue_se = []
        done = np.zeros(len(chunk), bool)
        while not done.all():
            t0 = time.perf_counter()
            actions = controller.act(core, state, obs)
            latency += time.perf_counter() - t0
            state, obs, rew, cost, done = core.step(state, actions)
            ret += rew.sum(axis=1)
            cost_sum += cost.mean(axis=(1, 2))
            for k, v in core.kpis(state).items():
                if k in SUMMARY_KPIS:
                    sums[k] = sums.get(k, 0.0) + v
            ue_se.append(state.se_window.copy())
            windows += 1
            if on_window is not None:
                on_window(len(chunk))
        res.ue_window_se.append(np.stack(ue_se, axis=1).reshape(len(chunk), -1))
        for i, s in enumerate(chunk):
            row: dict[str, float] = {"episode": start + i, "seed": int(s.generate_state(1)[0])}
            row.update({k: float(sums[k][i] / windows) for k in SUMMARY_KPIS})
            row["team_return"] = float(ret[i])
            row["mean_cost"] = float(cost_sum[i] / windows)
            # latency of one decision for one env copy: the batched call is shared by the copies
            row["decision_latency_ms"] = 1e3 * latency / windows / len(chunk)
            res.episodes.append(row)
    return res
