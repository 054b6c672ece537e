"""Downlink power control in cell-free massive MIMO (``power_control_v0``).

Source: dhi_sac_power_control (Sec. 3): choose every UE's downlink power so as
to maximise a selectable objective (max-min, max-product = sum log SINR,
max-sum-rate) under a QoS SINR threshold, with per-AP power budgets.

| Import            | ``from cfmarl.envs import power_control_v0``                  |
|-------------------|---------------------------------------------------------------|
| Actions           | Box(-1, 1, (1,)) per UE agent; Box(-1, 1, (K,)) central        |
| Parallel API      | yes (``parallel_env``); AEC via ``env``                        |
| Agents            | ``ue{k}`` (per_user) or ``central`` (the DHI paper's setting)  |
| Agent count       | K (tiny 3, small 6, paper 32, large 128) or 1                  |
| Observation shape | (L + 5,) per UE; (K (L + 5),) central                          |
| Costs             | ``infos[agent]["cost"]`` = QoS shortfall, on every step         |

**System** (Ngo 2017 defaults, the DHI paper's 32 UEs): L single-antenna APs
and K UEs in a wrapped-around square; random-waypoint UE mobility (3 km/h, or
30 km/h for a ``vehicular_fraction``); Ngo 2017 three-slope path loss, 8 dB
correlated shadowing beyond 50 m, Rayleigh fading evolving as a Gauss-Markov
process with the Jakes correlation. Action a_k in [-1, 1] -> power level
p_k in [P_min, P_max]; AP l spends w_lk p_k on UE k with budget shares that
keep every AP within P_AP. Conjugate (phase-only MR) precoding gives
SINR_k = G_kk p_k / (sum_{j!=k} G_kj p_j + sigma^2), SE_k = log2(1 + SINR_k).

**Observation** of UE k: its normalised large-scale gains to every AP, its
normalised position, and its previous SINR, interference and power (DHI Sec.
3.2.1 made local). The central agent sees all K rows concatenated.

**Reward** (DHI eq. (25)): w_obj f/SE_th + w_sat QoS-rate - w_qos QoS-penalty
- w_pow power-penalty, f the selected objective in bit/s/Hz per user
(``reward_mode``: ``team`` = every agent gets the system value, ``local`` = its
own terms). **Cost**: the UE's QoS shortfall max(0, gamma_th - SINR_k)/gamma_th.

**Refinement**: ``lbfgs_refine=True`` refines the action inside the env by
bounded L-BFGS-B (scipy) for the product and sum-rate objectives (DHI Sec.
3.3.4), on the current channel; its wall time is the ``refine_ms`` KPI.

**KPIs**: sum/mean/min SE, QoS satisfaction, outage, mean/min/max SINR [dB],
objective value, mean UE power and the largest AP power (<= ``ap_power_w``).

**Graph**: a complete graph among UE agents (everyone interferes with everyone).

**Arguments**: ``scenario`` (``tiny``, ``small``, ``paper``, ``large``, each with a
``-central`` variant) plus any :class:`PowerControlConfig` field as a keyword
(e.g. ``objective="max_min"``), or a ready ``config=``.

**Episode**: ``episode_steps`` decisions, then every agent is truncated.

Version history: v0 - first release.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from cfmarl.envs.power_control.config import PowerControlConfig, make_config, scenario_names
from cfmarl.envs.power_control.core import PowerControlCore, PowerControlState
from cfmarl.envs.power_control.declaration import DECLARATION
from cfmarl.envs.power_control.env import PowerControlEnv

__all__ = ["DECLARATION", "PowerControlConfig", "PowerControlCore", "PowerControlEnv", "PowerControlState", "env",
           "make_config", "parallel_env", "raw_env", "scenario_names"]


def parallel_env(**kwargs: Any) -> PowerControlEnv:
    """The ParallelEnv (``scenario=`` and config overrides as keywords)."""
    return PowerControlEnv(**kwargs)


raw_env = parallel_env


def env(**kwargs: Any):
    """AEC view of :func:`parallel_env`."""
    return parallel_to_aec(parallel_env(**kwargs))
