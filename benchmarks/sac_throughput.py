"""SAC throughput: graph mode (cfmarl's SAC-Lagrangian) vs stock RLlib multi-agent SAC (one RLlib agent per
user, shared policy) on downlink power control at 8, 64 and 512 users, as ratios measured in one run.

Both sample with the local env runner (1 CPU, 4 env copies for graph mode, 1 for stock - RLlib's per-agent
runner is per env) and learn with the local learner; one node-step = one user's transition. Per size:

* sampling node-steps/s: ``runner.sample`` of ``--steps`` env steps per copy;
* learner node-steps/s: replay sample + one gradient update of a minibatch of ``--minibatch`` env steps
  (graph mode: each carries all K users; stock: ``minibatch x K`` agent steps), timed over ``--updates``.

Graph-mode rows: ``graph/local`` (per-user MLP actor and per-user critics: the same networks as stock's
shared MLPs, the like-for-like ratio) and ``graph/MASAC`` (centralised critic: attention up to 64 users,
mean-field at 512, where dense attention over a 256-step minibatch would not fit).

    python benchmarks/sac_throughput.py [--sizes 8 64 512] [--out benchmarks/results/sac_throughput.md]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _env_overrides(k: int) -> dict:
    from cfmarl.registry import get_env

    entry = get_env("power")
    m = max(4, round(100 * k / 32))  # the paper's 100 APs per 32 UEs, at 100 APs / km^2
    return dict(entry.declaration.scale.overrides(entry.make_config("paper"), f"{m}x{k}"), episode_steps=50)


def graph_mode(k: int, critic: str, steps: int, minibatch: int, updates: int) -> dict:
    import torch

    from cfmarl.algo_builder import build_algo_config
    from cfmarl.experiment import ExperimentConfig, from_dict

    exp = from_dict(ExperimentConfig, {
        "name": "bench", "env": {"name": "power", "scenario": "paper", "overrides": _env_overrides(k)},
        "model": {"mode": "graph", "encoder": "mlp", "rounds": 1, "hidden": 64, "use_gru": False, "critic": critic,
                  "critic_rounds": 1},
        "algorithm": {"name": "sac_lagrangian", "train_batch_size": steps * 4, "minibatch_size": minibatch,
                      "learning_starts": 0, "updates_per_iteration": 1, "replay_in_checkpoint": False},
        "resources": {"num_env_runners": 0, "num_envs_per_env_runner": 4}})
    torch.set_num_threads(1)
    algo = build_algo_config(exp).build_algo()
    try:
        runner = algo.env_runner
        algo.local_replay_buffer.add(runner.sample(num_timesteps=8))  # warm-up (the buffer needs the chunks in order)
        t0 = time.perf_counter()
        episodes = runner.sample(num_timesteps=steps * 4)
        t_sample = time.perf_counter() - t0
        env_steps = sum(len(e) for e in episodes)
        algo.local_replay_buffer.add(episodes)
        return {"sample_node_steps_per_s": env_steps * k / t_sample,
                **_time_updates(algo, minibatch, updates, minibatch * k), "peak_rss_mib": _peak_mib()}
    finally:
        algo.stop()


def _time_updates(algo, items: int, updates: int, node_steps_per_update: int) -> dict:
    cfg = algo.config

    def one():
        eps = algo.local_replay_buffer.sample(num_items=items, n_step=1, gamma=cfg.gamma, sample_episodes=True)
        algo.learner_group.update(episodes=eps, timesteps={"num_env_steps_sampled_lifetime": 10**6})

    one()  # warm-up
    t0 = time.perf_counter()
    for _ in range(updates):
        one()
    dt = (time.perf_counter() - t0) / updates
    return {"update_s": dt, "learn_node_steps_per_s": node_steps_per_update / dt}


def stock_per_agent(k: int, steps: int, minibatch: int, updates: int) -> dict:
    import torch
    from ray.rllib.algorithms.sac import SACConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from cfmarl.policies.adapters.per_agent import PerAgentEnv, per_agent_policy_mapping_fn

    env_cfg = {"env": "power", "scenario": "paper", "overrides": _env_overrides(k)}
    torch.set_num_threads(1)
    algo = (SACConfig().environment(PerAgentEnv, env_config=env_cfg)
            .env_runners(num_env_runners=0, rollout_fragment_length=steps, episodes_to_numpy=False)
            .multi_agent(policies={"shared"}, policy_mapping_fn=per_agent_policy_mapping_fn,
                         count_steps_by="agent_steps")
            .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))
            .training(replay_buffer_config={"type": "MultiAgentEpisodeReplayBuffer", "capacity": 10**6},
                      train_batch_size_per_learner=minibatch * k, num_steps_sampled_before_learning_starts=0)
            .debugging(seed=0)).build_algo()
    try:
        runner = algo.env_runner
        algo.local_replay_buffer.add(runner.sample(num_timesteps=k * 2))
        t0 = time.perf_counter()
        episodes = runner.sample(num_timesteps=steps * k)
        t_sample = time.perf_counter() - t0
        agent_steps = sum(e.agent_steps() for e in episodes)
        algo.local_replay_buffer.add(episodes)
        return {"sample_node_steps_per_s": agent_steps / t_sample,
                **_time_updates(algo, minibatch * k, updates, minibatch * k), "peak_rss_mib": _peak_mib()}
    finally:
        algo.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="*", type=int, default=[8, 64, 512])
    ap.add_argument("--steps", type=int, default=50, help="env steps sampled per copy")
    ap.add_argument("--minibatch", type=int, default=32, help="env steps per gradient update")
    ap.add_argument("--updates", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sac_throughput.md"))
    args = ap.parse_args()
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    rows = []
    try:
        for k in args.sizes:
            critic = "attention" if k <= 64 else "meanfield"
            for name, fn in (("graph/local", lambda: graph_mode(k, "local", args.steps, args.minibatch, args.updates)),
                             (f"graph/MASAC ({critic})", lambda: graph_mode(k, critic, args.steps, args.minibatch,
                                                                             args.updates)),
                             ("stock per-agent", lambda: stock_per_agent(k, min(args.steps, 10), args.minibatch,
                                                                         args.updates))):
                t0 = time.perf_counter()
                r = fn()
                rows.append({"users": k, "mode": name, **r})
                print(f"K={k:4d} {name:24s} sample {r['sample_node_steps_per_s']:9.0f} node-steps/s, learn "
                      f"{r['learn_node_steps_per_s']:9.0f} node-steps/s ({r['update_s'] * 1e3:.0f} ms/update), "
                      f"{time.perf_counter() - t0:.0f} s", flush=True)
    finally:
        ray.shutdown()
    from cfmarl.rundir import atomic_write_text, versions

    v = versions()
    lines = ["# SAC throughput: graph mode vs stock RLlib multi-agent SAC (power control)", "",
             f"`python benchmarks/sac_throughput.py --sizes {' '.join(map(str, args.sizes))}`: local env runner and "
             f"learner, torch 1 thread; sampling {args.steps} env steps x 4 copies (graph) / "
             f"{min(args.steps, 10)} env steps (stock); learner: replay sample + one update of {args.minibatch} env steps "
             f"x K users, mean of {args.updates}. One node-step = one user's transition.", "",
             "| users | mode | sample node-steps/s | learn node-steps/s | ms / update | sample ratio vs stock | "
             "learn ratio vs stock | peak RSS MiB |", "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        stock = next(x for x in rows if x["users"] == r["users"] and x["mode"] == "stock per-agent")
        lines.append(f"| {r['users']} | {r['mode']} | {r['sample_node_steps_per_s']:.0f} | "
                     f"{r['learn_node_steps_per_s']:.0f} | {r['update_s'] * 1e3:.0f} | "
                     f"{r['sample_node_steps_per_s'] / stock['sample_node_steps_per_s']:.1f} | "
                     f"{r['learn_node_steps_per_s'] / stock['learn_node_steps_per_s']:.1f} | {r['peak_rss_mib']:.0f} |")
    lines += ["", f"Machine: {v['platform']}, {v['cpu_count']} CPUs; Python {v['python']}, ray {v['ray']}, "
              f"torch {v['torch']}, numpy {v['numpy']}.", ""]
    atomic_write_text(Path(args.out), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
