"""Hand-checked multi-antenna precoding math (WMMSE, RZF, MRT) and scalar power-control math."""

import numpy as np
import pytest
from scipy.optimize import linprog

from cfmarl.envs.physics import mimo
from cfmarl.envs.power_control import objectives as obj


def _network(seed=0, b=3, k=5, nr=2, n_oru=5, nt=4, cluster=3):
    rng = np.random.default_rng(seed)
    beta = 10 ** rng.uniform(0.0, 3.0, (b, k, 1, n_oru, 1))
    shape = (b, k, nr, n_oru, nt)
    h = np.sqrt(beta / 2) * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    top = np.argsort(-beta[:, :, 0, :, 0], axis=-1)[..., :cluster]  # (B, K, cluster)
    serve_kl = np.zeros((b, k, n_oru), bool)
    np.put_along_axis(serve_kl, top, True, axis=-1)
    return h, np.swapaxes(serve_kl, 1, 2)


def _rate_direct(h, v, k, noise=1.0):
    """log2 det(I + H_k V_k V_k^H H_k^H (noise I + sum_{j != k} H_k V_j V_j^H H_k^H)^-1), one copy."""
    hk = h[k].reshape(h.shape[1], -1)
    vs = [v[j].reshape(-1, v.shape[-1]) for j in range(v.shape[0])]
    interf = noise * np.eye(hk.shape[0]) + sum(hk @ vs[j] @ vs[j].conj().T @ hk.conj().T
                                               for j in range(len(vs)) if j != k)
    sig = hk @ vs[k] @ vs[k].conj().T @ hk.conj().T
    return np.log2(np.linalg.det(np.eye(hk.shape[0]) + sig @ np.linalg.inv(interf)).real)


def test_rates_match_the_log_det_formula():
    h, serve = _network()
    v = mimo.mrt(h, serve, 1.0)
    r = mimo.rates(mimo.effective_channels(h, v))
    for k in range(h.shape[1]):
        assert r[0, k] == pytest.approx(_rate_direct(h[0], v[0], k), rel=1e-10)


def test_log2_det_w_equals_the_rate_at_the_mmse_receiver():
    h, serve = _network(1)
    s = mimo.effective_channels(h, mimo.c_rzf(h, 1.0) * 0.7)
    u, w = mimo.mmse_receivers(s)
    np.testing.assert_allclose(np.linalg.slogdet(w)[1] / np.log(2), mimo.rates(s), rtol=1e-9)


@pytest.mark.parametrize("served_only", [False])
def test_wmmse_sweeps_never_decrease_the_weighted_sum_rate_and_meet_power(served_only):
    h, serve = _network(2)
    alpha = np.random.default_rng(0).uniform(1.0, 2.0, h.shape[:2])
    v = mimo.mrt(h, serve, 1.0)
    s = mimo.effective_channels(h, v)
    prev = (alpha * mimo.rates(s)).sum(-1)
    for _ in range(25):
        u, w = mimo.mmse_receivers(s)
        v, mu, s = mimo.wmmse_precoder_sweep(h, u, w, alpha, v, serve, 1.0, served_only=served_only, s=s)
        cur = (alpha * mimo.rates(s)).sum(-1)
        assert np.all(cur >= prev - 1e-9 * np.abs(prev))
        prev = cur
        p = mimo.oru_powers(v)
        assert np.all(p <= 1.0 + 1e-9)
        np.testing.assert_allclose(p[mu > 0], 1.0, rtol=1e-8)  # an active multiplier means a full budget
    np.testing.assert_allclose(s, mimo.effective_channels(h, v), atol=1e-9)
    assert np.all(np.abs(v[~np.swapaxes(serve, 1, 2)]) == 0)  # no power from non-serving O-RUs


def test_single_serving_oru_reduces_to_shi_2011():
    """One O-RU per user: the block update is Shi et al.'s
    V_ik = (sum_j a_j H_jk^H U_j W_j U_j^H H_jk + mu I)^-1 a_i H_ik^H U_i W_i."""
    h, serve = _network(3, cluster=1)
    rng = np.random.default_rng(1)
    v = mimo.mrt(h, serve, 1.0)
    u, w = mimo.mmse_receivers(mimo.effective_channels(h, v))
    alpha = rng.uniform(1.0, 2.0, h.shape[:2])
    v_new, mu, _ = mimo.wmmse_precoder_sweep(h, u, w, alpha, v, serve, 1.0)
    b, k_users, nr, n_oru, nt = h.shape
    for bb in range(b):
        for l in range(n_oru):
            a = sum(alpha[bb, j] * h[bb, j, :, l].conj().T @ u[bb, j] @ w[bb, j] @ u[bb, j].conj().T @ h[bb, j, :, l]
                    for j in range(k_users))
            for i in np.flatnonzero(serve[bb, l]):
                rhs = alpha[bb, i] * h[bb, i, :, l].conj().T @ u[bb, i] @ w[bb, i]
                expect = np.linalg.solve(a + mu[bb, l] * np.eye(nt), rhs)
                np.testing.assert_allclose(v_new[bb, i, l], expect, rtol=1e-8, atol=1e-12)


def test_rzf_zero_forces_when_regularisation_vanishes():
    h, _ = _network(4, k=3, nr=2, n_oru=2, nt=4)  # 6 receive antennas, 8 transmit antennas
    v = mimo.c_rzf(h, 1.0, reg_scale=1e-9)
    s = mimo.effective_channels(h, v)
    k = h.shape[1]
    leak = max(np.abs(s[:, i, j]).max() for i in range(k) for j in range(k) if i != j)
    own = min(np.abs(s[:, i, i]).max() for i in range(k))
    assert leak < 1e-5 * own
    assert np.all(mimo.oru_powers(v).max(-1) == pytest.approx(1.0))  # the bottleneck O-RU at its budget


def test_precoder_ordering_on_seeded_draws():
    """Expected ordering (physics_reference.md (ix)): WMMSE from C-RZF >= C-RZF > D-RZF > MRT, on average."""
    sums = {n: [] for n in ("wmmse", "crzf", "drzf", "mrt")}
    for seed in range(6):
        h, serve = _network(10 + seed, b=2, k=6, n_oru=8)
        everyone = np.ones_like(serve)
        vc = mimo.c_rzf(h, 1.0)
        sums["crzf"].append(mimo.rates(mimo.effective_channels(h, vc)).sum(-1))
        sums["drzf"].append(mimo.rates(mimo.effective_channels(h, mimo.d_rzf(h, serve, 1.0))).sum(-1))
        sums["mrt"].append(mimo.rates(mimo.effective_channels(h, mimo.mrt(h, serve, 1.0))).sum(-1))
        v, s = vc, mimo.effective_channels(h, vc)
        for _ in range(10):
            u, w = mimo.mmse_receivers(s)
            v, _, s = mimo.wmmse_precoder_sweep(h, u, w, np.ones(h.shape[:2]), v, everyone, 1.0, s=s)
        sums["wmmse"].append(mimo.rates(s).sum(-1))
    m = {n: np.concatenate(x) for n, x in sums.items()}
    assert np.all(m["wmmse"] >= m["crzf"] - 1e-9)
    assert m["crzf"].mean() > m["drzf"].mean() > m["mrt"].mean()


# ------------------------------------------------------------------ scalar power control
def test_two_user_max_min_solved_on_paper():
    """G = [[1, .5], [.25, 1]], sigma^2 = 1, P = 1. With p1 = 1: 1/(0.5 p2 + 1) = p2/1.25 gives
    0.5 p2^2 + p2 - 1.25 = 0, p2 = sqrt(3.5) - 1 = 0.8708 <= 1 (p2 = 1 would need p1 = 1.16 > 1),
    so t* = (sqrt(3.5) - 1)/1.25 = 0.69666."""
    g = np.array([[[1.0, 0.5], [0.25, 1.0]]])
    t, p = obj.max_min_optimum(g, 1.0, 1.0)
    assert t[0] == pytest.approx((np.sqrt(3.5) - 1) / 1.25, rel=1e-12)
    np.testing.assert_allclose(p[0], [1.0, np.sqrt(3.5) - 1], rtol=1e-12)
    np.testing.assert_allclose(obj.sinr(g, p, 1.0)[0][0], t[0], rtol=1e-12)


def _feasible(g, t, noise, pmax):
    """LP feasibility of SINR >= t with 0 <= p <= pmax: G_kk p_k - t sum_{j!=k} G_kj p_j >= t noise."""
    k = g.shape[0]
    a = -(np.diag(np.diag(g)) - t * (g - np.diag(np.diag(g))))
    res = linprog(np.zeros(k), A_ub=a, b_ub=-t * noise * np.ones(k), bounds=[(0, pmax)] * k, method="highs")
    return res.status == 0


def test_perron_frobenius_max_min_equals_bisection_with_lp_feasibility():
    rng = np.random.default_rng(5)
    g = rng.uniform(0.01, 0.3, (1, 4, 4)) + np.diag(rng.uniform(1, 3, 4))[None]
    t, _ = obj.max_min_optimum(g, 0.1, 1.0)
    lo, hi = 0.0, 100.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _feasible(g[0], mid, 0.1, 1.0) else (lo, mid)
    assert t[0] == pytest.approx(lo, rel=1e-6)


def test_max_product_is_the_global_optimum_and_gradients_are_exact():
    rng = np.random.default_rng(6)
    g = rng.uniform(0.01, 0.2, (2, 5, 5)) + np.eye(5) * rng.uniform(1, 2, (2, 1, 5))
    p = obj.max_product_optimum(g, 0.05, 1e-3, 1.0)
    best = np.log(obj.sinr(g, p, 0.05)[0]).sum(-1)
    for _ in range(200):  # no random feasible point does better
        q = 10 ** rng.uniform(-3, 0, (2, 5))
        assert np.all(np.log(obj.sinr(g, q, 0.05)[0]).sum(-1) <= best + 1e-7)
    for name in ("max_sum_rate", "max_product"):  # analytic gradient vs central differences
        x = rng.uniform(0.1, 1.0, 5)
        val, grad = obj._value_and_grad(name, g[0], x, 0.05, 1e-6)
        num = [(obj._value_and_grad(name, g[0], x + e, 0.05, 1e-6)[0]
                - obj._value_and_grad(name, g[0], x - e, 0.05, 1e-6)[0]) / 2e-6 for e in np.eye(5) * 1e-6]
        np.testing.assert_allclose(grad, num, rtol=1e-5)


def test_lbfgs_refinement_never_lowers_the_objective_and_stays_in_bounds():
    rng = np.random.default_rng(7)
    g = rng.uniform(0.01, 0.2, (3, 6, 6)) + np.eye(6) * rng.uniform(1, 2, (3, 1, 6))
    p0 = rng.uniform(0.01, 1.0, (3, 6))
    for name in ("max_sum_rate", "max_product"):
        p = obj.lbfgs_maximize(name, g, 0.05, p0, 1e-3, 1.0)
        assert np.all((p >= 1e-3) & (p <= 1.0))
        f = lambda q: obj._value_and_grad(name, g[b], q, 0.05, 1e-6)[0]  # noqa: E731
        for b in range(3):
            assert f(p[b]) >= f(p0[b]) - 1e-9


def test_grouped_sweep_of_singletons_is_the_sequential_sweep_and_groups_keep_the_budget():
    h, serve = _network(8, n_oru=6)
    v = mimo.mrt(h, serve, 1.0)
    u, w = mimo.mmse_receivers(mimo.effective_channels(h, v))
    alpha = np.ones(h.shape[:2])
    seq = mimo.wmmse_precoder_sweep(h, u, w, alpha, v, serve, 1.0)
    single = mimo.wmmse_precoder_sweep(h, u, w, alpha, v, serve, 1.0, groups=[np.array([l]) for l in range(6)])
    for a, b in zip(seq, single):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    rounds = [np.arange(0, 6, 2), np.arange(1, 6, 2)]
    par, mu, s = mimo.wmmse_precoder_sweep(h, u, w, alpha, v, serve, 1.0, groups=rounds)
    np.testing.assert_allclose(s, mimo.effective_channels(h, par), atol=1e-9)
    p = mimo.oru_powers(par)
    assert np.all(p <= 1 + 1e-9) and np.allclose(p[mu > 0], 1.0)


def test_d_rzf_is_the_local_regularised_inverse():
    h, serve = _network(9, b=1, k=3, n_oru=2)
    v = mimo.d_rzf(h, serve, 2.0)
    for l in range(2):
        hl = h[0, :, :, l].reshape(-1, h.shape[-1])
        wl = hl.conj().T @ np.linalg.inv(hl @ hl.conj().T + (3 * 2 / 2.0) * np.eye(6))
        wl = wl.reshape(h.shape[-1], 3, 2).transpose(1, 0, 2) * serve[0, l][:, None, None]
        wl *= np.sqrt(2.0 / np.sum(np.abs(wl) ** 2))
        np.testing.assert_allclose(v[0, :, l], wl, rtol=1e-9, atol=1e-12)


def test_power_constrained_solve_with_a_singular_block_and_zero_directions():
    """A_ll singular (fewer receive dimensions than antennas) with R partly in its null space and
    partly zero: R's null-space part is dropped (rounding noise in the WMMSE update), the range
    part alone (1.5^2 = 2.25 > 1) binds the budget: mu = 3 - 2 = 1, X[0, 0] = 3 / (2 + 1) = 1."""
    a = np.zeros((1, 4, 4), complex)
    a[0, 0, 0], a[0, 1, 1] = 2.0, 0.5  # rank 2
    r = np.zeros((1, 4, 2), complex)
    r[0, 0, 0], r[0, 2, 1] = 3.0, 1.0j  # one component in the null space, one direction empty
    x, mu = mimo._solve_power_constrained(a, r, 1.0)
    assert np.all(np.isfinite(x)) and mu[0] == pytest.approx(1.0, rel=1e-12)
    assert np.sum(np.abs(x) ** 2) == pytest.approx(1.0, rel=1e-10)
    r_range = r[0] * np.array([1, 1, 0, 0])[:, None]
    np.testing.assert_allclose((a[0] + mu[0] * np.eye(4)) @ x[0], r_range, atol=1e-12)
    assert np.all(x[0, 2:] == 0)  # nothing in the null space of A
