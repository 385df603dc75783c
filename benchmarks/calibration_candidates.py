"""Monte Carlo comparison of candidate fixes for the decisions the calibration harness found
above their nominal 5% false-positive rate (docs/calibration.md).

Each rep simulates one scenario with one seed and runs the pipeline's own stages up to the
cohort (as ``strostudy calibrate`` does, but stopping there), then recomputes each family of
decisions under several candidate methods and records, per rep, whether each one is
significant and whether its interval covers the truth the simulator planted:

* ``reduction``: the percentage reduction of total arrests / harm, per measure and category:
  the pipeline's ``prepost.reduction_ci`` with ``fieller`` and ``bca``, and a paired
  percentile bootstrap, a bootstrap-t on the log ratio and a sign-flip test (significance
  only), written here; target 100 (1 - true rate ratio);
* ``difference``: harm's reduction minus arrests' (overall), ``prepost.reduction_difference_ci``
  with ``fieller`` (the delta method) and ``bca``; target 100 (true ratio of arrests - of harm);
* ``placebo``: the in-time placebo decision (``its._placebos``, Bonferroni over fake months and
  both terms, as the pipeline decides it) for several model families and standard errors;
* ``its``: the level, slope and post-trend terms (``its.segmented_fit``, ``term_rows``,
  ``post_trend_rows``) under ``ar1``, ``model`` and ``fixedb`` errors, and fixed-b on the
  AR(1)-whitened working model (``whitened_fixedb``); under the count families the level's
  interval is checked against the true rate ratio (``level_covered``);
* ``mannkendall``: ``its.mann_kendall`` on the months after the order, classical and Hamed-Rao;
* ``cluster``: the quasi-Poisson segmented model with a sandwich clustered on subjects (their
  own monthly counts, Student's t on G - 1 df, G subjects), its terms, level coverage and placebo.

A series the pipeline would not model (``its.skip_reason``, ``its.fit_problem``) or a reduction
without an interval (no arrests before, fewer than ``prepost.min_pairs(alpha)`` subjects) gets
no row; nor does a value that is undefined (a degenerate bootstrap).  A Fieller set that is not
a bounded interval (NaN ends in the pipeline: not significant) is checked for coverage by its
definition, (mean(a) - r mean(b))^2 <= t^2 var(a - r b) / n.  Seeds are fixed: the bootstraps
draw from ``numpy.random.default_rng(seed)`` of the rep, the fixed-b nulls from ``its.seed``.

    .venv/bin/python benchmarks/calibration_candidates.py --scenario null --seeds 1-300 --cores 2 \\
        --cache /tmp/mc/null --out results.csv

Step 1 caches each rep's tables in ``--cache`` as ``monthly_series_<seed>.csv``,
``subject_windows_<seed>.csv``, ``events_<seed>.csv``, ``cohort_<seed>.csv`` and
``effects_<seed>.csv`` (the truth), and skips a seed whose five files are there.  Step 2
writes the long table ``--out`` (scenario, seed, family, candidate, measure, category,
quantity, value 0/1); step 3 prints the mean of ``value`` per candidate with its exact
(Clopper-Pearson) 95% interval.  The synthetic extracts are pseudonymised with the public
synthetic key (``strostudy.keys``), so no STROSTUDY_PSEUDONYM_KEY is needed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats

from strostudy import cohort as co
from strostudy import its, prepost, tables
from strostudy.calibrate import SCENARIOS, rep_config
from strostudy.config import load
from strostudy.stages import run_all

CACHED = ("monthly_series", "subject_windows", "events", "cohort")  # + the truth, as effects_<seed>.csv
COLUMNS = ["scenario", "seed", "family", "candidate", "measure", "category", "quantity", "value"]
KEYS = ["family", "candidate", "measure", "category", "quantity"]
#: (model family, standard error) of the placebo decision; loglinear is a harm model only.
PLACEBO_VARIANTS = [("loglinear", "ar1"), ("quasipoisson", "ar1"), ("loglinear", "model"),
                    ("quasipoisson", "model"), ("quasipoisson", "hac")]
ITS_KINDS = {"events": ["quasipoisson"], "harm": ["loglinear", "quasipoisson"]}
ITS_METHODS = ["ar1", "model", "fixedb"]


def parse_seeds(text: str) -> list[int]:
    """'1-300' or '1,4,10-12'."""
    seeds = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi or lo) + 1))
    return list(dict.fromkeys(seeds))


def cache_files(cache: Path, seed: int) -> dict[str, Path]:
    return {**{t: cache / f"{t}_{seed}.csv" for t in CACHED}, "effects": cache / f"effects_{seed}.csv"}


# --------------------------------------------------------------------------- step 1: simulate


def simulate(job: tuple) -> int:
    """Simulate one rep and run it to the cohort stage; copy its tables into the cache (each
    under a temporary name first, so an interrupted run leaves no half-written seed)."""
    scenario, seed, config, cache = job
    files = cache_files(cache, seed)
    if all(f.exists() for f in files.values()):
        return seed
    with tempfile.TemporaryDirectory(prefix="strostudy-cand-") as tmp:
        with contextlib.redirect_stderr(io.StringIO()):
            run_all(rep_config(config, scenario, seed), tmp, until="cohort")
        sources = {t: Path(tmp) / tables.path(t, "stro" if tables.per_study(t) else None) for t in CACHED}
        sources["effects"] = Path(tmp) / tables.path("truth_effects")
        for name, source in sources.items():
            part = files[name].with_suffix(".part")
            shutil.copy(source, part)
            part.replace(files[name])
    return seed


# --------------------------------------------------------------------------- step 2: candidates


def _rows(family, candidate, measure, category, values: dict) -> list[tuple]:
    return [(family, candidate, measure, category, q, int(bool(v))) for q, v in values.items()
            if v is not None and not (isinstance(v, float) and np.isnan(v))]


def _covers(low, high, target):
    """Does the interval hold the target (NaN: no interval, or no target)?"""
    return low <= target <= high if np.isfinite([low, high, target]).all() else np.nan


def _significant(low, high) -> bool:
    """As the pipeline decides: an interval that exists and excludes 0 (no change)."""
    return prepost._excludes(low, high, 0.0)


def fieller_covers(before, after, ratio, level) -> bool:
    """Is ``ratio`` in the Fieller confidence set, whatever its shape (interval, two rays, line)?"""
    n = len(before)
    t = stats.t.ppf(0.5 + level / 2, n - 1)
    d = after - ratio * before
    return bool(d.mean() ** 2 <= t * t * d.var(ddof=1) / n)


def boot_t(before, after, rng, resamples, level):
    """Paired bootstrap-t interval of the reduction, studentising the log ratio of totals by
    its delta-method SE (each subject's a/sum(a) - b/sum(b))."""
    n = len(after)
    idx = rng.integers(0, n, (resamples, n))
    a_, b_ = after[idx], before[idx]
    sa, sb = a_.sum(1), b_.sum(1)

    def se(aa, bb, s_a, s_b):
        return np.sqrt((((aa / s_a[..., None]) - (bb / s_b[..., None])) ** 2).sum(-1))

    theta = np.log(after.sum()) - np.log(before.sum())
    s0 = se(after[None], before[None], np.array([after.sum()]), np.array([before.sum()]))[0]
    with np.errstate(all="ignore"):
        ts = (np.log(sa) - np.log(sb) - theta) / se(a_, b_, sa, sb)
    ts = np.where(np.isnan(ts), np.where(sa == 0, -np.inf, np.inf), ts)
    hi_t, lo_t = np.quantile(ts, [0.5 + level / 2, 0.5 - level / 2], method="inverted_cdf")
    low, high = theta - hi_t * s0, theta - lo_t * s0
    return 100 * (1 - np.exp(high)), 100 * (1 - np.exp(low))


def signflip_p(before, after, rng, resamples) -> float:
    """Two-sided sign-flip (paired permutation) test of sum(after - before) = 0."""
    d = after - before
    s = rng.choice([-1.0, 1.0], (resamples, len(d)))
    return (1 + (np.abs(s @ d) >= abs(d.sum()) - 1e-9).sum()) / (resamples + 1)


def reductions(windows, truth, seed, resamples, level, alpha) -> list[tuple]:
    out = []
    for category, g in windows.groupby("category", sort=True):
        for measure in prepost.MEASURES:
            b, a = g[f"{measure}_before"].to_numpy(float), g[f"{measure}_after"].to_numpy(float)
            alike = np.all(b == b[0]) and np.all(a == a[0])
            if b.sum() == 0 or len(b) < prepost.min_pairs(alpha) or alike:
                continue
            ratio = truth[(measure, category)]
            target = 100 * (1 - ratio)
            for method in ("fieller", "bca"):
                _, low, high, note = prepost.reduction_ci(b, a, resamples, seed, level, prepost.min_pairs(alpha),
                                                          method=method)
                covered = _covers(low, high, target)
                if method == "fieller" and "unbounded" in note:
                    covered = fieller_covers(b, a, ratio, level)
                out += _rows("reduction", method, measure, category,
                             {"covered": covered, "significant": _significant(low, high)})
            res = stats.bootstrap((b, a), prepost._reduction, paired=True, vectorized=True, method="percentile",
                                  n_resamples=resamples, confidence_level=level, rng=np.random.default_rng(seed))
            low, high = res.confidence_interval
            out += _rows("reduction", "percentile", measure, category,
                         {"covered": _covers(low, high, target), "significant": _significant(low, high)})
            rng = np.random.default_rng(seed)
            low, high = boot_t(b, a, rng, resamples, level)
            out += _rows("reduction", "boot_t", measure, category,
                         {"covered": _covers(low, high, target), "significant": _significant(low, high)})
            out += _rows("reduction", "signflip", measure, category,
                         {"significant": signflip_p(b, a, rng, resamples) < alpha})
    return out


def differences(windows, truth, seed, resamples, level, alpha) -> list[tuple]:
    o = windows.loc[windows["category"] == "overall"]
    if o.empty:
        return []
    v = [o[c].to_numpy(float) for c in ("events_before", "events_after", "harm_before", "harm_after")]
    target = 100 * (truth[("events", "overall")] - truth[("harm", "overall")])
    out = []
    for method, name in (("fieller", "delta"), ("bca", "bca")):
        _, low, high, _ = prepost.reduction_difference_ci(*v, resamples, seed, level, prepost.min_pairs(alpha),
                                                          method=method)
        out += _rows("difference", name, "harm_minus_events", "overall",
                     {"covered": _covers(low, high, target), "significant": _significant(low, high)})
    return out


def series(monthly):
    """(measure, category, months, y) of every series the pipeline models."""
    for (measure, category), s in monthly.groupby(["measure", "category"], sort=True):
        s = s.sort_values("month")
        if not its.skip_reason(s):
            yield measure, category, s["month"].to_numpy(), s["value"].to_numpy(float)


def placebos(monthly, icfg, inf, alpha) -> list[tuple]:
    out = []
    for measure, category, months, y in series(monthly):
        for kind, se in PLACEBO_VARIANTS:
            if kind not in ITS_KINDS[measure] or its.fit_problem(y, months, kind):
                continue
            rows = its._placebos(y, months, kind, dict(icfg, significance=se), inf, None, {})
            if rows:
                p = pd.DataFrame(rows).groupby(["placebo_month", "term"])["p_value"].max()
                out += _rows("placebo", f"{kind}_{se}", measure, category, {"significant": p.min() * len(p) < alpha})
    return out


def contrasts(f) -> np.ndarray:
    """Level (post), slope (time_since) and post-trend (time + time_since)."""
    C = np.zeros((3, len(f.terms)))
    C[0, f.terms.index("post")] = C[1, f.terms.index("time_since")] = 1
    C[2, [f.terms.index("time"), f.terms.index("time_since")]] = 1
    return C


def whitened_fixedb(f, inf) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed-b on the AR(1)-whitened working model: (estimate, p, ci_low, ci_high) of each
    contrast, the null simulated for the whitened design."""
    a = its.fit_ar1(f)
    Xp, zp = its._prais_winsten(a.Xw, a.phi), its._prais_winsten(a.zw, a.phi)
    bread = np.linalg.inv(Xp.T @ Xp)
    bw = its.fixedb_bandwidth(len(zp), inf.fixedb_bandwidth)
    cov = bread @ its._bartlett_meat(Xp * (zp - Xp @ a.beta)[:, None], bw) @ bread
    C = contrasts(f)
    est, se = C @ a.beta, np.sqrt(np.einsum("ij,jk,ik->i", C, cov, C))
    p, crit = np.empty(len(C)), np.empty(len(C))
    for i, c in enumerate(C):
        null = its.fixedb_null(Xp, c, bw, inf.fixedb_draws, inf.seed)
        p[i] = (1 + len(null) - np.searchsorted(null, (est[i] / se[i]) ** 2, side="left")) / (1 + len(null))
        crit[i] = np.sqrt(np.quantile(null, inf.level))
    return est, p, est - crit * se, est + crit * se


def its_terms(monthly, truth, icfg, inf, alpha) -> list[tuple]:
    out = []
    for measure, category, months, y in series(monthly):
        for kind in ITS_KINDS[measure]:
            if its.fit_problem(y, months, kind):
                continue
            try:
                f = its.segmented_fit(y, months, kind, icfg)
            except its.NotFitted:
                continue
            ratio = truth[(measure, category)] if f.count else np.nan
            for method in ITS_METHODS:
                try:
                    r = {x["term"]: x for x in its.term_rows(f, [method], inf)}
                    pt = its.post_trend_rows(f, [method], inf)[0]
                except its.NotFitted:
                    continue
                out += _rows("its", f"{kind}_{method}", measure, category, {
                    "level": r["post"]["p_value"] < alpha, "slope": r["time_since"]["p_value"] < alpha,
                    "posttrend": pt["p_value"] < alpha,
                    "level_covered": _covers(r["post"]["ratio_ci_low"], r["post"]["ratio_ci_high"], ratio)})
            try:
                _, p, low, high = whitened_fixedb(f, inf)
            except (its.NotFitted, np.linalg.LinAlgError):
                continue
            out += _rows("its", f"{kind}_whitened_fixedb", measure, category, {
                "level": p[0] < alpha, "slope": p[1] < alpha, "posttrend": p[2] < alpha,
                "level_covered": _covers(np.exp(low[0]), np.exp(high[0]), ratio)})
    return out


def mann_kendalls(monthly, alpha) -> list[tuple]:
    out = []
    for measure, category, months, y in series(monthly):
        for name, hamed_rao in (("classical", False), ("hamed_rao", True)):
            p = its.mann_kendall(y[months >= 0], hamed_rao=hamed_rao)["p_value"]
            out += _rows("mannkendall", name, measure, category, {"posttrend": p < alpha})  # NaN p: not significant
    return out


def cluster_inference(f, Y, C, level):
    """Contrasts' (estimate, p, ci_low, ci_high) with a sandwich clustered on subjects: each
    subject's score is its residual against its share mu / G of the fitted total; G / (G - 1)
    small-sample factor and Student's t on G - 1 df."""
    G = Y.shape[0]
    r = Y - np.exp(f.eta)[None, :] / G
    U = r @ f.X
    cov = f.bread @ (U.T @ U * G / (G - 1)) @ f.bread
    est, se = C @ f.beta, np.sqrt(np.einsum("ij,jk,ik->i", C, cov, C))
    crit = stats.t.ppf(0.5 + level / 2, G - 1)
    return est, 2 * special.stdtr(G - 1, -np.abs(est / se)), est - crit * se, est + crit * se


def cluster_fe_inference(f, Y, C, level):
    """Contrasts' (estimate, p, ci_low, ci_high) from the subject panel with subject fixed
    effects, clubSandwich's CR2 clustered on subjects and Satterthwaite df per contrast
    (:func:`strostudy.comparison.cr2`).  The Poisson fixed-effects estimates of the time terms
    equal the series model's (every subject shares the month design), so only the errors differ;
    subject i's fitted month t is its total times the series' share of month t.  Subjects with
    no arrests (or harm) carry no information and are left out."""
    from strostudy.clustered import cr2

    tot = Y.sum(1)
    keep = tot > 0
    Yk, G, T = Y[keep], int(keep.sum()), Y.shape[1]
    mu_t = np.exp(f.eta)
    m = (tot[keep][:, None] * (mu_t / mu_t.sum())[None, :]).ravel()
    X = np.hstack([np.kron(np.eye(G), np.ones((T, 1))), np.tile(f.X[:, 1:], (G, 1))])
    bread = np.linalg.inv((X * m[:, None]).T @ X)
    Cf = np.hstack([np.zeros((len(C), G)), C[:, 1:]])
    V, df = cr2(X, Yk.ravel(), m, m, np.repeat(np.arange(G), T), G, bread, contrasts=Cf)
    est, se = C @ f.beta, np.sqrt(np.einsum("ij,jk,ik->i", Cf, V, Cf))
    crit = stats.t.ppf(0.5 + level / 2, df)
    return est, 2 * stats.t.sf(np.abs(est / se), df), est - crit * se, est + crit * se


def clustered(events, cohort, truth, config, alpha) -> list[tuple]:
    icfg, level = config["its"], 1 - alpha
    window = int(config["study"]["window_months"])
    win = co.window_events(events, cohort, config)
    subjects = np.sort(cohort.loc[cohort["analysed"].astype(bool), "subject_id"].unique())
    months = np.arange(-window, window)
    before = months < 0
    out = []
    for category, g in pd.concat([win.assign(category="overall"), win]).groupby("category", sort=True):
        for measure in prepost.MEASURES:
            agg = g.groupby(["subject_id", "month"])["harm_score"].agg("size" if measure == "events" else "sum")
            Y = agg.unstack("month").reindex(index=subjects, columns=months).fillna(0).to_numpy(float)
            y = Y.sum(0)
            if (y > 0).sum() < 6 or its.fit_problem(y, months, "quasipoisson"):
                continue
            try:
                f = its.segmented_fit(y, months, "quasipoisson", icfg)
            except its.NotFitted:
                continue
            C = contrasts(f)
            _, p, low, high = cluster_inference(f, Y, C, level)
            placebo = []  # the pipeline's placebo rule, with the clustered errors
            if (y[before] > 0).sum() >= 6:
                for fake in its.placebo_months(months, int(icfg["placebo_min_segment"])):
                    if its.fit_problem(y[before], months[before], "quasipoisson", fake):
                        continue
                    try:
                        fb = its.segmented_fit(y[before], months[before], "quasipoisson", icfg, interruption=fake)
                    except its.NotFitted:
                        continue
                    placebo += list(cluster_inference(fb, Y[:, before], contrasts(fb)[:2], level)[1])
            out += _rows("cluster", "quasipoisson_cluster", measure, category, {
                "level": p[0] < alpha, "slope": p[1] < alpha, "posttrend": p[2] < alpha,
                "level_covered": _covers(np.exp(low[0]), np.exp(high[0]), truth[(measure, category)]),
                "placebo": min(placebo) * len(placebo) < alpha if placebo else np.nan})
            if (Y.sum(1) > 0).sum() < 2:
                continue
            _, p, low, high = cluster_fe_inference(f, Y, C, level)
            placebo = []
            if (y[before] > 0).sum() >= 6:
                for fake in its.placebo_months(months, int(icfg["placebo_min_segment"])):
                    if its.fit_problem(y[before], months[before], "quasipoisson", fake) or \
                            (Y[:, before].sum(1) > 0).sum() < 2:
                        continue
                    try:
                        fb = its.segmented_fit(y[before], months[before], "quasipoisson", icfg, interruption=fake)
                    except its.NotFitted:
                        continue
                    placebo += list(cluster_fe_inference(fb, Y[:, before], contrasts(fb)[:2], level)[1])
            out += _rows("cluster", "quasipoisson_cluster_fe_cr2", measure, category, {
                "level": p[0] < alpha, "slope": p[1] < alpha, "posttrend": p[2] < alpha,
                "level_covered": _covers(np.exp(low[0]), np.exp(high[0]), truth[(measure, category)]),
                "placebo": min(placebo) * len(placebo) < alpha if placebo else np.nan})
    return out


def evaluate(job: tuple) -> pd.DataFrame:
    """Every candidate's rows for one cached rep."""
    scenario, seed, config, cache, resamples, only = job
    warnings.simplefilter("ignore")
    files = cache_files(cache, seed)
    alpha = float(config["study"]["alpha"])
    level = float(config["prepost"]["confidence_level"])
    icfg = dict(config["its"])
    inf = its.Inference.from_config(icfg, alpha)
    truth = pd.read_csv(files["effects"]).set_index(["measure", "category"])["true_rate_ratio"]
    windows = pd.read_csv(files["subject_windows"])
    monthly = pd.read_csv(files["monthly_series"])
    events, cohort = tables.read("events", files["events"]), tables.read("cohort", files["cohort"])
    families = {
        "reduction": lambda: reductions(windows, truth, seed, resamples, level, alpha),
        "difference": lambda: differences(windows, truth, seed, resamples, level, alpha),
        "placebo": lambda: placebos(monthly, icfg, inf, alpha),
        "its": lambda: its_terms(monthly, truth, icfg, inf, alpha),
        "mannkendall": lambda: mann_kendalls(monthly, alpha),
        "cluster": lambda: clustered(events, cohort, truth, config, alpha)}
    rows = [r for name, make in families.items() if not only or name in only for r in make()]
    return pd.DataFrame(rows, columns=KEYS + ["value"]).assign(scenario=scenario, seed=seed)[COLUMNS]


# --------------------------------------------------------------------------- step 3: summary


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean of value per candidate and quantity, with the number of seeds and the exact 95%
    interval (Clopper-Pearson)."""
    g = results.groupby(KEYS, sort=True)["value"].agg(seeds="size", hits="sum").reset_index()
    ci = [stats.binomtest(int(k), int(n)).proportion_ci(0.95, method="exact") for k, n in zip(g["hits"], g["seeds"])]
    return g.assign(rate=g["hits"] / g["seeds"], ci_low=[c.low for c in ci], ci_high=[c.high for c in ci]) \
        .drop(columns="hits")


def _map(function, jobs, cores: int, what: str):
    """function over jobs, in order, in ``cores`` processes, with progress on stderr."""
    t0 = time.perf_counter()

    def progress(i):
        print(f"{what}: {i} of {len(jobs)} seeds ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)

    if cores == 1:
        for i, job in enumerate(jobs, 1):
            yield function(job)
            progress(i)
        return
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(cores) as pool:
        for i, result in enumerate(pool.imap(function, jobs), 1):
            yield result
            progress(i)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="null", choices=SCENARIOS)
    parser.add_argument("--seeds", default="1-300", help="e.g. 1-300 or 1,5,10-20")
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--cache", required=True, help="folder of the per-seed tables (step 1), e.g. /tmp/mc/null")
    parser.add_argument("--out", required=True, help="the long CSV of step 2")
    parser.add_argument("--resamples", type=int, default=1999, help="bootstrap and sign-flip resamples")
    parser.add_argument("--config", default="config.yaml")
    parser.add_argument("--only", default="", help="comma-separated families to evaluate (default: all), "
                        "e.g. its,placebo,cluster")
    args = parser.parse_args()
    config, seeds, cores = load(args.config), parse_seeds(args.seeds), max(1, args.cores)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    todo = [s for s in seeds if not all(f.exists() for f in cache_files(cache, s).values())]
    print(f"step 1: {len(seeds) - len(todo)} of {len(seeds)} seeds cached in {cache}; simulating {len(todo)}",
          file=sys.stderr)
    for _ in _map(simulate, [(args.scenario, s, config, cache) for s in todo], cores, "simulated"):
        pass

    only = {f for f in args.only.split(",") if f}
    jobs = [(args.scenario, s, config, cache, args.resamples, only) for s in seeds]
    results = pd.concat(list(_map(evaluate, jobs, cores, "evaluated")), ignore_index=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    results.to_csv(args.out, index=False, lineterminator="\n")
    print(f"step 2: wrote {len(results)} rows to {args.out}", file=sys.stderr)

    summary = summarise(results)
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(f"scenario {args.scenario}, seeds {args.seeds}: share of reps with value 1 (exact 95% interval)")
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
