"""Diffusion on the diffusers schedulers (with oracle noise predictors whose answers are known), the
(conditional) VAE and GAN, VAE-ChMDN's loss by hand and EA-CGMM on the two-moons toy (paper Fig. 7)."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

pytest.importorskip("diffusers")

from cfmarl.policies.offline.virtual_cmdp import gmm, metrics  # noqa: E402
from cfmarl.policies.offline.virtual_cmdp.generative import Cgan, Cvae, Diffusion, fit_gan  # noqa: E402
from cfmarl.policies.offline.virtual_cmdp.training import fit  # noqa: E402
from cfmarl.policies.offline.virtual_cmdp.vae_chmdn import EaCgmm, VaeChMdn  # noqa: E402


class _Oracle(torch.nn.Module):
    """The exact E[eps | x_t] for data N(mu, s^2) (s = 0: a point mass at mu)."""

    def __init__(self, abar, mu, s):
        super().__init__()
        self.abar, self.mu, self.s = abar, mu, s

    def forward(self, x, t, cond, keep):
        ab = self.abar[t][:, None]
        return torch.sqrt(1 - ab) * (x - torch.sqrt(ab) * self.mu) / (ab * self.s ** 2 + 1 - ab)


def test_schedule_reaches_noise_and_add_noise_inverts():
    d = Diffusion(2)
    sched = d.scheduler("ddpm")
    abar = sched.alphas_cumprod
    assert abar[-1].item() == pytest.approx(2e-5, rel=0.5)
    x0, eps = torch.randn(4, 2), torch.randn(4, 2)
    t = torch.tensor([0, 10, 50, 99])
    xt = sched.add_noise(x0, eps, t)
    back = (xt - torch.sqrt(1 - abar[t])[:, None] * eps) / torch.sqrt(abar[t])[:, None]
    torch.testing.assert_close(back, x0, rtol=1e-4, atol=1e-4)
    ddim = d.scheduler("ddim")
    ddim.set_timesteps(5)
    assert int(ddim.timesteps[0]) == 99  # trailing spacing starts at T - 1


@pytest.mark.parametrize("sampler,steps", [("ddim", 5), ("ddpm", 50), ("ddpm", 100)])
def test_oracle_for_a_point_mass_returns_it(sampler, steps):
    d = Diffusion(3)
    mu = torch.tensor([1.5, -2.0, 0.25])
    d.eps = _Oracle(d.scheduler("ddpm").alphas_cumprod, mu, 0.0)
    x = d.sample(64, sampler=sampler, steps=steps, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, mu.expand(64, 3), rtol=1e-4, atol=1e-4)


def test_oracle_for_a_gaussian_gives_its_moments_and_sampling_is_reproducible():
    d = Diffusion(1)
    d.eps = _Oracle(d.scheduler("ddpm").alphas_cumprod, torch.tensor([2.0]), 0.5)
    x = d.sample(20_000, sampler="ddpm", steps=100, generator=torch.Generator().manual_seed(0))[:, 0]
    # the mean exactly; the spread within 10 %: DDPM's reverse variance (beta-tilde, "fixed_small") is the
    # exact one only for a point mass (Ho et al. 2020, Sec. 3.2), so a Gaussian comes out slightly narrow
    assert abs(x.mean().item() - 2.0) < 0.02 and 0.45 < x.std().item() < 0.5
    y = d.sample(20_000, sampler="ddpm", steps=100, generator=torch.Generator().manual_seed(0))[:, 0]
    assert torch.equal(x, y)


def test_classifier_free_guidance_combination():
    d = Diffusion(1, cond_dim=1)
    calls = []

    class Stub(torch.nn.Module):  # conditional answer 1, unconditional 0
        def forward(self, x, t, c, keep):
            calls.append(keep.clone())
            return keep[:, None].expand_as(x).clone()

    d.eps = Stub()
    sched = d.scheduler("ddim")
    sched.set_timesteps(1)
    x = d.sample(2, cond=torch.zeros(2, 1), sampler="ddim", steps=1, guidance=2.0,
                 generator=torch.Generator().manual_seed(0))
    assert [k.tolist() for k in calls] == [[1.0, 1.0], [0.0, 0.0]]
    # one DDIM step from t = 99 with eps = (1 + 2) 1 - 2 * 0 = 3 lands on x0 = (x_T - sqrt(1 - abar) 3) / sqrt(abar)
    ab = sched.alphas_cumprod[99]
    x_t = torch.randn(2, 1, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, (x_t - torch.sqrt(1 - ab) * 3.0) / torch.sqrt(ab), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="cond"):
        d.sample(2, sampler="ddim", steps=1)
    with pytest.raises(ValueError, match="steps"):
        d.sample(2, cond=torch.zeros(2, 1), steps=0)
    with pytest.raises(ValueError, match="sampler"):
        d.sample(2, cond=torch.zeros(2, 1), sampler="euler")


def _conditional_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(n, 1, generator=g) * 4 - 2
    return c + 0.1 * torch.randn(n, 1, generator=g), c


@pytest.mark.parametrize("kind", ["diffusion", "cvae", "cgan"])
def test_conditional_models_learn_y_equals_c(kind):
    torch.manual_seed(0)
    y, c = _conditional_data(2048, 0)
    yv, cv = _conditional_data(256, 1)
    if kind == "cgan":
        model = Cgan(1, 1, latent=4, hidden=64)
        fit_gan(model, y, c, epochs=30, batch_size=128, lr=1e-3)
    else:
        model = Diffusion(1, 1, hidden=64, p_uncond=0.0) if kind == "diffusion" else Cvae(1, 1, latent=2, hidden=64)
        fit(model, model.loss, (y, c), (yv, cv), epochs=30, batch_size=128, lr=3e-3)
    ct = torch.linspace(-1.5, 1.5, 200)[:, None]
    kw = {"steps": 10} if kind == "diffusion" else {}
    out = model.sample(200, ct, generator=torch.Generator().manual_seed(2), **kw)
    assert metrics.mae(out.numpy(), ct.numpy()) < 0.35, kind  # the prior alone (y ~ U[-2, 2]) scores ~1.1


def test_vae_chmdn_loss_by_hand():
    """With the decoder's weights zero the mixture does not depend on z: the loss is -ln GMM(x) (scipy) plus
    the Gaussian KL of the encoder's output."""
    torch.manual_seed(0)
    m = VaeChMdn(2, components=2, latent=3, hidden=8).double()
    with torch.no_grad():
        for head in (m.logits, m.mu, m.diag, m.off):
            head.weight.zero_()
        m.logits.bias.copy_(torch.tensor([0.0, math.log(3.0)]))
        m.mu.bias.copy_(torch.tensor([0.0, 0.0, 2.0, -1.0]))
        m.diag.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 0.5]))
        m.off.bias.copy_(torch.tensor([0.3, -0.2]))
    x = torch.tensor([[0.5, 0.2], [1.0, -1.0]], dtype=torch.float64)
    terms = m.loss_terms(x)
    sp = lambda v: math.log1p(math.exp(v)) + 1e-4  # noqa: E731
    us = [np.array([[sp(0.0), 0.3], [0, sp(1.0)]]), np.array([[sp(-1.0), -0.2], [0, sp(0.5)]])]
    pdfs = [multivariate_normal(mu, np.linalg.inv(u.T @ u)).pdf(x.numpy()) for mu, u in zip([[0, 0], [2, -1]], us)]
    want_nll = -np.log(0.25 * pdfs[0] + 0.75 * pdfs[1]).mean()
    assert terms["nll"].item() == pytest.approx(want_nll, rel=1e-7)
    mu_z, logvar = m.encode(x)
    want_kl = (0.5 * (mu_z ** 2 + logvar.exp() - 1 - logvar).sum(-1)).mean().item()
    assert terms["kl"].item() == pytest.approx(want_kl, rel=1e-9)
    assert terms["loss"].item() == pytest.approx(want_nll + want_kl, rel=1e-7)


def test_vae_chmdn_fit_loss_is_the_mixture_log_prob_of_the_decoded_factors():
    """The training loss's ln p(x | z) (packed precision factors) equals gmm_log_prob on mixture(z)'s dense U."""
    torch.manual_seed(1)
    m = VaeChMdn(5, components=3, latent=2, hidden=8).double()
    x, z = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    torch.testing.assert_close(m.log_prob_given_z(x, z), gmm.gmm_log_prob(x, *m.mixture(z)))


def _two_modes(n, seed):
    g = np.random.default_rng(seed)
    centre = np.where(g.random(n)[:, None] < 0.5, [[-2.0, 0.0]], [[2.0, 1.0]])
    return torch.tensor(centre + 0.3 * g.standard_normal((n, 2)), dtype=torch.float32)


def test_vae_chmdn_fits_two_modes_better_than_one_gaussian():
    torch.manual_seed(0)
    x, xv, truth = _two_modes(2000, 0), _two_modes(300, 1), _two_modes(600, 2).numpy()
    m = VaeChMdn(2, components=4, latent=2, hidden=32)
    fit(m, m.loss, (x,), (xv,), epochs=40, batch_size=128, lr=3e-3)
    samples = m.sample(600, torch.Generator().manual_seed(3)).numpy()
    gauss = np.random.default_rng(4).multivariate_normal(x.numpy().mean(0), np.cov(x.numpy().T), 600)
    assert metrics.mmd2(samples, truth, 1.0) < 0.5 * metrics.mmd2(gauss, truth, 1.0)


def _moons(n, seed):
    from sklearn.datasets import make_moons

    x, _ = make_moons(n, noise=0.05, random_state=seed)
    return torch.tensor(x[:, 1:], dtype=torch.float32), torch.tensor(x[:, :1], dtype=torch.float32)  # y | w = x


def test_ea_cgmm_on_two_moons_is_accurate_and_keeps_both_branches():
    """Paper Fig. 7: y = second coordinate given w = first. EA-CGMM predicts it better than a single joint
    Gaussian (J = 1) and, at w = 0 where both moons pass (y ~ 1 and y ~ -0.5 ... 0.5), draws both."""
    torch.manual_seed(0)
    y, w = _moons(2000, 0)
    yv, wv = _moons(400, 1)
    yt, wt = _moons(400, 2)
    maes = {}
    for j in (1, 6):
        m = EaCgmm(1, 1, components=j, latent=2, hidden=32)
        fit(m, m.loss, (y, w), (yv, wv), epochs=40, batch_size=128, lr=3e-3)
        maes[j] = metrics.mae(m.sample(wt, torch.Generator().manual_seed(5)).numpy(), yt.numpy())
        if j == 6:
            at0 = m.sample(torch.zeros(400, 1), torch.Generator().manual_seed(6)).numpy()[:, 0]
    assert maes[6] < 0.8 * maes[1], maes
    assert (at0 > 0.75).mean() > 0.15 and (at0 < 0.6).mean() > 0.15  # upper moon top and lower moon arm


def test_conditional_z_prior_loss_is_the_kl_to_the_fixed_posterior_and_leaves_the_joint_as_the_paper():
    """KL(q(z | y, w) || p(z | w)) of two diagonal Gaussians by hand; the joint's gradients equal the standard
    model's (q detached in the prior term), the prior network alone learns from it."""
    torch.manual_seed(0)
    std = EaCgmm(2, 3, components=2, latent=2, hidden=8).double()
    cond = EaCgmm(2, 3, components=2, latent=2, hidden=8, z_prior="conditional").double()
    cond.joint.load_state_dict(std.joint.state_dict())
    y, w = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    torch.manual_seed(1)
    ts = std.loss_terms(y, w)
    torch.manual_seed(1)
    tc = cond.loss_terms(y, w)
    qm, qlv = tc["z_mean"].detach().numpy(), tc["z_logvar"].detach().numpy()
    pm, plv = (t.detach().numpy() for t in cond.prior_params(w))
    want = (0.5 * (plv - qlv + (np.exp(qlv) + (qm - pm) ** 2) / np.exp(plv) - 1)).sum(-1).mean()
    assert tc["prior_kl"].item() == pytest.approx(want, rel=1e-10)
    assert tc["loss"].item() == pytest.approx(ts["loss"].item() + want, rel=1e-10)
    ts["loss"].backward()
    tc["loss"].backward()
    for (name, a), b in zip(std.joint.named_parameters(), cond.joint.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-12, msg=name)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in cond.prior_net.parameters())
    with pytest.raises(ValueError, match="z_prior"):
        EaCgmm(2, 3, z_prior="flat")


def test_conditional_z_prior_feeds_its_draws_to_the_decoder():
    """A joint whose one component sits at (y, w) = (2 z, z), tight and uncorrelated: with z ~ N(0, I) the draw
    of y given w is 2 z for a z unrelated to w; the prior p(z | w) = N(w, e^-12) makes it 2 w."""
    m = EaCgmm(1, 1, components=1, latent=1, hidden=1, z_prior="conditional").double()
    j = m.joint
    with torch.no_grad():
        j.trunk = torch.nn.Identity()  # h = z
        for head in (j.logits, j.diag, j.off):
            head.weight.zero_()
        j.diag.bias.fill_(20.0)  # diag U ~ 20: std 0.05 on each axis
        j.mu.weight.copy_(torch.tensor([[2.0], [1.0]]))
        j.mu.bias.zero_()
        m.prior_net = torch.nn.Linear(1, 2).double()  # (mean, log-variance) = (w, -12)
        m.prior_net.weight.copy_(torch.tensor([[1.0], [0.0]]))
        m.prior_net.bias.copy_(torch.tensor([0.0, -12.0]))
    w = torch.linspace(-2, 2, 200, dtype=torch.float64)[:, None]
    assert (m.sample(w, torch.Generator().manual_seed(0)) - 2 * w).abs().max() < 0.3
    m.prior_net = None  # the standard prior
    assert (m.sample(w, torch.Generator().manual_seed(0)) - 2 * w).abs().mean() > 1.0


def _linear_joint(diag: float, prior: str = "standard") -> EaCgmm:
    """A one-component joint decoded from z as (y, w) ~ N((2 z, z), diag^-2 I)."""
    m = EaCgmm(1, 1, components=1, latent=1, hidden=1, z_prior=prior).double()
    j = m.joint
    with torch.no_grad():
        j.trunk = torch.nn.Identity()  # h = z
        for head in (j.logits, j.diag, j.off):
            head.weight.zero_()
        j.diag.bias.fill_(float(np.log(np.expm1(diag))))  # softplus -> diag
        j.mu.weight.copy_(torch.tensor([[2.0], [1.0]]))
        j.mu.bias.zero_()
    return m


def test_resampled_z_draws_the_exact_conditional_of_a_linear_gaussian_joint():
    """z ~ N(0, 1), w | z ~ N(z, s^2), y | z ~ N(2 z, s^2), s = 0.5: y | w = 1 is N(2 / (1 + s^2), 4 s^2 / (1 +
    s^2) + s^2) = N(1.6, 1.05). z_draws = 512 gets it (also from a poor proposal, the conditional prior N(w, 1),
    through the importance weights p(z) / q(z)); the paper's single z gives y = 2 z, z ~ N(0, 1): N(0, 4.25)."""
    w = torch.ones(4000, 1, dtype=torch.float64)
    paper = _linear_joint(2.0)
    y1 = paper.sample(w, torch.Generator().manual_seed(0))[:, 0]
    assert abs(y1.mean().item()) < 0.15 and y1.var().item() == pytest.approx(4.25, rel=0.1)
    for prior in ("standard", "conditional"):
        m = _linear_joint(2.0, prior)
        m.z_draws = 512
        if prior == "conditional":
            m.prior_net = torch.nn.Linear(1, 2).double()  # (mean, log-variance) = (w, 0)
            with torch.no_grad():
                m.prior_net.weight.copy_(torch.tensor([[1.0], [0.0]]))
                m.prior_net.bias.zero_()
        y = m.sample(w, torch.Generator().manual_seed(1))[:, 0]
        assert y.mean().item() == pytest.approx(1.6, abs=0.06), prior
        assert y.var().item() == pytest.approx(1.05, rel=0.1), prior
    again = _linear_joint(2.0)
    again.z_draws = 512
    torch.testing.assert_close(again.sample(w[:300], torch.Generator().manual_seed(1)),
                               again.sample(w[:300], torch.Generator().manual_seed(1)))  # seeded
    with pytest.raises(ValueError, match="z_draws"):
        EaCgmm(1, 1, z_draws=0)


def test_resampled_z_chunks_rows_like_one_pass(monkeypatch):
    """Chunked decoding (rows per chunk from a memory bound) draws what one pass draws."""
    import cfmarl.policies.offline.virtual_cmdp.vae_chmdn as vc

    torch.manual_seed(0)
    m = EaCgmm(2, 3, components=2, latent=2, hidden=8, z_draws=5).double()
    w = torch.randn(37, 3, dtype=torch.float64)
    whole = m.sample(w, torch.Generator().manual_seed(3))
    calls = []
    decode = m.joint.mixture
    monkeypatch.setattr(m.joint, "mixture", lambda z: calls.append(len(z)) or decode(z))
    monkeypatch.setattr(vc, "RESAMPLE_CHUNK_BYTES", 5 * 2 * 5 * 5 * 8 * 4)  # 4 rows of 5 candidates a chunk
    torch.testing.assert_close(m.sample(w, torch.Generator().manual_seed(3)), whole)
    assert calls == [20] * 9 + [5]


@pytest.mark.parametrize("sampler,steps", [("ddim", 5), ("ddpm", 50)])
def test_clip_bounds_the_x0_prediction_and_keeps_the_oracle_exact(sampler, steps):
    d = Diffusion(3)
    mu = torch.tensor([1.5, -2.0, 0.25])
    d.eps = _Oracle(d.scheduler("ddpm").alphas_cumprod, mu, 0.0)  # |mu| < clip: clipping changes nothing
    x = d.sample(16, sampler=sampler, steps=steps, generator=torch.Generator().manual_seed(0), clip=5.0)
    torch.testing.assert_close(x, mu.expand(16, 3), rtol=1e-4, atol=1e-4)
    d.eps = _Oracle(d.scheduler("ddpm").alphas_cumprod, torch.full((3,), 40.0), 0.0)  # far outside: clipped
    x = d.sample(16, sampler="ddim", steps=5, generator=torch.Generator().manual_seed(0), clip=5.0)
    assert x.abs().max() <= 5.0 + 1e-5
    assert d.sample(16, sampler="ddim", steps=5, generator=torch.Generator().manual_seed(0)).abs().max() > 30
