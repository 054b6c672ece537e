"""PettingZoo ParallelEnv shell over :class:`ApSelectionCore` (one env copy).

The shell only converts between dicts keyed by agent id and the core's arrays;
all simulation happens in the core.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from cfmarl.envs.ap_selection.config import make_config
from cfmarl.envs.ap_selection.core import ApSelectionCore
from cfmarl.envs.shell import CoreParallelEnv
from cfmarl.envs.validation import ActionError, real_numbers


class ApSelectionEnv(CoreParallelEnv):
    """AP selection in a cell-free massive-MIMO downlink, one agent per AP-UE link.

    See :mod:`cfmarl.envs.ap_selection_v0` for the full documentation. Actions are
    Discrete(2); ``agent_graph()`` has edge type 0 = same AP, 1 = same UE.
    """

    metadata = {"name": "ap_selection_v0", "render_modes": [], "is_parallelizable": True}
    core_cls = ApSelectionCore
    make_config = staticmethod(make_config)
    default_scenario = "medium"

    def _action_space(self) -> spaces.Discrete:
        return spaces.Discrete(2)

    def _action_array(self, actions: dict[str, Any]) -> np.ndarray:
        n = len(self.possible_agents)
        return np.fromiter((_scalar(actions[a], a) for a in self.possible_agents), float, n)


def _scalar(value: Any, agent: str) -> float:
    arr = real_numbers(value, f"actions[{agent!r}]", "0 or 1")
    if arr.size != 1:
        raise ActionError(f"actions[{agent!r}]: must be a single 0/1 value, got shape {arr.shape}")
    return float(arr.reshape(()))
