"""Interrupted time-series and trend models of the monthly series (A20-A24, A60-A69).

:func:`its` fits a segmented regression to any equally spaced series and is what both the
pipeline and ``strostudy its`` call::

    g(E[y]) = b0 + b1*time + b2*post + b3*time_since [+ Fourier season] [+ covariates] [+ offset]

``post`` is 1 from the interruption, ``time_since = (time - interruption) * post``.  Families:
``quasipoisson`` and ``poisson`` (GLM, log link; R's ``glm``), ``ols`` and ``loglinear`` (OLS
on log(1 + y)).  Each term's estimate comes with one row per standard-error type:

* ``model``: model-based (t on the residual df for quasi-Poisson and OLS, normal for Poisson,
  as R's ``summary``);
* ``hac_L``: Newey-West with L lags (R's ``sandwich::NeweyWest(fit, lag = L, prewhite = FALSE,
  adjust = FALSE)``; normal for the GLMs, t for OLS, as ``lmtest::coeftest``);
* ``fixedb``: the Newey-West (Bartlett) estimator with a bandwidth of a fixed fraction b of the
  series, judged against fixed-b critical values (Kiefer and Vogelsang 2005) simulated for the
  design itself;
* ``ar1``: GLS with AR(1) errors estimated by REML (R's ``nlme::gls(correlation = corAR1(),
  method = "REML")``), t with Satterthwaite degrees of freedom.  For the count families it is
  the GLS of the GLM's weighted working model at the GLM fit;
* ``cr2``: for a series that is the sum of units' series (the pipeline's monthly arrests, summed
  over subjects), clubSandwich's CR2 errors clustered on the units, with Satterthwaite df, of the
  same model fitted to the units' rows with a fixed effect per unit (the same estimates:
  :func:`strostudy.clustered.panel_cr2`).  It needs the units' series (:func:`with_panel`);
  robust to any dependence over time within a unit, such as a person's spells of offending.

Which one decides significance is ``its.significance`` (A23; per measure, A133), chosen by the
Monte Carlo studies in ``docs/its.md`` and ``docs/calibration.md``.  Log-scale families also get
``ratio = exp(estimate)`` (a rate ratio for the GLMs, a ratio of geometric means of 1 + y for
the log-linear model) with its interval.

The pipeline's stage fits the primary models to every measure x category, tests the trend
after the order (the primary model's post-order slope; Mann-Kendall; Theil-Sen), residual
autocorrelation (Ljung-Box) and seasonality (a joint test of Fourier terms), runs an in-time
placebo at every feasible month of the before period, and writes one decision per rule to
``its_decisions``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .errors import StrostudyError

FAMILIES = ("quasipoisson", "poisson", "ols", "loglinear")
COUNT_FAMILIES = ("quasipoisson", "poisson")
#: Families whose coefficients are on a log scale: exp(estimate) is a ratio.
LOG_SCALE = ("quasipoisson", "poisson", "loglinear")
#: Standard-error types (``se_type`` is ``hac_<lags>`` for ``hac``).
STANDARD_ERRORS = ("model", "hac", "fixedb", "ar1", "cr2")
#: The decision rules ``its.significance`` may name: one standard-error type, or ``both``
#: (model-based and HAC must both show p < alpha; the rule before A23 was revised).
RULES = (*STANDARD_ERRORS, "both")

TERMS = ["intercept", "time", "post", "time_since"]
RESULT_COLUMNS = ["term", "estimate", "se", "se_type", "ci_low", "ci_high", "p_value", "ratio", "ratio_ci_low",
                  "ratio_ci_high", "df", "n"]
#: Each model kind's inverse link: from the linear predictor to the data's own scale.
INVERSE = {"quasipoisson": np.exp, "poisson": np.exp, "loglinear": np.expm1, "ols": lambda v: v}


# --------------------------------------------------------------------------- design


def harmonic(x, nfreq: int, period: float) -> np.ndarray:
    """Fourier terms as R's ``tsModel::harmonic(x, nfreq, period)`` (version 0.6-1 and later):
    the sines of frequencies 1..nfreq of ``2*pi*x/period``, then the cosines."""
    k = np.arange(1, int(nfreq) + 1) * 2 * np.pi / float(period)
    m = np.outer(np.asarray(x, dtype=float), k)
    return np.column_stack([np.sin(m), np.cos(m)])


def season_terms(nfreq: int) -> list[str]:
    return [f"season_sin{i}" for i in range(1, nfreq + 1)] + [f"season_cos{i}" for i in range(1, nfreq + 1)]


def design(months, interruption: float = 0, *, slope_change: bool = True, season=None, harmonics: int = 2,
           period: float = 12, covariates: pd.DataFrame | None = None) -> pd.DataFrame:
    """The segmented design: intercept, time, post, time_since (unless ``slope_change`` is
    false), Fourier terms of ``season`` (``harmonics`` sine-cosine pairs of ``period``) and any
    ``covariates`` (columns as given)."""
    t = np.asarray(months, dtype=float)
    post = (t >= interruption).astype(float)
    cols = {"intercept": np.ones_like(t), "time": t, "post": post}
    if slope_change:
        cols["time_since"] = (t - interruption) * post
    if season is not None:
        cols.update(zip(season_terms(harmonics), harmonic(season, harmonics, period).T))
    if covariates is not None:
        cols.update({str(c): np.asarray(covariates[c], dtype=float) for c in covariates.columns})
    return pd.DataFrame(cols)


# --------------------------------------------------------------------------- fitting


class NotFitted(ValueError):
    """The model has no finite fit: IRLS did not converge, or a fitted mean is numerically 0
    (a segment of zeros the model can fit exactly: its coefficient is unbounded)."""


@dataclass
class Fit:
    """A fitted GLM or OLS model: what every standard-error type is computed from."""

    family: str
    terms: list
    X: np.ndarray
    y: np.ndarray
    offset: np.ndarray
    beta: np.ndarray
    eta: np.ndarray      # the linear predictor, offset included
    weights: np.ndarray  # IRLS working weights (mu for the count families, 1 for OLS)
    bread: np.ndarray    # (X'WX)^-1
    scale: float         # Pearson chi-square / df (quasi-Poisson), 1 (Poisson), RSS / df (OLS)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def df_resid(self) -> int:
        return self.n - self.X.shape[1]

    @property
    def count(self) -> bool:
        return self.family in COUNT_FAMILIES

    @property
    def response(self) -> np.ndarray:
        return np.log1p(self.y) if self.family == "loglinear" else self.y

    @property
    def fitted(self) -> np.ndarray:
        """The fit on the data's own scale."""
        return INVERSE[self.family](self.eta)

    @property
    def resid(self) -> np.ndarray:
        """Pearson residuals for the count families; residuals on the model's scale otherwise."""
        if self.count:
            mu = np.exp(self.eta)
            return (self.y - mu) / np.sqrt(mu)
        return self.response - self.eta

    @property
    def scores(self) -> np.ndarray:
        """Each point's contribution to the estimating equations (n x k)."""
        r = self.y - np.exp(self.eta) if self.count else self.resid
        return self.X * r[:, None]

    def working(self) -> tuple[np.ndarray, np.ndarray]:
        """The weighted linear model at the fit, (sqrt(w) X, sqrt(w) z), z the working response
        without the offset: the GLM's last IRLS step (for OLS, the data themselves)."""
        if not self.count:
            return self.X, self.response - self.offset
        mu = np.exp(self.eta)
        sw = np.sqrt(mu)
        z = self.eta - self.offset + (self.y - mu) / mu
        return self.X * sw[:, None], z * sw


def fit_model(y, X, family: str, offset=None, terms=None, tol: float = 1e-14, maxiter: int = 100) -> Fit:
    """Fit ``family`` by maximum likelihood (IRLS from R's starting values, converged to R's
    criterion at ``tol``) or least squares."""
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    n, k = X.shape
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    if family in COUNT_FAMILIES:
        mu = y + 0.1  # R's poisson()$initialize
        eta = np.log(mu)
        dev_old = np.inf
        for _ in range(maxiter):
            sw = np.sqrt(mu)
            try:
                beta = np.linalg.lstsq(X * sw[:, None], (eta - off + (y - mu) / mu) * sw, rcond=None)[0]
            except np.linalg.LinAlgError:
                raise NotFitted(f"the {family} model did not converge") from None
            eta = X @ beta + off
            with np.errstate(over="ignore", under="ignore"):
                mu = np.exp(eta)
            if not np.isfinite(mu).all() or (mu == 0).any():
                raise NotFitted("a fitted mean is numerically 0: the data on one side are all zero where the model "
                                "can fit them exactly, so a coefficient is unbounded")
            dev = 2 * np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / mu), 0.0) - (y - mu))
            if abs(dev - dev_old) / (abs(dev) + 0.1) < tol:
                break
            dev_old = dev
        else:
            raise NotFitted(f"the {family} model did not converge in {maxiter} iterations")
        if not np.isfinite(dev) or mu.min() < 1e-10 * max(1.0, float(y.mean())):
            raise NotFitted("a fitted mean is numerically 0: the data on one side are all zero where the model "
                            "can fit them exactly, so a coefficient is unbounded")
        bread = np.linalg.inv((X * mu[:, None]).T @ X)
        scale = 1.0 if family == "poisson" else float(np.sum((y - mu) ** 2 / mu) / (n - k))
        weights = mu
    elif family in ("ols", "loglinear"):
        target = np.log1p(y) if family == "loglinear" else y
        beta = np.linalg.lstsq(X, target - off, rcond=None)[0]
        eta = X @ beta + off
        bread = np.linalg.inv(X.T @ X)
        scale = float(np.sum((target - eta) ** 2) / (n - k))
        weights = np.ones(n)
    else:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)} (got {family!r})")
    return Fit(family, list(terms) if terms is not None else [f"x{i}" for i in range(k)], X, y, off, beta, eta,
               weights, bread, scale)


# --------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class Inference:
    """How standard errors are computed (``its:`` config, A23 and A60-A62)."""

    hac_lags: int = 3
    fixedb_bandwidth: float = 1.0  # b: the Bartlett bandwidth as a fraction of the series
    fixedb_draws: int = 9999       # simulated draws for the fixed-b null distribution
    seed: int = 20260625           # the fixed-b simulation's seed
    level: float = 0.95

    @classmethod
    def from_config(cls, its_cfg: dict, alpha: float = 0.05) -> Inference:
        return cls(hac_lags=int(its_cfg["hac_lags"]), fixedb_bandwidth=float(its_cfg["fixedb_bandwidth"]),
                   fixedb_draws=int(its_cfg["fixedb_draws"]), seed=int(its_cfg["seed"]), level=1 - float(alpha))

    def label(self, method: str) -> str:
        return f"hac_{self.hac_lags}" if method == "hac" else method


def _bartlett_meat(scores: np.ndarray, bandwidth: float) -> np.ndarray:
    """sum over |j| < bandwidth of (1 - |j|/bandwidth) G_j, G_j = sum_t s_t s_{t-j}'."""
    meat = scores.T @ scores
    for j in range(1, int(np.ceil(bandwidth))):
        g = scores[j:].T @ scores[:-j]
        meat += (1 - j / bandwidth) * (g + g.T)
    return meat


def cov_hac(f: Fit, lags: int) -> np.ndarray:
    """Newey-West with ``lags`` lags: Bartlett weights 1 - j/(lags + 1), no prewhitening, no
    small-sample adjustment."""
    return f.bread @ _bartlett_meat(f.scores, lags + 1) @ f.bread


def fixedb_bandwidth(n: int, b: float) -> float:
    """The Bartlett bandwidth M = b*n (at least 2, so that one lag is used)."""
    return max(2.0, b * n)


@functools.lru_cache(maxsize=512)
def _fixedb_null(xbytes: bytes, shape: tuple, cbytes: bytes, cshape: tuple, bandwidth: float, draws: int,
                 seed: int) -> np.ndarray:
    """Sorted Wald statistics of the contrast block C under iid normal errors with design X,
    studentised by the Bartlett estimator of ``bandwidth``: the design's own fixed-b null."""
    X = np.frombuffer(xbytes).reshape(shape)
    C = np.frombuffer(cbytes).reshape(cshape)
    n = shape[0]
    bread = np.linalg.inv(X.T @ X)
    A = C @ bread @ X.T                                     # q x n: C beta_hat = A e
    E = np.random.default_rng(seed).standard_normal((n, draws))
    R = E - X @ (bread @ (X.T @ E))                         # residuals, n x draws
    est = A @ E                                             # q x draws
    U = A[:, :, None] * R[None, :, :]                       # q x n x draws: the contrast's scores
    if bandwidth >= n:  # b = 1: the Bartlett form by partial sums, O(n) per draw
        S = np.cumsum(U, axis=1)
        total = S[:, -1, :]
        rest = total[:, None, :] - S[:, :-1, :]
        cross = np.einsum("irb,jrb->ijb", S[:, :-1, :], rest)
        omega = np.einsum("ib,jb->ijb", total, total) - (cross + cross.transpose(1, 0, 2)) / bandwidth
    else:
        lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        K = np.clip(1 - lag / bandwidth, 0, None)
        omega = np.einsum("isb,st,jtb->ijb", U, K, U)
    q = C.shape[0]
    if q == 1:
        wald = est[0] ** 2 / omega[0, 0]
    else:
        wald = np.einsum("ib,bij,jb->b", est, np.linalg.inv(omega.transpose(2, 0, 1)), est)
    return np.sort(wald)


def fixedb_null(X: np.ndarray, C: np.ndarray, bandwidth: float, draws: int, seed: int) -> np.ndarray:
    X, C = np.ascontiguousarray(X, dtype=float), np.ascontiguousarray(np.atleast_2d(C), dtype=float)
    return _fixedb_null(X.tobytes(), X.shape, C.tobytes(), C.shape, float(bandwidth), int(draws), int(seed))


# ---- GLS with AR(1) errors by REML

PHI_MAX = 0.99
MAX_LOG_RATIO = 700.0  # exp() of more than this overflows (or, negated, underflows to 0)
PHI_GRID = np.linspace(-PHI_MAX, PHI_MAX, 199)


def _prais_winsten(v: np.ndarray, phi: float) -> np.ndarray:
    """Rows with independent unit-variance errors when v's errors are AR(1)(phi) with unit
    marginal variance."""
    out = v.copy()
    out[1:] = (v[1:] - phi * v[:-1]) / np.sqrt(1 - phi * phi)
    return out


def _gls(Xw, zw, phi):
    Xt, zt = _prais_winsten(Xw, phi), _prais_winsten(zw, phi)
    xtx = Xt.T @ Xt
    beta = np.linalg.solve(xtx, Xt.T @ zt)
    r = zt - Xt @ beta
    return float(r @ r), np.linalg.slogdet(xtx)[1], beta, xtx


def _neg_reml(phi, Xw, zw) -> float:
    """-(restricted log-likelihood) with sigma^2 profiled out, constants dropped."""
    n, k = Xw.shape
    rss, logdet, _, _ = _gls(Xw, zw, phi)
    return 0.5 * ((n - k) * np.log(rss / (n - k)) + (n - 1) * np.log1p(-phi * phi) + logdet)


def _neg_reml_grid(Xw, zw) -> np.ndarray:
    """:func:`_neg_reml` at every phi of PHI_GRID at once."""
    n, k = Xw.shape
    g = PHI_GRID
    c = 1 / np.sqrt(1 - g * g)
    Xt = np.empty((len(g), n, k))
    zt = np.empty((len(g), n))
    Xt[:, 0], zt[:, 0] = Xw[0], zw[0]
    Xt[:, 1:] = (Xw[None, 1:] - g[:, None, None] * Xw[None, :-1]) * c[:, None, None]
    zt[:, 1:] = (zw[None, 1:] - g[:, None] * zw[None, :-1]) * c[:, None]
    Xtt = Xt.transpose(0, 2, 1)
    xtx = Xtt @ Xt
    xtz = Xtt @ zt[..., None]
    beta = np.linalg.solve(xtx, xtz)
    rss = (zt * zt).sum(axis=1) - (beta * xtz)[..., 0].sum(axis=1)
    return 0.5 * ((n - k) * np.log(np.maximum(rss, 1e-300) / (n - k)) + (n - 1) * np.log1p(-g * g)
                  + np.linalg.slogdet(xtx)[1])


@dataclass
class AR1Fit:
    beta: np.ndarray
    cov: np.ndarray
    phi: float
    sigma2: float
    Xw: np.ndarray
    zw: np.ndarray

    @property
    def whitened(self) -> np.ndarray:
        """Residuals after the AR(1) filter (independent if the AR(1) model is right)."""
        rss, _, beta, _ = _gls(self.Xw, self.zw, self.phi)
        return (_prais_winsten(self.zw, self.phi) - _prais_winsten(self.Xw, self.phi) @ beta) / np.sqrt(self.sigma2)

    def satterthwaite_f(self, C: np.ndarray) -> float:
        """Denominator df of the joint F test of the contrasts C, as R's lmerTest: rotate C to
        the eigenvectors of its covariance, take each rotated contrast's Satterthwaite df nu_m,
        E = sum nu_m / (nu_m - 2) over nu_m > 2, and nu = 2E / (E - q) (q, the rank, if E <= q)."""
        q = len(C)
        _, vectors = np.linalg.eigh(C @ self.cov @ C.T)
        nu = self.satterthwaite(vectors.T @ C)
        e = float(np.sum(np.where(nu > 2, nu / np.maximum(nu - 2, 1e-12), 0.0)))
        return 2 * e / (e - q) if e > q else float(q)

    def satterthwaite(self, C: np.ndarray, h: float = 1e-4) -> np.ndarray:
        """Satterthwaite degrees of freedom of each contrast (row of C): 2 V^2 / (g' A g), V the
        contrast's variance, g its gradient in (log sigma^2, phi) and A the inverse Hessian of
        the negative restricted log-likelihood there (numerical, central differences)."""
        Xw, zw = self.Xw, self.zw
        n, k = Xw.shape
        p = float(np.clip(self.phi, -PHI_MAX + 2 * h, PHI_MAX - 2 * h))
        s = np.log(self.sigma2)

        def at(ph):
            rss, logdet, _, xtx = _gls(Xw, zw, ph)
            return rss, logdet, np.einsum("ij,jk,ik->i", C, np.linalg.inv(xtx), C), np.log1p(-ph * ph)

        (r0, l0, v0, g0), (rp, lp, vp, gp), (rm, lm, vm, gm) = at(p), at(p + h), at(p - h)
        d2_phi = 0.5 * ((n - 1) * (gp - 2 * g0 + gm) + (lp - 2 * l0 + lm) + (rp - 2 * r0 + rm) * np.exp(-s)) / h**2
        d2_s = 0.5 * r0 * np.exp(-s)
        d2_sphi = -0.5 * (rp - rm) / (2 * h) * np.exp(-s)
        hessian = np.array([[d2_s, d2_sphi], [d2_sphi, d2_phi]])
        if not (np.linalg.eigvalsh(hessian) > 0).all():  # phi at the edge: no curvature to use
            return np.full(len(C), float(n - k))
        V = self.sigma2 * v0
        grad = np.column_stack([V, self.sigma2 * (vp - vm) / (2 * h)])
        df = 2 * V**2 / np.einsum("ij,jk,ik->i", grad, np.linalg.inv(hessian), grad)
        return np.clip(df, 1.0, float(n - k))


def fit_ar1(f: Fit) -> AR1Fit:
    """GLS with AR(1) errors, REML (R's ``nlme::gls(..., correlation = corAR1(), method =
    "REML")``), on the fit's weighted working model.  The correlation is found on a grid over
    [-0.99, 0.99] then refined (Brent); it is kept inside that range."""
    if "ar1" in f._cache:
        return f._cache["ar1"]
    Xw, zw = f.working()
    n, k = Xw.shape
    try:
        vals = _neg_reml_grid(Xw, zw)
    except np.linalg.LinAlgError:
        raise NotFitted("the AR(1) model's design is singular") from None
    i = int(np.argmin(vals))
    lo, hi = PHI_GRID[max(i - 1, 0)], PHI_GRID[min(i + 1, len(PHI_GRID) - 1)]
    res = optimize.minimize_scalar(_neg_reml, bounds=(lo, hi), args=(Xw, zw), method="bounded",
                                   options={"xatol": 1e-10})
    phi = float(res.x) if res.fun <= vals[i] else float(PHI_GRID[i])
    rss, _, beta, xtx = _gls(Xw, zw, phi)
    if not np.all(np.isfinite(beta)) or (f.family in LOG_SCALE and np.max(np.abs(beta)) > MAX_LOG_RATIO):
        # e.g. a count segment of a few spikes among near-zero months: the GLM's working weights
        # are then tiny and the GLS coefficients run off to where no rate ratio is representable.
        raise NotFitted("the AR(1) model's coefficients are beyond any representable ratio: the series is "
                        "(nearly) all zero in a segment")
    sigma2 = rss / (n - k)
    out = AR1Fit(beta, sigma2 * np.linalg.inv(xtx), phi, sigma2, Xw, zw)
    f._cache["ar1"] = out
    return out


# ---- one function for every standard-error type


def contrast_inference(f: Fit, method: str, inf: Inference, C: np.ndarray) -> dict:
    """Estimate, SE, df, p and interval of each contrast (row of C) under ``method``.  ``df``
    is inf where the reference distribution is the normal, NaN for fixed-b (simulated)."""
    C = np.atleast_2d(np.asarray(C, dtype=float))
    level = inf.level
    if method == "cr2":
        est, (se, df) = C @ f.beta, _panel_errors(f, C)
        finite = np.where(np.isfinite(df) & (df > 0), df, np.nan)
        t = est / se
        p = 2 * special.stdtr(finite, -np.abs(t))
        crit = special.stdtrit(finite, 0.5 + level / 2)
        return {"estimate": est, "se": se, "df": df, "p_value": p, "ci_low": est - crit * se,
                "ci_high": est + crit * se}
    est, cov, a = _contrast_cov(f, method, inf, C)
    if method == "ar1":
        df = a.satterthwaite(C)
    elif method == "fixedb":
        df = np.full(len(C), np.nan)
    elif (method == "model" and f.family != "poisson") or (method == "hac" and not f.count):
        df = np.full(len(C), float(f.df_resid))
    else:
        df = np.full(len(C), np.inf)
    se = np.sqrt(np.diag(cov))
    t = est / se
    if method == "fixedb":
        bw = fixedb_bandwidth(f.n, inf.fixedb_bandwidth)
        p, crit = np.empty(len(C)), np.empty(len(C))
        for i, c in enumerate(C):
            null = fixedb_null(f.X, c, bw, inf.fixedb_draws, inf.seed)
            p[i] = (1 + len(null) - np.searchsorted(null, t[i] ** 2, side="left")) / (1 + len(null))
            crit[i] = np.sqrt(np.quantile(null, level))
    else:  # scipy.special directly: the stage computes thousands of these (stats.t is ~50x slower)
        finite = np.where(np.isinf(df), 1.0, df)
        p = 2 * np.where(np.isinf(df), special.ndtr(-np.abs(t)), special.stdtr(finite, -np.abs(t)))
        crit = np.where(np.isinf(df), special.ndtri(0.5 + level / 2), special.stdtrit(finite, 0.5 + level / 2))
    return {"estimate": est, "se": se, "df": df, "p_value": p, "ci_low": est - crit * se, "ci_high": est + crit * se}


def with_panel(f: Fit, Y: np.ndarray) -> Fit:
    """``f`` with the units' series whose sum it models (units x the fit's rows, in order), for
    ``cr2`` errors.  The sum must be the fitted series."""
    Y = np.asarray(Y, dtype="float64")
    if Y.ndim != 2 or Y.shape[1] != f.n or not np.allclose(Y.sum(axis=0), f.y, rtol=1e-9, atol=1e-9):
        raise StrostudyError("the units' series do not add up to the modelled series; rebuild them from the same "
                             "events and cohort")
    f._cache["panel"] = Y
    return f


def _panel_errors(f: Fit, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from .clustered import panel_cr2

    Y = f._cache.get("panel")
    if Y is None:
        raise NotFitted("cr2 errors need the units' series (e.g. each subject's monthly arrests)")
    if not f.count or C[:, 0].any():
        raise NotFitted("cr2 errors are for the count families' time terms (the intercept is absorbed)")
    key = ("cr2", C.tobytes())
    if key not in f._cache:
        f._cache[key] = panel_cr2(f.X, f.eta, Y, C)
    return f._cache[key]


def _contrast_cov(f: Fit, method: str, inf: Inference, C: np.ndarray):
    """The contrasts' estimates and covariance under ``method`` (and the AR(1) fit, for its
    degrees of freedom)."""
    if method == "ar1":
        a = fit_ar1(f)
        return C @ a.beta, C @ a.cov @ C.T, a
    if method == "model":
        cov = f.scale * f.bread
    elif method == "hac":
        cov = cov_hac(f, inf.hac_lags)
    elif method == "fixedb":
        cov = f.bread @ _bartlett_meat(f.scores, fixedb_bandwidth(f.n, inf.fixedb_bandwidth)) @ f.bread
    else:
        raise ValueError(f"unknown standard-error type {method!r}")
    return C @ f.beta, C @ cov @ C.T, None


def wald_test(f: Fit, method: str, inf: Inference, C: np.ndarray) -> tuple[float, float]:
    """Joint test that every contrast in C is 0: (statistic, p).  F on (q, residual df) for
    model-based errors and HAC with OLS; F on (q, Satterthwaite df) for AR(1) errors;
    chi-square/q for Poisson and HAC with a GLM; the simulated fixed-b null for ``fixedb``.
    The statistic is W/q."""
    C = np.atleast_2d(np.asarray(C, dtype=float))
    q = len(C)
    est, cov, a = _contrast_cov(f, method, inf, C)
    df2 = a.satterthwaite_f(C) if method == "ar1" else float(f.df_resid)
    wald = float(est @ np.linalg.solve(cov, est))
    if method == "fixedb":
        null = fixedb_null(f.X, C, fixedb_bandwidth(f.n, inf.fixedb_bandwidth), inf.fixedb_draws, inf.seed)
        return wald / q, float((1 + len(null) - np.searchsorted(null, wald, side="left")) / (1 + len(null)))
    normal = (method == "model" and f.family == "poisson") or (method == "hac" and f.count)
    p = special.chdtrc(q, wald) if normal else special.fdtrc(q, df2, wald / q)
    return wald / q, float(p)


def term_rows(f: Fit, methods, inf: Inference, terms=None) -> list[dict]:
    """One row per term and standard-error type (:data:`RESULT_COLUMNS`)."""
    terms = list(terms or f.terms)
    rows = []
    for method in methods:
        # cr2's unit effects absorb the intercept: it has no clustered error of its own
        mine = [t for t in terms if not (method == "cr2" and t == "intercept")]
        C = np.eye(len(f.terms))[[f.terms.index(t) for t in mine]]
        r = contrast_inference(f, method, inf, C)
        rows += [_row(term, f, inf.label(method), {k: v[i] for k, v in r.items()}) for i, term in enumerate(mine)]
    return rows


def _row(term: str, f: Fit, se_type: str, r: dict) -> dict:
    log = f.family in LOG_SCALE
    return {"term": term, "estimate": r["estimate"], "se": r["se"], "se_type": se_type, "ci_low": r["ci_low"],
            "ci_high": r["ci_high"], "p_value": r["p_value"],
            "ratio": np.exp(r["estimate"]) if log else np.nan,
            "ratio_ci_low": np.exp(r["ci_low"]) if log else np.nan,
            "ratio_ci_high": np.exp(r["ci_high"]) if log else np.nan, "df": r["df"], "n": f.n}


# --------------------------------------------------------------------------- the general function


#: Each segment of a segmented model needs its own intercept and slope and a residual degree
#: of freedom: 3 points on either side of the interruption (1 for a step-only model is not
#: enough to see a level either, so the same minimum applies).
MIN_SEGMENT_MONTHS = 3


@dataclass
class ItsResult:
    """What :func:`its` returns: the table (:data:`RESULT_COLUMNS`), the fit and its design."""

    table: pd.DataFrame
    fit: Fit
    design: pd.DataFrame


def _numeric(series: pd.DataFrame, col: str, source: str, what: str) -> np.ndarray:
    if col not in series.columns:
        shown = ", ".join(map(str, list(series.columns)[:12])) + (", ..." if series.shape[1] > 12 else "")
        raise StrostudyError(f"{source}: has no column '{col}' (for {what}); its columns are {shown}")
    values = pd.to_numeric(series[col], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # the file's line: header is line 1
        kind = "is empty" if pd.isna(series[col].iloc[row - 2]) or str(series[col].iloc[row - 2]).strip() == "" \
            else "is not a number"
        raise StrostudyError(f"{source}: column '{col}' {kind} in row {row} ({bad.sum()} row(s) in all); "
                             f"{what} must be a number in every row")
    return values.to_numpy(dtype=float)


def its(series: pd.DataFrame, outcome: str, time: str, interruption: float, *, family: str = "quasipoisson",
        exposure: str | None = None, slope_change: bool = True, season: str | None = None, harmonics: int = 2,
        period: float = 12, covariates=(), standard_errors=STANDARD_ERRORS, inference: Inference | None = None,
        source: str = "the series") -> ItsResult:
    """Interrupted time-series regression of column ``outcome`` of ``series`` on column ``time``
    (equally spaced; rows are sorted by it), interrupted at ``interruption`` (``post`` is 1
    where time >= interruption).  ``exposure`` is a column of populations or times at risk whose
    log is the offset; ``season`` a column (e.g. the calendar month) given ``harmonics``
    Fourier pairs of ``period`` (R's ``tsModel::harmonic``); ``covariates`` further columns.
    Returns one row per term and standard-error type.  A problem with the input raises
    :class:`StrostudyError` naming ``source`` and the column."""
    inference = inference or Inference()
    if family not in FAMILIES:
        raise StrostudyError(f"family must be one of {', '.join(FAMILIES)} (got {family!r})")
    _check_single_series_errors(standard_errors)
    if series.empty:
        raise StrostudyError(f"{source}: has no rows")
    t = _numeric(series, time, source, "the time index")
    y = _numeric(series, outcome, source, "the outcome")

    def row(mask) -> int:  # the file's line of the first hit (the header is line 1)
        return int(np.flatnonzero(mask)[0]) + 2

    if family in COUNT_FAMILIES and (y < 0).any():
        raise StrostudyError(f"{source}: column '{outcome}' is negative in row {row(y < 0)}; the {family} family "
                             "needs counts (use --family ols for other values)")
    if family == "loglinear" and (y <= -1).any():
        raise StrostudyError(f"{source}: column '{outcome}' is -1 or less in row {row(y <= -1)}; the loglinear "
                             "family models log(1 + y)")
    exposure_values = None
    if exposure is not None:
        if family not in COUNT_FAMILIES:
            raise StrostudyError(f"an exposure is an offset for the count families; the {family} family has none "
                                 "(divide the outcome by the exposure, or use --family quasipoisson)")
        exposure_values = _numeric(series, exposure, source, "the exposure")
        if (exposure_values <= 0).any():
            raise StrostudyError(f"{source}: column '{exposure}' is zero or negative in row "
                                 f"{row(exposure_values <= 0)}; an exposure must be positive (its log is the offset)")
    if season is not None and (int(harmonics) < 1 or float(period) <= 0):
        raise StrostudyError("the number of harmonics must be at least 1 and the period positive")
    season_values = _numeric(series, season, source, "the season") if season is not None else None
    cov = pd.DataFrame({c: _numeric(series, c, source, "a covariate") for c in covariates}) if covariates else None
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    step = np.diff(t)
    if (step <= 0).any():
        again = int(order[np.argmax(step <= 0) + 1]) + 2
        raise StrostudyError(f"{source}: column '{time}' repeats a time point (row {again}); give one row per time "
                             "point")
    if len(step) > 1 and not np.allclose(step, step[0], rtol=1e-9, atol=0):
        raise StrostudyError(f"{source}: column '{time}' is not equally spaced (an uneven step at row "
                             f"{int(order[np.argmax(~np.isclose(step, step[0], rtol=1e-9, atol=0)) + 1]) + 2}); "
                             "autocorrelation-robust errors need one row per time point with none missing")
    offset = None if exposure_values is None else np.log(exposure_values[order])
    season_values = None if season_values is None else season_values[order]
    cov = None if cov is None else cov.iloc[order].reset_index(drop=True)
    before, after = int((t < interruption).sum()), int((t >= interruption).sum())
    if min(before, after) < MIN_SEGMENT_MONTHS:
        raise StrostudyError(f"{source}: {before} point(s) before and {after} from the interruption at "
                             f"{interruption:g} in column '{time}'; each side needs at least {MIN_SEGMENT_MONTHS}")
    if fit_problem(y, t, family, interruption):
        raise StrostudyError(f"{source}: column '{outcome}' is zero in every row before or from the interruption; "
                             f"the {family} model's level change is then unbounded")
    X = design(t, interruption, slope_change=slope_change, season=season_values, harmonics=harmonics, period=period,
               covariates=cov)
    _full_rank(X, source)
    if len(t) - X.shape[1] < 2:
        raise StrostudyError(f"{source}: {len(t)} points for {X.shape[1]} terms; give a longer series or fewer "
                             "terms (each needs a point, and the errors at least 2 more)")
    try:
        f = fit_model(y, X.to_numpy(), family, offset, terms=list(X.columns))
        if not np.all(np.isfinite(f.beta)):
            raise NotFitted("it did not converge")
        table = pd.DataFrame(term_rows(f, standard_errors, inference), columns=RESULT_COLUMNS)
    except NotFitted as err:
        raise StrostudyError(f"{source}: the {family} model cannot be fitted to column '{outcome}': {err}") from None
    return ItsResult(table, f, X)


def _check_single_series_errors(standard_errors) -> None:
    """Every type but cr2, which clusters the subjects behind a series (the pipeline's stage
    has them; one series does not)."""
    unknown = [m for m in standard_errors if m not in STANDARD_ERRORS or m == "cr2"]
    if unknown:
        single = [m for m in STANDARD_ERRORS if m != "cr2"]
        raise StrostudyError(f"standard-error type {unknown[0]!r} is not available for one series; use "
                             f"{', '.join(single)}" + (" (cr2 clusters the subjects behind a series: the pipeline's "
                                                       "stage has them, this command does not)"
                                                       if unknown[0] == "cr2" else ""))


def _full_rank(X: pd.DataFrame, source: str) -> None:
    """Name the first column that adds nothing to those before it (constant, or a copy)."""
    values = X.to_numpy()
    if np.linalg.matrix_rank(values) == values.shape[1]:
        return
    for j in range(1, values.shape[1] + 1):
        if np.linalg.matrix_rank(values[:, :j]) < j:
            raise StrostudyError(f"{source}: the term '{X.columns[j - 1]}' is constant or a combination of the "
                                 f"terms before it ({', '.join(X.columns[:j - 1])}); drop it")


def cli(args) -> None:
    """``strostudy its``: the general function on a CSV file, results to ``--out``."""
    import sys
    from pathlib import Path

    from .config import load
    from .tables import write_csv_file

    config = load(args.config if Path(args.config).exists() else None)
    cfg = dict(config["its"])
    if args.hac_lags is not None:
        if args.hac_lags < 0:
            raise StrostudyError("--hac-lags must be 0 or more")
        cfg["hac_lags"] = args.hac_lags
    inference = Inference.from_config(cfg, float(config["study"]["alpha"]))
    path = Path(args.series)
    if not path.is_file():
        raise StrostudyError(f"{args.series}: no such file")
    try:
        series = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)  # "NA" is not a number
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise StrostudyError(f"{args.series}: not a readable CSV file ({type(err).__name__})") from None
    series.columns = [str(c).strip() for c in series.columns]
    result = its(series, args.outcome, args.time, args.interruption, family=args.family, exposure=args.exposure,
                 slope_change=not args.no_slope_change, season=args.season_col, harmonics=args.harmonics,
                 period=args.period, covariates=list(args.covariate), inference=inference, source=args.series,
                 standard_errors=args.se or cfg["standard_errors"])
    write_csv_file(result.table, args.out)
    f = result.fit
    print(f"Fitted {f.family} to {f.n} points ({len(f.terms)} terms; standard errors "
          f"{', '.join(dict.fromkeys(result.table['se_type']))}); wrote {args.out}.", file=sys.stderr)


# --------------------------------------------------------------------------- trend tests


def mann_kendall(y, hamed_rao: bool = False, level: float = 0.95) -> dict:
    """The classical Mann-Kendall test: S = sum over i < j of sign(y_j - y_i), its variance
    with the tie correction n(n-1)(2n+5)/18 - sum t(t-1)(2t+5)/18, the continuity-corrected
    z = (S - sign(S))/sqrt(var) and the two-sided normal p.  With ``hamed_rao``, the variance
    is multiplied by Hamed and Rao's (1998) n/n*, from the autocorrelations of the ranks of
    the series detrended by Sen's slope that are significant at ``level`` (as R's
    ``modifiedmk::mmkh``).  Also returns Kendall's tau-a = S / (n(n-1)/2)."""
    y = np.asarray(y, dtype=float)
    n = len(y)
    i, j = np.triu_indices(n, 1)
    s = float(np.sign(y[j] - y[i]).sum())
    _, ties = np.unique(y, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - np.sum(ties * (ties - 1) * (2 * ties + 5))) / 18
    factor = 1.0
    if hamed_rao:
        slope = np.median((y[j] - y[i]) / (j - i))
        detrended = y - slope * np.arange(1, n + 1)
        ranks = stats.rankdata(detrended)
        r = ranks - ranks.mean()
        acf = np.array([np.sum(r[k:] * r[:-k]) for k in range(1, n)]) / np.sum(r * r)
        acf[np.abs(acf) <= stats.norm.ppf((1 + level) / 2) / np.sqrt(n)] = 0.0
        k = np.arange(1, n)
        factor = 1 + 2 / (n * (n - 1) * (n - 2)) * np.sum((n - k) * (n - k - 1) * (n - k - 2) * acf)
    v = var * factor
    z = 0.0 if s == 0 or v <= 0 else (s - np.sign(s)) / np.sqrt(v)
    return {"S": s, "var": v, "var_classical": var, "factor": factor, "z": z,
            "p_value": float(2 * stats.norm.sf(abs(z))) if v > 0 else np.nan, "tau": s / (n * (n - 1) / 2), "n": n}


def theil_sen(y, t, level: float = 0.95) -> dict:
    ts = stats.theilslopes(np.asarray(y, dtype=float), np.asarray(t, dtype=float), alpha=level)
    return {"estimate": ts.slope, "ci_low": ts.low_slope, "ci_high": ts.high_slope}


# --------------------------------------------------------------------------- diagnostics


def ljung_box(resid, lags) -> pd.DataFrame:
    """Ljung-Box Q and p at each lag (R's ``Box.test(type = "Ljung-Box")``); lags as long as
    the series are left out."""
    r = np.asarray(resid, dtype=float)
    n = len(r)
    lags = [int(lag) for lag in lags if 0 < lag < n]
    if not lags:
        return pd.DataFrame({"lag": [], "q": [], "p_value": []})
    c = r - r.mean()
    denom = c @ c
    top = max(lags)
    acf = np.array([c[k:] @ c[:-k] for k in range(1, top + 1)]) / denom
    q = n * (n + 2) * np.cumsum(acf**2 / (n - np.arange(1, top + 1)))
    return pd.DataFrame({"lag": lags, "q": q[np.array(lags) - 1], "p_value": stats.chi2.sf(q[np.array(lags) - 1],
                                                                                           lags)})


def _ljung_box_q(r: np.ndarray, lag: int) -> np.ndarray:
    """Ljung-Box Q at ``lag`` of each column of r."""
    n = r.shape[0]
    c = r - r.mean(axis=0)
    denom = (c * c).sum(axis=0)
    acf = np.array([(c[k:] * c[:-k]).sum(axis=0) for k in range(1, lag + 1)]) / denom
    return n * (n + 2) * np.sum(acf**2 / (n - np.arange(1, lag + 1))[:, None], axis=0)


def ljung_box_simulated(f: Fit, lag: int, draws: int, seed: int) -> tuple[float, float]:
    """Ljung-Box Q at ``lag`` of the fit's residuals, with p against the null simulated for the
    design: Q of the residuals of the same (weighted) least-squares fit to iid normal errors.
    The chi-square reference assumes raw errors, not residuals of a 48-point trend model,
    and rejects about twice as often as it should there (docs/its.md)."""
    n = f.n
    lag = min(int(lag), n - 1)
    sw = np.sqrt(f.weights)
    Xw = f.X * sw[:, None]
    E = np.random.default_rng(seed).standard_normal((n, draws))
    R = E - Xw @ np.linalg.solve(Xw.T @ Xw, Xw.T @ E)
    null = _ljung_box_q(R, lag)
    q = float(_ljung_box_q(f.resid[:, None], lag)[0])
    return q, float((1 + np.sum(null >= q)) / (1 + draws))


def acf(x, nlags: int) -> np.ndarray:
    """Autocorrelations at lags 1..nlags (statsmodels' ``acf``, R's ``acf``)."""
    c = np.asarray(x, dtype=float) - np.mean(x)
    return np.array([c[k:] @ c[:-k] for k in range(1, nlags + 1)]) / (c @ c)


def pacf(x, nlags: int) -> np.ndarray:
    """Partial autocorrelations at lags 1..nlags by Yule-Walker with the (n - k) denominator
    (statsmodels' ``pacf`` default, ``ywadjusted``), by the Durbin-Levinson recursion.  Written
    here so that the stage does not import statsmodels (a second of start-up per run)."""
    c = np.asarray(x, dtype=float) - np.mean(x)
    n = len(c)
    gamma = np.array([c[k:] @ c[: n - k] / (n - k) for k in range(nlags + 1)])
    rho = gamma / gamma[0]
    out, phi = np.empty(nlags), np.zeros(0)
    for k in range(1, nlags + 1):
        a = (rho[k] - phi @ rho[1:k][::-1]) / (1 - phi @ rho[1:k])
        phi = np.append(phi - a * phi[::-1], a)
        out[k - 1] = a
    return out


def diagnostics(f: Fit, lb_lags: list[int], acf_lags: int) -> list[dict]:
    """Durbin-Watson, Ljung-Box and ACF/PACF of the residuals (Pearson residuals for the GLMs)."""
    resid = f.resid
    dw = float(np.sum(np.diff(resid) ** 2) / np.sum(resid**2))
    rows = [{"diagnostic": "durbin_watson", "lag": np.nan, "value": dw, "p_value": np.nan}]
    rows += [{"diagnostic": "ljung_box", "lag": r.lag, "value": r.q, "p_value": r.p_value}
             for r in ljung_box(resid, lb_lags).itertuples()]
    nlags = min(acf_lags, len(resid) // 2 - 1)
    if nlags >= 1:
        rows += [{"diagnostic": "acf", "lag": k, "value": v, "p_value": np.nan}
                 for k, v in enumerate(acf(resid, nlags), start=1)]
        rows += [{"diagnostic": "pacf", "lag": k, "value": v, "p_value": np.nan}
                 for k, v in enumerate(pacf(resid, nlags), start=1)]
    rows += [{"diagnostic": "residual", "lag": i, "value": r, "p_value": np.nan} for i, r in enumerate(resid)]
    return rows


def seasonality_test(f: Fit, months, cfg: dict, inf: Inference, methods) -> dict:
    """Joint test of the Fourier terms of the month (``its.harmonics`` pairs of ``its.period``):
    on the model's own terms when it has them, else on the model refitted with them.  Returns
    each method's (W/q, p) and the seasonal peak-to-trough (a ratio on log scales)."""
    names = season_terms(int(cfg["harmonics"]))
    if not set(names) <= set(f.terms):
        X = np.column_stack([f.X, harmonic(months, int(cfg["harmonics"]), float(cfg["period"]))])
        f = fit_model(f.y, X, f.family, f.offset, terms=[*f.terms, *names])
    idx = [f.terms.index(n) for n in names]
    C = np.eye(len(f.terms))[idx]
    out = {m: wald_test(f, m, inf, C) for m in methods}
    period = float(cfg["period"])
    grid = np.linspace(0, period, 200, endpoint=False)
    wave = harmonic(grid, int(cfg["harmonics"]), period) @ f.beta[idx]
    span = float(wave.max() - wave.min())
    return {"tests": out, "peak_to_trough": np.exp(span) if f.family in LOG_SCALE else span}


# --------------------------------------------------------------------------- the pipeline's models


MODELS = {"events": [("segmented_quasipoisson", "quasipoisson")],
          "harm": [("segmented_quasipoisson", "quasipoisson"), ("segmented_ols", "ols"),
                   ("segmented_loglinear", "loglinear")]}
COLUMNS = ["measure", "category", "model", "term", "estimate", "se", "se_type", "ci_low", "ci_high", "p_value", "n",
           "df", "ratio", "ratio_ci_low", "ratio_ci_high"]
DIAGNOSTIC_COLUMNS = ["measure", "category", "model", "diagnostic", "lag", "value", "p_value"]
FITTED_COLUMNS = ["measure", "category", "model", "month", "observed", "fitted", "counterfactual"]
SUMMARY_COLUMNS = ["measure", "model", "change", "post_trend_slope", "post_trend_down", "placebos_significant",
                   "rule", "alpha", "level_ratio", "slope_ratio", "post_trend_ratio", "autocorrelation", "seasonality"]
MODEL_TYPES = {"measure": str, "category": str, "model": str, "term": str, "estimate": float, "se": float,
               "se_type": str, "ci_low": float, "ci_high": float, "p_value": float, "n": int, "df": float,
               "ratio": float, "ratio_ci_low": float, "ratio_ci_high": float, "base_model": str}


def rule_methods(rule: str) -> list[str]:
    """The standard-error types a decision rule needs (A23)."""
    return ["model", "hac"] if rule == "both" else [rule]


def rule_for(cfg: dict, measure: str) -> str:
    """The decision rule of ``measure``: ``its.significance``, one rule for every measure or
    one per measure (A23, A133)."""
    sig = cfg["significance"]
    return str(sig[measure]) if isinstance(sig, dict) else str(sig)


def season_methods(methods) -> list[str]:
    """The errors of the seasonality test under a rule's ``methods``: the rule's own, except
    that ``cr2`` has no joint test here, so the AR(1) errors judge the Fourier terms (A133)."""
    return list(dict.fromkeys("ar1" if m == "cr2" else m for m in methods))


def written_methods(cfg: dict, measure: str | None = None) -> list[str]:
    """The standard-error types written to its_models: those configured (``cr2`` only where the
    units' series are given), and the rule's."""
    rules = [rule_for(cfg, measure)] if measure else [rule_for(cfg, m) for m in MODELS]
    return list(dict.fromkeys([*cfg["standard_errors"], *(m for r in rules for m in rule_methods(r))]))


def fit_problem(y, months, kind: str, interruption: float = 0) -> str:
    """Why a count model cannot be fitted ("" when it can): a side of the interruption with no
    events makes its level change unbounded (the GLM does not converge)."""
    if kind not in COUNT_FAMILIES:
        return ""
    y, months = np.asarray(y, dtype=float), np.asarray(months, dtype=float)
    if y[months < interruption].sum() == 0 or y[months >= interruption].sum() == 0:
        return "not run: no events on one side of the interruption (the level change is unbounded)"
    return ""


def skip_reason(series: pd.DataFrame) -> str:
    """Why a monthly series is not modelled ("" when it is): no analysed subjects, no arrests,
    or too few months on either side of the order (MIN_SEGMENT_MONTHS)."""
    months = series["month"].to_numpy()
    if not (series["subjects_at_risk"] > 0).any():
        return "not run: no analysed subjects"
    if series["value"].sum() == 0:
        return "not run: the monthly series is all zero"
    if min((months < 0).sum(), (months >= 0).sum()) < MIN_SEGMENT_MONTHS:
        return f"not run: fewer than {MIN_SEGMENT_MONTHS} months before or after the order"
    return ""


def segmented_fit(y, months, kind: str, cfg: dict, interruption: int = 0, offset=None) -> Fit:
    """The pipeline's segmented model of one series (Fourier terms of the month when
    ``its.seasonal_terms``); the design of :func:`design`, built without pandas for speed."""
    t = np.asarray(months, dtype=float)
    post = (t >= interruption).astype(float)
    columns = [np.ones_like(t), t, post, (t - interruption) * post]
    terms = list(TERMS)
    if cfg["seasonal_terms"]:
        columns += list(harmonic(t, int(cfg["harmonics"]), float(cfg["period"])).T)
        terms += season_terms(int(cfg["harmonics"]))
    return fit_model(y, np.column_stack(columns), kind, offset, terms=terms)


def fit_segmented(y: np.ndarray, months: np.ndarray, kind: str, hac_lags: int, interruption: int = 0,
                  offset: np.ndarray | None = None):
    """The segmented model with model-based and Newey-West errors: (rows, fit).  Kept for
    notebooks; :func:`its` is the general form."""
    X = design(months, interruption)
    f = fit_model(y, X.to_numpy(), kind, offset, terms=list(X.columns))
    return term_rows(f, ["model", "hac"], Inference(hac_lags=hac_lags)), f


def fitted_rows(f: Fit, months: np.ndarray) -> pd.DataFrame:
    """Observed, fitted and counterfactual (``post`` and ``time_since`` set to 0: the
    before-trend projected) per month, on the data's own scale."""
    X = f.X.copy()
    for term in ("post", "time_since"):
        if term in f.terms:
            X[:, f.terms.index(term)] = 0.0
    return pd.DataFrame({"month": np.asarray(months).astype(int), "observed": f.y, "fitted": f.fitted,
                         "counterfactual": INVERSE[f.family](X @ f.beta + f.offset)})


def post_trend_rows(f: Fit, methods, inf: Inference) -> list[dict]:
    """The slope after the interruption, time + time_since, under each method."""
    c = np.zeros(len(f.terms))
    c[[f.terms.index("time"), f.terms.index("time_since")]] = 1.0
    rows = []
    for method in methods:
        r = contrast_inference(f, method, inf, c[None, :])
        rows.append(_row("slope", f, inf.label(method), {k: v[0] for k, v in r.items()}))
    return rows


def placebo_months(months: np.ndarray, min_segment: int) -> list[int]:
    """Every fake interruption month inside the before period leaving ``min_segment`` months
    before it and from it, still before the order (A24)."""
    before = np.sort(months[months < 0])
    return [int(m) for m in before[min_segment: len(before) - min_segment + 1]]


def _placebos(y, months, kind, cfg, inf, offset, base: dict, rule: str, panel=None) -> list[dict]:
    """The model fitted to the before period alone, interrupted at every feasible fake month
    (A24), under the decision rule's standard errors (``panel``: the units' series, for
    ``cr2``); none when fewer than 6 before-months have any events."""
    before = months < 0
    if (y[before] > 0).sum() < 6:
        return []
    rows = []
    methods = rule_methods(rule)
    for fake in placebo_months(months, int(cfg["placebo_min_segment"])):
        if fit_problem(y[before], months[before], kind, fake):
            continue
        try:
            f = segmented_fit(y[before], months[before], kind, cfg, interruption=fake,
                              offset=None if offset is None else offset[before])
            if panel is not None:
                with_panel(f, panel[:, before])
            rows += [{**base, "model": f"placebo_{fake}", "placebo_month": fake, **r}
                     for r in term_rows(f, methods, inf, ["post", "time_since"])]
        except NotFitted:  # a segment the model fits exactly: no finite level or slope change to test
            continue
    return rows


def _typed(rows: list[dict], columns: list[str], types: dict) -> pd.DataFrame:
    """A frame of ``rows`` with these columns, typed even when there are no rows (or when a
    text column holds only missing values)."""
    return pd.DataFrame(rows, columns=columns).astype({c: t for c, t in types.items() if c in columns})


def its_models(monthly: pd.DataFrame, config: dict, panels: dict | None = None
               ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """All models for every measure x category: (its_models, its_diagnostics, its_fitted).  A
    series not modelled (:func:`skip_reason`) gets one row, model ``none``, with the reason in
    ``note`` (a column present only when some series was skipped).  ``panels`` maps (measure,
    category) to the subjects' series (subjects x the series' months, :func:`subject_panels`),
    which ``cr2`` errors need: a series whose rule is ``cr2`` and has none is not modelled, and
    its note says so."""
    cfg = config["its"]
    inf = Inference.from_config(cfg, float(config["study"]["alpha"]))
    panels = panels or {}
    rows, diag, fitted_parts = [], [], []
    for (measure, category), s in monthly.groupby(["measure", "category"], sort=False):
        s = s.sort_values("month")
        months, y = s["month"].to_numpy(), s["value"].to_numpy(dtype=float)
        rule, panel = rule_for(cfg, measure), panels.get((measure, category))
        offset = np.log(s["subjects_at_risk"].to_numpy(float)) if (measure == "events" and cfg["events_offset"]) \
            else None
        base = {"measure": measure, "category": category}
        reason = skip_reason(s) or fit_problem(y, months, dict(MODELS[measure])[cfg["primary"][measure]]) or (
            "its.significance is cr2, which needs each subject's series; none was given" if
            rule == "cr2" and panel is None else "")
        if reason:
            rows.append({**base, "model": "none", "term": "note", "n": len(y), "note": reason})
            continue
        for model_name, kind in MODELS[measure]:
            got = _one_model(y, months, kind, cfg, inf, offset, panel, {**base, "model": model_name}, rule)
            rows += got[0]
            if got[1] is None:   # not fitted: its note row only
                continue
            fitted_parts.append(got[1])
            diag += got[2]
            if model_name == cfg["primary"][measure]:
                rows += _placebos(y, months, kind, cfg, inf, offset, {**base, "base_model": model_name}, rule,
                                  panel)
        rows += [{**base, **r} for r in trend_rows(y[months >= 0], months[months >= 0], inf.level)]
    models = _typed(rows, list(dict.fromkeys([*COLUMNS, "base_model", *(k for r in rows for k in r)])), MODEL_TYPES)
    models["base_model"] = models.get("base_model", pd.Series(np.nan, index=models.index)).fillna(models["model"])
    models["placebo_month"] = models.get("placebo_month", pd.Series(np.nan, index=models.index)).astype("Int64")
    fitted = pd.concat(fitted_parts, ignore_index=True)[FITTED_COLUMNS] if fitted_parts else _typed(
        [], FITTED_COLUMNS, {"measure": str, "category": str, "model": str, "month": int, "observed": float,
                             "fitted": float, "counterfactual": float})
    diagnostics_ = _typed(diag, DIAGNOSTIC_COLUMNS, {"measure": str, "category": str, "model": str,
                                                      "diagnostic": str, "lag": float, "value": float,
                                                      "p_value": float})
    note = ["note"] if "note" in models else []
    return models[COLUMNS + ["base_model", "placebo_month"] + note], diagnostics_, fitted


def _one_model(y, months, kind, cfg, inf, offset, panel, here: dict, rule: str):
    """One model of one series: (its_models rows, its_fitted rows or None when not fitted,
    its_diagnostics rows), under the written standard errors (``cr2`` where ``panel`` is given
    and the family counts) and the rule's diagnostics."""
    base = {k: here[k] for k in ("measure", "category")}
    methods = [m for m in written_methods(cfg, here["measure"])
               if m != "cr2" or (panel is not None and kind in COUNT_FAMILIES)]
    try:
        f = segmented_fit(y, months, kind, cfg, offset=offset)
        if panel is not None:
            with_panel(f, panel)
        rows = [{**here, **r} for r in term_rows(f, methods, inf)]
        rows += [{**base, "model": "post_trend", "base_model": here["model"], **r}
                 for r in post_trend_rows(f, methods, inf)]
        extra = _extra_diagnostics(f, months, cfg, inf, rule_methods(rule), here)
    except NotFitted as err:
        return [{**here, "term": "note", "n": len(y), "note": f"not run: {err}"}], None, []
    diag = [{**here, **d} for d in diagnostics(f, list(cfg["ljung_box_lags"]), int(cfg["acf_lags"]))]
    return rows, fitted_rows(f, months).assign(**here), diag + extra


def subject_panels(windowed: pd.DataFrame, subjects, months) -> dict:
    """Each (measure, category)'s subjects x months matrix of arrests (``events``) and harm,
    ``overall`` first: the units' series behind the monthly series, for ``cr2`` errors.
    ``windowed`` is the analysed subjects' arrests in their windows
    (:func:`strostudy.cohort.window_events`), ``subjects`` every analysed subject (a subject with
    no arrest is a row of zeros), ``months`` the series' months."""
    subjects = pd.Index(pd.unique(np.asarray(subjects, dtype=object)))
    months = np.asarray(months)
    both = pd.concat([windowed.assign(category="overall"), windowed], ignore_index=True)
    row = subjects.get_indexer(both["subject_id"])
    col = np.searchsorted(months, both["month"].to_numpy())
    out = {}
    cats = both["category"].astype(str).to_numpy()
    for category in ["overall", *sorted(set(cats) - {"overall"})]:
        at = cats == category
        for measure, weight in (("events", np.ones(at.sum())), ("harm", both.loc[at, "harm_score"].to_numpy(float))):
            Y = np.zeros((len(subjects), len(months)))
            np.add.at(Y, (row[at], col[at]), weight)
            out[(measure, category)] = Y
    return out


def _extra_diagnostics(f: Fit, months, cfg, inf, methods, here: dict) -> list[dict]:
    """The Ljung-Box test at ``its.ljung_box_lag`` against its null simulated for the design
    (``ljung_box_simulated``: the one that decides, A64), the AR(1) correlation and Ljung-Box
    of the AR(1)-whitened residuals, and the seasonality test under each decision method
    (``seasonality_<method>``; value W/q) with the seasonal peak-to-trough
    (``seasonal_peak_to_trough``)."""
    a = fit_ar1(f)
    lag = min(int(cfg["ljung_box_lag"]), f.n - 1)
    lb = ljung_box(a.whitened, [lag])
    q, p = ljung_box_simulated(f, lag, int(cfg["ljung_box_draws"]), int(cfg["seed"]))
    rows = [{**here, "diagnostic": "ljung_box_simulated", "lag": lag, "value": q, "p_value": p},
            {**here, "diagnostic": "ar1_phi", "lag": 1.0, "value": a.phi, "p_value": np.nan}]
    rows += [{**here, "diagnostic": "ljung_box_ar1", "lag": r.lag, "value": r.q, "p_value": r.p_value}
             for r in lb.itertuples()]
    season = seasonality_test(f, months, cfg, inf, season_methods(methods))
    rows += [{**here, "diagnostic": f"seasonality_{inf.label(m)}", "lag": np.nan, "value": w, "p_value": p}
             for m, (w, p) in season["tests"].items()]
    rows.append({**here, "diagnostic": "seasonal_peak_to_trough", "lag": np.nan, "value": season["peak_to_trough"],
                 "p_value": np.nan})
    return rows


def trend_rows(v: np.ndarray, t: np.ndarray, level: float) -> list[dict]:
    """The trend after the order without a model: the classical Mann-Kendall test (and with
    the Hamed-Rao correction), Kendall's tau-b (scipy) and Theil-Sen's slope."""
    n = len(v)
    rows = []
    for se_type, hr in (("classical", False), ("hamed_rao", True)):
        mk = mann_kendall(v, hamed_rao=hr, level=level)
        rows.append({"model": "mann_kendall", "term": "S", "estimate": mk["S"], "se": np.sqrt(mk["var"]),
                     "se_type": se_type, "ci_low": np.nan, "ci_high": np.nan, "p_value": mk["p_value"], "n": n})
    tau = stats.kendalltau(t, v)
    rows.append({"model": "kendall_tau", "term": "tau_b", "estimate": tau.statistic, "se": np.nan, "se_type": "model",
                 "ci_low": np.nan, "ci_high": np.nan, "p_value": tau.pvalue, "n": n})
    ts = theil_sen(v, t, level)
    rows.append({"model": "theil_sen", "term": "slope", "se": np.nan, "se_type": "model", "p_value": np.nan, "n": n,
                 **ts})
    return rows


# --------------------------------------------------------------------------- decisions


LABELS = {"events": "arrests", "harm": "harm"}


def _pick(models: pd.DataFrame, model: str, term: str, rule: str, base_model: str | None = None) -> pd.DataFrame:
    """The rows of ``model``/``term`` under the rule's standard errors (one per method)."""
    m = models.loc[(models["model"] == model) & (models["term"] == term)]
    if base_model is not None:
        m = m.loc[m["base_model"] == base_model]
    kind = m["se_type"].str.replace(r"hac_\d+", "hac", regex=True)
    return m.loc[kind.isin(rule_methods(rule))]


def significant(models: pd.DataFrame, measure: str, model: str, term: str, alpha: float, rule: str,
                category: str = "overall") -> bool:
    """Is ``term`` significant under the decision rule (A23): one standard-error type
    (``model``, ``hac``, ``fixedb``, ``ar1``) or ``both`` (model-based and HAC must agree)."""
    m = _pick(models.loc[(models["measure"] == measure) & (models["category"] == category)], model, term, rule)
    return bool(len(m) == len(rule_methods(rule)) and (m["p_value"] < alpha).all())


def describe_change(models: pd.DataFrame, measure: str, model: str, alpha: float, rule: str,
                    category: str = "overall") -> str:
    """'gradual', 'stepped', 'both' or 'neither' (A22), from the level and slope changes."""
    level = significant(models, measure, model, "post", alpha, rule, category)
    slope = significant(models, measure, model, "time_since", alpha, rule, category)
    return {(False, True): "gradual", (True, False): "stepped", (True, True): "both", (False, False): "neither"}[
        (level, slope)]


def _estimate_decision(rows: pd.DataFrame, log: bool, alpha: float) -> dict:
    """Decision fields from the rule's rows of one term: significant when every method's p <
    alpha (p reported: the largest); estimate and interval from the first method, as a ratio
    (null 1) on log scales, a coefficient (null 0) otherwise."""
    if rows.empty:
        return {"significant": False, "note": "not fitted"}
    first = rows.iloc[0]
    est, lo, hi = (("ratio", "ratio_ci_low", "ratio_ci_high") if log else ("estimate", "ci_low", "ci_high"))
    return {"significant": bool((rows["p_value"] < alpha).all()), "estimate": first[est], "ci_low": first[lo],
            "ci_high": first[hi], "p_value": float(rows["p_value"].max()), "null_value": 1.0 if log else 0.0}


def its_decisions(models: pd.DataFrame, diagnostics: pd.DataFrame, config: dict) -> pd.DataFrame:
    """One decision per rule and measure x category (:mod:`strostudy.decisions`):
    ``its_level``, ``its_slope``, ``its_posttrend``, ``placebo``, ``ljungbox``, ``seasonality``
    and, when ``its.mann_kendall`` names a variant, ``mannkendall``.  A series not modelled gets every rule, not significant, with the
    reason in ``note``."""
    from .decisions import decision, frame

    cfg = config["its"]
    alpha = float(config["study"]["alpha"])
    inf = Inference.from_config(cfg, alpha)
    family = {name: kind for pairs in MODELS.values() for name, kind in pairs}
    rows = []
    for (measure, category), m in models.groupby(["measure", "category"], sort=False):
        rule = rule_for(cfg, measure)
        labels = [inf.label(x) for x in rule_methods(rule)]
        primary = cfg["primary"][measure]
        log = family[primary] in LOG_SCALE
        label, cat = LABELS[measure], category.replace("_", " ")
        where = f"monthly {label} ({cat})"
        scale = "rate ratio" if family[primary] in COUNT_FAMILIES else (
            "ratio of geometric means of 1 + harm" if log else "coefficient")
        se = ("model-based and HAC standard errors (both)" if rule == "both" else
              "CR2 standard errors clustered on subjects, Satterthwaite df" if rule == "cr2" else
              f"{rule} standard errors")
        claims = {
            "its_level": f"The level of {where} changed at the order: the level change (post) of the primary model "
                         f"({primary}) differs from no change",
            "its_slope": f"The trend of {where} changed at the order: the slope change (time_since) of the primary "
                         f"model ({primary}) differs from no change",
            "its_posttrend": f"{where.capitalize()} had a linear trend after the order: the post-order slope "
                             f"(time + time_since) of the primary model ({primary}) differs from no change",
            "placebo": f"A spurious interruption is found in the before period of {where}: at some fake order month, "
                       "the level or slope change of the primary model is significant after a Bonferroni adjustment "
                       "over every fake month and both terms",
            "ljungbox": f"The residuals of the primary model of {where} are autocorrelated: Ljung-Box test at lags "
                        f"1-{int(cfg['ljung_box_lag'])}",
            "seasonality": f"{where.capitalize()} are seasonal: a joint test of {2 * int(cfg['harmonics'])} Fourier "
                           f"terms of a {float(cfg['period']):g}-month period added to the primary model"}
        if cfg["mann_kendall"] != "none":  # A65: by default the Mann-Kendall test is reported, not a decision
            claims["mannkendall"] = (f"{where.capitalize()} show a monotonic trend after the order: the Mann-Kendall "
                                     "test" + (" with the Hamed-Rao autocorrelation correction"
                                               if cfg["mann_kendall"] == "hamed_rao" else ""))
        note_rows = m.loc[m["model"].isin(["none", primary]) & (m["term"] == "note")]
        if len(note_rows):
            reason = str(note_rows["note"].iloc[0]) if "note" in m else "not run"
            rows += [decision(test, measure, category, significant=False, alpha=alpha, claim=claim, note=reason,
                              null_value=1.0 if log and test.startswith("its") else 0.0)
                     for test, claim in claims.items()]
            continue
        d = diagnostics.loc[(diagnostics["measure"] == measure) & (diagnostics["category"] == category)
                            & (diagnostics["model"] == primary)]
        for test, term in (("its_level", "post"), ("its_slope", "time_since")):
            fields = _estimate_decision(_pick(m, primary, term, rule), log, alpha)
            missing = fields.pop("note", "")
            rows.append(decision(test, measure, category, alpha=alpha, claim=claims[test],
                                 note=missing or (f"{se}; estimate is the {scale}" if log else f"{se}"), **fields))
        trend = _estimate_decision(_pick(m, "post_trend", "slope", rule, base_model=primary), log, alpha)
        missing = trend.pop("note", "")
        n_after = int(m.loc[m["model"] == "mann_kendall", "n"].iloc[0]) if (m["model"] == "mann_kendall").any() else 0
        direction = ("down" if trend.get("estimate", np.nan) < trend.get("null_value", 0) else "up")
        rows.append(decision("its_posttrend", measure, category, alpha=alpha, claim=claims["its_posttrend"],
                             note=missing or f"{se}; a straight line through the {n_after} months after the order "
                                  f"(estimate: {scale} per month, {direction}); it summarises the whole after "
                                  "period and does not show that a fall continued month on month", **trend))
        if "mannkendall" in claims:
            rows.append(_mk_decision(m, measure, category, cfg, alpha, claims["mannkendall"]))
        rows.append(_placebo_decision(m, measure, category, primary, labels, log, alpha, claims["placebo"]))
        rows.append(_ljungbox_decision(d, measure, category, cfg, rule, alpha, claims["ljungbox"]))
        rows.append(_season_decision(d, measure, category, [inf.label(x) for x in season_methods(rule_methods(rule))], log, alpha,
                                     claims["seasonality"]))
    return frame(rows)


def _mk_decision(m, measure, category, cfg, alpha, claim) -> dict:
    from .decisions import decision

    variant = cfg["mann_kendall"]
    mk = m.loc[(m["model"] == "mann_kendall") & (m["se_type"] == variant)]
    if mk.empty:
        return decision("mannkendall", measure, category, significant=False, alpha=alpha, claim=claim, note="not run")
    r = mk.iloc[0]
    ts = m.loc[m["model"] == "theil_sen"].iloc[0]
    n = int(r["n"])
    return decision("mannkendall", measure, category, significant=bool(r["p_value"] < alpha), alpha=alpha,
                    claim=claim, estimate=r["estimate"], p_value=r["p_value"],
                    note=f"estimate is S over the {n} months after the order (Kendall's tau-a "
                         f"{r['estimate'] / (n * (n - 1) / 2):.3f}); Theil-Sen slope {ts['estimate']:.3g} per month "
                         f"({ts['ci_low']:.3g} to {ts['ci_high']:.3g})")


def _placebo_decision(m, measure, category, primary, labels, log, alpha, claim) -> dict:
    """Bonferroni over every fake month and both terms: significant when the smallest p times
    the number of tests is below alpha (under ``both``, a test's p is the larger of its two)."""
    from .decisions import decision

    p = m.loc[m["placebo_month"].notna() & (m["base_model"] == primary) & m["se_type"].isin(labels)]
    if p.empty:
        return decision("placebo", measure, category, significant=False, alpha=alpha, claim=claim,
                        null_value=1.0 if log else 0.0,
                        note="not run: fewer than 6 before-months with any events, or too short a before period")
    per_test = p.groupby(["placebo_month", "term"], sort=True).agg(
        p_value=("p_value", "max"), estimate=("ratio" if log else "estimate", "first"),
        ci_low=("ratio_ci_low" if log else "ci_low", "first"), ci_high=("ratio_ci_high" if log else "ci_high", "first"))
    n_tests = len(per_test)
    worst = per_test["p_value"].idxmin()
    best = per_test.loc[worst]
    adjusted = min(1.0, float(best["p_value"]) * n_tests)
    months = sorted({int(k) for k, _ in per_test.index})
    hits = sorted({int(k) for (k, _), q in per_test["p_value"].items() if q * n_tests < alpha})
    return decision("placebo", measure, category, significant=adjusted < alpha, alpha=alpha, claim=claim,
                    estimate=best["estimate"], ci_low=best["ci_low"], ci_high=best["ci_high"], p_value=adjusted,
                    null_value=1.0 if log else 0.0,
                    note=f"{len(months)} fake months ({months[0]} to {months[-1]}) x 2 terms; smallest p at month "
                         f"{int(worst[0])} ({worst[1]}), estimate and unadjusted interval from that test; p is "
                         f"Bonferroni-adjusted" + (f"; significant at months {', '.join(map(str, hits))}" if hits
                                                  else ""))


def _ljungbox_decision(d, measure, category, cfg, rule, alpha, claim) -> dict:
    from .decisions import decision

    lb = d.loc[d["diagnostic"] == "ljung_box_simulated"]
    if lb.empty:
        return decision("ljungbox", measure, category, significant=False, alpha=alpha, claim=claim,
                        note="not run: the series is too short for this lag")
    r = lb.iloc[0]
    white = d.loc[d["diagnostic"] == "ljung_box_ar1"]
    phi = d.loc[d["diagnostic"] == "ar1_phi", "value"]
    note = (f"Q on {int(r['lag'])} lags (estimate; null value its df), p against its null simulated for the "
            "model's design; "
            + (f"the AR(1) errors of the decision rule model it (phi = {phi.iloc[0]:.2f}); Ljung-Box of the "
               f"AR(1)-whitened residuals p = {white['p_value'].iloc[0]:.3g}" if rule == "ar1" and len(white)
               else f"the {rule} standard errors allow for it" if rule in ("hac", "fixedb", "cr2")
               else "the decision rule's model-based standard errors assume none"))
    return decision("ljungbox", measure, category, significant=bool(r["p_value"] < alpha), alpha=alpha, claim=claim,
                    estimate=r["value"], null_value=float(r["lag"]), p_value=r["p_value"], note=note)


def _season_decision(d, measure, category, labels, log, alpha, claim) -> dict:
    from .decisions import decision

    tests = d.loc[d["diagnostic"].isin([f"seasonality_{label}" for label in labels])]
    amp = d.loc[d["diagnostic"] == "seasonal_peak_to_trough", "value"]
    if tests.empty:
        return decision("seasonality", measure, category, significant=False, alpha=alpha, claim=claim,
                        null_value=1.0 if log else 0.0, note="not run")
    return decision("seasonality", measure, category, significant=bool((tests["p_value"] < alpha).all()),
                    alpha=alpha, claim=claim, estimate=amp.iloc[0] if len(amp) else np.nan,
                    null_value=1.0 if log else 0.0, p_value=float(tests["p_value"].max()),
                    note="estimate is the seasonal peak-to-trough " + ("ratio" if log else "difference")
                         + "; months are counted on each subject's own clock from the order (A20), so calendar "
                           "seasons are blurred across subjects")


def summary(models: pd.DataFrame, config: dict, decisions: pd.DataFrame | None = None,
            diagnostics: pd.DataFrame | None = None) -> pd.DataFrame:
    """The findings in words, per measure (overall): change type, post-order trend, placebos.
    A measure whose primary model was not fitted has no row (its reason is in its_models)."""
    cfg = config["its"]
    alpha = float(config["study"]["alpha"])
    if decisions is None:
        empty = pd.DataFrame(columns=DIAGNOSTIC_COLUMNS)
        decisions = its_decisions(models, empty if diagnostics is None else diagnostics, config)
    dec = decisions.set_index("rule")
    rows = []
    for measure, model in cfg["primary"].items():
        rule = rule_for(cfg, measure)
        key = f"{measure}_overall"
        if f"its_level_{key}" not in dec.index or not ((models["measure"] == measure) & (models["model"] == model)
                                                       & (models["category"] == "overall")).any():
            continue
        level, slope, trend = (dec.loc[f"{t}_{key}"] for t in ("its_level", "its_slope", "its_posttrend"))
        raw = _pick(models.loc[(models["measure"] == measure) & (models["category"] == "overall")], "post_trend",
                    "slope", rule, base_model=model)
        placebo = dec.loc[f"placebo_{key}"]
        hits = placebo["note"].split("significant at months ")[-1].split(", ") if placebo["significant"] else []
        rows.append({
            "measure": measure, "model": model, "change": describe_change(models, measure, model, alpha, rule),
            "post_trend_slope": float(raw["estimate"].iloc[0]) if len(raw) else np.nan,
            "post_trend_down": bool(trend["significant"] and trend["estimate"] < trend["null_value"]),
            "placebos_significant": ";".join(f"placebo_{h}" for h in hits), "rule": rule, "alpha": alpha,
            "level_ratio": level["estimate"] if level["null_value"] == 1 else np.nan,
            "slope_ratio": slope["estimate"] if slope["null_value"] == 1 else np.nan,
            "post_trend_ratio": trend["estimate"] if trend["null_value"] == 1 else np.nan,
            "autocorrelation": bool(dec.loc[f"ljungbox_{key}", "significant"]),
            "seasonality": bool(dec.loc[f"seasonality_{key}", "significant"])})
    return _typed(rows, SUMMARY_COLUMNS, {"measure": str, "model": str, "change": str, "post_trend_slope": float,
                                          "post_trend_down": bool, "placebos_significant": str, "rule": str,
                                          "alpha": float, "level_ratio": float, "slope_ratio": float,
                                          "post_trend_ratio": float, "autocorrelation": bool, "seasonality": bool})


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The time-series stage: models, diagnostics, fitted values, decisions and the findings
    in words."""
    import warnings

    from . import tables
    from .stages import say

    monthly = tables.read("monthly_series", inputs["monthly_series"])
    panels = None
    if any(rule_for(config["its"], m) == "cr2" for m in MODELS) or "cr2" in config["its"]["standard_errors"]:
        from .cohort import window_events

        cohort = tables.read("cohort", inputs["cohort"])
        windowed = window_events(tables.read("events", inputs["events"]), cohort, config)
        months = np.sort(monthly["month"].unique())
        panels = subject_panels(windowed, cohort.loc[cohort["analysed"], "subject_id"], months)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' small-sample notes; diagnostics are reported instead
        models, diagnostics_, fitted = its_models(monthly, config, panels)
    decisions = its_decisions(models, diagnostics_, config)
    tables.write(models, "its_models", output["its_models"])
    tables.write(diagnostics_, "its_diagnostics", output["its_diagnostics"])
    tables.write(fitted, "its_fitted", output["its_fitted"])
    tables.write(decisions, "its_decisions", output["its_decisions"])
    findings = summary(models, config, decisions)
    tables.write(findings, "its_summary", output["its_summary"])
    skipped = models.loc[(models["model"] == "none") & (models["category"] == "overall")]
    for row in skipped.itertuples():
        say(f"{row.measure}: no time-series model ({row.note})", log)
    for row in findings.itertuples():
        say(f"{row.measure}: change at the order is {row.change} ({row.model}, {row.rule} standard errors); "
            f"post-order trend {'down, significant' if row.post_trend_down else 'not significantly down'}; "
            f"placebos significant: {row.placebos_significant or 'none'}; residual autocorrelation "
            f"{'present' if row.autocorrelation else 'not detected'}; seasonality "
            f"{'present' if row.seasonality else 'not detected'}", log)
    return findings
