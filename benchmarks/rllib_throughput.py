"""Sampling and learning throughput on RLlib: graph mode vs stock per-agent mode, and vs a reference commit.

Sampling: node-steps/s (one node-step = one agent decision) of one env runner
(the local runner, 1 CPU) on `xlarge` (128 APs x 32 UEs = 4096 link agents):
graph mode (all links one RLlib agent, APS-GNN module, B env copies) and stock
per-agent mode (one RLlib agent per link, shared MLP policy). Learning:
node-steps trained per second by the PPO-Lagrangian learner (one epoch over a
sampled batch). Reports the ratio measured in the same run and peak RSS.

``--reference REF`` also measures graph mode with the code of git commit REF
(checked out into a temporary worktree) on the AP-selection rows, alternating
with the current code in fresh processes, and reports current / reference: the
cost of a change (e.g. the generic pipeline) as a ratio measured in one run.
``--extra ENV:SCENARIO`` adds graph-mode rows for other envs (continuous actions,
per-episode graphs), which the reference may not be able to train.

    python benchmarks/rllib_throughput.py [--scenario xlarge] [--out benchmarks/results/rllib_throughput_per_agent.md]
    python benchmarks/rllib_throughput.py --reference f253e14 --scenario medium --scenario xlarge \
        --out benchmarks/results/rllib_throughput.md
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


def graph_mode(scenario: str, num_envs: int, steps: int, env: str = "aps", overrides: dict | None = None,
               learn_repeats: int = 1, torch_threads: int = 1) -> dict:
    import copy

    import torch

    from cfmarl.algo_builder import build_algo_config
    from cfmarl.experiment import ExperimentConfig, from_dict

    exp = from_dict(ExperimentConfig, {  # keys every version of the schema knows (the --reference runs)
        "name": "bench", "env": {"name": env, "scenario": scenario,
                                 "overrides": overrides if overrides is not None else {"episode_windows": 20}},
        "algorithm": {"train_batch_size": steps * num_envs, "minibatch_size": min(32, steps * num_envs),
                      "num_epochs": 1},
        "resources": {"num_env_runners": 0, "num_envs_per_env_runner": num_envs}})
    torch.set_num_threads(torch_threads)
    algo = build_algo_config(exp).build_algo()
    runner = algo.env_runner
    n_nodes = runner.env.envs[0].unwrapped.n if hasattr(runner.env, "envs") else runner.env.unwrapped.n
    warm = runner.sample(num_timesteps=num_envs * 2)  # warm-up: the first sample and the first update pay
    algo.learner_group.update(episodes=warm, timesteps={"num_env_steps_sampled_lifetime": num_envs * 2},  # one-time
                              num_epochs=1, minibatch_size=exp.algorithm.minibatch_size)  # costs (optimizer state)
    t0 = time.perf_counter()
    episodes = runner.sample(num_timesteps=steps * num_envs)
    t_sample = time.perf_counter() - t0
    env_steps = sum(len(e) for e in episodes)
    t_learn = []
    for _ in range(learn_repeats):  # the learner connector changes the episodes: each update gets a fresh copy
        batch = copy.deepcopy(episodes) if learn_repeats > 1 else episodes
        t0 = time.perf_counter()
        algo.learner_group.update(episodes=batch, timesteps={"num_env_steps_sampled_lifetime": env_steps},
                                  num_epochs=1, minibatch_size=exp.algorithm.minibatch_size)
        t_learn.append(time.perf_counter() - t0)
    algo.stop()
    return {"sample_node_steps_per_s": env_steps * n_nodes / t_sample,
            "learn_node_steps_per_s": env_steps * n_nodes / float(np.median(t_learn)), "env_steps": env_steps,
            "nodes": n_nodes}


def per_agent_mode(scenario: str, steps: int) -> dict:
    from cfmarl.scale import per_agent_throughput

    return per_agent_throughput({"env": "aps", "scenario": scenario, "overrides": {"episode_windows": 20}}, steps)


def _long_episodes(env: str, scenario: str) -> dict:
    from cfmarl.registry import get_env

    entry = get_env(env)
    return {entry.declaration.episode_length: 20}


def _worker_run(job: dict, pythonpath: str | None) -> dict:
    """One graph-mode measurement in a fresh process (the current code, or a reference tree)."""
    import json
    import subprocess
    import sys

    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(job)], env=env, capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"worker failed ({job}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _reference_tree(ref: str) -> tuple[str, str]:
    """A worktree of ``ref`` importable as ``cfmarl`` (its envs/ and policies/ linked under cfmarl/)."""
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parents[1]
    tmp = Path(tempfile.mkdtemp(prefix="cfmarl-ref-"))
    tree = tmp / "tree"
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(tree), ref], check=True,
                   capture_output=True)
    for sub in ("envs", "policies"):
        (tree / "cfmarl" / sub).symlink_to(tree / sub, target_is_directory=True)
    sha = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         check=True).stdout.strip()
    return str(tree), sha


def _drop_reference_tree(tree: str) -> None:
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", tree], capture_output=True)
    shutil.rmtree(Path(tree).parent, ignore_errors=True)


def compare(args) -> None:
    """Graph mode, current code vs a reference commit (AP selection rows) plus extra env rows."""
    from cfmarl.rundir import versions, write_report

    tree, sha = _reference_tree(args.reference) if args.reference else (None, None)
    rows = []
    try:
        jobs = [{"env": "aps", "scenario": sc, "num_envs": args.num_envs, "steps": args.steps,
                 "overrides": {"episode_windows": 20}, "learn_repeats": args.learn_repeats,
                 "torch_threads": args.torch_threads} for sc in args.scenario]
        for item in args.extra:
            env, _, sc = item.partition(":")
            jobs.append({"env": env, "scenario": sc, "num_envs": args.num_envs, "steps": args.steps,
                         "overrides": _long_episodes(env, sc), "reference": False, "learn_repeats": args.learn_repeats,
                         "torch_threads": args.torch_threads})
        for job in jobs:
            cur, ref = [], []
            for rep in range(args.repeats):  # alternate, so a slow phase of the machine hits both versions
                cur.append(_worker_run(job, None))
                msg = (f"[{job['env']}/{job['scenario']} {rep + 1}/{args.repeats}] current: "
                       f"{cur[-1]['sample_node_steps_per_s']:,.0f} sampled, {cur[-1]['learn_node_steps_per_s']:,.0f} "
                       "trained node-steps/s")
                if tree and job.get("reference", True):
                    ref.append(_worker_run(job, tree))
                    if not ref[-1]["code"].startswith(str(Path(tree).resolve())):
                        raise RuntimeError(f"the reference run imported {ref[-1]['code']}, not the worktree {tree}")
                    msg += (f"; reference {sha}: {ref[-1]['sample_node_steps_per_s']:,.0f} sampled, "
                            f"{ref[-1]['learn_node_steps_per_s']:,.0f} trained")
                print(msg, flush=True)
            med = {k: float(np.median([x[k] for x in cur])) for k in ("sample_node_steps_per_s", "learn_node_steps_per_s")}
            row = {"env": job["env"], "scenario": job["scenario"], "nodes": cur[0]["nodes"], "action": cur[0]["action"],
                   "graph": cur[0]["graph"], **med}
            if ref:
                for k in ("sample_node_steps_per_s", "learn_node_steps_per_s"):
                    row[f"ref_{k}"] = float(np.median([x[k] for x in ref]))
                    row[f"ratio_{k}"] = med[k] / row[f"ref_{k}"]
                row["pairs"] = [(c["learn_node_steps_per_s"], r["learn_node_steps_per_s"]) for c, r in zip(cur, ref)]
            rows.append(row)
    finally:
        if tree:
            _drop_reference_tree(tree)
    v = versions()
    lines = ["# RLlib graph-mode throughput: current code vs a reference commit", "",
             f"Measured by `python benchmarks/rllib_throughput.py --reference {args.reference} "
             + " ".join(f"--scenario {s}" for s in args.scenario) + " " + " ".join(f"--extra {e}" for e in args.extra)
             + f" --repeats {args.repeats} --learn-repeats {args.learn_repeats} --torch-threads {args.torch_threads}`: "
             f"one local env runner (torch {args.torch_threads} thread(s)), {args.num_envs} env copies, {args.steps} env steps each, one learner epoch over them timed "
             f"after a warm-up sample and update ({args.learn_repeats} such epochs per process, each on a copy of the "
             "same episodes, their median); each measurement in a fresh process, the two versions alternating; "
             "medians over the processes.", "",
             f"Machine: {v['platform']}, {v['cpu_count']} CPUs; Python {v['python']}, ray {v['ray']}, "
             f"torch {v['torch']}, torch-geometric {v['torch-geometric']}, numpy {v['numpy']}.", "",
             f"| env / scenario | nodes | actions | graph | sampling [node-steps/s] | reference {sha} | ratio | "
             f"learning [node-steps/s] | reference {sha} | ratio |", "|---|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        def cell(k):
            return (f"{r['ref_' + k]:,.0f}", f"{r['ratio_' + k]:.2f}") if "ref_" + k in r else ("-", "-")
        rs, rr = cell("sample_node_steps_per_s")
        ls_, lr = cell("learn_node_steps_per_s")
        lines.append(f"| {r['env']}/{r['scenario']} | {r['nodes']} | {r['action']} | {r['graph']} | "
                     f"{r['sample_node_steps_per_s']:,.0f} | {rs} | {rr} | {r['learn_node_steps_per_s']:,.0f} | {ls_} | {lr} |")
    lines.append("")
    for r in rows:
        if r.get("pairs"):
            pairs = "; ".join(f"{c / 1e3:.1f} k / {f / 1e3:.1f} k ({c / f:.2f})" for c, f in r["pairs"])
            med_ratio = float(np.median([c / f for c, f in r["pairs"]]))
            lines.append(f"{r['env']}/{r['scenario']}, learning per repeat (current / reference, ratio): {pairs}; "
                         f"median of the per-repeat ratios {med_ratio:.2f}.")
    lines.append("")
    write_report(args.out, "\n".join(lines))


def worker(job: dict) -> None:
    import json

    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    r = graph_mode(job["scenario"], job["num_envs"], job["steps"], env=job["env"], overrides=job["overrides"],
                   learn_repeats=job.get("learn_repeats", 1), torch_threads=job.get("torch_threads", 1))
    import cfmarl

    r["code"] = str(Path(cfmarl.__file__).resolve().parent)  # which tree ran (current or the reference)
    try:  # describe the env with whatever this code version knows
        from cfmarl.policies.adapters.graph_env import GraphEnv

        g = GraphEnv({"env": job["env"], "scenario": job["scenario"], "overrides": job["overrides"]})
        r["action"] = "discrete" if hasattr(g.core, "n_actions") else f"continuous x{g.core.action_dim}"
        r["graph"] = getattr(g.core, "graph_kind", "static")
    except Exception:  # noqa: BLE001 - only a label
        r["action"], r["graph"] = "?", "?"
    ray.shutdown()
    print(json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", action="append", default=None,
                    help="AP-selection scenario (repeatable with --reference; default xlarge)")
    ap.add_argument("--reference", default=None, help="git commit to compare graph mode against (AP selection rows)")
    ap.add_argument("--extra", action="append", default=[], metavar="ENV:SCENARIO",
                    help="extra graph-mode rows of other envs (with --reference)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--num-envs", type=int, default=4, help="env copies in the graph-mode runner")
    ap.add_argument("--steps", type=int, default=40, help="env steps sampled per env copy (graph mode)")
    ap.add_argument("--per-agent-steps", type=int, default=5, help="env steps sampled in per-agent mode")
    ap.add_argument("--repeats", type=int, default=3, help="alternate the two modes this often; medians reported")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch threads of the process that samples and learns (graph mode; both versions)")
    ap.add_argument("--learn-repeats", type=int, default=1,
                    help="learner updates timed per process, each on a copy of the same sampled episodes (the "
                         "median is the process's learning rate; one ~0.2 s update is at the mercy of the VM's jitter)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.worker:
        import json

        return worker(json.loads(args.worker))
    args.scenario = args.scenario or ["xlarge"]
    if args.reference or args.extra:
        return compare(args)
    args.scenario = args.scenario[0]
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
