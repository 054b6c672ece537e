"""Open-loop replays of recorded episodes in the learned virtual CMDP: how far model rollouts drift from the
real env under the same actions (the "reward / cost of model rollouts vs real rollouts from the same states"
fidelity measure; the one-step errors of Tables IV-V do not show compounding).

:func:`replay` starts every env copy from a real episode's first state and feeds it that episode's recorded
actions slot by slot; the model's reward, cost and buffered packets per slot come back beside the recorded
ones. :func:`one_step` gives the reward / cost predictors' values on the recorded (s, a) themselves, which
separates the predictors' bias from the transition models' drift; ``replay(..., forced="channel" | "queue")``
feeds one of the two transition models the recorded states, which separates the channel model's drift from the
queue model's.

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


FORCED = ("channel", "queue")


def replay(core, s0: np.ndarray, actions: np.ndarray, seeds, recorded: np.ndarray | None = None,
           forced: str | None = None) -> dict[str, np.ndarray]:
    """Model rollouts of ``core`` (a VirtualCmdpCore with E copies) from s0 (E, obs_dim) under actions
    (E, T, A): reward, cost (E, T) and the buffered packets at the start of each slot (E, T), as the
    recorded episode gives them (slot t's state is the one the action of slot t sees).

    ``forced`` = "channel" or "queue" teacher-forces that half of the transition model: after every slot its
    per-UE views are replaced by those of the recorded states ``recorded`` (E, T, obs_dim) of the next slot, so
    the other half (and the predictors) run on their own - which of the two models makes a rollout drift."""
    if forced is not None:
        if forced not in FORCED:
            raise ValueError(f"replay: forced must be one of {', '.join(FORCED)} or None, got {forced!r}")
        if recorded is None or np.shape(recorded)[:2] != actions.shape[:2]:
            raise ValueError(f"replay: forced={forced!r} needs the recorded states (E, T, obs_dim) of the actions' "
                             f"{actions.shape[:2]} slots, got {None if recorded is None else np.shape(recorded)}")
    state, _ = core.start_from(s0, seeds)
    E, T = actions.shape[:2]
    out = {k: np.zeros((E, T)) for k in ("r", "c", "buffered")}
    for t in range(T):
        out["buffered"][:, t] = state.packets[..., 0].sum(-1)
        state, _, r, c, _ = core.step(state, actions[:, t][:, None])
        out["r"][:, t], out["c"][:, t] = r[:, 0], c[:, 0, 0]
        if forced is not None and t + 1 < T:
            state = core.replace_views(state, **{f"{forced}_from": recorded[:, t + 1]})
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


def bootstrap_disagreement(x_train, y_train, x_val, y_val, probes: dict, members: int = 5, hidden: int = 90,
                           epochs: int = 60, patience: int = 8, seed: int = 100) -> dict[str, dict[str, float]]:
    """Does an ensemble's disagreement flag where a predictor errs (the premise of a MOPO-style uncertainty
    penalty)? ``members`` MLP regressors, each fitted on a bootstrap resample of (x_train, y_train) (normalised
    tensors, early-stopped on the validation rows), are scored on every probe set ``name -> (x, y)``: mean
    prediction, truth, mean and 90 % quantile of the members' standard deviation, and the ensemble mean's absolute
    error."""
    import torch

    from cfmarl.policies.offline.virtual_cmdp.kan_models import MlpRegressor
    from cfmarl.policies.offline.virtual_cmdp.training import fit

    preds: dict[str, list[np.ndarray]] = {k: [] for k in probes}
    n = len(x_train)
    for i in range(members):
        idx = torch.as_tensor(np.random.default_rng(seed + i).integers(0, n, n))
        torch.manual_seed(seed + i)
        m = MlpRegressor(x_train.shape[1], hidden)
        fit(m, lambda x, y, m=m: ((m(x) - y) ** 2).mean(), (x_train[idx], y_train[idx]), (x_val, y_val),
            epochs=epochs, batch_size=256, lr=1e-3, patience=patience, seed=seed + i)
        with torch.no_grad():
            for k, (x, _) in probes.items():
                preds[k].append(m(x).numpy())
    out = {}
    for k, (_, y) in probes.items():
        p = np.stack(preds[k])
        mean, std, truth = p.mean(0), p.std(0), np.asarray(y, np.float64)
        out[k] = {"mean_prediction": float(mean.mean()), "truth": float(truth.mean()), "ensemble_std": float(std.mean()),
                  "ensemble_std_p90": float(np.quantile(std, 0.9)), "abs_error": float(np.abs(mean - truth).mean())}
    return out
