"""MF-TDMA env step: ring-buffer packet queues against the shifting queues they replaced (stop 51).

The core keeps every node's generation and transmission queues as (B N, Q) arrays. Until stop 51 a pop shifted
every queue's Q columns left each slot (``np.take_along_axis``, O(B N Q) per slot whatever was popped); the
ring buffers move a head per queue instead. Both give the same packets in the same order (checked here on every
rollout, and in tests/envs/test_per_node_envs.py against Python lists). This times whole episodes of the core
with the two queue forms alternating in one process and writes the ratio:

    python benchmarks/mftdma_queue_speed.py      # -> benchmarks/results/mftdma/queue_speed.md
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from alternating import alternate, machine_sentence  # benchmarks/ is on sys.path when run as a script

from cfmarl.envs.mf_tdma import core as mf_core

RING_PUSH = mf_core._push  # the core's own push, kept before the shifting form replaces it

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "mftdma"
CASES = (("n8-2:6", "load-proportional"), ("n8-2:6-limited", "equal"), ("n32-8:24", "load-proportional"))


def shift_pop(dest, birth, retry, head, length, k):
    """The replaced pop: the first k[q] packets out, every queue's columns shifted left (``head`` unused)."""
    kmax = int(k.max(initial=0))
    if kmax == 0:
        empty = np.zeros(0, int)
        return empty, np.zeros(0), empty, empty
    take = np.arange(kmax)[None, :] < k[:, None]
    out = (dest[:, :kmax][take], birth[:, :kmax][take], retry[:, :kmax][take] if retry is not None else None,
           np.nonzero(take)[0])
    cap = dest.shape[1]
    idx = np.minimum(np.arange(cap)[None, :] + k[:, None], cap - 1)
    for a in (dest, birth) + ((retry,) if retry is not None else ()):
        a[:] = np.take_along_axis(a, idx, 1)
    length -= k
    return out


def shift_push(dest, birth, retry, head, length, target, p_dest, p_birth, p_retry):
    """The replaced push: packets at columns length + i (the queues always start at column 0): the ring push
    with every head at 0."""
    return RING_PUSH(dest, birth, retry, np.zeros_like(head), length, target, p_dest, p_birth, p_retry)


def episode_seconds(scenario: str, policy: str, shift: bool, envs: int, frames: int) -> tuple[float, str]:
    """Seconds of one batch of episodes and a digest of everything they returned."""
    from cfmarl.evaluate import episode_seeds
    from cfmarl.registry import get_env

    entry = get_env("mftdma")
    ring = mf_core._pop, mf_core._push
    if shift:
        mf_core._pop, mf_core._push = shift_pop, shift_push
    try:
        c = entry.make_core(entry.make_config(scenario, episode_frames=frames), envs)
        ctrl, h = entry.make_baseline(policy), hashlib.sha256()
        t = time.perf_counter()
        state, obs = c.reset(episode_seeds(7, envs))
        for _ in range(frames):
            state, obs, rew, cost, _ = c.step(state, ctrl.act(c, state, obs))
            for a in (obs, rew, cost):
                h.update(np.ascontiguousarray(a).tobytes())
        return time.perf_counter() - t, h.hexdigest()
    finally:
        mf_core._pop, mf_core._push = ring


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--envs", type=int, default=8, help="env copies stepped together")
    ap.add_argument("--frames", type=int, default=200, help="frames per episode")
    ap.add_argument("--repeats", type=int, default=3, help="alternations of the two forms")
    args = ap.parse_args(argv)
    for name in ("envs", "frames", "repeats"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}: must be >= 1, got {getattr(args, name)}")
    from cfmarl.rundir import atomic_write_text

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    lines = []
    for scenario, policy in CASES:
        got = alternate(lambda shift: episode_seconds(scenario, policy, shift, args.envs, args.frames), args.repeats)
        if len({d for runs in got.values() for _, d in runs}) != 1:
            raise SystemExit(f"{scenario} / {policy}: the two queue forms returned different episodes")
        old, new = (statistics.median(s for s, _ in got[shift]) for shift in (True, False))
        steps = args.envs * args.frames / new
        print(f"  {scenario:15s} {policy:18s} shifting {1e3 * old:8.1f} ms, ring {1e3 * new:8.1f} ms ({old / new:.2f}x; "
              f"{steps:,.0f} env frames/s)")
        lines.append(f"| {scenario} | {policy} | {1e3 * old:.1f} | {1e3 * new:.1f} | **{old / new:.2f}** | {steps:,.0f} |")
    text = (f"# MF-TDMA env step: ring-buffer queues vs the shifting queues they replaced\n\n`python "
            f"benchmarks/mftdma_queue_speed.py --envs {args.envs} --frames {args.frames} --repeats {args.repeats}` in "
            f"{time.perf_counter() - t0:.0f} s: {args.envs} env copies x {args.frames} frames per episode batch, the "
            f"two forms alternating in one process (medians over repeats), the same episodes from both (checked). "
            f"{machine_sentence(load0, 'numpy')}\n\n| scenario | policy | shifting [ms] | ring [ms] | speed-up | ring [env frames / s] |\n"
            "|---|---|---:|---:|---:|---:|\n" + "\n".join(lines) + "\n")
    atomic_write_text(out / "queue_speed.md", text)
    print(f"files in {out}: queue_speed.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
