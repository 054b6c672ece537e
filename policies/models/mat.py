"""Multi-Agent Transformer with dual per-node critics (MAT-Lagr: aps_gnn Sec. V-C, after Wen et al. 2022,
"Multi-Agent Reinforcement Learning is a Sequence Modeling Problem").

Encoder: each node's observation row is a token (linear + GELU + LayerNorm); ``rounds`` pre-LN blocks of
unmasked self-attention over every real node (the global state; padded nodes are masked out) and an MLP give
the per-node representation o_i. A per-node reward value and per-node cost values read o_i (the same local
reward and cost, and the same MAPPO-Lagrangian, as APS-GNN: Sec. V-C "similarities"). With ``cost_encoder``
(the paper's MAT-Lagr) a second encoder of the same shape gives c_i, the cost values read c_i instead, and the
decoder reads fuse([o_i, c_i]) (a linear layer) where it reads o_i otherwise.

Decoder: autoregressive over the nodes in their index order. Node i's token is the embedding of the action
of node i-1 (a start token for node 0) plus o_i (or the fused one); ``rounds`` blocks of causal self-attention, cross-attention
to every o_j and an MLP give node i's logits, so pi(a) = prod_i pi(a_i | o, a_<i). Training evaluates every
node at once with the taken actions (teacher forcing: the exact factorised log-probability); acting decodes
node by node - N sequential steps with cached keys and values -, the latency the paper's Fig. 10 measures.
No positional encoding (as MAT): the weights do not depend on the number of nodes.

Discrete per-node actions (categorical head) only; ``model.mode: central, encoder: mat``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ray.rllib.core.columns import Columns
from torch import nn

from cfmarl.policies.models.graph_actor_critic import COST_VF_PREDS, _GraphModuleBase, scale_final_layer

HEADS = 1  # attention heads (MAT's default configuration)


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int):
        super().__init__()
        self.heads, self.d = heads, hidden // heads
        self.q, self.k, self.v, self.o = (nn.Linear(hidden, hidden) for _ in range(4))

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, H) -> (B, heads, L, d)
        return x.view(x.shape[0], x.shape[1], self.heads, self.d).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask=None) -> torch.Tensor:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.o(out.transpose(1, 2).reshape(q.shape[0], q.shape[2], self.heads * self.d))

    def forward(self, x: torch.Tensor, kv: torch.Tensor, mask=None) -> torch.Tensor:
        return self.attend(self.split(self.q(x)), self.split(self.k(kv)), self.split(self.v(kv)), mask)


def _mlp(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, hidden))


class _EncoderBlock(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.attn, self.mlp = _Attention(hidden, HEADS), _mlp(hidden)

    def forward(self, x, key_mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, key_mask)
        return x + self.mlp(self.ln2(x))


class _DecoderBlock(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(hidden), nn.LayerNorm(hidden), nn.LayerNorm(hidden)
        self.self_attn, self.cross, self.mlp = _Attention(hidden, HEADS), _Attention(hidden, HEADS), _mlp(hidden)

    def forward(self, y, enc, causal, key_mask):
        h = self.ln1(y)
        y = y + self.self_attn(h, h, causal)
        y = y + self.cross(self.ln2(y), enc, key_mask)
        return y + self.mlp(self.ln3(y))

    def decoding(self, enc: torch.Tensor, key_mask: torch.Tensor):
        """This block for node-by-node decoding: ``step(y, i)`` maps node i's rows y (B, H) to the block's output
        rows, attending to itself and the nodes stepped before it (their keys and values are cached in buffers
        for all N positions) and across to every row of ``enc`` (B, N, H). Each product is the call the block's
        modules make on a (B, 1, H) token - ``torch.addmm(bias, x, weight.t())`` is what ``F.linear`` runs -, so
        the logits equal those of decoding through the module calls bit for bit (recorded runs replay); working on 2-D rows with the weights' views taken once
        skips ~40 reshapes, transposes and module calls a node (one env's decision 1.6x faster at large, 1.7x at
        medium: benchmarks/results/aps/README.md)."""
        B, N, _ = enc.shape
        a, c, heads, d = self.self_attn, self.cross, self.self_attn.heads, self.self_attn.d
        (qb, qw), (kb, kw), (vb, vw), (ob, ow), (cqb, cqw), (cob, cow), (m1b, m1w), (m2b, m2w) = (
            (lin.bias, lin.weight.t()) for lin in (a.q, a.k, a.v, a.o, c.q, c.o, self.mlp[0], self.mlp[2]))
        ln1, ln2, ln3 = ((ln.normalized_shape, ln.weight, ln.bias, ln.eps) for ln in (self.ln1, self.ln2, self.ln3))
        enc_k, enc_v = c.split(c.k(enc)), c.split(c.v(enc))
        keys, values = enc.new_empty(B, heads, N, d), enc.new_empty(B, heads, N, d)  # growing them copies O(N^2)

        def step(y: torch.Tensor, i: int) -> torch.Tensor:
            h = F.layer_norm(y, *ln1)
            keys[:, :, i] = torch.addmm(kb, h, kw).view(B, heads, d)
            values[:, :, i] = torch.addmm(vb, h, vw).view(B, heads, d)
            q = torch.addmm(qb, h, qw).view(B, heads, 1, d)  # one token: (B, 1, heads, d) transposed is this view
            att = F.scaled_dot_product_attention(q, keys[:, :, :i + 1], values[:, :, :i + 1])
            y = y + torch.addmm(ob, att.view(B, heads * d), ow)
            q = torch.addmm(cqb, F.layer_norm(y, *ln2), cqw).view(B, heads, 1, d)
            att = F.scaled_dot_product_attention(q, enc_k, enc_v, attn_mask=key_mask)
            y = y + torch.addmm(cob, att.view(B, heads * d), cow)
            return y + torch.addmm(m2b, F.gelu(torch.addmm(m1b, F.layer_norm(y, *ln3), m1w)), m2w)

        return step


class MATActorCritic(_GraphModuleBase):
    """MAT-Lagr: transformer encoder (per-node values), autoregressive transformer decoder (per-node actions)."""

    per_node_critic = True
    autoregressive = True  # acting samples node by node; controllers read Columns.ACTIONS

    def setup(self):
        self._spaces()
        if not getattr(self.head, "discrete", False):
            raise ValueError("model.encoder: 'mat' decodes discrete per-node actions (a categorical head); "
                             f"this action space needs {self.head.__name__}")
        mc = self.model_config
        self.hidden, self.blocks = int(mc.get("hidden", 64)), int(mc.get("rounds", 2))
        self.n_act = self.head_dim  # actions per node
        self.obs_in = nn.Sequential(nn.Linear(self.n_features, self.hidden), nn.GELU(), nn.LayerNorm(self.hidden))
        self.encoder = nn.ModuleList(_EncoderBlock(self.hidden) for _ in range(self.blocks))
        self.enc_ln = nn.LayerNorm(self.hidden)
        self.act_in = nn.Embedding(self.n_act + 1, self.hidden)  # index n_act: the start token
        self.decoder = nn.ModuleList(_DecoderBlock(self.hidden) for _ in range(self.blocks))
        self.dec_ln = nn.LayerNorm(self.hidden)
        self.pi_head = nn.Linear(self.hidden, self.n_act)
        scale_final_layer(self.pi_head, mc.get("pi_init_scale", 1.0))
        self.vf = nn.Linear(self.hidden, 1)
        self.cf = nn.Linear(self.hidden, self.n_costs)
        self.cost_encoder = bool(mc.get("cost_encoder", False))
        if self.cost_encoder:  # the paper's MAT-Lagr: a cost encoder beside the reward one, fused for the decoder
            self.c_obs_in = nn.Sequential(nn.Linear(self.n_features, self.hidden), nn.GELU(),
                                          nn.LayerNorm(self.hidden))
            self.c_encoder = nn.ModuleList(_EncoderBlock(self.hidden) for _ in range(self.blocks))
            self.c_enc_ln = nn.LayerNorm(self.hidden)
            self.fuse = nn.Linear(2 * self.hidden, self.hidden)

    # -- encoder ---------------------------------------------------------------------------------
    def _key_mask(self, obs) -> torch.Tensor:
        """(B, 1, 1, N) True = attend; a sample without real nodes attends to its first (padded) one."""
        m = obs["node_mask"].reshape(-1, self.n_max) > 0  # a new tensor: safe to edit
        m[:, 0] |= ~m.any(-1)
        return m[:, None, None, :]

    def _encode(self, x, mask, obs_in, blocks, ln) -> torch.Tensor:
        h = obs_in(x)
        for block in blocks:
            h = block(h, mask)
        return ln(h)

    def embed(self, batch) -> torch.Tensor:
        """Per-node representations o_i, (..., N, H); with the cost encoder [o_i, c_i], (..., N, 2H)."""
        obs = batch[Columns.OBS]
        x = obs["x"]
        lead = x.shape[:-2]
        x = x.reshape(-1, self.n_max, self.n_features)
        mask = self._key_mask(obs)
        h = self._encode(x, mask, self.obs_in, self.encoder, self.enc_ln)
        if self.cost_encoder:
            h = torch.cat([h, self._encode(x, mask, self.c_obs_in, self.c_encoder, self.c_enc_ln)], -1)
        return h.reshape(*lead, self.n_max, h.shape[-1])

    def _decoder_input(self, emb: torch.Tensor) -> torch.Tensor:
        """What the decoder reads of a node: o_i, or fuse([o_i, c_i]) with the cost encoder."""
        return self.fuse(emb) if self.cost_encoder else emb

    def compute_values(self, batch, embeddings=None):
        emb = self.embed(batch) if embeddings is None else embeddings
        return self.vf(emb[..., :self.hidden]).squeeze(-1)

    def compute_cost_values(self, batch, embeddings=None):
        emb = self.embed(batch) if embeddings is None else embeddings
        return self.cf(emb[..., -self.hidden:])

    # -- decoder ---------------------------------------------------------------------------------
    def decode(self, reps: torch.Tensor, actions: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: every node's logits given the previous nodes' ``actions``, (B, N, A)."""
        B, N = actions.shape
        prev = torch.cat([torch.full((B, 1), self.n_act, dtype=torch.long, device=actions.device),
                          actions[:, :-1].long()], 1)
        y = self.act_in(prev) + reps
        causal = torch.ones(N, N, dtype=torch.bool, device=reps.device).tril()
        for block in self.decoder:
            y = block(y, reps, causal, key_mask)
        return self.pi_head(self.dec_ln(y))

    def generate(self, reps: torch.Tensor, key_mask: torch.Tensor, sample: bool, generator=None):
        """Node-by-node decoding with cached keys / values: (actions (B, N), logits (B, N, A))."""
        B, N = reps.shape[:2]
        steps = [block.decoding(reps, key_mask) for block in self.decoder]
        act_emb, ln = self.act_in.weight, self.dec_ln
        pi_b, pi_w = self.pi_head.bias, self.pi_head.weight.t()
        prev = torch.full((B,), self.n_act, dtype=torch.long, device=reps.device)
        actions = torch.empty(B, N, dtype=torch.long, device=reps.device)
        logits = reps.new_empty(B, N, self.n_act)
        for i in range(N):
            y = act_emb[prev] + reps[:, i]
            for step in steps:
                y = step(y, i)
            lg = torch.addmm(pi_b, F.layer_norm(y, ln.normalized_shape, ln.weight, ln.bias, ln.eps), pi_w)
            prev = torch.multinomial(torch.softmax(lg, -1), 1, generator=generator)[:, 0] if sample else lg.argmax(-1)
            actions[:, i] = prev
            logits[:, i] = lg
        return actions, logits

    # -- RLModule forwards -----------------------------------------------------------------------
    def _flat(self, batch):
        """(embeddings (B', N, H or 2H), the decoder's input (B', N, H), key mask, leading batch shape)."""
        emb = self.embed(batch)
        lead = emb.shape[:-2]
        emb = emb.reshape(-1, self.n_max, emb.shape[-1])
        return emb, self._decoder_input(emb), self._key_mask(batch[Columns.OBS]), lead

    def _forward_train(self, batch, **kwargs):
        emb, reps, mask, lead = self._flat(batch)
        logits = self.decode(reps, batch[Columns.ACTIONS].reshape(-1, self.n_max), mask)
        return {Columns.ACTION_DIST_INPUTS: logits.reshape(*lead, self.n_max, self.n_act),
                Columns.EMBEDDINGS: emb.reshape(*lead, self.n_max, emb.shape[-1])}

    def _act(self, batch, sample: bool, generator=None, values: bool = False):
        """Decoded actions with their log-probabilities and logits; with ``values`` also the per-node reward
        and cost values of the encoder (the episodes keep them for the learner's GAE, see PerNodeGAE)."""
        emb, reps, mask, lead = self._flat(batch)
        actions, logits = self.generate(reps, mask, sample, generator)
        logp = torch.log_softmax(logits, -1).gather(-1, actions[..., None])[..., 0]
        out = {Columns.ACTIONS: actions.reshape(*lead, self.n_max),
               Columns.ACTION_LOGP: logp.reshape(*lead, self.n_max),
               Columns.ACTION_DIST_INPUTS: logits.reshape(*lead, self.n_max, self.n_act)}
        if values:
            emb = emb.reshape(*lead, self.n_max, emb.shape[-1])
            out[Columns.VF_PREDS] = self.compute_values(batch, emb)
            out[COST_VF_PREDS] = self.compute_cost_values(batch, emb)
        return out

    def _forward_exploration(self, batch, **kwargs):
        return self._act(batch, sample=True, values=True)

    def _forward_inference(self, batch, **kwargs):
        return self._act(batch, sample=False)

    def _forward(self, batch, **kwargs):
        """With ``Columns.ACTIONS`` in the batch (behaviour cloning): teacher forcing; else greedy decoding."""
        return self._forward_train(batch) if Columns.ACTIONS in batch else self._act(batch, sample=False)
