"""Statistical and geometric checks of fading, drops and mobility (named tolerances)."""

import numpy as np
import pytest
from scipy import stats

from cfmarl.envs.physics import fading, geometry, mobility, shadowing
from cfmarl.envs.physics.units import SPEED_OF_LIGHT_MPS, kmh_to_mps

KS_P_MIN = 1e-3  # reject the reference distribution only below this p-value


def test_jakes_reference_values():
    v_for_10hz = 10.0 * SPEED_OF_LIGHT_MPS / 2e9
    assert fading.jakes_correlation(v_for_10hz, 2e9, 0.02) == pytest.approx(0.642512, abs=1e-6)
    assert fading.doppler_hz(kmh_to_mps(3.0), 3.5e9) == pytest.approx(9.729, abs=1e-3)
    assert fading.jakes_correlation(kmh_to_mps(3.0), 3.5e9, 1e-3) == pytest.approx(0.999066, abs=1e-6)


def test_rayleigh_power_is_exponential():
    h = fading.rayleigh(np.random.default_rng(0), (200_000,))
    assert np.mean(np.abs(h) ** 2) == pytest.approx(1.0, abs=0.01)
    assert stats.kstest(np.abs(h[:20_000]) ** 2, "expon").pvalue > KS_P_MIN


def test_gauss_markov_keeps_unit_power_and_lag1_correlation():
    rng = np.random.default_rng(1)
    rho, n_links, n_steps = 0.642512, 20_000, 30
    h = fading.rayleigh(rng, (n_links,))
    h0 = h.copy()
    for _ in range(n_steps):
        prev = h
        h = fading.gauss_markov_step(rng, h, rho)
    power = np.mean(np.abs(h) ** 2)
    corr = np.mean(h * np.conj(prev)).real
    se = 1.0 / np.sqrt(n_links)  # standard error of both sample means, ~0.007
    assert power == pytest.approx(1.0, abs=5 * se)
    assert corr == pytest.approx(rho, abs=5 * se)
    # lag-n correlation is rho^n (not J0 at n T)
    assert np.mean(h * np.conj(h0)).real == pytest.approx(rho ** n_steps, abs=5 * se)


def test_los_phase_is_unit_modulus_and_periodic_in_wavelength():
    lam = SPEED_OF_LIGHT_MPS / 3.5e9
    d = np.array([50.0, 50.0 + lam, 50.0 + lam / 2])
    ph = fading.los_phase(d, 3.5e9)
    np.testing.assert_allclose(np.abs(ph), 1.0, atol=1e-6)
    assert ph[1] == pytest.approx(ph[0], abs=1e-6)
    assert ph[2] == pytest.approx(-ph[0], abs=1e-6)
    # against the double-precision formula, far from the origin (phase error < 1e-6 rad)
    d = np.random.default_rng(0).uniform(1, 5000, 10_000)
    exact = np.exp(-2j * np.pi * d * 3.5e9 / SPEED_OF_LIGHT_MPS)
    assert np.abs(fading.los_phase(d, 3.5e9) - exact).max() < 1e-6


def test_rician_unit_power():
    rng = np.random.default_rng(2)
    los = fading.los_phase(rng.uniform(10, 100, 100_000), 3.5e9)
    h = fading.rician(los, fading.rayleigh(rng, (100_000,)), 9.0)
    assert np.mean(np.abs(h) ** 2) == pytest.approx(1.0, abs=0.01)


def test_disc_drop_is_uniform_in_area():
    pos = geometry.drop_uniform_disc(np.random.default_rng(3), 20_000, 150.0)
    r = np.hypot(pos[:, 0], pos[:, 1])
    assert r.max() <= 150.0
    # uniform in area <=> (r / R)^2 ~ U(0, 1)
    assert stats.kstest((r / 150.0) ** 2, "uniform").pvalue > KS_P_MIN


def test_wraparound_distance_is_min_over_shifted_copies():
    a = np.array([[1.0, 1.0]])
    b = np.array([[99.0, 1.0], [50.0, 50.0]])
    d = geometry.horizontal_distance_m(a, b, wrap_side_m=100.0)
    np.testing.assert_allclose(d, [[2.0, np.hypot(49, 49)]])
    # brute force over the 9 shifted copies
    rng = np.random.default_rng(4)
    p, q = rng.uniform(0, 100, (30, 2)), rng.uniform(0, 100, (20, 2))
    shifts = np.array([[i, j] for i in (-100, 0, 100) for j in (-100, 0, 100)])
    brute = np.min(np.linalg.norm(p[:, None, None] - (q[None, :, None] + shifts[None, None]), axis=-1), axis=-1)
    np.testing.assert_allclose(geometry.horizontal_distance_m(p, q, 100.0), brute)


def test_distance_3d():
    assert geometry.distance_3d_m(np.array(30.0), 10.0, 1.5) == pytest.approx(np.hypot(30.0, 8.5))


def _run_mobility(area: mobility.Area, cls: mobility.MobilityClass, n_ue=200, windows=300, slots=10, dt=0.05):
    rng = np.random.default_rng(5)
    if area.shape == "disc":
        pos = geometry.drop_uniform_disc(rng, n_ue, area.size_m)
    else:
        pos = geometry.drop_uniform_square(rng, n_ue, area.size_m)
    ones = np.ones(n_ue)
    params = (cls.mean_speed_mps * ones, cls.mean_leg_s * ones, cls.pause_probability * ones,
              cls.mean_pause_s * ones)
    state = mobility.init_state(pos, rng.random((n_ue, 3)), params[0], params[1])
    trajs, speeds, paused = [], [], []
    for _ in range(windows):
        traj, state = mobility.advance(state, rng.random((slots, n_ue, mobility.DRAWS_PER_SLOT)), dt, slots,
                                       *params, area)
        trajs.append(traj)
        speeds.append(state.speed.copy())
        paused.append(state.pause_left_s > 0)
    return np.concatenate(trajs), np.array(speeds), np.array(paused), state


@pytest.mark.parametrize("area", [mobility.Area("disc", 100.0), mobility.Area("square", 100.0),
                                  mobility.Area("square", 100.0, wrap=True)])
def test_mobility_stays_inside_the_area(area):
    traj, _, _, state = _run_mobility(area, mobility.VEHICULAR)
    assert area.contains(traj).all()
    assert area.contains(state.pos).all()


def test_mobility_speed_is_exponential_and_pauses_happen():
    cls = mobility.VEHICULAR
    traj, speeds, paused, _ = _run_mobility(mobility.Area("disc", 300.0), cls, n_ue=400, windows=400)
    # speeds at the end of the run are the last leg's draws: exponential with the class mean
    assert stats.kstest(speeds[-1] / cls.mean_speed_mps, "expon").pvalue > KS_P_MIN
    assert paused.mean() > 0.01  # some UEs are pausing at any time
    step = np.linalg.norm(np.diff(traj, axis=0), axis=-1)
    assert step.max() <= speeds.max() * 0.05 + 1e-9  # no jumps beyond speed x slot


def test_correlated_shadowing_statistics():
    rng = np.random.default_rng(6)
    ap = np.array([[0.0, 0.0], [10.0, 0.0], [1000.0, 0.0]])
    ue = np.array([[0.0, 5.0]])
    z = np.array([shadowing.ngo2017_correlated_shadowing_db(rng, ap, ue, sigma_db=8.0)[:, 0] for _ in range(20_000)])
    assert z.std(axis=0) == pytest.approx([8.0] * 3, rel=0.03)
    c = np.corrcoef(z.T)
    # corr = delta * 2^(-d/100) + (1 - delta) for the shared UE term
    assert c[0, 1] == pytest.approx(0.5 * 2 ** (-0.1) + 0.5, abs=0.02)
    assert c[0, 2] == pytest.approx(0.5 * 2 ** (-10) + 0.5, abs=0.02)


def test_gudmundson_keeps_marginal_std():
    rng = np.random.default_rng(7)
    s = 4.0 * rng.standard_normal(50_000)
    s2 = shadowing.gudmundson_update_db(rng, s, 5.0, 4.0, 10.0)
    assert s2.std() == pytest.approx(4.0, rel=0.02)
    assert np.corrcoef(s, s2)[0, 1] == pytest.approx(np.exp(-0.5), abs=0.02)
