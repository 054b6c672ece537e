"""PettingZoo ParallelEnv of the distributed-precoding environment (one env copy over the array core)."""

from __future__ import annotations

from typing import Any

from cfmarl.envs.box_shell import BoxCoreParallelEnv
from cfmarl.envs.precoding.config import PrecodingConfig, make_config
from cfmarl.envs.precoding.core import PrecodingCore


class PrecodingEnv(BoxCoreParallelEnv):
    """WMMSE-expert distributed precoding, one agent per user.

    See :mod:`cfmarl.envs.precoding_v0` for the full documentation.
    """

    metadata = {"name": "precoding_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, config: PrecodingConfig | None = None, scenario: str | None = None,
                 render_mode: str | None = None, **overrides: Any):
        if render_mode is not None:
            raise ValueError(f"render_mode: this environment does not render; got {render_mode!r}")
        if config is None:
            config = make_config(scenario or "medium", **overrides)
        elif scenario is not None or overrides:
            raise ValueError("pass either config or scenario/overrides, not both")
        super().__init__(PrecodingCore(config, num_envs=1))
