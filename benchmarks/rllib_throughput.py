"""Sampling and learning throughput on RLlib: graph mode vs stock per-agent mode.

Sampling: node-steps/s (one node-step = one agent decision) of one env runner
(the local runner, 1 CPU) on `xlarge` (128 APs x 32 UEs = 4096 link agents):
graph mode (all links one RLlib agent, APS-GNN module, B env copies) and stock
per-agent mode (one RLlib agent per link, shared MLP policy). Learning:
node-steps trained per second by the PPO-Lagrangian learner (one epoch over a
sampled batch). Reports the ratio measured in the same run and peak RSS.

    python benchmarks/rllib_throughput.py [--scenario xlarge] [--out benchmarks/results/rllib_throughput.md]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def graph_mode(scenario: str, num_envs: int, steps: int) -> dict:
    import torch

    from cfmarl.algo_builder import build_algo_config
    from cfmarl.experiment import ExperimentConfig, from_dict

    exp = from_dict(ExperimentConfig, {
        "name": "bench", "env": {"scenario": scenario, "overrides": {"episode_windows": 20}},
        "algorithm": {"train_batch_size": steps * num_envs, "minibatch_size": min(32, steps * num_envs),
                      "num_epochs": 1},
        "resources": {"num_env_runners": 0, "num_envs_per_env_runner": num_envs},
        "evaluation": {"baselines": ["all-on"]}})
    torch.set_num_threads(1)
    algo = build_algo_config(exp).build_algo()
    runner = algo.env_runner
    n_nodes = runner.env.envs[0].unwrapped.n if hasattr(runner.env, "envs") else runner.env.unwrapped.n
    runner.sample(num_timesteps=num_envs * 2)  # warm-up
    t0 = time.perf_counter()
    episodes = runner.sample(num_timesteps=steps * num_envs)
    t_sample = time.perf_counter() - t0
    env_steps = sum(len(e) for e in episodes)
    t0 = time.perf_counter()
    algo.learner_group.update(episodes=episodes, timesteps={"num_env_steps_sampled_lifetime": env_steps},
                              num_epochs=1, minibatch_size=exp.algorithm.minibatch_size)
    t_learn = time.perf_counter() - t0
    algo.stop()
    return {"sample_node_steps_per_s": env_steps * n_nodes / t_sample,
            "learn_node_steps_per_s": env_steps * n_nodes / t_learn, "env_steps": env_steps, "nodes": n_nodes}


def per_agent_mode(scenario: str, steps: int) -> dict:
    from cfmarl.scale import per_agent_throughput

    return per_agent_throughput({"env": "aps", "scenario": scenario, "overrides": {"episode_windows": 20}}, steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="xlarge")
    ap.add_argument("--num-envs", type=int, default=4, help="env copies in the graph-mode runner")
    ap.add_argument("--steps", type=int, default=40, help="env steps sampled per env copy (graph mode)")
    ap.add_argument("--per-agent-steps", type=int, default=5, help="env steps sampled in per-agent mode")
    ap.add_argument("--repeats", type=int, default=3, help="alternate the two modes this often; medians reported")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import ray

    from cfmarl.rundir import atomic_write_text, versions

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    gs, ps = [], []
    for rep in range(args.repeats):  # alternate, so a slow phase of the machine hits both modes
        gs.append(graph_mode(args.scenario, args.num_envs, args.steps))
        print(f"[{rep + 1}/{args.repeats}] graph mode: {gs[-1]['sample_node_steps_per_s']:,.0f} node-steps/s sampled, "
              f"{gs[-1]['learn_node_steps_per_s']:,.0f} node-steps/s trained ({gs[-1]['nodes']} nodes)", flush=True)
        ps.append(per_agent_mode(args.scenario, args.per_agent_steps))
        print(f"[{rep + 1}/{args.repeats}] per-agent mode: {ps[-1]['sample_node_steps_per_s']:,.0f} agent-steps/s "
              f"sampled ({ps[-1]['nodes']} agents)", flush=True)
    g = {k: float(np.median([x[k] for x in gs])) for k in ("sample_node_steps_per_s", "learn_node_steps_per_s")}
    g["nodes"] = gs[0]["nodes"]
    p = {"sample_node_steps_per_s": float(np.median([x["sample_node_steps_per_s"] for x in ps])),
         "nodes": ps[0]["nodes"]}
    ratio = g["sample_node_steps_per_s"] / p["sample_node_steps_per_s"]
    runs_g = ", ".join(f"{x['sample_node_steps_per_s']:,.0f}" for x in gs)
    runs_p = ", ".join(f"{x['sample_node_steps_per_s']:,.0f}" for x in ps)
    print(f"ratio graph / per-agent: {ratio:.1f}x; peak RSS {_rss_mib():.0f} MiB")
    ray.shutdown()
    if args.out:
        v = versions()
        text = "\n".join([
            "# RLlib throughput: graph mode vs stock per-agent mode", "",
            f"Measured by `python benchmarks/rllib_throughput.py --scenario {args.scenario} --repeats {args.repeats}` "
            "on one local env runner (1 CPU, torch 1 thread), both modes alternating in the same run; medians "
            f"(graph mode runs: {runs_g}; per-agent runs: {runs_p}).", "",
            f"Machine: {v['platform']}, {v['cpu_count']} CPUs; Python {v['python']}, ray {v['ray']}, "
            f"torch {v['torch']}, torch-geometric {v['torch-geometric']}, numpy {v['numpy']}.", "",
            "| mode | agents per env | sampling [node-steps/s] | learning [node-steps/s] |",
            "|---|---:|---:|---:|",
            f"| graph (APS-GNN module, {args.num_envs} env copies) | {g['nodes']} | "
            f"{g['sample_node_steps_per_s']:,.0f} | {g['learn_node_steps_per_s']:,.0f} |",
            f"| per-agent (stock wrapping, shared MLP) | {p['nodes']} | {p['sample_node_steps_per_s']:,.0f} | - |",
            "", f"Graph mode samples **{ratio:.1f}x** (ratio of the medians) faster than per-agent mode. Peak RSS of the benchmark "
            f"process: {_rss_mib():.0f} MiB.", "",
            "Targets (issue 3): graph mode >= 100,000 node-steps/s and >= 10x per-agent mode.", ""])
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, text)
        print(f"report written to {args.out}")


if __name__ == "__main__":
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    main()
