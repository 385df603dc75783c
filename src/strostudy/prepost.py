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


def psignrank(q: float, n: int, lower_tail: bool = True) -> float:
    """R's ``psignrank``: P(V <= q) (or P(V > q))."""
    q = float(np.rint(q + 1e-7))
    top = n * (n + 1) / 2
    if q < 0:
        return 0.0 if lower_tail else 1.0
    if q >= top:
        return 1.0 if lower_tail else 0.0
    probs = _signrank_counts(n) * 2.0 ** (-n)
    if q <= top / 2:
        p = probs[: int(q) + 1].sum()
        return p if lower_tail else 1 - p
    p = probs[: int(top - q)].sum()  # P(V >= q + 1) by symmetry
    return 1 - p if lower_tail else p


def qsignrank(p: float, n: int) -> int:
    """R's ``qsignrank`` (lower tail): the smallest q with P(V <= q) >= p."""
    probs = _signrank_counts(n) * 2.0 ** (-n)
    eps = 10 * np.finfo(float).eps
    if p <= 0.5:
        cum = np.cumsum(probs)
        return int(np.argmax(cum >= p - eps))
    cum = np.cumsum(probs)
    q = int(np.argmax(cum > 1 - p + eps))
    return int(n * (n + 1) / 2 - q)


EXACT_MAX_N = 1000


def exact_conditional_p(d: np.ndarray, max_n: int = EXACT_MAX_N) -> float:
    """Two-sided exact p of the signed-rank statistic conditional on the observed |d|
    (zeros dropped, tied |d| given mid-ranks), from the full permutation distribution of
    signs - computed exactly by dynamic programming, not by Monte Carlo.  The work grows as
    n^3, so above ``max_n`` non-zero pairs it is not computed (NaN); there the normal
    approximation of the R-default p is accurate."""
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
    extreme = np.abs(values - centre) >= abs(observed - centre) - 1e-9
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


def _w_stat(x: np.ndarray, d: float, correct: bool) -> float:
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
    correction = np.sign(zd) * 0.5 if correct else 0.0
    return (zd - correction) / sigma


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


def _crossing(x: np.ndarray, zq: float, lo: float, hi: float, correct: bool, tol_root: float = 1e-4) -> float:
    """Where R's ``uniroot(W(d) - zq, c(lo, hi), tol = 1e-4)`` looks, found exactly.

    W is a non-increasing step function whose steps sit on Walsh averages.  R stops within
    ``tol_root`` of the step; this returns the step itself (bisection, then the nearest Walsh
    average).  Where R's iteration lands on an interval on which W equals zq exactly, every
    point of it is a root and R returns the one it landed on; so does this."""
    f = lambda d: _w_stat(x, d, correct) - zq  # noqa: E731
    f_lo, f_hi = f(lo), f(hi)
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


def wilcoxon_signed_rank(after: np.ndarray, before: np.ndarray, conf_level: float = 0.95,
                         correct: bool = True) -> SignedRank:
    """R's ``wilcox.test(after, before, paired = TRUE, conf.int = TRUE)`` (two-sided, mu = 0)."""
    x = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    zeros = bool(np.any(x == 0))
    x = x[x != 0]
    n = len(x)
    if n == 0:
        return SignedRank(0.0, 0.0, 1.0, 0, "none", 0.0, 0.0, 0.0, conf_level,
                          "all paired differences are zero: no change to test (p set to 1)")
    r = stats.rankdata(np.abs(x))
    v = float(r[x > 0].sum())
    ties = len(np.unique(r)) != len(r)
    _, tie_counts = np.unique(r, return_counts=True)
    sigma = np.sqrt(n * (n + 1) * (2 * n + 1) / 24 - (tie_counts ** 3 - tie_counts).sum() / 48)
    z0 = v - n * (n + 1) / 4
    z = (z0 - (np.sign(z0) * 0.5 if correct else 0.0)) / sigma if sigma > 0 else 0.0
    alpha = 1 - conf_level
    note = ""
    if n < 50 and not ties and not zeros:
        method = "exact"
        p = psignrank(v - 1, n, lower_tail=False) if v > n * (n + 1) / 4 else psignrank(v, n)
        p = min(2 * p, 1.0)
        walsh = np.sort((x[:, None] + x[None, :])[np.triu_indices(n)]) / 2
        qu = qsignrank(alpha / 2, n) or 1
        ql = int(n * (n + 1) / 2 - qu)
        achieved = 2 * psignrank(int(qu) - 1, n)
        level = conf_level
        if achieved - alpha > alpha / 2:
            level = 1 - float(f"{achieved:.2g}")
            note = f"requested confidence level not achievable; interval is {level:.0%}"
        return SignedRank(v, float(z), float(p), n, method, float(np.median(walsh)), float(walsh[qu - 1]),
                          float(walsh[ql]), level, note)
    method = "normal approximation with tie and continuity corrections"
    p = float(2 * min(stats.norm.cdf(z), stats.norm.sf(z))) if sigma > 0 else 1.0
    lo, hi = float(x.min()), float(x.max())
    w_lo, w_hi = _w_stat(x, lo, correct), _w_stat(x, hi, correct)
    level = conf_level
    if not (np.isfinite(w_lo) and np.isfinite(w_hi)):
        mid = (lo + hi) / 2
        return SignedRank(v, float(z), p, n, method, mid, np.nan, np.nan, 0.0,
                          "all differences tied: no confidence interval (estimate is the midrange)")
    while True:
        if (w_lo - stats.norm.isf(alpha / 2)) < 0 or (w_hi - stats.norm.ppf(alpha / 2)) > 0:
            alpha *= 2
        else:
            break
    if alpha >= 1 or 1 - conf_level < alpha * 0.75:
        level = 1 - min(1.0, alpha)
        note = f"requested confidence level not achievable; interval is {level:.0%}"
    if alpha < 1:
        ci_low = _crossing(x, stats.norm.isf(alpha / 2), lo, hi, correct)
        ci_high = _crossing(x, stats.norm.ppf(alpha / 2), lo, hi, correct)
    else:
        ci_low = ci_high = float(np.median(x))
    estimate = _crossing(x, 0.0, lo, hi, correct=False)
    return SignedRank(v, float(z), p, n, method, estimate, ci_low, ci_high, level, note)


def pratt_p(after: np.ndarray, before: np.ndarray) -> float:
    """Pratt's variant: zeros are ranked with the rest, then their ranks dropped; normal
    approximation with tie and continuity corrections."""
    d = np.asarray(after, dtype=float) - np.asarray(before, dtype=float)
    if np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="pratt", correction=True, method="approx").pvalue)


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
# - the cluster-bootstrap interval of the reduction needs min_pairs(alpha) subjects too: with n
#   subjects there are only C(2n - 1, n) distinct resamples (10 for n = 3, 126 for n = 5), too few
#   for 2.5% tails, so below that the interval is not computed (the point estimate still is);
# - Spearman's correlation needs MIN_CORRELATION_PAIRS pairs in which both variables vary.
MIN_CORRELATION_PAIRS = 3  # with 2 pairs rho is +-1 whatever the data, and its exact p is 1
NO_SUBJECTS = "not run: no analysed subjects"


def reduction_ci(before: np.ndarray, after: np.ndarray, resamples: int, seed: int, level: float,
                 min_subjects: int = 2):
    """Percentage reduction 1 - after/before with a paired (cluster over subjects) BCa bootstrap
    CI; the interval needs ``min_subjects`` subjects whose windows are not all alike."""
    before = np.asarray(before, dtype=float)
    after = np.asarray(after, dtype=float)
    if before.sum() == 0:
        return np.nan, np.nan, np.nan, "no arrests before: reduction undefined"
    point = 100 * (1 - after.sum() / before.sum())
    if len(before) < max(min_subjects, 2) or np.all(before == before[0]) and np.all(after == after[0]):
        fewer = f" (fewer than {min_subjects})" if len(before) < min_subjects else ""
        return point, np.nan, np.nan, f"too few distinct subjects for a bootstrap interval{fewer}"

    def statistic(b, a, axis=-1):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 100 * (1 - a.sum(axis=axis) / b.sum(axis=axis))

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate resample distribution is reported in the note
        # ``batch`` bounds memory: each batch of resamples (and of BCa's jackknife) is n wide.
        res = stats.bootstrap((before, after), statistic, paired=True, vectorized=True, method="BCa",
                              n_resamples=resamples, confidence_level=level, rng=np.random.default_rng(seed),
                              batch=max(1, min(resamples, 5_000_000 // max(len(before), 1))))
    low, high = res.confidence_interval
    note = "" if np.isfinite(low) and np.isfinite(high) else "bootstrap interval degenerate"
    return point, float(low), float(high), note


#: The columns of prepost_tests, in order.
TEST_COLUMNS = ["measure", "category", "n_subjects", "total_before", "total_after", "reduction_pct",
                "reduction_ci_low", "reduction_ci_high", "wilcoxon_v", "wilcoxon_z", "n_nonzero", "p_value", "p_pratt",
                "p_exact", "p_holm", "p_method", "effect_r", "effect_r_n", "rank_biserial", "hl_estimate", "hl_ci_low",
                "hl_ci_high", "hl_conf_level", "note", "significant_holm"]
_FLOATS = ["reduction_pct", "reduction_ci_low", "reduction_ci_high", "wilcoxon_v", "wilcoxon_z", "p_value",
           "p_pratt", "p_exact", "p_holm", "effect_r", "rank_biserial", "hl_estimate", "hl_ci_low", "hl_ci_high",
           "hl_conf_level"]


def not_run_row(measure: str, category: str, reason: str = NO_SUBJECTS) -> dict:
    """A measure x category row whose tests could not run: zero totals, NaN statistics."""
    return {**dict.fromkeys(_FLOATS, np.nan), "measure": measure, "category": category, "n_subjects": 0,
            "total_before": 0.0, "total_after": 0.0, "n_nonzero": 0, "p_method": "not run", "effect_r_n": 0,
            "note": reason}


def test_row(measure: str, category: str, before: np.ndarray, after: np.ndarray, pp: dict, alpha: float) -> dict:
    """Every before/after statistic of one measure x category (at least one subject)."""
    level = float(pp["confidence_level"])
    n_subjects, fewest = len(before), min_pairs(alpha)
    red, red_lo, red_hi, red_note = reduction_ci(before, after, int(pp["bootstrap_resamples"]),
                                                 int(pp["bootstrap_seed"]), level, min_subjects=fewest)
    w = wilcoxon_signed_rank(after, before, conf_level=level)
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
        "p_method": w.method, "p_pratt": pratt_p(after, before), "p_exact": exact_conditional_p(after - before),
        "effect_r": w.z / np.sqrt(n_for_r) if n_for_r else np.nan, "effect_r_n": n_for_r,
        "rank_biserial": rank_biserial(after, before), "hl_estimate": w.estimate,
        "hl_ci_low": w.ci_low, "hl_ci_high": w.ci_high, "hl_conf_level": w.conf_level,
        "note": "; ".join(x for x in notes if x),
    }


def holm(tests: pd.DataFrame, primary: str) -> pd.Series:
    """Holm-adjusted ``primary`` p within each measure, over the rows whose test ran."""
    from statsmodels.stats.multitest import multipletests

    adjusted = pd.Series(np.nan, index=tests.index)
    ran = tests.loc[tests[primary].notna()]
    for _, idx in ran.groupby("measure").groups.items():
        adjusted.loc[idx] = multipletests(ran.loc[idx, primary], method="holm")[1]
    return adjusted


def prepost_tests(windows: pd.DataFrame, config: dict, progress=None, categories=None) -> pd.DataFrame:
    """One row per measure x category: totals, reduction with CI, Wilcoxon (R default, Pratt,
    exact conditional), effect sizes, Hodges-Lehmann estimate with CI, Holm-adjusted p.
    ``categories`` (e.g. from the monthly series) adds rows for categories with no analysed
    subject, marked not run.  ``progress``, if given, is called as each row is done."""
    pp = config["prepost"]
    alpha = float(config["study"]["alpha"])
    names = list(dict.fromkeys([*windows["category"], *(categories or [])]))
    rows = []
    for measure in MEASURES:
        for category in names:
            d = windows.loc[windows["category"] == category]
            before, after = d[f"{measure}_before"].to_numpy(float), d[f"{measure}_after"].to_numpy(float)
            rows.append(test_row(measure, category, before, after, pp, alpha) if len(d)
                        else not_run_row(measure, category))
            if progress is not None:
                progress(f"tested {measure} / {category} ({len(rows)} of {len(MEASURES) * len(names)})")
    out = pd.DataFrame(rows, columns=[c for c in TEST_COLUMNS if c not in ("p_holm", "significant_holm")])
    out = out.astype({c: float for c in _FLOATS if c != "p_holm"} | {"n_subjects": int, "n_nonzero": int,
                                                                      "effect_r_n": int})
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


def correlations(windows: pd.DataFrame, monthly: pd.DataFrame | None = None) -> pd.DataFrame:
    """Spearman correlation of arrests and harm (R's ``cor.test(method = "spearman")``):
    across subjects (each subject's two windows, overall), of the change per subject, and
    across the months of the cohort series when given.  A level with too few pairs, or with
    no variation, has rho and p missing and the reason in ``p_method``."""
    overall = windows.loc[windows["category"] == "overall"]
    sets = {
        "subject_windows": (np.concatenate([overall["events_before"], overall["events_after"]]),
                            np.concatenate([overall["harm_before"], overall["harm_after"]])),
        "subject_change": ((overall["events_after"] - overall["events_before"]).to_numpy(),
                           (overall["harm_after"] - overall["harm_before"]).to_numpy()),
    }
    if monthly is not None:
        m = monthly.loc[monthly["category"] == "overall"].pivot(index="month", columns="measure", values="value")
        sets["months"] = (m["events"].to_numpy(), m["harm"].to_numpy())
    rows = [_correlation_row(level, np.asarray(x, dtype=float), np.asarray(y, dtype=float))
            for level, (x, y) in sets.items()]
    return pd.DataFrame(rows, columns=["level", "n", "rho", "p_value", "p_method"]).astype(
        {"n": int, "rho": float, "p_value": float})


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The before/after stage: paired tests per measure and category, and correlations.  With
    no analysed subject every row is written, marked not run."""
    import time

    from . import tables
    from .stages import say

    t0 = time.perf_counter()
    windows = tables.read("subject_windows", inputs["subject_windows"])
    monthly = tables.read("monthly_series", inputs["monthly_series"])
    tests = prepost_tests(windows, config, progress=(lambda m: say(m, log)) if len(windows) > 5000 else None,
                          categories=list(dict.fromkeys(monthly["category"])))
    tables.write(tests, "prepost_tests", output["prepost_tests"])
    tables.write(correlations(windows, monthly), "correlations", output["correlations"])
    not_run = int((tests["p_method"] == "not run").sum())
    say(f"before/after tests for {len(tests)} measure x category rows"
        + (f" ({not_run} not run: no analysed subjects)" if not_run else "")
        + f" ({time.perf_counter() - t0:.1f}s)", log)
    return tests
