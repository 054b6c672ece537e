"""The memory guard: each env's estimate against measured allocations, refusal of absurd products
of in-bounds sizes before anything is allocated (env API, experiment files, CLI, `cfmarl scale`),
and the explicit override."""

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from cfmarl.envs import validation
from cfmarl.envs.validation import ALLOW_LARGE_ENV, ConfigError
from cfmarl.registry import get_env

ROOT = Path(__file__).resolve().parents[2]

# (env, scenario, overrides): sizes large enough that the estimate's terms dominate
MEASURED = [
    ("aps", "medium", {"num_aps": 64, "num_ues": 16}),
    ("aps", "medium", {"num_aps": 128, "num_ues": 32, "window_slots": 40}),
    ("aps", "medium", {"num_aps": 64, "num_ues": 64, "observe_link_gain": True}),
    ("power", "paper", {"num_aps": 400, "num_ues": 32}),
    ("power", "paper", {"num_aps": 100, "num_ues": 128}),
    ("precoding", "medium", {"num_orus": 64, "num_ues": 32, "oru_antennas": 16}),
    ("precoding", "medium", {"num_orus": 64, "num_ues": 64}),
    ("urllc", "paper", {"num_ues": 12}),
    ("urllc", "paper", {"buffer_bits": 120_000}),
    ("mftdma", "n8-2:6", {"num_nodes": 256, "num_high": 32}),
    ("mftdma", "n8-2:6", {"queue_capacity": 4096}),
]


def _peak_bytes(name, scenario, overrides) -> tuple[int, float]:
    entry = get_env(name)
    cfg = entry.make_config(scenario, **overrides)
    estimate = sum(b for _, _, b in cfg.memory_terms())
    tracemalloc.start()
    try:
        core = entry.make_core(cfg, 1)
        state, obs = core.reset([0])
        policy = entry.make_baseline(entry.baselines[0])
        for _ in range(2):
            a = policy.act(core, state, obs)
            if a is None:
                a = np.zeros((1, core.n_agents, core.action_dim))
            state, obs, *_ = core.step(state, a)
        core.agent_graph(state)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, estimate


@pytest.mark.parametrize("name,scenario,overrides", MEASURED, ids=[f"{m[0]}-{i}" for i, m in enumerate(MEASURED)])
def test_estimate_bounds_measured_allocations(name, scenario, overrides):
    """Upper bound of what one env copy allocates (reset, steps, agent graph), and not absurdly loose."""
    peak, estimate = _peak_bytes(name, scenario, overrides)
    assert peak <= estimate <= 10 * peak, (peak, estimate)


ABSURD = [  # in-bounds fields, absurd products (the kinds of the hardening issue)
    ("aps", "medium", {"num_aps": 4096, "num_ues": 1024}, ["num_aps", "num_ues"]),  # 4 M link agents
    ("mftdma", "n8-2:6", {"num_nodes": 1024, "queue_capacity": 1_000_000}, ["num_nodes", "queue_capacity"]),
    ("precoding", "medium", {"num_orus": 1024, "oru_antennas": 64, "num_ues": 512, "ue_antennas": 8},
     ["num_orus", "oru_antennas"]),
    ("urllc", "paper", {"num_ues": 64, "buffer_bits": 10**9, "packet_bits_min": 1}, ["num_ues", "buffer_bits"]),
]  # power control's arrays grow as (APs x UEs): its largest in-bounds sizes need ~1 GB, nothing to refuse


@pytest.fixture
def small_machine(monkeypatch):
    """A machine with 8 GB available (6.4 GB to spare), whatever this one has; no override set."""
    monkeypatch.setattr(validation, "available_memory_bytes", lambda: 8 * 10**9)
    monkeypatch.delenv(ALLOW_LARGE_ENV, raising=False)


@pytest.mark.parametrize("name,scenario,overrides,fields", ABSURD, ids=[a[0] for a in ABSURD])
def test_absurd_sizes_are_refused_naming_fields(small_machine, monkeypatch, name, scenario, overrides, fields):
    entry = get_env(name)
    with pytest.raises(ConfigError) as err:
        entry.make_config(scenario, **overrides)
    msg = str(err.value)
    assert "\n" not in msg and ("GB" in msg or "TB" in msg)
    assert all(f in msg for f in fields) and ALLOW_LARGE_ENV in msg and "6.4 GB" in msg
    # the same through the PettingZoo API (config dict -> env): refused before any array exists
    import importlib

    with pytest.raises(ConfigError):
        importlib.import_module(entry.module).parallel_env(scenario=scenario, **overrides)
    # the explicit override lets the config through (nothing is allocated by a config)
    monkeypatch.setenv(ALLOW_LARGE_ENV, "1")
    entry.make_config(scenario, **overrides)


def test_ordinary_scenarios_pass_on_a_small_machine(small_machine):
    for name in ("aps", "power", "precoding", "urllc", "mftdma"):
        entry = get_env(name)
        for scenario in entry.scenario_names():
            entry.make_config(scenario)


def _experiment(tmp_path, **sections) -> Path:
    data = yaml.safe_load((ROOT / "tune_configs" / "aps_gnn_tiny.yaml").read_text())
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v}
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_experiment_counts_env_copies_and_batch(small_machine, tmp_path, monkeypatch):
    from cfmarl.experiment import load_experiment

    big_env = {"scenario": "medium", "overrides": {"num_aps": 256, "num_ues": 64}}  # ~0.5 GB per copy
    load_experiment(_experiment(tmp_path, env=big_env))  # 2 envs + 2: fits in 6.4 GB
    with pytest.raises(ConfigError, match=r"experiment: .*64 env copies.*num_envs_per_env_runner|64 env copies"):
        load_experiment(_experiment(tmp_path, env=big_env, resources={"num_envs_per_env_runner": 62}))
    with pytest.raises(ConfigError, match="sample batch .*algorithm.train_batch_size"):
        load_experiment(_experiment(tmp_path, env=big_env, algorithm={"train_batch_size": 200_000,
                                                                      "minibatch_size": 100}))
    # resources.allow_large: the user means it (sets the override for this process and its Ray workers)
    load_experiment(_experiment(tmp_path, env=big_env, resources={"num_envs_per_env_runner": 62,
                                                                  "allow_large": True}))
    assert validation.allow_large()
    monkeypatch.delenv(ALLOW_LARGE_ENV)


def test_cli_refuses_in_one_line(small_machine, tmp_path, capsys):
    from cfmarl.cli import main

    assert main(["evaluate", "--env", "aps", "--scenario", "medium", "--set", "num_aps=4096", "--set",
                 "num_ues=1024", "--episodes", "1", "--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "num_aps" in err and ALLOW_LARGE_ENV in err
    exp = _experiment(tmp_path, env={"overrides": {"num_aps": 4096, "num_ues": 1024}})
    assert main(["train", str(exp), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "num_aps" in err
    assert not (tmp_path / "runs" / "train-aps_gnn_tiny").exists()  # refused before the run folder


def test_scale_validates_every_size_before_training(small_machine, tmp_path, capsys):
    from cfmarl.cli import main

    data = yaml.safe_load((ROOT / "tune_configs" / "aps_scale_tiny.yaml").read_text())
    data["scale"]["sizes"] = ["4x2", "8x3", "4096x1024"]
    p = tmp_path / "scale.yaml"
    p.write_text(yaml.safe_dump(data))
    assert main(["scale", str(p), "--out", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "num_aps" in err
    assert not (tmp_path / "runs" / "scale-aps_scale_tiny").exists()  # nothing trained
