"""benchmarks/peer_benchmarl.py (issue 15): the BenchMARL task (explicit group map, its own seed per env
copy, reward r - lambda c), the greedy controller adapter, the report's ratios, and both frameworks for a
few hundred env steps on `tiny`. Skipped without the `peer` extra."""

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("benchmarl", reason="the peer extra is not installed (pip install -c constraints.txt -e .[peer])")
pytestmark = pytest.mark.filterwarnings("ignore")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TINY_LINKS = [f"ap{l}_ue{k}" for l in range(4) for k in range(2)]  # tiny: 4 APs x 2 UEs, AP-major


def _load():
    spec = importlib.util.spec_from_file_location("peer_benchmarl", ROOT / "benchmarks" / "peer_benchmarl.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["peer_benchmarl"] = module  # BenchMARL pickles the task: its factory must be importable by name
    spec.loader.exec_module(module)
    return module


pb = _load()


def _job(**changes) -> dict:
    args = argparse.Namespace(scenario="tiny", seed=0, env_steps=200, batch=100, minibatch=50, num_envs=4,
                              penalty=16.0, test_seed=1000, test_episodes=4)
    return pb.shared_settings(args) | {"progress_every": 100} | changes


def test_task_has_the_explicit_group_map_and_a_seed_per_env_copy():
    from torchrl.envs import SerialEnv

    task = pb.make_task(_job())
    single = task.get_env_fun(1, False, 7, "cpu")()
    assert task.group_map(single) == {"links": TINY_LINKS}
    assert single.observation_spec["state"].shape == (8 * 6,)
    env = SerialEnv(3, task.get_env_fun(3, False, 7, "cpu"))
    obs = env.reset()["links", "observation"].numpy()  # (3 copies, 8 links, 6 features)
    assert obs.shape == (3, 8, 6)
    # own seeds: the copies see different networks (BenchMARL's own PettingZoo tasks replay one)
    assert not np.allclose(obs[0], obs[1]) and not np.allclose(obs[1], obs[2]) and not np.allclose(obs[0], obs[2])
    assert len(task.copy_seeds) == len(set(task.copy_seeds)) >= 4
    env.close()


def test_penalised_reward_is_reward_minus_lambda_times_cost():
    from cfmarl.envs.ap_selection.env import ApSelectionEnv

    pen, plain = pb.penalised_env_class()(penalty=16.0, scenario="tiny"), ApSelectionEnv(scenario="tiny")
    pen.reset(seed=3)
    plain.reset(seed=3)
    acts = {a: int(a == "ap0_ue0") for a in TINY_LINKS}  # only AP 0 serves, and only UE 0
    _, r_pen, _, _, info = pen.step(acts)
    _, r_plain, _, _, _ = plain.step(acts)
    for a in TINY_LINKS:  # -1 for every link of the active AP 0, 0 elsewhere
        assert r_plain[a] == (-1.0 if a.startswith("ap0_") else 0.0)
        assert r_pen[a] == pytest.approx(r_plain[a] - 16.0 * info[a]["cost"])
    # UE 1 is unserved: SE 0, cost 1 on each of its links
    assert r_pen["ap0_ue1"] == pytest.approx(-17.0) and r_pen["ap2_ue1"] == pytest.approx(-16.0)


def test_controller_takes_the_actors_greedy_action():
    from tensordict.nn import TensorDictModule
    from torch.distributions import Categorical
    from torchrl.modules import ProbabilisticActor

    from cfmarl.envs.ap_selection.config import make_config
    from cfmarl.envs.ap_selection.core import ApSelectionCore

    class Logits(torch.nn.Module):  # logit of "serve" = the link's current SNR feature, of "off" = 0
        def forward(self, x):
            return torch.stack([torch.zeros_like(x[..., 3]), x[..., 3]], dim=-1)

    actor = ProbabilisticActor(TensorDictModule(Logits(), in_keys=[("links", "observation")],
                                                out_keys=[("links", "logits")]),
                               in_keys=[("links", "logits")], out_keys=[("links", "action")],
                               distribution_class=Categorical)
    core = ApSelectionCore(make_config("tiny"), num_envs=5)
    state, obs = core.reset(list(range(5)))
    act = pb.BenchmarlController(actor).act(core, state, obs)
    assert act.dtype == np.int8 and act.shape == (5, 8)
    np.testing.assert_array_equal(act, (obs[..., 3] > 0).astype(np.int8))
    assert 0 < act.mean() < 1  # both actions occur, so the check is not vacuous


def test_report_ratios_are_cfmarl_over_benchmarl():
    def result(fw, sample_s, update_s, e2e_s):
        k = {"active_aps": 3.0, "mean_cost": 0.01, "mean_se_bps_hz": 2.0, "target_satisfaction": 0.9,
             "decision_latency_ms": 0.1, "active_aps_std": 0.5, "mean_cost_std": 0.01, "mean_se_bps_hz_std": 0.1,
             "target_satisfaction_std": 0.1}
        return {"framework": fw, "env_steps": 1200, "iterations": 3, "setup_s": 1.0, "sample_s": sample_s,
                "update_s": update_s, "e2e_s": e2e_s, "final_train_cost": 0.02, "params": "1", "copy_seeds": 4,
                "kpis": k}

    job = _job(scenario="medium")
    runs = {"cfmarl": [result("cfmarl", 2.0, 6.0, 8.0)], "benchmarl": [result("benchmarl", 4.0, 2.0, 6.0)]}
    args = argparse.Namespace(env_steps=1200, repeats=1, test_episodes=4, scenario="medium")
    text = pb.report(job, runs, runs["cfmarl"][0]["kpis"], args, 60.0, {"core": 0.3, "shell": 0.5, "wrapper": 3.0})
    # sampling 600 vs 300 env steps/s -> 2.00; update 200 vs 600 -> 0.33; end to end 150 vs 200 -> 0.75
    assert "| sampling [env steps/s] | 600 | 300 | **2.00** |" in text
    assert "| sampling [agent-samples/s] | 57,600 | 28,800 | 2.00 |" in text  # 96 link agents on medium
    assert "| update [env steps/s] | 200 | 600 | **0.33**" in text
    assert "| end to end [env steps/s] | 150 | 200 | **0.75**" in text
    assert "benchmarl 1.5.2, torchrl 0.11.1" in text
    assert "TorchRL's PettingZooWrapper around the shell 3.00 ms; BenchMARL's collection spent 3.33 ms" in text


def test_step_costs_time_every_layer_of_the_env_stack():
    ms = pb.step_costs(_job(), steps=25)  # crosses an episode end (20 windows)
    assert set(ms) == {"core", "shell", "wrapper"} and all(0 < v < 1e3 for v in ms.values())


@pytest.mark.slow
def test_both_frameworks_train_and_are_evaluated_on_tiny(ray_session):
    for fw, run in (("benchmarl", pb.run_benchmarl), ("cfmarl", pb.run_cfmarl)):
        r = run(_job(framework=fw))
        assert r["framework"] == fw and r["env_steps"] == 200 and r["iterations"] == 2
        assert 0 < r["sample_s"] and 0 < r["update_s"] and r["e2e_s"] >= r["sample_s"] + r["update_s"]
        k = r["kpis"]
        assert 0.0 <= k["active_aps"] <= 4.0 and 0.0 <= k["mean_cost"] <= 1.0 and np.isfinite(k["mean_se_bps_hz"])
