"""mf_tdma_v0 and urllc_ofdm_v0: PettingZoo API / seed / pickle, hand-checked physics and queues, orderings."""

import pickle
import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from cfmarl import evaluate
from cfmarl.envs import mf_tdma_v0, urllc_ofdm_v0
from cfmarl.envs.physics.fbl import fbl_bits, q_inv
from cfmarl.envs.validation import ActionError, ConfigError
from cfmarl.policies.baselines import mf_tdma as mfb
from cfmarl.policies.baselines import urllc_ofdm as urb

SHORT = {"mftdma": {"episode_frames": 3}, "urllc": {"episode_slots": 3}}
CASES = ([("mftdma", mf_tdma_v0, s) for s in mf_tdma_v0.scenario_names()]
         + [("urllc", urllc_ofdm_v0, s) for s in urllc_ofdm_v0.scenario_names()])
SMALL = [c for c in CASES if c[2].startswith(("n4", "n8-2:6", "s2222", "paper"))]


def _make(mod, name, scenario, **kw):
    return mod.parallel_env(scenario=scenario, **{**SHORT[name], **kw})


@pytest.mark.parametrize("name,mod,scenario", SMALL)
def test_parallel_api(name, mod, scenario):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(_make(mod, name, scenario), num_cycles=4)


@pytest.mark.parametrize("name,mod,scenario", SMALL)
def test_parallel_seed(name, mod, scenario):
    parallel_seed_test(lambda: _make(mod, name, scenario), num_cycles=3)


@pytest.mark.parametrize("name,mod,scenario", CASES)
def test_every_scenario_builds_steps_and_pickles(name, mod, scenario):
    env = _make(mod, name, scenario, **({"episode_frames": 2} if name == "mftdma" else {"episode_slots": 2}))
    env.reset(seed=2)
    acts = {a: env.action_space(a).sample() for a in env.agents}
    env.step(acts)
    clone = pickle.loads(pickle.dumps(env))
    a, b = env.step(acts), clone.step(acts)
    np.testing.assert_array_equal(np.stack(list(a[0].values())), np.stack(list(b[0].values())))
    assert a[1] == b[1] and a[4] == b[4]
    assert all(isinstance(i["cost"], float) for i in a[4].values())
    assert all(isinstance(v, float) for v in env.kpis().values())
    if name == "urllc":  # transmitted packets are within their deadline by construction
        assert env.kpis()["mean_delay_ms"] <= env.config.deadline_s * 1e3 or np.isnan(env.kpis()["mean_delay_ms"])


def test_bad_input_is_a_clear_error():
    env = _make(mf_tdma_v0, "mftdma", "n4-1:3")
    env.reset(seed=0)
    acts = {a: np.array([2.0]) for a in env.agents}
    acts["node1"] = np.array([-1.0])
    with pytest.raises(ActionError, match=r"agent node1 has -1.0; allowed: finite values in \[0, 40\]"):
        env.step(acts)
    env = _make(urllc_ofdm_v0, "urllc", "paper")
    env.reset(seed=0)
    with pytest.raises(ActionError, match="central"):
        env.step({"central": np.full(108, np.nan)})
    with pytest.raises(ConfigError, match="unknown scenario 'n8'"):
        mf_tdma_v0.make_config("n8")
    with pytest.raises(ConfigError, match="UrllcConfig.packet_bits_max: must be >= 50"):
        urllc_ofdm_v0.make_config("paper", packet_bits_max=10)
    with pytest.raises(ConfigError, match="channel_file"):
        urllc_ofdm_v0.UrllcCore(urllc_ofdm_v0.make_config("paper", channel_file="/nonexistent.npy"))


# ----------------------------------------------------------------------------- MF-TDMA
def test_fspl_link_budget_and_one_hop_neighbourhoods_on_a_hand_placed_topology():
    core = mf_tdma_v0.MfTdmaCore(mf_tdma_v0.make_config("n4-1:3"), 1)
    # FSPL at 1 GHz over 3.6 km: 20 log10(3600) + 20 log10(1e9) - 147.55 = 103.58 dB; P_t 30 dBm; noise over 2 MHz, NF 7
    noise = -174 + 10 * np.log10(2e6) + 7
    assert core.link_snr_db(np.array(3600.0)) == pytest.approx(30 - (20 * np.log10(3600) + 180 - 147.55) - noise,
                                                              abs=0.01)
    pos = np.array([[0.0, 0.0], [3000.0, 0.0], [6000.0, 0.0], [9000.0, 0.0]])  # a line, 3 km apart
    usable, nh, succ = core.links(pos)
    assert usable.tolist() == [[False, True, False, False], [True, False, True, False],
                               [False, True, False, True], [False, False, True, False]]
    assert nh[0].tolist() == [-1, 1, 1, 1] and nh[3].tolist() == [2, 2, 2, -1] and nh[1, 3] == 2
    assert np.all(succ[usable] > 0.999)  # ideal RF: error-free 1-hop links


def test_rb_normalisation_never_exceeds_the_frame_and_respects_small_requests():
    core = mf_tdma_v0.MfTdmaCore(mf_tdma_v0.make_config("n8-2:6"), 64)
    rng = np.random.default_rng(0)
    for scale in (0.1, 1.0, 5.0, 40.0):
        req = rng.uniform(0, scale, (64, 8)) * (rng.random((64, 8)) < 0.8)
        g = core.normalise_requests(req)
        assert np.all(g.sum(-1) <= 40) and np.all(g >= 0)
        fits = req.sum(-1) <= 40
        assert np.all(np.abs(g[fits] - req[fits]) < 1.0 + 1e-9)  # requests that fit are granted (rounded)
    g = core.normalise_requests(np.array([[40.0, 20.0, 20.0, 0, 0, 0, 0, 0]] * 64))
    assert g[0].tolist() == [20, 10, 10, 0, 0, 0, 0, 0]


def test_packets_are_conserved_and_delays_are_causal():
    """Every generated packet is delivered, lost or still queued (the queues' pops and pushes neither
    duplicate nor drop packets silently), and no packet arrives before it was generated."""
    core = mf_tdma_v0.MfTdmaCore(mf_tdma_v0.make_config("n8-2:6"), 2)
    state, _ = core.reset([0, 1])
    generated = delivered = lost = 0
    for _ in range(40):
        state, obs, rew, cost, _ = core.step(state, np.full((2, 8), 5.0))
        k = core.kpis(state)
        generated += state.generated.sum()  # counted at arrival, independently of the queues
        delivered += k["delivered_packets"].sum()
        lost += k["lost_packets"].sum()
        assert np.all(rew <= 0) and np.all(obs >= 0)
        done = state.delivered > 0
        assert np.all(state.delay_sum[done] > 0)  # born inside a slot, delivered at a slot end after it
    assert generated == delivered + lost + (state.gen_len + state.tr_len).sum()
    assert delivered > 0


def test_topology_connectivity_check_agrees_with_scipy():
    """The MF-TDMA topology draw's connectivity test (a breadth-first search on the adjacency) against scipy's
    connected_components on random disc graphs of 2-64 nodes, connected and not."""
    from scipy.sparse.csgraph import connected_components

    from cfmarl.envs.mf_tdma.core import _connected

    rng = np.random.default_rng(1)
    seen = set()
    for n in (2, 3, 8, 9, 32, 64):
        for radius in (0.2, 0.4, 0.7):
            for _ in range(40):
                p = rng.random((n, 2))
                adj = (np.linalg.norm(p[:, None] - p[None], axis=-1) <= radius) & ~np.eye(n, dtype=bool)
                want = connected_components(adj, directed=False)[0] == 1
                assert _connected(adj) == want
                seen.add(want)
    assert seen == {True, False}


def test_queue_ring_buffers_are_fifo_with_tail_drop():
    """The MF-TDMA queues are ring buffers (a pop moves the head, nothing is shifted): random pushes and pops on
    three queues of capacity 5, wrapping many times, give what Python lists give - first in, first out, and a
    packet that finds its queue full is dropped."""
    from cfmarl.envs.mf_tdma import core as mfc

    rng = np.random.default_rng(0)
    Q, cap = 3, 5
    dest, birth, retry = np.zeros((Q, cap), np.int32), np.zeros((Q, cap)), np.zeros((Q, cap), int)
    head, length = np.zeros(Q, int), np.zeros(Q, int)
    ref = [[] for _ in range(Q)]
    serial = 0
    for _ in range(300):
        target = rng.integers(0, Q, rng.integers(0, 6))
        pk = np.arange(serial, serial + target.size)
        serial += target.size
        over = mfc._push(dest, birth, retry, head, length, target, pk % 7, pk.astype(float), pk % 3)
        for q, i, o in zip(target, pk, over):
            assert o == (len(ref[q]) >= cap)
            if not o:
                ref[q].append(int(i))
        k = np.minimum(rng.integers(0, 4, Q), length)
        d, b, r, q_ids = mfc._pop(dest, birth, retry, head, length, k)
        want = [(q, i) for q in range(Q) for i in ref[q][:k[q]]]
        assert [(int(q), int(x)) for q, x in zip(q_ids, b)] == want
        np.testing.assert_array_equal(d, [i % 7 for _, i in want])
        np.testing.assert_array_equal(r, [i % 3 for _, i in want])
        ref = [ref[q][k[q]:] for q in range(Q)]
        assert length.tolist() == [len(x) for x in ref]
    assert serial > 3 * cap * 10  # the heads went round many times


def test_load_proportional_beats_equal_split_on_delay_under_heterogeneous_load():
    cfg = mf_tdma_v0.make_config("n8-2:6", episode_frames=300)
    make = lambda n: mf_tdma_v0.MfTdmaCore(cfg, n)  # noqa: E731
    seeds = evaluate.episode_seeds(0, 4)
    eq = evaluate.run_policy(make, mfb.make_baseline("equal"), seeds, batch=4).summary()
    lp = evaluate.run_policy(make, mfb.make_baseline("load-proportional"), seeds, batch=4).summary()
    assert lp["mean_delay_ms"] < 0.5 * eq["mean_delay_ms"]
    assert lp["throughput_mbps"] >= eq["throughput_mbps"]


# ----------------------------------------------------------------------------- URLLC
@pytest.mark.parametrize("snr_db,bits", [(0.0, 1269.9844), (10.0, 4924.6480), (20.0, 9721.7310)])
def test_fbl_bits_match_the_reference_values(snr_db, bits):
    assert fbl_bits(np.array([10 ** (snr_db / 10)]), 1500, 1e-6) == pytest.approx(bits, abs=1e-3)


def test_fbl_parallel_subbands_and_qinv():
    assert q_inv(1e-6) == pytest.approx(4.753424, abs=1e-6)
    assert fbl_bits(np.array([1.0, 10.0, 100.0]), 1500, 1e-6) == pytest.approx(16236.6884, abs=1e-3)
    assert fbl_bits(np.array([0.0, 0.0]), 1500, 1e-6) == 0.0


def test_queue_update_and_edf_delays_on_a_hand_made_trace():
    """Deadline D = 2 slots, buffer 1000 bits. Slot 0: packets of 300, 300, 500 bits arrive; the third does
    not fit (300 + 300 + 500 > 1000) and is dropped. 400 bits are served in slot 0: the first packet
    leaves (delay 1 slot), 100 bits of the second. Slot 1: a 200-bit packet arrives; 100 bits are served:
    the second packet (its last slot) is still short by 100 bits -> violated and removed. Slot 2: 250
    bits: the 200-bit packet (arrived in slot 1) leaves with delay 2."""
    cfg = urllc_ofdm_v0.make_config("s2222", buffer_bits=1000, packet_bits_max=500, deadline_s=10e-3, slot_s=5e-3)
    core = urllc_ofdm_v0.UrllcCore(cfg, 1)
    state, _ = core.reset(0)
    state.qlen[:] = 0
    state.t = 0
    core.enqueue(state, np.array([[[300, 300, 500], [0, 0, 0]]]))
    assert state.drops[0].tolist() == [1.0, 0.0] and state.qlen[0].tolist() == [2, 0]

    def serve(bits):
        b = np.array([[bits, 0.0]])
        tx, vio, served = core._service(state, b)
        delays = (state.t - state.arr[0, 0, :tx[0, 0]] + 1).tolist()
        core._advance_queue(state, b)
        state.t += 1
        return int(tx[0, 0]), int(vio[0, 0]), delays, float(served[0, 0])

    assert serve(400.0) == (1, 0, [1], 400.0)
    assert state.rem[0, 0, 0] == 200.0  # what is left of the second packet
    core.enqueue(state, np.array([[[200], [0]]]))
    assert serve(100.0) == (0, 1, [], 100.0)  # the second packet misses its deadline
    assert state.qlen[0, 0] == 1 and state.rem[0, 0, 0] == 200.0
    assert serve(250.0) == (1, 0, [2], 200.0)
    assert state.qlen[0, 0] == 0


def test_action_transforms_and_power_budget():
    core = urllc_ofdm_v0.UrllcCore(urllc_ofdm_v0.make_config("paper"), 2)
    a = np.random.default_rng(0).uniform(-1, 1, (2, core.action_dim))
    zeta, beam, power = core.decode(a)
    x = a.reshape(2, 3, 3, 3, 4)
    assert np.array_equal(zeta, x[:, :, 0] > 0)
    assert beam.min() >= 0 and beam.max() <= 3
    np.testing.assert_allclose(power.sum((-1, -2)), core.p_max_w)  # eq. 15: each AP spends exactly P_max
    assert core.decode(np.ones((1, core.action_dim)))[1].max() == 3


def test_energy_efficiency_reward_by_hand():
    core = urllc_ofdm_v0.UrllcCore(urllc_ofdm_v0.make_config("s2222"), 1)
    state, _ = core.reset(3)
    a = np.random.default_rng(1).uniform(-1, 1, (1, core.action_dim))
    bits, tx_power, reward, cost, *_ = core.outcome(state, a)
    zeta, beam, power = core.decode(a)
    assert tx_power[0] == pytest.approx((zeta * power).sum())
    assert reward[0] == pytest.approx(bits.sum() / (tx_power[0] * 5e-3) / 1e6)


def test_channel_file_replaces_the_geometric_model(tmp_path):
    h = (np.random.default_rng(0).standard_normal((7, 2, 2, 2, 2)) * (1 + 1j)) * 1e-5
    np.save(tmp_path / "ch.npy", h)
    core = urllc_ofdm_v0.UrllcCore(urllc_ofdm_v0.make_config("s2222", channel_file=str(tmp_path / "ch.npy")), 1)
    state, _ = core.reset(0)
    np.testing.assert_array_equal(state.h[0], h[state.file_offset[0] % 7])


def test_lyapunov_beats_random_on_delay_violation():
    cfg = urllc_ofdm_v0.make_config("paper", episode_slots=60)
    make = lambda n: urllc_ofdm_v0.UrllcCore(cfg, n)  # noqa: E731
    seeds = evaluate.episode_seeds(0, 3)
    rnd = evaluate.run_policy(make, urb.make_baseline("random"), seeds, batch=3).summary()
    lya = evaluate.run_policy(make, urb.make_baseline("lyapunov"), seeds, batch=3).summary()
    assert lya["delay_violation_rate"] < 0.5 * rnd["delay_violation_rate"]
    assert lya["energy_efficiency_bit_per_j"] > rnd["energy_efficiency_bit_per_j"]


@pytest.mark.parametrize("assign", ["greedy", "static"])
def test_orthogonal_schedule_gives_each_subband_to_one_ue(assign):
    """One UE per subband, the same at every AP, max-gain beams; the
    least-power variant sends the least power eq. 15's softmax allows and keeps the same schedule."""
    core = urllc_ofdm_v0.UrllcCore(urllc_ofdm_v0.make_config("paper"), 2)
    state, _ = core.reset([3, 4])
    full = urb.make_baseline(f"orthogonal:assign={assign}").act(core, state, None).reshape(2, -1)
    low = urb.make_baseline(f"orthogonal:assign={assign},on=-1,off=1").act(core, state, None).reshape(2, -1)
    zeta, beam, power = core.decode(full)
    assert np.all(zeta.sum(2) == 1)  # (E, B, K): exactly one UE per subband at each AP
    assert np.all(zeta == zeta[:, :1])  # the same owner at every AP
    if assign == "static":  # K >= U: every UE gets a subband (greedy may starve a UE with a weak channel)
        assert np.all(zeta.any((1, 3)))
    assert np.array_equal(beam, core.pbm(state).argmax(-1))
    zl, bl, pl = core.decode(low)
    assert np.array_equal(zl, zeta) and np.array_equal(bl, beam)
    sent = lambda z, p: (z * p).sum((-1, -2, -3))  # noqa: E731
    assert np.all(sent(zl, pl) < 0.2 * sent(zeta, power))
    best = urb.make_baseline(f"orthogonal:assign={assign},serve=best").act(core, state, None).reshape(2, -1)
    zb, bb, _ = core.decode(best)
    assert np.all(zb.sum((1, 2)) == zeta[:, 0].sum(1))  # one AP per scheduled subband
    assert np.all(zb <= zeta) and np.array_equal(bb, beam)
    strongest = core.pbm(state).max(-1).argmax(1)  # (E, U, K): the AP with the strongest beam
    e, b, u, k = np.nonzero(zb)
    assert np.array_equal(b, strongest[e, u, k])
    with pytest.raises(ValueError, match="orthogonal.assign"):
        urb.make_baseline("orthogonal:assign=round")
    with pytest.raises(ValueError, match="orthogonal.serve"):
        urb.make_baseline("orthogonal:serve=two")
    with pytest.raises(ValueError, match=r"orthogonal.on: must be a number in \[-1, 1\]"):
        urb.make_baseline("orthogonal:on=3")


def test_orthogonal_schedule_meets_the_delay_target_and_lyapunov_is_at_least_as_good():
    """On the paper scenario the orthogonal schedule has (almost) no delay violations, and the
    Lyapunov controller, which has it among its candidates, is at least as energy efficient."""
    cfg = urllc_ofdm_v0.make_config("paper", episode_slots=40)
    make = lambda n: urllc_ofdm_v0.UrllcCore(cfg, n)  # noqa: E731
    seeds = evaluate.episode_seeds(0, 2)
    orth = evaluate.run_policy(make, urb.make_baseline("orthogonal:on=-1,off=1,serve=best"), seeds, batch=2).summary()
    lya = evaluate.run_policy(make, urb.make_baseline("lyapunov"), seeds, batch=2).summary()
    assert orth["delay_violation_rate"] <= cfg.delay_cost_limit
    assert lya["energy_efficiency_bit_per_j"] >= 0.99 * orth["energy_efficiency_bit_per_j"]
    assert lya["delay_violation_rate"] <= cfg.delay_cost_limit
