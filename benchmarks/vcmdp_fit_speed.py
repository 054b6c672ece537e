"""URLLC virtual CMDP: one EA-CGMM training step with the packed mixture loss against the dense precision factors.

The fit's loss is ln p(x | z) of the decoded Gaussian mixture. The dense form (``gmm.gmm_log_prob`` on
``VaeChMdn.mixture``) builds every component's (D, D) upper-triangular precision factor, fills it and
back-propagates through it; the packed form (``VaeChMdn.log_prob_given_z``, ``gmm.packed_component_log_prob``)
sums U (x - mu) from the D (D - 1) / 2 network outputs directly. Both give the same value and gradients
(tests/offline/test_gmm.py); this times a whole training step (forward, backward, Adam) of the pipeline's
models - the per-UE channel view (D = 96, the paper config) and the queue view (D = 24) - with the two forms
alternating in one process, and writes the ratio:

    python benchmarks/vcmdp_fit_speed.py      # -> benchmarks/results/urllc/vcmdp_fit_speed.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from alternating import alternate, machine_sentence  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "urllc"
# (name, target dim, condition dim): the paper scenario's per-UE views (models manifest, `dims`)
VIEWS = (("channel r' given (r, a)", 48, 48), ("queue q' given (q, a)", 2, 22))


def step_seconds(target: int, cond: int, packed: bool, steps: int, batch: int, seed: int = 0) -> float:
    """Median seconds of one training step (ModelSpec's defaults: 8 components, latent 16, hidden 128, the
    conditional z prior of the zprior recipe)."""
    import torch

    from cfmarl.policies.offline.virtual_cmdp import gmm
    from cfmarl.policies.offline.virtual_cmdp.vae_chmdn import EaCgmm

    torch.manual_seed(seed)
    model = EaCgmm(target, cond, components=8, latent=16, hidden=128, z_prior="conditional")
    if not packed:  # the dense path: every (D, D) factor formed
        joint = model.joint
        joint.log_prob_given_z = lambda x, z: gmm.gmm_log_prob(x, *joint.mixture(z))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    y, w = torch.randn(batch, target), torch.randn(batch, cond)
    times = []
    for i in range(steps + 2):
        t = time.perf_counter()
        opt.zero_grad()
        model.loss(y, w).backward()
        opt.step()
        if i >= 2:  # warm-up steps not timed
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--steps", type=int, default=10, help="timed steps per form and repeat")
    ap.add_argument("--repeats", type=int, default=3, help="alternations of the two forms")
    ap.add_argument("--batch", type=int, default=256, help="rows per step (the pipeline's batch_size)")
    args = ap.parse_args(argv)
    for name in ("steps", "repeats", "batch"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}: must be >= 1, got {getattr(args, name)}")
    import torch

    from cfmarl.rundir import atomic_write_text

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0, load0 = time.perf_counter(), os.getloadavg()[0]
    lines = []
    for name, target, cond in VIEWS:
        got = alternate(lambda dense: step_seconds(target, cond, not dense, args.steps, args.batch), args.repeats)
        dense, packed = statistics.median(got[True]), statistics.median(got[False])
        print(f"  {name:24s} D = {target + cond:3d}: dense {1e3 * dense:7.1f} ms, packed {1e3 * packed:7.1f} ms "
              f"per step ({dense / packed:.2f}x)")
        lines.append(f"| {name} | {target + cond} | {1e3 * dense:.1f} | {1e3 * packed:.1f} | **{dense / packed:.2f}** |")
    text = (f"# EA-CGMM training step: packed mixture loss vs dense precision factors\n\n`python "
            f"benchmarks/vcmdp_fit_speed.py --steps {args.steps} --repeats {args.repeats} --batch {args.batch}` in "
            f"{time.perf_counter() - t0:.0f} s, 1 torch thread, the two forms alternating in one process (medians "
            f"over repeats of the median step). {machine_sentence(load0, 'torch')}\n\n| view | joint D | dense [ms / step] | packed [ms / step] | speed-up |\n"
            "|---|---:|---:|---:|---:|\n" + "\n".join(lines) + "\n")
    atomic_write_text(out / "vcmdp_fit_speed.md", text)
    print(f"files in {out}: vcmdp_fit_speed.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
