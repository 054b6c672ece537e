"""Relational attention message passing: one TransformerConv per edge type.

    h_i' = ReLU( mean_r  TransformerConv_r(h, E_r)_i )
    TransformerConv_r(h)_i = W_skip,r h_i + sum_{j in N_r(i)} alpha_ij W_v,r h_j,
    alpha_ij = softmax_j( (W_q,r h_i)^T (W_k,r h_j) / sqrt(d) )

Single-head softmax attention weights each message (a weighted average over the
neighbours of relation r), relations are averaged, then ReLU: the "attention-
based graph convolution" of aps_gnn Sec. IV-B (after Shi et al. 2021, as used
by Parlier et al. 2024). Nodes without neighbours of a relation keep their
skip term.

Fast path for cliques: when a relation's edges are exactly a set of disjoint,
equal-size cliques without self-loops (same-AP and same-UE links in AP
selection), the same layer - the same TransformerConv weights - is computed
densely per group (batched matmuls instead of gathers and scatters over every
edge), which is ~10x faster on CPU. :func:`clique_groups` detects the structure;
the test suite checks that both paths give the same output.

Shapes: x (B, N, d_in); relations: list of ``Relation``; output (B, N, d_out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import nn
from torch_geometric.nn import TransformerConv


def clique_groups(edge_index: np.ndarray, num_nodes: int) -> tuple[np.ndarray, int] | None:
    """If the directed edges form disjoint cliques of one size s >= 2 covering all
    ``num_nodes`` nodes (every ordered pair within a group, no self-loops, no
    duplicates), return (perm, s) with the nodes of each group contiguous in perm.
    Otherwise None."""
    e = np.asarray(edge_index)
    if e.size == 0 or np.any(e[0] == e[1]):
        return None
    adj = coo_matrix((np.ones(e.shape[1]), (e[0], e[1])), shape=(num_nodes, num_nodes)).tocsr()
    if adj.nnz != e.shape[1]:  # duplicate edges
        return None
    n_comp, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels)
    s = int(sizes[0])
    if s < 2 or np.any(sizes != s) or e.shape[1] != n_comp * s * (s - 1):
        return None
    if np.any(labels[e[0]] != labels[e[1]]):
        return None
    return np.argsort(labels, kind="stable"), s


@dataclass
class Relation:
    """Edges of one relation for a batch of graphs: sparse edge_index over B*N nodes,
    or the clique grouping (perm over N nodes, group size) for the dense path.
    ``layout`` says how cheaply the grouping can be applied: "identity" (groups are
    already contiguous), "transpose" (perm = arange(n).reshape(-1, s).T: a view) or
    "gather" (any other permutation)."""

    edge_index: torch.Tensor | None = None
    perm: torch.Tensor | None = None
    group_size: int = 0
    layout: str = "gather"


def clique_layout(perm: np.ndarray, group_size: int) -> str:
    n = perm.shape[0]
    if np.array_equal(perm, np.arange(n)):
        return "identity"
    if n % group_size == 0 and np.array_equal(perm, np.arange(n).reshape(group_size, n // group_size).T.ravel()):
        return "transpose"
    return "gather"


class RelationalAttention(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, num_relations: int):
        super().__init__()
        self.in_channels, self.out_channels, self.num_relations = in_channels, out_channels, num_relations
        self.convs = nn.ModuleList(TransformerConv(in_channels, out_channels, heads=1, root_weight=True)
                                   for _ in range(num_relations))

    def reset_parameters(self) -> None:
        for conv in self.convs:
            conv.reset_parameters()

    def forward(self, x: torch.Tensor, relations: list[Relation]) -> torch.Tensor:
        B, N, _ = x.shape
        R = len(self.convs)
        dense = [conv for conv, rel in zip(self.convs, relations) if rel.perm is not None]
        total = None
        if dense:  # sum_r (W_skip,r x + b_skip,r) / R as one product (the 1/R of the mean folded into weights)
            w = torch.stack([c.lin_skip.weight for c in dense]).sum(0)
            b = torch.stack([c.lin_skip.bias for c in dense]).sum(0)
            total = nn.functional.linear(x, w / R, b / R)
        for conv, rel in zip(self.convs, relations):
            if rel.perm is not None:  # attention messages of a clique relation, scaled by 1/R
                total = total.add_(_dense_clique_messages(conv, x, rel, 1.0 / R))
            else:
                out = conv(x.reshape(B * N, -1), rel.edge_index).reshape(B, N, -1) / R
                total = out if total is None else total + out
        return torch.relu(total)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, num_relations={self.num_relations})"


def _dense_clique_messages(conv: TransformerConv, x: torch.Tensor, rel: Relation, scale: float = 1.0) -> torch.Tensor:
    """The attention messages of TransformerConv (heads=1, no edge features) on disjoint s-cliques,
    scale * sum_j alpha_ij (W_v h_j + b_v), as one fused scaled-dot-product attention over the groups;
    padding nodes (beyond the perm) get zeros. The skip term W_skip h_i + b_skip is added by the caller."""
    B, N, d = x.shape
    s, n = rel.group_size, rel.perm.shape[0]
    xr = x[:, :n]  # real nodes; padding nodes belong to no group
    if rel.layout == "gather":
        xg = xr[:, rel.perm].reshape(B, n // s, s, d)
    else:  # projections of the contiguous rows, then grouped as views (no copies; SDPA takes strides)
        xg = xr
    lin_v, lin_q, lin_k = conv.lin_value, conv.lin_query, conv.lin_key
    v = lin_v(xg) if scale == 1.0 else nn.functional.linear(xg, lin_v.weight * scale, lin_v.bias * scale)
    # q_i . k_j = u_i . h_j + q_i . b_k with u_i = W_k^T (W_q h_i + b_q); the second term does not depend on j,
    # so the softmax over j ignores it: attend with u_i against the rows h_j themselves (one product, not two).
    # Keys are then d_in-dimensional; SDPA's default 1/sqrt(key dim) is replaced by TransformerConv's 1/sqrt(d).
    q = nn.functional.linear(xg, lin_k.weight.t() @ lin_q.weight, lin_k.weight.t() @ lin_q.bias)
    k = xg
    if rel.layout == "identity":
        q, k, v = (t.view(B, n // s, s, -1) for t in (q, k, v))
    elif rel.layout == "transpose":
        q, k, v = (t.view(B, s, n // s, -1).transpose(1, 2) for t in (q, k, v))
    not_self = ~torch.eye(s, dtype=torch.bool, device=x.device)  # no self-loops
    agg = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=not_self, scale=1.0 / math.sqrt(conv.out_channels))
    if rel.layout == "identity":
        agg = agg.reshape(B, n, -1)
    elif rel.layout == "transpose":
        agg = agg.transpose(1, 2).reshape(B, n, -1)
    else:
        flat = agg.reshape(B, n, -1)
        agg = torch.empty_like(flat)
        agg[:, rel.perm] = flat
    if n == N:
        return agg
    return nn.functional.pad(agg, (0, 0, 0, N - n))
