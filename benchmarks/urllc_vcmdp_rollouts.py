"""URLLC virtual CMDP: model rollouts against the recorded real episodes under the same actions.

Every held-out test episode of the offline dataset is replayed open loop in each learned env (initial + transition
family, KAN predictors): the env copy starts from the episode's real first state and takes the episode's
recorded actions (the uniform behaviour policy's) slot by slot. The model's per-slot reward (energy efficiency),
cost (delay violation) and buffered packets are set beside the recorded ones, and the predictors alone on the
recorded (s, a) ("one step") separate their bias from the transition models' drift. Writes
``vcmdp_rollouts.md`` / ``.csv`` / ``.png`` to ``--out``. ``--decompose`` adds, per learned env, the same replay
with the channel views and then the queue views taken from the recorded states after every slot: which of the two
transition models makes a rollout drift.

With ``--policy RUN`` (a training run or checkpoint, e.g. a pretraining arm of the same ``cfmarl offline``
folder) the check runs closed loop instead: the policy acts in the real env for ``--episodes`` episodes (sampled
actions, as in training, unless ``--greedy``), the predictors are scored on the (s, a) it visited, its real
actions are replayed open loop in each learned env, and it acts in each learned env from the same first states.
A policy pretrained in a learned env that errs in its favour shows the gap here (model exploitation).
``--ensemble N`` adds whether a bootstrap ensemble's disagreement would flag those (s, a) (the premise of a
MOPO-style uncertainty penalty): N MLP predictors on resampled training rows, their spread and error on the test
data and on the policy's real (s, a).

    python benchmarks/urllc_vcmdp_rollouts.py --runs runs/offline-urllc_vcmdp_paper [--decompose]
    python benchmarks/urllc_vcmdp_rollouts.py --runs runs/offline-urllc_vcmdp_cvae \
        --policy runs/offline-urllc_vcmdp_cvae/rl/train-pretrain-vae-s0 --stem vcmdp_policy_rollouts_cvae
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "urllc"
RUNS = ROOT / "runs" / "offline-urllc_vcmdp_paper"
DECOMPOSE_NOTE = ("; 'real channel states' = after every slot the model's channel views are replaced by the "
                  "recorded next state's, so only the queue model (and the predictors) run on their own, 'real queue "
                  "states' the other way round")
LABEL = {"vae_chmdn": "VAE-ChMDN + EA-CGMM", "diffusion": "DDPM + DDIM", "vae": "VAE + CVAE", "gan": "GAN + CGAN"}


def summarise(source: str, r: np.ndarray, c: np.ndarray, buffered: np.ndarray | None, real: dict) -> dict:
    """One table row: means over episodes and slots, the early / late slots and the ratio to the real episodes."""
    T = r.shape[1]
    early, late = slice(0, max(1, T // 10)), slice(T - max(1, T // 4), T)
    row = {"source": source, "reward_mbit_per_j": float(r.mean()), "reward_ratio": float(r.mean() / real["r"].mean()),
           "violation_rate": float(c.mean()), "violation_first_10pct": float(c[:, early].mean()),
           "violation_last_25pct": float(c[:, late].mean()),
           "episode_violation_mae": float(np.abs(c.mean(1) - real["c"].mean(1)).mean()),
           "episode_reward_corr": float(np.corrcoef(r.mean(1), real["r"].mean(1))[0, 1]) if len(r) > 1 else float("nan")}
    if buffered is not None:
        row.update(buffered_packets=float(buffered.mean()), buffered_last_25pct=float(buffered[:, late].mean()))
    return row


def plot(curves: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, cur in curves.items():
        style = dict(color="black", lw=2.2) if name == "real env" else dict(lw=1.3)
        for ax, key in zip(axes, ("c", "r", "buffered")):
            if key in cur:
                y = cur[key].mean(0)
                k = 5  # a 5-slot moving mean: the per-slot means over 30 episodes are noisy
                ax.plot(np.convolve(y, np.ones(k) / k, mode="valid"), label=name, **style)
    for ax, lab in zip(axes, ("delay-violation rate (cost)", "energy efficiency [Mbit/J] (reward)",
                              "buffered packets (all UEs)")):
        ax.set_xlabel("slot")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    tmp.replace(path)


def table(rows: list[dict]) -> str:
    def f(v, fmt):
        return "-" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, fmt)
    lines = ["| source | EE [Mbit/J] (x real) | violation rate | first 10 % / last 25 % of slots | per-episode "
             "violation MAE | per-episode EE corr. | buffered packets (last 25 %) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['source']} | {f(r['reward_mbit_per_j'], '.1f')} ({f(r['reward_ratio'], '.2f')}x) | "
                     f"{f(r['violation_rate'], '.4f')} | {f(r['violation_first_10pct'], '.4f')} / "
                     f"{f(r['violation_last_25pct'], '.4f')} | {f(r['episode_violation_mae'], '.4f')} | "
                     f"{f(r['episode_reward_corr'], '.2f')} | {f(r.get('buffered_packets'), '.2f')} "
                     f"({f(r.get('buffered_last_25pct'), '.2f')}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default=str(RUNS), help="the `cfmarl offline` folder (dataset/ and models/)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--frameworks", nargs="*", choices=list(LABEL),
                    help="learned envs to replay (default: every family the models folder holds)")
    ap.add_argument("--episodes", type=int, default=0, help="test episodes replayed (0 = all); with --policy, episodes run (0 = 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stem", default="vcmdp_rollouts")
    ap.add_argument("--policy", help="closed-loop check of this training run / checkpoint (see above)")
    ap.add_argument("--greedy", action="store_true", help="with --policy: deterministic actions instead of samples")
    ap.add_argument("--decompose", action="store_true",
                    help="open loop: also replay each learned env with one transition model fed the recorded states "
                         "(real channels: the queue model alone; real queues: the channel model alone)")
    ap.add_argument("--ensemble", type=int, default=0, metavar="N",
                    help="with --policy: also fit N bootstrap MLP reward / cost predictors and compare their "
                         "disagreement on the policy's (s, a) with that on the test data (an uncertainty-penalty check)")
    args = ap.parse_args(argv)
    from cfmarl.datasets import load_dataset
    from cfmarl.envs.validation import ConfigError
    from cfmarl.policies.offline.virtual_cmdp.data import split_dataset
    from cfmarl.policies.offline.virtual_cmdp.env import VirtualCmdpCore, make_config, open_models
    from cfmarl.policies.offline.virtual_cmdp.rollouts import FORCED, episodes_of, replay
    from cfmarl.rundir import atomic_write_text, write_csv

    runs, out = Path(args.runs), Path(args.out)
    models = runs / "models"
    try:
        man = open_models(str(models))[0]
        data = load_dataset(runs / "dataset")
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fitted = [f for f in LABEL if f in man["spec"].get("families", LABEL)]
    frameworks = fitted if args.frameworks is None else args.frameworks
    missing = [f for f in frameworks if f not in fitted]
    if missing or not frameworks:
        print(f"error: --frameworks: {missing or '(none)'} not fitted in {models} (fitted: {', '.join(fitted)})",
              file=sys.stderr)
        return 2
    split = split_dataset(data, seed=int(man["spec"].get("split_seed", 32)))
    if sorted(split.episodes["test"].tolist()) != sorted(man["split"]["test"]):
        print("error: the dataset's test split differs from the one the models were fitted with", file=sys.stderr)
        return 2
    if args.policy:
        return closed_loop_check(args, runs, out, models, man, frameworks, split.layout)
    real = episodes_of(split["test"], split.layout)
    if args.episodes:
        real = {k: v[:args.episodes] for k, v in real.items()}
    E, T = real["r"].shape
    seeds = [args.seed * 100_003 + i for i in range(E)]
    print(f"{E} test episodes x {T} slots from {runs / 'dataset'}; models {models}")
    rows = [summarise("real env (recorded)", real["r"], real["c"], real["buffered"], real)]
    curves = {"real env": {"r": real["r"], "c": real["c"], "buffered": real["buffered"]}}
    rows += predictor_rows(frameworks[0], models, real, "the recorded (s, a)")
    for fw in frameworks:
        t0 = time.perf_counter()
        core = VirtualCmdpCore(make_config(fw, models=str(models), episode_slots=T), E)
        roll = replay(core, real["s"][:, 0], real["a"], seeds)
        rows.append(summarise(f"rollout, {LABEL[fw]} (KAN predictors)", roll["r"], roll["c"], roll["buffered"], real))
        curves[LABEL[fw]] = roll
        _say(LABEL[fw], rows, t0)
        for forced in FORCED if args.decompose else ():
            t0 = time.perf_counter()
            core = VirtualCmdpCore(make_config(fw, models=str(models), episode_slots=T), E)
            roll = replay(core, real["s"][:, 0], real["a"], seeds, recorded=real["s"], forced=forced)
            alone = {"channel": "queue", "queue": "channel"}[forced]
            rows.append(summarise(f"rollout, {LABEL[fw]}, real {forced} states ({alone} model alone)", roll["r"],
                                  roll["c"], roll["buffered"], real))
            curves[f"{LABEL[fw]}, {alone} model alone"] = roll
            _say(f"  real {forced} states", rows, t0)
    spec = man["spec"]
    opts = (f"transition z prior {spec.get('transition_z_prior', 'standard')}, "
            f"{spec.get('transition_z_draws', 1)} z draw(s)")
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / f"{args.stem}.csv", rows)
    plot(curves, out / f"{args.stem}.png", f"{E} held-out episodes replayed open loop with their recorded actions "
                                             f"({runs.name}; {opts})")
    atomic_write_text(out / f"{args.stem}.md", (
        f"# URLLC virtual CMDP: model rollouts vs the recorded episodes\n\n`python benchmarks/urllc_vcmdp_rollouts.py "
        f"--runs {args.runs}{' --decompose' if args.decompose else ''}"
        f"{'' if args.stem == 'vcmdp_rollouts' else ' --stem ' + args.stem}` ({opts}): the {E} held-out test "
        f"episodes ({T} slots, uniform behaviour policy) replayed "
        f"open loop in each learned env from their real first state with their recorded actions; 'one step' = the "
        f"predictors on the recorded (s, a) themselves"
        f"{DECOMPOSE_NOTE if args.decompose else ''}. Per-episode columns compare each episode's mean with its "
        f"real mean; versions {man['versions']}.\n\n" + table(rows) + f"\n\n![rollouts]({args.stem}.png)\n"))
    print(f"files in {out}: {args.stem}.md, {args.stem}.csv, {args.stem}.png")
    return 0


def _say(label: str, rows: list[dict], t0: float) -> None:
    print(f"  {label:22s} EE {rows[-1]['reward_mbit_per_j']:9.1f} ({rows[-1]['reward_ratio']:.2f}x real)  "
          f"violation {rows[-1]['violation_rate']:.4f} (real {rows[0]['violation_rate']:.4f})  buffered "
          f"{rows[-1]['buffered_packets']:.2f} (real {rows[0]['buffered_packets']:.2f})  "
          f"{time.perf_counter() - t0:.0f} s")


def predictor_rows(framework: str, models: Path, real: dict, what: str) -> list[dict]:
    """One table row per predictor family (KAN, MLP): its reward / cost on the (s, a) of ``real`` (episodes of
    :func:`.rollouts.episodes_of`'s layout), described as ``what``."""
    from cfmarl.policies.offline.virtual_cmdp.env import VirtualCmdpCore, make_config
    from cfmarl.policies.offline.virtual_cmdp.rollouts import one_step

    E, T = real["r"].shape
    rows = []
    for predictor in ("kan", "mlp"):
        core = VirtualCmdpCore(make_config(framework, models=str(models), predictor=predictor, episode_slots=T), E)
        pred = one_step(core, real["s"], real["a"])
        rows.append(summarise(f"one step, {predictor.upper()} predictors on {what}", pred["r"], pred["c"], None, real))
    return rows


def closed_loop_check(args, runs: Path, out: Path, models: Path, man: dict, frameworks: list[str], layout) -> int:
    """The ``--policy`` mode (module documentation)."""
    from cfmarl.envs.urllc_ofdm.core import UrllcCore
    from cfmarl.policies.module_controller import controller_for, latest_checkpoint_of, load_module
    from cfmarl.policies.offline.virtual_cmdp.env import VirtualCmdpCore, make_config
    from cfmarl.policies.offline.virtual_cmdp.rollouts import closed_loop, real_episodes, replay
    from cfmarl.rundir import atomic_write_text, write_csv

    if args.ensemble < 0 or args.ensemble == 1:
        print(f"error: --ensemble: 0 (none) or at least 2 members, got {args.ensemble}", file=sys.stderr)
        return 2
    try:
        path = latest_checkpoint_of(args.policy)
        ctrl = controller_for(load_module(path), path.name, stochastic=not args.greedy, seed=args.seed)
    except ValueError as exc:
        print(f"error: --policy: {exc}", file=sys.stderr)
        return 2
    E = args.episodes or 30
    seeds = [args.seed * 100_003 + i for i in range(E)]
    t0 = time.perf_counter()
    real_config = VirtualCmdpCore(make_config(frameworks[0], models=str(models)), 1).real_config  # the fitted env's
    real = real_episodes(UrllcCore(real_config, num_envs=E), ctrl, seeds, layout)
    T = real["r"].shape[1]
    acting = "greedy" if args.greedy else "sampled"
    print(f"{path}: {E} real episodes x {T} slots ({acting} actions) in {time.perf_counter() - t0:.0f} s: EE "
          f"{real['r'].mean():.1f} Mbit/J, violation {real['c'].mean():.4f}")
    rows = [summarise("real env, the policy", real["r"], real["c"], real["buffered"], real)]
    curves = {"real env": real}
    rows += predictor_rows(frameworks[0], models, real, "the policy's real (s, a)")
    for fw in frameworks:
        t0 = time.perf_counter()
        core = VirtualCmdpCore(make_config(fw, models=str(models), episode_slots=T), E)
        roll = replay(core, real["s"][:, 0], real["a"], seeds)
        rows.append(summarise(f"open loop, the policy's real actions in {LABEL[fw]}", roll["r"], roll["c"],
                              roll["buffered"], real))
        loop = closed_loop(core, ctrl, real["s"][:, 0], T, seeds)
        rows.append(summarise(f"closed loop, the policy in {LABEL[fw]}", loop["r"], loop["c"], loop["buffered"], real))
        curves[f"{LABEL[fw]}, open loop"] = roll
        curves[f"{LABEL[fw]}, closed loop"] = loop
        print(f"  {LABEL[fw]:22s} closed loop: EE {rows[-1]['reward_mbit_per_j']:9.1f} ({rows[-1]['reward_ratio']:.2f}x "
              f"real)  violation {rows[-1]['violation_rate']:.4f} (real {rows[0]['violation_rate']:.4f})  "
              f"{time.perf_counter() - t0:.0f} s")
    extra = ensemble_section(args, models, real) if args.ensemble else ""
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / f"{args.stem}.csv", rows)
    plot(curves, out / f"{args.stem}.png", f"{path.parent.parent.name}@{path.name} ({acting}) in the real env and in "
                                           f"the learned env(s) from the same {E} first states ({runs.name})")
    cmd = (f"python benchmarks/urllc_vcmdp_rollouts.py --runs {args.runs} --policy {args.policy} --episodes {E}"
           f"{' --greedy' if args.greedy else ''}{f' --ensemble {args.ensemble}' if args.ensemble else ''} --stem {args.stem}")
    atomic_write_text(out / f"{args.stem}.md", (
        f"# URLLC virtual CMDP: a policy in the learned env vs the real env (closed loop)\n\n`{cmd}`: "
        f"{path.parent.parent.name}@{path.name} acts ({acting}) for {E} episodes of {T} slots in the real env; "
        f"'one step' = the predictors on the (s, a) it visited there; 'open loop' = its real actions replayed in the "
        f"learned env from the same first states; 'closed loop' = the policy acting in the learned env from those "
        f"states. A closed-loop row far from the real row is what pretraining in that env optimises against; "
        f"versions {man['versions']}.\n\n" + table(rows) + f"\n\n![closed loop]({args.stem}.png)\n" + extra))
    print(f"files in {out}: {args.stem}.md, {args.stem}.csv, {args.stem}.png")
    return 0


def ensemble_section(args, models: Path, real: dict) -> str:
    """The ``--ensemble`` table (markdown): bootstrap MLP predictors on the fitted models' training rows, scored on
    the test data and on the policy's real (s, a), in the predictors' normalised units."""
    import torch

    from cfmarl.datasets import load_dataset
    from cfmarl.policies.offline.virtual_cmdp.data import split_dataset
    from cfmarl.policies.offline.virtual_cmdp.fit import ModelSpec, subsample, tables
    from cfmarl.policies.offline.virtual_cmdp.rollouts import bootstrap_disagreement

    man = json.loads((models / "manifest.json").read_text())
    spec = man["spec"]
    tab = tables(split_dataset(load_dataset(Path(args.runs) / "dataset"), seed=int(spec.get("split_seed", 32))))
    rows = ModelSpec(seed=int(spec.get("seed", 32)),
                     max_train_rows=int(spec.get("max_train_rows", ModelSpec.max_train_rows)))
    keep = subsample(torch.arange(len(tab.sa["train"])), rows)  # the fitted predictors' training rows
    F = real["s"].shape[-1]
    sa = torch.as_tensor(tab.norms["sa"](np.concatenate([real["s"].reshape(-1, F), real["a"].reshape(
        -1, real["a"].shape[-1])], -1)), dtype=torch.float32)
    lines = [f"\n## Would an ensemble's disagreement flag these (s, a)?\n\n{args.ensemble} MLP predictors, each on a "
             f"bootstrap resample of the same {len(keep)} training rows as the fitted predictors (early-stopped on the "
             f"validation episodes), in the predictors' normalised units (the training range mapped to [0, 1]): a "
             f"MOPO-style penalty kappa x std helps where the std grows with the error.\n",
             "| target | data | mean prediction | truth | ensemble std (mean / 90 %) | abs. error of the mean |",
             "|---|---|---:|---:|---:|---:|"]
    for target, name in (("c", "cost"), ("r", "reward")):
        y = getattr(tab, target)
        truth = tab.norms[target](real[target].reshape(-1, 1))[:, 0]
        res = bootstrap_disagreement(tab.sa["train"][keep], y["train"][keep], tab.sa["val"], y["val"],
                                     {"test data": (tab.sa["test"], y["test"].numpy()), "the policy's real (s, a)":
                                      (sa, truth)}, members=args.ensemble, seed=100)
        for k, v in res.items():
            lines.append(f"| {name} | {k} | {v['mean_prediction']:.4f} | {v['truth']:.4f} | {v['ensemble_std']:.4f} / "
                         f"{v['ensemble_std_p90']:.4f} | {v['abs_error']:.4f} |")
        t, q = res["test data"], res["the policy's real (s, a)"]
        print(f"  ensemble ({name}): std {t['ensemble_std']:.4f} on the test data vs {q['ensemble_std']:.4f} on the "
              f"policy's; error {t['abs_error']:.4f} vs {q['abs_error']:.4f}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
