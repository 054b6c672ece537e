"""AP selection in a cell-free massive-MIMO downlink (``ap_selection_v0``).

Source: aps_gnn_ap_selection (Sec. III, IV-B/C, VI-A): choose which APs serve
which UEs so as to minimise the network power while every UE meets its
window-average spectral-efficiency target.

| Import            | ``from cfmarl.envs import ap_selection_v0``             |
|-------------------|---------------------------------------------------------|
| Actions           | Discrete(2) per agent: 0 = don't serve, 1 = serve        |
| Parallel API      | yes (``parallel_env``); AEC via ``env``                  |
| Agents            | one per (AP, UE) link: ``ap{l}_ue{k}``, AP-major order   |
| Agent count       | L x K (medium 16 x 6 = 96, large 64 x 16, xlarge 128 x 32) |
| Observation shape | (history_len + 2,) float32 (+1 each: observe_link_gain, observe_link_rank) |
| Costs             | ``infos[agent]["cost"]`` on every step                   |

**System.** L single-antenna APs and K single-antenna UEs dropped uniformly in
a disc; UEs move (random waypoint with pauses; pedestrian 3 km/h or vehicular
30 km/h mean exponential speed). Each slot the LoS channel is computed from the
3-D distance (TR 38.901 UMi-LOS path loss, phase exp(-j 2 pi d / lambda)). Each
active AP splits its full power P_max equally among the UEs it serves and
precodes with normalised MRT; SINR_k = |G_kk|^2 / (sum_{j!=k} |G_kj|^2 + sigma^2),
SE_k = log2(1 + SINR_k). An AP serving nobody is off and draws nothing; an
active AP draws P_fixed + P_max / eta = 1.025 + 1 / 0.4 = 3.525 W (Ngo 2018).

**Two timescales.** One ``step`` is one APS window of ``window_slots`` slots;
the association is held for the window and each UE's SE is the window average.

**Observation** of link (l, k): the link's normalised SNR in dB at the last
``history_len`` decision instants, the link's previous action (only with
``observe_previous_action=True``; 0 otherwise) and its UE's previous SE
relative to the target, and with ``observe_link_gain=True`` the link's marginal
SE of the window just played (UE k's SE with the link on minus off, over the
target; see :mod:`.ap_selection.core`), and with ``observe_link_rank=True`` the
link's rank among its UE's links by the current SNR (min(rank, 8) / 8). Every
feature is link-local (the rank is what UE k's own pilot measurements give).

**Reward and cost** (local, eqs. (11)-(12)): reward = -1 if the link's AP is
active (-P_l / P_on), shared by every link of that AP; cost =
max(0, target - SE_k) / target, shared by every link of UE k. Worked example:
with se_target_bps_hz=2.0, UE 0 reaching 1.5 bit/s/Hz gives every link ap*_ue0 the cost
0.25; AP 3 serves only UE 0, so every link ap3_ue* gets reward -1 although
ap3_ue1 chose 0.

**Graph** (``agent_graph()``): directed edges between links of the same AP
(type 0) and of the same UE (type 1). **KPIs** (``kpis()``): active_aps,
mean/min/sum and per-UE SE [bit/s/Hz], target_satisfaction, network_power_w,
energy_efficiency_bit_per_j, active_links.

**Arguments**: ``scenario`` (``medium``, ``large``, ``xlarge``, ``tiny``, each
with a ``-vehicular`` variant) plus any :class:`ApSelectionConfig` field as a
keyword (e.g. ``se_target_bps_hz=3.0``), or a ready ``config=``.

**Episode**: ``episode_windows`` windows, then every agent is truncated.

Version history: v0 - first release.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from cfmarl.envs.ap_selection.config import ApSelectionConfig, make_config, scenario_names
from cfmarl.envs.ap_selection.core import ApSelectionCore, ApSelectionState
from cfmarl.envs.ap_selection.declaration import DECLARATION
from cfmarl.envs.ap_selection.env import ApSelectionEnv

__all__ = ["DECLARATION", "ApSelectionConfig", "ApSelectionCore", "ApSelectionEnv", "ApSelectionState", "env", "make_config",
           "parallel_env", "raw_env", "scenario_names"]


def parallel_env(**kwargs: Any) -> ApSelectionEnv:
    """The ParallelEnv (``scenario=`` and config overrides as keywords)."""
    return ApSelectionEnv(**kwargs)


raw_env = parallel_env


def env(**kwargs: Any):
    """AEC view of :func:`parallel_env`."""
    return parallel_to_aec(parallel_env(**kwargs))
