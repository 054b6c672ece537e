"""Offline URLLC transitions for the virtual CMDP: episode splits, per-UE views and normalisers.

The dataset is a ``cfmarl collect`` folder of the URLLC env with the central agent (one agent per step:
obs (E, T, 1, F), actions (E, T, 1, A)). Episodes are split into train / validation / test by a seeded
shuffle (the paper splits tuples at random; splitting by episode keeps every test transition's episode
unseen). The central observation is [probing-beam features (B, U, K, M) flattened, buffered packets (U),
urgent packets (U)] (``envs/urllc_ofdm/core.py``), the action (B, 3, U, K) flattened: threshold, beam,
power logit.

**Per-UE views** (the factorisation of Sec. III-B-3 and V-D: the channel process is action-independent
and every UE's channel evolves on its own; the UEs are exchangeable): the channel part r_u (B K M) of UE
u and its queue part q_u (2). The queue transition of UE u is conditioned on q_u and on what the action
does for u on each subband, read off the observation with the env's own decoding of the action:

    desired_k      = log10(sum_b zeta_buk P_buk / P_max * SNR_b,u,k(beam_buk))            (K)
    interference_k = log10(sum_b sum_{v != u} zeta_bvk P_bvk / P_max * SNR_b,u,k(beam_bvk))  (K)
    power share    = zeta_buk P_buk / P_max per (b, k)                                     (B K)

with SNR_b,u,k(m) the full-power probing-beam SNR of the observation (phases are not observed, so the
sums are the incoherent proxies); logs are floored at 1e-3 (-30 dB).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cfmarl.envs.validation import ConfigError

SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train, validation, test episodes


@dataclass(frozen=True)
class Layout:
    """Shapes of the central URLLC observation and action."""

    B: int
    U: int
    K: int
    M: int
    arrival_rate: float
    p_max_w: float
    subcarriers: int
    noise_w: float

    @classmethod
    def from_env_config(cls, cfg: dict) -> Layout:
        from cfmarl.envs.urllc_ofdm.config import UrllcConfig

        known = {k: v for k, v in cfg.items() if k in UrllcConfig.__dataclass_fields__}
        c = UrllcConfig(**known)
        if c.agents != "central":
            raise ConfigError(f"virtual CMDP: the dataset must come from the central agent (env agents: central), "
                              f"got agents={c.agents!r}")
        p_max = 10 ** ((c.p_max_dbm - 30) / 10)
        return cls(c.num_aps, c.num_ues, c.subbands, c.antennas, c.arrival_rate, p_max, c.subcarriers,
                   10 ** ((c.noise_dbm_hz - 30) / 10) * c.subcarrier_hz)

    @property
    def pbm_dim(self) -> int:
        return self.B * self.U * self.K * self.M

    @property
    def obs_dim(self) -> int:
        return self.pbm_dim + 2 * self.U

    @property
    def action_dim(self) -> int:
        return 3 * self.B * self.U * self.K

    @property
    def channel_dim(self) -> int:
        """Per-UE channel view: B K M."""
        return self.B * self.K * self.M

    @property
    def queue_cond_dim(self) -> int:
        return 2 + 2 * self.K + self.B * self.K

    # ---------------------------------------------------------------- views
    def pbm(self, obs: np.ndarray) -> np.ndarray:
        """(N, obs_dim) -> (N, B, U, K, M) probing-beam features (SNR dB / 10)."""
        return obs[:, :self.pbm_dim].reshape(-1, self.B, self.U, self.K, self.M)

    def ue_channel(self, obs: np.ndarray) -> np.ndarray:
        """(N, obs_dim) -> (N U, B K M): row n U + u is UE u's channel view."""
        return np.moveaxis(self.pbm(obs), 2, 1).reshape(-1, self.channel_dim)

    def ue_queue(self, obs: np.ndarray) -> np.ndarray:
        """(N, obs_dim) -> (N U, 2): buffered and urgent packets / lambda of UE u."""
        q = obs[:, self.pbm_dim:].reshape(-1, 2, self.U)
        return np.swapaxes(q, 1, 2).reshape(-1, 2)

    def assemble(self, channel: np.ndarray, queue: np.ndarray) -> np.ndarray:
        """Inverse of the two views: (N U, B K M), (N U, 2) -> (N, obs_dim)."""
        n = channel.shape[0] // self.U
        pbm = np.moveaxis(channel.reshape(n, self.U, self.B, self.K, self.M), 1, 2).reshape(n, -1)
        q = np.swapaxes(queue.reshape(n, self.U, 2), 1, 2).reshape(n, -1)
        return np.concatenate([pbm, q], -1)

    def snap_queue(self, q: np.ndarray) -> np.ndarray:
        """Generated (N, 2) queue views onto what the env can produce: whole packets (q = packets / lambda),
        >= 0, urgent <= buffered."""
        lam = max(self.arrival_rate, 1.0)
        pk = np.maximum(np.rint(np.asarray(q, np.float64) * lam), 0.0)
        pk[:, 1] = np.minimum(pk[:, 1], pk[:, 0])
        return (pk / lam).astype(np.float32)

    @staticmethod
    def clip_channel(x: np.ndarray) -> np.ndarray:
        """Generated channel views into the observation's bounds (SNR dB / 10 in [-30, 30])."""
        return np.clip(x, -30.0, 30.0).astype(np.float32)

    def decode(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(N, A) -> zeta, beam, power (N, B, U, K), the env's own reading (eqs. 13-15)."""
        from cfmarl.envs.urllc_ofdm.core import decode_actions

        return decode_actions(actions, self.B, self.U, self.K, self.M, self.p_max_w)

    def queue_condition(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """(N, obs_dim), (N, A) -> (N U, queue_cond_dim): [q_u, desired_k, interference_k, power share]."""
        zeta, beam, power = self.decode(actions)
        share = zeta * power / self.p_max_w  # (N, B, V, K)
        snr = 10.0 ** self.pbm(obs).astype(np.float64)  # (N, B, U, K, M): log10 (dB / 10) -> linear
        # SNR at u of AP b's beam for v on subband k: snr[n, b, u, k, beam[n, b, v, k]] -> (N, B, U, V, K)
        n, B, U, K = len(obs), self.B, self.U, self.K
        at_u = snr[np.arange(n)[:, None, None, None, None], np.arange(B)[None, :, None, None, None],
                   np.arange(U)[None, None, :, None, None], np.arange(K)[None, None, None, None, :],
                   beam[:, :, None, :, :]]
        contrib = (share[:, :, None] * at_u).sum(1)  # (N, U, V, K) summed over APs
        own = np.diagonal(contrib, axis1=1, axis2=2)  # (N, K, U)
        desired = np.swapaxes(own, 1, 2)  # (N, U, K)
        interf = contrib.sum(2) - desired
        floor = 1e-3
        feats = [self.ue_queue(obs).reshape(-1, self.U, 2), np.log10(np.maximum(desired, floor)),
                 np.log10(np.maximum(interf, floor)), np.moveaxis(share, 2, 1).reshape(-1, self.U, self.B * self.K)]
        return np.concatenate(feats, -1).reshape(-1, self.queue_cond_dim).astype(np.float32)


@dataclass
class Split:
    """Transitions of the train / validation / test episodes of one dataset."""

    layout: Layout
    episodes: dict[str, np.ndarray]  # part -> episode indices
    parts: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # part -> s, a, r, c, s_next, s0

    def __getitem__(self, part: str) -> dict[str, np.ndarray]:
        return self.parts[part]


def split_dataset(dataset, seed: int = 32, fractions: tuple[float, float, float] = SPLIT_FRACTIONS) -> Split:
    """Split a loaded :class:`cfmarl.datasets.Dataset` of the URLLC env by episode."""
    man = dataset.manifest
    env = man.get("plan", {}).get("env")
    if env not in ("urllc", "urllc_ofdm"):
        raise ConfigError(f"virtual CMDP: the dataset must come from the URLLC env, got env {env!r}")
    layout = Layout.from_env_config(man["env_config"])
    arr = dataset.arrays
    e = arr["obs"].shape[0]
    if arr["obs"].shape[2] != 1:
        raise ConfigError(f"virtual CMDP: expected one (central) agent per step, got {arr['obs'].shape[2]}")
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ConfigError(f"split fractions: three non-negative numbers summing to 1, got {fractions}")
    n_train, n_val = int(round(fractions[0] * e)), int(round(fractions[1] * e))
    if min(n_train, n_val, e - n_train - n_val) < 1:
        raise ConfigError(f"dataset: {e} episodes cannot be split {fractions} with >= 1 episode in each part; "
                          f"collect more episodes")
    order = np.random.default_rng(seed).permutation(e)
    eps = {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
           "test": np.sort(order[n_train + n_val:])}
    split = Split(layout, eps)
    for part, idx in eps.items():
        sub = {k: arr[k][idx] for k in ("obs", "actions", "rewards", "costs", "next_obs")}
        n = sub["rewards"].size
        split.parts[part] = {"s": sub["obs"].reshape(n, -1), "a": sub["actions"].reshape(n, -1),
                             "r": sub["rewards"].reshape(n), "c": sub["costs"].reshape(n),
                             "s_next": sub["next_obs"].reshape(n, -1), "s0": sub["obs"][:, 0, 0]}
    return split


@dataclass
class Normaliser:
    """Affine map x -> (x - shift) / scale per feature. Features constant on the fitting data (zero range)
    get scale 1 and are marked ``const``: :meth:`inverse` puts the constant back whatever a model generated
    there (e.g. the urgent packets at reset, always 0 in the env)."""

    shift: np.ndarray
    scale: np.ndarray
    const: np.ndarray | None = None  # bool per feature

    @classmethod
    def standard(cls, x: np.ndarray) -> Normaliser:
        sd = x.std(0)
        const = ~(sd > 1e-8)
        return cls(x.mean(0).astype(np.float64), np.where(const, 1.0, sd).astype(np.float64), const)

    @classmethod
    def to_unit_box(cls, x: np.ndarray) -> Normaliser:
        """Min-max to [-1, 1] (pykan's grid range)."""
        lo, hi = x.min(0), x.max(0)
        half = (hi - lo) / 2.0
        const = ~(half > 1e-8)
        return cls(((hi + lo) / 2.0).astype(np.float64), np.where(const, 1.0, half).astype(np.float64), const)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.shift) / self.scale).astype(np.float32)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = y * self.scale + self.shift
        if self.const is not None and self.const.any():
            x = np.where(self.const, self.shift, x)
        return x

    def to_dict(self) -> dict:
        out = {"shift": self.shift.tolist(), "scale": self.scale.tolist()}
        if self.const is not None:
            out["const"] = self.const.astype(bool).tolist()
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Normaliser:
        const = np.asarray(d["const"], bool) if "const" in d else None
        return cls(np.asarray(d["shift"], np.float64), np.asarray(d["scale"], np.float64), const)
