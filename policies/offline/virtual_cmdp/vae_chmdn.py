"""VAE-ChMDN (urllc_ee_virtual_cmdp Sec. IV-C, Fig. 3) and EA-CGMM (Sec. IV-D, Alg. 1).

**VAE-ChMDN**: an encoder maps a sample x to q(z | x) = N(mu_z, diag sigma_z^2); the decoder maps z to a
G-component Gaussian mixture over x (weights, means and upper-triangular precision factors U_g with a
positive diagonal, eqs. 26-27). Loss (eq. 28): KL(q(z | x) || N(0, I)) - ln sum_g pi_g(z) N(x; mu_g(z),
(U_g(z)^T U_g(z))^-1) with z drawn from q by reparametrisation. (Eq. 28 prints the KL with its arguments
swapped; we use the standard VAE term, as the derivation of the ELBO requires.) Sampling (eq. 29): z ~ N(0,
I), a component g ~ Cat(pi(z)), x = mu_g + U_g^-1 eps.

**EA-CGMM**: a VAE-ChMDN over the joint x = [y; w] (the next state y first, the condition w = (s, a) or
features of it after), sampled conditionally (Alg. 1): z ~ N(0, I) gives a mixture over the joint; every
component is conditioned on w = w* (eqs. 32-33) and reweighted by the evidence that it explains w* (eqs.
34-36, :func:`.gmm.evidence_weights`); a component is drawn from those weights and y from its conditional.

``z_prior="conditional"`` (not in the paper; off by default) draws z from a learnt p(z | w) = N(m(w), diag s(w)^2)
instead of N(0, I). With the standard prior a z drawn for the condition w* decodes a mixture fitted to some other
(y, w), so few of its components explain w* and the evidence step falls back to the least bad one (measured on the
URLLC channel transitions: 1.01 credible components per draw, heavy-tailed errors). The prior network is fitted
beside the paper's loss to the encoder's posteriors, KL(q(z | y, w) || p(z | w)) with q held fixed (gradient stopped),
so the joint model - its encoder, decoder and loss - is exactly the paper's and only the z fed to Alg. 1 changes
(early stopping on the validation loss then watches the sum, so the kept epoch can differ).

``z_draws`` = k > 1 (not in the paper; 1 by default, a draw-time option that needs no refit) draws k candidate z per
condition and keeps one with probability proportional to its importance weight p(w* | z) p(z) / q(z) (q the prior
the candidates come from: N(0, I), or p(z | w) with the conditional prior), where p(w* | z) = sum_g pi_g(z) N(w*;
mu_w,g(z), (U22_g^T U22_g)^-1) is the likelihood of the condition under the decoded mixture's marginal: sampling /
importance resampling of the posterior p(z | w*) of the fitted joint, exact as k grows. Alg. 1 then runs on the kept
z. It costs k decodes a draw.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cfmarl.policies.offline.virtual_cmdp import gmm

_SOFTPLUS_ONE = math.log(math.e - 1.0)  # softplus(x) = 1
RESAMPLE_CHUNK_BYTES = 64 << 20  # EaCgmm.z_draws > 1: decoded precision factors held at once, at most


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class VaeChMdn(nn.Module):
    """VAE with a mixture-density decoder over R^dim (``components`` Gaussians with full precisions)."""

    def __init__(self, dim: int, components: int = 8, latent: int = 16, hidden: int = 128):
        super().__init__()
        for name, val in (("dim", dim), ("components", components), ("latent", latent), ("hidden", hidden)):
            if not isinstance(val, int) or val < 1:
                raise ValueError(f"{name}: must be an integer >= 1, got {val!r}")
        self.dim, self.components, self.latent = dim, components, latent
        self.n_off = dim * (dim - 1) // 2
        self.encoder = _mlp([dim, hidden, hidden, 2 * latent])
        self.trunk = nn.Sequential(_mlp([latent, hidden, hidden]), nn.SiLU())
        self.logits = nn.Linear(hidden, components)
        self.mu = nn.Linear(hidden, components * dim)
        self.diag = nn.Linear(hidden, components * dim)
        self.off = nn.Linear(hidden, components * self.n_off)
        with torch.no_grad():  # start at unit precision, components spread by the mean head's init
            self.diag.weight.mul_(0.01)
            self.diag.bias.fill_(_SOFTPLUS_ONE)
            self.off.weight.mul_(0.01)
            self.off.bias.zero_()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, -1)
        return mu, logvar.clamp(-12.0, 8.0)

    def _heads(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (N, latent) -> logits (N, G), means (N, G, D), raw diagonal (N, G, D) and strictly upper entries
        (N, G, D (D - 1) / 2) of the precision factors."""
        h = self.trunk(z)
        n, g, d = z.shape[0], self.components, self.dim
        return (self.logits(h), self.mu(h).view(n, g, d), self.diag(h).view(n, g, d).clamp(-20.0, 20.0),
                self.off(h).view(n, g, self.n_off))

    def mixture(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (N, latent) -> logits (N, G), means (N, G, D), upper precision factors (N, G, D, D)."""
        logits, mu, diag_raw, off = self._heads(z)
        return logits, mu, gmm.upper_from_raw(diag_raw, off)

    def log_prob_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """ln p(x | z) of the decoded mixture (N,), without forming its (N, G, D, D) precision factors (the same
        value as ``gmm.gmm_log_prob(x, *self.mixture(z))``)."""
        logits, mu, diag_raw, off = self._heads(z)
        comp = gmm.packed_component_log_prob(x, mu, gmm.diag_from_raw(diag_raw), off)
        return torch.logsumexp(torch.log_softmax(logits, -1) + comp, -1)

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. 28 per batch (means over rows): ``loss`` = ``nll`` + ``kl``; also the posterior's ``z_mean`` and
        ``z_logvar`` per row (not part of the loss)."""
        mu_z, logvar = self.encode(x)
        z = mu_z + torch.exp(0.5 * logvar) * torch.randn_like(mu_z)
        nll = -self.log_prob_given_z(x, z).mean()
        kl = 0.5 * (mu_z.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1).mean()
        return {"loss": nll + kl, "nll": nll, "kl": kl, "z_mean": mu_z, "z_logvar": logvar}

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return self.loss_terms(x)["loss"]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws (eq. 29): fresh z ~ N(0, I) per draw."""
        z = torch.randn(n, self.latent, generator=generator)
        logits, mu, u = self.mixture(z)
        return gmm.sample_components(torch.softmax(logits, -1), mu, u, generator)


Z_PRIORS = ("standard", "conditional")


class EaCgmm(nn.Module):
    """Evidence-aware conditional GMM: p(y | w) from a VAE-ChMDN over [y; w] (Alg. 1); ``z_prior``: where the z of a
    draw comes from, ``standard`` N(0, I) (the paper) or ``conditional`` a learnt p(z | w) (module docstring)."""

    def __init__(self, target_dim: int, cond_dim: int, components: int = 8, latent: int = 16, hidden: int = 128,
                 alpha: float = 0.03, use_prior: bool = False, z_prior: str = "standard", z_draws: int = 1):
        super().__init__()
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha: must be in (0, 1), got {alpha!r}")
        if z_prior not in Z_PRIORS:
            raise ValueError(f"z_prior: one of {', '.join(Z_PRIORS)}, got {z_prior!r}")
        if isinstance(z_draws, bool) or not isinstance(z_draws, int) or z_draws < 1:
            raise ValueError(f"z_draws: an integer >= 1, got {z_draws!r}")
        self.z_draws = z_draws
        self.target_dim, self.cond_dim, self.alpha, self.use_prior = target_dim, cond_dim, alpha, use_prior
        self.joint = VaeChMdn(target_dim + cond_dim, components, latent, hidden)
        self.z_prior = z_prior
        self.prior_net = _mlp([cond_dim, hidden, hidden, 2 * latent]) if z_prior == "conditional" else None

    def prior_params(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of p(z | w) (N, latent) each: zeros for the standard prior."""
        if self.prior_net is None:
            zero = torch.zeros(w.shape[0], self.joint.latent, dtype=w.dtype, device=w.device)
            return zero, zero
        mean, logvar = self.prior_net(w).chunk(2, -1)
        return mean, logvar.clamp(-12.0, 8.0)

    def loss(self, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.loss_terms(y, w)["loss"]

    def loss_terms(self, y: torch.Tensor, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """The joint's eq. 28 terms; with the conditional prior also ``prior_kl`` = KL(q(z | y, w) || p(z | w))
        (mean over rows, q's parameters detached), added to ``loss``."""
        terms = self.joint.loss_terms(torch.cat([y, w], -1))
        if self.prior_net is not None:
            q_mean, q_logvar = terms["z_mean"].detach(), terms["z_logvar"].detach()
            p_mean, p_logvar = self.prior_params(w)
            prior_kl = 0.5 * (p_logvar - q_logvar + (q_logvar.exp() + (q_mean - p_mean).pow(2)) / p_logvar.exp()
                              - 1.0).sum(-1).mean()
            terms["prior_kl"], terms["loss"] = prior_kl, terms["loss"] + prior_kl
        return terms

    @torch.no_grad()
    def draw_mixture(self, w: torch.Tensor, generator: torch.Generator | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The joint mixture (logits, means, precision factors) decoded from one z per row of w, z drawn from
        the prior (the generator's first draw), or with ``z_draws`` > 1 resampled from that many candidates."""
        if self.z_draws > 1:
            return self._resampled_mixture(w, generator)
        z = torch.randn(w.shape[0], self.joint.latent, generator=generator, dtype=w.dtype)
        if self.prior_net is not None:
            mean, logvar = self.prior_params(w)
            z = mean + torch.exp(0.5 * logvar) * z
        return self.joint.mixture(z)

    def _resampled_mixture(self, w: torch.Tensor, generator: torch.Generator | None
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """draw_mixture with ``z_draws`` = k candidates per row, one kept by importance weight (class docstring);
        decoded in chunks of rows so the k (G, D, D) precision factors of a chunk stay within RESAMPLE_CHUNK_BYTES."""
        n, k, latent, m = w.shape[0], self.z_draws, self.joint.latent, self.target_dim
        eps = torch.randn(n, k, latent, generator=generator, dtype=w.dtype)
        mean, logvar = self.prior_params(w)
        z = mean[:, None] + torch.exp(0.5 * logvar)[:, None] * eps
        # log p(z) - log q(z): 0 for the standard prior
        log_ratio = -0.5 * (z * z - eps * eps).sum(-1) + 0.5 * logvar.sum(-1, keepdim=True)
        dim, comps = self.joint.dim, self.joint.components
        rows = max(1, RESAMPLE_CHUNK_BYTES // (k * comps * dim * dim * w.element_size()))
        out = []
        for lo in range(0, n, rows):
            hi = min(n, lo + rows)
            logits, mu, u = self.joint.mixture(z[lo:hi].reshape(-1, latent))
            wk = w[lo:hi].repeat_interleave(k, 0)
            loglik = gmm.gmm_log_prob(wk, logits, mu[..., m:], u[..., m:, m:]).view(hi - lo, k)
            pick = torch.multinomial(torch.softmax(loglik + log_ratio[lo:hi], -1), 1, generator=generator)
            flat = torch.arange(hi - lo) * k + pick[:, 0]  # the kept candidate's row in the chunk's decodes
            out.append((logits[flat], mu[flat], u[flat]))
        return tuple(torch.cat(parts) for parts in zip(*out))

    @torch.no_grad()
    def conditional(self, w: torch.Tensor, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For conditions w (N, cond_dim): evidence weights (N, G), conditional means (N, G, m) and precision
        factors (N, G, m, m) of the mixture decoded from one z per row, drawn from the prior."""
        logits, mu, u = self.draw_mixture(w, generator)
        weights = gmm.evidence_weights(mu, u, w, self.target_dim, self.alpha, logits, self.use_prior)
        mean, u11 = gmm.condition(mu, u, w, self.target_dim)
        return weights, mean, u11

    @torch.no_grad()
    def sample(self, w: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One y ~ p(y | w) per row of w (Alg. 1)."""
        weights, mean, u11 = self.conditional(w, generator)
        return gmm.sample_components(weights, mean, u11, generator)
