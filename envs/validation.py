"""Input validation shared by every environment: config fields and actions.

Errors name the field (or the agent) and what is allowed, so that bad input
never surfaces as a traceback from deep inside numpy.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """An invalid configuration value; the message names the field."""


class ActionError(ValueError):
    """An invalid action (shape, type, range or NaN); the message names the agent."""


def check_int(cls: str, name: str, value: Any, lo: int | None = None, hi: int | None = None) -> None:
    """Require an integer (not bool) within [lo, hi]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{cls}.{name}: must be an integer, got {value!r} ({type(value).__name__})")
    _check_range(cls, name, value, lo, hi)


def check_float(cls: str, name: str, value: Any, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False) -> None:
    """Require a finite real number within [lo, hi] (or (lo, hi] with ``lo_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{cls}.{name}: must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{cls}.{name}: must be finite, got {value!r}")
    if lo_open and lo is not None and not value > lo:
        raise ConfigError(f"{cls}.{name}: must be > {lo}, got {value!r}")
    _check_range(cls, name, value, None if lo_open else lo, hi)


def check_choice(cls: str, name: str, value: Any, allowed: Iterable[Any]) -> None:
    """Require one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{cls}.{name}: must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def check_bool(cls: str, name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{cls}.{name}: must be true or false, got {value!r}")


def _check_range(cls: str, name: str, value: Any, lo: Any, hi: Any) -> None:
    if lo is not None and value < lo:
        raise ConfigError(f"{cls}.{name}: must be >= {lo}, got {value!r}")
    if hi is not None and value > hi:
        raise ConfigError(f"{cls}.{name}: must be <= {hi}, got {value!r}")


def replace_config(config: Any, **overrides: Any) -> Any:
    """``dataclasses.replace`` with a clear error for unknown field names."""
    fields = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ConfigError(f"{type(config).__name__}: unknown field(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(fields))}")
    return dataclasses.replace(config, **overrides)


def real_numbers(value: Any, where: str, allowed: str) -> np.ndarray:
    """``value`` as a float64 array if it holds real numbers (bool, int or float dtypes); strings, bytes,
    None / objects and complex values raise :class:`ActionError` naming ``where`` (numpy would parse
    "0.5" or drop an imaginary part silently)."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ActionError(f"{where}: must be {allowed}, cannot be read as an array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        kind = {"c": "complex", "U": "text", "S": "bytes", "O": "objects"}.get(arr.dtype.kind, str(arr.dtype))
        raise ActionError(f"{where}: must be {allowed}, got {kind} {value!r:.60}")
    return arr.astype(float)


def check_seed(seed: Any, where: str = "reset(seed=...)") -> None:
    """None or a non-negative integer (not a bool)."""
    if seed is None:
        return
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{where}: must be a non-negative integer or None, got {seed!r}")


def coerce_binary_actions(actions: Any, batch: int, n_agents: int,
                          agent_ids: Sequence[str] | None = None) -> np.ndarray:
    """Validate Discrete(2) actions and return a bool array of shape (batch, n_agents).

    Accepts shape (n_agents,) when batch == 1, or (batch, n_agents); integer, bool or
    float arrays whose values are exactly 0 or 1. NaN, other values, wrong shapes or
    non-numeric input raise :class:`ActionError` naming the offending agent.
    """
    try:
        a = np.asarray(actions)
    except Exception as exc:  # ragged lists and the like
        raise ActionError(f"actions: cannot be read as an array ({exc})") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise ActionError(f"actions: must be numeric 0/1 values, got dtype {a.dtype}")
    given = a.shape
    if a.ndim == 1 and batch == 1:
        a = a[None]
    if a.shape != (batch, n_agents):
        want = f"({n_agents},) or ({batch}, {n_agents})" if batch == 1 else f"({batch}, {n_agents})"
        raise ActionError(f"actions: expected shape {want}, got {given}")
    if a.dtype == bool:
        return a
    if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.complexfloating):
        bad_nan = np.isnan(a)
        if bad_nan.any():
            raise ActionError(f"actions: NaN for agent {_agent_name(np.argwhere(bad_nan)[0], agent_ids)}")
    bad = (a != 0) & (a != 1)
    if bad.any():
        idx = np.argwhere(bad)[0]
        raise ActionError(f"actions: agent {_agent_name(idx, agent_ids)} has action {a[tuple(idx)].item()!r}; "
                          "allowed: 0 (don't serve) or 1 (serve)")
    return a.astype(bool)


def _agent_name(idx: np.ndarray, agent_ids: Sequence[str] | None) -> str:
    b, n = int(idx[0]), int(idx[1])
    name = agent_ids[n] if agent_ids is not None else f"#{n}"
    return name if b == 0 else f"{name} (env copy {b})"


def check_num_envs(num_envs: Any) -> None:
    """The number of env copies of an array core: an integer >= 1."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs: must be an integer >= 1, got {num_envs!r}")


def make_rngs(seeds: Any, num_envs: int) -> list[np.random.Generator]:
    """One generator per env copy from a seed / SeedSequence / Generator (num_envs == 1) or a
    sequence of them (copy b's trajectory then depends only on its own seed)."""
    if isinstance(seeds, (int, np.integer, np.random.SeedSequence, np.random.Generator)):
        seeds = [seeds]
    seeds = list(seeds)
    if len(seeds) != num_envs:
        raise ValueError(f"seeds: expected {num_envs} seeds (one per env copy), got {len(seeds)}")
    return [s if isinstance(s, np.random.Generator) else np.random.default_rng(s) for s in seeds]


def coerce_box_actions(actions: Any, batch: int, n: int, low: float, high: float,
                       agent_ids: Sequence[str] | None = None, per_agent: int = 1,
                       tol: float = 1e-6) -> np.ndarray:
    """Validate continuous actions in [low, high] and return float64 (batch, n).

    Accepts (n,) or (n_agents, per_agent) when batch == 1, (batch, n) or the agent layout
    (batch, n_agents, per_agent) with n_agents * per_agent == n. NaN / inf, wrong shapes and
    values outside [low, high] (beyond ``tol``; within it they are clipped) raise
    :class:`ActionError` naming the agent.
    """
    a = real_numbers(actions, "actions", f"numbers in [{low:g}, {high:g}]")
    given = a.shape
    if a.ndim == 3:  # agent layout (batch, n_agents, per_agent)
        a = a.reshape(a.shape[0], -1)
    elif batch == 1 and a.ndim == 1:
        a = a[None]
    elif batch == 1 and a.ndim == 2 and a.shape != (1, n) and a.size == n:  # (n_agents, per_agent)
        a = a.reshape(1, -1)
    if a.shape != (batch, n):
        n_agents = n // per_agent
        layout = f"({batch}, {n}) or ({batch}, {n_agents}, {per_agent})"
        raise ActionError(f"actions: expected shape {layout}{' or (' + str(n) + ',)' if batch == 1 else ''}, "
                          f"got {given}")
    bad = ~np.isfinite(a) | (a < low - tol) | (a > high + tol)
    if bad.any():
        b, i = (int(x) for x in np.argwhere(bad)[0])
        agent = i // per_agent
        name = agent_ids[agent] if agent_ids is not None else f"#{agent}"
        where = name if b == 0 else f"{name} (env copy {b})"
        comp = f"[{i % per_agent}]" if per_agent > 1 else ""
        raise ActionError(f"actions: agent {where}{comp} has {float(a[b, i])!r}; allowed: finite values in "
                          f"[{low:g}, {high:g}]")
    return np.clip(a, low, high)


# -- memory guard -------------------------------------------------------------------------------
ALLOW_LARGE_ENV = "CFMARL_ALLOW_LARGE"  # set to 1 to build configs the memory guard would refuse
_GUARD_FLOOR = 256 << 20  # estimates below this never consult the machine
_GUARD_SHARE = 0.8  # of the memory available now


def allow_large() -> bool:
    return os.environ.get(ALLOW_LARGE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def available_memory_bytes() -> int:
    """Memory available to a new process now (``MemAvailable``; physical memory where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: never refuse


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover


def check_memory(where: str, terms: Sequence[tuple[str, Sequence[str], float]], copies: int = 1) -> float:
    """Refuse sizes whose estimated memory exceeds what this machine can spare, before anything is
    allocated. ``terms``: (what, the config fields it grows with, bytes of one env copy); ``copies``:
    env copies that will exist at once. The message names the largest terms and their fields and how
    to override (``CFMARL_ALLOW_LARGE=1``). Returns the estimate in bytes."""
    sized = sorted(((what, tuple(fields), float(b) * copies) for what, fields, b in terms), key=lambda t: -t[2])
    total = sum(b for _, _, b in sized)
    if total < _GUARD_FLOOR or allow_large():
        return total
    avail = available_memory_bytes()
    if total <= _GUARD_SHARE * avail:
        return total
    parts = "; ".join(f"{what} ({' x '.join(fields)}) {human_bytes(b)}" for what, fields, b in sized[:3] if b > 0)
    fields = list(dict.fromkeys(f for _, fs, b in sized[:3] if b >= 0.1 * total for f in fs))
    n = f" for {copies} env copies" if copies > 1 else ""
    raise ConfigError(f"{where}: these sizes need about {human_bytes(total)}{n} ({parts}), more than the "
                      f"{human_bytes(_GUARD_SHARE * avail)} this machine can spare ({_GUARD_SHARE:.0%} of "
                      f"{human_bytes(avail)} available); reduce {', '.join(fields)}, or set {ALLOW_LARGE_ENV}=1 "
                      "(experiment files: resources.allow_large: true) if you mean it")
