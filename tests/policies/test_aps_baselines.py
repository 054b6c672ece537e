"""Classical AP-selection controllers."""

import numpy as np
import pytest

from cfmarl.envs import ap_selection_v0
from cfmarl.policies.baselines.ap_selection import (AllOn, GreedyOracle, KStrongest, PowerFraction, k_strongest_mask,
                                                   make_baseline, power_fraction_mask)


def _core(scenario="medium", n=4, **kw):
    core = ap_selection_v0.ApSelectionCore(ap_selection_v0.make_config(scenario, **kw), n)
    state, obs = core.reset(list(range(n)))
    return core, state, obs


@pytest.mark.parametrize("k", [1, 2, 4, 16, 20])
def test_k_strongest_picks_the_k_largest_gains_per_ue(k):
    core, state, obs = _core()
    a = KStrongest(k=k).act(core, state, obs).reshape(4, 16, 6).astype(bool)
    assert np.all(a.sum(axis=1) == min(k, 16))
    gain = np.abs(state.h_next[:, 0]) ** 2
    chosen_min = np.where(a, gain, np.inf).min(axis=1)
    unchosen_max = np.where(a, -np.inf, gain).max(axis=1)
    assert np.all(chosen_min >= unchosen_max)


def test_k_strongest_by_large_scale_and_instantaneous_differ_only_with_fading():
    core, state, obs = _core()
    los = [KStrongest(by=b).act(core, state, obs) for b in ("instantaneous", "large_scale")]
    np.testing.assert_array_equal(*los)  # deterministic LoS: |h|^2 == beta
    core, state, obs = _core(small_scale="rician", rician_k_db=0.0)
    ric = [KStrongest(by=b).act(core, state, obs) for b in ("instantaneous", "large_scale")]
    assert not np.array_equal(*ric)


def test_power_fraction_mask_hand_case():
    """UE 0's gains 6, 3, 1 (total 10): delta 0.5 -> the strongest alone (share 0.6), 0.7 and 0.9 -> two (0.9),
    0.95 -> all three; UE 1's 1, 1, 8: 0.5 and 0.7 -> the 8 alone (0.8), 0.9 -> the 8 and the first of the tied 1s
    (0.9), 0.95 -> all three."""
    gain = np.array([[6.0, 1.0], [3.0, 1.0], [1.0, 8.0]])
    np.testing.assert_array_equal(power_fraction_mask(gain, 0.5), [[1, 0], [0, 0], [0, 1]])
    np.testing.assert_array_equal(power_fraction_mask(gain, 0.7), [[1, 0], [1, 0], [0, 1]])
    np.testing.assert_array_equal(power_fraction_mask(gain, 0.9), [[1, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(power_fraction_mask(gain, 0.95), [[1, 1], [1, 1], [1, 1]])
    np.testing.assert_array_equal(power_fraction_mask(gain, 1.0), np.ones((3, 2)))
    # min_k = 2: every UE keeps its two strongest whatever their share (UE 1: the 8 and the first tied 1), more
    # only where those two hold less than delta (0.95: all three); min_k = 1 is the rule above
    np.testing.assert_array_equal(power_fraction_mask(gain, 0.5, min_k=2), [[1, 1], [1, 0], [0, 1]])
    np.testing.assert_array_equal(power_fraction_mask(gain, 0.95, min_k=2), np.ones((3, 2)))
    np.testing.assert_array_equal(power_fraction_mask(gain, 0.5, min_k=1), power_fraction_mask(gain, 0.5))
    np.testing.assert_array_equal(power_fraction_mask(gain, 0.1, min_k=5), np.ones((3, 2)))


def test_power_fraction_adapts_k_per_ue_and_matches_the_share():
    core, state, obs = _core(small_scale="rician", rician_k_db=0.0)
    for by in ("large_scale", "instantaneous"):
        gain = state.beta_next if by == "large_scale" else np.abs(state.h_next[:, 0]) ** 2
        a = PowerFraction(delta=0.9, by=by).act(core, state, obs).reshape(4, 16, 6).astype(bool)
        share = np.where(a, gain, 0).sum(1) / gain.sum(1)
        weakest = np.where(a, gain, np.inf).min(1)
        assert np.all(share >= 0.9 - 1e-9) and np.all(share - weakest / gain.sum(1) < 0.9)  # fewest that reach 0.9
        assert len(np.unique(a.sum(1))) > 1  # not one k for every UE
        # with a floor of 3 APs: every UE keeps its 3 strongest and gets the APs Ngo's rule at 0.6 adds (more
        # only for UEs whose 3 strongest hold less than 0.6 of their gain)
        b = PowerFraction(delta=0.6, by=by, min_k=3).act(core, state, obs).reshape(4, 16, 6).astype(bool)
        assert b.sum(1).min() >= 3
        k3 = k_strongest_mask(gain, 3)
        assert np.all(b[k3]) and np.all(b == (k3 | power_fraction_mask(gain, 0.6)))
    assert isinstance(make_baseline("power-fraction:delta=0.8,by=instantaneous"), PowerFraction)
    for spec, msg in (("power-fraction:delta=0", "delta: must be a number in"),
                      ("power-fraction:by=nearest", "by: must be"), ("power-fraction:k=3", "unknown option"),
                      ("power-fraction:min_k=0", "min_k: must be an integer >= 1"),
                      ("power-fraction:min_k=2.5", "min_k: must be an integer >= 1")):
        with pytest.raises(ValueError, match=msg):
            make_baseline(spec)


def test_k_strongest_mask_hand_case():
    gain = np.array([[3.0, 1.0], [1.0, 5.0], [2.0, 4.0]])
    np.testing.assert_array_equal(k_strongest_mask(gain, 2), [[1, 0], [0, 1], [1, 1]])


def test_more_links_never_lower_a_single_ues_se():
    """With one UE there is no multi-user interference, so k-strongest's SE is
    non-decreasing in k for the same channels. (With several UEs it is not: each
    extra link takes power from the AP's other UEs; all-on has a lower mean SE
    than 4-strongest on `medium`, see test below.)"""
    core, state, obs = _core(num_ues=1, n=8)
    se = []
    for k in range(1, 17):
        mask = KStrongest(k=k).act(core, state, obs).reshape(8, 16, 1).astype(bool)
        se.append(core.window_se(state.h_next, mask))
    assert np.all(np.diff(np.array(se), axis=0) >= -1e-12)


def test_multi_user_more_links_can_lower_se():
    core, state, obs = _core(n=8)
    se4 = core.window_se(state.h_next, KStrongest(k=4).act(core, state, obs).reshape(8, 16, 6).astype(bool))
    se_all = core.window_se(state.h_next, np.ones((8, 16, 6), bool))
    assert se_all.mean() < se4.mean()


def test_greedy_meets_target_whenever_all_on_does_and_uses_no_more_aps():
    core, state, obs = _core(n=6)
    a = GreedyOracle().act(core, state, obs).reshape(6, 16, 6).astype(bool)
    target = core.config.se_target_bps_hz
    se_g = core.window_se(state.h_next, a)
    se_all = core.window_se(state.h_next, np.ones_like(a))
    short = lambda se: np.maximum(target - se, 0).sum(axis=-1)  # noqa: E731
    assert np.all(short(se_g) <= short(se_all) + 1e-9)
    feasible = short(se_all) == 0
    assert feasible.any()
    assert np.all(se_g[feasible] >= target - 1e-9)
    assert np.all(a.any(-1).sum(-1) <= 16)
    # and it actually saves power on this scenario
    assert a.any(-1).sum(-1).mean() < 14


def test_greedy_beats_k_strongest_in_power_while_meeting_target():
    core, state, obs = _core(n=6)
    g = GreedyOracle().act(core, state, obs).reshape(6, 16, 6).astype(bool)
    k = KStrongest().act(core, state, obs).reshape(6, 16, 6).astype(bool)
    assert g.any(-1).sum() < k.any(-1).sum()


def test_all_on():
    core, state, obs = _core(n=2)
    assert np.all(AllOn().act(core, state, obs) == 1)


def test_make_baseline_specs_and_errors():
    b = make_baseline("k-strongest:k=2,by=large_scale")
    assert (b.k, b.by) == (2, "large_scale")
    with pytest.raises(ValueError, match="unknown policy 'k-strongst'.*k-strongest"):
        make_baseline("k-strongst")
    with pytest.raises(ValueError, match="unknown option.*kk.*allowed: by, k"):
        make_baseline("k-strongest:kk=2")
    with pytest.raises(ValueError, match="k-strongest.k: must be an integer >= 1"):
        make_baseline("k-strongest:k=0")
    with pytest.raises(ValueError, match="key=value"):
        make_baseline("k-strongest:4")


def test_causal_greedy_plays_the_oracle_of_the_previous_window():
    core, state, obs = _core(n=3)
    causal, oracle = make_baseline("greedy:window=previous"), GreedyOracle()
    assert causal.name == "greedy-causal" and causal.privileged
    # first decision: the oracle's search on the snapshot at the decision instant
    snap = np.stack([oracle._one(core, state.h_next[b, :1], state.beta_next[b]).reshape(-1) for b in range(3)])
    np.testing.assert_array_equal(causal.act(core, state, obs), snap)
    played = oracle.act(core, state, obs)  # what the oracle picks for window 0 ...
    state, obs, *_ = core.step(state, played)
    # ... is what the causal greedy plays in window 1 (it searched on window 0's channels)
    np.testing.assert_array_equal(causal.act(core, state, obs), played)
    with pytest.raises(ValueError, match="greedy.window: must be 'coming'"):
        make_baseline("greedy:window=next")


def test_baselines_built_from_specs_with_options_are_named_by_the_spec():
    from cfmarl.evaluate import make_baselines
    from cfmarl.registry import get_env

    ctrls = make_baselines(get_env("aps"), ["k-strongest:k=3,by=large_scale", "k-strongest:k=4,by=large_scale",
                                            "k-strongest", "all-on"])
    assert [c.name for c in ctrls] == ["k-strongest:k=3,by=large_scale", "k-strongest:k=4,by=large_scale",
                                       "k-strongest", "all-on"]
    assert [c.k for c in ctrls[:3]] == [3, 4, 4]
