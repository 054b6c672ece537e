"""Temporal U-Net noise model and its down-sampling half as the return classifier (MA-CDMP Sec. VI-A,
after Janner et al.'s Diffuser): 1-D convolutions over the planning horizon, one residual block per level
(the paper: 8 blocks = 4 down + 4 up), the diffusion step's sinusoidal embedding injected into the first
convolution of every block, GroupNorm + Mish. Input and output (R, C, H): R sequences of C features over H
steps; H must be divisible by 2^(levels - 1)."""

from __future__ import annotations

import math

import torch
from torch import nn


def step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer diffusion steps t (R,) -> (R, dim)."""
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / max(half - 1, 1))
    arg = t.float()[:, None] * freq[None, :]
    return torch.cat([arg.sin(), arg.cos()], -1)


def _groups(c: int) -> int:
    return next(g for g in (8, 4, 2, 1) if c % g == 0)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int, kernel: int):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, kernel, padding=kernel // 2)
        self.norm1 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = nn.Conv1d(cout, cout, kernel, padding=kernel // 2)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.emb = nn.Sequential(nn.Mish(), nn.Linear(emb, cout))
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()
        self.act = nn.Mish()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm1(self.conv1(x) + self.emb(e)[..., None]))
        h = self.act(self.norm2(self.conv2(h)))
        return h + self.skip(x)


class _Embed(nn.Module):
    def __init__(self, base: int):
        super().__init__()
        self.base = base
        self.mlp = nn.Sequential(nn.Linear(base, 4 * base), nn.Mish(), nn.Linear(4 * base, 4 * base))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(step_embedding(t, self.base))


def check_horizon(horizon: int, levels: int) -> None:
    from cfmarl.envs.validation import ConfigError

    if horizon < 2 or horizon % (2 ** (levels - 1)):
        raise ConfigError(f"algorithm.options.horizon: must be >= 2 and divisible by 2^(levels - 1) = "
                          f"{2 ** (levels - 1)} for {levels} U-Net levels (algorithm.options.dims), got {horizon}")


class _Down(nn.Module):
    """The down-sampling path: a residual block per level, a strided convolution between levels."""

    def __init__(self, channels: int, dims: list[int], kernel: int):
        super().__init__()
        self.embed = _Embed(dims[0])
        emb = 4 * dims[0]
        ins = [channels, *dims[:-1]]
        self.blocks = nn.ModuleList(ResBlock(a, b, emb, kernel) for a, b in zip(ins, dims))
        self.downs = nn.ModuleList(nn.Conv1d(d, d, 3, stride=2, padding=1) for d in dims[:-1])
        self.mid = ResBlock(dims[-1], dims[-1], emb, kernel)

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        e = self.embed(t)
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x, e)
            skips.append(x)
            if i < len(self.downs):
                x = self.downs[i](x)
        return self.mid(x, e), skips, e


class TemporalUNet(nn.Module):
    """eps_theta(x_k, k): (R, C, H), (R,) -> (R, C, H)."""

    def __init__(self, channels: int, dims: list[int], kernel: int = 5):
        super().__init__()
        self.down = _Down(channels, dims, kernel)
        emb = 4 * dims[0]
        rev = dims[::-1]
        outs = [*rev[1:], rev[-1]]  # block i: (its h, the skip of its level) = 2 rev[i] -> rev[i + 1]
        self.blocks = nn.ModuleList(ResBlock(2 * d, o, emb, kernel) for d, o in zip(rev, outs))
        self.ups = nn.ModuleList(nn.ConvTranspose1d(o, o, 4, stride=2, padding=1) for o in outs[:-1])
        self.out = nn.Sequential(nn.Conv1d(dims[0], dims[0], kernel, padding=kernel // 2), nn.Mish(),
                                 nn.Conv1d(dims[0], channels, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, skips, e = self.down(x, t)
        for i, block in enumerate(self.blocks):
            h = block(torch.cat([h, skips[-1 - i]], 1), e)
            if i < len(self.ups):
                h = self.ups[i](h)
        return self.out(h)


class ReturnClassifier(nn.Module):
    """J_psi(x_k, k): the U-Net's down-sampling half, pooled over time, then a linear layer -> (R,)."""

    def __init__(self, channels: int, dims: list[int], kernel: int = 5):
        super().__init__()
        self.down = _Down(channels, dims, kernel)
        self.head = nn.Sequential(nn.Linear(dims[-1], dims[-1]), nn.Mish(), nn.Linear(dims[-1], 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, _, _ = self.down(x, t)
        return self.head(h.mean(-1)).squeeze(-1)
