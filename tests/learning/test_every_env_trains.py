"""Every environment trains through `cfmarl train` (real Ray, real RLlib, tiny sizes), and the
experiment's algorithm.name / model.mode select the learner and the adapter."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("ray_session")

TINY = {"power": "power_ppo_tiny", "precoding": "precoding_ppo_tiny", "mftdma": "mftdma_ppo_tiny",
        "urllc": "urllc_ppo_tiny"}


@pytest.mark.parametrize("env", list(TINY))
def test_cli_trains_every_env(env, tmp_path, capsys):
    from cfmarl.cli import main
    from cfmarl.registry import get_env

    name = TINY[env]
    assert main(["train", f"tune_configs/{name}.yaml", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    run = tmp_path / f"train-{name}"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["iteration"] for r in rows] == ["1", "2"]
    decl = get_env(env).declaration
    for k in decl.progress:  # the env's declared KPIs are logged, validated and printed
        assert np.isfinite(float(rows[-1][f"kpi/{k}"])) and f"val/{k}" in rows[-1]
        assert decl.kpi(k).label in out
    assert float(rows[-1]["lagrange/multiplier_0"]) >= 0 and np.isfinite(float(rows[-1]["loss/policy_loss"]))
    ev = list(csv.DictReader(open(run / "evaluation.csv")))
    assert ev[0]["policy"] == name and len(ev) == 3
    assert all(np.isfinite(float(r["mean_cost"])) for r in ev)
    pre = json.load(open(run / "pretrain.json"))
    assert pre["metric"] == "mean_abs_error" and 0 <= pre["val_score"] <= 1
    for f in ("learning_curves.png", "evaluation.png", "checkpoints/best", "checkpoints/iter_000002"):
        assert (run / f).exists(), f


def test_per_agent_mode_trains_and_evaluates(tmp_path, capsys):
    """model.mode per_agent: stock RLlib multi-agent PPO with a shared MLP, one RLlib agent per UE."""
    from cfmarl.cli import main

    y = tmp_path / "pa.yaml"
    y.write_text(Path("tune_configs/power_ppo_tiny.yaml").read_text()
                 .replace("name: power_ppo_tiny", "name: power_per_agent")
                 .replace("model: {mode: graph, encoder: gnn, rounds: 1, hidden: 16, use_gru: false}",
                          "model: {mode: per_agent, hidden: 16}")
                 .replace("name: ppo_lagrangian", "name: ppo")
                 .replace("pretrain: {enabled: true", "pretrain: {enabled: false"))
    assert main(["train", str(y), "--out", str(tmp_path)]) == 0
    run = tmp_path / "train-power_per_agent"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert np.isfinite(float(rows[-1]["cost/mean_node_cost_0"])) and "kpi/sum_se_bps_hz" in rows[-1]
    ev = list(csv.DictReader(open(run / "evaluation.csv")))
    assert ev[0]["policy"] == "power_per_agent" and float(ev[0]["mean_power_w"]) > 0


@pytest.mark.parametrize("changes,message", [
    ({"model": {"mode": "per_agent"}}, "algorithm.name 'ppo_lagrangian' does not support model.mode 'per_agent'"),
    ({"algorithm": {"name": "ppo"}}, "algorithm.name 'ppo' does not support model.mode 'graph'"),
    ({"algorithm": {"name": "dqn"}}, "algorithm.name: unknown learner 'dqn'"),
    ({"algorithm": {"name": "sac"}}, "algorithm.name 'sac' does not support discrete actions"),
    ({"model": {"action_head": "beta"}}, "model.action_head: 'beta' does not fit env 'aps''s discrete actions"),
    ({"pretrain": {"enabled": True}}, "pretrain.teacher: needed"),
])
def test_unsupported_combinations_are_one_line_errors(tmp_path, capsys, changes, message):
    import yaml

    from cfmarl.cli import main

    data = {"name": "bad", "env": {"name": "aps", "scenario": "tiny"}}
    for k, v in changes.items():
        data.setdefault(k, {}).update(v)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data))
    assert main(["train", str(p), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_learners_command_lists_capabilities(capsys):
    from cfmarl.cli import main

    assert main(["learners"]) == 0
    out = capsys.readouterr().out
    assert "ppo_lagrangian  (on-policy; actions: continuous, discrete, hybrid; model.mode: central, graph; constrained)" in out


def test_a_learner_without_hybrid_actions_refuses_urllc_with_one_line():
    """URLLC declares quantised components, so its default head is hybrid: a learner that does not list
    hybrid actions (a reparameterised one, for instance) is refused by name, and the beta head works."""
    import dataclasses

    from cfmarl.experiment import ConfigError, ExperimentConfig, from_dict
    from cfmarl.policies.learners import registry

    base = registry.get_learner("ppo_lagrangian")
    registry.register_learner(dataclasses.replace(base, name="no_hybrid", actions=frozenset({"continuous"})))
    try:
        data = {"env": {"name": "urllc", "scenario": "s2222"}, "model": {"mode": "central"},
                "algorithm": {"name": "no_hybrid"}}
        with pytest.raises(ConfigError, match="'no_hybrid' does not support hybrid actions"):
            from_dict(ExperimentConfig, data)
        data["model"]["action_head"] = "beta"
        from_dict(ExperimentConfig, data)
    finally:
        registry._REGISTERED.pop("no_hybrid", None)
