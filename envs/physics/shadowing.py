"""Log-normal shadowing, i.i.d. or spatially correlated.

Shadowing values are returned in dB (zero-mean Gaussian with std ``sigma_db``);
add them to the path *gain* in dB (i.e. subtract from the path loss).
"""

from __future__ import annotations

import numpy as np

from cfmarl.envs.physics.geometry import horizontal_distance_m

#: Decorrelation distance and AP/UE split of Ngo 2017 eq. (54): d_decorr = 100 m, delta = 0.5.
NGO2017_DECORR_M = 100.0
NGO2017_DELTA = 0.5


def iid_shadowing_db(rng: np.random.Generator, shape: tuple[int, ...], sigma_db: float) -> np.ndarray:
    """I.i.d. log-normal shadowing [dB]: sigma_db * N(0, 1)."""
    return sigma_db * rng.standard_normal(shape)


def _correlated_normals(rng: np.random.Generator, pos: np.ndarray, decorr_m: float,
                        wrap_side_m: float | None) -> np.ndarray:
    """Unit-variance normals at ``pos`` (n, 2) with E[a_i a_j] = 2^(-d_ij / decorr_m)."""
    d = horizontal_distance_m(pos, pos, wrap_side_m)
    cov = np.exp2(-d / decorr_m)
    # eigh is robust for the (numerically) semi-definite covariance of nearby points
    w, v = np.linalg.eigh(cov)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    return root @ rng.standard_normal(pos.shape[0])


def ngo2017_correlated_shadowing_db(rng: np.random.Generator, ap_pos: np.ndarray, ue_pos: np.ndarray,
                                    sigma_db: float = 8.0, decorr_m: float = NGO2017_DECORR_M,
                                    delta: float = NGO2017_DELTA,
                                    wrap_side_m: float | None = None) -> np.ndarray:
    """Two-component correlated shadowing of Ngo 2017 eq. (54) -> (L, K) [dB].

    z_lk = sqrt(delta) a_l + sqrt(1 - delta) b_k with E[a_l a_l'] = 2^(-d(l,l')/d_decorr)
    and likewise for b over UEs; the result is sigma_db * z.
    """
    if not 0.0 <= delta <= 1.0:
        raise ValueError(f"delta must be in [0, 1], got {delta}")
    a = _correlated_normals(rng, ap_pos, decorr_m, wrap_side_m)
    b = _correlated_normals(rng, ue_pos, decorr_m, wrap_side_m)
    return sigma_db * (np.sqrt(delta) * a[:, None] + np.sqrt(1.0 - delta) * b[None, :])


def gudmundson_update_db(rng: np.random.Generator, s_db: np.ndarray, moved_m: np.ndarray,
                         sigma_db: float, decorr_m: float) -> np.ndarray:
    """Advance shadowing along a UE trajectory (Gudmundson 1991 exponential model).

    s' = rho s + sqrt(1 - rho^2) sigma n,  rho = exp(-moved / decorr)  [dB].
    ``moved_m`` broadcasts against ``s_db`` (distance each UE moved [m]). Keeps the
    marginal std at ``sigma_db``.
    """
    rho = np.exp(-np.asarray(moved_m, dtype=float) / decorr_m)
    return rho * s_db + np.sqrt(1.0 - rho * rho) * sigma_db * rng.standard_normal(np.shape(s_db))
