"""Behaviour-cloning pretraining of a graph / central actor from any baseline teacher
(aps_gnn Sec. V-B: labels from the 4-strongest heuristic by large-scale fading).

The dataset is collected on the env's array core following the teacher (so the
states are the teacher's state distribution) over many channel realisations; it
holds the padded graph observations (with the edge mask of a dynamic graph) and
the teacher's actions. Losses, per real node:

* discrete heads: cross-entropy of the teacher's action;
* continuous heads: ``nll`` (default) - the negative log-likelihood of the
  teacher's action under the head, which fits the mean and shrinks the spread (teacher
  actions on a bound - full power, a saturated logit - are fitted 1 % of the range
  inside it: a Beta with alpha, beta > 1 has zero density on the bound itself); or
  ``mse`` - squared error of the head's deterministic action, in units of the
  action range (the spread is left to RL);
* hybrid heads (quantised + continuous components): ``nll`` - the log-likelihood of
  the level the env reads from the teacher's action plus the continuous components';
  ``mse`` - that cross-entropy of the levels plus the squared error of the continuous
  components' deterministic action (their spread left to RL).

Reported fit: per-node accuracy (discrete) or mean absolute error of the
deterministic action as a fraction of the action range (continuous; for a hybrid
head after snapping both actions to the env's levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ray.rllib.core.columns import Columns


NLL_MARGIN = 0.01  # fraction of the action range: teacher actions on a bound are fitted this far inside it
MAJORITY_MARGIN = 0.005  # a held-out accuracy within this of the majority action's share is flagged


def majority_share(y: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Discrete actions ``y`` (samples, nodes[, components]): the share of real nodes' actions that always taking
    each component's most common action gets right (mean over the components) - the accuracy a clone must beat."""
    y = np.asarray(y).reshape(y.shape[0], y.shape[1], -1)
    real = np.ones(y.shape[:2], bool) if mask is None else np.asarray(mask)[:, :y.shape[1]] > 0
    shares = [np.unique(y[..., c][real], return_counts=True)[1].max() / real.sum() for c in range(y.shape[-1])]
    return float(np.mean(shares))


@dataclass
class BCResult:
    samples: int  # env steps in the dataset
    metric: str  # "accuracy" (discrete: per-node) or "mean_abs_error" (continuous, fraction of the range)
    train_score: float
    val_score: float
    final_loss: float
    majority: float = float("nan")  # discrete: the accuracy of always taking the teacher's most common action

    def describe(self) -> str:
        if self.metric == "accuracy":
            out = (f"imitation accuracy {100 * self.train_score:.1f} % (train), {100 * self.val_score:.1f} % "
                   f"(held out); the teacher's most common action alone: {100 * self.majority:.1f} %")
            if self.val_score <= self.majority + MAJORITY_MARGIN and self.val_score < 1 - MAJORITY_MARGIN:
                out += (" - WARNING: the clone is no better than always taking it (give it more gradient steps: "
                        "pretrain.epochs, a smaller pretrain.minibatch_size, more pretrain.episodes)")
            return out
        return (f"mean |action - teacher| {100 * self.train_score:.2f} % of the range (train), "
                f"{100 * self.val_score:.2f} % (held out)")


def collect_teacher_dataset(make_core, teacher, episodes: int, seed: int, n_max: int | None = None,
                            batch: int = 16) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Graph observations {"x": (M, N_max, F), "node_mask", ["edge_mask"]} and teacher actions
    (M, N) (discrete, int64) or (M, N, D) (continuous) from ``episodes`` episodes."""
    from cfmarl.policies.adapters.graph_env import graph_observation, is_discrete

    seeds = np.random.SeedSequence(seed).spawn(episodes)
    obs_parts: dict[str, list[np.ndarray]] = {}
    ys = []
    name = getattr(teacher, "name", type(teacher).__name__)
    for start in range(0, episodes, batch):
        chunk = seeds[start:start + batch]
        core = make_core(len(chunk))
        discrete = is_discrete(core)
        state, obs = core.reset(chunk)
        done = np.zeros(len(chunk), bool)
        while not done.all():
            act = teacher.act(core, state, obs)
            if act is None:
                raise ValueError(f"pretrain.teacher {name!r} does not act through the env's action space (it "
                                 "replaces the env's decision rule); choose a teacher that returns actions")
            a = np.asarray(act)
            a = a.reshape(len(chunk), core.n_agents) if discrete else a.reshape(len(chunk), core.n_agents, -1)
            for k, v in graph_observation(core, state, obs, n_max or core.n_agents).items():
                obs_parts.setdefault(k, []).append(v)
            ys.append(a.astype(np.int64) if discrete else a.astype(np.float32))
            state, obs, _, _, done = core.step(state, act)
    return {k: np.concatenate(v) for k, v in obs_parts.items()}, np.concatenate(ys)


def behaviour_clone(module, obs: dict[str, np.ndarray], y: np.ndarray, *, epochs: int, lr: float,
                    minibatch_size: int, seed: int, loss: str = "auto", val_fraction: float = 0.1,
                    on_epoch=None, label_smoothing: float = 0.0) -> BCResult:
    """Train ``module``'s actor in place to imitate ``y``; returns the fit on train / held-out samples.
    ``label_smoothing`` e (discrete heads): the cross-entropy's target is (1 - e) x the teacher's action + e / A on
    every action, so the clone's argmax is the teacher's while no node is more than 1 - e + e / A sure."""
    if isinstance(obs, np.ndarray):  # a bare (M, N, F) array: a static graph without padding
        obs = {"x": obs, "node_mask": np.ones(obs.shape[:2], np.float32)}
    g = torch.Generator().manual_seed(seed)
    n = y.shape[0]
    perm = torch.randperm(n, generator=g)
    n_val = max(1, int(round(val_fraction * n))) if n > 1 else 0
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    O = {k: torch.as_tensor(v) for k, v in obs.items()}
    Y = torch.as_tensor(y)
    N = Y.shape[1]
    # samples of different sizes padded to one N (a mixture of sizes): only real nodes count
    W = O["node_mask"][:, :N].float() if "node_mask" in O and not bool((O["node_mask"][:, :N] > 0).all()) else None

    def node_mean(t: torch.Tensor, idx) -> torch.Tensor:
        """Mean over samples and real nodes of a per-node quantity (b, N, ...)."""
        if W is None:
            return t.mean()
        w = W[idx].reshape(*W[idx].shape, *([1] * (t.dim() - 2)))
        return (t * w).sum() / (w.sum() * (t[0, 0].numel()))
    head = module.get_train_action_dist_cls()
    discrete = bool(getattr(head, "discrete", True))
    from cfmarl.policies.heads import PerNodeNoisyDeterministic

    deterministic = isinstance(head, type) and issubclass(head, PerNodeNoisyDeterministic)  # td3 / ddpg: no density
    if deterministic and loss == "nll":
        raise ValueError("pretrain.loss: 'nll' needs a density; the deterministic head (td3 / ddpg) uses mse")
    if loss == "auto":
        loss = "ce" if discrete else ("mse" if deterministic else "nll")
    if discrete and loss != "ce":
        raise ValueError(f"pretrain.loss: {loss!r} is for continuous actions; discrete heads use cross-entropy (auto)")
    if label_smoothing and (loss != "ce" or getattr(head, "joint_groups", False)):
        raise ValueError("pretrain.label_smoothing: for the per-node cross-entropy of the categorical heads (the "
                         "gated head's joint likelihood and the continuous heads' losses have no labels); leave it 0")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"pretrain.label_smoothing: must be in [0, 1), got {label_smoothing!r}")
    span = None if discrete else torch.as_tensor(np.subtract(head.high, head.low), dtype=torch.float32)
    inner = None if discrete else (torch.as_tensor(head.low, dtype=torch.float32) + NLL_MARGIN * span,
                                   torch.as_tensor(head.high, dtype=torch.float32) - NLL_MARGIN * span)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    loss_val = float("nan")

    def dist(idx, teacher: bool = False):
        batch = {Columns.OBS: {k: v[idx] for k, v in O.items()}}
        if teacher and getattr(module, "autoregressive", False):  # teacher forcing (MAT): node i's logits given
            batch[Columns.ACTIONS] = torch.nn.functional.pad(Y[idx], (0, module.n_max - N))  # the teacher's a_<i
        out = module._forward(batch)  # the actor (off-policy modules' forward_train also runs their critics)
        return head.from_logits(out[Columns.ACTION_DIST_INPUTS][:, :N])

    def objective(idx):
        d = dist(idx, teacher=True)
        if loss == "ce" and getattr(head, "joint_groups", False):  # gated: exact NLL of each group's configuration
            return -node_mean(d.joint_logp_share(Y[idx]), idx)
        if loss == "ce":
            logits = d._dist.logits
            if W is None:
                return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y[idx].reshape(-1),
                                                         label_smoothing=label_smoothing)
            ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y[idx].reshape(-1),
                                                   reduction="none", label_smoothing=label_smoothing)
            return node_mean(ce.reshape(Y[idx].shape), idx)
        if loss == "nll":  # targets on a bound are pulled NLL_MARGIN inside it, where a Beta's density is not 0
            y = Y[idx] if inner is None else torch.maximum(torch.minimum(Y[idx], inner[1]), inner[0])
            return -node_mean(d.logp(y), idx)
        err = ((d.to_deterministic().sample() - Y[idx]) / span) ** 2
        if hasattr(d, "level_logp"):  # hybrid: cross-entropy of the levels, squared error of the continuous part
            cont = [i for i, L in enumerate(head.levels) if L == 0]
            return -node_mean(d.level_logp(Y[idx]), idx) + node_mean(err[..., cont].sum(-1), idx)
        return node_mean(err, idx)

    module.train()
    for epoch in range(epochs):
        order = tr_idx[torch.randperm(len(tr_idx), generator=g)]
        for s in range(0, len(order), minibatch_size):
            value = objective(order[s:s + minibatch_size])
            opt.zero_grad()
            value.backward()
            opt.step()
            loss_val = float(value.detach())
        if on_epoch is not None:
            on_epoch(epoch, loss_val)

    def score(idx) -> float:
        if len(idx) == 0:
            return float("nan")
        total = 0.0
        with torch.no_grad():
            for s in range(0, len(idx), 256):
                part = idx[s:s + 256]
                a, y_part = dist(part).to_deterministic().sample(), Y[part]
                if hasattr(head, "quantise"):  # hybrid: compare the decisions the env reads
                    a, y_part = head.quantise(a), head.quantise(y_part.to(a.dtype))
                hit = (a == y_part).float() if discrete else (a - y_part).abs() / span
                if W is not None:
                    hit = hit * W[part].reshape(*W[part].shape, *([1] * (hit.dim() - 2)))
                total += float(hit.sum())
        per_node = int(np.prod(Y.shape[2:]))
        nodes = float(W[idx].sum()) if W is not None else len(idx) * Y.shape[1]
        return total / (nodes * per_node)

    majority = majority_share(y, obs.get("node_mask")) if discrete and n else float("nan")
    return BCResult(samples=n, metric="accuracy" if discrete else "mean_abs_error", train_score=score(tr_idx),
                    val_score=score(val_idx), final_loss=loss_val, majority=majority)
