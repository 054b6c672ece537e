"""Offline datasets: collection with behaviour policies (``cfmarl collect``) and loading.

A dataset is a folder with ``manifest.json`` (env, scenario, config, behaviour
policies, seeds, counts, versions, format) and shards ``shard-NNNNN.npz``
(compressed NumPy), each holding a batch of whole episodes collected by one
behaviour policy, episode-major:

    obs       (E, T, N, F) float32   observation of every agent at each step
    actions   (E, T, N, A) float32   the actions taken (env encoding)
    rewards   (E, T, N)    float32
    costs     (E, T, N, C) float32   infos["cost"]
    next_obs  (E, T, N, F) float32
    done      (E, T)       bool      episode end after this step

E episodes, T steps, N agents. (s, a, r, c, s') tuples are
:meth:`Dataset.transitions`; per-node trajectories are the arrays themselves.
Shards and the manifest are written atomically and the manifest is updated after
every shard, so an interrupted collection keeps what it finished and resumes. A
behaviour policy with a random stream of its own (``rng_state`` / ``set_rng_state``,
e.g. uniform-random requests) has its stream's state kept with each of its shards,
so the resumed run continues the draws: the resumed dataset equals an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cfmarl.envs.validation import ConfigError
from cfmarl.rundir import atomic_write_bytes, versions, write_json

FORMAT = "cfmarl-offline-v1"
FIELDS = ("obs", "actions", "rewards", "costs", "next_obs", "done")


@dataclasses.dataclass
class Dataset:
    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]  # the FIELDS, episodes of all shards concatenated
    policy: np.ndarray  # (E,) behaviour policy of every episode

    @property
    def episodes(self) -> int:
        return len(self.policy)

    def transitions(self) -> dict[str, np.ndarray]:
        """Flat (s, a, r, c, s', done) tuples over episodes, steps and agents."""
        a = self.arrays
        n = a["rewards"].size
        done = np.broadcast_to(a["done"][..., None], a["rewards"].shape)
        return {"s": a["obs"].reshape(n, -1), "a": a["actions"].reshape(n, -1), "r": a["rewards"].reshape(n),
                "c": a["costs"].reshape(n, -1), "s_next": a["next_obs"].reshape(n, -1), "done": done.reshape(n)}


def load_dataset(path: str | Path) -> Dataset:
    """Load every shard listed in the manifest of the dataset folder ``path``."""
    root = Path(path)
    mpath = root / "manifest.json"
    if not mpath.exists():
        raise ConfigError(f"dataset: no manifest.json in {root}")
    try:
        manifest = json.loads(mpath.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"dataset: {mpath} is not valid JSON ({exc}); recollect with `cfmarl collect --fresh`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ConfigError(f"dataset: unknown format {got!r} in {mpath} (expected {FORMAT})")
    shards = manifest.get("shards")
    if not isinstance(shards, list) or not all(isinstance(x, dict) and {"file", "policy", "episodes"} <= x.keys()
                                                for x in shards):
        raise ConfigError(f"dataset: {mpath}: 'shards' must be a list of {{file, policy, episodes}} entries")
    # one array per field, allocated once and filled shard by shard: concatenating the shards would hold the
    # dataset twice (a paper-scale MF-TDMA dataset is ~3.7 GB)
    total = sum(int(s["episodes"]) for s in shards)
    arrays: dict[str, np.ndarray] = {}
    policy, at = [], 0
    for shard in shards:
        f, n = root / str(shard["file"]), int(shard["episodes"])
        try:
            with np.load(f) as z:
                parts = {k: z[k] for k in FIELDS}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"dataset: shard {f} is missing or damaged ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); recollect it "
                              f"(`cfmarl collect` resumes the missing shards)") from None
        for k, part in parts.items():
            if k not in arrays:
                arrays[k] = np.empty((total, *part.shape[1:]), part.dtype)
            if part.shape != (n, *arrays[k].shape[1:]):
                raise ConfigError(f"dataset: shard {f} holds {k!r} of shape {part.shape}, its manifest entry and the "
                                  f"first shard ask for {(n, *arrays[k].shape[1:])}; recollect it (`cfmarl collect "
                                  f"--fresh`)")
            arrays[k][at:at + n] = part
        policy += [shard["policy"]] * n
        at += n
    arrays = {k: arrays.get(k, np.zeros(0)) for k in FIELDS}
    return Dataset(manifest, arrays, np.array(policy))


def collect(env: str, scenario: str, overrides: dict, policies: list[str], episodes: int, seed: int, out: str | Path,
            batch: int = 8, fresh: bool = False, quiet: bool = False, argv: list[str] | None = None) -> Path:
    """Collect ``episodes`` episodes into the dataset folder ``out`` (resumable); returns the folder."""
    from tqdm import tqdm

    from cfmarl.evaluate import episode_seeds
    from cfmarl.registry import episode_length, get_env

    entry = get_env(env)
    config = entry.make_config(scenario, **overrides)
    controllers = [entry.make_baseline(p) for p in policies]  # validates every spec first
    if episodes < 1 or batch < 1:
        raise ConfigError(f"episodes / batch: must be >= 1, got {episodes} / {batch}")
    root = Path(out)
    plan = {"env": env, "scenario": scenario, "overrides": overrides, "policies": policies, "episodes": episodes,
            "seed": seed, "batch": batch}
    mpath = root / "manifest.json"
    manifest = None
    if mpath.exists() and not fresh:
        manifest = json.loads(mpath.read_text())
        if manifest.get("plan") != plan:
            raise ConfigError(f"collect: {root} holds a dataset collected with other arguments "
                              f"({manifest.get('plan')}); use another --out or --fresh")
    if fresh and root.exists():
        for p in list(root.glob("shard-*.npz")) + [mpath]:
            p.unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    if manifest is None:
        manifest = {"format": FORMAT, "plan": plan, "argv": argv, "env_config": dataclasses.asdict(config),
                    "module": entry.module, "family": entry.family, "fields": _field_doc(), "shards": [],
                    "episodes_done": 0, "transitions": 0, "versions": versions(), "complete": False}
        write_json(mpath, manifest)
    seeds = episode_seeds(seed, episodes)
    n_shards = math.ceil(episodes / batch)
    steps = episode_length(config, entry)
    done_shards = {s["index"]: s for s in manifest["shards"]}
    todo = [i for i in range(n_shards) if i not in done_shards]
    restarted: list[str] = []
    bar = tqdm(total=sum(len(seeds[i * batch:(i + 1) * batch]) for i in todo) * steps, unit="step", disable=quiet, file=sys.stderr, dynamic_ncols=True)
    try:
        for i in todo:
            chunk = seeds[i * batch:(i + 1) * batch]
            ctrl, policy = controllers[i % len(controllers)], policies[i % len(controllers)]
            before = done_shards.get(i - len(controllers))  # this policy's previous shard, written by an earlier run
            if before is not None and hasattr(ctrl, "set_rng_state"):
                if "stream_after" in before:  # continue its random stream where that run left it (exact resume)
                    ctrl.set_rng_state(before["stream_after"])
                elif policy not in restarted:
                    restarted.append(policy)
            bar.set_description(f"shard {i + 1}/{n_shards} ({policy})")
            arrays = _rollout(entry.make_core(config, len(chunk)), ctrl, chunk, lambda: bar.update(len(chunk)))
            name = f"shard-{i:05d}.npz"
            buf = io.BytesIO()
            np.savez_compressed(buf, **arrays)
            atomic_write_bytes(root / name, buf.getvalue())
            manifest["shards"].append({"index": i, "file": name, "policy": policy,
                                       "episodes": len(chunk), "episode_seeds": [int(s.generate_state(1)[0])
                                                                                  for s in chunk],
                                       "transitions": int(arrays["rewards"].size)})
            if hasattr(ctrl, "rng_state"):
                manifest["shards"][-1]["stream_after"] = ctrl.rng_state()
            manifest["shards"].sort(key=lambda s: s["index"])
            manifest["episodes_done"] = sum(s["episodes"] for s in manifest["shards"])
            manifest["transitions"] = sum(s["transitions"] for s in manifest["shards"])
            manifest["complete"] = len(manifest["shards"]) == n_shards
            write_json(mpath, manifest)
    finally:
        bar.close()
    if restarted:
        print(f"collect: {root} was begun before the manifest kept the behaviour policies' random streams; the "
              f"resumed shards of {', '.join(restarted)} drew from the policy's seed again (not an exact resume)",
              file=sys.stderr)
    return root


def _rollout(core, controller, seeds, tick) -> dict[str, np.ndarray]:
    state, obs = core.reset(list(seeds))
    step_kwargs = getattr(controller, "step_kwargs", {})
    rec: dict[str, list[np.ndarray]] = {k: [] for k in FIELDS}
    done = np.zeros(core.num_envs, bool)
    while not done.all():
        actions = controller.act(core, state, obs)
        act = np.asarray(actions, np.float32).reshape(core.num_envs, core.n_agents, -1)
        nxt_state, nxt, rew, cost, done = core.step(state, actions, **step_kwargs)
        for k, v in (("obs", obs), ("actions", act), ("rewards", rew), ("costs", cost), ("next_obs", nxt),
                     ("done", done)):
            rec[k].append(np.asarray(v, np.float32 if k != "done" else bool))
        state, obs = nxt_state, nxt
        tick()
    return {k: np.stack(v, axis=1) for k, v in rec.items()}


def _field_doc() -> dict[str, str]:
    return {"obs": "(E, T, N, F) observation of every agent", "actions": "(E, T, N, A) actions (env encoding)",
            "rewards": "(E, T, N) rewards", "costs": "(E, T, N, C) infos['cost']",
            "next_obs": "(E, T, N, F) next observation", "done": "(E, T) episode ended after this step"}
