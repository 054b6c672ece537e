"""Gaussian mixtures in the upper-Cholesky precision parametrisation, conditioning and the EA-CGMM
evidence weights (urllc_ee_virtual_cmdp eqs. 26-36), against hand-computed values and scipy."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2, multivariate_normal

from cfmarl.policies.offline.virtual_cmdp import gmm



@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _random_upper(g, d, rng):
    u = np.triu(rng.standard_normal((g, d, d)) * 0.3, 1)
    u[:, np.arange(d), np.arange(d)] = rng.uniform(0.5, 2.0, (g, d))
    return u


def test_one_dimensional_log_prob_by_hand():
    # N(0.5; 0, 1/4): -1/2 (2 * 0.5)^2 + ln 2 - 1/2 ln 2 pi
    lp = gmm.gmm_log_prob(torch.tensor([[0.5]]), torch.zeros(1, 1), torch.zeros(1, 1, 1), torch.tensor([[[[2.0]]]]))
    assert lp.item() == pytest.approx(-0.5 + math.log(2.0) - 0.5 * math.log(2 * math.pi), abs=1e-12)
    assert lp.item() == pytest.approx(-0.72579, abs=1e-5)


def test_mixture_log_prob_matches_scipy():
    rng = np.random.default_rng(0)
    g, d = 3, 3
    u = _random_upper(g, d, rng)
    mu = rng.standard_normal((g, d))
    logits = rng.standard_normal(g)
    x = rng.standard_normal((5, d))
    pi = np.exp(logits) / np.exp(logits).sum()
    want = np.log(sum(pi[j] * multivariate_normal(mu[j], np.linalg.inv(u[j].T @ u[j])).pdf(x) for j in range(g)))
    got = gmm.gmm_log_prob(torch.tensor(x), torch.tensor(logits).expand(5, g), torch.tensor(mu).expand(5, g, d),
                           torch.tensor(u).expand(5, g, d, d))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


def test_upper_from_raw_is_a_precision_factor():
    diag_raw, off_raw = torch.tensor([[0.0, -3.0, 2.0]]), torch.tensor([[1.0, 2.0, 3.0]])
    u = gmm.upper_from_raw(diag_raw, off_raw)[0]
    np.testing.assert_allclose(torch.diagonal(u).numpy(),
                               np.log1p(np.exp([0.0, -3.0, 2.0])) + gmm.MIN_DIAG, rtol=1e-12)
    np.testing.assert_array_equal(u.numpy()[[0, 0, 1], [1, 2, 2]], [1.0, 2.0, 3.0])
    assert np.all(np.tril(u.numpy(), -1) == 0)
    assert np.all(np.linalg.eigvalsh((u.T @ u).numpy()) > 0)
    with pytest.raises(ValueError, match="off_raw"):
        gmm.upper_from_raw(diag_raw, off_raw[:, :2])


def test_samples_have_the_component_moments():
    rng = np.random.default_rng(1)
    u = _random_upper(1, 3, rng)
    mu = np.array([[1.0, -2.0, 0.5]])
    n = 100_000
    x = gmm.sample_components(torch.ones(n, 1), torch.tensor(mu).expand(n, 1, 3), torch.tensor(u).expand(n, 1, 3, 3),
                              torch.Generator().manual_seed(0)).numpy()
    cov = np.linalg.inv(u[0].T @ u[0])
    se = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(0) - mu[0]) < 4 * se)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.03 * np.abs(cov).max())


def test_conditioning_by_hand():
    # Sigma = [[1, .6], [.6, 1]]: precision [[1.5625, -0.9375], [-0.9375, 1.5625]] = U^T U with
    # U = [[1.25, -0.75], [0, 1]]; given x2 = 1: mean 0.6, variance 0.64 (precision factor 1.25)
    u = torch.tensor([[[[1.25, -0.75], [0.0, 1.0]]]])
    np.testing.assert_allclose((u[0, 0].T @ u[0, 0]).numpy(), np.linalg.inv([[1.0, 0.6], [0.6, 1.0]]), atol=1e-12)
    mean, u11 = gmm.condition(torch.zeros(1, 1, 2), u, torch.tensor([[1.0]]), 1)
    assert mean.item() == pytest.approx(0.6, abs=1e-12)
    assert 1.0 / u11.item() ** 2 == pytest.approx(0.64, abs=1e-12)


def test_conditioning_matches_the_gaussian_formula():
    rng = np.random.default_rng(2)
    d, m = 5, 2
    u = _random_upper(1, d, rng)[0]
    mu = rng.standard_normal(d)
    w = rng.standard_normal(d - m)
    s = np.linalg.inv(u.T @ u)
    want_mean = mu[:m] + s[:m, m:] @ np.linalg.solve(s[m:, m:], w - mu[m:])
    want_cov = s[:m, :m] - s[:m, m:] @ np.linalg.solve(s[m:, m:], s[m:, :m])
    mean, u11 = gmm.condition(torch.tensor(mu)[None, None], torch.tensor(u)[None, None], torch.tensor(w)[None], m)
    np.testing.assert_allclose(mean[0, 0].numpy(), want_mean, rtol=1e-10)
    np.testing.assert_allclose(np.linalg.inv((u11[0, 0].T @ u11[0, 0]).numpy()), want_cov, rtol=1e-10)
    # the marginal of w has precision U22^T U22
    np.testing.assert_allclose(np.linalg.inv(u[m:, m:].T @ u[m:, m:]), s[m:, m:], rtol=1e-10)


def test_evidence_weights_by_hand():
    assert chi2.ppf(0.97, 1) == pytest.approx(4.7093, abs=1e-4)
    assert chi2.ppf(0.97, 2) == pytest.approx(-2 * math.log(0.03), abs=1e-10)  # 7.0131
    # one component explains w = 1 (eps = 1 < 4.709): all its weight
    u = torch.tensor([[[[1.25, -0.75], [0.0, 1.0]]]])
    assert gmm.evidence_weights(torch.zeros(1, 1, 2), u, torch.tensor([[1.0]]), 1, 0.03).item() == 1.0
    # two unit components with w-means 0 and 3, w = 10: eps = 100, 49 > 4.709, so softmax(-50, -24.5)
    mu = torch.tensor([[[0.0, 0.0], [0.0, 3.0]]])
    eye = torch.eye(2).expand(1, 2, 2, 2)
    wts = gmm.evidence_weights(mu, eye, torch.tensor([[10.0]]), 1, 0.03)
    np.testing.assert_allclose(wts[0].numpy(), [math.exp(-25.5) / (1 + math.exp(-25.5)), 1 / (1 + math.exp(-25.5))],
                               rtol=1e-9)
    assert wts[0, 0].item() == pytest.approx(8.4e-12, rel=0.01)
    # both inside (w = 1.5: eps 2.25 each): equal weights whatever the prior, unless use_prior
    logits = torch.tensor([[0.0, math.log(3.0)]])
    wts = gmm.evidence_weights(mu, eye, torch.tensor([[1.5]]), 1, 0.03, logits)
    np.testing.assert_allclose(wts[0].numpy(), [0.5, 0.5])
    wts = gmm.evidence_weights(mu, eye, torch.tensor([[1.5]]), 1, 0.03, logits, use_prior=True)
    np.testing.assert_allclose(wts[0].numpy(), [0.25, 0.75])
    with pytest.raises(ValueError, match="alpha"):
        gmm.evidence_weights(mu, eye, torch.tensor([[1.5]]), 1, 1.5)


def test_packed_log_prob_equals_the_dense_factor_value_and_gradients():
    """The fit's packed form of ln N(x; mu_g, (U_g^T U_g)^-1) (U's diagonal and strictly upper entries, no (N, G,
    D, D) tensor) equals component_log_prob on upper_from_raw's U, values and gradients, D = 1 included."""
    torch.manual_seed(0)
    for d in (1, 2, 7):
        x = torch.randn(5, d)
        mu = torch.randn(5, 3, d, requires_grad=True)
        diag_raw = torch.randn(5, 3, d, requires_grad=True)
        off = torch.randn(5, 3, d * (d - 1) // 2, requires_grad=True)
        dense = gmm.component_log_prob(x, mu, gmm.upper_from_raw(diag_raw, off))
        want = torch.autograd.grad(dense.sum(), (mu, diag_raw, off), allow_unused=True)
        packed = gmm.packed_component_log_prob(x, mu, gmm.diag_from_raw(diag_raw), off)
        got = torch.autograd.grad(packed.sum(), (mu, diag_raw, off), allow_unused=True)
        torch.testing.assert_close(packed, dense)
        for g, w in zip(got, want):
            if w is None:
                assert g is None or not g.any()
            else:
                torch.testing.assert_close(g, w)
    with pytest.raises(ValueError, match="off_raw: last dimension must be D"):
        gmm.packed_component_log_prob(x, mu, gmm.diag_from_raw(diag_raw), off[..., :2])


def test_upper_from_raw_places_the_packed_entries_row_by_row():
    """upper_from_raw puts the i-th packed entry at the i-th strictly upper position read row by row: the same
    tensor, and the same gradients, as the row / column indexing it replaced (a flat copy, 5x faster)."""
    torch.manual_seed(1)
    d = 6
    diag_raw = torch.randn(4, 2, d, requires_grad=True)
    off = torch.randn(4, 2, d * (d - 1) // 2, requires_grad=True)
    rows, cols = torch.triu_indices(d, d, offset=1)
    want = torch.diag_embed(gmm.diag_from_raw(diag_raw)).clone()
    want[..., rows, cols] = off
    got = gmm.upper_from_raw(diag_raw, off)
    assert torch.equal(got, want)
    weight = torch.arange(d * d, dtype=got.dtype).view(d, d)
    g_got = torch.autograd.grad((got * weight).sum(), (diag_raw, off))
    g_want = torch.autograd.grad((want * weight).sum(), (diag_raw, off))
    for a, b in zip(g_got, g_want):
        assert torch.equal(a, b)
    assert torch.equal(off.detach()[0, 0, :d - 1], got.detach()[0, 0, 0, 1:])  # row 0 first, in column order
