"""Parsing of baseline specs ``name[:key=value,...]`` shared by every environment's baselines."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def _value(text: str):
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str, env: str, factories: Mapping[str, Callable], options: Mapping[str, set[str]]):
    """Build ``factories[name](**options)`` from ``name[:key=value,...]`` with clear errors."""
    name, _, arg_str = spec.partition(":")
    kwargs: dict[str, object] = {}
    for item in filter(None, arg_str.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"policy {spec!r}: options are key=value pairs, got {item!r}")
        kwargs[key.strip()] = _value(value)
    if name not in factories:
        raise ValueError(f"unknown policy {name!r} for env {env!r}; known: {', '.join(factories)}")
    allowed = options.get(name, set())
    bad = sorted(set(kwargs) - allowed)
    if bad:
        raise ValueError(f"policy {name!r}: unknown option(s) {', '.join(bad)}; allowed: "
                         f"{', '.join(sorted(allowed)) or 'none'}")
    return factories[name](**kwargs)


class OwnStream:
    """Mixin of a controller with a random stream of its own (``self._rng``, seeded by its ``seed`` option).

    The stream's state can be read and restored, so a resumed dataset collection (``cfmarl collect``) continues
    each behaviour policy's draws where the interrupted process left them: the resumed dataset equals the
    uninterrupted one (``cfmarl.datasets.collect`` keeps the state after every shard in the manifest)."""

    def rng_state(self) -> dict[str, Any]:
        return self._rng.bit_generator.state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state
