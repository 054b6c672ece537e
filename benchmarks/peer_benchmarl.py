"""Peer benchmark: BenchMARL MAPPO vs cfmarl PPO-Lagrangian on AP selection (issue 15).

Both frameworks train from scratch on the same env (``aps``, scenario ``medium``: 16 APs x 6 UEs =
96 link agents, Discrete(2) per link) for the same env-step budget, with the same batch layout
(4 env copies, 400 env steps per iteration, 5 epochs of 100-step minibatches), learning rate,
discount, GAE lambda, clip, entropy bonus and gradient-norm clip, and the same hidden width (64):

* **cfmarl**: graph-mode PPO-Lagrangian with the APS-GNN model of ``tune_configs/aps_gnn_medium.yaml``
  (per-link GRU + 2 rounds of relational attention over the link graph, per-node reward and cost
  critics, Lagrange multiplier on the per-node cost), built as ``benchmarks/rllib_throughput.py`` does
  (``build_algo_config`` of an ``ExperimentConfig``; one local env runner, local learner) and driven by
  ``env_runner.sample()`` + ``learner_group.update()`` + weight sync, timed separately. No behaviour-
  cloning warm start (BenchMARL has none).
* **BenchMARL** MAPPO (unconstrained) on a custom task: TorchRL's ``PettingZooWrapper`` (global state
  on, explicit group map ``{"links": [all 96 link agents]}``), every env copy with its own seed
  (BenchMARL's own PettingZoo tasks give every serial copy the same seed, which replays identical
  channels). Its reward is the env's per-link reward minus a fixed Lagrangian penalty, r - lambda c
  (the project's engineered reward, ``env.reward_mode: engineered``, with w = lambda). Models:
  BenchMARL's MLP, 2 x 64 Tanh, actor shared by the links (per-link observation), centralised critic
  on the global state (BenchMARL's default: one shared value for the group). Collection and training
  times are BenchMARL's own timers (``timers/collection_time``, ``timers/training_time``).

Throughput (env steps/s; one env step = 96 agent decisions): sampling, update, end to end over the
budget (construction excluded), as ratios cfmarl / BenchMARL. Each framework runs in a fresh process
(1 torch thread); with ``--repeats`` > 1 the two alternate (A B B A ...). The final policies of the
last repeat act greedily on the same test episodes through the evaluation harness
(``cfmarl.evaluate.run_policy``, seed 1000), beside 4-strongest.

    python benchmarks/peer_benchmarl.py                       # medium, 20k env steps each, twice: 15-20 min, 2 cores
    python benchmarks/peer_benchmarl.py --env-steps 40000 --repeats 1 --test-episodes 200

Needs the ``peer`` extra (``pip install -e .[peer]`` with the constraints: benchmarl 1.5.2, torchrl 0.11.1).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_benchmarl_report import FRAMEWORKS, rates, render  # noqa: E402  (same folder: the report's markdown)

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "tune_configs" / "aps_gnn_medium.yaml"
OUT = ROOT / "benchmarks" / "results" / "peer_benchmarl.md"
GROUP = "links"  # the one BenchMARL agent group: every link agent


def _say(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- shared settings
def shared_settings(args: argparse.Namespace) -> dict:
    """Hyperparameters both frameworks use (cfmarl's values from aps_gnn_medium.yaml)."""
    from cfmarl.yamlfile import read_yaml

    base = read_yaml(BASE)
    a = base["algorithm"]
    return {"scenario": args.scenario, "overrides": dict(base["env"].get("overrides", {})), "seed": args.seed,
            "env_steps": args.env_steps, "batch": args.batch, "minibatch": args.minibatch, "num_envs": args.num_envs,
            "epochs": a["num_epochs"], "lr": a["lr"], "gamma": a["gamma"], "lambda_": a["lambda_"],
            "entropy_coeff": a["entropy_coeff"], "clip": 0.2, "grad_clip": 0.5, "hidden": base["model"]["hidden"],
            "penalty": args.penalty, "test_seed": args.test_seed, "test_episodes": args.test_episodes,
            "judged_limit": base["evaluation"]["cost_limit"]}


def evaluate_controller(job: dict, controller) -> dict:
    """KPIs of ``controller`` on the test episodes (mean and std over episodes)."""
    from cfmarl.evaluate import episode_seeds, run_policy
    from cfmarl.registry import get_env

    entry = get_env("aps")
    cfg = entry.make_config(job["scenario"], **job["overrides"])
    seeds = episode_seeds(job["test_seed"], job["test_episodes"])
    res = run_policy(lambda n: entry.make_core(cfg, n), controller, seeds)
    s = res.summary()
    keys = ("active_aps", "mean_cost", "mean_se_bps_hz", "target_satisfaction", "decision_latency_ms")
    return {k: s[k] for k in keys} | {f"{k}_std": s[f"{k}_std"] for k in keys[:4]}


# --------------------------------------------------------------------------- BenchMARL side
def penalised_env_class():
    """ApSelectionEnv whose per-link reward is r - penalty x cost (cost still in the infos)."""
    from cfmarl.envs.ap_selection.env import ApSelectionEnv

    class PenalisedApSelectionEnv(ApSelectionEnv):
        def __init__(self, penalty: float = 0.0, **kwargs):
            super().__init__(**kwargs)
            self.penalty = float(penalty)

        def step(self, actions):
            obs, rew, term, trunc, infos = super().step(actions)
            rew = {a: r - self.penalty * infos[a]["cost"] for a, r in rew.items()}
            return obs, rew, term, trunc, infos

    return PenalisedApSelectionEnv


def make_task(job: dict):
    """The BenchMARL task: AP selection through TorchRL's PettingZooWrapper, one group, a seed per copy."""
    from benchmarl.environments.pettingzoo.common import PettingZooClass
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    class ApSelectionTask(PettingZooClass):
        """config: scenario, overrides, penalty, seed. Reuses BenchMARL's PettingZoo spec plumbing."""

        def __init__(self, name, config):
            super().__init__(name, config)
            self.copy_seeds: list[int] = []  # one per env built (SerialEnv copies, spec probes)
            self._counter = itertools.count()

        def __reduce__(self):  # BenchMARL pickles the task into its run folder; a local class needs this
            return _task_from_config, (self.name, self.config)

        def _base_env(self):
            c = self.config
            return penalised_env_class()(penalty=c["penalty"], scenario=c["scenario"], **c["overrides"])

        def get_env_fun(self, num_envs, continuous_actions, seed, device):
            base_seed = self.config["seed"] if seed is None else seed

            def make():
                env = self._base_env()
                copy_seed = base_seed * 100_003 + next(self._counter)  # its own channel stream per copy
                self.copy_seeds.append(copy_seed)
                return PettingZooWrapper(env, return_state=True, group_map={GROUP: list(env.possible_agents)},
                                         categorical_actions=True, seed=copy_seed, device=device)
            return make

        def supports_continuous_actions(self):
            return False

        def supports_discrete_actions(self):
            return True

        def has_state(self):
            return True

        def has_render(self, env):
            return False

        def max_steps(self, env):
            return self._base_env().config.episode_windows

        def group_map(self, env):
            gm = {GROUP: list(self._base_env().possible_agents)}
            if env.group_map != gm:
                raise ValueError(f"the wrapped env's group map {list(env.group_map)} is not the explicit one")
            return gm

        @staticmethod
        def env_name():
            return "cfmarl"

    return ApSelectionTask(name=f"aps_{job['scenario']}", config={
        "scenario": job["scenario"], "overrides": job["overrides"], "penalty": job["penalty"], "seed": job["seed"]})


def _task_from_config(name: str, config: dict):
    task = make_task(config)
    task.name = name
    return task


class BenchmarlController:
    """A BenchMARL actor acting greedily (the most likely action of every link) on an array core."""

    privileged = False

    def __init__(self, policy, name: str = "BenchMARL MAPPO"):
        self.policy, self.name = policy, name

    def act(self, core, state, obs: np.ndarray) -> np.ndarray:
        import torch
        from tensordict import TensorDict
        from torchrl.envs.utils import ExplorationType, set_exploration_type

        B, N, _ = obs.shape
        td = TensorDict({GROUP: TensorDict({"observation": torch.as_tensor(obs, dtype=torch.float32)},
                                           batch_size=(B, N))}, batch_size=(B,))
        with torch.no_grad(), set_exploration_type(ExplorationType.DETERMINISTIC):
            out = self.policy(td)
        return out[GROUP, "action"].numpy().astype(np.int8)


def run_benchmarl(job: dict) -> dict:
    import torch
    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    torch.set_num_threads(1)
    t_setup = time.perf_counter()
    cfg = ExperimentConfig.get_from_yaml()
    cfg.sampling_device = cfg.train_device = cfg.buffer_device = "cpu"
    cfg.max_n_frames, cfg.max_n_iters = job["env_steps"], None
    cfg.on_policy_collected_frames_per_batch = job["batch"]
    cfg.on_policy_n_envs_per_worker = job["num_envs"]
    cfg.on_policy_n_minibatch_iters = job["epochs"]  # passes over the batch
    cfg.on_policy_minibatch_size = job["minibatch"]
    cfg.lr, cfg.gamma, cfg.clip_grad_norm, cfg.clip_grad_val = job["lr"], job["gamma"], True, job["grad_clip"]
    cfg.evaluation, cfg.render, cfg.loggers, cfg.create_json = False, False, [], False
    cfg.checkpoint_interval, cfg.checkpoint_at_end = 0, False
    folder = tempfile.TemporaryDirectory(prefix="peer-benchmarl-")
    cfg.save_folder = folder.name
    algo = MappoConfig.get_from_yaml()
    algo.entropy_coef, algo.lmbda, algo.clip_epsilon = job["entropy_coeff"], job["lambda_"], job["clip"]
    model = MlpConfig.get_from_yaml()
    model.num_cells = [job["hidden"], job["hidden"]]
    task = make_task(job)
    exp = Experiment(task=task, algorithm_config=algo, model_config=model, seed=job["seed"], config=cfg)
    logged: list[dict] = []
    real_log = exp.logger.log

    def record(d, step=None):  # BenchMARL's own per-iteration timers and collection statistics
        logged.append(dict(d))
        if "timers/collection_time" in d:
            it = int(d["counters/iter"]) + 1
            if it % max(1, job["progress_every"]) == 0 or it == n_iters:
                cost = [x for x in logged if f"collection/{GROUP}/info/cost" in x][-1][f"collection/{GROUP}/info/cost"]
                _say(f"PROGRESS [benchmarl] iter {it}/{n_iters}: {int(d['counters/total_frames'])} env steps, "
                     f"batch mean link cost {cost:.4f}, {d['timers/iteration_time']:.2f} s/iter")
        return real_log(d, step=step)

    exp.logger.log = record
    n_iters = cfg.get_max_n_iters(True)
    setup_s = time.perf_counter() - t_setup
    t0 = time.perf_counter()
    exp.run()
    e2e_s = time.perf_counter() - t0
    timers = [d for d in logged if "timers/collection_time" in d]
    steps = int(timers[-1]["counters/total_frames"])
    sample_s = float(sum(d["timers/collection_time"] for d in timers))
    update_s = float(sum(d["timers/training_time"] for d in timers))
    costs = [d[f"collection/{GROUP}/info/cost"] for d in logged if f"collection/{GROUP}/info/cost" in d]
    n_actor = sum(p.numel() for p in exp.algorithm.get_parameters(GROUP)["loss_objective"])
    n_critic = sum(p.numel() for p in exp.algorithm.get_parameters(GROUP)["loss_critic"])
    kpis = evaluate_controller(job, BenchmarlController(exp.policy))
    seeds = sorted(set(task.copy_seeds))
    folder.cleanup()
    return {"framework": "benchmarl", "env_steps": steps, "iterations": len(timers), "setup_s": setup_s,
            "sample_s": sample_s, "update_s": update_s, "e2e_s": e2e_s, "final_train_cost": float(costs[-1]),
            "params": f"actor {n_actor:,}, critic {n_critic:,}", "copy_seeds": len(seeds), "kpis": kpis}


# --------------------------------------------------------------------------- cfmarl side
def cfmarl_experiment(job: dict):
    from cfmarl.experiment import ExperimentConfig, from_dict
    from cfmarl.yamlfile import read_yaml

    d = read_yaml(BASE)
    d["name"] = "peer_cfmarl"
    d["seed"] = job["seed"]
    d["env"] = {"name": "aps", "scenario": job["scenario"], "overrides": job["overrides"]}
    d["algorithm"].update(train_batch_size=job["batch"], minibatch_size=job["minibatch"], num_epochs=job["epochs"],
                          lr=job["lr"], gamma=job["gamma"], lambda_=job["lambda_"], entropy_coeff=job["entropy_coeff"],
                          clip_param=job["clip"], grad_clip=job["grad_clip"])
    d["model"]["hidden"] = job["hidden"]
    d["pretrain"] = {"enabled": False}
    d["resources"] = {"num_env_runners": 0, "num_envs_per_env_runner": job["num_envs"]}
    return from_dict(ExperimentConfig, d)


def run_cfmarl(job: dict) -> dict:
    """Train with env_runner.sample() + learner_group.update() + weight sync (timed apart), as PPO's
    training_step does; Ray must be initialised."""
    import torch
    from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

    from cfmarl.algo_builder import build_algo_config
    from cfmarl.policies.adapters.graph_env import MODULE_ID
    from cfmarl.policies.module_controller import controller_for

    torch.set_num_threads(1)
    t_setup = time.perf_counter()
    exp = cfmarl_experiment(job)
    algo = build_algo_config(exp).build_algo()
    runner, learner = algo.env_runner, algo.learner_group._learner
    setup_s = time.perf_counter() - t_setup
    n_iters = -(-job["env_steps"] // job["batch"])
    steps = 0
    sample_s = update_s = 0.0
    cost = float("nan")
    t0 = time.perf_counter()
    for it in range(1, n_iters + 1):
        ts = time.perf_counter()
        episodes = runner.sample(num_timesteps=job["batch"])
        algo.metrics.aggregate([runner.get_metrics()], key=ENV_RUNNER_RESULTS)
        sample_s += time.perf_counter() - ts
        steps += sum(len(e) for e in episodes)
        tu = time.perf_counter()
        algo.learner_group.update(
            episodes=episodes, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: algo.metrics.peek(
                (ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=steps)},
            num_epochs=exp.algorithm.num_epochs, minibatch_size=exp.algorithm.minibatch_size,
            shuffle_batch_per_epoch=True)
        algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, policies={MODULE_ID},
                                           inference_only=True)
        update_s += time.perf_counter() - tu
        cost = float(algo.metrics.peek((ENV_RUNNER_RESULTS, "cost/mean_node_cost_0"), default=float("nan")))
        if it % max(1, job["progress_every"]) == 0 or it == n_iters:
            _say(f"PROGRESS [cfmarl] iter {it}/{n_iters}: {steps} env steps, episode mean link cost {cost:.4f}, "
                 f"multiplier {learner.multipliers(MODULE_ID)[0]:.2f}, "
                 f"{(time.perf_counter() - t0) / it:.2f} s/iter")
    e2e_s = time.perf_counter() - t0
    module = learner.module[MODULE_ID]
    n_params = sum(p.numel() for p in module.parameters())
    kpis = evaluate_controller(job, controller_for(module, "cfmarl PPO-Lagrangian"))
    algo.stop()
    return {"framework": "cfmarl", "env_steps": steps, "iterations": n_iters, "setup_s": setup_s,
            "sample_s": sample_s, "update_s": update_s, "e2e_s": e2e_s, "final_train_cost": cost,
            "params": f"{n_params:,} (actor and both critics)", "copy_seeds": job["num_envs"], "kpis": kpis}


def worker(job: dict) -> dict:
    if job["framework"] == "benchmarl":
        return run_benchmarl(job)
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        return run_cfmarl(job)
    finally:
        ray.shutdown()


def run_worker(job: dict) -> dict:
    """One framework in a fresh process; its progress lines are echoed, its result is the last line."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: a chatty stderr cannot block the worker
        proc = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(job)], stdout=subprocess.PIPE,
                                stderr=err, text=True, env=env, cwd=ROOT)
        result = None
        for line in proc.stdout:
            if line.startswith("PROGRESS "):
                _say("  " + line[len("PROGRESS "):].rstrip())
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
        if proc.wait() != 0 or result is None:
            err.seek(0)
            raise RuntimeError(f"{job['framework']} worker failed (exit {proc.returncode}):\n{err.read()[-3000:]}")
    return result


def step_costs(job: dict, steps: int = 200) -> dict[str, float]:
    """Milliseconds per env step of one env copy (all links on) through each layer of BenchMARL's env stack:
    the array core, the PettingZoo shell (dicts keyed by agent) and TorchRL's PettingZooWrapper over it."""
    import torch

    from cfmarl.registry import get_env

    torch.set_num_threads(1)
    entry = get_env("aps")
    core = entry.make_core(entry.make_config(job["scenario"], **job["overrides"]), 1)
    state, _ = core.reset([0])
    ones = np.ones((1, core.n_agents))
    t0 = time.perf_counter()
    for i in range(steps):
        state, _, _, _, done = core.step(state, ones)
        if done[0]:
            state, _ = core.reset([i])
    out = {"core": (time.perf_counter() - t0) / steps * 1e3}
    shell = penalised_env_class()(penalty=job["penalty"], scenario=job["scenario"], **job["overrides"])
    shell.reset(seed=0)
    acts = dict.fromkeys(shell.possible_agents, 1)
    t0 = time.perf_counter()
    for _ in range(steps):
        if not shell.agents:
            shell.reset()
        shell.step(acts)
    out["shell"] = (time.perf_counter() - t0) / steps * 1e3
    wrapped = make_task(job).get_env_fun(1, False, job["seed"], "cpu")()
    td = wrapped.reset()
    td[GROUP, "action"] = torch.ones(core.n_agents, dtype=torch.int64)
    t0 = time.perf_counter()
    for _ in range(steps):
        if wrapped.step(td)["next", "done"].any():
            wrapped.reset()
    out["wrapper"] = (time.perf_counter() - t0) / steps * 1e3
    return out


# --------------------------------------------------------------------------- report
def report(job: dict, runs: dict[str, list[dict]], baseline: dict, args: argparse.Namespace, wall_s: float,
           step_ms: dict[str, float] | None = None) -> str:
    """peer_benchmarl_report.render with cfmarl's training target of ``job``."""
    return render(job, runs, baseline, args, wall_s, step_ms, cfmarl_experiment(job).algorithm.cost_limit)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env-steps", type=int, default=20_000, help="env-step budget of each framework")
    ap.add_argument("--scenario", default="medium", help="AP-selection scenario")
    ap.add_argument("--repeats", type=int, default=2, help="train each framework this often, alternating")
    ap.add_argument("--test-episodes", type=int, default=100)
    ap.add_argument("--test-seed", type=int, default=1000)
    ap.add_argument("--penalty", type=float, default=16.0,
                    help="MAPPO's fixed Lagrangian penalty lambda in its reward r - lambda c")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-envs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=400, help="env steps per iteration")
    ap.add_argument("--minibatch", type=int, default=100, help="env steps per minibatch")
    ap.add_argument("--progress-every", type=int, default=5, help="print a progress line every this many iterations")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        import warnings

        warnings.filterwarnings("ignore")
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    if args.env_steps % args.batch or args.batch % args.num_envs or args.batch % args.minibatch:
        ap.error("--env-steps must be a multiple of --batch, and --batch of --num-envs and --minibatch")
    job = shared_settings(args) | {"progress_every": args.progress_every}
    t_all = time.perf_counter()
    runs: dict[str, list[dict]] = {f: [] for f in FRAMEWORKS}
    for rep in range(args.repeats):
        order = FRAMEWORKS if rep % 2 == 0 else FRAMEWORKS[::-1]  # A B B A: a slow phase hits both
        for f in order:
            _say(f"[{rep + 1}/{args.repeats}] {f}: {args.env_steps:,} env steps on aps/{args.scenario}")
            r = run_worker(job | {"framework": f})
            runs[f].append(r)
            k, rt = r["kpis"], rates(r)
            _say(f"[{rep + 1}/{args.repeats}] {f}: sampling {rt['sample']:,.0f}, update {rt['update']:,.0f}, "
                 f"end to end {rt['e2e']:,.0f} env steps/s; test: {k['active_aps']:.2f} APs, cost {k['mean_cost']:.4f}")
    from cfmarl.policies.baselines.ap_selection import make_baseline

    baseline = evaluate_controller(job, make_baseline("k-strongest:k=4"))
    step_ms = step_costs(job)
    text = report(job, runs, baseline, args, time.perf_counter() - t_all, step_ms)
    from cfmarl.rundir import atomic_write_text

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text)
    _say("\n" + text.split("## Throughput")[1].split("## How the two map")[0].strip())
    _say(f"\nReport written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
