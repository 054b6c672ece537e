"""`cfmarl collect`: datasets written atomically with a manifest, loaded back equal, resumable."""

import json

import numpy as np
import pytest

from cfmarl import datasets
from cfmarl.cli import main
from cfmarl.evaluate import episode_seeds
from cfmarl.registry import get_env


def test_urllc_transitions_round_trip_equal_a_direct_rollout(tmp_path, capsys):
    out = tmp_path / "ds"
    args = ["collect", "--env", "urllc", "--scenario", "s2222", "--policy", "random", "--episodes", "3",
            "--batch", "2", "--seed", "5", "--set", "episode_slots=6", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert "Collected 3 episodes" in capsys.readouterr().out
    ds = datasets.load_dataset(out)
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] and m["episodes_done"] == 3 and m["transitions"] == 18 and len(m["shards"]) == 2
    assert m["env_config"]["episode_slots"] == 6 and m["plan"]["policies"] == ["random"]
    tr = ds.transitions()
    assert tr["s"].shape == (18, 2 * 2 * 2 * 2 + 2 * 2) and tr["a"].shape == (18, 3 * 2 * 2 * 2) and tr["done"].sum() == 3
    # the same episodes rolled out directly give the same arrays
    entry = get_env("urllc")
    cfg = entry.make_config("s2222", episode_slots=6)
    seeds = episode_seeds(5, 3)
    direct = datasets._rollout(entry.make_core(cfg, 2), entry.make_baseline("random"), seeds[:2], lambda: None)
    for k in datasets.FIELDS:
        np.testing.assert_array_equal(ds.arrays[k][:2], direct[k])
    np.testing.assert_array_equal(tr["s_next"][:5], tr["s"][1:6])  # s' of step t is s of step t + 1


def test_mftdma_trajectories_from_a_policy_mix_and_resume(tmp_path, capsys):
    out = tmp_path / "mf"
    args = ["collect", "--env", "mftdma", "--scenario", "n4-1:3", "--policy", "equal", "--policy",
            "load-proportional", "--policy", "random", "--episodes", "3", "--batch", "1", "--set",
            "episode_frames=5", "--out", str(out), "--quiet"]
    assert main(args) == 0
    full = datasets.load_dataset(out)
    assert full.policy.tolist() == ["equal", "load-proportional", "random"]
    assert full.arrays["obs"].shape == (3, 5, 4, 8) and full.arrays["actions"].shape == (3, 5, 4, 1)
    # an interruption after the first shard: the manifest lists one shard; the same command completes it
    m = json.loads((out / "manifest.json").read_text())
    m["shards"], m["complete"] = m["shards"][:1], False
    (out / "manifest.json").write_text(json.dumps(m))
    (out / "shard-00002.npz").unlink()
    assert main(args) == 0
    resumed = datasets.load_dataset(out)
    for k in datasets.FIELDS:
        np.testing.assert_array_equal(resumed.arrays[k], full.arrays[k])
    # other arguments into the same folder are refused
    assert main(args[:-3] + ["--seed", "9", "--out", str(out), "--quiet"]) == 2
    assert "other arguments" in capsys.readouterr().err
    # the arrays are filled shard by shard (no concatenated copy): equal to concatenating the shards; a shard whose
    # episodes disagree with its manifest entry is named, not a numpy broadcast error
    for k in datasets.FIELDS:
        parts = [np.load(out / s["file"])[k] for s in m["shards"][:1]] + [np.load(out / f"shard-0000{i}.npz")[k]
                                                                            for i in (1, 2)]
        np.testing.assert_array_equal(full.arrays[k], np.concatenate(parts))
    m = json.loads((out / "manifest.json").read_text())
    m["shards"][1]["episodes"] = 2
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(datasets.ConfigError, match=r"shard .*shard-00001.npz holds 'obs' of shape \(1, 5, 4, 8\)"):
        datasets.load_dataset(out)


def test_resume_continues_a_behaviour_policys_random_stream(tmp_path, capsys):
    """A policy drawing from its own stream (random requests, noisy load-proportional) over several shards: resumed
    after an interruption, its later shards continue the stream instead of replaying the draws of its first shard."""
    out = tmp_path / "mf"
    args = ["collect", "--env", "mftdma", "--scenario", "n4-1:3", "--policy", "random", "--policy",
            "load-proportional:noise=0.5,seed=1", "--episodes", "6", "--batch", "1", "--set", "episode_frames=4",
            "--out", str(out), "--quiet"]
    assert main(args) == 0
    full = datasets.load_dataset(out)
    m = json.loads((out / "manifest.json").read_text())
    assert all("stream_after" in s for s in m["shards"])
    for keep in (1, 2, 3):  # interrupted after `keep` shards
        cut = dict(m, shards=m["shards"][:keep], complete=False)
        (out / "manifest.json").write_text(json.dumps(cut))
        assert main(args) == 0
        resumed = datasets.load_dataset(out)
        for k in datasets.FIELDS:
            np.testing.assert_array_equal(resumed.arrays[k], full.arrays[k], err_msg=f"{k}, resumed after {keep}")
    # the policies do draw something else in their later shards (the check above could not pass by replay)
    assert not np.array_equal(full.arrays["actions"][0], full.arrays["actions"][2])
    assert capsys.readouterr().err == ""
    # a manifest written before the streams were kept resumes as before and says the draws restarted
    old = dict(m, shards=[{k: v for k, v in s.items() if k != "stream_after"} for s in m["shards"][:1]],
               complete=False)
    (out / "manifest.json").write_text(json.dumps(old))
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "drew from the policy's seed again" in err and "random" in err and "load-proportional" not in err


def test_collect_bad_input(tmp_path, capsys):
    assert main(["collect", "--env", "urllc", "--scenario", "paper", "--policy", "greedy", "--episodes", "1",
                 "--out", str(tmp_path / "x")]) == 2
    assert "unknown policy 'greedy' for env 'urllc'" in capsys.readouterr().err
    with pytest.raises(Exception, match="no manifest"):
        datasets.load_dataset(tmp_path)
