"""A trained RLModule as a controller for the evaluation harness.

:class:`ModuleController` (graph and central modules): ``act(core, state, obs)``
builds the padded graph observation of every env copy (with the edge mask of a
dynamic graph), runs ``forward_inference`` once for all copies and takes the
deterministic action of the module's head for every node (argmax for discrete
actions, the mean of a Beta / the squashed mean of a Gaussian for continuous ones),
or with ``stochastic=True`` a seeded sample of the policy.

:class:`PerAgentController` (stock RLlib per-agent modules): every agent's
observation is one row of a batch; the greedy action of RLlib's distribution is
mapped to the env's bounds the way RLlib's env runner maps it
(``normalize_actions``: clip to [-1, 1], then scale to [low, high]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ray.rllib.core.columns import Columns


class _Sampling:
    """Deterministic (argmax / mean) actions, or - with ``stochastic`` - samples of the policy drawn
    from a private, seeded torch stream (the same episodes give the same samples; no global RNG
    is touched). Sampling is the faithful evaluation when a continuous head's mean is not a typical
    action of an env that thresholds or rounds it (with the hybrid head, the greedy action already
    picks the most likely level)."""

    def __init__(self, stochastic: bool, seed: int):
        self.stochastic, self.seed, self.calls = stochastic, seed, 0

    def _seeded(self, sample):
        """``sample()`` on the private stream: the next call's seed, the global generator left as it was."""
        self.calls += 1
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + self.calls)
            return sample()

    def draw(self, dist):
        return self._seeded(dist.sample) if self.stochastic else dist.to_deterministic().sample()

    def decode(self, module, batch):
        """An autoregressive module (MAT) samples its actions itself, node after node."""
        if not self.stochastic:
            return module.forward_inference(batch)[Columns.ACTIONS]
        return self._seeded(lambda: module.forward_exploration(batch)[Columns.ACTIONS])


class ModuleController:
    privileged = False

    def __init__(self, module, name: str = "learned", stochastic: bool = False, seed: int = 0):
        self.module = module
        self.name = name
        self._sampling = _Sampling(stochastic, seed)
        module.eval()

    def act(self, core, state, obs: np.ndarray) -> np.ndarray:
        from cfmarl.policies.adapters.graph_env import graph_observation

        n = obs.shape[1]
        batch = {k: torch.from_numpy(v) for k, v in graph_observation(core, state, obs, self.module.n_max).items()}
        with torch.no_grad():
            if getattr(self.module, "autoregressive", False):
                action = self._sampling.decode(self.module, {Columns.OBS: batch})[:, :n].numpy()
            else:
                out = self.module.forward_inference({Columns.OBS: batch})
                dist = self.module.get_inference_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
                action = self._sampling.draw(dist)[:, :n].numpy()
        return action.astype(np.int8) if action.dtype.kind in "iu" else action.astype(np.float64)


class PerAgentController:
    """A stock per-agent RLModule (shared by all agents) acting on an array core."""

    privileged = False

    def __init__(self, module, name: str = "learned", normalize_actions: bool = True, stochastic: bool = False,
                 seed: int = 0):
        self.module = module
        self.name = name
        self.normalize_actions = normalize_actions
        self._sampling = _Sampling(stochastic, seed)
        module.eval()

    def act(self, core, state, obs: np.ndarray) -> np.ndarray:
        B, N, F = obs.shape
        x = torch.from_numpy(np.ascontiguousarray(obs.reshape(B * N, F), dtype=np.float32))
        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: x})
            dist = self.module.get_inference_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
            a = self._sampling.draw(dist).numpy()
        from cfmarl.policies.adapters.graph_env import is_discrete

        if is_discrete(core):
            return a.reshape(B, N).astype(np.int8)
        lo, hi = core.action_bounds
        a = a.reshape(B, N, core.action_dim).astype(np.float64)
        if self.normalize_actions:
            a = lo + (np.clip(a, -1.0, 1.0) + 1.0) * 0.5 * (hi - lo)
        return np.clip(a, lo, hi)


def controller_for(module, name: str, stochastic: bool = False, seed: int = 0):
    """The controller that fits ``module`` (graph / central module, or a stock per-agent one)."""
    cls = ModuleController if hasattr(module, "n_max") else PerAgentController
    return cls(module, name, stochastic=stochastic, seed=seed)


PRETRAINED = Path(__file__).resolve().parent / "pretrained"  # policies shipped with cfmarl (each has a README)


def pretrained_names() -> list[str]:
    return sorted(d.name for d in PRETRAINED.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))) \
        if PRETRAINED.is_dir() else []


def resolve_policy_path(path: str | Path) -> Path:
    """``pretrained:NAME`` is a policy shipped in cfmarl/policies/pretrained/NAME; anything else is a path."""
    s = str(path)
    if not s.startswith("pretrained:"):
        return Path(path)
    name = s.split(":", 1)[1]
    if name not in pretrained_names():
        raise ValueError(f"{s!r}: no shipped policy {name!r}; shipped: {', '.join(pretrained_names()) or 'none'}")
    return PRETRAINED / name


def latest_checkpoint_of(path: str | Path, say=print) -> Path:
    """A checkpoint folder as given (checked against its manifest, if it has one), the newest
    intact ``checkpoints/iter_*`` of a run directory (damaged newer ones are skipped with a message),
    or a shipped policy (``pretrained:NAME``)."""
    from cfmarl import checkpoints

    p = resolve_policy_path(path)
    if (p / "checkpoints").is_dir():
        found = checkpoints.newest_intact(p / "checkpoints", say)
        if found is None:
            raise ValueError(f"{str(path)!r}: run directory has no checkpoint yet")
        return found[1]
    if not p.exists():
        raise ValueError(f"{str(path)!r}: no such checkpoint or run directory")
    checkpoints.verify(p, "checkpoint")
    return p


def module_checkpoint_dir(checkpoint: str | Path, module_id: str = "shared") -> Path:
    """The RLModule folder inside an algorithm checkpoint, a `cfmarl tune` trial checkpoint
    (``<checkpoint>/algorithm/...``), or the folder itself."""
    p = Path(checkpoint)
    for root in (p, p / "algorithm"):
        inner = root / "learner_group" / "learner" / "rl_module" / module_id
        if inner.is_dir():
            return inner
    return p


def load_module(checkpoint: str | Path, module_id: str = "shared"):
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = module_checkpoint_dir(checkpoint, module_id).resolve()  # RLlib needs an absolute path (or a URI)
    if not (path / "module_state").exists() and not any(path.glob("module_state*")):
        raise ValueError(f"policy checkpoint {str(checkpoint)!r}: no RLModule '{module_id}' found "
                         f"(expected {path}/module_state...)")
    try:
        return RLModule.from_checkpoint(path)
    except Exception as exc:  # noqa: BLE001 - truncated / zero-byte / foreign files: one line, not a traceback
        raise ValueError(f"policy checkpoint {str(checkpoint)!r}: cannot load its RLModule '{module_id}' "
                         f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no detail'})"
                         ) from None


def rebuild_for_env(module, env_config: dict):
    """The same weights in a module built for another env size (graph models only:
    their parameters do not depend on the number of nodes; the graph is a buffer).
    Per-agent modules act on any number of agents as they are."""
    from cfmarl.policies.adapters.graph_env import GraphEnv

    if not hasattr(module, "n_max"):
        return module
    env_config = {k: v for k, v in env_config.items() if k != "mix"}  # acting is always on one size
    probe = GraphEnv(env_config)
    if probe.n_max == module.n_max and probe.observation_spaces["graph"] == module.observation_space:
        return module
    n_features = getattr(module, "n_features", None)
    if n_features is not None and n_features != probe.core.obs_dim:
        raise ValueError(f"the policy observes {n_features} features per node but this env gives "
                         f"{probe.core.obs_dim}: act on the env options it was trained with (env.overrides)")
    if not getattr(module, "per_node_critic", False):
        raise ValueError(f"a {type(module).__name__} is tied to its size ({module.n_max} nodes); "
                         f"it cannot act on {probe.n_max} nodes")
    edge_index, edge_type = probe.graph()
    mc = dict(module.model_config)
    mc.pop("graphs", None)
    mc.update(edge_index=edge_index, edge_type=edge_type, num_nodes=probe.n)
    new = type(module)(observation_space=probe.observation_spaces["graph"],
                       action_space=probe.action_spaces["graph"], model_config=mc)
    new.load_state_dict(module.state_dict())
    return new
