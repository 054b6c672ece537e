"""Configuration and named scenarios of the MF-TDMA ad hoc network environment.

From ma_cdmp_mf_tdma Sec. III-B and Table II: N nodes in a 10 km x 10 km area,
1-hop radius 3.6 km, free-space path loss (eqs. 9-10), frames of M = 10 slots x
L = 4 channels = 40 RBs at 2 Mbps per RB, 6,000 frames per 30 s (so a frame
is 5 ms and a slot 0.5 ms), exponential inter-arrival times with high- and
low-rate nodes (2:6, 4:4 for 8 nodes; 2:7, 4:5 for 9). Our choices, because
the paper ran OPNET and gives no more: 1000-bit packets (one per RB), 800 / 100
packets/s for high / low-rate nodes, 256-packet queues, 3 retransmissions, and
the two RF settings below (BPSK packet errors on the FSPL link budget: ideal = every
1-hop link error-free, limited = 2.4 GHz and 12 dBm: links longer than ~3 km become unusable and
those around 2.5 km lose packets, so routes get longer and retransmissions appear).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cfmarl.envs.validation import ConfigError, check_choice, check_float, check_int, check_memory, replace_config

#: RF settings: (carrier [Hz], transmit power [dBm]). "limited" raises the carrier and lowers the power
#: (the paper's limited-RF scenario); the receiver is the same (noise figure, bandwidth = RB rate).
RF_SETTINGS = {"ideal": (1.0e9, 30.0), "limited": (2.4e9, 12.0)}
#: Offered load [packets/s] of every scenario and the high / low rate ratio: the paper adjusts the mean
#: inter-arrival times "based on the speed ratio and network topology to ensure load balancing and
#: prevent congestion"; we keep the total fixed for the paper's 8 / 9 nodes (2:6 -> 800 / 100 packets/s)
#: and scale it by 8 / N beyond, since the 40 RBs per frame do not grow with the network while routes
#: get longer.
OFFERED_LOAD_PPS = 2200.0
HIGH_LOW_RATIO = 8.0


@dataclass(frozen=True)
class MfTdmaConfig:
    num_nodes: int = 8
    num_high: int = 2  # high-rate nodes (the first ones); the rest are low-rate
    area_size_m: float = 10_000.0
    hop_radius_m: float = 3_600.0
    slots: int = 10  # M
    channels: int = 4  # L
    frame_s: float = 0.005
    rb_rate_bps: float = 2e6
    packet_bits: int = 1000
    high_rate_pps: float = 800.0
    low_rate_pps: float = 100.0
    queue_capacity: int = 256  # packets, per queue (generation and transmission)
    max_retries: int = 3  # unacknowledged transmissions before a packet is dropped
    rf: str = "ideal"
    noise_figure_db: float = 7.0
    antenna_gain_dbi: float = 0.0
    episode_frames: int = 1000  # 5 s (the paper's test episodes)

    def __post_init__(self) -> None:
        c = type(self).__name__
        check_int(c, "num_nodes", self.num_nodes, 2, 1024)
        check_int(c, "num_high", self.num_high, 0, self.num_nodes)
        check_float(c, "area_size_m", self.area_size_m, 0.0, 1e7, lo_open=True)
        check_float(c, "hop_radius_m", self.hop_radius_m, 0.0, 1e7, lo_open=True)
        check_int(c, "slots", self.slots, 1, 1000)
        check_int(c, "channels", self.channels, 1, 1000)
        check_float(c, "frame_s", self.frame_s, 0.0, 10.0, lo_open=True)
        check_float(c, "rb_rate_bps", self.rb_rate_bps, 0.0, 1e12, lo_open=True)
        check_int(c, "packet_bits", self.packet_bits, 1, 10**9)
        if self.packets_per_rb < 1:
            raise ConfigError(f"{c}.packet_bits: an RB carries {self.rb_bits:g} bits, a packet must fit "
                              f"(got {self.packet_bits})")
        check_float(c, "high_rate_pps", self.high_rate_pps, 0.0, 1e7)
        check_float(c, "low_rate_pps", self.low_rate_pps, 0.0, 1e7)
        check_int(c, "queue_capacity", self.queue_capacity, 1, 1_000_000)
        check_int(c, "max_retries", self.max_retries, 0, 1000)
        check_choice(c, "rf", self.rf, tuple(RF_SETTINGS))
        check_float(c, "noise_figure_db", self.noise_figure_db, 0.0, 30.0)
        check_float(c, "antenna_gain_dbi", self.antenna_gain_dbi, -20.0, 40.0)
        check_int(c, "episode_frames", self.episode_frames, 1, 10_000_000)
        check_memory(type(self).__name__, self.memory_terms())

    def memory_terms(self) -> list[tuple[str, tuple[str, ...], float]]:
        """Bytes of one env copy by what grows (upper bound within ~2x of tracemalloc, see
        tests/envs/test_memory_guard.py)."""
        N = self.num_nodes
        return [("packet queues", ("num_nodes", "queue_capacity"), 64.0 * N * self.queue_capacity),
                ("routes and links", ("num_nodes",), 80.0 * N * N),
                ("resource-block owners", ("num_nodes", "slots", "channels"), 16.0 * N * self.slots * self.channels)]

    @property
    def num_rbs(self) -> int:
        return self.slots * self.channels

    @property
    def slot_s(self) -> float:
        return self.frame_s / self.slots

    @property
    def rb_bits(self) -> float:
        return self.rb_rate_bps * self.slot_s

    @property
    def packets_per_rb(self) -> int:
        return int(self.rb_bits // self.packet_bits)

    def describe(self) -> dict[str, str]:
        return {"size": f"{self.num_nodes} nodes ({self.num_high}:{self.num_nodes - self.num_high})",
                "agents": str(self.num_nodes), "area": f"square {self.area_size_m / 1e3:g} km",
                "task": f"{self.rf} RF, {self.num_rbs} RBs/frame"}


# (nodes, high-rate nodes): the paper's 8-node 2:6 / 4:4 and 9-node 2:7 / 4:5 mixes, larger networks
# at the same node density for scaling, and a tiny one for tests.
_SIZES = {"n4-1:3": (4, 1), "n8-2:6": (8, 2), "n8-4:4": (8, 4), "n9-2:7": (9, 2), "n9-4:5": (9, 4),
          "n16-4:12": (16, 4), "n32-8:24": (32, 8), "n64-16:48": (64, 16)}


#: squares other than 10 km x sqrt(N / 8): 64 nodes at the 8-node density are almost never connected (mean
#: 1-hop degree ~2.9 < ln 64; 10,000 draws fail), so n64 keeps n32's 20 km square (twice the density)
_AREAS_M = {"n64-16:48": 20_000.0}


def scenario_names() -> list[str]:
    return [f"{s}{rf}" for s in _SIZES for rf in ("", "-limited")]


def make_config(scenario: str = "n8-2:6", **overrides) -> MfTdmaConfig:
    """The config of a named scenario (``n<nodes>-<high>:<low>``, optionally ``-limited``) with overrides."""
    for size, (n, high) in _SIZES.items():
        for suffix, rf in (("", "ideal"), ("-limited", "limited")):
            if scenario == f"{size}{suffix}":
                low = OFFERED_LOAD_PPS * min(1.0, 9.0 / n if n > 9 else 1.0) / (HIGH_LOW_RATIO * high + (n - high))
                area = _AREAS_M.get(size, 10_000.0 * math.sqrt(n / 8.0))
                base = MfTdmaConfig(num_nodes=n, num_high=high, rf=rf, area_size_m=area,
                                    high_rate_pps=HIGH_LOW_RATIO * low, low_rate_pps=low)
                return replace_config(base, **overrides)
    raise ConfigError(f"unknown scenario {scenario!r} for env 'mftdma'; known: {', '.join(scenario_names())}")
