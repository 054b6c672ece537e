"""PettingZoo ParallelEnv of the MF-TDMA environment (one env copy over the array core)."""

from __future__ import annotations

from typing import Any

from cfmarl.envs.box_shell import BoxCoreParallelEnv
from cfmarl.envs.mf_tdma.config import MfTdmaConfig, make_config
from cfmarl.envs.mf_tdma.core import MfTdmaCore


class MfTdmaEnv(BoxCoreParallelEnv):
    """MF-TDMA RB requests, one agent per network node. See :mod:`cfmarl.envs.mf_tdma_v0`."""

    metadata = {"name": "mf_tdma_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: MfTdmaConfig | None = None, scenario: str | None = None,
                 render_mode: str | None = None, **overrides: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode: this environment does not render; got {render_mode!r}")
        if config is None:
            config = make_config(scenario or "n8-2:6", **overrides)
        elif scenario is not None or overrides:
            raise ValueError("pass either config or scenario/overrides, not both")
        super().__init__(MfTdmaCore(config, num_envs=1))
