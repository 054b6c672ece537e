"""User mobility: the random-waypoint variant of the AP-selection paper.

Paper (aps_gnn, Sec. VI-A): each UE picks a heading uniformly at random and a
speed from an exponential distribution whose mean depends on its mobility
class; at the end of a leg (an intermediate waypoint) it may pause for a random
time, then picks a new heading and speed. We model the leg length by its
duration, exponential with mean ``mean_leg_s``, and the pause as: with
probability ``pause_probability`` a pause of exponential duration (mean
``mean_pause_s``). UEs reflect off the area border (disc or square) or, for a
square with wrap-around, re-enter on the opposite side.

Everything is vectorised over UEs and any leading batch dimensions. Random
draws are passed in as uniforms of a fixed shape per call, so the number of
draws never depends on the trajectory and runs stay reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cfmarl.envs.physics.units import kmh_to_mps

#: Number of uniforms consumed per UE per slot by :func:`advance`.
DRAWS_PER_SLOT = 4


@dataclass(frozen=True)
class MobilityClass:
    """Parameters of one mobility class (SI units)."""

    name: str
    mean_speed_mps: float  # mean of the exponential speed distribution [m/s]
    mean_leg_s: float  # mean leg duration between waypoints [s]
    pause_probability: float  # probability of pausing at a waypoint
    mean_pause_s: float  # mean pause duration [s]


#: 3 km/h: TR 38.913 Table 6.1.2-1 (dense urban, indoor/pedestrian UEs).
#: Leg and pause values are our choice (the paper's table lost them).
PEDESTRIAN = MobilityClass("pedestrian", float(kmh_to_mps(3.0)), 20.0, 0.5, 5.0)
#: 30 km/h: TR 38.913 Table 6.1.2-1 (dense urban, outdoor users in cars).
VEHICULAR = MobilityClass("vehicular", float(kmh_to_mps(30.0)), 10.0, 0.3, 3.0)


def class_parameters(num_ues: int, num_vehicular: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-UE (mean speed, mean leg, pause probability, mean pause) for the first ``num_vehicular`` UEs
    vehicular and the rest pedestrian, each (num_ues,)."""
    cls = [VEHICULAR if k < num_vehicular else PEDESTRIAN for k in range(num_ues)]
    return (np.array([m.mean_speed_mps for m in cls]), np.array([m.mean_leg_s for m in cls]),
            np.array([m.pause_probability for m in cls]), np.array([m.mean_pause_s for m in cls]))


@dataclass(frozen=True)
class Area:
    """Service area: ``disc`` of radius ``size_m`` centred at 0, or ``square``
    [0, size_m)^2, optionally wrapped around (torus)."""

    shape: str
    size_m: float
    wrap: bool = False

    def __post_init__(self) -> None:
        if self.shape not in ("disc", "square"):
            raise ValueError(f"Area.shape must be 'disc' or 'square', got {self.shape!r}")
        if not self.size_m > 0:
            raise ValueError(f"Area.size_m must be > 0, got {self.size_m}")
        if self.wrap and self.shape != "square":
            raise ValueError("Area.wrap: wrap-around is only defined for a 'square' area")

    def contains(self, pos: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """Boolean mask of positions (..., 2) inside the area."""
        if self.shape == "disc":
            return np.hypot(pos[..., 0], pos[..., 1]) <= self.size_m + tol
        return np.all((pos >= -tol) & (pos <= self.size_m + tol), axis=-1)


@dataclass
class MobilityState:
    """Per-UE kinematic state; every array has shape ``batch + (K,)`` (pos: ``+ (2,)``)."""

    pos: np.ndarray  # [m]
    heading: np.ndarray  # [rad]
    speed: np.ndarray  # [m/s]
    leg_left_s: np.ndarray  # time left on the current leg [s]
    pause_left_s: np.ndarray  # time left in the current pause [s]


def init_state(pos: np.ndarray, u: np.ndarray, mean_speed_mps: np.ndarray,
               mean_leg_s: np.ndarray) -> MobilityState:
    """Start every UE moving: heading U[0, 2 pi), speed and leg exponential.

    ``u``: uniforms of shape ``pos.shape[:-1] + (3,)``; the per-UE means broadcast
    against ``pos.shape[:-1]``.
    """
    return MobilityState(
        pos=pos.astype(float, copy=True),
        heading=2.0 * np.pi * u[..., 0],
        speed=-mean_speed_mps * np.log1p(-u[..., 1]),
        leg_left_s=-mean_leg_s * np.log1p(-u[..., 2]),
        pause_left_s=np.zeros(pos.shape[:-1]),
    )


def _reflect(pos: np.ndarray, heading: np.ndarray, area: Area) -> tuple[np.ndarray, np.ndarray]:
    """Bring positions back into the area (mirror at the border, or wrap)."""
    if area.shape == "square":
        if area.wrap:
            return np.mod(pos, area.size_m), heading
        d = np.stack((np.cos(heading), np.sin(heading)), axis=-1)
        low, high = pos < 0.0, pos > area.size_m
        pos = np.where(low, -pos, np.where(high, 2.0 * area.size_m - pos, pos))
        pos = np.clip(pos, 0.0, area.size_m)
        d = np.where(low | high, -d, d)
        return pos, np.arctan2(d[..., 1], d[..., 0])
    r = np.hypot(pos[..., 0], pos[..., 1])
    out = r > area.size_m
    if not out.any():
        return pos, heading
    r_safe = np.maximum(r, 1e-12)
    n = pos / r_safe[..., None]
    r_new = np.clip(2.0 * area.size_m - r, 0.0, area.size_m)
    pos = np.where(out[..., None], n * r_new[..., None], pos)
    d = np.stack((np.cos(heading), np.sin(heading)), axis=-1)
    d_ref = d - 2.0 * np.sum(d * n, axis=-1, keepdims=True) * n
    new_heading = np.arctan2(d_ref[..., 1], d_ref[..., 0])
    return pos, np.where(out, new_heading, heading)


def advance(state: MobilityState, u: np.ndarray, dt_s: float, n_slots: int, cls_mean_speed: np.ndarray,
            cls_mean_leg: np.ndarray, cls_pause_prob: np.ndarray, cls_mean_pause: np.ndarray,
            area: Area) -> tuple[np.ndarray, MobilityState]:
    """Move the UEs through ``n_slots`` slots of ``dt_s`` seconds.

    Args:
        state: current state (not modified).
        u: uniforms of shape ``(n_slots,) + state.heading.shape + (DRAWS_PER_SLOT,)``.
        cls_*: per-UE class parameters broadcasting against ``state.heading``.
    Returns:
        ``traj`` of shape ``(n_slots,) + state.pos.shape``: the position at the start
        of each slot, and the state after ``n_slots * dt_s`` seconds.
    """
    pos, heading, speed = state.pos, state.heading, state.speed
    leg, pause = state.leg_left_s, state.pause_left_s
    horizon = n_slots * dt_s
    steps = np.arange(n_slots + 1, dtype=float)[:, None] * dt_s  # (n+1, 1) [s]
    # Fast path: no UE ends a leg or a pause and nobody crosses the border this
    # window -> straight lines, one broadcast.
    if (np.all(np.where(pause > 0.0, pause > horizon, leg > horizon))):
        vel = np.where(pause > 0.0, 0.0, speed)[..., None] * np.stack((np.cos(heading), np.sin(heading)), -1)
        t = steps.reshape((n_slots + 1,) + (1,) * pos.ndim)
        path = pos + t * vel
        if area.wrap or area.contains(path[-1]).all():
            moving = pause <= 0.0
            path = np.mod(path, area.size_m) if area.wrap else path
            new = MobilityState(path[-1], heading, speed, np.where(moving, leg - horizon, leg),
                                np.where(moving, pause, pause - horizon))
            return path[:-1], new
    # Slow path: slot by slot with events.
    traj = np.empty((n_slots,) + pos.shape)
    for t in range(n_slots):
        traj[t] = pos
        paused = pause > 0.0
        step = np.where(paused, 0.0, speed * dt_s)
        pos = pos + step[..., None] * np.stack((np.cos(heading), np.sin(heading)), -1)
        pos, heading = _reflect(pos, heading, area)
        pause = np.where(paused, np.maximum(pause - dt_s, 0.0), pause)
        leg = np.where(paused, leg, leg - dt_s)
        ended = ~paused & (leg <= 0.0)
        if ended.any():
            ut = u[t]
            heading = np.where(ended, 2.0 * np.pi * ut[..., 0], heading)
            speed = np.where(ended, -cls_mean_speed * np.log1p(-ut[..., 1]), speed)
            leg = np.where(ended, -cls_mean_leg * np.log1p(-ut[..., 2]), leg)
            coin = ut[..., 3] < cls_pause_prob
            # reuse the coin's uniform: given coin, u3 / p is U[0, 1)
            frac = np.where(coin, ut[..., 3] / np.maximum(cls_pause_prob, 1e-300), 0.0)
            pause = np.where(ended & coin, -cls_mean_pause * np.log1p(-frac), pause)
    return traj, MobilityState(pos, heading, speed, leg, pause)
