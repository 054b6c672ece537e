"""MA-CDMP: the multi-agent conditional diffusion planner with mean-field guidance (Meng et al., Sec. IV).

Per node (homogeneous agents, shared parameters) and decision:

* the **noise model** eps_theta (temporal U-Net) models the node's observation sequence over the planning
  horizon H together with the 1-hop mean-field sequence ``[x, x_bar]`` (eq. 13; the env's observation row
  already holds both: its own queue features and their mean over the 1-hop neighbours, eq. 11);
* the **classifier** J_psi (the U-Net's down half) predicts the sequence's discounted return (eq. 14) from
  the noisy ``[x_k, x_bar_k]`` (the mean-field factorisation of eqs. 16-17);
* the **inverse dynamics** f_phi maps consecutive observations to the action (eq. 18);
* all three are trained jointly by eq. (19) (noise MSE + return MSE + action MSE);
* **planning** (Algorithm 2, eq. 20) starts from Gaussian noise, fixes the first observation to the current
  one at every step (inpainting), denoises with classifier guidance of scale zeta, and acts with
  f_phi(o_t, o_t+1) of the plan; receding horizon: the node plans again at its next decision.

Samplers (``diffusers`` schedulers): ``ddpm`` runs all K training steps and adds zeta Sigma_k grad J to the
posterior mean exactly as eq. (20); ``dpm`` is the first-order DPM-Solver (the paper's Fig. 9; diffusers'
``dpmsolver++`` at order 1, which is the same first-order update, = DDIM: deterministic, the probability-flow ODE)
and ``sde-dpm`` its stochastic counterpart (diffusers' ``sde-dpmsolver++`` at order 1: the SDE solver of
DPM-Solver++, which draws fresh noise at every step as DDPM does), both with ``sampling_steps`` steps, guided
through the noise prediction eps - sqrt(1 - alpha_bar_k) zeta grad J (the same shift of the score, Dhariwal &
Nichol). With a learned noise model the two differ a lot here (benchmarks/results/mftdma/README.md, "Samplers"):
the ODE solver's plans are poor even at K steps, the SDE solver's match DDPM's at 10-20 steps.
``mean_field: false`` is the paper's MA-CDMP w/o MF ablation: only the node's own features are modelled,
classified and inverted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from cfmarl.envs.validation import ConfigError
from cfmarl.policies.offline.baselines.bc import check_hidden, mlp
from cfmarl.policies.offline.diffusion_planner.unet import ReturnClassifier, TemporalUNet, check_horizon
from cfmarl.policies.offline.method import OfflineMethod

SAMPLERS = ("ddpm", "dpm", "sde-dpm")


@dataclass(frozen=True)
class CdmpOptions:
    horizon: int = 8  # H, planned observations (the first is the current one)
    diffusion_steps: int = 100  # K of training (and of the ddpm sampler)
    beta_schedule: str = "squaredcos_cap_v2"  # a diffusers beta schedule (linear | scaled_linear | squaredcos_cap_v2)
    dims: list = field(default_factory=lambda: [32, 64, 128])  # U-Net widths per level
    kernel: int = 5
    mean_field: bool = True  # model the 1-hop mean-field sequence beside the own one (False = w/o MF ablation)
    inverse_hidden: list = field(default_factory=lambda: [256, 256])
    guidance: float = 0.1  # zeta (sampling only)
    sampler: str = "dpm"  # ddpm | dpm (first-order DPM-Solver, ODE) | sde-dpm (its SDE variant) (sampling only)
    sampling_steps: int = 10  # dpm / sde-dpm solver steps (sampling only; ddpm runs all diffusion_steps)
    clip: float = 5.0  # x0 predictions clipped to +-clip standard deviations while sampling (sampling only)
    temperature: float = 1.0  # the initial noise x_K times this (< 1: low-temperature sampling as in Decision
    #                           Diffuser, plans nearer the model's modes) (sampling only)
    candidates: int = 1  # plans sampled per decision; the one the classifier values highest is executed (as
    #                      Diffuser ranks its samples) (sampling only)

    def check(self) -> None:
        if not self.dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in self.dims):
            raise ConfigError(f"algorithm.options.dims: needs a non-empty list of positive integers, got {self.dims!r}")
        check_horizon(self.horizon, len(self.dims))
        check_hidden(self.inverse_hidden, "algorithm.options.inverse_hidden")
        if not 2 <= self.diffusion_steps <= 10000:
            raise ConfigError(f"algorithm.options.diffusion_steps: must be in [2, 10000], got {self.diffusion_steps}")
        if self.beta_schedule not in ("linear", "scaled_linear", "squaredcos_cap_v2"):
            raise ConfigError(f"algorithm.options.beta_schedule: must be one of linear, scaled_linear, "
                              f"squaredcos_cap_v2; got {self.beta_schedule!r}")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"algorithm.options.kernel: must be an odd positive integer, got {self.kernel}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"algorithm.options.sampler: must be one of {', '.join(SAMPLERS)}; got {self.sampler!r}")
        if not 1 <= self.sampling_steps <= self.diffusion_steps:
            raise ConfigError(f"algorithm.options.sampling_steps: must be in [1, diffusion_steps = "
                              f"{self.diffusion_steps}], got {self.sampling_steps}")
        if not 0 < self.temperature <= 10 or not 1 <= self.candidates <= 1024:
            raise ConfigError(f"algorithm.options.temperature / candidates: must be in (0, 10] / [1, 1024], got "
                              f"{self.temperature} / {self.candidates}")
        if not self.guidance >= 0 or not self.clip > 0:
            raise ConfigError(f"algorithm.options.guidance / clip: must be >= 0 / > 0, got {self.guidance} / {self.clip}")


class MACDMP(OfflineMethod):
    Options = CdmpOptions
    SAMPLING = frozenset({"guidance", "sampler", "sampling_steps", "clip", "temperature", "candidates"})

    def __init__(self, spec, options: CdmpOptions, algorithm, seed: int):
        super().__init__(spec, options, algorithm, seed)
        from diffusers import DDPMScheduler

        torch.manual_seed(seed)
        o = options
        self.cols = spec.features(o.mean_field)
        C, A = len(self.cols), spec.action_dim
        self.eps = TemporalUNet(C, list(o.dims), o.kernel)
        self.classifier = ReturnClassifier(C, list(o.dims), o.kernel)
        self.inverse = mlp([2 * C, *o.inverse_hidden, A], nn.Tanh())
        self.train_sched = DDPMScheduler(num_train_timesteps=o.diffusion_steps, beta_schedule=o.beta_schedule,
                                         clip_sample=False)
        self.register_buffer("ret_mean", torch.zeros(()))
        self.register_buffer("ret_std", torch.ones(()))
        self.optimizers = {"all": torch.optim.Adam(self.parameters(), lr=self.lr)}

    # ------------------------------------------------------------------ data
    def prepare(self, data, rng: np.random.Generator, n: int = 20000) -> None:
        """Standardise the classifier's target by the training data's window returns."""
        y = self._returns(data, *self._starts(data, n, rng))
        self.ret_mean.fill_(float(y.mean()))
        self.ret_std.fill_(float(max(y.std(), 1e-6)))

    def _starts(self, data, size, rng):
        H = self.options.horizon
        if data.T < H:
            raise ConfigError(f"algorithm.options.horizon: {H} is longer than the dataset's episodes ({data.T} steps)")
        return rng.integers(0, data.E, size), rng.integers(0, data.T - H + 1, size), rng.integers(0, data.N, size)

    def _returns(self, data, e, t, n) -> np.ndarray:
        w = data.windows(e, t, n, self.options.horizon)
        disc = self.gamma ** np.arange(self.options.horizon)
        return (w["rewards"] * disc).sum(-1)

    def sample(self, data, size, rng):
        e, t, n = self._starts(data, size, rng)
        w = data.windows(e, t, n, self.options.horizon)
        y = (w["rewards"] * self.gamma ** np.arange(self.options.horizon)).sum(-1)
        return {"x0": self.norm_obs(w["obs"], self.cols).transpose(1, 2),  # (R, C, H)
                "a": self.norm_action(w["actions"]),  # (R, H, A)
                "y": (torch.as_tensor(y, dtype=torch.float32) - self.ret_mean) / self.ret_std}

    # ------------------------------------------------------------------ training (eq. 19)
    def losses(self, batch) -> dict[str, torch.Tensor]:
        x0, a, y = batch["x0"], batch["a"], batch["y"]
        R = x0.shape[0]
        k = torch.randint(0, self.options.diffusion_steps, (R,), generator=self.gen)
        noise = torch.randn(x0.shape, generator=self.gen)
        xk = self.train_sched.add_noise(x0, noise, k)
        xk[:, :, 0] = x0[:, :, 0]  # the first observation is given (as in planning)
        diff = ((self.eps(xk, k) - noise)[:, :, 1:] ** 2).mean()
        cls = ((self.classifier(xk, k) - y) ** 2).mean()
        pairs = torch.cat([x0[:, :, :-1], x0[:, :, 1:]], 1).transpose(1, 2)  # (R, H - 1, 2C)
        inv = ((self.inverse(pairs) - a[:, :-1]) ** 2).mean()
        return {"diffusion_loss": diff, "classifier_loss": cls, "inverse_loss": inv}

    def update(self, batch, step):
        parts = self.losses(batch)
        loss = sum(parts.values())
        opt = self.optimizers["all"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {k: float(v.detach()) for k, v in parts.items()}

    def held_out(self, batch):
        with torch.no_grad():
            return {k: float(v) for k, v in self.losses(batch).items()}

    # ------------------------------------------------------------------ planning (Algorithm 2)
    def _guide(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        if self.options.guidance == 0:
            return torch.zeros_like(x)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.classifier(xg, k).sum(), xg)
        return grad

    def plan(self, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Normalised first observations (R, C) -> planned normalised sequences (R, C, H)."""
        from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

        o = self.options
        R0, C = cond.shape
        cond = cond.repeat_interleave(o.candidates, 0)  # row i's candidates are rows i c ... i c + c - 1
        R = cond.shape[0]
        x = torch.randn((R, C, o.horizon), generator=gen) * o.temperature
        x[:, :, 0] = cond
        common = dict(num_train_timesteps=o.diffusion_steps, beta_schedule=o.beta_schedule)
        if o.sampler == "ddpm":
            sched = DDPMScheduler(**common, clip_sample=True, clip_sample_range=o.clip)
            sched.set_timesteps(o.diffusion_steps)
        else:
            sched = DPMSolverMultistepScheduler(**common, solver_order=1, algorithm_type="dpmsolver++" if
                                                o.sampler == "dpm" else "sde-dpmsolver++")
            sched.set_timesteps(o.sampling_steps)
        abar = sched.alphas_cumprod
        for t in sched.timesteps:
            k = torch.full((R,), int(t), dtype=torch.long)
            with torch.no_grad():
                eps = self.eps(x, k)
            g = self._guide(x, k)
            if o.sampler == "ddpm":
                x = sched.step(eps, t, x, generator=gen).prev_sample
                prev = abar[int(t) - 1] if int(t) > 0 else torch.tensor(1.0)
                var = (1 - prev) / (1 - abar[int(t)]) * sched.betas[int(t)]  # Sigma_k of eq. (20)
                x = x + o.guidance * var * g
            else:
                eps = eps - (1 - abar[int(t)]).sqrt() * o.guidance * g
                # the solver has no x0 clip of its own: clip the implied x0 and re-derive eps
                x0 = ((x - (1 - abar[int(t)]).sqrt() * eps) / abar[int(t)].sqrt()).clamp(-o.clip, o.clip)
                eps = (x - abar[int(t)].sqrt() * x0) / (1 - abar[int(t)]).sqrt()
                x = sched.step(eps, t, x, generator=gen).prev_sample  # (the ODE solver draws nothing)
            x[:, :, 0] = cond
        if o.candidates > 1:
            with torch.no_grad():
                value = self.classifier(x, torch.zeros(R, dtype=torch.long)).view(R0, o.candidates)
            x = x.view(R0, o.candidates, C, o.horizon)[torch.arange(R0), value.argmax(1)]
        return x

    def act(self, obs, gen):
        cond = self.norm_obs(obs, self.cols)
        x = self.plan(cond, gen)
        with torch.no_grad():
            u = self.inverse(torch.cat([x[:, :, 0], x[:, :, 1]], -1))
        return self.env_action(u)
