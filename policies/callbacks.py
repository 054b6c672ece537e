"""Episode metrics: per-node cost and the env's KPIs (graph mode and per-agent mode).

At every env step the callback accumulates, from ``infos["graph"]`` (or, in
per-agent mode, the info of the agent that carries ``"kpis"``), the mean
node cost and the KPIs; at episode end it logs their per-step means, so each
iteration's result has ``env_runners/cost/mean_node_cost_<i>`` and
``env_runners/kpi/<name>`` averaged over the episodes that ended in it.
"""

from __future__ import annotations

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from cfmarl.policies.adapters.graph_env import AGENT_ID


class GraphEpisodeMetrics(RLlibCallback):
    def on_episode_step(self, *, episode, **kwargs) -> None:
        infos = episode.get_infos(-1)
        info = infos.get(AGENT_ID) or next((i for i in infos.values() if isinstance(i, dict) and "kpis" in i), None)
        if not info or "kpis" not in info:
            return
        data = episode.custom_data
        data["steps"] = data.get("steps", 0) + 1
        data["cost_sum"] = data.get("cost_sum", 0.0) + np.asarray(info["mean_node_cost"], float)
        kp = data.setdefault("kpis", {})
        for k, v in info["kpis"].items():
            kp[k] = kp.get(k, 0.0) + v

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        data = episode.custom_data
        steps = data.get("steps", 0)
        if not steps or metrics_logger is None:
            return
        for i, c in enumerate(np.atleast_1d(data["cost_sum"] / steps)):
            metrics_logger.log_value(f"cost/mean_node_cost_{i}", float(c), reduce="mean")
        for k, v in data["kpis"].items():
            metrics_logger.log_value(f"kpi/{k}", v / steps, reduce="mean")
