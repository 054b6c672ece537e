"""The learned virtual CMDP as an env: the real URLLC env's interface (spaces, action levels, episode
length), PettingZoo's API test, determinism per seed, generated states the env could produce, predictions
equal to the fitted networks', the URLLC baselines acting in it and clear errors for missing models."""

import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("kan")
pytest.importorskip("diffusers")

from cfmarl.envs.urllc_ofdm.config import make_config as urllc_config  # noqa: E402
from cfmarl.envs.urllc_ofdm.core import UrllcCore  # noqa: E402
from cfmarl.envs.validation import ConfigError  # noqa: E402
from cfmarl.policies.offline.virtual_cmdp.env import VirtualCmdpCore, make_config, parallel_env  # noqa: E402
from cfmarl.policies.offline.virtual_cmdp.registration import entry  # noqa: E402


def _core(fitted, n=3, **kw):
    root = fitted[0]
    return VirtualCmdpCore(make_config(kw.pop("scenario", "vae_chmdn"), models=str(root / "models"),
                                       episode_slots=4, **kw), n)


def _roll(core, seeds, steps=4, copies=(0, 1, 2)):
    """Random actions drawn for 3 copies; ``copies`` picks the rows this core's copies get."""
    state, obs = core.reset(seeds)
    g = np.random.default_rng(0)
    out = [obs]
    for _ in range(steps):
        act = g.uniform(-1, 1, (3, 1, core.action_dim))[list(copies)]
        state, obs, r, c, d = core.step(state, act)
        out += [obs, r, c]
    return out, state, d


def test_interface_is_the_real_envs(fitted):
    core = _core(fitted)
    real = UrllcCore(urllc_config("s2222", episode_slots=5), 1)
    assert (core.obs_dim, core.action_dim, core.n_agents, core.n_costs) == (real.obs_dim, real.action_dim, 1, 1)
    assert core.action_levels == real.action_levels
    for a, b in zip(core.obs_bounds, real.obs_bounds):
        np.testing.assert_array_equal(a, b)
    assert core.state_dim == real.state_dim


@pytest.mark.parametrize("scenario", ["vae_chmdn", "diffusion", "vae", "gan"])
def test_episodes_are_seeded_and_stay_on_the_env_grid(fitted, scenario):
    core = _core(fitted, scenario=scenario)
    a, state, done = _roll(core, [1, 2, 3])
    b, _, _ = _roll(_core(fitted, scenario=scenario), [1, 2, 3])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    # a copy's trajectory depends only on its own seed
    c, _, _ = _roll(_core(fitted, n=1, scenario=scenario), [2], copies=(1,))
    np.testing.assert_array_equal(c[-3][0], a[-3][1])
    assert done.all() and state.t == 4
    lo, hi = core.obs_bounds
    obs = a[-3][:, 0]
    assert np.all(obs >= lo) and np.all(obs <= hi)
    lam = core.layout.arrival_rate
    q = core.layout.ue_queue(obs.astype(np.float64)) * lam
    np.testing.assert_allclose(q, np.rint(q), atol=1e-3)  # whole packets
    assert np.all(q[:, 1] <= q[:, 0] + 1e-6) and np.all(q >= -1e-9)
    # the env starts with no urgent packets (nothing has waited yet): a constant the models must not blur
    assert np.all(_core(fitted, scenario=scenario).reset([1, 2, 3])[0].packets[..., 1] == 0)
    costs = np.concatenate([x.ravel() for x in a[3::3]])
    assert np.all((costs >= 0) & (costs <= 1))


def test_reward_and_cost_are_the_predictors_outputs(fitted):
    core = _core(fitted, predictor="mlp")
    state, obs = core.reset([5, 6, 7])
    act = np.random.default_rng(1).uniform(-1, 1, (3, 1, core.action_dim))
    s = obs[:, 0].astype(np.float64)
    x = torch.as_tensor(core.norms["sa"](np.concatenate([s, act[:, 0]], -1)))
    with torch.no_grad():
        want_r = core.norms["r"].inverse(core.nets["reward_mlp"](x).numpy()[:, None].astype(np.float64))[:, 0]
        want_c = core.norms["c"].inverse(core.nets["cost_mlp"](x).numpy()[:, None].astype(np.float64))[:, 0]
    _, _, r, c, _ = core.step(state, act)
    np.testing.assert_allclose(r[:, 0], np.maximum(want_r, 0), rtol=1e-6)
    np.testing.assert_allclose(c[:, 0, 0], np.clip(want_c, 0, 1), rtol=1e-6)
    zeta, _, power = core.layout.decode(act[:, 0])
    np.testing.assert_allclose(core.kpis(state)["tx_power_w"], (zeta * power).sum((1, 2, 3)))


def test_pettingzoo_api_pickling_and_baselines(fitted):
    from pettingzoo.test import parallel_api_test

    env = parallel_env(scenario="vae_chmdn", models=str(fitted[0] / "models"), episode_slots=4)
    parallel_api_test(env, num_cycles=6)
    env2 = pickle.loads(pickle.dumps(env))
    o1, _ = env.reset(seed=3)
    o2, _ = env2.reset(seed=3)
    np.testing.assert_array_equal(o1["central"], o2["central"])
    e = entry()
    core = _core(fitted)
    state, obs = core.reset([1, 2, 3])
    for spec in e.baselines + ("heuristic", "orthogonal"):
        act = np.asarray(e.make_baseline(spec).act(core, state, obs))
        assert act.shape == (3, 1, core.action_dim) or act.shape == (3, core.action_dim), spec
        core.step(core.reset([1, 2, 3])[0], act)


def test_missing_or_unfinished_models_are_named(tmp_path, fitted):
    with pytest.raises(ConfigError, match="models: the folder"):
        VirtualCmdpCore(make_config("vae_chmdn"), 1)
    with pytest.raises(ConfigError, match="no manifest.json"):
        VirtualCmdpCore(make_config("vae_chmdn", models=str(tmp_path)), 1)
    with pytest.raises(ConfigError, match="unknown scenario"):
        make_config("flow")
    with pytest.raises(ConfigError, match="predictor"):
        make_config("vae_chmdn", predictor="tree")


def test_replay_starts_from_real_states_and_predicts_like_one_step(fitted):
    """rollouts.replay: every copy starts from the given real observation (already on the env's grid, so
    unchanged) and its first slot's reward / cost are the predictors' on (s0, a0) - what one_step gives on the
    recorded transitions; later slots follow the model, seeded per copy."""
    from cfmarl.datasets import load_dataset
    from cfmarl.policies.offline.virtual_cmdp.data import split_dataset
    from cfmarl.policies.offline.virtual_cmdp.rollouts import episodes_of, one_step, replay

    root = fitted[0]
    split = split_dataset(load_dataset(root / "data"))
    ep = episodes_of(split["test"], split.layout)
    E, T = ep["r"].shape
    core = _core(fitted, n=E)
    state, obs = core.start_from(ep["s"][:, 0], list(range(E)))
    np.testing.assert_allclose(obs[:, 0], ep["s"][:, 0], atol=1e-6)
    np.testing.assert_allclose(state.packets[..., 0].sum(-1), ep["buffered"][:, 0], atol=1e-9)
    out = replay(core, ep["s"][:, 0], ep["a"], list(range(E)))
    assert {k: v.shape for k, v in out.items()} == {"r": (E, T), "c": (E, T), "buffered": (E, T)}
    first = one_step(core, ep["s"][:, 0], ep["a"][:, 0])
    np.testing.assert_allclose(out["r"][:, 0], first["r"], rtol=1e-6)
    np.testing.assert_allclose(out["c"][:, 0], first["c"], rtol=1e-6)
    np.testing.assert_array_equal(out["buffered"][:, 0], ep["buffered"][:, 0])
    again = replay(_core(fitted, n=E), ep["s"][:, 0], ep["a"], list(range(E)))
    for k in out:
        np.testing.assert_array_equal(out[k], again[k])
    assert ((out["c"] >= 0) & (out["c"] <= 1)).all() and (out["r"] >= 0).all()
    with pytest.raises(ValueError, match="start_from: obs must be"):
        core.start_from(ep["s"][:1, 0], [0])


def test_forced_replay_feeds_one_transition_model_the_recorded_states(fitted):
    """replay(forced=...): with the queue views forced the buffered packets are the recorded ones at every slot
    while the channel model runs (so the rewards differ from the unforced replay); with the channel views forced
    the observation's channel part is the recorded one after replace_views and the queue part stays the model's.
    Wrong arguments are named."""
    from cfmarl.datasets import load_dataset
    from cfmarl.policies.offline.virtual_cmdp.data import split_dataset
    from cfmarl.policies.offline.virtual_cmdp.rollouts import episodes_of, replay

    split = split_dataset(load_dataset(fitted[0] / "data"))
    ep = episodes_of(split["test"], split.layout)
    E, T = ep["r"].shape
    seeds = list(range(E))
    free = replay(_core(fitted, n=E), ep["s"][:, 0], ep["a"], seeds)
    q = replay(_core(fitted, n=E), ep["s"][:, 0], ep["a"], seeds, recorded=ep["s"], forced="queue")
    np.testing.assert_array_equal(q["buffered"], ep["buffered"])
    assert not np.array_equal(free["buffered"], ep["buffered"])
    ch = replay(_core(fitted, n=E), ep["s"][:, 0], ep["a"], seeds, recorded=ep["s"], forced="channel")
    np.testing.assert_array_equal(ch["r"][:, 0], free["r"][:, 0])  # slot 0 is the real start in every case
    assert not np.array_equal(ch["r"], free["r"])
    lay = split.layout
    core = _core(fitted, n=E)
    state, _ = core.start_from(ep["s"][:, 0], seeds)
    state, *_ = core.step(state, ep["a"][:, 0][:, None])
    model_q = state.packets.copy()
    state = core.replace_views(state, channel_from=ep["s"][:, 1])
    np.testing.assert_allclose(lay.ue_channel(state.obs.astype(np.float64)), lay.ue_channel(ep["s"][:, 1]), atol=1e-6)
    np.testing.assert_array_equal(state.packets, model_q)
    with pytest.raises(ValueError, match="forced must be one of channel, queue"):
        replay(core, ep["s"][:, 0], ep["a"], seeds, recorded=ep["s"], forced="both")
    with pytest.raises(ValueError, match="needs the recorded states"):
        replay(core, ep["s"][:, 0], ep["a"], seeds, forced="queue")
    with pytest.raises(ValueError, match="replace_views: queue_from must be"):
        core.replace_views(state, queue_from=ep["s"][:1, 1])


class _Recorded:
    """A controller that plays recorded actions slot by slot (and notes the buffered packets it is shown)."""

    def __init__(self, actions):
        self.actions, self.t, self.seen = actions, 0, []

    def act(self, core, state, obs):
        self.seen.append(np.asarray(state.qlen).sum(-1).astype(float))
        a = self.actions[:, self.t]
        self.t += 1
        return a[:, None]


def test_closed_loop_with_recorded_actions_is_the_open_loop_replay(fitted):
    """rollouts.closed_loop feeds the controller the learned env's own states; a controller that plays the recorded
    actions therefore gives exactly replay()'s reward, cost and buffered packets."""
    from cfmarl.datasets import load_dataset
    from cfmarl.policies.offline.virtual_cmdp.data import split_dataset
    from cfmarl.policies.offline.virtual_cmdp.rollouts import closed_loop, episodes_of, replay

    split = split_dataset(load_dataset(fitted[0] / "data"))
    ep = episodes_of(split["test"], split.layout)
    E, T = ep["r"].shape
    ctrl = _Recorded(ep["a"])
    loop = closed_loop(_core(fitted, n=E), ctrl, ep["s"][:, 0], T, list(range(E)))
    ref = replay(_core(fitted, n=E), ep["s"][:, 0], ep["a"], list(range(E)))
    for k in ref:
        np.testing.assert_array_equal(loop[k], ref[k])
    np.testing.assert_array_equal(np.stack(ctrl.seen, 1), loop["buffered"])


def test_real_episodes_record_what_the_policy_saw_and_did(fitted):
    """rollouts.real_episodes in the real env: the first observation is the reset's, the actions are the
    controller's, the buffered packets read from the observation are the env's queue lengths, and the same seeds
    give the same episodes."""
    from cfmarl.datasets import load_dataset
    from cfmarl.envs.urllc_ofdm.core import UrllcCore
    from cfmarl.policies.offline.virtual_cmdp.data import split_dataset
    from cfmarl.policies.offline.virtual_cmdp.rollouts import real_episodes

    split = split_dataset(load_dataset(fitted[0] / "data"))
    cfg = _core(fitted, n=1).real_config  # the env the dataset was recorded in
    T = cfg.episode_slots
    actions = np.random.default_rng(5).uniform(-1, 1, (2, T, split.layout.B * 3 * split.layout.U * split.layout.K))
    ctrl = _Recorded(actions)
    out = real_episodes(UrllcCore(cfg, num_envs=2), ctrl, [7, 8], split.layout)
    assert {k: v.shape for k, v in out.items()} == {"s": (2, T, split["test"]["s"].shape[-1]), "a": actions.shape,
                                                    "r": (2, T), "c": (2, T), "buffered": (2, T)}
    _, obs0 = UrllcCore(cfg, num_envs=2).reset([7, 8])
    np.testing.assert_allclose(out["s"][:, 0], obs0[:, 0])
    np.testing.assert_array_equal(out["a"], actions)
    np.testing.assert_allclose(out["buffered"], np.stack(ctrl.seen, 1), atol=1e-6)
    again = real_episodes(UrllcCore(cfg, num_envs=2), _Recorded(actions), [7, 8], split.layout)
    for k in out:
        np.testing.assert_array_equal(out[k], again[k])
    assert ((out["c"] >= 0) & (out["c"] <= 1)).all() and (out["r"] >= 0).all()


def test_bootstrap_disagreement_grows_off_the_data_and_scores_the_error():
    """rollouts.bootstrap_disagreement on y = sin(3 x0) over x in [-1, 1]^3: the members agree on held-out points
    from the training box and disagree far outside it; the error column is |ensemble mean - truth|."""
    import torch

    from cfmarl.policies.offline.virtual_cmdp.rollouts import bootstrap_disagreement

    g = np.random.default_rng(0)
    f = lambda x: np.sin(3 * x[:, 0])  # noqa: E731
    x = g.uniform(-1, 1, (600, 3))
    xv, xin, xout = g.uniform(-1, 1, (100, 3)), g.uniform(-1, 1, (200, 3)), g.uniform(4, 6, (200, 3))
    T = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    res = bootstrap_disagreement(T(x), T(f(x)), T(xv), T(f(xv)), {"in": (T(xin), f(xin)), "out": (T(xout), f(xout))},
                                 members=3, hidden=16, epochs=40, patience=40, seed=1)
    assert res["out"]["ensemble_std"] > 3 * res["in"]["ensemble_std"]
    assert res["in"]["abs_error"] < res["out"]["abs_error"]
    assert res["in"]["truth"] == pytest.approx(f(xin).mean())
    again = bootstrap_disagreement(T(x), T(f(x)), T(xv), T(f(xv)), {"in": (T(xin), f(xin))}, members=3, hidden=16,
                                   epochs=40, patience=40, seed=1)
    assert again["in"] == res["in"]
