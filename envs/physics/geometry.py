"""Node placement and distances.

Positions are arrays of shape ``(..., n, 2)`` in metres. Every random draw
takes an explicit :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import numpy as np


def drop_uniform_disc(rng: np.random.Generator, n: int, radius_m: float,
                      batch: tuple[int, ...] = ()) -> np.ndarray:
    """Drop ``n`` points uniformly in a disc of radius ``radius_m`` [m] centred at 0.

    Uses r = R sqrt(u), theta = 2 pi v, which gives a uniform density per unit area.
    Returns shape ``batch + (n, 2)`` [m].
    """
    u = rng.random(batch + (n, 2))
    r = radius_m * np.sqrt(u[..., 0])
    theta = 2.0 * np.pi * u[..., 1]
    return np.stack((r * np.cos(theta), r * np.sin(theta)), axis=-1)


def drop_uniform_square(rng: np.random.Generator, n: int, side_m: float,
                        batch: tuple[int, ...] = ()) -> np.ndarray:
    """Drop ``n`` points uniformly in the square [0, side_m)^2 [m]. Shape ``batch + (n, 2)``."""
    return side_m * rng.random(batch + (n, 2))


def horizontal_distance_m(a: np.ndarray, b: np.ndarray,
                          wrap_side_m: float | None = None) -> np.ndarray:
    """2-D distances between every point of ``a`` (..., L, 2) and ``b`` (..., K, 2) -> (..., L, K) [m].

    With ``wrap_side_m`` the square [0, D)^2 is a torus (wrap-around): each axis
    offset is min(|dx|, D - |dx|), which equals Ngo 2017's minimum over the 9
    shifted copies of the area (physics_reference.md (i)).
    """
    dx = a[..., :, None, 0] - b[..., None, :, 0]
    dy = a[..., :, None, 1] - b[..., None, :, 1]
    if wrap_side_m is not None:
        dx = np.abs(dx) % wrap_side_m
        dx = np.minimum(dx, wrap_side_m - dx)
        dy = np.abs(dy) % wrap_side_m
        dy = np.minimum(dy, wrap_side_m - dy)
    return np.sqrt(dx * dx + dy * dy)


def distance_3d_m(d2d_m: np.ndarray, h_a_m: float, h_b_m: float) -> np.ndarray:
    """3-D distance [m] from horizontal distance and the two antenna heights [m].

    d3D = sqrt(d2D^2 + (h_a - h_b)^2) (physics_reference.md (iv)).
    """
    dh = h_a_m - h_b_m
    return np.sqrt(d2d_m * d2d_m + dh * dh)
