"""Graph-mode off-policy actor-critic modules (SAC, and DDPG / TD3): decentralised actors,
node-level or centralised critics.

The actor is the PPO model's (:mod:`graph_actor_critic`): :class:`GraphSAC` runs the
GRU + relational-attention backbone of :class:`GraphActorCritic` (each node sees its
``rounds``-hop neighbourhood, nothing else) and :class:`CentralSAC` the central agent's
MLP / DeepSets body; both emit per-node parameters of a reparameterisable head
(squashed Gaussian by default, or Beta). The value heads of the PPO models are dropped.

Critics (``model.critic``), three of them: twin reward Q-networks and a cost Q-network
with one output per constraint, each with a Polyak-averaged target copy. A critic
reads every node's row ``[x_i, a_i]`` (observation features and the action scaled to
[-1, 1]) of one env step:

* ``local``: Q_i = MLP(x_i, a_i) - independent critics (each node's own row only);
* ``meanfield``: h_i = MLP(x_i, a_i); Q_i = MLP(h_i, mean_j h_j) - every node's
  observation and action through a permutation-invariant mean, O(N);
* ``attention`` (MASAC): h_i = MLP(x_i, a_i), then ``critic_rounds`` blocks of masked
  multi-head self-attention over all real nodes of the step, Q_i = linear(h_i) -
  the centralised critic of multi-agent SAC, O(N^2) memory per step.

Graph mode gives per-node heads Q_i (local credit for node i's reward and cost);
the central agent reads the masked mean of the rows into one team Q. Padding rows
(``node_mask`` 0) are masked out of the attention and the means, and their Q is 0.

:meth:`q_values` evaluates (twin, cost) critics; ``_forward_train`` returns everything
the SAC-Lagrangian loss needs (:mod:`cfmarl.policies.learners.sac_lagrangian`).
:class:`GraphTD3` / :class:`CentralTD3` use the same critics (``twin_q`` False: one, DDPG)
with a deterministic actor (head ``deterministic``) and a Polyak-averaged target actor
(:mod:`cfmarl.policies.learners.td3_lagrangian`).
"""

from __future__ import annotations

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, QNetAPI, TargetNetworkAPI
from torch import nn

from cfmarl.policies.heads import PerNodeHybrid, PerNodeNoisyDeterministic
from cfmarl.policies.models.graph_actor_critic import CentralActorCritic, GraphActorCritic

CRITICS = ("local", "meanfield", "attention")
CRITIC_NETS = ("q1", "q2", "qc")

# forward_train outputs
Q1, Q2, QC = "q1", "q2", "qc"  # critics at the stored action: (B, N) / (B, N, C) per node, (B,) / (B, C) team
Q1_PI, Q2_PI, QC_PI = "q1_pi", "q2_pi", "qc_pi"  # critics at a fresh reparameterised action (frozen critics)
LOGP_PI = "logp_pi"  # log-probability of that action: (B, N) per node, (B,) joint
A_PI = "a_pi"  # that action itself (B, N, A): the actor's action regulariser (algorithm.action_l2) reads it
Q_NEXT, QC_NEXT, LOGP_NEXT = "q_next", "qc_next", "logp_next"  # target critics and logp at s', a' ~ pi(s')


def _masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of rows h (B, N, H) over the rows where mask (B, N) is set -> (B, H)."""
    m = mask[..., None]
    return (h * m).sum(-2) / m.sum(-2).clamp(min=1.0)


class NodeCritic(nn.Module):
    """Q over one env step's node rows [x_i, a_i]: per-node outputs (B, N, out) or a team output (B, out)."""

    def __init__(self, in_dim: int, hidden: int, out: int, kind: str = "attention", rounds: int = 2,
                 heads: int = 4, team: bool = False):
        super().__init__()
        if kind not in CRITICS:
            raise ValueError(f"model.critic: must be one of {', '.join(CRITICS)}; got {kind!r}")
        self.kind, self.team = kind, team
        self.rows = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        if kind == "meanfield":
            self.mix = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU())
        elif kind == "attention":
            heads = heads if hidden % heads == 0 else 1
            self.attn = nn.ModuleList(nn.MultiheadAttention(hidden, heads, batch_first=True) for _ in range(rounds))
            self.ff = nn.ModuleList(nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU()) for _ in range(rounds))
            self.norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(2 * rounds))
        self.out = nn.Linear(hidden, out)

    def forward(self, rows: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lead = rows.shape[:-2]
        rows = rows.reshape(-1, *rows.shape[-2:])
        mask = mask.reshape(-1, mask.shape[-1]).to(rows.dtype)
        h = self.rows(rows) * mask[..., None]
        if self.kind == "meanfield":
            ctx = _masked_mean(h, mask)[:, None, :].expand_as(h)
            h = self.mix(torch.cat([h, ctx], -1)) * mask[..., None]
        elif self.kind == "attention":
            pad = mask < 0.5
            pad = pad & ~pad.all(-1, keepdim=True)  # a step with no real node attends to itself (output masked)
            for i, (attn, ff) in enumerate(zip(self.attn, self.ff)):
                a, _ = attn(h, h, h, key_padding_mask=pad, need_weights=False)
                h = self.norm[2 * i](h + a)
                h = self.norm[2 * i + 1](h + ff(h)) * mask[..., None]
        if self.team:
            return self.out(_masked_mean(h, mask)).reshape(*lead, -1)
        return (self.out(h) * mask[..., None]).reshape(*lead, rows.shape[-2], -1)


class _SACParts(InferenceOnlyAPI, TargetNetworkAPI, QNetAPI):
    """Critics, targets and the SAC forward pass on top of a PPO graph / central actor."""

    values_at_sampling = False  # off-policy: no state values while sampling

    def _setup_sac(self) -> None:
        deterministic = isinstance(self.head, type) and issubclass(self.head, PerNodeNoisyDeterministic)
        if deterministic != isinstance(self, _TD3Parts):
            raise ValueError("model.action_head: 'deterministic' is the head of DDPG / TD3, and those need it")
        if isinstance(self.head, type) and issubclass(self.head, PerNodeHybrid):
            raise ValueError("model.action_head: SAC needs a reparameterisable head (squashed_gaussian or beta); "
                             "the hybrid head's categorical parts have no reparameterised sample")
        if getattr(self.head, "discrete", False):
            raise ValueError("SAC learners need continuous actions; this env's actions are discrete")
        self.vf = None  # the PPO models' value heads are not used by SAC
        self.cf = None
        mc = self.model_config
        self.action_dim = int(self.action_space.shape[-1])
        low = torch.as_tensor(self.action_space.low[0], dtype=torch.float32)
        high = torch.as_tensor(self.action_space.high[0], dtype=torch.float32)
        self.register_buffer("_act_low", low, persistent=False)
        self.register_buffer("_act_span", high - low, persistent=False)
        self.critic_kind = mc.get("critic", "attention")
        if self.critic_kind not in CRITICS:
            raise ValueError(f"model.critic: must be one of {', '.join(CRITICS)}; got {self.critic_kind!r}")
        if self.inference_only:
            return
        hidden = int(mc.get("critic_hidden", mc.get("hidden", 64)))
        rounds = int(mc.get("critic_rounds", 2))
        team = not self.per_node_critic
        make = lambda out: NodeCritic(self.n_features + self.action_dim, hidden, out, self.critic_kind,  # noqa: E731
                                      rounds, team=team)
        self.twin_q = bool(mc.get("twin_q", True))
        self.q1, self.qc = make(1), make(self.n_costs)
        self.q2 = make(1) if self.twin_q else None

    # -- critics ------------------------------------------------------------------------
    def _rows(self, obs: dict, actions: torch.Tensor) -> torch.Tensor:
        a = 2.0 * (actions.to(obs["x"].dtype) - self._act_low) / self._act_span - 1.0
        return torch.cat([obs["x"], a], -1)

    def q_values(self, obs: dict, actions: torch.Tensor, nets=None) -> tuple[torch.Tensor, ...]:
        """(Q1, Q2, Qc) of ``actions`` in ``obs`` with the critics ``nets`` (default: the online ones)."""
        q1, q2, qc = nets or (self.q1, self.q2, self.qc)
        rows, mask = self._rows(obs, actions), obs["node_mask"]
        v1 = q1(rows, mask).squeeze(-1)
        return v1, (q2(rows, mask).squeeze(-1) if q2 is not None else v1), qc(rows, mask)

    def compute_q_values(self, batch):  # QNetAPI
        return {"qf_preds": self.q_values(batch[Columns.OBS], batch[Columns.ACTIONS])[0]}

    def make_target_networks(self) -> None:
        self._target_q1 = make_target_network(self.q1)
        self._target_q2 = make_target_network(self.q2) if self.q2 is not None else None
        self._target_qc = make_target_network(self.qc)

    def get_target_network_pairs(self):
        return [(m, t) for m, t in ((self.q1, self._target_q1), (self.q2, self._target_q2), (self.qc, self._target_qc))
                if m is not None]

    def forward_target(self, batch):
        q1, q2, qc = self.q_values(batch[Columns.OBS], batch[Columns.ACTIONS],
                                   (self._target_q1, self._target_q2, self._target_qc))
        return {"q_target": torch.minimum(q1, q2), "qc_target": qc}

    def get_non_inference_attributes(self) -> list[str]:
        return list(CRITIC_NETS)

    def critic_parameters(self) -> list[nn.Parameter]:
        return [p for n in CRITIC_NETS if getattr(self, n) is not None for p in getattr(self, n).parameters()]

    def actor_children(self) -> dict[str, nn.Module]:
        """The actor's own layers (everything but the critics and the target copies), by attribute name."""
        return {n: c for n, c in self.named_children() if n not in CRITIC_NETS and not n.startswith("_target")}

    def actor_parameters(self) -> list[nn.Parameter]:
        return [p for c in self.actor_children().values() for p in c.parameters()]

    # -- policy -------------------------------------------------------------------------
    def _policy(self, obs: dict):
        return self.head.from_logits(self.pi(self.embed({Columns.OBS: obs})))

    def _joint(self, logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-node log-probabilities (B, N), or the joint one (B,) for the central agent."""
        return logp * mask if self.per_node_critic else (logp * mask).sum(-1)

    def _forward_train(self, batch, **kwargs):
        obs, nobs = batch[Columns.OBS], batch[Columns.NEXT_OBS]
        mask = obs["node_mask"].to(obs["x"].dtype)
        dist_in = self.pi(self.embed(batch))
        a_pi, logp_pi = _rsample_and_logp(self.head.from_logits(dist_in))
        out = {Columns.ACTION_DIST_INPUTS: dist_in, LOGP_PI: self._joint(logp_pi, mask), A_PI: a_pi}
        out[Q1], out[Q2], out[QC] = self.q_values(obs, batch[Columns.ACTIONS])
        critics = self.critic_parameters()
        for p in critics:  # the actor's loss must not write into the critics' gradients
            p.requires_grad_(False)
        try:
            out[Q1_PI], out[Q2_PI], out[QC_PI] = self.q_values(obs, a_pi)
        finally:
            for p in critics:
                p.requires_grad_(True)
        with torch.no_grad():
            a_next, logp_next = _sample_and_logp(self._policy(nobs))
            target = self.forward_target({Columns.OBS: nobs, Columns.ACTIONS: a_next})
            out[Q_NEXT], out[QC_NEXT] = target["q_target"], target["qc_target"]
            out[LOGP_NEXT] = self._joint(logp_next, nobs["node_mask"].to(logp_next.dtype))
        return out


def _rsample_and_logp(dist):
    if hasattr(dist, "rsample_and_logp"):
        return dist.rsample_and_logp()
    a = dist.rsample()
    return a, dist.logp(a)


def _sample_and_logp(dist):
    if hasattr(dist, "sample_and_logp"):
        return dist.sample_and_logp()
    a = dist.sample()
    return a, dist.logp(a)


class _TD3Parts(_SACParts):
    """DDPG / TD3 on the same critics: a deterministic actor (the ``deterministic`` head), a Polyak-
    averaged target actor, and target policy smoothing (TD3: clipped Gaussian noise on a')."""

    def make_target_networks(self) -> None:
        super().make_target_networks()
        view = _ActorView(self.actor_children())
        object.__setattr__(self, "_pi_view", view)  # the live actor, not registered twice
        self._target_pi = make_target_network(view)

    def get_target_network_pairs(self):
        return super().get_target_network_pairs() + [(self._pi_view, self._target_pi)]

    def _target_action_mean(self, obs: dict) -> torch.Tensor:
        params = {f"m.{k}": v for k, v in self._target_pi.named_parameters()}
        logits = torch.func.functional_call(_ActorFn(self), params, (obs,), strict=False)
        return self.head.from_logits(logits).mean

    def _forward_train(self, batch, **kwargs):
        obs, nobs = batch[Columns.OBS], batch[Columns.NEXT_OBS]
        dist_in = self.pi(self.embed(batch))
        a_pi = self.head.from_logits(dist_in).mean
        out = {Columns.ACTION_DIST_INPUTS: dist_in, A_PI: a_pi}
        out[Q1], out[Q2], out[QC] = self.q_values(obs, batch[Columns.ACTIONS])
        critics = self.critic_parameters()
        for p in critics:
            p.requires_grad_(False)
        try:
            out[Q1_PI], _, out[QC_PI] = self.q_values(obs, a_pi)
        finally:
            for p in critics:
                p.requires_grad_(True)
        with torch.no_grad():
            mean = self._target_action_mean(nobs)
            half = 0.5 * self._act_span
            sigma, clip = float(self.model_config.get("target_noise", 0.0)), float(
                self.model_config.get("target_noise_clip", 0.0))
            noise = torch.maximum(torch.minimum(sigma * half * torch.randn_like(mean), clip * half), -clip * half)
            a_next = torch.minimum(torch.maximum(mean + noise, self._act_low), self._act_low + self._act_span)
            target = self.forward_target({Columns.OBS: nobs, Columns.ACTIONS: a_next})
            out[Q_NEXT], out[QC_NEXT] = target["q_target"], target["qc_target"]
        return out


class _ActorView(nn.Module):
    """The actor's layers under their attribute names (so a copy's state dict matches the module's)."""

    def __init__(self, children: dict[str, nn.Module]):
        super().__init__()
        for name, child in children.items():
            self.add_module(name, child)


class _ActorFn(nn.Module):
    """obs -> the actor's head parameters, for evaluating the module with the target actor's weights."""

    def __init__(self, module):
        super().__init__()
        self.m = module

    def forward(self, obs):
        return self.m.pi(self.m.embed({Columns.OBS: obs}))


class GraphTD3(_TD3Parts, GraphActorCritic):
    """Per-node deterministic actors (DDPG / TD3) with node-level critics."""

    def setup(self):
        super().setup()
        self._setup_sac()


class CentralTD3(_TD3Parts, CentralActorCritic):
    """The central agent's deterministic actor (DDPG / TD3) with team critics."""

    def setup(self):
        super().setup()
        self._setup_sac()


class GraphSAC(_SACParts, GraphActorCritic):
    """Decentralised per-node actors (k-hop GNN or per-node MLP) with node-level critics (MASAC)."""

    def setup(self):
        super().setup()
        self._setup_sac()


class CentralSAC(_SACParts, CentralActorCritic):
    """The central agent: one joint actor (MLP or DeepSets over the state) with team critics."""

    def setup(self):
        super().setup()
        self._setup_sac()
