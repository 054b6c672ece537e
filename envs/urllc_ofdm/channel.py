"""Geometric multipath channel: the substitute for the paper's ray-traced DeepMIMO O1 data.

The B APs stand around a rectangular user grid (corners and edge midpoints of
the rectangle, 10 m outside it, 6 m high), each with an M-element half-wavelength
uniform linear array along x. Each AP-UE link has ``clusters`` paths: the direct
path and ``clusters - 1`` single-bounce paths via scatterers dropped at reset
around the grid (fixed for the episode). A path of length d has amplitude
lambda / (4 pi d) (free space, physics_reference.md (iv)), reduced by
``scatter_loss_db`` for a bounce, departs at the angle towards the UE or the
scatterer and has delay d / c, so subband k (centre frequency offset f_k) sees
    h_buk = sum_p a_p exp(-j 2 pi (f_c + f_k) d_p / c) e(theta_p),
    e(theta)_m = exp(j pi m sin theta).
Users move on the grid (``grid_step_m``) one step per slot in their current
direction and pick a new random direction (keeping adjacency and staying on the
grid) when they reach the boundary (paper Sec. V-A). Beams come from the
M-codeword DFT codebook f_m[n] = exp(-j 2 pi n m / M) / sqrt(M).
"""

from __future__ import annotations

import numpy as np

from cfmarl.envs.physics.units import SPEED_OF_LIGHT_MPS

DIRECTIONS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])
AP_HEIGHT_M, UE_HEIGHT_M, AP_MARGIN_M = 6.0, 1.5, 10.0


def dft_codebook(m: int) -> np.ndarray:
    """(M codewords, M antennas): f_m[n] = exp(-j 2 pi n m / M) / sqrt(M), unit norm."""
    n = np.arange(m)
    return np.exp(-2j * np.pi * np.outer(n, n) / m) / np.sqrt(m)


def ap_positions(num_aps: int, ax: float, ay: float) -> np.ndarray:
    """APs around the grid: corners first, then edge midpoints, then evenly on a surrounding ellipse."""
    mx, my = AP_MARGIN_M, AP_MARGIN_M
    spots = [(-mx, -my), (ax + mx, ay + my), (ax + mx, -my), (-mx, ay + my), (ax / 2, -my), (ax / 2, ay + my),
             (-mx, ay / 2), (ax + mx, ay / 2)]
    if num_aps <= len(spots):
        return np.array(spots[:num_aps], float)
    phi = 2 * np.pi * np.arange(num_aps) / num_aps
    return np.stack([ax / 2 + (ax / 2 + mx) * np.cos(phi), ay / 2 + (ay / 2 + my) * np.sin(phi)], -1)


def subband_offsets_hz(subbands: int, subcarriers: int, scs_hz: float) -> np.ndarray:
    """Centre-frequency offset of each subband from the carrier."""
    width = subcarriers * scs_hz
    return (np.arange(subbands) - (subbands - 1) / 2) * width


def channels(ap_pos: np.ndarray, ue_pos: np.ndarray, scatterers: np.ndarray, cfg) -> np.ndarray:
    """h (..., B, U, K, M) for APs (B, 2), UEs (..., U, 2) and scatterers (..., B, U, S, 2)."""
    lam = SPEED_OF_LIGHT_MPS / cfg.carrier_hz
    dh = AP_HEIGHT_M - UE_HEIGHT_M
    ap = ap_pos[:, None, None, :]  # (B, 1, 1, 2)
    ue = ue_pos[..., None, :, None, :]  # (..., 1, U, 1, 2)
    direct = ue - ap  # (..., B, U, 1, 2)
    via = scatterers - ap  # (..., B, U, S, 2)
    d_dir = np.sqrt((direct ** 2).sum(-1) + dh * dh)
    d_sc = np.sqrt((via ** 2).sum(-1)) + np.sqrt(((ue - scatterers) ** 2).sum(-1) + dh * dh)
    dep = np.concatenate([direct, np.broadcast_to(via, via.shape)], axis=-2)  # departure vectors
    dist = np.concatenate([np.broadcast_to(d_dir, d_dir.shape[:-1] + (1,)), d_sc], axis=-1)  # (..., B, U, P)
    amp = lam / (4 * np.pi * dist)
    amp[..., 1:] *= 10 ** (-cfg.scatter_loss_db / 20)
    theta = np.arctan2(dep[..., 1], dep[..., 0])  # angle from the array axis (x)
    steer = np.exp(1j * np.pi * np.arange(cfg.antennas) * np.sin(theta)[..., None])  # (..., B, U, P, M)
    freq = cfg.carrier_hz + subband_offsets_hz(cfg.subbands, cfg.subcarriers, cfg.subcarrier_hz)  # (K,)
    phase = np.exp(-2j * np.pi * dist[..., None, :] * freq[:, None] / SPEED_OF_LIGHT_MPS)  # (..., B, U, K, P)
    return np.einsum("...bukp,...bup,...bupm->...bukm", phase, amp, steer)


def grid_shape(cfg) -> tuple[int, int]:
    return int(round(cfg.area_x_m / cfg.grid_step_m)) + 1, int(round(cfg.area_y_m / cfg.grid_step_m)) + 1


def move(cell: np.ndarray, heading: np.ndarray, u: np.ndarray, shape: tuple[int, int]):
    """One grid step per user in its direction; at the boundary a random admissible new direction.
    cell (..., U, 2) int, heading (..., U) in 0..3, u (..., U) uniforms."""
    step = DIRECTIONS[heading]
    nxt = cell + step
    out = (nxt < 0).any(-1) | (nxt[..., 0] >= shape[0]) | (nxt[..., 1] >= shape[1])
    if out.any():
        cand = cell[..., None, :] + DIRECTIONS  # (..., U, 4, 2)
        ok = ((cand >= 0).all(-1) & (cand[..., 0] < shape[0]) & (cand[..., 1] < shape[1]))
        # choose uniformly among admissible directions with the uniform u
        cum = np.cumsum(ok, -1)
        pick = (u[..., None] * ok.sum(-1, keepdims=True) < cum).argmax(-1)
        heading = np.where(out, pick, heading)
        nxt = np.where(out[..., None], cell + DIRECTIONS[heading], nxt)
    return nxt, heading
