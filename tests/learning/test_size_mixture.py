"""Training on a mixture of sizes (``env.mix``): the graph env draws a size per episode and pads to the largest,
the GNN runs each sample on its own graph (equal to a module built for that size), behaviour cloning counts
only real nodes, validation covers every size, and bad mixtures are refused with the key named."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from ray.rllib.core.columns import Columns

from cfmarl.algo_builder import module_spec
from cfmarl.envs.validation import ConfigError
from cfmarl.experiment import ExperimentConfig, from_dict
from cfmarl.policies.adapters.graph_env import AGENT_ID, GraphEnv
from cfmarl.policies.module_controller import rebuild_for_env
from cfmarl.policies.pretrain import behaviour_clone, collect_teacher_dataset

TINY = Path(__file__).resolve().parents[2] / "tune_configs" / "aps_gnn_tiny.yaml"


def _exp(mix=("8x3", "6x4"), **model) -> ExperimentConfig:
    return from_dict(ExperimentConfig, {"env": {"name": "aps", "scenario": "tiny", "mix": list(mix)},
                                        "model": {"hidden": 16, "rounds": 2, "gru_hidden": 8, **model}})


def test_env_draws_a_size_per_episode_and_pads_to_the_largest():
    exp = _exp()
    env = GraphEnv(exp.env_config())
    assert [c.n_agents for c in env.cores] == [8, 24, 24] and env.n_max == 24
    seen = set()
    for _ in range(30):
        obs, _ = env.reset()
        o, g = obs[AGENT_ID], env.graph_id
        seen.add(g)
        n = env.cores[g].n_agents
        assert o["graph_id"].tolist() == [g]
        assert o["node_mask"].sum() == n and o["node_mask"][:n].all()
        assert not o["x"][n:].any()  # padding rows are zeros
        _, _, _, _, info = env.step({AGENT_ID: np.ones(24, np.int64)})
        assert not info[AGENT_ID]["node_rewards"][n:].any() and info[AGENT_ID]["node_rewards"][:n].min() < 0
    assert seen == {0, 1, 2}
    # the same env seed draws the same sizes
    a, b = GraphEnv(exp.env_config()), GraphEnv(exp.env_config())
    assert [(a.reset(), a.graph_id)[1] for _ in range(10)] == [(b.reset(), b.graph_id)[1] for _ in range(10)]


def test_mixed_batch_equals_a_module_built_for_each_size():
    """Each sample of a batch mixing sizes is embedded on its own graph: the logits equal those of the same weights
    rebuilt for that size alone (dense clique path per size), and gradients reach every graph's samples."""
    exp = _exp()
    cfg = exp.env_config()
    env = GraphEnv(cfg)
    torch.manual_seed(0)
    module = module_spec(exp).build()
    obs, gids = [], []
    while len(set(gids)) < 3 or len(gids) < 8:
        o, _ = env.reset()
        obs.append(o[AGENT_ID])
        gids.append(env.graph_id)
    batch = {k: torch.as_tensor(np.stack([o[k] for o in obs])) for k in obs[0]}
    out = module.forward_train({Columns.OBS: batch})[Columns.ACTION_DIST_INPUTS]
    for i, g in enumerate(gids):
        single = rebuild_for_env(module, dict(cfg, overrides={**cfg["overrides"], **(cfg["mix"][g - 1] if g else {})}))
        assert single.n_max == env.cores[g].n_agents
        o = {k: v[i:i + 1, :single.n_max] for k, v in batch.items() if k != "graph_id"}
        with torch.no_grad():
            ref = single.forward_inference({Columns.OBS: o})[Columns.ACTION_DIST_INPUTS]
        torch.testing.assert_close(out[i, :single.n_max], ref[0], rtol=1e-5, atol=1e-6)
    out.sum().backward()
    # (the key bias cancels in the softmax, so it gets no gradient: test_graph_models.py)
    assert all(p.grad is not None for n, p in module.named_parameters()
               if n.startswith("layers.") and not n.endswith("lin_key.bias"))
    # a batch without graph_id is on graph 0 (the experiment's own size)
    own = {k: v[[i for i, g in enumerate(gids) if g == 0]] for k, v in batch.items()}
    with torch.no_grad():
        a = module.forward_inference({Columns.OBS: own})[Columns.ACTION_DIST_INPUTS]
        b = module.forward_inference({Columns.OBS: {k: v for k, v in own.items() if k != "graph_id"}})[
            Columns.ACTION_DIST_INPUTS]
    torch.testing.assert_close(a, b)
    bad = dict(batch, graph_id=torch.full_like(batch["graph_id"], 3.0))
    with pytest.raises(ValueError, match="graph_id"):
        module.forward_inference({Columns.OBS: bad})


def test_behaviour_cloning_counts_real_nodes_only():
    """All-on teacher on two sizes padded to one width, random labels on the padding rows: counted, they would cap
    the accuracy near 1 - 0.5 x (padding share) (16 of 24 rows of the small size's samples)."""
    exp = _exp(mix=("8x3",), use_gru=False, rounds=1)
    entry = exp.env_entry()
    torch.manual_seed(0)
    module = module_spec(exp).build()
    parts = []
    for g, over in enumerate([{}, exp.mix_overrides()[0]]):
        cfg = entry.make_config("tiny", **over)
        o, y = collect_teacher_dataset(lambda n, c=cfg: entry.make_core(c, n), entry.make_baseline("all-on"), 2,
                                       seed=g, n_max=module.n_max)
        o["graph_id"] = np.full((len(y), 1), g, np.float32)
        noise = np.random.default_rng(g).integers(0, 2, (len(y), module.n_max - y.shape[1]))
        parts.append((o, np.concatenate([y, noise], axis=1)))
    obs = {k: np.concatenate([o[k] for o, _ in parts]) for k in parts[0][0]}
    y = np.concatenate([a for _, a in parts])
    assert (y == 0).mean() > 0.15  # many random padding labels
    res = behaviour_clone(module, obs, y, epochs=20, lr=1e-2, minibatch_size=32, seed=0)
    assert res.train_score > 0.99 and res.val_score > 0.99, res


@pytest.mark.parametrize("change, match", [
    ({"model": {"mode": "central"}}, "env.mix: needs model.mode 'graph'"),
    ({"env": {"mix": ["8y3"]}}, "env.mix: '8y3' is not NUM_APS"),
    ({"env": {"mix": [8]}}, "env.mix"),
    ({"env": {"mix": "8x3"}}, "env.mix"),
])
def test_bad_mixtures_name_the_key(change, match):
    data = {"env": {"name": "aps", "scenario": "tiny", "mix": ["8x3"]}}
    for k, v in change.items():
        data[k] = {**data.get(k, {}), **v}
    with pytest.raises(ConfigError, match=match):
        from_dict(ExperimentConfig, data)


def test_train_command_on_a_mixture(ray_session, tmp_path, capsys):
    """A real run: behaviour cloning on both sizes, PPO-Lagrangian on episodes of both (one multiplier per size),
    validation at each size (the worst size's cost is the run's), each size's target steered by its own
    validation and used by the next iteration, evaluation at the own size."""
    from cfmarl.cli import main

    data = yaml.safe_load(TINY.read_text())
    data["name"] = "tiny_mix"
    data["env"]["mix"] = ["8x3"]
    data["algorithm"]["multiplier_per_graph"] = True
    data["training"].update(selection="judged", retarget_rate=0.5)
    path = tmp_path / "tiny_mix.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["train", str(path), "--out", str(tmp_path / "runs"), "--iterations", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "8x3/" not in out.split("Validated the starting policy")[1].splitlines()[0]  # per-size keys stay in files
    run = tmp_path / "runs" / "train-tiny_mix"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    last = rows[-1]
    costs = [float(last["val/4x2/mean_cost"]), float(last["val/8x3/mean_cost"])]
    assert float(last["val/mean_cost"]) == max(costs)
    for g, size in enumerate(("4x2", "8x3")):  # iteration 1's steered targets are iteration 2's
        steered = float(rows[0][f"retarget/{size}/cost_target"])
        assert float(rows[1][f"lagrange/cost_limit_{g}"]) == pytest.approx(steered)
    assert float(last["val/team_return"]) == pytest.approx(float(last["val/4x2/team_return"])
                                                           + float(last["val/8x3/team_return"]))
    ev = list(csv.DictReader(open(run / "evaluation.csv")))
    assert ev[0]["policy"] == "tiny_mix" and float(ev[0]["active_aps"]) <= 4  # evaluated on the own 4 x 2 size


def test_one_multiplier_per_size(ray_session):
    """algorithm.multiplier_per_graph: one multiplier per graph of the mixture, each updated from the mean cost of
    its own graph's samples (real nodes only). Gradient rule with limit 0, lr 1, start 0: after one update each
    graph's multiplier is exactly that graph's mean per-node cost of the batch, recomputed here from the episodes."""
    from cfmarl.algo_builder import build_algo_config
    from cfmarl.train import MODULE

    exp = from_dict(ExperimentConfig, {
        "env": {"name": "aps", "scenario": "tiny", "mix": ["8x3", "6x4"],
                "overrides": {"episode_windows": 4, "se_target_bps_hz": 2.0}},
        "model": {"hidden": 16, "rounds": 1, "gru_hidden": 8},
        "algorithm": {"train_batch_size": 48, "minibatch_size": 24, "num_epochs": 1, "cost_limit": 0.0,
                      "lagrangian_rule": "gradient", "lambda_lr": 1.0, "lambda_init": 0.0,
                      "multiplier_per_graph": True},
        "resources": {"num_env_runners": 0, "num_envs_per_env_runner": 3}})
    algo = build_algo_config(exp).build_algo()
    try:
        episodes = algo.env_runner.sample(num_timesteps=48)
        sums, counts = np.zeros(3), np.zeros(3)
        for ep in episodes:
            sa = ep.agent_episodes[AGENT_ID]
            obs, infos = sa.get_observations(), sa.get_infos()
            for t in range(len(sa)):
                g, m = int(obs[t]["graph_id"][0]), obs[t]["node_mask"].astype(bool)
                sums[g] += np.asarray(infos[t + 1]["node_costs"]).reshape(len(m), -1)[m].sum()
                counts[g] += m.sum()
        assert (counts > 0).sum() >= 2, counts  # the batch covers several sizes
        algo.learner_group.update(episodes=episodes, timesteps={"num_env_steps_sampled_lifetime": 48},
                                  num_epochs=1, minibatch_size=24)
        learner = algo.learner_group._learner
        table = learner.multiplier_table(MODULE)
        assert table.shape == (3, 1)
        expected = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
        np.testing.assert_allclose(table[:, 0], expected, rtol=1e-6)  # (the infos carry float32 costs)
        assert len(set(np.round(expected[counts > 0], 12))) > 1  # the sizes' costs differ: one shared value would not
        state = learner.get_state()["lagrange"][MODULE]
        assert len(state["multiplier"]) == 3 and state["updates"] == [float(c > 0) for c in counts]
    finally:
        algo.stop()


def test_each_size_retargeted_by_its_own_validation(ray_session):
    """training.retarget_rate with algorithm.multiplier_per_graph: each size's training target moves by that size's
    validation bound (cost + 2 standard errors), by hand from lagrange.retarget; the returned row names each
    size's target; a mismatched number of costs is refused."""
    from cfmarl.algo_builder import build_algo_config
    from cfmarl.train import MODULE, retarget
    from policies.learners import lagrange

    exp = from_dict(ExperimentConfig, {
        "env": {"name": "aps", "scenario": "tiny", "mix": ["8x3", "6x4"], "overrides": {"episode_windows": 4}},
        "model": {"hidden": 16, "rounds": 1, "gru_hidden": 8},
        "algorithm": {"train_batch_size": 48, "minibatch_size": 24, "num_epochs": 1, "cost_limit": 0.02,
                      "lagrangian_rule": "pid", "multiplier_per_graph": True},
        "training": {"validate_every": 1, "selection": "judged", "retarget_rate": 0.5, "retarget_aim": 0.9,
                     "retarget_bounds": [0.5, 2.5]},
        "evaluation": {"cost_limit": 0.02},
        "resources": {"num_env_runners": 0, "num_envs_per_env_runner": 1}})
    labels = [exp.scale_label(), "8x3", "6x4"]
    val = {"val/mean_cost": 0.03, "val/mean_cost_se": 0.002}  # the worst size's, as selection.validate gives it
    for s, c in zip(labels, (0.004, 0.03, 0.018)):
        val.update({f"val/{s}/mean_cost": c, f"val/{s}/mean_cost_se": 0.001})
    algo = build_algo_config(exp).build_algo()
    try:
        learner = algo.learner_group._learner
        assert learner.cost_targets(MODULE) == [0.02, 0.02, 0.02]
        row = retarget(exp, algo, val)
        expected = [lagrange.retarget([0.02], [c + 2 * 0.001], 0.9 * 0.02, 0.5, (0.01, 0.05))[0]
                    for c in (0.004, 0.03, 0.018)]
        np.testing.assert_allclose(learner.cost_targets(MODULE), expected, rtol=1e-12)
        assert expected[0] > 0.02 > expected[2] > expected[1]  # the slack size up, the two over the aim down
        assert row == pytest.approx({"retarget/cost_target": expected[0], **{
            f"retarget/{s}/cost_target": e for s, e in zip(labels, expected)}})
        with pytest.raises(ValueError, match=r"one validation cost or one per graph \(3\)"):
            learner.retarget([0.01, 0.02], 0.018, 0.5, (0.01, 0.05))
    finally:
        algo.stop()


@pytest.mark.parametrize("change, match", [
    ({"env": {"mix": []}}, "algorithm.multiplier_per_graph: needs env.mix"),
    ({"env": {"name": "power", "scenario": "tiny", "mix": ["8x3"]},
      "algorithm": {"name": "sac_lagrangian", "multiplier_per_graph": True}},
     r"algorithm.multiplier_per_graph: not supported by sac_lagrangian \(supported by: ppo_lagrangian"),
    ({"algorithm": {"multiplier_per_graph": "yes"}}, "multiplier_per_graph"),
])
def test_bad_per_size_multipliers_name_the_key(change, match):
    data = {"env": {"name": "aps", "scenario": "tiny", "mix": ["8x3"]}, "algorithm": {"multiplier_per_graph": True}}
    for k, v in change.items():
        data[k] = {**data.get(k, {}), **v}
    with pytest.raises(ConfigError, match=match):
        from_dict(ExperimentConfig, data)
