"""PettingZoo ParallelEnv (dict view of one env copy of the array core); see :mod:`cfmarl.envs.urllc_ofdm_v0`."""

from __future__ import annotations

from cfmarl.envs.urllc_ofdm.config import make_config
from cfmarl.envs.urllc_ofdm.core import UrllcCore
from cfmarl.envs.shell import CoreParallelEnv


class UrllcOfdmEnv(CoreParallelEnv):
    """URLLC scheduling, beams and power for energy efficiency (central or per AP).

    See :mod:`cfmarl.envs.urllc_ofdm_v0` for the full documentation.
    """

    metadata = {"name": "urllc_ofdm_v0", "render_modes": [], "is_parallelizable": True}
    core_cls = UrllcCore
    make_config = staticmethod(make_config)
    default_scenario = "paper"
