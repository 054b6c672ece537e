"""MAT-Lagr's module (policies/models/mat.py): node-by-node decoding equals teacher forcing, the decoder is
causal, the encoder sees the whole state and is permutation-equivariant, padding is inert, weights move to other
sizes, exploration samples with its logp, behaviour cloning uses teacher forcing, and the experiment checks."""

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from cfmarl.policies.adapters.graph_env import GraphEnv
from cfmarl.policies.models.graph_actor_critic import COST_VF_PREDS
from cfmarl.policies.models.mat import MATActorCritic


def _env(scenario="tiny", max_nodes=None):
    return GraphEnv({"env": "aps", "scenario": scenario, "max_nodes": max_nodes})


def _module(env, hidden=16, rounds=2, seed=0, cost_encoder=False):
    torch.manual_seed(seed)
    return MATActorCritic(observation_space=env.observation_spaces["graph"], action_space=env.action_spaces["graph"],
                          model_config={"hidden": hidden, "rounds": rounds, "num_costs": 1,
                                        "cost_encoder": cost_encoder})


def _obs(env, B=3, seed=0, n_real=None):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, env.n_max, env.observation_spaces["graph"]["x"].shape[1], generator=g)
    mask = torch.ones(B, env.n_max)
    if n_real is not None:
        mask[:, n_real:] = 0
    return {"x": x, "node_mask": mask}


@pytest.mark.parametrize("cost_encoder", [False, True])
def test_node_by_node_decoding_equals_teacher_forcing(cost_encoder):
    env = _env()
    m = _module(env, cost_encoder=cost_encoder)
    obs = _obs(env)
    with torch.no_grad():
        out = m.forward_exploration({Columns.OBS: obs})
        tf = m.forward_train({Columns.OBS: obs, Columns.ACTIONS: out[Columns.ACTIONS]})
        greedy = m.forward_inference({Columns.OBS: obs})
    torch.testing.assert_close(out[Columns.ACTION_DIST_INPUTS], tf[Columns.ACTION_DIST_INPUTS], atol=1e-5, rtol=1e-5)
    logp = torch.log_softmax(tf[Columns.ACTION_DIST_INPUTS], -1).gather(-1, out[Columns.ACTIONS][..., None])[..., 0]
    torch.testing.assert_close(out[Columns.ACTION_LOGP], logp, atol=1e-5, rtol=1e-5)
    # greedy decoding: every node takes the argmax of the logits its predecessors' choices produce
    assert torch.equal(greedy[Columns.ACTIONS], greedy[Columns.ACTION_DIST_INPUTS].argmax(-1))


def _module_call_decoding(m, reps, key_mask, sample, generator=None):
    """Node-by-node decoding through the modules' own calls on (B, 1, H) tokens (the code before the 2-D decoding
    steps): the reference the fast path must equal bit for bit, so recorded MAT runs replay exactly."""
    B, N = reps.shape[:2]
    enc_kv = [(b.cross.split(b.cross.k(reps)), b.cross.split(b.cross.v(reps))) for b in m.decoder]
    a0 = m.decoder[0].self_attn
    caches = [(reps.new_empty(B, a0.heads, N, a0.d), reps.new_empty(B, a0.heads, N, a0.d)) for _ in m.decoder]
    prev = torch.full((B,), m.n_act, dtype=torch.long)
    actions, logits = [], []
    for i in range(N):
        y = (m.act_in(prev) + reps[:, i])[:, None]
        for block, (keys, values), (ek, ev) in zip(m.decoder, caches, enc_kv):
            h, a, c = block.ln1(y), block.self_attn, block.cross
            keys[:, :, i:i + 1], values[:, :, i:i + 1] = a.split(a.k(h)), a.split(a.v(h))
            y = y + a.attend(a.split(a.q(h)), keys[:, :, :i + 1], values[:, :, :i + 1])
            y = y + c.attend(c.split(c.q(block.ln2(y))), ek, ev, key_mask)
            y = y + block.mlp(block.ln3(y))
        lg = m.pi_head(m.dec_ln(y[:, 0]))
        prev = torch.multinomial(torch.softmax(lg, -1), 1, generator=generator)[:, 0] if sample else lg.argmax(-1)
        actions.append(prev)
        logits.append(lg)
    return torch.stack(actions, 1), torch.stack(logits, 1)


@pytest.mark.parametrize("cost_encoder,heads", [(False, 1), (True, 1), (False, 2)])
def test_fast_decoding_equals_the_module_calls_exactly(monkeypatch, cost_encoder, heads):
    """generate's 2-D steps compute the same numbers as the modules' calls: equal logits and actions, greedy and
    sampled (same generator), with padded nodes masked, one head (MAT's) and two (the head views)."""
    import cfmarl.policies.models.mat as mat

    monkeypatch.setattr(mat, "HEADS", heads)
    env = _env(max_nodes=_env().n + 3)
    m = _module(env, cost_encoder=cost_encoder)
    with torch.no_grad():
        for p in m.parameters():  # larger weights than the init: logits far apart, so any drift would show
            p.mul_(3.0)
        obs = _obs(env, B=4, n_real=env.n - 3)
        _, reps, mask, _ = m._flat({Columns.OBS: obs})
        for sample in (False, True):
            fast = m.generate(reps, mask, sample, torch.Generator().manual_seed(7))
            ref = _module_call_decoding(m, reps, mask, sample, torch.Generator().manual_seed(7))
            assert torch.equal(fast[0], ref[0]) and torch.equal(fast[1], ref[1])
    assert m.decoder[0].self_attn.heads == heads


def test_decoder_is_causal_and_encoder_sees_everything():
    env = _env()
    m = _module(env)
    obs = _obs(env, B=1)
    N = env.n
    a = torch.zeros(1, env.n_max, dtype=torch.long)
    b = a.clone()
    j = N // 2
    b[0, j] = 1
    with torch.no_grad():
        la = m.forward_train({Columns.OBS: obs, Columns.ACTIONS: a})[Columns.ACTION_DIST_INPUTS]
        lb = m.forward_train({Columns.OBS: obs, Columns.ACTIONS: b})[Columns.ACTION_DIST_INPUTS]
    changed = (la - lb).abs().amax(-1)[0] > 1e-6
    assert not changed[: j + 1].any() and changed[j + 1: N].all()  # node j's action reaches nodes after j only
    obs2 = {k: v.clone() for k, v in obs.items()}
    obs2["x"][0, N - 1] += 1.0  # the last node's observation reaches every node's logits and values
    with torch.no_grad():
        o1, o2 = (m.forward_train({Columns.OBS: o, Columns.ACTIONS: a}) for o in (obs, obs2))
    assert ((o1[Columns.ACTION_DIST_INPUTS] - o2[Columns.ACTION_DIST_INPUTS]).abs().amax(-1)[0, :N] > 1e-6).all()
    v1, v2 = (m.compute_values({Columns.OBS: o}) for o in (obs, obs2))
    assert ((v1 - v2).abs()[0, :N] > 1e-7).all()


def test_encoder_is_permutation_equivariant():
    env = _env()
    m = _module(env)
    obs = _obs(env, B=2)
    perm = torch.randperm(env.n_max, generator=torch.Generator().manual_seed(3))
    obs_p = {"x": obs["x"][:, perm], "node_mask": obs["node_mask"][:, perm]}
    with torch.no_grad():
        e, ep = m.embed({Columns.OBS: obs}), m.embed({Columns.OBS: obs_p})
        v, vp = m.compute_values({Columns.OBS: obs}), m.compute_values({Columns.OBS: obs_p})
    torch.testing.assert_close(e[:, perm], ep, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(v[:, perm], vp, atol=1e-5, rtol=1e-5)


def test_padding_is_inert_and_weights_move_to_another_size():
    small, padded = _env(), _env(max_nodes=_env().n + 5)
    m, mp = _module(small), _module(padded)
    mp.load_state_dict(m.state_dict())  # no parameter depends on the number of nodes
    obs = _obs(small, B=2)
    obs_p = _obs(padded, B=2, seed=9, n_real=small.n)
    obs_p["x"][:, : small.n] = obs["x"]
    with torch.no_grad():
        a = m.forward_inference({Columns.OBS: obs})
        ap = mp.forward_inference({Columns.OBS: obs_p})
    assert torch.equal(a[Columns.ACTIONS], ap[Columns.ACTIONS][:, : small.n])
    torch.testing.assert_close(a[Columns.ACTION_DIST_INPUTS], ap[Columns.ACTION_DIST_INPUTS][:, : small.n],
                               atol=1e-5, rtol=1e-5)


def test_cost_encoder_feeds_the_cost_values_and_the_decoder_not_the_reward_values():
    """cost_encoder (the paper's MAT-Lagr): the cost values read only the second encoder, the reward values only
    the first, and the decoder both (through the fusing layer): changing the cost encoder's weights moves the cost
    values and the logits and leaves the reward values as they were; the learner's embeddings carry both."""
    env = _env()
    m = _module(env, cost_encoder=True)
    obs = _obs(env)
    a = torch.zeros(3, env.n_max, dtype=torch.long)
    with torch.no_grad():
        before = m.forward_exploration({Columns.OBS: obs})
        tf = m.forward_train({Columns.OBS: obs, Columns.ACTIONS: a})
        assert tf[Columns.EMBEDDINGS].shape[-1] == 2 * 16
        torch.testing.assert_close(m.compute_values({Columns.OBS: obs}, tf[Columns.EMBEDDINGS]),
                                   before[Columns.VF_PREDS])
        for p in m.c_encoder.parameters():
            p.add_(0.5 * torch.randn_like(p))
        after = m.forward_exploration({Columns.OBS: obs})
        tf2 = m.forward_train({Columns.OBS: obs, Columns.ACTIONS: a})
    torch.testing.assert_close(after[Columns.VF_PREDS], before[Columns.VF_PREDS])
    assert not torch.allclose(after[COST_VF_PREDS], before[COST_VF_PREDS])
    assert not torch.allclose(tf2[Columns.ACTION_DIST_INPUTS], tf[Columns.ACTION_DIST_INPUTS])
    plain = _module(env)  # without it: one encoder, embeddings of width H, no second encoder's weights
    assert not hasattr(plain, "c_encoder")
    assert sum(p.numel() for p in m.parameters()) > sum(p.numel() for p in plain.parameters())


def test_exploration_is_seeded_by_torch_and_varies():
    env = _env()
    m = _module(env)
    obs = _obs(env, B=64)
    with torch.no_grad():
        torch.manual_seed(5)
        a1 = m.forward_exploration({Columns.OBS: obs})[Columns.ACTIONS]
        torch.manual_seed(5)
        a2 = m.forward_exploration({Columns.OBS: obs})[Columns.ACTIONS]
        a3 = m.forward_exploration({Columns.OBS: obs})[Columns.ACTIONS]
    assert torch.equal(a1, a2) and not torch.equal(a1, a3)


def test_behaviour_cloning_learns_a_sequential_rule():
    """A teacher that decides node 0 from node 0's first feature and then alternates (a_i = 1 - a_{i-1}) is learnt
    by behaviour cloning with teacher forcing and reproduced by greedy node-by-node decoding on held-out
    samples; the other features are noise."""
    from cfmarl.policies.pretrain import behaviour_clone

    env = _env()
    m = _module(env, hidden=32)
    M, N = 512, env.n
    g = np.random.default_rng(0)
    x = g.normal(size=(M, env.n_max, env.observation_spaces["graph"]["x"].shape[1])).astype(np.float32)
    x[:, 0, 0] = np.where(g.random(M) < 0.5, -2.0, 2.0)
    y = np.zeros((M, N), np.int64)
    y[:, 0] = x[:, 0, 0] > 0
    for i in range(1, N):
        y[:, i] = 1 - y[:, i - 1]
    res = behaviour_clone(m, {"x": x, "node_mask": np.ones((M, env.n_max), np.float32)}, y, epochs=30, lr=3e-3,
                          minibatch_size=64, seed=0)
    assert res.val_score > 0.97


@pytest.mark.parametrize("model, message", [
    ({"mode": "graph", "encoder": "mat"}, "'mat' is a central-mode encoder"),
    ({"mode": "graph", "encoder": "gnn", "cost_encoder": True}, "model.cost_encoder: .* needs model.encoder: mat"),
    ({"mode": "central", "encoder": "mat", "cost_encoder": "yes"}, "model.cost_encoder: must be true or false"),
])
def test_mat_experiment_checks(tmp_path, model, message):
    import yaml

    from cfmarl.envs.validation import ConfigError
    from cfmarl.experiment import load_experiment

    data = yaml.safe_load(open("tune_configs/aps_gnn_tiny.yaml"))
    data["model"].update(model)
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=message):
        load_experiment(p)


@pytest.mark.usefixtures("ray_session")
def test_mat_lagr_trains_resumes_and_evaluates(tmp_path, capsys):
    """Real RLlib: behaviour cloning with teacher forcing, PPO-Lagrangian iterations on node-by-node sampled
    actions, exact resume, and the run as a policy of `cfmarl evaluate`, greedy and sampled."""
    import csv

    from cfmarl.cli import main

    cfg = "tune_configs/aps_mat_tiny.yaml"
    out = str(tmp_path / "runs")
    assert main(["train", cfg, "--out", out, "--iterations", "1", "--quiet"]) == 0
    assert main(["train", cfg, "--out", out, "--iterations", "2", "--quiet"]) == 0
    run = tmp_path / "runs" / "train-aps_mat_tiny"
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["iteration"] for r in rows] == ["1", "2"] and np.isfinite(float(rows[-1]["loss/policy_loss"]))
    assert "Resuming" in capsys.readouterr().out
    for extra in ([], ["--stochastic"]):
        ev = tmp_path / ("ev" + "".join(extra))
        assert main(["evaluate", "--scenario", "tiny", "--policy", str(run), "--episodes", "2", "--out", str(ev),
                     "--quiet", "--set", "se_target_bps_hz=2.0", "--set", "episode_windows=10", *extra]) == 0
        kp = list(csv.DictReader(open(next(ev.iterdir()) / "kpis.csv")))
        assert 0 <= float(kp[0]["active_aps"]) <= 4
