"""What the paper-reproduction scripts share: one training run per (shipped config, seed), its checkpoint,
and "mean ± std over seeds" cells.

Imported by ``benchmarks/dhi_power_control.py``, ``benchmarks/oran_precoding.py`` and
``benchmarks/oran_critic_gradient.py`` (run as scripts, so this folder is on ``sys.path``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def train_seed(runs: Path, config: str, seed: int, iterations: int | None) -> Path:
    """Train ``tune_configs/<config>.yaml`` with ``seed`` as ``<name>-s<seed>`` under ``runs`` (resumable)."""
    from cfmarl.train import train

    data = yaml.safe_load((ROOT / "tune_configs" / f"{config}.yaml").read_text())
    data["seed"], data["name"] = seed, f"{data['name']}-s{seed}"
    cfg = runs / f"{data['name']}.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    return train(str(cfg), out=str(runs), iterations=iterations)


def checkpoint(run: Path, which: str = "best") -> Path:
    """``best``: the best validated checkpoint (training.validate_every; the run's constrained rule) where the
    run validated, else the last one; ``final``: the last one."""
    if which == "best" and (run / "checkpoints" / "best").exists():
        return run / "checkpoints" / "best"
    ckpts = sorted((run / "checkpoints").glob("iter_*"))
    if not ckpts:
        raise SystemExit(f"{run}: no checkpoint; train it first (drop --no-train)")
    return ckpts[-1]


def run_env_overrides(run: Path) -> dict:
    """The env overrides a run trained with (action mode, precoder update, ...), from its experiment.yaml."""
    return dict(yaml.safe_load((run / "experiment.yaml").read_text())["env"].get("overrides") or {})


def pm(r: dict, k: str, fmt: str) -> str:
    """``r[k]`` formatted, with `` ± r[k_std]`` when the row aggregates more than one seed."""
    return fmt.format(r[k]) + (f" ± {fmt.format(r[k + '_std'])}" if r["seeds"] > 1 else "")
