"""Behaviour-cloning pretraining of a graph actor from a heuristic teacher
(aps_gnn Sec. V-B: labels from the 4-strongest heuristic by large-scale fading).

The dataset is collected on the env's array core following the teacher (so
the states are the teacher's state distribution) over many channel
realisations; the actor is trained with per-node cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from ray.rllib.core.columns import Columns


@dataclass
class BCResult:
    samples: int  # env steps in the dataset
    train_accuracy: float  # per-node action accuracy
    val_accuracy: float
    final_loss: float


def collect_teacher_dataset(make_core, teacher, episodes: int, seed: int, batch: int = 16
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Obs (M, N, F) float32 and teacher actions (M, N) int64 from ``episodes`` episodes."""
    seeds = np.random.SeedSequence(seed).spawn(episodes)
    xs, ys = [], []
    for start in range(0, episodes, batch):
        chunk = seeds[start:start + batch]
        core = make_core(len(chunk))
        state, obs = core.reset(chunk)
        done = np.zeros(len(chunk), bool)
        while not done.all():
            act = teacher.act(core, state, obs)
            xs.append(obs.copy())
            ys.append(np.asarray(act, np.int64))
            state, obs, _, _, done = core.step(state, act)
    return np.concatenate(xs), np.concatenate(ys)


def behaviour_clone(module, x: np.ndarray, y: np.ndarray, *, epochs: int, lr: float, minibatch_size: int,
                    seed: int, val_fraction: float = 0.1, on_epoch=None) -> BCResult:
    """Train ``module``'s actor in place with per-node cross-entropy; returns accuracies."""
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    perm = torch.randperm(n, generator=g)
    n_val = max(1, int(round(val_fraction * n))) if n > 1 else 0
    val_idx, tr_idx = perm[:n_val], perm[n_val:]
    X, Y = torch.as_tensor(x), torch.as_tensor(y)
    mask = torch.ones(X.shape[:2])
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    loss_val = float("nan")

    def logits(idx):
        return module.forward_train({Columns.OBS: {"x": X[idx], "node_mask": mask[idx]}})[Columns.ACTION_DIST_INPUTS]

    module.train()
    for epoch in range(epochs):
        order = tr_idx[torch.randperm(len(tr_idx), generator=g)]
        for s in range(0, len(order), minibatch_size):
            idx = order[s:s + minibatch_size]
            out = logits(idx)
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), Y[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_val = float(loss.detach())
        if on_epoch is not None:
            on_epoch(epoch, loss_val)

    def accuracy(idx) -> float:
        if len(idx) == 0:
            return float("nan")
        hits = 0.0
        with torch.no_grad():
            for s in range(0, len(idx), 256):
                part = idx[s:s + 256]
                hits += float((logits(part).argmax(-1) == Y[part]).float().sum())
        return hits / (len(idx) * Y.shape[1])

    return BCResult(samples=n, train_accuracy=accuracy(tr_idx), val_accuracy=accuracy(val_idx),
                    final_loss=loss_val)
