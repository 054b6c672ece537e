"""Scalar power-control math shared by the environment and the baselines.

The network is reduced to a gain matrix G (..., K, K): with UE power levels
p (..., K), SINR_k = G_kk p_k / (sum_{j != k} G_kj p_j + sigma^2) (the scalar
form of physics_reference.md "Max-min SINR with per-user caps"). Objectives,
their gradients, the exact max-min solution (Perron-Frobenius) and the
bounded L-BFGS-B solvers used by the refinement and the baselines live here.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

LN2 = float(np.log(2.0))


def sinr(gain: np.ndarray, p: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """SINR (..., K) and interference-plus-noise I (..., K) for gains (..., K, K), powers (..., K)."""
    diag = np.diagonal(gain, axis1=-2, axis2=-1)
    total = np.einsum("...kj,...j->...k", gain, p)
    interf = total - diag * p + noise
    return diag * p / interf, interf


def objective_value(objective: str, s: np.ndarray, eps: float) -> np.ndarray:
    """Per-user objective in bit/s/Hz (..., ) from SINRs (..., K):
    max_min: min_k log2(1 + SINR_k); max_product: mean_k log2(SINR_k + eps);
    max_sum_rate: mean_k log2(1 + SINR_k)."""
    if objective == "max_min":
        return np.log2(1.0 + s).min(axis=-1)
    if objective == "max_product":
        return np.log2(s + eps).mean(axis=-1)
    if objective == "max_sum_rate":
        return np.log2(1.0 + s).mean(axis=-1)
    raise ValueError(f"objective: must be max_min, max_product or max_sum_rate, got {objective!r}")


def _value_and_grad(objective: str, gain: np.ndarray, p: np.ndarray, noise: float,
                    eps: float) -> tuple[float, np.ndarray]:
    """sum_k log2(1 + SINR_k) (sum-rate) or sum_k log2(SINR_k + eps) (product) and d/dp, one copy (K,)."""
    s, interf = sinr(gain, p, noise)
    diag = np.diagonal(gain)
    if objective == "max_sum_rate":
        val, c = np.log2(1.0 + s).sum(), 1.0 / ((1.0 + s) * LN2)
    else:
        val, c = np.log2(s + eps).sum(), 1.0 / ((s + eps) * LN2)
    # dS_k/dp_j = delta_kj G_kk / I_k - (1 - delta_kj) S_k G_kj / I_k
    off = gain - np.diag(diag)
    grad = c * diag / interf - (c * s / interf) @ off
    return float(val), grad


def lbfgs_maximize(objective: str, gain: np.ndarray, noise: float, p0: np.ndarray, p_min: float,
                   p_max: float, eps: float = 1e-6, max_iter: int = 50) -> np.ndarray:
    """Bounded L-BFGS-B ascent of the sum-rate or sum-log objective from p0, per env copy.

    gain (B, K, K), p0 (B, K) -> p (B, K) in [p_min, p_max]. Works in q = p / p_max so
    that the variables are O(1). A local method: the sum rate is non-convex.
    """
    if objective not in ("max_product", "max_sum_rate"):
        raise ValueError(f"L-BFGS-B refinement is defined for max_product and max_sum_rate, got {objective!r}")
    out = np.empty_like(p0)
    k = p0.shape[-1]
    bounds = [(p_min / p_max, 1.0)] * k
    for b in range(p0.shape[0]):  # env copies (each is one K-dimensional problem)
        def fun(q, g=gain[b]):
            v, grad = _value_and_grad(objective, g, q * p_max, noise, eps)
            return -v, -grad * p_max
        res = minimize(fun, np.clip(p0[b] / p_max, p_min / p_max, 1.0), jac=True, method="L-BFGS-B",
                       bounds=bounds, options={"maxiter": max_iter})
        out[b] = np.clip(res.x, p_min / p_max, 1.0) * p_max
    return out


def max_product_optimum(gain: np.ndarray, noise: float, p_min: float, p_max: float,
                        max_iter: int = 500) -> np.ndarray:
    """Global maximiser of sum_k log SINR_k over p in [p_min, p_max]^K, per env copy (B, K).

    In x = log p the objective sum_k [log G_kk + x_k - log(sum_{j!=k} G_kj e^{x_j} + sigma^2)]
    is concave (log-sum-exp is convex), so bounded L-BFGS-B reaches the global optimum
    (physics_reference.md, "Other formulas").
    """
    out = np.empty(gain.shape[:-1])
    k = gain.shape[-1]
    lo, hi = np.log(p_min), np.log(p_max)
    for b in range(gain.shape[0]):  # env copies
        g = gain[b]
        off = g - np.diag(np.diagonal(g))

        def fun(x, g=g, off=off):
            p = np.exp(x)
            s, interf = sinr(g, p, noise)
            return -float(np.log(s).sum()), -(1.0 - p * ((1.0 / interf) @ off))
        res = minimize(fun, np.full(k, hi), jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * k,
                       options={"maxiter": max_iter, "ftol": 1e-12, "gtol": 1e-9})
        out[b] = np.exp(np.clip(res.x, lo, hi))
    return out


def max_min_optimum(gain: np.ndarray, noise: float, p_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact max-min SINR power control with per-user caps p_k <= p_max (Perron-Frobenius).

    With B = diag(1/G_kk) G_offdiag and v = sigma^2 / G_kk, the optimal common SINR is
    t* = 1 / max_k rho(B + v e_k^T / p_max), and p* is the Perron vector of the
    maximising matrix scaled so that p*_k = p_max (physics_reference.md; Tan, Chiang,
    Srikant). gain (B, K, K) -> (t* (B,), p* (B, K)). Vectorised over env copies and k.
    """
    diag = np.diagonal(gain, axis1=-2, axis2=-1)  # (B, K)
    bmat = (gain - diag[..., :, None] * np.eye(gain.shape[-1])) / diag[..., :, None]
    v = noise / diag  # (B, K)
    k = gain.shape[-1]
    eye = np.eye(k)
    # M_k = B + v e_k^T / p_max for every constraint k: (B, K(k), K, K)
    m = bmat[:, None] + v[:, None, :, None] * eye[None, :, None, :] / p_max
    eigval, eigvec = np.linalg.eig(m)
    idx = np.argmax(eigval.real, axis=-1)  # (B, K)
    rho = np.take_along_axis(eigval.real, idx[..., None], -1)[..., 0]  # (B, K)
    kstar = np.argmax(rho, axis=-1)  # (B,)
    t = 1.0 / rho[np.arange(len(kstar)), kstar]
    vec = eigvec[np.arange(len(kstar)), kstar]  # (B, K, K): columns are eigenvectors
    pvec = np.abs(np.take_along_axis(vec, idx[np.arange(len(kstar)), kstar][:, None, None], -1)[..., 0].real)
    p = p_max * pvec / np.take_along_axis(pvec, kstar[:, None], -1)
    return t, p
