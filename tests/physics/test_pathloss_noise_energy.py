"""Path loss, noise and power model against the reference sheet's worked numbers."""

import numpy as np
import pytest

from cfmarl.envs.physics import energy, pathloss
from cfmarl.envs.physics.units import dbm_to_watt, thermal_noise_power_w, watt_to_dbm


@pytest.mark.parametrize("fc_hz, d_m, expected_db", [(1.9e9, 1.0, 38.02), (1.9e9, 100.0, 78.02),
                                                    (3.5e9, 100.0, 83.33)])
def test_free_space_reference_values(fc_hz, d_m, expected_db):
    assert pathloss.free_space_pl_db(np.array(d_m), fc_hz) == pytest.approx(expected_db, abs=0.01)


def test_umi_38901_reference_values():
    assert pathloss.umi_38901_breakpoint_m(3.5e9, 10.0, 1.5) == pytest.approx(210.15, abs=0.01)
    assert pathloss.umi_38901_los_pl_db(np.array(100.0), 3.5e9, 10.0, 1.5) == pytest.approx(85.314, abs=1e-3)
    assert pathloss.umi_38901_nlos_pl_db(np.array(100.0), 3.5e9, 10.0, 1.5) == pytest.approx(104.644, abs=1e-3)


def test_umi_38901_uses_3d_distance_and_clamps_below_10m():
    # at d2D = 10 m the 3-D distance is sqrt(100 + 8.5^2) = 13.124 m, not 10 m
    expected = 32.4 + 21 * np.log10(np.hypot(10.0, 8.5)) + 20 * np.log10(3.5)
    assert pathloss.umi_38901_los_pl_db(np.array(10.0), 3.5e9) == pytest.approx(expected, abs=1e-9)
    assert pathloss.umi_38901_los_pl_db(np.array(2.0), 3.5e9) == pathloss.umi_38901_los_pl_db(np.array(10.0), 3.5e9)


def test_umi_38901_second_slope_beyond_breakpoint():
    d = 400.0
    d3d = np.hypot(d, 8.5)
    d_bp = pathloss.umi_38901_breakpoint_m(3.5e9, 10.0, 1.5)
    expected = 32.4 + 40 * np.log10(d3d) + 20 * np.log10(3.5) - 9.5 * np.log10(d_bp**2 + 8.5**2)
    assert pathloss.umi_38901_los_pl_db(np.array(d), 3.5e9) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("fn", [lambda d: pathloss.umi_38901_los_pl_db(d, 3.5e9),
                                lambda d: pathloss.umi_38901_nlos_pl_db(d, 3.5e9),
                                lambda d: pathloss.umi_36814_los_pl_db(d, 2e9),
                                lambda d: pathloss.umi_36814_nlos_pl_db(d, 2e9),
                                lambda d: pathloss.free_space_pl_db(d, 3.5e9),
                                lambda d: pathloss.ngo2017_three_slope_pl_db(d)])
def test_path_loss_is_non_decreasing_in_distance(fn):
    d = np.linspace(1.0, 2000.0, 5000)
    assert np.all(np.diff(fn(d)) >= -1e-9)


def test_umi_38901_nlos_never_below_los():
    d = np.linspace(10, 1000, 500)
    assert np.all(pathloss.umi_38901_nlos_pl_db(d, 3.5e9) >= pathloss.umi_38901_los_pl_db(d, 3.5e9))


def test_umi_38901_los_probability():
    p = pathloss.umi_38901_los_probability(np.array([5.0, 18.0, 100.0]))
    assert p[0] == 1.0 and p[1] == 1.0
    assert p[2] == pytest.approx(0.18 + np.exp(-100 / 36) * 0.82, abs=1e-12)


def test_umi_36814_values():
    # NLOS at 2 GHz: 36.7 log10(d_m) + 30.53 = 140.6 + 36.7 log10(d_km)
    assert pathloss.umi_36814_nlos_pl_db(np.array(1000.0), 2e9) == pytest.approx(140.63, abs=0.01)
    assert pathloss.umi_36814_los_pl_db(np.array(50.0), 2e9) == pytest.approx(22 * np.log10(50) + 28 + 20 * np.log10(2))
    assert pathloss.umi_36814_los_probability(np.array(18.0)) == pytest.approx(1.0)


def test_ngo2017_three_slope_reference_values():
    assert pathloss.ngo2017_hata_constant_db() == pytest.approx(140.7151, abs=1e-4)
    pl = pathloss.ngo2017_three_slope_pl_db(np.array([5.0, 10.0, 50.0, 100.0, 1000.0]))
    np.testing.assert_allclose(pl, [81.20, 81.20, 95.18, 105.72, 140.72], atol=0.01)


@pytest.mark.parametrize("bw_hz, nf_db, expected_dbm", [(20e6, 9.0, -91.99), (20e6, 7.0, -93.99),
                                                      (180e3, 9.0, -112.45)])
def test_noise_power_reference_values(bw_hz, nf_db, expected_dbm):
    n_w = thermal_noise_power_w(bw_hz, nf_db)
    assert watt_to_dbm(n_w) == pytest.approx(expected_dbm, abs=0.005)


def test_noise_power_in_watts():
    assert thermal_noise_power_w(20e6, 9.0) == pytest.approx(6.325e-13, rel=1e-3)
    assert dbm_to_watt(30.0) == pytest.approx(1.0)


def test_ngo2018_power_model():
    assert energy.ngo2018_fixed_power_w(1) == pytest.approx(1.025)
    p = energy.ngo2018_ap_power_w(np.array([1.0, 1.0, 0.5]), np.array([True, False, True]))
    np.testing.assert_allclose(p, [1.0 / 0.4 + 1.025, 0.0, 0.5 / 0.4 + 1.025])
    # traffic-dependent backhaul: 0.25 W per Gbit/s -> 0.025 W at 100 Mbit/s
    p_bh = energy.ngo2018_ap_power_w(np.array([1.0]), np.array([True]), throughput_bps=100e6)
    assert p_bh[0] - (2.5 + 1.025) == pytest.approx(0.025)
    ee = energy.energy_efficiency_bit_per_j(np.array([20e6, 5.0]), np.array([4.0, 0.0]))
    np.testing.assert_allclose(ee, [5e6, 0.0])
