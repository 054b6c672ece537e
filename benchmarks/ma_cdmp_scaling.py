"""``python benchmarks/ma_cdmp.py scaling``: the n8-trained MA-CDMP policies and baselines at 8 to 64 nodes without
retraining (KPIs and decision latency), rows kept in benchmarks/results/mftdma/ma_cdmp_scaling.csv. ``mod`` is the
ma_cdmp module of the invocation (its run folder, names and row files)."""

from __future__ import annotations

from pathlib import Path

SCALE = ("n8-2:6", "n16-4:12", "n32-8:24", "n64-16:48")
SCALE_FRAMES = 50  # the DDPM planner at 64 nodes: ~3 s per frame of one env copy on this CPU


def scaling(mod, seed: int, episodes: int) -> Path:
    """The n8-trained policies (one seed) at 8 to 64 nodes without retraining: KPIs and decision latency
    (``episodes`` episodes of SCALE_FRAMES frames)."""
    from cfmarl import evaluate
    from cfmarl.offline_train import controller_from_spec
    from cfmarl.registry import get_env

    rows = mod.study_rows("scaling")
    done = {(r["scenario"], r["policy"]) for r in rows}
    entry = get_env("mftdma")
    for scenario in SCALE:
        cfg = entry.make_config(scenario, episode_frames=SCALE_FRAMES)
        seeds = evaluate.episode_seeds(1000, episodes)
        runs = {k: mod.OUT / f"train-{mod.run_name(k, seed)}" for k in ("cdmp", "cdmp_nomf", "bc", "td3bc")}
        ctrls = [(mod.LABELS[k], lambda k=k: controller_from_spec(f"{runs[k]}{mod.sampling(k)}", seed=1000))
                 for k in runs if mod.finished(runs[k])]
        ctrls += [(b, lambda b=b: entry.make_baseline(b)) for b in ("equal", "load-proportional")]
        for label, make in ctrls:  # (the planners cost seconds per frame at 64 nodes: few, short episodes)
            if (scenario, label) in done:
                continue
            s = evaluate.run_policy(lambda n: entry.make_core(cfg, n), make(), seeds, batch=episodes).summary()
            rows.append({"scenario": scenario, "nodes": cfg.num_nodes, "policy": label, "episodes": episodes,
                         **{k: v for k, v in s.items() if k != "policy"}})
            mod.write_study("scaling", rows)
            print(f"  {scenario} {label}: return / node {s['team_return'] / cfg.num_nodes:.1f}, delay "
                  f"{s['mean_delay_ms']:.1f} ms, {s['decision_latency_ms']:.2f} ms/decision", flush=True)
    return mod.RESULTS / mod.KEPT["scaling"]
