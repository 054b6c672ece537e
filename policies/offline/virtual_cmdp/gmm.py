"""Gaussian mixtures with upper-triangular precision factors (urllc_ee_virtual_cmdp eqs. 26-36).

Component g of a mixture over R^D: weight pi_g, mean mu_g and an upper-triangular U_g with a positive
diagonal, precision U_g^T U_g (covariance Sigma_g = (U_g^T U_g)^-1, eq. 27), so

    ln N(x; mu_g, Sigma_g) = -1/2 ||U_g (x - mu_g)||^2 + sum_i ln U_g,ii - D/2 ln 2 pi,

and a draw is mu_g + U_g^-1 eps, eps ~ N(0, I) (one triangular solve, eq. 29).

**Conditioning** (EA-CGMM, eqs. 32-33 and the appendix): with x = [y; w] (target y of size m first) and
U = [[U11, U12], [0, U22]], the conditional of y given w is Gaussian with precision factor U11 and mean
mu1 - U11^-1 U12 (w - mu2); the marginal of w has precision U22^T U22 (the Schur complement of U^T U).

**Evidence** (eqs. 34-36): eps_j = ||U22_j (w - mu2_j)||^2 is chi-square with dim(w) degrees of freedom
under component j; the components that explain w (eps_j below the 1 - alpha quantile) share the weight
equally, and when none does, the weights are softmax_j(-1/2 eps_j + sum ln diag U22_j) (the marginal
likelihoods without the prior). As in the paper, the prior weights pi_j are not used in either branch
(``use_prior=True`` multiplies them in: the exact posterior responsibilities in the second branch).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

MIN_DIAG = 1e-4  # lower bound of diag(U): keeps the precision positive definite


def diag_from_raw(diag_raw: torch.Tensor) -> torch.Tensor:
    """The positive diagonal of U from the unconstrained network output: softplus(diag_raw) + MIN_DIAG."""
    return F.softplus(diag_raw) + MIN_DIAG


def _check_packed(d: int, off: torch.Tensor) -> None:
    if off.shape[-1] != d * (d - 1) // 2:
        raise ValueError(f"off_raw: last dimension must be D (D - 1) / 2 = {d * (d - 1) // 2}, got {off.shape[-1]}")


@functools.lru_cache(maxsize=32)
def _upper(d: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows, columns and flat positions (row * D + column) of the strictly upper entries of a (D, D) matrix, row
    by row - the packed order of the precision factors' off-diagonal entries."""
    rows, cols = torch.triu_indices(d, d, offset=1, device=device)
    return rows, cols, rows * d + cols


def upper_from_raw(diag_raw: torch.Tensor, off_raw: torch.Tensor) -> torch.Tensor:
    """Unconstrained network outputs -> U (..., D, D): diagonal softplus(diag_raw) + MIN_DIAG, the
    strictly upper entries ``off_raw`` (..., D (D - 1) / 2) row by row (copied into their flat positions: 5x
    faster than indexing rows and columns, the same tensor)."""
    d = diag_raw.shape[-1]
    _check_packed(d, off_raw)
    u = torch.diag_embed(diag_from_raw(diag_raw))
    u.view(*u.shape[:-2], d * d).index_copy_(-1, _upper(d, str(diag_raw.device))[2], off_raw)
    return u


def component_log_prob(x: torch.Tensor, mu: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """ln N(x; mu_g, (U_g^T U_g)^-1) for x (N, D), mu (N, G, D), U (N, G, D, D) -> (N, G)."""
    z = (u @ (x[:, None, :] - mu).unsqueeze(-1)).squeeze(-1)
    logdet = torch.log(torch.diagonal(u, dim1=-2, dim2=-1)).sum(-1)
    return -0.5 * (z * z).sum(-1) + logdet - 0.5 * x.shape[-1] * math.log(2.0 * math.pi)


def packed_component_log_prob(x: torch.Tensor, mu: torch.Tensor, diag: torch.Tensor, off: torch.Tensor
                              ) -> torch.Tensor:
    """:func:`component_log_prob` with U given packed - its positive diagonal ``diag`` (N, G, D) and strictly upper
    entries ``off`` (N, G, D (D - 1) / 2) row by row, as :func:`upper_from_raw` lays them out: U (x - mu) is summed
    row by row from the D (D - 1) / 2 products without forming the (N, G, D, D) factor (the fit's loss: forming,
    filling and back-propagating through that tensor took ~70 % of an EA-CGMM training step at D = 96)."""
    d = diag.shape[-1]
    _check_packed(d, off)
    rows, cols, _ = _upper(d, str(diag.device))
    diff = x[:, None, :] - mu
    z = (diag * diff).index_add(-1, rows, off * diff[..., cols])
    return -0.5 * (z * z).sum(-1) + torch.log(diag).sum(-1) - 0.5 * d * math.log(2.0 * math.pi)


def gmm_log_prob(x: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """ln sum_g pi_g N(x; mu_g, Sigma_g) with pi = softmax(logits (N, G)) -> (N,)."""
    return torch.logsumexp(torch.log_softmax(logits, -1) + component_log_prob(x, mu, u), -1)


def sample_components(probs: torch.Tensor, mu: torch.Tensor, u: torch.Tensor, generator: torch.Generator | None = None
                      ) -> torch.Tensor:
    """One draw per row: g ~ Cat(probs (N, G)), x = mu_g + U_g^-1 eps -> (N, D)."""
    g = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    idx = torch.arange(len(g), device=g.device)
    mu_g, u_g = mu[idx, g], u[idx, g]
    eps = torch.randn(mu_g.shape, generator=generator, dtype=mu_g.dtype, device=mu_g.device)
    return mu_g + torch.linalg.solve_triangular(u_g, eps.unsqueeze(-1), upper=True).squeeze(-1)


def condition(mu: torch.Tensor, u: torch.Tensor, w: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Conditional of the first m coordinates given the rest = w (N, D - m), per component:
    mu (N, G, D), U (N, G, D, D) -> mean (N, G, m), precision factor U11 (N, G, m, m)."""
    u11, u12 = u[..., :m, :m], u[..., :m, m:]
    diff = (w[:, None, :] - mu[..., m:]).unsqueeze(-1)
    shift = torch.linalg.solve_triangular(u11, u12 @ diff, upper=True).squeeze(-1)
    return mu[..., :m] - shift, u11


def credible(mu: torch.Tensor, u: torch.Tensor, w: torch.Tensor, m: int, alpha: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 34's test for the condition w (N, D - m): squared Mahalanobis distances eps_j (N, G) of w under each
    component's marginal, and the mask (N, G, bool) of the components that explain it (eps_j below the chi-square
    1 - alpha quantile)."""
    from scipy.stats import chi2

    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be in (0, 1), got {alpha}")
    z = (u[..., m:, m:] @ (w[:, None, :] - mu[..., m:]).unsqueeze(-1)).squeeze(-1)
    eps = (z * z).sum(-1)
    return eps < float(chi2.ppf(1.0 - alpha, w.shape[-1])), eps


def evidence_weights(mu: torch.Tensor, u: torch.Tensor, w: torch.Tensor, m: int, alpha: float,
                     logits: torch.Tensor | None = None, use_prior: bool = False) -> torch.Tensor:
    """EA-CGMM component weights pi'_j (N, G) for the condition w (N, D - m) (eqs. 34-36)."""
    is_credible, eps = credible(mu, u, w, m, alpha)
    u22 = u[..., m:, m:]
    mask = is_credible.to(mu.dtype)
    prior = torch.softmax(logits, -1) if use_prior and logits is not None else torch.ones_like(eps)
    inside = mask * prior
    score = -0.5 * eps + torch.log(torch.diagonal(u22, dim1=-2, dim2=-1)).sum(-1)
    if use_prior and logits is not None:
        score = score + torch.log_softmax(logits, -1)
    fallback = torch.softmax(score, -1)
    total = inside.sum(-1, keepdim=True)
    return torch.where(total > 0, inside / total.clamp_min(1e-300), fallback)
