"""The naive before/after ratio's restricted wild cluster score bootstrap
(``comparison.naive_inference: wild_score``, A137) against R (tests/fixtures/r/make_wild_fixtures.R:
glm's restricted fits and the score bootstrap written from its definition, on the same draws),
and the properties that make it a test: the interval is the set its test does not reject, it
agrees with the Wald interval when clusters are many, and it holds its size where clusters are
few."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy.comparison import WEBB, _efficient_scores, _score_p, fit_count_model, naive_prepost, wild_score_test
from strostudy.config import defaults
from strostudy.errors import StrostudyError

FIX = Path(__file__).parent / "fixtures" / "r"
PANEL = pd.read_csv(FIX / "comparison_panel.csv")
R = pd.read_csv(FIX / "wild_r.csv")
WEIGHTS = pd.read_csv(FIX / "wild_weights.csv")
SEED = 20260625
ORDER = PANEL.loc[(PANEL["group"] == "order") & (PANEL["days_at_risk"] > 0)].reset_index(drop=True)
IDS = sorted(ORDER["subject_id"].unique())
ORDER["sparse"] = ORDER["events"].where(ORDER["subject_id"].isin({IDS[i - 1] for i in (2, 9, 15, 22, 28)}), 0)
MODELS = {"naive_poisson_events": ("events", "poisson"), "naive_poisson_harm": ("harm", "poisson"),
          "naive_poisson_sparse": ("sparse", "poisson"), "naive_negbin_events": ("events", "negbin")}


def _model(name):
    measure, family = MODELS[name]
    X = np.column_stack([np.ones(len(ORDER)), (ORDER["month"] >= 0).astype(float)])
    y = ORDER[measure].to_numpy(float)
    offset = np.log(ORDER["days_at_risk"].to_numpy(float))
    return y, X, offset, fit_count_model(y, X, offset, ORDER["subject_id"], family)


def _r(name, what):
    return R.loc[(R["model"] == name) & (R["what"] == what)]


def test_the_fixture_draws_are_the_pipelines_for_its_default_seed():
    assert defaults()["comparison"]["wild_seed"] == SEED and defaults()["comparison"]["wild_draws"] == 999
    assert list(WEIGHTS.columns) == IDS
    ours = np.random.default_rng(SEED).choice(WEBB, size=(999, len(IDS)))
    np.testing.assert_array_equal(ours, WEIGHTS.to_numpy())
    # Webb's six points: mean 0, variance 1
    assert WEBB.mean() == pytest.approx(0, abs=1e-15) and (WEBB ** 2).mean() == pytest.approx(1, rel=1e-15)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_bootstrap_p_of_every_null_matches_r(name):
    y, X, offset, fit = _model(name)
    assert fit.beta[-1] == pytest.approx(_r(name, "estimate")["value"].iloc[0], rel=1e-8)
    if np.isfinite(fit.theta):
        assert fit.theta == pytest.approx(_r(name, "theta")["value"].iloc[0], rel=1e-6)
    codes = pd.factorize(ORDER["subject_id"], sort=True)[0]
    for r in _r(name, "p").itertuples():
        scores, _ = _efficient_scores(y, X, offset, codes, len(IDS), fit.theta, r.b0)
        assert _score_p(scores, WEIGHTS.to_numpy()) == pytest.approx(r.value, abs=1e-12), r.b0


@pytest.mark.parametrize("name", list(MODELS))
def test_the_inverted_interval_matches_r(name):
    y, X, offset, fit = _model(name)
    got = wild_score_test(y, X, offset, ORDER["subject_id"], fit.beta[-1], fit.theta, 0.95, draws=999, seed=SEED)
    assert np.log(got["ci_low"]) == pytest.approx(_r(name, "low")["value"].iloc[0], abs=1e-6)
    assert np.log(got["ci_high"]) == pytest.approx(_r(name, "high")["value"].iloc[0], abs=1e-6)
    assert got["p_value"] == pytest.approx(_r(name, "p").query("b0 == 0")["value"].iloc[0], abs=1e-12)


def test_the_naive_row_uses_it_when_asked_and_says_so():
    panel = PANEL.assign(category="overall")
    wald = naive_prepost(panel, "harm", standard_errors="cr2").iloc[0]
    wild = naive_prepost(panel, "harm", standard_errors="cr2", inference="wild_score", draws=999, seed=SEED).iloc[0]
    assert wild["estimate"] == wald["estimate"] and wild["se"] == wald["se"]
    assert (wald["interval"], wild["interval"]) == ("cr2", "wild_score") and np.isnan(wild["df"])
    assert np.log(wild["ci_low"]) == pytest.approx(_r("naive_poisson_harm", "low")["value"].iloc[0], abs=1e-6)
    assert wild["p_value"] == pytest.approx(0.0660660660660661, abs=1e-12)   # R's p at b0 = 0
    with pytest.raises(StrostudyError, match="inference 'bootstrap' is not one of wald, wild_score"):
        naive_prepost(panel, "harm", inference="bootstrap")


def _clustered_counts(rng, g, months=24, effect=1.0, spread=1.0):
    """g subjects, each with a gamma frailty, Poisson counts per month, a ratio ``effect`` after
    month 0."""
    subject = np.repeat(np.arange(g), 2 * months)
    post = np.tile(np.r_[np.zeros(months), np.ones(months)], g)
    frailty = rng.gamma(1 / spread, spread, g)[subject]
    y = rng.poisson(0.3 * frailty * np.where(post > 0, effect, 1.0)).astype(float)
    return y, np.column_stack([np.ones(len(y)), post]), np.zeros(len(y)), subject


def test_its_decision_and_interval_agree_by_construction():
    """Significant (p < alpha) exactly when the interval excludes no change, on 60 small data sets."""
    rng = np.random.default_rng(7)
    seen = set()
    for rep in range(60):
        y, X, offset, subject = _clustered_counts(rng, 12, effect=[0.5, 1.0][rep % 2])
        fit = fit_count_model(y, X, offset, subject)
        got = wild_score_test(y, X, offset, subject, fit.beta[-1], draws=199, seed=rep)
        excludes = got["ci_high"] < 1 or got["ci_low"] > 1
        assert (got["p_value"] < 0.05) == excludes, rep
        assert got["ci_low"] <= got["estimate"] <= got["ci_high"]
        seen.add(excludes)
    assert seen == {True, False}


def test_with_many_clusters_it_is_close_to_the_wald_interval():
    y, X, offset, subject = _clustered_counts(np.random.default_rng(3), 400, effect=0.7, spread=0.5)
    fit = fit_count_model(y, X, offset, subject, standard_errors="cr1")
    got = wild_score_test(y, X, offset, subject, fit.beta[-1], draws=1999, seed=1)
    wald = np.exp(fit.beta[-1] + np.array([-1, 1]) * 1.959964 * fit.se[-1])
    np.testing.assert_allclose([got["ci_low"], got["ci_high"]], wald, rtol=0.03)


def test_with_few_clusters_it_holds_its_size():
    """12 subjects with very unequal frailties, no effect: the wild score test rejects at about
    alpha (the CR1 Wald test, for contrast, well above it)."""
    rng = np.random.default_rng(11)
    wild = wald = 0
    reps = 300
    for rep in range(reps):
        y, X, offset, subject = _clustered_counts(rng, 12, spread=2.0)
        if y[X[:, 1] == 0].sum() == 0 or y[X[:, 1] == 1].sum() == 0:
            reps -= 1
            continue
        fit = fit_count_model(y, X, offset, subject, standard_errors="cr1")
        wald += abs(fit.beta[-1] / fit.se[-1]) > 1.959964
        codes = pd.factorize(subject, sort=True)[0]
        scores, _ = _efficient_scores(y, X, offset, codes, 12, np.inf, 0.0)
        wild += _score_p(scores, np.random.default_rng(rep).choice(WEBB, size=(399, 12))) < 0.05
    assert wild / reps <= 0.075        # 5% within Monte Carlo error (SE 1.3 points at 300 reps)
    assert wald / reps > wild / reps + 0.02
