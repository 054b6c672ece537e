"""The hand-written window GRU equals torch.nn.GRU (outputs and weight gradients), and APS-GNN uses it."""

import pytest
import torch
from torch import nn

from cfmarl.policies.models.window_gru import window_gru


@pytest.mark.parametrize("M,L,H", [(257, 4, 32), (64, 1, 8), (33, 7, 16)])
def test_matches_torch_gru(M, L, H):
    torch.manual_seed(M + L)
    gru = nn.GRU(1, H, batch_first=True)
    x = torch.randn(M, L) * 2
    w = torch.randn(M, H)  # a non-uniform upstream gradient
    _, h_ref = gru(x.unsqueeze(-1))
    (h_ref[-1] * w).sum().backward()
    g_ref = {k: p.grad.clone() for k, p in gru.named_parameters()}
    gru.zero_grad()
    h = window_gru(gru, x)
    (h * w).sum().backward()
    torch.testing.assert_close(h, h_ref[-1], rtol=0, atol=1e-6)
    for k, p in gru.named_parameters():
        torch.testing.assert_close(p.grad, g_ref[k], rtol=1e-4, atol=1e-5, msg=k)
    with torch.no_grad():
        torch.testing.assert_close(window_gru(gru, x), h_ref[-1].detach(), rtol=0, atol=1e-6)


def test_frozen_weights_and_bad_configs():
    gru = nn.GRU(1, 4, batch_first=True)
    for p in gru.parameters():
        p.requires_grad_(False)
    x = torch.randn(5, 3)
    assert not window_gru(gru, x).requires_grad
    with pytest.raises(ValueError, match="input_size 1"):
        window_gru(nn.GRU(2, 4), x)
    with pytest.raises(ValueError, match="1-layer"):
        window_gru(nn.GRU(1, 4, num_layers=2), x)
