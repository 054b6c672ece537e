"""Fidelity measures against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from cfmarl.policies.offline.virtual_cmdp import metrics


def test_mmd_by_hand():
    # X = {0}, Y = {1}, h = 1: 1 + 1 - 2 exp(-1/2)
    assert metrics.mmd2(np.array([[0.0]]), np.array([[1.0]]), 1.0) == pytest.approx(2 - 2 * math.exp(-0.5), abs=1e-12)
    assert metrics.mmd2(np.array([[0.0]]), np.array([[1.0]]), 1.0) == pytest.approx(0.78694, abs=1e-5)
    x = np.random.default_rng(0).standard_normal((50, 3))
    assert metrics.mmd2(x, x) == pytest.approx(0.0, abs=1e-12)
    # two points each: X = {0, 2}, Y = {1, 1}, h = 1
    kxx = (2 + 2 * math.exp(-2)) / 4
    kxy = math.exp(-0.5)
    assert metrics.mmd2(np.array([[0.0], [2.0]]), np.array([[1.0], [1.0]]), 1.0) == pytest.approx(kxx + 1 - 2 * kxy)
    # a shifted sample is further away than a fresh one from the same law
    g = np.random.default_rng(1)
    a, b, c = g.standard_normal((300, 2)), g.standard_normal((300, 2)), g.standard_normal((300, 2)) + 1.0
    assert metrics.mmd2(a, b) < metrics.mmd2(a, c)


def test_w1_mae_and_flops():
    np.testing.assert_allclose(metrics.w1_per_feature(np.array([[0.0, 0], [1, 0]]), np.array([[1.0, 0], [2, 3]])),
                               [1.0, 1.5])
    assert metrics.mae(np.array([1.0, 2.0]), np.array([2.0, 0.0])) == 1.5
    lin = torch.nn.Linear(10, 20)
    assert metrics.flops(lambda: lin(torch.zeros(1, 10))) == 2 * 10 * 20
