"""The per-O-RU power-constrained block solve of the WMMSE update (issue 11): minimum-norm solutions
for rank-deficient blocks, the budget met with equality when it binds, and no overflow in the
multiplier search (finite precoding rewards and KPIs over random in-bounds actions)."""

import numpy as np
import pytest

from cfmarl.envs import precoding_v0
from cfmarl.envs.physics import mimo


def _unitary(rng, n=4):
    z = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    q, _ = np.linalg.qr(z)
    return q


def _block(coeffs, q, lam=(4.0, 1.0, 0.0, 0.0)):
    """A = Q diag(lam) Q^H (rank 2 by default) and R = Q coeffs: everything known in the eigenbasis."""
    a = q @ np.diag(lam) @ q.conj().T
    return 0.5 * (a + a.conj().T), q @ np.asarray(coeffs, complex).reshape(-1, 1)


def test_rank_deficient_block_within_budget_is_the_minimum_norm_solution():
    """One O-RU, 4 antennas, serving one 2-antenna user: A has rank 2. R = Q [2, 0.5, 1e-14, 0]^T
    (the 1e-14 is a rounding-noise component in the null space). The budget P = 1 does not bind:
    the pseudo-inverse solution Q [2/4, 0.5/1, 0, 0]^T has power 0.5 < 1, so mu = 0 and nothing
    goes into the null space (the old solver put the remaining 0.5 W there)."""
    q = _unitary(np.random.default_rng(0))
    a, r = _block([2.0, 0.5, 1e-14, 0.0], q)
    x, mu = mimo._solve_power_constrained(a[None], r[None], 1.0)
    assert mu[0] == 0.0
    np.testing.assert_allclose(x[0], q @ np.array([[0.5], [0.5], [0.0], [0.0]]), atol=1e-12)
    assert np.sum(np.abs(x) ** 2) == pytest.approx(0.5, rel=1e-10)
    assert np.abs(q[:, 2:].conj().T @ x[0]).max() < 1e-13  # no component in the null space of A
    np.testing.assert_allclose(x[0], np.linalg.pinv(a, rcond=1e-12, hermitian=True) @ r, atol=1e-12)


def test_rank_deficient_block_from_a_channel_is_the_pseudo_inverse_solution():
    """A = a H^H T H and R = a H^H U W for a random 2 x 4 channel (R is in the range of A up to
    rounding): the solve equals A^+ R when the budget is slack, with power below it."""
    rng = np.random.default_rng(1)
    h = (rng.standard_normal((2, 4)) + 1j * rng.standard_normal((2, 4))) * 30.0
    u = (rng.standard_normal((2, 2)) + 1j * rng.standard_normal((2, 2))) * 0.1
    w = np.diag([3.0, 0.5])
    a = h.conj().T @ u @ w @ u.conj().T @ h
    r = h.conj().T @ u @ w
    x, mu = mimo._solve_power_constrained(a[None], r[None], 10.0)
    expect = np.linalg.pinv(a, rcond=1e-12, hermitian=True) @ r
    assert np.sum(np.abs(expect) ** 2) < 10.0 and mu[0] == 0.0
    np.testing.assert_allclose(x[0], expect, rtol=1e-8, atol=1e-12 * np.abs(expect).max())
    _, vh = np.linalg.eigh(a)
    assert np.abs(vh[:, :2].conj().T @ x[0]).max() < 1e-9 * np.abs(x).max()  # null space: eigenvalues ~0


@pytest.mark.parametrize("scale", [1.0, 1e-9, 1e12])
def test_binding_budget_is_met_with_equality_on_the_range(scale):
    """A = Q diag(4, 1, 0, 0) Q^H, R = Q [3.6, 2.4, 0, 0]^T, P = 1: f(mu) = 3.6^2 / (4 + mu)^2 +
    2.4^2 / (1 + mu)^2 = 1 at mu = 2 (0.6^2 + 0.8^2 = 1), X = Q [0.6, 0.8, 0, 0]^T. Scaling A and
    R by s scales mu by s and leaves X unchanged (no overflow at either end)."""
    q = _unitary(np.random.default_rng(2))
    a, r = _block([3.6, 2.4, 0.0, 0.0], q)
    x, mu = mimo._solve_power_constrained(scale * a[None], scale * r[None], 1.0)
    assert mu[0] == pytest.approx(2.0 * scale, rel=1e-10)
    assert np.sum(np.abs(x) ** 2) == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(x[0], q @ np.array([[0.6], [0.8], [0.0], [0.0]]), atol=1e-10)


def test_batched_mixed_blocks_and_zero_rows():
    """A batch mixing a slack block, a binding block, an all-zero R and an all-zero A: each row is
    solved on its own (vectorised), all finite, every power <= P and = P where mu > 0."""
    q = _unitary(np.random.default_rng(3))
    a1, r1 = _block([2.0, 0.5, 0.0, 0.0], q)
    a2, r2 = _block([3.6, 2.4, 0.0, 0.0], q)
    a = np.stack([a1, a2, a1, np.zeros((4, 4), complex)])
    r = np.stack([r1, r2, np.zeros_like(r1), r1])
    x, mu = mimo._solve_power_constrained(a, r, 1.0)
    assert np.all(np.isfinite(x)) and np.all(np.isfinite(mu))
    np.testing.assert_allclose(mu, [0.0, 2.0, 0.0, 0.0], atol=1e-12)
    p = np.sum(np.abs(x) ** 2, axis=(1, 2))
    np.testing.assert_allclose(p, [0.5, 1.0, 0.0, 0.0], atol=1e-10)


def test_random_blocks_satisfy_the_kkt_conditions():
    """Random PSD blocks of rank 1..4 with R in their range: power <= P, mu >= 0, mu (P - power) = 0,
    (A + mu I) X = R, and X in the range of A."""
    rng = np.random.default_rng(4)
    for rank in (1, 2, 3, 4):
        hs = rng.standard_normal((64, rank, 4)) + 1j * rng.standard_normal((64, rank, 4))
        hs *= 10.0 ** rng.uniform(-3, 3, (64, 1, 1))
        a = mimo.herm(hs) @ hs
        r = mimo.herm(hs) @ (rng.standard_normal((64, rank, 2)) + 1j * rng.standard_normal((64, rank, 2)))
        x, mu = mimo._solve_power_constrained(a, r, 1.0)
        p = np.sum(np.abs(x) ** 2, axis=(1, 2))
        assert np.all(mu >= 0) and np.all(p <= 1.0 + 1e-9)
        np.testing.assert_allclose(p[mu > 0], 1.0, rtol=1e-9)
        lhs = a @ x + mu[:, None, None] * x
        np.testing.assert_allclose(lhs, r, atol=1e-8 * np.abs(r).max())
        proj = np.linalg.pinv(a, rcond=1e-12, hermitian=True) @ a  # projector onto the range of A
        np.testing.assert_allclose(proj @ x, x, atol=1e-8 * np.abs(x).max())


def _check_episode(scenario: str, seed: int, action_seed: int, steps: int, corners: bool = False) -> None:
    env = precoding_v0.parallel_env(scenario=scenario)
    obs, _ = env.reset(seed=seed)
    a0 = env.possible_agents[0]
    space, obs_space = env.action_space(a0), env.observation_space(a0)
    space.seed(action_seed)
    p_max = env.config.oru_power_w
    for t in range(steps):
        acts = {a: space.sample() for a in env.agents}
        if corners:  # extreme but in-bounds actions
            acts = {a: np.sign(v).astype(np.float32) for a, v in acts.items()}
        with np.errstate(over="raise"):
            obs, rew, _, _, infos = env.step(acts)
        where = f"{scenario} seed {seed} actions {action_seed} step {t}"
        assert np.all(np.isfinite(list(rew.values()))), where
        assert np.all(np.isfinite([i["cost"] for i in infos.values()])), where
        kpis = env.kpis()
        assert all(np.isfinite(v) for v in kpis.values()), (where, kpis)
        assert kpis["max_oru_power_w"] <= p_max * (1 + 1e-9), where
        assert all(obs_space.contains(o) for o in obs.values()), where


def test_precoding_medium_seed_7_no_longer_overflows():
    """The reported case: medium, env seed 7, actions sampled from action_space(...).seed(1):
    the multiplier search overflowed around step 35 and the rewards became inf."""
    _check_episode("medium", 7, 1, 40)


@pytest.mark.parametrize("scenario,seeds,steps", [("tiny", (0, 1, 2, 3), 25), ("medium", (3, 11), 20)])
def test_random_in_bounds_actions_keep_rewards_kpis_and_observations_finite(scenario, seeds, steps):
    for seed in seeds:
        _check_episode(scenario, seed, 100 + seed, steps)
        _check_episode(scenario, seed, 200 + seed, steps // 2, corners=True)
