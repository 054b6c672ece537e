"""Per-node generalised advantage estimation and the Lagrangian advantage (numpy).

Shapes: T steps of one episode chunk, N nodes, C constraints.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def gae(rewards: np.ndarray, values: np.ndarray, bootstrap: np.ndarray, terminated: bool, gamma: float,
        lambda_: float) -> tuple[np.ndarray, np.ndarray]:
    """GAE along axis 0 for any trailing shape (per node, per constraint).

    rewards[t] is the signal of the action taken at step t, values[t] = V(s_t),
    ``bootstrap`` = V(s_T) of the state after the chunk (ignored if ``terminated``).
    delta_t = r_t + gamma V(s_{t+1}) - V(s_t);  A_t = sum_k (gamma lambda)^k delta_{t+k}.
    Returns (advantages, value targets = advantages + values), both shaped like rewards.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    nxt = np.concatenate([values[1:], (0.0 if terminated else 1.0) * np.asarray(bootstrap, float)[None]], axis=0)
    delta = rewards + gamma * nxt - values
    # reverse discounted cumulative sum, vectorised over every trailing axis
    adv = lfilter([1.0], [1.0, -gamma * lambda_], delta[::-1], axis=0)[::-1]
    return adv, adv + values


def lagrangian_advantage(adv_r: np.ndarray, adv_c: np.ndarray, multipliers) -> np.ndarray:
    """(A_r - sum_i lambda_i A_c,i) / (1 + sum_i lambda_i); adv_c has a trailing constraint axis."""
    lam = np.asarray(multipliers, dtype=float)
    return (adv_r - np.tensordot(adv_c, lam, axes=([-1], [0]))) / (1.0 + lam.sum())
