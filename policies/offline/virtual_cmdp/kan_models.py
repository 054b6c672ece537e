"""Reward and cost predictors: Kolmogorov-Arnold networks (pykan, the reference implementation) and an
MLP with the same number of trainable parameters (urllc_ee_virtual_cmdp Sec. IV-B, eqs. 22-25).

A KAN edge computes phi(x) = w_b silu(x) + w_s sum_i c_i B_i(x) (B-splines of order ``k`` on a grid of
``grid`` intervals); the paper's settings are grid 10, order 3, grid_eps 0.1 (grid points placed by the
data's quantiles blended with a uniform grid). Inputs are scaled to [-1, 1] (pykan's grid range) by the
caller; :func:`kan_grid_updater` re-places the grids on the training inputs during the first epochs.

pykan traps handled here (see LIBRARY_NOTES.md): the constructor reseeds torch / numpy / random globally
and rewrites ``width`` in place, ``auto_save`` writes ./model/, ``fit`` defaults to LBFGS with symbolic
branches on; ``torch.linalg.lstsq`` (used by grid updates) with its default driver is not bitwise
reproducible - the updates run with driver ``gelsd``. Only the spline layers' parameters are trained
(the symbolic branch is off; its affine parameters stay unused).
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch
from torch import nn


@contextlib.contextmanager
def _preserved_rngs():
    states = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


@contextlib.contextmanager
def _deterministic_lstsq():
    original = torch.linalg.lstsq

    def lstsq(a, b, rcond=None, *, driver=None):
        return original(a, b, rcond=rcond, driver="gelsd")

    torch.linalg.lstsq = lstsq
    try:
        yield
    finally:
        torch.linalg.lstsq = original


class KanRegressor(nn.Module):
    """A pykan KAN of widths [in_dim, *hidden, 1] returning (N,) predictions."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (6,), grid: int = 10, k: int = 3,
                 grid_eps: float = 0.1, seed: int = 0):
        super().__init__()
        from kan import KAN

        self.widths = [int(in_dim), *map(int, hidden), 1]
        if min(self.widths) < 1:
            raise ValueError(f"KAN widths: every layer needs >= 1 node, got {self.widths}")
        with _preserved_rngs(), _deterministic_lstsq():  # the initial coefficients are a least-squares fit
            self.kan = KAN(width=list(self.widths), grid=grid, k=k, grid_eps=grid_eps, seed=seed, auto_save=False,
                           symbolic_enabled=False, save_act=False)
        self.kan.speed()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kan(x).squeeze(-1)

    def trainable(self) -> list[nn.Parameter]:
        """The spline layers' coefficients and scales (what eq. 22 learns)."""
        return [p for n, p in self.kan.named_parameters() if n.startswith("act_fun") and p.requires_grad]

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor) -> None:
        """Re-place every layer's grid on the activations of ``x`` (pykan's update_grid_from_samples)."""
        with _deterministic_lstsq():
            self.kan.update_grid(x)
        for layer in self.kan.act_fun:  # the update leaves views of a temporary behind; own the memory
            layer.coef.data = layer.coef.data.clone()
            layer.grid.data = layer.grid.data.clone()


class MlpRegressor(nn.Module):
    """in_dim -> hidden -> 1 with SiLU, (N,) predictions."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def trainable(self) -> list[nn.Parameter]:
        return list(self.parameters())


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.trainable())


def mlp_like(target_params: int, in_dim: int) -> MlpRegressor:
    """The one-hidden-layer MLP whose parameter count ((in_dim + 2) h + 1) is closest to ``target_params``."""
    hidden = max(1, round((target_params - 1) / (in_dim + 2)))
    return MlpRegressor(in_dim, hidden)


def kan_grid_updater(model: nn.Module, x: torch.Tensor, every: int = 5, until: int = 50, sample: int = 2048,
                     seed: int = 0):
    """``on_epoch_start`` hook of :func:`.training.fit`: re-place the KAN grids on ``sample`` training inputs
    at epochs 0, every, 2 every, ... < until (as pykan's fit does every few steps); no-op for an MLP."""
    if not isinstance(model, KanRegressor):
        return None

    def hook(epoch: int) -> None:  # the subsample depends on (seed, epoch) only: a resumed fit draws the same
        if epoch < until and epoch % every == 0:
            g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            idx = torch.randperm(x.shape[0], generator=g)[:sample]
            model.update_grid(x[idx])

    return hook
