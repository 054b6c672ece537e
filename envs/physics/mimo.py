"""Multi-antenna downlink with coherent joint transmission: rates, MMSE receivers,
WMMSE block-coordinate precoder updates with per-O-RU power constraints, and
the RZF / MRT precoders (physics_reference.md (viii), (ix)).

Shapes (leading B = env copies): K users with N_r antennas and d streams,
L O-RUs with N_t antennas.
  H (B, K, Nr, L, Nt)   channel of user k from O-RU l
  V (B, K, L, Nt, d)    precoder of user k at O-RU l (zero where l does not serve k)
  S (B, K, K, Nr, d)    S[k, j] = H_k V_j: user j's streams as seen by user k
  serve (B, L, K) bool  O-RU l serves user k
Everything is in noise-normalised units (noise power 1 per receive antenna):
divide channels by sigma before calling.
"""

from __future__ import annotations

import numpy as np


def herm(x: np.ndarray) -> np.ndarray:
    return np.conj(np.swapaxes(x, -1, -2))


def effective_channels(h: np.ndarray, v: np.ndarray) -> np.ndarray:
    """S[b, k, j] = H_k V_j = sum_l H_kl V_jl, (B, K, K, Nr, d)."""
    b, k, nr, n_oru, nt = h.shape
    return h.reshape(b, k, 1, nr, n_oru * nt) @ v.reshape(b, 1, k, n_oru * nt, -1)


def _covariances(s: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Received covariance C_k = sum_j S_kj S_kj^H + noise I and its desired part S_kk S_kk^H."""
    k, nr = s.shape[1], s.shape[3]
    x = np.moveaxis(s, 2, 3).reshape(s.shape[0], k, nr, -1)  # (B, K, Nr, K d)
    c = x @ herm(x) + noise * np.eye(nr)
    skk = s[:, np.arange(k), np.arange(k)]  # (B, K, Nr, d)
    return c, skk @ herm(skk)


def rates(s: np.ndarray, noise: float = 1.0) -> np.ndarray:
    """R_k = log2 det(I + S_kk S_kk^H (noise I + sum_{j!=k} S_kj S_kj^H)^-1) [bit/s/Hz], (B, K)."""
    c, desired = _covariances(s, noise)
    return (np.linalg.slogdet(c)[1] - np.linalg.slogdet(c - desired)[1]) / np.log(2.0)


def mmse_receivers(s: np.ndarray, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """MMSE receive filters U_k = C_k^-1 H_k V_k (B, K, Nr, d) and MSE weights
    W_k = (I - U_k^H H_k V_k)^-1 (B, K, d, d) (Shi et al. 2011). With these,
    log2 det W_k equals the rate R_k."""
    c, _ = _covariances(s, noise)
    k = s.shape[1]
    skk = s[:, np.arange(k), np.arange(k)]
    u = np.linalg.solve(c, skk)
    d = s.shape[-1]
    e = np.eye(d) - herm(u) @ skk
    w = np.linalg.inv(e)
    return u, 0.5 * (w + herm(w))


def oru_powers(v: np.ndarray) -> np.ndarray:
    """Transmit power of every O-RU, sum_k ||V_kl||_F^2, (B, L)."""
    return np.einsum("bklnd,bklnd->bl", v, np.conj(v)).real


RANK_RTOL = 1e-12  # eigenvalues of A below RANK_RTOL * lambda_max are its null space (eigh's rounding is ~N eps)


def _solve_power_constrained(a: np.ndarray, r: np.ndarray, p_max: float, iters: int = 100,
                             rtol: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm argmin_X tr(X^H A X) - 2 Re tr(R^H X) s.t. ||X||_F^2 <= P, for R in the range of A.

    With A = Q diag(lambda) Q^H restricted to its range (lambda_m > RANK_RTOL lambda_max) and
    Phi_m = [Q^H R R^H Q]_mm, X(mu) = Q (Q^H R / (lambda + mu)) has power f(mu) = sum_m Phi_m /
    (lambda_m + mu)^2. If f(0) <= P the budget does not bind: mu = 0 and X = A^+ R (the
    pseudo-inverse, i.e. nothing in the null space of A). Otherwise mu > 0 is the root of the
    secular equation f(mu) = P (physics_reference.md (viii)), found by Newton's method on
    1 / sqrt(f(mu)) - 1 / sqrt(P) (concave and increasing, so the iterates started at the lower
    bound max(0, max_m sqrt(Phi_m / P) - lambda_m) rise monotonically to the root, quadratically;
    Moré & Sorensen 1983), safeguarded by the bracket [lower bound, sqrt(sum Phi / P) - lambda_min]
    with bisection when a step leaves it. Everything is scaled by lambda_max, so nothing overflows.

    R's component in the null space of A is dropped: in the WMMSE block update R and A are built
    from the same H_jl^H T_j, so that component is rounding noise, and solving with it would push
    the budget left over into a direction that only leaks interference.
    a (B, N, N) Hermitian PSD, r (B, N, M) -> X (B, N, M), mu (B,)."""
    lam, q = np.linalg.eigh(a)
    scale = lam[:, -1]  # lambda_max (eigh sorts ascending)
    in_range = lam > RANK_RTOL * np.maximum(scale, 0.0)[:, None]
    scale = np.where(scale > 0.0, scale, 1.0)
    lam_s = np.where(in_range, lam / scale[:, None], 1.0)  # scaled eigenvalues in (RANK_RTOL, 1]; 1 = padding
    qr = np.where(in_range[..., None], herm(q) @ r, 0.0)
    phi = np.einsum("bnm,bnm->bn", qr, np.conj(qr)).real / (scale[:, None] ** 2 * p_max)  # scaled: root at f = 1
    binding = (phi / lam_s ** 2).sum(-1) > 1.0
    mu = np.zeros(len(lam))
    if binding.any():
        mu[binding] = _secular_root(lam_s[binding], phi[binding], iters, rtol) * scale[binding]
    den = np.where(in_range, lam + mu[:, None], 1.0)
    return q @ (qr / den[..., None]), mu


def _secular_root(lam: np.ndarray, phi: np.ndarray, iters: int, rtol: float) -> np.ndarray:
    """The root mu > 0 of f(mu) = sum_m phi_m / (lam_m + mu)^2 = 1 for rows with f(0) > 1,
    lam (B, N) in (0, 1], phi (B, N) >= 0 (see :func:`_solve_power_constrained`)."""
    lo = np.maximum((np.sqrt(phi) - lam).max(-1), 0.0)  # f(lo) >= 1: one term alone reaches 1
    hi = np.maximum(np.sqrt(phi.sum(-1)) - lam.min(-1), lo)  # f(hi) <= sum phi / (lam_min + hi)^2 = 1
    mu = lo.copy()
    todo = np.ones(len(mu), bool)
    for _ in range(iters):
        x, ph, lm = mu[todo], phi[todo], lam[todo]
        den = lm + x[:, None]
        f = (ph / den ** 2).sum(-1)
        g = (ph / den ** 3).sum(-1)  # -f'(mu) / 2
        left = f >= 1.0
        lo[todo] = np.where(left, x, lo[todo])
        hi[todo] = np.where(left, hi[todo], x)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = x + f * (np.sqrt(f) - 1.0) / g  # Newton on 1 / sqrt(f) - 1
        a, b = lo[todo], hi[todo]
        new = np.where(np.isfinite(new) & (new >= a) & (new <= b), new, 0.5 * (a + b))
        done = (np.abs(new - x) <= rtol * new) | (b - a <= rtol * b)
        mu[todo] = new
        idx = np.flatnonzero(todo)
        todo[idx[done]] = False
        if not todo.any():
            break
    return mu


def wmmse_precoder_sweep(h: np.ndarray, u: np.ndarray, w: np.ndarray, alpha: np.ndarray, v: np.ndarray,
                         serve: np.ndarray, p_max: float, served_only: bool = False,
                         s: np.ndarray | None = None, groups: list[np.ndarray] | None = None,
                         coupled: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block-coordinate sweep over O-RUs of the WMMSE precoder update with per-O-RU
    power constraints (coherent joint transmission; physics_reference.md (viii)).

    For O-RU l, with the other O-RUs' precoders fixed:
      V_il = (A_ll + mu_l I)^-1 (alpha_i H_il^H U_i W_i - sum_{m != l} A_lm V_im),  i served by l,
      A = sum_j alpha_j H_j^H U_j W_j U_j^H H_j,
    mu_l >= 0 found exactly so that sum_i ||V_il||^2 <= P (= P when mu_l > 0). With
    ``groups=None`` the O-RUs update one after the other (Gauss-Seidel): each block step
    minimises the weighted-MSE objective exactly, so with ``served_only=False`` the
    objective never increases, and with one serving O-RU per user this is Shi et al.'s
    update. ``groups`` (a list of O-RU index arrays) updates the O-RUs of a group at
    the same time from the same state (O-DUs working in parallel, each on one of its
    O-RUs). ``served_only=True`` is the paper's scalable variant (eq. (30)): O-RU l
    accounts only for the users it serves. ``coupled=False`` drops the coherent-joint-transmission
    term sum_{m != l} A_lm V_im: every O-RU solves its subproblem as if it alone served its users,
    the cellular WMMSE update (oran eq. (43), the DRL-WMMSE baseline), which is not a block step of
    the cell-free objective and so need not be monotone.

    Returns the new V (B, K, L, Nt, d), the multipliers mu (B, L) and S = H V.
    """
    v = v.copy()
    s = effective_channels(h, v) if s is None else s.copy()
    t = (u @ w @ herm(u))[:, None]  # (B, 1, K, Nr, Nr)
    uw = (u @ w)[:, None]  # (B, 1, K, Nr, d)
    b, k, nr = h.shape[:3]
    nt = h.shape[-1]
    mus = np.zeros(serve.shape[:2])
    groups = [np.array([l]) for l in range(h.shape[3])] if groups is None else groups
    for grp in groups:  # sequential rounds; vectorised over env copies, the O-RUs of a round and users
        m = len(grp)
        hl = np.moveaxis(h[:, :, :, grp], 3, 1)  # (B, M, K, Nr, Nt)
        sv = serve[:, grp]  # (B, M, K)
        a_j = alpha[:, None] * sv if served_only else np.broadcast_to(alpha[:, None], sv.shape)
        # weighted H_jl^H T_j stacked over users j: (B, M, Nt, K Nr)
        hw = np.moveaxis((a_j[..., None, None] * (herm(hl) @ t)), 3, 2).reshape(b, m, nt, k * nr)
        a_ll = hw @ hl.reshape(b, m, k * nr, nt)  # sum_j a_j H_jl^H T_j H_jl, (B, M, Nt, Nt)
        vl = np.moveaxis(v[:, :, grp], 2, 1)  # (B, M, K(i), Nt, d)
        x = 0.0
        if coupled:
            s_mat = np.moveaxis(s, 2, 3).reshape(b, 1, k * nr, -1)  # rows (j, r), columns (i, d)
            y = np.moveaxis((hw @ s_mat).reshape(b, m, nt, k, -1), 3, 2)  # sum_j a_j H_jl^H T_j H_j V_i
            x = y - a_ll[:, :, None] @ vl  # sum_{m' != l} A_lm' V_im'
        rhs = (alpha[:, None, :, None, None] * (herm(hl) @ uw) - x) * sv[..., None, None]  # (B, M, K, Nt, d)
        r = np.moveaxis(rhs, 2, 3).reshape(b * m, nt, -1)  # (B M, Nt, K d)
        sol, mu = _solve_power_constrained(a_ll.reshape(b * m, nt, nt), r, p_max)
        new = np.moveaxis(sol.reshape(b, m, nt, k, -1), 3, 2) * sv[..., None, None]  # (B, M, K, Nt, d)
        h_cat = np.moveaxis(hl, 1, 3).reshape(b, k * nr, m * nt)  # [H_j,l1 ... H_j,lM]
        delta = np.moveaxis(new - vl, 2, 3).reshape(b, m * nt, -1)  # stacked over the round's O-RUs
        s += np.moveaxis((h_cat @ delta).reshape(b, k, nr, k, -1), 3, 2)
        v[:, :, grp] = np.moveaxis(new, 1, 2)
        mus[:, grp] = mu.reshape(b, m)
    return v, mus, s


def _regularised_inverse(hs: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """hs^H (hs hs^H + reg I)^-1 for hs (B, M, N), reg (B,) -> (B, N, M)."""
    m, n = hs.shape[-2:]
    if n < m:  # push-through identity: hs^H (hs hs^H + r I_M)^-1 = (hs^H hs + r I_N)^-1 hs^H, the smaller solve
        return np.linalg.solve(herm(hs) @ hs + reg[:, None, None] * np.eye(n), herm(hs))
    g = hs @ herm(hs) + reg[:, None, None] * np.eye(m)
    return herm(np.linalg.solve(g, hs))  # g is Hermitian: (g^-1 hs)^H = hs^H g^-1


def c_rzf(h: np.ndarray, p_max: float, reg_scale: float = 1.0) -> np.ndarray:
    """Centralised RZF over the whole network with one common scale so that every O-RU
    meets its power P (the bottleneck O-RU at exactly P; physics_reference.md (ix)).
    W = H^H (H H^H + alpha I)^-1, alpha = reg_scale * K Nr / (L P) (Peel et al. 2005 with the
    total power L P; unit noise). Returns V (B, K, L, Nt, Nr): one stream per receive antenna."""
    b, k, nr, n_oru, nt = h.shape
    hs = h.reshape(b, k * nr, n_oru * nt)
    reg = np.full(b, reg_scale * k * nr / (n_oru * p_max))
    wmat = _regularised_inverse(hs, reg)  # (B, L Nt, K Nr)
    v = np.moveaxis(wmat.reshape(b, n_oru, nt, k, nr), 3, 1)  # (B, K, L, Nt, Nr)
    scale = np.sqrt(p_max / np.maximum(oru_powers(v).max(-1), 1e-300))
    return v * scale[:, None, None, None, None]


def d_rzf(h: np.ndarray, serve: np.ndarray, p_max: float) -> np.ndarray:
    """Distributed (local) RZF: O-RU l uses only its local block H_l (all users' antennas x its
    N_t antennas), W_l = H_l^H (H_l H_l^H + (K N_r / P) I)^-1 (physics_reference.md (ix)),
    keeps the columns of the users it serves and scales them to its own power P."""
    b, k, nr, n_oru, nt = h.shape
    hl = np.moveaxis(h, 3, 1).reshape(b * n_oru, k * nr, nt)  # every O-RU's local block, independently
    wl = _regularised_inverse(hl, np.full(b * n_oru, k * nr / p_max))  # (B L, Nt, K Nr)
    wl = np.moveaxis(wl.reshape(b, n_oru, nt, k, nr), 3, 1) * serve.transpose(0, 2, 1)[..., None, None]
    pw = oru_powers(wl)  # (B, L)
    return wl * np.sqrt(p_max / np.maximum(pw, 1e-300))[:, None, :, None, None]


def mrt(h: np.ndarray, serve: np.ndarray, p_max: float) -> np.ndarray:
    """Maximum-ratio transmission: V_kl = H_kl^H on serving O-RUs, each O-RU scaled to power P."""
    v = np.swapaxes(np.conj(h), 2, 4).transpose(0, 1, 3, 2, 4)  # (B, K, L, Nt, Nr)
    v = v * serve.transpose(0, 2, 1)[..., None, None]
    pw = oru_powers(v)
    return v * np.sqrt(p_max / np.maximum(pw, 1e-300))[:, None, :, None, None]
