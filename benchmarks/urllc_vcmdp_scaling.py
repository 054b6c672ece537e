"""Fig. 10 of urllc_ee_virtual_cmdp: inference FLOPs of the PPO policy and the virtual CMDP's three modules
as the system (B, U, K, M) grows from (2, 2, 2, 2) to (8, 8, 8, 8), hidden sizes fixed at the paper config's
(tune_configs/urllc_vcmdp_paper.yaml: ModelSpec defaults, policy hidden 256); plus one factor doubled at a
time from (4, 4, 4, 4), to see which of B, U, K, M the cost grows with.

Counted analytically from the layer shapes (policies/offline/virtual_cmdp/complexity.py; tested against
torch's counter), so nothing is fitted and it takes seconds:

    python benchmarks/urllc_vcmdp_scaling.py     # -> benchmarks/results/urllc/vcmdp_scaling.{csv,md,png}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "urllc"
LABEL = {"ppo_policy": "PPO policy (MLP)", "reward_cost_kan": "reward + cost (KAN)",
         "transition_ea_cgmm": "transition (EA-CGMM)", "initial_vae_chmdn": "initial state (VAE-ChMDN)"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from cfmarl.policies.offline.virtual_cmdp.complexity import Sizes, module_flops
    from cfmarl.rundir import atomic_write_bytes, atomic_write_text, write_csv

    diagonal = [Sizes(n, n, n, n) for n in (2, 3, 4, 5, 6, 7, 8)]
    one_at_a_time = [Sizes(8, 4, 4, 4), Sizes(4, 8, 4, 4), Sizes(4, 4, 8, 4), Sizes(4, 4, 4, 8)]
    rows = []
    for group, sizes in (("diagonal", diagonal), ("doubled from (4,4,4,4)", one_at_a_time)):
        for s in sizes:
            f = module_flops(s)
            rows.append({"group": group, "B": s.B, "U": s.U, "K": s.K, "M": s.M, **f})
            print(f"  {str(s):12s} " + "  ".join(f"{LABEL[k].split(' (')[0]} {v:.3g}" for k, v in f.items()),
                  flush=True)
    write_csv(out / "vcmdp_scaling.csv", rows)
    keys = list(LABEL)
    lines = ["# URLLC virtual CMDP: inference FLOPs vs system size (Fig. 10)", "",
             "`python benchmarks/urllc_vcmdp_scaling.py`; FLOPs per env step (policy, reward + cost, transition: U "
             "draws of each per-UE view) and per generated initial state (U draws); counting rules in "
             "`policies/offline/virtual_cmdp/complexity.py` (KAN: an estimate of pykan's spline arithmetic).", "",
             "| (B,U,K,M) | " + " | ".join(LABEL[k] for k in keys) + " |", "|---|" + "---:|" * len(keys)]
    for r in rows:
        lines.append(f"| ({r['B']},{r['U']},{r['K']},{r['M']}) | " + " | ".join(f"{r[k]:.3g}" for k in keys) + " |")
    base = module_flops(Sizes(4, 4, 4, 4))
    lines += ["", "Growth when one factor doubles from (4,4,4,4) (ratio of FLOPs):", "",
              "| doubled | " + " | ".join(LABEL[k] for k in keys) + " |", "|---|" + "---:|" * len(keys)]
    for r, name in zip(rows[len(diagonal):], "BUKM"):
        lines.append(f"| {name} | " + " | ".join(f"{r[k] / base[k]:.2f}x" for k in keys) + " |")
    atomic_write_text(out / "vcmdp_scaling.md", "\n".join(lines) + "\n")

    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, k in enumerate(keys):
        ax.semilogy(range(len(diagonal)), [r[k] for r in rows[:len(diagonal)]], "o-", color=f"C{i}", label=LABEL[k])
    ax.set_xticks(range(len(diagonal)), [str(s) for s in diagonal], fontsize=8)
    ax.set_xlabel("(B, U, K, M)")
    ax.set_ylabel("inference FLOPs")
    ax.set_title("Virtual CMDP modules and PPO policy: FLOPs vs system size", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, dpi=110)
    plt.close(fig)
    atomic_write_bytes(out / "vcmdp_scaling.png", buf.getvalue())
    print(f"files in {out}: vcmdp_scaling.csv, vcmdp_scaling.md, vcmdp_scaling.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
