"""A PBT population against the best hand-set configuration at equal total environment steps.

    python benchmarks/pbt_vs_handset.py [--iterations 36]

Runs `cfmarl tune tune_configs/aps_pbt_medium.yaml` (population P, --iterations each) and
`cfmarl train tune_configs/aps_gnn_medium.yaml` for P x iterations (the same total env
steps), then evaluates PBT's best trial (fitness: constrained, on validation) and the
hand-set run's best validated checkpoint on the same 200 test episodes with 4-strongest.
Writes benchmarks/results/pbt_vs_handset.md.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "pbt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--iterations", type=int, default=36)
    args = ap.parse_args()
    pbt_cfg = yaml.safe_load((ROOT / "tune_configs" / "aps_pbt_medium.yaml").read_text())
    pop = pbt_cfg["tune"]["num_samples"]
    OUT.mkdir(parents=True, exist_ok=True)
    hand = yaml.safe_load((ROOT / "tune_configs" / "aps_gnn_medium.yaml").read_text())
    hand["name"] = "handset_equal_steps"
    hand["training"]["iterations"] = pop * args.iterations
    (OUT / "handset.yaml").write_text(yaml.safe_dump(hand, sort_keys=False))
    cli = [sys.executable, "-m", "cfmarl.cli"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cli + ["tune", str(ROOT / "tune_configs" / "aps_pbt_medium.yaml"), "--iterations",
                                     str(args.iterations), "--storage", str(OUT), "--quiet", "--resume"],
                              stdout=open(OUT / "tune.log", "w"), stderr=subprocess.STDOUT),
             subprocess.Popen(cli + ["train", str(OUT / "handset.yaml"), "--out", str(OUT), "--quiet"],
                              stdout=open(OUT / "handset.log", "w"), stderr=subprocess.STDOUT)]
    rcs = [p.wait() for p in procs]
    minutes = (time.perf_counter() - t0) / 60
    print(f"tune exit {rcs[0]}, train exit {rcs[1]} after {minutes:.1f} min", flush=True)
    with open(OUT / "tune-aps_pbt_medium" / "trials.csv") as f:
        trials = list(csv.DictReader(f))
    best = trials[0]
    subprocess.check_call(cli + ["evaluate", "--scenario", "medium", "--policy", best["checkpoint"], "--policy",
                                 str(OUT / "train-handset_equal_steps" / "checkpoints" / "best"), "--policy",
                                 "k-strongest", "--episodes", "200", "--seed", "1000", "--out", str(OUT / "eval"),
                                 "--quiet"])
    ev = sorted((OUT / "eval").glob("*evaluate*"))[-1]
    with open(ev / "kpis.csv") as f:
        rows = list(csv.DictReader(f))
    names = [f"PBT best trial ({best['trial']}, {pop} members x {args.iterations} it)",
             f"hand-set aps_gnn_medium ({pop * args.iterations} it)", "4-strongest"]
    lines = ["# PBT population vs the hand-set configuration at equal total env steps", "",
             f"`python benchmarks/pbt_vs_handset.py --iterations {args.iterations}` ({minutes:.0f} min on 2 cores, "
             "both jobs at once). 200 test episodes (seed 1000), medium, judged limit 0.02.", "",
             "| policy | active APs | mean cost | UEs >= target |", "|---|---:|---:|---:|"]
    for name, r in zip(names, rows):
        lines.append(f"| {name} | {float(r['active_aps']):.2f} | {float(r['mean_cost']):.4f} | "
                     f"{100 * float(r['target_satisfaction']):.1f} % |")
    import shutil

    res = ROOT / "benchmarks" / "results"
    shutil.copy(OUT / "tune-aps_pbt_medium" / "trials.csv", res / "pbt_vs_handset_trials.csv")
    shutil.copy(OUT / "tune-aps_pbt_medium" / "tune.png", res / "pbt_vs_handset_tune.png")
    lines += ["", "PBT trials (fitness on validation; sorted): [pbt_vs_handset_trials.csv](pbt_vs_handset_trials.csv), "
              "curves and mutated values per member: [pbt_vs_handset_tune.png](pbt_vs_handset_tune.png).", ""]
    for t in trials:
        lines.append(f"- {t['trial']}: fitness {float(t['fitness']):.4g}, return {float(t['fitness/return']):.1f}, "
                     f"cost {float(t['fitness/cost']):.4f}, lr {float(t['algorithm.lr']):.3g}, "
                     f"lambda_lr {float(t['algorithm.lambda_lr']):.3g}")
    (ROOT / "benchmarks" / "results" / "pbt_vs_handset.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
