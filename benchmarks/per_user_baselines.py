"""Classical baselines of the per-user envs, evaluated by `cfmarl evaluate`, plus the min-rate
change demonstration of the O-RAN paper (Fig. 11) with the WMMSE expert.

Writes benchmarks/results/per_user/tables.md, the KPI tables (CSV) and the figures:
    python benchmarks/per_user_baselines.py [--episodes 10] [--out benchmarks/results/per_user]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
from pathlib import Path

import numpy as np

from cfmarl.cli import main as cli
from cfmarl.envs import precoding_v0
from cfmarl.plots import plt, save_figure
from cfmarl.rundir import atomic_write_text, versions

RUNS = [  # (label, env, scenario, --set overrides)
    ("power-paper", "power", "paper", []),
    ("precoding-medium", "precoding", "medium", []),
    ("precoding-medium-csi0.1", "precoding", "medium", ["csi_error=0.1"]),
]


def _evaluate(env: str, scenario: str, sets: list[str], episodes: int, tmp: Path) -> Path:
    args = ["evaluate", "--env", env, "--scenario", scenario, "--episodes", str(episodes), "--seed", "0",
            "--out", str(tmp), "--quiet"]
    for s in sets:
        args += ["--set", s]
    before = set(tmp.iterdir())
    if cli(args) != 0:
        raise SystemExit(f"evaluation failed: {args}")
    (run,) = set(tmp.iterdir()) - before
    return run


def _table(rows: list[dict], keys: list[str]) -> list[str]:
    out = ["| policy | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    def cell(r, k):
        return f"{float(r[k]):.4g} ± {float(r[k + '_std']):.2g}" if k + "_std" in r else f"{float(r[k]):.4g}"

    for r in rows:
        out.append(f"| {r['policy']} | " + " | ".join(cell(r, k) for k in keys) + " |")
    return out


def rate_change_demo(out: Path, steps: int = 90, change_at: int = 30, new_rate: float = 6.0) -> str:
    """One user's R_min rises mid-episode; the WMMSE expert (no retraining) and the multipliers adapt."""
    cfg = precoding_v0.make_config("medium", episode_steps=steps, rate_change_step=change_at,
                                   rate_change_bps_hz=new_rate)
    core = precoding_v0.PrecodingCore(cfg, 1)
    state, _ = core.reset(np.random.SeedSequence(3))
    user = int(state.rate_change_user[0])
    thr, lam = [], []
    for _ in range(steps):
        state, *_ = core.step(state, core.expert_actions(state))
        thr.append(state.step_rate[0, user])
        lam.append(state.lam[0, user])
    t = np.arange(1, steps + 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    a1.plot(t, thr, label=f"user {user} throughput")
    a1.step([0, change_at, steps], [cfg.min_rate_bps_hz, new_rate, new_rate], where="post", color="k", ls="--",
            label="R_min")
    a1.set_xlabel("near-RT loop")
    a1.set_ylabel("bit/s/Hz")
    a1.legend()
    a2.plot(t, lam, color="C1")
    a2.set_xlabel("near-RT loop")
    a2.set_ylabel("multiplier lambda")
    for a in (a1, a2):
        a.axvline(change_at, color="grey", lw=0.8)
        a.grid(alpha=0.3)
    fig.suptitle("precoding/medium, WMMSE expert: one user's minimum rate raised at near-RT loop "
                 f"{change_at} (oran Fig. 11)")
    save_figure(fig, out / "rate_change.png", dpi=100)
    thr, lam = np.array(thr), np.array(lam)
    before, after = thr[change_at - 10:change_at - 1].mean(), thr[-20:].mean()
    held = [t for t in range(change_at, steps - 4) if np.all(thr[t:t + 5] >= new_rate)]  # met for 5 loops in a row
    crossed = held[0] + 1 if held else None
    return (f"User {user}: mean throughput {before:.2f} bit/s/Hz over the 10 near-RT loops before the change "
            f"(R_min {cfg.min_rate_bps_hz:g}), {after:.2f} over the last 20 (R_min {new_rate:g}). Its multiplier "
            f"rose from {lam[change_at - 2]:.2f} to {lam.max():.2f} (loop {int(np.argmax(lam)) + 1}); the throughput "
            f"met the new minimum from loop {crossed} on and lambda fell back to {lam[-1]:.2f} once it was met.")

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--out", default="benchmarks/results/per_user")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    v = versions()
    lines = ["# Per-user envs: classical baselines (generated tables)", "",
             f"`python benchmarks/per_user_baselines.py --episodes {args.episodes}` (`make per-user-baselines`): "
             "`cfmarl evaluate` with every baseline, seed 0, the same episodes for every policy.", "",
             f"Machine: {v['platform']}, {v['cpu_count']} CPUs; Python {v['python']}, numpy {v['numpy']}, "
             f"scipy {v.get('scipy', '?')}, cfmarl {v['cfmarl']}.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for label, env, scen, sets in RUNS:
            run = _evaluate(env, scen, sets, args.episodes, Path(tmp))
            rows = list(csv.DictReader(open(run / "kpis.csv")))
            shutil.copy(run / "kpis.csv", out / f"{label}.csv")
            shutil.copy(run / "kpis.png", out / f"{label}.png")
            if (run / "sinr_map.png").exists():
                shutil.copy(run / "sinr_map.png", out / f"{label}-sinr_map.png")
            lines += [f"## {label} ({' '.join(sets) or 'defaults'})", "", f"![{label}]({label}.png)", ""]
            if env == "power":
                keys = ["sum_se_bps_hz", "min_se_bps_hz", "mean_sinr_db", "qos_satisfaction", "objective_bps_hz",
                        "max_ap_power_w", "decision_latency_ms"]
                lines += _table(rows, keys)
                best = {r["policy"]: r for r in rows}
                ref_sum, ref_min = (float(best["max-sum-rate"]["sum_se_bps_hz"]),
                                    float(best["max-min"]["min_se_bps_hz"]))
                frac = [f"| {r['policy']} | {float(r['sum_se_bps_hz']) / ref_sum:.3f} | "
                        f"{float(r['min_se_bps_hz']) / ref_min:.3f} |" for r in rows]
                lines += ["", "Fraction of optimum (the references learned policies are reported against):", "",
                          "| policy | sum SE / max-sum-rate | min SE / max-min |", "|---|---:|---:|", *frac, "",
                          f"![SINR maps]({label}-sinr_map.png)", ""]
            else:
                keys = ["sum_rate_bps_hz", "min_rate_bps_hz", "min_rate_satisfaction", "mean_lambda",
                        "max_oru_power_w", "e2_overhead_kbit", "decision_latency_ms"]
                lines += _table(rows, keys) + [""]
    demo = rate_change_demo(out)
    lines += ["## Changing a user's minimum rate mid-episode (WMMSE expert, no retraining)", "",
              "![rate change](rate_change.png)", "", demo, ""]
    report = "\n".join(lines)
    atomic_write_text(out / "tables.md", report)  # README.md in that folder is the hand-written reading
    print(report)
    print(f"written to {out}/tables.md")


if __name__ == "__main__":
    main()
