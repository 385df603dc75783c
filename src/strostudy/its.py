"""Interrupted time-series and trend models of the monthly series (A20-A24).

Segmented regression ``y = b0 + b1*time + b2*post + b3*time_since`` with ``time`` the month
(-24..23), ``post`` 1 from month 0, ``time_since = month * post``.  Arrests: quasi-Poisson GLM
(log link, Pearson chi-square scale), as R's ``glm(family = quasipoisson)``.  Harm: OLS, and
OLS on log(1 + harm).  Each with model-based and Newey-West HAC standard errors (R's
``sandwich::NeweyWest(fit, lag = L, prewhite = FALSE, adjust = FALSE)``).  Then the trend after
the order alone (OLS with HAC, Mann-Kendall, Theil-Sen), residual diagnostics, and placebo
interruptions inside the before period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

TERMS = ["intercept", "time", "post", "time_since"]
COLUMNS = ["measure", "category", "model", "term", "estimate", "se", "se_type", "ci_low", "ci_high", "p_value", "n"]
#: Each model kind's inverse link: from the linear predictor to the data's own scale.
INVERSE = {"quasipoisson": np.exp, "loglinear": np.expm1, "ols": lambda v: v}


def design(months: np.ndarray, interruption: int = 0) -> pd.DataFrame:
    months = np.asarray(months, dtype=float)
    post = (months >= interruption).astype(float)
    return pd.DataFrame({"intercept": 1.0, "time": months, "post": post,
                         "time_since": (months - interruption) * post})


def fit_segmented(y: np.ndarray, months: np.ndarray, kind: str, hac_lags: int, interruption: int = 0,
                  offset: np.ndarray | None = None):
    """Fit one segmented model; returns (rows for each term and se_type, fitted result).

    ``kind`` is ``quasipoisson``, ``ols`` or ``loglinear``.  Model-based inference uses t on
    the residual degrees of freedom (as R's ``summary`` for lm and quasi families); HAC
    inference uses t for OLS and the normal for the GLM (as ``lmtest::coeftest``)."""
    import statsmodels.api as sm

    X = design(months, interruption)
    y = np.asarray(y, dtype=float)
    if kind == "quasipoisson":
        model = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset)
        fit = model.fit(scale="X2", tol=1e-14, maxiter=200)
        fit_hac = model.fit(scale="X2", tol=1e-14, maxiter=200, cov_type="HAC",
                            cov_kwds={"maxlags": hac_lags, "use_correction": False})
        dist_model, dist_hac = stats.t(fit.df_resid), stats.norm()
    else:
        target = np.log1p(y) if kind == "loglinear" else y
        model = sm.OLS(target, X)
        fit = model.fit()
        fit_hac = model.fit(cov_type="HAC", cov_kwds={"maxlags": hac_lags, "use_correction": False})
        dist_model = dist_hac = stats.t(fit.df_resid)
    rows = []
    for se_type, f, dist in (("model", fit, dist_model), (f"hac_{hac_lags}", fit_hac, dist_hac)):
        est, se = np.asarray(f.params), np.asarray(f.bse)
        crit = dist.ppf(0.975)
        p = 2 * dist.sf(np.abs(est / se))
        for i, term in enumerate(TERMS):
            rows.append({"term": term, "estimate": est[i], "se": se[i], "se_type": se_type,
                         "ci_low": est[i] - crit * se[i], "ci_high": est[i] + crit * se[i], "p_value": p[i],
                         "n": len(y)})
    return rows, fit


def post_trend(y: np.ndarray, months: np.ndarray, hac_lags: int) -> list[dict]:
    """Trend after the order alone: OLS slope (model and HAC), Mann-Kendall, Theil-Sen."""
    import statsmodels.api as sm

    keep = months >= 0
    t, v = months[keep].astype(float), np.asarray(y, dtype=float)[keep]
    X = sm.add_constant(t)
    rows = []
    for se_type, fit in (("model", sm.OLS(v, X).fit()),
                         (f"hac_{hac_lags}", sm.OLS(v, X).fit(cov_type="HAC", cov_kwds={"maxlags": hac_lags,
                                                                                        "use_correction": False}))):
        dist = stats.t(fit.df_resid)
        for i, term in enumerate(("intercept", "slope")):
            est, se = fit.params[i], fit.bse[i]
            rows.append({"model": "post_trend_ols", "term": term, "estimate": est, "se": se, "se_type": se_type,
                         "ci_low": est - dist.ppf(0.975) * se, "ci_high": est + dist.ppf(0.975) * se,
                         "p_value": 2 * dist.sf(abs(est / se)), "n": len(v)})
    tau = stats.kendalltau(t, v)
    rows.append({"model": "mann_kendall", "term": "slope", "estimate": tau.statistic, "se": np.nan,
                 "se_type": "model", "ci_low": np.nan, "ci_high": np.nan, "p_value": tau.pvalue, "n": len(v)})
    ts = stats.theilslopes(v, t, alpha=0.95)
    rows.append({"model": "theil_sen", "term": "slope", "estimate": ts.slope, "se": np.nan, "se_type": "model",
                 "ci_low": ts.low_slope, "ci_high": ts.high_slope, "p_value": np.nan, "n": len(v)})
    return rows


def diagnostics(fit, kind: str, lb_lags: list[int], acf_lags: int) -> list[dict]:
    """Durbin-Watson, Ljung-Box and ACF/PACF of the residuals (Pearson residuals for the GLM);
    Ljung-Box lags as long as the series are left out."""
    from statsmodels.stats.diagnostic import acorr_ljungbox
    from statsmodels.stats.stattools import durbin_watson
    from statsmodels.tsa.stattools import acf, pacf

    resid = np.asarray(fit.resid_pearson if kind == "quasipoisson" else fit.resid)
    rows = [{"diagnostic": "durbin_watson", "lag": np.nan, "value": durbin_watson(resid), "p_value": np.nan}]
    lb_lags = [lag for lag in lb_lags if lag < len(resid)]  # a short series has no long lags
    lb = acorr_ljungbox(resid, lags=lb_lags) if lb_lags else None
    rows += [{"diagnostic": "ljung_box", "lag": lag, "value": lb.loc[lag, "lb_stat"], "p_value": lb.loc[lag, "lb_pvalue"]}
             for lag in lb_lags]
    nlags = min(acf_lags, len(resid) // 2 - 1)
    rows += [{"diagnostic": "acf", "lag": k, "value": v, "p_value": np.nan}
             for k, v in enumerate(acf(resid, nlags=nlags, fft=False)) if k > 0]
    rows += [{"diagnostic": "pacf", "lag": k, "value": v, "p_value": np.nan}
             for k, v in enumerate(pacf(resid, nlags=nlags)) if k > 0]
    rows += [{"diagnostic": "residual", "lag": i, "value": r, "p_value": np.nan} for i, r in enumerate(resid)]
    return rows


MODELS = {"events": [("segmented_quasipoisson", "quasipoisson")],
          "harm": [("segmented_ols", "ols"), ("segmented_loglinear", "loglinear")]}
#: Each segment (before and after the interruption) needs its own intercept and slope and at
#: least one residual degree of freedom: 3 months.  A shorter series is not fitted, and a
#: placebo that leaves fewer months on either side inside the before period is not fitted.
MIN_SEGMENT_MONTHS = 3
DIAGNOSTIC_COLUMNS = ["measure", "category", "model", "diagnostic", "lag", "value", "p_value"]
FITTED_COLUMNS = ["measure", "category", "model", "month", "observed", "fitted", "counterfactual"]
SUMMARY_COLUMNS = ["measure", "model", "change", "post_trend_slope", "post_trend_down", "placebos_significant",
                   "rule", "alpha"]


def fitted_rows(fit, y: np.ndarray, months: np.ndarray, kind: str, offset: np.ndarray | None) -> pd.DataFrame:
    """Observed, fitted and counterfactual (the before-trend projected: ``post`` and
    ``time_since`` set to 0) per month, on the data's own scale."""
    X = design(months).to_numpy()
    params = np.asarray(fit.params)
    shift = 0.0 if offset is None else offset
    inverse = INVERSE[kind]
    return pd.DataFrame({"month": months.astype(int), "observed": y,
                         "fitted": inverse(X @ params + shift),
                         "counterfactual": inverse(params[0] + params[1] * months + shift)})


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


def _typed(rows: list[dict], columns: list[str], types: dict) -> pd.DataFrame:
    """A frame of ``rows`` with these columns, typed even when there are no rows (or when a
    text column holds only missing values)."""
    return pd.DataFrame(rows, columns=columns).astype(types)


def its_models(monthly: pd.DataFrame, config: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """All models for every measure x category: (its_models, its_diagnostics, its_fitted).  A
    series not modelled (:func:`skip_reason`) gets one row, model ``none``, with the reason in
    ``note`` (a column present only when some series was skipped)."""
    cfg = config["its"]
    lags = int(cfg["hac_lags"])
    rows, diag, fitted_parts = [], [], []
    for (measure, category), s in monthly.groupby(["measure", "category"], sort=False):
        s = s.sort_values("month")
        months, y = s["month"].to_numpy(), s["value"].to_numpy(dtype=float)
        offset = np.log(s["subjects_at_risk"].to_numpy(float)) if (measure == "events" and cfg["events_offset"]) \
            else None
        base = {"measure": measure, "category": category}
        reason = skip_reason(s)
        if reason:
            rows.append({**base, "model": "none", "term": "note", "n": len(y), "note": reason})
            continue
        for model_name, kind in MODELS[measure]:
            fitted, fit = fit_segmented(y, months, kind, lags, offset=offset)
            rows += [{**base, "model": model_name, **r} for r in fitted]
            fitted_parts.append(fitted_rows(fit, y, months, kind, offset).assign(**base, model=model_name))
            diag += [{**base, "model": model_name, **d} for d in diagnostics(fit, kind, list(cfg["ljung_box_lags"]),
                                                                               int(cfg["acf_lags"]))]
            rows += _placebos(y, months, kind, lags, offset, cfg["placebo_months"], {**base, "base_model": model_name})
        rows += [{**base, **r} for r in post_trend(y, months, lags)]
    models = _typed(rows, list(dict.fromkeys([*COLUMNS, "base_model", *(k for r in rows for k in r)])),
                    {"measure": str, "category": str, "model": str, "term": str, "estimate": float, "se": float,
                     "se_type": str, "ci_low": float, "ci_high": float, "p_value": float, "n": int,
                     "base_model": str})
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


def _placebos(y, months, kind, lags, offset, placebo_months, base: dict) -> list[dict]:
    """The same model fitted to the before period alone, interrupted at each placebo month
    (A24); skipped where fewer than 6 before-months have any events, and for a placebo month
    leaving fewer than MIN_SEGMENT_MONTHS months on either side inside the before period."""
    before = months < 0
    if (y[before] > 0).sum() < 6:
        return []
    rows = []
    for placebo in placebo_months:
        if min((months[before] < placebo).sum(), (months[before] >= placebo).sum()) < MIN_SEGMENT_MONTHS:
            continue
        fitted, _ = fit_segmented(y[before], months[before], kind, lags, interruption=int(placebo),
                                  offset=None if offset is None else offset[before])
        rows += [{**base, "model": f"placebo_{placebo}", "placebo_month": int(placebo), **r} for r in fitted]
    return rows


def significant(models: pd.DataFrame, measure: str, model: str, term: str, alpha: float, rule: str,
                category: str = "overall") -> bool:
    """Is ``term`` significant under the decision rule (A23): ``both`` (model-based and HAC
    standard errors must agree), ``model`` or ``hac``."""
    m = models.loc[(models["measure"] == measure) & (models["category"] == category) & (models["model"] == model)
                   & (models["term"] == term)]
    p = m.set_index(m["se_type"].str.replace(r"hac_\d+", "hac", regex=True))["p_value"]
    if rule == "both":
        return bool((p < alpha).all() and len(p) == 2)
    return bool(p.get(rule, np.nan) < alpha)


def describe_change(models: pd.DataFrame, measure: str, model: str, alpha: float, rule: str,
                    category: str = "overall") -> str:
    """'gradual', 'stepped', 'both' or 'neither' (A22), from the level and slope changes."""
    level = significant(models, measure, model, "post", alpha, rule, category)
    slope = significant(models, measure, model, "time_since", alpha, rule, category)
    return {(False, True): "gradual", (True, False): "stepped", (True, True): "both", (False, False): "neither"}[
        (level, slope)]


def summary(models: pd.DataFrame, config: dict) -> pd.DataFrame:
    """The findings in words, per measure (overall): change type, post-order trend, placebos.
    A measure whose primary model was not fitted has no row (its reason is in its_models)."""
    cfg = config["its"]
    alpha, rule = float(config["study"]["alpha"]), cfg["significance"]
    rows = []
    for measure, model in cfg["primary"].items():
        placebo = [f"placebo_{p}" for p in cfg["placebo_months"]]
        pm = models.loc[(models["measure"] == measure) & (models["category"] == "overall")
                        & models["model"].isin(placebo) & (models["base_model"] == model)]
        placebo_hits = sorted({m for m in pm["model"] for t in ("post", "time_since")
                               if significant(pm, measure, m, t, alpha, rule)})
        trend = models.loc[(models["measure"] == measure) & (models["category"] == "overall")
                           & (models["model"] == "post_trend_ols") & (models["term"] == "slope")]
        if trend.empty:
            continue
        rows.append({
            "measure": measure, "model": model, "change": describe_change(models, measure, model, alpha, rule),
            "post_trend_slope": float(trend["estimate"].iloc[0]),
            "post_trend_down": bool(trend["estimate"].iloc[0] < 0 and significant(
                models.loc[models["measure"] == measure], measure, "post_trend_ols", "slope", alpha, rule)),
            "placebos_significant": ";".join(placebo_hits), "rule": rule, "alpha": alpha})
    return _typed(rows, SUMMARY_COLUMNS, {"measure": str, "model": str, "change": str, "post_trend_slope": float,
                                          "post_trend_down": bool, "placebos_significant": str, "rule": str,
                                          "alpha": float})


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The time-series stage: models, diagnostics, fitted values and the findings in words."""
    import warnings

    from . import tables
    from .stages import say

    monthly = tables.read("monthly_series", inputs["monthly_series"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' small-sample notes; diagnostics are reported instead
        models, diagnostics_, fitted = its_models(monthly, config)
    tables.write(models, "its_models", output["its_models"])
    tables.write(diagnostics_, "its_diagnostics", output["its_diagnostics"])
    tables.write(fitted, "its_fitted", output["its_fitted"])
    findings = summary(models, config)
    tables.write(findings, "its_summary", output["its_summary"])
    skipped = models.loc[(models["model"] == "none") & (models["category"] == "overall")]
    for row in skipped.itertuples():
        say(f"{row.measure}: no time-series model ({row.note})", log)
    for row in findings.itertuples():
        say(f"{row.measure}: change at the order is {row.change} ({row.model}); post-order trend "
            f"{'down, significant' if row.post_trend_down else 'not significantly down'}; "
            f"placebos significant: {row.placebos_significant or 'none'}", log)
    return findings
