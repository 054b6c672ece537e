"""Reproduce the AP-selection paper's results (aps_gnn Sec. VI) with cfmarl.

Runs real trainings (`cfmarl train`, each in its own process, `--parallel` at a
time) from the base experiment `tune_configs/aps_gnn_medium.yaml` and writes,
under --out:
  runs/<experiment>/...       every training run (resumable: re-run to continue)
  main.csv, main.png          APS-GNN vs MAT-Lagr vs centralised PPO-Lagr vs 4-strongest vs greedy on medium,
                              pedestrian and vehicular, mean and std over the seeds
  ablations.csv, ablations.png  unconstrained (engineered reward, several weights), no-GRU, no-pretraining
  large.csv                   APS-GNN fine-tuned on `large` (warm start from medium; --large-mobility,
                              --large-seeds) vs the baselines of its evaluation, a row per policy, mobility and seed
  latency.csv                 decision latency of one joint decision (batch of one env, CPU)

    python benchmarks/aps_reproduction.py --seeds 0 1 2 --iterations 70 --parallel 2
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "tune_configs" / "aps_gnn_medium.yaml"


def variant(base: dict, name: str, **changes) -> dict:
    cfg = copy.deepcopy(base)
    cfg["name"] = name
    for path, value in changes.items():
        node = cfg
        keys = path.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return cfg


MAT_MODEL = {"mode": "central", "encoder": "mat", "rounds": 2, "hidden": 64}  # MAT-Lagr on large (the whole model)


def plan(base: dict, seeds: list[int], ablation_seeds: list[int], iterations: int) -> dict[str, dict]:
    exps = {}
    for mob, scen in (("ped", "medium"), ("veh", "medium-vehicular")):
        for s in seeds:
            exps[f"gnn_{mob}_s{s}"] = variant(base, f"gnn_{mob}_s{s}", seed=s, env__scenario=scen,
                                              training__iterations=iterations)
            exps[f"mat_{mob}_s{s}"] = variant(  # MAT-Lagr (Sec. V-C): same recipe and warm start, transformer
                base, f"mat_{mob}_s{s}", seed=s, env__scenario=scen, training__iterations=iterations,
                model__mode="central", model__encoder="mat", model__rounds=2, model__hidden=64)
            exps[f"matce_{mob}_s{s}"] = variant(  # ... with the paper's second (cost) encoder, fused for the decoder
                base, f"matce_{mob}_s{s}", seed=s, env__scenario=scen, training__iterations=iterations,
                model__mode="central", model__encoder="mat", model__rounds=2, model__hidden=64,
                model__cost_encoder=True)
            exps[f"central_{mob}_s{s}"] = variant(
                base, f"central_{mob}_s{s}", seed=s, env__scenario=scen, training__iterations=iterations,
                model__mode="central", model__hidden=256, pretrain__enabled=False)
            exps[f"centralbc_{mob}_s{s}"] = variant(  # the same, with APS-GNN's behaviour-cloning warm start
                base, f"centralbc_{mob}_s{s}", seed=s, env__scenario=scen, training__iterations=iterations,
                model__mode="central", model__hidden=256)
            exps[f"centraldata_{mob}_s{s}"] = variant(  # ... and with 10x the teacher episodes (its MLP overfits 60)
                base, f"centraldata_{mob}_s{s}", seed=s, env__scenario=scen, training__iterations=iterations,
                model__mode="central", model__hidden=256, pretrain__episodes=10 * base["pretrain"]["episodes"])
    for s in ablation_seeds:  # the paper's ablations (Figs. 7-9), both mobilities
        for mob, scen in (("ped", "medium"), ("veh", "medium-vehicular")):
            for w in (0.5, 2.0, 8.0):
                exps[f"unconstrained_w{w:g}_{mob}_s{s}"] = variant(
                    base, f"unconstrained_w{w:g}_{mob}_s{s}", seed=s, env__scenario=scen,
                    training__iterations=iterations, env__reward_mode="engineered", env__engineered_weight=w,
                    algorithm__lagrangian_rule="none", algorithm__lambda_init=0.0,
                    training__validate_every=0)  # the final policy: choosing a checkpoint by the cost limit
                    #                               would hand the unconstrained method the constraint
            exps[f"nogru_{mob}_s{s}"] = variant(base, f"nogru_{mob}_s{s}", seed=s, env__scenario=scen,
                                                training__iterations=iterations, model__use_gru=False)
            exps[f"nopretrain_{mob}_s{s}"] = variant(base, f"nopretrain_{mob}_s{s}", seed=s, env__scenario=scen,
                                                     training__iterations=iterations, pretrain__enabled=False)
    return exps


def run_all(exps: dict[str, dict], out: Path, parallel: int) -> None:
    cfg_dir = out / "configs"
    cfg_dir.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> tuple[str, int, float]:
        path = cfg_dir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(exps[name], sort_keys=False))
        log = out / "logs" / f"{name}.log"
        log.parent.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        with open(log, "w") as f:
            rc = subprocess.call([sys.executable, "-m", "cfmarl.cli", "train", str(path), "--out", str(out / "runs"),
                                  "--quiet"], stdout=f, stderr=subprocess.STDOUT)
        return name, rc, time.perf_counter() - t0

    todo = [n for n in exps if not (out / "runs" / f"train-{n}" / "evaluation.csv").exists()]
    print(f"{len(exps)} experiments, {len(todo)} to run ({parallel} at a time)", flush=True)
    with ThreadPoolExecutor(parallel) as pool:
        for i, (name, rc, dt) in enumerate(pool.map(one, todo), 1):
            print(f"[{i}/{len(todo)}] {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {dt / 60:.1f} min",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default=str(BASE),
                    help="base experiment every variant derives from (default: the APS-GNN medium recipe)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--ablation-seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--iterations", type=int, default=70)
    ap.add_argument("--large-iterations", type=int, default=10)
    ap.add_argument("--large-base", metavar="FILE",
                    help="the experiment of the fine-tuning on `large` (its training.init_from may contain {mob}: "
                         "ped / veh, and {seed}; without one the runs train on large from their own start, e.g. "
                         "behaviour cloning; env.scenario, the seed and the name are set per run); default: "
                         "--base with pretraining off, 80 env steps per iteration, --large-iterations, 5 test "
                         "episodes, initialised from this --out's runs/train-gnn_<mob>_s<seed>")
    ap.add_argument("--large-seeds", type=int, nargs="+", metavar="SEED",
                    help="seeds of the fine-tuning on `large` (runs gnn_large_finetune_s<seed>, "
                         "gnn_large_veh_finetune_s<seed>); default: the first of --seeds")
    ap.add_argument("--large-mobility", nargs="+", choices=["ped", "veh"], default=["ped"],
                    help="mobilities fine-tuned on `large` (gnn_large_finetune, gnn_large_veh_finetune)")
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "aps"))
    ap.add_argument("--skip-training", action="store_true", help="only aggregate existing runs")
    ap.add_argument("--keep-latency", action="store_true",
                    help="do not measure latency.csv (decision times are measured on an idle CPU; do not "
                         "re-measure them while other jobs run)")
    ap.add_argument("--only", nargs="+", metavar="PREFIX",
                    help="run only the experiments whose names start with these prefixes (gnn_, mat_, matce_, central_, centralbc_, centraldata_, nogru_, "
                         "unconstrained_, nopretrain_, gnn_large, mat_large: MAT-Lagr on large with --large-base, "
                         "~4 h a run here); use another --out, the reports cover what ran")
    args = ap.parse_args()
    out = Path(args.out)
    base_path = Path(args.base)
    if not base_path.is_file():
        ap.error(f"--base: no experiment file at {base_path}")
    base = yaml.safe_load(base_path.read_text())
    exps = plan(base, args.seeds, args.ablation_seeds, args.iterations)
    if args.only:
        exps = {n: e for n, e in exps.items() if n.startswith(tuple(args.only))}
    if not args.skip_training:
        out.mkdir(parents=True, exist_ok=True)
        (out / "base.yaml").write_text(base_path.read_text())  # what every run here derives from
        run_all(exps, out, args.parallel)
    # on large: APS-GNN unless --only names other runs; MAT-Lagr (mat_large_*) only when --only asks for it (its
    # node-by-node decoding of 1,024 links makes a run ~4 h on the 2-core CPU)
    models = [m for m, prefix in (("gnn", "gnn_large"), ("mat", "mat_large"))
              if (any(prefix.startswith(p) for p in args.only) if args.only else m == "gnn")]
    if not args.skip_training and models:
        if args.large_base:
            lbase = yaml.safe_load(Path(args.large_base).read_text())
            (out / "large_base.yaml").write_text(Path(args.large_base).read_text())
        else:
            lbase = variant(base, "large", pretrain__enabled=False, training__iterations=args.large_iterations,
                            training__checkpoint_every=5,
                            training__init_from=str(out / "runs" / "train-gnn_{mob}_s{seed}"),
                            algorithm__train_batch_size=80, algorithm__minibatch_size=16, evaluation__episodes=5)
        from benchmarks_report import large_run  # noqa: E402  (same folder)

        init_from = lbase.get("training", {}).get("init_from")
        if "mat" in models and init_from:
            ap.error("--only mat_large: MAT-Lagr trains on large from its own behaviour-cloned start; use a "
                     f"--large-base without training.init_from (this one starts from {init_from})")
        larges = {}
        for s in args.large_seeds or args.seeds[:1]:
            for mob in args.large_mobility:
                scen = {"ped": "large", "veh": "large-vehicular"}[mob]
                if "gnn" in models:
                    init = {"training__init_from": init_from.format(mob=mob, seed=s)} if init_from else {}
                    name = large_run(mob, s)  # without init_from: trained on large from its own start
                    larges[name] = variant(lbase, name, seed=s, env__scenario=scen, **init)
                if "mat" in models:  # the same experiment with the transformer (as mat_* on medium)
                    name = large_run(mob, s, "mat")
                    larges[name] = variant(lbase, name, seed=s, env__scenario=scen, model=dict(MAT_MODEL))
        run_all(larges, out, min(args.parallel, len(larges)))
    from benchmarks_report import write_reports  # noqa: E402  (same folder)

    write_reports(out, exps, args.seeds, args.ablation_seeds, base, measure_latency=not args.keep_latency)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
