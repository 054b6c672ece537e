"""``cfmarl tune EXPERIMENT.yaml``: grid / random / ASHA / PBT / PB2 over an experiment.

Experiment directory ``<storage>/tune-<name>/`` (a local folder or any
pyarrow-supported URI, e.g. ``s3://bucket/cfmarl``): Tune's experiment state,
one folder per trial (params.json, result.json, progress.csv, TensorBoard
events, checkpoints). Next to it (the same folder for local storage), the
summary: ``trials.csv`` (one row per trial: sampled values, status, last
metrics, fitness, best checkpoint) and ``tune.png`` (return, cost with the
limit, fitness and - for PBT/PB2 - the mutated hyperparameters per trial).

``--resume`` continues an interrupted experiment: finished trials are kept
as they are, unfinished and errored ones continue from their last checkpoint.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from cfmarl import raycluster, rundir
from cfmarl.envs.validation import ConfigError
from cfmarl.experiment import TuneExperiment, load_tune_experiment
from cfmarl.search_space import Space, get_path, to_pb2_bounds, to_tune


def _is_uri(storage: str) -> bool:
    return "://" in storage


def param_space(texp: TuneExperiment, num_samples: int) -> dict:
    """Tune's param_space. Trial i of a grid point gets seed + i: the samples are a grid
    over seed offsets (Tune then runs with num_samples=1), so the trials are deterministic."""
    from ray import tune

    from cfmarl.tune_trainable import BASE_KEY, FITNESS_LIMIT_KEY, SEED_OFFSET_KEY

    exp = texp.exp
    space: dict[str, Any] = {BASE_KEY: texp.base,
                             FITNESS_LIMIT_KEY: exp.tune.fitness_cost_limit or exp.evaluation.judged_limit(exp.algorithm)}
    for key, s in texp.spaces.items():
        space[key] = to_tune(s)
    for key, s in texp.mutations.items():
        if key not in space:  # PBT needs the key in the config: start the population spread over the range
            space[key] = to_tune(s)
    space[SEED_OFFSET_KEY] = tune.grid_search(list(range(num_samples))) if num_samples > 1 else 0
    return space


def _explore(mutations: dict[str, Space]):
    """PBT's perturbation multiplies by 0.8 / 1.2 and can leave the declared range:
    clip back into it (and keep integers integral)."""
    def explore(config: dict) -> dict:
        for key, s in mutations.items():
            if key in config and s.kind in ("uniform", "loguniform", "randint"):
                lo, hi = s.args
                v = min(max(config[key], lo), hi)
                config[key] = int(round(v)) if s.kind == "randint" else float(v)
        return config
    return explore


def scheduler(texp: TuneExperiment, iterations: int):
    t = texp.exp.tune
    if t.scheduler == "fifo":
        return None
    if t.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        return ASHAScheduler(time_attr="training_iteration", max_t=iterations,
                             grace_period=min(t.grace_period, iterations), reduction_factor=t.reduction_factor)
    if t.scheduler == "pbt":
        from ray.tune.schedulers import PopulationBasedTraining

        return PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=t.perturbation_interval,
                                       hyperparam_mutations={k: to_tune(s) for k, s in texp.mutations.items()},
                                       quantile_fraction=t.quantile_fraction,
                                       resample_probability=t.resample_probability,
                                       custom_explore_fn=_explore(texp.mutations), synch=t.synch)
    try:
        from ray.tune.schedulers.pb2 import PB2
        import GPy  # noqa: F401  (PB2's Gaussian process)
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"tune.scheduler: pb2 needs the optional packages GPy and scikit-learn ({exc}); "
                          f"use pbt, or install them") from None
    return PB2(time_attr="training_iteration", perturbation_interval=t.perturbation_interval,
               hyperparam_bounds={k: to_pb2_bounds(k, s) for k, s in texp.mutations.items()},
               quantile_fraction=t.quantile_fraction, synch=t.synch)


def _check_consistency(texp: TuneExperiment) -> None:
    t, tr = texp.exp.tune, texp.exp.training
    if tr.rollback:
        raise ConfigError("training.rollback: goes back to the run's best validated checkpoint, which only "
                          "`cfmarl train` keeps; set it false under `cfmarl tune` (PBT's exploit does the same "
                          "across trials)")
    if (t.scheduler in ("pbt", "pb2") and t.fitness_source == "auto" and tr.validate_every
            and t.perturbation_interval % tr.validate_every):
        raise ConfigError(f"tune.perturbation_interval: must be a multiple of training.validate_every "
                          f"({t.perturbation_interval} vs {tr.validate_every}) so PBT compares fresh validations")


def tune_experiment(path: str, *, address: str | None = None, num_samples: int | None = None,
                    resume: bool = False, fresh: bool = False, storage: str | None = None,
                    iterations: int | None = None, quiet: bool = False, _tuner_callbacks: list | None = None) -> Path:
    """Run (or resume) a Tune experiment; returns the local summary folder."""
    import ray
    from ray import tune

    from cfmarl.tune_trainable import ExperimentTrainable

    texp = load_tune_experiment(path)
    exp = texp.exp
    from cfmarl.policies.learners.registry import get_learner

    if get_learner(exp.algorithm.name).offline is not None:
        raise ConfigError(f"algorithm.name {exp.algorithm.name!r} is an offline learner: `cfmarl train` runs it from "
                          "a dataset; `cfmarl tune` searches RLlib learners only")
    _check_consistency(texp)
    n = num_samples or exp.tune.num_samples
    if n < 1:
        raise ConfigError(f"--num-samples: must be >= 1, got {n}")
    total = iterations or exp.training.iterations
    storage = storage or exp.tune.storage
    root = storage if _is_uri(storage) else str(Path(storage).resolve())
    name = f"tune-{exp.name}"
    exp_path = f"{root.rstrip('/')}/{name}"
    summary_dir = Path(exp_path) if not _is_uri(storage) else Path("runs") / f"{name}-summary"
    if fresh and not _is_uri(storage) and Path(exp_path).exists():
        shutil.rmtree(exp_path)
    can_restore = tune.Tuner.can_restore(exp_path)
    if can_restore and not resume:
        raise ConfigError(f"{exp_path} already holds this experiment: add --resume to continue it or --fresh "
                          f"to start over")
    if resume and not can_restore:
        print(f"Nothing to resume at {exp_path}; starting the experiment.", flush=True)

    started_ray = False
    if address:
        raycluster.connect(address, log_to_driver=False)
        started_ray = True
    elif not ray.is_initialized():
        ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=True,
                 logging_level="ERROR")  # "local": never join a cluster by accident
        started_ray = True
    t0 = time.perf_counter()
    try:
        random.seed(exp.seed)  # PBT explores with Python's global RNG
        np.random.seed(exp.seed)
        if resume and can_restore:
            print(f"Resuming {exp_path}", flush=True)
            tuner = tune.Tuner.restore(exp_path, trainable=ExperimentTrainable, resume_unfinished=True,
                                       resume_errored=True)
        else:
            tuner = _new_tuner(texp, n, total, root, name, quiet, _tuner_callbacks)
            sch = exp.tune.scheduler
            print(f"Tuning {exp.name}: {sch} over {len(texp.spaces)} searched / {len(texp.mutations)} mutated "
                  f"hyperparameters, {n} trial(s) per grid point, {total} iterations each; fitness "
                  f"'{exp.tune.fitness}' -> {exp_path}", flush=True)
        grid = tuner.fit()
        summary_dir.mkdir(parents=True, exist_ok=True)
        rows = summarise(grid, texp, summary_dir)
        _print_summary(rows, texp, exp_path, summary_dir, time.perf_counter() - t0)
        errors = [r for r in rows if r["status"] == "ERROR"]
        if errors:
            print(f"{len(errors)} trial(s) ended in error; `cfmarl tune {path} --resume` retries them.")
        return summary_dir
    finally:
        if started_ray:
            ray.shutdown()


def _new_tuner(texp: TuneExperiment, n: int, total: int, root: str, name: str, quiet: bool, callbacks):
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from cfmarl.tune_trainable import ExperimentTrainable

    exp = texp.exp
    t = exp.tune
    space = param_space(texp, n)
    every = t.checkpoint_every or (t.perturbation_interval if t.scheduler in ("pbt", "pb2")
                                   else exp.training.checkpoint_every)
    return tune.Tuner(
        ExperimentTrainable,
        param_space=space,
        tune_config=tune.TuneConfig(metric=t.metric, mode=t.mode, num_samples=1,  # samples = seed grid
                                    scheduler=scheduler(texp, total),
                                    search_alg=BasicVariantGenerator(random_state=exp.seed),
                                    max_concurrent_trials=t.max_concurrent_trials or None,
                                    reuse_actors=False),
        run_config=tune.RunConfig(
            name=name, storage_path=root, stop={"training_iteration": total},
            checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=every, checkpoint_at_end=True,
                                                    num_to_keep=max(2, exp.training.keep_checkpoints)),
            failure_config=tune.FailureConfig(max_failures=t.max_failures),
            verbose=0 if quiet else 1, callbacks=callbacks))


def summarise(grid, texp: TuneExperiment, out: Path) -> list[dict]:
    """trials.csv and tune.png from a ResultGrid."""
    from cfmarl import plots
    from cfmarl.tune_trainable import sampled_values

    keys = list(dict.fromkeys([*texp.spaces, *texp.mutations, "seed_offset"]))
    decl = texp.exp.env_entry().declaration
    headline = decl.progress[0] if decl.progress else decl.kpis[0].name
    rows, curves = [], {}
    for i, res in enumerate(grid):
        m = res.metrics or {}
        cfg = res.config or {}
        values = sampled_values(cfg)
        trial = str(m.get("trial_id", f"trial{i}"))
        row: dict[str, Any] = {"trial": trial, "status": "ERROR" if res.error else "TERMINATED"}
        for k in keys:
            v = values.get(k, cfg.get(k))
            row[k] = v if v is not None else get_path(texp.base, k)
        for k in ("training_iteration", "fitness", "fitness/return", "fitness/cost", "fitness/feasible",
                  "episode_return", "lagrange/mean_cost_0", "lagrange/multiplier_0", f"kpi/{headline}",
                  "hp/lr", "val/mean_cost", f"val/{headline}"):
            if k in m:
                row[k] = m[k]
        row.update({k: v for k, v in m.items() if k.startswith("hp/") and k not in ("hp/seed",)})  # values in force
        row["checkpoint"] = res.checkpoint.path if res.checkpoint else ""
        row["path"] = res.path
        rows.append(row)
        try:
            df = res.metrics_dataframe
        except Exception:  # noqa: BLE001 - a trial that never reported has no dataframe
            df = None
        if df is not None and len(df):
            curves[trial] = df
    rows.sort(key=lambda r: -_num(r.get("fitness")) if texp.exp.tune.mode == "max" else _num(r.get("fitness")))
    fields = list(dict.fromkeys(k for r in rows for k in r))
    rundir.write_csv(out / "trials.csv", rows, fields=fields)
    if curves:
        limit = texp.exp.tune.fitness_cost_limit or texp.exp.evaluation.judged_limit(texp.exp.algorithm)
        plots.plot_tune_curves(curves, limit, [f"hp/{k.split('.')[-1]}" for k in texp.mutations],
                               f"{texp.exp.name}: {texp.exp.tune.scheduler}", out / "tune.png",
                               kpi=(f"kpi/{headline}", f"{decl.kpi(headline).title} (training)"))
    return rows


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return -math.inf
    return f if math.isfinite(f) else -math.inf


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _print_summary(rows: list[dict], texp: TuneExperiment, exp_path: str, out: Path, seconds: float) -> None:
    keys = [k for k in rows[0] if k in texp.spaces or k in texp.mutations] if rows else []
    print(f"\n{'trial':<14} {'status':<10} {'iters':>5} {'return':>10} {'cost':>8} {'feasible':>8} "
          f"{'fitness':>12}  " + "  ".join(keys))
    for r in rows:
        def f(k, fmt):
            v = r.get(k)
            return fmt.format(v) if isinstance(v, (int, float)) and math.isfinite(v) else "-"
        print(f"{r['trial']:<14} {r['status']:<10} {f('training_iteration', '{:d}'):>5} "
              f"{f('fitness/return', '{:.2f}'):>10} {f('fitness/cost', '{:.4f}'):>8} "
              f"{'yes' if r.get('fitness/feasible') == 1.0 else 'no':>8} {f('fitness', '{:.4g}'):>12}  "
              + "  ".join(_fmt(r.get(k)) for k in keys))
    if rows:
        best = rows[0]
        print(f"\nBest trial {best['trial']} (fitness {best.get('fitness')}); checkpoint {best['checkpoint']}")
    print(f"Done in {seconds:.0f} s. Experiment: {exp_path} (tensorboard --logdir {exp_path}); "
          f"summary: {out / 'trials.csv'}, {out / 'tune.png'}")
