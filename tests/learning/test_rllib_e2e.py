"""Short real runs on Ray / RLlib (tiny sizes): graph-mode PPO-Lagrangian, checkpoint
round-trips, cost alignment, behaviour cloning, the centralised and per-agent modes,
and the train / evaluate commands."""

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.utils.postprocessing.episodes import add_one_ts_to_episodes_and_truncate

from cfmarl.algo_builder import build_algo_config
from cfmarl.experiment import load_experiment, from_dict, ExperimentConfig
from cfmarl.policies.adapters.graph_env import AGENT_ID, MODULE_ID
from cfmarl.policies.learners.per_node_gae import node_signals
from cfmarl.policies.models.graph_actor_critic import COST_VF_PREDS
from cfmarl.train import force_sync_weights

TINY = Path(__file__).resolve().parents[2] / "tune_configs" / "aps_gnn_tiny.yaml"


def _exp(**sections) -> ExperimentConfig:
    import yaml

    data = yaml.safe_load(TINY.read_text())
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    return from_dict(ExperimentConfig, data)


@pytest.fixture(scope="module")
def trained(ray_session):
    algo = build_algo_config(_exp()).build_algo()
    results = [algo.train() for _ in range(2)]
    yield algo, results
    algo.stop()


def test_graph_mode_ppo_lagrangian_two_iterations(trained):
    algo, results = trained
    for r in results:
        lr = r["learners"][MODULE_ID]
        lam = lr["lagrange/multiplier_0"]
        assert np.isfinite(lam) and lam >= 0
        assert np.isfinite(lr["policy_loss"]) and lr["cost_vf_loss"] >= 0
        assert 0 <= lr["lagrange/mean_cost_0"] <= 1
        er = r["env_runners"]
        assert {"kpi/active_aps", "kpi/mean_se_bps_hz", "kpi/target_satisfaction", "kpi/network_power_w",
                "cost/mean_node_cost_0"} <= set(er)
    # tiny with target 2 is infeasible at first: mean cost above the 0.05 limit drives lambda up
    lams = [r["learners"][MODULE_ID]["lagrange/multiplier_0"] for r in results]
    assert lams[0] > 0
    learner = algo.learner_group._learner
    assert learner.multipliers(MODULE_ID) == [lams[-1]]
    opts = list(learner._named_optimizers.values())  # one fused Adam (policies/learners/fused_step.py)
    assert len(opts) == 1 and isinstance(opts[0], torch.optim.Adam) and opts[0].defaults["fused"] is True


def test_cost_of_step_t_belongs_to_step_t(trained):
    """AP selection's node reward is a pure function of the action taken at the same
    step (-1 if the link's AP serves anyone), so aligned signals must match the
    episode's own actions; signals read one step off would not."""
    algo, _ = trained
    episodes = algo.env_runner.sample(num_timesteps=20, explore=True)
    L, K = 4, 2
    checked = 0
    for ma in episodes:
        sa = copy.deepcopy(ma.agent_episodes[AGENT_ID])
        if len(sa) < 3:
            continue
        actions = np.stack(sa.get_actions())
        add_one_ts_to_episodes_and_truncate([sa])
        rew, cost = node_signals(sa)
        expected = -np.repeat(actions.reshape(-1, L, K).any(-1), K, axis=1).astype(float)
        np.testing.assert_array_equal(rew, expected)
        assert cost.shape == (len(actions), L * K, 1)
        shifted = np.stack([sa.get_infos()[t]["node_rewards"] for t in range(len(actions))])
        assert not np.array_equal(shifted[1:], expected[1:]) or np.all(actions == actions[0])
        checked += 1
    assert checked > 0


def test_values_kept_while_sampling_equal_a_learner_pass(trained):
    """The episodes carry the critics' values from sampling; the learner's GAE uses them (evaluating only
    the bootstrap rows) and gets the advantages and targets it gets by evaluating every row itself."""
    algo, _ = trained
    learner = algo.learner_group._learner
    episodes = algo.env_runner.sample(num_timesteps=24, explore=True)
    stripped = copy.deepcopy(episodes)
    for ma in stripped:
        for key in (Columns.VF_PREDS, COST_VF_PREDS):
            ma.agent_episodes[AGENT_ID].extra_model_outputs.pop(key)
    batches = [learner._learner_connector(rl_module=learner.module, episodes=copy.deepcopy(eps), batch={},
                                          metrics=learner.metrics)[MODULE_ID] for eps in (episodes, stripped)]
    assert Columns.VF_PREDS in batches[0] and Columns.VF_PREDS not in batches[1]
    for key in ("node_adv_r", "node_vt_r", "node_adv_c", "node_vt_c"):
        torch.testing.assert_close(batches[0][key], batches[1][key], rtol=1e-4, atol=1e-4, msg=key)
    assert batches[0]["node_vt_c"].abs().sum() > 0


def test_checkpoint_restore_exact(trained, tmp_path):
    algo, _ = trained
    path = tmp_path / "ckpt"
    algo.save_to_path(str(path))
    learner = algo.learner_group._learner
    saved_lagrange = copy.deepcopy(learner._lagrange)
    saved_weights = {k: v.clone() for k, v in learner.module[MODULE_ID].state_dict().items()}
    algo.train()  # weights and multipliers move on
    assert learner._lagrange != saved_lagrange
    algo.restore_from_path(str(path))
    force_sync_weights(algo)
    assert learner._lagrange == saved_lagrange
    for k, v in learner.module[MODULE_ID].state_dict().items():
        assert torch.equal(v, saved_weights[k]), k
    # the runner acts with the restored weights: identical logits on the same observation
    obs, _ = algo.env_runner.env.envs[0].unwrapped.reset(seed=3) if hasattr(algo.env_runner.env, "envs") else \
        algo.env_runner.env.unwrapped.reset(seed=3)
    b = {Columns.OBS: {k: torch.as_tensor(v)[None] for k, v in obs[AGENT_ID].items()}}
    with torch.no_grad():
        runner_out = algo.env_runner.module[MODULE_ID].forward_inference(b)[Columns.ACTION_DIST_INPUTS]
        learner_out = learner.module[MODULE_ID].forward_inference(b)[Columns.ACTION_DIST_INPUTS]
    assert torch.equal(runner_out, learner_out)
    # and a brand-new algorithm restores the same state
    fresh = build_algo_config(_exp()).build_algo()
    try:
        fresh.restore_from_path(str(path))
        assert fresh.learner_group._learner._lagrange == saved_lagrange
        for k, v in fresh.learner_group._learner.module[MODULE_ID].state_dict().items():
            assert torch.equal(v, saved_weights[k]), k
    finally:
        fresh.stop()


@pytest.mark.parametrize("head", ["auto", "gated"])
def test_behaviour_cloning_reaches_high_accuracy(ray_session, head):
    from cfmarl.algo_builder import module_spec
    from cfmarl.policies.baselines.ap_selection import KStrongest
    from cfmarl.policies.pretrain import behaviour_clone, collect_teacher_dataset
    from cfmarl.envs import ap_selection_v0

    exp = _exp(env={"scenario": "medium", "overrides": {"episode_windows": 5}}, model={"action_head": head})
    cfg = ap_selection_v0.make_config("medium", episode_windows=5)
    obs, y = collect_teacher_dataset(lambda n: ap_selection_v0.ApSelectionCore(cfg, n),
                                     KStrongest(k=4, by="large_scale"), episodes=40, seed=0)
    assert obs["x"].shape == (200, 96, 6) and y.shape == (200, 96) and set(obs) == {"x", "node_mask"}
    assert np.all(y.reshape(-1, 16, 6).sum(1) == 4)  # 4 APs per UE in every label
    torch.manual_seed(0)  # the initial weights: the result must not depend on the tests run before
    module = module_spec(exp).build()
    res = behaviour_clone(module, obs, y, epochs=30, lr=3e-3, minibatch_size=32, seed=0)
    assert res.metric == "accuracy" and res.val_score >= 0.95, res


@pytest.mark.parametrize("variant", [
    {"model": {"mode": "central", "hidden": 32}, "pretrain": {"enabled": False}},
    {"env": {"reward_mode": "engineered", "engineered_weight": 2.0},
     "algorithm": {"lagrangian_rule": "none"}, "pretrain": {"enabled": False}},
    {"model": {"encoder": "mlp", "use_gru": False}, "algorithm": {"lagrangian_rule": "gradient"}},
    {"model": {"action_head": "gated"}},
])
def test_variants_train_one_iteration(ray_session, variant):
    algo = build_algo_config(_exp(**variant)).build_algo()
    try:
        r = algo.train()
        lam = r["learners"][MODULE_ID]["lagrange/multiplier_0"]
        assert np.isfinite(r["learners"][MODULE_ID]["policy_loss"])
        if variant.get("algorithm", {}).get("lagrangian_rule") == "none":
            assert lam == 0.0
    finally:
        algo.stop()


def test_per_agent_mode_smoke(ray_session):
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from cfmarl.policies.adapters.per_agent import PerAgentEnv, per_agent_policy_mapping_fn

    env_cfg = {"env": "aps", "scenario": "tiny", "overrides": {"episode_windows": 5}}
    env = PerAgentEnv(env_cfg)
    assert env.possible_agents == [f"ap{l}_ue{k}" for l in range(4) for k in range(2)]
    assert env.agents == []
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(env.possible_agents) == set(infos)
    for _ in range(5):
        obs, rew, term, trunc, infos = env.step(dict.fromkeys(env.agents, 1))
    assert trunc["__all__"] and not term["__all__"] and env.agents == []
    cfg = (PPOConfig().environment(PerAgentEnv, env_config=env_cfg)
           .env_runners(num_env_runners=0, rollout_fragment_length=5)
           .multi_agent(policies={MODULE_ID}, policy_mapping_fn=per_agent_policy_mapping_fn,
                        count_steps_by="agent_steps")
           .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[16]))
           .training(train_batch_size_per_learner=80, minibatch_size=40, num_epochs=1))
    algo = cfg.build_algo()
    try:
        r = algo.train()
        steps = r["env_runners"]["num_agent_steps_sampled"]
        assert set(steps) == set(env.possible_agents)  # every link agent sampled
        assert sum(steps.values()) >= 80
        assert np.isfinite(r["learners"][MODULE_ID]["total_loss"])
    finally:
        algo.stop()


def test_train_command_resumes_and_evaluates(ray_session, tmp_path, capsys, monkeypatch):
    from cfmarl.cli import main

    monkeypatch.chdir(tmp_path)  # relative run directories, as `make run` uses them
    assert main(["train", str(TINY), "--out", "runs", "--iterations", "1", "--quiet"]) == 0
    run = tmp_path / "runs" / "train-aps_gnn_tiny"
    assert main(["train", str(TINY), "--out", "runs", "--iterations", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Resuming" in out and "iter_000001" in out
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["iteration"] for r in rows] == ["1", "2"]
    assert float(rows[-1]["lagrange/multiplier_0"]) >= 0
    info = json.load(open(run / "pretrain.json"))
    assert info["train_score"] > 0.9 and info["majority_score"] == 1.0  # 4-strongest of tiny's 4 APs: all on
    ev = list(csv.DictReader(open(run / "evaluation.csv")))
    assert [r["policy"] for r in ev] == ["aps_gnn_tiny", "k-strongest", "all-on"]
    for name in ("learning_curves.png", "evaluation.png", "config.json", "versions.json"):
        assert (run / name).exists(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best", "best.json", "iter_000001",
                                                                       "iter_000002"]
    assert {"val/mean_cost", "val/mean_cost_se", "val/active_aps"} <= set(rows[-1])
    assert "best validated checkpoint" in out
    assert out.count("Validated the starting policy") == 1  # the cloned policy is a candidate (not again on resume)
    assert json.load(open(run / "checkpoints" / "best.json"))["iteration"] in (0, 1, 2)
    # the checkpoint evaluates as a policy beside the baselines
    assert main(["evaluate", "--scenario", "tiny", "--policy", "runs/train-aps_gnn_tiny", "--policy", "all-on",
                 "--episodes", "2",
                 "--out", str(tmp_path / "ev"), "--quiet", "--set", "se_target_bps_hz=2.0",
                 "--set", "episode_windows=10"]) == 0
    kp = list(csv.DictReader(open(next((tmp_path / "ev").iterdir()) / "kpis.csv")))
    assert kp[0]["policy"] == "train-aps_gnn_tiny@iter_000002"


def test_model_selection_rule():
    from cfmarl.selection import better as _better

    def v(cost, ret):
        return {"val/mean_cost": cost, "val/team_return": ret}
    assert _better(v(0.5, -1.0), None, 0.1)
    assert _better(v(0.05, -20.0), v(0.5, -1.0), 0.1)  # feasible beats infeasible
    assert not _better(v(0.5, -1.0), v(0.05, -20.0), 0.1)
    assert _better(v(0.08, -10.0), v(0.02, -12.0), 0.1)  # among feasible: higher return
    assert _better(v(0.3, -1.0), v(0.4, -0.5), 0.1)  # among infeasible: lower cost


def test_judged_selection_uses_an_upper_confidence_bound():
    import dataclasses

    from cfmarl.experiment import load_experiment
    from cfmarl.selection import better as _better, selection_rule

    shipped = load_experiment("tune_configs/aps_gnn_medium.yaml")  # target 0.014, judged 0.02
    exp = dataclasses.replace(shipped, training=dataclasses.replace(shipped.training, selection="target"))
    assert selection_rule(exp) == (0.014, 0.0)
    judged = dataclasses.replace(exp, training=dataclasses.replace(exp.training, selection="judged"))
    assert selection_rule(judged) == (0.02, 2.0)

    def v(cost, se, ret):
        return {"val/mean_cost": cost, "val/mean_cost_se": se, "val/team_return": ret}
    tight, loose = v(0.017, 0.001, -10.0), v(0.017, 0.002, -5.0)  # 0.019 <= 0.02 < 0.021
    assert _better(tight, loose, *selection_rule(judged))  # only the tight one is feasible
    assert _better(loose, tight, *selection_rule(exp)) is False  # both infeasible at the 0.014 target: equal cost
    assert _better(loose, tight, 0.02, 0.0)  # point estimates: both feasible, the higher return wins


def test_experiment_file_errors_name_the_key(tmp_path):
    from cfmarl.envs.validation import ConfigError

    bad = tmp_path / "bad.yaml"
    for text, message in [("algorithm: {lrr: 1}", "algorithm.lrr: unknown key"),
                          ("algorithm: {lr: -1}", "algorithm.lr: must be > 0"),
                          ("model: {encoder: cnn}", "model.encoder: must be one of gnn, mlp"),
                          ("training: {iterations: 2.5}", "training.iterations: must be an integer"),
                          ("env: {scenario: mediun}", "unknown scenario 'mediun'"),
                          ("env: {overrides: {num_aps: 0}}", "ApSelectionConfig.num_aps"),
                          ("env: {name: power, scenario: tiny}\nmodel: {action_head: categorical}",
                           "model.action_head: 'categorical' does not fit env 'power''s continuous actions"),
                          ("algorithm: {lagrangian_rule: multiplicative, lambda_init: 0.0}",
                           "algorithm.lambda_init: the multiplicative rule needs a start"),
                          ("algorithm: {lagrangian_rule: multiplicative, cost_limit: 0.0, lambda_init: 1.0}",
                           "algorithm.cost_limit: the multiplicative rule divides"),
                          ("training: {retarget_rate: 0.5, validate_every: 0}",
                           "training.retarget_rate: steers by the judged validation"),
                          ("training: {retarget_rate: 0.5, validate_every: 2, selection: judged}\n"
                           "algorithm: {lagrangian_rule: none}", "training.retarget_rate: moves the Lagrange"),
                          ("training: {retarget_rate: 0.5, validate_every: 2, selection: judged, retarget_aim: 1.5}",
                           "training.retarget_aim: must be in"),
                          ("training: {retarget_rate: 0.5, validate_every: 2, selection: judged, "
                           "retarget_bounds: [2, 1]}", "training.retarget_bounds: needs"),
                          ("training: {retarget_rate: -1}", "training.retarget_rate: must be >= 0"),
                          ("training: {rollback: true, validate_every: 0}", "training.rollback: goes back"),
                          ("training: {rollback: yes please}", "training.rollback: must be true or false"),
                          ("training: {rollback: true, validate_every: 1, rollback_lr_factor: 0}", "training.rollback_lr_factor: must"),
                          ("training: {rollback_lr_factor: 0.5}", "training.rollback_lr_factor: only used with"),
                          ("training: {rollback: true, validate_every: 1, rollback_patience: 0}",
                           "training.rollback_patience: an integer in"),
                          ("training: {rollback_patience: 3}", "training.rollback_patience: only used with"),
                          ("env: {name: power, scenario: tiny}\nalgorithm: {name: sac_lagrangian}\n"
                           "training: {rollback: true, validate_every: 1}",
                           "training.rollback: not supported by sac_lagrangian"),
                          ("algorithm: {lr_schedule: [[1, 1.0e-4]]}", "algorithm.lr_schedule: needs"),
                          ("algorithm: {lr_schedule: [[0, 1.0e-4], [0, 1.0e-5]]}", "algorithm.lr_schedule: needs"),
                          ("algorithm: {lr_schedule: [[0, 0.0]]}", "algorithm.lr_schedule: needs"),
                          ("algorithm: {lr_schedule: [0, 1.0e-4]}", "algorithm.lr_schedule: needs"),
                          ("env: {name: power, scenario: tiny}\n"
                           "algorithm: {name: sac_lagrangian, lr_schedule: [[0, 1.0e-4]]}",
                           "algorithm.lr_schedule: for learners with one algorithm.lr"),
                          ("env: {name: power, scenario: tiny}\n"
                           "algorithm: {name: sac_lagrangian, critic_warmup_iterations: 2}",
                           "algorithm.critic_warmup_iterations: not supported"),
                          ("env: {name: power, scenario: tiny}\n"
                           "algorithm: {name: sac_lagrangian, entropy_floor: 0.1}",
                           "algorithm.entropy_floor: not supported by sac_lagrangian"),
                          ("algorithm: {entropy_floor: -0.1}", "algorithm.entropy_floor: must be >= 0"),
                          ("algorithm: {entropy_floor: 0.1, entropy_floor_lr: 0}",
                           "algorithm.entropy_floor_lr: must be > 0 with algorithm.entropy_floor"),
                          ("pretrain: {label_smoothing: 1.5}", "pretrain.label_smoothing: must be"),
                          ("algorithm: {entropy_ceiling: -0.1}", "algorithm.entropy_ceiling: must be >= 0"),
                          ("algorithm: {entropy_floor: 0.1, entropy_ceiling: 0.05}",
                           "algorithm.entropy_ceiling: must be above algorithm.entropy_floor"),
                          ("algorithm: {entropy_ceiling: 0.3, entropy_floor_max: 0}",
                           "algorithm.entropy_floor_max: must be > 0 with algorithm.entropy_ceiling"),
                          ("env: {name: power, scenario: tiny}\n"
                           "algorithm: {name: sac_lagrangian, entropy_ceiling: 0.1}",
                           "algorithm.entropy_ceiling: not supported by sac_lagrangian"),
                          ("algorithm: {entropy_floor_push: kl}", "algorithm.entropy_floor_push: must be one of"),
                          ("env: {name: power, scenario: tiny}\n"
                           "algorithm: {entropy_floor: 0.1, entropy_floor_push: uniform_kl}",
                           "algorithm.entropy_floor_push: 'uniform_kl' is for the categorical heads, not for "
                           "continuous"),
                          ("env: {name: power, scenario: tiny}\npretrain: {label_smoothing: 0.1}",
                           "pretrain.label_smoothing: for the per-node cross-entropy of the categorical heads, not for "
                           "continuous"),
                          ("model: {action_head: gated}\npretrain: {label_smoothing: 0.1}",
                           "pretrain.label_smoothing: .* not for the gated head"),
                          ("env: {name: power, scenario: tiny}\nmodel: {action_head: gated}",
                           "model.action_head: 'gated' is for binary actions"),
                          ("model: {action_head: gated, mode: central}", "'gated' needs model.mode graph"),
                          ("model: {action_head: gated, gate_relation: 5}", "model.gate_relation: relation 5"),
                          ("env: {name: aps, mix: [8x4]}\nmodel: {action_head: gated}", "'gated' needs one graph"),
                          ("nonsense: 1", "nonsense: unknown key")]:
        bad.write_text(text if text.startswith("env:") else "env: {name: aps}\n" + text)
        with pytest.raises(ConfigError, match=message):
            load_experiment(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_experiment(tmp_path / "missing.yaml")


def test_remote_runner_gets_restored_weights(ray_session, tmp_path):
    """With a remote env runner, restoring an older checkpoint into a live algorithm must
    still leave the runner on the restored weights (RLLIB_NOTES: sequence-number trap)."""
    exp = _exp(resources={"num_env_runners": 1, "num_envs_per_env_runner": 2}, pretrain={"enabled": False})
    algo = build_algo_config(exp).build_algo()
    try:
        algo.train()
        algo.save_to_path(str(tmp_path / "c"))
        saved = {k: v.clone() for k, v in algo.learner_group._learner.module[MODULE_ID].state_dict().items()}
        algo.train()
        algo.restore_from_path(str(tmp_path / "c"))
        force_sync_weights(algo)
        remote = algo.env_runner_group.foreach_env_runner(
            lambda r: {k: v.clone() for k, v in r.module[MODULE_ID].state_dict().items()}, local_env_runner=False)
        assert len(remote) == 1
        for k, v in saved.items():
            assert torch.equal(remote[0][k], v), k
        r = algo.train()
        assert r["env_runners"]["num_env_steps_sampled"] > 0
    finally:
        algo.stop()


def test_multiplier_settings_reach_the_learner_config():
    """algorithm.lagrangian_rule / lambda_lr / lambda_init / lambda_max of the experiment are the learner's
    LagrangeConfig (PPO-Lagrangian here; SAC-Lagrangian shares the mixin)."""
    cfg = build_algo_config(_exp(algorithm={"lagrangian_rule": "multiplicative", "lambda_lr": 0.3,
                                            "lambda_init": 2.0, "lambda_max": 40.0})).lagrange_config()
    assert (cfg.rule, cfg.lr, cfg.init, cfg.max_multiplier) == ("multiplicative", 0.3, 2.0, 40.0)


def test_retarget_moves_the_training_target_and_checkpoints_it(ray_session, tmp_path):
    """training.retarget_rate: after a validation the learner's training target is d (aim / bound)^rate (bound =
    validation cost + 2 standard errors, aim = retarget_aim x the judged limit); the multiplier rule holds the
    sampled cost at the new target from the next iteration on, and the target is learner state (restored)."""
    from cfmarl.train import retarget, validate

    exp = _exp(training={"validate_every": 1, "selection": "judged", "retarget_rate": 0.5, "retarget_aim": 0.8,
                         "retarget_bounds": [0.5, 3.0]}, pretrain={"enabled": False})
    algo = build_algo_config(exp).build_algo()
    try:
        algo.train()
        learner = algo.learner_group._learner
        assert learner.cost_targets(MODULE_ID) == [0.05]
        val = validate(exp, algo)
        bound = val["val/mean_cost"] + 2 * val["val/mean_cost_se"]
        want = float(np.clip(0.05 * (0.8 * 0.05 / max(bound, 0.004)) ** 0.5, 0.025, 0.15))
        assert retarget(exp, algo, val)["retarget/cost_target"] == pytest.approx(want, rel=1e-12)
        assert learner.cost_targets(MODULE_ID) == pytest.approx([want], rel=1e-12)
        r = algo.train()["learners"][MODULE_ID]
        assert r["lagrange/cost_limit_0"] == pytest.approx(want, rel=1e-12)
        algo.save_to_path(str(tmp_path / "c"))
    finally:
        algo.stop()
    fresh = build_algo_config(exp).build_algo()
    try:
        fresh.restore_from_path(str(tmp_path / "c"))
        assert fresh.learner_group._learner.cost_targets(MODULE_ID) == pytest.approx([want], rel=1e-12)
    finally:
        fresh.stop()


def test_lr_schedule_sets_the_learning_rate_by_iteration(ray_session):
    """algorithm.lr_schedule [[iteration, lr], ...]: after each iteration the optimizer's lr is the schedule,
    linear between its points in the iterations done (env steps sampled / train_batch_size), flat after."""
    exp = _exp(algorithm={"lr_schedule": [[0, 1.0e-3], [2, 2.0e-4]]}, pretrain={"enabled": False})
    algo = build_algo_config(exp).build_algo()
    try:
        opts = list(algo.learner_group._learner._named_optimizers.values())
        assert [o.param_groups[0]["lr"] for o in opts] == [1.0e-3]
        for _ in range(3):
            r = algo.train()
            done = r["env_runners"]["num_env_steps_sampled_lifetime"] / exp.algorithm.train_batch_size
            want = float(np.interp(done, [0, 2], [1.0e-3, 2.0e-4]))
            assert opts[0].param_groups[0]["lr"] == pytest.approx(want, rel=1e-9)
        assert done >= 2 and opts[0].param_groups[0]["lr"] == pytest.approx(2.0e-4, rel=1e-9)
    finally:
        algo.stop()


def test_critic_warmup_trains_the_value_heads_only(ray_session):
    """algorithm.critic_warmup_iterations: the first W iterations leave the policy head and the shared encoder
    bit-identical (only the reward / cost value heads move); from iteration W + 1 on the whole model trains."""
    exp = _exp(algorithm={"critic_warmup_iterations": 1}, pretrain={"enabled": False})
    algo = build_algo_config(exp).build_algo()
    try:
        module = algo.learner_group._learner.module[MODULE_ID]
        snap = lambda: {k: v.detach().clone() for k, v in module.state_dict().items()}  # noqa: E731
        before = snap()
        r = algo.train()["learners"][MODULE_ID]
        after = snap()
        assert r["critic_warmup"] == 1.0
        moved = {k for k in before if not torch.equal(before[k], after[k])}
        assert moved and all(k.startswith(("vf.", "cf.")) for k in moved), moved
        assert {"vf.weight", "cf.weight"} <= moved
        r = algo.train()["learners"][MODULE_ID]
        assert r["critic_warmup"] == 0.0
        moved = {k for k, v in snap().items() if not torch.equal(after[k], v)}
        assert "pi.weight" in moved and any(k.startswith("layers.") for k in moved)
    finally:
        algo.stop()
