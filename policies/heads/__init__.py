"""Per-node action distributions (heads), vectorised over nodes.

One distribution object for a whole batch of graphs - never one per node (what
RLlib's ``TorchMultiCategorical`` does, and why it is slow at hundreds of nodes).
Inputs are per-node parameters shaped (B, N, P); ``logp`` and ``entropy`` are per
node, (B, N), summed over the components of a node's action.

* discrete (``MultiDiscrete([A] * N)``): :class:`PerNodeCategorical` (A logits per node;
  A = 2 is the Bernoulli of AP selection);
* bounded continuous (``Box(low, high, (N, D))``, any width D):
  :class:`PerNodeBeta` (default, 2 D parameters per node) or
  :class:`PerNodeSquashedGaussian` (2 D parameters per node; the head SAC needs);
* bounded actions some of whose components the env reads only as one of L levels
  (``action_levels`` declared by the core: URLLC's thresholds and beam indices):
  :class:`PerNodeHybrid` (a categorical per quantised component, a Beta per continuous one);
  ``auto`` picks it when the env declares levels;
* binary actions whose nodes form groups the env treats as a unit (AP selection's links of one AP):
  :class:`PerNodeGated` (a gate per group times a Bernoulli per node; exact mixture log-probability,
  per group; groups = the cliques of one graph relation, ``model.gate_relation``);
* the deterministic actor of DDPG / TD3: :class:`PerNodeNoisyDeterministic` (D parameters per node,
  Gaussian exploration noise, no density).

:func:`head_for` picks the class for an action space; continuous classes are made
per set of bounds (``make_beta`` / ``make_squashed_gaussian``, cached), so RLlib's
``from_logits(logits)`` needs nothing else.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from cfmarl.policies.heads.categorical import PerNodeArgmax, PerNodeCategorical
from cfmarl.policies.heads.continuous import (PerNodeBeta, PerNodeDeterministic, PerNodeNoisyDeterministic,
                                              PerNodeSquashedGaussian, make_beta, make_noisy_deterministic,
                                              make_squashed_gaussian)
from cfmarl.policies.heads.gated import PerNodeGated, make_gated
from cfmarl.policies.heads.hybrid import PerNodeHybrid, check_levels, make_hybrid

HEADS = ("auto", "categorical", "beta", "squashed_gaussian", "hybrid", "deterministic", "gated")

__all__ = ["HEADS", "PerNodeArgmax", "PerNodeBeta", "PerNodeCategorical", "PerNodeDeterministic", "PerNodeHybrid",
           "PerNodeGated", "PerNodeNoisyDeterministic", "PerNodeSquashedGaussian", "head_for", "head_input_dim",
           "make_beta", "make_gated", "make_hybrid", "make_noisy_deterministic", "make_squashed_gaussian"]


def _is_discrete(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.MultiDiscrete)


def head_for(space: gym.Space, kind: str = "auto", levels=None, noise: float = 0.1, groups=None):
    """The per-node distribution class for a graph-mode action space.

    ``space``: MultiDiscrete([A] * N) or Box(low, high, (N, D)) with bounds equal
    across nodes. ``kind``: auto (categorical for discrete; for continuous, hybrid when
    the env declares quantised components in ``levels`` - one int per component, 0 =
    continuous - else beta), categorical, beta, squashed_gaussian or hybrid."""
    if kind not in HEADS:
        raise ValueError(f"model.action_head: must be one of {', '.join(HEADS)}; got {kind!r}")
    if _is_discrete(space) and kind == "gated":
        if not np.all(np.asarray(space.nvec) == 2):
            raise ValueError(f"model.action_head: 'gated' is for binary actions (2 per node); this env has "
                             f"{sorted(set(np.asarray(space.nvec).reshape(-1).tolist()))}")
        if groups is None:
            raise ValueError("model.action_head: 'gated' needs the node groups (graph mode, a clique relation)")
        return make_gated(tuple(int(i) for i in groups[0]), int(groups[1]))
    if _is_discrete(space):
        if kind not in ("auto", "categorical"):
            raise ValueError(f"model.action_head: {kind!r} is for continuous actions; this env's actions are "
                             "discrete (use categorical or auto)")
        return PerNodeCategorical
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 2:
        raise ValueError(f"per-node action heads need MultiDiscrete or Box(N, D) actions, got {space}")
    if kind == "gated":
        raise ValueError("model.action_head: 'gated' is for binary (discrete) actions; this env's actions are "
                         "continuous")
    if kind == "categorical":
        raise ValueError("model.action_head: 'categorical' is for discrete actions; this env's actions are "
                         "continuous (use beta, squashed_gaussian or auto)")
    low, high = np.asarray(space.low, float), np.asarray(space.high, float)
    if not (np.all(low == low[:1]) and np.all(high == high[:1])):
        raise ValueError("per-node action heads need the same bounds for every node")
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(high > low)):
        raise ValueError(f"continuous action heads need finite bounds low < high, got {low[0]} / {high[0]}")
    bounds = (tuple(low[0].tolist()), tuple(high[0].tolist()))
    quantised = levels is not None and any(int(v) for v in levels)
    if kind == "hybrid" and not quantised:
        raise ValueError("model.action_head: 'hybrid' needs an env that declares quantised action components "
                         "(action_levels); this env's actions are all continuous (use beta or squashed_gaussian)")
    if kind == "hybrid" or (kind == "auto" and quantised):
        return make_hybrid(*bounds, check_levels(levels, int(space.shape[-1])))
    if kind == "deterministic":
        return make_noisy_deterministic(*bounds, float(noise))
    return make_squashed_gaussian(*bounds) if kind == "squashed_gaussian" else make_beta(*bounds)


def head_input_dim(space: gym.Space, head=None) -> int:
    """Parameters per node the model must output for ``space`` (and the chosen ``head`` class)."""
    if head is not None and issubclass(head, PerNodeGated):
        return head.required_input_dim()
    if _is_discrete(space):
        return int(space.nvec.reshape(-1)[0])
    if head is not None and issubclass(head, PerNodeHybrid):
        return head.param_dim()
    if head is not None and issubclass(head, PerNodeNoisyDeterministic):
        return int(space.shape[-1])
    return 2 * int(space.shape[-1])
