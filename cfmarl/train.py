"""``cfmarl train EXPERIMENT.yaml``: a local Ray training run in a resumable run directory.

Run directory ``<out>/train-<name>/``:
  experiment.yaml (as given), config.json (resolved), versions.json,
  pretrain.json (behaviour-cloning accuracy, if enabled), metrics.csv (one row
  per iteration), tb/ (TensorBoard), checkpoints/iter_NNNNNN/ (atomic: written
  to a temporary folder, then renamed; with the runtime state of every env runner
  and a manifest of checksums, see cfmarl/checkpoints.py), learning_curves.png, and after the last
  iteration evaluation.csv / evaluation_episodes.csv / evaluation.png (the
  trained policy against the baselines on fixed evaluation seeds).

Re-running the same command after an interruption (SIGINT or SIGKILL) resumes
exactly from the newest intact checkpoint: metrics rows after it are dropped and
recomputed, and equal those of an uninterrupted run with the same seed. Damaged
checkpoints are skipped with a message; ``--fresh`` starts over.
"""

from __future__ import annotations

import csv
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cfmarl import checkpoints, rundir, selection
from cfmarl.envs.validation import ConfigError
from cfmarl.experiment import ExperimentConfig, load_experiment, to_dict

MODULE = "shared"


def metrics_row(it: int, result: dict, elapsed: float) -> dict[str, float]:
    """Flatten one RLlib result into the columns of metrics.csv."""
    er = result.get("env_runners", {})
    lr = result.get("learners", {}).get(MODULE, {})
    row: dict[str, Any] = {"iteration": it, "time_s": round(elapsed, 3),
                           "env_steps": result.get("num_env_steps_sampled_lifetime", float("nan")),
                           "episode_return": er.get("episode_return_mean", float("nan"))}
    for k, v in er.items():
        if k.startswith(("kpi/", "cost/")):
            row[k] = v
    for k in ("policy_loss", "vf_loss", "cost_vf_loss", "entropy", "qf_loss", "cf_loss", "alpha_loss"):
        if k in lr:
            row[f"loss/{k}"] = lr[k]
    for k in ("alpha_value", "q_mean", "qc_mean", "td_error_mean", "logp_mean"):  # off-policy learners
        if k in lr:
            row[f"learner/{k}"] = lr[k]
    for k, v in lr.items():
        if k.startswith(("lagrange/", "entropy_floor/", "entropy_ceiling/", "entropy_band/")):
            row[k] = v
        elif k.endswith("_learning_rate"):  # each optimizer's lr after the update (algorithm.lr_schedule moves it)
            row[f"learner/{k}"] = v
    return {k: float(v) if not isinstance(v, (int, str)) else v for k, v in row.items()}


def _save_checkpoint(algo, ckpt_root: Path, it: int, keep: int) -> Path:
    final = checkpoints.save(algo, ckpt_root / f"iter_{it:06d}", iteration=it)
    for _, old in checkpoints.numbered(ckpt_root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _module(algo):
    """The trained RLModule in the (local) learner."""
    return algo.learner_group._learner.module[MODULE]


def force_sync_weights(algo) -> None:
    """Push the learner's weights into every env runner, whatever their sequence
    numbers (RLLIB_NOTES: after a restore, runners may skip 'older' weights)."""
    weights = algo.learner_group.get_weights()

    def _set(runner):
        for mid, w in weights.items():
            runner.module[mid].set_state(w)
        return True

    algo.env_runner_group.foreach_env_runner(_set, local_env_runner=True)


def reseed_envs(algo, seed: int, iteration: int, stream: int | None = None) -> None:
    """Give every env a fresh stream derived from (seed, iteration[, stream]) after a
    resume, so a resumed run does not replay the episodes of its first iterations
    (``stream``: e.g. the Tune trial index, so a PBT exploiter and its donor differ)."""
    extra = [] if stream is None else [int(stream)]

    def _reseed(runner):
        envs = getattr(runner.env, "envs", None) or [runner.env]
        for i, e in enumerate(envs):
            target = getattr(e, "unwrapped", e)
            if hasattr(target, "reseed"):
                target.reseed([seed, iteration, *extra, getattr(runner, "worker_index", 0), i])
        return True

    algo.env_runner_group.foreach_env_runner(_reseed, local_env_runner=True)


def validate(exp: ExperimentConfig, algo) -> dict[str, float]:
    """The trained module's validation (:func:`cfmarl.selection.validate`)."""
    return selection.validate(exp, _module(algo))


def retarget(exp: ExperimentConfig, algo, val: dict) -> dict[str, float]:
    """``training.retarget_rate``: steer the learners' training target by the judged policy's validation (its
    selection bound, cost + z standard errors) towards ``retarget_aim`` x the judged limit; with
    ``algorithm.multiplier_per_graph`` each size of the mixture by its own validation. Returns the new target as
    ``retarget/cost_target`` (each size's also as ``retarget/<size>/cost_target``), from the next iteration on."""
    limit, z = selection.selection_rule(exp)
    t = exp.training
    sizes = [exp.scale_label(), *exp.mix_sizes()] if exp.env.mix and exp.algorithm.multiplier_per_graph else []
    cost = [selection.upper_bound(val, z, s) for s in sizes] if sizes else selection.upper_bound(val, z)
    results = algo.learner_group.foreach_learner(
        lambda learner: learner.retarget(cost, t.retarget_aim * limit, t.retarget_rate,
                                         (t.retarget_bounds[0] * limit, t.retarget_bounds[1] * limit)))
    targets = []  # one per learner, all equal (same state, same call)
    for r in results:
        if not r.ok:
            raise r.get()
        targets.append(r.get())
    new = targets[0][MODULE]
    out = {"retarget/cost_target": float(new[0])}
    per = len(new) // max(len(sizes), 1)
    out.update({f"retarget/{s}/cost_target": float(new[g * per]) for g, s in enumerate(sizes)})
    return out


def rollback(exp: ExperimentConfig, algo, best_path: Path) -> dict[str, float]:
    """``training.rollback``: replace the learner's weights by the best validated checkpoint's (in the runners
    too), keep its multipliers, targets and optimizer moments, and multiply its learning rate by
    ``training.rollback_lr_factor``. Returns ``rollback/lr_scale`` (the product of the factors so far)."""
    from cfmarl.policies.module_controller import load_module

    _module(algo).load_state_dict(load_module(best_path).state_dict())
    force_sync_weights(algo)
    scales = [r.get() for r in algo.learner_group.foreach_learner(
        lambda learner: learner.scale_lr(exp.training.rollback_lr_factor))]
    return {"rollback/lr_scale": float(scales[0][MODULE])}


def rule_breaks_in_a_row(exp: ExperimentConfig, rows: list[dict]) -> int:
    """Validations in ``rows`` (metrics.csv, oldest first) that broke the selection rule since the last one that
    kept it or the last rollback - what ``training.rollback_patience`` counts, recomputed on a resume."""
    limit, z = selection.selection_rule(exp)
    n = 0
    for r in rows:
        if "val/mean_cost" in r:
            n = n + 1 if selection.upper_bound(r, z) > limit else 0
        if "rollback/to_iteration" in r:
            n = 0
    return n


def _read_rows(path: Path, upto: int, say) -> list[dict]:
    """metrics.csv rows up to iteration ``upto``; unreadable (e.g. truncated) rows are dropped with a
    message (rows after ``upto`` are recomputed anyway)."""
    if not path.exists():
        return []
    try:
        with open(path, newline="") as f:
            raw = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        say(f"{path}: unreadable ({exc}); earlier rows are lost, iterations from {upto + 1} on are written again")
        return []
    if raw and "iteration" not in raw[0]:
        say(f"{path}: no header row, its rows are dropped")
        raw = []
    header, out, bad = (raw[0] if raw else []), [], []
    for n, cells in enumerate(raw[1:], start=2):
        try:
            if len(cells) != len(header):
                raise ValueError
            r = {k: (int(v) if k == "iteration" else float(v)) for k, v in zip(header, cells) if v != ""}
            if r["iteration"] <= upto:
                out.append(r)
        except (ValueError, KeyError):
            bad.append(n)
    if bad:
        say(f"{path}: dropped unreadable line(s) {', '.join(map(str, bad))} (truncated?)")
    missing = sorted(set(range(1, upto + 1)) - {r["iteration"] for r in out})
    if missing:
        say(f"{path}: no rows for iteration(s) {_ranges(missing)} before the checkpoint; they stay missing")
    return out


def _ranges(xs: list[int]) -> str:
    out, start = [], xs[0]
    for a, b in zip(xs, xs[1:] + [None]):
        if b != a + 1:
            out.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(out)


def init_from_checkpoint(exp: ExperimentConfig, algo, say) -> None:
    """Copy the policy weights of another run (possibly another graph size) into this one."""
    from cfmarl.policies.module_controller import latest_checkpoint_of, load_module, rebuild_for_env

    ckpt = latest_checkpoint_of(exp.training.init_from)
    src = rebuild_for_env(load_module(ckpt), exp.env_config())
    _module(algo).load_state_dict(src.state_dict())
    force_sync_weights(algo)
    say(f"Initialised the policy from {ckpt}")


def pretrain(exp: ExperimentConfig, algo, run: Path | None, say) -> dict:
    """Behaviour cloning from the teacher, written into the learner and the runners."""
    from cfmarl.policies.pretrain import behaviour_clone, collect_teacher_dataset

    entry = exp.env_entry()
    teacher = entry.make_baseline(exp.pretrain.teacher)
    learner = algo.learner_group._learner
    module = learner.module[MODULE]
    t0 = time.perf_counter()
    cfgs = exp.size_env_configs()
    if len(cfgs) == 1:
        obs, y = collect_teacher_dataset(lambda n: entry.make_core(cfgs[0], n), teacher, exp.pretrain.episodes,
                                         seed=exp.seed + 7919, n_max=module.n_max)
    else:  # a mixture of sizes: the episodes split evenly over the sizes, padded to the largest, with graph_id
        parts = []
        for g, cfg in enumerate(cfgs):
            o, a = collect_teacher_dataset(lambda n, c=cfg: entry.make_core(c, n), teacher,
                                           max(1, exp.pretrain.episodes // len(cfgs)), seed=exp.seed + 7919 + g,
                                           n_max=module.n_max)
            o["graph_id"] = np.full((a.shape[0], 1), g, np.float32)
            pad = [(0, 0), (0, module.n_max - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
            parts.append((o, np.pad(a, pad)))
        obs = {k: np.concatenate([o[k] for o, _ in parts]) for k in parts[0][0]}
        y = np.concatenate([a for _, a in parts])
    say(f"Pretraining: {y.shape[0]} samples x {y.shape[1]} nodes from {exp.pretrain.teacher} "
        f"({time.perf_counter() - t0:.1f} s); {exp.pretrain.epochs} epochs of behaviour cloning")
    every = max(1, exp.pretrain.epochs // 5)

    def on_epoch(epoch: int, loss: float) -> None:
        if (epoch + 1) % every == 0 or epoch + 1 == exp.pretrain.epochs:
            say(f"  BC epoch {epoch + 1}/{exp.pretrain.epochs}: loss {loss:.4f} ({time.perf_counter() - t0:.0f} s)")

    res = behaviour_clone(module, obs, y, epochs=exp.pretrain.epochs, lr=exp.pretrain.lr,
                          minibatch_size=exp.pretrain.minibatch_size, seed=exp.seed, loss=exp.pretrain.loss,
                          label_smoothing=exp.pretrain.label_smoothing,
                          on_epoch=on_epoch)
    force_sync_weights(algo)
    info = {"teacher": exp.pretrain.teacher, "samples": res.samples, "nodes": int(y.shape[1]), "metric": res.metric,
            "train_score": res.train_score, "val_score": res.val_score, "final_loss": res.final_loss,
            "seconds": time.perf_counter() - t0}
    if res.metric == "accuracy":  # what always taking the teacher's most common action would score
        info["majority_score"] = res.majority
    if run is not None:
        rundir.write_json(run / "pretrain.json", info)
    say(f"Pretraining done: {res.describe()}")
    return info


def evaluate_final(exp: ExperimentConfig, module, run: Path, say) -> list[dict]:
    from cfmarl.policies.module_controller import controller_for

    return evaluate_against_baselines(exp, controller_for(module, exp.name, stochastic=exp.evaluation.stochastic,
                                                          seed=exp.evaluation.seed), run)


def evaluate_against_baselines(exp: ExperimentConfig, controller, run: Path) -> list[dict]:
    """The trained controller and the experiment's baselines on the evaluation seeds: evaluation.csv,
    evaluation_episodes.csv and the evaluation figures in ``run`` (RLlib and offline runs)."""
    from cfmarl import evaluate, plots

    entry = exp.env_entry()
    env_cfg = exp.make_env_config()
    seeds = evaluate.episode_seeds(exp.evaluation.seed, exp.evaluation.episodes)
    controllers = [controller] + evaluate.make_baselines(entry, exp.baselines())
    results = [evaluate.run_policy(lambda n: entry.make_core(env_cfg, n), c, seeds) for c in controllers]
    summaries = [r.summary() for r in results]
    rundir.write_csv(run / "evaluation.csv", summaries)
    rundir.write_csv(run / "evaluation_episodes.csv", [dict(policy=r.policy, **e) for r in results for e in r.episodes])
    plots.plot_evaluation(entry.declaration, results, summaries, env_cfg,
                          f"{exp.name}: evaluation on {exp.evaluation.episodes} episodes (seed {exp.evaluation.seed})",
                          run, stem="evaluation")
    return summaries


def train(path: str, out: str = "runs", fresh: bool = False, iterations: int | None = None,
          quiet: bool = False) -> Path:
    import ray
    import torch

    exp = load_experiment(path)
    from cfmarl.policies.learners.registry import get_learner

    if get_learner(exp.algorithm.name).offline is not None:
        from cfmarl.offline_train import train_offline

        return train_offline(exp, path, out=out, fresh=fresh, iterations=iterations, quiet=quiet)
    if exp.training.init_from:  # a wrong path is one line before Ray starts, not a traceback after
        from cfmarl.policies.module_controller import latest_checkpoint_of

        try:
            latest_checkpoint_of(exp.training.init_from, say=lambda m: None)
        except ValueError as exc:
            raise ConfigError(f"training.init_from: {exc}") from None
    total = iterations or exp.training.iterations
    run = Path(out) / f"train-{exp.name}"
    ckpt_root = run / "checkpoints"
    if fresh and run.exists():
        shutil.rmtree(run)
    ckpt_root.mkdir(parents=True, exist_ok=True)
    say = (lambda m: print(m, flush=True))
    checkpoints.remove_leftovers(ckpt_root)
    latest = checkpoints.newest_intact(ckpt_root, say)
    rundir.atomic_write_text(run / "experiment.yaml", Path(path).read_text())
    rundir.write_json(run / "config.json", {"experiment": to_dict(exp), "iterations": total, "argv": sys.argv[1:]})
    rundir.write_json(run / "versions.json", rundir.versions())

    from cfmarl.algo_builder import build_algo_config

    torch.set_num_threads(exp.resources.torch_threads)
    config = build_algo_config(exp)
    started_ray = False
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=max(2, exp.resources.num_env_runners + 1), include_dashboard=False,
                 log_to_driver=False, configure_logging=True, logging_level="ERROR")
        started_ray = True
    algo = config.build_algo()
    try:
        start = 0
        if latest is not None:
            start, ckpt = latest
            exact = checkpoints.restore(algo, ckpt)
            force_sync_weights(algo)
            if not exact:  # a checkpoint without runtime state: fresh env streams, not a replay of the first ones
                reseed_envs(algo, exp.seed, start)
            from cfmarl.policies.learners.registry import get_learner

            if exact and get_learner(exp.algorithm.name).off_policy and not exp.algorithm.replay_in_checkpoint:
                exact = False
                why = "algorithm.replay_in_checkpoint is false, so the replay buffer starts empty"
            else:
                why = "it has no runtime state, so envs are reseeded"
            say(f"Resuming {run} from {ckpt.name} (iteration {start} of {total})"
                + ("" if exact else f"; {why} (not an exact resume)"))
        else:
            say(f"Training {exp.name}: {exp.env.name}/{exp.scenario()}, {exp.algorithm.name} on a {exp.model.mode}"
                f"{'/' + exp.model.encoder if exp.model.mode == 'graph' else ''} model, {total} iterations of "
                f"{exp.algorithm.train_batch_size} env steps; run directory {run}")
            if exp.training.init_from:
                init_from_checkpoint(exp, algo, say)
            if exp.pretrain.enabled:
                pretrain(exp, algo, run, say)
        rows = _read_rows(run / "metrics.csv", start, say)
        best = selection.read_best(ckpt_root, say)
        if start == 0 and best is None and exp.training.validate_every and (exp.training.init_from or exp.pretrain.enabled):
            best = dict(validate(exp, algo), iteration=0)  # the starting policy is a candidate: fine-tuning
            checkpoints.save(algo, ckpt_root / "best", runtime=False, iteration=0)  # never ends below it
            rundir.write_json(ckpt_root / "best.json", best)
            say("Validated the starting policy: " + ", ".join(f"{k[4:]} {v:.4g}" for k, v in best.items()
                                                              if selection.shown(k)))
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(str(run / "tb"), purge_step=start + 1)
        breaks = rule_breaks_in_a_row(exp, rows)  # validations since the last feasible one or rollback
        t_run = time.perf_counter()
        interrupted = False
        try:
            for it in range(start + 1, total + 1):
                t0 = time.perf_counter()
                result = algo.train()
                row = metrics_row(it, result, time.perf_counter() - t0)
                rows.append(row)
                rundir.write_csv(run / "metrics.csv", rows, fields=list(dict.fromkeys(k for r in rows for k in r)))
                for k, v in row.items():
                    if k != "iteration" and isinstance(v, float) and np.isfinite(v):
                        writer.add_scalar(k, v, it)
                writer.flush()
                if not quiet:
                    say(_progress_line(it, total, row, exp))
                if exp.training.validate_every and (it % exp.training.validate_every == 0 or it == total):
                    val = validate(exp, algo)
                    row.update(val)
                    if exp.training.retarget_rate:
                        row.update(retarget(exp, algo, val))
                    limit, z = selection.selection_rule(exp)
                    breaks = breaks + 1 if selection.upper_bound(val, z) > limit else 0
                    if selection.better(val, best, limit, z) or selection.revalidated(val, best):
                        best = dict(val, iteration=it)
                        checkpoints.save(algo, ckpt_root / "best", runtime=False, iteration=it)
                        rundir.write_json(ckpt_root / "best.json", best)
                    elif (exp.training.rollback and breaks >= exp.training.rollback_patience
                          and selection.upper_bound(best, z) <= limit and checkpoints.damage(ckpt_root / "best") is None):
                        breaks = 0
                        row.update(rollback(exp, algo, ckpt_root / "best"), **{"rollback/to_iteration": best[
                            "iteration"]})
                        if not quiet:
                            say(f"  rolled back to the best validated policy (iteration {best['iteration']}); lr x "
                                f"{row['rollback/lr_scale']:.3g}")
                    rundir.write_csv(run / "metrics.csv", rows, fields=list(dict.fromkeys(k for r in rows for k in r)))
                if it % exp.training.checkpoint_every == 0 or it == total:
                    _save_checkpoint(algo, ckpt_root, it, exp.training.keep_checkpoints)
        except KeyboardInterrupt:
            interrupted = True
        writer.close()
        from cfmarl import plots

        if rows:
            plots.plot_learning_curves(rows, exp, run / "learning_curves.png")
        if interrupted:
            last = checkpoints.numbered(ckpt_root)[-1:]
            say(f"\nInterrupted. Last checkpoint: {last[0][1] if last else 'none'}. "
                f"Re-run the same command to resume.")
            raise KeyboardInterrupt
        say(f"Training done in {time.perf_counter() - t_run:.0f} s. Evaluating against the baselines ...")
        module = _module(algo)
        if best is not None and checkpoints.damage(ckpt_root / "best") is None:
            from cfmarl.policies.module_controller import load_module

            module = load_module(ckpt_root / "best")
            shown = ", ".join(f"{k[4:]} {v:.4g}" for k, v in best.items() if selection.shown(k) and k != "val/mean_cost")
            say(f"Evaluating the best validated checkpoint (iteration {best['iteration']}: validation cost "
                f"{best['val/mean_cost']:.4f}, {shown})")
        summaries = evaluate_final(exp, module, run, say)
        from cfmarl.evaluate import format_table

        say("\n" + format_table(summaries, exp.env_entry().declaration, exp.judged_limit()))
        say(f"\nFiles in {run}/: metrics.csv, learning_curves.png, evaluation.csv, evaluation*.png, "
            f"checkpoints/, tb/ (tensorboard --logdir {run / 'tb'}), config.json, versions.json")
        return run
    finally:
        algo.stop()
        if started_ray:
            ray.shutdown()


def indexed_keys(row: dict, prefix: str) -> list[str]:
    """The keys ``prefix<i>`` of ``row``, in order of i."""
    return sorted((k for k in row if k.startswith(prefix) and k[len(prefix):].isdigit()),
                  key=lambda k: int(k[len(prefix):]))


def _progress_line(it: int, total: int, row: dict, exp: ExperimentConfig) -> str:
    def g(k, fmt="{:.3f}"):
        v = row.get(k)
        return fmt.format(v) if isinstance(v, float) and np.isfinite(v) else "-"
    decl = exp.env_entry().declaration
    # every multiplier and the cost it follows (several: one per constraint, or per size with multiplier_per_graph)
    costs = indexed_keys(row, "lagrange/mean_cost_") or ["cost/mean_node_cost_0"]
    cost = "/".join(g(k, "{:.4f}") for k in costs)
    kpis = " | ".join(f"{decl.kpi(k).label or k} {g('kpi/' + k, decl.kpi(k).fmt)}" for k in decl.progress)
    lams = indexed_keys(row, "lagrange/multiplier_")
    lam = f" | lambda {'/'.join(g(k) for k in lams)}" if lams else ""
    return (f"iter {it:>4}/{total} | return {g('episode_return', '{:.1f}')} | cost {cost}"
            f" (limit {row.get('lagrange/cost_limit_0', exp.algorithm.cost_limit):.4g}){lam} | {kpis} | "
            f"{row['time_s']:.1f} s")
