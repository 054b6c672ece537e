"""Policies shipped with cfmarl (policies/pretrained/NAME, ``pretrained:NAME``): intact, loadable on any size,
as good as their README says on the main job's scenario, and clear errors for wrong names and paths."""

import csv

import pytest
import yaml

from cfmarl import checkpoints
from cfmarl.cli import main
from cfmarl.policies.module_controller import PRETRAINED, pretrained_names


def test_every_shipped_policy_is_intact_and_documented():
    assert "aps_gnn_medium" in pretrained_names()
    for name in pretrained_names():
        folder = PRETRAINED / name
        assert checkpoints.damage(folder) is None, name
        assert {"README.md", "experiment.yaml", "module_state.pkl"} <= {p.name for p in folder.iterdir()}


def _kpis(tmp_path, scenario, episodes, *policies_and_sets):
    """KPIs per policy; ``"--set", "key=value"`` pairs among the arguments override the scenario."""
    args, policies = [], list(policies_and_sets)
    while "--set" in policies:
        i = policies.index("--set")
        args += policies[i:i + 2]
        del policies[i:i + 2]
    assert main(["evaluate", "--env", "aps", "--scenario", scenario, "--episodes", str(episodes), "--seed", "1000",
                 "--out", str(tmp_path), "--quiet", "--set", "se_target_bps_hz=1.0", *args,
                 *[a for p in policies for a in ("--policy", p)]]) == 0
    (run,) = list(tmp_path.iterdir())
    return {r["policy"]: r for r in csv.DictReader(open(run / "kpis.csv"))}


def test_shipped_gnn_acts_on_another_size(tmp_path):
    """Trained on 16 APs x 6 UEs, the GNN acts on 12 x 5 as it learned to: about four serving links per UE
    (it imitates and refines 4-strongest; measured 4.2 on 20 episodes), fewer APs than all-on, SE shortfall far
    below all-off's; a policy that keeps every link on or off, or acts without the learned rule, fails it."""
    rows = _kpis(tmp_path, "medium", 5, "pretrained:aps_gnn_medium", "all-on", "--set", "num_aps=12", "--set",
                 "num_ues=5")
    me, on = rows["pretrained:aps_gnn_medium"], rows["all-on"]
    assert 3.0 <= float(me["active_links"]) / 5 <= 5.0
    assert float(me["active_aps"]) < float(on["active_aps"]) == 12
    assert float(me["mean_cost"]) < 0.1


def test_shipped_policy_acts_like_a_trained_one_on_medium(tmp_path):
    """On 20 of the main job's test episodes the shipped APS-GNN keeps fewer APs on than 4-strongest (the best
    feasible k on medium, pedestrian) at a cost near the judged limit: broken or untrained weights do neither
    (random weights switch almost every AP on; all-off misses the SE target by far). Its 200-episode figures
    are in its README."""
    limit = yaml.safe_load((PRETRAINED / "aps_gnn_medium" / "experiment.yaml").read_text())["evaluation"]["cost_limit"]
    rows = _kpis(tmp_path, "medium", 20, "pretrained:aps_gnn_medium", "k-strongest:k=4,by=large_scale")
    me, k = rows["pretrained:aps_gnn_medium"], rows["k-strongest:k=4,by=large_scale"]
    assert float(me["active_aps"]) < float(k["active_aps"])
    assert float(me["mean_cost"]) <= 1.5 * limit


def test_unknown_shipped_name_is_a_clear_error(tmp_path, capsys):
    assert main(["evaluate", "--scenario", "tiny", "--episodes", "1", "--out", str(tmp_path), "--quiet",
                 "--policy", "pretrained:nope"]) == 2
    err = capsys.readouterr().err
    assert "no shipped policy 'nope'" in err and "aps_gnn_medium" in err and "Traceback" not in err


@pytest.mark.parametrize("value, message", [("no/such/run", "no such checkpoint or run directory"),
                                            ("pretrained:nope", "no shipped policy 'nope'")])
def test_wrong_init_from_fails_before_training(tmp_path, capsys, value, message):
    data = yaml.safe_load(open("tune_configs/aps_gnn_tiny.yaml"))
    data["training"]["init_from"] = value
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump(data))
    assert main(["train", str(cfg), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "training.init_from:" in err and message in err and "Traceback" not in err
    assert not list((tmp_path / "runs").glob("train-*"))  # refused before a run directory exists
