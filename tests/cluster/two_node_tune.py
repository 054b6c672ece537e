"""A 2-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head and a worker
node, each a real raylet with its own object store), a tuning run across both, and the
worker node killed in the middle of it. Prints one JSON line with what happened.

    python tests/cluster/two_node_tune.py OUT_DIR

Only the processes this script starts are stopped (``Cluster.shutdown``); never ``ray stop``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(out: str) -> None:
    import ray
    from ray.cluster_utils import Cluster
    from ray.tune import Callback

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    deadline = time.time() + 60  # both nodes' CPUs visible to the scheduler before Tune places trials
    while ray.cluster_resources().get("CPU", 0) < 2 and time.time() < deadline:
        time.sleep(0.2)
    worker_id = worker.node_id
    events: dict = {"head": cluster.head_node.node_id, "worker": worker_id, "killed_at": None,
                    "replacement": None}

    class KillWorker(Callback):
        """Kill the worker node (hard, no graceful drain) once a trial on it has reported
        two iterations; then add a replacement node, as an autoscaler would. (Tune pickles
        its callbacks into the experiment state; the live cluster handle stays out of it.)"""

        def __init__(self, ctx: dict):
            self._ctx = ctx

        def __getstate__(self):
            return {}

        def __setstate__(self, state):
            self._ctx = None

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if self._ctx is None:
                return
            cluster, worker = self._ctx["cluster"], self._ctx["worker"]
            if events["killed_at"] is None and result.get("node_id") == worker_id and \
                    result["training_iteration"] >= 2:
                events["killed_at"] = {"trial": trial.trial_id, "iteration": result["training_iteration"],
                                       "time": time.time()}
                cluster.remove_node(worker, allow_graceful=False)
                events["replacement"] = cluster.add_node(num_cpus=1).node_id

    from cfmarl.tune import tune_experiment

    try:
        summary = tune_experiment("tune_configs/aps_random_tiny.yaml", storage=out, iterations=6, quiet=True,
                                  _tuner_callbacks=[KillWorker({"cluster": cluster, "worker": worker})])
        events["summary"] = str(summary)
    finally:
        ray.shutdown()
        cluster.shutdown()
    print("RESULT " + json.dumps(events))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main(sys.argv[1])
