"""The PettingZoo API of every env refuses bad seeds, non-numeric actions and a wrong config object with
one clear error naming the argument or the agent (numpy would parse "0.5", drop an imaginary part or
raise deep inside the physics)."""

import importlib

import numpy as np
import pytest

from cfmarl.envs.validation import ActionError
from cfmarl.registry import env_registry

ENVS = sorted(env_registry())


def _env(name):
    entry = env_registry()[name]
    return importlib.import_module(entry.module).parallel_env(scenario=entry.scenario_names()[0])


@pytest.mark.parametrize("name", ENVS)
@pytest.mark.parametrize("seed", [-1, "abc", 1.5, True, [1, 2]])
def test_bad_seeds(name, seed):
    with pytest.raises(ValueError, match=r"reset\(seed=...\): must be a non-negative integer or None"):
        _env(name).reset(seed=seed)


@pytest.mark.parametrize("name", ENVS)
def test_good_seeds_still_work(name):
    env = _env(name)
    a, _ = env.reset(seed=np.int64(3))
    b, _ = _env(name).reset(seed=3)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("name", ENVS)
@pytest.mark.parametrize("bad,kind", [("0.5", "text"), (b"1", "bytes"), (None, "objects"), (0.5 + 1j, "complex"),
                                      ("abc", "text")])
def test_non_numeric_actions_name_the_agent(name, bad, kind):
    env = _env(name)
    env.reset(seed=0)
    first = env.agents[0]
    shape = env.action_space(first).shape or ()
    acts = {a: env.action_space(a).sample() * 0 for a in env.agents}
    acts[first] = np.full(shape, bad) if kind == "complex" and shape else bad
    with pytest.raises(ActionError, match=rf"actions\[{first!r}\]: must be .*got {kind}"):
        env.step(acts)


@pytest.mark.parametrize("name", ENVS)
def test_a_dict_is_not_a_config(name):
    mod = importlib.import_module(env_registry()[name].module)
    with pytest.raises(ValueError, match="config: expected the env's config object"):
        mod.parallel_env(config={"scenario": "tiny"})


@pytest.mark.parametrize("text,message", [
    ("", "the file is empty"),
    ("name: x\n", "no `env` section"),
    ("name: x\nenv: {name: aps}\nseed: 1\nseed: 2\n", r"e.yaml:4:1: key 'seed' given twice in one mapping \(first at line 3\)"),
    ("name: x\nenv:\n  name: aps\n  name: power\n", r"e.yaml:4:3: key 'name' given twice"),
    ("name: x\nenv: {name: aps\nseed: 1\n", r"e.yaml:3:5: not valid YAML: expected ',' or '}'"),
    ("name: x\nenv: {name: aps}\nseed: -3\n", "seed: must be a non-negative integer"),
    ("name: x\nenv: {name: aps}\nevaluation: {seed: -1}\n", "evaluation.seed: must be >= 0"),
    ("name: x\nenv: {name: aps}\ntraining: {validation_seed: -1}\n", "training.validation_seed: must be >= 0"),
])
def test_experiment_yaml_edge_cases(tmp_path, text, message):
    from cfmarl.experiment import ConfigError, load_experiment

    p = tmp_path / "e.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_experiment(p)


@pytest.mark.parametrize("argv", [
    ["evaluate", "--env", "power", "--scenario", "tiny", "--episodes", "1", "--policy", "full-power"],
    ["collect", "--env", "power", "--scenario", "tiny", "--policy", "full-power", "--episodes", "1"],
    ["train", "tune_configs/power_ppo_tiny.yaml"],
])
def test_impossible_output_folders_are_one_line_errors(tmp_path, capsys, argv):
    from cfmarl.cli import main

    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    for out, message in ((str(a_file / "sub"), "is a file, not a folder"), ("/proc/cfmarl-out", "cannot write there")):
        assert main(argv + ["--out", out]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_bad_channel_files_are_one_line(tmp_path):
    import pickle

    from cfmarl.envs import urllc_ofdm_v0 as u
    from cfmarl.envs.validation import ConfigError

    cfg = u.make_config("s2222")
    shape = (3, cfg.num_aps, u.UrllcCore(cfg, 1).U, u.UrllcCore(cfg, 1).K, u.UrllcCore(cfg, 1).M)
    pick = tmp_path / "pickled.npy"
    pick.write_bytes(pickle.dumps({"h": 1}))
    obj = tmp_path / "objects.npy"
    np.save(obj, np.array([{"h": 1}], dtype=object), allow_pickle=True)
    npz = tmp_path / "archive.npz"
    np.savez(npz, h=np.zeros(shape, complex))
    real = tmp_path / "real.npy"
    np.save(real, np.zeros(shape))
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full(shape, np.nan + 0j))
    text = tmp_path / "text.npy"
    text.write_text("not an array")
    for f, message in ((pick, "cannot read"), (obj, "cannot read"), (npz, "is an .npz archive"),
                       (real, "expected a complex array"), (nan, "NaN or infinite"), (text, "cannot read")):
        with pytest.raises(ConfigError, match=f"channel_file: .*{message}"):
            u.UrllcCore(u.make_config("s2222", channel_file=str(f)), 1)


def test_damaged_datasets_are_one_line(tmp_path):
    from cfmarl.datasets import collect, load_dataset
    from cfmarl.envs.validation import ConfigError

    out = collect("power", "tiny", {}, ["full-power"], 2, 0, tmp_path / "ds", quiet=True)
    manifest = out / "manifest.json"
    good = manifest.read_text()
    for text, message in (("{not json", "is not valid JSON"), ("[1, 2]", "unknown format"),
                          (good.replace('"shards"', '"shardz"'), "'shards' must be a list")):
        manifest.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_dataset(out)
    manifest.write_text(good)
    shard = next(out.glob("shard-*.npz"))
    shard.write_bytes(shard.read_bytes()[:100])  # truncated
    with pytest.raises(ConfigError, match="is missing or damaged"):
        load_dataset(out)
    shard.unlink()
    with pytest.raises(ConfigError, match="is missing or damaged"):
        load_dataset(out)
