"""Virtual-CMDP data plumbing: episode splits, per-UE views of the central URLLC observation and the
queue-transition condition, checked against the env and by brute force."""

import numpy as np
import pytest

from cfmarl.datasets import collect, load_dataset
from cfmarl.envs.urllc_ofdm.config import make_config
from cfmarl.envs.urllc_ofdm.core import UrllcCore
from cfmarl.envs.validation import ConfigError
from cfmarl.policies.offline.virtual_cmdp.data import Layout, Normaliser, split_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("urllc_data")
    collect("urllc", "s2222", {"episode_slots": 6}, ["random"], episodes=10, seed=32, out=out, quiet=True)
    return load_dataset(out)


def test_split_by_episode_is_disjoint_and_seeded(dataset):
    a, b = split_dataset(dataset), split_dataset(dataset)
    eps = a.episodes
    assert [len(eps[p]) for p in ("train", "val", "test")] == [7, 1, 2]
    assert set(np.concatenate(list(eps.values()))) == set(range(10))
    for p in eps:
        np.testing.assert_array_equal(eps[p], b.episodes[p])
        assert a[p]["s"].shape == (len(eps[p]) * 6, a.layout.obs_dim)
        assert a[p]["a"].shape == (len(eps[p]) * 6, a.layout.action_dim)
        assert a[p]["s0"].shape == (len(eps[p]), a.layout.obs_dim)
    # within an episode, s' of step t is s of step t + 1
    tr = a["train"]
    np.testing.assert_array_equal(tr["s_next"][:5], tr["s"][1:6])
    assert any(split_dataset(dataset, seed=s).episodes["test"].tolist() != eps["test"].tolist() for s in (1, 2, 3))
    with pytest.raises(ConfigError, match="split fractions"):
        split_dataset(dataset, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ConfigError, match="cannot be split"):
        split_dataset(dataset, fractions=(0.95, 0.05, 0.0))


def test_views_pick_the_right_entries_and_assemble_back():
    lay = Layout(B=2, U=3, K=2, M=4, arrival_rate=30.0, p_max_w=0.1, subcarriers=20, noise_w=1e-15)
    b, u, k, m = np.meshgrid(*(np.arange(x) for x in (2, 3, 2, 4)), indexing="ij")
    obs = np.concatenate([(1000 * b + 100 * u + 10 * k + m).ravel(), [1, 2, 3, 4, 5, 6]])[None].astype(float)
    ch = lay.ue_channel(obs)
    assert ch.shape == (3, 2 * 2 * 4)
    assert ch[1].reshape(2, 2, 4)[1, 0, 3] == 1000 + 100 + 0 + 3  # UE 1, AP 1, subband 0, beam 3
    np.testing.assert_array_equal(lay.ue_queue(obs), [[1, 4], [2, 5], [3, 6]])
    np.testing.assert_array_equal(lay.assemble(ch, lay.ue_queue(obs)), obs)


def test_decode_and_queue_condition_match_the_env_and_a_loop():
    cfg = make_config("s2222", episode_slots=4)
    core = UrllcCore(cfg, 1)
    from dataclasses import asdict

    lay = Layout.from_env_config(asdict(cfg))
    rng = np.random.default_rng(0)
    state, obs = core.reset([3])
    act = rng.uniform(-1, 1, (5, core.action_dim))
    for got, want in zip(lay.decode(act), core.decode(act)):
        np.testing.assert_array_equal(got, want)
    o = np.repeat(obs[:, 0], 5, 0).astype(np.float64)
    cond = lay.queue_condition(o, act)
    assert cond.shape == (5 * lay.U, lay.queue_cond_dim)
    zeta, beam, power = lay.decode(act)
    snr = 10 ** lay.pbm(o)  # the observation holds log10 of the full-power SNR (dB / 10)
    for n in range(5):
        for u in range(lay.U):
            row = cond[n * lay.U + u]
            np.testing.assert_allclose(row[:2], lay.ue_queue(o)[n * lay.U + u])
            for k in range(lay.K):
                des = sum(zeta[n, b, u, k] * power[n, b, u, k] / lay.p_max_w * snr[n, b, u, k, beam[n, b, u, k]]
                          for b in range(lay.B))
                inter = sum(zeta[n, b, v, k] * power[n, b, v, k] / lay.p_max_w * snr[n, b, u, k, beam[n, b, v, k]]
                            for b in range(lay.B) for v in range(lay.U) if v != u)
                np.testing.assert_allclose(row[2 + k], np.log10(max(des, 1e-3)), rtol=1e-5)
                np.testing.assert_allclose(row[2 + lay.K + k], np.log10(max(inter, 1e-3)), rtol=1e-5)
            np.testing.assert_allclose(row[2 + 2 * lay.K:], (zeta[n, :, u] * power[n, :, u] / lay.p_max_w).ravel(),
                                       rtol=1e-6)


def test_normalisers_round_trip():
    x = np.array([[0.0, 5.0, 1.0], [2.0, 5.0, 3.0], [4.0, 5.0, 8.0]])
    for norm in (Normaliser.standard(x), Normaliser.to_unit_box(x)):
        np.testing.assert_allclose(norm.inverse(norm(x)), x, atol=1e-5)
        back = Normaliser.from_dict(norm.to_dict())
        np.testing.assert_array_equal(back(x), norm(x))
    box = Normaliser.to_unit_box(x)(x)
    assert box.min() == -1.0 and box[:, [0, 2]].max() == 1.0 and np.all(box[:, 1] == 0.0)  # zero range -> 0
    # a constant feature comes back as its constant whatever a model generated there
    std = Normaliser.standard(x)
    assert std.const.tolist() == [False, True, False]
    np.testing.assert_array_equal(std.inverse(np.array([[0.0, 7.3, 0.0]]))[0, 1], 5.0)
    assert Normaliser.from_dict(std.to_dict()).const.tolist() == [False, True, False]
