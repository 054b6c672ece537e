"""Fit every learned part of the virtual CMDP to a URLLC dataset and measure its fidelity.

``fit_models(dataset, out, spec)`` writes into ``out``:

* reward and cost predictors on (s, a): a KAN and an MLP of the same parameter count each
  (``reward_kan``, ``cost_kan``, ``reward_mlp``, ``cost_mlp``);
* initial-state models of the per-UE channel view r0 (B K M) and queue view q0 (2) for every family:
  ``init_r_<f>`` / ``init_q_<f>`` with f in vae_chmdn (the paper's), ddpm, vae, gan;
* transition models of the per-UE channel view (r' | r: the channel process is action-independent) and
  queue view (q' | q, what the action does for the UE, :meth:`.data.Layout.queue_condition`):
  ``next_r_<f>`` / ``next_q_<f>`` with f in ea_cgmm (the paper's), ddim, cvae, cgan;
* ``manifest.json``: the spec, the env config, the split, every normaliser, per model its file, SHA-256,
  epochs and validation loss, and the fidelity measures on the test episodes (``fidelity``).

Every finished model is skipped on a rerun with the same spec; a model interrupted mid-fit resumes from
its per-epoch state (:func:`.training.fit`). Frameworks (paper Sec. V-C) pair the families:
vae_chmdn + ea_cgmm, ddpm + ddim, vae + cvae, gan + cgan (:data:`FRAMEWORKS`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cfmarl.envs.validation import ConfigError
from cfmarl.policies.offline.virtual_cmdp import metrics
from cfmarl.policies.offline.virtual_cmdp.data import Layout, Normaliser, Split, split_dataset
from cfmarl.policies.offline.virtual_cmdp.vae_chmdn import Z_PRIORS

FRAMEWORKS = {"vae_chmdn": ("vae_chmdn", "ea_cgmm"), "diffusion": ("ddpm", "ddim"), "vae": ("vae", "cvae"),
              "gan": ("gan", "cgan")}
INITIAL_KINDS = tuple(f[0] for f in FRAMEWORKS.values())
TRANSITION_KINDS = tuple(f[1] for f in FRAMEWORKS.values())


@dataclass(frozen=True)
class ModelSpec:
    """Hyperparameters of every model (the paper's where it gives them: KAN grid 10, order 3, grid_eps 0.1,
    evidence level alpha 0.03, 8 mixture components; the rest were lost or never given)."""

    split_seed: int = 32  # the paper's data / model seed
    seed: int = 32
    epochs: int = 200
    patience: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    kan_hidden: tuple[int, ...] = (6,)  # [258, 6, 1]: 23,310 trainable parameters (paper: 23,100)
    kan_grid: int = 10
    kan_order: int = 3
    kan_lr: float = 1e-3
    kan_grid_until: int = 50  # grid updates at epochs 0, 5, ..., < this
    components: int = 8  # G of VAE-ChMDN (initial state)
    transition_components: int = 8  # J of EA-CGMM
    latent: int = 16
    hidden: int = 128
    alpha: float = 0.03
    # where EA-CGMM's z comes from in a draw: "standard" N(0, I) (the paper) or "conditional" a learnt p(z | s, a)
    # fitted to the encoder's posteriors beside the paper's loss (vae_chmdn.py)
    transition_z_prior: str = "standard"
    # candidate z per EA-CGMM draw, one kept by its importance weight p(w | z) p(z) / prior(z) (vae_chmdn.py): 1 =
    # the paper's Alg. 1; a draw-time option (no refit)
    transition_z_draws: int = 1
    diffusion_hidden: int = 256
    diffusion_layers: int = 3
    diffusion_train_steps: int = 100
    ddpm_steps: int = 50  # initial-state sampler (paper: DDPM, 50 steps)
    ddim_steps: int = 5  # transition sampler (paper: DDIM, 5 steps, classifier-free guidance)
    guidance: float = 1.0
    # DDPM / DDIM x0 predictions clipped to +-this (standardised units; diffusers' clip_sample) in sampling,
    # about the 99.9 % quantile of the standardised features; 0 = no clipping. Without it a 5-step DDIM
    # amplifies the noise-prediction error by 1 / sqrt(alpha_bar_T) ~ 220 at its first step (measured on the
    # paper dataset's channel transitions: MAE 2.14 unclipped, 0.59 clipped at 5)
    diffusion_clip: float = 5.0
    # every transition model's standardised draws clipped to [-this, this] (0 = none; not in the paper): EA-CGMM's
    # channel draws (Alg. 1) are heavy-tailed, and rolled out alone they wander far from the data (per-feature MAE
    # to the recorded slot 5.7 over the last quarter of 200 slots against the CVAE's 0.87; 0.96 with a clip at 3 -
    # cut fits, benchmarks/results/urllc/vcmdp_transition_probe.md). A draw-time option: no refit
    transition_clip: float = 0.0
    p_uncond: float = 0.1
    gan_epochs: int = 100
    families: tuple[str, ...] = tuple(FRAMEWORKS)
    fidelity_draws: int = 5  # MMD of the initial-state models: mean over this many generated sets
    # training rows per model at most (a seeded subsample): the per-UE views triple the rows, and the
    # 96-dimensional joint of the channel transition makes an EA-CGMM epoch the longest step
    max_train_rows: int = 30_000

    def __post_init__(self) -> None:
        for name in ("epochs", "patience", "batch_size", "kan_grid", "kan_order", "components",
                     "transition_components", "latent", "hidden", "diffusion_hidden", "diffusion_layers",
                     "diffusion_train_steps", "ddpm_steps", "ddim_steps", "gan_epochs", "fidelity_draws",
                     "max_train_rows", "transition_z_draws"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"models.{name}: must be an integer >= 1, got {v!r}")
        for name in ("lr", "kan_lr"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 < v < 1:
                raise ConfigError(f"models.{name}: must be in (0, 1), got {v!r}")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"models.alpha: must be in (0, 1), got {self.alpha!r}")
        if self.transition_z_prior not in Z_PRIORS:
            raise ConfigError(f"models.transition_z_prior: one of {', '.join(Z_PRIORS)}, got "
                              f"{self.transition_z_prior!r}")
        if isinstance(self.diffusion_clip, bool) or not isinstance(self.diffusion_clip, (int, float)) \
                or self.diffusion_clip < 0:
            raise ConfigError(f"models.diffusion_clip: a number >= 0 (0 = no clipping), got {self.diffusion_clip!r}")
        if isinstance(self.transition_clip, bool) or not isinstance(self.transition_clip, (int, float)) \
                or not self.transition_clip >= 0:
            raise ConfigError(f"models.transition_clip: a number >= 0 (0 = no clipping), got {self.transition_clip!r}")
        if not 0 <= self.p_uncond < 1 or self.guidance < 0:
            raise ConfigError(f"models.p_uncond / guidance: p_uncond in [0, 1), guidance >= 0; got "
                              f"{self.p_uncond!r} / {self.guidance!r}")
        if max(self.ddpm_steps, self.ddim_steps) > self.diffusion_train_steps:
            raise ConfigError(f"models.ddpm_steps / ddim_steps: at most diffusion_train_steps = "
                              f"{self.diffusion_train_steps}, got {self.ddpm_steps} / {self.ddim_steps}")
        unknown = [f for f in self.families if f not in FRAMEWORKS]
        if unknown or not self.families:
            raise ConfigError(f"models.families: choose from {', '.join(FRAMEWORKS)}; got {list(self.families)}")
        if not self.kan_hidden or any(not isinstance(h, int) or h < 1 for h in self.kan_hidden):
            raise ConfigError(f"models.kan_hidden: hidden layer widths >= 1, got {self.kan_hidden!r}")

    def digest(self) -> str:
        """Fingerprint of what the fits depend on (sampling-only options are left out: changing them
        re-measures the fidelity without refitting)."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k not in SAMPLING_ONLY
                  and not (k in ADDED_LATER and v == ADDED_LATER[k])}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


SAMPLING_ONLY = ("diffusion_clip", "transition_z_draws", "transition_clip")
# fields added after models were recorded: left out of the digest while at their default, so those fits stay valid
ADDED_LATER = {"transition_z_prior": "standard"}


# ----------------------------------------------------------------------------- model zoo
def build(kind: str, dims: dict, spec: ModelSpec) -> torch.nn.Module:
    """A fresh model of ``kind`` for data of ``dims`` (x, and cond for transitions)."""
    from cfmarl.policies.offline.virtual_cmdp import generative as gen
    from cfmarl.policies.offline.virtual_cmdp.vae_chmdn import EaCgmm, VaeChMdn

    x, c = dims["x"], dims.get("cond", 0)
    if kind == "kan":
        from cfmarl.policies.offline.virtual_cmdp.kan_models import KanRegressor

        return KanRegressor(x, spec.kan_hidden, spec.kan_grid, spec.kan_order, seed=spec.seed)
    if kind == "mlp":
        from cfmarl.policies.offline.virtual_cmdp.kan_models import MlpRegressor

        return MlpRegressor(x, dims["hidden"])
    if kind == "vae_chmdn":
        return VaeChMdn(x, spec.components, spec.latent, spec.hidden)
    if kind == "ea_cgmm":
        return EaCgmm(x, c, spec.transition_components, spec.latent, spec.hidden, spec.alpha,
                      z_prior=spec.transition_z_prior, z_draws=spec.transition_z_draws)
    if kind in ("ddpm", "ddim"):
        return gen.Diffusion(x, c, spec.diffusion_hidden, spec.diffusion_layers, spec.diffusion_train_steps,
                             spec.p_uncond if c else 0.0)
    if kind in ("vae", "cvae"):
        return gen.Cvae(x, c, spec.latent, spec.hidden)
    if kind in ("gan", "cgan"):
        return gen.Cgan(x, c, spec.latent, spec.hidden)
    raise ConfigError(f"model kind {kind!r} unknown; known: kan, mlp, {', '.join(INITIAL_KINDS + TRANSITION_KINDS)}")


def draw(kind: str, model: torch.nn.Module, n: int, cond: torch.Tensor | None, spec: ModelSpec,
         generator: torch.Generator) -> torch.Tensor:
    """n samples of a generative model (one per row of ``cond`` for transitions), in normalised units; a
    transition model's clipped to +-``spec.transition_clip`` when that is set."""
    if kind in ("vae_chmdn",):
        return model.sample(n, generator)
    if kind == "ea_cgmm":
        x = model.sample(cond, generator)
    elif kind == "ddpm":
        return model.sample(n, cond, sampler="ddpm", steps=spec.ddpm_steps, generator=generator,
                            clip=spec.diffusion_clip)
    elif kind == "ddim":
        x = model.sample(n, cond, sampler="ddim", steps=spec.ddim_steps, guidance=spec.guidance,
                         generator=generator, clip=spec.diffusion_clip)
    else:
        x = model.sample(n, cond, generator=generator)
    if kind in TRANSITION_KINDS and spec.transition_clip > 0:
        x = x.clamp(-spec.transition_clip, spec.transition_clip)
    return x


def save_model(path: Path, kind: str, dims: dict, model: torch.nn.Module) -> str:
    """Atomic torch file {kind, dims, state}; returns its SHA-256."""
    from cfmarl.rundir import atomic_write_bytes

    buf = io.BytesIO()
    torch.save({"kind": kind, "dims": dims, "state": {k: v.clone() for k, v in model.state_dict().items()}}, buf)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load_model(path: Path, spec: ModelSpec, sha256: str | None = None) -> tuple[str, torch.nn.Module]:
    data = Path(path).read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ConfigError(f"virtual CMDP model {path} does not match its manifest (SHA-256 differs); refit with "
                          f"`cfmarl offline ... --fresh` or restore the file")
    blob = torch.load(io.BytesIO(data), weights_only=True)
    model = build(blob["kind"], blob["dims"], spec)
    model.load_state_dict(blob["state"])
    model.eval()
    return blob["kind"], model


# ------------------------------------------------------------------------------ the data
@dataclass
class Tables:
    """Every model's training data, normalised, per split part."""

    layout: Layout
    norms: dict[str, Normaliser]
    sa: dict[str, torch.Tensor]  # reward / cost inputs in [-1, 1]
    r: dict[str, torch.Tensor]  # reward targets in [0, 1] (train range)
    c: dict[str, torch.Tensor]
    r0: dict[str, torch.Tensor]  # per-UE initial channel views
    q0: dict[str, torch.Tensor]
    r_now: dict[str, torch.Tensor]  # per-UE channel view at t (condition) and t + 1 (target)
    r_next: dict[str, torch.Tensor]
    q_cond: dict[str, torch.Tensor]
    q_next: dict[str, torch.Tensor]


def tables(split: Split) -> Tables:
    lay, tr = split.layout, split["train"]
    sa = lambda p: np.concatenate([split[p]["s"], split[p]["a"]], -1)  # noqa: E731
    norms = {"sa": Normaliser.to_unit_box(sa("train")),
             "r": Normaliser(np.array([tr["r"].min()]), np.array([max(np.ptp(tr["r"]), 1e-8)])),
             "c": Normaliser(np.array([tr["c"].min()]), np.array([max(np.ptp(tr["c"]), 1e-8)])),
             "r0": Normaliser.standard(lay.ue_channel(tr["s0"])), "q0": Normaliser.standard(lay.ue_queue(tr["s0"])),
             "ch": Normaliser.standard(lay.ue_channel(tr["s"])), "q": Normaliser.standard(lay.ue_queue(tr["s_next"])),
             "qc": Normaliser.standard(lay.queue_condition(tr["s"], tr["a"]))}
    T = lambda x: torch.as_tensor(np.asarray(x, np.float32))  # noqa: E731
    parts = ("train", "val", "test")
    return Tables(
        lay, norms,
        sa={p: T(norms["sa"](sa(p))) for p in parts},
        r={p: T(norms["r"](split[p]["r"][:, None])[:, 0]) for p in parts},
        c={p: T(norms["c"](split[p]["c"][:, None])[:, 0]) for p in parts},
        r0={p: T(norms["r0"](lay.ue_channel(split[p]["s0"]))) for p in parts},
        q0={p: T(norms["q0"](lay.ue_queue(split[p]["s0"]))) for p in parts},
        r_now={p: T(norms["ch"](lay.ue_channel(split[p]["s"]))) for p in parts},
        r_next={p: T(norms["ch"](lay.ue_channel(split[p]["s_next"]))) for p in parts},
        q_cond={p: T(norms["qc"](lay.queue_condition(split[p]["s"], split[p]["a"]))) for p in parts},
        q_next={p: T(norms["q"](lay.ue_queue(split[p]["s_next"]))) for p in parts})


# ------------------------------------------------------------------------------ fitting
def subsample(t: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """At most ``spec.max_train_rows`` training rows: the same seeded subsample (in row order) for every table of
    equal length."""
    n = t.shape[0]
    if n <= spec.max_train_rows:
        return t
    keep = np.sort(np.random.default_rng(spec.seed).permutation(n)[:spec.max_train_rows])
    return t[torch.as_tensor(keep)]


def fit_models(dataset_dir: str | Path, out: str | Path, spec: ModelSpec | None = None,
               log: Callable[[str], None] = print) -> dict:
    """Fit (or reuse) every model and write the manifest with the fidelity measures; returns it."""
    from cfmarl.datasets import load_dataset
    from cfmarl.policies.offline.virtual_cmdp.generative import fit_gan
    from cfmarl.policies.offline.virtual_cmdp.kan_models import kan_grid_updater, mlp_like, n_params
    from cfmarl.policies.offline.virtual_cmdp.training import fit
    from cfmarl.rundir import versions, write_json

    spec = spec or ModelSpec()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(dataset_dir)
    split = split_dataset(ds, seed=spec.split_seed)
    tab = tables(split)
    mpath = out / "manifest.json"
    old = json.loads(mpath.read_text()) if mpath.exists() else {}
    same = old.get("spec_digest") == spec.digest() and old.get("dataset") == ds.manifest.get("plan")
    manifest = {"format": "cfmarl-vcmdp-models-v1", "spec": dataclasses.asdict(spec), "spec_digest": spec.digest(),
                "dataset": ds.manifest.get("plan"), "dataset_dir": str(Path(dataset_dir).resolve()),
                "env_config": ds.manifest["env_config"], "layout": dataclasses.asdict(tab.layout),
                "split": {k: v.tolist() for k, v in split.episodes.items()},
                "norms": {k: v.to_dict() for k, v in tab.norms.items()},
                "models": old.get("models", {}) if same else {}, "versions": versions()}
    if same and old.get("complete") and all((out / e["file"]).exists() for e in old["models"].values()):
        log(f"  every model fitted before ({len(old['models'])}; manifest {mpath})")
        now = dataclasses.asdict(spec)
        # a sampling option missing from an older manifest was at its default
        if all(old["spec"].get(k, ModelSpec.__dataclass_fields__[k].default) == now[k] for k in SAMPLING_ONLY):
            return old
        log(f"  sampling options changed ({', '.join(SAMPLING_ONLY)}): fidelity measured again")
        models = {name: load_model(out / e["file"], spec, e["sha256"])[1] for name, e in old["models"].items()}
        old["spec"], old["spec_digest"] = now, spec.digest()
        old["fidelity"] = fidelity(models, tab, spec, old["fidelity"].get("kan_params"))
        write_json(mpath, old)
        return old
    if not same:  # another spec or dataset: an interrupted fit of the old one must not be resumed
        for stale in out.glob(".*.fit.pt"):
            stale.unlink()
    write_json(mpath, manifest)

    def one(name: str, kind: str, dims: dict, train, val, loss_of=None, gan=False, kan_x=None):
        entry = manifest["models"].get(name)
        if entry and (out / entry["file"]).exists():
            log(f"  {name:18s} done before (epoch {entry['best_epoch']}, val {_fmt(entry['best_val'])})")
            return load_model(out / entry["file"], spec, entry["sha256"])[1]
        torch.manual_seed(spec.seed)
        model = build(kind, dims, spec)
        t0 = time.perf_counter()
        if gan:
            hist = fit_gan(model, train[0], train[1] if len(train) > 1 else None, epochs=spec.gan_epochs,
                           batch_size=spec.batch_size, lr=2e-4, seed=spec.seed)
            best_epoch, best_val = len(hist), None  # no validation loss for a GAN (fixed epochs)
        else:
            params = model.trainable() if hasattr(model, "trainable") else None
            hook = kan_grid_updater(model, kan_x, until=spec.kan_grid_until, seed=spec.seed) if kan_x is not None else None
            def progress(row, name=name):  # a line every 10 epochs (and the first)
                if row["epoch"] == 1 or row["epoch"] % 10 == 0:
                    log(f"    {name} epoch {row['epoch']}/{spec.epochs}: train {row['train']:.4g}, val "
                        f"{row['val']:.4g} ({row['seconds']:.1f} s per epoch)")

            res = fit(model, loss_of(model), train, val, epochs=spec.epochs, batch_size=spec.batch_size,
                      lr=spec.kan_lr if kind == "kan" else spec.lr, patience=spec.patience, seed=spec.seed,
                      params=params, on_epoch_start=hook, state_file=out / f".{name}.fit.pt", progress=progress)
            best_epoch, best_val = res.best_epoch, res.best_val
        file = f"{name}.pt"
        sha = save_model(out / file, kind, dims, model)
        (out / f".{name}.fit.pt").unlink(missing_ok=True)
        manifest["models"][name] = {"kind": kind, "file": file, "sha256": sha, "dims": dims,
                                    "best_epoch": best_epoch, "best_val": best_val,
                                    "fit_seconds": round(time.perf_counter() - t0, 1)}
        write_json(mpath, manifest)
        log(f"  {name:18s} {kind:9s} epoch {best_epoch:4d}  val {_fmt(best_val)}  "
            f"({time.perf_counter() - t0:.0f} s)")
        return model

    def lim(t):
        return subsample(t, spec)

    mse = lambda m: (lambda x, y: ((m(x) - y) ** 2).mean())  # noqa: E731
    models: dict[str, torch.nn.Module] = {}
    log("reward and cost predictors (KAN vs an MLP of equal size):")
    in_dim = tab.sa["train"].shape[1]
    kan_params = None
    for target in ("r", "c"):
        data = getattr(tab, target)
        name = {"r": "reward", "c": "cost"}[target]
        kan = one(f"{name}_kan", "kan", {"x": in_dim}, (lim(tab.sa["train"]), lim(data["train"])),
                  (tab.sa["val"], data["val"]), mse, kan_x=lim(tab.sa["train"]))
        kan_params = n_params(kan)
        hidden = mlp_like(kan_params, in_dim).net[0].out_features
        models[f"{name}_kan"] = kan
        models[f"{name}_mlp"] = one(f"{name}_mlp", "mlp", {"x": in_dim, "hidden": hidden},
                                    (lim(tab.sa["train"]), lim(data["train"])), (tab.sa["val"], data["val"]), mse)
    log("initial-state models (per-UE channel view r0 and queue view q0):")
    gen_loss = lambda m: m.loss  # noqa: E731
    for fam in spec.families:
        kind = FRAMEWORKS[fam][0]
        for view, data in (("r", tab.r0), ("q", tab.q0)):
            models[f"init_{view}_{kind}"] = one(f"init_{view}_{kind}", kind, {"x": data["train"].shape[1]},
                                                (lim(data["train"]),), (data["val"],), gen_loss, gan=kind == "gan")
    log("transition models (per-UE channel r' | r and queue q' | q, action):")
    for fam in spec.families:
        kind = FRAMEWORKS[fam][1]
        for view, y, w in (("r", tab.r_next, tab.r_now), ("q", tab.q_next, tab.q_cond)):
            models[f"next_{view}_{kind}"] = one(
                f"next_{view}_{kind}", kind, {"x": y["train"].shape[1], "cond": w["train"].shape[1]},
                (lim(y["train"]), lim(w["train"])), (y["val"], w["val"]), gen_loss, gan=kind == "cgan")
    log("fidelity on the test episodes ...")
    manifest["fidelity"] = fidelity(models, tab, spec, kan_params)
    manifest["complete"] = True
    write_json(mpath, manifest)
    return manifest


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4g}"


def fit_from_options(dataset_dir: str | Path, out: str | Path, options: dict, log: Callable[[str], None] = print
                     ) -> dict:
    """``offline.fit`` entry of ``cfmarl offline``: :func:`fit_models` with ``ModelSpec(**options)``
    (the experiment's ``offline.models``; unknown options are named)."""
    known = {f.name for f in dataclasses.fields(ModelSpec)}
    bad = sorted(set(options) - known)
    if bad:
        raise ConfigError(f"offline.models.{bad[0]}: unknown option; allowed: {', '.join(sorted(known))}")
    opts = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return fit_models(dataset_dir, out, ModelSpec(**opts), log)


# ----------------------------------------------------------------------------- fidelity
def _timed(fn: Callable[[], object], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@torch.no_grad()
def fidelity(models: dict, tab: Tables, spec: ModelSpec, kan_params: int | None) -> dict:
    """Test-episode measures: reward / cost MAE (targets scaled to the training range [0, 1]) and the
    residual-vs-truth slope (paper Fig. 6), initial-state MMD (Table IV), next-state MAE / W1 / MMD with
    one draw per test condition (Table V), FLOPs and microseconds per sample."""
    out: dict = {"predictors": {}, "initial": {}, "transition": {}, "kan_params": kan_params,
                 "note": "MMD^2 with one Gaussian-kernel bandwidth per view (the median distance of the test "
                         "data); FLOPs count matrix products only (torch's counter): a KAN's spline evaluation "
                         "and the mixtures' triangular solves are not in them - compare the microseconds"}
    for name in ("reward_kan", "reward_mlp", "cost_kan", "cost_mlp"):
        m = models[name]
        truth = (tab.r if name.startswith("reward") else tab.c)["test"].numpy()
        pred = m(tab.sa["test"]).numpy()
        res = pred - truth
        slope = float(np.polyfit(truth, res, 1)[0]) if np.ptp(truth) > 0 else 0.0
        x1 = tab.sa["test"][:1]
        out["predictors"][name] = {"mae": metrics.mae(pred, truth), "residual_mean": float(res.mean()),
                                   "residual_slope": slope, "params": sum(p.numel() for p in m.trainable()),
                                   "flops": metrics.flops(lambda: m(x1)),
                                   "us_per_sample": 1e6 * _timed(lambda: m(tab.sa["test"])) / len(truth)}
    for name, m in models.items():
        if not name.startswith(("init_", "next_")):
            continue
        kind = name.split("_", 2)[2]
        view = name.split("_")[1]
        if name.startswith("init_"):
            test = (tab.r0 if view == "r" else tab.q0)["test"]
            n = test.shape[0]
            h = metrics.median_bandwidth(test.numpy(), test.numpy())
            mmds = [metrics.mmd2(draw(kind, m, n, None, spec, torch.Generator().manual_seed(100 + i)).numpy(),
                                 test.numpy(), h) for i in range(spec.fidelity_draws)]
            out["initial"][name] = {
                "mmd2": float(np.mean(mmds)), "mmd2_std": float(np.std(mmds)), "n": n,
                "flops": metrics.flops(lambda: draw(kind, m, 1, None, spec, torch.Generator().manual_seed(0))),
                "us_per_sample": 1e6 * _timed(lambda: draw(kind, m, n, None, spec,
                                                           torch.Generator().manual_seed(0))) / n}
        else:
            y, w = ((tab.r_next, tab.r_now) if view == "r" else (tab.q_next, tab.q_cond))
            rows = np.sort(np.random.default_rng(spec.seed).permutation(len(y["test"]))[:4096])  # every model alike
            yt, wt = y["test"][rows], w["test"][rows]
            cap = len(rows)
            gen = draw(kind, m, cap, wt, spec, torch.Generator().manual_seed(7)).numpy()
            sub = slice(0, min(cap, 1000))  # rows are a random subset, so the first 1,000 are too
            joint_true = np.concatenate([wt.numpy(), yt.numpy()], -1)[sub]
            out["transition"][name] = {
                "mae": metrics.mae(gen, yt.numpy()), "w1_mean": float(metrics.w1_per_feature(gen, yt.numpy()).mean()),
                "mmd2_joint": metrics.mmd2(np.concatenate([wt.numpy(), gen], -1)[sub], joint_true,
                                           metrics.median_bandwidth(joint_true, joint_true)),
                "n": cap,
                "flops": metrics.flops(lambda: draw(kind, m, 1, wt[:1], spec, torch.Generator().manual_seed(0))),
                "us_per_sample": 1e6 * _timed(lambda: draw(kind, m, cap, wt, spec,
                                                           torch.Generator().manual_seed(0))) / cap}
    return out
