"""Configuration and named scenarios of the CF-MIMO OFDM URLLC environment.

Table II of urllc_ee_virtual_cmdp: B = 3 APs x M = 4 antennas, U = 3 UEs,
K = 4 subbands x C = 20 subcarriers, 1.2 MHz at 15 kHz, N = 75 symbols per
5 ms slot, 200-slot episodes, P_max = 20 dBm, -174 dBm/Hz, eps = 1e-6, Poisson
arrivals (30 packets per slot), U[50, 200]-bit packets, 10 ms deadline, 30 kbit
buffers, EDF-FIFO, 3.4 GHz. The ray-traced DeepMIMO O1 channels are replaced by
the geometric multipath model of :mod:`.channel` (documented there); a channel
array file can be loaded instead (``channel_file``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cfmarl.envs.validation import ConfigError, check_choice, check_float, check_int, check_memory, replace_config


@dataclass(frozen=True)
class UrllcConfig:
    num_aps: int = 3  # B
    antennas: int = 4  # M (also the DFT codebook size)
    num_ues: int = 3  # U
    subbands: int = 4  # K
    subcarriers: int = 20  # C per subband
    subcarrier_hz: float = 15e3
    symbols: int = 75  # N OFDM symbols per slot
    slot_s: float = 5e-3
    episode_slots: int = 200
    p_max_dbm: float = 20.0
    noise_dbm_hz: float = -174.0
    block_error: float = 1e-6
    arrival_rate: float = 30.0  # packets per slot per UE (Poisson)
    packet_bits_min: int = 50
    packet_bits_max: int = 200
    deadline_s: float = 10e-3
    buffer_bits: int = 30_000
    carrier_hz: float = 3.4e9
    # geometric channel substitute (see channel.py)
    clusters: int = 3  # propagation paths per AP-UE link (1 direct + scatterers)
    scatter_loss_db: float = 10.0  # extra loss of a path via a scatterer
    grid_step_m: float = 0.1  # user grid spacing; users move one step per slot
    area_x_m: float = 40.0  # user grid [0, area_x] x [0, area_y]; APs around it
    area_y_m: float = 20.0
    channel_file: str = ""  # .npy complex array (T, B, U, K, M) used instead of the geometric model
    agents: str = "central"  # "central" (the paper) or "per_ap"
    delay_cost_limit: float = 0.005  # d_u = eta_u = 0.5 % (used by the Lyapunov baseline)

    def __post_init__(self) -> None:
        c = type(self).__name__
        for name, hi in (("num_aps", 64), ("antennas", 64), ("num_ues", 64), ("subbands", 64)):
            check_int(c, name, getattr(self, name), 1, hi)
        check_int(c, "subcarriers", self.subcarriers, 1, 4096)
        check_float(c, "subcarrier_hz", self.subcarrier_hz, 0.0, 1e7, lo_open=True)
        check_int(c, "symbols", self.symbols, 1, 100_000)
        check_float(c, "slot_s", self.slot_s, 0.0, 10.0, lo_open=True)
        check_int(c, "episode_slots", self.episode_slots, 1, 10_000_000)
        check_float(c, "p_max_dbm", self.p_max_dbm, -30.0, 70.0)
        check_float(c, "noise_dbm_hz", self.noise_dbm_hz, -220.0, -100.0)
        check_float(c, "block_error", self.block_error, 0.0, 0.5, lo_open=True)
        check_float(c, "arrival_rate", self.arrival_rate, 0.0, 10_000.0)
        check_int(c, "packet_bits_min", self.packet_bits_min, 1, 10**7)
        check_int(c, "packet_bits_max", self.packet_bits_max, self.packet_bits_min, 10**7)
        check_float(c, "deadline_s", self.deadline_s, 0.0, 100.0, lo_open=True)
        if self.deadline_slots < 1:
            raise ConfigError(f"{c}.deadline_s: must be at least one slot ({self.slot_s} s), got {self.deadline_s}")
        check_int(c, "buffer_bits", self.buffer_bits, self.packet_bits_max, 10**9)
        check_float(c, "carrier_hz", self.carrier_hz, 1e8, 1e11)
        check_int(c, "clusters", self.clusters, 1, 64)
        check_float(c, "scatter_loss_db", self.scatter_loss_db, 0.0, 60.0)
        check_float(c, "grid_step_m", self.grid_step_m, 0.0, 100.0, lo_open=True)
        check_float(c, "area_x_m", self.area_x_m, 0.0, 1e4, lo_open=True)
        check_float(c, "area_y_m", self.area_y_m, 0.0, 1e4, lo_open=True)
        if not isinstance(self.channel_file, str):
            raise ConfigError(f"{c}.channel_file: must be a path string, got {self.channel_file!r}")
        check_choice(c, "agents", self.agents, ("central", "per_ap"))
        check_float(c, "delay_cost_limit", self.delay_cost_limit, 0.0, 1.0)
        check_memory(type(self).__name__, self.memory_terms())

    def memory_terms(self) -> list[tuple[str, tuple[str, ...], float]]:
        """Bytes of one env copy by what grows (upper bound within ~2x of tracemalloc, see
        tests/envs/test_memory_guard.py)."""
        return [("packet queues", ("num_ues", "buffer_bits / packet_bits_min"),
                 64.0 * self.num_ues * self.max_packets),
                ("channels", ("num_aps", "antennas", "num_ues", "subbands", "subcarriers"),
                 16.0 * self.num_aps * self.antennas * self.num_ues * self.subbands * self.subcarriers)]

    @property
    def bandwidth_hz(self) -> float:
        return self.subbands * self.subcarriers * self.subcarrier_hz

    @property
    def deadline_slots(self) -> int:
        return int(round(self.deadline_s / self.slot_s))

    @property
    def res_per_tfu(self) -> int:
        return self.subcarriers * self.symbols

    @property
    def max_packets(self) -> int:
        return self.buffer_bits // self.packet_bits_min

    def describe(self) -> dict[str, str]:
        agents = 1 if self.agents == "central" else self.num_aps
        return {"size": f"B{self.num_aps} U{self.num_ues} K{self.subbands} M{self.antennas}", "agents": str(agents),
                "area": f"grid {self.area_x_m:g}x{self.area_y_m:g} m", "task": f"EE s.t. delay, P_max {self.p_max_dbm:g} dBm"}


# (B, U, K, M, P_max dBm): the paper's Table II, the scaling configurations from (2,2,2,2) to (8,8,8,8),
# and (4, 6, 6, 6) at 30 dBm.
_SIZES = {"paper": (3, 3, 4, 4, 20.0), "s2222": (2, 2, 2, 2, 20.0), "s4444": (4, 4, 4, 4, 20.0),
          "s8888": (8, 8, 8, 8, 20.0), "s4666": (4, 6, 6, 6, 30.0)}


def scenario_names() -> list[str]:
    return [f"{s}{a}" for s in _SIZES for a in ("", "-per-ap")]


def make_config(scenario: str = "paper", **overrides) -> UrllcConfig:
    for size, (b, u, k, m, p) in _SIZES.items():
        for suffix, agents in (("", "central"), ("-per-ap", "per_ap")):
            if scenario == f"{size}{suffix}":
                base = UrllcConfig(num_aps=b, num_ues=u, subbands=k, antennas=m, p_max_dbm=p, agents=agents)
                return replace_config(base, **overrides)
    raise ConfigError(f"unknown scenario {scenario!r} for env 'urllc'; known: {', '.join(scenario_names())}")
