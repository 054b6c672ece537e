"""Does a trained MASAC critic's action-gradient point where the reward goes? (O-RAN precoding, issue 12)

At states along the WMMSE expert's trajectory (residual action a = 0) of `medium`, for every user k:
the critic's gradient dQ_k/da_k (min of the twin heads) against central finite differences of the
user's own immediate rate (the paper's per-user reward) and of the sum rate over all users, in each of
the 12 action components of a_k (the other users at the expert, the same channel draws for + and -).
Reports cosine similarities and the share of user-states where they agree in direction.

    python benchmarks/oran_critic_gradient.py --run runs/oran/train-precoding_masac_medium-s0 --checkpoint final

Writes benchmarks/results/precoding/oran_critic_gradient.csv (one row per user-state) and prints the summary.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from seed_runs import checkpoint, run_env_overrides

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "precoding" / "oran_critic_gradient.csv"


def _cos(u: np.ndarray, v: np.ndarray) -> float:
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-12))


def measure(run: Path, which: str, episodes: int, first: int, last: int, eps: float, seed: int) -> list[dict]:
    from cfmarl.policies.adapters.graph_env import graph_observation
    from cfmarl.policies.module_controller import load_module
    from cfmarl.registry import get_env

    module = load_module(checkpoint(run, which))
    entry = get_env("precoding")
    cfg = entry.make_config("medium", **run_env_overrides(run))  # the env the run trained in (residual actions)
    core = entry.make_core(cfg, 1)
    K, A = core.n_agents, core.action_dim
    rows = []
    for ep in range(episodes):
        state, obs = core.reset([seed + ep])
        for t in range(last):
            if t >= first:
                b = {k: torch.from_numpy(v) for k, v in graph_observation(core, state, obs, module.n_max).items()}
                a = torch.zeros((1, module.n_max, A), requires_grad=True)
                q1, q2, _ = module.q_values(b, a)
                q = torch.minimum(q1, q2)[0, :K]
                for k in range(K):
                    g = torch.autograd.grad(q[k], a, retain_graph=True)[0][0, k].numpy().astype(np.float64)
                    own, team = np.zeros(A), np.zeros(A)
                    for j in range(A):
                        r = []
                        for s in (1.0, -1.0):
                            act = np.zeros((1, K, A))
                            act[0, k, j] = s * eps
                            rew = core.step(copy.deepcopy(state), act)[2][0]
                            r.append((rew[k], rew.sum()))
                        own[j] = (r[0][0] - r[1][0]) / (2 * eps)
                        team[j] = (r[0][1] - r[1][1]) / (2 * eps)
                    rows.append({"episode": ep, "loop": t, "user": k, "cos_critic_own": _cos(g, own),
                                 "cos_critic_sum": _cos(g, team), "cos_own_sum": _cos(own, team),
                                 "critic_grad_norm": float(np.linalg.norm(g)), "own_grad_norm": float(
                                     np.linalg.norm(own)), "sum_grad_norm": float(np.linalg.norm(team))})
            state, obs, *_ = core.step(state, np.zeros((1, K, A)))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=str(ROOT / "runs" / "oran" / "train-precoding_masac_medium-s0"))
    ap.add_argument("--checkpoint", default="final", choices=("best", "final"),
                    help="the run's best validated or last checkpoint")
    ap.add_argument("--episodes", type=int, default=3)
    ap.add_argument("--first", type=int, default=4, help="first near-RT loop measured")
    ap.add_argument("--last", type=int, default=12, help="loops measured: first .. last - 1")
    ap.add_argument("--eps", type=float, default=0.02, help="finite-difference step in action units")
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = measure(Path(args.run), args.checkpoint, args.episodes, args.first, args.last, args.eps, args.seed)
    from cfmarl.rundir import write_csv

    write_csv(args.out, rows)
    c = {k: np.array([r[k] for r in rows]) for k in ("cos_critic_own", "cos_critic_sum", "cos_own_sum")}
    print(f"{len(rows)} user-states of {args.run} ({args.checkpoint}), {time.perf_counter() - t0:.0f} s")
    for k, what in (("cos_critic_own", "critic vs own-rate gradient"), ("cos_critic_sum", "critic vs sum-rate gradient"),
                    ("cos_own_sum", "own-rate vs sum-rate gradient")):
        print(f"  {what:<32} cosine mean {c[k].mean():6.3f}, median {np.median(c[k]):6.3f}, "
              f"same direction in {(c[k] > 0).mean():.0%}")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
