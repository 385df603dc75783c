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


def reduction_ci(before: np.ndarray, after: np.ndarray, resamples: int, seed: int, level: float):
    """Percentage reduction 1 - after/before with a paired (cluster over subjects) BCa bootstrap CI."""
    before = np.asarray(before, dtype=float)
    after = np.asarray(after, dtype=float)
    if before.sum() == 0:
        return np.nan, np.nan, np.nan, "no arrests before: reduction undefined"
    point = 100 * (1 - after.sum() / before.sum())
    if len(before) < 2 or np.all(before == before[0]) and np.all(after == after[0]):
        return point, np.nan, np.nan, "too few distinct subjects for a bootstrap interval"

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


def prepost_tests(windows: pd.DataFrame, config: dict, progress=None) -> pd.DataFrame:
    """One row per measure x category: totals, reduction with CI, Wilcoxon (R default, Pratt,
    exact conditional), effect sizes, Hodges-Lehmann estimate with CI, Holm-adjusted p.
    ``progress``, if given, is called with a short message as each row is done."""
    from statsmodels.stats.multitest import multipletests

    pp = config["prepost"]
    level = float(pp["confidence_level"])
    rows = []
    categories = list(dict.fromkeys(windows["category"]))
    for measure in MEASURES:
        for category in categories:
            d = windows.loc[windows["category"] == category]
            before, after = d[f"{measure}_before"].to_numpy(float), d[f"{measure}_after"].to_numpy(float)
            n_subjects = len(d)
            red, red_lo, red_hi, red_note = reduction_ci(before, after, int(pp["bootstrap_resamples"]),
                                                         int(pp["bootstrap_seed"]), level)
            w = wilcoxon_signed_rank(after, before, conf_level=level)
            n_for_r = n_subjects if pp["effect_r_n"] == "subjects" else max(w.n_nonzero, 1)
            rows.append({
                "measure": measure, "category": category, "n_subjects": n_subjects,
                "total_before": before.sum(), "total_after": after.sum(), "reduction_pct": red,
                "reduction_ci_low": red_lo, "reduction_ci_high": red_hi,
                "wilcoxon_v": w.v, "wilcoxon_z": w.z, "n_nonzero": w.n_nonzero, "p_value": w.p_value,
                "p_method": w.method, "p_pratt": pratt_p(after, before), "p_exact": exact_conditional_p(after - before),
                "effect_r": w.z / np.sqrt(n_for_r) if n_for_r else np.nan, "effect_r_n": n_for_r,
                "rank_biserial": rank_biserial(after, before), "hl_estimate": w.estimate,
                "hl_ci_low": w.ci_low, "hl_ci_high": w.ci_high, "hl_conf_level": w.conf_level,
                "note": "; ".join(x for x in (red_note, w.note, "" if w.n_nonzero <= EXACT_MAX_N else
                                              f"exact p not computed above {EXACT_MAX_N} non-zero pairs") if x),
            })
            if progress is not None:
                progress(f"tested {measure} / {category} ({len(rows)} of {len(MEASURES) * len(categories)})")
    out = pd.DataFrame(rows)
    # Zero differences (A25): R's default drops them; Pratt's variant ranks them first.  The
    # reported p_value is always R's; zero_method chooses the p that Holm adjusts.
    primary = "p_pratt" if pp["zero_method"] == "pratt" else "p_value"
    out["p_holm"] = np.nan
    for _, idx in out.groupby("measure").groups.items():
        out.loc[idx, "p_holm"] = multipletests(out.loc[idx, primary], method="holm")[1]
    out["significant_holm"] = out["p_holm"] < float(config["study"]["alpha"])
    first = ["measure", "category", "n_subjects", "total_before", "total_after", "reduction_pct",
             "reduction_ci_low", "reduction_ci_high", "wilcoxon_v", "wilcoxon_z", "n_nonzero", "p_value", "p_pratt",
             "p_exact", "p_holm"]
    return out[first + [c for c in out.columns if c not in first]]


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


def correlations(windows: pd.DataFrame, monthly: pd.DataFrame | None = None) -> pd.DataFrame:
    """Spearman correlation of arrests and harm (R's ``cor.test(method = "spearman")``):
    across subjects (each subject's two windows, overall), of the change per subject, and
    across the months of the cohort series when given."""
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
    rows = []
    for level, (x, y) in sets.items():
        rho, p, method = spearman_r(x, y)
        rows.append({"level": level, "n": len(x), "rho": rho, "p_value": p, "p_method": method})
    return pd.DataFrame(rows)


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The before/after stage: paired tests per measure and category, and correlations."""
    import time

    from . import tables
    from .stages import say

    t0 = time.perf_counter()
    windows = tables.read("subject_windows", inputs["subject_windows"])
    tests = prepost_tests(windows, config, progress=(lambda m: say(m, log)) if len(windows) > 5000 else None)
    tables.write(tests, "prepost_tests", output["prepost_tests"])
    tables.write(correlations(windows, tables.read("monthly_series", inputs["monthly_series"])), "correlations",
                 output["correlations"])
    say(f"before/after tests for {len(tests)} measure x category rows ({time.perf_counter() - t0:.1f}s)", log)
    return tests
