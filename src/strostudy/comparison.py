"""The comparison-group engine (issue 13): a subject-month panel with time at risk, and the
count models that compare the order group with a comparison group (A90-A99, docs/comparison.md).

* :func:`subject_month_panel` builds one row per subject x month (-W .. W-1 on each subject's
  own clock, A20) x category (``overall`` first): arrests, harm and the days at risk (the
  month's days less days in custody, A91-A92).
* :func:`did` fits the two-group, two-period difference-in-differences count model::

      log E[y] = b0 + b1*treated + b2*post + b3*treated*post + log(days_at_risk)

  and reports exp(b3), the ratio of the order group's after/before rate ratio to the
  comparison group's, with standard errors clustered by subject (A93-A95).
* :func:`naive_prepost` fits ``log E[y] = b0 + b1*post + log(days_at_risk)`` to the order group
  alone: the design with no comparison group, on the same scale.
* :func:`event_study` fits group x month interactions (month -1 the reference, A96), for a
  pre-trend figure.

Families: ``poisson`` (maximum likelihood; the same point estimates as quasi-Poisson, and the
clustered errors do not depend on the dispersion, so this is also the quasi-Poisson model, as
harm, which is not a count, needs) and ``negbin`` (NB2, theta by maximum likelihood, as
``MASS::glm.nb``).  Clustered covariance as R's ``sandwich::vcovCL(fit, cluster = ~subject_id)``
with its defaults for a GLM (``type = "HC0"``, ``cadjust = TRUE``): (X'WX)^-1 M (X'WX)^-1 with
M = G/(G-1) sum_g s_g s_g', s_g the sum of cluster g's score contributions; theta is held fixed,
as in R; intervals and p-values Wald, on the normal (``standard_errors: cr1``).  The default,
``standard_errors: cr2`` (A131), is the bias-reduced linearisation of Bell and McCaffrey (2002)
with Satterthwaite degrees of freedom, as R's ``clubSandwich::coef_test(fit, vcov = "CR2",
cluster = ~subject_id, test = "Satterthwaite")`` and ``conf_int``: each cluster's residuals are
scaled by (its block of I - H)^(-1/2) in the model's variance metric, and the interval and p-value
use Student's t on the Satterthwaite df, which falls towards 1 when a few subjects carry a
coefficient (a sparse category), where the CR1 Wald interval is too narrow (Pustejovsky and
Tipton 2018, J Bus Econ Stat 36:672-683; Imbens and Kolesar 2016).  ``standard_errors: cr3``
(A136) scales them by (I - H)^-1 instead (clubSandwich's CR3), a little more conservative.  R
fixtures: ``tests/fixtures/r/make_comparison_fixtures.R`` and ``make_cr2_fixtures.R``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .categories import OVERALL
from .clustered import cr2
from .dates import add_months, month_index
from .errors import StrostudyError
from .schemas import GROUPS, MEASURES, SubjectMonthPanel  # noqa: F401 - SubjectMonthPanel is part of the API

FAMILIES = ("poisson", "negbin")
#: The subject-clustered covariance and reference distribution of every interval (A93, A131).
STANDARD_ERRORS = ("cr1", "cr2", "cr3")
#: How each ``standard_errors`` type's interval is described in the report and the sensitivity table.
INTERVAL_WORDS = {"cr1": "subject-clustered Wald interval",
                  "cr2": "subject-clustered CR2 interval, t on Satterthwaite df",
                  "cr3": "subject-clustered CR3 interval, t on Satterthwaite df",
                  "wild_score": "restricted wild cluster score bootstrap interval by test inversion (subject clusters, "
                                "Webb weights)"}
PANEL_COLUMNS = ["subject_id", "group", "month", "calendar_month", "category", "events", "harm", "days_at_risk"]
EFFECT_COLUMNS = ["measure", "category", "estimator", "family", "estimate", "ci_low", "ci_high", "p_value", "se",
                  "df", "theta", "interval", "n_treated", "n_comparison", "note"]
EVENT_STUDY_COLUMNS = ["measure", "category", "family", "month", "reference", "estimate", "ci_low", "ci_high",
                       "p_value", "se", "df", "note"]


# --------------------------------------------------------------------------- the panel


def _require(frame: pd.DataFrame, columns, name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StrostudyError(f"{name} has no column {', '.join(repr(c) for c in missing)}; "
                             f"expected the columns {', '.join(columns)}")


def _rows(mask: pd.Series) -> str:
    """The index labels where ``mask`` holds (row numbers for a default index), the first five,
    for an error message."""
    idx = mask.index[mask.to_numpy(dtype=bool)]
    shown = ", ".join(str(i) for i in idx[:5])
    return f"row {shown}" if len(idx) == 1 else f"rows {shown}" + (f" (and {len(idx) - 5} more)" if len(idx) > 5 else "")


def _subject_table(subjects: pd.DataFrame) -> pd.DataFrame:
    _require(subjects, ["subject_id", "group", "index_date"], "subjects")
    out = pd.DataFrame({"subject_id": subjects["subject_id"].astype(str).to_numpy(),
                        "group": subjects["group"].astype(str).to_numpy(),
                        "index_date": pd.to_datetime(subjects["index_date"]).dt.normalize().to_numpy()})
    for bad, problem in ((out["subject_id"].duplicated(keep=False), "repeat a subject_id; list each subject once"),
                         (~out["group"].isin(GROUPS), f"have a group other than {' or '.join(GROUPS)}"),
                         (out["index_date"].isna(), "have no index_date; give every subject one")):
        if bad.any():
            raise StrostudyError(f"subjects: {_rows(bad)} {problem}")
    return out


def _merged_custody(custody: pd.DataFrame, subjects: pd.DataFrame, last_day: pd.Series) -> pd.DataFrame:
    """Custody spells as disjoint half-open day intervals [start, stop) per listed subject.  An
    end date is inclusive (A91); a missing one runs to the end of the subject's window (A92)."""
    _require(custody, ["subject_id", "start_date", "end_date"], "custody")
    spells = pd.DataFrame({"subject_id": custody["subject_id"].astype(str).to_numpy(),
                           "start": pd.to_datetime(custody["start_date"]).dt.normalize().to_numpy(),
                           "end": pd.to_datetime(custody["end_date"]).dt.normalize().to_numpy()})
    for bad, problem in ((spells["start"].isna(), "have no start_date; give one, or drop the rows"),
                         (spells["end"] < spells["start"], "end before they start; check start_date and end_date")):
        if bad.any():
            raise StrostudyError(f"custody: {_rows(bad)} {problem}")
    spells = spells.loc[spells["subject_id"].isin(subjects["subject_id"])]
    if spells.empty:
        return pd.DataFrame({"subject_id": pd.Series(dtype=str), "start": pd.Series(dtype="datetime64[ns]"),
                             "stop": pd.Series(dtype="datetime64[ns]")})
    open_end = spells["subject_id"].map(last_day)
    spells = spells.assign(stop=spells["end"].fillna(open_end) + pd.Timedelta(days=1))
    spells = spells.sort_values(["subject_id", "start", "stop"], kind="mergesort").reset_index(drop=True)
    # Overlapping or touching spells are merged, so no day is subtracted twice.
    reach = spells.groupby("subject_id")["stop"].cummax()
    previous = reach.groupby(spells["subject_id"]).shift()
    block = (previous.isna() | (spells["start"] > previous)).cumsum()
    return spells.groupby(block).agg(subject_id=("subject_id", "first"), start=("start", "min"),
                                     stop=("stop", "max")).reset_index(drop=True)


def subject_month_panel(windowed_events: pd.DataFrame, subjects: pd.DataFrame, window: int, categories,
                        custody: pd.DataFrame | None = None, start_date_counts_as: str = "after") -> pd.DataFrame:
    """The subject-month panel: every subject x month -``window`` .. ``window`` - 1 x category,
    zeros included (A26).

    ``windowed_events`` has ``subject_id``, ``event_date``, ``category`` and ``harm_score``; each
    arrest's month is recomputed from its date and the subject's ``index_date`` (A20, A3: an
    arrest on the index date counts as after unless ``start_date_counts_as`` is ``before``), so
    order and comparison subjects share one clock (A99).  Only listed subjects' arrests inside their
    windows are counted.  ``categories`` lists the config's categories (``overall`` is added
    first).  ``custody`` (``subject_id``, ``start_date``, ``end_date``) removes days in custody
    from ``days_at_risk`` (A91, A92); without it every day of the window is at risk."""
    if start_date_counts_as not in ("after", "before"):
        raise StrostudyError(f"start_date_counts_as is {start_date_counts_as!r}; use 'after' or 'before'")
    window = int(window)
    names = [OVERALL] + [str(c) for c in categories if str(c) != OVERALL]
    people = _subject_table(subjects)
    _require(windowed_events, ["subject_id", "event_date", "category", "harm_score"], "windowed events")

    months = np.arange(-window, window, dtype="int64")
    grid = people.loc[people.index.repeat(len(months))].reset_index(drop=True)
    grid["month"] = np.tile(months, len(people))
    grid["start"] = add_months(grid["index_date"], grid["month"].to_numpy())
    grid["stop"] = add_months(grid["index_date"], grid["month"].to_numpy() + 1)
    grid["days_at_risk"] = (grid["stop"] - grid["start"]).dt.days.astype("int64")
    last_day = pd.Series(add_months(people["index_date"], window).to_numpy() - np.timedelta64(1, "D"),
                         index=people["subject_id"].to_numpy())
    spells = None if custody is None else _merged_custody(custody, people, last_day)
    if spells is not None and len(spells):
        pairs = grid[["subject_id", "month", "start", "stop"]].merge(spells, on="subject_id", suffixes=("", "_custody"))
        overlap = (pairs[["stop", "stop_custody"]].min(axis=1)
                   - pairs[["start", "start_custody"]].max(axis=1)).dt.days.clip(lower=0)
        in_custody = overlap.groupby([pairs["subject_id"], pairs["month"]]).sum()
        held = pd.MultiIndex.from_frame(grid[["subject_id", "month"]])
        grid["days_at_risk"] -= in_custody.reindex(held, fill_value=0).to_numpy(dtype="int64")

    ev = windowed_events.loc[windowed_events["subject_id"].astype(str).isin(people["subject_id"])]
    stray = sorted(set(ev["category"].astype(str)) - set(names))
    if stray:
        raise StrostudyError(f"windowed events have arrests in categories {', '.join(stray)} that the categories "
                             f"given ({', '.join(names[1:])}) do not list; categorise events with the same config")
    index_date = people.set_index("subject_id")["index_date"]
    event_date = pd.to_datetime(ev["event_date"]).dt.normalize()
    start = pd.Series(index_date.reindex(ev["subject_id"].astype(str)).to_numpy(), index=ev.index)
    month = month_index(event_date, start)
    if start_date_counts_as == "before":
        month = month.mask(event_date == start, -1)
    inside = month.between(-window, window - 1).to_numpy(dtype=bool)
    ev = pd.DataFrame({"subject_id": ev["subject_id"].astype(str).to_numpy()[inside],
                       "month": month.to_numpy()[inside].astype("int64"),
                       "category": ev["category"].astype(str).to_numpy()[inside],
                       "harm": ev["harm_score"].to_numpy(dtype="float64")[inside],
                       "date": event_date.to_numpy()[inside]})
    if spells is not None and len(spells) and len(ev):
        # A day with a recorded arrest is a day at liberty: where a custody period and an arrest
        # date disagree (a date keyed late, a release not recorded), the arrest's day counts as
        # at risk (A91), once per subject and date.
        days = ev[["subject_id", "month", "date"]].drop_duplicates().merge(spells, on="subject_id")
        held = days.loc[(days["date"] >= days["start"]) & (days["date"] < days["stop"])]
        back = held.drop_duplicates(["subject_id", "date"]).groupby(["subject_id", "month"]).size()
        held_key = pd.MultiIndex.from_frame(grid[["subject_id", "month"]])
        grid["days_at_risk"] += back.reindex(held_key, fill_value=0).to_numpy(dtype="int64")
    both = pd.concat([ev.assign(category=OVERALL), ev])
    counts = both.groupby(["subject_id", "month", "category"])["harm"].agg(events="size", harm="sum")

    out = grid.loc[grid.index.repeat(len(names)), ["subject_id", "group", "month", "start", "days_at_risk"]]
    out["category"] = np.tile(names, len(grid))
    key = pd.MultiIndex.from_frame(out[["subject_id", "month", "category"]].astype({"month": "int64"}))
    found = counts.reindex(key)
    out["events"] = found["events"].fillna(0).to_numpy(dtype="int64")
    out["harm"] = found["harm"].fillna(0.0).to_numpy(dtype="float64")
    out["calendar_month"] = out["start"].dt.strftime("%Y-%m")
    out["category"] = pd.Categorical(out["category"], names, ordered=True)
    out = out.sort_values(["category", "subject_id", "month"], kind="mergesort")
    out = out.assign(category=out["category"].astype(str))[PANEL_COLUMNS].reset_index(drop=True)
    out = out.astype({"subject_id": str, "group": str, "month": "int64", "calendar_month": str, "category": str,
                      "events": "int64", "harm": "float64", "days_at_risk": "int64"})
    _check_at_risk(out, ["events", "harm"])
    return out


def _check_at_risk(panel: pd.DataFrame, measures) -> None:
    """Arrests in a month with no time at risk contradict the custody periods (A91)."""
    days = panel["days_at_risk"]
    if (days < 0).any():
        raise StrostudyError(f"panel: days_at_risk is negative in {_rows(days < 0)}; rebuild the panel")
    bad = (days <= 0) & (panel[list(measures)] > 0).any(axis=1)
    if bad.any():
        where = ", ".join(f"subject {s} month {m}" for s, m in panel.loc[bad, ["subject_id", "month"]].drop_duplicates().head(3)
                          .itertuples(index=False))
        raise StrostudyError(f"panel: {_rows(bad)} ({where}) have arrests in a month with no days at risk (custody "
                             "covers the whole month); check those subjects' custody start_date and end_date")


# --------------------------------------------------------------------------- the count models


@dataclass
class CountFit:
    """A fitted log-link count model with its subject-clustered covariance."""

    terms: list
    beta: np.ndarray
    vcov: np.ndarray      # clustered: vcovCL's HC0 with G/(G-1) (cr1), or clubSandwich's CR2 (cr2)
    theta: float          # NB2 theta (inf for Poisson)
    n_clusters: int
    df: np.ndarray | None = None   # per coefficient: Satterthwaite df (cr2), inf (cr1: the normal)

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vcov))


def _irls(y, X, offset, theta: float, beta=None, tol: float = 1e-12, maxiter: int = 500):
    """The GLM with log link and variance mu + mu^2/theta (Poisson when theta is inf) at fixed
    theta, by IRLS (Fisher scoring) from R's start (mu = y + 0.1) or from ``beta``, until no
    coefficient moves by more than ``tol`` (relative to 1 + |b|).  Returns (beta, mu, w)."""
    if beta is None:  # R's first step, a weighted least squares of the working response
        mu = y + 0.1
        sw = np.sqrt(mu / (1 + mu / theta))
        beta = np.linalg.lstsq(X * sw[:, None], (np.log(mu) - offset + (y - mu) / mu) * sw, rcond=None)[0]
    for _ in range(maxiter):
        with np.errstate(over="ignore"):
            mu = np.exp(X @ beta + offset)
        if not np.isfinite(mu).all():
            raise StrostudyError("the count model diverged (a fitted mean overflowed); the data cannot be fitted")
        w = mu / (1 + mu / theta)
        # Each step solves the normal equations for the change in beta, so the fixed point is
        # where the score is zero, to rounding, however the solve is conditioned.
        step = np.linalg.solve((X * w[:, None]).T @ X, X.T @ ((y - mu) * w / mu))
        beta = beta + step
        if np.max(np.abs(step) / (1 + np.abs(beta))) < tol:
            break
    mu = np.exp(X @ beta + offset)
    return beta, mu, mu / (1 + mu / theta)


def _theta_score(y, mu, theta: float) -> float:
    """d loglik / d theta of the NB2 likelihood at fixed mu (MASS's ``theta.ml`` score)."""
    return float(np.sum(special.digamma(y + theta) - special.digamma(theta) + np.log(theta) + 1
                        - np.log(theta + mu) - (y + theta) / (theta + mu)))


def fit_count_model(y, X, offset, clusters, family: str = "poisson", terms=None,
                    standard_errors: str = "cr1") -> CountFit:
    """Fit ``family`` by maximum likelihood (theta too for ``negbin``, A94) and the clustered
    covariance of the coefficients (A93), as R's ``glm``/``MASS::glm.nb`` and
    ``sandwich::vcovCL(fit, cluster = clusters)`` (``cr1``) or ``clubSandwich::vcovCR(fit,
    cluster = clusters, type = "CR2")`` with Satterthwaite df (``cr2``, A131)."""
    y = np.asarray(y, dtype="float64")
    X = np.asarray(X, dtype="float64")
    offset = np.asarray(offset, dtype="float64")
    if family not in FAMILIES:
        raise StrostudyError(f"family {family!r} is not one of {', '.join(FAMILIES)}")
    beta, mu, w = _irls(y, X, offset, np.inf)
    theta = np.inf
    if family == "negbin":
        def profile(log_theta):
            nonlocal beta
            beta, mu_t, _ = _irls(y, X, offset, float(np.exp(log_theta)), beta=beta)
            return _theta_score(y, mu_t, float(np.exp(log_theta)))

        # Bracket theta's profile score from the moment estimate (MASS::theta.ml's start).
        start = np.log(len(y) / np.sum((y / mu - 1) ** 2))
        lo = hi = start
        while profile(lo) < 0:
            if lo < np.log(1e-8):
                raise StrostudyError("the negative binomial model's theta tends to 0 (the counts are too "
                                     "dispersed to fit); use family 'poisson'")
            lo -= 2
        while profile(hi) > 0:
            if hi > np.log(1e8):
                raise StrostudyError("the negative binomial model finds no overdispersion (theta tends to "
                                     "infinity); use family 'poisson'")
            hi += 2
        log_theta = optimize.brentq(profile, lo, hi, xtol=1e-14, rtol=1e-15, maxiter=500)
        theta = float(np.exp(log_theta))
        beta, mu, w = _irls(y, X, offset, theta, beta=beta)
    bread = np.linalg.inv((X * w[:, None]).T @ X)
    codes, uniques = pd.factorize(pd.Series(clusters), sort=True)
    g = len(uniques)
    terms = list(terms) if terms is not None else list(range(X.shape[1]))
    if standard_errors in ("cr2", "cr3"):
        vcov, df = cr2(X, y, mu, mu * mu / w, codes, g, bread, kind=standard_errors.upper())
        return CountFit(terms=terms, beta=beta, vcov=vcov, theta=theta, n_clusters=g, df=df)
    if standard_errors != "cr1":
        raise StrostudyError(f"standard_errors {standard_errors!r} is not one of {', '.join(STANDARD_ERRORS)}")
    scores = X * ((y - mu) * w / mu)[:, None]
    sums = np.zeros((g, X.shape[1]))
    np.add.at(sums, codes, scores)
    meat = sums.T @ sums * g / (g - 1)
    return CountFit(terms=terms, beta=beta, vcov=bread @ meat @ bread, theta=theta, n_clusters=g,
                    df=np.full(X.shape[1], np.inf))


# --------------------------------------------------------------------------- the wild cluster score bootstrap

#: Webb's six-point weights (Webb 2023, Can J Econ 56:839-858): mean 0, variance 1, and 6^G
#: distinct draws, where Rademacher's two points give only 2^G with few clusters (A137).
WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
#: The naive ratio's interval and p: ``wald`` (``standard_errors``' interval) or ``wild_score`` (A137).
NAIVE_INFERENCE = ("wald", "wild_score")


def _efficient_scores(y, X, offset, codes, g: int, theta: float, b0: float, start=None) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's efficient score for the last coefficient at the fit restricted to it being
    ``b0``: the model refitted without it (``b0`` times its column in the offset), the score
    contributions x_k (y - mu) w / mu with the other coefficients partialled out by the
    restricted information (Kline and Santos 2012).  Returns the G scores and the restricted
    coefficients (a start for the next ``b0``)."""
    k = X.shape[1] - 1
    beta, mu, w = _irls(y, X[:, :k], offset + b0 * X[:, k], theta, beta=start)
    info = (X * w[:, None]).T @ X
    a = np.linalg.solve(info[:k, :k], info[:k, k])
    return np.bincount(codes, weights=(X[:, k] - X[:, :k] @ a) * (y - mu) * w / mu, minlength=g), beta


def _score_p(scores: np.ndarray, weights: np.ndarray) -> float:
    """The symmetric bootstrap p of the studentised score sum sum(s) / sqrt(sum(s^2)) against
    the same statistic with each cluster's score times its weight, draw by draw (a draw ties the
    statistic when equal to 1 part in 1e10, and counts against the null, as in boottest)."""
    scale = np.sqrt(np.sum(scores ** 2))
    if scale == 0:
        return 1.0
    t = abs(scores.sum()) / scale
    boot = np.abs(weights @ scores) / np.sqrt((weights ** 2) @ (scores ** 2))
    return float(np.mean(boot >= t * (1 - 1e-10)))


def wild_score_test(y, X, offset, clusters, beta_hat: float, theta: float = np.inf, level: float = 0.95,
                    draws: int = 999, seed: int = 0, tol: float = 1e-7) -> dict:
    """The restricted wild cluster score bootstrap (Kline and Santos 2012, as Stata's
    ``boottest`` after an ML fit; Roodman, MacKinnon, Nielsen and Webb 2019) of the last
    coefficient of the log-link count model (variance mu + mu^2/theta at the fitted theta;
    Poisson, and so quasi-Poisson, when theta is inf), clustered by ``clusters``, with Webb's
    weights (``draws`` draws from ``seed``, one weight per cluster and draw).  ``p_value`` tests
    the coefficient being 0; the interval is every b0 the same test at ``1 - level`` does not
    reject, found by bisection to ``tol`` on each side of ``beta_hat`` with the same draws.  A
    bound is infinite where no b0 within 50 log units is rejected.  Returns estimate (the rate
    ratio exp(beta_hat)), ci_low, ci_high, p_value."""
    y = np.asarray(y, dtype="float64")
    X = np.asarray(X, dtype="float64")
    offset = np.asarray(offset, dtype="float64")
    codes, uniques = pd.factorize(pd.Series(clusters), sort=True)
    g = len(uniques)
    weights = np.random.default_rng(seed).choice(WEBB, size=(int(draws), g))
    alpha = 1 - level
    start = [None]

    def p_at(b0: float) -> float:
        scores, start[0] = _efficient_scores(y, X, offset, codes, g, theta, b0, start[0])
        return _score_p(scores, weights)

    p_zero = p_at(0.0)
    bounds = []
    for side in (-1.0, 1.0):
        inner, outer = beta_hat, None
        if side * (0.0 - beta_hat) > 0:   # no change lies on this side: the bound falls on its side of 0
            inner, outer = (0.0, None) if p_zero >= alpha else (beta_hat, 0.0)
        step = 0.25
        while outer is None:
            probe = inner + side * step
            if abs(probe - beta_hat) > 50:
                break
            if p_at(probe) < alpha:
                outer = probe
            else:
                inner, step = probe, step * 2
        if outer is None:
            bounds.append(side * np.inf)
            continue
        while abs(outer - inner) > tol:
            mid = (inner + outer) / 2
            if p_at(mid) >= alpha:
                inner = mid
            else:
                outer = mid
        bounds.append((inner + outer) / 2)
    with np.errstate(over="ignore"):
        return {"estimate": float(np.exp(beta_hat)), "ci_low": float(np.exp(bounds[0])),
                "ci_high": float(np.exp(bounds[1])), "p_value": p_zero}


def _model_rows(panel: pd.DataFrame, measure: str, category: str, cluster: str, groups) -> pd.DataFrame:
    """The rows a model uses: one measure and category, listed groups, months with time at risk
    (a month wholly in custody carries no information, A91)."""
    if measure not in MEASURES:
        raise StrostudyError(f"measure {measure!r} is not one of {', '.join(MEASURES)}")
    _require(panel, list(dict.fromkeys(["subject_id", "group", "month", "category", measure, "days_at_risk", cluster])),
             "panel")
    rows = panel.loc[(panel["category"].astype(str) == category) & panel["group"].isin(groups)]
    if rows.empty:
        raise StrostudyError(f"panel has no rows for category {category!r} in the {' and '.join(groups)} group; "
                             "check the category name")
    _check_at_risk(rows, [measure])
    if (rows[measure] < 0).any():
        raise StrostudyError(f"panel: {measure} is negative in {_rows(rows[measure] < 0)}; rebuild the panel")
    return rows.loc[rows["days_at_risk"] > 0].reset_index(drop=True)


def _check_clusters(rows: pd.DataFrame, cluster: str, groups, min_clusters: int) -> dict:
    counts = rows.groupby("group")[cluster].nunique().reindex(list(groups), fill_value=0)
    few = counts.loc[counts < max(int(min_clusters), 2)]
    if len(few):
        raise StrostudyError(f"too few clusters for subject-clustered standard errors: "
                             f"{', '.join(f'{n} in the {g} group' for g, n in few.items())} (at least "
                             f"{max(int(min_clusters), 2)} needed, A95); add subjects or lower min_clusters")
    return counts.to_dict()


def _empty_cells(rows: pd.DataFrame, measure: str, by) -> list[str]:
    """Cells whose total is 0: their coefficient is unbounded, so the model is not fitted (A98)."""
    totals = rows.groupby(by)[measure].sum()
    return [" ".join(str(k) for k in (key if isinstance(key, tuple) else (key,))) for key, v in totals.items() if v <= 0]


def _wald(beta: float, se: float, level: float, df: float = np.inf) -> dict:
    """The rate ratio exp(beta) with its interval and p-value: on the normal when ``df`` is
    infinite (cr1), else on Student's t with ``df`` (cr2's Satterthwaite df, A131)."""
    ref = stats.norm if np.isinf(df) else stats.t(df) if df > 0 else None
    q = ref.ppf(0.5 + level / 2) if ref is not None else np.nan
    p = float(2 * ref.sf(abs(beta / se))) if ref is not None else np.nan
    return {"estimate": float(np.exp(beta)), "ci_low": float(np.exp(beta - q * se)),
            "ci_high": float(np.exp(beta + q * se)), "p_value": p, "se": float(se), "df": float(df)}


def _effect(rows, measure, category, estimator, family, cluster, X, terms, level, counts, empty,
            standard_errors, wild: dict | None = None) -> pd.DataFrame:
    """One row of :data:`EFFECT_COLUMNS`: the last coefficient's rate ratio, with the Wald
    interval of ``standard_errors`` or, given ``wild`` (draws and seed), the wild cluster score
    bootstrap's (:func:`wild_score_test`; ``se`` stays the clustered one, ``df`` is empty)."""
    row = {"measure": measure, "category": category, "estimator": estimator, "family": family,
           "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "se": np.nan, "df": np.nan,
           "theta": np.nan, "interval": standard_errors if wild is None else "wild_score",
           "n_treated": int(counts.get("order", 0)), "n_comparison": int(counts.get("comparison", 0)), "note": ""}
    if empty:
        row["note"] = f"no {measure} in: {'; '.join(empty)}; the rate ratio is unbounded, so no model was fitted"
    else:
        offset = np.log(rows["days_at_risk"].to_numpy(dtype="float64"))
        fit = fit_count_model(rows[measure], X, offset, rows[cluster].astype(str), family, terms, standard_errors)
        row.update(_wald(fit.beta[-1], fit.se[-1], level, fit.df[-1]))
        if wild is not None:
            row.update(wild_score_test(rows[measure], X, offset, rows[cluster].astype(str), fit.beta[-1], fit.theta,
                                       level, draws=int(wild["draws"]), seed=int(wild["seed"])), df=np.nan)
        row["theta"] = fit.theta if family == "negbin" else np.nan
    return pd.DataFrame([row], columns=EFFECT_COLUMNS).astype({"n_treated": "int64", "n_comparison": "int64",
                                                                "interval": "string"})


def did(panel: pd.DataFrame, measure: str = "events", category: str = OVERALL, family: str = "poisson",
        cluster: str = "subject_id", level: float = 0.95, min_clusters: int = 10,
        standard_errors: str = "cr1") -> pd.DataFrame:
    """Difference-in-differences rate ratio (A90): ``y ~ treated + post + treated:post +
    offset(log(days_at_risk))`` (A97), exp(treated:post) with its subject-clustered Wald interval
    and p (A93), on the panel's rows of ``measure`` and ``category`` with days at risk.  One row of
    :data:`EFFECT_COLUMNS` (estimator ``did``)."""
    rows = _model_rows(panel, measure, category, cluster, GROUPS)
    counts = _check_clusters(rows, cluster, GROUPS, min_clusters)
    treated = (rows["group"] == "order").to_numpy(dtype="float64")
    post = (rows["month"] >= 0).to_numpy(dtype="float64")
    X = np.column_stack([np.ones(len(rows)), treated, post, treated * post])
    period = np.where(post > 0, "after", "before")
    empty = _empty_cells(rows.assign(period=period), measure, ["group", "period"])
    return _effect(rows, measure, category, "did", family, cluster, X,
                   ["intercept", "treated", "post", "treated:post"], level, counts, empty, standard_errors)


def naive_prepost(panel: pd.DataFrame, measure: str = "events", category: str = OVERALL, family: str = "poisson",
                  cluster: str = "subject_id", level: float = 0.95, min_clusters: int = 10,
                  standard_errors: str = "cr1", inference: str = "wald", draws: int = 999,
                  seed: int = 0) -> pd.DataFrame:
    """The order group's after/before rate ratio with no comparison group: ``y ~ post +
    offset(log(days_at_risk))`` on the order group alone, clustered as :func:`did`.  One row of
    :data:`EFFECT_COLUMNS` (estimator ``naive_prepost``, ``n_comparison`` 0).  ``inference``
    ``wald`` gives the Wald interval and p of ``standard_errors``; ``wild_score`` the restricted
    wild cluster score bootstrap's, ``draws`` Webb draws from ``seed`` (A137)."""
    if inference not in NAIVE_INFERENCE:
        raise StrostudyError(f"inference {inference!r} is not one of {', '.join(NAIVE_INFERENCE)}")
    rows = _model_rows(panel, measure, category, cluster, ("order",))
    counts = _check_clusters(rows, cluster, ("order",), min_clusters)
    post = (rows["month"] >= 0).to_numpy(dtype="float64")
    X = np.column_stack([np.ones(len(rows)), post])
    empty = _empty_cells(rows.assign(period=np.where(post > 0, "after", "before")), measure, ["group", "period"])
    return _effect(rows, measure, category, "naive_prepost", family, cluster, X, ["intercept", "post"], level,
                   counts, empty, standard_errors,
                   wild={"draws": draws, "seed": seed} if inference == "wild_score" else None)


def binned(panel: pd.DataFrame, bin_months: int) -> pd.DataFrame:
    """The panel with months grouped into periods of ``bin_months`` (``month`` becomes the first
    month of its period: -3 for months -3..-1 with 3-month periods, 0 for 0..2), arrests, harm
    and days at risk summed per subject, period and category.  Unchanged for 1."""
    bin_months = int(bin_months)
    if bin_months < 1:
        raise StrostudyError(f"event study: bin_months is {bin_months}; give a whole number of months, 1 or more")
    if bin_months == 1:
        return panel
    period = (panel["month"].to_numpy() // bin_months) * bin_months
    keys = ["subject_id", "group", "category"]
    out = panel.assign(month=period).groupby([*keys, "month"], sort=True, observed=True)[
        ["events", "harm", "days_at_risk"]].sum().reset_index()
    return out


def event_study(panel: pd.DataFrame, measure: str = "events", category: str = OVERALL, reference: int = -1,
                family: str = "poisson", cluster: str = "subject_id", level: float = 0.95,
                min_clusters: int = 10, bin_months: int = 1, standard_errors: str = "cr1") -> pd.DataFrame:
    """Monthly (or ``bin_months``-month) rate ratios of the order group to the comparison group,
    relative to the period holding month ``reference`` (A96): ``y ~ factor(month) * treated +
    offset(log(days_at_risk))`` (R's treatment contrasts, ``reference`` the base level), exp of
    each period's interaction with a clustered Wald interval.  One row per period (``month`` its
    first month) of :data:`EVENT_STUDY_COLUMNS`; the reference period's row has ratio 1 and no
    interval."""
    panel = binned(panel, bin_months)
    reference = (int(reference) // int(bin_months)) * int(bin_months)
    rows = _model_rows(panel, measure, category, cluster, GROUPS)
    _check_clusters(rows, cluster, GROUPS, min_clusters)
    months = np.sort(rows["month"].unique())
    if reference not in months:
        raise StrostudyError(f"event study: reference month {reference} is not a month of the panel "
                             f"({months.min()} .. {months.max()}); choose one of them")
    others = months[months != reference]
    treated = (rows["group"] == "order").to_numpy(dtype="float64")
    dummies = (rows["month"].to_numpy()[:, None] == others[None, :]).astype("float64")
    X = np.column_stack([np.ones(len(rows)), dummies, treated, dummies * treated[:, None]])
    out = pd.DataFrame({"measure": measure, "category": category, "family": family, "month": months.astype("int64"),
                        "reference": months == reference, "estimate": np.where(months == reference, 1.0, np.nan),
                        "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan, "se": np.nan, "df": np.nan,
                        "note": ""})
    empty = _empty_cells(rows, measure, ["group", "month"])
    if empty:
        shown = "; ".join(empty[:5]) + (f" (and {len(empty) - 5} more)" if len(empty) > 5 else "")
        out["note"] = f"no {measure} in group-month cells {shown}; a coefficient is unbounded, so no model was fitted"
        return out[EVENT_STUDY_COLUMNS]
    fit = fit_count_model(rows[measure], X, np.log(rows["days_at_risk"].to_numpy(dtype="float64")),
                          rows[cluster].astype(str), family, standard_errors=standard_errors)
    k = len(others)
    b, se, df = fit.beta[-k:], fit.se[-k:], fit.df[-k:]
    wald = pd.DataFrame([_wald(bi, si, level, di) for bi, si, di in zip(b, se, df)], index=others)
    at = out["month"].isin(others).to_numpy()
    for col in ("estimate", "ci_low", "ci_high", "p_value", "se", "df"):
        out.loc[at, col] = wald[col].reindex(out.loc[at, "month"]).to_numpy()
    return out[EVENT_STUDY_COLUMNS]


# --------------------------------------------------------------------------- the stage

#: Estimators of comparison_effects.csv: the order group's own after/before ratio; the
#: difference in differences against the matched comparison people; and against the whole pool.
ESTIMATORS = ["naive_prepost", "did_matched", "did_all"]
COHORT_COLUMNS = ["subject_id", "group", "index_date", "included", "reason", "matched", "distance", "subclass"]
BALANCE_COLUMNS = ["feature", "mean_treated", "mean_control_all", "smd_all", "mean_control_matched", "smd_matched"]


def span_name(measure: str, span) -> str:
    """``events_m24_m13``: a measure summed over months -24 .. -13 of the subject's clock."""
    lo, hi = (int(v) for v in span)
    return f"{measure}_{'m' if lo < 0 else 'p'}{abs(lo)}_{'m' if hi < 0 else 'p'}{abs(hi)}"


def study_subjects(cohort: pd.DataFrame, episodes: pd.DataFrame, pool: pd.DataFrame, study: dict) -> pd.DataFrame:
    """Every analysed order subject and every comparison person: ``subject_id, group,
    index_date, age_at_index, included, reason``.  A comparison person enters only with both
    windows inside the data period, the order subjects' own rule (A1-A4, A105)."""
    from .dates import full_windows

    analysed = cohort.loc[cohort["analysed"].astype(bool), ["subject_id", "start_date"]]
    age = episodes.set_index("subject_id")["age_at_start"] if "age_at_start" in episodes else pd.Series(dtype="Int64")
    order = pd.DataFrame({"subject_id": analysed["subject_id"].astype(str).to_numpy(), "group": "order",
                          "index_date": pd.to_datetime(analysed["start_date"]).to_numpy(),
                          "age_at_index": age.reindex(analysed["subject_id"]).to_numpy()})
    full = full_windows(pool.assign(start_date=pd.to_datetime(pool["index_date"])), study)
    comp = pd.DataFrame({"subject_id": pool["subject_id"].astype(str).to_numpy(), "group": "comparison",
                         "index_date": pd.to_datetime(pool["index_date"]).to_numpy(),
                         "age_at_index": pool["age_at_index"].to_numpy(), "included": full.to_numpy(dtype=bool),
                         "reason": np.where(full, "", "window_outside_data_period")})
    out = pd.concat([order.assign(included=True, reason=""), comp], ignore_index=True)
    out["age_at_index"] = pd.to_numeric(out["age_at_index"]).astype("Float64")
    return out.reset_index(drop=True)


def covariates(panel: pd.DataFrame, subjects: pd.DataFrame, matching: dict) -> tuple[pd.DataFrame, list[str]]:
    """One row per included subject: ``subject_id, treated`` and the matching features, the
    overall arrests and harm of each span of months before the index date, age at the index
    date and its year (A108).  Returns (covariates, feature names)."""
    overall = panel.loc[panel["category"] == OVERALL]
    people = subjects.loc[subjects["included"]].reset_index(drop=True)
    out = pd.DataFrame({"subject_id": people["subject_id"].to_numpy(),
                        "treated": (people["group"] == "order").astype("int64").to_numpy()})
    features = []
    months = overall["month"].to_numpy()
    first, last = (int(months.min()), int(months.max())) if len(months) else (0, -1)
    for span in matching["spans"]:
        # A span reaching outside the window (a 12-month window and the default -24..-13) is cut
        # to the window, and one wholly outside it is left out: the features' names say which
        # months they count (A108).
        lo, hi = sorted(int(v) for v in span)
        lo, hi = max(lo, first), min(hi, last)
        if lo > hi:
            continue
        inside = overall.loc[(overall["month"] >= lo) & (overall["month"] <= hi)]
        for measure in matching["measures"]:
            name = span_name(measure, (lo, hi))
            out[name] = inside.groupby("subject_id")[measure].sum().reindex(out["subject_id"]).fillna(0).to_numpy(
                dtype="float64")
            features.append(name)
    extra = {"age_at_index": people["age_at_index"].astype("float64").to_numpy(),
             "index_year": pd.to_datetime(people["index_date"]).dt.year.astype("float64").to_numpy()}
    for name in matching["covariates"]:
        out[name] = extra[name]
        features.append(name)
    missing = out[features].isna().any(axis=1)
    if missing.any():
        # Age is missing only where a date of birth is; such a subject cannot be matched on it.
        out = out.loc[~missing].reset_index(drop=True)
    return out, features


def _safely(estimate, *args, **kwargs) -> pd.DataFrame | str:
    """An estimator's rows, or the one-line reason it could not be fitted (too few subjects)."""
    try:
        return estimate(*args, **kwargs)
    except StrostudyError as err:
        return str(err)


def naive_options(cc: dict) -> dict:
    """:func:`naive_prepost`'s inference options from the ``comparison`` config block (A137)."""
    return {"inference": cc["naive_inference"], "draws": int(cc["wild_draws"]), "seed": int(cc["wild_seed"])}


def naive_interval(cc: dict) -> str:
    """The key of :data:`INTERVAL_WORDS` that describes the naive ratio's interval."""
    return "wild_score" if cc["naive_inference"] == "wild_score" else cc["standard_errors"]


def effects(panel: pd.DataFrame, matched_panel: pd.DataFrame | None, categories, cc: dict,
            unmatched: str = "no comparison people were matched", naive_panel: pd.DataFrame | None = None
            ) -> pd.DataFrame:
    """comparison_effects: per measure and category, the naive ratio and the two
    difference-in-differences ratios (A90, A94: arrests by ``cc['family']``, harm quasi-Poisson);
    ``unmatched`` says why there is no matched panel, where there is none.  The naive ratio is
    the study's own design, every day of the windows counted (``naive_panel``, the panel built
    without custody periods; A90): time at risk is what the comparison design adds, and the
    sensitivity panel's ``time_at_risk`` row shows it alone."""
    naive_panel = panel if naive_panel is None else naive_panel
    level, floor = float(cc["confidence_level"]), int(cc["min_clusters"])
    se_type = cc["standard_errors"]
    rows = []
    for measure in MEASURES:
        family = cc["family"] if measure == "events" else "poisson"
        for category in [OVERALL, *[c for c in categories if c != OVERALL]]:
            for estimator, fn, data in (("naive_prepost", naive_prepost, naive_panel),
                                        ("did_matched", did, matched_panel),
                                        ("did_all", did, panel)):
                got = unmatched if data is None else _safely(
                    fn, data, measure, category, family=family, level=level, min_clusters=floor,
                    standard_errors=se_type, **(naive_options(cc) if estimator == "naive_prepost" else {}))
                if isinstance(got, str):
                    got = pd.DataFrame([{**{c: np.nan for c in EFFECT_COLUMNS}, "measure": measure,
                                         "category": category, "estimator": estimator, "family": family,
                                         "n_treated": 0, "n_comparison": 0, "note": got,
                                         "interval": naive_interval(cc) if estimator == "naive_prepost"
                                         else se_type}],
                                       columns=EFFECT_COLUMNS)
                rows.append(got.assign(estimator=estimator))
    out = pd.concat(rows, ignore_index=True)
    return out.astype({"n_treated": "int64", "n_comparison": "int64", "interval": "string", "note": "string"})


#: What each estimator's decision claims, in words.
CLAIMS = {"naive_prepost": "the order group's rate after the order differs from before it (no comparison group)",
          "did_matched": "the order group's after/before rate ratio differs from the matched comparison group's",
          "did_all": "the order group's after/before rate ratio differs from the whole comparison pool's"}


def effect_decisions(effects: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """One decision per rate ratio of ``comparison_effects`` (rule ``<estimator>_<measure>_<category>``):
    significant when its Wald interval excludes 1 (the same call as p < alpha, A93); none
    where no ratio was estimated."""
    from .decisions import decision, frame

    rows = []
    for r in effects.to_dict("records"):
        fitted = bool(pd.notna(r["estimate"]))
        significant = fitted and (r["ci_low"] > 1 or r["ci_high"] < 1)
        label = "arrests" if r["measure"] == "events" else "harm"
        rows.append(decision(r["estimator"], r["measure"], r["category"], significant=significant, alpha=alpha,
                             claim=f"{label.capitalize()} ({r['category']}): {CLAIMS[r['estimator']]}",
                             estimate=r["estimate"], null_value=1.0, ci_low=r["ci_low"], ci_high=r["ci_high"],
                             p_value=r["p_value"], note="" if fitted else str(r["note"] or "")))
    return frame(rows)


def analyse(cohort: pd.DataFrame, episodes: pd.DataFrame, events: pd.DataFrame, pool: pd.DataFrame,
            pool_events: pd.DataFrame, custody: pd.DataFrame, config: dict) -> dict[str, pd.DataFrame]:
    """The comparison stage on DataFrames: the subjects, the panel, the match, the balance, the
    effects and the event study (docs/comparison.md)."""
    from . import categories as cats

    study, cc = config["study"], config["comparison"]
    window = int(study["window_months"])
    names = cats.names(config["categories"])
    subjects = study_subjects(cohort, episodes, pool, study)
    included = subjects.loc[subjects["included"]]
    cols = ["subject_id", "event_date", "category", "harm_score"]
    both = pd.concat([events[cols], pool_events[cols]], ignore_index=True)
    panel = subject_month_panel(both, included, window, names, custody=custody,
                                start_date_counts_as=study["start_date_counts_as"])
    # The naive ratio is the published design: every day of the windows, custody or not (A90).
    orders = included.loc[included["group"] == "order"]
    naive_panel = panel if custody is None or custody.empty else subject_month_panel(
        both, orders, window, names, custody=None, start_date_counts_as=study["start_date_counts_as"])
    cov, features = covariates(panel, subjects, cc["matching"])
    n_pool = int((cov["treated"] == 0).sum())
    matches, bal, matched_panel = None, pd.DataFrame(columns=BALANCE_COLUMNS), None
    unmatched = ("matching is switched off (comparison.matching.method: none)" if cc["matching"]["method"] == "none"
                 else "no comparison people were matched")
    m = cc["matching"]
    if m["method"] == "nearest" and n_pool and int(cov["treated"].sum()) and features:
        from .matching import balance, propensity_match

        matches = _safely(propensity_match, cov, features, ratio=int(m["ratio"]), caliper=m["caliper"],
                          replace=bool(m["replace"]))
        if isinstance(matches, str):  # a feature constant or separating (a tiny cohort): no match
            unmatched, matches = f"not matched: {matches}", None
        else:
            bal = balance(cov, matches, features)[BALANCE_COLUMNS]
            chosen = matches.loc[matches["matched"].astype(bool), "subject_id"]
            matched_panel = panel.loc[panel["subject_id"].isin(chosen)].reset_index(drop=True)
    cohort_table = subjects[["subject_id", "group", "index_date", "included", "reason"]].copy()
    cohort_table["reason"] = cohort_table["reason"].mask(
        cohort_table["included"] & ~cohort_table["subject_id"].isin(cov["subject_id"]), "covariate_missing")
    if matches is not None:
        got = matches.set_index("subject_id")
        cohort_table["matched"] = cohort_table["subject_id"].map(got["matched"]).fillna(False).astype(bool)
        cohort_table["distance"] = cohort_table["subject_id"].map(got["distance"]).astype("float64")
        cohort_table["subclass"] = cohort_table["subject_id"].map(got["subclass"]).astype("Int64")
    else:
        cohort_table = cohort_table.assign(matched=False, distance=np.nan, subclass=pd.NA)
    cohort_table = cohort_table.sort_values(["group", "subject_id"], ascending=[False, True]).reset_index(drop=True)
    study_panel = matched_panel if matched_panel is not None else panel
    reference = int(cc["event_study_reference"])
    es = [_safely(event_study, study_panel, measure, OVERALL, reference=reference,
                  family=cc["family"] if measure == "events" else "poisson", level=float(cc["confidence_level"]),
                  min_clusters=int(cc["min_clusters"]), bin_months=int(cc["event_study_bin_months"]),
                  standard_errors=cc["standard_errors"])
          for measure in MEASURES]
    es = [e if not isinstance(e, str) else pd.DataFrame([{"measure": m, "category": OVERALL, "note": e}])
          for e, m in zip(es, MEASURES)]
    es = pd.concat(es, ignore_index=True).reindex(columns=EVENT_STUDY_COLUMNS)
    es["reference"] = es["reference"].astype("boolean").fillna(False).astype(bool)
    es["month"] = es["month"].astype("Int64")
    fx = effects(panel, matched_panel, names, cc, unmatched, naive_panel)
    return {"comparison_cohort": cohort_table[COHORT_COLUMNS], "subject_month_panel": panel,
            "comparison_balance": bal, "comparison_effects": fx, "event_study": es,
            "comparison_decisions": effect_decisions(fx, float(study["alpha"]))}


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> dict[str, pd.DataFrame]:
    """The comparison stage: the cohort and both groups' events in; the panel, the match, the
    balance, the naive and adjusted rate ratios and the event study out."""
    from . import tables
    from .stages import say

    out = analyse(tables.read("cohort", inputs["cohort"]), tables.read("orders", inputs["orders"]),
                  tables.read("events", inputs["events"]), tables.read("comparison_subjects", inputs["comparison_subjects"]),
                  tables.read("comparison_events", inputs["comparison_events"]), tables.read("custody", inputs["custody"]),
                  config)
    for name, frame in out.items():
        tables.write(frame, name, output[name])
    c = out["comparison_cohort"]
    fx = out["comparison_effects"]
    main = fx.loc[(fx["measure"] == "events") & (fx["category"] == OVERALL)].set_index("estimator")["estimate"]
    say(f"comparison: {int((c['group'] == 'order').sum())} order subjects, "
        f"{int(((c['group'] == 'comparison') & c['included']).sum())} comparison people with full windows, "
        f"{int((c['matched'] & (c['group'] == 'comparison')).sum())} matched; arrests rate ratio naive "
        f"{main.get('naive_prepost', np.nan):.3f}, matched DiD {main.get('did_matched', np.nan):.3f}", log)
    return out
