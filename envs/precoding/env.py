"""PettingZoo ParallelEnv (dict view of one env copy of the array core); see :mod:`cfmarl.envs.precoding_v0`."""

from __future__ import annotations

from cfmarl.envs.precoding.config import make_config
from cfmarl.envs.precoding.core import PrecodingCore
from cfmarl.envs.shell import CoreParallelEnv


class PrecodingEnv(CoreParallelEnv):
    """WMMSE-expert distributed precoding, one agent per user.

    See :mod:`cfmarl.envs.precoding_v0` for the full documentation.
    """

    metadata = {"name": "precoding_v0", "render_modes": [], "is_parallelizable": True}
    core_cls = PrecodingCore
    make_config = staticmethod(make_config)
    default_scenario = "medium"
