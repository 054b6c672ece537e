"""Validation during training and the choice of the checkpoint kept as best (``training.selection``).

A policy is validated on fixed seeds (``training.validation_seed`` / ``validation_episodes``) every
``training.validate_every`` iterations: :func:`validate` for a trained RLModule (each size of ``env.mix``),
:func:`validate_controller` for any controller (offline learners). :func:`selection_rule` says when a validation
is feasible, :func:`better` which of two validations wins, :func:`revalidated` when an unchanged best policy's
newer checkpoint replaces it, :func:`read_best` reloads the record of the best
checkpoint of an interrupted run. Used by ``cfmarl train`` (cfmarl/train.py), offline training
(cfmarl/offline_train.py) and Tune trials (cfmarl/tune_trainable.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cfmarl import checkpoints
from cfmarl.experiment import ExperimentConfig


def shown(key: str) -> bool:
    """Validation keys printed on one line (each size's of a mixture stay in metrics.csv)."""
    return key.startswith("val/") and "/" not in key[4:]


def validate(exp: ExperimentConfig, module) -> dict[str, float]:
    """The RLModule ``module`` (greedy unless evaluation.stochastic) on the validation seeds: mean cost, team
    return and the env's progress KPIs (prefixed ``val/``). With ``env.mix``, at every size: the worst size's cost (and its standard error)
    decides feasibility, team returns add up, KPIs are the sizes' means, each size's also as ``val/<size>/...``."""
    from cfmarl.policies.module_controller import controller_for, rebuild_for_env

    kw = dict(stochastic=exp.evaluation.stochastic, seed=exp.training.validation_seed)
    out = validate_controller(exp, controller_for(module, "validation", **kw))
    if exp.env.mix:
        per_size = {exp.scale_label(): out}
        for size, over, cfg in zip(exp.mix_sizes(), exp.mix_overrides(), exp.size_env_configs()[1:]):
            env_config = {**exp.env_config(), "overrides": over}
            per_size[size] = validate_controller(exp, controller_for(rebuild_for_env(module, env_config),
                                                                     "validation", **kw), cfg)
        out = combine_validations(per_size)
    module.train()
    return out


def combine_validations(per_size: dict[str, dict[str, float]]) -> dict[str, float]:
    """One validation record from several sizes' (see :func:`validate`)."""
    worst = max(per_size, key=lambda k: per_size[k].get("val/mean_cost", -np.inf))
    keys = dict.fromkeys(k for v in per_size.values() for k in v)
    out = {k: float(np.mean([v[k] for v in per_size.values() if k in v])) for k in keys}
    out["val/team_return"] = float(sum(v.get("val/team_return", 0.0) for v in per_size.values()))
    for k in ("val/mean_cost", "val/mean_cost_se"):
        if k in per_size[worst]:
            out[k] = per_size[worst][k]
    for size, v in per_size.items():
        out.update({f"val/{size}/{k[4:]}": x for k, x in v.items()})
    return out


def validate_controller(exp: ExperimentConfig, ctrl, env_cfg=None) -> dict[str, float]:
    """Any controller on the experiment's validation seeds -> ``val/`` metrics (RLlib and offline runs);
    ``env_cfg``: another size's env config (``env.mix``)."""
    from cfmarl import evaluate

    entry = exp.env_entry()
    env_cfg = env_cfg if env_cfg is not None else exp.make_env_config()
    res = evaluate.run_policy(lambda n: entry.make_core(env_cfg, n), ctrl,
                              evaluate.episode_seeds(exp.training.validation_seed, exp.training.validation_episodes))
    s = res.summary()
    keys = ("mean_cost", "team_return", *entry.declaration.progress)
    out = {f"val/{k}": float(s[k]) for k in keys if k in s}
    if "mean_cost_std" in s:  # the standard error of the validation cost (training.selection: judged)
        out["val/mean_cost_se"] = float(s["mean_cost_std"]) / np.sqrt(exp.training.validation_episodes)
    return out


def selection_rule(exp: ExperimentConfig) -> tuple[float, float]:
    """(limit, z) of checkpoint selection: a validation is feasible when its cost + z standard errors is
    within the limit. ``training.selection: target`` = the training target, z = 0; ``judged`` = the limit the
    policy is judged by (evaluation.cost_limit) with z = 2, so that the chosen checkpoint stays within it on
    unseen episodes (an upper confidence bound instead of a point estimate under a hand-set margin)."""
    if exp.training.selection == "judged":
        return exp.evaluation.judged_limit(exp.algorithm), 2.0
    return exp.algorithm.cost_limit, 0.0


def upper_bound(val: dict, z: float, size: str | None = None) -> float:
    """A validation's cost + z standard errors (of one size of ``env.mix`` with ``size``): what selection and
    retargeting compare with the limit."""
    p = "val/" if size is None else f"val/{size}/"
    return val[f"{p}mean_cost"] + z * val.get(f"{p}mean_cost_se", 0.0)


def better(val: dict, best: dict | None, limit: float, z: float = 0.0) -> bool:
    """Feasible (validation cost + z standard errors <= limit) beats infeasible; among feasible the higher
    team return wins, among infeasible the lower cost."""
    if best is None:
        return True
    feas, best_feas = upper_bound(val, z) <= limit, upper_bound(best, z) <= limit
    if feas != best_feas:
        return feas
    if feas:
        return val["val/team_return"] > best["val/team_return"]
    return val["val/mean_cost"] < best["val/mean_cost"]


def revalidated(val: dict, best: dict | None) -> bool:
    """The best policy validated again, unchanged (every ``val/`` number equal - e.g. frozen while the critics warm
    up): its newer checkpoint is the better one to keep, since it carries the value heads trained since, and a
    rollback (``training.rollback``) then lands on trained critics instead of the warm start's untrained ones."""
    keys = [k for k in val if k.startswith("val/")]
    return best is not None and bool(keys) and all(k in best and val[k] == best[k] for k in keys)


def read_best(ckpt_root: Path, say) -> dict | None:
    """The best-validated record, if it and its checkpoint are intact (else it is re-chosen from the
    validations still to come, and the user is told)."""
    import json

    p = ckpt_root / "best.json"
    if not p.exists():
        return None
    try:
        best = json.loads(p.read_text())
        float(best["val/mean_cost"]), int(best["iteration"])
    except Exception:  # noqa: BLE001 - any unreadable record
        say(f"Ignoring {p}: unreadable; the best checkpoint is chosen again from the coming validations")
        return None
    why = checkpoints.damage(ckpt_root / "best")
    if why is not None:
        say(f"Ignoring the best checkpoint {ckpt_root / 'best'}: {why}; chosen again from the coming validations")
        return None
    return best
