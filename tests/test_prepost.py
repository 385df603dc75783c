"""Statistics against R (fixtures made by tests/fixtures/r/make_fixtures.R; R is not needed
here), hand-worked cases, and degenerate inputs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from strostudy.config import defaults
from strostudy.prepost import (
    exact_conditional_p,
    prepost_tests,
    psignrank,
    qsignrank,
    rank_biserial,
    spearman_r,
    wilcoxon_signed_rank,
)

FIX = Path(__file__).parent / "fixtures" / "r"
R = pd.read_csv(FIX / "wilcox.csv")
DATA = pd.read_csv(FIX / "datasets.csv")
COHORT = pd.read_csv(FIX / "cohort_windows.csv")


def pair(name):
    if name.startswith("cohort:"):
        _, measure, category = name.split(":")
        d = COHORT.loc[COHORT["category"] == category]
        return d[f"{measure}_after"].to_numpy(), d[f"{measure}_before"].to_numpy()
    d = DATA.loc[DATA["dataset"] == name]
    return d["after"].to_numpy(), d["before"].to_numpy()


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("row", list(R.itertuples()), ids=R["dataset"].tolist())
def test_wilcoxon_matches_r(row):
    after, before = pair(row.dataset)
    w = wilcoxon_signed_rank(after, before)
    if row.dataset == "all_zero":  # R returns NA; we return a defined result with a note
        assert np.isnan(row.p_value) and w.p_value == 1.0 and "all paired differences are zero" in w.note
        return
    assert w.v == row.V
    assert rel(w.p_value, row.p_value) < 1e-10
    assert rel(exact_conditional_p(after - before), row.p_exact_coin) < 1e-10
    assert w.conf_level == pytest.approx(row.conf_level)
    exact_r = row.method.endswith("exact test")
    assert (w.method == "exact") == exact_r
    tol = 1e-12 if exact_r else 1e-3  # R's uniroot(tol = 1e-4) vs the exact crossing
    for ours, theirs in ((w.estimate, row.estimate), (w.ci_low, row.ci_low), (w.ci_high, row.ci_high)):
        assert abs(ours - theirs) <= tol * max(1, abs(theirs) if exact_r else 1)


def test_r_threshold_49_50_51_covered():
    methods = R.set_index("dataset")["method"]
    assert methods["n49"].endswith("exact test") and "continuity" in methods["n50"] and "continuity" in methods["n51"]
    for name in ("ties_zeros", "counts_ties", "small_n5", "single", "all_zero"):
        assert name in methods.index


def test_exact_crossing_is_a_walsh_average_where_r_is_approximate():
    after, before = pair("cohort:events:overall")
    w = wilcoxon_signed_rank(after, before)
    r = R.set_index("dataset").loc["cohort:events:overall"]
    assert w.estimate == -3.0 and r.estimate != -3.0 and abs(r.estimate + 3) < 1e-4  # R: -3.0000747
    assert (w.ci_low, w.ci_high) == (-4.0, -2.5)


def test_signrank_distribution_hand_worked():
    # n = 3: the 8 sign patterns give V = 0,1,2,3,3,4,5,6.
    assert psignrank(0, 3) == 1 / 8 and psignrank(3, 3) == 5 / 8 and psignrank(3, 3, lower_tail=False) == 3 / 8
    assert qsignrank(0.125, 3) == 0 and qsignrank(0.5, 3) == 3
    # One pair down by 2 and one up by 1: ranks 2 (neg) and 1 (pos); signs equally likely:
    # V in {0, 1, 2, 3}, observed V = 1, centre 1.5: |V - 1.5| >= 0.5 always -> p = 1.
    assert exact_conditional_p(np.array([-2.0, 1.0])) == 1.0
    assert exact_conditional_p(np.array([-1.0, -2.0, -3.0])) == 2 / 8
    assert rank_biserial(np.array([0, 0, 0]), np.array([1, 2, 3])) == -1.0


def test_holm_matches_r():
    fix = pd.read_csv(FIX / "padjust.csv")
    for _, d in fix.groupby("set"):
        ours = multipletests(d["p"], method="holm")[1]
        assert np.allclose(ours, d["holm"], rtol=1e-12, atol=0)


def test_spearman_matches_r():
    fix = pd.read_csv(FIX / "spearman.csv").set_index("set")
    data = pd.read_csv(FIX / "spearman_data.csv")
    sets = {k: (d["x"].to_numpy(), d["y"].to_numpy()) for k, d in data.groupby("set")}
    ov = COHORT.loc[COHORT["category"] == "overall"]
    sets["cohort_overall"] = (np.concatenate([ov["events_before"], ov["events_after"]]),
                              np.concatenate([ov["harm_before"], ov["harm_after"]]))
    for name, (x, y) in sets.items():
        rho, p, method = spearman_r(x, y)
        assert rel(rho, fix.loc[name, "rho"]) < 1e-10, name
        assert rel(p, fix.loc[name, "p_value"]) < 1e-10, (name, method)


def test_degenerate_inputs_are_defined():
    cfg = defaults()
    cfg["prepost"]["bootstrap_resamples"] = 199
    w = pd.DataFrame({"subject_id": ["a", "b", "c"] * 2, "category": ["overall"] * 3 + ["drugs"] * 3,
                      "events_before": [1, 2, 0, 0, 0, 0], "events_after": [1, 2, 0, 0, 0, 0],
                      "harm_before": [5.0, 1.0, 0.0, 0, 0, 0], "harm_after": [5.0, 1.0, 0.0, 0, 0, 0]})
    t = prepost_tests(w, cfg).set_index(["measure", "category"])
    assert t.loc[("events", "overall"), "p_value"] == 1.0
    assert "all paired differences are zero" in t.loc[("events", "overall"), "note"]
    assert np.isnan(t.loc[("events", "drugs"), "reduction_pct"])
    assert "no arrests before" in t.loc[("events", "drugs"), "note"]
    one = prepost_tests(w.iloc[[0]].assign(events_after=0, harm_after=0.0), cfg)
    assert (one["p_value"] == 1.0).all() and (one["n_subjects"] == 1).all()
    assert one["note"].str.contains("too few distinct subjects").all()


def test_zero_method_chooses_the_p_that_holm_adjusts():
    cfg = defaults()
    cfg["prepost"]["bootstrap_resamples"] = 199
    w = COHORT.copy()
    r_default = prepost_tests(w, cfg)
    cfg["prepost"]["zero_method"] = "pratt"
    pratt = prepost_tests(w, cfg)
    assert (pratt["p_value"] == r_default["p_value"]).all()  # R's p is always reported
    for measure in ("events", "harm"):
        m = pratt["measure"] == measure
        assert np.allclose(pratt.loc[m, "p_holm"], multipletests(pratt.loc[m, "p_pratt"], method="holm")[1])
    assert not np.allclose(pratt["p_holm"], r_default["p_holm"])
