"""Learner connector: per-node GAE for rewards and costs from the per-node signals.

Replaces RLlib's GeneralAdvantageEstimation at the end of the learner pipeline
(after AddOneTsToEpisodesAndTruncate has appended one bootstrap step to every
episode chunk). For each episode chunk it takes the per-node rewards and costs
of every real step from the infos, aligning them with the action they belong
to: the info returned with observation t+1 carries the signals of the action
taken at step t (RLLIB_NOTES.md: infos travel with observations).

Columns added to each module's batch (rows = the batch rows, artificial
bootstrap rows zero):
  node_adv_r (R, N), node_vt_r (R, N), node_adv_c (R, N, C), node_vt_c (R, N, C)
or, for a team critic (``module.per_node_critic`` False), the team-mean signals:
  node_adv_r (R,), node_vt_r (R,), node_adv_c (R, C), node_vt_c (R, C).
Advantage scaling (``advantage_scaling``): ``joint`` (default) centres reward
and cost advantages and divides both by the reward advantages' std, which keeps
their ratio - the trade-off lambda acts on - intact; ``separate`` standardises
the reward advantages and only centres the cost advantages (the Safety-Gym /
OmniSafe convention), which lets the reward term dominate until lambda is large. The exact mean per-node cost of the batch (per
constraint) is handed to ``on_mean_cost(module_id, mean_cost, observed)``; with ``per_graph`` (a module whose
observations carry ``graph_id``: a mixture of sizes) one mean per graph and constraint, flattened as g C + c, and
``observed`` False for graphs no episode of the batch was drawn on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns

from cfmarl.policies.learners.advantages import gae
from cfmarl.policies.models.graph_actor_critic import COST_VF_PREDS

NODE_ADV_R, NODE_VT_R, NODE_ADV_C, NODE_VT_C = "node_adv_r", "node_vt_r", "node_adv_c", "node_vt_c"


def node_signals(sa_episode) -> tuple[np.ndarray, np.ndarray]:
    """Per-node rewards (T, N) and costs (T, N, C) of the T real steps of an
    episode chunk that already carries the artificial bootstrap step."""
    infos = sa_episode.get_infos()
    t_real = len(sa_episode) - 1
    rew = np.stack([infos[t + 1]["node_rewards"] for t in range(t_real)]).astype(np.float64)
    cost = np.stack([infos[t + 1]["node_costs"] for t in range(t_real)]).astype(np.float64)
    return rew, cost


class PerNodeGAE(ConnectorV2):
    def __init__(self, input_observation_space=None, input_action_space=None, *, gamma: float, lambda_: float,
                 value_chunk_size: int = 256, advantage_scaling: str = "joint",
                 on_mean_cost: Callable[[str, np.ndarray, np.ndarray], None] | None = None,
                 per_graph: bool = False):
        super().__init__(input_observation_space, input_action_space)
        self.gamma, self.lambda_ = gamma, lambda_
        self.value_chunk_size = value_chunk_size
        if advantage_scaling not in ("joint", "separate"):
            raise ValueError(f"advantage_scaling: must be 'joint' or 'separate', got {advantage_scaling!r}")
        self.advantage_scaling = advantage_scaling
        self.on_mean_cost = on_mean_cost
        self.per_graph = per_graph

    def __call__(self, *, rl_module, episodes, batch, **kwargs):
        episodes_sa = list(self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False))
        for module_id, module_batch in batch.items():
            module = rl_module[module_id].unwrapped()
            if not hasattr(module, "compute_cost_values"):
                continue
            eps = [e for e in episodes_sa if e.module_id in (None, module_id)]
            bootstrap_rows = np.cumsum([len(ep) for ep in eps]) - 1  # the artificial last row of each chunk
            v_r, v_c = self._values(module, module_batch, bootstrap_rows)
            mask = module_batch[Columns.OBS]["node_mask"].detach().cpu().numpy().astype(bool)  # (R, N)
            per_node = module.per_node_critic
            R = v_r.shape[0]
            adv_r, vt_r = np.zeros_like(v_r), np.zeros_like(v_r)
            adv_c, vt_c = np.zeros_like(v_c), np.zeros_like(v_c)
            valid_rows = np.zeros(R, bool)
            gids, n_graphs = self._graph_ids(module, module_batch)
            cost_sum, cost_n = np.zeros((n_graphs, v_c.shape[-1])), np.zeros(n_graphs)
            row = 0
            for ep in eps:
                n_rows = len(ep)
                t_real = n_rows - 1
                rew, cost = node_signals(ep)  # (T, N), (T, N, C)
                m = mask[row:row + t_real]
                g = gids[row] if gids is not None else 0  # one graph per episode
                cost_sum[g] += (cost * m[..., None]).sum(axis=(0, 1))
                cost_n[g] += m.sum()
                if not per_node:
                    cnt = np.maximum(m.sum(axis=1), 1)
                    rew = (rew * m).sum(axis=1) / cnt
                    cost = (cost * m[..., None]).sum(axis=1) / cnt[:, None]
                sl = slice(row, row + t_real)
                a, t = gae(rew, v_r[sl], v_r[row + t_real], ep.is_terminated, self.gamma, self.lambda_)
                adv_r[sl], vt_r[sl] = a, t
                a, t = gae(cost, v_c[sl], v_c[row + t_real], ep.is_terminated, self.gamma, self.lambda_)
                adv_c[sl], vt_c[sl] = a, t
                valid_rows[sl] = True
                row += n_rows
            if row != R:
                raise RuntimeError(f"PerNodeGAE: episodes cover {row} rows but the batch has {R}")
            w = (mask & valid_rows[:, None]) if per_node else valid_rows
            scale = max(1e-4, adv_r[w].std())
            adv_r = np.where(w, (adv_r - adv_r[w].mean()) / scale, 0.0)
            adv_c = np.where(w[..., None], adv_c - adv_c[w].mean(axis=0), 0.0)
            if self.advantage_scaling == "joint":
                adv_c = adv_c / scale
            if self.on_mean_cost is not None and cost_n.sum() > 0:
                seen = cost_n > 0
                mean = np.where(seen[:, None], cost_sum / np.maximum(cost_n, 1.0)[:, None], np.nan)
                self.on_mean_cost(module_id, mean.reshape(-1), np.repeat(seen, mean.shape[1]))
            device = module_batch[Columns.OBS]["x"].device
            for key, val in ((NODE_ADV_R, adv_r), (NODE_VT_R, vt_r), (NODE_ADV_C, adv_c), (NODE_VT_C, vt_c)):
                module_batch[key] = torch.as_tensor(val, dtype=torch.float32, device=device)
        return batch

    def _graph_ids(self, module, module_batch) -> tuple[np.ndarray | None, int]:
        """Per row, the graph of the size mixture it is on, and the number of graphs; (None, 1) unless
        ``per_graph``."""
        if not self.per_graph:
            return None, 1
        n_graphs = int(getattr(module, "n_graphs", 1))  # the module's graphs (one per size of env.mix)
        obs = module_batch[Columns.OBS]
        if n_graphs == 1 or "graph_id" not in obs:
            return None, 1
        gids = np.rint(_numpy(obs["graph_id"]).reshape(-1)).astype(np.int64)
        if gids.min() < 0 or gids.max() >= n_graphs:
            raise ValueError(f"PerNodeGAE: graph_id must be in 0..{n_graphs - 1}, got {gids.min()}..{gids.max()}")
        return gids, n_graphs

    def _values(self, module, module_batch, bootstrap_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reward and cost values for every row. When the episodes carry the values computed while
        sampling (``vf_preds`` and ``cost_vf_preds``, from the weights this update starts from) only
        the bootstrap rows are evaluated here, whose stored entries are copies of the step before;
        otherwise every row, in chunks of at most ``value_chunk_size`` rows and 32,768 nodes."""
        obs = module_batch[Columns.OBS]
        R, n_max = obs["x"].shape[0], obs["x"].shape[1]
        stored = Columns.VF_PREDS in module_batch and COST_VF_PREDS in module_batch
        rows = torch.as_tensor(bootstrap_rows, device=obs["x"].device) if stored else None
        n = len(bootstrap_rows) if stored else R
        chunk = max(1, min(self.value_chunk_size, 32768 // max(1, n_max)))
        outs_r, outs_c = [], []
        with torch.no_grad():
            for s in range(0, n, chunk):
                sel = rows[s:s + chunk] if stored else slice(s, s + chunk)
                part = {Columns.OBS: {k: v[sel] for k, v in obs.items()}}
                emb = module.embed(part)
                outs_r.append(module.compute_values(part, embeddings=emb).cpu().numpy())
                outs_c.append(module.compute_cost_values(part, embeddings=emb).cpu().numpy())
        v_r = np.concatenate(outs_r).astype(np.float64)
        v_c = np.concatenate(outs_c).astype(np.float64)
        if not stored:
            return v_r, v_c
        all_r = _numpy(module_batch[Columns.VF_PREDS]).astype(np.float64)
        all_c = _numpy(module_batch[COST_VF_PREDS]).astype(np.float64)
        if all_r.shape[1:] != v_r.shape[1:] or all_c.shape[1:] != v_c.shape[1:] or len(all_r) != R:
            raise RuntimeError(f"PerNodeGAE: stored values of shape {all_r.shape} / {all_c.shape} do not match the "
                               f"module's {v_r.shape[1:]} / {v_c.shape[1:]} over {R} rows")
        all_r[bootstrap_rows], all_c[bootstrap_rows] = v_r, v_c
        return all_r, all_c


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
