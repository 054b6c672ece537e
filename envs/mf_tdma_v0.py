"""MF-TDMA resource-block requests in a multi-hop ad hoc network (``mf_tdma_v0``).

Source: ma_cdmp_mf_tdma (Sec. III-B, Table II). Every frame each node (agent)
requests a number of resource blocks; requests are normalised to the M x L RBs
of the frame and the granted RBs placed at random; packets then travel hop by
hop along shortest paths.

| Import            | ``from cfmarl.envs import mf_tdma_v0``                        |
|-------------------|---------------------------------------------------------------|
| Actions           | Box(0, M L, (1,)) per node: the RB request                    |
| Parallel API      | yes (``parallel_env``); AEC via ``env``                        |
| Agents            | ``node{i}``; the first ``num_high`` are high-rate nodes        |
| Agent count       | N (4, 8, 9, 16, 32)                                            |
| Observation shape | (8,): own [gen, gen_max, tran, tran_max] / (M L) and the mean over 1-hop neighbours |
| Costs             | ``infos[agent]["cost"]`` = packets dropped at the node in the frame |

**System**: N nodes uniform in a square (10 km for 8 nodes, same density
otherwise), drawn until the 1-hop graph (3.6 km) is connected; free-space
link budget (eqs. 9-10) and BPSK packet errors; shortest paths by expected
transmission count; Poisson traffic from high- and low-rate nodes to uniform
destinations; generation and transmission queues; unacknowledged packets go
back to the end of the sender's transmission queue (up to ``max_retries``).
One ``step`` = one 5 ms frame of M = 10 slots x L = 4 channels, 2 Mbps per RB.

**Reward** (eq. 12): minus the mean delay [frames] of the packets the node received
as their destination. **KPIs**: throughput [Mbit/s], mean delay [ms], packet loss
rate, queued packets, RB utilisation. **Graph**: usable 1-hop links (after reset).

**Arguments**: ``scenario`` (``n8-2:6``, ``n8-4:4``, ``n9-2:7``, ``n9-4:5``, ``n4-1:3``,
``n16-4:12``, ``n32-8:24``, each also ``-limited`` for the limited-RF setting) plus any
:class:`MfTdmaConfig` field, or ``config=``.

Version history: v0 - first release.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from cfmarl.envs.mf_tdma.config import MfTdmaConfig, make_config, scenario_names
from cfmarl.envs.mf_tdma.core import MfTdmaCore, MfTdmaState
from cfmarl.envs.mf_tdma.declaration import DECLARATION
from cfmarl.envs.mf_tdma.env import MfTdmaEnv

__all__ = ["DECLARATION", "MfTdmaConfig", "MfTdmaCore", "MfTdmaEnv", "MfTdmaState", "env", "make_config", "parallel_env",
           "raw_env", "scenario_names"]


def parallel_env(**kwargs: Any) -> MfTdmaEnv:
    return MfTdmaEnv(**kwargs)


raw_env = parallel_env


def env(**kwargs: Any):
    return parallel_to_aec(parallel_env(**kwargs))
