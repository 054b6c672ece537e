"""A trained graph RLModule as a controller for the evaluation harness.

``act(core, state, obs)`` pads the core's observations (B, N, F) to the
module's N_max, runs ``forward_inference`` once for all env copies and takes the
greedy action of every node (deterministic evaluation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ray.rllib.core.columns import Columns


class ModuleController:
    privileged = False

    def __init__(self, module, name: str = "learned"):
        self.module = module
        self.name = name
        module.eval()

    def act(self, core, state, obs: np.ndarray) -> np.ndarray:
        B, N, F = obs.shape
        n_max = self.module.n_max
        x = np.zeros((B, n_max, F), np.float32)
        x[:, :N] = obs
        mask = np.zeros((B, n_max), np.float32)
        mask[:, :N] = 1.0
        with torch.no_grad():
            out = self.module.forward_inference({Columns.OBS: {"x": torch.from_numpy(x),
                                                               "node_mask": torch.from_numpy(mask)}})
        return out[Columns.ACTION_DIST_INPUTS].argmax(-1)[:, :N].numpy().astype(np.int8)


def latest_checkpoint_of(path: str | Path) -> Path:
    """A checkpoint folder as given, or the latest ``checkpoints/iter_*`` of a run directory."""
    p = Path(path)
    if (p / "checkpoints").is_dir():
        found = sorted(c for c in (p / "checkpoints").glob("iter_*") if c.is_dir())
        if not found:
            raise ValueError(f"{str(path)!r}: run directory has no checkpoint yet")
        return found[-1]
    if not p.exists():
        raise ValueError(f"{str(path)!r}: no such checkpoint or run directory")
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
    return RLModule.from_checkpoint(path)


def rebuild_for_env(module, env_config: dict):
    """The same weights in a module built for another env size (graph models only:
    their parameters do not depend on the number of nodes; the graph is a buffer)."""
    from cfmarl.policies.adapters.graph_env import GraphEnv

    probe = GraphEnv(env_config)
    if probe.n_max == module.n_max:
        return module
    if not getattr(module, "per_node_critic", False):
        raise ValueError(f"a {type(module).__name__} is tied to its size ({module.n_max} nodes); "
                         f"it cannot act on {probe.n_max} nodes")
    edge_index, edge_type = probe.graph()
    mc = dict(module.model_config)
    mc.update(edge_index=edge_index, edge_type=edge_type, num_nodes=probe.n)
    new = type(module)(observation_space=probe.observation_spaces["graph"],
                       action_space=probe.action_spaces["graph"], model_config=mc)
    new.load_state_dict(module.state_dict())
    return new
