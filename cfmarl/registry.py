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
    from cfmarl.envs import mf_tdma_v0 as mf
    from cfmarl.envs import power_control_v0 as pc
    from cfmarl.envs import precoding_v0 as prec
    from cfmarl.envs import urllc_ofdm_v0 as ur
    from cfmarl.policies.baselines import ap_selection as aps_base
    from cfmarl.policies.baselines import mf_tdma as mf_base
    from cfmarl.policies.baselines import power_control as pc_base
    from cfmarl.policies.baselines import precoding as prec_base
    from cfmarl.policies.baselines import urllc_ofdm as ur_base

    return {
        "aps": EnvEntry(
            name="aps", module="cfmarl.envs.ap_selection_v0", family="per-AP-UE link",
            description="AP selection, cell-free mMIMO downlink, MRT (aps_gnn)",
            scenario_names=aps.scenario_names, make_config=aps.make_config,
            make_core=lambda cfg, n: aps.ApSelectionCore(cfg, num_envs=n),
            make_baseline=aps_base.make_baseline, baselines=("k-strongest", "all-on", "greedy")),
        "power": EnvEntry(
            name="power", module="cfmarl.envs.power_control_v0", family="per-user",
            description="downlink power control, max-min / max-product / max-sum-rate with QoS (dhi_sac)",
            scenario_names=pc.scenario_names, make_config=pc.make_config,
            make_core=lambda cfg, n: pc.PowerControlCore(cfg, num_envs=n),
            make_baseline=pc_base.make_baseline, baselines=tuple(pc_base.FACTORIES)),
        "precoding": EnvEntry(
            name="precoding", module="cfmarl.envs.precoding_v0", family="per-user",
            description="WMMSE-expert distributed precoding in cell-free O-RAN, three timescales (oran_precoding)",
            scenario_names=prec.scenario_names, make_config=prec.make_config,
            make_core=lambda cfg, n: prec.PrecodingCore(cfg, num_envs=n),
            make_baseline=prec_base.make_baseline, baselines=tuple(prec_base.FACTORIES)),
        "mftdma": EnvEntry(
            name="mftdma", module="cfmarl.envs.mf_tdma_v0", family="per-node",
            description="MF-TDMA resource-block requests in a multi-hop ad hoc network (ma_cdmp)",
            scenario_names=mf.scenario_names, make_config=mf.make_config,
            make_core=lambda cfg, n: mf.MfTdmaCore(cfg, num_envs=n),
            make_baseline=mf_base.make_baseline, baselines=tuple(mf_base.FACTORIES)),
        "urllc": EnvEntry(
            name="urllc", module="cfmarl.envs.urllc_ofdm_v0", family="per-node (central or per AP)",
            description="CF-MIMO OFDM URLLC: scheduling, beams, power for energy efficiency s.t. delay (urllc_ee)",
            scenario_names=ur.scenario_names, make_config=ur.make_config,
            make_core=lambda cfg, n: ur.UrllcCore(cfg, num_envs=n),
            make_baseline=ur_base.make_baseline, baselines=tuple(ur_base.FACTORIES)),
    }


def get_env(name: str) -> EnvEntry:
    reg = env_registry()
    if name not in reg:
        raise ConfigError(f"unknown env {name!r}; known: {', '.join(reg)}")
    return reg[name]


#: The config field holding the number of decisions per episode, by env family naming.
EPISODE_LENGTH_FIELDS = ("episode_windows", "episode_steps", "episode_frames", "episode_slots")


def episode_length_field(config) -> str:
    """Name of the config field that holds the decisions per episode."""
    for name in EPISODE_LENGTH_FIELDS:
        if hasattr(config, name):
            return name
    raise ValueError(f"{type(config).__name__}: no episode length field")


def episode_length(config) -> int:
    """Decisions per episode of any registered env config."""
    return getattr(config, episode_length_field(config))
