"""What every decentralised offline MARL method shares (MA-CDMP, BC, MA-TD3+BC, MA-CQL).

Agents are homogeneous and share parameters (the MA-CDMP paper, Sec. IV-B): a method learns from
per-node slices of a ``cfmarl collect`` dataset and decides for one node from that node's observation
row only (its own features and the mean-field features the env computes over its 1-hop neighbours), so
execution is decentralised by construction; an env copy's nodes are decided together as rows of one
batch (vectorised, no per-agent loop).

* :class:`NodeSpec` - feature / action sizes, bounds, normalisation (fitted on the training episodes);
* :class:`NodeData` - episodes of a dataset, split by episode into training and validation;
* :class:`OfflineMethod` - the interface the trainer (``cfmarl/offline_train.py``) drives:
  ``sample`` a minibatch, ``update`` (one gradient step, returns logged losses), ``held_out`` (losses
  without gradients), ``act`` (rows of observations -> env actions); optimisers in ``self.optimizers``
  and a torch generator ``self.gen`` for the method's own noise, so checkpoints resume exactly;
* :class:`OfflineController` - a trained method in the evaluation harness (``act(core, state, obs)``).

Options (``algorithm.options`` of the experiment) are a frozen dataclass per method, read strictly;
a method lists the ones that only change sampling (``SAMPLING``), which a trained policy may override at
evaluation time (``cfmarl evaluate --policy RUN:guidance=0.5``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from cfmarl.envs.validation import ConfigError


@dataclass(frozen=True)
class NodeSpec:
    obs_dim: int  # features of one node's observation row
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    neighbour_features: tuple[int, ...]  # columns computed from 1-hop neighbours (env declaration)
    obs_mean: tuple[float, ...]
    obs_std: tuple[float, ...]

    def features(self, mean_field: bool) -> list[int]:
        """The observation columns a method sees: all of them, or without the neighbour (mean-field) ones."""
        if mean_field:
            return list(range(self.obs_dim))
        if not self.neighbour_features:
            raise ConfigError("algorithm.options.mean_field: false drops the env's neighbour (mean-field) "
                              "observation features, but this env declares none (EnvDeclaration.neighbour_features)")
        return [i for i in range(self.obs_dim) if i not in self.neighbour_features]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> NodeSpec:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


class NodeData:
    """Whole episodes of a dataset: obs / next_obs (E, T, N, F), actions (E, T, N, A), rewards (E, T, N)."""

    def __init__(self, arrays: dict[str, np.ndarray], episodes: np.ndarray):
        self.obs = arrays["obs"][episodes]
        self.next_obs = arrays["next_obs"][episodes]
        self.actions = arrays["actions"][episodes]
        self.rewards = arrays["rewards"][episodes]
        self.E, self.T, self.N, self.F = self.obs.shape

    @property
    def transitions(self) -> int:
        return self.E * self.T * self.N

    def flat_index(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(episode, step, node) of flat transition indices."""
        e, rest = np.divmod(idx, self.T * self.N)
        t, n = np.divmod(rest, self.N)
        return e, t, n

    def windows(self, e: np.ndarray, t: np.ndarray, n: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
        """Observation / action / reward sequences of length ``horizon`` from (e, t, n) (t <= T - horizon)."""
        steps = t[:, None] + np.arange(horizon)[None, :]
        return {"obs": self.obs[e[:, None], steps, n[:, None]], "actions": self.actions[e[:, None], steps, n[:, None]],
                "rewards": self.rewards[e[:, None], steps, n[:, None]]}


def split_episodes(dataset, val_fraction: float, seed: int) -> tuple[NodeData, NodeData]:
    """Training and validation episodes (at least one each), drawn by ``seed``."""
    E = dataset.episodes
    if E < 2:
        raise ConfigError(f"offline dataset: {E} episode(s); a training and a validation split need >= 2 "
                          f"(offline.episodes)")
    order = np.random.default_rng(seed).permutation(E)
    n_val = min(E - 1, max(1, round(val_fraction * E)))
    return NodeData(dataset.arrays, np.sort(order[n_val:])), NodeData(dataset.arrays, np.sort(order[:n_val]))


def make_spec(core, declaration, train: NodeData) -> NodeSpec:
    lo, hi = core.action_bounds
    A = int(getattr(core, "action_dim", 1))
    mean = train.obs.reshape(-1, train.F).mean(0)
    std = np.maximum(train.obs.reshape(-1, train.F).std(0), 1e-3)
    return NodeSpec(obs_dim=train.F, action_dim=A, action_low=tuple(np.broadcast_to(lo, A).astype(float).tolist()),
                    action_high=tuple(np.broadcast_to(hi, A).astype(float).tolist()),
                    neighbour_features=tuple(int(i) for i in getattr(declaration, "neighbour_features", ())),
                    obs_mean=tuple(mean.tolist()), obs_std=tuple(std.tolist()))


def parse_options(cls: type, data: dict, method: str) -> Any:
    """The method's options dataclass from ``algorithm.options`` (unknown keys and wrong types are errors)."""
    from cfmarl.experiment import from_dict

    if not isinstance(data, dict):
        raise ConfigError(f"algorithm.options: must be a mapping, got {data!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    bad = sorted(set(data) - set(names))
    if bad:
        raise ConfigError(f"algorithm.options.{bad[0]}: not an option of {method}; allowed: {', '.join(names)}")
    opts = from_dict(cls, data, "algorithm.options")
    check = getattr(opts, "check", None)
    if check is not None:
        check()
    return opts


class OfflineMethod(torch.nn.Module):
    """Base class: subclasses set ``Options`` and build networks and ``self.optimizers`` in ``__init__``."""

    Options: ClassVar[type]
    SAMPLING: ClassVar[frozenset] = frozenset()  # options that only change how a trained method samples

    def __init__(self, spec: NodeSpec, options: Any, algorithm: Any, seed: int):
        super().__init__()
        self.spec, self.options, self.seed = spec, options, seed
        self.lr, self.gamma, self.batch_size = algorithm.lr, algorithm.gamma, algorithm.minibatch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.register_buffer("obs_mean", torch.tensor(spec.obs_mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.tensor(spec.obs_std, dtype=torch.float32))
        self.register_buffer("a_low", torch.tensor(spec.action_low, dtype=torch.float32))
        self.register_buffer("a_high", torch.tensor(spec.action_high, dtype=torch.float32))

    # ------------------------------------------------------------------ helpers
    def norm_obs(self, obs: np.ndarray | torch.Tensor, cols: list[int]) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(obs, np.float32)) if not isinstance(obs, torch.Tensor) else obs
        return (x[..., cols] - self.obs_mean[cols]) / self.obs_std[cols]

    def norm_action(self, a: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Env action -> [-1, 1]."""
        a = torch.as_tensor(np.asarray(a, np.float32)) if not isinstance(a, torch.Tensor) else a
        return 2 * (a - self.a_low) / (self.a_high - self.a_low) - 1

    def env_action(self, u: torch.Tensor) -> np.ndarray:
        """[-1, 1] -> env action (clipped to the bounds)."""
        u = u.clamp(-1, 1)
        return (self.a_low + (u + 1) * 0.5 * (self.a_high - self.a_low)).detach().numpy()

    # ------------------------------------------------------------------ interface
    def prepare(self, data: NodeData, rng: np.random.Generator) -> None:
        """Fit what depends on the training data before the first update (e.g. target scales)."""

    def sample(self, data: NodeData, size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def update(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        raise NotImplementedError

    def held_out(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        raise NotImplementedError

    def act(self, obs: np.ndarray, gen: torch.Generator) -> np.ndarray:
        """Observation rows (R, F) -> env actions (R, A); row i's action depends only on row i."""
        raise NotImplementedError

    def with_sampling(self, overrides: dict) -> OfflineMethod:
        """This method with sampling-time options replaced (errors for options that need retraining)."""
        bad = sorted(set(overrides) - set(self.SAMPLING))
        if bad:
            allowed = ", ".join(sorted(self.SAMPLING)) or "none"
            raise ConfigError(f"policy option(s) {', '.join(bad)}: a trained {type(self).__name__} can only change "
                              f"its sampling options at evaluation ({allowed}); the others need retraining")
        fields = {f.name: f.type for f in dataclasses.fields(self.options)}
        cast = {k: (float(v) if fields[k] in (float, "float") and not isinstance(v, bool) else v)
                for k, v in overrides.items()}
        self.options = dataclasses.replace(self.options, **cast)
        check = getattr(self.options, "check", None)
        if check is not None:
            check()
        return self


class OfflineController:
    """A trained offline method as a controller of the evaluation harness (seeded noise per decision)."""

    privileged = False

    def __init__(self, method: OfflineMethod, name: str, seed: int = 0):
        self.method, self.name = method.eval(), name
        self.gen = torch.Generator().manual_seed(int(seed))

    def act(self, core, state, obs: np.ndarray) -> np.ndarray:
        B, N, F = obs.shape
        a = self.method.act(obs.reshape(B * N, F), self.gen)
        return a.reshape(B, N) if a.shape[-1] == 1 else a.reshape(B, N, -1)
