"""Conjugate beamforming (MRT) in the cell-free downlink: power split and SINR.

Single-antenna APs l = 1..L, single-antenna UEs k = 1..K. Arrays put APs on
axis -2 and UEs on axis -1, i.e. ``(..., L, K)``; any leading axes (env copies,
slots) are batch axes.
"""

from __future__ import annotations

import contextlib

import numpy as np

try:  # the batched (K x L) @ (L x K) products here are small: extra BLAS threads only add synchronisation
    from threadpoolctl import ThreadpoolController

    _BLAS = ThreadpoolController()

    def _single_thread_blas():
        return _BLAS.limit(limits=1, user_api="blas")
except ImportError:  # pragma: no cover - threadpoolctl is a dependency; stay correct without it
    def _single_thread_blas():
        return contextlib.nullcontext()


def equal_power_split(assoc: np.ndarray, p_max_w: float) -> np.ndarray:
    """Per-AP equal power split among the UEs it serves -> p (..., L, K) [W].

    p_lk = P_max a_lk / sum_k' a_lk'; an AP serving nobody transmits nothing.
    An AP serving anyone therefore transmits at full power P_max
    (aps_gnn Sec. III-B: "each AP allocates equal power among the UEs it serves").
    """
    a = np.asarray(assoc, dtype=float)
    n = a.sum(axis=-1, keepdims=True)
    return p_max_w * a / np.maximum(n, 1.0)


def mrt_received_amplitudes(h: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Effective downlink gains G (..., K, K) under normalised MRT.

    AP l sends x_l = sum_j sqrt(p_lj) (h_lj^* / |h_lj|) s_j, so its transmit power
    is sum_j p_lj exactly, in every slot. UE k receives
    y_k = sum_j G_kj s_j + n_k with G_kj = sum_l h_lk sqrt(p_lj) h_lj^* / |h_lj|.
    For a deterministic LoS channel this equals Ngo 2017's conjugate beamformer
    sqrt(eta_lj) h_lj^* with eta_lj = p_lj / |h_lj|^2.
    """
    mag = np.abs(h)
    w = np.sqrt(p) * np.conj(h) / np.where(mag > 0.0, mag, 1.0)
    # G = H^T W, batched: (..., K, L) @ (..., L, K)
    with _single_thread_blas():
        return np.matmul(np.swapaxes(h, -1, -2), w)


def mrt_sinr(h: np.ndarray, p: np.ndarray, noise_w: float) -> np.ndarray:
    """Instantaneous downlink SINR per UE under normalised MRT (aps_gnn eq. (5)).

    SINR_k = |G_kk|^2 / (sum_{j != k} |G_kj|^2 + sigma^2), G from
    :func:`mrt_received_amplitudes`. h: (..., L, K) complex channel, p: (..., L, K)
    powers [W], noise [W]. Returns (..., K).
    """
    g = mrt_received_amplitudes(h, p)
    pw = g.real * g.real + g.imag * g.imag
    signal = np.diagonal(pw, axis1=-2, axis2=-1)
    interference = pw.sum(axis=-1) - signal
    return signal / (interference + noise_w)


def mrt_sinr_uatf(beta: np.ndarray, gamma: np.ndarray, p: np.ndarray, noise_w: float) -> np.ndarray:
    """Ergodic (use-and-then-forget) MRT SINR, Ngo 2017, power-domain form, orthogonal pilots.

    SINR_k = (sum_l sqrt(p_lk gamma_lk))^2 / (sum_l beta_lk P_l + sigma^2),  P_l = sum_k p_lk.
    beta: large-scale gains (..., L, K); gamma: channel-estimate variances (gamma = beta
    with perfect CSI); p: powers [W]. The denominator contains the UE's own stream
    (beamforming-gain uncertainty), as the reference sheet insists. Returns (..., K).
    """
    num = np.sum(np.sqrt(p * gamma), axis=-2) ** 2
    p_ap = p.sum(axis=-1, keepdims=True)
    den = np.sum(beta * p_ap, axis=-2) + noise_w
    return num / den


def spectral_efficiency(sinr: np.ndarray) -> np.ndarray:
    """Shannon spectral efficiency log2(1 + SINR) [bit/s/Hz] (aps_gnn eq. (6))."""
    return np.log2(1.0 + sinr)
