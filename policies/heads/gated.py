"""Gated per-group Bernoulli head: binary node actions with one extra "switch the whole group off" decision.

For binary node actions (``MultiDiscrete([2] * N)``) whose nodes form groups that the env's cost or
reward treats as a unit - AP selection's links of one AP: the AP is powered (and counted as active) as
long as *any* of its links serves - independent per-node Bernoullis make the unit decision rare: switching
an AP off needs all of its s links off in the same draw, probability prod_k (1 - p_k), and a policy-gradient
signal for "AP off" reaches only the samples where that happened. This head adds a **gate** per group:

    gate ~ Bernoulli(g),   b_k ~ Bernoulli(p_k) (k = 1..s, independent),   a_k = gate * b_k.

The gate is latent (an action with every link off can come from either gate value), so the action's
probability is the mixture, exact and in closed form per group:

    P(a) = g q(a)                  if any a_k = 1,      q(a) = prod_k p_k^a_k (1 - p_k)^(1 - a_k)
    P(0) = (1 - g) + g q(0)        q(0) = prod_k (1 - p_k)

    H = -g (1 - q0) log g + g (H_q + q0 log q0) - P(0) log P(0),   H_q = sum_k H_Bernoulli(p_k)

(the outcomes a != 0 carry g q(a), the all-off outcome P(0); sum both parts of -P log P). The mode is the
per-node argmax a* when g q(a*) > P(0), else all off (when a* = 0 every outcome != 0 has probability
<= g q(0) < P(0)).

Parameters per node: (logit_off, logit_on, gate_score); p_k = softmax over the first two, the group's gate
logit is the mean of its nodes' gate scores (any node's embedding can push it; permutation-invariant within
the group). **Per-node outputs** (what the per-node PPO loss reads): ``logp`` of node k is the
log-probability of the factors its action depends on - log g + log q_k(a_k) when its group has a node on (the
gate is then known to be open), log P(0) when the group is all off (the gate is latent; every node of the
group gets the group's value). In the per-node surrogate sum_k ratio_k A_k a node's own Bernoulli thus gets
its own advantage (the credit of the categorical head) and the gate, or the all-off outcome, the sum of the
group's advantages (the group deciding as one). Summing ``logp`` over nodes is *not* log P(a) (the gate
counts s times): :meth:`joint_logp_share` gives log P(a) / s per node (behaviour cloning uses it), and the
graph-mode check allows this head only with per-node critics. ``entropy`` is the group's entropy / s
on each of its nodes: summed over nodes it is the joint entropy, as with independent nodes, so the same
``entropy_coeff`` weighs the same total entropy under either head (repeating the group's entropy on every
node would multiply the bonus by s).

Groups come from the env's graph (:func:`make_gated`: the cliques of one relation, e.g. AP selection's
same-AP relation 0), so the head names no env.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from ray.rllib.core.distribution.torch.torch_distribution import TorchDistribution

from cfmarl.policies.heads.continuous import PerNodeDeterministic

PARAMS_PER_NODE = 3


class PerNodeGated(TorchDistribution):
    """Class attributes (set by :func:`make_gated`): ``perm`` (N node indices, each group's s nodes
    contiguous) and ``group_size`` s."""

    discrete = True
    joint_groups = True  # nodes are not independent: behaviour cloning uses joint_logp_share, not a cross-entropy
    perm: tuple[int, ...] = ()
    group_size: int = 1

    @classmethod
    def required_input_dim(cls, space=None, **kwargs) -> int:
        return PARAMS_PER_NODE

    @classmethod
    def from_logits(cls, logits, **kwargs):
        return cls(logits)

    def __init__(self, logits: torch.Tensor):
        self.logits = logits
        super().__init__(logits)

    def _get_torch_distribution(self, logits):
        n = len(self.perm)
        if logits.shape[-2] != n or logits.shape[-1] != PARAMS_PER_NODE:
            raise ValueError(f"gated head: expected (..., {n}, {PARAMS_PER_NODE}) parameters, got "
                             f"{tuple(logits.shape)}")
        self._perm = torch.as_tensor(self.perm, device=logits.device)
        g = self._by_group(logits, 1)  # (..., G, s, 3)
        self._log_on = F.logsigmoid(g[..., 1] - g[..., 0])  # log p_k
        self._log_off = F.logsigmoid(g[..., 0] - g[..., 1])  # log (1 - p_k)
        gate = g[..., 2].mean(-1)  # (..., G)
        self._log_g, self._log_not_g = F.logsigmoid(gate), F.logsigmoid(-gate)
        self._log_q0 = self._log_off.sum(-1)
        self._log_p0 = torch.logaddexp(self._log_not_g, self._log_g + self._log_q0)
        return None

    # ------------------------------------------------------------------ layout
    def _by_group(self, x: torch.Tensor, trailing: int) -> torch.Tensor:
        """Node-order tensor with ``trailing`` axes after the node axis -> (..., G, s, trailing...)."""
        node_axis = x.dim() - 1 - trailing
        x = x.index_select(node_axis, self._perm)
        shape = x.shape[:node_axis] + (len(self.perm) // self.group_size, self.group_size) + x.shape[node_axis + 1:]
        return x.reshape(shape)

    def _to_nodes(self, per_group: torch.Tensor) -> torch.Tensor:
        """(..., G) -> (..., N): each group's value on each of its nodes, in node order."""
        rep = per_group.repeat_interleave(self.group_size, dim=-1)  # group order
        out = torch.empty_like(rep)
        out[..., self._perm] = rep
        return out

    def _from_groups(self, per_node_in_group_order: torch.Tensor) -> torch.Tensor:
        """(..., G, s) -> (..., N) in node order."""
        flat = per_node_in_group_order.reshape(*per_node_in_group_order.shape[:-2], -1)
        out = torch.empty_like(flat)
        out[..., self._perm] = flat
        return out

    # ------------------------------------------------------------------ API
    def group_logp(self, value: torch.Tensor) -> torch.Tensor:
        """log P of each group's configuration, (..., G)."""
        a = self._by_group(value, 0).to(self._log_on.dtype)
        log_q = (a * self._log_on + (1.0 - a) * self._log_off).sum(-1)
        any_on = a.amax(-1) > 0.5
        return torch.where(any_on, self._log_g + log_q, self._log_p0)

    def logp(self, value, **kwargs):
        """Per node, the log-probability of the factors its action depends on: log g + log q_k(a_k) when its
        group has a node on (the gate is then known to be open), log P(0) when the group is all off."""
        a = self._by_group(value, 0).to(self._log_on.dtype)
        own = self._log_g[..., None] + a * self._log_on + (1.0 - a) * self._log_off  # (..., G, s)
        off = (a.amax(-1) < 0.5)[..., None]
        return self._from_groups(torch.where(off, self._log_p0[..., None].expand_as(own), own))

    def joint_logp_share(self, value) -> torch.Tensor:
        """Each group's joint log P(a_group) / s on each of its nodes: summed over nodes, log P(a) exactly
        (the behaviour-cloning likelihood)."""
        return self._to_nodes(self.group_logp(value) / self.group_size)

    def group_entropy(self) -> torch.Tensor:
        p_on = self._log_on.exp()
        h_q = -(p_on * self._log_on + (1.0 - p_on) * self._log_off).sum(-1)
        g, q0, p0 = self._log_g.exp(), self._log_q0.exp(), self._log_p0.exp()
        return -g * (1.0 - q0) * self._log_g + g * (h_q + q0 * self._log_q0) - p0 * self._log_p0

    def entropy(self):
        """Per node: its group's entropy / s, so the sum over nodes is the joint entropy (as for independent
        nodes) and an entropy coefficient means the same as with the categorical head."""
        return self._to_nodes(self.group_entropy() / self.group_size)

    def sample(self, *, sample_shape=None):
        shape = tuple(sample_shape or ())
        gate = torch.bernoulli(self._log_g.exp().expand(*shape, *self._log_g.shape))
        links = torch.bernoulli(self._log_on.exp().expand(*shape, *self._log_on.shape))
        return self._from_groups(links * gate[..., None]).long()

    def rsample(self, *, sample_shape=None):
        raise NotImplementedError("the gated head is discrete: no reparameterised sample")

    def kl(self, other):
        raise NotImplementedError("the gated head has no closed-form KL (a mixture over 2^s outcomes per group); "
                                  "use PPO without the KL loss (use_kl_loss false, the default here)")

    def mode(self) -> torch.Tensor:
        """The most probable action (see the module docstring), (..., N) int64."""
        a_star = (self._log_on > self._log_off).to(self._log_on.dtype)  # (..., G, s)
        log_q = (a_star * self._log_on + (1.0 - a_star) * self._log_off).sum(-1)
        keep = (a_star.amax(-1) > 0.5) & (self._log_g + log_q > self._log_p0)
        return self._from_groups(a_star * keep[..., None].to(a_star.dtype)).long()

    def to_deterministic(self) -> PerNodeDeterministic:
        return _Mode(self.mode())


class _Mode(PerNodeDeterministic):
    """The gated head's greedy action; ``logp`` per node (0), like the categorical head's argmax."""

    def logp(self, value, **kwargs):
        return torch.zeros(value.shape, dtype=torch.float32, device=value.device)


@functools.lru_cache(maxsize=None)
def make_gated(perm: tuple[int, ...], group_size: int) -> type[PerNodeGated]:
    """A :class:`PerNodeGated` over groups of ``group_size`` nodes, ``perm`` listing each group's nodes
    contiguously (as :func:`~cfmarl.policies.models.relational_attention.clique_groups` returns them)."""
    perm = tuple(int(i) for i in perm)
    if group_size < 1 or len(perm) % group_size or sorted(perm) != list(range(len(perm))):
        raise ValueError(f"gated head: perm must be a permutation of 0..N-1 with N a multiple of the group size "
                         f"{group_size}, got N = {len(perm)}")
    return type(f"PerNodeGated[{len(perm)}/{group_size}]", (PerNodeGated,),
                {"perm": perm, "group_size": int(group_size)})
