"""Environment registry: the built-in envs plus any registered by a call or an entry point.

An entry names how to build an env's config, its array core and its baselines, and
carries its :class:`~cfmarl.envs.declarations.EnvDeclaration` (KPIs, constraint,
scaling axes) - everything orchestration needs, so that ``cfmarl/`` never names an
env's fields. A third-party env registers with one call::

    from cfmarl.registry import EnvEntry, register_env
    register_env(EnvEntry(name="myenv", ...))

or one entry point in its package metadata (group ``cfmarl.envs``) pointing at a
function that returns its :class:`EnvEntry`; entry points are read when the
registry is first used. ``docs/adding_an_environment.md`` walks through it.
No registration happens as an import side effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cfmarl.envs.declarations import EnvDeclaration
from cfmarl.envs.validation import ConfigError

ENTRY_POINT_GROUP = "cfmarl.envs"
DEFAULT_ENV = "aps"  # the env an experiment or `cfmarl evaluate` uses when none is named


@dataclass(frozen=True)
class EnvEntry:
    name: str  # short name used on the command line and in experiment files
    module: str  # public PettingZoo module (exports parallel_env(config=...))
    family: str  # agent granularity, for `cfmarl envs`
    description: str
    scenario_names: Callable[[], list[str]]
    make_config: Callable[..., Any]  # (scenario, **overrides) -> frozen config
    make_core: Callable[[Any, int], Any]  # (config, num_envs) -> array core
    make_baseline: Callable[[str], Any]  # spec -> controller with act(core, state, obs)
    baselines: tuple[str, ...]  # the baseline specs `cfmarl evaluate` runs by default
    declaration: EnvDeclaration
    default_scenario: str = ""  # "" = the first scenario name

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"EnvEntry.name: letters, digits, '-' and '_' only, got {self.name!r}")
        if not isinstance(self.declaration, EnvDeclaration):
            raise ValueError(f"EnvEntry {self.name!r}: declaration must be an EnvDeclaration")


def _builtin() -> list[EnvEntry]:
    """The five envs of the papers: (public module, core class, baselines module, default baselines)."""
    from cfmarl.envs import ap_selection_v0 as aps
    from cfmarl.envs import mf_tdma_v0 as mf
    from cfmarl.envs import power_control_v0 as pc
    from cfmarl.envs import precoding_v0 as prec
    from cfmarl.envs import urllc_ofdm_v0 as ur
    from cfmarl.policies.baselines import ap_selection as aps_base
    from cfmarl.policies.baselines import mf_tdma as mf_base
    from cfmarl.policies.baselines import power_control as pc_base
    from cfmarl.policies.baselines import precoding as prec_base
    from cfmarl.policies.baselines import urllc_ofdm as ur_base

    table = [
        ("aps", aps, aps.ApSelectionCore, aps_base, tuple(aps_base.FACTORIES), "medium", "per-AP-UE link",
         "AP selection, cell-free mMIMO downlink, MRT (aps_gnn)"),
        ("power", pc, pc.PowerControlCore, pc_base, tuple(pc_base.FACTORIES), "paper", "per-user",
         "downlink power control, max-min / max-product / max-sum-rate with QoS (dhi_sac)"),
        ("precoding", prec, prec.PrecodingCore, prec_base, tuple(prec_base.FACTORIES), "medium", "per-user",
         "WMMSE-expert distributed precoding in cell-free O-RAN, three timescales (oran_precoding)"),
        ("mftdma", mf, mf.MfTdmaCore, mf_base, tuple(mf_base.FACTORIES), "n8-2:6", "per-node",
         "MF-TDMA resource-block requests in a multi-hop ad hoc network (ma_cdmp)"),
        ("urllc", ur, ur.UrllcCore, ur_base, tuple(ur_base.FACTORIES), "paper", "per-node (central or per AP)",
         "CF-MIMO OFDM URLLC: scheduling, beams, power for energy efficiency s.t. delay (urllc_ee)"),
    ]
    return [EnvEntry(name=name, module=mod.__name__, family=family, description=desc,
                     scenario_names=mod.scenario_names, make_config=mod.make_config,
                     make_core=lambda cfg, n, core=core: core(cfg, num_envs=n), make_baseline=base.make_baseline,
                     baselines=baselines, declaration=mod.DECLARATION, default_scenario=scenario)
            for name, mod, core, base, baselines, scenario, family, desc in table]


_REGISTERED: dict[str, EnvEntry] = {}  # filled only by register_env() calls


def register_env(entry: EnvEntry, *, replace: bool = False) -> None:
    """Make ``entry`` available to every cfmarl command in this process (and, through the
    env_config, in Ray workers that import the module defining it)."""
    if not isinstance(entry, EnvEntry):
        raise ValueError(f"register_env: expected an EnvEntry, got {type(entry).__name__}")
    if not replace and entry.name in env_registry():
        raise ValueError(f"register_env: an env named {entry.name!r} is already registered "
                         "(pass replace=True to replace it)")
    _REGISTERED[entry.name] = entry


def unregister_env(name: str) -> None:
    _REGISTERED.pop(name, None)


def _entry_points() -> list[EnvEntry]:
    from importlib.metadata import entry_points

    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry = ep.load()()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not hide the others
            raise ConfigError(f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP!r} failed: "
                              f"{type(exc).__name__}: {exc}") from None
        if not isinstance(entry, EnvEntry):
            raise ConfigError(f"entry point {ep.name!r} ({ep.value}): must return an EnvEntry, "
                              f"got {type(entry).__name__}")
        out.append(entry)
    return out


def env_registry() -> dict[str, EnvEntry]:
    """All environments by short name: built-in, then entry points, then register_env() calls."""
    reg = {e.name: e for e in _builtin()}
    reg.update({e.name: e for e in _entry_points()})
    reg.update(_REGISTERED)
    return reg


def get_env(name: str) -> EnvEntry:
    reg = env_registry()
    if name in reg:
        return reg[name]
    if ":" in name:  # "package.module:function" returning an EnvEntry (works in fresh Ray workers too)
        return _load_entry(name)
    raise ConfigError(f"unknown env {name!r}; known: {', '.join(reg)} (or 'package.module:function' "
                      "returning an EnvEntry)")


def _load_entry(path: str) -> EnvEntry:
    import importlib

    mod, _, attr = path.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"env {path!r}: cannot import it ({exc})") from None
    entry = fn() if callable(fn) else fn
    if not isinstance(entry, EnvEntry):
        raise ConfigError(f"env {path!r}: must be (or return) an EnvEntry, got {type(entry).__name__}")
    return entry


def episode_length_field(config, entry: EnvEntry) -> str:
    """Name of the config field that holds the decisions per episode (declared by the env)."""
    field = entry.declaration.episode_length
    if not hasattr(config, field):
        raise ValueError(f"{type(config).__name__}: no field {field!r} (the episode length env {entry.name!r} declares)")
    return field


def episode_length(config, entry: EnvEntry) -> int:
    """Decisions per episode of a registered env's config."""
    return int(getattr(config, episode_length_field(config, entry)))
