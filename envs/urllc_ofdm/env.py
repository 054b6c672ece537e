"""PettingZoo ParallelEnv of the URLLC OFDM environment (one env copy over the array core)."""

from __future__ import annotations

from typing import Any

from cfmarl.envs.box_shell import BoxCoreParallelEnv
from cfmarl.envs.urllc_ofdm.config import UrllcConfig, make_config
from cfmarl.envs.urllc_ofdm.core import UrllcCore


class UrllcOfdmEnv(BoxCoreParallelEnv):
    """Scheduling, beam selection and power for URLLC energy efficiency. See :mod:`cfmarl.envs.urllc_ofdm_v0`."""

    metadata = {"name": "urllc_ofdm_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: UrllcConfig | None = None, scenario: str | None = None,
                 render_mode: str | None = None, **overrides: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode: this environment does not render; got {render_mode!r}")
        if config is None:
            config = make_config(scenario or "paper", **overrides)
        elif scenario is not None or overrides:
            raise ValueError("pass either config or scenario/overrides, not both")
        super().__init__(UrllcCore(config, num_envs=1))
