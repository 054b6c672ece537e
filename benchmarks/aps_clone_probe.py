"""How well can the APS-GNN imitate a teacher? Held-out behaviour-cloning accuracy by model size, data and features.

    python benchmarks/aps_clone_probe.py --scenario medium-vehicular --teacher greedy:window=previous \\
        --rounds 3 --hidden 128 --episodes 300 --epochs 20 --link-gain --out benchmarks/results/aps/frontier

A capacity check that needs no RL: the teacher's actions on its own trajectories (the same collection and loss as
``pretrain:`` in an experiment), 10 % of the samples held out. If a larger model or more data raise the train
accuracy, the model was the limit; if train and held-out accuracy stay level whatever the model, the teacher's
choices are not a function of what the links observe. Appends one row to ``OUT/clone_probe.csv`` (rewritten
atomically) and prints it.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="medium-vehicular")
    ap.add_argument("--teacher", default="greedy:window=previous")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--episodes", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--link-gain", action="store_true", help="env option observe_link_gain")
    ap.add_argument("--link-rank", action="store_true", help="env option observe_link_rank")
    ap.add_argument("--minibatch", type=int, default=None,
                    help="decisions per behaviour-cloning minibatch (default: pretrain.minibatch_size)")
    ap.add_argument("--head", default="categorical", choices=["categorical", "gated"],
                    help="model.action_head: per-link Bernoulli, or a gate per AP times a Bernoulli per link")
    ap.add_argument("--acting-episodes", type=int, default=20,
                    help="validation episodes on which the greedy clone and the teacher act (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label-smoothing", type=float, default=0.0, help="pretrain.label_smoothing")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import torch

    from cfmarl import rundir
    from cfmarl.algo_builder import module_spec
    from cfmarl.experiment import ExperimentConfig, from_dict
    from cfmarl.policies.pretrain import behaviour_clone, collect_teacher_dataset
    from cfmarl.registry import get_env
    from cfmarl.selection import validate, validate_controller

    torch.set_num_threads(1)
    overrides = {"se_target_bps_hz": 1.0, "observe_link_gain": bool(args.link_gain),
                 "observe_link_rank": bool(args.link_rank)}
    exp = from_dict(ExperimentConfig, {
        "seed": args.seed, "env": {"name": "aps", "scenario": args.scenario, "overrides": overrides},
        "model": {"mode": "graph", "encoder": "gnn", "rounds": args.rounds, "hidden": args.hidden,
                  "use_gru": True, "gru_hidden": 32, "action_head": args.head},
        "training": {"validation_episodes": max(args.acting_episodes, 1)}})
    torch.manual_seed(args.seed)
    module = module_spec(exp, exp.env_config()).build()
    entry = get_env("aps")
    cfg = entry.make_config(args.scenario, **overrides)
    t0 = time.perf_counter()
    obs, y = collect_teacher_dataset(lambda n: entry.make_core(cfg, n), entry.make_baseline(args.teacher),
                                     args.episodes, seed=args.seed + 7919, n_max=module.n_max)
    t1 = time.perf_counter()
    res = behaviour_clone(module, obs, y, epochs=args.epochs, lr=exp.pretrain.lr,
                          minibatch_size=args.minibatch or exp.pretrain.minibatch_size, seed=args.seed,
                          label_smoothing=args.label_smoothing)
    with torch.no_grad():  # how sure the clone is: its mean link entropy on (up to) 256 of the teacher's samples
        from ray.rllib.core.columns import Columns

        part = {k: torch.as_tensor(v[:256]) for k, v in obs.items()}
        logits = module._forward({Columns.OBS: part})[Columns.ACTION_DIST_INPUTS]
        entropy = float(module.get_train_action_dist_cls().from_logits(logits).entropy()[:, :y.shape[1]].mean())
    acting = {}
    if args.acting_episodes:  # accuracy per link hides which links are wrong: what the clone does when it acts
        clone, teacher = validate(exp, module), validate_controller(exp, entry.make_baseline(args.teacher))
        acting = {"clone_active_aps": clone["val/active_aps"], "clone_mean_cost": clone["val/mean_cost"],
                  "teacher_active_aps": teacher["val/active_aps"], "teacher_mean_cost": teacher["val/mean_cost"]}
    row = {"scenario": args.scenario, "teacher": args.teacher, "head": args.head, "link_gain": bool(args.link_gain),
           "link_rank": bool(args.link_rank), "minibatch": args.minibatch or exp.pretrain.minibatch_size,
           "rounds": args.rounds, "hidden": args.hidden, "parameters": sum(p.numel() for p in module.parameters()),
           "episodes": args.episodes, "epochs": args.epochs, "seed": args.seed, "train_accuracy": res.train_score,
           "held_out_accuracy": res.val_score, "label_smoothing": args.label_smoothing,
           "clone_link_entropy": entropy, "collect_s": t1 - t0, "clone_s": time.perf_counter() - t1, **acting}
    path = args.out / "clone_probe.csv"
    rows = []
    if path.exists():
        with open(path, newline="") as f:
            # rows from before --head / --link-rank / --minibatch
            rows = [{"head": "categorical", "link_rank": False, "minibatch": 64, "label_smoothing": 0.0,
                     "clone_link_entropy": "", **r} for r in csv.DictReader(f)]
    args.out.mkdir(parents=True, exist_ok=True)
    rundir.write_csv(path, rows + [row])
    print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
    print(f"appended to {path}")


if __name__ == "__main__":
    main()
