"""MA-CDMP reproduction on MF-TDMA (ma_cdmp_mf_tdma): offline methods x seeds, sampling sweeps, claims.

    python benchmarks/ma_cdmp.py train  [--seeds 0 1 2] [--jobs 2] [--methods cdmp cdmp_nomf bc td3bc cql ppo]
    python benchmarks/ma_cdmp.py evaluate [--seeds 0 1 2]
    python benchmarks/ma_cdmp.py long [--seeds 0 1 2] [--scenario S]
    python benchmarks/ma_cdmp.py samplers [--seeds 0 1 2] [--scenario S]
    python benchmarks/ma_cdmp.py sweeps [--seeds 0 1 2] [--episodes 8]
    python benchmarks/ma_cdmp.py scaling [--seeds 0] [--episodes 8]
    python benchmarks/ma_cdmp.py horizons [--seeds 0] [--jobs 1]
    python benchmarks/ma_cdmp.py report
    python benchmarks/ma_cdmp.py train|evaluate|report --scenario n8-4:4   # another of the paper's settings
    python benchmarks/ma_cdmp.py train|evaluate --data paper   # on a dataset of the paper's size (Sec. V-A)

``train`` collects the shared dataset once, then runs ``cfmarl train`` on every method's experiment
(tune_configs/mftdma_<method>_n8.yaml, the online PPO-Lagrangian of mftdma_ppo_n8.yaml beside them) with the seed
changed, ``--jobs`` at a time; finished runs are reused, interrupted ones resume. ``evaluate`` runs every trained
policy and the classical baselines on the same 8 test episodes (seed 1000) of 100 frames (the DDPM planner costs
seconds per frame on a CPU), resumable per row. ``long`` does the same on test episodes of the paper's length (8 x
1,000 frames, 5 s) with the diffusion planners on the SDE DPM-Solver at 10 steps (the fast sampler that kept DDPM's
reward), kept in benchmarks/results/mftdma/long/<scenario>.csv. ``samplers`` evaluates the trained MA-CDMP runs
again on those episodes with the fast samplers (DPM-Solver++ at 5-20 steps, its ODE and its SDE form) beside their
DDPM rows. ``sweeps`` evaluates the trained MA-CDMP policies with other sampling settings (guidance scale zeta on
the DDPM chain; DPM-Solver steps vs the full DDPM chain; ranked candidate plans on DPM-Solver, beyond the paper) on
the first ``--episodes`` test episodes cut to their first 100 frames; resumable per row. ``scaling`` evaluates the
n8-trained policies of the first seed at 8 to 64 nodes (no retraining) with their decision latency. ``horizons``
retrains MA-CDMP with other planning horizons H (Fig. 7; the main configuration's H reused) and evaluates them on
the common test episodes. ``report`` writes benchmarks/results/mftdma/ma_cdmp.md /
.csv / .png, ma_cdmp_sweeps.png and claims.csv. Everything runs under runs/ma_cdmp/; every stage keeps its rows in
benchmarks/results/mftdma/ too (``evaluate``: settings/<scenario>.csv; the main setting's sweeps, scaling and horizon
studies: ma_cdmp_<study>.csv), and ``report`` reads only those copies, so it writes the same tables on a machine
without the runs, and a stage run there again skips the rows already kept.

``--scenario`` runs ``train``, ``evaluate``, ``samplers`` and ``report`` on another MF-TDMA scenario (the paper's
settings n8-2:6, n8-4:4, n9-2:7, n9-4:5, each also ``-limited``: limited RF) with the same experiments (the env's
scenario changed), its own dataset and runs under runs/ma_cdmp/<scenario>/; ``evaluate`` also copies its rows to
benchmarks/results/mftdma/settings/<scenario>.csv and ``samplers`` to samplers/<scenario>.csv, from which
``report`` writes ma_cdmp_settings.md, ma_cdmp_samplers.png and the settings' rows of claims.csv (the other rows
kept). The sweeps, scaling and horizon studies are of n8-2:6. ``--data paper`` trains and evaluates the same
experiments on a dataset of the paper's size (PAPER_DATA: 1,000 trajectories of 6,000 frames, the same behaviour
mix) under <runs folder>/paper-data/, its rows kept in results/mftdma/paper_data/<scenario>.csv (``report`` reads them).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "ma_cdmp"
OUT = RUNS  # this invocation's run folder (main() moves it for another --scenario)
RESULTS = ROOT / "benchmarks" / "results" / "mftdma"
METHODS = {"cdmp": "mftdma_cdmp_n8", "cdmp_nomf": "mftdma_cdmp_nomf_n8", "bc": "mftdma_bc_n8",
           "td3bc": "mftdma_td3bc_n8", "cql": "mftdma_cql_n8", "ppo": "mftdma_ppo_n8"}
LABELS = {"cdmp": "MA-CDMP", "cdmp_nomf": "MA-CDMP w/o MF", "bc": "BC", "td3bc": "MA-TD3+BC", "cql": "MA-CQL",
          "ppo": "PPO-Lagrangian (online)"}
GUIDANCE = (0.0, 0.1, 1.0, 10.0)
SWEEP_FRAMES = 100  # sweep episodes are the first 100 frames of the test episodes (the DDPM chain is slow)
SAMPLING = (("dpm", 2), ("dpm", 5), ("dpm", 10), ("dpm", 20), ("ddpm", 100))
CANDIDATES = (1, 4, 16)  # beyond the paper: plans per decision, the classifier executes the best (on DPM-10)
HORIZONS = (4, 8, 16, 32)  # Fig. 7: planning horizon H (divisible by 4 for the 3-level U-Net)
MAIN_SCENARIO = "n8-2:6"  # the experiments' own scenario; the sweeps, scaling and horizon studies use it
SCENARIO = MAIN_SCENARIO  # the scenario of this invocation (--scenario): main() sets it and OUT
PAPER_DATA = {"episodes": 1000, "episode_frames": 6000}  # Sec. V-A: 1,000 trajectories of 30 s (6,000 frames)
DATA = "recorded"  # --data: the experiments' own dataset, or "paper" (PAPER_DATA)


KEPT = {"sweeps": "ma_cdmp_sweeps.csv", "scaling": "ma_cdmp_scaling.csv", "horizons": "ma_cdmp_horizons.csv"}
# the main setting's studies keep their rows beside the results too (runs/ does not survive a move to another
# machine): ``report`` reads these copies and results/settings/n8-2-6.csv (``evaluate``'s), never runs/


def read_rows(path: Path) -> list[dict]:
    """A CSV file's rows; none when it is missing."""
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def study_rows(name: str) -> list[dict]:
    """The rows of a main-setting study (``sweeps``, ``scaling``, ``horizons``) so far: the runs folder's, else
    those kept in results (recorded on another machine: resuming there does not redo them)."""
    path = OUT / f"{name}.csv"
    return read_rows(path if path.exists() else RESULTS / KEPT[name])


def write_study(name: str, rows: list[dict]) -> Path:
    """A main-setting study's rows to its runs file and to its copy in results (atomic each); the copy's path."""
    from cfmarl.rundir import write_csv

    fields = list(dict.fromkeys(k for r in rows for k in r))
    for path in (OUT / f"{name}.csv", RESULTS / KEPT[name]):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(path, rows, fields=fields)
    return RESULTS / KEPT[name]


def kept_evaluation(scenario: str | None = None) -> list[dict]:
    """The evaluation rows kept in results/settings/<scenario>.csv (``evaluate``; this invocation's scenario by
    default)."""
    return read_rows(RESULTS / "settings" / f"{slug(scenario or SCENARIO)}.csv")


def slug(scenario: str) -> str:
    return scenario.replace(":", "-")


def scenarios() -> list[str]:
    """Every MF-TDMA scenario name (the env's)."""
    from cfmarl.registry import get_env

    return get_env("mftdma").scenario_names()


def out_dir(scenario: str) -> Path:
    """runs/ma_cdmp/ for the main scenario (as before settings existed), runs/ma_cdmp/<scenario>/ for the others;
    their paper-data/ subfolder with ``--data paper``."""
    out = RUNS if scenario == MAIN_SCENARIO else RUNS / slug(scenario)
    return out / "paper-data" if DATA == "paper" else out


def run_name(method: str, seed: int) -> str:
    return f"{METHODS[method]}-s{seed}"


def derived_config(method: str, seed: int, name: str = "", **options) -> Path:
    """The method's experiment file with the seed (and algorithm options) changed, its own final evaluation one
    episode long, under runs/ma_cdmp/configs/."""
    data = yaml.safe_load((ROOT / "tune_configs" / f"{METHODS[method]}.yaml").read_text())
    data["name"], data["seed"] = name or run_name(method, seed), seed
    data["env"]["scenario"] = SCENARIO
    data["algorithm"]["options"] = {**data["algorithm"].get("options", {}), **options}
    if DATA == "paper" and "offline" in data:  # (the online PPO-Lagrangian has no dataset)
        off = data["offline"]
        off["episodes"], off["dataset_overrides"] = PAPER_DATA["episodes"], {
            **off.get("dataset_overrides", {}), "episode_frames": PAPER_DATA["episode_frames"]}
    # the run's own end-of-run look at itself (cfmarl train) shortened to one episode: this benchmark evaluates
    # every method on its own common test episodes, and 4 DDPM episodes cost MA-CDMP runs ~8 min each (idle)
    data["evaluation"]["episodes"] = 1
    path = OUT / "configs" / f"{data['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _train_one(method: str, seed: int, name: str = "", **options) -> tuple[str, int, float]:
    name = name or run_name(method, seed)
    run = OUT / f"train-{name}"
    if (run / "evaluation.csv").exists() or finished(run):  # trained (the benchmark evaluates on its own episodes)
        return run.name, 0, 0.0
    cfg = derived_config(method, seed, name, **options)
    t0 = time.perf_counter()
    log = OUT / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log, "a") as f:
        rc = subprocess.call([sys.executable, "-m", "cfmarl.cli", "train", str(cfg), "--out", str(OUT)], stdout=f,
                             stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return run.name, rc, time.perf_counter() - t0


def train(methods: list[str], seeds: list[int], jobs: int) -> None:
    from cfmarl.experiment import load_experiment
    from cfmarl.offline_train import ensure_dataset

    offline = [m for m in methods if m != "ppo"]
    if offline:  # the shared dataset, once, before parallel runs would race for it
        ensure_dataset(load_experiment(derived_config(offline[0], seeds[0])), OUT, False, print)
    todo = [(m, s) for s in seeds for m in methods]
    print(f"{len(todo)} runs ({', '.join(methods)} x seeds {seeds}), {jobs} at a time; logs in {OUT / 'logs'}")
    _train_all([dict(method=m, seed=s) for m, s in todo], jobs)


def _train_all(runs: list[dict], jobs: int) -> None:
    """``_train_one(**run)`` for every run, ``jobs`` at a time, one line each."""
    with ThreadPoolExecutor(jobs) as pool:
        for name, rc, dt in pool.map(lambda kw: _train_one(**kw), runs):
            print(f"  {name}: {'done before' if dt == 0 and rc == 0 else f'rc {rc} in {dt / 60:.1f} min'}", flush=True)


# ----------------------------------------------------------------------------- sweeps
def sweeps(seeds: list[int], episodes: int) -> Path:
    from cfmarl import evaluate
    from cfmarl.experiment import load_experiment
    from cfmarl.offline_train import controller_from_spec

    rows = study_rows("sweeps")
    done = {(r["seed"], r["sweep"], r["setting"]) for r in rows}
    exp = load_experiment(ROOT / "tune_configs" / f"{METHODS['cdmp']}.yaml")
    entry, cfg = exp.env_entry(), exp.env_entry().make_config(exp.scenario(), **{**exp.env.overrides,
                                                                                   "episode_frames": SWEEP_FRAMES})
    ep_seeds = evaluate.episode_seeds(exp.evaluation.seed, exp.evaluation.episodes)[:episodes]
    plan = [("guidance", f"sampler=ddpm,guidance={g}") for g in GUIDANCE]
    plan += [("sampler", f"sampler={s},sampling_steps={k}" if s == "dpm" else "sampler=ddpm") for s, k in SAMPLING]
    plan += [("candidates", f"sampler=dpm,sampling_steps=10,candidates={c}") for c in CANDIDATES]
    for seed in seeds:
        run = OUT / f"train-{run_name('cdmp', seed)}"
        for sweep, setting in plan:
            if (str(seed), sweep, setting) in done or not finished(run):
                continue
            ctrl = controller_from_spec(f"{run}:{setting}", seed=exp.evaluation.seed)
            t0 = time.perf_counter()
            s = evaluate.run_policy(lambda n: entry.make_core(cfg, n), ctrl, ep_seeds, batch=episodes).summary()
            rows.append({"seed": seed, "sweep": sweep, "setting": setting, "episodes": episodes,
                         "seconds": round(time.perf_counter() - t0, 1),
                         **{k: v for k, v in s.items() if k != "policy"}})
            write_study("sweeps", rows)
            print(f"  seed {seed} {setting}: return {s['team_return']:.1f}, "
                  f"{s['decision_latency_ms']:.1f} ms/decision", flush=True)
    return RESULTS / KEPT["sweeps"]


# ----------------------------------------------------------------------------- common test episodes
TEST_EPISODES, TEST_FRAMES = 8, 100  # the DDPM planner costs ~3 s per frame of 8 env copies on this CPU


def sampling(method: str, **change) -> str:
    """``:option=value,...`` of the method's current experiment file for the options that only change sampling
    (a run evaluates with the sampling its experiment asks for now, whatever it was trained with), ``change``
    replacing some of them."""
    from cfmarl.experiment import load_experiment
    from cfmarl.offline_train import method_class

    exp = load_experiment(ROOT / "tune_configs" / f"{METHODS[method]}.yaml")
    opts = {k: v for k, v in exp.algorithm.options.items() if k in method_class(exp.algorithm.name).SAMPLING}
    opts.update(change)
    return (":" + ",".join(f"{k}={v}" for k, v in opts.items())) if opts else ""


def finished(run: Path) -> bool:
    """The run trained all its iterations (its own final evaluation aside)."""
    import json

    try:
        total = json.loads((run / "config.json").read_text())["iterations"]
        last = list(csv.DictReader(open(run / "metrics.csv")))[-1]["iteration"]
    except (OSError, KeyError, IndexError, ValueError):
        return False
    return int(last) >= int(total)


def on_common_episodes(ctrl, frames: int = TEST_FRAMES) -> dict:
    """One controller on the common test episodes (TEST_EPISODES x ``frames``, seed 1000): its summary
    (without the policy name) and the seconds it took."""
    from cfmarl import evaluate
    from cfmarl.registry import get_env

    entry = get_env("mftdma")
    cfg = entry.make_config(SCENARIO, episode_frames=frames)
    t0 = time.perf_counter()
    res = evaluate.run_policy(lambda n: entry.make_core(cfg, n), ctrl, evaluate.episode_seeds(1000, TEST_EPISODES),
                              batch=TEST_EPISODES).summary()
    return {"seconds": round(time.perf_counter() - t0, 1), **{k: v for k, v in res.items() if k != "policy"}}


def online_controller(run: Path, frames: int):
    """The PPO-Lagrangian run as ``cfmarl train`` evaluates it: its best validated (else newest) checkpoint, greedy."""
    from cfmarl.policies.module_controller import controller_for, latest_checkpoint_of, load_module, rebuild_for_env

    best = run / "checkpoints" / "best"
    module = rebuild_for_env(load_module(latest_checkpoint_of(best if best.is_dir() else run)),
                             {"env": "mftdma", "scenario": SCENARIO, "overrides": {"episode_frames": frames}})
    return controller_for(module, run.name.removeprefix("train-"), seed=1000)


def evaluate_all(seeds: list[int]) -> Path:
    """Every trained run (all methods and seeds) and the classical baselines on the same test episodes."""
    path = OUT / f"evaluation-seeds{'_'.join(map(str, seeds))}.csv"  # one file per invocation (run side by side)
    _evaluate_rows(path, seeds, TEST_FRAMES)
    keep_setting_rows()
    return path


def _evaluate_rows(path: Path, seeds: list[int], frames: int, **diffusion_sampling) -> None:
    """The classical allocations and every trained offline run of ``seeds`` on the common test episodes of
    ``frames`` frames, a row each in ``path`` (resumable: a (method, seed) with a row in any of the folder's files of
    this kind is done - same episodes, same controller seed); ``diffusion_sampling`` replaces sampling options of
    the diffusion planners (MA-CDMP and its ablation)."""
    from cfmarl.offline_train import controller_from_spec
    from cfmarl.registry import get_env
    from cfmarl.rundir import write_csv

    rows = list(csv.DictReader(open(path))) if path.exists() else []
    done = {(r["method"], r["seed"]) for p in path.parent.glob(f"{path.name.split('-seeds')[0]}-seeds*.csv")
            for r in csv.DictReader(open(p))}
    entry = get_env("mftdma")

    def spec(m: str, s: int) -> str:
        change = diffusion_sampling if m in ("cdmp", "cdmp_nomf") else {}
        return f"{OUT / f'train-{run_name(m, s)}'}{sampling(m, **change)}"

    def learned(m: str, s: int):  # the online PPO-Lagrangian's RLlib run, or an offline method's
        return online_controller(OUT / f"train-{run_name(m, s)}", frames) if m == "ppo" else \
            controller_from_spec(spec(m, s), seed=1000)

    todo = [(b, "-", lambda b=b: entry.make_baseline(b)) for b in ("random", "equal", "load-proportional")]
    todo += [(m, str(s), lambda m=m, s=s: learned(m, s))
             for s in seeds for m in METHODS if finished(OUT / f"train-{run_name(m, s)}")]
    for method, seed, make in todo:
        if (method, seed) in done:
            continue
        res = on_common_episodes(make(), frames)
        rows.append({"method": method, "seed": seed, **res})
        write_csv(path, rows, fields=list(dict.fromkeys(k for r in rows for k in r)))
        print(f"  {method} seed {seed}: return {res['team_return']:.1f}, delay {res['mean_delay_ms']:.2f} ms "
              f"({res['seconds']:.0f} s)", flush=True)


# ----------------------------------------------------------------------------- the paper's 5 s test episodes
LONG_FRAMES = 1000  # the paper's test episodes: 5 s of 5 ms frames
LONG_SAMPLING = {"sampler": "sde-dpm", "sampling_steps": 10}  # the fast sampler that kept DDPM's reward (samplers
#                                                             study); the full DDPM chain would cost ~10x here


def long_episodes(seeds: list[int]) -> Path:
    """``long``: what ``evaluate`` does on test episodes of the paper's length (TEST_EPISODES x LONG_FRAMES, seed
    1000, ``evaluate``'s seeds), the diffusion planners with LONG_SAMPLING; resumable per row
    (runs/ma_cdmp[/<scenario>]/long-seeds*.csv), kept in benchmarks/results/mftdma/long/<scenario>.csv."""
    path = OUT / f"long-seeds{'_'.join(map(str, seeds))}.csv"
    _evaluate_rows(path, seeds, LONG_FRAMES, **LONG_SAMPLING)
    return keep_setting_rows("long")


def keep_setting_rows(kind: str = "evaluation") -> Path:
    """Every evaluation row of this scenario's runs folder copied to results/settings/<scenario>.csv (``kind``
    "long": the 5 s episodes' rows to results/long/<scenario>.csv): what ``report --scenario`` reads (runs/ is not
    kept). Rows already there of a (method, seed) this runs folder has no row of stay first (seeds evaluated on
    another machine or in a runs folder since removed), so evaluating another seed never drops the recorded ones.
    One row per (method, seed): the classical rows every evaluation file repeats, and a seed two files evaluated,
    are kept once (the first file's; their KPIs are the same test episodes', only the timings differ)."""
    from cfmarl.rundir import write_csv

    new: dict[tuple[str, str], dict] = {}  # (method, seed) -> the first file's row
    for p in sorted(OUT.glob(f"{kind}-seeds*.csv")):
        for r in csv.DictReader(open(p)):
            new.setdefault((r["method"], r["seed"]), r)
    folder = kind if kind != "evaluation" else "paper_data" if DATA == "paper" else "settings"
    path = RESULTS / folder / f"{slug(SCENARIO)}.csv"
    old = [r for r in csv.DictReader(open(path)) if (r["method"], r["seed"]) not in new] if path.exists() else []
    keep = old + list(new.values())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(path, keep, fields=list(dict.fromkeys(k for r in keep for k in r)))
    return path


# ----------------------------------------------------------------------------- samplers (Fig. 9), any setting
FAST_SAMPLERS = (("dpm", 10), ("dpm", 20), ("sde-dpm", 5), ("sde-dpm", 10), ("sde-dpm", 20))


def samplers(seeds: list[int]) -> Path:
    """This scenario's trained MA-CDMP runs on the common test episodes with the fast samplers (FAST_SAMPLERS:
    the first-order DPM-Solver++, ODE and SDE, at few steps; guidance and the rest as the experiment file says),
    beside their own DDPM evaluation (``evaluate``'s row, the same episodes and controller seed, when the
    experiment samples with DDPM; else evaluated here); resumable per row (runs/ma_cdmp[/<scenario>]/samplers.csv), kept in benchmarks/results/mftdma/samplers/<scenario>.csv."""
    from cfmarl.experiment import load_experiment
    from cfmarl.offline_train import controller_from_spec
    from cfmarl.policies.offline.diffusion_planner.planner import CdmpOptions
    from cfmarl.rundir import write_csv

    path = OUT / "samplers.csv"
    rows = list(csv.DictReader(open(path))) if path.exists() else []
    done = {(r["seed"], r["sampler"], r["steps"]) for r in rows}
    opts = load_experiment(ROOT / "tune_configs" / f"{METHODS['cdmp']}.yaml").algorithm.options
    K = opts.get("diffusion_steps", CdmpOptions.diffusion_steps)
    ddpm = {r["seed"]: r for p in sorted(OUT.glob("evaluation-seeds*.csv")) for r in csv.DictReader(open(p))
            if r["method"] == "cdmp"} if opts.get("sampler", CdmpOptions.sampler) == "ddpm" else {}
    keep = RESULTS / "samplers" / f"{slug(SCENARIO)}.csv"
    keep.parent.mkdir(parents=True, exist_ok=True)

    def add(row: dict) -> None:
        rows.append(row)
        for f in (path, keep):
            write_csv(f, rows, fields=list(dict.fromkeys(k for r in rows for k in r)))

    for seed in seeds:
        run = OUT / f"train-{run_name('cdmp', seed)}"
        if not finished(run):
            print(f"  seed {seed}: {run.name} is not trained (`train --scenario {SCENARIO} --seeds {seed}` first)")
            continue
        if str(seed) in ddpm and (str(seed), "ddpm", str(K)) not in done:
            add({"seed": seed, "sampler": "ddpm", "steps": K,
                 **{k: v for k, v in ddpm[str(seed)].items() if k not in ("method", "seed")}})
        for sampler, steps in (() if str(seed) in ddpm else (("ddpm", K),)) + FAST_SAMPLERS:
            if (str(seed), sampler, str(steps)) in done:
                continue
            spec = f"{run}{sampling('cdmp', sampler=sampler, sampling_steps=steps)}"
            res = on_common_episodes(controller_from_spec(spec, seed=1000))
            add({"seed": seed, "sampler": sampler, "steps": steps, **res})
            print(f"  seed {seed} {sampler} {steps} steps: return {res['team_return']:.1f}, delay "
                  f"{res['mean_delay_ms']:.2f} ms, {res['decision_latency_ms']:.0f} ms/decision", flush=True)
    print(f"Rows in {keep}")
    return keep


# ----------------------------------------------------------------------------- planning horizon (Fig. 7)
def horizon_run(h: int, seed: int) -> str:
    """The run of MA-CDMP with planning horizon ``h`` (the main configuration's own runs for its H)."""
    base = yaml.safe_load((ROOT / "tune_configs" / f"{METHODS['cdmp']}.yaml").read_text())["algorithm"]["options"]
    return run_name("cdmp", seed) if h == base.get("horizon") else f"{METHODS['cdmp']}-h{h}-s{seed}"


def horizons(seeds: list[int], jobs: int, hs: tuple[int, ...] = HORIZONS) -> Path:
    """MA-CDMP retrained with every H of HORIZONS (nothing else changed), evaluated like ``evaluate`` on the
    common test episodes; resumable per run and per row (runs/ma_cdmp/horizons.csv)."""
    from cfmarl.experiment import load_experiment
    from cfmarl.offline_train import controller_from_spec, ensure_dataset

    ensure_dataset(load_experiment(derived_config("cdmp", seeds[0])), OUT, False, print)
    todo = [(h, s) for s in seeds for h in hs]
    rows = study_rows("horizons")
    done = {(r["horizon"], r["seed"]) for r in rows}  # rows kept (maybe on another machine): not trained again
    train = [(h, s) for h, s in todo if (str(h), str(s)) not in done]
    print(f"{len(train)} MA-CDMP runs (H = {', '.join(map(str, hs))} x seeds {seeds}, {len(todo) - len(train)} "
          f"evaluated before), {jobs} at a time")
    _train_all([dict(method="cdmp", seed=s, name=horizon_run(h, s), horizon=h) for h, s in train], jobs)
    common = {(r["method"], r["seed"]): r for r in kept_evaluation()}
    for h, seed in todo:
        run = OUT / f"train-{horizon_run(h, seed)}"
        if (str(h), str(seed)) in done:
            continue
        if run.name == f"train-{run_name('cdmp', seed)}" and ("cdmp", str(seed)) in common:  # the main runs were
            row = common[("cdmp", str(seed))]  # evaluated on these episodes by `evaluate` already
            rows.append({"horizon": h, "seed": seed, **{k: v for k, v in row.items() if k not in ("method", "seed")}})
            write_study("horizons", rows)
            continue
        if not finished(run):
            continue
        res = on_common_episodes(controller_from_spec(f"{run}{sampling('cdmp')}", seed=1000))
        rows.append({"horizon": h, "seed": seed, **res})
        write_study("horizons", rows)
        print(f"  H = {h} seed {seed}: return {res['team_return']:.1f}, delay {res['mean_delay_ms']:.2f} ms, "
              f"{res['decision_latency_ms']:.0f} ms/decision", flush=True)
    return RESULTS / KEPT["horizons"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("stage", choices=("train", "evaluate", "long", "samplers", "sweeps", "scaling", "horizons",
                                     "report"))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--episodes", type=int, default=8, help="sweeps: test episodes per setting")
    p.add_argument("--horizons", nargs="*", type=int, default=list(HORIZONS), help="horizons: the H values")
    p.add_argument("--scenario", default=MAIN_SCENARIO,
                   help="train / evaluate / report on this MF-TDMA scenario (the paper's: n8-2:6, n8-4:4, n9-2:7, "
                        "n9-4:5, each also -limited)")
    p.add_argument("--data", choices=("recorded", "paper"), default="recorded",
                   help="train / evaluate on the experiments' dataset or on one of the paper's size (PAPER_DATA)")
    args = p.parse_args(argv)
    known = scenarios()
    if args.scenario not in known:
        p.error(f"--scenario: {args.scenario!r} is not an MF-TDMA scenario; known: {', '.join(known)}")
    if args.scenario != MAIN_SCENARIO and args.stage in ("sweeps", "scaling", "horizons"):
        p.error(f"--scenario: the {args.stage} study runs on {MAIN_SCENARIO} only")
    if args.data == "paper" and args.stage not in ("train", "evaluate"):
        p.error(f"--data paper: for train and evaluate (report reads their rows), not {args.stage}")
    global OUT, SCENARIO, DATA
    DATA = args.data
    OUT, SCENARIO = out_dir(args.scenario), args.scenario
    OUT.mkdir(parents=True, exist_ok=True)
    if args.stage == "train":
        train(args.methods, args.seeds, args.jobs)
    elif args.stage == "evaluate":
        evaluate_all(args.seeds)
    elif args.stage == "long":
        long_episodes(args.seeds)
    elif args.stage == "samplers":
        samplers(args.seeds)
    elif args.stage == "sweeps":
        sweeps(args.seeds, args.episodes)
    elif args.stage == "scaling":
        from ma_cdmp_scaling import scaling  # noqa: PLC0415 (benchmarks/ is the script folder)

        scaling(sys.modules[__name__], args.seeds[0], args.episodes)
    elif args.stage == "horizons":
        horizons(args.seeds, args.jobs, tuple(args.horizons))
    else:
        from ma_cdmp_report import report, report_settings  # noqa: PLC0415 (benchmarks/ is the script folder)

        if SCENARIO == MAIN_SCENARIO:
            if not kept_evaluation():
                p.error(f"report: no evaluation rows of {MAIN_SCENARIO} in {RESULTS / 'settings'} (run `evaluate` "
                        "first)")
            report(RESULTS, args.seeds)
        else:
            report_settings(RESULTS, args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
