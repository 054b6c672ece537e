"""Checkpoints that survive interruption and damage, and resume exactly.

A checkpoint folder is RLlib's ``Algorithm.save_to_path`` output plus two files of ours:

- ``runtime_state.pkl``: what RLlib's checkpoint leaves out but the next iteration depends on.
  Per env runner: its env copies (their generators and the episode in progress), the episodes
  it is building, its cached connector output and its metrics windows; per process: the
  python, numpy and torch generators (they sample actions, shuffle minibatches, draw noise).
  :func:`capture_runtime` / :func:`restore_runtime` put them in and back, so iteration k + 1
  after a resume is the same computation as iteration k + 1 of an uninterrupted run.
- ``manifest.json``, written last: every file's size and SHA-256. A folder whose manifest is
  missing or does not match (truncated, zero-byte or deleted files, an interrupted copy) is
  damaged; :func:`newest_intact` skips it, says so, and falls back to the next older one.

Checkpoint folders of a run are ``checkpoints/iter_NNNNNN``; anything else there (``best``,
``best.json``, stray folders of other names) is not a resume point and is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cfmarl import rundir

MANIFEST = "manifest.json"
RUNTIME = "runtime_state.pkl"
_ITER = re.compile(r"^iter_(\d{1,12})$")
# the env runner attributes (Single- and MultiAgentEnvRunner of RLlib 2.60) that carry sampling state
_RUNNER_FIELDS = ("_ongoing_episodes", "_cached_to_module", "_needs_initial_reset", "_shared_data",
                  "_done_episodes_for_metrics", "_ongoing_episodes_for_metrics", "_weights_seq_no",
                  "num_env_steps_sampled_lifetime")


class CheckpointError(ValueError):
    """No usable checkpoint; the message names the folder and what is wrong."""


# -- manifests ---------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path, **info: Any) -> None:
    """Record every file under ``folder`` (size, SHA-256) in its ``manifest.json``."""
    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    rundir.write_json(folder / MANIFEST, {"format": 1, "files": files, **info})


def damage(folder: Path) -> str | None:
    """Why ``folder`` is not an intact checkpoint (``None`` if it is)."""
    folder = Path(folder)
    if not folder.is_dir():
        return "not a folder"
    mf = folder / MANIFEST
    if not mf.is_file():
        return f"no {MANIFEST} (the checkpoint was never completed, or was copied partially)"
    try:
        files = json.loads(mf.read_text())["files"]
        assert isinstance(files, dict)
    except Exception:  # noqa: BLE001 - any unreadable manifest is damage
        return f"{MANIFEST} is unreadable"
    for rel, rec in files.items():
        p = folder / rel
        if not p.is_file():
            return f"{rel} is missing"
        size = p.stat().st_size
        if size != rec["bytes"]:
            return f"{rel} has {size} bytes, {rec['bytes']} were written"
        if _sha256(p) != rec["sha256"]:
            return f"{rel} does not match its checksum"
    return None


def verify(folder: Path, what: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` if ``folder`` has a manifest it does not match (a folder without
    one - written elsewhere, or before manifests - is taken as it is)."""
    if (Path(folder) / MANIFEST).exists() and (why := damage(folder)) is not None:
        raise CheckpointError(f"{str(folder)!r}: damaged {what} ({why})")


def numbered(root: Path) -> list[tuple[int, Path]]:
    """The ``iter_N`` checkpoint folders under ``root``, oldest first (other names ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _ITER.match(p.name)) and p.is_dir()]
    return sorted(found)


def newest_intact(root: Path, say: Callable[[str], None] = print) -> tuple[int, Path] | None:
    """The newest intact ``iter_N`` folder under ``root``, saying which newer ones were skipped and
    why. ``None`` when there are none at all; :class:`CheckpointError` when all are damaged."""
    found = numbered(root)
    problems = []
    for it, path in reversed(found):
        why = damage(path)
        if why is None:
            if problems:
                say(f"Falling back to {path.name}: " + "; ".join(problems))
            return it, path
        problems.append(f"{path.name} is damaged ({why})")
    if found:
        raise CheckpointError(f"{root}: no intact checkpoint left ({'; '.join(problems)}); "
                              "start over with --fresh")
    return None


def save(algo, path: Path, runtime: bool = True, **info: Any) -> Path:
    """Save ``algo`` to ``path`` crash-safely: into a temporary sibling (with the runtime state
    and, last, the manifest), then renamed into place."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    algo.save_to_path(str(tmp.resolve()))
    if runtime:
        rundir.atomic_write_bytes(tmp / RUNTIME, capture_runtime(algo))
    write_manifest(tmp, **info)
    old = path.with_name(f".old-{path.name}")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def remove_leftovers(root: Path) -> None:
    """Temporary folders of a save that was interrupted (``.tmp-*``; ``.old-*`` is restored)."""
    root = Path(root)
    if not root.is_dir():
        return
    for p in root.glob(".old-*"):
        final = p.with_name(p.name[len(".old-"):])
        if not final.exists():
            os.replace(p, final)  # interrupted between the two renames: the old one is still the latest
        else:
            shutil.rmtree(p, ignore_errors=True)
    for p in root.glob(".tmp-*"):
        shutil.rmtree(p, ignore_errors=True)


# -- runtime state (the randomness RLlib's checkpoint leaves out) -----------------------------
def _process_rng() -> dict:
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_process_rng(state: dict) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def _runner_state(runner) -> tuple[int, bytes]:
    from ray import cloudpickle

    st: dict[str, Any] = {"worker_index": int(getattr(runner, "worker_index", 0) or 0)}
    if st["worker_index"] > 0:  # a remote runner: its own process (the local one shares the driver's)
        st["process"] = _process_rng()
    if getattr(runner, "env", None) is not None:
        # the vector env's attributes (its env copies, autoreset flags, last observations); its
        # ``env_fns`` (a generator, not picklable, only used to build it) stays with the new runner
        st["env"] = {k: v for k, v in vars(runner.env).items() if k != "env_fns"}
        st["fields"] = {k: getattr(runner, k) for k in _RUNNER_FIELDS if hasattr(runner, k)}
        st["metrics"] = runner.metrics.get_state()
    return st["worker_index"], cloudpickle.dumps(st)


def _restore_runner(runner, blobs: dict[int, bytes]) -> bool:
    from ray import cloudpickle

    blob = blobs.get(int(getattr(runner, "worker_index", 0) or 0))
    if blob is None:
        return False
    st = cloudpickle.loads(blob)
    if "env" in st:
        if getattr(runner, "env", None) is None:
            raise CheckpointError("the checkpoint's runtime state has envs for an env runner that has none")
        for e in getattr(runner.env, "envs", []):
            try:
                e.close()
            except Exception:  # noqa: BLE001 - the replaced copies are discarded either way
                pass
        vars(runner.env).update(st["env"])
        runner.num_envs = runner.env.num_envs
        for k, v in st["fields"].items():
            setattr(runner, k, v)
        runner.metrics.set_state(st["metrics"])
    if "process" in st:
        _set_process_rng(st["process"])
    return True


def capture_runtime(algo) -> bytes:
    """The sampling state of every env runner and the generators of every process, pickled."""
    by_index = dict(algo.env_runner_group.foreach_env_runner(_runner_state, local_env_runner=True))
    return pickle.dumps({"format": 1, "runners": by_index, "driver": _process_rng()})


def restore_runtime(algo, blob: bytes) -> None:
    """Put the state of :func:`capture_runtime` back (same number of env runners required)."""
    state = pickle.loads(blob)  # noqa: S301 - written by capture_runtime into our own checkpoint
    runners = state["runners"]
    n = algo.env_runner_group.num_remote_env_runners()
    if set(runners) - {0} != set(range(1, n + 1)):
        raise CheckpointError(f"the checkpoint's runtime state is for env runners {sorted(set(runners) - {0})}, "
                              f"this run has {n}; resources.num_env_runners must match to resume exactly")
    algo.env_runner_group.foreach_env_runner(lambda r: _restore_runner(r, runners), local_env_runner=True)
    _set_process_rng(state["driver"])


def restore(algo, path: Path, say: Callable[[str], None] = print) -> bool:
    """Restore ``algo`` from checkpoint ``path``; returns whether the runtime state was in it
    (checkpoints from before it existed resume with reseeded envs instead)."""
    algo.restore_from_path(str(Path(path).resolve()))
    rt = Path(path) / RUNTIME
    if not rt.is_file():
        return False
    restore_runtime(algo, rt.read_bytes())
    return True
