"""EA-CGMM's z prior on the URLLC channel transitions: the paper's N(0, I) against a learnt p(z | s, a).

The pipeline's EA-CGMM channel model (next per-UE channel view given the current one) draws heavy-tailed errors:
with z ~ N(0, I) the decoded mixture rarely explains the condition (about one credible component per draw), so
the evidence step falls back to the least bad one (benchmarks/results/urllc/README.md). This probe fits the model
twice on the same rows with the same budget - ``transition_z_prior`` standard and conditional - and measures, on
held-out test transitions and several draw seeds, the absolute error of the draws (mean, median, 99th percentile,
maximum, standardised units), the credible components per draw and the time per draw; persistence (next = now)
is the floor every model should beat. ``--z-draws`` measures each fitted model again with k candidate z per draw
resampled by their importance weights (``transition_z_draws``, a draw-time option: no refit; 1 = the paper).

    cfmarl collect --env urllc --scenario paper --policy random:seed=32 --episodes 150 --seed 32 \\
        --set episode_slots=200 --out datasets/urllc_random
    python benchmarks/urllc_z_prior_probe.py --dataset datasets/urllc_random --out benchmarks/results/urllc

writes ``z_prior_probe.csv`` and ``z_prior_probe.md`` in --out (a row per prior; rows of other budgets kept).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch

FIELDS = ("z_prior", "z_draws", "train_rows", "epochs", "best_epoch", "fit_s", "test_conditions", "draw_seeds", "mae",
          "median_abs", "p99_abs", "max_abs", "credible_components", "fallback_share", "mae_credible", "mae_fallback", "us_per_draw",
          "persistence_mae")


def _credible(model, w: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per row, the number of components whose marginal explains w (eq. 34's test) for the z that ``model.sample``
    draws first from a generator in the same state (0: Alg. 1 falls back to the marginal likelihoods)."""
    from cfmarl.policies.offline.virtual_cmdp import gmm

    _, mu, u = model.draw_mixture(w, generator)
    return gmm.credible(mu, u, w, model.target_dim, model.alpha)[0].sum(-1)


def probe(dataset: Path, z_prior: str, rows: int, epochs: int, conditions: int, draw_seeds: int,
          z_draws=(1,), log=print) -> list[dict]:
    """Fit EA-CGMM with ``z_prior`` once, then measure its draws with each of ``z_draws``: a row per value."""
    from cfmarl.datasets import load_dataset
    from cfmarl.policies.offline.virtual_cmdp.data import split_dataset
    from cfmarl.policies.offline.virtual_cmdp.fit import ModelSpec, build, subsample, tables
    from cfmarl.policies.offline.virtual_cmdp.training import fit

    spec = ModelSpec(transition_z_prior=z_prior, max_train_rows=rows)
    tab = tables(split_dataset(load_dataset(dataset), seed=spec.split_seed))
    x, w = tab.r_next["train"], tab.r_now["train"]
    keep = subsample(torch.arange(x.shape[0]), spec)
    torch.manual_seed(spec.seed)
    model = build("ea_cgmm", {"x": x.shape[1], "cond": w.shape[1]}, spec)
    t0 = time.perf_counter()
    res = fit(model, model.loss, (x[keep], w[keep]), (tab.r_next["val"], tab.r_now["val"]), epochs=epochs,
              batch_size=spec.batch_size, lr=spec.lr, patience=8, seed=spec.seed,
              progress=lambda r: log(f"    {z_prior} epoch {r['epoch']}: val {r['val']:.4g}")
              if r["epoch"] % 5 == 0 else None)
    fit_s = time.perf_counter() - t0
    model.eval()
    n_test = tab.r_now["test"].shape[0]
    pick = torch.as_tensor(np.sort(np.random.default_rng(0).permutation(n_test)[:conditions]))
    wt, yt = tab.r_now["test"][pick], tab.r_next["test"][pick]
    out = []
    for k in z_draws:
        model.z_draws = k
        errs, cred, secs = [], [], 0.0
        with torch.no_grad():
            for s in range(draw_seeds):
                t1 = time.perf_counter()
                y = model.sample(wt, torch.Generator().manual_seed(s))
                secs += time.perf_counter() - t1
                errs.append((y - yt).abs().numpy())
                cred.append(_credible(model, wt, torch.Generator().manual_seed(s)).numpy())
        rows_err, counts = np.concatenate(errs), np.concatenate(cred)  # (draws, features), (draws,)
        e, fell = rows_err.ravel(), counts == 0
        part = lambda mask: float(rows_err[mask].mean()) if mask.any() else float("nan")  # noqa: E731
        out.append({"z_prior": z_prior, "z_draws": k, "train_rows": int(keep.numel()), "epochs": epochs,
                    "best_epoch": res.best_epoch, "fit_s": round(fit_s, 1), "test_conditions": int(pick.numel()),
                    "draw_seeds": draw_seeds, "mae": float(e.mean()), "median_abs": float(np.median(e)),
                    "p99_abs": float(np.quantile(e, 0.99)), "max_abs": float(e.max()),
                    "credible_components": float(counts.mean()), "fallback_share": float(fell.mean()),
                    "mae_credible": part(~fell), "mae_fallback": part(fell),
                    "us_per_draw": 1e6 * secs / (draw_seeds * pick.numel()),
                    "persistence_mae": float((wt - yt).abs().mean())})
    return out


def write(out: Path, rows: list[dict]) -> None:
    from cfmarl.rundir import atomic_write_text

    path = out / "z_prior_probe.csv"
    old = list(csv.DictReader(path.open())) if path.exists() else []
    key = lambda r: (r["z_prior"], str(r.get("z_draws") or 1), str(r["train_rows"]), str(r["epochs"]))  # noqa: E731
    new_keys = {key(r) for r in rows}
    kept = [r for r in old if key(r) not in new_keys]
    # rows written before a column existed (z_draws: 1, the paper's single z)
    allrows = [{k: r.get(k) or ("1" if k == "z_draws" else "") for k in FIELDS} for r in kept]
    allrows += [{k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    lines = [",".join(FIELDS)] + [",".join(str(r[k]) for k in FIELDS) for r in allrows]
    atomic_write_text(path, "\n".join(lines) + "\n")
    md = ["# EA-CGMM's z prior on the URLLC channel transitions", "",
          "`python benchmarks/urllc_z_prior_probe.py` (module docstring); absolute errors of the drawn next "
          "per-UE channel view on held-out test transitions, standardised units.", "",
          "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    md += ["| " + " | ".join(str(r[k]) for k in FIELDS) + " |" for r in allrows]
    atomic_write_text(out / "z_prior_probe.md", "\n".join(md) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True, type=Path, help="a URLLC dataset folder (cfmarl collect)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/urllc"))
    ap.add_argument("--rows", type=int, default=15000, help="training rows (a seeded subsample; pipeline: 15,000)")
    ap.add_argument("--epochs", type=int, default=60, help="epochs at most (patience 8; pipeline: 60)")
    ap.add_argument("--conditions", type=int, default=1000, help="test conditions")
    ap.add_argument("--draw-seeds", type=int, default=4)
    ap.add_argument("--priors", nargs="+", default=["standard", "conditional"], choices=["standard", "conditional"])
    ap.add_argument("--z-draws", nargs="+", type=int, default=[1],
                    help="candidate z per draw to measure each fitted model with (1 = the paper's Alg. 1)")
    args = ap.parse_args(argv)
    if any(k < 1 for k in args.z_draws):
        ap.error(f"--z-draws: integers >= 1, got {args.z_draws}")
    for name in ("rows", "epochs", "conditions", "draw_seeds"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: must be >= 1, got {getattr(args, name)}")
    if not (args.dataset / "manifest.json").exists():
        ap.error(f"--dataset: {args.dataset} has no manifest.json (make one with `cfmarl collect`)")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for prior in args.priors:
        print(f"EA-CGMM, z prior {prior}: fitting on {args.rows} rows, {args.epochs} epochs at most", flush=True)
        for r in probe(args.dataset, prior, args.rows, args.epochs, args.conditions, args.draw_seeds,
                       tuple(args.z_draws)):
            rows.append(r)
            print(f"  z draws {r['z_draws']}: MAE {r['mae']:.3f} (median {r['median_abs']:.3f}, p99 "
                  f"{r['p99_abs']:.2f}, max {r['max_abs']:.3g}), {r['credible_components']:.2f} credible components; "
                  f"{100 * r['fallback_share']:.0f} % of draws fall back (MAE {r['mae_fallback']:.3f} there, "
                  f"{r['mae_credible']:.3f} elsewhere); {r['us_per_draw']:.0f} us per draw; persistence "
                  f"{r['persistence_mae']:.3f}", flush=True)
    write(args.out, rows)
    print(f"Files: {args.out / 'z_prior_probe.csv'}, {args.out / 'z_prior_probe.md'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
