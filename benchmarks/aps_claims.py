"""Claims table of the AP-selection reproduction (aps_gnn_ap_selection): benchmarks/results/aps/claims.csv.

    python benchmarks/aps_claims.py

Reads what the AP-selection benchmarks recorded in benchmarks/results/aps/ - main.csv (and main_seeds.csv when
present) and ablations.csv, large.csv, latency.csv from ``make reproduce``; yardsticks.csv from
``benchmarks/aps_yardsticks.py`` - and writes one row per headline claim of the paper plus the issue's bars
(">= 10 % fewer APs than the best feasible k-strongest", "no more APs than the causal greedy where that is
feasible") per size and mobility, the same two bars for each recipe variant run with 3 seeds x 2 mobilities
(RECIPE_VARIANTS of aps_studies.py), columns ``claim,paper,measured,holds,evidence``. A claim whose measurement
does not exist (MAT-Lagr on large) is a ``no`` that says so; nothing here is typed in by hand.
APS-GNN and MAT-Lagr rows on medium come from judged/main.csv (``--out benchmarks/results/aps/judged``, the current
aps_gnn_medium.yaml) where it exists.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from aps_studies import LARGE_SOURCES, MIX_STUDIES, RECIPE_VARIANTS  # noqa: E402  (same folder)
from benchmarks_report import LARGE_RUNS, MAT_LARGE_RUNS  # noqa: E402  (same folder; names of the runs on large)

ROOT = Path(__file__).resolve().parents[1]
RES = ROOT / "benchmarks" / "results" / "aps"
GNN = "APS-GNN (PPO-Lagr, GNN, pretrained)"
MAT = "MAT-Lagr (transformer, pretrained)"
MAT_CE = "MAT-Lagr (transformer, cost encoder, pretrained)"  # the paper's form: a second encoder for the cost values
CENTRAL = "PPO-Lagr (centralised)"
CENTRAL_BC = "PPO-Lagr (centralised, pretrained)"
CENTRAL_DATA = "PPO-Lagr (centralised, pretrained on 10x data)"
SCENARIOS = {("medium", "ped"): "medium", ("medium", "veh"): "medium-vehicular", ("large", "ped"): "large",
             ("large", "veh"): "large-vehicular"}
MOB = {"ped": "pedestrian", "veh": "vehicular"}


def _read(name: str) -> list[dict]:
    path = RES / name
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _pct(saving: float) -> str:
    """'12.3% fewer' / '4.1% more'; two decimals where one would round across the 10 % bar (9.96 % is not 10.0 %)."""
    fmt = "{:.2%}" if 0.0995 <= abs(saving) < 0.1005 else "{:.1%}"
    return fmt.format(abs(saving)) + (" fewer" if saving >= 0 else " more")


def _pm(row: dict, key: str, fmt: str = "{:.2f}") -> str:
    std = float(row.get(f"{key}_std") or 0)
    return fmt.format(float(row[key])) + (f" ± {fmt.format(std)}" if int(row.get("seeds") or 1) > 1 else "")


# the medium reproductions, newest recipe first: a policy's row comes from the first that has it
MAIN_TABLES = ("judged/main.csv", "main.csv", "mat_cost_encoder/main.csv")
SCALE_RES = ROOT / "benchmarks" / "results" / "scale"


def _main(mob: str, policy: str) -> dict | None:
    """A policy's medium row from the first of MAIN_TABLES that has it: judged/main.csv (the current
    aps_gnn_medium.yaml, `training.selection: judged`), main.csv (the first reproduction). Variants of the
    recipe have rows of their own (RECIPE_VARIANTS, se_target_*/)."""
    for name in MAIN_TABLES:
        row = next((r for r in _read(name) if r["mobility"] == mob and r["policy"] == policy), None)
        if row is not None:
            return dict(row, source=f"benchmarks/results/aps/{name}")
    return None


def _seed_rows(me: dict, mob: str) -> list[dict]:
    """APS-GNN's per-seed rows (main_seeds.csv beside the main table ``me`` came from)."""
    src = me.get("source", "")
    if not src.endswith("main.csv"):
        return []
    seeds = _read(str(Path(src).relative_to("benchmarks/results/aps").parent / "main_seeds.csv"))
    return [r for r in seeds if r["mobility"] == mob and r["policy"] == GNN]


def learned(size: str, mob: str) -> dict | None:
    """APS-GNN's recorded test KPIs at (size, mobility): judged/main.csv or main.csv on medium, large.csv on
    large (pedestrian)."""
    if size == "medium":
        return _main(mob, GNN)
    run = LARGE_RUNS[mob]
    for name, how in LARGE_SOURCES:  # the first recorded fine-tuning of this mobility: mean and std over its seeds
        mine = [r for r in _read(name) if r["policy"] == run or r["policy"].startswith(f"{run}_s")]
        if mine:
            row: dict = {"seeds": len(mine), "per_seed": mine, "source": f"benchmarks/results/aps/{name}", "how": how}
            for key in ("active_aps", "mean_cost"):
                v = np.array([float(r[key]) for r in mine])
                row[key], row[f"{key}_std"] = float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0
            return row
    return None


def mat_large_rows(limit: float) -> list[dict]:
    """"APS-GNN uses fewer APs than MAT-Lagr on large" per mobility, from the first of LARGE_SOURCES with MAT-Lagr
    rows (runs mat_large[_veh]_s<seed>, trained with that folder's APS-GNN recipe): `yes` needs APS-GNN within the
    limit on every seed, fewer APs than MAT-Lagr on the mean, and each MAT-Lagr seed beaten by APS-GNN's run of the
    same seed (fewer APs within the limit, or MAT-Lagr over it), with 3 MAT-Lagr seeds; the same with fewer seeds
    is `partial`. Without a MAT-Lagr run the row says it is not measured (`no`)."""
    rows = []
    for mob in ("ped", "veh"):
        run = MAT_LARGE_RUNS[mob]
        claim = {"claim": f"APS-GNN uses fewer APs than MAT-Lagr on large ({MOB[mob]})",
                 "paper": "MAT-Lagr keeps every AP on at large (Fig. 6)"}
        found = next(((name, mine) for name, _ in LARGE_SOURCES
                      if (mine := [r for r in _read(name) if r["policy"].startswith(f"{run}_s")])), None)
        me = learned("large", mob)
        if found is None or me is None:
            rows.append({**claim, "measured": "not measured: MAT-Lagr is not trained on large here (node-by-node "
                                              "sampling of 1,024 links per env step: ~4 h a run on the 2-core CPU)",
                         "holds": "no", "evidence": "-"})
            continue
        name, mat = found
        mine = {r["seed"]: r for r in me["per_seed"]}
        m_aps = np.array([float(r["active_aps"]) for r in mat])
        # a seed is won when APS-GNN's run of that seed meets the limit with fewer APs, or MAT-Lagr's does not
        won = [r["seed"] in mine and float(mine[r["seed"]]["mean_cost"]) <= limit
               and (float(mine[r["seed"]]["active_aps"]) < float(r["active_aps"]) or float(r["mean_cost"]) > limit)
               for r in mat]
        feas = all(float(r["mean_cost"]) <= limit for r in me["per_seed"])
        fewer = feas and all(won) and float(me["active_aps"]) < m_aps.mean()
        per_seed = ", ".join(f"seed {r['seed']}: {float(r['active_aps']):.2f} / {float(r['mean_cost']):.4f}"
                             for r in mat)
        rows.append({**claim, "measured": f"APS-GNN {_pm(me, 'active_aps')} APs (cost {_pm(me, 'mean_cost', '{:.4f}')}; "
                                          f"{me['seeds']} seeds) vs MAT-Lagr {m_aps.mean():.2f} APs of 64 ({per_seed}; "
                                          f"{len(mat)} seed(s), the same recipe and 20 test episodes)",
                     "holds": ("yes" if len(mat) >= 3 else "partial") if fewer else "no",
                     "evidence": f"benchmarks/results/aps/{name} (python benchmarks/aps_reproduction.py --only "
                                 "mat_large --large-base ... --large-mobility ped veh)"})
    return rows


def yardstick(scenario: str, prefix: str) -> dict | None:
    return next((r for r in _read("yardsticks.csv") if r["scenario"] == scenario and r["policy"].startswith(prefix)),
                None)


def strongest_rule(scenario: str, limit: float) -> dict | None:
    """The classical rule of yardsticks.csv with the fewest APs among those within ``limit`` on the test episodes
    (the greedy searches aside: the causal one has its own bar, the oracle sees the coming window)."""
    rules = [r for r in _read("yardsticks.csv") if r["scenario"] == scenario and "greedy" not in r["policy"]
             and float(r["mean_cost"]) <= limit]
    return min(rules, key=lambda r: float(r["active_aps"]), default=None)


def _ten_percent(feasible: bool, every_seed: bool, aps: float, seed_aps: list[float], ref_aps: float) -> str:
    """The ">= 10 % fewer APs" bar against ``ref_aps``: `yes` needs the mean and every seed within the limit
    (``feasible``, ``every_seed``) and each seed past the bar (the issue: "on every seed, not only on average"); the
    mean within the limit with fewer APs is `partial`."""
    if feasible and every_seed and all(1 - a / ref_aps >= 0.10 for a in seed_aps):
        return "yes"
    return "partial" if feasible and aps < ref_aps else "no"


def bar_claims(limit: float) -> list[dict]:
    rows = []
    ev = "benchmarks/results/aps/README.md (make reproduce; python benchmarks/aps_yardsticks.py)"
    for (size, mob), scen in SCENARIOS.items():
        me, k = learned(size, mob), yardstick(scen, "best feasible k-strongest by large-scale")
        cg = yardstick(scen, "causal greedy")
        where = f"{size}, {MOB[mob]}"
        if me is None or k is None:
            rows.append({"claim": f"APS-GNN uses >= 10 % fewer APs than the best feasible k-strongest ({where})",
                         "paper": "(issue 15 bar)", "measured": "not measured: no trained APS-GNN recorded here",
                         "holds": "no", "evidence": ev})
            rows.append({"claim": f"APS-GNN uses no more APs than the causal greedy ({where})", "paper": "(issue 15 bar)",
                         "measured": "not measured: no trained APS-GNN recorded here", "holds": "no", "evidence": ev})
            continue
        aps, cost, kaps = float(me["active_aps"]), float(me["mean_cost"]), float(k["active_aps"])
        feas = cost <= limit
        mine = _seed_rows(me, mob) if size == "medium" else me["per_seed"] if len(me["per_seed"]) > 1 else []
        per_seed = ", ".join(f"{float(r['mean_cost']):.4f}" for r in mine)
        every = (f"; per seed cost {per_seed}" if mine else
                 "; per-seed costs not recorded in a file (benchmarks/results/aps/README.md lists them)"
                 if size == "medium" else "; one run")
        saving = 1 - aps / kaps
        seed_aps = [float(r["active_aps"]) for r in mine] or [aps]
        every_feas = all(float(r["mean_cost"]) <= limit for r in mine)
        rows.append({"claim": f"APS-GNN uses >= 10 % fewer APs than the best feasible k-strongest and meets the "
                              f"limit {limit} ({where})", "paper": "(issue 15 bar)",
                     "measured": f"{_pm(me, 'active_aps')} APs at cost {_pm(me, 'mean_cost', '{:.4f}')} vs "
                                 f"{k['policy'].split('(')[-1].rstrip(')')}: {kaps:.2f} APs at {float(k['mean_cost']):.4f}"
                                 f" ({_pct(saving)}){every}"
                                 + (f"; APS-GNN: {me['how']}, k on 20" if size == "large" else ""),
                     "holds": _ten_percent(feas, every_feas, aps, seed_aps, kaps),
                     "evidence": f"{me.get('source', 'benchmarks/results/aps/large.csv')}; {ev}"})
        # the same bar against the strongest classical rule of yardsticks.csv that is feasible on the test episodes
        # (beyond the k-strongest: e.g. the power fraction over a floor of k - 1 APs), where that is another
        strong = strongest_rule(scen, limit)
        if strong is not None and strong["policy"] != k["policy"] and float(strong["active_aps"]) < kaps:
            saps = float(strong["active_aps"])
            rows.append({"claim": f"APS-GNN uses >= 10 % fewer APs than the strongest classical rule feasible on the "
                                  f"test episodes and meets the limit {limit} ({where})",
                         "paper": "(issue 15 bar against the strongest baseline built)",
                         "measured": f"{_pm(me, 'active_aps')} APs vs {strong['policy']}: {saps:.2f} APs at "
                                     f"{float(strong['mean_cost']):.4f} ({_pct(1 - aps / saps)}); per seed "
                                     + ", ".join(_pct(1 - a / saps) for a in seed_aps),
                         "holds": _ten_percent(feas, every_feas, aps, seed_aps, saps),
                         "evidence": f"{me.get('source', 'benchmarks/results/aps/large.csv')}; {ev}"})
        cg_aps, cg_feas = float(cg["active_aps"]), float(cg["mean_cost"]) <= limit
        rows.append({"claim": f"APS-GNN uses no more APs than the causal greedy where that is feasible ({where})",
                     "paper": "(issue 15 bar)",
                     "measured": f"{aps:.2f} APs (cost {cost:.4f}"
                                 + (f"; per seed {', '.join(f'{a:.2f}' for a in seed_aps)}" if mine else "")
                                 + f") vs causal greedy {cg_aps:.2f} APs (cost "
                                 f"{float(cg['mean_cost']):.4f}, {'feasible' if cg_feas else 'infeasible'})",
                     "holds": ("yes" if feas and every_feas and max(seed_aps) <= cg_aps else
                               "partial" if feas and aps <= cg_aps else "no") if cg_feas else
                     ("yes" if feas and every_feas else "no"), "evidence": ev})
    return rows


def paper_claims(limit: float) -> list[dict]:
    ev = "benchmarks/results/aps/README.md (make reproduce)"
    rows = []
    for mob in ("ped", "veh"):
        me = learned("medium", mob)
        k = yardstick(SCENARIOS[("medium", mob)], "best feasible k-strongest by large-scale")
        c = _main(mob, CENTRAL_BC)  # with the behaviour-cloning warm start APS-GNN has; else the first run without
        warm = c is not None
        c = c or next((r for r in _read("main.csv") if r["mobility"] == mob and r["policy"] == CENTRAL), None)
        if me and k:
            fewer, feas = float(me["active_aps"]) < float(k["active_aps"]), float(me["mean_cost"]) <= limit
            rows.append({"claim": f"APS-GNN meets the SE target with fewer APs than the best k-strongest (medium, "
                                  f"{MOB[mob]})", "paper": "fewer APs than the best baseline at the target SE (Fig. 5)",
                         "measured": f"{_pm(me, 'active_aps')} APs, cost {_pm(me, 'mean_cost', '{:.4f}')} vs "
                                     f"{k['policy']}: {float(k['active_aps']):.2f} APs",
                         "holds": "yes" if fewer and feas else "no", "evidence": f"{me['source']}; {ev}"})
        if me and c:
            # better: feasible with fewer APs, or feasible where the centralised agent is not
            me_feas, c_feas = float(me["mean_cost"]) <= limit, float(c["mean_cost"]) <= limit
            better = me_feas and (not c_feas or float(me["active_aps"]) < float(c["active_aps"]))
            rows.append({"claim": f"APS-GNN beats the centralised PPO-Lagr (medium, {MOB[mob]})",
                         "paper": "APS-GNN outperforms the single-agent PPO-Lagr (Fig. 5)",
                         "measured": f"{_pm(me, 'active_aps')} vs {_pm(c, 'active_aps')} APs, costs "
                                     f"{_pm(me, 'mean_cost', '{:.4f}')} vs {_pm(c, 'mean_cost', '{:.4f}')}"
                                     + (" (both with the behaviour-cloning warm start)" if warm else "")
                                     + (f"; with 10x the teacher episodes {_pm(d, 'active_aps')} APs, cost "
                                        f"{_pm(d, 'mean_cost', '{:.4f}')}" if (d := _main(mob, CENTRAL_DATA)) else ""),
                         "holds": ("yes" if better else "no") if warm else ("partial" if better else "no"),
                         "evidence": f"{c.get('source', 'benchmarks/results/aps/main.csv')}; {ev}" if warm else
                         ev + "; partial: PPO-Lagr had no behaviour-cloning warm start, APS-GNN had one"})
    me, k = learned("large", "ped"), yardstick("large", "best feasible k-strongest by large-scale")
    if me and k:  # the paper: "substantially"; partial = fewer and feasible on every seed, by < 10 % or on one seed
        aps, kaps = float(me["active_aps"]), float(k["active_aps"])
        feas = all(float(r["mean_cost"]) <= limit for r in me["per_seed"])
        n = me["seeds"]
        seeds = (f"{n} seeds: " + ", ".join(f"{float(r['active_aps']):.2f} / {float(r['mean_cost']):.4f}"
                                             for r in me["per_seed"]) if n > 1 else "seed 0")
        rows.append({"claim": "APS-GNN meets the SE target with fewer APs than k-strongest on large",
                     "paper": "substantially fewer APs than k-strongest on large (Fig. 6)",
                     "measured": f"{_pm(me, 'active_aps')} APs (cost {_pm(me, 'mean_cost', '{:.4f}')}; {seeds}; "
                                 f"{me['how']}) vs {kaps:.2f} (cost {float(k['mean_cost']):.4f}; {_pct(1 - aps / kaps)})",
                     "holds": "no" if aps >= kaps or not feas
                     else "yes" if aps <= 0.9 * kaps and n >= 3 else "partial",
                     "evidence": f"{me['source']}; {ev}"})
    for mob, (label, form) in ((m, f) for m in ("ped", "veh") for f in ((MAT, ""), (MAT_CE, " with its cost encoder"))):
        me, mat = _main(mob, GNN), _main(mob, label)
        if me and mat:
            a, b = float(me["active_aps"]), float(mat["active_aps"])
            feas = [float(r["mean_cost"]) <= limit for r in (me, mat)]
            rows.append({"claim": f"APS-GNN matches MAT-Lagr{form} on medium ({MOB[mob]}): both feasible, APs within 10 %",
                         "paper": "comparable active APs and SE on medium (Fig. 5)",
                         "measured": f"{_pm(me, 'active_aps')} vs {_pm(mat, 'active_aps')} APs, costs "
                                     f"{_pm(me, 'mean_cost', '{:.4f}')} vs {_pm(mat, 'mean_cost', '{:.4f}')} "
                                     f"(MAT-Lagr: {mat['seeds']} seed(s))",
                         "holds": "yes" if all(feas) and abs(a - b) <= 0.1 * b and int(mat["seeds"]) >= 3 else "partial" if all(feas) else "no",
                         "evidence": mat["source"] + f" (python benchmarks/aps_reproduction.py --only {'matce' if form else 'mat'}_{mob} ...)"})
    rows += mat_large_rows(limit)
    new = {(r["scenario"], r["policy"].split(" (")[0]): float(r["latency_ms"]) for r in _read("judged/latency.csv")}
    g, m = new.get(("large", "APS-GNN")), new.get(("large", "MAT-Lagr"))  # one run: the ratio is meaningful
    rows.append({"claim": "APS-GNN decides 1-2 orders of magnitude faster than MAT-Lagr at large", "paper": "Fig. 10",
                 "measured": f"{g:.2f} ms vs {m:.0f} ms per joint decision of 1,024 links ({m / g:.0f}x; 1 CPU thread)"
                 if g and m else "not measured: no MAT-Lagr latency recorded",
                 "holds": ("yes" if m / g >= 10 else "no") if g and m else "no",
                 "evidence": "benchmarks/results/aps/judged/latency.csv"})
    lat = {(r["scenario"], r["policy"].split(" (")[0]): float(r["latency_ms"]) for r in _read("latency.csv")}
    for size in ("medium", "large"):
        k, c, g = lat.get((size, "4-strongest")), lat.get((size, "PPO-Lagr")), lat.get((size, "APS-GNN"))
        if None not in (k, c, g):
            rows.append({"claim": f"Decision time: k-strongest < centralised PPO-Lagr < APS-GNN ({size})",
                         "paper": "k-strongest fastest, PPO-Lagr sub-ms, APS-GNN ms (Fig. 10)",
                         "measured": f"{k:.3f} / {c:.3f} / {g:.2f} ms", "holds": "yes" if k < c < g else "no",
                         "evidence": "benchmarks/results/aps/latency.csv"})
    rows += ablation_claims(limit)
    return rows


def variant_bar_claims(limit: float) -> list[dict]:
    """The issue's medium bars for each of RECIPE_VARIANTS (its main.csv / main_seeds.csv): `yes` needs every seed
    within the limit and each seed >= 10 % below the best feasible k-strongest (or, for the causal greedy, at or
    below it where it is feasible); the mean alone clearing it is `partial`."""
    rows = []
    for folder, what in RECIPE_VARIANTS.items():
        main, seeds = _read(f"{folder}/main.csv"), _read(f"{folder}/main_seeds.csv")
        for mob in ("ped", "veh"):
            me = next((r for r in main if r["mobility"] == mob and r["policy"] == GNN), None)
            k = yardstick(SCENARIOS[("medium", mob)], "best feasible k-strongest by large-scale")
            cg = yardstick(SCENARIOS[("medium", mob)], "causal greedy")
            if me is None or k is None or cg is None:
                continue
            mine = [r for r in seeds if r["mobility"] == mob and r["policy"] == GNN]
            aps = [float(r["active_aps"]) for r in mine]
            feas = all(float(r["mean_cost"]) <= limit for r in mine) and float(me["mean_cost"]) <= limit
            kaps, cg_aps, cg_feas = float(k["active_aps"]), float(cg["active_aps"]), float(cg["mean_cost"]) <= limit
            per_seed = ", ".join(f"{float(r['active_aps']):.2f} / {float(r['mean_cost']):.4f}" for r in mine)
            n = f"{len(mine)} seed{'s' if len(mine) != 1 else ''}"
            where = f"medium, {MOB[mob]}; variant: {what}"
            ev = f"benchmarks/results/aps/{folder}/main.csv, main_seeds.csv; benchmarks/results/aps/README.md"
            saving = 1 - float(me["active_aps"]) / kaps
            every = len(mine) >= 3 and all(1 - a / kaps >= 0.10 for a in aps)
            rows.append({"claim": f"APS-GNN uses >= 10 % fewer APs than the best feasible k-strongest and meets the "
                                  f"limit {limit} on every seed ({where})", "paper": "(issue 15 bar)",
                         "measured": f"{_pm(me, 'active_aps')} APs at cost {_pm(me, 'mean_cost', '{:.4f}')} ({n}: "
                                     f"{per_seed}) vs {k['policy'].split('(')[-1].rstrip(')')}: {kaps:.2f} APs at "
                                     f"{float(k['mean_cost']):.4f} ("
                                     + _pct(saving) + " on average)",
                         "holds": ("yes" if every else "partial" if saving >= 0.10 else "no") if feas else "no",
                         "evidence": ev})
            rows.append({"claim": f"APS-GNN uses no more APs than the causal greedy where that is feasible ({where})",
                         "paper": "(issue 15 bar)",
                         "measured": f"{_pm(me, 'active_aps')} APs ({n}) vs causal greedy {cg_aps:.2f} APs (cost "
                                     f"{float(cg['mean_cost']):.4f}, {'feasible' if cg_feas else 'infeasible'})",
                         "holds": ("yes" if feas and max(aps, default=float("inf")) <= cg_aps else "no") if cg_feas
                         else ("yes" if feas else "no"), "evidence": ev})
    return rows


def se_target_claims(limit: float) -> list[dict]:
    """The paper's other SE-target scenarios (Fig. 5: two targets x two mobilities): each
    benchmarks/results/aps/se_target_<T>/ holds APS-GNN runs (aps_reproduction.py --base ... --out there) and the
    yardsticks at that target (aps_yardsticks.py --se-target T --out there). `yes` needs 3 seeds, each within the
    limit and each with fewer APs than the best feasible k-strongest; fewer on average only, or fewer than 3 seeds,
    is `partial`."""
    rows = []
    for d in sorted(RES.glob("se_target_*")):
        target = d.name.split("_", 2)[-1]
        main, seeds = _read(f"{d.name}/main.csv"), _read(f"{d.name}/main_seeds.csv")
        for mob in ("ped", "veh"):
            me = next((r for r in main if r["mobility"] == mob and r["policy"] == GNN), None)
            k = next((r for r in _read(f"{d.name}/yardsticks.csv") if r["scenario"] == SCENARIOS[("medium", mob)]
                      and r["policy"].startswith("best feasible k-strongest by large-scale")), None)
            if me is None or k is None:
                continue
            mine = [r for r in seeds if r["mobility"] == mob and r["policy"] == GNN]
            n = len(mine)
            every = all(float(r["mean_cost"]) <= limit for r in mine)
            fewer = float(me["active_aps"]) < float(k["active_aps"])
            n_fewer = sum(float(r["active_aps"]) < float(k["active_aps"]) for r in mine)
            saving = 1 - float(me["active_aps"]) / float(k["active_aps"])
            cg = next((r for r in _read(f"{d.name}/yardsticks.csv") if r["scenario"] == SCENARIOS[("medium", mob)]
                       and r["policy"].startswith("causal greedy")), None)
            rows.append({"claim": f"APS-GNN meets the SE target with fewer APs than the best k-strongest (medium, "
                                  f"{MOB[mob]}, SE target {target} bit/s/Hz)",
                         "paper": "fewer APs than the best baseline at the target SE in every scenario (Fig. 5)",
                         "measured": f"{_pm(me, 'active_aps')} APs, cost {_pm(me, 'mean_cost', '{:.4f}')} ({n} seed"
                                     f"{'s' if n != 1 else ''}) vs {k['policy'].split('(')[-1].rstrip(')')}: "
                                     f"{float(k['active_aps']):.2f} APs at {float(k['mean_cost']):.4f} ({saving:.1%} "
                                     f"fewer; fewer on {n_fewer} of {n} seeds)" + (f"; causal greedy {float(cg['active_aps']):.2f} APs at "
                                                  f"{float(cg['mean_cost']):.4f}" if cg else ""),
                         "holds": ("yes" if n >= 3 and n_fewer == n else "partial") if fewer and every else "no",
                         "evidence": f"benchmarks/results/aps/{d.name}/main.csv, main_seeds.csv, yardsticks.md"
                                     + ("" if n >= 3 else f"; partial: {n} seed(s), 3 needed")
                                     + ("" if n_fewer == n else f"; partial: {n - n_fewer} seed(s) use more APs")})
    return rows


def mixture_claims(limit: float) -> list[dict]:
    """One policy across sizes (`cfmarl scale tune_configs/<study>.yaml [--seed N] --out benchmarks/results/scale`,
    one row per study of MIX_STUDIES, its seeds in scale-<study> (the file's seed) and scale-<study>_s<N>): at every
    evaluated size the mixture-trained policy against the best feasible k-strongest among the study's baselines
    (k = 3, 4, 5), chosen on the same episodes (the strongest choice the baseline could make). A size counts when
    every seed is within the limit with fewer APs; `yes` needs every size and 3 seeds."""
    import yaml

    rows = []
    for name, variant in MIX_STUDIES.items():
        seeded = [d for d in sorted(SCALE_RES.glob(f"scale-{name}_s*")) if d.name[len(f"scale-{name}_s"):].isdigit()]
        dirs = [d for d in [SCALE_RES / f"scale-{name}", *seeded] if (d / "scale.csv").exists()]  # not _steady_s0
        claim = (f"One APS-GNN policy trained on a mixture of sizes ({variant}) is feasible with fewer APs than the "
                 f"best feasible k-strongest at every size")
        command = f"cfmarl scale tune_configs/{name}.yaml [--seed N] --out benchmarks/results/scale"
        if not dirs:
            rows.append({"claim": claim + " from 16x6 to 128x32", "paper": "(issue 15)",
                         "measured": f"not measured: no benchmarks/results/scale/scale-{name}/scale.csv",
                         "holds": "no", "evidence": command})
            continue
        kpis = []
        for d in dirs:
            with open(d / "scale.csv") as f:
                kpis.append([r for r in csv.DictReader(f) if r["kind"] == "kpi"])
        parts, ok = [], []
        sizes = list(dict.fromkeys(r["size"] for r in kpis[0]))
        for size in sizes:
            mine = [next(r for r in kpi if r["size"] == size and r["trained_at"]) for kpi in kpis]
            ks = [r for r in kpis[0] if r["size"] == size and r["policy"].startswith("k-strongest")
                  and float(r["mean_cost"]) <= limit]
            best = min(ks, key=lambda r: float(r["active_aps"])) if ks else None
            aps = np.array([float(r["active_aps"]) for r in mine])
            cost = np.array([float(r["mean_cost"]) for r in mine])
            ok.append(bool(np.all(cost <= limit) and (best is None or np.all(aps < float(best["active_aps"])))))
            vs = (f"{best['policy'].split(':')[-1].split(',')[0]} {float(best['active_aps']):.2f} / "
                  f"{float(best['mean_cost']):.4f}" if best else "no k feasible")
            pm = (lambda x, f: f"{f.format(x.mean())} ± {f.format(x.std())}" if len(x) > 1 else f.format(x[0]))
            parts.append(f"{size}: {pm(aps, '{:.2f}')} / {pm(cost, '{:.4f}')} vs {vs}")
        trained = next(r["trained_at"] for r in kpis[0] if r["trained_at"])
        episodes = yaml.safe_load((dirs[0] / "train.yaml").read_text())["scale"]["evaluation_episodes"]
        n = len(dirs)
        rows.append({"claim": f"{claim} from {sizes[0]} to {sizes[-1]}", "paper": "(issue 15)",
                     "measured": "APs / cost: " + "; ".join(parts) + f" (one policy trained on {trained}, {n} seed"
                                 f"{'s' if n > 1 else ''}; k chosen on the same {episodes} evaluation episodes; holds "
                                 f"on every seed at {sum(ok)} of {len(ok)} sizes)",
                     "holds": "yes" if all(ok) and n >= 3 else "partial" if any(ok) else "no",
                     "evidence": ", ".join(f"benchmarks/results/scale/{d.name}/scale.csv" for d in dirs)
                                 + f" ({command})"})
    return rows


def _ablation_worse(abl: dict, ref: dict, limit: float) -> bool:
    """Under the constrained objective (fewest APs with the cost within the limit) an ablation is worse when it
    breaks the limit, or uses more APs than a feasible reference."""
    a_aps, a_cost, r_aps, r_cost = (float(abl["active_aps"]), float(abl["mean_cost"]), float(ref["active_aps"]),
                                    float(ref["mean_cost"]))
    return a_cost > limit or (r_cost <= limit and a_aps > r_aps)


def ablation_claims(limit: float) -> list[dict]:
    """The paper's ablations (Figs. 7-9) from judged/ablations.csv (3 seeds, both mobilities, the judged recipe:
    `python benchmarks/aps_reproduction.py --only nogru_ nopretrain_ unconstrained_ --ablation-seeds 0 1 2 --out
    benchmarks/results/aps/judged`): `yes` when the ablation is worse on the seed means and on every seed
    (paired with the reference of the same seed), `partial` when worse on the means only."""
    ab = {r["experiment"]: r for r in _read("judged/ablations.csv")}
    per_seed: dict[str, dict[int, dict]] = {}
    for r in _read("judged/ablations_seeds.csv"):
        per_seed.setdefault(r["experiment"], {})[int(r["seed"])] = r
    ev = "benchmarks/results/aps/judged/ablations.csv, ablations_seeds.csv, ablations.png"
    rows = []
    for mob in ("ped", "veh"):
        ref_name = f"gnn_{mob} (reference)"
        ref = ab.get(ref_name)
        if not ref:
            continue
        for name, claim, paper in ((f"nogru_{mob}", "Without the GRU APS-GNN is worse", "Fig. 8 (ablation)"),
                                   (f"nopretrain_{mob}", "Without pretraining APS-GNN is worse",
                                    "pretraining gives a better AP / SE trade-off (Fig. 9)")):
            if name not in ab:
                continue
            a = ab[name]
            seeds = sorted(set(per_seed.get(name, {})) & set(per_seed.get(ref_name, {})))
            wins = [s for s in seeds if _ablation_worse(per_seed[name][s], per_seed[ref_name][s], limit)]
            mean_worse = _ablation_worse(a, ref, limit)
            holds = "yes" if mean_worse and seeds and len(wins) == len(seeds) else "partial" if mean_worse else "no"
            rows.append({"claim": f"{claim} ({MOB[mob]}, medium): more APs or the limit broken",
                         "paper": paper,
                         "measured": f"{float(a['active_aps']):.2f} ± {float(a['active_aps_std']):.2f} vs "
                                     f"{float(ref['active_aps']):.2f} ± {float(ref['active_aps_std']):.2f} APs, costs "
                                     f"{float(a['mean_cost']):.4f} / {float(ref['mean_cost']):.4f}; worse on "
                                     f"{len(wins)} of {len(seeds)} seeds",
                             "holds": holds, "evidence": ev})
        unc = [r for n, r in ab.items() if n.startswith("unconstrained_") and n.endswith(f"_{mob}")]
        if unc:
            missed = all(float(r["mean_cost"]) > limit for r in unc)
            rows.append({"claim": f"A weighted (unconstrained) reward needs tuning: the weights tried miss the SE "
                                  f"constraint or use more APs than APS-GNN ({MOB[mob]}, medium)",
                         "paper": "collapsing the constraint into a reward is tuning-sensitive (Fig. 7)",
                         "measured": "; ".join(f"{r['experiment'].split('_')[1]}: {float(r['active_aps']):.2f} APs, "
                                               f"cost {float(r['mean_cost']):.4f}" for r in unc)
                                     + f" (APS-GNN {float(ref['active_aps']):.2f}, {float(ref['mean_cost']):.4f})",
                         "holds": "yes" if all(_ablation_worse(r, ref, limit) for r in unc) else "no",
                         "evidence": ev + "; every weight " + ("misses the limit" if missed else
                                                                "checked against APS-GNN")})
    return rows


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from cfmarl.rundir import write_csv

    import yaml

    limit = float(yaml.safe_load((ROOT / "tune_configs" / "aps_gnn_medium.yaml").read_text())["evaluation"]["cost_limit"])
    rows = (paper_claims(limit) + se_target_claims(limit) + bar_claims(limit) + variant_bar_claims(limit)
            + mixture_claims(limit))
    write_csv(RES / "claims.csv", rows, fields=["claim", "paper", "measured", "holds", "evidence"])
    for r in rows:
        print(f"{r['holds']:>7}  {r['claim']}")
    print(f"\n{len(rows)} claims -> {RES / 'claims.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
