"""MRT SINR: a 2-AP / 2-UE case worked out on paper, physical properties, and the
ergodic (UatF) form against Monte-Carlo."""

import numpy as np
import pytest

from cfmarl.envs.physics import precoding

# Channels h[l, k] (AP l -> UE k), chosen so the arithmetic is easy by hand.
H = np.array([[1.0, 0.5j],
              [0.2, 2.0]])
NOISE = 0.1


def test_two_by_two_all_links_by_hand():
    # both APs serve both UEs, P_max = 2 W -> p = 1 W per link; precoders
    # w00 = 1, w01 = conj(0.5j)/0.5 = -j, w10 = 1, w11 = 1
    # G00 = 1 + 0.2 = 1.2        |.|^2 = 1.44   (UE0's signal)
    # G01 = -j + 0.2             |.|^2 = 1.04   (UE1's stream at UE0)
    # G10 = 0.5j + 2             |.|^2 = 4.25   (UE0's stream at UE1)
    # G11 = 0.5j(-j) + 2 = 2.5   |.|^2 = 6.25   (UE1's signal)
    p = precoding.equal_power_split(np.ones((2, 2), bool), 2.0)
    np.testing.assert_allclose(p, 1.0)
    sinr = precoding.mrt_sinr(H, p, NOISE)
    np.testing.assert_allclose(sinr, [1.44 / (1.04 + 0.1), 6.25 / (4.25 + 0.1)], rtol=1e-12)


def test_two_by_two_partial_association_by_hand():
    # AP0 serves both (p = 1 W each), AP1 serves only UE1 (p = 2 W)
    # w00 = 1, w01 = -j, w10 = 0, w11 = sqrt(2)
    # G00 = 1                       -> 1
    # G01 = -j + 0.2 sqrt(2)        -> 1 + 0.08 = 1.08
    # G10 = 0.5j                    -> 0.25
    # G11 = 0.5 + 2 sqrt(2)         -> (0.5 + 2.828427)^2 = 11.078427
    assoc = np.array([[1, 1], [0, 1]], bool)
    p = precoding.equal_power_split(assoc, 2.0)
    np.testing.assert_allclose(p, [[1.0, 1.0], [0.0, 2.0]])
    sinr = precoding.mrt_sinr(H, p, NOISE)
    np.testing.assert_allclose(sinr, [1.0 / 1.18, (0.5 + 2 * np.sqrt(2)) ** 2 / 0.35], rtol=1e-12)
    np.testing.assert_allclose(precoding.spectral_efficiency(sinr), np.log2(1 + sinr))


def test_equal_power_split_budget_holds():
    rng = np.random.default_rng(0)
    assoc = rng.random((50, 8, 5)) < 0.4
    p = precoding.equal_power_split(assoc, 0.7)
    total = p.sum(axis=-1)
    np.testing.assert_allclose(total, np.where(assoc.any(-1), 0.7, 0.0))
    assert np.all(p[~assoc] == 0.0)


def _random_case(rng, L=8, K=4):
    beta = 10 ** rng.uniform(-9, -6, (L, K))
    h = np.sqrt(beta) * np.exp(1j * rng.uniform(0, 2 * np.pi, (L, K)))
    assoc = rng.random((L, K)) < 0.5
    return h, assoc


def test_sinr_never_exceeds_single_user_snr():
    # single-user SNR: the UE alone, every AP that serves it at full power, no interference
    rng = np.random.default_rng(1)
    noise = 1e-12
    for _ in range(200):
        h, assoc = _random_case(rng)
        sinr = precoding.mrt_sinr(h, precoding.equal_power_split(assoc, 1.0), noise)
        snr_single = (np.sqrt(1.0) * (np.abs(h) * assoc).sum(axis=0)) ** 2 / noise
        assert np.all(sinr <= snr_single * (1 + 1e-12))


def test_turning_a_link_on_never_lowers_that_ues_signal():
    rng = np.random.default_rng(2)
    for _ in range(200):
        h, assoc = _random_case(rng)
        l, k = rng.integers(8), rng.integers(4)
        off, on = assoc.copy(), assoc.copy()
        off[l, k], on[l, k] = False, True
        sig = [np.abs(np.diagonal(precoding.mrt_received_amplitudes(h, precoding.equal_power_split(a, 1.0))))[k]
               for a in (off, on)]
        assert sig[1] >= sig[0] - 1e-15


def test_mrt_power_per_ap_is_p_max_in_every_slot():
    rng = np.random.default_rng(3)
    h, assoc = _random_case(rng)
    p = precoding.equal_power_split(assoc, 1.0)
    w = np.sqrt(p) * np.conj(h) / np.abs(h)
    np.testing.assert_allclose((np.abs(w) ** 2).sum(axis=1), np.where(assoc.any(1), 1.0, 0.0))


def test_uatf_matches_ngo2017_explicit_form():
    # Ngo 2017: SINR_k = rho (sum_m sqrt(eta_mk) gamma_mk)^2 / (rho sum_k' sum_m eta_mk' gamma_mk' beta_mk + 1)
    rng = np.random.default_rng(4)
    beta = rng.uniform(0.1, 1.0, (6, 3))
    gamma = beta * rng.uniform(0.5, 1.0, beta.shape)
    eta = rng.uniform(0, 1, beta.shape) / gamma.sum(axis=1, keepdims=True)
    rho = 50.0
    explicit = rho * (np.sqrt(eta) * gamma).sum(0) ** 2 / (rho * (eta * gamma).sum(1) @ beta + 1)
    p = rho * eta * gamma  # power in units of the noise
    np.testing.assert_allclose(precoding.mrt_sinr_uatf(beta, gamma, p, 1.0), explicit, rtol=1e-12)


def test_uatf_matches_monte_carlo_with_rayleigh_fading():
    # perfect CSI (gamma = beta), conjugate beamforming x_l = sum_j sqrt(eta_lj) g_lj^* s_j with eta = p / beta;
    # UatF: signal |E G_kk|^2, interference Var(G_kk) + sum_{j != k} E|G_kj|^2
    rng = np.random.default_rng(5)
    L, K, n = 5, 3, 200_000
    beta = rng.uniform(0.2, 1.0, (L, K))
    p = rng.uniform(0.1, 1.0, (L, K))
    g = np.sqrt(beta) * (rng.standard_normal((n, L, K)) + 1j * rng.standard_normal((n, L, K))) / np.sqrt(2)
    w = np.sqrt(p / beta) * np.conj(g)
    G = np.einsum("nlk,nlj->nkj", g, w)
    diag = np.diagonal(G, axis1=1, axis2=2)
    signal = np.abs(diag.mean(0)) ** 2
    interf = diag.var(0) + (np.abs(G) ** 2).mean(0).sum(1) - (np.abs(diag) ** 2).mean(0)
    mc = signal / (interf + 0.5)
    np.testing.assert_allclose(precoding.mrt_sinr_uatf(beta, beta, p, 0.5), mc, rtol=0.02)
