"""The comparison models' small-sample standard errors (``standard_errors: cr2`` and ``cr3``,
A131, A136) against R's clubSandwich (CR2 and CR3 covariances, Satterthwaite df, t intervals and
p-values; fixtures from tests/fixtures/r/make_cr2_fixtures.R), including a sparse outcome that
few subjects carry, and the properties that make them small-sample corrections of CR1."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import count_design

from strostudy.comparison import did, event_study, fit_count_model, naive_prepost
from strostudy.errors import StrostudyError

FIX = Path(__file__).parent / "fixtures" / "r"
PANEL = pd.read_csv(FIX / "comparison_panel.csv")
TYPES = ("cr2", "cr3")
R_ALL = {t: pd.read_csv(FIX / f"comparison_{t}_r.csv") for t in TYPES}
R_ES_ALL = {t: pd.read_csv(FIX / f"comparison_event_study_{t}_r.csv") for t in TYPES}
R = R_ALL["cr2"]
ORDER_IDS = sorted(PANEL.loc[PANEL["group"] == "order", "subject_id"].unique())
COMP_IDS = sorted(PANEL.loc[PANEL["group"] == "comparison", "subject_id"].unique())
# the sparse outcome of make_cr2_fixtures.R: arrests of 5 order and 8 comparison subjects only
KEEP = {ORDER_IDS[i - 1] for i in (2, 9, 15, 22, 28)} | {COMP_IDS[i - 1] for i in (3, 11, 19, 27, 35, 43, 51, 59)}
PANEL["sparse"] = PANEL["events"].where(PANEL["subject_id"].isin(KEEP), 0)
CASES = [tuple(c) for c in R[["estimator", "family", "measure"]].drop_duplicates().itertuples(index=False)]


def _design(estimator):
    return count_design(PANEL, estimator)


@pytest.mark.parametrize("se_type", TYPES)
@pytest.mark.parametrize("estimator,family,measure", CASES, ids=["_".join(c) for c in CASES])
def test_every_coefficient_matches_clubsandwich(estimator, family, measure, se_type):
    d, X = _design(estimator)
    fit = fit_count_model(d[measure], X, np.log(d["days_at_risk"]), d["subject_id"], family,
                          standard_errors=se_type)
    R = R_ALL[se_type]
    ref = R.loc[(R.estimator == estimator) & (R.family == family) & (R.measure == measure)]
    assert len(ref) == X.shape[1]
    np.testing.assert_allclose(fit.beta, ref["estimate"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=1e-6)
    np.testing.assert_allclose(fit.df, ref["df"], rtol=1e-6)


@pytest.mark.parametrize("se_type", TYPES)
@pytest.mark.parametrize("estimator,family,measure", CASES, ids=["_".join(c) for c in CASES])
def test_effect_rows_match_clubsandwich(estimator, family, measure, se_type):
    R = R_ALL[se_type]
    fn, term = (did, "treated:post") if estimator == "did" else (naive_prepost, "post")
    # the sparse outcome enters as a category of arrests, as a sparse category does in the pipeline
    panel = (pd.concat([PANEL, PANEL.assign(category="rare", events=PANEL["sparse"])], ignore_index=True)
             if measure == "sparse" else PANEL)
    ours = fn(panel, "events" if measure == "sparse" else measure, "rare" if measure == "sparse" else "overall",
              family=family, standard_errors=se_type).iloc[0]
    ref = R.loc[(R.estimator == estimator) & (R.family == family) & (R.measure == measure) & (R.term == term)].iloc[0]
    for col, tol in (("estimate", 1e-8), ("se", 1e-6), ("df", 1e-6), ("ci_low", 1e-6), ("ci_high", 1e-6),
                     ("p_value", 1e-5)):
        got, want = ours[col], ref["ratio" if col == "estimate" else col]
        assert got == pytest.approx(want, rel=tol), col


@pytest.mark.parametrize("se_type", TYPES)
def test_event_study_matches_clubsandwich(se_type):
    out = event_study(PANEL, "events", "overall", reference=-1, bin_months=3, standard_errors=se_type)
    ours = out.loc[~out["reference"]].set_index("month")
    theirs = R_ES_ALL[se_type].set_index("month")
    assert ours.index.tolist() == theirs.index.tolist()
    for col, tol in (("estimate", 1e-8), ("se", 1e-6), ("df", 1e-6), ("ci_low", 1e-6), ("ci_high", 1e-6),
                     ("p_value", 1e-5)):
        np.testing.assert_allclose(ours[col], theirs[col], rtol=tol, err_msg=col)
    assert out.loc[out["reference"], "df"].isna().all()


def test_cr2_is_wider_than_cr1_and_its_df_fall_below_the_clusters():
    """CR2 inflates each cluster's residuals by (I - H_jj)^(-1/2), so its SEs are at least CR1's
    HC0 part; CR1 multiplies by G/(G-1) only.  The Satterthwaite df are below the number of
    clusters and lower for the sparse outcome's interaction than for all arrests' (R's values)."""
    d, X = _design("did")
    one = fit_count_model(d["events"], X, np.log(d["days_at_risk"]), d["subject_id"], "poisson")
    two = fit_count_model(d["events"], X, np.log(d["days_at_risk"]), d["subject_id"], "poisson",
                          standard_errors="cr2")
    assert np.isinf(one.df).all()
    g = d["subject_id"].nunique()
    hc0 = one.se * np.sqrt((g - 1) / g)
    assert (two.se > hc0).all()
    assert (two.df < g).all() and (two.df > 1).all()
    sparse = R.loc[(R.estimator == "did") & (R.measure == "sparse") & (R.term == "treated:post"), "df"].iloc[0]
    dense = R.loc[(R.estimator == "did") & (R.measure == "events") & (R.family == "poisson")
                  & (R.term == "treated:post"), "df"].iloc[0]
    assert sparse == pytest.approx(45.3417893560824) and dense == pytest.approx(53.8121876595424)


def test_cr3_is_wider_than_cr2():
    """CR3 inflates each cluster's residuals by (I - H_jj)^-1, CR2 by its square root, so CR3's
    variance is the larger wherever a cluster has leverage (R's values, every coefficient)."""
    two, three = R_ALL["cr2"], R_ALL["cr3"]
    assert (three["se"] > two["se"]).all()
    assert (three["ci_high"] / three["ci_low"] > two["ci_high"] / two["ci_low"]).all()


@pytest.mark.parametrize("se_type", TYPES)
def test_small_sample_errors_do_not_depend_on_row_order_or_chunking(se_type):
    """Clusters are stacked in blocks of ``cells`` matrix entries: any block size, and rows in
    any order, give the same covariance and df."""
    d, X = _design("did")
    y, off, cl = d["events"].to_numpy(float), np.log(d["days_at_risk"].to_numpy(float)), d["subject_id"]
    ref = fit_count_model(y, X, off, cl, "poisson", standard_errors=se_type)
    perm = np.random.default_rng(3).permutation(len(d))
    shuffled = fit_count_model(y[perm], X[perm], off[perm], cl.iloc[perm], "poisson", standard_errors=se_type)
    np.testing.assert_allclose(shuffled.vcov, ref.vcov, rtol=1e-9)
    np.testing.assert_allclose(shuffled.df, ref.df, rtol=1e-9)
    from strostudy.clustered import cr2

    codes, uniques = pd.factorize(cl, sort=True)
    mu = np.exp(X @ ref.beta + off)
    bread = np.linalg.inv((X * mu[:, None]).T @ X)
    for cells in (1, 24 * 24 * 7, 10**9):     # one cluster per block, seven, all of them
        vcov, df = cr2(X, y, mu, mu, codes, len(uniques), bread, cells=cells, kind=se_type.upper())
        np.testing.assert_allclose(vcov, ref.vcov, rtol=1e-9)
        np.testing.assert_allclose(df, ref.df, rtol=1e-9)


def test_unknown_standard_errors_is_one_line():
    d, X = _design("naive")
    with pytest.raises(StrostudyError, match="standard_errors 'cr4' is not one of cr1, cr2, cr3"):
        fit_count_model(d["events"], X, np.log(d["days_at_risk"]), d["subject_id"], "poisson",
                        standard_errors="cr4")
