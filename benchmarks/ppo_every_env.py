"""PPO-Lagrangian on every environment: train each shipped experiment (one or more seeds), then
record its evaluation beside the env's classical baselines on the same test episodes.

For each experiment file: ``cfmarl train`` (a resumable run directory under ``--runs``), then
``benchmarks/results/<env>/ppo_lagrangian.md`` (+ ``.csv``, the learning curves and the
evaluation figure of seed 0): the env's declared KPIs for the learned policy (mean ± std over
seeds of the per-seed means) and for each baseline, whether the learned policy meets the judged
constraint, and how it compares with the naive baseline (``--naive ENV=SPEC``) and with the best
feasible classical baseline on the env's team return and headline KPI.

    python benchmarks/ppo_every_env.py                          # the four *_ppo.yaml, seed 0
    python benchmarks/ppo_every_env.py --configs tune_configs/power_ppo_paper.yaml --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["power_ppo_paper", "precoding_ppo_medium", "mftdma_ppo_n8", "urllc_ppo_paper"]
NAIVE = {"power": "full-power", "precoding": "mrt", "mftdma": "random", "urllc": "random", "aps": "all-on"}


def _train(path: Path, seed: int, runs: Path) -> Path:
    from cfmarl.train import train

    data = yaml.safe_load(path.read_text())
    data["seed"] = seed
    data["name"] = f"{data['name']}-s{seed}"
    cfg = runs / f"{data['name']}.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    return train(str(cfg), out=str(runs))


def _rows(run: Path) -> list[dict]:
    with open(run / "evaluation.csv") as f:
        return [{k: (v if k == "policy" else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]


def report(path: Path, runs: list[Path], naive: str, out_dir: Path) -> str:
    from cfmarl.experiment import load_experiment
    from cfmarl.rundir import atomic_write_text, versions

    exp = load_experiment(path)
    decl = exp.env_entry().declaration
    limit = exp.judged_limit()
    per_seed = [_rows(r) for r in runs]
    learned = [rows[0] for rows in per_seed]
    keys = [k.name for k in decl.kpis if k.name in learned[0]] + ["team_return", "mean_cost", "decision_latency_ms"]
    learner = {"ppo_lagrangian": "PPO-Lagrangian", "ppo": "PPO (per-agent)"}.get(exp.algorithm.name, exp.algorithm.name)
    agg = {"policy": f"{learner} ({len(runs)} seed{'s' if len(runs) > 1 else ''})"}
    for k in keys:
        vals = np.array([r[k] for r in learned])
        agg[k], agg[f"{k}_std"] = float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    baselines = per_seed[0][1:]  # the same test episodes for every seed: baselines are identical
    table = [agg] + baselines
    head = decl.progress[0] if decl.progress else decl.kpis[0].name
    better = decl.kpi(head).better
    sign = 1.0 if better == "higher" else -1.0
    feasible = [b for b in baselines if b["mean_cost"] <= limit]
    best = max(feasible, key=lambda b: b["team_return"]) if feasible else None
    nv = next((b for b in baselines if b["policy"] == naive), None)
    lines = [f"# {learner} on `{exp.env.name}` / `{exp.scenario()}` (model.mode {exp.model.mode})", "",
             f"Experiment `{path.relative_to(ROOT) if path.is_absolute() else path}`, seeds "
             f"{', '.join(str(int(r.name.rsplit('-s', 1)[1])) for r in runs)}; {exp.evaluation.episodes} test episodes "
             f"(seed {exp.evaluation.seed}), the same for every policy. Judged limit of the mean cost "
             f"({decl.constraint.label}): {limit:g}.", "",
             "| policy | " + " | ".join(decl.kpi(k).title if k in {x.name for x in decl.kpis} else k for k in keys)
             + f" | cost <= {limit:g} |", "|---|" + "---:|" * (len(keys) + 1)]
    for r in table:
        cells = []
        for k in keys:
            fmt = decl.kpi(k).fmt if k in {x.name for x in decl.kpis} else "{:.4g}"
            cells.append(fmt.format(r[k]) + (f" ± {fmt.format(r[k + '_std'])}" if r is agg and len(runs) > 1 else ""))
        lines.append(f"| {r['policy']} | " + " | ".join(cells) + f" | {'yes' if r['mean_cost'] <= limit else 'no'} |")
    lines.append("")
    verdict = [f"* Meets the judged constraint: **{'yes' if agg['mean_cost'] <= limit else 'no'}** "
               f"(mean cost {agg['mean_cost']:.4g} vs {limit:g}; per seed: "
               + ", ".join(f"{r['mean_cost']:.4g}" for r in learned) + ")."]
    if nv is not None:
        beat_ret = agg["team_return"] > nv["team_return"]
        beat_head = sign * (agg[head] - nv[head]) > 0
        verdict.append(f"* Against the naive baseline `{naive}`: team return {agg['team_return']:.4g} vs "
                       f"{nv['team_return']:.4g} ({'higher' if beat_ret else 'not higher'}), {decl.kpi(head).label} "
                       f"{agg[head]:.4g} vs {nv[head]:.4g} ({'better' if beat_head else 'not better'}).")
    if best is not None:
        verdict.append(f"* Best feasible classical baseline by team return: `{best['policy']}` "
                       f"({best['team_return']:.4g}; {decl.kpi(head).label} {best[head]:.4g}); the learned policy "
                       f"{'reaches' if agg['team_return'] >= best['team_return'] else 'does not reach'} it "
                       f"({100 * agg['team_return'] / best['team_return']:.1f} % of its return)"
                       if best["team_return"] > 0 else
                       f"* Best feasible classical baseline by team return: `{best['policy']}` ({best['team_return']:.4g}); "
                       f"learned {agg['team_return']:.4g} "
                       f"({'reaches' if agg['team_return'] >= best['team_return'] else 'does not reach'} it).")
    else:
        verdict.append("* No classical baseline meets the judged limit on these episodes.")
    v = versions()
    picked = []
    for r in runs:
        best_file = r / "checkpoints" / "best.json"
        picked.append(f"iteration {int(json.loads(best_file.read_text())['iteration'])}" if best_file.exists()
                      else "the last iteration")
    stem = Path(path).stem
    lines += verdict + ["", f"Evaluated policy per seed: the best validated checkpoint ({', '.join(picked)} of "
                        f"{exp.training.iterations}; validation every {exp.training.validate_every} iterations on "
                        f"{exp.training.validation_episodes} episodes of seed {exp.training.validation_seed}, "
                        "disjoint from the test episodes), acting "
                        + ("with seeded samples of the policy (evaluation.stochastic)." if exp.evaluation.stochastic
                           else "greedily (argmax / mean action)."), "",
                        f"Figures: `{stem}_learning_curves.png` (seed {runs[0].name.rsplit('-s', 1)[1]}), "
                        f"`{stem}_evaluation.png`. Team return = sum over steps of the summed agent rewards.", "",
                        f"Machine: {v['platform']}, {v['cpu_count']} CPUs; Python {v['python']}, ray {v['ray']}, "
                        f"torch {v['torch']}, numpy {v['numpy']}. Training time per seed: "
                        + ", ".join(f"{_train_seconds(r):.0f} s" for r in runs) + ".", ""]
    text = "\n".join(lines)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / f"{stem}.md", text)
    with open(out_dir / f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in table for k in r)))
        w.writeheader()
        w.writerows(table)
    shutil.copyfile(runs[0] / "learning_curves.png", out_dir / f"{stem}_learning_curves.png")
    shutil.copyfile(runs[0] / "evaluation.png", out_dir / f"{stem}_evaluation.png")
    return text


def _train_seconds(run: Path) -> float:
    with open(run / "metrics.csv") as f:
        return sum(float(r["time_s"]) for r in csv.DictReader(f))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="*", default=[str(ROOT / "tune_configs" / f"{c}.yaml") for c in DEFAULT])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--runs", default="runs/ppo_every_env", help="run directories (resumable)")
    ap.add_argument("--naive", action="append", default=[], metavar="ENV=SPEC", help="naive baseline per env")
    ap.add_argument("--report-only", action="store_true", help="rewrite the reports from finished run directories")
    args = ap.parse_args()
    naive = dict(NAIVE, **dict(x.split("=", 1) for x in args.naive))
    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    t0 = time.perf_counter()
    try:
        for c in args.configs:
            path = Path(c)
            from cfmarl.experiment import load_experiment

            env = load_experiment(path).env.name
            if args.report_only:
                name = yaml.safe_load(path.read_text())["name"]
                runs = [Path(args.runs) / f"train-{name}-s{s}" for s in args.seeds]
            else:
                runs = [_train(path, s, Path(args.runs)) for s in args.seeds]
            text = report(path, runs, naive.get(env, ""), ROOT / "benchmarks" / "results" / env)
            print(text, flush=True)
    finally:
        ray.shutdown()
    print(f"done in {time.perf_counter() - t0:.0f} s; reports in benchmarks/results/<env>/", file=sys.stderr)


if __name__ == "__main__":
    main()
