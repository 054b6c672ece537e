"""KAN reward / cost predictors on pykan: the paper's parameter count, fits a known function, a matched
MLP, save / load, determinism, and none of pykan's side effects (global RNGs, ./model/)."""

import random

import numpy as np
import pytest
import torch

pytest.importorskip("kan")

from cfmarl.policies.offline.virtual_cmdp import kan_models as km  # noqa: E402
from cfmarl.policies.offline.virtual_cmdp.training import fit  # noqa: E402


def test_paper_sized_kan_has_23310_trainable_parameters_and_a_matched_mlp():
    # [258, 6, 1], grid 10, order 3: per edge G + k coefficients + scale_base + scale_sp = 15
    kan = km.KanRegressor(258, (6,))
    assert km.n_params(kan) == (258 * 6 + 6) * (10 + 3 + 2) == 23310
    mlp = km.mlp_like(km.n_params(kan), 258)
    assert abs(km.n_params(mlp) - 23310) / 23310 < 0.01


def test_kan_construction_leaves_global_state_and_cwd_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    before = (torch.rand(1).item(), np.random.rand(), random.random())
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    km.KanRegressor(3, (2,), seed=11)
    after = (torch.rand(1).item(), np.random.rand(), random.random())
    assert before == after
    assert list(tmp_path.iterdir()) == []


def _sine(n, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=g) * 2 - 1
    return x, torch.sin(torch.pi * x[:, 0])


def _fit(model, seed=0, epochs=60):
    x, y = _sine(512, 0)
    xv, yv = _sine(256, 1)
    loss = lambda a, b: ((model(a) - b) ** 2).mean()  # noqa: E731
    res = fit(model, loss, (x, y), (xv, yv), epochs=epochs, batch_size=64, lr=1e-2, seed=seed,
              params=model.trainable(), on_epoch_start=km.kan_grid_updater(model, x, every=10, until=30))
    return res


def test_kan_fits_a_sine_and_is_reproducible(tmp_path):
    a, b = km.KanRegressor(1, (), grid=10, seed=0), km.KanRegressor(1, (), grid=10, seed=0)
    ra, rb = _fit(a), _fit(b)
    xt, yt = _sine(1000, 2)
    with torch.no_grad():
        mse = float(((a(xt) - yt) ** 2).mean())
        assert mse < 1e-3, mse
        assert torch.equal(a(xt), b(xt))  # same seed, same weights (grid updates included)
    strip = lambda h: [(r["epoch"], r["train"], r["val"]) for r in h]  # noqa: E731
    assert strip(ra.history) == strip(rb.history) and ra.best_epoch == rb.best_epoch
    # a saved state loads into a fresh model of the same shape with identical outputs
    torch.save(a.state_dict(), tmp_path / "kan.pt")
    c = km.KanRegressor(1, (), grid=10, seed=3)
    c.load_state_dict(torch.load(tmp_path / "kan.pt", weights_only=True))
    with torch.no_grad():
        assert torch.equal(c(xt), a(xt))
    assert (tmp_path / "kan.pt").stat().st_size < 20_000  # no views of large temporaries saved


def test_fit_resumes_to_the_uninterrupted_result(tmp_path):
    whole = km.KanRegressor(1, (), grid=5, seed=0)
    xw, yw = _sine(512, 0)
    xvw, yvw = _sine(256, 1)
    fit(whole, lambda a, b: ((whole(a) - b) ** 2).mean(), (xw, yw), (xvw, yvw), epochs=12, batch_size=64, lr=1e-2,
        seed=0, params=whole.trainable(), on_epoch_start=km.kan_grid_updater(whole, xw, every=4, until=12, sample=128))
    part = km.KanRegressor(1, (), grid=5, seed=0)
    x, y = _sine(512, 0)
    xv, yv = _sine(256, 1)
    loss = lambda a, b: ((part(a) - b) ** 2).mean()  # noqa: E731
    kw = dict(batch_size=64, lr=1e-2, seed=0, params=part.trainable(), state_file=tmp_path / "fit.pt")
    grid = dict(every=4, until=12, sample=128)  # grid updates on subsamples, before and after the interruption
    fit(part, loss, (x, y), (xv, yv), epochs=5, on_epoch_start=km.kan_grid_updater(part, x, **grid), **kw)
    fresh = km.KanRegressor(1, (), grid=5, seed=0)  # a new process: a new model, the state file
    loss = lambda a, b: ((fresh(a) - b) ** 2).mean()  # noqa: E731
    hook = km.kan_grid_updater(fresh, x, **grid)
    res = fit(fresh, loss, (x, y), (xv, yv), epochs=12, on_epoch_start=hook,
              **dict(kw, params=fresh.trainable()))
    assert res.resumed_from == 5
    with torch.no_grad():
        xt, _ = _sine(100, 3)
        torch.testing.assert_close(fresh(xt), whole(xt), rtol=0, atol=0)
