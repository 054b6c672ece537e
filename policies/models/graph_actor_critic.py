"""Graph-mode actor-critic RLModules with dual (reward and cost) critics.

``GraphActorCritic`` (the APS-GNN model, aps_gnn Sec. IV-B, V-A, Fig. 3):
  per-node GRU over the node's scalar history (the first ``sequence_features``
  observation features, oldest first) -> concat with the other node features ->
  linear -> ``rounds`` x :class:`RelationalAttention` (one TransformerConv per
  edge type) -> per-node actor logits (A actions), per-node reward value and
  per-node cost values (C constraints), all heads on the shared backbone.
  Options: ``use_gru`` (False = the no-RNN ablation: the history enters the
  linear layer directly), ``encoder="mlp"`` (no message passing: per-node MLP
  of the same depth), ``rounds``, ``hidden``, ``gru_hidden``.

``CentralActorCritic`` (the single-agent PPO-Lagr baseline, aps_gnn Sec. VI-B):
  the concatenated state of all nodes -> MLP -> logits for every node (the
  joint association as independent per-node factors), one team reward value
  and one team cost value per constraint; ``encoder="deepsets"``: the nodes'
  rows through one shared MLP with a pooled global context instead.

Both read ``batch["obs"] = {"x": (B, N, F), "node_mask": (B, N)[, "edge_mask": (B, E)]}``
and emit per-node distribution parameters (B, N, P) for the head that fits the
action space (:mod:`cfmarl.policies.heads`: categorical for discrete actions, Beta
or squashed Gaussian for bounded continuous ones, the gated Bernoulli over a relation's cliques;
``model_config["action_head"]``).
The graph (``edge_index`` (2, E) and ``edge_type`` (E,) over the N real nodes) comes
in ``model_config``; it is a non-persistent buffer, so weights load into a module
built for another graph size (generalisation across sizes). When the observation
has an ``edge_mask`` the graph changes per episode or step: ``edge_index`` then lists
every candidate edge and each sample's mask selects the edges present in it.
"""

from __future__ import annotations

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from cfmarl.policies.heads import head_for, head_input_dim
from cfmarl.policies.models import fast_deterministic
from cfmarl.policies.models.relational_attention import Relation, RelationalAttention, clique_groups, clique_layout
from cfmarl.policies.models.window_gru import window_gru

COST_VF_PREDS = "cost_vf_preds"  # the cost critics' values, per constraint (sampled with the actions)


def scale_final_layer(layer: nn.Linear, scale: float) -> None:
    """Multiply a final policy layer's initial weights by ``scale`` and zero its bias (``scale`` < 1: the
    first policy sits near the head's centre with little dependence on the input, as in Andrychowicz et
    al. 2021, "What matters in on-policy RL", who scale it by 0.01)."""
    if float(scale) != 1.0:
        with torch.no_grad():
            layer.weight.mul_(float(scale))
            layer.bias.zero_()


def gate_groups(mc: dict, n_max: int, dynamic: bool = False) -> tuple[np.ndarray, int]:
    """The gated head's groups (:mod:`cfmarl.policies.heads.gated`): the cliques of relation
    ``gate_relation`` of the module's one static graph, as (perm, group size)."""
    if "edge_index" not in mc or len(mc.get("graphs") or ()) > 1 or dynamic:
        raise ValueError("model.action_head: 'gated' needs graph mode on one static graph (no env.mix)")
    r = int(mc.get("gate_relation", 0))
    e_i, e_t = np.asarray(mc["edge_index"], np.int64), np.asarray(mc["edge_type"], np.int64)
    n = int(mc.get("num_nodes", n_max))
    groups = clique_groups(e_i[:, e_t == r], n) if n == n_max else None
    if groups is None:
        raise ValueError(f"model.gate_relation: relation {r}'s edges must split all {n_max} nodes into disjoint "
                         f"cliques of one size (the gated groups); they do not")
    return groups


class _GraphModuleBase(TorchRLModule, ValueFunctionAPI):
    """Shared plumbing: spaces, distribution classes, value API."""

    per_node_critic = True
    values_at_sampling = True  # on-policy learners: exploration also returns the critics' values

    def _spaces(self) -> None:
        fast_deterministic()
        xs = self.observation_space["x"]
        self.n_max, self.n_features = int(xs.shape[0]), int(xs.shape[1])
        kind = self.model_config.get("action_head", "auto")
        self.head = head_for(self.action_space, kind, self.model_config.get("action_levels"),
                             self.model_config.get("exploration_noise", 0.1),
                             groups=gate_groups(self.model_config, self.n_max, "edge_mask" in self.observation_space.spaces)
                             if kind == "gated" else None)
        self.head_dim = head_input_dim(self.action_space, self.head)  # head parameters per node
        self.n_costs = int(self.model_config.get("num_costs", 1))
        self.dynamic_graph = "edge_mask" in self.observation_space.spaces

    def get_exploration_action_dist_cls(self):
        return self.head

    def get_inference_action_dist_cls(self):
        return self.head

    def get_train_action_dist_cls(self):
        return self.head

    def _forward(self, batch, **kwargs):
        emb = self.embed(batch)
        return {Columns.ACTION_DIST_INPUTS: self.pi(emb), Columns.EMBEDDINGS: emb}

    def _forward_inference(self, batch, **kwargs):
        return {Columns.ACTION_DIST_INPUTS: self.pi(self.embed(batch))}

    def _forward_exploration(self, batch, **kwargs):
        """The action distribution and the reward / cost values of the sampled states: the episodes
        keep them, so the learner's GAE needs no second pass over the batch (PerNodeGAE); no
        embeddings, which the episodes would otherwise store at N x hidden floats per step."""
        emb = self.embed(batch)
        if not self.values_at_sampling:
            return {Columns.ACTION_DIST_INPUTS: self.pi(emb)}
        return {Columns.ACTION_DIST_INPUTS: self.pi(emb), Columns.VF_PREDS: self.compute_values(batch, emb),
                COST_VF_PREDS: self.compute_cost_values(batch, emb)}

    def compute_values(self, batch, embeddings=None):
        emb = self.embed(batch) if embeddings is None else embeddings
        return self.vf(emb).squeeze(-1)

    def compute_cost_values(self, batch, embeddings=None):
        emb = self.embed(batch) if embeddings is None else embeddings
        return self.cf(emb)


class GraphActorCritic(_GraphModuleBase):
    """Per-node actor and dual critics on a GRU + relational-attention backbone."""

    def setup(self):
        self._spaces()
        mc = self.model_config
        self.hidden = int(mc.get("hidden", 64))
        self.seq = int(mc.get("sequence_features", 0))
        self.use_gru = bool(mc.get("use_gru", True)) and self.seq > 0
        self.encoder = mc.get("encoder", "gnn")
        if self.encoder not in ("gnn", "mlp"):
            raise ValueError(f"model.encoder: must be 'gnn' or 'mlp', got {self.encoder!r}")
        rounds = int(mc.get("rounds", 2))
        if self.use_gru:
            gh = int(mc.get("gru_hidden", 32))
            self.gru = nn.GRU(1, gh, batch_first=True)
            in_dim = gh + self.n_features - self.seq
        else:
            in_dim = self.n_features
        self.inp = nn.Linear(in_dim, self.hidden)
        edge_index = np.asarray(mc.get("edge_index", np.zeros((2, 0))), dtype=np.int64)
        edge_type = np.asarray(mc.get("edge_type", np.zeros(0)), dtype=np.int64)
        self.num_relations = int(mc.get("num_relations", int(edge_type.max()) + 1 if edge_type.size else 1))
        self.dense_cliques = bool(mc.get("dense_cliques", True))
        # a mixture of sizes (env.mix): one static graph per graph_id, graph 0 being the one above
        graphs = mc.get("graphs") or [(edge_index, edge_type, int(mc.get("num_nodes", self.n_max)))]
        self.n_graphs = len(graphs)
        self._groups: list[list[tuple[torch.Tensor, int, str] | None]] = []  # [graph][relation]
        for gi, (e_i, e_t, n_real) in enumerate(graphs):
            e_i, e_t = np.asarray(e_i, dtype=np.int64), np.asarray(e_t, dtype=np.int64)
            groups = []
            for r in range(self.num_relations):
                e_r = e_i[:, e_t == r]
                self.register_buffer(self._edge_buffer(gi, r), torch.as_tensor(e_r), persistent=False)
                if gi == 0:  # positions of relation r's edges among the candidate edges (dynamic graphs' edge_mask)
                    self.register_buffer(f"_edge_pos_{r}", torch.as_tensor(np.nonzero(e_t == r)[0]), persistent=False)
                g = clique_groups(e_r, int(n_real)) if self.dense_cliques and not self.dynamic_graph else None
                groups.append(None if g is None else (torch.as_tensor(g[0]), g[1], clique_layout(g[0], g[1])))
            self._groups.append(groups)
        if self.encoder == "gnn":
            self.layers = nn.ModuleList(RelationalAttention(self.hidden, self.hidden, self.num_relations)
                                        for _ in range(rounds))
        else:
            self.layers = nn.ModuleList(nn.Sequential(nn.Linear(self.hidden, self.hidden), nn.ReLU())
                                        for _ in range(rounds))
        self.pi = nn.Linear(self.hidden, self.head_dim)
        scale_final_layer(self.pi, self.model_config.get("pi_init_scale", 1.0))
        self.vf = nn.Linear(self.hidden, 1)
        self.cf = nn.Linear(self.hidden, self.n_costs)
        self._batched_edges: dict[tuple[int, torch.device], list[torch.Tensor]] = {}

    @staticmethod
    def _edge_buffer(graph: int, relation: int) -> str:
        return f"_edges_{relation}" if graph == 0 else f"_edges_g{graph}_{relation}"

    def _masked_relations(self, edge_mask: torch.Tensor) -> list[Relation]:
        """Dynamic graphs: per relation, the edges present in each sample (edge_mask (B, E))."""
        B = edge_mask.shape[0]
        offsets = torch.arange(B, device=edge_mask.device) * self.n_max
        rels = []
        for r in range(self.num_relations):
            e = getattr(self, f"_edges_{r}").to(edge_mask.device)  # (2, E_r)
            present = edge_mask[:, getattr(self, f"_edge_pos_{r}")] > 0.5  # (B, E_r)
            batched = e[:, None, :] + offsets[None, :, None]  # (2, B, E_r)
            rels.append(Relation(edge_index=batched[:, present]))
        return rels

    def _relations(self, batch_size: int, device, graph: int = 0) -> list[Relation]:
        """Per relation of graph ``graph``: the dense clique grouping, or the edge index of the batched graphs."""
        key = (batch_size, device, graph)
        if key not in self._batched_edges:
            if len(self._batched_edges) > 8 * self.n_graphs:
                self._batched_edges.clear()
            offsets = torch.arange(batch_size, device=device) * self.n_max
            rels = []
            for r in range(self.num_relations):
                if self._groups[graph][r] is not None:
                    perm, size, layout = self._groups[graph][r]
                    rels.append(Relation(perm=perm.to(device), group_size=size, layout=layout))
                else:
                    e = getattr(self, self._edge_buffer(graph, r)).to(device)
                    rels.append(Relation(edge_index=(e[:, None, :] + offsets[None, :, None]).reshape(2, -1)))
            self._batched_edges[key] = rels
        return self._batched_edges[key]

    def embed(self, batch) -> torch.Tensor:
        x = batch[Columns.OBS]["x"]
        lead = x.shape[:-2]
        x = x.reshape(-1, self.n_max, self.n_features)
        B = x.shape[0]
        if self.use_gru:  # inp(concat(gru(history), rest)) as two products, without the concatenation
            h_seq = window_gru(self.gru, x[..., : self.seq].reshape(B * self.n_max, self.seq))
            gh = self.gru.hidden_size
            pre = nn.functional.linear(h_seq.reshape(B, self.n_max, gh), self.inp.weight[:, :gh], self.inp.bias)
            if self.n_features > self.seq:
                pre = pre + nn.functional.linear(x[..., self.seq:], self.inp.weight[:, gh:])
            h = torch.relu(pre)
        else:
            h = torch.relu(self.inp(x))
        if self.encoder == "gnn":
            gid = batch[Columns.OBS].get("graph_id") if self.n_graphs > 1 else None
            if self.dynamic_graph:
                rels = self._masked_relations(batch[Columns.OBS]["edge_mask"].reshape(B, -1))
            elif gid is not None:  # a mixture of sizes: each sample through the layers on its own graph
                return self._embed_mixture(h, gid.reshape(B).round().long()).reshape(*lead, self.n_max, self.hidden)
            else:  # one graph (a batch without graph_id is on graph 0)
                rels = self._relations(B, h.device)
            for layer in self.layers:
                h = layer(h, rels)
        else:
            for layer in self.layers:
                h = layer(h)
        return h.reshape(*lead, self.n_max, self.hidden)


    def _embed_mixture(self, h: torch.Tensor, gid: torch.Tensor) -> torch.Tensor:
        """Message passing for a batch mixing graphs: the samples of each graph_id together (dense cliques of
        that size), the results put back in batch order."""
        if bool(((gid < 0) | (gid >= self.n_graphs)).any()):
            raise ValueError(f"graph_id: must be in [0, {self.n_graphs - 1}] (the module's graphs), got "
                             f"{sorted(set(gid.tolist()))}")
        order, parts = [], []
        for g in torch.unique(gid).tolist():
            idx = torch.nonzero(gid == g).reshape(-1)
            hg = h[idx]
            rels = self._relations(len(idx), h.device, g)
            for layer in self.layers:
                hg = layer(hg, rels)
            order.append(idx)
            parts.append(hg)
        return torch.cat(parts)[torch.argsort(torch.cat(order))]


class CentralActorCritic(_GraphModuleBase):
    """Centralised single agent with team critics.

    ``encoder="mlp"`` (the papers' central agent): the concatenated state -> MLP -> every node's head
    parameters. ``encoder="deepsets"``: one MLP shared by the nodes' rows, the masked mean of their
    embeddings as a global context appended to each row, a second shared layer -> per-node head
    parameters; the team critics read the pooled embedding. Both see the whole state and choose the joint
    action; the second shares weights across rows (permutation-equivariant, any number of nodes), so a
    cloned teacher is learnt from N times as many row samples."""

    per_node_critic = False

    def setup(self):
        self._spaces()
        hidden = int(self.model_config.get("hidden", 256))
        self.deepsets = self.model_config.get("encoder") == "deepsets"
        if self.deepsets:
            self.rows = nn.Sequential(nn.Linear(self.n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
            self.mix = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU())
            self.pi_head = nn.Linear(hidden, self.head_dim)
        else:
            self.body = nn.Sequential(nn.Linear(self.n_max * self.n_features, hidden), nn.ReLU(),
                                      nn.Linear(hidden, hidden), nn.ReLU())
            self.pi_head = nn.Linear(hidden, self.n_max * self.head_dim)
        scale_final_layer(self.pi_head, self.model_config.get("pi_init_scale", 1.0))
        self.vf = nn.Linear(hidden, 1)
        self.cf = nn.Linear(hidden, self.n_costs)

    def pi(self, emb):
        if self.deepsets:
            return self.pi_head(emb[..., 1:, :])
        return self.pi_head(emb).reshape(*emb.shape[:-1], self.n_max, self.head_dim)

    def compute_values(self, batch, embeddings=None):
        emb = self.embed(batch) if embeddings is None else embeddings
        return self.vf(emb[..., 0, :] if self.deepsets else emb).squeeze(-1)

    def compute_cost_values(self, batch, embeddings=None):
        emb = self.embed(batch) if embeddings is None else embeddings
        return self.cf(emb[..., 0, :] if self.deepsets else emb)

    def embed(self, batch) -> torch.Tensor:
        """mlp: (B, H); deepsets: (B, 1 + N, H) - the pooled context first, then the nodes' rows."""
        obs = batch[Columns.OBS]
        x = obs["x"]
        if not self.deepsets:
            return self.body(x.reshape(*x.shape[:-2], self.n_max * self.n_features))
        m = obs["node_mask"].to(x.dtype)[..., None]
        h = self.rows(x) * m
        pooled = h.sum(-2) / m.sum(-2).clamp(min=1.0)
        z = self.mix(torch.cat([h, pooled[..., None, :].expand_as(h)], -1))
        return torch.cat([pooled[..., None, :], z], -2)
