"""``cfmarl offline EXPERIMENT.yaml``: pretraining in a learned model of the env, then fine-tuning.

Stages (each resumable; a finished one is reused on the next call, ``--fresh`` starts over):

1. **collect** - ``offline.episodes`` episodes of the real env (the experiment's env, scenario and overrides)
   with the behaviour policy ``offline.behaviour`` (``cfmarl collect``), seed ``offline.dataset_seed``;
2. **fit** - the learned env's models, by the function ``offline.fit`` with the options ``offline.models``;
3. **pretrain** - per framework (a scenario of the learned env ``offline.virtual_env``) and seed, the
   experiment's learner trained ``offline.pretrain_iterations`` iterations in the learned env;
4. **finetune** - the experiment itself in the real env, initialised from the pretrained policy
   (``training.init_from``; the checkpoint of iteration ``offline.finetune_from``, 0 = the last);
5. **scratch** - the experiment itself in the real env from a fresh policy (the baseline);
6. **report** - learning curves of the env's declared progress KPIs and the cost, pretrained vs from scratch
   (mean and range over seeds), initial / final values and steps to converge: ``report.md``, ``report.png``,
   ``report.csv``.

``{models}`` in a spec of ``evaluation.baselines`` stands for the fitted models' folder (a baseline driven by
the learned models, e.g. the URLLC ``lyapunov-kan:models={models}``, evaluated beside every arm).
Behaviour cloning (``pretrain.enabled``) is switched off in every arm: the comparison is pretraining in the
learned env against none. Everything lands in ``<out>/offline-<name>/``.
"""

from __future__ import annotations

import copy
import csv
import importlib
import io
import math
import time
from pathlib import Path

import numpy as np
import yaml

from cfmarl.envs.validation import ConfigError
from cfmarl.experiment import load_experiment
from cfmarl.rundir import atomic_write_text, write_csv

STAGES = ("collect", "fit", "pretrain", "finetune", "scratch", "report")


def _function(path: str, field: str):
    mod, _, attr = path.partition(":")
    if not mod or not attr:
        raise ConfigError(f"{field}: 'package.module:function' required, got {path!r}")
    try:
        return getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{field}: cannot import {path!r} ({exc})") from None


class Pipeline:
    def __init__(self, path: str, out: str = "runs", seeds: list[int] | None = None, quiet: bool = False):
        self.path = path
        self.exp = load_experiment(path)
        self.raw = yaml.safe_load(Path(path).read_text())
        self.sec = sec = self.exp.offline
        for field in ("fit", "virtual_env"):
            if not getattr(sec, field):
                raise ConfigError(f"offline.{field}: required by `cfmarl offline` ('package.module:function')")
        self.fitter = _function(sec.fit, "offline.fit")
        self.virtual = _function(sec.virtual_env, "offline.virtual_env")()
        self.frameworks = list(sec.frameworks) or [self.virtual.default_scenario or self.virtual.scenario_names()[0]]
        bad = [f for f in self.frameworks if f not in self.virtual.scenario_names()]
        if bad:
            raise ConfigError(f"offline.frameworks: {bad} are not scenarios of the learned env; known: "
                              f"{', '.join(self.virtual.scenario_names())}")
        self.seeds = list(seeds) if seeds else list(sec.seeds)
        self.root = Path(out) / f"offline-{self.exp.name}"
        self.say = (lambda m: None) if quiet else (lambda m: print(m, flush=True))
        self.quiet = quiet

    # ------------------------------------------------------------- derived experiments
    def _arm(self, name: str, seed: int, **changes) -> str:
        data = copy.deepcopy(self.raw)
        data.pop("offline", None)
        data["name"], data["seed"] = name, seed
        data.setdefault("pretrain", {})["enabled"] = False
        ev = data.get("evaluation") or {}
        if ev.get("baselines"):  # "{models}" in a baseline spec: the fitted models' folder (absolute)
            models = str((self.root / "models").resolve())
            ev["baselines"] = [b.replace("{models}", models) if isinstance(b, str) else b for b in ev["baselines"]]
        for dotted, value in changes.items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        path = self.root / "configs" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
        return str(path)

    def _virtual_env(self, framework: str) -> dict:
        from cfmarl.registry import episode_length, episode_length_field

        real_cfg = self.exp.make_env_config()
        entry = self.exp.env_entry()
        over = {"models": str((self.root / "models").resolve()), **self.sec.virtual_overrides}
        probe = self.virtual.make_config(framework, models="")
        over[episode_length_field(probe, self.virtual)] = episode_length(real_cfg, entry)
        return {"name": self.sec.virtual_env, "scenario": framework, "overrides": over}

    def _run(self, name: str) -> Path:
        return self.root / "rl" / f"train-{name}"

    def _models_digest(self) -> str:
        """Fingerprint of the fitted models (their SHA-256s), stamped on every arm that depends on them."""
        import hashlib
        import json

        man = self.root / "models" / "manifest.json"
        files = json.loads(man.read_text()).get("models", {}) if man.exists() else {}
        return hashlib.sha256("".join(sorted(e.get("sha256", "") for e in files.values())).encode()).hexdigest()[:16]

    def _train(self, cfg: str, name: str, uses_models: bool = False) -> Path:
        from cfmarl.train import train

        run = self._run(name)
        stamp = run / "offline_models.txt"
        if uses_models and stamp.exists() and stamp.read_text().strip() != self._models_digest():
            raise ConfigError(f"{run}: trained with other models than {self.root / 'models'} holds now; remove the "
                              f"pretrain / finetune runs (or use --fresh) to retrain them")
        if (run / "evaluation.csv").exists():
            self.say(f"  {name}: done before")
            return run
        self.say(f"  {name} ...")
        if uses_models:
            run.mkdir(parents=True, exist_ok=True)
            atomic_write_text(stamp, self._models_digest() + "\n")
        return train(cfg, out=str(self.root / "rl"), quiet=self.quiet)

    # --------------------------------------------------------------------- stages
    def collect(self) -> None:
        from cfmarl.datasets import collect

        self.say(f"[collect] {self.sec.episodes} episodes of {self.exp.env.name}/{self.exp.scenario()} with "
                 f"{self.sec.behaviour}")
        collect(self.exp.env.name, self.exp.scenario(), dict(self.exp.env.overrides), [self.sec.behaviour],
                self.sec.episodes, self.sec.dataset_seed, self.root / "dataset", quiet=self.quiet)

    def fit(self) -> None:
        self.say(f"[fit] {self.sec.fit} -> {self.root / 'models'}")
        self.fitter(self.root / "dataset", self.root / "models", dict(self.sec.models), self.say)

    def pretrain(self) -> None:
        self.say(f"[pretrain] in the learned env: {', '.join(self.frameworks)} x seeds {self.seeds}")
        for fw in self.frameworks:
            for seed in self.seeds:
                name = f"pretrain-{fw}-s{seed}"
                cfg = self._arm(name, seed, env=self._virtual_env(fw), **{
                    "training.iterations": self.sec.pretrain_iterations, "evaluation.baselines": []})
                self._train(cfg, name, uses_models=True)

    def finetune(self) -> None:
        self.say("[finetune] in the real env from the pretrained policies")
        for fw in self.frameworks:
            for seed in self.seeds:
                src = self._run(f"pretrain-{fw}-s{seed}")
                if self.sec.finetune_from:
                    src = src / "checkpoints" / f"iter_{self.sec.finetune_from:06d}"
                if not src.exists():
                    raise ConfigError(f"offline.finetune_from: {src} does not exist (run the pretrain stage; "
                                      f"checkpoints are kept every training.checkpoint_every iterations, the last "
                                      f"training.keep_checkpoints of them)")
                name = f"finetune-{fw}-s{seed}"
                self._train(self._arm(name, seed, **{"training.init_from": str(src.resolve())}), name, uses_models=True)

    def scratch(self) -> None:
        self.say("[scratch] in the real env from a fresh policy")
        for seed in self.seeds:
            self._train(self._arm(f"scratch-s{seed}", seed), f"scratch-s{seed}")

    def report(self) -> Path:
        return report(self.root, self.exp, self.frameworks, self.seeds)


def run_offline(path: str, out: str = "runs", stages: list[str] | None = None, seeds: list[int] | None = None,
                fresh: bool = False, quiet: bool = False) -> Path:
    import shutil

    pipe = Pipeline(path, out, seeds, quiet)
    chosen = list(stages) if stages else list(STAGES)
    bad = [s for s in chosen if s not in STAGES]
    if bad:
        raise ConfigError(f"--stages: {bad} unknown; stages: {', '.join(STAGES)}")
    if fresh and pipe.root.exists():
        shutil.rmtree(pipe.root)
    t0 = time.perf_counter()
    for stage in STAGES:
        if stage in chosen:
            getattr(pipe, stage)()
    pipe.say(f"\nDone in {time.perf_counter() - t0:.0f} s. Files in {pipe.root}/: dataset/, models/ "
             f"(manifest.json: fits and fidelity), rl/ (one run directory per arm), report.md, report.png")
    return pipe.root


# ---------------------------------------------------------------------------- report
def _curves(run: Path) -> dict[str, np.ndarray]:
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for key in rows[0] if rows else []:
        vals = [float(r[key]) if r[key] not in ("", None) else math.nan for r in rows]
        out[key] = np.array(vals)
    return out


def converge_step(steps: np.ndarray, values: np.ndarray, window: int = 5, tol: float = 0.05) -> float:
    """First env step after which the ``window``-iteration moving mean stays within ``tol`` (relative) of
    the mean of the last ``window`` iterations."""
    if len(values) < window:
        return math.nan
    ma = np.convolve(values, np.ones(window) / window, mode="valid")
    final = ma[-1]
    ok = np.abs(ma - final) <= tol * max(abs(final), 1e-12)
    for i in range(len(ok)):
        if ok[i:].all():
            return float(steps[i + window - 1])
    return float(steps[-1])


def report(root: Path, exp, frameworks: list[str], seeds: list[int]) -> Path:
    """Learning curves and a table, pretrained vs from scratch (generic: the env's declared KPIs)."""
    decl = exp.env_entry().declaration
    keys = [f"kpi/{k}" for k in decl.progress] + ["cost/mean_node_cost_0", "episode_return"]
    arms = {f"pretrained ({fw})": [root / "rl" / f"train-finetune-{fw}-s{s}" for s in seeds] for fw in frameworks}
    arms["from scratch"] = [root / "rl" / f"train-scratch-s{s}" for s in seeds]
    curves = {arm: [_curves(r) for r in runs if (r / "metrics.csv").exists()] for arm, runs in arms.items()}
    rows = []
    for arm, cs in curves.items():
        for key in keys:
            have = [c for c in cs if key in c and len(c[key])]
            if not have:
                continue
            first = [c[key][0] for c in have]
            final = [np.nanmean(c[key][-max(1, len(c[key]) // 10):]) for c in have]
            conv = [converge_step(c["env_steps"], c[key]) for c in have]
            rows.append({"arm": arm, "metric": key, "seeds": len(have), "initial": float(np.mean(first)),
                         "initial_std": float(np.std(first)), "final": float(np.mean(final)),
                         "final_std": float(np.std(final)), "converged_at_env_steps": float(np.mean(conv))})
    write_csv(root / "report.csv", rows)
    lines = [f"# {exp.name}: pretrained in the learned env vs from scratch", "",
             f"{len(seeds)} seed(s); initial = training iteration 1, final = mean of the last 10 % of iterations, "
             "converged = first env step after which the 5-iteration moving mean stays within 5 % of its end.", "",
             "| arm | metric | initial | final | converged at env steps |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['arm']} | {r['metric']} | {r['initial']:.4g} ± {r['initial_std']:.2g} | "
                     f"{r['final']:.4g} ± {r['final_std']:.2g} | {r['converged_at_env_steps']:.0f} |")
    atomic_write_text(root / "report.md", "\n".join(lines) + "\n")
    _plot(root / "report.png", curves, keys, exp.name)
    return root / "report.md"


def _plot(path: Path, curves: dict, keys: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in keys if any(k in c for cs in curves.values() for c in cs)]
    if not keys:
        return
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (arm, cs) in enumerate(curves.items()):
            have = [c for c in cs if key in c]
            if not have:
                continue
            n = min(len(c[key]) for c in have)
            x = have[0]["env_steps"][:n]
            y = np.stack([c[key][:n] for c in have])
            ax.plot(x, np.nanmean(y, 0), color=f"C{i}", label=arm)
            if len(have) > 1:
                ax.fill_between(x, np.nanmin(y, 0), np.nanmax(y, 0), color=f"C{i}", alpha=0.2)
        ax.set_title(key.split("/")[-1], fontsize=9)
        ax.set_xlabel("env steps (real env)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{title}: pretrained in the learned env vs from scratch")
    fig.tight_layout()
    from cfmarl.rundir import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
