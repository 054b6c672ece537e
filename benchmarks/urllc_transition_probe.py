"""URLLC virtual CMDP: which transition model makes the learned env's rollouts drift - each per-UE transition
model fitted on its own (cut fits) and rolled out on its own against the recorded test episodes.

* queue view q' | (q, what the action does for the UE): open loop over the test episodes with their recorded
  actions and their **recorded channel states** - only the queues evolve in the model (buffered packets per UE);
* channel view r' | r (action-independent): open loop from the episodes' first states - only the channels evolve
  (mean of the view, SNR dB / 10, and its mean absolute error to the recorded slot).

Both also as one-step errors on the test transitions. ``--clip C`` draws each model's standardised samples clipped
to [-C, C] (0 = none; the pipeline's draw-time option ``models.transition_clip``): a heavy-tailed model drifts
less with it. ``--z-prior conditional --z-draws 4`` gives EA-CGMM the zprior recipe's draws (the paper's are
standard / 1). Fits use the pipeline's builders, trainer, normalisers and split (policies/offline/virtual_cmdp),
cut to ``--rows`` training rows and ``--epochs`` epochs, and are cached in ``--cache`` (a rerun only evaluates).

    python benchmarks/urllc_transition_probe.py --dataset runs/offline-urllc_vcmdp_zprior/dataset \\
        --kinds ea_cgmm cvae --rows 5000 --epochs 20 --clip 0 5 3

Writes ``vcmdp_transition_probe.md`` / ``.csv`` to ``--out`` (default benchmarks/results/urllc).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "urllc"
KINDS = ("ea_cgmm", "cvae", "ddim", "cgan")
RANGES = ((0.0, 0.1), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0))  # fractions of the episode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="a URLLC `cfmarl collect` folder (e.g. <offline run>/dataset)")
    ap.add_argument("--kinds", nargs="+", default=["ea_cgmm", "cvae"], choices=KINDS)
    ap.add_argument("--rows", type=int, default=5000, help="training rows per model (a seeded subsample)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--clip", nargs="+", type=float, default=[0.0], help="draw clips in standardised units (0 = none)")
    ap.add_argument("--views", nargs="+", default=["queue", "channel"], choices=["queue", "channel"])
    ap.add_argument("--z-prior", default="standard", choices=["standard", "conditional"],
                    help="EA-CGMM's z prior (models.transition_z_prior; standard = the paper's)")
    ap.add_argument("--z-draws", type=int, default=1,
                    help="EA-CGMM's z candidates per draw (models.transition_z_draws)")
    ap.add_argument("--cache", help="fitted models (default: <dataset>/../transition_probe)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--stem", default="vcmdp_transition_probe")
    args = ap.parse_args(argv)
    bad = [f"--{k} {v}" for k, v in (("rows", args.rows), ("epochs", args.epochs), ("z-draws", args.z_draws)) if v < 1]
    bad += [f"--clip {c}" for c in args.clip if c < 0]
    if bad:
        print(f"error: {', '.join(bad)}: rows, epochs and z draws must be >= 1, clips >= 0", file=sys.stderr)
        return 2
    import torch

    from cfmarl.datasets import load_dataset
    from cfmarl.envs.validation import ConfigError
    from cfmarl.policies.offline.virtual_cmdp.data import split_dataset
    from cfmarl.policies.offline.virtual_cmdp.fit import ModelSpec, tables
    from cfmarl.policies.offline.virtual_cmdp.rollouts import episodes_of
    from cfmarl.rundir import atomic_write_text, write_csv

    try:
        split = split_dataset(load_dataset(args.dataset), seed=32)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"error: --dataset: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    cache = Path(args.cache) if args.cache else Path(args.dataset).resolve().parent / "transition_probe"
    cache.mkdir(parents=True, exist_ok=True)
    tab, lay = tables(split), split.layout
    ep = episodes_of(split["test"], lay)
    E, T = ep["r"].shape
    spec = ModelSpec(epochs=args.epochs, max_train_rows=args.rows, patience=8, transition_z_prior=args.z_prior,
                     transition_z_draws=args.z_draws)
    print(f"{E} test episodes x {T} slots; fits of {args.rows} rows x {args.epochs} epochs cached in {cache}")
    rows = []
    for kind in args.kinds:
        for view in args.views:
            t0 = time.perf_counter()
            model = _fitted(kind, view, tab, spec, cache, log=print)
            fit_s = time.perf_counter() - t0
            for clip in args.clip:
                t0 = time.perf_counter()
                row = {"view": view, "kind": kind, "clip": clip, "fit_rows": args.rows, "fit_epochs": args.epochs}
                row.update(_evaluate(kind, view, model, spec, tab, lay, ep, split["test"], clip))
                row["eval_seconds"] = round(time.perf_counter() - t0, 1)
                row["fit_seconds"] = round(fit_s, 1)
                rows.append(row)
                print(f"  {view:7s} {kind:8s} clip {clip:g}: one-step MAE {row['one_step_mae']:.3f} (persistence "
                      f"{row['persistence_mae']:.3f}); open loop, last quarter: {row['last_quarter']:.3f} "
                      f"(recorded {row['recorded_last_quarter']:.3f}), MAE to the recording "
                      f"{row['last_quarter_mae']:.3f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / f"{args.stem}.csv", rows)
    cmd = (f"python benchmarks/urllc_transition_probe.py --dataset {args.dataset} --kinds {' '.join(args.kinds)} "
           f"--rows {args.rows} --epochs {args.epochs} --clip {' '.join(f'{c:g}' for c in args.clip)}"
           + ("" if args.views == ["queue", "channel"] else f" --views {' '.join(args.views)}")
           + ("" if args.z_prior == "standard" else f" --z-prior {args.z_prior}")
           + ("" if args.z_draws == 1 else f" --z-draws {args.z_draws}")
           + ("" if args.stem == "vcmdp_transition_probe" else f" --stem {args.stem}"))
    atomic_write_text(out / f"{args.stem}.md", _markdown(rows, cmd, E, T))
    print(f"files in {out}: {args.stem}.md, {args.stem}.csv")
    return 0


def _data(view: str, tab):
    """(target, condition) tables of a view: the pipeline's normalised per-UE tables."""
    return (tab.q_next, tab.q_cond) if view == "queue" else (tab.r_next, tab.r_now)


def _fitted(kind: str, view: str, tab, spec, cache: Path, log=print):
    """The cut fit of one model (cached; an interrupted fit resumes from its per-epoch state)."""
    import torch

    from cfmarl.policies.offline.virtual_cmdp.fit import build, load_model, save_model, subsample
    from cfmarl.policies.offline.virtual_cmdp.training import fit

    y, w = _data(view, tab)
    zp = "_zcond" if kind == "ea_cgmm" and spec.transition_z_prior == "conditional" else ""
    path = cache / f"{view}_{kind}{zp}_{spec.max_train_rows}_{spec.epochs}.pt"
    if path.exists():
        return load_model(path, spec)[1]
    dims = {"x": y["train"].shape[1], "cond": w["train"].shape[1]}
    torch.manual_seed(spec.seed)
    model = build(kind, dims, spec)
    train = (subsample(y["train"], spec), subsample(w["train"], spec))
    if kind == "cgan":
        from cfmarl.policies.offline.virtual_cmdp.generative import fit_gan

        fit_gan(model, *train, epochs=spec.epochs, batch_size=spec.batch_size, lr=2e-4, seed=spec.seed)
    else:
        res = fit(model, model.loss, train, (y["val"], w["val"]), epochs=spec.epochs, batch_size=spec.batch_size,
                  lr=spec.lr, patience=spec.patience, seed=spec.seed, state_file=cache / f".{path.stem}.fit.pt")
        log(f"  fitted {view} {kind}: best epoch {res.best_epoch}, validation loss {res.best_val:.4g}")
    save_model(path, kind, dims, model)
    (cache / f".{path.stem}.fit.pt").unlink(missing_ok=True)
    model.eval()
    return model


def _evaluate(kind, view, model, spec, tab, lay, ep, test, clip: float) -> dict:
    import torch

    from cfmarl.policies.offline.virtual_cmdp.fit import draw

    norm_y = tab.norms["q" if view == "queue" else "ch"]
    norm_w = tab.norms["qc" if view == "queue" else "ch"]
    lam = max(lay.arrival_rate, 1.0)

    clipped = dataclasses.replace(spec, transition_clip=clip)  # the pipeline's own draw-time clip

    def sample(cond: np.ndarray, g) -> np.ndarray:
        c = torch.as_tensor(norm_w(cond))
        with torch.no_grad():
            y = draw(kind, model, len(c), c, clipped, g).numpy().astype(np.float64)
        x = norm_y.inverse(y)
        return lay.snap_queue(x) if view == "queue" else lay.clip_channel(x).astype(np.float64)

    s, s_next, a = test["s"].astype(np.float64), test["s_next"].astype(np.float64), test["a"].astype(np.float64)
    g = torch.Generator().manual_seed(0)
    if view == "queue":  # buffered packets per UE
        now, nxt = lay.ue_queue(s)[:, 0] * lam, lay.ue_queue(s_next)[:, 0] * lam
        pred = sample(lay.queue_condition(s, a), g)[:, 0] * lam
    else:
        now, nxt = lay.ue_channel(s), lay.ue_channel(s_next)
        pred = sample(now, g)
    out = {"one_step_mae": float(np.abs(pred - nxt).mean()), "persistence_mae": float(np.abs(now - nxt).mean()),
           "one_step_max_error": float(np.abs(pred - nxt).max())}
    E, T = ep["r"].shape
    g = torch.Generator().manual_seed(1)
    S, A = ep["s"].astype(np.float64), ep["a"].astype(np.float64)
    if view == "queue":
        q = lay.snap_queue(lay.ue_queue(S[:, 0]))
        traj, real = [], []
        for t in range(T):
            traj.append(q[:, 0].reshape(E, lay.U) * lam)
            real.append(lay.ue_queue(S[:, t])[:, 0].reshape(E, lay.U) * lam)
            obs = lay.assemble(lay.ue_channel(S[:, t]), q)  # the recorded channels, the model's queues
            q = sample(lay.queue_condition(obs, A[:, t]), g)
    else:
        r = lay.ue_channel(S[:, 0])
        traj, real = [], []
        for t in range(T):
            traj.append(r.reshape(E, lay.U, -1))
            real.append(lay.ue_channel(S[:, t]).reshape(E, lay.U, -1))
            r = sample(r, g)
    traj, real = np.stack(traj, 1), np.stack(real, 1)
    for i, (lo, hi) in enumerate(RANGES):
        sl = slice(int(lo * T), max(int(lo * T) + 1, int(hi * T)))
        out[f"range{i}"] = float(traj[:, sl].mean())
        out[f"range{i}_recorded"] = float(real[:, sl].mean())
        out[f"range{i}_mae"] = float(np.abs(traj[:, sl] - real[:, sl]).mean())
    out["last_quarter"], out["recorded_last_quarter"] = out["range3"], out["range3_recorded"]
    out["last_quarter_mae"] = out["range3_mae"]
    return out


def _markdown(rows: list[dict], cmd: str, E: int, T: int) -> str:
    head = " | ".join(f"slots {int(lo * 100)}-{int(hi * 100)} %" for lo, hi in RANGES)
    lines = [
        "# URLLC virtual CMDP: each transition model rolled out on its own", "",
        f"`{cmd}`: {E} held-out test episodes of {T} slots (uniform behaviour policy), recorded actions. Queue view: "
        "the queue model evolves the queues while the channel views are the recorded ones (buffered packets per UE). "
        "Channel view: the channel model evolves the channels from the episodes' first states (mean of the view, SNR "
        "dB / 10). Each cell: the model's mean (its mean absolute error to the recorded slot); 'recorded' = the real "
        "episodes. One step: mean absolute error of one draw on the recorded (s, a) of every test transition; "
        "persistence = predicting no change. clip = standardised draws clipped to [-clip, clip] (0 = none). Cut fits "
        "(the pipeline's builders and trainer on fewer rows and epochs): a probe of the mechanism, not the pipeline's "
        "models.", "",
        f"| view | model | clip | one-step MAE (persistence) | max one-step error | {head} |",
        "|---|---|---:|---:|---:|" + "---:|" * len(RANGES)]
    for view in ("queue", "channel"):
        vr = [r for r in rows if r["view"] == view]
        if vr:
            lines.append(f"| {view} | recorded | | | | " + " | ".join(f"{vr[0][f'range{i}_recorded']:.2f}"
                                                                      for i in range(len(RANGES))) + " |")
        for r in vr:
            lines.append(f"| {view} | {r['kind']} | {r['clip']:g} | {r['one_step_mae']:.3f} "
                         f"({r['persistence_mae']:.3f}) "
                         f"| {r['one_step_max_error']:.1f} | "
                         + " | ".join(f"{r[f'range{i}']:.2f} ({r[f'range{i}_mae']:.2f})" for i in range(len(RANGES)))
                         + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
