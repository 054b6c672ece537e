"""The learned virtual CMDP as an environment (urllc_ee_virtual_cmdp Sec. IV, Fig. 2): the same
observation, action and reward / cost semantics as the real URLLC env (central agent) on the scenario the
models were fitted to, with every piece learned from the offline dataset:

* initial state: per-UE channel and queue views drawn from the initial-state models (VAE-ChMDN or the
  compared families), assembled into the central observation;
* reward and cost: the KAN (or MLP) predictions on (s, a), the cost clipped to [0, 1];
* next state: per-UE channel view from r' | r and queue view from q' | (q, what the action does for the
  UE), assembled; queue views snapped to whole packets (urgent <= buffered), channel views clipped to the
  observation bounds.

``make_config(scenario, models=DIR, ...)``: the scenario names the framework (``vae_chmdn`` = VAE-ChMDN +
EA-CGMM, the paper's; ``diffusion`` = DDPM + DDIM; ``vae`` = VAE + CVAE; ``gan`` = GAN + CGAN), ``models``
the folder :func:`.fit.fit_models` wrote. Register it with ``env: {name:
"cfmarl.policies.offline.virtual_cmdp.registration:entry"}`` in an experiment (a ``package.module:function``
env name works in Ray workers too). Each env copy draws from its own generator (a copy's trajectory depends
only on its seed); the networks run in torch on CPU with the process's thread settings.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cfmarl.envs.declarations import KPI, Constraint, EnvDeclaration, ScaleAxes
from cfmarl.envs.shell import CoreParallelEnv
from cfmarl.envs.validation import (ConfigError, check_choice, check_int, check_memory, coerce_box_actions,
                                    make_rngs, replace_config)

FRAMEWORK_NAMES = ("vae_chmdn", "diffusion", "vae", "gan")


@dataclass(frozen=True)
class VirtualCmdpConfig:
    models: str = ""  # folder written by fit_models (manifest.json + the model files)
    framework: str = "vae_chmdn"  # initial + transition family: vae_chmdn | diffusion | vae | gan
    predictor: str = "kan"  # reward / cost predictors: kan (the paper's) | mlp
    episode_slots: int = 200
    delay_cost_limit: float = 0.005  # read by the URLLC baselines (Lyapunov's target)

    def __post_init__(self) -> None:
        c = type(self).__name__
        if not isinstance(self.models, str):
            raise ConfigError(f"{c}.models: a folder path (str), got {type(self.models).__name__}")
        check_choice(c, "framework", self.framework, FRAMEWORK_NAMES)
        check_choice(c, "predictor", self.predictor, ("kan", "mlp"))
        check_int(c, "episode_slots", self.episode_slots, 1, 10_000_000)
        check_memory(c, self.memory_terms())

    def memory_terms(self) -> list[tuple[str, tuple[str, ...], float]]:
        # one env copy holds its observation (a few hundred floats); the models are shared per process
        return [("observation", ("models",), 4096.0)]

    def describe(self) -> dict[str, str]:
        return {"size": f"learned from {self.models or '(no models)'}", "agents": "1",
                "area": "-", "task": f"{self.framework} + {self.predictor} predictors"}


def scenario_names() -> list[str]:
    return list(FRAMEWORK_NAMES)


def make_config(scenario: str = "vae_chmdn", **overrides) -> VirtualCmdpConfig:
    if scenario not in FRAMEWORK_NAMES:
        raise ConfigError(f"unknown scenario {scenario!r} for the virtual CMDP; known: {', '.join(FRAMEWORK_NAMES)} "
                          f"(the framework: initial-state + transition models)")
    return replace_config(VirtualCmdpConfig(framework=scenario), **overrides)


DECLARATION = EnvDeclaration(
    kpis=(KPI("energy_efficiency_bit_per_j", "bit/J", "higher", "energy efficiency (predicted)", "{:.4g}"),
          KPI("delay_violation_rate", "", "lower", "delay-violation rate (predicted)", "{:.4f}"),
          KPI("throughput_kbps", "kbit/s", "higher", "throughput (predicted EE x power)", "{:.1f}"),
          KPI("tx_power_w", "W", "lower", "transmit power", "{:.4f}")),
    constraint=Constraint(label="delay-violation rate (predicted)", limit=0.005),
    progress=("energy_efficiency_bit_per_j", "delay_violation_rate", "tx_power_w"),
    scale=ScaleAxes(fields=("episode_slots",), label="slots per episode"),
    episode_length="episode_slots",
)


@functools.lru_cache(maxsize=8)
def _load(models: str, digest: str):
    """Manifest, spec, layout, normalisers and the networks of a model folder (cached per process)."""
    from cfmarl.policies.offline.virtual_cmdp.data import Layout, Normaliser
    from cfmarl.policies.offline.virtual_cmdp.fit import ModelSpec, load_model

    root = Path(models)
    man = json.loads((root / "manifest.json").read_text())
    spec_d = dict(man["spec"])
    for k in ("kan_hidden", "families"):
        spec_d[k] = tuple(spec_d[k])
    spec = ModelSpec(**spec_d)
    layout = Layout(**man["layout"])
    norms = {k: Normaliser.from_dict(v) for k, v in man["norms"].items()}
    nets = {name: load_model(root / e["file"], spec, e["sha256"])[1] for name, e in man["models"].items()}
    return man, spec, layout, norms, nets


def open_models(models: str) -> tuple:
    """The loaded model folder, with a clear error for a missing or unfinished one."""
    if not models:
        raise ConfigError("VirtualCmdpConfig.models: the folder the models were fitted into is required "
                          "(env overrides: {models: DIR}; `cfmarl offline` fits them)")
    mpath = Path(models) / "manifest.json"
    if not mpath.exists():
        raise ConfigError(f"VirtualCmdpConfig.models: no manifest.json in {models!r}; fit the models first")
    try:
        man = json.loads(mpath.read_text())
    except ValueError as exc:
        raise ConfigError(f"VirtualCmdpConfig.models: {mpath} is not valid JSON ({exc})") from None
    if not man.get("complete"):
        raise ConfigError(f"VirtualCmdpConfig.models: the fit in {models!r} did not finish; rerun it (it resumes)")
    digest = "".join(e["sha256"][:12] for e in man["models"].values())
    return _load(str(Path(models).resolve()), digest)


@dataclass
class VirtualState:
    rngs: list[np.random.Generator]
    t: int
    obs: np.ndarray  # (E, obs_dim) central observation
    reward: np.ndarray  # (E,) predicted reward of the last step [Mbit/J]
    cost: np.ndarray  # (E,)
    power_w: np.ndarray  # (E,) transmitted power of the last action
    packets: np.ndarray  # (E, U, 2) buffered and urgent packets per UE (what the observation shows x lambda)

    @property
    def qlen(self) -> np.ndarray:
        """Buffered packets per UE (E, U) (what the URLLC baselines read)."""
        return self.packets[..., 0].astype(int)


class VirtualCmdpCore:
    """Array core of the virtual CMDP (the URLLC central agent's interface)."""

    graph_kind = "static"
    summary_kpis = ("energy_efficiency_bit_per_j", "delay_violation_rate", "throughput_kbps", "tx_power_w")

    def __init__(self, config: VirtualCmdpConfig, num_envs: int = 1):
        from cfmarl.envs.urllc_ofdm.config import UrllcConfig
        from cfmarl.envs.urllc_ofdm.core import UrllcCore
        from cfmarl.policies.offline.virtual_cmdp.fit import FRAMEWORKS

        self.config = config
        self.num_envs = num_envs
        self.man, self.spec, self.layout, self.norms, nets = open_models(config.models)
        env_cfg = {k: v for k, v in self.man["env_config"].items() if k in UrllcConfig.__dataclass_fields__}
        real = UrllcCore(UrllcConfig(**env_cfg), num_envs=1)  # the interface to reproduce
        self.real_config = real.config
        self.B, self.U, self.K, self.M = real.B, real.U, real.K, real.M
        self.block, self.codebook = real.block, real.codebook
        self.n_agents, self.n_costs, self.agent_ids = 1, 1, ["central"]
        self.action_dim, self.obs_dim = real.action_dim, real.obs_dim
        self.action_bounds, self.action_levels = real.action_bounds, real.action_levels
        self._obs_low, self._obs_high = real.obs_bounds
        self.state_dim, self._state_bounds = real.state_dim, real.state_bounds
        self._buffer_bits = real.config.buffer_bits
        self._mean_packet = 0.5 * (real.config.packet_bits_min + real.config.packet_bits_max)
        init, trans = FRAMEWORKS[config.framework]
        missing = [n for n in (f"init_r_{init}", f"init_q_{init}", f"next_r_{trans}", f"next_q_{trans}",
                               f"reward_{config.predictor}", f"cost_{config.predictor}") if n not in nets]
        if missing:
            raise ConfigError(f"VirtualCmdpConfig.framework: {config.framework!r} needs models {missing} that "
                              f"{config.models!r} does not hold (fitted families: {list(self.spec.families)})")
        self.kinds = {"init": init, "next": trans}
        self.nets = nets

    def __getstate__(self):  # the networks are not pickled: they are reloaded (cached per process)
        return {k: v for k, v in self.__dict__.items() if k not in ("man", "spec", "layout", "norms", "nets")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.man, self.spec, self.layout, self.norms, self.nets = open_models(self.config.models)

    @property
    def obs_bounds(self):
        return self._obs_low, self._obs_high

    @property
    def state_bounds(self):
        return self._state_bounds

    # -------------------------------------------------------------- sampling
    def _torch_gen(self, rng: np.random.Generator):
        import torch

        return torch.Generator().manual_seed(int(rng.integers(0, 2 ** 62)))

    def _draw(self, name: str, kind: str, cond: np.ndarray | None, norm_x: str, norm_c: str | None,
              rngs: list[np.random.Generator]) -> np.ndarray:
        """Per env copy, U draws of model ``name`` (denormalised); cond (E, U, C) or None."""
        import torch

        from cfmarl.policies.offline.virtual_cmdp.fit import draw

        out = []
        with torch.no_grad():
            for b, g in enumerate(rngs):
                c = None if cond is None else torch.as_tensor(self.norms[norm_c](cond[b]))
                x = draw(kind, self.nets[name], self.U, c, self.spec, self._torch_gen(g)).numpy()
                out.append(self.norms[norm_x].inverse(x.astype(np.float64)))
        return np.stack(out)  # (E, U, D)

    def _assemble(self, channel: np.ndarray, queue: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Observation (E, obs_dim) and packets (E, U, 2) from generated per-UE views."""
        lay = self.layout
        ch = lay.clip_channel(channel.reshape(-1, lay.channel_dim))
        q = lay.snap_queue(queue.reshape(-1, 2))
        packets = np.rint(q.astype(np.float64) * max(lay.arrival_rate, 1.0)).reshape(self.num_envs, self.U, 2)
        return lay.assemble(ch, q).astype(np.float32), packets

    def _first_state(self, rngs, channel: np.ndarray, queue: np.ndarray) -> tuple[VirtualState, np.ndarray]:
        """The state at slot 0 from per-UE channel and queue views (E, U, .)."""
        obs, q = self._assemble(channel, queue)
        z = np.zeros(self.num_envs)
        state = VirtualState(rngs=rngs, t=0, obs=obs, reward=z.copy(), cost=z.copy(), power_w=z.copy(), packets=q)
        return state, obs[:, None]

    # ------------------------------------------------------------------ API
    def reset(self, seeds):
        rngs = make_rngs(seeds, self.num_envs)
        r0 = self._draw(f"init_r_{self.kinds['init']}", self.kinds["init"], None, "r0", None, rngs)
        q0 = self._draw(f"init_q_{self.kinds['init']}", self.kinds["init"], None, "q0", None, rngs)
        return self._first_state(rngs, r0, q0)

    def start_from(self, obs: np.ndarray, seeds) -> tuple[VirtualState, np.ndarray]:
        """Like :meth:`reset`, but every copy starts from a given central observation (E, obs_dim) - e.g. a real
        episode's first state - instead of a drawn one (snapped onto the env's grid as generated states are)."""
        obs = np.asarray(obs, np.float64)
        if obs.shape != (self.num_envs, self.obs_dim):
            raise ValueError(f"start_from: obs must be ({self.num_envs}, {self.obs_dim}), got {obs.shape}")
        E, lay = self.num_envs, self.layout
        return self._first_state(make_rngs(seeds, E), lay.ue_channel(obs).reshape(E, self.U, -1),
                                 lay.ue_queue(obs).reshape(E, self.U, 2))

    def replace_views(self, state: VirtualState, channel_from: np.ndarray | None = None,
                      queue_from: np.ndarray | None = None) -> VirtualState:
        """``state`` with its per-UE channel views and / or queue views replaced by those of given central
        observations (E, obs_dim) - e.g. a real episode's next state - snapped onto the env's grid like generated
        ones: one half of the transition model teacher-forced, to see what the other half does on its own."""
        lay, E = self.layout, self.num_envs
        obs = state.obs.astype(np.float64)
        views = []
        for name, src in (("channel_from", channel_from), ("queue_from", queue_from)):
            src = obs if src is None else np.asarray(src, np.float64)
            if src.shape != (E, self.obs_dim):
                raise ValueError(f"replace_views: {name} must be ({E}, {self.obs_dim}), got {src.shape}")
            views.append(src)
        state.obs, state.packets = self._assemble(lay.ue_channel(views[0]).reshape(E, self.U, -1),
                                                  lay.ue_queue(views[1]).reshape(E, self.U, 2))
        return state

    def predict(self, s: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Reward and cost predictions and the transmitted power for (N, obs_dim) observations and (N, A)
        actions: the predictors' values with the env's rules (no power spent, no energy efficiency - eq. 16 is 0
        there, not a prediction; reward >= 0; cost in [0, 1])."""
        import torch

        sa = torch.as_tensor(self.norms["sa"](np.concatenate([s, a], -1)))
        p = self.config.predictor
        with torch.no_grad():
            r = self.norms["r"].inverse(self.nets[f"reward_{p}"](sa).numpy()[:, None].astype(np.float64))[:, 0]
            c = self.norms["c"].inverse(self.nets[f"cost_{p}"](sa).numpy()[:, None].astype(np.float64))[:, 0]
        zeta, _, power = self.layout.decode(a)
        power_w = (zeta * power).sum((1, 2, 3))
        return np.where(power_w > 0, np.maximum(r, 0.0), 0.0), np.clip(c, 0.0, 1.0), power_w

    def step(self, state: VirtualState, actions):
        a = coerce_box_actions(actions, self.num_envs, self.action_dim, -1.0, 1.0, self.agent_ids,
                               per_agent=self.action_dim)
        lay, E = self.layout, self.num_envs
        s = state.obs.astype(np.float64)
        r, c, state.power_w = self.predict(s, a)
        ch_now = lay.ue_channel(s).reshape(E, self.U, -1)
        q_cond = lay.queue_condition(s, a).reshape(E, self.U, -1)
        kind = self.kinds["next"]
        ch = self._draw(f"next_r_{kind}", kind, ch_now, "ch", "ch", state.rngs)
        q = self._draw(f"next_q_{kind}", kind, q_cond, "q", "qc", state.rngs)
        state.obs, state.packets = self._assemble(ch, q)
        state.reward, state.cost = r, c
        state.t += 1
        done = np.full(E, state.t >= self.config.episode_slots)
        return state, state.obs[:, None], r[:, None], c[:, None, None], done

    def kpis(self, state: VirtualState) -> dict[str, np.ndarray]:
        return {"energy_efficiency_bit_per_j": state.reward * 1e6, "delay_violation_rate": state.cost,
                "throughput_kbps": state.reward * 1e6 * state.power_w / 1e3, "tx_power_w": state.power_w}

    def user_records(self, state: VirtualState) -> dict[str, np.ndarray]:
        return {}

    def agent_graph(self, state=None):
        return np.zeros((2, 0), np.int64), np.zeros(0, np.int64)

    def global_state(self, state: VirtualState) -> np.ndarray:
        """The real env's layout: the observation and each UE's buffered bits / buffer size, estimated
        from the buffered packets at the mean packet size."""
        bits = state.packets[..., 0] * self._mean_packet / self._buffer_bits
        return np.concatenate([state.obs, np.clip(bits, 0.0, 1.0)], -1).astype(np.float32)

    # --------------------------------------------- what the URLLC baselines read
    def decode(self, actions: np.ndarray):
        """The env's reading of actions (..., A): zeta, beam, power (..., B, U, K)."""
        return self.layout.decode(np.asarray(actions))

    def pbm(self, state: VirtualState) -> np.ndarray:
        """|h^H f_m| (E, B, U, K, M) back from the observation's full-power SNR (dB / 10)."""
        c = self.real_config
        snr = 10.0 ** self.layout.pbm(state.obs.astype(np.float64))
        noise = 10 ** ((c.noise_dbm_hz - 30) / 10) * c.subcarrier_hz
        return np.sqrt(snr * noise * c.subcarriers / (10 ** ((c.p_max_dbm - 30) / 10)))

    def urgent_packets(self, state: VirtualState) -> np.ndarray:
        return state.packets[..., 1].astype(int)


class VirtualCmdpEnv(CoreParallelEnv):
    """PettingZoo ParallelEnv of the learned virtual CMDP (see the module documentation)."""

    metadata = {"name": "urllc_vcmdp_v0", "render_modes": [], "is_parallelizable": True}
    core_cls = VirtualCmdpCore
    make_config = staticmethod(make_config)
    default_scenario = "vae_chmdn"


def parallel_env(config: VirtualCmdpConfig | None = None, **kwargs) -> VirtualCmdpEnv:
    return VirtualCmdpEnv(config=config, **kwargs)
