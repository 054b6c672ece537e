"""The validated AP / cost trade-off of AP-selection training runs: does a variant move the curve?

    python benchmarks/aps_frontier.py --out benchmarks/results/aps/frontier \\
        warmup_retarget=benchmarks/results/aps/warmup_retarget link_gain=benchmarks/results/aps/link_gain

Every ``cfmarl train`` run validates its greedy policy every few iterations on the same validation episodes
(``val/active_aps`` and ``val/mean_cost`` in metrics.csv). A variant that only moves a run *along* the trade-off
(a different multiplier rule, target or schedule) reaches other points of the same curve; one that helps the
policy shows fewer active APs at the same validation cost. For each named group of runs (LABEL=FOLDER: every
``metrics.csv`` under ``FOLDER/runs/train-gnn_<mobility>_s*/`` or a copied ``FOLDER/metrics_gnn_<mobility>_s*.csv``)
this writes, per mobility, the fewest validation APs of any validation in each validation-cost bin, as the
median and the range over the group's seeds (``frontier.csv``, ``frontier.md``), and a scatter of every
validation (``frontier.png``). Validations before ``--from-iteration`` (the cloned start and the critic warm-up)
are left out.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BINS = (0.010, 0.013, 0.015, 0.017, 0.019, 0.021, 0.025, 0.030)
MOBILITIES = ("ped", "veh")


def metrics_files(folder: Path, mob: str) -> dict[str, Path]:
    """Seed label -> metrics.csv of the group's runs of one mobility (run folders first, copies second)."""
    found = {p.parent.name.rsplit("_", 1)[-1]: p for p in sorted(folder.glob(f"runs/train-gnn_{mob}_s*/metrics.csv"))}
    for p in sorted(folder.glob(f"metrics_gnn_{mob}_s*.csv")):
        found.setdefault(p.stem.rsplit("_", 1)[-1], p)
    return found


def validations(path: Path, from_iteration: int) -> tuple[np.ndarray, np.ndarray]:
    """(validation cost, validation active APs) of every validation at or after ``from_iteration``."""
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val/mean_cost") not in (None, "", "nan")
                and int(float(r["iteration"])) >= from_iteration]
    return (np.array([float(r["val/mean_cost"]) for r in rows]),
            np.array([float(r["val/active_aps"]) for r in rows]))


def frontier(cost: np.ndarray, aps: np.ndarray, bins=BINS) -> list[float]:
    """Fewest APs of any validation per cost bin [bins[i], bins[i+1]); NaN where a bin is empty."""
    return [float(aps[(cost >= lo) & (cost < hi)].min()) if np.any((cost >= lo) & (cost < hi)) else float("nan")
            for lo, hi in zip(bins[:-1], bins[1:])]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("groups", nargs="+", metavar="LABEL=FOLDER")
    ap.add_argument("--from-iteration", type=int, default=12,
                    help="leave out validations before this iteration (default 12: after a 10-iteration warm-up)")
    ap.add_argument("--out", type=Path, required=True, help="folder for frontier.csv, frontier.md, frontier.png")
    args = ap.parse_args(argv)
    groups = []
    for g in args.groups:
        label, sep, folder = g.partition("=")
        if not sep or not label or not Path(folder).is_dir():
            ap.error(f"group {g!r}: must be LABEL=FOLDER with an existing folder")
        groups.append((label, Path(folder)))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cfmarl import rundir

    rows, lines = [], []
    heads = [f"[{lo:.3f}, {hi:.3f})" for lo, hi in zip(BINS[:-1], BINS[1:])]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=False)
    for ax, mob in zip(axes, MOBILITIES):
        lines += [f"\n{'pedestrian' if mob == 'ped' else 'vehicular'}: fewest validation APs per validation-cost bin, "
                  "median over seeds (min-max)\n", "| variant | seeds | " + " | ".join(heads) + " |",
                  "|---|---|" + "---|" * len(heads)]
        for i, (label, folder) in enumerate(groups):
            files = metrics_files(folder, mob)
            if not files:
                continue
            per_seed = []
            for seed, path in files.items():
                cost, aps = validations(path, args.from_iteration)
                per_seed.append(frontier(cost, aps))
                first = seed == next(iter(files))
                ax.scatter(cost, aps, s=9, alpha=0.55, color=f"C{i}", label=label if first else None)
            arr = np.array(per_seed)
            cells = []
            for j, head in enumerate(heads):
                col = arr[:, j][~np.isnan(arr[:, j])]
                rows.append({"mobility": mob, "variant": label, "seeds": len(files), "cost_bin": head,
                             "median_aps": float(np.median(col)) if col.size else float("nan"),
                             "min_aps": float(col.min()) if col.size else float("nan"),
                             "max_aps": float(col.max()) if col.size else float("nan"), "seeds_in_bin": int(col.size)})
                cells.append(f"{np.median(col):.2f} ({col.min():.2f}-{col.max():.2f})" if col.size > 1 else
                             (f"{col[0]:.2f}" if col.size else "-"))
            lines.append(f"| {label} | {len(files)} | " + " | ".join(cells) + " |")
        ax.axvline(0.02, color="k", lw=0.8, ls="--")
        ax.set(xlabel="validation cost (mean SE shortfall)", ylabel="validation active APs",
               title=f"{'pedestrian' if mob == 'ped' else 'vehicular'} (iterations >= {args.from_iteration})",
               xlim=(0.0, 0.06))
        ax.legend(fontsize=8)
    args.out.mkdir(parents=True, exist_ok=True)
    rundir.write_csv(args.out / "frontier.csv", rows)
    rundir.atomic_write_text(args.out / "frontier.md", "\n".join(
        [f"Validated AP / cost trade-off (`python benchmarks/aps_frontier.py {' '.join(args.groups)} "
         f"--from-iteration {args.from_iteration} --out {args.out}`)"] + lines) + "\n")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    rundir.atomic_write_bytes(args.out / "frontier.png", buf.getvalue())
    plt.close(fig)
    print("\n".join(lines))
    print(f"\nfiles: {args.out}/frontier.md, frontier.csv, frontier.png")


if __name__ == "__main__":
    main()
