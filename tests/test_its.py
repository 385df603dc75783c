"""Interrupted time series: R parity (fixtures from make_its_fixtures.R and
make_tutorial_fixtures.R), the fixed-b and AR(1) inference, and the pipeline's models and
decisions on a committed monthly series."""

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy import its as its_module
from strostudy.config import defaults
from strostudy.decisions import COLUMNS as DECISION_COLUMNS
from strostudy.errors import StrostudyError
from strostudy.its import (
    TERMS,
    Inference,
    design,
    fit_segmented,
    fixedb_null,
    harmonic,
    its,
    its_decisions,
    its_models,
    placebo_months,
    significant,
    summary,
)

FIX = Path(__file__).parent / "fixtures" / "r"
R = pd.read_csv(FIX / "its_models_r.csv")
MONTHLY = pd.read_csv(FIX / "monthly_series.csv")
TOY = pd.read_csv(FIX / "its_toy.csv")
SICILY = pd.read_csv(FIX / "sicily.csv")
GLS = pd.read_csv(FIX / "tutorial_gls_r.csv")
KIND = {"segmented_quasipoisson": "quasipoisson", "segmented_ols": "ols", "segmented_loglinear": "loglinear"}
# The pipeline fits quasi-Poisson to arrests and OLS/log-linear to harm; the toy series gets all three.
FITTED = {"events": {"segmented_quasipoisson"}, "harm": {"segmented_ols", "segmented_loglinear"}}


def series(name):
    if name == "toy":
        return TOY["month"].to_numpy(), TOY["value"].to_numpy(float)
    measure, category = name.split(":")
    d = MONTHLY.loc[(MONTHLY.measure == measure) & (MONTHLY.category == category)].sort_values("month")
    return d["month"].to_numpy(), d["value"].to_numpy(float)


CASES = [(s, m) for (s, m) in R[["series", "model"]].drop_duplicates().itertuples(index=False)
         if s == "toy" or m in FITTED[s.split(":")[0]]]


@pytest.mark.parametrize("name,model", CASES, ids=[f"{s}/{m}" for s, m in CASES])
def test_estimates_and_standard_errors_match_r(name, model):
    months, y = series(name)
    rows, _ = fit_segmented(y, months, KIND[model], hac_lags=3)
    ours = pd.DataFrame(rows).pivot(index="term", columns="se_type", values=["estimate", "se"])
    ref = R.loc[(R.series == name) & (R.model == model)].set_index("term")
    for term in TERMS:
        scale = max(1.0, abs(ref.loc[term, "estimate"]))
        assert abs(ours.loc[term, ("estimate", "model")] - ref.loc[term, "estimate"]) <= 1e-8 * scale
        assert abs(ours.loc[term, ("se", "model")] - ref.loc[term, "se_model"]) <= 1e-7 * ref.loc[term, "se_model"]
        assert abs(ours.loc[term, ("se", "hac_3")] - ref.loc[term, "se_hac"]) <= 1e-7 * ref.loc[term, "se_hac"]


@pytest.mark.parametrize("name,model", CASES[:6], ids=[f"{s}/{m}" for s, m in CASES[:6]])
def test_the_general_function_is_the_one_the_pipeline_uses(name, model):
    """its() on a frame gives the same numbers as the pipeline's fit of the same series."""
    months, y = series(name)
    table = its(pd.DataFrame({"m": months, "y": y}), "y", "m", 0, family=KIND[model],
                standard_errors=["model", "hac"]).table.set_index(["se_type", "term"])
    rows, _ = fit_segmented(y, months, KIND[model], hac_lags=3)
    pipeline = pd.DataFrame(rows).set_index(["se_type", "term"])
    columns = ["estimate", "se", "p_value"]
    assert np.allclose(table.loc[pipeline.index, columns], pipeline[columns], rtol=1e-12, atol=0)


def test_design_terms():
    d = design(np.array([-2, -1, 0, 1, 2]))
    assert d["post"].tolist() == [0, 0, 1, 1, 1] and d["time_since"].tolist() == [0, 0, 0, 1, 2]
    p = design(np.array([-14, -13, -12, -11]), interruption=-12)
    assert p["post"].tolist() == [0, 0, 1, 1] and p["time_since"].tolist() == [0, 0, 0, 1]
    assert list(design(np.arange(4), 2, slope_change=False).columns) == ["intercept", "time", "post"]


def test_harmonic_is_tsmodels():
    """tsModel::harmonic(x, 2, 12): sin(2 pi x/12), sin(4 pi x/12), cos(2 pi x/12), cos(4 pi x/12)."""
    h = harmonic([3, 6], 2, 12)
    assert np.allclose(h, [[1, 0, 0, -1], [0, 0, -1, 1]], atol=1e-15)
    assert harmonic(np.arange(5), 3, 12).shape == (5, 6)


# --------------------------------------------------------------------------- GLS with AR(1) errors


@pytest.mark.parametrize("name", ["sicily_quasipoisson_slope", "toy_loglinear"])
def test_ar1_errors_match_nlme_gls_and_satterthwaite_df(name):
    """REML estimates of nlme::gls(corAR1) and Satterthwaite df computed in R from the matrices."""
    ref = GLS.loc[GLS.series == name].set_index("term")
    if name.startswith("sicily"):
        table = its(SICILY, "aces", "time", 37, family="quasipoisson", exposure="stdpop", standard_errors=["ar1"]).table
    else:
        table = its(TOY, "value", "month", 0, family="loglinear", standard_errors=["ar1"]).table
    ours = table.set_index("term").loc[ref.index]
    assert np.allclose(ours["estimate"], ref["estimate"], rtol=1e-6, atol=0)
    assert np.allclose(ours["se"], ref["se"], rtol=1e-6, atol=0)
    assert np.allclose(ours["df"], ref["df"], rtol=1e-5, atol=0)
    assert np.allclose(ours["p_value"], ref["p_value"], rtol=1e-5, atol=0)


def test_ar1_correlation_matches_nlme():
    result = its(TOY, "value", "month", 0, family="loglinear", standard_errors=["ar1"])
    fit = its_module.fit_ar1(result.fit)
    ref = GLS.loc[GLS.series == "toy_loglinear"].iloc[0]
    assert fit.phi == pytest.approx(ref["phi"], abs=1e-7)
    assert np.sqrt(fit.sigma2) == pytest.approx(ref["sigma"], rel=1e-7)


# --------------------------------------------------------------------------- fixed-b


def test_fixedb_null_reproduces_kiefer_vogelsang_critical_values():
    """For a mean (location model), the simulated null of the Bartlett t at b = 0.5 and b = 1
    has the fixed-b 95% two-sided critical values of Kiefer and Vogelsang (2005), 3.48 (their
    cubic at b = 0.5) and 4.77 (Kiefer, Vogelsang and Bunzel 2000, b = 1), within simulation
    error."""
    x = np.ones((200, 1))
    at_half = np.sqrt(np.quantile(fixedb_null(x, np.eye(1), 100.0, 19999, 1), 0.95))
    at_one = np.sqrt(np.quantile(fixedb_null(x, np.eye(1), 200.0, 19999, 1), 0.95))
    assert at_half == pytest.approx(3.482, abs=0.08)
    assert at_one == pytest.approx(4.771, abs=0.12)


def test_fixedb_partial_sums_equal_the_kernel_form():
    n = 24
    x = np.column_stack([np.ones(n), np.arange(n), np.arange(n) >= 12])
    c = np.array([[0.0, 0.0, 1.0]])
    fast = fixedb_null(x, c, float(n), 999, 5)          # b = 1: partial sums
    slow = fixedb_null(x, c, n - 1e-9, 999, 5)          # just below: the kernel matrix
    assert np.allclose(fast, slow, rtol=1e-7)


def test_fixedb_is_deterministic_and_seeded():
    t = TOY.assign(value=TOY["value"])
    a = its(t, "value", "month", 0, family="quasipoisson", standard_errors=["fixedb"]).table
    b = its(t, "value", "month", 0, family="quasipoisson", standard_errors=["fixedb"]).table
    c = its(t, "value", "month", 0, family="quasipoisson", standard_errors=["fixedb"],
            inference=Inference(seed=1)).table
    assert a.equals(b) and not np.allclose(a["p_value"], c["p_value"])


# --------------------------------------------------------------------------- the pipeline


@pytest.fixture(scope="module")
def fitted_fixture():
    """The pipeline's ITS on the committed monthly series (the default synthetic data when the
    fixtures were made), under the AR(1) rule for both measures: the committed series carry no
    subjects' series, which the events' default cr2 rule needs (tested on the default run below)."""
    import warnings

    cfg = defaults()
    cfg["its"]["significance"] = "ar1"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models, diagnostics, fitted = its_models(MONTHLY, cfg)
    decisions = its_decisions(models, diagnostics, cfg)
    return cfg, models, diagnostics, fitted, decisions


def test_its_decisions_name_every_rule_for_every_series(fitted_fixture):
    from strostudy import tables

    cfg, models, diagnostics, _, decisions = fitted_fixture
    tables.check(decisions, "its_decisions")
    assert list(decisions.columns) == DECISION_COLUMNS
    tests = ["its_level", "its_slope", "its_posttrend", "placebo", "ljungbox", "seasonality"]
    pairs = list(MONTHLY[["measure", "category"]].drop_duplicates().itertuples(index=False))
    expected = {f"{t}_{m}_{c}" for m, c in pairs for t in tests}
    assert set(decisions["rule"]) == expected and len(decisions) == len(expected)
    assert (decisions["alpha"] == cfg["study"]["alpha"]).all() and decisions["claim"].str.len().gt(20).all()
    # By default the Mann-Kendall test is reported, not a decision (A65); naming a variant makes it one.
    cfg = {**cfg, "its": {**cfg["its"], "mann_kendall": "classical"}}
    with_mk = its_decisions(models, diagnostics, cfg)
    assert set(with_mk["rule"]) == expected | {f"mannkendall_{m}_{c}" for m, c in pairs}


def test_level_and_slope_decisions_are_rate_ratios_under_the_configured_errors(fitted_fixture):
    cfg, models, _, _, decisions = fitted_fixture
    rule = cfg["its"]["significance"]
    d = decisions.set_index("rule")
    for measure in ("events", "harm"):
        model = cfg["its"]["primary"][measure]
        for test, term in (("its_level", "post"), ("its_slope", "time_since")):
            row = d.loc[f"{test}_{measure}_overall"]
            m = models.loc[(models.measure == measure) & (models.category == "overall") & (models.model == model)
                           & (models.term == term) & (models.se_type == rule)].iloc[0]
            assert row["null_value"] == 1.0
            assert row["estimate"] == pytest.approx(np.exp(m["estimate"]), rel=1e-12)
            assert row["ci_low"] == pytest.approx(np.exp(m["ci_low"]), rel=1e-12)
            assert row["significant"] == (m["p_value"] < cfg["study"]["alpha"])


def test_the_planted_gradual_fall_is_found(fitted_fixture):
    """The committed series (planted: a fall after the order, flat before) is 'gradual' for both
    measures, with a downward post-order trend, under the configured errors."""
    cfg, models, diagnostics, _, decisions = fitted_fixture
    s = summary(models, cfg, decisions).set_index("measure")
    for measure in ("events", "harm"):
        assert s.loc[measure, "change"] == "gradual", measure
        assert s.loc[measure, "post_trend_down"] and s.loc[measure, "slope_ratio"] < 1
        assert s.loc[measure, "rule"] == cfg["its"]["significance"]


def test_placebos_cover_every_feasible_fake_month_and_find_nothing_in_a_flat_before_period(fitted_fixture):
    cfg, models, _, _, decisions = fitted_fixture
    assert placebo_months(np.arange(-24, 24), 3) == list(range(-21, -2))
    assert placebo_months(np.arange(-24, 24), 6) == list(range(-18, -5))
    placebo = models.loc[models["placebo_month"].notna() & (models.category == "overall")]
    assert set(placebo.groupby("measure")["placebo_month"].nunique()) == {13}
    d = decisions.set_index("rule")
    for measure in ("events", "harm"):
        assert not d.loc[f"placebo_{measure}_overall", "significant"]
        assert d.loc[f"placebo_{measure}_overall", "p_value"] >= cfg["study"]["alpha"]


def test_placebo_finds_a_break_planted_in_the_before_period():
    """A level drop of half at month -12 inside the before period is a spurious interruption."""
    cfg = defaults()
    cfg["its"]["significance"] = "ar1"
    months = np.arange(-24, 24)
    y = np.where(months < -12, 40.0, 20.0) + np.tile([1.0, -1.0, 2.0, -2.0], 12)
    monthly = pd.DataFrame({"month": months, "measure": "events", "category": "overall", "value": y,
                            "subjects_at_risk": 10})
    models, diagnostics, _ = its_models(monthly, cfg)
    d = its_decisions(models, diagnostics, cfg).set_index("rule")
    assert d.loc["placebo_events_overall", "significant"]
    assert "-12" in d.loc["placebo_events_overall", "note"]


def test_bonferroni_placebo_p_is_the_smallest_p_times_the_tests(fitted_fixture):
    cfg, models, _, _, decisions = fitted_fixture
    p = models.loc[models["placebo_month"].notna() & (models.measure == "events") & (models.category == "overall")
                   & (models.se_type == cfg["its"]["significance"])]
    row = decisions.set_index("rule").loc["placebo_events_overall"]
    assert row["p_value"] == pytest.approx(min(1.0, p["p_value"].min() * len(p)))


def test_ljung_box_and_seasonality_decisions_read_the_diagnostics(fitted_fixture):
    cfg, _, diagnostics, _, decisions = fitted_fixture
    d = decisions.set_index("rule")
    lag = cfg["its"]["ljung_box_lag"]
    harm = diagnostics.loc[(diagnostics.measure == "harm") & (diagnostics.category == "overall")
                           & (diagnostics.model == cfg["its"]["primary"]["harm"])]
    simulated = harm.loc[harm.diagnostic == "ljung_box_simulated"].iloc[0]
    chi_square = harm.loc[(harm.diagnostic == "ljung_box") & (harm.lag == lag)].iloc[0]
    row = d.loc["ljungbox_harm_overall"]
    assert row["p_value"] == simulated["p_value"] and row["significant"] == (simulated["p_value"] < 0.05)
    assert row["estimate"] == pytest.approx(chi_square["value"], rel=1e-12)  # the same Q, another null
    assert row["null_value"] == lag
    season = d.loc["seasonality_events_overall"]
    assert season["null_value"] == 1.0 and season["estimate"] >= 1.0


def test_ljung_box_matches_r_box_test():
    """R 4.2.2: Box.test(c(1, 3, 2, 5, 4, 6, 5, 8, 7, 9), lag = 3, type = "Ljung-Box") gives
    X-squared = 6.46904761904762, p-value = 0.090891214609607."""
    got = its_module.ljung_box(np.array([1, 3, 2, 5, 4, 6, 5, 8, 7, 9], dtype=float), [3]).iloc[0]
    assert got["q"] == pytest.approx(6.46904761904762, rel=1e-12)
    assert got["p_value"] == pytest.approx(0.090891214609607, rel=1e-10)


def test_simulated_ljung_box_null_is_the_designs():
    """Q of iid normal errors' residuals from the design: p near uniform (its 5% rejection rate
    is checked in docs/its.md); a strongly autocorrelated series is flagged."""
    cfg = defaults()["its"]
    months = np.arange(-24, 24)
    rng = np.random.default_rng(11)
    e = np.zeros(48)
    for t in range(1, 48):
        e[t] = 0.8 * e[t - 1] + rng.standard_normal()
    f = its_module.segmented_fit(np.exp(2 + 0.3 * e), months, "loglinear", cfg)
    q, p = its_module.ljung_box_simulated(f, 12, 999, 1)
    assert q == pytest.approx(its_module.ljung_box(f.resid, [12])["q"].iloc[0], rel=1e-12)
    assert p < 0.01
    white = its_module.segmented_fit(np.exp(2 + 0.3 * rng.standard_normal(48)), months, "loglinear", cfg)
    assert its_module.ljung_box_simulated(white, 12, 999, 1)[1] > 0.05


def test_a_series_with_no_events_after_the_order_is_not_run():
    cfg = defaults()
    months = np.arange(-24, 24)
    monthly = pd.DataFrame({"month": months, "measure": "events", "category": "overall",
                            "value": np.where(months < 0, 3.0, 0.0), "subjects_at_risk": 5})
    models, diagnostics, fitted = its_models(monthly, cfg)
    d = its_decisions(models, diagnostics, cfg)
    assert len(d) == 6 and not d["significant"].any()
    assert d["note"].str.contains("no events on one side").all()


def test_significant_rule_both_needs_model_and_hac(fitted_fixture):
    cfg, models, *_ = fitted_fixture
    model = cfg["its"]["primary"]["events"]
    for term in ("post", "time_since"):
        both = significant(models, "events", model, term, 0.05, "both")
        each = [significant(models, "events", model, term, 0.05, r) for r in ("model", "hac")]
        assert both == all(each)


def test_the_stage_is_byte_identical_on_rerun(tmp_path):
    from strostudy import tables
    from strostudy.its import run

    outputs = {}
    cfg = defaults()
    cfg["its"]["significance"] = "ar1"   # the committed series alone (cr2: test_cr2_decides_arrests_on_the_default_run)
    for run_name in ("a", "b"):
        out = {name: str(tmp_path / run_name / f"{name}.csv") for name in tables.outputs("its")}
        run({"monthly_series": str(FIX / "monthly_series.csv")}, out, cfg)
        outputs[run_name] = {name: Path(p).read_bytes() for name, p in out.items()}
    assert outputs["a"] == outputs["b"]


def test_model_table_layout(processed):
    models = processed["its_models"]
    cfg = defaults()["its"]
    assert set(models["model"]) >= {"segmented_quasipoisson", "segmented_ols", "segmented_loglinear", "post_trend",
                                    "mann_kendall", "kendall_tau", "theil_sen"}
    seg = models.loc[models["model"].str.startswith("segmented")]
    assert set(seg["se_type"]) == {"model", f"hac_{cfg['hac_lags']}", "fixedb", "ar1", "cr2"}
    # cr2 decides arrests (A133): written for the arrests model's time terms (the subject
    # effects absorb the intercept), not for harm's, whose rule is ar1
    cr2 = seg["se_type"] == "cr2"
    assert set(seg.loc[cr2, "measure"]) == {"events"} and "intercept" not in set(seg.loc[cr2, "term"])
    assert (seg.loc[~cr2].groupby(["measure", "category", "model", "term"]).size() == 4).all()
    log = seg.loc[seg["model"] != "segmented_ols"]
    assert np.allclose(log["ratio"], np.exp(log["estimate"]))
    assert seg.loc[seg["model"] == "segmented_ols", "ratio"].isna().all()
    assert "its_decisions" in processed and len(processed["its_decisions"]) == 6 * 10


def test_monthly_series_shape(processed):
    m = processed["monthly_series"]
    assert m["month"].min() == -24 and m["month"].max() == 23
    totals = m.assign(after=m["month"] >= 0).groupby(["measure", "category", "after"])["value"].sum()
    t = processed["prepost_tests"].set_index(["measure", "category"])
    for (measure, category), row in t.iterrows():
        assert totals[(measure, category, False)] == pytest.approx(row["total_before"])
        assert totals[(measure, category, True)] == pytest.approx(row["total_after"])


def test_diagnostics_saved(processed):
    d = processed["its_diagnostics"]
    overall = d.loc[(d.category == "overall") & (d.model == "segmented_quasipoisson") & (d.measure == "events")]
    assert set(overall["diagnostic"]) >= {"durbin_watson", "ljung_box", "acf", "pacf", "residual", "ar1_phi",
                                          "ljung_box_ar1", "seasonal_peak_to_trough"}
    assert 0 < overall.loc[overall.diagnostic == "durbin_watson", "value"].item() < 4
    assert sorted(overall.loc[overall.diagnostic == "ljung_box", "lag"]) == [6, 12]
    assert (overall.loc[overall.diagnostic == "acf", "lag"] == list(range(1, 13))).all()


def test_seasonal_terms_in_the_model_are_tested_directly():
    cfg = copy.deepcopy(defaults())
    cfg["its"]["seasonal_terms"] = True
    cfg["its"]["significance"] = "ar1"   # a series alone, with no subjects' series for cr2
    months = np.arange(-24, 24)
    rng = np.random.default_rng(3)
    y = rng.poisson(20 * np.exp(0.4 * np.cos(2 * np.pi * months / 12))).astype(float)
    monthly = pd.DataFrame({"month": months, "measure": "events", "category": "overall", "value": y,
                            "subjects_at_risk": 5})
    models, diagnostics, _ = its_models(monthly, cfg)
    assert {"season_sin1", "season_cos2"} <= set(models["term"])
    d = its_decisions(models, diagnostics, cfg).set_index("rule")
    assert d.loc["seasonality_events_overall", "significant"]
    assert d.loc["seasonality_events_overall", "estimate"] == pytest.approx(np.exp(0.8), rel=0.35)


def test_acf_pacf_and_durbin_watson_match_statsmodels():
    """The stage's own ACF, PACF (Yule-Walker, adjusted) and Durbin-Watson equal statsmodels'
    (which the stage no longer imports: a second of start-up per run)."""
    from statsmodels.stats.stattools import durbin_watson
    from statsmodels.tsa.stattools import acf, pacf

    x = np.random.default_rng(2).standard_normal(48).cumsum()
    assert np.allclose(its_module.acf(x, 12), acf(x, nlags=12, fft=False)[1:], rtol=0, atol=1e-14)
    assert np.allclose(its_module.pacf(x, 12), pacf(x, nlags=12)[1:], rtol=0, atol=1e-14)
    f = its_module.segmented_fit(np.exp(x / 10), np.arange(-24, 24), "loglinear", defaults()["its"])
    dw = [r for r in its_module.diagnostics(f, [6], 12) if r["diagnostic"] == "durbin_watson"][0]["value"]
    assert dw == pytest.approx(durbin_watson(f.resid), rel=1e-14)


def test_a_degenerate_ar1_fit_is_not_run_rather_than_a_zero_ratio():
    its = its_module
    """Seed 38 of the null scenario: harm 'other' before the order is a few large scores among
    near-zero months.  The quasi-Poisson placebo at month -13 converges, but the AR(1) GLS of
    its working model runs off to a level change of -756 (a ratio of exactly 0 after exp).
    That fit is not run; every other placebo's ratio is a positive number."""
    y = np.array([730.0, 0, 11, 3, 1, 0, 0, 0, 0, 0, 10, 10, 1, 0, 1, 365, 1, 10, 2, 0, 20, 732, 7, 2])
    months = np.arange(-24, 0)
    cfg = defaults()["its"]
    f = its.segmented_fit(y, months, "quasipoisson", cfg, interruption=-13)
    with pytest.raises(its.NotFitted, match="beyond any representable ratio"):
        its.fit_ar1(f)
    full = np.concatenate([y, np.full(24, 5.0)])
    rows = its._placebos(full, np.arange(-24, 24), "quasipoisson", cfg, its.Inference.from_config(cfg), None, {},
                         "ar1")
    done = {r["placebo_month"] for r in rows}
    assert -13 not in done and len(done) >= 10
    assert all(r["ratio"] > 0 for r in rows)


def test_the_representable_ratio_guard_is_for_log_scale_models_only():
    """OLS on raw harm has coefficients in the thousands: no ratio, so no guard."""
    y = np.concatenate([np.full(24, 3000.0), np.full(24, 900.0)]) + np.tile([0.0, 400.0], 24)
    f = its_module.segmented_fit(y, np.arange(-24, 24), "ols", defaults()["its"])
    a = its_module.fit_ar1(f)
    assert abs(a.beta[0]) > its_module.MAX_LOG_RATIO


def test_cr2_decides_arrests_on_the_default_run(processed):
    """By default (A133) arrests' level, slope, post-trend and placebo calls use the CR2 errors
    clustered on subjects, harm's the AR(1) errors: each decision is its rule's row of
    its_models, and the subjects' series add up to the published monthly series."""
    models, d = processed["its_models"], processed["its_decisions"].set_index("rule")
    cfg = defaults()
    assert cfg["its"]["significance"] == {"events": "cr2", "harm": "ar1"}
    for measure, se_type in (("events", "cr2"), ("harm", "ar1")):
        model = cfg["its"]["primary"][measure]
        for test, term in (("its_level", "post"), ("its_slope", "time_since")):
            m = models.loc[(models.measure == measure) & (models.category == "overall") & (models.model == model)
                           & (models.term == term) & (models.se_type == se_type)].iloc[0]
            row = d.loc[f"{test}_{measure}_overall"]
            assert row["estimate"] == pytest.approx(np.exp(m["estimate"]), rel=1e-9)   # CSVs: 10 digits
            assert row["p_value"] == pytest.approx(m["p_value"], rel=1e-9)
            assert (se_type == "cr2") == ("clustered on subjects" in row["note"])
        placebo = models.loc[models["placebo_month"].notna() & (models.measure == measure)
                             & (models.category == "overall")]
        assert set(placebo["se_type"]) == {se_type}
    cr2 = models.loc[(models.se_type == "cr2") & (models.model == "segmented_quasipoisson")]
    assert (cr2["df"] > 1).all() and (cr2["df"] < 41).all()   # Satterthwaite, below the 41 subjects


def test_subject_panels_add_up_to_the_monthly_series(processed, default_dirs):
    from strostudy import tables
    from strostudy.cohort import window_events

    cfg = defaults()
    work = default_dirs / "work"
    cohort = tables.read("cohort", work / tables.path("cohort", "stro"))
    windowed = window_events(tables.read("events", work / tables.path("events", "stro")), cohort, cfg)
    months = np.arange(-24, 24)
    panels = its_module.subject_panels(windowed, cohort.loc[cohort["analysed"], "subject_id"], months)
    monthly = processed["monthly_series"]
    assert len(panels) == monthly[["measure", "category"]].drop_duplicates().shape[0]
    for (measure, category), Y in panels.items():
        want = monthly.loc[(monthly.measure == measure) & (monthly.category == category)].sort_values("month")
        assert Y.shape == (int(cohort["analysed"].sum()), 48)
        np.testing.assert_allclose(Y.sum(axis=0), want["value"].to_numpy(float), rtol=1e-12)


def test_the_general_function_refuses_cr2_in_one_line():
    """One series has no subjects to cluster on: asking for cr2 is a one-line error saying why."""
    series = pd.DataFrame({"t": np.arange(24), "y": np.arange(24) % 5 + 3.0})
    with pytest.raises(StrostudyError, match="cr2 clusters the subjects behind a series"):
        its_module.its(series, "y", "t", 12, standard_errors=["cr2"])
