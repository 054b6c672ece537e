"""Per-user and per-node envs (power control, precoding, MF-TDMA, URLLC): env steps/s of the
array core vs the PettingZoo dict view at two sizes each, and the time per baseline decision,
on one core.

One agent-step = one agent's decision: a power-control step (mobility, channels, gain
matrix, SINR), a precoding near-RT loop (10 RT loops of fading, multipliers, the
distributed WMMSE precoder update and rates), an MF-TDMA frame (10 slots of arrivals and
multi-hop transmissions) or a URLLC slot (channel, SINR, FBL bits, queues). Baseline
decision times are per env copy and include the work a classical precoder does inside the
step (every RT loop).

    python benchmarks/env_families.py [--seconds 2] [--out benchmarks/results/env_families.md]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one core, set before numpy loads BLAS

import argparse  # noqa: E402

import numpy as np  # noqa: E402

from cfmarl import evaluate  # noqa: E402
from cfmarl.registry import episode_length_field, get_env  # noqa: E402
from cfmarl.rundir import versions, write_report  # noqa: E402
from env_throughput import _timed  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

SIZES = {"power": ("small", "paper"), "precoding": ("medium", "large"), "mftdma": ("n8-2:6", "n32-8:24"),
         "urllc": ("paper", "s8888")}


def _actions(core, rng) -> np.ndarray:
    lo, hi = core.action_bounds
    if lo == 0.0:  # RB requests: around the equal split
        hi = 2.0 * hi / core.n_agents
    return rng.uniform(lo, hi, (core.num_envs, core.n_agents, core.action_dim))


def _long(entry, scenario: str) -> dict[str, int]:
    """Override that makes an episode effectively endless (the timing loops never hit a reset)."""
    return {episode_length_field(entry.make_config(scenario), entry): 1_000_000}


def bench_core(entry, scenario: str, num_envs: int, seconds: float) -> float:
    cfg = entry.make_config(scenario, **_long(entry, scenario))
    core = entry.make_core(cfg, num_envs)
    state, _ = core.reset(list(range(num_envs)))
    acts = _actions(core, np.random.default_rng(0))
    holder = [state]

    def one():
        holder[0], *_ = core.step(holder[0], acts)

    calls, el = _timed(one, seconds)
    return calls * num_envs * core.n_agents / el


def bench_dict(entry, scenario: str, seconds: float) -> float:
    import importlib

    mod = importlib.import_module(entry.module)
    env = mod.parallel_env(scenario=scenario, **_long(entry, scenario))
    env.reset(seed=0)
    acts = dict(zip(env.possible_agents, _actions(env.core, np.random.default_rng(0))[0]))

    def one():
        env.step(acts)

    calls, el = _timed(one, seconds)
    return calls * len(env.possible_agents) / el


def bench_baselines(entry, scenario: str, episodes: int = 2, steps: int = 3) -> dict[str, float]:
    cfg = entry.make_config(scenario, **{k: steps for k in _long(entry, scenario)})
    out = {}
    for spec in entry.baselines:
        res = evaluate.run_policy(lambda n: entry.make_core(cfg, n), entry.make_baseline(spec),
                                  evaluate.episode_seeds(0, episodes), batch=episodes)
        out[spec] = res.summary()["decision_latency_ms"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="measuring time per configuration")
    ap.add_argument("--out", default=None, help="write a Markdown report here")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rows, base_rows = [], []
    for env, scenarios in SIZES.items():
        entry = get_env(env)
        for scen in scenarios:
            d = entry.make_config(scen).describe()
            c1, c8 = bench_core(entry, scen, 1, args.seconds), bench_core(entry, scen, 8, args.seconds)
            dv = bench_dict(entry, scen, args.seconds)
            rows.append((env, scen, d["size"], c1, c8, dv))
            print(f"{env:9s} {scen:7s} ({d['size']}): core B=1 {c1:>10,.0f}  B=8 {c8:>10,.0f}  dict {dv:>10,.0f} "
                  f"agent-steps/s  core/dict {c1 / dv:.2f}x", flush=True)
            lat = bench_baselines(entry, scen)
            base_rows.append((env, scen, lat))
            print("   ms/decision: " + ", ".join(f"{k} {v:.3g}" for k, v in lat.items()), flush=True)
    v = versions()
    lines = ["# Per-user and per-node envs: throughput and baseline decision times", "",
             "Measured by `python benchmarks/env_families.py` (one core pinned, BLAS single-threaded, "
             f"{args.seconds:g} s per configuration).", "One agent-step = one agent's decision: one power-control step, "
             "one precoding near-RT loop (10 RT loops of fading, multipliers, the distributed WMMSE precoder "
             "update and rates), one MF-TDMA frame (10 slots) or one URLLC slot.", "",
             f"Machine: {v['platform']}, {v['cpu_count']} CPUs; Python {v['python']}, numpy {v['numpy']}, "
             f"scipy {v.get('scipy', '?')}, pettingzoo {v['pettingzoo']}, cfmarl {v['cfmarl']}.", "",
             "| env | scenario | size | core, 1 env [agent-steps/s] | core, 8 envs [agent-steps/s] | "
             "dict view [agent-steps/s] | core(1)/dict |", "|---|---|---|---:|---:|---:|---:|"]
    for env, scen, size, c1, c8, dv in rows:
        lines.append(f"| {env} | {scen} | {size} | {c1:,.0f} | {c8:,.0f} | {dv:,.0f} | {c1 / dv:.2f} |")
    lines += ["", "Time per baseline decision [ms per env copy; a precoding decision is one near-RT loop, and the",
              "classical precoders' time is their work in all of its RT loops] (2 episodes x 3 steps):", ""]
    for env, scen, lat in base_rows:
        lines.append(f"- {env}/{scen}: " + ", ".join(f"{k} {val:.3g}" for k, val in lat.items()))
    lines.append("")
    write_report(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
