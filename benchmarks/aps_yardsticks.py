"""AP selection yardsticks: the strongest classical controllers a learned policy must beat.

Per scenario (size and mobility):

* **best feasible k-strongest**, by instantaneous gain and by large-scale gain: k chosen on validation
  episodes (seed ``--val-seed``, disjoint from the test episodes) as the smallest k whose mean cost meets
  the judged limit, then evaluated on the test episodes;
* **best feasible power fraction** (received-power-based selection, Ngo et al. 2018): each UE served by the fewest
  APs holding ``delta`` of its total gain, by instantaneous and by large-scale gain, delta chosen on the same
  validation episodes as the smallest one (to 0.005, by bisection) whose mean cost meets the limit;
* **best feasible power fraction over a floor** (beyond Ngo et al.): every UE served by its k - 1 strongest APs, k
  the best feasible k above, and by more only while they hold less than ``delta`` of its gain - (k-1)-strongest
  with APs added where a UE's gain is spread; delta chosen on the validation episodes as the smallest feasible one
  (to 0.005, by a scan up from 0.005: over a floor the cost is not monotone in delta);
* **4-strongest**, the paper's heuristic;
* **causal greedy** (``greedy:window=previous``): the greedy search run on the window just played;
* **greedy oracle** (``greedy``): the same search on the coming window's channels - the non-causal bound.

Every controller runs on the same test episodes (seed ``--test-seed``, the reproduction's 1000) through
the evaluation harness (cfmarl.evaluate.run_policy). Writes ``benchmarks/results/aps/yardsticks.csv`` and
``yardsticks.md`` (the rows of scenarios not run this time stay); a test row already in yardsticks.csv for the same
scenario, policy spec, episodes and seed is reused (``--fresh`` recomputes every row):

    python benchmarks/aps_yardsticks.py                        # medium (both mobilities) and large
    python benchmarks/aps_yardsticks.py --scenarios medium --test-episodes 50
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "aps"


def evaluate(cfg, spec: str, seed: int, episodes: int) -> dict:
    from cfmarl.envs.ap_selection.core import ApSelectionCore
    from cfmarl.evaluate import episode_seeds, run_policy
    from cfmarl.policies.baselines.ap_selection import make_baseline

    res = run_policy(lambda n: ApSelectionCore(cfg, n), make_baseline(spec), episode_seeds(seed, episodes))
    s = res.summary()  # mean and std (ddof 1) over episodes
    return {"active_aps": s["active_aps"], "active_aps_std": s["active_aps_std"], "mean_cost": s["mean_cost"],
            "mean_cost_std": s["mean_cost_std"], "mean_se": s["mean_se_bps_hz"], "episodes": episodes,
            "latency_ms": s["decision_latency_ms"]}


def best_k(cfg, by: str, limit: float, seed: int, episodes: int, log) -> tuple[int | None, list[dict]]:
    """Smallest k whose mean cost on the validation episodes is within ``limit`` (None: no k is)."""
    trail = []
    for k in range(1, cfg.num_aps + 1):
        r = evaluate(cfg, f"k-strongest:k={k},by={by}", seed, episodes)
        trail.append({"k": k, **r})
        log(f"    k={k:3d} by {by}: cost {r['mean_cost']:.4f}, {r['active_aps']:.2f} APs")
        if r["mean_cost"] <= limit:
            return k, trail
    return None, trail


def best_delta(cfg, by: str, limit: float, seed: int, episodes: int, log, steps: int = 200
               ) -> tuple[float | None, list[dict]]:
    """Smallest delta on the grid i / ``steps`` whose mean cost on the validation episodes is within ``limit``, by
    bisection (a larger delta gives every UE at least the APs a smaller one does, so the cost falls with it);
    None when even delta = 1 (every AP) is not."""
    trail = []

    def feasible(i: int) -> bool:
        d = i / steps
        r = evaluate(cfg, f"power-fraction:delta={d:g},by={by}", seed, episodes)
        trail.append({"delta": d, **r})
        log(f"    delta={d:.3f} by {by}: cost {r['mean_cost']:.4f}, {r['active_aps']:.2f} APs")
        return r["mean_cost"] <= limit

    if not feasible(steps):
        return None, trail
    lo, hi = 0, steps  # lo: infeasible (delta 0 serves no one), hi: feasible
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if feasible(mid) else (mid, hi)
    return hi / steps, trail


def best_floored_delta(cfg, by: str, min_k: int, limit: float, seed: int, episodes: int, log, steps: int = 200
                       ) -> tuple[float | None, list[dict]]:
    """Smallest delta on the grid i / ``steps`` whose mean cost on the validation episodes is within ``limit`` for
    the power fraction over a floor of ``min_k`` APs, scanning up from 1 / ``steps`` (near ``min_k``-strongest);
    None when no delta is. A scan, not a bisection: over a floor the cost is not monotone in delta (medium
    pedestrian over 3 APs, validation: 0.0180 at delta 0.45, 0.0163 at 0.55, 0.0223 at 0.75 - each added link also
    takes power from its AP's other UEs), but the APs are, so the first feasible delta is the feasible one with the
    fewest APs on the validation episodes."""
    trail = []
    for i in range(1, steps + 1):
        d = i / steps
        r = evaluate(cfg, f"power-fraction:delta={d:g},by={by},min_k={min_k}", seed, episodes)
        trail.append({"delta": d, **r})
        if r["mean_cost"] <= limit:
            log(f"    delta={d:.3f} over {min_k} APs by {by}: cost {r['mean_cost']:.4f}, {r['active_aps']:.2f} APs "
                f"(the first feasible of {i})")
            return d, trail
    log(f"    no delta over {min_k} APs by {by} is feasible")
    return None, trail


def _se_flag(args: argparse.Namespace) -> str:
    return "" if args.se_target is None else f" --se-target {args.se_target}"


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    lines = ["# AP selection yardsticks", "",
             f"`python benchmarks/aps_yardsticks.py{_se_flag(args)}`; k and the power fraction's delta chosen on "
             f"validation episodes "
             f"(seed {args.val_seed}), every "
             f"row on the same test episodes (seed {args.test_seed}; {args.test_episodes} on medium, "
             f"{args.large_episodes} above), judged cost limit {args.limit}; mean ± std over episodes."
             + (f" SE target {args.se_target} bit/s/Hz." if args.se_target is not None else ""), "",
             "| scenario | policy | active APs | mean cost | feasible | mean SE | ms / decision |",
             "|---|---|---:|---:|:---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['policy']} | {r['active_aps']:.2f} ± {r['active_aps_std']:.2f} | "
                     f"{r['mean_cost']:.4f} ± {r['mean_cost_std']:.4f} | {'yes' if r['feasible'] else 'no'} | "
                     f"{r['mean_se']:.2f} | {r['latency_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def _read_rows(path: Path) -> list[dict]:
    """An earlier run's rows, numbers parsed (rows written before the test_seed column existed: seed 1000)."""
    import csv

    if not path.exists():
        return []
    num = ("active_aps", "active_aps_std", "mean_cost", "mean_cost_std", "mean_se", "latency_ms")
    with open(path, newline="") as f:
        return [{**r, **{k: float(r[k]) for k in num}, "episodes": int(r["episodes"]),
                 "test_seed": int(r.get("test_seed") or 1000), "feasible": r["feasible"] == "True"}
                for r in csv.DictReader(f)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", nargs="+", default=["medium", "medium-vehicular", "large", "large-vehicular"])
    ap.add_argument("--limit", type=float, default=0.02, help="judged cost limit (mean normalised SE shortfall)")
    ap.add_argument("--val-seed", type=int, default=2024)
    ap.add_argument("--val-episodes", type=int, default=100)
    ap.add_argument("--test-seed", type=int, default=1000)
    ap.add_argument("--test-episodes", type=int, default=200)
    ap.add_argument("--large-episodes", type=int, default=20,
                    help="test and validation episodes on sizes above medium (the greedy search is O(L K) "
                         "window evaluations per decision)")
    ap.add_argument("--se-target", type=float, default=None,
                    help="per-UE SE target [bit/s/Hz] for every scenario (default: the scenario's, 1.0)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--fresh", action="store_true", help="recompute every test row (default: reuse yardsticks.csv's)")
    args = ap.parse_args(argv)
    if args.se_target is not None and not args.se_target > 0:
        ap.error(f"--se-target: must be > 0 bit/s/Hz, got {args.se_target}")
    from cfmarl.envs.ap_selection.config import make_config
    from cfmarl.rundir import atomic_write_text, write_csv

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    earlier = _read_rows(out / "yardsticks.csv")
    kept = {} if args.fresh else {(r["scenario"], r["spec"], r["episodes"]): {
        k: r[k] for k in ("active_aps", "active_aps_std", "mean_cost", "mean_cost_std", "mean_se", "episodes",
                          "latency_ms")} for r in earlier if r["test_seed"] == args.test_seed}
    log = lambda m: print(m, flush=True)  # noqa: E731
    t_all = time.perf_counter()
    for scenario in args.scenarios:
        cfg = make_config(scenario, **({} if args.se_target is None else {"se_target_bps_hz": args.se_target}))
        big = cfg.num_aps * cfg.num_ues > 16 * 6
        n_val = min(args.val_episodes, args.large_episodes) if big else args.val_episodes
        n_test = min(args.test_episodes, args.large_episodes) if big else args.test_episodes
        log(f"[{scenario}] L={cfg.num_aps} K={cfg.num_ues}: choosing k on {n_val} validation episodes")
        specs = {}
        ks = {}
        for by in ("instantaneous", "large_scale"):
            k, _ = best_k(cfg, by, args.limit, args.val_seed, n_val, log)
            ks[by] = k
            if k is not None:
                specs[f"best feasible k-strongest by {by.replace('_', '-')} (k={k})"] = f"k-strongest:k={k},by={by}"
        for by in ("instantaneous", "large_scale"):
            d, _ = best_delta(cfg, by, args.limit, args.val_seed, n_val, log)
            if d is not None:
                specs[f"best feasible power fraction by {by.replace('_', '-')} (delta={d:g})"] = \
                    f"power-fraction:delta={d:g},by={by}"
        for by in ("instantaneous", "large_scale"):  # over a floor of k - 1, k the best feasible one
            if ks[by] is not None and ks[by] >= 3:  # a floor of 1 is the rule above
                d, _ = best_floored_delta(cfg, by, ks[by] - 1, args.limit, args.val_seed, n_val, log)
                if d is not None:
                    specs[f"best feasible power fraction over {ks[by] - 1} APs by {by.replace('_', '-')} "
                          f"(delta={d:g})"] = f"power-fraction:delta={d:g},by={by},min_k={ks[by] - 1}"
        specs["4-strongest (paper)"] = "k-strongest:k=4"
        specs["causal greedy (previous window)"] = "greedy:window=previous"
        specs["greedy oracle (coming window)"] = "greedy"
        for label, spec in specs.items():
            t0 = time.perf_counter()
            old = kept.get((scenario, spec, n_test))
            r = old or evaluate(cfg, spec, args.test_seed, n_test)
            rows.append({"scenario": scenario, "policy": label, "spec": spec, **r, "test_seed": args.test_seed,
                         "feasible": r["mean_cost"] <= args.limit})
            log(f"  {label:48s} {r['active_aps']:6.2f} APs  cost {r['mean_cost']:.4f}  SE {r['mean_se']:.2f}  "
                f"({'kept from yardsticks.csv' if old else f'{time.perf_counter() - t0:.0f} s'})")
    order = list(dict.fromkeys([r["scenario"] for r in earlier] + list(args.scenarios)))  # the file's order
    fresh = {sc: [r for r in rows if r["scenario"] == sc] for sc in args.scenarios}
    rows = [r for sc in order for r in (fresh[sc] if sc in fresh else  # the other scenarios' rows stay
                                        [e for e in earlier if e["scenario"] == sc])]
    write_csv(out / "yardsticks.csv", rows)
    atomic_write_text(out / "yardsticks.md", markdown(rows, args))
    print(f"\nDone in {time.perf_counter() - t_all:.0f} s. Files: {out / 'yardsticks.csv'}, {out / 'yardsticks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
