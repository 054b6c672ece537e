"""Classical baselines of the per-node envs (MF-TDMA, URLLC) evaluated by `cfmarl evaluate`, and the
offline datasets of both papers collected by `cfmarl collect` (sizes and timing).

Writes benchmarks/results/per_node/tables.md, the KPI tables (CSV) and the figures:
    python benchmarks/per_node_baselines.py [--episodes 10] [--out benchmarks/results/per_node]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from per_user_baselines import _evaluate, _table  # noqa: E402

from cfmarl.cli import main as cli  # noqa: E402
from cfmarl.datasets import load_dataset  # noqa: E402
from cfmarl.rundir import atomic_write_text, versions  # noqa: E402

RUNS = [  # (label, env, scenario, --set overrides, KPI columns)
    ("mftdma-n8-2to6", "mftdma", "n8-2:6", [], None),
    ("mftdma-n8-4to4", "mftdma", "n8-4:4", [], None),
    ("mftdma-n9-2to7-limited", "mftdma", "n9-2:7-limited", [], None),
    ("urllc-paper", "urllc", "paper", [], None),
    ("urllc-s4666", "urllc", "s4666", [], None),
]
KEYS = {"mftdma": ["throughput_mbps", "mean_delay_ms", "packet_loss_rate", "queued_packets", "rb_utilisation",
                   "decision_latency_ms"],
        "urllc": ["energy_efficiency_bit_per_j", "delay_violation_rate", "dropped_packets", "throughput_kbps",
                  "tx_power_w", "decision_latency_ms"]}
DATASETS = [  # (label, collect arguments)
    ("urllc-paper-random", ["--env", "urllc", "--scenario", "paper", "--policy", "random", "--episodes", "150"]),
    ("mftdma-n8-2to6-mix", ["--env", "mftdma", "--scenario", "n8-2:6", "--policy", "equal", "--policy",
                           "load-proportional", "--policy", "random", "--episodes", "24", "--set",
                           "episode_frames=6000"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--out", default="benchmarks/results/per_node")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    v = versions()
    lines = ["# Per-node envs: classical baselines and offline datasets (generated tables)", "",
             f"`python benchmarks/per_node_baselines.py --episodes {args.episodes}` (`make per-node-baselines`): "
             "`cfmarl evaluate` with every baseline, seed 0, the same episodes for every policy; `cfmarl collect`.",
             "", f"Machine: {v['platform']}, {v['cpu_count']} CPUs; Python {v['python']}, numpy {v['numpy']}, "
             f"scipy {v.get('scipy', '?')}, cfmarl {v['cfmarl']}.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for label, env, scen, sets, _ in RUNS:
            run = _evaluate(env, scen, sets, args.episodes, Path(tmp))
            rows = list(csv.DictReader(open(run / "kpis.csv")))
            shutil.copy(run / "kpis.csv", out / f"{label}.csv")
            shutil.copy(run / "kpis.png", out / f"{label}.png")
            lines += [f"## {label}", "", f"![{label}]({label}.png)", "", *_table(rows, KEYS[env]), ""]
        lines += ["## Offline datasets (`cfmarl collect`)", "", "| dataset | command | episodes | agent-transitions "
                  "| size on disk [MB] | time [s] |", "|---|---|---:|---:|---:|---:|"]
        for label, extra in DATASETS:
            folder = Path(tmp) / label
            t0 = time.perf_counter()
            if cli(["collect", *extra, "--out", str(folder), "--quiet"]) != 0:
                raise SystemExit(f"collect failed: {extra}")
            el = time.perf_counter() - t0
            ds = load_dataset(folder)
            size = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
            lines.append(f"| {label} | `cfmarl collect {' '.join(extra)}` | {ds.episodes} | "
                         f"{ds.manifest['transitions']:,} | {size:.1f} | {el:.0f} |")
    lines.append("")
    report = "\n".join(lines)
    atomic_write_text(out / "tables.md", report)
    print(report)
    print(f"written to {out}/tables.md")


if __name__ == "__main__":
    main()
