"""benchmarks/ma_cdmp.py --scenario: another of the paper's MF-TDMA settings gets its own runs folder and dataset,
its experiments the scenario, and `report --scenario` writes that setting's claims beside the main setting's rows
(kept) from the evaluation rows results/settings/<scenario>.csv, which `evaluate` keeps."""

import csv

import numpy as np
import pytest

KPI = {"team_return": -900.0, "throughput_mbps": 2.0, "mean_delay_ms": 9.0, "packet_loss_rate": 0.001,
       "mean_cost": 0.0, "decision_latency_ms": 3.0, "seconds": 1.0}


def _row(method, seed, **kpi):
    return {"method": method, "seed": seed, **KPI, **kpi}


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def scripts(monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import ma_cdmp
    import ma_cdmp_report

    monkeypatch.setattr(ma_cdmp, "SCENARIO", ma_cdmp.MAIN_SCENARIO)
    monkeypatch.setattr(ma_cdmp, "OUT", ma_cdmp.RUNS)
    monkeypatch.setattr(ma_cdmp, "DATA", "recorded")
    return ma_cdmp, ma_cdmp_report


def test_report_of_a_setting_keeps_the_main_rows(scripts, tmp_path):
    ma_cdmp, rep = scripts
    main_row = {"claim": "MA-CDMP beats BC on reward / throughput / delay / loss (n8 2:6, ideal RF)", "paper": "-",
                "measured": "-", "holds": "no", "evidence": "benchmarks/results/mftdma/ma_cdmp.md"}
    _write(tmp_path / "claims.csv", [main_row])
    rows = [_row("cdmp", 0, team_return=-800.0), _row("cdmp", 1, team_return=-700.0),
            _row("cdmp_nomf", 0, team_return=-1000.0), _row("cdmp_nomf", 1, team_return=-1100.0),
            _row("bc", 0, team_return=-600.0, mean_delay_ms=6.0), _row("bc", 1, team_return=-600.0, mean_delay_ms=6.0),
            *(_row("td3bc", s, team_return=-2000.0, mean_delay_ms=20.0, throughput_mbps=1.0, packet_loss_rate=0.01)
              for s in (0, 1)),
            _row("cql", 0, team_return=-5000.0),  # one seed of two: in the table, no claims row against it
            _row("load-proportional", "-", team_return=-650.0)]
    _write(tmp_path / "settings" / "n8-4-4.csv", rows)
    _write(tmp_path / "settings" / "n8-2-6.csv", rows)  # the main setting is reported by `report` alone
    _write(tmp_path / "settings" / "n9-2-7-limited.csv", rows[:1] + rows[2:])  # MA-CDMP seed 0 only: no claims
    _write(tmp_path / "settings" / "n8-4-4-limited.csv", rows)  # limited RF: its own claims, named so
    for _ in range(2):  # a second report replaces the setting's rows, it does not add them again
        rep.report_settings(tmp_path, [0, 1])
    got = list(csv.DictReader(open(tmp_path / "claims.csv")))
    assert got[0] == main_row and len(got) == 1 + 2 * (3 + 1)  # BC, TD3+BC, load-proportional; the mean field
    by = {r["claim"]: r for r in got[1:]}
    assert len(by) == 8  # every claim named once: the limited setting's carry "limited RF"
    assert "Removing the mean field lowers the reward of MA-CDMP (n8 4:4, limited RF)" in by
    assert by["MA-CDMP beats MA-TD3+BC on reward / throughput / delay / loss (n8 4:4, ideal RF)"]["holds"] == "yes"
    assert by["MA-CDMP beats BC on reward / throughput / delay / loss (n8 4:4, ideal RF)"]["holds"] == "no"
    mf = by["Removing the mean field lowers the reward of MA-CDMP (n8 4:4)"]
    assert mf["holds"] == "yes" and "-750 ± 70.71 with MF" in mf["measured"]
    assert all("--scenario n8-4:4" in r["evidence"] for r in got[1:])  # n8-4:4 and n8-4:4-limited
    md = (tmp_path / "ma_cdmp_settings.md").read_text()
    assert "## n8 4:4, ideal RF (`--scenario n8-4:4`)" in md and "n8 2:6" not in md
    assert "## n9 2:7, limited RF (`--scenario n9-2:7-limited`)" in md
    assert md.count("MA-CDMP has 1 of the 2 seeds asked for: no claims rows yet.") == 1
    assert md.count("MA-CQL: fewer seeds than asked for, no claims rows against them yet.") == 2  # n8 4:4, limited
    assert not any("MA-CQL" in r["claim"] for r in got)


def test_mean_field_claim_standard_error_and_single_seeds(scripts):
    """The w/o-MF claim: `yes` only beyond 2 standard errors over seeds; one seed of either gives no standard error
    (`partial` at best, said so); seeds without spread give a standard error of 0, so any gain holds (the earlier
    report called that case "one seed each")."""
    _, rep = scripts
    a = lambda *v: {"team_return": np.array(v, float)}  # noqa: E731

    def mf(cdmp, nomf):
        rows = rep._claims_of("cdmp", {"cdmp": cdmp, "cdmp_nomf": nomf}, {}, "ev")
        return [r for r in rows if r["claim"].startswith("Removing")][0]

    r = mf(a(-700, -800), a(-1000, -1100))  # difference +300, 2 SE 2 sqrt(5000/2 + 5000/2) = 141.4
    assert r["holds"] == "yes" and "2 standard errors 141" in r["measured"]
    assert mf(a(-700, -800), a(-750, -850))["holds"] == "partial"  # +50 within 141
    r = mf(a(-700), a(-1000, -1100))
    assert r["holds"] == "partial" and "one seed: no standard error" in r["measured"] and "on one seed" in r["evidence"]
    r = mf(a(-700, -700), a(-800, -800))  # two seeds, no spread
    assert r["holds"] == "yes" and "2 standard errors 0" in r["measured"] and "one seed" not in r["measured"]
    assert mf(a(-900, -900), a(-800, -800))["holds"] == "no"


def test_a_setting_moves_runs_and_the_experiments_scenario(scripts, tmp_path, monkeypatch, capsys):
    ma_cdmp, _ = scripts
    monkeypatch.setattr(ma_cdmp, "RUNS", tmp_path / "runs")
    assert ma_cdmp.out_dir("n8-2:6") == tmp_path / "runs"
    assert ma_cdmp.out_dir("n9-2:7-limited") == tmp_path / "runs" / "n9-2-7-limited"
    monkeypatch.setattr(ma_cdmp, "OUT", ma_cdmp.out_dir("n9-4:5"))
    monkeypatch.setattr(ma_cdmp, "SCENARIO", "n9-4:5")
    import yaml

    cfg = yaml.safe_load(ma_cdmp.derived_config("bc", 1).read_text())
    assert cfg["env"]["scenario"] == "n9-4:5" and cfg["seed"] == 1 and cfg["evaluation"]["episodes"] == 1
    assert ma_cdmp.derived_config("bc", 1).parent == tmp_path / "runs" / "n9-4-5" / "configs"
    with pytest.raises(SystemExit):
        ma_cdmp.main(["sweeps", "--scenario", "n8-4:4"])
    assert "the sweeps study runs on n8-2:6 only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ma_cdmp.main(["report", "--scenario", "n8-5:3"])
    assert "'n8-5:3' is not an MF-TDMA scenario" in capsys.readouterr().err


def test_evaluation_rows_are_kept_beside_the_results(scripts, tmp_path, monkeypatch):
    """`evaluate --scenario` ends by copying every evaluation file's rows of the scenario's runs folder to
    results/settings/<scenario>.csv (the folder made when missing), keeping the rows recorded there of seeds the
    runs folder has not evaluated; one row per (method, seed), the first file's (the classical rows every file
    repeats, a seed two files evaluated)."""
    ma_cdmp, _ = scripts
    monkeypatch.setattr(ma_cdmp, "OUT", tmp_path / "runs" / "n8-4-4")
    monkeypatch.setattr(ma_cdmp, "SCENARIO", "n8-4:4")
    monkeypatch.setattr(ma_cdmp, "RESULTS", tmp_path / "results")
    _write(ma_cdmp.OUT / "evaluation-seeds0.csv", [_row("cdmp", 0), _row("equal", "-")])
    _write(ma_cdmp.OUT / "evaluation-seeds1.csv", [_row("cdmp", 1), _row("equal", "-")])
    _write(ma_cdmp.OUT / "evaluation-seeds1_2.csv", [_row("cdmp", 1, team_return=-9.0)])
    path = ma_cdmp.keep_setting_rows()
    assert path == tmp_path / "results" / "settings" / "n8-4-4.csv"
    rows = list(csv.DictReader(open(path)))
    assert [(r["method"], r["seed"]) for r in rows] == [("cdmp", "0"), ("equal", "-"), ("cdmp", "1")]
    assert rows[2]["team_return"] != "-9.0"
    # a new runs folder (another machine): the recorded seeds stay, a seed evaluated again replaces its row
    for p in ma_cdmp.OUT.glob("*.csv"):
        p.unlink()
    _write(ma_cdmp.OUT / "evaluation-seeds2.csv", [_row("equal", "-"), _row("cdmp", 1, team_return=-5.0),
                                                    _row("cdmp", 2)])
    ma_cdmp.keep_setting_rows()
    rows = list(csv.DictReader(open(path)))
    assert [(r["method"], r["seed"]) for r in rows] == [("cdmp", "0"), ("equal", "-"), ("cdmp", "1"), ("cdmp", "2")]
    assert rows[2]["team_return"] == "-5.0"


def test_sampler_study_runs_every_fast_sampler_once_beside_the_ddpm_row(scripts, tmp_path, monkeypatch):
    """`samplers --scenario`: each trained MA-CDMP seed once per fast sampler (the experiment's other sampling
    options kept), its DDPM row copied from `evaluate`'s; a second call adds nothing; rows kept in results."""
    ma_cdmp, _ = scripts
    import cfmarl.offline_train as ot

    monkeypatch.setattr(ma_cdmp, "OUT", tmp_path / "runs" / "n8-4-4")
    monkeypatch.setattr(ma_cdmp, "SCENARIO", "n8-4:4")
    monkeypatch.setattr(ma_cdmp, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(ma_cdmp, "finished", lambda run: run.name.endswith("-s0"))
    monkeypatch.setattr(ot, "controller_from_spec", lambda spec, seed: spec)
    specs = []
    monkeypatch.setattr(ma_cdmp, "on_common_episodes", lambda spec: specs.append(spec) or {**KPI, "team_return": -1.0})
    _write(ma_cdmp.OUT / "evaluation-seeds0.csv", [_row("cdmp", 0, team_return=-700.0), _row("bc", 0)])
    for _ in range(2):
        path = ma_cdmp.samplers([0, 1])  # seed 1 is not trained: skipped
    assert len(specs) == len(ma_cdmp.FAST_SAMPLERS)
    assert all("train-mftdma_cdmp_n8-s0:" in s and "guidance=0.1" in s for s in specs)
    assert "sampler=sde-dpm,sampling_steps=10" in specs[3]
    rows = list(csv.DictReader(open(path)))
    assert path == tmp_path / "results" / "samplers" / "n8-4-4.csv"
    assert [(r["sampler"], r["steps"], r["team_return"]) for r in rows[:2]] == [("ddpm", "100", "-700.0"),
                                                                                ("dpm", "10", "-1")]
    # an experiment that samples otherwise: `evaluate`'s row is not DDPM's, the study runs DDPM itself
    from cfmarl.experiment import load_experiment

    real = load_experiment

    def other_sampler(path):
        exp = real(path)
        exp.algorithm.options["sampler"] = "sde-dpm"
        return exp

    monkeypatch.setattr("cfmarl.experiment.load_experiment", other_sampler)
    monkeypatch.setattr(ma_cdmp, "RESULTS", tmp_path / "results2")
    (ma_cdmp.OUT / "samplers.csv").unlink()
    specs.clear()
    rows = list(csv.DictReader(open(ma_cdmp.samplers([0]))))
    assert rows[0]["sampler"] == "ddpm" and rows[0]["team_return"] == "-1" and "sampler=ddpm" in specs[0]
    assert len(specs) == 1 + len(ma_cdmp.FAST_SAMPLERS)


def test_sampler_claims_compare_each_solver_at_10_steps_with_ddpm_on_the_same_seeds(scripts, tmp_path):
    _, rep = scripts
    rows = []
    for seed, ddpm, ode, sde in ((0, -700.0, -5000.0, -720.0), (1, -600.0, -6000.0, -640.0), (2, 0, -1.0, -1.0)):
        for sampler, steps, ret, ms in (("ddpm", 100, ddpm, 200.0), ("dpm", 10, ode, 20.0), ("dpm", 20, ode, 40.0),
                                        ("sde-dpm", 10, sde, 20.0)):
            if not (seed == 2 and sampler == "ddpm"):  # seed 2 has no DDPM row: left out of the comparison
                rows.append({"seed": seed, "sampler": sampler, "steps": steps, **KPI, "team_return": ret,
                             "decision_latency_ms": ms})
    _write(tmp_path / "samplers" / "n8-4-4.csv", rows)
    got = {r["claim"]: r for r in rep.settings(tmp_path, [0, 1, 2])}
    ode = got["DPM-Solver++ ODE (= DDIM) with 10 steps keeps the reward of the full DDPM chain at a fraction of the "
              "decision time (n8 4:4, ideal RF)"]
    sde = got["DPM-Solver++ SDE with 10 steps keeps the reward of the full DDPM chain at a fraction of the decision "
              "time (n8 4:4, ideal RF)"]
    assert ode["holds"] == "no" and sde["holds"] == "yes"  # -680 / -650 = 1.05 at a tenth of the time
    assert sde["measured"].startswith("team return -680 ± 56.57 at 20 ms/decision vs DDPM (K = 100) -650 ± 70.71")
    assert "20 steps -5500" in ode["measured"] and "(2 seed(s))" in ode["measured"]
    md = (tmp_path / "ma_cdmp_settings.md").read_text()
    assert "## Samplers, n8 4:4, ideal RF" in md and "| DPM-Solver++ SDE | 10 | 2 |" in md
    assert (tmp_path / "ma_cdmp_samplers.png").stat().st_size > 0


def test_long_episodes_evaluate_every_run_at_the_papers_length(scripts, tmp_path, monkeypatch):
    """`long --scenario`: the classical allocations and every trained run on 1,000-frame episodes, the diffusion
    planners (and only they) switched to the SDE DPM-Solver at 10 steps, their other sampling options kept;
    resumable; rows kept in results/long/<scenario>.csv, from which the report writes tagged claims rows."""
    ma_cdmp, rep = scripts
    import cfmarl.offline_train as ot

    monkeypatch.setattr(ma_cdmp, "OUT", tmp_path / "runs" / "n8-4-4")
    monkeypatch.setattr(ma_cdmp, "SCENARIO", "n8-4:4")
    monkeypatch.setattr(ma_cdmp, "RESULTS", tmp_path)
    monkeypatch.setattr(ma_cdmp, "finished", lambda run: run.name.endswith(("-s0", "-s1")))
    monkeypatch.setattr(ot, "controller_from_spec", lambda spec, seed: spec)
    monkeypatch.setattr(ma_cdmp, "online_controller", lambda run, frames: str(run))  # the online PPO-Lagrangian
    calls = []
    returns = {"cdmp": -500.0, "cdmp_nomf": -900.0, "bc": -600.0, "load-proportional": -700.0}

    def fake(spec, frames):  # spec: a run's spec string, or a classical controller (all three at -700 here)
        spec = spec if isinstance(spec, str) else "load-proportional"
        calls.append((spec, frames))
        method = next((m for m in ("cdmp_nomf", "cdmp", "bc", "td3bc", "cql") if f"mftdma_{m}_n8-" in spec), spec)
        return {**KPI, "team_return": returns.get(method, -800.0)}

    monkeypatch.setattr(ma_cdmp, "on_common_episodes", fake)
    ma_cdmp.OUT.mkdir(parents=True)  # main() makes it
    for _ in range(2):  # the second call finds every row done
        path = ma_cdmp.long_episodes([0, 1])
    ma_cdmp.long_episodes([1])  # another invocation's file: seed 1's rows are done in the first one's
    assert len(calls) == 3 + 2 * 6 and {f for _, f in calls} == {ma_cdmp.LONG_FRAMES} == {1000}
    diffusion = [s for s, _ in calls if "_cdmp" in s]
    assert len(diffusion) == 4 and all("sampler=sde-dpm" in s and "sampling_steps=10" in s and "guidance=0.1" in s
                                       for s in diffusion)
    assert not any("sampler=" in s for s, _ in calls if "_cdmp" not in s)
    assert path == tmp_path / "long" / "n8-4-4.csv" and len(list(csv.DictReader(open(path)))) == 15
    by = {r["claim"]: r for r in rep.settings(tmp_path, [0, 1])}
    tag = "; 5 s test episodes, SDE DPM-Solver 10 steps"
    assert by[f"MA-CDMP beats BC on reward / throughput / delay / loss (n8 4:4, ideal RF{tag})"]["holds"] == "partial"
    assert by[f"Removing the mean field lowers the reward of MA-CDMP (n8 4:4{tag})"]["measured"].startswith(
        "team return -500 ± 0 with MF vs -900 ± 0 without")
    assert "the paper's 5 s test episodes (`long --scenario n8-4:4`)" in (tmp_path / "ma_cdmp_settings.md").read_text()


def test_main_report_reads_only_the_rows_kept_in_results(scripts, tmp_path, monkeypatch):
    """`report` of the main setting is written from the copies the stages keep in results (evaluate's
    settings/n8-2-6.csv, the sweeps / scaling / horizon studies' ma_cdmp_*.csv), with no runs folder at all (another
    machine); the studies resume from those copies and write both."""
    ma_cdmp, rep = scripts
    monkeypatch.setattr(ma_cdmp, "OUT", tmp_path / "no-runs-here")
    monkeypatch.setattr(ma_cdmp, "RESULTS", tmp_path)
    ev = [_row(m, s, team_return=r - 100 * s) for m, r in (("cdmp", -700.0), ("cdmp_nomf", -1200.0), ("bc", -800.0),
                                                            ("td3bc", -900.0), ("cql", -2000.0)) for s in (0, 1)]
    _write(tmp_path / "settings" / "n8-2-6.csv", ev + [_row("load-proportional", "-", team_return=-600.0)])
    sweeps = [{"seed": 0, "sweep": "guidance", "setting": f"sampler=ddpm,guidance={g}", "episodes": 4, **KPI,
               "team_return": r} for g, r in ((0.0, -900.0), (1.0, -800.0))]
    _write(tmp_path / ma_cdmp.KEPT["sweeps"], sweeps)
    _write(tmp_path / ma_cdmp.KEPT["horizons"], [{"horizon": h, "seed": 0, **KPI, "team_return": r}
                                                 for h, r in ((4, -2000.0), (8, -900.0), (16, -700.0))])
    _write(tmp_path / ma_cdmp.KEPT["scaling"], [{"scenario": "n8-2:6", "nodes": 8, "policy": p, "episodes": 2, **KPI,
                                                 "team_return": r} for p, r in (("MA-CDMP", -400.0),
                                                                                ("MA-CDMP w/o MF", -500.0))])
    rep.report(tmp_path, [0, 1])
    md = (tmp_path / "ma_cdmp.md").read_text()
    assert "| MA-CDMP | 2 | -750 ± 70.71 |" in md and "## Sampling sweeps" in md and "| 16 | -700 |" in md
    assert "## The n8-trained policies at 8 to 64 nodes" in md
    claims = {r["claim"]: r["holds"] for r in csv.DictReader(open(tmp_path / "claims.csv"))}
    assert claims["MA-CDMP beats MA-TD3+BC on reward / throughput / delay / loss (n8 2:6, ideal RF)"] == "partial"
    assert claims["A larger guidance scale zeta modestly raises MA-CDMP's reward"] == "yes"
    assert claims["A longer planning horizon first raises MA-CDMP's reward, then lowers it (inverted U in H)"] == \
        "partial"
    assert claims["MA-CDMP beats MA-CDMP w/o MF at every node number (trained at 8 nodes, evaluated at 8-64)"] == \
        "yes"
    assert not (tmp_path / "no-runs-here").exists()
    # a study resumes from the kept copy (no runs file) and writes both; the main run's H comes from the kept
    # evaluation, not from a runs folder
    assert ma_cdmp.study_rows("sweeps") == list(csv.DictReader(open(tmp_path / ma_cdmp.KEPT["sweeps"])))
    ma_cdmp.write_study("sweeps", ma_cdmp.study_rows("sweeps")[:1])
    assert len(list(csv.DictReader(open(tmp_path / "no-runs-here" / "sweeps.csv")))) == 1
    assert len(ma_cdmp.study_rows("sweeps")) == 1 == len(list(csv.DictReader(open(tmp_path / "ma_cdmp_sweeps.csv"))))
    assert [r["method"] for r in ma_cdmp.kept_evaluation()][:2] == ["cdmp", "cdmp"]
    # horizons with every (H, seed) row kept: nothing is trained again; a new H is
    import cfmarl.offline_train as ot

    monkeypatch.setattr(ot, "ensure_dataset", lambda *a, **k: None)
    trained = []
    monkeypatch.setattr(ma_cdmp, "_train_all", lambda runs, jobs: trained.append([r["horizon"] for r in runs]))
    ma_cdmp.horizons([0], 1, (4, 8, 16))
    ma_cdmp.horizons([0], 1, (16, 32))
    assert trained == [[], [32]]
    with pytest.raises(SystemExit):
        monkeypatch.setattr(ma_cdmp, "RESULTS", tmp_path / "empty")
        ma_cdmp.main(["report"])


def test_horizon_claim_needs_every_seed_for_the_inverted_u(scripts):
    """Fig. 7's inverted U is `yes` only when the shortest and the longest H are below the best mean's H on every
    seed (paired); a mean peak that one seed contradicts is `partial`, a peak at the longest H `partial`, one at the
    shortest `no`."""
    _, rep = scripts

    def rows(table):
        return [{"horizon": h, "seed": s, "team_return": r, "mean_delay_ms": 1.0, "decision_latency_ms": 1.0}
                for h, per_seed in table.items()
                for s, r in zip("01", per_seed)]

    def claim(table):
        (row,) = rep.horizon_claims(rows(table))
        return row["holds"], row["evidence"]

    holds, ev = claim({4: [-900, -800], 16: [-500, -600], 64: [-700, -650]})
    assert holds == "yes" and "H = 64 below H = 16 on 2 of 2 seeds (decline)" in ev
    holds, ev = claim({4: [-900, -800], 16: [-500, -600], 64: [-700, -550]})  # seed 1 rises again at 64
    assert holds == "partial" and "not every seed agrees" in ev and "on 1 of 2 seeds (decline)" in ev
    holds, ev = claim({4: [-900, -800], 16: [-500, -600], 64: [-450, -550]})
    assert holds == "partial" and "rises up to the longest H tried (64)" in ev
    assert claim({4: [-400, -500], 16: [-500, -600], 64: [-450, -550]})[0] == "no"
    assert rep.horizon_claims(rows({4: [-1], 16: [-2]})) == []


def test_paper_size_dataset_runs_apart_and_is_reported_with_its_tag(scripts, tmp_path, monkeypatch):
    """`--data paper`: the experiments with the paper's dataset size (1,000 episodes of 6,000 frames, the behaviour
    mix kept) under <runs>/paper-data/, their evaluation rows kept in results/paper_data/<scenario>.csv, and the
    report's table and claims rows for them named so; the main setting's recorded rows stay where they are."""
    import yaml

    ma_cdmp, rep = scripts
    monkeypatch.setattr(ma_cdmp, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(ma_cdmp, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(ma_cdmp, "DATA", "paper")
    out = ma_cdmp.out_dir(ma_cdmp.MAIN_SCENARIO)
    assert out == tmp_path / "runs" / "paper-data"
    assert ma_cdmp.out_dir("n8-4:4") == tmp_path / "runs" / "n8-4-4" / "paper-data"
    monkeypatch.setattr(ma_cdmp, "OUT", out)
    cfg = yaml.safe_load(open(ma_cdmp.derived_config("bc", 1)))
    recorded = yaml.safe_load(open(ma_cdmp.ROOT / "tune_configs" / "mftdma_bc_n8.yaml"))["offline"]
    assert cfg["offline"]["episodes"] == 1000 and cfg["offline"]["dataset_overrides"]["episode_frames"] == 6000
    assert cfg["offline"]["behaviours"] == recorded["behaviours"] and cfg["seed"] == 1
    rows = [_row(m, s, team_return=r - 10 * s) for m, r in (("cdmp", -500.0), ("bc", -600.0)) for s in (0, 1)]
    _write(out / "evaluation-seeds0_1.csv", rows + [_row("load-proportional", "-", team_return=-650.0)])
    kept = ma_cdmp.keep_setting_rows()
    assert kept == tmp_path / "results" / "paper_data" / "n8-2-6.csv"
    assert not (tmp_path / "results" / "settings").exists()
    got = {r["claim"]: r for r in rep.settings(tmp_path / "results", [0, 1])}
    row = got["MA-CDMP beats BC on reward / throughput / delay / loss (n8 2:6, ideal RF; trained on a dataset of "
              "the paper's size)"]
    assert row["holds"] == "partial" and "train --data paper / evaluate --data paper / report --scenario n8-2:6" in \
        row["evidence"]
    md = (tmp_path / "results" / "ma_cdmp_settings.md").read_text()
    assert "## n8 2:6, ideal RF, trained on a dataset of the paper's size (`--data paper --scenario n8-2:6`)" in md
    assert "1,000 recorded episodes of 6,000 frames" in md
    with pytest.raises(SystemExit):
        ma_cdmp.main(["report", "--data", "paper"])


def test_scaling_stage_runs_from_its_own_module(scripts, tmp_path, monkeypatch):
    """`scaling` (benchmarks/ma_cdmp_scaling.py, handed the ma_cdmp module): with no trained runs the classical
    allocations at 8 to 64 nodes, rows kept in results and the runs folder, resumable."""
    ma_cdmp, _ = scripts
    import ma_cdmp_scaling

    monkeypatch.setattr(ma_cdmp, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(ma_cdmp, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(ma_cdmp_scaling, "SCALE_FRAMES", 3)
    assert ma_cdmp.main(["scaling", "--seeds", "0", "--episodes", "1"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "results" / "ma_cdmp_scaling.csv")))
    assert [(r["nodes"], r["policy"]) for r in rows] == [(str(n), p) for n in (8, 16, 32, 64)
                                                          for p in ("equal", "load-proportional")]
    assert (tmp_path / "runs" / "scaling.csv").exists()
    assert ma_cdmp.main(["scaling", "--seeds", "0", "--episodes", "1"]) == 0  # nothing left to do
    assert len(list(csv.DictReader(open(tmp_path / "results" / "ma_cdmp_scaling.csv")))) == 8


def test_the_online_ppo_lagrangian_is_evaluated_reported_and_an_opponent(scripts, tmp_path, monkeypatch):
    """The online PPO-Lagrangian (the issue's online baseline, `train --methods ppo`) is evaluated on the common
    episodes like the offline runs - its best validated checkpoint, through online_controller -, is a row of the
    table and an opponent of MA-CDMP's claims; its experiment has no dataset, so --data paper leaves it as it is."""
    import cfmarl.offline_train

    ma_cdmp, rep = scripts
    monkeypatch.setattr(ma_cdmp, "OUT", tmp_path / "runs")
    monkeypatch.setattr(ma_cdmp, "finished", lambda run: run.name in ("train-mftdma_ppo_n8-s0",
                                                                      "train-mftdma_bc_n8-s0"))
    made = []
    monkeypatch.setattr(ma_cdmp, "online_controller", lambda run, frames: made.append((run, frames)) or "ppo-ctrl")
    monkeypatch.setattr(cfmarl.offline_train, "controller_from_spec", lambda spec, seed: made.append(spec) or "ctrl")
    monkeypatch.setattr(ma_cdmp, "on_common_episodes", lambda ctrl, frames: dict(KPI))
    path = tmp_path / "runs" / "evaluation-seeds0.csv"
    path.parent.mkdir()  # main() makes it
    ma_cdmp._evaluate_rows(path, [0], 100)
    rows = list(csv.DictReader(open(path)))
    assert [(r["method"], r["seed"]) for r in rows] == [("random", "-"), ("equal", "-"), ("load-proportional", "-"),
                                                        ("bc", "0"), ("ppo", "0")]
    assert made[0] == str(tmp_path / "runs" / "train-mftdma_bc_n8-s0")
    assert made[1] == (tmp_path / "runs" / "train-mftdma_ppo_n8-s0", 100)
    learned, classical = rep.collect_rows([_row("cdmp", 0, team_return=-900.0), _row("ppo", 0, team_return=-800.0),
                                           _row("load-proportional", "-")], [0])
    assert list(learned) == ["cdmp", "ppo"]
    assert any(line.startswith("| PPO-Lagrangian (online) | 1 |") for line in rep.table(learned, classical))
    claim = next(r for r in rep._claims_of("cdmp", learned, classical, "ev") if "PPO" in r["claim"])
    assert claim["claim"].startswith("MA-CDMP beats PPO-Lagrangian (online) on reward") and claim["holds"] == "no"
    assert "online PPO-Lagrangian" in claim["paper"]
    monkeypatch.setattr(ma_cdmp, "DATA", "paper")
    import yaml

    cfg = yaml.safe_load(ma_cdmp.derived_config("ppo", 0).read_text())
    assert "offline" not in cfg and cfg["env"]["overrides"] == {"episode_frames": 200}
