"""Ship a trained policy with cfmarl: copy a run's best validated RLModule into policies/pretrained/NAME.

    python benchmarks/ship_pretrained.py runs/ship/train-aps_gnn_medium aps_gnn_medium

The folder gets the RLModule files (``RLModule.from_checkpoint`` reads them) with a manifest of their sizes and
SHA-256, the experiment file that trained it, and a README with how it was made (command, commit, versions),
which iteration won validation and the run's own final evaluation against the baselines. Experiments then start
from it with ``training.init_from: pretrained:NAME`` and ``cfmarl evaluate --policy pretrained:NAME`` evaluates
it (a GNN policy on any size).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("active_aps", "mean_cost", "mean_se_bps_hz", "target_satisfaction")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", help="a finished `cfmarl train` run directory")
    p.add_argument("name", help="the shipped name (policies/pretrained/NAME)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from cfmarl import checkpoints, rundir
    from cfmarl.policies.module_controller import PRETRAINED, module_checkpoint_dir

    run = Path(args.run)
    best = run / "checkpoints" / "best"
    for need in (best, run / "evaluation.csv", run / "config.json", run / "experiment.yaml"):
        if not need.exists():
            raise SystemExit(f"{need}: missing (ship a finished run with validation)")
    checkpoints.verify(best)
    dest = PRETRAINED / args.name
    tmp = dest.with_name(f".{args.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(module_checkpoint_dir(best), tmp)
    checkpoints.write_manifest(tmp, source=str(run.name), kind="RLModule (ray.rllib new API stack)")
    shutil.copy(run / "experiment.yaml", tmp / "experiment.yaml")
    info = json.loads((run / "checkpoints" / "best.json").read_text())
    cfg = json.loads((run / "config.json").read_text())
    versions = json.loads((run / "versions.json").read_text()) if (run / "versions.json").exists() else {}
    rows = list(csv.DictReader(open(run / "evaluation.csv")))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    exp = cfg["experiment"]
    lines = [f"# Shipped policy `pretrained:{args.name}`", "",
             f"`cfmarl train experiment.yaml --iterations {cfg['iterations']}` (this folder's experiment.yaml: "
             f"{exp['name']}, seed {exp['seed']}, {exp['env']['name']}/{exp['env']['scenario']}), commit {commit}; "
             f"the best validated checkpoint (iteration {info['iteration']} of {cfg['iterations']}; validation "
             + ", ".join(f"{k[4:]} {v:.4g}" for k, v in info.items() if k.startswith("val/")) + ").", "",
             "Versions: " + ", ".join(f"{k} {versions[k]}" for k in ("python", "ray", "torch", "torch-geometric")
                                       if k in versions) + ".", "",
             f"The run's final evaluation ({exp['evaluation']['episodes']} episodes, seed {exp['evaluation']['seed']},"
             f" judged cost limit {exp['evaluation']['cost_limit']}):", "",
             "| policy | " + " | ".join(KEYS) + " |", "|---|" + "---:|" * len(KEYS)]
    lines += [f"| {r['policy']} | " + " | ".join(f"{float(r[k]):.4g}" for k in KEYS) + " |" for r in rows]
    lines += ["", "Files: the RLModule (`class_and_ctor_args.pkl`, `metadata.json`, `module_state.pkl`; "
              "`manifest.json` holds their sizes and SHA-256), `experiment.yaml`. Made by "
              f"`python benchmarks/ship_pretrained.py {args.run} {args.name}`."]
    rundir.atomic_write_text(tmp / "README.md", "\n".join(lines) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    print("\n".join(lines))
    print(f"\nShipped to {dest} ({sum(f.stat().st_size for f in dest.rglob('*') if f.is_file()) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
