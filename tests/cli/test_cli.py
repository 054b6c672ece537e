"""The cfmarl command line, end to end (tiny sizes)."""

import csv
import json

import pytest

from cfmarl.cli import main


def test_envs_lists_scenarios_with_sizes(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "cfmarl.envs.ap_selection_v0" in out
    for name, links in [("medium", "96"), ("large", "1024"), ("xlarge", "4096"), ("medium-vehicular", "96")]:
        assert any(line.split()[:1] == [name] and links in line.split() for line in out.splitlines())


def _run(tmp_path, *extra):
    return main(["evaluate", "--env", "aps", "--scenario", "tiny", "--episodes", "3", "--seed", "4",
                 "--out", str(tmp_path), "--quiet", "--set", "episode_windows=4", *extra])


def test_evaluate_writes_run_directory(tmp_path, capsys):
    assert _run(tmp_path, "--policy", "k-strongest:k=2", "--policy", "all-on", "--policy", "greedy") == 0
    out = capsys.readouterr().out
    (run,) = list(tmp_path.iterdir())
    assert {p.name for p in run.iterdir()} >= {"kpis.csv", "episodes.csv", "kpis.png", "config.json",
                                               "versions.json"}
    rows = list(csv.DictReader(open(run / "kpis.csv")))
    assert [r["policy"] for r in rows] == ["k-strongest:k=2", "all-on", "greedy"]
    all_on = rows[1]
    assert float(all_on["active_aps"]) == 4.0 and float(all_on["active_aps_std"]) == 0.0
    assert float(all_on["network_power_w"]) == pytest.approx(4 * 3.525, rel=1e-5)
    episodes = list(csv.DictReader(open(run / "episodes.csv")))
    assert len(episodes) == 9
    # common random numbers: every policy saw the same episode seeds
    seeds = {p: [e["seed"] for e in episodes if e["policy"] == p] for p in ("all-on", "greedy")}
    assert seeds["all-on"] == seeds["greedy"]
    cfg = json.load(open(run / "config.json"))
    assert cfg["env_config"]["episode_windows"] == 4 and cfg["seed"] == 4
    assert json.load(open(run / "versions.json"))["numpy"]
    assert (run / "kpis.png").read_bytes()[:4] == b"\x89PNG"
    assert "greedy" in out and str(run) in out


def test_evaluate_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        assert main(["evaluate", "--scenario", "tiny-vehicular", "--episodes", "2", "--seed", "1", "--out", str(d),
                     "--quiet", "--policy", "k-strongest", "--set", "episode_windows=3"]) == 0
    rows = [list(csv.DictReader(open(next(d.iterdir()) / "episodes.csv"))) for d in (a, b)]
    strip = lambda rs: [{k: v for k, v in r.items() if k != "decision_latency_ms"} for r in rs]  # noqa: E731
    assert strip(rows[0]) == strip(rows[1])


@pytest.mark.parametrize("args, message", [
    (["--scenario", "mediun"], "unknown scenario 'mediun'"),
    (["--env", "nope"], "unknown env 'nope'"),
    (["--policy", "k-strongst"], "unknown policy 'k-strongst'"),
    (["--set", "se_target_bps_hz=-1"], "ApSelectionConfig.se_target_bps_hz: must be > 0"),
    (["--set", "num_apps=3"], "unknown field(s) num_apps"),
    (["--set", "oops"], "expected FIELD=VALUE"),
])
def test_evaluate_bad_input_is_a_clear_error(tmp_path, capsys, args, message):
    code = main(["evaluate", "--out", str(tmp_path), "--quiet", "--episodes", "1", *args])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written for invalid input


def test_bad_episode_count_is_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--episodes", "0"])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err


@pytest.mark.parametrize("env,scenario,sets,figures", [
    ("power", "tiny", ["episode_steps=4", "objective=max_min"], {"kpis.png", "sinr_map.png"}),
    ("power", "tiny-central", ["episode_steps=3", "lbfgs_refine=true"], {"kpis.png", "sinr_map.png"}),
    ("precoding", "tiny", ["episode_steps=3", "rt_per_step=2"], {"kpis.png"}),
    ("mftdma", "n4-1:3", ["episode_frames=20"], {"kpis.png"}),
    ("urllc", "s2222-per-ap", ["episode_slots=10"], {"kpis.png"}),
])
def test_evaluate_every_baseline_of_the_new_envs(tmp_path, capsys, env, scenario, sets, figures):
    from cfmarl.registry import get_env

    args = ["evaluate", "--env", env, "--scenario", scenario, "--episodes", "2", "--out", str(tmp_path), "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    out = capsys.readouterr().out
    (run,) = list(tmp_path.iterdir())
    assert {p.name for p in run.iterdir()} >= figures | {"kpis.csv", "episodes.csv", "config.json"}
    rows = list(csv.DictReader(open(run / "kpis.csv")))
    assert [r["policy"] for r in rows] == list(get_env(env).baselines)
    assert "(mean ± std over episodes" in out and "Files in" in out
    assert all(k.label in out for k in get_env(env).declaration.kpis)  # the env's declared table
    assert all(float(r["decision_latency_ms"]) >= 0 for r in rows)


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_umask_mode(tmp_path, umask, mode):
    """Result files are written through a temporary file (mkstemp: 0600) but end with the mode a plain
    open() would give, so results on shared storage stay readable to the team unless the umask says no."""
    import os
    import stat

    from cfmarl import rundir

    old = os.umask(umask)
    try:
        rundir.write_json(tmp_path / "a.json", {"x": 1})
        rundir.atomic_write_bytes(tmp_path / "b.bin", b"\0")
    finally:
        os.umask(old)
    for name in ("a.json", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode


def test_output_folder_check_is_safe_for_runs_started_together(tmp_path):
    """Runs started together into one folder (benchmarks/aps_reproduction.py --parallel) each probe it: one must
    not remove the other's probe (it used to fail one run with 'cannot write there')."""
    from concurrent.futures import ThreadPoolExecutor

    from cfmarl.cli import check_output_dir

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: check_output_dir(str(tmp_path / "runs"), "--out"), range(800)))
    assert list((tmp_path / "runs").iterdir()) == []
