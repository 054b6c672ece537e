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


def _kpis(tmp_path, scenario, episodes, *policies):
    assert main(["evaluate", "--env", "aps", "--scenario", scenario, "--episodes", str(episodes), "--seed", "1000",
                 "--out", str(tmp_path), "--quiet", "--set", "se_target_bps_hz=1.0",
                 *[a for p in policies for a in ("--policy", p)]]) == 0
    (run,) = list(tmp_path.iterdir())
    return {r["policy"]: r for r in csv.DictReader(open(run / "kpis.csv"))}


def test_shipped_gnn_acts_on_another_size(tmp_path):
    rows = _kpis(tmp_path, "tiny", 2, "pretrained:aps_gnn_medium", "all-on")
    assert 0 <= float(rows["pretrained:aps_gnn_medium"]["active_aps"]) <= 4


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
