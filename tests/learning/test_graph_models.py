"""Graph models: the dense clique path equals PyG's TransformerConv, permutation
equivariance, k-hop locality, padding, the ablation variants, the distribution."""

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from cfmarl.policies.adapters.graph_env import GraphEnv
from cfmarl.policies.heads import PerNodeCategorical
from cfmarl.policies.models.graph_actor_critic import CentralActorCritic, GraphActorCritic
from cfmarl.policies.models.relational_attention import (Relation, RelationalAttention, clique_groups,
                                                        clique_layout)


def _env(scenario="tiny", max_nodes=None, **overrides):
    return GraphEnv({"env": "aps", "scenario": scenario, "overrides": overrides, "max_nodes": max_nodes})


def _module(env, **mc):
    ei, et = env.graph()
    cfg = {"edge_index": ei, "edge_type": et, "num_relations": 2, "sequence_features": 4, "hidden": 16,
           "gru_hidden": 8, "num_nodes": env.n, **mc}
    torch.manual_seed(0)
    return GraphActorCritic(observation_space=env.observation_spaces["graph"],
                            action_space=env.action_spaces["graph"], model_config=cfg)


def _batch(x, mask=None):
    x = torch.as_tensor(x, dtype=torch.float32)
    mask = torch.ones(x.shape[:2]) if mask is None else torch.as_tensor(mask, dtype=torch.float32)
    return {Columns.OBS: {"x": x, "node_mask": mask}}


def _outputs(m, b):
    with torch.no_grad():
        out = m.forward_train(b)
        emb = out[Columns.EMBEDDINGS]
        return (out[Columns.ACTION_DIST_INPUTS], m.compute_values(b, embeddings=emb),
                m.compute_cost_values(b, embeddings=emb))


def test_clique_detection():
    env = _env(num_aps=3, num_ues=4)
    ei, et = env.graph()
    perm, s = clique_groups(ei[:, et == 0], 12)  # same AP: 3 groups of 4
    assert s == 4 and sorted(perm.tolist()) == list(range(12))
    assert clique_groups(ei[:, et == 1], 12)[1] == 3  # same UE: 4 groups of 3
    assert clique_groups(np.array([[0, 1], [1, 2]]), 3) is None  # a path is not a clique union
    assert clique_groups(np.array([[0, 1, 1], [1, 0, 1]]), 2) is None  # self-loop


@pytest.mark.parametrize("scenario", ["tiny", "medium"])
def test_dense_clique_path_equals_pyg_transformer_conv(scenario):
    env = _env(scenario)
    ei, et = env.graph()
    torch.manual_seed(1)
    layer = RelationalAttention(8, 8, 2)
    B, N = 3, env.n
    x = torch.randn(B, N, 8)
    offsets = torch.arange(B) * N
    sparse, dense = [], []
    for r in range(2):
        e = torch.as_tensor(ei[:, et == r])
        sparse.append(Relation(edge_index=(e[:, None, :] + offsets[None, :, None]).reshape(2, -1)))
        perm, s = clique_groups(ei[:, et == r], N)
        dense.append(Relation(perm=torch.as_tensor(perm), group_size=s, layout=clique_layout(perm, s)))
    assert [r.layout for r in dense] == ["identity", "transpose"]
    torch.testing.assert_close(layer(x, dense), layer(x, sparse), rtol=1e-5, atol=1e-5)
    # the general gather path gives the same result
    gathered = [Relation(perm=r.perm, group_size=r.group_size, layout="gather") for r in dense]
    torch.testing.assert_close(layer(x, gathered), layer(x, sparse), rtol=1e-5, atol=1e-5)
    # and so does a scrambled node order (only the gather path applies)
    order = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    inv = torch.argsort(order)
    ei_s = inv.numpy()[ei]
    scr = [Relation(perm=torch.as_tensor(g[0]), group_size=g[1], layout=clique_layout(*g))
           for g in (clique_groups(ei_s[:, et == r], N) for r in range(2))]
    sp_s = [Relation(edge_index=(torch.as_tensor(ei_s[:, et == r])[:, None, :] + offsets[None, :, None]).reshape(2, -1))
            for r in range(2)]
    torch.testing.assert_close(layer(x[:, order], scr), layer(x[:, order], sp_s), rtol=1e-5, atol=1e-5)


def test_module_dense_and_sparse_paths_agree():
    env = _env("medium")
    x = np.random.default_rng(0).normal(size=(2, env.n, 6))
    a, b = _module(env), _module(env, dense_cliques=False)
    b.load_state_dict(a.state_dict())
    for u, v in zip(_outputs(a, _batch(x)), _outputs(b, _batch(x))):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("max_nodes", [None, 40])
def test_embedding_equals_the_plain_definition(max_nodes):
    """APS-GNN's fast embedding (window GRU, split input layer, fused skip terms, SDPA over cliques) equals
    the model written plainly: nn.GRU -> concat -> linear -> ReLU -> rounds of ReLU(mean_r TransformerConv_r),
    PyG's own layers on the edge list, in values and in parameter gradients; with padding nodes too."""
    env = _env("tiny", max_nodes=max_nodes, num_aps=6, num_ues=4)
    m = _module(env)
    n, N = env.n, m.n_max
    x = torch.as_tensor(np.random.default_rng(1).normal(size=(3, N, 6)), dtype=torch.float32)
    mask = torch.zeros(3, N)
    mask[:, :n] = 1.0
    ei, et = (torch.as_tensor(a) for a in env.graph())

    def plain():
        B = x.shape[0]
        _, h = m.gru(x[..., :4].reshape(B * N, 4, 1))
        h = torch.relu(m.inp(torch.cat([h[-1].reshape(B, N, -1), x[..., 4:]], -1)))
        offsets = (torch.arange(B) * N)[None, :, None]
        for layer in m.layers:
            outs = [conv(h.reshape(B * N, -1), (ei[:, et == r][:, None, :] + offsets).reshape(2, -1))
                    for r, conv in enumerate(layer.convs)]
            h = torch.relu(torch.stack(outs).mean(0)).reshape(B, N, -1)
        return h

    grads = []
    for f in (plain, lambda: m.embed(_batch(x, mask))):
        m.zero_grad()
        emb = f()
        (emb * torch.linspace(-1, 1, emb.numel()).reshape(emb.shape)).sum().backward()
        grads.append((emb.detach(), {k: p.grad.clone() for k, p in m.named_parameters() if p.grad is not None}))
    (e_ref, g_ref), (e_new, g_new) = grads
    torch.testing.assert_close(e_new[:, :n], e_ref[:, :n], rtol=1e-5, atol=1e-5)
    # the key bias shifts every score of a softmax row alike: its gradient is zero, and the fast path drops it
    key_bias = {k for k in g_ref if k.endswith("lin_key.bias")}
    assert key_bias and all(g_ref[k].abs().max() < 1e-6 for k in key_bias)
    assert g_ref.keys() - key_bias == g_new.keys() - key_bias and len(g_new) > 10
    for k in g_new:
        torch.testing.assert_close(g_new[k], g_ref[k], rtol=1e-4, atol=1e-5, msg=k)


@pytest.mark.parametrize("mc", [{}, {"use_gru": False}, {"encoder": "mlp"}, {"rounds": 1}])
def test_permutation_equivariance(mc):
    """Relabelling APs and UEs permutes the nodes; the graph maps onto itself, so every
    per-node output is permuted the same way."""
    env = _env(num_aps=5, num_ues=3)
    m = _module(env, **mc)
    L, K = 5, 3
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, L * K, 6)).astype(np.float32)
    pa, pu = rng.permutation(L), rng.permutation(K)
    new_index = (pa[:, None] * K + pu[None, :]).reshape(-1)  # node l*K+k -> pa[l]*K+pu[k]
    x_perm = np.empty_like(x)
    x_perm[:, new_index] = x
    for u, v in zip(_outputs(m, _batch(x)), _outputs(m, _batch(x_perm))):
        torch.testing.assert_close(v[:, new_index], u, rtol=1e-4, atol=1e-5)


def _path_module(rounds, n=6):
    """A module on a path graph 0-1-2-...-(n-1) (one relation), any env contract aside."""
    import gymnasium as gym

    src = list(range(n - 1)) + list(range(1, n))
    dst = list(range(1, n)) + list(range(n - 1))
    obs = gym.spaces.Dict({"x": gym.spaces.Box(-10, 10, (n, 6), np.float32),
                           "node_mask": gym.spaces.Box(0, 1, (n,), np.float32)})
    torch.manual_seed(0)
    return GraphActorCritic(observation_space=obs, action_space=gym.spaces.MultiDiscrete([2] * n),
                            model_config={"edge_index": np.array([src, dst]), "edge_type": np.zeros(2 * n - 2),
                                          "sequence_features": 4, "hidden": 16, "rounds": rounds})


@pytest.mark.parametrize("rounds", [1, 2])
def test_locality_k_hop(rounds):
    m = _path_module(rounds)
    x = np.random.default_rng(3).normal(size=(1, 6, 6)).astype(np.float32)
    base = _outputs(m, _batch(x))[0][0, 0]
    far = x.copy()
    far[0, rounds + 1:] += 5.0  # every node more than `rounds` hops from node 0
    torch.testing.assert_close(_outputs(m, _batch(far))[0][0, 0], base)
    near = x.copy()
    near[0, rounds] += 5.0  # exactly `rounds` hops away: must matter
    assert not torch.allclose(_outputs(m, _batch(near))[0][0, 0], base)


def test_padding_nodes_do_not_influence_real_nodes():
    env = _env(max_nodes=12)  # tiny: 8 real nodes padded to 12
    obs, _ = env.reset(seed=0)
    assert obs["graph"]["x"].shape == (12, 6) and obs["graph"]["node_mask"].tolist() == [1.0] * 8 + [0.0] * 4
    m = _module(env)
    x = obs["graph"]["x"][None].copy()
    base = _outputs(m, _batch(x, obs["graph"]["node_mask"][None]))
    x[0, 8:] = 3.0
    other = _outputs(m, _batch(x, obs["graph"]["node_mask"][None]))
    for u, v in zip(base, other):
        torch.testing.assert_close(u[:, :8], v[:, :8])
    assert base[0].shape == (1, 12, 2) and base[1].shape == (1, 12) and base[2].shape == (1, 12, 1)


def test_central_module_shapes_and_team_critic():
    env = _env()
    m = CentralActorCritic(observation_space=env.observation_spaces["graph"],
                           action_space=env.action_spaces["graph"], model_config={"hidden": 32})
    logits, v, c = _outputs(m, _batch(np.zeros((5, 8, 6))))
    assert logits.shape == (5, 8, 2) and v.shape == (5,) and c.shape == (5, 1)
    assert m.per_node_critic is False


def test_central_deepsets_is_permutation_equivariant_and_ignores_padding():
    """encoder=deepsets: permuting the nodes' rows permutes the head parameters and leaves the team
    values unchanged; padded rows change nothing."""
    env = _env()
    torch.manual_seed(0)
    m = CentralActorCritic(observation_space=env.observation_spaces["graph"],
                           action_space=env.action_spaces["graph"], model_config={"hidden": 16, "encoder": "deepsets"})
    x = np.random.default_rng(0).normal(size=(3, 8, 6))
    logits, v, c = _outputs(m, _batch(x))
    assert logits.shape == (3, 8, 2) and v.shape == (3,) and c.shape == (3, 1)
    perm = np.random.default_rng(1).permutation(8)
    lp, vp, cp = _outputs(m, _batch(x[:, perm]))
    torch.testing.assert_close(lp, logits[:, perm])
    torch.testing.assert_close(vp, v)
    torch.testing.assert_close(cp, c)
    mask = np.ones((3, 8), np.float32)
    mask[:, 6:] = 0.0
    xa, xb = x.copy(), x.copy()
    xb[:, 6:] = 5.0
    la, va, _ = _outputs(m, _batch(xa, mask))
    lb, vb, _ = _outputs(m, _batch(xb, mask))
    torch.testing.assert_close(la[:, :6], lb[:, :6])
    torch.testing.assert_close(va, vb)
    assert not torch.allclose(la[:, :6], logits[:, :6])  # the pooled context depends on which rows are real


def test_per_node_categorical():
    logits = torch.tensor([[[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]]])
    d = PerNodeCategorical.from_logits(logits)
    a = torch.tensor([[1, 1, 0]])
    expected = torch.log_softmax(logits, -1).gather(-1, a[..., None])[..., 0]
    torch.testing.assert_close(d.logp(a), expected)
    assert d.entropy().shape == (1, 3)
    assert d.to_deterministic().sample().tolist() == [[1, 0, 0]]
    assert d.sample().shape == (1, 3)


def test_weights_transfer_to_another_graph_size():
    from cfmarl.policies.module_controller import ModuleController, rebuild_for_env
    from cfmarl.envs import ap_selection_v0

    small = _module(_env("tiny"))
    big = rebuild_for_env(small, {"env": "aps", "scenario": "medium"})
    assert big.n_max == 96
    for k, v in small.state_dict().items():
        assert torch.equal(v, big.state_dict()[k]), k
    core = ap_selection_v0.ApSelectionCore(ap_selection_v0.make_config("medium"), 2)
    state, obs = core.reset([0, 1])
    actions = ModuleController(big).act(core, state, obs)
    assert actions.shape == (2, 96) and set(np.unique(actions)) <= {0, 1}
    central = CentralActorCritic(observation_space=_env().observation_spaces["graph"],
                                 action_space=_env().action_spaces["graph"], model_config={})
    with pytest.raises(ValueError, match="tied to its size"):
        rebuild_for_env(central, {"env": "aps", "scenario": "medium"})
    # a policy trained with another observation layout: one line naming both feature counts
    with pytest.raises(ValueError, match="observes 6 features per node but this env gives 7"):
        rebuild_for_env(small, {"env": "aps", "scenario": "medium", "overrides": {"observe_link_gain": True}})


def test_dynamic_graph_output_follows_the_neighbourhood():
    """Per-episode graphs (MF-TDMA topology) reach the model as an edge mask: with one round of
    message passing, node i's output changes when an edge into i appears or disappears, and does
    not change when an edge elsewhere does."""
    from ray.rllib.core.columns import Columns

    from cfmarl.algo_builder import module_spec
    from cfmarl.experiment import ExperimentConfig, from_dict
    from cfmarl.policies.adapters.graph_env import GraphEnv

    env_cfg = {"env": "mftdma", "scenario": "n4-1:3", "overrides": {"episode_frames": 3}}
    genv = GraphEnv(env_cfg)
    assert "edge_mask" in genv.observation_spaces["graph"].spaces
    exp = from_dict(ExperimentConfig, {"env": {"name": "mftdma", "scenario": "n4-1:3"},
                                       "model": {"hidden": 16, "rounds": 1, "use_gru": False}})
    torch.manual_seed(0)
    module = module_spec(exp, env_cfg).build()
    edge_index, _ = genv.graph()  # every candidate edge (all ordered pairs)
    x = torch.rand(1, 4, genv.core.obs_dim)
    full = torch.ones(1, edge_index.shape[1])

    def out(mask):
        batch = {Columns.OBS: {"x": x, "node_mask": torch.ones(1, 4), "edge_mask": mask}}
        return module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS][0]

    base = out(full)
    into_0 = int(np.nonzero((edge_index[1] == 0) & (edge_index[0] == 1))[0][0])  # edge 1 -> 0
    into_2 = int(np.nonzero((edge_index[1] == 2) & (edge_index[0] == 3))[0][0])  # edge 3 -> 2
    m = full.clone()
    m[0, into_0] = 0.0
    changed = out(m)
    assert not torch.allclose(changed[0], base[0])  # node 0's neighbourhood changed
    assert torch.allclose(changed[1:], base[1:])  # nobody else's did
    m = full.clone()
    m[0, into_2] = 0.0
    changed = out(m)
    assert torch.allclose(changed[0], base[0]) and not torch.allclose(changed[2], base[2])
    # the env's mask is what the topology says: edge i -> j present iff j hears i
    obs, _ = genv.reset(seed=3)
    nb = genv.state.neighbours[0]
    assert np.array_equal(obs["graph"]["edge_mask"] > 0.5, nb[edge_index[0], edge_index[1]])


def test_static_graph_keeps_its_fast_path():
    """AP selection declares a static graph: no edge mask in the observation, dense clique path."""
    from cfmarl.policies.adapters.graph_env import GraphEnv

    genv = GraphEnv({"env": "aps", "scenario": "tiny"})
    assert genv.graph_kind == "static" and "edge_mask" not in genv.observation_spaces["graph"].spaces
