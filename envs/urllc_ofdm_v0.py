"""CF-MIMO OFDM URLLC downlink: maximise energy efficiency subject to a delay-violation rate (``urllc_ofdm_v0``).

Source: urllc_ee_virtual_cmdp (Sec. II-III, Table II). Every 5 ms slot the
controller schedules users on (AP, subband) pairs, picks a DFT beam for each
and splits each AP's power; packets are served by the finite-blocklength rate.

| Import            | ``from cfmarl.envs import urllc_ofdm_v0``                         |
|-------------------|-------------------------------------------------------------------|
| Actions           | Box(-1, 1, (3 B U K,)) central; Box(-1, 1, (3 U K,)) per AP        |
| Parallel API      | yes (``parallel_env``); AEC via ``env``                            |
| Agents            | ``central`` (the paper) or ``ap{b}`` (``-per-ap`` scenarios)       |
| Observation shape | B U K M beam measurements + 2 U queue features (per AP: U K M + 2 U) |
| Costs             | ``infos[agent]["cost"]`` = the slot's delay-violation rate (eq. 17) |

**System** (Table II): B = 3 APs x 4 antennas, 3 UEs, 4 subbands x 20 subcarriers
(1.2 MHz, 15 kHz), 75 symbols per 5 ms slot, 20 dBm per AP, eps = 1e-6, Poisson
traffic (30 packets of U[50, 200] bits per slot), 10 ms deadline, 30 kbit
buffers, EDF-FIFO. Channel: the geometric multipath substitute for DeepMIMO O1
(:mod:`.urllc_ofdm.channel`) with users walking a grid, or an array file
(``channel_file``). Queue conventions: arrivals at the slot start, D service
opportunities, per-packet tail drop, expired packets leave the buffer.

**Reward**: slot energy efficiency [Mbit/J] (eq. 16). **KPIs**: EE [bit/J],
delay-violation rate, drops, violations, throughput [kbit/s], power, buffer.

**Arguments**: ``scenario`` (``paper`` = (B, U, K, M) (3, 3, 4, 4), ``s2222``, ``s4444``,
``s8888``, ``s4666`` (30 dBm); each also ``-per-ap``) plus any :class:`UrllcConfig` field.

Version history: v0 - first release.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from cfmarl.envs.urllc_ofdm.config import UrllcConfig, make_config, scenario_names
from cfmarl.envs.urllc_ofdm.core import UrllcCore, UrllcState
from cfmarl.envs.urllc_ofdm.declaration import DECLARATION
from cfmarl.envs.urllc_ofdm.env import UrllcOfdmEnv

__all__ = ["DECLARATION", "UrllcConfig", "UrllcCore", "UrllcOfdmEnv", "UrllcState", "env", "make_config", "parallel_env",
           "raw_env", "scenario_names"]


def parallel_env(**kwargs: Any) -> UrllcOfdmEnv:
    return UrllcOfdmEnv(**kwargs)


raw_env = parallel_env


def env(**kwargs: Any):
    return parallel_to_aec(parallel_env(**kwargs))
