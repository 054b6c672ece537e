"""Throughput of the AP-selection env: array core vs PettingZoo dict view, on one core.

One link-step = one agent decision = one (AP, UE) link over one APS window of
10 slots (mobility, channels, MRT SINR and SE of all 10 slots included).
Reports link-steps/s for L x K in {96, 1024, 4096} (the medium, large and
xlarge scenarios), for the array core with 1 and with 8 env copies and for the
dict view, the ratios measured in the same run, and peak traced memory.

    python benchmarks/env_throughput.py [--seconds 2] [--out benchmarks/results/env_throughput.md]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one core, set before numpy loads BLAS

import argparse  # noqa: E402

try:
    import resource  # noqa: E402
except ImportError:  # not on Windows
    resource = None
import time  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from cfmarl.envs import ap_selection_v0  # noqa: E402
from cfmarl.rundir import atomic_write_text, versions  # noqa: E402

SIZES = {96: "medium", 1024: "large", 4096: "xlarge"}


def _timed(fn, seconds: float) -> tuple[int, float]:
    """Call ``fn`` (one step per call) until ``seconds`` have passed, at least once; (calls, elapsed)."""
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while (el := time.perf_counter() - t0) < seconds or n == 0:
        fn()
        n += 1
    return n, el


def bench_core(scenario: str, num_envs: int, seconds: float) -> dict:
    cfg = ap_selection_v0.make_config(scenario, episode_windows=1_000_000)
    core = ap_selection_v0.ApSelectionCore(cfg, num_envs)
    state, _ = core.reset(list(range(num_envs)))
    actions = (np.random.default_rng(0).random((num_envs, cfg.num_links)) < 0.3).astype(np.int8)
    holder = [state]

    def one():
        holder[0], *_ = core.step(holder[0], actions)

    calls, el = _timed(one, seconds)
    tracemalloc.start()
    one()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"link_steps_per_s": calls * num_envs * cfg.num_links / el, "ms_per_window": 1e3 * el / calls,
            "peak_mib": peak / 2**20}


def bench_dict(scenario: str, seconds: float) -> dict:
    env = ap_selection_v0.parallel_env(scenario=scenario, episode_windows=1_000_000)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = {a: int(v) for a, v in zip(env.possible_agents, rng.random(len(env.possible_agents)) < 0.3)}

    def one():
        env.step(actions)

    calls, el = _timed(one, seconds)
    tracemalloc.start()
    one()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    n = len(env.possible_agents)
    return {"link_steps_per_s": calls * n / el, "ms_per_window": 1e3 * el / calls, "peak_mib": peak / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="measuring time per configuration")
    ap.add_argument("--out", default=None, help="write a Markdown report here")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rows = []
    for n_links, scen in SIZES.items():
        c1 = bench_core(scen, 1, args.seconds)
        c8 = bench_core(scen, 8, args.seconds)
        d = bench_dict(scen, args.seconds)
        rows.append((n_links, scen, c1, c8, d))
        print(f"L x K = {n_links:5d} ({scen:6s}): core B=1 {c1['link_steps_per_s']:>12,.0f}  "
              f"core B=8 {c8['link_steps_per_s']:>12,.0f}  dict view {d['link_steps_per_s']:>12,.0f} link-steps/s  "
              f"core/dict = {c1['link_steps_per_s'] / d['link_steps_per_s']:.2f}x", flush=True)
    v = versions()
    lines = [
        "# AP-selection env throughput",
        "",
        "Measured by `python benchmarks/env_throughput.py` (one core pinned, BLAS single-threaded, "
        f"{args.seconds:g} s per configuration). One link-step = one agent decision = one (AP, UE) link over one",
        "APS window of 10 slots (mobility, LoS channels, MRT SINR and SE of all 10 slots).",
        "",
        f"Machine: {v['platform']}, {v['cpu_count']} CPUs; Python {v['python']}, numpy {v['numpy']}, "
        f"pettingzoo {v['pettingzoo']}, cfmarl {v['cfmarl']}.",
        "",
        "| L x K | scenario | core, 1 env [link-steps/s] | core, 8 envs [link-steps/s] | dict view [link-steps/s] "
        "| core(1)/dict | ms/window core(1) | ms/window dict | peak MiB core(1) / core(8) / dict |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n_links, scen, c1, c8, d in rows:
        lines.append(f"| {n_links} | {scen} | {c1['link_steps_per_s']:,.0f} | {c8['link_steps_per_s']:,.0f} | "
                     f"{d['link_steps_per_s']:,.0f} | {c1['link_steps_per_s'] / d['link_steps_per_s']:.2f} | "
                     f"{c1['ms_per_window']:.3f} | {d['ms_per_window']:.3f} | "
                     f"{c1['peak_mib']:.1f} / {c8['peak_mib']:.1f} / {d['peak_mib']:.1f} |")
    if resource is not None:
        lines += ["", f"Process peak RSS over the whole benchmark: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
                  "(peak MiB in the table: memory traced during one window step)."]
    lines += ["", "Targets (issue 2): core >= 1,000,000 link-steps/s at L x K = 1024; dict view within 5x of the core.",
              ""]
    report = "\n".join(lines)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, report)
        print(f"report written to {args.out}")


if __name__ == "__main__":
    main()
