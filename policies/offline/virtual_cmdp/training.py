"""One minibatch trainer for every model of the virtual CMDP (regressors and generative models).

``fit`` runs Adam over shuffled minibatches of the training tensors, evaluates the loss on the validation
tensors after every epoch, keeps the best weights (early stopping with ``patience``) and, with ``state_file``,
saves model + optimiser + generators + history after every epoch atomically, so an interrupted fit resumes
where it stopped and ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import copy
import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cfmarl.rundir import atomic_write_bytes


@dataclass
class FitResult:
    best_epoch: int
    best_val: float
    history: list[dict] = field(default_factory=list)  # per epoch: epoch, train, val, seconds
    resumed_from: int = 0


def fit(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], train: Sequence[torch.Tensor],
        val: Sequence[torch.Tensor], *, epochs: int, batch_size: int = 256, lr: float = 1e-3, patience: int = 20,
        seed: int = 0, params: list[torch.nn.Parameter] | None = None, weight_decay: float = 0.0,
        on_epoch_start: Callable[[int], None] | None = None, state_file: str | Path | None = None,
        progress: Callable[[dict], None] | None = None, val_seed: int = 12345) -> FitResult:
    """Minimise ``loss_fn(*batch)`` (mean over the batch) over ``train`` (tensors with equal first
    dimension); the returned model holds the weights of the best validation epoch."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs / batch_size: must be >= 1, got {epochs} / {batch_size}")
    n = train[0].shape[0]
    if n == 0 or any(t.shape[0] != n for t in train) or any(t.shape[0] != val[0].shape[0] for t in val):
        raise ValueError(f"train / val: tensors must share a non-empty first dimension, got "
                         f"{[tuple(t.shape) for t in train]} / {[tuple(t.shape) for t in val]}")
    params = list(model.parameters()) if params is None else params
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)  # shuffling
    torch_rng = torch.Generator().manual_seed(seed + 1)  # the model's own draws (reparametrisation, noise)
    result = FitResult(best_epoch=0, best_val=math.inf)
    best_state = copy.deepcopy(model.state_dict())
    start = 0
    path = Path(state_file) if state_file else None
    if path is not None and path.exists():
        blob = torch.load(path, weights_only=False)
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["opt"])
        gen.set_state(blob["gen"])
        torch_rng.set_state(blob["torch_rng"])
        best_state, start = blob["best_state"], blob["epoch"]
        result = FitResult(blob["best_epoch"], blob["best_val"], blob["history"], resumed_from=start)
    for epoch in range(start, epochs):
        if epoch - result.best_epoch > patience and result.best_epoch > 0:
            break
        t0 = time.perf_counter()
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        model.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        with _global_torch_rng(torch_rng):
            for i in range(0, n, batch_size):
                idx = perm[i:i + batch_size]
                loss = loss_fn(*(t[idx] for t in train))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
        val_loss = evaluate(model, loss_fn, val, batch_size=4096, seed=val_seed)
        row = {"epoch": epoch + 1, "train": total / n, "val": val_loss, "seconds": time.perf_counter() - t0}
        result.history.append(row)
        if val_loss < result.best_val:
            result.best_val, result.best_epoch = val_loss, epoch + 1
            best_state = copy.deepcopy(model.state_dict())
        if progress is not None:
            progress(row)
        if path is not None:
            buf = io.BytesIO()
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                        "torch_rng": torch_rng.get_state(), "best_state": best_state, "epoch": epoch + 1,
                        "best_epoch": result.best_epoch, "best_val": result.best_val,
                        "history": result.history}, buf)
            atomic_write_bytes(path, buf.getvalue())
    model.load_state_dict(best_state)
    model.eval()
    return result


@torch.no_grad()
def evaluate(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], data: Sequence[torch.Tensor],
             batch_size: int = 4096, seed: int = 12345) -> float:
    """Mean of ``loss_fn`` over ``data`` in eval mode, with the model's own draws from a fixed seed (so
    a stochastic loss - a VAE's - is comparable between epochs)."""
    was = model.training
    model.eval()
    n = data[0].shape[0]
    total = 0.0
    with _global_torch_rng(torch.Generator().manual_seed(seed)):
        for i in range(0, n, batch_size):
            total += float(loss_fn(*(t[i:i + batch_size] for t in data))) * min(batch_size, n - i)
    model.train(was)
    return total / n


class _global_torch_rng:
    """Run a block with torch's global generator set from ``gen`` and write its state back afterwards,
    leaving the caller's global state as it was (models draw with torch.randn_like & co.)."""

    def __init__(self, gen: torch.Generator):
        self.gen = gen

    def __enter__(self):
        self.saved = torch.get_rng_state()
        torch.set_rng_state(self.gen.get_state())

    def __exit__(self, *exc):
        self.gen.set_state(torch.get_rng_state())
        torch.set_rng_state(self.saved)
        return False
