"""Cluster-robust covariance with small-sample corrections for log-link GLMs: clubSandwich's
CR2 (the bias-reduced linearisation of Bell and McCaffrey 2002) with Satterthwaite degrees of
freedom (Pustejovsky and Tipton 2018, J Bus Econ Stat 36:672-683), as R's
``clubSandwich::vcovCR(fit, cluster, type = "CR2")`` and ``coef_test(..., test =
"Satterthwaite")`` for a ``glm`` (A131), and clubSandwich's CR3 likewise (A136).  Used by the
comparison models (clustered on subjects) and by the time-series models' subject-clustered
errors.  R fixtures: ``tests/fixtures/r/make_cr2_fixtures.R``.
"""

from __future__ import annotations

import numpy as np


def _pseudo_power(vals: np.ndarray, vecs: np.ndarray, ok: np.ndarray, power: float = -0.5) -> np.ndarray:
    """Stacked symmetric matrices to ``power`` (-1/2: the pseudo-inverse square root, R's
    ``matrix_power(x, -1/2)``; -1: the pseudo-inverse) from their eigenvalues and vectors, the
    eigenvalues where ``ok`` is false dropped."""
    root = np.where(ok, np.where(ok, vals, 1.0) ** power, 0.0)
    return (vecs * root[:, None, :]) @ vecs.transpose(0, 2, 1)


class _Satterthwaite:
    """clubSandwich's Satterthwaite df of each contrast, summed a block of clusters at a time:
    with P = diag(d_j) - [h_j . h_k] over clusters j, k, df = tr(P)^2 / sum(P^2), P never
    formed (sum(P^2) = sum d_j^2 - 2 sum d_j |h_j|^2 + |sum_j h_j h_j'|^2)."""

    def __init__(self, n_contrasts: int, width: int):
        self.tr, self.d2, self.dh = np.zeros(n_contrasts), np.zeros(n_contrasts), np.zeros(n_contrasts)
        self.hh = np.zeros((n_contrasts, width, width))

    def add(self, d: np.ndarray, h: np.ndarray) -> None:
        """A block's d (clusters x contrasts) and h (clusters x contrasts x width)."""
        h2 = (h ** 2).sum(axis=2)
        self.tr += (d - h2).sum(axis=0)
        self.d2 += (d ** 2).sum(axis=0)
        self.dh += (d * h2).sum(axis=0)
        self.hh += np.einsum("kia,kib->iab", h, h)

    def df(self) -> np.ndarray:
        sumsq = self.d2 - 2 * self.dh + (self.hh ** 2).sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.tr ** 2 / sumsq


def _padded(codes: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows sorted by cluster, and each row's (cluster, slot) in a clusters x longest array."""
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=g)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    slot = np.arange(len(codes)) - np.repeat(starts, sizes)
    return order, slot, int(sizes.max())


def cr2(X, y, mu, v, codes, g: int, bread: np.ndarray, cells: int = 2_000_000,
        contrasts: np.ndarray | None = None, kind: str = "CR2") -> tuple[np.ndarray, np.ndarray]:
    """clubSandwich's CR2 covariance of a log-link GLM and the Satterthwaite df of each
    coefficient (``vcovCR(fit, type = "CR2")`` with its defaults for a GLM: the working model's
    variance ``v`` as the target, inverse-variance weights; ``coef_test(..., test =
    "Satterthwaite")``).  With U = diag(mu) X, W = diag(1/v), M = ``bread`` = (U'WU)^-1 and
    r = y - mu, cluster j's adjustment is A_j = v_j^(1/2) B_j^(-1/2) v_j^(1/2), B_j =
    v_j^(1/2) (diag(v_j) - U_j M U_j') v_j^(1/2) (eigenvalues under 1e-12 dropped, as R's
    ``matrix_power``), and the covariance M (sum_j U_j'W_j A_j r_j r_j'A_j W_j U_j) M.  For
    coefficient i, with g_j = (M U_j'W_j A_j)_i v_j^(1/2) and h_j = (M U_j'W_j A_j U_j L)_i
    (L L' = M), P = diag(|g_j|^2) - [h_j . h_k] and df = tr(P)^2 / sum(P^2) (clubSandwich's
    ``Satterthwaite``; P is never formed).  Clusters are stacked, padded to the longest
    (padding rows carry v = 1 and nothing else, so they decouple), ``cells`` matrix entries at a
    time, so memory stays bounded however many subjects there are.  ``contrasts`` (rows c) gives
    the df of each c'beta instead of each coefficient's (the same formula with c'M in place of
    M's row i).

    ``kind="CR3"`` gives clubSandwich's CR3 instead (the jackknife-like A_j = (I - H_jj)^-1,
    H_jj = U_j M U_j'W_j; as a symmetric matrix, W_j A_j = v_j^(1/2) B_j^+ v_j^(1/2)), with the
    same Satterthwaite df formula on its adjustment."""
    if kind not in ("CR2", "CR3"):
        raise ValueError(f"cr2: kind {kind!r} is not CR2 or CR3")
    p = X.shape[1]
    C = np.eye(p) if contrasts is None else np.atleast_2d(np.asarray(contrasts, dtype="float64"))
    q = len(C)
    order, slot, longest = _padded(codes, g)
    L = np.linalg.cholesky(bread)
    meat = np.zeros((p, p))
    satt = _Satterthwaite(q, p)
    step = max(1, cells // (longest * longest))
    codes_sorted = codes[order]
    bounds = np.searchsorted(codes_sorted, np.arange(0, g + step, step))
    for lo, hi, first in zip(bounds[:-1], bounds[1:], range(0, g, step)):
        rows = order[lo:hi]
        k = min(step, g - first)
        at = (codes_sorted[lo:hi] - first, slot[lo:hi])
        U = np.zeros((k, longest, p))
        U[at] = (mu[rows, None] * X[rows])
        V = np.ones((k, longest))
        V[at] = v[rows]
        R = np.zeros((k, longest))
        R[at] = (y - mu)[rows]
        sv = np.sqrt(V)
        B = -(U @ bread @ U.transpose(0, 2, 1))
        B[:, np.arange(longest), np.arange(longest)] += V
        B *= sv[:, :, None] * sv[:, None, :]
        vals, vecs = np.linalg.eigh(B)
        if kind == "CR2":
            A = _pseudo_power(vals, vecs, vals > 1e-12) * sv[:, :, None] * sv[:, None, :]
            E = (U / V[:, :, None]).transpose(0, 2, 1) @ A      # k x p x longest: U_j'W_j A_j
        else:
            WA = _pseudo_power(vals, vecs, vals > 1e-12, power=-1.0) * sv[:, :, None] * sv[:, None, :]
            E = U.transpose(0, 2, 1) @ WA
        comp = (E @ R[:, :, None])[:, :, 0]                      # k x p
        meat += comp.T @ comp
        ME = (C @ bread) @ E                                     # k x q x longest
        d = ((ME * sv[:, None, :]) ** 2).sum(axis=2)             # k x q: |g_j|^2 per contrast
        satt.add(d, ME @ U @ L)                                  # h_j: k x q x p
    return bread @ meat @ bread, satt.df()


def panel_cr2(X: np.ndarray, eta: np.ndarray, Y: np.ndarray, contrasts: np.ndarray,
              cells: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Subject-clustered CR2 errors for a log-link model of a series that is the sum of units'
    series (a time-series model of monthly arrests summed over subjects): (se, df) of each
    contrast (row of ``contrasts``, on the series model's coefficients; the intercept, the first
    column of ``X``, must not enter).

    The same model fitted to the units' rows (T months each, the series design's rows
    repeated) with a fixed effect per unit gives the series model's time-term estimates
    exactly: at the Poisson (and quasi-Poisson) fixed-effects optimum, unit j's fitted value in
    month t is its total tau_j times the series' share of month t, s_t = exp(eta_t) /
    sum(exp(eta)).  The covariance is clubSandwich's CR2 of that fixed-effects ``glm``,
    clustered on units, with Satterthwaite df (:func:`cr2`; R's ``coef_test`` and
    ``linear_contrast`` with ``vcov = "CR2"``).  Units with no arrests carry no information
    (their effect is minus infinity) and are left out.  Robust to any dependence over time
    within a unit.

    The fixed effects are absorbed, so the cost is linear in the units (a T x T eigenproblem
    each) and no units x units matrix is formed.  With Z the time columns, S = diag(s),
    m = Z's, K = Z'SZ - mm', Z~ = Z - 1m' and tau the grand total, the inverse information's
    blocks are M_tt = K^-1/tau, M_ft = -1 m'K^-1/tau and M_ff = diag(1/tau_j) + (m'K^-1 m/tau) 11';
    unit j's block of the CR2 matrix is B_j = tau_j^2 S^1/2 (S - ss' - (tau_j/tau) S Z~K^-1Z~'S) S^1/2,
    A_j = S^1/2 (B_j/tau_j^2)^+1/2 S^1/2 (eigenvalues of B_j under 1e-12 dropped, as R), and
    c'M E_j = R A_j with R = C K^-1 Z~'/tau for every unit.  Satterthwaite's P reduces to
    diag(d_j - alpha_j^2/tau_j) - F F', F's rows (beta_j - alpha_j m') K^-1/2 / sqrt(tau), where
    alpha_j = tau_j R A_j s and beta_j = tau_j R A_j S Z; tests check it against the explicit
    fixed-effects design and R."""
    X = np.asarray(X, dtype="float64")
    Y = np.asarray(Y, dtype="float64")
    C = np.atleast_2d(np.asarray(contrasts, dtype="float64"))
    if np.any(C[:, 0] != 0):
        raise ValueError("panel_cr2: a contrast may not involve the intercept (absorbed by the unit effects)")
    C = C[:, 1:]
    nc, q = C.shape
    total = Y.sum(axis=1)
    Y, total = Y[total > 0], total[total > 0]
    g, t = Y.shape
    tau = float(total.sum())
    s = np.exp(eta - np.max(eta))
    s = s / s.sum()
    Z = X[:, 1:]
    m = Z.T @ s
    K = (Z * s[:, None]).T @ Z - np.outer(m, m)
    Kinv = np.linalg.inv(K)
    Zc = Z - m[None, :]
    R = C @ Kinv @ Zc.T / tau                              # nc x T
    SP = (s[:, None] * Zc) @ Kinv @ (Zc * s[:, None]).T    # S Z~ K^-1 Z~' S
    base = np.diag(s) - np.outer(s, s)
    rs = np.sqrt(s)
    LK = np.linalg.cholesky(Kinv)
    meat = np.zeros((nc, nc))
    satt = _Satterthwaite(nc, q)
    step = max(1, cells // (t * t))
    for lo in range(0, g, step):
        tj = total[lo:lo + step]
        G = (base[None] - (tj / tau)[:, None, None] * SP[None]) * rs[None, :, None] * rs[None, None, :]
        vals, vecs = np.linalg.eigh(G)
        A = _pseudo_power(vals, vecs, vals * (tj * tj)[:, None] > 1e-12) * rs[None, :, None] * rs[None, None, :]
        RA = np.einsum("ct,ktu->kcu", R, A)                               # k x nc x T
        comp = RA @ (Y[lo:lo + step] - tj[:, None] * s[None, :])[:, :, None]
        meat += comp[:, :, 0].T @ comp[:, :, 0]
        d = ((RA * rs[None, None, :]) ** 2).sum(axis=2) * tj[:, None]   # |g_j|^2
        alpha = (RA @ s) * tj[:, None]                                    # k x nc
        beta = (RA * s[None, None, :]) @ Z * tj[:, None, None]           # k x nc x q
        F = (beta - alpha[:, :, None] * m[None, None, :]) @ LK / np.sqrt(tau)
        satt.add(d - alpha ** 2 / tj[:, None], F)
    return np.sqrt(np.diag(meat)), satt.df()
