"""Explicit registry of environments, their scenarios and their baselines.

Built by a function call (no registration as an import side effect).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cfmarl.envs.validation import ConfigError


@dataclass(frozen=True)
class EnvEntry:
    name: str  # short name used on the command line
    module: str  # public PettingZoo module
    family: str  # agent granularity
    description: str
    scenario_names: Callable[[], list[str]]
    make_config: Callable[..., Any]  # (scenario, **overrides) -> frozen config
    make_core: Callable[[Any, int], Any]  # (config, num_envs) -> array core
    make_baseline: Callable[[str], Any]  # spec -> controller
    baselines: tuple[str, ...]


def env_registry() -> dict[str, EnvEntry]:
    """All registered environments by short name."""
    from cfmarl.envs import ap_selection_v0 as aps
    from cfmarl.policies.baselines.ap_selection import make_baseline

    return {
        "aps": EnvEntry(
            name="aps", module="cfmarl.envs.ap_selection_v0", family="per-AP-UE link",
            description="AP selection, cell-free mMIMO downlink, MRT (aps_gnn)",
            scenario_names=aps.scenario_names, make_config=aps.make_config,
            make_core=lambda cfg, n: aps.ApSelectionCore(cfg, num_envs=n),
            make_baseline=make_baseline, baselines=("k-strongest", "all-on", "greedy")),
    }


def get_env(name: str) -> EnvEntry:
    reg = env_registry()
    if name not in reg:
        raise ConfigError(f"unknown env {name!r}; known: {', '.join(reg)}")
    return reg[name]
