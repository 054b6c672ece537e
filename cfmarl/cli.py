"""The ``cfmarl`` command line: one entry point, one sub-command per task.

    cfmarl envs
    cfmarl evaluate --env ENV --scenario SCENARIO --policy BASELINE_OR_RUN --episodes 20 --seed 0
    cfmarl collect --env ENV --scenario SCENARIO --policy BASELINE --episodes 150 --out DATASET_DIR
    (README.md has worked examples for every env)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from cfmarl.envs.validation import ActionError, ConfigError
from cfmarl.registry import DEFAULT_ENV


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        for flag in ("out", "storage"):
            if getattr(args, flag, None):
                check_output_dir(getattr(args, flag), f"--{flag}")
        if getattr(args, "address", None):  # fail in seconds, not after ray.init's minutes of retries
            from cfmarl.raycluster import check_reachable

            check_reachable(args.address)
        return args.func(args)
    except (ConfigError, ActionError, ValueError) as exc:
        print(f"cfmarl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the file system refused (full disk, permissions, a file where a folder should be)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"cfmarl {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


def check_output_dir(path: str, flag: str) -> None:
    """Create the output folder now (the command would anyway) so that an impossible or unwritable one
    is one clear line before any work starts; URIs (s3://, gs://, ...) are left to their libraries."""
    if "://" in path:
        return
    from pathlib import Path

    target = Path(path)
    for parent in [target, *target.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {path!r}: {str(parent)!r} is a file, not a folder")
            break
    try:
        target.mkdir(parents=True, exist_ok=True)
        import tempfile

        with tempfile.NamedTemporaryFile(dir=target, prefix=".cfmarl-write-test-"):  # a name of its own: runs
            pass  # started together into one folder do not remove each other's probe
    except OSError as exc:
        raise ConfigError(f"{flag} {path!r}: cannot write there ({exc.strerror or exc})") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cfmarl", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("envs", help="list environments, scenarios and their sizes")
    e.set_defaults(func=cmd_envs)

    le = sub.add_parser("learners", help="list learners (algorithm.name) and what they support")
    le.set_defaults(func=cmd_learners)

    ev = sub.add_parser("evaluate", help="evaluate controllers on a scenario; writes a run directory")
    ev.add_argument("--env", default=DEFAULT_ENV, help=f"environment short name (see `cfmarl envs`; default {DEFAULT_ENV})")
    ev.add_argument("--scenario", default=None, help="scenario name (see `cfmarl envs`; default: the env's default)")
    ev.add_argument("--policy", action="append", metavar="SPEC",
                    help="controller, repeatable: a baseline spec of the env (name[:key=value,...], see `cfmarl envs`; "
                         "'all' = every baseline; default all), or a training run directory / "
                         "checkpoint folder (its trained policy, greedy actions; an offline learner's run may add "
                         "':option=value,...' for its sampling options, e.g. RUN:guidance=1)")
    ev.add_argument("--episodes", type=_positive_int, default=10, help="episodes per policy (default 10)")
    ev.add_argument("--seed", type=int, default=0, help="master seed; every policy sees the same episodes")
    ev.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a field of the env's config, repeatable")
    ev.add_argument("--batch", type=_positive_int, default=8, help="env copies simulated together (default 8)")
    ev.add_argument("--stochastic", action="store_true",
                    help="trained policies act with seeded samples instead of their deterministic action")
    ev.add_argument("--out", default="runs", help="root folder for run directories (default ./runs)")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(func=cmd_evaluate)

    tr = sub.add_parser("train", help="train from an experiment YAML (resumable run directory)")
    tr.add_argument("experiment", help="experiment file (tune_configs/README.md lists the shipped ones)")
    tr.add_argument("--out", default="runs", help="root folder for run directories (default ./runs)")
    tr.add_argument("--iterations", type=_positive_int, default=None, help="override training.iterations")
    tr.add_argument("--fresh", action="store_true", help="discard an existing run directory and start over")
    tr.add_argument("--quiet", action="store_true", help="no per-iteration lines")
    tr.set_defaults(func=cmd_train)

    tu = sub.add_parser("tune", help="hyperparameter search / ASHA / PBT / PB2 over an experiment YAML")
    tu.add_argument("experiment", help="experiment file with search spaces (see tune_configs/README.md)")
    tu.add_argument("--address", default=None, help="Ray cluster address (e.g. 10.0.0.1:6379 or auto); "
                                                     "default: a local Ray instance")
    tu.add_argument("--num-samples", type=_positive_int, default=None, help="override tune.num_samples")
    tu.add_argument("--iterations", type=_positive_int, default=None, help="override training.iterations")
    tu.add_argument("--storage", default=None, help="override tune.storage (folder or URI, e.g. s3://bucket/path)")
    tu.add_argument("--resume", action="store_true", help="continue an interrupted experiment")
    tu.add_argument("--fresh", action="store_true", help="discard an existing (local) experiment and start over")
    tu.add_argument("--quiet", action="store_true", help="no progress table")
    tu.set_defaults(func=cmd_tune)

    co = sub.add_parser("collect", help="collect an offline dataset with behaviour policies (resumable)")
    co.add_argument("--env", required=True, help="environment short name (see `cfmarl envs`)")
    co.add_argument("--scenario", required=True, help="scenario name (see `cfmarl envs`)")
    co.add_argument("--policy", action="append", metavar="SPEC", required=True,
                    help="behaviour policy (a baseline spec), repeatable: shards alternate between them")
    co.add_argument("--episodes", type=_positive_int, required=True, help="episodes to collect")
    co.add_argument("--seed", type=int, default=0, help="master seed of the episodes (default 0)")
    co.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="env config override")
    co.add_argument("--batch", type=_positive_int, default=8, help="episodes per shard / env copies (default 8)")
    co.add_argument("--out", required=True, help="dataset folder (resumed when it exists with the same arguments)")
    co.add_argument("--fresh", action="store_true", help="discard an existing dataset in --out")
    co.add_argument("--quiet", action="store_true", help="no progress bar")
    co.set_defaults(func=cmd_collect)

    of = sub.add_parser("offline", help="pretrain in a learned model of the env (fitted to offline data), "
                                        "fine-tune in the real env, compare with training from scratch (resumable)")
    of.add_argument("experiment", help="experiment file with an offline section (e.g. tune_configs/urllc_vcmdp_paper.yaml)")
    of.add_argument("--out", default="runs", help="root folder (default ./runs); everything goes to offline-<name>/")
    of.add_argument("--stages", nargs="*", default=None,
                    help="run only these stages: collect fit pretrain finetune scratch report (default: all)")
    of.add_argument("--seeds", nargs="*", type=int, default=None, help="override offline.seeds")
    of.add_argument("--fresh", action="store_true", help="discard offline-<name>/ and start over")
    of.add_argument("--quiet", action="store_true", help="no per-iteration lines")
    of.set_defaults(func=cmd_offline)

    sc = sub.add_parser("scale", help="scaling study: KPIs, throughput, latency and memory vs size and runners")
    sc.add_argument("experiment", help="experiment file with a scale section (see tune_configs/README.md)")
    sc.add_argument("--out", default="runs", help="root folder (default ./runs)")
    sc.add_argument("--address", default=None, help="Ray cluster address; default: a local Ray instance")
    sc.add_argument("--seed", type=int, default=None,
                    help="training seed instead of the file's; the study folder is scale-<name>_s<seed> "
                         "(same evaluation episodes, so seeds compare)")
    sc.add_argument("--quiet", action="store_true")
    sc.set_defaults(func=cmd_scale)
    return p


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s!r}")
    return v


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["a=1", "b=true"]`` -> ``{"a": 1, "b": True}`` (values parsed as YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: cannot parse the value") from None
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from cfmarl.train import train

    try:
        train(args.experiment, out=args.out, fresh=args.fresh, iterations=args.iterations, quiet=args.quiet)
    except KeyboardInterrupt:
        return 130
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from cfmarl.tune import tune_experiment

    if args.resume and args.fresh:
        raise ConfigError("--resume and --fresh exclude each other")
    tune_experiment(args.experiment, address=args.address, num_samples=args.num_samples, resume=args.resume,
                    fresh=args.fresh, storage=args.storage, iterations=args.iterations, quiet=args.quiet)
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    from cfmarl.scale import scale

    scale(args.experiment, out=args.out, address=args.address, quiet=args.quiet, seed=args.seed)
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from cfmarl.registry import env_registry

    for entry in env_registry().values():
        print(f"{entry.name}  ({entry.module}; agents: {entry.family})")
        print(f"  {entry.description}")
        print(f"  baselines: {', '.join(entry.baselines)}")
        d = entry.declaration
        print(f"  KPIs: {', '.join(k.title + (' ↑' if k.better == 'higher' else ' ↓' if k.better == 'lower' else '') for k in d.kpis)}")
        print(f"  cost: {d.constraint.label} (judged limit {d.constraint.limit:g}); scaling axes: "
              f"{' x '.join(d.scale.fields)} ({d.scale.label})")
        print(f"  {'scenario':<20} {'size':<22} {'agents':>7}  {'area':<16} task")
        for name in entry.scenario_names():
            d = entry.make_config(name).describe()
            print(f"  {name:<20} {d['size']:<22} {d['agents']:>7}  {d['area']:<16} {d['task']}")
    return 0


def cmd_learners(args: argparse.Namespace) -> int:
    from cfmarl.policies.learners.registry import learner_registry

    for entry in learner_registry().values():
        if entry.offline is not None:
            print(f"{entry.name}  (offline, from a dataset; actions: {', '.join(sorted(entry.actions))}; "
                  "options: algorithm.options)")
            print(f"  {entry.description}")
            continue
        print(f"{entry.name}  ({'off' if entry.off_policy else 'on'}-policy; actions: {', '.join(sorted(entry.actions))}; "
              f"model.mode: {', '.join(sorted(entry.modes))}; {'constrained' if entry.constrained else 'unconstrained'})")
        print(f"  {entry.description}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from cfmarl import evaluate, plots, rundir
    from cfmarl.registry import episode_length, get_env

    entry = get_env(args.env)
    args.scenario = args.scenario or entry.default_scenario or entry.scenario_names()[0]
    config = entry.make_config(args.scenario, **parse_overrides(args.set))
    specs = args.policy or ["all"]
    specs = [s for spec in specs for s in (entry.baselines if spec == "all" else [spec])]
    env_config = {"env": args.env, "scenario": args.scenario, "overrides": parse_overrides(args.set)}
    controllers = [_make_controller(entry, s, env_config, args.stochastic, args.seed) for s in specs]  # validates all
    for c, s in zip(controllers, specs):  # label a controller by its full spec when it has options
        c.name = s if ":" in s and not Path(s).exists() else c.name
    if len(set(specs)) != len(specs):
        raise ConfigError(f"--policy: each policy may be given once, got {specs}")
    out = rundir.new_run_dir(args.out, f"evaluate-{args.env}-{args.scenario}")
    rundir.write_json(out / "config.json", {
        "command": "evaluate", "argv": args.argv, "env": args.env, "scenario": args.scenario,
        "env_config": dataclasses.asdict(config), "policies": specs, "episodes": args.episodes,
        "seed": args.seed, "batch": args.batch})
    rundir.write_json(out / "versions.json", rundir.versions())
    seeds = evaluate.episode_seeds(args.seed, args.episodes)
    steps = episode_length(config, entry)
    print(f"Evaluating {len(controllers)} policies on {args.env}/{args.scenario} "
          f"({config.describe()['size']}, {config.describe()['agents']} agents), "
          f"{args.episodes} episodes x {steps} steps, seed {args.seed}", flush=True)
    results = []
    bar = tqdm(total=len(controllers) * args.episodes * steps, unit="step",
               disable=args.quiet, file=sys.stderr, dynamic_ncols=True)
    t_start = time.perf_counter()
    interrupted = False
    try:
        for ctrl in controllers:
            bar.set_description(ctrl.name)
            results.append(evaluate.run_policy(lambda n: entry.make_core(config, n), ctrl, seeds,
                                               batch=args.batch, on_window=bar.update))
            if args.quiet:
                print(f"  done: {ctrl.name}", flush=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    if not results:
        print(f"Interrupted before any policy finished; nothing but the config in {out}")
        return 130
    episodes_rows = [dict(policy=r.policy, **e) for r in results for e in r.episodes]
    rundir.write_csv(out / "episodes.csv", episodes_rows)
    summaries = [r.summary() for r in results]
    rundir.write_csv(out / "kpis.csv", summaries)
    title = (f"{args.env}/{args.scenario}: {config.describe()['size']}, {config.describe()['task']}, "
             f"{args.episodes} episodes, seed {args.seed}")
    figures = plots.plot_evaluation(entry.declaration, results, summaries, config, title, out)
    print("\n" + evaluate.format_table(summaries, entry.declaration))
    elapsed = time.perf_counter() - t_start
    print(f"\n{'Interrupted: partial results' if interrupted else 'Done'} in {elapsed:.1f} s. Files in {out}/:")
    print(f"  kpis.csv (one row per policy), episodes.csv (one row per episode), {', '.join(figures)}, "
          "config.json, versions.json")
    return 130 if interrupted else 0


def cmd_offline(args: argparse.Namespace) -> int:
    from cfmarl.offline import run_offline

    run_offline(args.experiment, args.out, args.stages, args.seeds, args.fresh, args.quiet)
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from cfmarl.datasets import collect, load_dataset

    t0 = time.perf_counter()
    try:
        root = collect(args.env, args.scenario, parse_overrides(args.set), args.policy, args.episodes, args.seed,
                       args.out, batch=args.batch, fresh=args.fresh, quiet=args.quiet, argv=args.argv)
    except KeyboardInterrupt:
        print(f"Interrupted: finished shards are kept in {args.out}; run the same command again to resume")
        return 130
    ds = load_dataset(root)
    a = ds.arrays
    print(f"Collected {ds.episodes} episodes ({ds.manifest['transitions']:,} agent-transitions: "
          f"{a['rewards'].shape[1]} steps x {a['rewards'].shape[2]} agents each) of {args.env}/{args.scenario} "
          f"with {', '.join(args.policy)} in {time.perf_counter() - t0:.1f} s")
    for p in args.policy:
        m = ds.policy == p
        print(f"  {p:<20} {int(m.sum()):>5} episodes, mean reward {a['rewards'][m].mean():.4g}, "
              f"mean cost {a['costs'][m].mean():.4g}")
    print(f"Files in {root}/: manifest.json, {len(ds.manifest['shards'])} shard(s) shard-NNNNN.npz "
          "(load with cfmarl.datasets.load_dataset)")
    return 0


def _make_controller(entry, spec: str, env_config: dict, stochastic: bool = False, seed: int = 0):
    """A baseline spec, the path of a training checkpoint / run directory, or a shipped policy
    (``pretrained:NAME``)."""
    from cfmarl.offline_train import controller_from_spec, is_offline_run

    if is_offline_run(spec):  # an offline learner's run (optionally RUN:sampling_option=value,...)
        return controller_from_spec(spec, seed=seed)
    if spec.startswith("pretrained:") or Path(spec).exists():
        from cfmarl.policies.module_controller import controller_for, latest_checkpoint_of, load_module, rebuild_for_env

        path = latest_checkpoint_of(spec)
        name = spec if spec.startswith("pretrained:") else \
            f"{path.parent.parent.name}@{path.name}" if path.name.startswith("iter_") else path.name
        return controller_for(rebuild_for_env(load_module(path), env_config), name, stochastic=stochastic, seed=seed)
    return entry.make_baseline(spec)


if __name__ == "__main__":
    raise SystemExit(main())
