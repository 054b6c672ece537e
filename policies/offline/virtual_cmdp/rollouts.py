"""Open-loop replays of recorded episodes in the learned virtual CMDP: how far model rollouts drift from the
real env under the same actions (the "reward / cost of model rollouts vs real rollouts from the same states"
fidelity measure; the one-step errors of Tables IV-V do not show compounding).

:func:`replay` starts every env copy from a real episode's first state and feeds it that episode's recorded
actions slot by slot; the model's reward, cost and buffered packets per slot come back beside the recorded
ones. :func:`one_step` gives the reward / cost predictors' values on the recorded (s, a) themselves, which
separates the predictors' bias from the transition models' drift.

:func:`closed_loop` does the same under a policy instead of recorded actions - the check that matters for
pretraining, since a policy optimised in the learned env visits the (s, a) where the models err in its favour
(model exploitation): the policy runs in the real env and, from the same first states, in the learned env.
"""

from __future__ import annotations

import numpy as np


def episodes_of(split_part: dict, layout) -> dict[str, np.ndarray]:
    """A split part's transitions as episodes: s (E, T, obs_dim), a (E, T, A), r, c, buffered packets (E, T)."""
    n_ep = len(split_part["s0"])
    s = split_part["s"].reshape(n_ep, -1, split_part["s"].shape[-1])
    lam = max(layout.arrival_rate, 1.0)
    buffered = layout.ue_queue(s.reshape(-1, s.shape[-1]))[:, 0].reshape(n_ep, s.shape[1], layout.U) * lam
    return {"s": s, "a": split_part["a"].reshape(n_ep, s.shape[1], -1), "r": split_part["r"].reshape(n_ep, -1),
            "c": split_part["c"].reshape(n_ep, -1), "buffered": buffered.sum(-1)}


def replay(core, s0: np.ndarray, actions: np.ndarray, seeds) -> dict[str, np.ndarray]:
    """Model rollouts of ``core`` (a VirtualCmdpCore with E copies) from s0 (E, obs_dim) under actions
    (E, T, A): reward, cost (E, T) and the buffered packets at the start of each slot (E, T), as the
    recorded episode gives them (slot t's state is the one the action of slot t sees)."""
    state, _ = core.start_from(s0, seeds)
    E, T = actions.shape[:2]
    out = {k: np.zeros((E, T)) for k in ("r", "c", "buffered")}
    for t in range(T):
        out["buffered"][:, t] = state.packets[..., 0].sum(-1)
        state, _, r, c, _ = core.step(state, actions[:, t][:, None])
        out["r"][:, t], out["c"][:, t] = r[:, 0], c[:, 0, 0]
    return out


def one_step(core, s: np.ndarray, a: np.ndarray) -> dict[str, np.ndarray]:
    """The reward / cost predictors on recorded (s, a) (..., obs_dim), (..., A), with the env's rules."""
    shape = s.shape[:-1]
    r, c, _ = core.predict(s.reshape(-1, s.shape[-1]).astype(np.float64), a.reshape(-1, a.shape[-1]).astype(np.float64))
    return {"r": r.reshape(shape), "c": c.reshape(shape)}


def real_episodes(core, controller, seeds, layout) -> dict[str, np.ndarray]:
    """``controller`` in a real-env core with E copies: s (E, T, obs_dim) as the agent saw it, a (E, T, A),
    reward, cost and buffered packets (E, T) - the layout of :func:`episodes_of`."""
    state, obs = core.reset(list(seeds))
    rec: dict[str, list] = {k: [] for k in ("s", "a", "r", "c")}
    done = np.zeros(core.num_envs, bool)
    while not done.all():
        a = np.asarray(controller.act(core, state, obs), np.float64).reshape(core.num_envs, -1)
        rec["s"].append(np.asarray(obs[:, 0], np.float64))
        rec["a"].append(a)
        state, obs, r, c, done = core.step(state, a[:, None])
        rec["r"].append(r[:, 0])
        rec["c"].append(c[:, 0, 0])
    out = {k: np.stack(v, axis=1) for k, v in rec.items()}
    E, T, F = out["s"].shape
    lam = max(layout.arrival_rate, 1.0)
    out["buffered"] = (layout.ue_queue(out["s"].reshape(-1, F))[:, 0].reshape(E, T, layout.U) * lam).sum(-1)
    return out


def closed_loop(core, controller, s0: np.ndarray, steps: int, seeds) -> dict[str, np.ndarray]:
    """``controller`` acting in the learned env ``core`` (E copies) from s0 (E, obs_dim) for ``steps`` slots:
    reward, cost and buffered packets (E, T) as :func:`replay` gives them."""
    state, obs = core.start_from(s0, seeds)
    E = core.num_envs
    out = {k: np.zeros((E, steps)) for k in ("r", "c", "buffered")}
    for t in range(steps):
        out["buffered"][:, t] = state.packets[..., 0].sum(-1)
        a = np.asarray(controller.act(core, state, obs), np.float64).reshape(E, -1)
        state, obs, r, c, _ = core.step(state, a[:, None])
        out["r"][:, t], out["c"][:, t] = r[:, 0], c[:, 0, 0]
    return out
