"""Interrupted time series: R parity (fixtures from make_its_fixtures.R) and the published
'gradual, not stepped' findings on the pipeline's own outputs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy.its import TERMS, design, fit_segmented, significant

FIX = Path(__file__).parent / "fixtures" / "r"
R = pd.read_csv(FIX / "its_models_r.csv")
MONTHLY = pd.read_csv(FIX / "monthly_series.csv")
TOY = pd.read_csv(FIX / "its_toy.csv")
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
        assert abs(ours.loc[term, ("se", "model")] - ref.loc[term, "se_model"]) <= 1e-6 * max(1, ref.loc[term, "se_model"])
        assert abs(ours.loc[term, ("se", "hac_3")] - ref.loc[term, "se_hac"]) <= 1e-6 * max(1, ref.loc[term, "se_hac"])


def test_design_terms():
    d = design(np.array([-2, -1, 0, 1, 2]))
    assert d["post"].tolist() == [0, 0, 1, 1, 1] and d["time_since"].tolist() == [0, 0, 0, 1, 2]
    p = design(np.array([-14, -13, -12, -11]), interruption=-12)
    assert p["post"].tolist() == [0, 0, 1, 1] and p["time_since"].tolist() == [0, 0, 0, 1]


def test_monthly_series_shape(processed):
    m = processed["monthly_series"]
    assert len(m) == 48 * 2 * 5 and m["month"].min() == -24 and m["month"].max() == 23
    assert (m["subjects_at_risk"] == 41).all()
    totals = m.assign(after=m["month"] >= 0).groupby(["measure", "category", "after"])["value"].sum()
    t = processed["prepost_tests"].set_index(["measure", "category"])
    for (measure, category), row in t.iterrows():
        assert totals[(measure, category, False)] == pytest.approx(row["total_before"])
        assert totals[(measure, category, True)] == pytest.approx(row["total_after"])


def test_model_table_layout(processed):
    models = processed["its_models"]
    assert set(models["model"]) >= {"segmented_quasipoisson", "segmented_ols", "segmented_loglinear", "post_trend_ols",
                                    "mann_kendall", "theil_sen", "placebo_-16", "placebo_-12", "placebo_-8"}
    assert set(models["term"]) <= {"intercept", "time", "post", "time_since", "slope"}
    seg = models.loc[models["model"].str.startswith("segmented")]
    assert set(seg["se_type"]) == {"model", "hac_3"}
    assert (seg.groupby(["measure", "category", "model", "term"]).size() == 2).all()


@pytest.mark.parametrize("measure", ["events", "harm"])
def test_post_order_trend_is_significantly_downward(processed, measure):
    models = processed["its_models"].loc[lambda d: d["category"] == "overall"]
    slope = models.loc[(models.measure == measure) & (models.model == "post_trend_ols") & (models.term == "slope")]
    assert (slope["estimate"] < 0).all() and (slope["p_value"] < 0.05).all()  # model and HAC
    mk = models.loc[(models.measure == measure) & (models.model == "mann_kendall")]
    assert mk["estimate"].item() < 0 and mk["p_value"].item() < 0.05
    ts = models.loc[(models.measure == measure) & (models.model == "theil_sen")]
    assert ts["ci_high"].item() < 0


@pytest.mark.parametrize("measure,model", [("events", "segmented_quasipoisson"), ("harm", "segmented_loglinear")])
def test_gradual_not_stepped(processed, measure, model):
    models = processed["its_models"]
    for rule in ("both", "model", "hac"):
        assert not significant(models, measure, model, "post", 0.05, rule)
        assert significant(models, measure, model, "time_since", 0.05, rule)
    slope_change = models.loc[(models.measure == measure) & (models.category == "overall") & (models.model == model)
                              & (models.term == "time_since")]
    assert (slope_change["estimate"] < 0).all()
    s = processed["its_summary"].set_index("measure")
    assert s.loc[measure, "change"] == "gradual" and s.loc[measure, "post_trend_down"]


def test_placebos_show_no_change(processed):
    models = processed["its_models"].loc[lambda d: d["category"] == "overall"]
    for measure, model in (("events", "segmented_quasipoisson"), ("harm", "segmented_loglinear")):
        for placebo in ("placebo_-16", "placebo_-12", "placebo_-8"):
            pm = models.loc[models["base_model"] == model]
            for term in ("post", "time_since"):
                assert not significant(pm, measure, placebo, term, 0.05, "both"), (measure, placebo, term)
                assert not significant(pm, measure, placebo, term, 0.05, "model"), (measure, placebo, term)
    assert processed["its_summary"]["placebos_significant"].isna().all()


def test_diagnostics_saved(processed):
    d = processed["its_diagnostics"]
    overall = d.loc[(d.category == "overall") & (d.model == "segmented_quasipoisson")]
    assert set(overall["diagnostic"]) == {"durbin_watson", "ljung_box", "acf", "pacf", "residual"}
    assert 0 < overall.loc[overall.diagnostic == "durbin_watson", "value"].item() < 4
    assert sorted(overall.loc[overall.diagnostic == "ljung_box", "lag"]) == [6, 12]
    assert (overall.loc[overall.diagnostic == "acf", "lag"] == list(range(1, 13))).all()
