"""A single-layer GRU over short windows of scalar inputs, with a hand-written backward pass.

APS-GNN runs a GRU (input size 1) over every node's last H observations, starting from a
zero state, for every sample: B x N sequences of H = 4 steps, a few thousand to a few
hundred thousand per minibatch. ``torch.nn.GRU`` on CPU builds an autograd graph of ~20
small ops per step and concatenates gate gradients in its backward; profiled on APS medium
it took ~35 % of a PPO minibatch update. This function computes exactly the same recurrence
(PyTorch's GRU equations and parameter layout, so ``nn.GRU`` weights and checkpoints are
used as they are):

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z_t) * n_t + z_t * h_{t-1},          h_0 = 0

with the input projections of all steps in one broadcast op (the input is a scalar), the
first step's hidden product skipped (h_0 = 0), the gates kept for the backward pass, and the
weight gradients of all steps as one matrix product at the end. No gradient flows to the
input (it is an observation). ``tests/learning/test_window_gru.py`` checks outputs and
gradients against ``nn.GRU``.
"""

from __future__ import annotations

import torch
from torch import nn


def _tanh(a: torch.Tensor) -> torch.Tensor:
    """tanh(a) = 2 sigmoid(2a) - 1: torch's CPU tanh is ~7x slower than its sigmoid here (measured on
    AVX-512, torch 2.13); the two agree to ~1e-7 absolute."""
    return torch.sigmoid(a * 2).mul_(2).sub_(1)


class _WindowGRU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh):
        """x (M, L) scalar inputs, oldest first; returns h_L (M, H)."""
        M, L = x.shape
        H = w_hh.shape[1]
        xt = x.t().unsqueeze(-1)  # (L, M, 1)
        # per gate (r, z, n): input projections of every step (L, M, H), hidden weights (H, H)
        gi = [torch.addcmul(b_ih[g * H:(g + 1) * H], xt, w_ih[g * H:(g + 1) * H, 0]) for g in range(3)]
        w = [w_hh[g * H:(g + 1) * H] for g in range(3)]
        b = [b_hh[g * H:(g + 1) * H] for g in range(3)]
        save = any(ctx.needs_input_grad[1:])
        h = None
        hs, rs, zs, ns, ghns = [], [], [], [], []
        for t in range(L):
            if h is None:  # h_0 = 0: the hidden products are the biases
                r = torch.sigmoid(gi[0][t] + b[0])
                z = torch.sigmoid(gi[1][t] + b[1])
                ghn = b[2].expand(M, H)
                n = _tanh(torch.addcmul(gi[2][t], r, ghn))
                h_new = n - z * n
            else:
                r = torch.sigmoid(torch.addmm(b[0], h, w[0].t()).add_(gi[0][t]))
                z = torch.sigmoid(torch.addmm(b[1], h, w[1].t()).add_(gi[1][t]))
                ghn = torch.addmm(b[2], h, w[2].t())
                n = _tanh(torch.addcmul(gi[2][t], r, ghn))
                h_new = torch.lerp(n, h, z)  # n + z (h - n)
            if save:
                hs.append(h)
                rs.append(r)
                zs.append(z)
                ns.append(n)
                ghns.append(ghn)
            h = h_new
        if save:
            ctx.save_for_backward(x, w_hh)
            ctx.gates = (hs, rs, zs, ns, ghns)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        x, w_hh = ctx.saved_tensors
        hs, rs, zs, ns, ghns = ctx.gates
        del ctx.gates
        M, L = x.shape
        H = w_hh.shape[1]
        w = [w_hh[g * H:(g + 1) * H] for g in range(3)]
        d_gi = [grad_h.new_empty(L, M, H) for _ in range(3)]  # per gate, d(input projection)
        d_ghn = grad_h.new_empty(L, M, H)  # d(W_hn h + b_hn); for r and z it equals d_gi
        dh = grad_h.contiguous()
        for t in range(L - 1, -1, -1):
            r, z, n, ghn = rs[t], zs[t], ns[t], ghns[t]
            dn_pre = torch.mul(dh - dh * z, 1 - n * n, out=d_gi[2][t])  # through n_t and its tanh
            if hs[t] is None:
                dz = -dh * n
            else:
                dz = dh * (hs[t] - n)
            torch.mul(dz, z - z * z, out=d_gi[1][t])
            torch.mul(dn_pre * ghn, r - r * r, out=d_gi[0][t])
            torch.mul(dn_pre, r, out=d_ghn[t])
            if t > 0:
                dh = torch.addmm(dh * z, d_gi[0][t], w[0])
                dh.addmm_(d_gi[1][t], w[1]).addmm_(d_ghn[t], w[2])
        d_gh = (d_gi[0], d_gi[1], d_ghn)
        g_w_ih = g_b_ih = g_w_hh = g_b_hh = None
        if ctx.needs_input_grad[1]:
            xt = x.t()
            g_w_ih = torch.cat([torch.einsum("lmh,lm->h", d, xt) for d in d_gi]).unsqueeze(1)
        if ctx.needs_input_grad[3]:
            g_b_ih = torch.cat([d.sum((0, 1)) for d in d_gi])
        if ctx.needs_input_grad[4]:
            g_b_hh = torch.cat([d.sum((0, 1)) for d in d_gh])
        if ctx.needs_input_grad[2]:
            if L > 1:  # h_0 = 0 contributes nothing
                h_prev = torch.stack(hs[1:]).reshape(-1, H)
                g_w_hh = torch.cat([d[1:].reshape(-1, H).t() @ h_prev for d in d_gh])
            else:
                g_w_hh = torch.zeros_like(w_hh)
        return None, g_w_ih, g_w_hh, g_b_ih, g_b_hh


def window_gru(gru: nn.GRU, x: torch.Tensor) -> torch.Tensor:
    """Final hidden state of ``gru`` (1 layer, input size 1, bias, unidirectional) over the rows of
    ``x`` (M, L), each a window of L scalars oldest first, from a zero state; (M, hidden)."""
    if gru.num_layers != 1 or gru.input_size != 1 or not gru.bias or gru.bidirectional:
        raise ValueError("window_gru: needs a 1-layer, unidirectional nn.GRU with input_size 1 and biases")
    return _WindowGRU.apply(x.detach(), gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
