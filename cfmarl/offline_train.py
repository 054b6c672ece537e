"""``cfmarl train`` for offline learners (an ``algorithm.name`` whose registry entry has an offline method):
learning from a recorded dataset without touching the env, then evaluation in the env.

Dataset: ``offline.dataset`` (a ``cfmarl collect`` folder: used as it is when complete, else collected
there) or, when empty, ``<out>/datasets/<env>-<scenario>-<digest>`` collected with the behaviour policies
``offline.behaviours`` (shards alternate between them; default ``[offline.behaviour]``), ``offline.episodes``
episodes, seed ``offline.dataset_seed``, the experiment's env overrides plus ``offline.dataset_overrides``
(e.g. longer recorded trajectories than the test episodes). Every method with the same plan shares it.

Run directory ``<out>/train-<name>/``: experiment.yaml, config.json, versions.json, dataset.json, metrics.csv
(one row per epoch = ``training.iterations`` epochs of ``algorithm.updates_per_iteration`` gradient steps:
mean training losses, held-out losses on the validation episodes, and every ``training.validate_every``
epochs the policy's return, cost and progress KPIs on validation seeds), learning_curves.png,
checkpoints/epoch_NNNNNN/ (atomic; weights, optimisers and random streams, so a resumed run equals an
uninterrupted one), checkpoints/best/ (the best validated epoch), evaluation.csv / evaluation_episodes.csv /
evaluation*.png (the policy against the experiment's baselines on the evaluation seeds).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from cfmarl import rundir
from cfmarl.envs.validation import ConfigError
from cfmarl.experiment import ExperimentConfig, to_dict

MARKER = "offline.json"
HELD_OUT_BATCH = 2048


def method_class(name: str):
    from cfmarl.policies.learners.registry import get_learner

    return get_learner(name).offline()


# ----------------------------------------------------------------------------- dataset
def dataset_plan(exp: ExperimentConfig) -> dict:
    sec = exp.offline
    return {"env": exp.env.name, "scenario": exp.scenario(), "overrides": {**exp.env.overrides, **sec.dataset_overrides},
            "policies": list(sec.behaviours) or [sec.behaviour], "episodes": sec.episodes, "seed": sec.dataset_seed}


def dataset_dir(exp: ExperimentConfig, out: str | Path) -> Path:
    if exp.offline.dataset:
        return Path(exp.offline.dataset)
    plan = dataset_plan(exp)
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:10]
    return Path(out) / "datasets" / f"{exp.env.name}-{exp.scenario().replace(':', '_')}-{digest}"


def ensure_dataset(exp: ExperimentConfig, out: str | Path, quiet: bool, say) -> Path:
    from cfmarl.datasets import collect

    root = dataset_dir(exp, out)
    man = root / "manifest.json"
    if man.exists() and json.loads(man.read_text()).get("complete"):
        return root
    plan = dataset_plan(exp)
    say(f"Collecting the offline dataset: {plan['episodes']} episodes of {plan['env']}/{plan['scenario']} with "
        f"{', '.join(plan['policies'])} -> {root}")
    collect(plan["env"], plan["scenario"], plan["overrides"], plan["policies"], plan["episodes"], plan["seed"], root,
            quiet=quiet)
    return root


# ----------------------------------------------------------------------------- checkpoints
def _save(method, path: Path, meta: dict, rng: np.random.Generator) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    blob = {"weights": method.state_dict(), "optimizers": {k: o.state_dict() for k, o in method.optimizers.items()},
            "gen": method.gen.get_state(), "rng": rng.bit_generator.state}
    buf = io.BytesIO()
    torch.save(blob, buf)
    data = buf.getvalue()
    rundir.atomic_write_bytes(tmp / "method.pt", data)
    rundir.write_json(tmp / MARKER, dict(meta, sha256=hashlib.sha256(data).hexdigest()))
    if path.exists():
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def damage(path: Path) -> str | None:
    """Why the checkpoint folder ``path`` cannot be used, or None."""
    try:
        meta = json.loads((path / MARKER).read_text())
        data = (path / "method.pt").read_bytes()
    except (OSError, ValueError) as exc:
        return f"unreadable ({type(exc).__name__})"
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        return "method.pt does not match its checksum"
    return None


def _epochs(root: Path) -> list[tuple[int, Path]]:
    out = []
    for p in root.glob("epoch_*"):
        if p.is_dir() and p.name[6:].isdigit():
            out.append((int(p.name[6:]), p))
    return sorted(out)


def is_offline_run(spec: str | Path) -> bool:
    """Whether ``spec`` (a path, optionally followed by ``:option=value,...``) is an offline run or checkpoint."""
    p = Path(spec)
    if not p.exists() and ":" in str(spec):
        p = Path(str(spec).rpartition(":")[0])
    if not p.exists():
        return False
    ck = p / "checkpoints"
    return (p / MARKER).exists() or (ck / "best" / MARKER).exists() or any((q / MARKER).exists() for _, q in _epochs(ck))


def checkpoint_of(path: str | Path) -> Path:
    """A checkpoint folder as given, or a run directory's best validated checkpoint (else its newest intact)."""
    p = Path(path)
    if (p / MARKER).exists():
        why = damage(p)
        if why:
            raise ConfigError(f"{p}: damaged checkpoint ({why})")
        return p
    root = p / "checkpoints"
    for cand in [root / "best", *[q for _, q in reversed(_epochs(root))]]:
        if cand.exists() and damage(cand) is None:
            return cand
    raise ConfigError(f"{p}: no intact offline checkpoint (checkpoints/best or checkpoints/epoch_*)")


def load_method(path: str | Path, sampling: dict | None = None):
    """The trained method of a run directory / checkpoint, with sampling options overridden."""
    import torch

    from cfmarl.policies.offline.method import NodeSpec, parse_options

    ck = checkpoint_of(path)
    meta = json.loads((ck / MARKER).read_text())
    cls = method_class(meta["method"])
    exp_alg = _AlgView(**meta["algorithm"])
    method = cls(NodeSpec.from_json(meta["spec"]), parse_options(cls.Options, meta["options"], meta["method"]),
                 exp_alg, meta["seed"])
    blob = torch.load(ck / "method.pt", weights_only=False)
    method.load_state_dict(blob["weights"])
    if sampling:
        method.with_sampling(sampling)
    return method, meta


class _AlgView:
    def __init__(self, lr: float, gamma: float, minibatch_size: int):
        self.lr, self.gamma, self.minibatch_size = lr, gamma, minibatch_size


def controller_from_spec(spec: str, seed: int = 0):
    """``RUN_OR_CHECKPOINT[:option=value,...]`` (sampling options) -> an OfflineController."""
    from cfmarl.policies.baselines.spec import _value
    from cfmarl.policies.offline.method import OfflineController

    path, over = spec, {}
    if not Path(spec).exists() and ":" in spec:
        path, _, opts = spec.rpartition(":")
        for item in filter(None, opts.split(",")):
            k, eq, v = item.partition("=")
            if not eq:
                raise ConfigError(f"policy {spec!r}: options are key=value pairs, got {item!r}")
            over[k.strip()] = _value(v)
    method, meta = load_method(path, over)
    label = Path(path).name.removeprefix("train-")
    return OfflineController(method, label + ("" if not over else ":" + ",".join(f"{k}={v}" for k, v in over.items())),
                             seed=seed)


# ----------------------------------------------------------------------------- training
def train_offline(exp: ExperimentConfig, path: str, out: str = "runs", fresh: bool = False,
                  iterations: int | None = None, quiet: bool = False) -> Path:
    import torch

    from cfmarl.datasets import load_dataset
    from cfmarl.policies.offline.method import make_spec, parse_options, split_episodes
    from cfmarl.selection import better, selection_rule
    from cfmarl.train import _read_rows

    say = (lambda m: print(m, flush=True))
    total = iterations or exp.training.iterations
    run = Path(out) / f"train-{exp.name}"
    ckpt_root = run / "checkpoints"
    if fresh and run.exists():
        shutil.rmtree(run)
    ckpt_root.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(exp.resources.torch_threads)
    rundir.atomic_write_text(run / "experiment.yaml", Path(path).read_text())
    rundir.write_json(run / "config.json", {"experiment": to_dict(exp), "iterations": total, "argv": sys.argv[1:]})
    rundir.write_json(run / "versions.json", rundir.versions())

    entry = exp.env_entry()
    env_cfg = exp.make_env_config()
    core = entry.make_core(env_cfg, 1)
    droot = ensure_dataset(exp, out, quiet, say)
    ds = load_dataset(droot)
    if ds.arrays["obs"].shape[-1] != core.obs_dim:
        raise ConfigError(f"offline.dataset: {droot} holds {ds.arrays['obs'].shape[-1]} observation features per "
                          f"node, env {exp.env.name!r} has {core.obs_dim}")
    train, val = split_episodes(ds, exp.offline.val_fraction, exp.seed)
    rundir.write_json(run / "dataset.json", {"path": str(droot.resolve()), "plan": ds.manifest.get("plan"),
                                             "episodes": ds.episodes, "train_episodes": train.E,
                                             "val_episodes": val.E, "transitions_per_node_step": ds.manifest.get(
                                                 "transitions")})
    del ds  # train / val hold copies of their episodes: the whole dataset need not stay in memory as well
    cls = method_class(exp.algorithm.name)
    options = parse_options(cls.Options, exp.algorithm.options, exp.algorithm.name)
    spec = make_spec(core, entry.declaration, train)
    method = cls(spec, options, exp.algorithm, exp.seed)
    rng = np.random.default_rng(exp.seed)
    method.prepare(train, np.random.default_rng([exp.seed, 1]))
    meta = {"method": exp.algorithm.name, "spec": spec.to_json(), "options": to_dict_options(options),
            "algorithm": {"lr": exp.algorithm.lr, "gamma": exp.algorithm.gamma,
                          "minibatch_size": exp.algorithm.minibatch_size}, "seed": exp.seed,
            "env": exp.env_config(), "name": exp.name}
    start, steps_per_epoch = 0, exp.algorithm.updates_per_iteration
    if steps_per_epoch < 1:
        raise ConfigError("algorithm.updates_per_iteration: offline learners need >= 1 gradient step per epoch")
    for epoch, ck in reversed(_epochs(ckpt_root)):
        why = damage(ck)
        if why:
            say(f"Skipping damaged checkpoint {ck} ({why})")
            continue
        blob = torch.load(ck / "method.pt", weights_only=False)
        method.load_state_dict(blob["weights"])
        for k, o in method.optimizers.items():
            o.load_state_dict(blob["optimizers"][k])
        method.gen.set_state(blob["gen"])
        rng.bit_generator.state = blob["rng"]
        start = epoch
        say(f"Resuming {run} from {ck.name} (epoch {start} of {total}; exact)")
        break
    if start == 0:
        say(f"Training {exp.name}: {exp.algorithm.name} offline on {train.E} episodes x {train.T} steps x {train.N} "
            f"nodes of {droot} ({val.E} held out), {total} epochs of {steps_per_epoch} updates; run directory {run}")
    rows = _read_rows(run / "metrics.csv", start, say)
    best = None
    if (ckpt_root / "best.json").exists() and damage(ckpt_root / "best") is None:
        best = json.loads((ckpt_root / "best.json").read_text())
    val_seed = np.random.default_rng([exp.seed, 2]).integers(2**31)
    t_run = time.perf_counter()
    try:
        for epoch in range(start + 1, total + 1):
            t0 = time.perf_counter()
            method.train()
            sums: dict[str, float] = {}
            for i in range(steps_per_epoch):
                info = method.update(method.sample(train, exp.algorithm.minibatch_size, rng),
                                     (epoch - 1) * steps_per_epoch + i)
                for k, v in info.items():
                    sums[k] = sums.get(k, 0.0) + v
            held = method.held_out(method.sample(val, HELD_OUT_BATCH, np.random.default_rng(val_seed)))
            row = {"iteration": epoch, "time_s": round(time.perf_counter() - t0, 3),
                   "updates": epoch * steps_per_epoch, **{f"loss/{k}": v / steps_per_epoch for k, v in sums.items()},
                   **{f"heldout/{k}": v for k, v in held.items()}}
            if exp.training.validate_every and (epoch % exp.training.validate_every == 0 or epoch == total):
                row.update(validate(exp, method))
                if better(row, best, *selection_rule(exp)):
                    best = {k: v for k, v in row.items() if k.startswith("val/")} | {"iteration": epoch}
                    _save(method, ckpt_root / "best", dict(meta, epoch=epoch), rng)
                    rundir.write_json(ckpt_root / "best.json", best)
            rows = [r for r in rows if r["iteration"] < epoch] + [row]
            rundir.write_csv(run / "metrics.csv", rows, fields=list(dict.fromkeys(k for r in rows for k in r)))
            if not quiet:
                say(_progress(epoch, total, row))
            if epoch % exp.training.checkpoint_every == 0 or epoch == total:
                _save(method, ckpt_root / f"epoch_{epoch:06d}", dict(meta, epoch=epoch), rng)
                for _, old in _epochs(ckpt_root)[:-exp.training.keep_checkpoints]:
                    shutil.rmtree(old, ignore_errors=True)
    except KeyboardInterrupt:
        say(f"\nInterrupted. Last checkpoint: {(_epochs(ckpt_root)[-1:] or [(0, 'none')])[0][1]}. "
            "Re-run the same command to resume.")
        raise
    finally:
        if rows:
            plot_curves(rows, exp, run / "learning_curves.png")
    say(f"Training done in {time.perf_counter() - t_run:.0f} s. Evaluating against the baselines ...")
    if best is not None:  # its weights, with this experiment's sampling options (they may have changed since)
        method, _ = load_method(ckpt_root / "best", {k: getattr(options, k) for k in cls.SAMPLING})
        say(f"Evaluating the best validated epoch ({best['iteration']}: validation cost {best['val/mean_cost']:.4f}, "
            f"return {best['val/team_return']:.4g})")
    summaries = evaluate_method(exp, method, run)
    from cfmarl.evaluate import format_table

    say("\n" + format_table(summaries, entry.declaration, exp.judged_limit()))
    say(f"\nFiles in {run}/: metrics.csv, learning_curves.png, evaluation.csv, evaluation*.png, checkpoints/, "
        f"dataset.json (the dataset: {droot}), config.json, versions.json")
    return run


def to_dict_options(options) -> dict:
    import dataclasses

    return dataclasses.asdict(options)


def _progress(epoch: int, total: int, row: dict) -> str:
    losses = " ".join(f"{k[5:]} {v:.4g}" for k, v in row.items() if k.startswith("loss/"))
    held = " ".join(f"{k[8:]} {v:.4g}" for k, v in row.items() if k.startswith("heldout/") and k.endswith("loss"))
    val = ""
    if "val/team_return" in row:
        val = f" | validation return {row['val/team_return']:.4g} cost {row['val/mean_cost']:.4f}"
    return f"epoch {epoch:>4}/{total} | train {losses} | held-out {held}{val} | {row['time_s']:.1f} s"


def validate(exp: ExperimentConfig, method) -> dict[str, float]:
    from cfmarl.policies.offline.method import OfflineController
    from cfmarl.selection import validate_controller

    out = validate_controller(exp, OfflineController(method, "validation", seed=exp.training.validation_seed))
    method.train()
    return out


def evaluate_method(exp: ExperimentConfig, method, run: Path) -> list[dict]:
    from cfmarl.policies.offline.method import OfflineController
    from cfmarl.train import evaluate_against_baselines

    return evaluate_against_baselines(exp, OfflineController(method, exp.name, seed=exp.evaluation.seed), run)


def plot_curves(rows: list[dict], exp: ExperimentConfig, path: Path) -> None:
    """One panel per loss (training and held-out) and per validation metric, against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cfmarl.plots import save_figure

    keys = list(dict.fromkeys(k for r in rows for k in r))
    losses = [k[5:] for k in keys if k.startswith("loss/")]
    vals = [k for k in keys if k.startswith("val/")]
    panels = len(losses) + len(vals)
    if not panels:
        return
    cols = min(4, panels)
    fig, axes = plt.subplots((panels + cols - 1) // cols, cols, figsize=(4 * cols, 3.2 * ((panels + cols - 1) // cols)),
                             squeeze=False)
    ep = np.array([r["iteration"] for r in rows])

    def col(k):
        return np.array([r.get(k, np.nan) for r in rows], float)

    for ax, name in zip(axes.ravel(), losses + vals):
        if name in losses:
            ax.plot(ep, col(f"loss/{name}"), label="training")
            ax.plot(ep, col(f"heldout/{name}"), label="held-out")
            ax.legend(fontsize=7)
        else:
            m = np.isfinite(col(name))
            ax.plot(ep[m], col(name)[m], marker=".")
            if name == "val/mean_cost":
                ax.axhline(exp.judged_limit(), color="k", ls="--", lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[panels:]:
        ax.axis("off")
    fig.suptitle(f"{exp.name} ({exp.env.name}/{exp.scenario()}, {exp.algorithm.name}, offline)")
    save_figure(fig, path, dpi=100)
