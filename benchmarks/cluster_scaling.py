"""Sampling throughput of APS-GNN training with 1, 2 and 4 env runners on an emulated
2-node Ray cluster (``ray.cluster_utils.Cluster``: two raylets on this machine), and the
parallel efficiency against the ideal-linear line.

    python benchmarks/cluster_scaling.py [--scenario medium] [--runners 1 2 4] [--iterations 3]

The two "nodes" share this machine's CPU cores: with 2 physical cores, more than 2 busy
processes cannot scale, and that ceiling is what the numbers show on a 2-core machine. Each
node advertises ``--cpus-per-node`` logical CPUs so that 4 runners can be placed at all.
Writes benchmarks/results/cluster_scaling.md and .csv.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="medium")
    ap.add_argument("--runners", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--cpus-per-node", type=int, default=3)
    ap.add_argument("--node-steps", type=int, default=40000, help="node-steps per training iteration")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cluster_scaling"))
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    from cfmarl.experiment import ExperimentConfig, from_dict, read_yaml
    from cfmarl.rundir import atomic_write_text, versions, write_csv
    from cfmarl.scale import graph_throughput
    from cfmarl.search_space import set_path

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cpus_per_node,
                                                            "include_dashboard": False})
    cluster.add_node(num_cpus=args.cpus_per_node)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    rows = []
    try:
        base = read_yaml(ROOT / "tune_configs" / "aps_gnn_medium.yaml")
        for r in args.runners:
            data = set_path(base, "env.scenario", args.scenario)
            data = set_path(data, "pretrain.enabled", False)
            data = set_path(data, "resources.num_env_runners", r)
            data = set_path(data, "resources.num_envs_per_env_runner", 4)
            from cfmarl.policies.adapters.graph_env import GraphEnv

            exp = from_dict(ExperimentConfig, data)
            links = GraphEnv(exp.env_config()).n
            steps = max(4 * r, round(args.node_steps / links / (4 * r)) * 4 * r)
            data = set_path(data, "algorithm.train_batch_size", steps)
            data = set_path(data, "algorithm.minibatch_size", min(steps, 100))
            exp = from_dict(ExperimentConfig, data)
            t0 = time.perf_counter()
            g = graph_throughput(exp, args.iterations)
            rows.append({"runners": r, "links": links, "nodes": g["nodes"],
                         "sample_node_steps_per_s": round(g["sample_node_steps_per_s"]),
                         "train_node_steps_per_s": round(g["train_node_steps_per_s"]),
                         "iteration_node_steps_per_s": round(g["iteration_node_steps_per_s"]),
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(rows[-1], flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()
    base_tp = rows[0]["sample_node_steps_per_s"] / rows[0]["runners"]
    for row in rows:
        row["parallel_efficiency"] = round(row["sample_node_steps_per_s"] / (base_tp * row["runners"]), 3)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out.with_suffix(".csv"), rows)
    v = versions()
    lines = ["# Env-runner scaling on an emulated 2-node cluster", "",
             f"`python benchmarks/cluster_scaling.py --scenario {args.scenario} --runners "
             f"{' '.join(map(str, args.runners))} --iterations {args.iterations}`: APS-GNN training (graph mode, "
             f"4 env copies per runner, about {args.node_steps} node-steps per iteration) on a "
             "`ray.cluster_utils.Cluster` of 2 nodes on one machine; env runners are spread by Ray's scheduler.", "",
             f"Machine: {v['platform']}, {v['cpu_count']} CPU cores; ray {v['ray']}, torch {v['torch']}.", "",
             "| env runners | sampling [node-steps/s] | parallel efficiency | learner [node-steps/s] | whole iteration [node-steps/s] |",
             "|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['runners']} | {row['sample_node_steps_per_s']:,} | {row['parallel_efficiency']:.2f} | "
                     f"{row['train_node_steps_per_s']:,} | {row['iteration_node_steps_per_s']:,} |")
    lines += ["", f"Both emulated nodes share {v['cpu_count']} physical cores: sampling cannot scale past "
              f"{v['cpu_count']} busy processes (the driver's learner is one of them), so the efficiency beyond "
              "that is a property of this machine, not of cfmarl. On real nodes each runner brings its own core.", ""]
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines))
    print(f"written {out.with_suffix('.md')} and .csv")


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    sys.path.insert(0, str(ROOT))
    main()
