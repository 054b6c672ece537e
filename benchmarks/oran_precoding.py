"""The O-RAN paper (oran_distributed_precoding.txt) reproduced: MASAC agents choosing U_k and the Cholesky
factor of W_k for the distributed WMMSE precoder update, beside C-RZF, D-RZF, MRT, the iterative
(centralised) WMMSE, the non-learned WMMSE expert and DRL-WMMSE.

Per seed it trains (or reuses) ``tune_configs/precoding_masac_medium.yaml`` (the paper's framework),
``tune_configs/precoding_drl_wmmse_medium.yaml`` (the same agents on the cellular per-O-RU WMMSE update,
paper eq. (43)) and ``tune_configs/precoding_masac_dr_medium.yaml`` (ours: the paper's MASAC with a
difference reward, a per-user credit for the sum rate), ``tune_configs/precoding_masac_csi_medium.yaml`` (the
paper's MASAC trained on noisy channel estimates, for Fig. 12) and ``tune_configs/precoding_masac_c16_medium.yaml``
(ours: clusters of all 16 O-RUs) in resumable run directories, then evaluates every
method on the same test episodes and writes to ``benchmarks/results/precoding/``:

* ``oran_table.md`` / ``.csv`` - sum throughput, min rate, users >= R_min, E2 signalling per near-RT loop and
  decision time on ``medium`` and ``large`` (learned: mean ± std over seeds; on ``large`` the policies
  trained on ``medium`` act unchanged: the actors are per-user GNNs whose size does not depend on K);
* ``oran_convergence.png`` - Fig. 5 analogue: validation sum throughput of MASAC and DRL-WMMSE against env
  steps, the classical schemes as lines;
* ``oran_rate_change.png`` / ``.csv`` - Fig. 11 analogue: one user's R_min raised mid-episode, its
  throughput and lambda per near-RT loop under the trained agents (no retraining);
* ``oran_csi_error.png`` / ``.csv`` - Fig. 12 analogue: sum throughput against the relative CSI error;
* ``claims.csv`` - the paper's headline claims, ours, yes / no / partial, and the evidence.

This script trains and evaluates; what it records and concludes (the method list, aggregation over seeds, the
table, figures and claims) is ``benchmarks/oran_report.py``, rebuilt from the CSV files by ``--claims-only``.

    python benchmarks/oran_precoding.py --seeds 0 1 2            # train what is missing, then report
    python benchmarks/oran_precoding.py --seeds 0 --no-train     # report from finished runs only
    python benchmarks/oran_precoding.py --seeds 0 1 2 --methods masac_csi --csi-only
        # train / evaluate only these learned methods, only the CSI sweep; their rows replace theirs in
        # oran_csi_error.csv, the other methods' rows stay, and the claims are rebuilt
    python benchmarks/oran_precoding.py --seeds 0 1 2 --methods masac_c16 --table-only   # the same for the table
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from oran_report import (CLASSICAL, CSI_ERRORS_DB, KPIS, LABELS, LEARNED, OUT, PPO_LABEL, PPO_RUN, ROOT, SCHEME_KEYS,
                         aggregate, label, read_csv, report, run_dir, table_md, write_csv)
from seed_runs import checkpoint, run_env_overrides, train_seed


def train_one(runs: Path, method: str, seed: int, iterations: int | None) -> Path:
    return train_seed(runs, LEARNED[method][0], seed, iterations)


class Evaluator:
    """Every method on the same test episodes of one scenario and CSI error."""

    def __init__(self, scenario: str, runs: Path, seeds: list[int], episodes: int, steps: int, test_seed: int):
        from cfmarl.evaluate import episode_seeds

        self.scenario, self.runs, self.seeds, self.steps = scenario, runs, seeds, steps
        self.eps = episode_seeds(test_seed, episodes)
        self._modules: dict = {}

    def _config(self, **overrides):
        from cfmarl.registry import get_env

        entry = get_env("precoding")
        return entry, entry.make_config(self.scenario, episode_steps=self.steps, **overrides)

    def learned(self, method: str, seed: int, which: str = "best", **env):
        """(controller, env overrides) of a trained run's ``best`` or ``final`` checkpoint, rebuilt
        for this scenario's number of users."""
        from cfmarl.policies.module_controller import ModuleController, load_module, rebuild_for_env

        run = PPO_RUN if method == "ppo" else run_dir(self.runs, method, seed)
        # the reward definition does not change a trajectory (tests/envs/test_precoding_modes.py), and the
        # difference reward's counterfactual loops would cost K + 1 times the env time: evaluate without it
        over = {k: v for k, v in run_env_overrides(run).items() if k not in ("episode_steps", "reward")}
        over.update(env)
        key = (method, seed, which)
        if key not in self._modules:
            self._modules[key] = load_module(checkpoint(run, which))
        env_config = {"env": "precoding", "scenario": self.scenario,
                      "overrides": {**over, "episode_steps": self.steps}}
        module = rebuild_for_env(self._modules[key], env_config)
        return ModuleController(module, name=PPO_LABEL if method == "ppo" else label(method, which)), over

    def available(self, method: str) -> list[int]:
        return [s for s in self.seeds if (run_dir(self.runs, method, s) / "evaluation.csv").exists()]

    def run(self, ctrl, method: str, seed, **overrides) -> dict:
        from cfmarl.evaluate import run_policy

        entry, cfg = self._config(**overrides)
        t0 = time.perf_counter()
        s = run_policy(lambda n: entry.make_core(cfg, n), ctrl, self.eps).summary()
        row = {"scenario": self.scenario, "csi_error": cfg.csi_error, "method": method,
               "seed": "" if seed is None else seed, **{k: s[k] for k in KPIS}}
        print(f"  {self.scenario:7s} eps {cfg.csi_error:<7.4g} {method:32s} seed {row['seed']!s:2s} sum rate "
              f"{row['sum_rate_bps_hz']:7.2f}  min {row['min_rate_bps_hz']:5.2f}  >=R_min "
              f"{row['min_rate_satisfaction']:.3f}  E2 {row['e2_overhead_kbit']:8.1f} kbit "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        return row

    def all_methods(self, classical=CLASSICAL, csi_error: float = 0.0, checkpoints=("best", "final"),
                    methods=tuple(LEARNED), ppo: bool = True, decoupled_expert: bool = True) -> list[dict]:
        from cfmarl.policies.baselines.precoding import make_baseline

        rows = [self.run(make_baseline(b), LABELS[b], None, csi_error=csi_error) for b in classical]
        if decoupled_expert:  # the non-learned start of DRL-WMMSE: the expert's U, W through eq. (43)
            rows.append(self.run(make_baseline("wmmse-expert"), LABELS["wmmse-expert-decoupled"], None,
                                 csi_error=csi_error, precoder_update="decoupled"))
        for method in methods:  # a learned scheme with other scheme settings: the expert with the same settings
            seeds = self.available(method)
            scheme = {} if not seeds else {k: v for k, v in run_env_overrides(run_dir(self.runs, method, seeds[0])).items()
                                           if k in SCHEME_KEYS}
            if scheme:
                name = LABELS["wmmse-expert"] + ", " + ", ".join(SCHEME_KEYS[k].format(v) for k, v in scheme.items())
                rows.append(self.run(make_baseline("wmmse-expert"), name, None, csi_error=csi_error, **scheme))
        for method in methods:
            for which in checkpoints:
                for seed in self.available(method):
                    ctrl, over = self.learned(method, seed, which, csi_error=csi_error)
                    rows.append(self.run(ctrl, label(method, which), seed, **over))
        if ppo and (PPO_RUN / "evaluation.csv").exists():
            ctrl, over = self.learned("ppo", 0, "best", csi_error=csi_error)
            rows.append(self.run(ctrl, PPO_LABEL, None, **over))
        return rows


# ------------------------------------------------------------------ Fig. 11: a min-rate change
def rate_change(ev: Evaluator, seed: int, change_step: int, new_rate: float) -> list[dict]:
    """Per near-RT loop, the throughput and lambda of the user whose R_min rises to ``new_rate`` at
    ``change_step`` (the env picks the user per episode), under the trained MASAC agents and the
    WMMSE expert; one row per (method, episode, step)."""
    from cfmarl.policies.baselines.precoding import make_baseline

    rows = []
    ctrl, over = ev.learned("masac", seed)
    for name, c, o in (("MASAC (proposed)", ctrl, over), ("WMMSE expert", make_baseline("wmmse-expert"), {})):
        entry, cfg = ev._config(rate_change_step=change_step, rate_change_bps_hz=new_rate, **o)
        core = entry.make_core(cfg, len(ev.eps))
        state, obs = core.reset(list(ev.eps))
        who = state.rate_change_user.copy()
        idx = np.arange(len(ev.eps))
        done = np.zeros(len(ev.eps), bool)
        while not done.all():
            state, obs, _, _, done = core.step(state, c.act(core, state, obs))
            for e in idx:
                rows.append({"method": name, "episode": int(e), "step": state.t, "user": int(who[e]),
                             "throughput_bps_hz": float(state.step_rate[e, who[e]]),
                             "lambda": float(state.lam[e, who[e]]), "min_rate_bps_hz": float(state.min_rate[e, who[e]])})
    return rows


def ceilings(episodes: int = 4, steps: int = 50, test_seed: int = 1000) -> list[dict]:
    """What the distributed scheme reaches without learning, on ``medium``: the expert (U, W from the agent's
    own |Omega| users), a full-information expert (MMSE U, W from every user's effective channel), each with
    the paper's served-only update and with every user accounted for (``precoder_users: all``), and the
    expert with larger user-centric clusters; C-RZF on the same episodes."""
    from cfmarl.envs.physics import mimo
    from cfmarl.evaluate import episode_seeds, run_policy
    from cfmarl.policies.baselines.precoding import make_baseline
    from cfmarl.registry import get_env

    class FullInformation:
        name = "full-information expert"

        def act(self, core, state, obs):
            u, w = mimo.mmse_receivers(state.s_hat)
            return core.encode_actions(state, u, 0.5 * (w + mimo.herm(w))).reshape(core.num_envs, core.K, -1)

    entry, eps, rows = get_env("precoding"), episode_seeds(test_seed, episodes), []
    cases = [("C-RZF", make_baseline("c-rzf"), {})]
    for over in ({}, {"precoder_users": "all"}):
        cases += [("WMMSE expert", make_baseline("wmmse-expert"), over), ("full-information expert", FullInformation(), over)]
    cases += [("WMMSE expert", make_baseline("wmmse-expert"), {"cluster_size": c}) for c in (8, 16)]
    for name, ctrl, over in cases:
        cfg = entry.make_config("medium", episode_steps=steps, **over)
        s = run_policy(lambda n: entry.make_core(cfg, n), ctrl, eps).summary()
        rows.append({"method": name, "overrides": " ".join(f"{k}={v}" for k, v in over.items()) or "-",
                     "sum_rate_bps_hz": s["sum_rate_bps_hz"], "min_rate_satisfaction": s["min_rate_satisfaction"]})
        print(f"  {name:26s} {rows[-1]['overrides']:22s} sum rate {s['sum_rate_bps_hz']:6.1f}  >=R_min "
              f"{s['min_rate_satisfaction']:.3f}", flush=True)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--no-train", action="store_true", help="report from finished runs only")
    ap.add_argument("--ceilings", action="store_true",
                    help="only measure what the distributed scheme reaches without learning (oran_ceilings.csv)")
    ap.add_argument("--claims-only", action="store_true",
                    help="rebuild claims.csv and the figures from the CSV files a previous run wrote")
    ap.add_argument("--iterations", type=int, default=None, help="override training.iterations")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "oran"))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--episodes", type=int, default=20, help="test episodes on medium")
    ap.add_argument("--large-episodes", type=int, default=3, help="test episodes on large (64 O-RUs x 32 users)")
    ap.add_argument("--csi-episodes", type=int, default=10, help="test episodes per CSI error level (medium)")
    ap.add_argument("--steps", type=int, default=50, help="near-RT loops per test episode")
    ap.add_argument("--test-seed", type=int, default=1000)
    ap.add_argument("--change-step", type=int, default=20, help="near-RT loop of the min-rate change (Fig. 11)")
    ap.add_argument("--new-rate", type=float, default=6.0, help="the changed user's new R_min [bit/s/Hz]")
    ap.add_argument("--methods", nargs="+", choices=list(LEARNED), default=list(LEARNED),
                    help="learned methods to train and evaluate (default: all)")
    ap.add_argument("--table-only", action="store_true",
                    help="only the medium / large table: the rows of these methods (beside C-RZF and the WMMSE expert, "
                         "evaluated again) replace theirs in oran_table.csv, the rest stays; claims rebuilt")
    ap.add_argument("--csi-only", action="store_true",
                    help="only the CSI-error sweep: its rows of these methods (and the classical schemes) replace "
                         "theirs in oran_csi_error.csv, the rest stays; claims and figures rebuilt")
    args = ap.parse_args(argv)
    runs, out = Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if args.ceilings:
        write_csv(out / "oran_ceilings.csv", ceilings(test_seed=args.test_seed))
        return None
    if args.claims_only:
        agg, csi_agg = read_csv(out / "oran_table.csv"), read_csv(out / "oran_csi_error.csv")
        change = read_csv(out / "oran_rate_change.csv") if (out / "oran_rate_change.csv").exists() else []
        return report(out, runs, args, agg, csi_agg, change)
    if not args.no_train:
        for seed in args.seeds:
            for method in args.methods:
                if not (run_dir(runs, method, seed) / "evaluation.csv").exists():
                    print(f"training {method} seed {seed} ...", flush=True)
                    train_one(runs, method, seed, args.iterations)
    from cfmarl.rundir import atomic_write_text

    if args.csi_only:
        return csi_only(out, runs, args)
    if args.table_only:
        return table_only(out, runs, args)
    print("evaluating (medium, perfect CSI) ...", flush=True)
    med = Evaluator("medium", runs, args.seeds, args.episodes, args.steps, args.test_seed)
    rows = med.all_methods(methods=args.methods)
    print("evaluating (large: the medium-trained agents, unchanged) ...", flush=True)
    big = Evaluator("large", runs, args.seeds, args.large_episodes, args.steps, args.test_seed)
    rows += big.all_methods(methods=args.methods)
    agg = aggregate(rows)
    write_csv(out / "oran_table.csv", agg)
    atomic_write_text(out / "oran_table.md", table_md(agg) + "\n")
    print("evaluating CSI errors (medium) ...", flush=True)
    csi_agg = csi_sweep(runs, args)
    write_csv(out / "oran_csi_error.csv", csi_agg)
    print("min-rate change (Fig. 11) ...", flush=True)
    seed0 = next((s for s in args.seeds if s in med.available("masac")), None)
    change = [] if seed0 is None else rate_change(med, seed0, args.change_step, args.new_rate)
    if change:
        write_csv(out / "oran_rate_change.csv", change)
    report(out, runs, args, agg, csi_agg, change)
    print(f"\ndone in {time.perf_counter() - t_start:.0f} s; tables, figures and claims.csv in {out}")


def csi_sweep(runs: Path, args, ppo: bool = True) -> list[dict]:
    """Fig. 12: the classical schemes and the best checkpoints of ``args.methods`` at every CSI error level, on
    the same ``args.csi_episodes`` test episodes per level; aggregated over seeds."""
    csi = Evaluator("medium", runs, args.seeds, args.csi_episodes, args.steps, args.test_seed)
    rows = []
    for db in CSI_ERRORS_DB:
        rows += csi.all_methods(classical=("c-rzf", "d-rzf", "mrt", "wmmse-expert"),
                                csi_error=0.0 if db is None else 10 ** (db / 10), checkpoints=("best",),
                                methods=args.methods, ppo=ppo)
    return aggregate(rows)


def merge_record(path: Path, fresh: list[dict], what: str) -> list[dict]:
    """``fresh`` aggregated rows merged into the recorded ``path``: they replace the rows of the same (scenario,
    CSI error, method), the others stay; a classical scheme evaluated again must agree with the record (it is
    deterministic on the same episodes), else the episodes differ and nothing is written."""
    old = read_csv(path) if path.exists() else []
    key = lambda r: (r["scenario"], f"{float(r['csi_error']):.5g}", r["method"])  # noqa: E731 (the record: 6 digits)
    fresh_keys = {key(r): r for r in fresh}
    for r in old:
        if r["seeds"] == 0 and key(r) in fresh_keys:
            now = fresh_keys[key(r)]["sum_rate_bps_hz"]
            if abs(float(r["sum_rate_bps_hz"]) - now) > 1e-4 * max(1.0, abs(float(r["sum_rate_bps_hz"]))):
                raise SystemExit(f"{path}: {r['method']} ({r['scenario']}, csi_error {r['csi_error']}) was "
                                 f"{r['sum_rate_bps_hz']}, now {now}: not the recorded episodes ({what} must "
                                 f"match the record)")
    merged = [fresh_keys.pop(key(r), r) for r in old] + list(fresh_keys.values())
    write_csv(path, merged)
    return merged


def _recorded(out: Path) -> tuple[list[dict], list[dict], list[dict]]:
    change = read_csv(out / "oran_rate_change.csv") if (out / "oran_rate_change.csv").exists() else []
    return read_csv(out / "oran_table.csv"), read_csv(out / "oran_csi_error.csv"), change


def csi_only(out: Path, runs: Path, args) -> None:
    """The CSI sweep of ``args.methods`` merged into the recorded one (the classical schemes again, checked)."""
    print(f"evaluating CSI errors (medium) of {', '.join(args.methods)} ...", flush=True)
    merge_record(out / "oran_csi_error.csv", csi_sweep(runs, args, ppo=False),
                 "--csi-episodes / --steps / --test-seed")
    report(out, runs, args, *_recorded(out), rate_change_plot=False)
    print(f"\nCSI sweep of {', '.join(args.methods)} merged into {out / 'oran_csi_error.csv'}; claims.csv and "
          f"figures rebuilt in {out}")


def table_only(out: Path, runs: Path, args) -> None:
    """The medium / large table rows of ``args.methods`` merged into the recorded table, beside C-RZF and the
    WMMSE expert evaluated again (checked against the record) and the expert at each method's scheme settings."""
    from cfmarl.rundir import atomic_write_text

    rows = []
    for scenario, episodes in (("medium", args.episodes), ("large", args.large_episodes)):
        print(f"evaluating ({scenario}) {', '.join(args.methods)} ...", flush=True)
        ev = Evaluator(scenario, runs, args.seeds, episodes, args.steps, args.test_seed)
        rows += ev.all_methods(classical=("c-rzf", "wmmse-expert"), methods=args.methods, ppo=False,
                               decoupled_expert=False)
    agg = merge_record(out / "oran_table.csv", aggregate(rows), "--episodes / --large-episodes / --steps / "
                                                               "--test-seed")
    atomic_write_text(out / "oran_table.md", table_md(agg) + "\n")
    report(out, runs, args, *_recorded(out), rate_change_plot=False)
    print(f"\ntable rows of {', '.join(args.methods)} merged into {out / 'oran_table.csv'}; claims.csv and figures "
          f"rebuilt in {out}")


if __name__ == "__main__":
    sys.exit(main())
