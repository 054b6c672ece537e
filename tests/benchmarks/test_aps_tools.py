"""benchmarks/aps_frontier.py (fewest validation APs per validation-cost bin) on hand-made metrics, and
benchmarks/aps_clone_probe.py on a tiny scenario (one row appended per call, older rows kept)."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from bench_scripts import BENCHMARKS
from bench_scripts import load as _load


def _metrics(path: Path, rows: list[tuple[int, float, float]]) -> None:
    """metrics.csv with (iteration, val/mean_cost, val/active_aps); the odd iterations have no validation."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iteration", "val/mean_cost", "val/active_aps"])
        for it, c, a in rows:
            w.writerow([it, c, a])
            w.writerow([it + 1, "", ""])


def test_frontier_takes_the_fewest_aps_per_bin_and_the_median_over_seeds(tmp_path):
    fr = _load("aps_frontier")
    cost = np.array([0.011, 0.012, 0.016, 0.030, 0.016])
    aps = np.array([12.0, 11.5, 10.0, 9.0, 10.5])
    got = fr.frontier(cost, aps)
    assert got[0] == 11.5 and got[2] == 10.0 and math.isnan(got[1]) and all(math.isnan(v) for v in got[3:])
    folder = tmp_path / "variant"
    (folder / "runs" / "train-gnn_ped_s0").mkdir(parents=True)
    _metrics(folder / "runs" / "train-gnn_ped_s0" / "metrics.csv", [(2, 0.012, 11.0), (14, 0.012, 12.0),
                                                                    (16, 0.016, 10.0)])
    _metrics(folder / "metrics_gnn_ped_s1.csv", [(14, 0.0125, 13.0), (16, 0.018, 9.0)])
    _metrics(folder / "metrics_gnn_ped_s0.csv", [(14, 0.012, 1.0)])  # a copy of seed 0: the run folder wins
    fr.main([f"v={folder}", "--out", str(tmp_path / "out")])
    rows = list(csv.DictReader(open(tmp_path / "out" / "frontier.csv")))
    cell = {r["cost_bin"]: r for r in rows if r["mobility"] == "ped"}
    first = cell["[0.010, 0.013)"]  # iteration 2 left out (before 12): seed 0 12.0, seed 1 13.0
    assert float(first["median_aps"]) == 12.5 and float(first["min_aps"]) == 12.0 and first["seeds_in_bin"] == "2"
    assert float(cell["[0.015, 0.017)"]["median_aps"]) == 10.0 and cell["[0.015, 0.017)"]["seeds_in_bin"] == "1"
    assert float(cell["[0.017, 0.019)"]["median_aps"]) == 9.0
    assert (tmp_path / "out" / "frontier.png").stat().st_size > 0
    assert "| v | 2 | 12.50 (12.00-13.00) | -" in (tmp_path / "out" / "frontier.md").read_text()


def test_clone_probe_appends_a_row_per_call(tmp_path):
    probe = _load("aps_clone_probe")
    out = tmp_path / "probe"
    out.mkdir()
    with open(out / "clone_probe.csv", "w", newline="") as f:  # a row from before the --head option
        f.write("scenario,teacher,train_accuracy\nmedium,all-on,1.0\n")
    probe.main(["--scenario", "tiny", "--teacher", "k-strongest:k=2,by=large_scale", "--episodes", "3",
                "--epochs", "1", "--head", "gated", "--out", str(out)])
    rows = list(csv.DictReader(open(out / "clone_probe.csv")))
    assert len(rows) == 2 and rows[0]["head"] == "categorical" and rows[0]["teacher"] == "all-on"
    assert rows[1]["head"] == "gated" and rows[1]["scenario"] == "tiny" and rows[1]["episodes"] == "3"
    assert 0.0 <= float(rows[1]["held_out_accuracy"]) <= 1.0 and int(rows[1]["parameters"]) > 0
    # the greedy clone and its teacher act on the validation episodes (2-strongest of 4 APs per UE, 2 UEs)
    assert 2.0 <= float(rows[1]["teacher_active_aps"]) <= 4.0 and 0.0 <= float(rows[1]["clone_active_aps"]) <= 4.0
    assert rows[1]["link_rank"] == "False" and rows[0]["link_rank"] == "False"
    assert float(rows[1]["label_smoothing"]) == 0.0 and float(rows[1]["clone_link_entropy"]) >= 0
    assert rows[0]["clone_link_entropy"] == ""


def test_yardsticks_choose_k_and_delta_on_validation_and_reuse_test_rows(tmp_path, monkeypatch):
    """aps_yardsticks on the tiny scenario: the best feasible k and power fraction chosen on validation episodes
    (delta: the smallest feasible one on the grid, by bisection), every test row written once; a second run reuses
    them (no test evaluation), --fresh recomputes."""
    ys = _load("aps_yardsticks")
    calls = []
    real = ys.evaluate
    monkeypatch.setattr(ys, "evaluate", lambda cfg, spec, seed, n: calls.append((spec, seed)) or real(cfg, spec, seed, n))
    args = ["--scenarios", "tiny", "--val-episodes", "3", "--test-episodes", "2", "--out", str(tmp_path)]
    assert ys.main(args) == 0
    rows = list(csv.DictReader(open(tmp_path / "yardsticks.csv")))
    specs = [r["spec"] for r in rows]
    pf = [s for s in specs if s.startswith("power-fraction")]
    assert len(pf) == 2 and "k-strongest:k=4" in specs and "greedy" in specs  # k = 1 here: no floored rule
    assert all(r["test_seed"] == "1000" for r in rows)
    test_calls = [s for s, seed in calls if seed == 1000]
    assert sorted(test_calls) == sorted(specs)
    # bisection: the chosen delta is feasible on validation and delta - 1/200 is not (or was never needed)
    from cfmarl.envs.ap_selection.config import make_config

    cfg = make_config("tiny")
    for spec in pf:
        d = float(spec.split("delta=")[1].split(",")[0])
        by = spec.split("by=")[1]
        assert real(cfg, spec, 2024, 3)["mean_cost"] <= 0.02
        if d > 1 / 200:
            assert real(cfg, f"power-fraction:delta={d - 1 / 200:g},by={by}", 2024, 3)["mean_cost"] > 0.02
    calls.clear()
    assert ys.main(args) == 0
    assert [s for s, seed in calls if seed == 1000] == []  # every test row kept
    assert list(csv.DictReader(open(tmp_path / "yardsticks.csv"))) == rows
    calls.clear()
    assert ys.main(args + ["--fresh"]) == 0
    assert len([s for s, seed in calls if seed == 1000]) == len(rows)
    assert "best feasible power fraction by large-scale" in (tmp_path / "yardsticks.md").read_text()
    assert ys.main(["--scenarios", "tiny-vehicular", "--val-episodes", "2", "--test-episodes", "2", "--out",
                    str(tmp_path)]) == 0  # another scenario: the tiny rows stay
    both = list(csv.DictReader(open(tmp_path / "yardsticks.csv")))
    drop = lambda r: {k: v for k, v in r.items() if k != "latency_ms"}  # noqa: E731 (--fresh re-timed them)
    assert {r["scenario"] for r in both} == {"tiny", "tiny-vehicular"}
    assert [drop(r) for r in both[:len(rows)]] == [drop(r) for r in rows]
    assert ys.main(args) == 0  # tiny again: rewritten in place, before tiny-vehicular
    assert [r["scenario"] for r in csv.DictReader(open(tmp_path / "yardsticks.csv"))] == [r["scenario"] for r in both]


def test_yardsticks_floored_power_fraction_is_the_first_feasible_delta_over_k_minus_one(tmp_path):
    """With the SE target at 1.6 the best feasible k on tiny is 3, so the power fraction over a floor of 2 APs joins
    the yardsticks: its delta is the first feasible one of the scan on the validation episodes (delta - 1/200 is
    not)."""
    ys = _load("aps_yardsticks")
    args = ["--scenarios", "tiny", "--val-episodes", "3", "--test-episodes", "2", "--se-target", "1.6", "--out",
            str(tmp_path)]
    assert ys.main(args) == 0
    rows = list(csv.DictReader(open(tmp_path / "yardsticks.csv")))
    assert "k-strongest:k=3,by=large_scale" in [r["spec"] for r in rows]
    floored = [r for r in rows if "min_k" in r["spec"]]
    assert [r["policy"].split(" (")[0] for r in floored] == ["best feasible power fraction over 2 APs by "
                                                             f"{by}" for by in ("instantaneous", "large-scale")]
    from cfmarl.envs.ap_selection.config import make_config

    cfg = make_config("tiny", se_target_bps_hz=1.6)
    for r in floored:
        d = float(r["spec"].split("delta=")[1].split(",")[0])
        assert r["spec"].endswith(",min_k=2")
        assert ys.evaluate(cfg, r["spec"], 2024, 3)["mean_cost"] <= 0.02
        assert all(ys.evaluate(cfg, r["spec"].replace(f"delta={d:g}", f"delta={e / 200:g}"), 2024, 3)["mean_cost"]
                   > 0.02 for e in range(1, round(d * 200)))


def test_reports_write_large_rows_per_mobility_and_seed_and_no_empty_tables(tmp_path):
    """benchmarks_report.write_reports: large.csv gets a row per policy of each run fine-tuned on `large`, with
    mobility and seed columns (runs <name>_s<seed> of --large-seeds, by seed; the unsuffixed run of the earlier
    reproductions with an empty seed), and the row of MAT-Lagr's own policy from its runs on `large`
    (mat_large_s<seed>); a folder without medium runs or ablations gets no main / ablations tables
    and, with measure_latency off, no latency.csv."""
    report = _load("benchmarks_report", siblings=True)
    assert report.large_run("veh", 2) == "gnn_large_veh_finetune_s2"
    assert report.large_run("veh", 2, "mat") == "mat_large_veh_s2"
    for run, aps in (("gnn_large_finetune_s10", 36.0), ("gnn_large_finetune_s2", 37.5),
                     ("gnn_large_veh_finetune", 35.0), ("gnn_large_veh_finetune_sx", 1.0), ("mat_large_s2", 64.0)):
        (tmp_path / "runs" / f"train-{run}").mkdir(parents=True)
        with open(tmp_path / "runs" / f"train-{run}" / "evaluation.csv", "w", newline="") as f:
            w = csv.DictWriter(f, ["policy", *report.KPIS])
            w.writeheader()
            for policy, a in ((run, aps), ("k-strongest", 40.0)):
                w.writerow({"policy": policy, **{k: 1.0 for k in report.KPIS}, "active_aps": a})
    report.write_reports(tmp_path, {}, [0], [0], {"evaluation": {"cost_limit": 0.02}}, measure_latency=False)
    rows = list(csv.DictReader(open(tmp_path / "large.csv")))
    assert [(r["mobility"], r["seed"], r["policy"], float(r["active_aps"])) for r in rows] == [
        ("ped", "2", "gnn_large_finetune_s2", 37.5), ("ped", "2", "k-strongest", 40.0),
        ("ped", "10", "gnn_large_finetune_s10", 36.0), ("ped", "10", "k-strongest", 40.0),
        ("veh", "", "gnn_large_veh_finetune", 35.0), ("veh", "", "k-strongest", 40.0),
        ("ped", "2", "mat_large_s2", 64.0)]  # MAT-Lagr: its own row (the baselines are the APS-GNN run's)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["large.csv", "runs"]
    # a later report from a folder with only some of the runs replaces their rows and keeps the others
    import shutil

    shutil.rmtree(tmp_path / "runs" / "train-gnn_large_finetune_s10")
    with open(tmp_path / "runs" / "train-mat_large_s2" / "evaluation.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["policy", *report.KPIS])
        w.writeheader()
        w.writerow({"policy": "mat_large_s2", **{k: 1.0 for k in report.KPIS}, "active_aps": 50.0})
    report.write_reports(tmp_path, {}, [0], [0], {"evaluation": {"cost_limit": 0.02}}, measure_latency=False)
    again = [(r["mobility"], r["seed"], r["policy"], float(r["active_aps"])) for r in csv.DictReader(open(
        tmp_path / "large.csv"))]
    assert sorted(again) == sorted([*[(m, s, p, a) for m, s, p, a in
                                      [(r["mobility"], r["seed"], r["policy"], float(r["active_aps"])) for r in rows]
                                      if p != "mat_large_s2"], ("ped", "2", "mat_large_s2", 50.0)])

    report.plot_main(tmp_path / "main.png", [  # main.csv's rows (both mobilities, one with a std) as a bar figure
        {"mobility": "ped", "policy": "APS-GNN", "active_aps": 12.0, "active_aps_std": 0.2, "mean_cost": 0.015,
         "target_satisfaction": 0.9}, {"mobility": "veh", "policy": "4-strongest", "active_aps": 12.6,
                                       "mean_cost": 0.005, "target_satisfaction": 0.95}], 0.02, "2 seeds")
    assert (tmp_path / "main.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bar_claims_need_every_seed_past_the_bar(tmp_path, monkeypatch):
    """aps_claims.bar_claims on large: `yes` needs every seed within the limit and past the bar (>= 10 % fewer
    APs than the best feasible k-strongest; at or below the feasible causal greedy); the mean alone past it is
    `partial`, a mean short of it `no`. The same bar against a stronger classical rule that is feasible on the test
    episodes gets its own row; an infeasible one none."""
    claims = _load("aps_claims", siblings=True)
    monkeypatch.setattr(claims, "RES", tmp_path)
    with open(tmp_path / "yardsticks.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "policy", "active_aps", "mean_cost"])
        for scen in ("large", "large-vehicular"):
            w.writerow([scen, "best feasible k-strongest by large-scale (k=4)", 40.0, 0.012])
            w.writerow([scen, "causal greedy (previous window)", 36.0, 0.011])
        # a stronger rule: infeasible on the test episodes on large (no row), feasible on large-vehicular
        w.writerow(["large", "best feasible power fraction over 3 APs by large-scale (delta=0.5)", 38.0, 0.023])
        w.writerow(["large-vehicular", "best feasible power fraction over 3 APs by large-scale (delta=0.35)", 34.0,
                    0.013])
    (tmp_path / "large_rank").mkdir()
    with open(tmp_path / "large_rank" / "large.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["policy", "mobility", "seed", "active_aps", "mean_cost"])
        for seed, aps in enumerate((30.0, 35.0, 34.0)):  # pedestrian: every seed >= 10 % fewer, <= greedy
            w.writerow([f"gnn_large_finetune_s{seed}", "ped", seed, aps, 0.015])
        for seed, aps in enumerate((30.0, 37.0, 32.0)):  # vehicular: mean 33 past both bars, seed 1 is not
            w.writerow([f"gnn_large_veh_finetune_s{seed}", "veh", seed, aps, 0.015])
    rows = {r["claim"]: r for r in claims.bar_claims(0.02)}
    kind = lambda c: "k" if "k-strongest" in c else "greedy" if "causal greedy" in c else "rule"  # noqa: E731
    held = {(mob, kind(c)): r["holds"] for c, r in rows.items() for mob in ("pedestrian", "vehicular")
            if f"(large, {mob})" in c}
    assert held == {("pedestrian", "k"): "yes", ("pedestrian", "greedy"): "yes",
                    ("vehicular", "k"): "partial", ("vehicular", "greedy"): "partial", ("vehicular", "rule"): "partial"}
    rule = next(r for c, r in rows.items() if kind(c) == "rule")
    assert "power fraction over 3 APs by large-scale (delta=0.35): 34.00 APs" in rule["measured"]
    assert "per seed 11.8% fewer, 8.8% more, 5.9% fewer" in rule["measured"]
    assert "per seed 30.00, 37.00, 32.00" in next(r["measured"] for c, r in rows.items()
                                                  if "causal greedy" in c and "(large, vehicular)" in c)


def test_mat_large_claims_compare_seed_by_seed_and_need_three_seeds(tmp_path, monkeypatch):
    """aps_claims.mat_large_rows: per mobility, APS-GNN (within the limit on every seed) against MAT-Lagr's runs on
    large from the same results file: a MAT-Lagr seed is beaten when APS-GNN's run of that seed uses fewer APs or
    MAT-Lagr breaks the limit; every seed beaten is `yes` with 3 MAT-Lagr seeds, `partial` with fewer; a mobility
    without MAT-Lagr runs says it is not measured (`no`)."""
    claims = _load("aps_claims", siblings=True)
    monkeypatch.setattr(claims, "RES", tmp_path)
    (tmp_path / "large_rank").mkdir()

    def held(mat: list[tuple[int, float, float]]) -> dict:
        with open(tmp_path / "large_rank" / "large.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["policy", "mobility", "seed", "active_aps", "mean_cost"])
            for seed, aps in enumerate((30.0, 35.0, 34.0)):
                w.writerow([f"gnn_large_finetune_s{seed}", "ped", seed, aps, 0.015])
                w.writerow([f"gnn_large_veh_finetune_s{seed}", "veh", seed, aps - 2, 0.012])
                w.writerow(["k-strongest", "ped", seed, 40.0, 0.012])
            for seed, aps, cost in mat:
                w.writerow([f"mat_large_s{seed}", "ped", seed, aps, cost])
        return {r["claim"].split("(")[-1][:-1]: r for r in claims.mat_large_rows(0.02)}

    rows = held([(0, 64.0, 0.010)])
    assert {m: r["holds"] for m, r in rows.items()} == {"pedestrian": "partial", "vehicular": "no"}
    assert rows["vehicular"]["measured"].startswith("not measured")
    assert "vs MAT-Lagr 64.00 APs of 64 (seed 0: 64.00 / 0.0100; 1 seed(s)" in rows["pedestrian"]["measured"]
    assert held([(0, 64.0, 0.010), (1, 60.0, 0.01), (2, 33.0, 0.019)])["pedestrian"]["holds"] == "no"  # 34 > 33
    assert held([(0, 64.0, 0.010), (1, 60.0, 0.01), (2, 33.0, 0.03)])["pedestrian"]["holds"] == "yes"  # over it


def test_mixture_claims_read_only_the_studys_own_seed_folders(tmp_path, monkeypatch):
    """scale-<study>_s<N> are the study's seeds; scale-<study>_steady_s0 is another study (its glob matched)."""
    claims = _load("aps_claims")
    head = "kind,size,policy,trained_at,active_aps,mean_cost\n"

    def scale(folder: str, aps: float, cost: float) -> None:
        d = tmp_path / folder
        d.mkdir()
        (d / "scale.csv").write_text(head + f"kpi,16x6,mine,16x6,{aps},{cost}\n"
                                            "kpi,16x6,k-strongest:k=3,,11.5,0.011\n")
        (d / "train.yaml").write_text("scale: {evaluation_episodes: 20}\n")

    scale("scale-mystudy_s0", 10.0, 0.010)
    scale("scale-mystudy_s1", 11.0, 0.012)
    scale("scale-mystudy_steady_s0", 30.0, 0.050)
    monkeypatch.setattr(claims, "SCALE_RES", tmp_path)
    monkeypatch.setattr(claims, "MIX_STUDIES", {"mystudy": "a study"})
    (row,) = claims.mixture_claims(0.02)
    assert "10.50 ± 0.50" in row["measured"] and "2 seeds" in row["measured"]
    assert row["holds"] == "partial" and "steady" not in row["evidence"]


def test_reproduction_plans_mat_lagr_on_large_only_when_asked(tmp_path, monkeypatch, capsys):
    """benchmarks/aps_reproduction.py on large: without --only the APS-GNN runs only; --only mat_large plans
    MAT-Lagr's runs (the large experiment with the transformer as the whole model, per mobility and seed) and no
    APS-GNN ones; a --large-base that starts from other runs (training.init_from) is refused for MAT-Lagr."""
    import sys

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    repro = _load("aps_reproduction", siblings=True)
    import benchmarks_report

    planned = []
    monkeypatch.setattr(repro, "run_all", lambda exps, out, parallel: planned.append(exps))
    monkeypatch.setattr(benchmarks_report, "write_reports", lambda *a, **k: None)
    lbase = tmp_path / "large_base.yaml"
    lbase.write_text(yaml.safe_dump({"name": "large", "env": {"name": "aps", "scenario": "large"},
                                     "model": {"mode": "graph", "encoder": "gnn", "use_gru": True},
                                     "training": {"iterations": 80}}))

    def plan(*args: str) -> dict:
        planned.clear()
        monkeypatch.setattr(sys, "argv", ["aps_reproduction.py", "--large-base", str(lbase), "--large-seeds", "0",
                                          "--large-mobility", "ped", "veh", "--out", str(tmp_path / "out"), *args])
        repro.main()
        return {name: cfg for exps in planned for name, cfg in exps.items()}

    assert set(plan("--only", "gnn_large")) == {"gnn_large_finetune_s0", "gnn_large_veh_finetune_s0"}
    everything = plan()  # the medium experiments and APS-GNN on large
    assert "gnn_large_veh_finetune_s0" in everything and not any(n.startswith("mat_large") for n in everything)
    mat = plan("--only", "mat_large")
    assert set(mat) == {"mat_large_s0", "mat_large_veh_s0"}
    assert all(c["model"] == {"mode": "central", "encoder": "mat", "rounds": 2, "hidden": 64} for c in mat.values())
    assert [mat[n]["env"]["scenario"] for n in ("mat_large_s0", "mat_large_veh_s0")] == ["large", "large-vehicular"]
    assert all(c["training"] == {"iterations": 80} and c["seed"] == 0 for c in mat.values())
    lbase.write_text(yaml.safe_dump({"name": "large", "training": {"init_from": "runs/train-gnn_{mob}_s{seed}"}}))
    with pytest.raises(SystemExit) as err:
        plan("--only", "mat_large")
    assert err.value.code == 2 and "without training.init_from" in capsys.readouterr().err


def test_mat_medium_claims_per_form_from_the_first_table_that_has_it(tmp_path, monkeypatch):
    """aps_claims.paper_claims on medium: a MAT-Lagr row per form that has results - one encoder (judged/main.csv)
    and the paper's cost encoder (mat_cost_encoder/main.csv) - against APS-GNN's judged row: `yes` when both are
    within the limit with APs within 10 % and MAT-Lagr has 3 seeds, `partial` when both are feasible further apart or
    with fewer seeds, `no` when one is not."""
    claims = _load("aps_claims", siblings=True)
    monkeypatch.setattr(claims, "RES", tmp_path)

    def held(ce_seeds: int) -> dict:
        for folder, rows in (("judged", [(claims.GNN, 12.0, 0.015, 3), (claims.MAT, 14.0, 0.013, 3)]),
                             ("mat_cost_encoder", [(claims.MAT, 13.0, 0.012, 1), (claims.MAT_CE, 12.5, 0.014, ce_seeds)])):
            (tmp_path / folder).mkdir(exist_ok=True)
            with open(tmp_path / folder / "main.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["mobility", "policy", "seeds", "active_aps", "mean_cost"])
                for policy, aps, cost, seeds in rows:
                    w.writerow(["ped", policy, seeds, aps, cost])
        return {r["claim"]: (r["holds"], r["evidence"]) for r in claims.paper_claims(0.02) if "MAT-Lagr" in r["claim"]
                and "medium" in r["claim"]}

    ce = "APS-GNN matches MAT-Lagr with its cost encoder on medium (pedestrian): both feasible, APs within 10 %"
    assert held(3) == {
        "APS-GNN matches MAT-Lagr on medium (pedestrian): both feasible, APs within 10 %":
            ("partial", "benchmarks/results/aps/judged/main.csv (python benchmarks/aps_reproduction.py --only mat_ped ...)"),
        ce: ("yes", "benchmarks/results/aps/mat_cost_encoder/main.csv (python benchmarks/aps_reproduction.py --only "
                    "matce_ped ...)")}
    assert held(1)[ce][0] == "partial"
