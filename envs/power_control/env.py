"""PettingZoo ParallelEnv of the power-control environment (one env copy over the array core)."""

from __future__ import annotations

from typing import Any

from cfmarl.envs.box_shell import BoxCoreParallelEnv
from cfmarl.envs.power_control.config import PowerControlConfig, make_config
from cfmarl.envs.power_control.core import PowerControlCore


class PowerControlEnv(BoxCoreParallelEnv):
    """Downlink power control, one agent per UE (or one central agent).

    See :mod:`cfmarl.envs.power_control_v0` for the full documentation.
    """

    metadata = {"name": "power_control_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: PowerControlConfig | None = None, scenario: str | None = None,
                 render_mode: str | None = None, **overrides: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode: this environment does not render; got {render_mode!r}")
        if config is None:
            config = make_config(scenario or "paper", **overrides)
        elif scenario is not None or overrides:
            raise ValueError("pass either config or scenario/overrides, not both")
        super().__init__(PowerControlCore(config, num_envs=1))
