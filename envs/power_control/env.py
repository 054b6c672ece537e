"""PettingZoo ParallelEnv (dict view of one env copy of the array core); see :mod:`cfmarl.envs.power_control_v0`."""

from __future__ import annotations

from cfmarl.envs.power_control.config import make_config
from cfmarl.envs.power_control.core import PowerControlCore
from cfmarl.envs.shell import CoreParallelEnv


class PowerControlEnv(CoreParallelEnv):
    """Downlink power control, one agent per UE (or one central agent).

    See :mod:`cfmarl.envs.power_control_v0` for the full documentation.
    """

    metadata = {"name": "power_control_v0", "render_modes": [], "is_parallelizable": True}
    core_cls = PowerControlCore
    make_config = staticmethod(make_config)
    default_scenario = "paper"
