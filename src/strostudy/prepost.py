"""Paired before/after tests per measure and category, with R's defaults.

:func:`wilcoxon_signed_rank` reproduces R's ``wilcox.test(after, before, paired = TRUE,
conf.int = TRUE)``: zero differences dropped; exact p (and exact Hodges-Lehmann interval)
when n < 50 with no ties or zeros; otherwise the normal approximation with tie and
continuity corrections, and an interval found where R's ``uniroot`` looks for it.  Where R
stops ``uniroot`` within 1e-4 of the crossing, this module returns the crossing itself: the
statistic is a step function whose steps sit on Walsh averages, so the crossing is found by
bisection and snapped to the Walsh average it converges to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

MEASURES = ("events", "harm")


# --------------------------------------------------------------------------- signed-rank distribution


def _signrank_counts(n: int) -> np.ndarray:
    """Number of subsets of {1..n} with each sum 0..n(n+1)/2 (exact in float64 for n <= 60)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[: len(counts) - k].copy()
    return counts


def _scaled_counts(n: int) -> tuple[np.ndarray, float]:
    """The counts and R's scale ``f = exp(-n * log 2)``: R multiplies each count by ``f`` and
    adds them one by one, so p-values (and the achieved level of an exact interval, which R
    rounds with ``signif``) match R's to the last bit only when summed the same way."""
    return _signrank_counts(n), math.exp(-n * math.log(2))


def psignrank(q: float, n: int, lower_tail: bool = True) -> float:
    """R's ``psignrank``: P(V <= q) (or P(V > q)), summed as R sums it."""
    q = float(np.rint(q + 1e-7))
    top = n * (n + 1) / 2
    if q < 0:
        return 0.0 if lower_tail else 1.0
    if q >= top:
        return 1.0 if lower_tail else 0.0
    counts, f = _scaled_counts(n)
    if q <= top / 2:
        upto = int(q) + 1
    else:  # P(V >= q + 1) by symmetry
        upto, lower_tail = int(top - q), not lower_tail
    p = 0.0
    for count in counts[:upto]:
        p += float(count) * f
    return p if lower_tail else 0.5 - p + 0.5


def qsignrank(p: float, n: int) -> int:
    """R's ``qsignrank`` (lower tail): the smallest q with P(V <= q) >= p, searched as R does."""
    counts, f = _scaled_counts(n)
    eps = 10 * np.finfo(float).eps
    total, q = 0.0, 0
    if p <= 0.5:
        target = p - eps
        for count in counts:
            total += float(count) * f
            if total >= target:
                return q
            q += 1
        return q
    target = 1 - p + eps
    for count in counts:
        total += float(count) * f
        if total > target:
            return int(n * (n + 1) / 2 - q)
        q += 1
    return 0


EXACT_MAX_N = 1000


def exact_conditional_p(d: np.ndarray, max_n: int = EXACT_MAX_N, alternative: str = "two.sided",
                        mu: float = 0.0) -> float:
    """Exact p of the signed-rank statistic of ``d - mu`` conditional on the observed |d - mu|
    (zeros dropped, tied values given mid-ranks), from the full permutation distribution of
    signs - computed exactly by dynamic programming, not by Monte Carlo - as R's
    ``coin::wilcoxsign_test(distribution = exact(), zero.method = "Wilcoxon")``.  The work grows
    as n^3, so above ``max_n`` non-zero pairs it is not computed (NaN); there the normal
    approximation of the R-default p is accurate."""
    d = np.asarray(d, dtype=float) - mu
    x = d[d != 0]
    n = len(x)
    if n == 0:
        return 1.0
    if n > max_n:
        return float("nan")
    ranks2 = np.rint(2 * stats.rankdata(np.abs(x))).astype(np.int64)  # mid-ranks are multiples of 1/2
    total = int(ranks2.sum())
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    for r in ranks2:
        shifted = np.zeros_like(dist)
        shifted[r:] = dist[: total + 1 - r]
        dist = 0.5 * dist + 0.5 * shifted
    observed = int(ranks2[x > 0].sum())
    centre = total / 2
    values = np.arange(total + 1)
    extreme = {"two.sided": np.abs(values - centre) >= abs(observed - centre) - 1e-9,
               "less": values <= observed, "greater": values >= observed}[alternative]
    return float(min(1.0, dist[extreme].sum()))


# --------------------------------------------------------------------------- the test


@dataclass
class SignedRank:
    v: float
    z: float
    p_value: float
    n_nonzero: int
    method: str
    estimate: float
    ci_low: float
    ci_high: float
    conf_level: float
    note: str = ""


#: R's ``alternative`` values: the true location of after - before is ``two.sided`` (not equal to
#: mu), ``less`` (below mu: after lower) or ``greater`` (above mu).
ALTERNATIVES = ("two.sided", "less", "greater")


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)} (got {alternative!r})")


def _correction(zd: float, alternative: str) -> float:
    """R's continuity correction of the signed-rank statistic: towards the null on both sides,
    or a fixed half in the direction of a one-sided alternative."""
    return {"two.sided": float(np.sign(zd)) * 0.5, "greater": 0.5, "less": -0.5}[alternative]


def _w_stat(x: np.ndarray, d: float, correct: bool, alternative: str = "two.sided") -> float:
    """R's ``W(d)`` inside ``wilcox.test``: standardised signed-rank statistic of x - d."""
    xd = x - d
    xd = xd[xd != 0]
    nx = len(xd)
    if nx == 0:
        return np.nan
    dr = stats.rankdata(np.abs(xd))
    zd = dr[xd > 0].sum() - nx * (nx + 1) / 4
    _, tie_counts = np.unique(dr, return_counts=True)
    sigma = np.sqrt(nx * (nx + 1) * (2 * nx + 1) / 24 - (tie_counts ** 3 - tie_counts).sum() / 48)
    if sigma == 0:
        return np.nan
    return (zd - (_correction(zd, alternative) if correct else 0.0)) / sigma


def _nearest_walsh(x: np.ndarray, t: float) -> float:
    """The Walsh average (x_i + x_j) / 2, i <= j, closest to t (O(n log n))."""
    xs = np.sort(x)
    j = np.clip(np.searchsorted(xs, 2 * t - xs), 0, len(xs) - 1)
    cand = np.concatenate([(xs + xs[j]) / 2, (xs + xs[np.clip(j - 1, 0, len(xs) - 1)]) / 2])
    return float(cand[np.argmin(np.abs(cand - t))])


def _brent(f, a: float, b: float, fa: float, fb: float, tol: float, maxit: int = 1000) -> float:
    """Brent's zero finder (Forsythe, Malcolm and Moler 1977, the algorithm behind R's
    ``uniroot``), started from a bracket whose function values are known."""
    eps = np.finfo(float).eps
    if fa == 0:
        return a
    if fb == 0:
        return b
    c, fc = a, fa
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:  # two points: linear interpolation
                t1 = fb / fa
                p, q = cb * t1, 1.0 - t1
            else:  # three points: inverse quadratic interpolation
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _crossing(x: np.ndarray, zq: float, lo: float, hi: float, correct: bool, alternative: str = "two.sided",
              tol_root: float = 1e-4) -> float:
    """Where R's ``uniroot(W(d) - zq, c(lo, hi), tol = 1e-4)`` looks, found exactly.

    W is a non-increasing step function whose steps sit on Walsh averages.  R stops within
    ``tol_root`` of the step; this returns the step itself (bisection, then the nearest Walsh
    average).  Where R's iteration lands on an interval on which W equals zq exactly, every
    point of it is a root and R returns the one it landed on; so does this.  Where W - zq has
    the same sign at both ends (R's ``uniroot`` stops with an error) the crossing is NaN."""
    f = lambda d: _w_stat(x, d, correct, alternative) - zq  # noqa: E731
    f_lo, f_hi = f(lo), f(hi)
    if f_lo * f_hi > 0:
        return np.nan
    landed = _brent(f, lo, hi, f_lo, f_hi, tol_root)
    if f_lo == 0 or f_hi == 0 or f(landed) == 0:
        return landed
    a, b = lo, hi  # f(a) > 0 > f(b)
    tol = 1e-12 * max(1.0, float(np.max(np.abs(x))))
    for _ in range(200):
        if b - a <= tol:
            break
        m = (a + b) / 2
        fm = f(m)
        if fm == 0:
            return m
        a, b = (m, b) if fm > 0 else (a, m)
    return _nearest_walsh(x, (a + b) / 2)


def _not_achievable(level: float) -> str:
    return f"requested confidence level not achievable; interval is {level:.0%}"


def _exact(x: np.ndarray, v: float, conf_level: float, alternative: str) -> tuple:
    """R's exact branch: p from the signed-rank distribution, the interval from the Walsh
    averages (an infinite end on the side a one-sided alternative leaves open)."""
    n = len(x)
    top = n * (n + 1) / 2
    p = {"two.sided": lambda: min(2 * (psignrank(v - 1, n, lower_tail=False) if v > top / 2 else psignrank(v, n)),
                                  1.0),
         "greater": lambda: psignrank(v - 1, n, lower_tail=False),
         "less": lambda: psignrank(v, n)}[alternative]()
    walsh = np.sort((x[:, None] + x[None, :])[np.triu_indices(n)]) / 2
    alpha = 1 - conf_level
    qu = qsignrank(alpha / 2 if alternative == "two.sided" else alpha, n) or 1
    ql = int(top - qu)
    achieved = (2 if alternative == "two.sided" else 1) * psignrank(int(qu) - 1, n)
    low = -np.inf if alternative == "less" else float(walsh[qu - 1])
    high = np.inf if alternative == "greater" else float(walsh[ql])
    level, note = conf_level, ""
    if achieved - alpha > alpha / 2:
        level = 1 - float(f"{achieved:.2g}")
        note = _not_achievable(level)
    return float(p), float(np.median(walsh)), low, high, level, note


def _approximate_interval(x: np.ndarray, conf_level: float, correct: bool, alternative: str) -> tuple:
    """R's interval in the normal-approximation branch: where W(d) crosses the normal
    quantile(s), alpha doubled until the crossing lies inside the data's range.  (R checks the
    ``less`` bracket against the alpha/2 quantile, then solves at alpha; so does this.)"""
    lo, hi = float(x.min()), float(x.max())
    w_lo = _w_stat(x, lo, correct, alternative)
    w_hi = _w_stat(x, hi, correct, alternative) if np.isfinite(w_lo) else np.nan
    if not (np.isfinite(w_lo) and np.isfinite(w_hi)):
        return ((lo + hi) / 2, -np.inf if alternative == "less" else np.nan,
                np.inf if alternative == "greater" else np.nan, 0.0,
                "all differences tied: no confidence interval (estimate is the midrange)")
    alpha = 1 - conf_level

    def widen(too_narrow) -> float:
        a = alpha
        with np.errstate(invalid="ignore"):
            while too_narrow(a):
                a *= 2
        return a

    if alternative == "two.sided":
        alpha = widen(lambda a: w_lo - stats.norm.isf(a / 2) < 0 or w_hi - stats.norm.ppf(a / 2) > 0)
    elif alternative == "greater":
        alpha = widen(lambda a: w_lo - stats.norm.isf(a) < 0)
    else:
        alpha = widen(lambda a: w_hi - stats.norm.ppf(a / 2) > 0)
    level, note = conf_level, ""
    if alpha >= 1 or 1 - conf_level < alpha * 0.75:
        level = 1 - min(1.0, alpha)
        note = _not_achievable(level)
    root = lambda zq: _crossing(x, zq, lo, hi, correct, alternative)  # noqa: E731
    middle = float(np.median(x))
    if alternative == "two.sided":
        low, high = ((root(stats.norm.isf(alpha / 2)), root(stats.norm.ppf(alpha / 2))) if alpha < 1
                     else (middle, middle))
    elif alternative == "greater":
        low, high = (root(stats.norm.isf(alpha)) if alpha < 1 else middle), np.inf
    else:
        low, high = -np.inf, (root(stats.norm.ppf(alpha)) if alpha < 1 else middle)
    return _crossing(x, 0.0, lo, hi, correct=False), float(low), float(high), level, note


def wilcoxon_signed_rank(after: np.ndarray, before: np.ndarray, conf_level: float = 0.95, correct: bool = True,
                         alternative: str = "two.sided", mu: float = 0.0) -> SignedRank:
    """R's ``wilcox.test(after, before, paired = TRUE, conf.int = TRUE, alternative =, mu =)``.

    Differences after - before equal to ``mu`` are dropped (R's zeros).  ``less`` means after
    tends to lie below before + mu.  A one-sided interval has an infinite end, as R's.  The
    estimate and interval are on the scale of the differences (R adds mu back)."""
    _check_alternative(alternative)
    d = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    shifted = d - mu
    zeros = bool(np.any(shifted == 0))
    shifted = shifted[shifted != 0]
    n = len(shifted)
    if n == 0:
        return SignedRank(0.0, 0.0, 1.0, 0, "none", float(mu), np.nan, np.nan, 0.0,
                          "all paired differences equal mu: no change to test (p set to 1)" if mu else
                          "all paired differences are zero: no change to test (p set to 1)")
    r = stats.rankdata(np.abs(shifted))
    v = float(r[shifted > 0].sum())
    _, tie_counts = np.unique(r, return_counts=True)
    ties = bool((tie_counts > 1).any())
    sigma = np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - (tie_counts ** 3 - tie_counts).sum() / 48)
    z0 = v - n * (n + 1) / 4
    z = (z0 - (_correction(z0, alternative) if correct else 0.0)) / sigma if sigma > 0 else 0.0
    x = shifted + mu  # R adds mu back for the estimate and interval
    if n < 50 and not ties and not zeros:
        p, estimate, low, high, level, note = _exact(x, v, conf_level, alternative)
        return SignedRank(v, float(z), p, n, "exact", estimate, low, high, level, note)
    method = "normal approximation with tie and continuity corrections"
    if sigma > 0:
        p = {"two.sided": lambda: 2 * min(stats.norm.cdf(z), stats.norm.sf(z)),
             "less": lambda: stats.norm.cdf(z), "greater": lambda: stats.norm.sf(z)}[alternative]()
    else:
        p = 1.0
    estimate, low, high, level, note = _approximate_interval(x, conf_level, correct, alternative)
    return SignedRank(v, float(z), float(p), n, method, estimate, low, high, level, note)


def pratt_p(after: np.ndarray, before: np.ndarray, alternative: str = "two.sided", mu: float = 0.0) -> float:
    """Pratt's variant, as R's ``coin::wilcoxsign_test(after - mu ~ before, zero.method = "Pratt")``
    (asymptotic): differences equal to ``mu`` are ranked with the rest, then their ranks dropped;
    the signed-rank sum is standardised by its permutation mean and variance given the mid-ranks,
    with **no** continuity correction (coin applies none; scipy's ``wilcoxon(zero_method="pratt",
    correction=True)``, used here before, did; A71)."""
    _check_alternative(alternative)
    d = np.asarray(after, dtype=float) - np.asarray(before, dtype=float) - mu
    if np.all(d == 0):
        return 1.0
    r = stats.rankdata(np.abs(d))[d != 0]
    positive = d[d != 0] > 0
    z = (r[positive].sum() - r.sum() / 2) / np.sqrt((r ** 2).sum() / 4)
    return float({"two.sided": lambda: 2 * stats.norm.sf(abs(z)), "less": lambda: stats.norm.cdf(z),
                  "greater": lambda: stats.norm.sf(z)}[alternative]())


def rank_biserial(after: np.ndarray, before: np.ndarray) -> float:
    """Matched-pairs rank-biserial correlation (Kerby 2014): (T+ - T-) / (T+ + T-), zeros dropped."""
    d = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    d = d[d != 0]
    if len(d) == 0:
        return 0.0
    r = stats.rankdata(np.abs(d))
    return float((r[d > 0].sum() - r[d < 0].sum()) / r.sum())


def min_pairs(alpha: float) -> int:
    """The fewest non-zero paired differences with which the exact two-sided signed-rank test
    can reach p < ``alpha``: with n pairs its smallest p is 2 / 2**n (every difference the same
    sign), so n must exceed 1 - log2(alpha) (6 at alpha = 0.05, 8 at 0.01)."""
    return int(np.floor(1 - np.log2(alpha))) + 1


# The minimum n of each before/after calculation, and why:
# - every paired test needs at least one analysed subject: with none there is nothing to pair, and
#   the row says "not run: no analysed subjects" (p values and intervals NaN, totals 0);
# - the Wilcoxon signed-rank test itself runs from one subject, as R's wilcox.test does: its exact p
#   is valid for any n, only powerless.  Below min_pairs(alpha) non-zero differences it cannot reach
#   significance, and the row's note says so rather than hiding the result;
# - the interval of the reduction needs min_pairs(alpha) subjects too (for the BCa bootstrap: with n
#   subjects there are only C(2n - 1, n) distinct resamples (10 for n = 3, 126 for n = 5), too few
#   for 2.5% tails, so below that the interval is not computed (the point estimate still is);
# - Spearman's correlation needs MIN_CORRELATION_PAIRS pairs in which both variables vary.
MIN_CORRELATION_PAIRS = 3  # with 2 pairs rho is +-1 whatever the data, and its exact p is 1
NO_SUBJECTS = "not run: no analysed subjects"


def _paired_bca(samples: tuple, statistic, resamples: int, seed: int, level: float) -> tuple[float, float, str]:
    """A paired (cluster over subjects) BCa bootstrap interval of ``statistic`` of ``samples``
    (arrays, one value per subject), with the configured resamples and seed (A27)."""
    import warnings

    n = len(samples[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate resample distribution is reported in the note
        # ``batch`` bounds memory: each batch of resamples (and of BCa's jackknife) is n wide.
        res = stats.bootstrap(samples, statistic, paired=True, vectorized=True, method="BCa",
                              n_resamples=resamples, confidence_level=level, rng=np.random.default_rng(seed),
                              batch=max(1, min(resamples, 5_000_000 // max(n, 1))))
    low, high = res.confidence_interval
    note = "" if np.isfinite(low) and np.isfinite(high) else "bootstrap interval degenerate"
    return float(low), float(high), note


def _too_few(n: int, min_subjects: int, alike: bool) -> str:
    """Why a reduction's interval is not computed ("" when it is)."""
    if n >= max(min_subjects, 2) and not alike:
        return ""
    fewer = f" (fewer than {min_subjects})" if n < min_subjects else ""
    return f"too few distinct subjects for an interval{fewer}"


def _reduction(before, after, axis=-1):
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100 * (1 - after.sum(axis=axis) / before.sum(axis=axis))


def fieller_ratio(before: np.ndarray, after: np.ndarray, level: float) -> tuple[float, float, str]:
    """Fieller's interval for the ratio of paired means, sum(after) / sum(before): every r with
    (mean(a) - r mean(b))^2 <= t^2 var(a - r b) / n, t the two-sided ``level`` point of Student's
    t on n - 1 df (Fieller 1954; for paired data, e.g. mratios::ttestratio(paired = TRUE)).  It
    excludes r = 1 exactly when the paired t-test of after - before rejects at 1 - level.  When
    the before mean is not distinguishable from zero the set is unbounded: NaN ends and a note."""
    n = len(before)
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    ma, mb = after.mean(), before.mean()
    saa, sbb = after.var(ddof=1), before.var(ddof=1)
    sab = float(np.sum((after - ma) * (before - mb)) / (n - 1))
    q = t * t / n
    a, b, c = mb * mb - q * sbb, -2 * (ma * mb - q * sab), ma * ma - q * saa
    disc = b * b - 4 * a * c
    if a <= 0 or disc < 0:
        return np.nan, np.nan, "Fieller interval unbounded: the before-window mean is not distinguishable from zero"
    root = np.sqrt(disc)
    return float((-b - root) / (2 * a)), float((-b + root) / (2 * a)), ""


def reduction_ci(before: np.ndarray, after: np.ndarray, resamples: int, seed: int, level: float,
                 min_subjects: int = 2, method: str = "fieller"):
    """Percentage reduction 100 (1 - after/before) of the totals, with its interval (A27, A79):
    ``fieller``, Fieller's interval of the ratio of paired means (:func:`fieller_ratio`; its upper
    end is cut at 100, as the ratio of non-negative totals cannot be negative), or
    ``bca``, a paired (cluster over subjects) BCa bootstrap; either needs ``min_subjects``
    subjects whose windows are not all alike."""
    before = np.asarray(before, dtype=float)
    after = np.asarray(after, dtype=float)
    if before.sum() == 0:
        return np.nan, np.nan, np.nan, "no arrests before: reduction undefined"
    point = float(_reduction(before, after))
    why = _too_few(len(before), min_subjects, bool(np.all(before == before[0]) and np.all(after == after[0])))
    if why:
        return point, np.nan, np.nan, why
    if method == "bca":
        return point, *_paired_bca((before, after), _reduction, resamples, seed, level)
    low, high, note = fieller_ratio(before, after, level)
    # A ratio of non-negative totals is never below 0: the upper end is at most a 100% reduction.
    return point, 100 * (1 - high), min(100.0, 100 * (1 - low)) if np.isfinite(low) else np.nan, note


def _difference_delta(eb, ea, hb, ha, level: float) -> tuple[float, float, str]:
    """The delta-method interval of 100 (R_events - R_harm), R = sum(after) / sum(before): each
    subject's influence 100 [(ea - R_e eb) / mean(eb) - (ha - R_h hb) / mean(hb)], the variance
    sum(influence^2) / (n (n - 1)), and Student's t on n - 1 df, as :func:`fieller_ratio`."""
    n = len(eb)
    re_, rh = ea.sum() / eb.sum(), ha.sum() / hb.sum()
    influence = 100 * ((ea - re_ * eb) / eb.mean() - (ha - rh * hb) / hb.mean())
    se = float(np.sqrt(np.sum(influence**2) / (n * (n - 1))))
    point = 100 * (re_ - rh)
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return point - t * se, point + t * se, ""


def reduction_difference_ci(events_before: np.ndarray, events_after: np.ndarray, harm_before: np.ndarray,
                            harm_after: np.ndarray, resamples: int, seed: int, level: float, min_subjects: int = 2,
                            method: str = "fieller"):
    """Harm's percentage reduction minus arrests' (percentage points), with an interval that
    reflects that the two measures move together within subjects (A73, A79): the delta method
    with Student's t on n - 1 df (``fieller``, the default's companion) or a paired (cluster over
    subjects) BCa bootstrap (``bca``), each resample drawing subjects for both reductions."""
    eb, ea, hb, ha = (np.asarray(v, dtype=float) for v in (events_before, events_after, harm_before, harm_after))
    if eb.sum() == 0 or hb.sum() == 0:
        return np.nan, np.nan, np.nan, "no arrests before: reductions undefined"

    def statistic(eb, ea, hb, ha, axis=-1):
        return _reduction(hb, ha, axis) - _reduction(eb, ea, axis)

    point = float(statistic(eb, ea, hb, ha))
    why = _too_few(len(eb), min_subjects, all(np.all(v == v[0]) for v in (eb, ea, hb, ha)))
    if why:
        return point, np.nan, np.nan, why
    if method == "bca":
        return point, *_paired_bca((eb, ea, hb, ha), statistic, resamples, seed, level)
    return point, *_difference_delta(eb, ea, hb, ha, level)


#: The columns of prepost_tests, in order.
TEST_COLUMNS = ["measure", "category", "n_subjects", "total_before", "total_after", "reduction_pct",
                "reduction_ci_low", "reduction_ci_high", "wilcoxon_v", "wilcoxon_z", "n_nonzero", "p_value", "p_pratt",
                "p_exact", "p_holm", "p_method", "alternative", "mu", "effect_r", "effect_r_n", "rank_biserial",
                "hl_estimate", "hl_ci_low", "hl_ci_high", "hl_conf_level", "note", "significant_holm"]
_FLOATS = ["reduction_pct", "reduction_ci_low", "reduction_ci_high", "wilcoxon_v", "wilcoxon_z", "p_value",
           "p_pratt", "p_exact", "p_holm", "mu", "effect_r", "rank_biserial", "hl_estimate", "hl_ci_low", "hl_ci_high",
           "hl_conf_level"]


def not_run_row(measure: str, category: str, pp: dict, reason: str = NO_SUBJECTS) -> dict:
    """A measure x category row whose tests could not run: zero totals, NaN statistics."""
    return {**dict.fromkeys(_FLOATS, np.nan), "measure": measure, "category": category, "n_subjects": 0,
            "total_before": 0.0, "total_after": 0.0, "n_nonzero": 0, "p_method": "not run",
            "alternative": pp["alternative"], "mu": float(pp["mu"]), "effect_r_n": 0, "note": reason}


def test_row(measure: str, category: str, before: np.ndarray, after: np.ndarray, pp: dict, alpha: float) -> dict:
    """Every before/after statistic of one measure x category (at least one subject), under the
    configured ``alternative`` and ``mu`` (A70); the reduction's interval stays two-sided."""
    level = float(pp["confidence_level"])
    alternative, mu = pp["alternative"], float(pp["mu"])
    n_subjects, fewest = len(before), min_pairs(alpha)
    red, red_lo, red_hi, red_note = reduction_ci(before, after, int(pp["bootstrap_resamples"]),
                                                 int(pp["bootstrap_seed"]), level, min_subjects=fewest,
                                                 method=pp["reduction_interval"])
    w = wilcoxon_signed_rank(after, before, conf_level=level, alternative=alternative, mu=mu)
    n_for_r = n_subjects if pp["effect_r_n"] == "subjects" else max(w.n_nonzero, 1)
    notes = (red_note, w.note,
             f"only {w.n_nonzero} non-zero difference(s): the exact test cannot reach p < {alpha:g} with fewer "
             f"than {fewest}" if 0 < w.n_nonzero < fewest else "",
             "" if w.n_nonzero <= EXACT_MAX_N else f"exact p not computed above {EXACT_MAX_N} non-zero pairs")
    return {
        "measure": measure, "category": category, "n_subjects": n_subjects,
        "total_before": before.sum(), "total_after": after.sum(), "reduction_pct": red,
        "reduction_ci_low": red_lo, "reduction_ci_high": red_hi,
        "wilcoxon_v": w.v, "wilcoxon_z": w.z, "n_nonzero": w.n_nonzero, "p_value": w.p_value,
        "p_method": w.method, "p_pratt": pratt_p(after, before, alternative, mu),
        "p_exact": exact_conditional_p(after - before, alternative=alternative, mu=mu),
        "alternative": alternative, "mu": mu,
        "effect_r": w.z / np.sqrt(n_for_r) if n_for_r else np.nan, "effect_r_n": n_for_r,
        "rank_biserial": rank_biserial(after, before), "hl_estimate": w.estimate,
        "hl_ci_low": w.ci_low, "hl_ci_high": w.ci_high, "hl_conf_level": w.conf_level,
        "note": "; ".join(x for x in notes if x),
    }


def holm(tests: pd.DataFrame, primary: str) -> pd.Series:
    """Holm-adjusted ``primary`` p across every row whose test ran: both measures and every
    category together, one family (A29)."""
    from statsmodels.stats.multitest import multipletests

    adjusted = pd.Series(np.nan, index=tests.index)
    ran = tests[primary].notna()
    if ran.any():
        adjusted.loc[ran] = multipletests(tests.loc[ran, primary], method="holm")[1]
    return adjusted


def prepost_tests(windows: pd.DataFrame, config: dict, progress=None, categories=None) -> pd.DataFrame:
    """One row per measure x category: totals, reduction with CI, Wilcoxon (R default, Pratt,
    exact conditional), effect sizes, Hodges-Lehmann estimate with CI, Holm-adjusted p.
    ``categories`` (e.g. from the monthly series) adds rows for categories with no analysed
    subject, marked not run.  ``progress``, if given, is called as each row is done."""
    pp = config["prepost"]
    alpha = float(config["study"]["alpha"])
    if not np.isfinite(float(pp["mu"])):
        from .config import ConfigError

        raise ConfigError("config: prepost.mu must be a finite number (R's wilcox.test refuses any other)", "prepost.mu")
    names = list(dict.fromkeys([*windows["category"], *(categories or [])]))
    rows = []
    for measure in MEASURES:
        for category in names:
            d = windows.loc[windows["category"] == category]
            before, after = d[f"{measure}_before"].to_numpy(float), d[f"{measure}_after"].to_numpy(float)
            rows.append(test_row(measure, category, before, after, pp, alpha) if len(d)
                        else not_run_row(measure, category, pp))
            if progress is not None:
                progress(f"tested {measure} / {category} ({len(rows)} of {len(MEASURES) * len(names)})")
    out = pd.DataFrame(rows, columns=[c for c in TEST_COLUMNS if c not in ("p_holm", "significant_holm")])
    out = out.astype({c: float for c in _FLOATS if c != "p_holm"} | {"n_subjects": int, "n_nonzero": int,
                                                                      "effect_r_n": int, "alternative": str})
    # Zero differences (A25): R's default drops them; Pratt's variant ranks them first.  The
    # reported p_value is always R's; zero_method chooses the p that Holm adjusts.
    out["p_holm"] = holm(out, "p_pratt" if pp["zero_method"] == "pratt" else "p_value")
    out["significant_holm"] = (out["p_holm"] < alpha).astype(bool)
    return out[TEST_COLUMNS]


# --------------------------------------------------------------------------- Spearman, as R


def _prho_upper(n: int, s: float, lower_tail: bool) -> float:
    """P(S >= s) (or P(S < s)) for Spearman's S = (n^3 - n)(1 - rho)/6, by algorithm AS 89
    (Best and Roberts 1975): exact enumeration for n <= 9, an Edgeworth series above."""
    pv = 0.0 if lower_tail else 1.0
    if n <= 1 or s <= 0:
        return pv
    n3 = n * (n * n - 1) / 3
    if s > n3:
        return 1 - pv
    if n <= 9:
        import itertools

        base = np.arange(1, n + 1)
        perms = np.array(list(itertools.permutations(base)))
        sse = ((perms - base) ** 2).sum(axis=1)
        ifr = int((s <= sse).sum()) if s != n3 else 1
        total = len(perms)
        return (total - ifr) / total if lower_tail else ifr / total
    coef = [0.2274, 0.2531, 0.1745, 0.0758, 0.1033, 0.3932, 0.0879, 0.0151, 0.0072, 0.0831, 0.0131, 4.6e-4]
    c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12 = coef
    y = float(n)
    b = 1 / y
    x = (6 * (s - 1) * b / (y * y - 1) - 1) * np.sqrt(y - 1)
    y = x * x
    u = x * b * (c1 + b * (c2 + c3 * b) + y * (-c4 + b * (c5 + c6 * b) - y * b * (
        c7 + c8 * b - y * (c9 - c10 * b + y * b * (c11 - c12 * y)))))
    y = u / np.exp(y / 2)
    pv = (-y if lower_tail else y) + (stats.norm.cdf(x) if lower_tail else stats.norm.sf(x))
    return float(min(1.0, max(0.0, pv)))


def spearman_r(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """R's ``cor.test(x, y, method = "spearman")`` (two-sided): rho, p and how p was found."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    rho = float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])
    ties = min(len(np.unique(x)), len(np.unique(y))) < n
    q = (n ** 3 - n) * (1 - rho) / 6
    exact = n < 1290 and not ties

    def pspearman(q, lower_tail):
        if n <= 1290 and exact:
            return _prho_upper(n, round(q) + 2 * lower_tail, lower_tail)
        den = n * (n * n - 1) / 6
        r = 1 - q / den
        t = r / np.sqrt((1 - r * r) / (n - 2))
        return float(stats.t.sf(t, n - 2) if lower_tail else stats.t.cdf(t, n - 2))

    p = pspearman(q, lower_tail=False) if q > (n ** 3 - n) / 6 else pspearman(q, lower_tail=True)
    return rho, float(min(2 * p, 1.0)), "exact (AS 89)" if exact else "t approximation"


def _correlation_row(level: str, x: np.ndarray, y: np.ndarray) -> dict:
    """One Spearman row, or the reason it could not be computed (MIN_CORRELATION_PAIRS)."""
    n = len(x)
    if n == 0:
        reason = NO_SUBJECTS
    elif n < MIN_CORRELATION_PAIRS:
        reason = f"not run: fewer than {MIN_CORRELATION_PAIRS} pairs"
    elif np.all(x == x[0]) or np.all(y == y[0]):
        reason = "not run: arrests or harm do not vary"
    else:
        rho, p, method = spearman_r(x, y)
        return {"level": level, "n": n, "rho": rho, "p_value": p, "p_method": method}
    return {"level": level, "n": n, "rho": np.nan, "p_value": np.nan, "p_method": reason}


def correlations(windows: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlation of the change in arrests and the change in harm, one pair per
    analysed subject (R's ``cor.test(method = "spearman")``; level ``subject_change``).  Only
    independent units are correlated (A74): pooling each subject's two windows counts a person
    twice, and the monthly series is autocorrelated and trending, so neither gives a valid p.
    With too few pairs, or no variation, rho and p are missing and the reason is in ``p_method``."""
    overall = windows.loc[windows["category"] == "overall"]
    x = (overall["events_after"] - overall["events_before"]).to_numpy(dtype=float)
    y = (overall["harm_after"] - overall["harm_before"]).to_numpy(dtype=float)
    return pd.DataFrame([_correlation_row("subject_change", x, y)],
                        columns=["level", "n", "rho", "p_value", "p_method"]).astype(
        {"n": int, "rho": float, "p_value": float})


# --------------------------------------------------------------------------- decisions


def _label(measure: str) -> str:
    return {"events": "arrests", "harm": "harm"}[measure]


def _category_words(category: str) -> str:
    return category.replace("_", " ")


_DIRECTION = {"two.sided": "differ from", "less": "are lower than", "greater": "are higher than"}


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _excludes(low: float, high: float, null: float) -> bool:
    """An interval that exists and lies wholly on one side of ``null``."""
    return not (np.isnan(low) or np.isnan(high)) and bool(low > null or high < null)


#: How each ``prepost.reduction_interval`` is named in a claim: (a reduction, the difference of two).
INTERVAL_WORDS = {"fieller": ("Fieller interval of the ratio of paired means (Student's t on n - 1 df)",
                              "delta-method interval (Student's t on n - 1 df)"),
                  "bca": ("paired (cluster over subjects) BCa bootstrap interval",
                          "paired (cluster over subjects) BCa bootstrap interval")}


def test_decisions(tests: pd.DataFrame, alpha: float, zero_method: str, interval: str = "fieller") -> list[dict]:
    """The Wilcoxon decisions, then the reduction ones, of every measure x category (A29, A72,
    A79)."""
    from .decisions import decision

    k = int(tests["p_holm"].notna().sum())
    p_used = "Pratt's p" if zero_method == "pratt" else "R's p"
    wilcoxon, reduction = [], []
    for r in tests.itertuples():
        what, cat = _label(r.measure), _category_words(r.category)
        shift = f" by {r.mu:g}" if r.mu else ""
        wilcoxon.append(decision(
            "wilcoxon", r.measure, r.category, significant=bool(r.p_holm < alpha), alpha=alpha,
            estimate=r.hl_estimate, null_value=r.mu, ci_low=r.hl_ci_low, ci_high=r.hl_ci_high, p_value=r.p_holm,
            claim=f"Per-subject {what} after the order {_DIRECTION[r.alternative]} before{shift} ({cat}): "
                  f"Wilcoxon signed-rank test ({r.alternative}), {p_used} Holm-adjusted across the {k} "
                  "before/after tests; the estimate is the Hodges-Lehmann change per subject",
            note="; ".join(x for x in (r.p_method if r.p_method != "not run" else "", _text(r.note)) if x)))
        reduction.append(decision(
            "reduction", r.measure, r.category, alpha=alpha, null_value=0.0,
            significant=_excludes(r.reduction_ci_low, r.reduction_ci_high, 0.0),
            estimate=r.reduction_pct, ci_low=r.reduction_ci_low, ci_high=r.reduction_ci_high,
            claim=f"Total {what} changed after the order ({cat}): the {INTERVAL_WORDS[interval][0]} of the "
                  "percentage reduction excludes no change",
            note=_text(r.note) if np.isnan(r.reduction_ci_low) else ""))
    return wilcoxon + reduction


def difference_decision(windows: pd.DataFrame, pp: dict, alpha: float) -> dict:
    """``reduction_harm_minus_events_overall``: did harm fall by more percentage points than
    arrests did (A73, A79)?"""
    from .decisions import decision

    o = windows.loc[windows["category"] == "overall"]
    args = [o[c].to_numpy(float) for c in ("events_before", "events_after", "harm_before", "harm_after")]
    if len(o):
        point, low, high, note = reduction_difference_ci(*args, int(pp["bootstrap_resamples"]),
                                                         int(pp["bootstrap_seed"]), float(pp["confidence_level"]),
                                                         min_subjects=min_pairs(alpha), method=pp["reduction_interval"])
    else:
        point, low, high, note = np.nan, np.nan, np.nan, NO_SUBJECTS
    return decision("reduction", "harm_minus_events", "overall", significant=_excludes(low, high, 0.0), alpha=alpha,
                    estimate=point, null_value=0.0, ci_low=low, ci_high=high, note=note,
                    claim="Harm's percentage reduction differs from arrests' (overall): the "
                          f"{INTERVAL_WORDS[pp['reduction_interval']][1]} of harm's reduction minus arrests' "
                          "reduction, in percentage points, excludes zero")


def correlation_decision(correlations: pd.DataFrame, alpha: float) -> dict:
    """``spearman_change_overall``: the change in arrests and the change in harm, one pair per
    subject (A74)."""
    from .decisions import decision

    r = correlations.set_index("level").loc["subject_change"]
    ran = bool(np.isfinite(r["p_value"]))
    return decision("spearman", "change", "overall", significant=ran and bool(r["p_value"] < alpha), alpha=alpha,
                    estimate=r["rho"], null_value=0.0, p_value=r["p_value"],
                    note=f"n = {int(r['n'])} subjects; {r['p_method']}",
                    claim="Subjects' change in arrests and change in harm are correlated: Spearman correlation, "
                          "one pair per subject. Harm is a sum over arrests, so the two changes correlate whatever "
                          "the order does: this describes the data, not an effect of the order")


def prepost_decisions(tests: pd.DataFrame, correlations: pd.DataFrame, windows: pd.DataFrame,
                      config: dict) -> pd.DataFrame:
    """Every decision of the before/after stage, in the shape of :mod:`strostudy.decisions`."""
    from .decisions import frame

    pp, alpha = config["prepost"], float(config["study"]["alpha"])
    return frame([*test_decisions(tests, alpha, pp["zero_method"], pp["reduction_interval"]),
                  difference_decision(windows, pp, alpha),
                  correlation_decision(correlations, alpha)])


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The before/after stage: paired tests per measure and category, the correlation of the
    changes, and the stage's decisions.  With no analysed subject every row is written, marked
    not run."""
    import time

    from . import tables
    from .stages import say

    t0 = time.perf_counter()
    windows = tables.read("subject_windows", inputs["subject_windows"])
    monthly = tables.read("monthly_series", inputs["monthly_series"])
    tests = prepost_tests(windows, config, progress=(lambda m: say(m, log)) if len(windows) > 5000 else None,
                          categories=list(dict.fromkeys(monthly["category"])))
    corr = correlations(windows)
    tables.write(tests, "prepost_tests", output["prepost_tests"])
    tables.write(corr, "correlations", output["correlations"])
    decided = prepost_decisions(tests, corr, windows, config)
    tables.write(decided, "prepost_decisions", output["prepost_decisions"])
    not_run = int((tests["p_method"] == "not run").sum())
    say(f"before/after tests for {len(tests)} measure x category rows"
        + (f" ({not_run} not run: no analysed subjects)" if not_run else "")
        + f"; {int(decided['significant'].sum())} of {len(decided)} decisions significant"
        + f" ({time.perf_counter() - t0:.1f}s)", log)
    return tests
