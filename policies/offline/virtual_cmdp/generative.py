"""The generative models the paper compares VAE-ChMDN / EA-CGMM with (urllc_ee_virtual_cmdp Sec. V-B):
denoising diffusion (DDPM training; DDPM and DDIM sampling with classifier-free guidance), a (conditional)
VAE and a (conditional) GAN. ``cond_dim = 0`` gives the unconditional models used for the initial state.

Diffusion uses the ``diffusers`` schedulers (the reference implementations of DDPM / DDIM) around our own
noise-prediction MLP: a linear beta schedule from 1e-3 to 0.2 over 100 training steps (alpha_bar_T = 2e-5;
diffusers' default betas suit 1000 steps), x0 predictions clipped in sampling to +-``clip`` (the data
are standardised, not in [-1, 1]: ``ModelSpec.diffusion_clip``, 5 by default) and "trailing" timestep
spacing (a 5-step DDIM run starts at t = T - 1, not t = 80). Classifier-free guidance (Ho & Salimans
2022): the condition is dropped with probability ``p_uncond`` in training and
eps = (1 + w) eps(x, t, c) - w eps(x, t, none) in sampling.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cfmarl.policies.offline.virtual_cmdp.vae_chmdn import _mlp

BETAS = {"beta_schedule": "linear", "beta_start": 1e-3, "beta_end": 0.2}


def _check_dims(**dims):
    for name, val in dims.items():
        if not isinstance(val, int) or val < 0:
            raise ValueError(f"{name}: must be an integer >= 0, got {val!r}")


class EpsMlp(nn.Module):
    """Noise predictor eps(x_t, t, c): an MLP over [x_t, sinusoidal t embedding, c * keep, keep]."""

    def __init__(self, x_dim: int, cond_dim: int, hidden: int = 256, layers: int = 3, t_dim: int = 32):
        super().__init__()
        self.t_dim, self.cond_dim = t_dim, cond_dim
        self.net = _mlp([x_dim + t_dim + cond_dim + 1] + [hidden] * layers + [x_dim])

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        half = self.t_dim // 2
        freq = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
        ang = t.float()[:, None] * freq[None]
        return torch.cat([torch.sin(ang), torch.cos(ang)], -1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, self.embed(t), cond * keep[:, None], keep[:, None]], -1))


class Diffusion(nn.Module):
    """Denoising diffusion over R^x_dim, optionally conditional on c in R^cond_dim."""

    def __init__(self, x_dim: int, cond_dim: int = 0, hidden: int = 256, layers: int = 3, train_steps: int = 100,
                 p_uncond: float = 0.1):
        super().__init__()
        _check_dims(x_dim=x_dim, cond_dim=cond_dim)
        if not 0.0 <= p_uncond < 1.0:
            raise ValueError(f"p_uncond: must be in [0, 1), got {p_uncond!r}")
        self.x_dim, self.cond_dim, self.train_steps, self.p_uncond = x_dim, cond_dim, train_steps, p_uncond
        self.eps = EpsMlp(x_dim, cond_dim, hidden, layers)
        self._train_sched = None

    def scheduler(self, kind: str = "ddpm", clip: float = 0.0):
        """A fresh diffusers scheduler of this model's noise schedule: ``ddpm`` or ``ddim``; ``clip`` > 0
        clips the x0 predictions to +-clip (diffusers' ``clip_sample``)."""
        from diffusers import DDIMScheduler, DDPMScheduler

        clipping = {"clip_sample": clip > 0, "clip_sample_range": float(clip) if clip > 0 else 1.0}
        if kind == "ddpm":
            return DDPMScheduler(num_train_timesteps=self.train_steps, timestep_spacing="trailing", **clipping,
                                 **BETAS)
        if kind == "ddim":
            return DDIMScheduler(num_train_timesteps=self.train_steps, set_alpha_to_one=True,
                                 timestep_spacing="trailing", **clipping, **BETAS)
        raise ValueError(f"sampler: must be 'ddpm' or 'ddim', got {kind!r}")

    def _cond(self, n: int, cond: torch.Tensor | None) -> torch.Tensor:
        if self.cond_dim == 0:
            return torch.zeros(n, 0)
        if cond is None or cond.shape != (n, self.cond_dim):
            raise ValueError(f"cond: expected ({n}, {self.cond_dim}), got {None if cond is None else tuple(cond.shape)}")
        return cond

    def loss(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self._train_sched is None:
            self._train_sched = self.scheduler("ddpm")
        n = x.shape[0]
        t = torch.randint(0, self.train_steps, (n,))
        noise = torch.randn_like(x)
        xt = self._train_sched.add_noise(x, noise, t)
        keep = (torch.rand(n) >= self.p_uncond).float() if self.cond_dim else torch.zeros(n)
        return ((self.eps(xt, t, self._cond(n, cond), keep) - noise) ** 2).mean()

    @torch.no_grad()
    def sample(self, n: int, cond: torch.Tensor | None = None, sampler: str = "ddim", steps: int = 5,
               guidance: float = 0.0, generator: torch.Generator | None = None, clip: float = 0.0
               ) -> torch.Tensor:
        """n draws (one per row of ``cond``) with ``steps`` reverse steps of the DDPM or DDIM sampler
        (x0 predictions clipped to +-``clip`` when > 0)."""
        if not 1 <= steps <= self.train_steps:
            raise ValueError(f"steps: must be in 1 .. {self.train_steps}, got {steps!r}")
        c = self._cond(n, cond)
        sched = self.scheduler(sampler, clip)
        sched.set_timesteps(steps)
        x = torch.randn(n, self.x_dim, generator=generator)
        on, off = torch.ones(n), torch.zeros(n)
        for t in sched.timesteps:
            tt = torch.full((n,), int(t), dtype=torch.long)
            if self.cond_dim and guidance:
                eps = (1.0 + guidance) * self.eps(x, tt, c, on) - guidance * self.eps(x, tt, c, off)
            else:
                eps = self.eps(x, tt, c, on if self.cond_dim else off)
            kw = {"generator": generator} if sampler == "ddpm" else {"eta": 0.0}
            x = sched.step(eps, t, x, **kw).prev_sample
        return x


class Cvae(nn.Module):
    """(Conditional) VAE with a Gaussian decoder of learned per-feature variance."""

    def __init__(self, x_dim: int, cond_dim: int = 0, latent: int = 16, hidden: int = 256):
        super().__init__()
        _check_dims(x_dim=x_dim, cond_dim=cond_dim)
        self.x_dim, self.cond_dim, self.latent = x_dim, cond_dim, latent
        self.encoder = _mlp([x_dim + cond_dim, hidden, hidden, 2 * latent])
        self.decoder = _mlp([latent + cond_dim, hidden, hidden, x_dim])
        self.log_sigma = nn.Parameter(torch.zeros(x_dim))

    def loss(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        c = torch.zeros(x.shape[0], 0) if cond is None else cond
        mu, logvar = self.encoder(torch.cat([x, c], -1)).chunk(2, -1)
        logvar = logvar.clamp(-12.0, 8.0)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        mean = self.decoder(torch.cat([z, c], -1))
        ls = self.log_sigma.clamp(-7.0, 5.0)
        nll = (0.5 * ((x - mean) / ls.exp()) ** 2 + ls + 0.5 * math.log(2 * math.pi)).sum(-1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
        return (nll + kl).mean()

    @torch.no_grad()
    def sample(self, n: int, cond: torch.Tensor | None = None, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        c = torch.zeros(n, 0) if cond is None else cond
        z = torch.randn(n, self.latent, generator=generator)
        mean = self.decoder(torch.cat([z, c], -1))
        return mean + self.log_sigma.clamp(-7.0, 5.0).exp() * torch.randn(mean.shape, generator=generator)


class Cgan(nn.Module):
    """(Conditional) GAN: generator G(z, c), discriminator D(x, c), the non-saturating loss."""

    def __init__(self, x_dim: int, cond_dim: int = 0, latent: int = 16, hidden: int = 256):
        super().__init__()
        _check_dims(x_dim=x_dim, cond_dim=cond_dim)
        self.x_dim, self.cond_dim, self.latent = x_dim, cond_dim, latent
        self.generator = _mlp([latent + cond_dim, hidden, hidden, x_dim])
        self.discriminator = _mlp([x_dim + cond_dim, hidden, hidden, 1])

    def generate(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([z, cond], -1))

    def d_loss(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Discriminator loss on real x and as many fresh fakes."""
        c = torch.zeros(x.shape[0], 0) if cond is None else cond
        with torch.no_grad():
            fake = self.generate(torch.randn(x.shape[0], self.latent), c)
        bce = nn.functional.binary_cross_entropy_with_logits
        real_logit = self.discriminator(torch.cat([x, c], -1))
        fake_logit = self.discriminator(torch.cat([fake, c], -1))
        return bce(real_logit, torch.ones_like(real_logit)) + bce(fake_logit, torch.zeros_like(fake_logit))

    def g_loss(self, n: int, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Non-saturating generator loss -log D(G(z, c)) over n fresh fakes."""
        c = torch.zeros(n, 0) if cond is None else cond
        logit = self.discriminator(torch.cat([self.generate(torch.randn(n, self.latent), c), c], -1))
        return nn.functional.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))

    @torch.no_grad()
    def sample(self, n: int, cond: torch.Tensor | None = None, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        c = torch.zeros(n, 0) if cond is None else cond
        return self.generate(torch.randn(n, self.latent, generator=generator), c)


def fit_gan(model: Cgan, x: torch.Tensor, cond: torch.Tensor | None, *, epochs: int, batch_size: int = 256,
            lr: float = 2e-4, seed: int = 0, progress=None) -> list[dict]:
    """Alternating Adam updates (beta1 0.5) of discriminator and generator; returns per-epoch losses."""
    from cfmarl.policies.offline.virtual_cmdp.training import _global_torch_rng

    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    draws = torch.Generator().manual_seed(seed + 1)
    history = []
    n = x.shape[0]
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        tot_d = tot_g = 0.0
        with _global_torch_rng(draws):
            for i in range(0, n, batch_size):
                idx = perm[i:i + batch_size]
                c = None if cond is None else cond[idx]
                d_loss = model.d_loss(x[idx], c)
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                g_loss = model.g_loss(len(idx), c)
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                tot_d += float(d_loss.detach()) * len(idx)
                tot_g += float(g_loss.detach()) * len(idx)
        row = {"epoch": epoch + 1, "d_loss": tot_d / n, "g_loss": tot_g / n}
        history.append(row)
        if progress is not None:
            progress(row)
    return history
