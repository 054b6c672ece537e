"""WMMSE-expert distributed precoding for cell-free massive MIMO in O-RAN (``precoding_v0``).

Source: oran_distributed_precoding (Sec. II-III): maximise the aggregate
throughput subject to per-user minimum rates and per-O-RU power, with one
agent per user choosing its WMMSE receive filter U_k and weight matrix W_k once
per near-RT loop, while the O-DUs recompute the precoders every RT loop with
the closed-form block-coordinate update and exact per-O-RU multipliers.

| Import            | ``from cfmarl.envs import precoding_v0``                       |
|-------------------|----------------------------------------------------------------|
| Actions           | Box(-1, 1, (2 N_r d + d^2,)) per user (U and Cholesky of W)    |
| Parallel API      | yes (``parallel_env``); AEC via ``env``                         |
| Agents            | ``ue{k}``, one per user                                         |
| Agent count       | K (tiny 3, medium 8, large 32)                                  |
| Observation shape | (|Omega| 2 N_r d,) = (24,) by default                           |
| Costs             | ``infos[agent]["cost"]`` = min-rate shortfall, on every step     |

**System**: L O-RUs with N_t = 4 antennas and K users with N_r = 2 antennas in a
wrapped-around square, O-DUs owning the O-RUs of square subareas; TR 36.814
UMi NLOS path loss on the 3-D distance with 4 dB shadowing; Gauss-Markov fading
with the Jakes correlation of the users' speed per RT loop; each user served by
the ``cluster_size`` O-RUs with the largest large-scale gain.

**Timescales**: RT loop (precoders and multipliers lambda_k, eq. (29)), near-RT
loop = one ``step`` of ``rt_per_step`` RT loops (agents act), non-RT loop = the
episode.

**Observation** of user k: H_k V_j (the effective channel, j = k, and the
effective interference matrices, j != k) for the |Omega| users with the most
similar large-scale fading profile, from the last RT loop, in a signed-log
real encoding. **Action**: U_k and the Cholesky factor of W_k (positive
diagonal by construction), see :mod:`.precoding.core` for the encoding.
**Reward**: the user's average rate over the near-RT loop [bit/s/Hz].
**Cost**: its normalised min-rate shortfall.

**Options**: ``obs_users`` (|Omega|), ``csi_error`` (relative error power of the
estimate the O-DUs and agents use; rates use the true channel),
``rate_change_step`` / ``rate_change_bps_hz`` (one random user's R_min changes
mid-episode), ``precoder_users`` ('served' = the paper's eq. (30), 'all' = exact).

**KPIs**: sum / mean / min rate, min-rate satisfaction, mean lambda, O-RU powers
(<= budget) and the E2 signalling of the near-RT loop [kbit] for the scheme in
use (proposed: H V up, U and W down; centralised: channels up and precoders
down every RT loop; local: none).

**Graph** (``agent_graph()``, after ``reset``): users sharing a serving O-RU
(type 0) and observation neighbours j in Omega_k (type 1).

**Arguments**: ``scenario`` (``tiny``, ``medium``, ``large``) plus any
:class:`PrecodingConfig` field as a keyword, or a ready ``config=``.

Version history: v0 - first release.
"""

from __future__ import annotations

from typing import Any

from pettingzoo.utils.conversions import parallel_to_aec

from cfmarl.envs.precoding.config import PrecodingConfig, make_config, scenario_names
from cfmarl.envs.precoding.core import PrecodingCore, PrecodingState
from cfmarl.envs.precoding.declaration import DECLARATION
from cfmarl.envs.precoding.env import PrecodingEnv

__all__ = ["DECLARATION", "PrecodingConfig", "PrecodingCore", "PrecodingEnv", "PrecodingState", "env", "make_config",
           "parallel_env", "raw_env", "scenario_names"]


def parallel_env(**kwargs: Any) -> PrecodingEnv:
    """The ParallelEnv (``scenario=`` and config overrides as keywords)."""
    return PrecodingEnv(**kwargs)


raw_env = parallel_env


def env(**kwargs: Any):
    """AEC view of :func:`parallel_env`."""
    return parallel_to_aec(parallel_env(**kwargs))
