"""Fidelity and cost measures of the learned models (urllc_ee_virtual_cmdp Tables IV-V).

* :func:`mmd2` - squared maximum mean discrepancy with a Gaussian kernel, the biased V-statistic of eq. 37
  (m = n not required); bandwidth given or the median heuristic on the pooled samples;
* :func:`w1_per_feature` - the 1-Wasserstein distance of every feature's marginal (scipy);
* :func:`mae` - mean absolute error;
* :func:`flops` - floating-point operations of a torch callable counted by ``torch.utils.flop_counter``
  (matrix products; the triangular solves of a mixture draw are added analytically by the callers).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def median_bandwidth(x: np.ndarray, y: np.ndarray, max_points: int = 2000, seed: int = 0) -> float:
    """Median pairwise distance of the pooled samples (at most ``max_points`` of them)."""
    z = np.concatenate([x, y])
    if len(z) > max_points:
        z = z[np.random.default_rng(seed).choice(len(z), max_points, replace=False)]
    d = np.sqrt(_sq_dists(z, z))[np.triu_indices(len(z), 1)]
    med = float(np.median(d)) if d.size else 1.0
    return med if med > 0 else 1.0


def mmd2(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None) -> float:
    """Biased MMD^2 = mean k(x, x') + mean k(y, y') - 2 mean k(x, y), k = exp(-||.||^2 / (2 h^2))."""
    x, y = np.asarray(x, np.float64).reshape(len(x), -1), np.asarray(y, np.float64).reshape(len(y), -1)
    h = median_bandwidth(x, y) if bandwidth is None else float(bandwidth)
    k = lambda a, b: np.exp(-_sq_dists(a, b) / (2.0 * h * h))  # noqa: E731
    return float(k(x, x).mean() + k(y, y).mean() - 2.0 * k(x, y).mean())


def w1_per_feature(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import wasserstein_distance

    return np.array([wasserstein_distance(x[:, j], y[:, j]) for j in range(x.shape[1])])


def mae(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(pred) - np.asarray(truth))))


def flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` as counted by torch (2 per multiply-add of the matrix products)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())
