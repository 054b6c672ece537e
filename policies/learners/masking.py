"""Means over real samples of the learners' losses (padding nodes and artificial steps masked out)."""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over entries where ``w`` (broadcastable, 0/1) is set."""
    w = w.to(x.dtype).expand_as(x)
    return (x * w).sum() / w.sum().clamp_min(1.0)
