"""``cfmarl scale EXPERIMENT.yaml``: a scaling study of a graph-mode experiment.

For the experiment's env (its ``scale`` section says what to sweep):

1. train the policy at ``scale.train_size`` (the experiment as written, at that size);
2. at every size of ``scale.sizes``: the task KPIs of that policy (graph models run at any
   size: the generalisation question) and of the baselines on the same evaluation episodes,
   the decision latency of one joint decision (batch of one env, 1 thread), graph-mode
   sampling and training throughput, and stock per-agent sampling throughput (up to
   ``scale.per_agent_max_links``);
3. at the training size: sampling throughput with each number of env runners of
   ``scale.runners`` (on a cluster, ``--address``, they spread over its nodes).

Writes ``<out>/scale-<name>/``: ``scale.csv`` (tidy: one row per measurement, columns
kind, size, agents, granularity, runners, nodes, policy, trained_at, KPIs, throughput,
latency, memory), ``scale.png`` (KPI vs size, throughput vs runners with the ideal-linear
line, latency vs size), the training run, versions.json.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from cfmarl import raycluster, rundir
from cfmarl.envs.validation import ConfigError
from cfmarl.experiment import ExperimentConfig, from_dict, load_experiment, to_dict
from cfmarl.search_space import set_path

def experiment_at(exp: ExperimentConfig, size: str, **changes) -> ExperimentConfig:
    """The experiment at ``size`` along the env's declared scaling axes (plus ``changes``: key path -> value)."""
    entry = exp.env_entry()
    try:
        size_over = entry.declaration.scale.overrides(exp.make_env_config(), size)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    data = to_dict(exp)
    data["env"]["overrides"] = {**data["env"]["overrides"], **size_over}
    for k, v in changes.items():
        data = set_path(data, k, v)
    return from_dict(ExperimentConfig, data)


def agents_at(exp: ExperimentConfig) -> int:
    """Agents (graph nodes) of the experiment's env."""
    return int(exp.env_entry().make_core(exp.make_env_config(), 1).n_agents)


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2 ** 20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def graph_throughput(exp: ExperimentConfig, iterations: int) -> dict:
    """Env and learner throughput of real training iterations (node-steps/s)."""
    from cfmarl.algo_builder import build_algo_config
    from cfmarl.policies.adapters.graph_env import GraphEnv

    nodes = GraphEnv(exp.env_config()).n
    algo = build_algo_config(exp).build_algo()
    try:
        before = algo.train().get("num_env_steps_sampled_lifetime", 0)  # warm-up (connectors, first passes)
        t_sample = t_learn = t_total = 0.0
        steps = 0
        for _ in range(iterations):
            t0 = time.perf_counter()
            res = algo.train()
            t_total += time.perf_counter() - t0
            timers = res.get("timers", {})
            t_sample += float(timers.get("env_runner_sampling_timer", float("nan")))
            t_learn += float(timers.get("learner_update_timer", float("nan")))
            now = res.get("num_env_steps_sampled_lifetime", 0)
            steps += int(now - before)
            before = now
        import ray

        n_nodes = len([n for n in ray.nodes() if n.get("Alive")])
        return {"sample_node_steps_per_s": steps * nodes / t_sample, "train_node_steps_per_s": steps * nodes / t_learn,
                "iteration_node_steps_per_s": steps * nodes / t_total, "env_steps": steps, "agents": nodes,
                "nodes": n_nodes, "rss_mib": _rss_mib(), "peak_rss_mib": _peak_mib()}
    finally:
        algo.stop()


def per_agent_throughput(env_cfg: dict, steps: int = 5, seed: int = 0) -> dict:
    """Stock per-agent RLlib (one agent per link, shared MLP, one local runner) sampling
    throughput in agent-steps/s; ``env_cfg`` = {"env", "scenario", "overrides"}."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    from cfmarl.policies.adapters.per_agent import PerAgentEnv, per_agent_policy_mapping_fn

    n_agents = len(PerAgentEnv(env_cfg).possible_agents)
    algo = (PPOConfig().environment(PerAgentEnv, env_config=env_cfg)
            .env_runners(num_env_runners=0, rollout_fragment_length=steps, episodes_to_numpy=False)
            .multi_agent(policies={"shared"}, policy_mapping_fn=per_agent_policy_mapping_fn,
                         count_steps_by="agent_steps")
            .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))
            .training(train_batch_size_per_learner=steps * n_agents, minibatch_size=min(512, steps * n_agents),
                      num_epochs=1)
            .debugging(seed=seed)).build_algo()
    try:
        runner = algo.env_runner
        runner.sample(num_timesteps=n_agents * 2)
        t0 = time.perf_counter()
        episodes = runner.sample(num_timesteps=steps * n_agents)
        dt = time.perf_counter() - t0
        agent_steps = sum(e.agent_steps() for e in episodes)
        return {"sample_node_steps_per_s": agent_steps / dt, "agent_steps": agent_steps, "agents": n_agents,
                "nodes": n_agents, "rss_mib": _rss_mib(), "peak_rss_mib": _peak_mib()}
    finally:
        algo.stop()


def decision_latency_ms(controller, exp: ExperimentConfig, repeats: int) -> float:
    core = exp.env_entry().make_core(exp.make_env_config(), 1)
    state, obs = core.reset([exp.seed])
    controller.act(core, state, obs)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        controller.act(core, state, obs)
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def scale(path: str, out: str = "runs", address: str | None = None, quiet: bool = False,
          seed: int | None = None) -> Path:
    """``seed``: train with this seed instead of the file's (the study is named ``<name>_s<seed>``); the
    evaluation episodes stay the same, so studies of several seeds compare on them."""
    import ray
    import torch

    from cfmarl import evaluate, plots
    from cfmarl.policies.module_controller import ModuleController, latest_checkpoint_of, load_module, rebuild_for_env
    from cfmarl.train import train

    exp = load_experiment(path)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"--seed: must be an integer >= 0, got {seed!r}")
        exp = from_dict(ExperimentConfig, {**to_dict(exp), "seed": seed, "name": f"{exp.name}_s{seed}"})
    from cfmarl.policies.learners.registry import get_learner

    if get_learner(exp.algorithm.name).offline is not None:
        raise ConfigError(f"algorithm.name {exp.algorithm.name!r} is an offline learner: `cfmarl scale` measures "
                          "RLlib learners; evaluate an offline policy at other sizes with `cfmarl evaluate --policy RUN`")
    sc = exp.scale
    if exp.model.mode != "graph":
        raise ConfigError("model.mode: cfmarl scale needs a graph model (it runs at every size)")
    decl = exp.env_entry().declaration
    sizes = list(sc.sizes)
    if not sizes or not sc.train_size:
        raise ConfigError(f"scale.sizes / scale.train_size: cfmarl scale needs both (sizes along "
                          f"{decl.scale.label}, e.g. {'x'.join(['8'] * len(decl.scale.fields))})")
    if sc.train_size not in sizes:
        raise ConfigError(f"scale.train_size: {sc.train_size!r} must be one of scale.sizes ({', '.join(sizes)})")
    # every experiment the study runs, built (validated, memory-checked) before anything trains
    # (a mixture of sizes, env.mix, is for training: evaluation and throughput are at one size each)
    one = {"env.mix": [], "algorithm.multiplier_per_graph": False}
    size_exps = {s: experiment_at(exp, s, **one) for s in sizes}
    links = {s: agents_at(e) for s, e in size_exps.items()}
    tp_exps = {s: experiment_at(exp, s, **{"pretrain.enabled": False, "resources.num_env_runners": 0, **one,
                                           **_batch_for(exp, links[s], sc)}) for s in sizes}
    runner_exps = {r: experiment_at(exp, sc.train_size, **{"pretrain.enabled": False, "resources.num_env_runners": r,
                                                          **one, **_batch_for(exp, links[sc.train_size], sc, runners=r)})
                   for r in sc.runners}
    run = Path(out) / f"scale-{exp.name}"
    run.mkdir(parents=True, exist_ok=True)
    rundir.write_json(run / "versions.json", rundir.versions())
    say = (lambda m: None) if quiet else (lambda m: print(m, flush=True))
    torch.set_num_threads(exp.resources.torch_threads)
    t_start = time.perf_counter()

    # 1. train at the training size (a resumable run directory of its own)
    train_exp = experiment_at(exp, sc.train_size, **{"training.iterations": sc.train_iterations,
                                                      "name": f"{exp.name}-{sc.train_size}"})
    train_yaml = run / "train.yaml"
    import yaml

    rundir.atomic_write_text(train_yaml, yaml.safe_dump(to_dict(train_exp), sort_keys=False))
    say(f"[scale] training at {sc.train_size} for {sc.train_iterations} iterations")
    started = False
    if address:
        raycluster.connect(address, log_to_driver=False)
        started = True
    try:
        train_run = train(str(train_yaml), out=str(run), quiet=quiet)
        best = train_run / "checkpoints" / "best"
        from cfmarl.checkpoints import damage

        trained = load_module(best if damage(best) is None else latest_checkpoint_of(train_run))

        rows: list[dict[str, Any]] = []
        entry = exp.env_entry()
        trained_at = "+".join([sc.train_size, *exp.env.mix])  # 16x6, or 16x6+32x8+64x16 for a mixture
        headline = decl.progress[0] if decl.progress else decl.kpis[0].name
        if not ray.is_initialized():
            ray.init(address="local", num_cpus=max(2, max(sc.runners) + 1), include_dashboard=False,
                     log_to_driver=False, logging_level="ERROR")
            started = True
        for size in sizes:
            e = size_exps[size]
            cfg = e.make_env_config()
            policy = ModuleController(rebuild_for_env(trained, e.env_config()), f"{exp.name}@{trained_at}",
                                      stochastic=exp.evaluation.stochastic, seed=e.evaluation.seed)
            ctrls = [policy] + evaluate.make_baselines(entry, e.baselines())
            seeds = evaluate.episode_seeds(e.evaluation.seed, sc.evaluation_episodes)
            for c in ctrls:
                t0 = time.perf_counter()
                s = evaluate.run_policy(lambda n: entry.make_core(cfg, n), c, seeds).summary()
                lat = decision_latency_ms(c, e, sc.latency_repeats)
                rows.append({"kind": "kpi", "size": size, "agents": links[size], "granularity": "graph", "runners": 0,
                             "policy": s["policy"], "trained_at": trained_at if c is policy else "",
                             **{k: s[k] for k in (*(d.name for d in decl.kpis), "mean_cost", "team_return")
                                if k in s},
                             "latency_ms": lat})
                say(f"[scale] {size}: {s['policy']:<28} {headline} {s.get(headline, float('nan')):9.4g} cost "
                    f"{s.get('mean_cost', float('nan')):.4f} latency {lat:.2f} ms ({time.perf_counter() - t0:.0f} s)")
            tp_exp = tp_exps[size]
            g = graph_throughput(tp_exp, sc.throughput_iterations)
            rows.append({"kind": "throughput", "size": size, "agents": links[size], "granularity": "graph",
                         "runners": 0,
                         "nodes": g["nodes"], "policy": "training", **{k: g[k] for k in (
                             "sample_node_steps_per_s", "train_node_steps_per_s", "iteration_node_steps_per_s",
                             "rss_mib", "peak_rss_mib")}})
            say(f"[scale] {size}: graph mode sampling {g['sample_node_steps_per_s']:,.0f} node-steps/s, "
                f"training {g['train_node_steps_per_s']:,.0f} node-steps/s")
            if sc.per_agent and links[size] <= sc.per_agent_max_links:
                p = per_agent_throughput({"env": tp_exp.env.name, "scenario": tp_exp.env.scenario,
                                          "overrides": dict(tp_exp.env.overrides)}, seed=tp_exp.seed)
                rows.append({"kind": "throughput", "size": size, "agents": links[size], "granularity": "per_agent",
                             "runners": 0, "policy": "sampling", **{k: p[k] for k in (
                                 "sample_node_steps_per_s", "rss_mib", "peak_rss_mib")}})
                say(f"[scale] {size}: per-agent mode sampling {p['sample_node_steps_per_s']:,.0f} agent-steps/s")
            rundir.write_csv(run / "scale.csv", rows, fields=_fields(rows))
        links0 = links[sc.train_size]
        for r in sc.runners:
            g = graph_throughput(runner_exps[r], sc.throughput_iterations)
            rows.append({"kind": "runners", "size": sc.train_size, "agents": links0, "granularity": "graph",
                         "runners": r, "nodes": g["nodes"], "policy": "training", **{k: g[k] for k in (
                             "sample_node_steps_per_s", "train_node_steps_per_s", "iteration_node_steps_per_s",
                             "rss_mib", "peak_rss_mib")}})
            say(f"[scale] {r} env runner(s) on {g['nodes']} node(s): sampling {g['sample_node_steps_per_s']:,.0f} "
                f"node-steps/s")
            rundir.write_csv(run / "scale.csv", rows, fields=_fields(rows))
    finally:
        if started:
            ray.shutdown()
    plots.plot_scale(rows, exp.judged_limit(), f"{exp.name}: scaling study", run / "scale.png",
                     kpi=(headline, decl.kpi(headline).title), size_label=decl.scale.label,
                     cost_label=f"mean cost ({decl.constraint.label})")
    say(f"\nScaling study done in {time.perf_counter() - t_start:.0f} s. Files in {run}/: scale.csv, scale.png, "
        f"train-{train_exp.name}/ (the trained policy), versions.json")
    return run


def _batch_for(exp: ExperimentConfig, links: int, sc, runners: int = 0) -> dict:
    """A training batch of about ``scale.throughput_node_steps`` node-steps per iteration."""
    envs = exp.resources.num_envs_per_env_runner * max(1, runners)
    steps = max(envs, int(round(sc.throughput_node_steps / links / envs)) * envs)
    return {"algorithm.train_batch_size": steps, "algorithm.minibatch_size": min(steps, exp.algorithm.minibatch_size)}


def _fields(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))
