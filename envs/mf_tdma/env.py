"""PettingZoo ParallelEnv (dict view of one env copy of the array core); see :mod:`cfmarl.envs.mf_tdma_v0`."""

from __future__ import annotations

from cfmarl.envs.mf_tdma.config import make_config
from cfmarl.envs.mf_tdma.core import MfTdmaCore
from cfmarl.envs.shell import CoreParallelEnv


class MfTdmaEnv(CoreParallelEnv):
    """MF-TDMA RB requests, one agent per network node.

    See :mod:`cfmarl.envs.mf_tdma_v0` for the full documentation.
    """

    metadata = {"name": "mf_tdma_v0", "render_modes": [], "is_parallelizable": True}
    core_cls = MfTdmaCore
    make_config = staticmethod(make_config)
    default_scenario = "n8-2:6"
