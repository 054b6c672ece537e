"""Finite-blocklength rate (normal approximation) and the URLLC packet queue.

FBL (Polyanskiy, Poor, Verdu 2010; physics_reference.md (vii)), as the URLLC
environment uses it (eqs. 4-5, the 1/2 log2 n term dropped):
    R = sum_k C N log2(1 + g_k) - Qinv(eps) sqrt(sum_k C N V_k),  V_k = log2(e)^2 (1 - (1 + g_k)^-2),
    R <- max(R, 0).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

LOG2E_SQ = float(np.log2(np.e) ** 2)


def q_inv(eps: float) -> float:
    """Inverse Gaussian Q-function (Qinv(1e-6) = 4.753424)."""
    return float(norm.isf(eps))


def fbl_bits(sinr: np.ndarray, res_per_subband: int, eps: float) -> np.ndarray:
    """Bits deliverable in one slot over subbands (last axis) with SINRs ``sinr`` and
    ``res_per_subband`` = C N resource elements each, at block error probability eps."""
    g = np.asarray(sinr, float)
    cap = res_per_subband * np.log2(1.0 + g).sum(-1)
    disp = res_per_subband * (LOG2E_SQ * (1.0 - (1.0 + g) ** -2)).sum(-1)
    return np.maximum(cap - q_inv(eps) * np.sqrt(disp), 0.0)
