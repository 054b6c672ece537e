"""Search spaces in experiment YAML files, and their one translation to Ray Tune.

A search space is a *tagged value*: a one-key mapping in place of a plain value,

    algorithm:
      lr: {loguniform: [1.0e-5, 1.0e-3]}
      lambda_lr: {choice: [1.0, 5.0, 20.0]}
      entropy_coeff: {uniform: [0.0, 0.02]}
      num_epochs: {randint: [3, 8]}          # integers low..high, both included
    seed: {grid: [0, 1, 2]}                   # every value, crossed with the other grid axes

Tags: ``grid`` (list of values), ``choice`` (list of values), ``uniform`` /
``loguniform`` ([low, high], floats), ``randint`` ([low, high], integers, high
included). The same tags give the PBT/PB2 mutation spaces (``tune.mutations``).

:func:`split_search_space` removes the tags from a raw experiment mapping and
returns the base mapping (every tag replaced by a representative value) plus a
flat ``{"algorithm.lr": Space}`` dictionary; :func:`Space.candidates` lists the
values the typed schema must accept (both bounds of a range, every choice), so
a bad search space is reported at load time with its key path. :func:`to_tune`
is the only place that knows Ray Tune's sampling API.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cfmarl.envs.validation import ConfigError

TAGS = ("grid", "choice", "uniform", "loguniform", "randint")


@dataclass(frozen=True)
class Space:
    kind: str
    args: tuple

    @property
    def is_grid(self) -> bool:
        return self.kind == "grid"

    def representative(self) -> Any:
        """A value inside the space (the schema is built with it)."""
        if self.kind in ("grid", "choice"):
            return self.args[0]
        lo, hi = self.args
        if self.kind == "loguniform":
            return float(math.sqrt(lo * hi))
        if self.kind == "uniform":
            return float(0.5 * (lo + hi))
        return int((lo + hi) // 2)

    def candidates(self) -> list[Any]:
        """Values the typed schema must accept for the space to be valid."""
        return list(self.args)


def _parse(path: str, tag: str, arg: Any) -> Space:
    if tag in ("grid", "choice"):
        if not isinstance(arg, list) or not arg:
            raise ConfigError(f"{path}: {{{tag}: ...}} needs a non-empty list of values, got {arg!r}")
        return Space(tag, tuple(arg))
    if not (isinstance(arg, list) and len(arg) == 2):
        raise ConfigError(f"{path}: {{{tag}: [low, high]}} needs exactly two bounds, got {arg!r}")
    lo, hi = arg
    if tag == "randint":
        if any(isinstance(v, bool) or not isinstance(v, int) for v in (lo, hi)):
            raise ConfigError(f"{path}: randint bounds must be integers, got {arg!r}")
    elif any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in (lo, hi)):
        raise ConfigError(f"{path}: {tag} bounds must be finite numbers, got {arg!r}")
    if not lo < hi:
        raise ConfigError(f"{path}: {tag} needs low < high, got {arg!r}")
    if tag == "loguniform" and lo <= 0:
        raise ConfigError(f"{path}: loguniform bounds must be > 0, got {arg!r}")
    if tag != "randint":
        lo, hi = float(lo), float(hi)
    return Space(tag, (lo, hi))


def parse_space(path: str, value: Any) -> Space | None:
    """The :class:`Space` if ``value`` is a tagged value, else None."""
    if isinstance(value, dict) and len(value) == 1:
        (tag, arg), = value.items()
        if tag in TAGS:
            return _parse(path, tag, arg)
    return None


def split_search_space(data: dict, *, skip: set[str] = frozenset(),
                       path: str = "") -> tuple[dict, dict[str, Space]]:
    """Replace every tagged value in ``data`` (at any depth, e.g. inside
    ``env.overrides``) by its representative value. ``skip``: key paths left
    untouched (e.g. ``tune``, whose ``mutations`` are spaces of their own).
    Returns (base mapping, {key path: Space}).
    """
    base, spaces = {}, {}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if sub in skip:
            base[key] = value
            continue
        space = parse_space(sub, value)
        if space is not None:
            spaces[sub] = space
            base[key] = space.representative()
        elif isinstance(value, dict):
            base[key], inner = split_search_space(value, skip=skip, path=sub)
            spaces.update(inner)
        else:
            base[key] = value
    return base, spaces


def set_path(data: dict, path: str, value: Any) -> dict:
    """A copy of nested mapping ``data`` with ``a.b.c`` set to ``value``."""
    head, _, rest = path.partition(".")
    out = dict(data)
    if rest:
        inner = out.get(head)
        out[head] = set_path(inner if isinstance(inner, dict) else {}, rest, value)
    else:
        out[head] = value
    return out


def get_path(data: dict, path: str, default: Any = None) -> Any:
    cur: Any = data
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def to_tune(space: Space) -> Any:
    """The Ray Tune domain of a space (the only translation to Tune)."""
    from ray import tune

    if space.kind == "grid":
        return tune.grid_search(list(space.args))
    if space.kind == "choice":
        return tune.choice(list(space.args))
    if space.kind == "uniform":
        return tune.uniform(*space.args)
    if space.kind == "loguniform":
        return tune.loguniform(*space.args)
    lo, hi = space.args
    return tune.randint(lo, hi + 1)  # Tune's upper bound is exclusive


def to_pb2_bounds(path: str, space: Space) -> list[float]:
    """PB2 needs continuous [low, high] bounds."""
    if space.kind not in ("uniform", "loguniform", "randint"):
        raise ConfigError(f"tune.mutations.{path}: PB2 needs a numeric range (uniform, loguniform, randint), "
                          f"got {space.kind}")
    return [float(space.args[0]), float(space.args[1])]
