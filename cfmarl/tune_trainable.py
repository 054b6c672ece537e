"""One Tune trial = one experiment with sampled hyperparameters (a ``tune.Trainable``).

The trial's config is ``{BASE_KEY: <experiment mapping>, SEED_OFFSET_KEY: i,
"<key path>": value, ...}``: the sampled values are applied to the experiment
mapping and the result is loaded by the strict schema, so a trial runs exactly
what ``cfmarl train`` would run with those values (same algorithm builder,
behaviour-cloning warm start, validation).

Constraint-aware state: the Lagrange multipliers and their update-rule state are
learner state, so they are inside every checkpoint and travel with a PBT
exploit. After any restore the trial re-applies ITS OWN hyperparameters: the
algorithm is built from the trial's (possibly perturbed) config, and the
optimizer learning rate - which ``torch.optim.Optimizer.load_state_dict``
would otherwise silently take from the donor - is set again explicitly. Every
report carries the values actually in force (``hp/...``) and, after a restore,
what was restored (``restore/...``), so tests and users can check both.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune

BASE_KEY = "cfmarl_experiment"
SEED_OFFSET_KEY = "seed_offset"
FITNESS_LIMIT_KEY = "cfmarl_fitness_cost_limit"
INFEASIBLE_OFFSET = -1.0e6  # constrained fitness of an infeasible trial: INFEASIBLE_OFFSET - relative violation


def sampled_values(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in (BASE_KEY, SEED_OFFSET_KEY, FITNESS_LIMIT_KEY)}


def trial_experiment(config: dict):
    """The typed experiment of a trial config."""
    from cfmarl.experiment import ExperimentConfig, from_dict
    from cfmarl.search_space import set_path

    data = config[BASE_KEY]
    for key, value in sampled_values(config).items():
        data = set_path(data, key, value)
    data = set_path(data, "seed", int(data.get("seed", 0)) + int(config.get(SEED_OFFSET_KEY, 0)))
    return from_dict(ExperimentConfig, data)


def fitness(ret: float, cost: float, limit: float, mode: str, penalty_weight: float) -> float:
    """Scalar ranking of a trial: ``reward`` = return; ``penalty`` = return - w * violation;
    ``constrained`` = return if cost <= limit, else INFEASIBLE_OFFSET - violation / limit
    (every feasible trial ranks above every infeasible one; infeasible trials rank by
    relative violation). Returns are assumed to be > INFEASIBLE_OFFSET."""
    if not (math.isfinite(ret) and math.isfinite(cost)):
        return float("nan")
    violation = max(0.0, cost - limit)
    if mode == "reward":
        return ret
    if mode == "penalty":
        return ret - penalty_weight * violation
    if violation <= 0:
        return ret
    return INFEASIBLE_OFFSET - violation / max(limit, 1e-12)


def weights_digest(module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


class ExperimentTrainable(tune.Trainable):
    @classmethod
    def default_resource_request(cls, config: dict):
        from ray.tune.execution.placement_groups import PlacementGroupFactory

        exp = trial_experiment(config)
        return PlacementGroupFactory([{"CPU": 1}] + [{"CPU": 1}] * exp.resources.num_env_runners)

    def setup(self, config: dict) -> None:
        import torch

        from cfmarl.algo_builder import build_algo_config

        self.exp = trial_experiment(config)
        self.fitness_limit = float(config.get(FITNESS_LIMIT_KEY, self.exp.algorithm.cost_limit))
        torch.set_num_threads(self.exp.resources.torch_threads)
        self.algo = build_algo_config(self.exp).build_algo()
        self._needs_pretrain = self.exp.pretrain.enabled and not self.exp.training.init_from
        self._init_from_done = False
        self._history: list[tuple[float, float]] = []
        self._last_val: dict | None = None
        self._restore_info: dict | None = None
        self._pretrain_info: dict | None = None

    # -- hyperparameters in force -------------------------------------------------------
    def _learner(self):
        return self.algo.learner_group._learner

    def _apply_hyperparameters(self) -> None:
        """Make the trial's own values the ones in force after a restore (the optimizer
        state of the checkpoint carries the donor's learning rate)."""
        from cfmarl.policies.learners.registry import get_learner
        from cfmarl.train import MODULE

        learner = self._learner()
        entry = get_learner(self.exp.algorithm.name)
        lrs = entry.optimizer_lrs(self.exp.algorithm) if entry.optimizer_lrs else None
        if not lrs and self.exp.algorithm.lr_schedule:
            return  # the checkpoint's lr is the schedule's, which RLlib moves on after each update
        for name, opt in learner._named_optimizers.items():
            short = name[len(MODULE) + 1:] if name.startswith(MODULE + "_") else name
            learner._set_optimizer_lr(opt, lrs[short][1] if lrs else self.exp.algorithm.lr)

    def _in_force(self) -> dict[str, float]:
        from cfmarl.train import MODULE

        from cfmarl.policies.learners.registry import get_learner

        learner = self._learner()
        lrs = {name[len(MODULE) + 1:]: float(opt.param_groups[0]["lr"])
               for name, opt in learner._named_optimizers.items() if opt.param_groups}
        lag = learner.config.get_config_for_module(MODULE).lagrange_config()
        out = {"hp/lr": next(iter(lrs.values()), float("nan")), "hp/lambda_lr": lag.lr,
               "hp/cost_limit": float(lag.cost_limit[0]), "hp/pid_kp": lag.kp, "hp/pid_ki": lag.ki,
               "hp/pid_kd": lag.kd, "hp/seed": float(self.exp.seed)}
        entry = get_learner(self.exp.algorithm.name)
        if entry.optimizer_lrs:  # one learning rate per optimizer, reported under its algorithm field
            for opt, (field, _) in entry.optimizer_lrs(self.exp.algorithm).items():
                if opt in lrs:
                    out[f"hp/{field}"] = lrs[opt]
        for key in ("entropy_coeff", "clip_param", "tau", "initial_alpha"):  # those the learner has
            if isinstance(getattr(learner.config, key, None), (int, float)):
                out[f"hp/{key}"] = float(getattr(learner.config, key))
        return out

    # -- training -------------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        import ray

        from cfmarl.train import MODULE, _module, init_from_checkpoint, metrics_row, pretrain, retarget, validate

        quiet = lambda m: None  # noqa: E731  (Tune prints the progress table)
        if not self._init_from_done and self.exp.training.init_from and self.iteration == 0:
            init_from_checkpoint(self.exp, self.algo, quiet)
        self._init_from_done = True
        if self._needs_pretrain:
            self._pretrain_info = pretrain(self.exp, self.algo, None, quiet)
            self._needs_pretrain = False
        t0 = time.perf_counter()
        result = self.algo.train()
        it = self.iteration + 1
        row = metrics_row(it, result, time.perf_counter() - t0)
        row.pop("iteration", None)
        out: dict[str, Any] = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        every = self.exp.training.validate_every
        if every and it % every == 0:
            self._last_val = validate(self.exp, self.algo)
            out.update(self._last_val)
            if self.exp.training.retarget_rate:
                out.update(retarget(self.exp, self.algo, self._last_val))
        use_val = self.exp.tune.fitness_source == "auto" and every and self._last_val is not None
        if use_val:
            ret, cost = self._last_val["val/team_return"], self._last_val["val/mean_cost"]
        else:
            ret = out.get("episode_return", float("nan"))
            cost = out.get("lagrange/mean_cost_0", out.get("cost/mean_node_cost_0", float("nan")))
        self._history.append((float(ret), float(cost)))
        window = self._history[-self.exp.tune.fitness_window:]
        ret_w, cost_w = float(np.mean([r for r, _ in window])), float(np.mean([c for _, c in window]))
        f = fitness(ret_w, cost_w, self.fitness_limit, self.exp.tune.fitness, self.exp.tune.penalty_weight)
        out.update({"fitness": f, "fitness/return": ret_w, "fitness/cost": cost_w,
                    "fitness/feasible": float(cost_w <= self.fitness_limit),
                    "fitness/source": 1.0 if use_val else 0.0})
        out.update(self._in_force())
        out["lagrange/multipliers"] = [float(x) for x in self._learner().multipliers(MODULE)]
        out["weights_digest"] = weights_digest(_module(self.algo))
        out["node_id"] = ray.get_runtime_context().get_node_id()
        out["pid"] = os.getpid()
        out["trial_index"] = self._trial_index()
        if self._pretrain_info is not None:
            out[f"pretrain/train_{self._pretrain_info['metric']}"] = self._pretrain_info["train_score"]
            out[f"pretrain/val_{self._pretrain_info['metric']}"] = self._pretrain_info["val_score"]
            self._pretrain_info = None
        if self._restore_info is not None:
            out.update({f"restore/{k}": v for k, v in self._restore_info.items()})
            self._restore_info = None
        return out

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, checkpoint_dir: str) -> None:
        from cfmarl.train import MODULE, _module

        from cfmarl import checkpoints, rundir

        self.algo.save_to_path(str(Path(checkpoint_dir, "algorithm").resolve()))
        rundir.atomic_write_bytes(Path(checkpoint_dir, checkpoints.RUNTIME), checkpoints.capture_runtime(self.algo))
        meta = {"iteration": self.iteration, "multipliers": self._learner().multipliers(MODULE),
                "weights_digest": weights_digest(_module(self.algo)), "history": self._history,
                "last_validation": self._last_val, "values": sampled_values(self.config),
                "seed": self.exp.seed, "trial_id": str(self.trial_id or "")}
        Path(checkpoint_dir, "cfmarl_trial.json").write_text(json.dumps(meta, default=float))
        checkpoints.write_manifest(Path(checkpoint_dir), iteration=self.iteration)

    def load_checkpoint(self, checkpoint: str | dict | None) -> None:
        from cfmarl.train import MODULE, _module, force_sync_weights, reseed_envs

        from cfmarl import checkpoints

        path = Path(checkpoint if isinstance(checkpoint, str) else checkpoint["path"])  # type: ignore[index]
        checkpoints.verify(path, "trial checkpoint")
        self.algo.restore_from_path(str((path / "algorithm").resolve()))
        self._apply_hyperparameters()
        force_sync_weights(self.algo)
        meta = json.loads((path / "cfmarl_trial.json").read_text())
        own = bool(self.trial_id) and meta.get("trial_id") == str(self.trial_id)
        exact = own and (path / checkpoints.RUNTIME).is_file()
        if exact:
            # this trial resuming itself (an interrupted or paused experiment): exactly where it was
            checkpoints.restore_runtime(self.algo, (path / checkpoints.RUNTIME).read_bytes())
        else:
            # a PBT exploit of another trial's checkpoint: the donor's weights, but this trial's own env streams
            reseed_envs(self.algo, self.exp.seed, int(meta["iteration"]), stream=self._trial_index() + 1)
        self._history = [tuple(x) for x in meta.get("history", [])]
        self._last_val = meta.get("last_validation")
        self._needs_pretrain = False
        self._init_from_done = True
        self._restore_info = {"from_iteration": int(meta["iteration"]), "from_seed": int(meta.get("seed", -1)),
                              "from_trial": str(meta.get("trial_id", "")), "exact": float(exact),
                              "from_values": {k: v for k, v in meta.get("values", {}).items()
                                              if isinstance(v, (int, float))},
                          "checkpoint_multipliers": [float(x) for x in meta["multipliers"]],
                          "multipliers": [float(x) for x in self._learner().multipliers(MODULE)],
                          "checkpoint_digest": meta["weights_digest"],
                          "digest": weights_digest(_module(self.algo))}

    def _trial_index(self) -> int:
        """The trial's index in the experiment (the deterministic suffix of its name)."""
        tail = str(self.trial_id or "").rsplit("_", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    def reset_config(self, new_config: dict) -> bool:
        return False  # a new config means a new algorithm: let Tune restart the actor

    def cleanup(self) -> None:
        self.algo.stop()
