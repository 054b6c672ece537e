"""Tables and plots of benchmarks/aps_reproduction.py (kept apart so they can be redone
from existing runs with --skip-training)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cfmarl import rundir

LARGE_RUNS = {"ped": "gnn_large_finetune", "veh": "gnn_large_veh_finetune"}  # fine-tuned on `large`, per mobility
MAT_LARGE_RUNS = {"ped": "mat_large", "veh": "mat_large_veh"}  # MAT-Lagr trained on `large` with the same recipe
KPIS = ("active_aps", "mean_se_bps_hz", "target_satisfaction", "mean_cost", "network_power_w",
        "energy_efficiency_bit_per_j", "decision_latency_ms")


def large_run(mob: str, seed: int, model: str = "gnn") -> str:
    """Name of the run trained on `large` for a mobility and seed (aps_reproduction.py --large-seeds): APS-GNN's
    (``model`` gnn) or MAT-Lagr's (mat)."""
    return f"{(LARGE_RUNS if model == 'gnn' else MAT_LARGE_RUNS)[mob]}_s{seed}"


def large_runs(out: Path, names: dict[str, str] = LARGE_RUNS) -> list[tuple[str, str, str]]:
    """(mobility, seed, run) of every run trained on `large` under out/runs whose name is in ``names`` (per
    mobility), by mobility and seed; the single unsuffixed run of the earlier reproductions (one seed, 0) comes
    with seed ''."""
    found = []
    for mob, run in names.items():
        if (out / "runs" / f"train-{run}").is_dir():
            found.append((mob, "", run))
        seeded = [(int(p.name.rsplit("_s", 1)[1]), p.name[len("train-"):])
                  for p in (out / "runs").glob(f"train-{run}_s*") if p.name.rsplit("_s", 1)[1].isdigit()]
        found += [(mob, str(s), name) for s, name in sorted(seeded)]
    return found


def _eval_rows(out: Path, name: str) -> list[dict]:
    import csv

    path = out / "runs" / f"train-{name}" / "evaluation.csv"
    if not path.exists():
        return []
    with open(path) as f:
        return [dict(r) for r in csv.DictReader(f)]


def _keep_recorded_large(path: Path, rows: list[dict]) -> list[dict]:
    """``rows`` after the recorded rows of large.csv whose runs are not in this folder's runs/ any more (a run's
    rows are keyed by mobility, seed and model: APS-GNN's with its baselines, or MAT-Lagr's), so that a report
    from a machine with only some of the runs replaces their rows and loses none of the others."""
    import csv

    mat = tuple(MAT_LARGE_RUNS.values())
    key = lambda r: (r["mobility"], str(r["seed"]), r["policy"].startswith(mat))  # noqa: E731
    if not path.exists():
        return rows
    fresh = {key(r) for r in rows}
    with open(path) as f:
        kept = [r for r in csv.DictReader(f) if key(r) not in fresh]
    return kept + rows


def _agg(rows: list[dict]) -> dict:
    out: dict = {"seeds": len(rows)}
    for k in KPIS:
        v = np.array([float(r[k]) for r in rows])
        out[k] = float(v.mean()) if len(v) else float("nan")
        out[f"{k}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return out


def write_reports(out: Path, exps: dict, seeds: list[int], ablation_seeds: list[int], base: dict,
                  measure_latency: bool = True) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limit = base.get("evaluation", {}).get("cost_limit") or base["algorithm"]["cost_limit"]
    main_rows, seed_rows = [], []
    for mob in ("ped", "veh"):
        for label, prefix in (("APS-GNN (PPO-Lagr, GNN, pretrained)", "gnn"), ("MAT-Lagr (transformer, pretrained)", "mat"),
                              ("MAT-Lagr (transformer, cost encoder, pretrained)", "matce"),
                              ("PPO-Lagr (centralised)", "central"), ("PPO-Lagr (centralised, pretrained)", "centralbc"),
                              ("PPO-Lagr (centralised, pretrained on 10x data)", "centraldata")):
            evs = [e for s in seeds if (e := _eval_rows(out, f"{prefix}_{mob}_s{s}"))]
            if evs:
                main_rows.append({"mobility": mob, "policy": label, **_agg([e[0] for e in evs])})
            seed_rows += [{"mobility": mob, "policy": label, "seed": s, **{k: float(e[0][k]) for k in KPIS}}
                          for s in seeds if (e := _eval_rows(out, f"{prefix}_{mob}_s{s}"))]
        evs = [e for s in seeds if (e := _eval_rows(out, f"gnn_{mob}_s{s}"))]
        for i, name in ((1, "4-strongest"), (3, "greedy oracle")):
            if evs and len(evs[0]) > i:
                main_rows.append({"mobility": mob, "policy": name, **_agg([evs[0][i]])})
    if main_rows:
        rundir.write_csv(out / "main.csv", main_rows)
        rundir.write_csv(out / "main_seeds.csv", seed_rows)  # per seed: the "judged limit on every seed" check
    ab_rows, ab_seed_rows, groups = [], [], {}
    for name in exps:  # one row per ablation (seeds pooled: mean and std of the per-seed results)
        if name.startswith(("unconstrained", "nogru", "nopretrain")):
            ev = _eval_rows(out, name)
            if ev:
                group, seed = name.rsplit("_s", 1)
                groups.setdefault(group, []).append(ev[0])
                ab_seed_rows.append({"experiment": group, "seed": int(seed), **{k: float(ev[0][k]) for k in KPIS}})
    ab_rows = [{"experiment": g, **_agg(evs)} for g, evs in groups.items()]
    for mob in ("ped", "veh") if groups else ():  # the reference rows only beside ablations
        evs = [e for s in ablation_seeds if (e := _eval_rows(out, f"gnn_{mob}_s{s}"))]
        if evs:
            ab_rows.append({"experiment": f"gnn_{mob} (reference)", **_agg([e[0] for e in evs])})
            ab_seed_rows += [{"experiment": f"gnn_{mob} (reference)", "seed": s, **{k: float(e[0][k]) for k in KPIS}}
                             for s in ablation_seeds if (e := _eval_rows(out, f"gnn_{mob}_s{s}"))]
    if ab_seed_rows:
        rundir.write_csv(out / "ablations_seeds.csv", ab_seed_rows)
    if ab_rows:
        rundir.write_csv(out / "ablations.csv", ab_rows)
    large = [{"policy": r["policy"], "mobility": mob, "seed": seed, **{k: float(r[k]) for k in KPIS}}
             for mob, seed, run in large_runs(out) for r in _eval_rows(out, run)]
    # MAT-Lagr on large: its own row (the baselines of the same test episodes are the APS-GNN run's rows)
    large += [{"policy": r["policy"], "mobility": mob, "seed": seed, **{k: float(r[k]) for k in KPIS}}
              for mob, seed, run in large_runs(out, MAT_LARGE_RUNS) for r in _eval_rows(out, run)
              if r["policy"] == run]
    if large:
        rundir.write_csv(out / "large.csv", _keep_recorded_large(out / "large.csv", large))
    if measure_latency:  # decision times: on an idle CPU only (--keep-latency keeps or omits latency.csv)
        rundir.write_csv(out / "latency.csv", latency(out, seeds[0]))

    if main_rows:
        plot_main(out / "main.png", main_rows, limit, f"mean +- std over {len(seeds)} seeds")
    if ab_rows:
        fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
        for ax, mob, title in zip(axes, ("ped", "veh"), ("pedestrian", "vehicular")):
            for i, r in enumerate(ab_rows):
                if f"_{mob}" not in r["experiment"]:
                    continue
                ax.errorbar(r["active_aps"], r["mean_cost"], xerr=r["active_aps_std"], yerr=r["mean_cost_std"],
                            fmt="o", capsize=3)
                ax.annotate(f"{r['experiment'].replace(f'_{mob}', '')} ({r['seeds']})",
                            (r["active_aps"], r["mean_cost"]), fontsize=8, xytext=(4, 4 + 10 * (i % 2)),
                            textcoords="offset points")
            ax.axhline(limit, color="k", ls="--", lw=1)
            ax.set_yscale("symlog", linthresh=0.01)  # the points near the limit and the all-off one on one axis
            ax.set_xlabel("active APs")
            ax.set_title(f"{title}: mean +- std over seeds (n)")
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("mean SE shortfall (cost)")
        fig.suptitle("Ablations on medium (lower left is better; dashed: judged cost limit)")
        fig.tight_layout()
        fig.savefig(out / "ablations.png", dpi=100)
        plt.close(fig)
    print(f"reports written to {out}")



def plot_main(path: Path, main_rows: list[dict], limit: float, over: str) -> None:
    """Bars of main.csv's rows (active APs, cost, satisfaction; both mobilities), ``over`` in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for ax, (key, title) in zip(axes, (("active_aps", "active APs"), ("mean_cost", "mean SE shortfall (cost)"),
                                       ("target_satisfaction", "UEs meeting the target"))):
        pols = list(dict.fromkeys(r["policy"] for r in main_rows))
        for j, mob in enumerate(("ped", "veh")):
            rows = {r["policy"]: r for r in main_rows if r["mobility"] == mob}
            x = np.arange(len(pols)) + (j - 0.5) * 0.38
            ax.bar(x, [rows.get(p, {}).get(key, np.nan) for p in pols], 0.38,
                   yerr=[rows.get(p, {}).get(f"{key}_std", 0) for p in pols], capsize=3,
                   label={"ped": "pedestrian", "veh": "vehicular"}[mob])
        ax.set_xticks(np.arange(len(pols)), [p.replace(" (", "\n(") for p in pols], rotation=30, ha="right",
                      fontsize=7)
        if key == "mean_cost":
            ax.axhline(limit, color="k", ls="--", lw=1, label="cost limit")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"AP selection, medium (16 APs x 6 UEs): {over}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def latency(out: Path, seed: int, reps: int = 100) -> list[dict]:
    """Mean time of one joint decision for all links of one env (B = 1, CPU, 1 torch thread)."""
    import torch

    from cfmarl.envs import ap_selection_v0
    from cfmarl.experiment import load_experiment
    from cfmarl.policies.baselines.ap_selection import KStrongest
    from cfmarl.policies.module_controller import ModuleController, latest_checkpoint_of, load_module, rebuild_for_env

    torch.set_num_threads(1)
    rows = []
    gnn_run = out / "runs" / f"train-gnn_ped_s{seed}"
    overrides = {}  # the env options the policies were trained with (e.g. an extra observation feature)
    if (gnn_run / "experiment.yaml").exists():
        overrides = dict(load_experiment(gnn_run / "experiment.yaml").env.overrides)
    for scen in ("medium", "large"):
        core = ap_selection_v0.ApSelectionCore(ap_selection_v0.make_config(scen, **overrides), 1)
        state, obs = core.reset([0])
        env_cfg = {"env": "aps", "scenario": scen, "overrides": overrides}
        ctrls = [("4-strongest", KStrongest())]
        if gnn_run.exists():
            ctrls.append(("APS-GNN", ModuleController(rebuild_for_env(load_module(latest_checkpoint_of(gnn_run)),
                                                                      env_cfg))))
        central_run = out / "runs" / f"train-central_ped_s{seed}"
        if scen == "medium" and central_run.exists():
            ctrls.append(("PPO-Lagr (centralised)", ModuleController(load_module(latest_checkpoint_of(central_run)))))
        elif scen != "medium":  # latency does not depend on the weights: an untrained module of the same shape
            from cfmarl.policies.adapters.graph_env import GraphEnv
            from cfmarl.policies.models.graph_actor_critic import CentralActorCritic

            probe = GraphEnv(env_cfg)
            ctrls.append(("PPO-Lagr (centralised, untrained weights)", ModuleController(CentralActorCritic(
                observation_space=probe.observation_spaces["graph"], action_space=probe.action_spaces["graph"],
                model_config={"hidden": 256}))))
        mat_run = out / "runs" / f"train-mat_ped_s{seed}"
        if mat_run.exists():  # MAT's weights do not depend on the size: the medium-trained policy acts on large
            ctrls.append(("MAT-Lagr", ModuleController(rebuild_for_env(load_module(latest_checkpoint_of(mat_run)),
                                                                       env_cfg))))
        for name, c in ctrls:
            t0 = time.perf_counter()
            c.act(core, state, obs)
            n = max(3, min(reps, int(5.0 / max(time.perf_counter() - t0, 1e-6))))  # slow ones (MAT): ~5 s each
            t0 = time.perf_counter()
            for _ in range(n):
                c.act(core, state, obs)
            rows.append({"scenario": scen, "links": core.n_agents, "policy": name,
                         "latency_ms": 1e3 * (time.perf_counter() - t0) / n})
    return rows
