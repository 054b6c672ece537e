"""A third-party env outside envs/ (tests/plugins/cfmarl_toy_env) registers with one line and then
trains, evaluates and lists through the CLI (docs/adding_an_environment.md)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
TOY_YAML = PLUGINS / "cfmarl_toy_env" / "toy_tiny.yaml"


@pytest.fixture
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    return str(PLUGINS)


def test_register_env_call_makes_it_known(plugin_path):
    from cfmarl_toy_env import registration

    from cfmarl.registry import env_registry, get_env, register_env, unregister_env

    register_env(registration())
    try:
        assert "toy" in env_registry() and get_env("toy").declaration.progress == ("wish_error", "total_share")
        with pytest.raises(ValueError, match="already registered"):
            register_env(registration())
    finally:
        unregister_env("toy")
    assert "toy" not in env_registry()
    assert get_env("cfmarl_toy_env:registration").name == "toy"  # the YAML form


def test_cli_trains_and_evaluates_a_third_party_env(tmp_path, plugin_path):
    """`cfmarl train` on the example env for 2 iterations, in a fresh process (as a user runs it)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([plugin_path, os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "cfmarl.cli", "train", str(TOY_YAML), "--out", str(tmp_path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "iter    2/2" in res.stdout and "mean |share - wish|" in res.stdout and "proportional" in res.stdout
    run = tmp_path / "train-toy_tiny"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["iteration"] for r in rows] == ["1", "2"] and "kpi/wish_error" in rows[0]
    ev = list(csv.DictReader(open(run / "evaluation.csv")))
    assert [r["policy"] for r in ev] == ["toy_tiny", "proportional"]
    assert (run / "evaluation.png").exists() and (run / "learning_curves.png").exists()


def test_unknown_env_names_the_forms(tmp_path):
    from cfmarl.envs.validation import ConfigError
    from cfmarl.experiment import load_experiment

    p = tmp_path / "e.yaml"
    p.write_text("name: e\nenv: {name: nosuchenv}\n")
    with pytest.raises(ConfigError, match="unknown env 'nosuchenv'.*package.module:function"):
        load_experiment(p)
    p.write_text("name: e\nenv: {name: 'nosuchmodule:registration'}\n")
    with pytest.raises(ConfigError, match="cannot import"):
        load_experiment(p)
