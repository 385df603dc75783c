"""Statistics against R (fixtures made by tests/fixtures/r/make_fixtures.R and
make_wilcox_alternative.R; R is not needed here), hand-worked cases, and degenerate inputs."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from strostudy import tables
from strostudy.config import ConfigError, defaults
from strostudy.prepost import (
    correlations,
    exact_conditional_p,
    pratt_p,
    prepost_decisions,
    prepost_tests,
    psignrank,
    qsignrank,
    rank_biserial,
    reduction_ci,
    reduction_difference_ci,
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
    # n = 3: the 8 sign patterns give V = 0,1,2,3,3,4,5,6.  R sums counts * exp(-n log 2), which
    # is 1/8 only to within an ulp (0.12500000000000003); so does psignrank, to round as R does.
    assert psignrank(0, 3) == pytest.approx(1 / 8, rel=1e-15) and psignrank(0, 3) == 0.12500000000000003
    assert psignrank(3, 3) == pytest.approx(5 / 8, rel=1e-15)
    assert psignrank(3, 3, lower_tail=False) == pytest.approx(3 / 8, rel=1e-15)
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
    assert np.allclose(pratt["p_holm"], multipletests(pratt["p_pratt"], method="holm")[1])
    assert not np.allclose(pratt["p_holm"], r_default["p_holm"])


# --------------------------------------------------------------------------- alternative and mu, as R

ALT = pd.read_csv(FIX / "wilcox_alternative.csv")
ALT_DATA = pd.read_csv(FIX / "wilcox_alternative_data.csv")


def alt_pair(name):
    if name.startswith("cohort:"):
        return pair(name)
    d = ALT_DATA.loc[ALT_DATA["dataset"] == name]
    return d["after"].to_numpy(), d["before"].to_numpy()


def same(ours, theirs, tol):
    """Equal within ``tol`` (relative above 1); NaN and infinite ends must match exactly."""
    if np.isnan(theirs) or np.isinf(theirs):
        return ours == theirs or (np.isnan(ours) and np.isnan(theirs))
    return abs(ours - theirs) <= tol * max(1.0, abs(theirs))


@pytest.mark.parametrize("row", list(ALT.itertuples()),
                         ids=[f"{r.dataset}-{r.alternative}-mu{r.mu:g}-{r.conf_level:g}" for r in ALT.itertuples()])
def test_wilcoxon_alternative_and_mu_match_r(row):
    after, before = alt_pair(row.dataset)
    w = wilcoxon_signed_rank(after, before, conf_level=row.conf_level, alternative=row.alternative, mu=row.mu)
    exact_r = row.method.endswith("exact test")
    assert (w.method == "exact") == exact_r
    assert w.v == row.V
    assert rel(w.p_value, row.p_value) < 1e-10
    assert w.conf_level == pytest.approx(row.ci_conf_level, abs=1e-12)  # incl. R's signif() of the achieved level
    tol = 1e-12 if exact_r else 1e-3  # R's uniroot(tol = 1e-4) vs the exact crossing
    for ours, theirs in ((w.estimate, row.estimate), (w.ci_low, row.ci_low), (w.ci_high, row.ci_high)):
        assert same(ours, theirs, tol), (ours, theirs)
    # coin: Pratt's asymptotic test (no continuity correction) and the exact conditional test.
    assert rel(pratt_p(after, before, row.alternative, row.mu), row.p_pratt_coin) < 1e-10
    assert rel(exact_conditional_p(after - before, alternative=row.alternative, mu=row.mu), row.p_exact_coin) < 1e-10


def test_alternative_fixtures_cover_every_branch():
    cases = ALT.assign(exact=ALT["method"].str.endswith("exact test"))
    assert set(cases["alternative"]) == {"two.sided", "less", "greater"}
    for alt, d in cases.groupby("alternative"):
        assert d["exact"].any() and (~d["exact"]).any(), alt  # both branches under each alternative
        assert (d["mu"] != 0).any() and (d.loc[d["mu"] != 0, "exact"]).any() and (~d.loc[d["mu"] != 0, "exact"]).any()
    assert np.isneginf(cases.loc[cases["alternative"] == "less", "ci_low"]).all()
    assert np.isposinf(cases.loc[cases["alternative"] == "greater", "ci_high"]).all()
    assert (cases["ci_conf_level"] < cases["conf_level"]).sum() >= 4  # levels R cannot achieve
    assert cases["ci_low"].isna().any()  # all differences tied: no interval
    assert "ties_zeros" in set(cases["dataset"]) and "n60" in set(cases["dataset"])


def test_mu_equal_to_differences_makes_them_zeros():
    # Differences -2, -1, -1, 1, 3 with mu = -1: two become zeros (dropped), so R's exact test
    # gives way to the normal approximation; the estimate and interval stay on the difference scale.
    before, after = np.array([5.0, 4, 3, 2, 1]), np.array([3.0, 3, 2, 3, 4])
    w = wilcoxon_signed_rank(after, before, mu=-1.0)
    assert w.n_nonzero == 3 and w.method != "exact"
    # shifted differences -1, 2, 4: ranks 1, 2, 3; V = 2 + 3 = 5
    assert w.v == 5.0
    assert w.estimate != wilcoxon_signed_rank(after, before).estimate  # R drops the values equal to mu
    # mu = -1.5: no zeros; shifted -0.5, 0.5, 0.5, 2.5, 4.5 have |.| ranks 2, 2, 2, 4, 5 (tied), V = 13.
    shifted = wilcoxon_signed_rank(after, before, mu=-1.5)
    assert shifted.n_nonzero == 5 and shifted.v == 13.0 and shifted.method != "exact"
    # Distinct differences and a mu equal to none of them: the exact test, on d - mu.
    exact = wilcoxon_signed_rank(np.array([1.0, 2, 4, 9]), np.zeros(4), mu=3.5)  # -2.5, -1.5, 0.5, 5.5: V = 1 + 4
    assert exact.method == "exact" and exact.v == 5.0


def test_one_sided_p_halves_the_two_sided_p_in_the_observed_direction():
    after, before = pair("n8_exact")
    two = wilcoxon_signed_rank(after, before).p_value
    less = wilcoxon_signed_rank(after, before, alternative="less").p_value
    greater = wilcoxon_signed_rank(after, before, alternative="greater").p_value
    # V = 1 of n = 8: P(V <= 1) = 2/256; two-sided doubles it; the other side is P(V >= 1) = 255/256.
    assert less == pytest.approx(2 / 256, rel=1e-14) and two == pytest.approx(4 / 256, rel=1e-14)
    assert greater == pytest.approx(255 / 256, rel=1e-14)
    with pytest.raises(ValueError, match="alternative"):
        wilcoxon_signed_rank(after, before, alternative="two-sided")


def test_pratt_has_no_continuity_correction():
    # Differences -2, -1, 0, 3 (all ranks of |d| with the zero: 0 -> 1, 1 -> 2, 2 -> 3, 3 -> 4);
    # Pratt drops the zero's rank: T+ = 4, E = (2 + 3 + 4) / 2 = 4.5, Var = (4 + 9 + 16) / 4.
    before, after = np.array([3.0, 2, 5, 1]), np.array([1.0, 1, 5, 4])
    z = (4 - 4.5) / np.sqrt(29 / 4)
    assert pratt_p(after, before) == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-12)  # 2 P(Z > |z|)
    assert pratt_p(after, before, "less") == pytest.approx(0.5 * math.erfc(-z / math.sqrt(2)), rel=1e-12)
    corrected = stats.wilcoxon(after - before, zero_method="pratt", correction=True, method="approx").pvalue
    assert abs(pratt_p(after, before) - corrected) > 0.01  # scipy's continuity correction is not coin's


# --------------------------------------------------------------------------- Holm across all ten tests


def test_holm_runs_over_all_ten_before_after_tests():
    cfg = defaults()
    cfg["prepost"]["bootstrap_resamples"] = 199
    t = prepost_tests(COHORT, cfg)
    assert len(t) == 10 and t["p_holm"].notna().all()
    assert np.allclose(t["p_holm"], multipletests(t["p_value"], method="holm")[1], rtol=1e-12, atol=0)
    # The smallest p is multiplied by 10 (not by 5, as Holm within each measure would).
    smallest = t["p_value"].idxmin()
    assert t.loc[smallest, "p_holm"] == pytest.approx(10 * t.loc[smallest, "p_value"], rel=1e-12)
    # Significance uses the configured alpha.
    cfg["study"]["alpha"] = 0.01
    strict = prepost_tests(COHORT, cfg)
    assert (strict["significant_holm"] == (strict["p_holm"] < 0.01)).all()
    assert strict["significant_holm"].sum() < t["significant_holm"].sum()


# --------------------------------------------------------------------------- bootstrap of the difference

BOOT = pd.read_csv(FIX / "bootstrap_reduction.csv").set_index(["category", "statistic"])


@pytest.mark.parametrize("category,tol", [("overall", 0.5), ("violence", 1.5)])
def test_bootstrap_intervals_agree_with_r_boot(category, tol):
    """R's boot.ci (BCa, jackknife acceleration, 49,999 resamples) is a Monte Carlo oracle: the
    two programs draw different resamples, so the ends agree only to within Monte Carlo error
    (0.5 percentage points overall, where a percentile interval would miss by 0.7-1.2; 1.5 for
    violence, whose few arrests make the ends jumpy), and both say whether no change is inside."""
    d = COHORT.loc[COHORT["category"] == category]
    cols = [d[c].to_numpy(float) for c in ("events_before", "events_after", "harm_before", "harm_after")]
    pp = defaults()["prepost"]
    args = (int(pp["bootstrap_resamples"]), int(pp["bootstrap_seed"]), 0.95)
    ours = {"harm_minus_events": reduction_difference_ci(*cols, *args, method="bca"),
            "events": reduction_ci(cols[0], cols[1], *args, method="bca"),
            "harm": reduction_ci(cols[2], cols[3], *args, method="bca")}
    for statistic, (point, low, high, note) in ours.items():
        r = BOOT.loc[(category, statistic)]
        assert point == pytest.approx(r["estimate"], rel=1e-12) and note == ""
        assert abs(low - r["ci_low"]) < tol and abs(high - r["ci_high"]) < tol, (statistic, low, high)
        assert (low < 0 < high) == (r["ci_low"] < 0 < r["ci_high"])


FIELLER = pd.read_csv(FIX / "reduction_intervals_r.csv").set_index(["dataset", "statistic"])


@pytest.mark.parametrize("category", ["overall", "modern_slavery", "violence", "drugs", "other"])
def test_default_intervals_agree_with_r(category):
    """The default intervals (prepost.reduction_interval: fieller) against R: Fieller's interval
    found there by inverting t.test (uniroot), the difference's delta-method interval from the
    gradient and covariance of the four means (make_reduction_fixtures.R).  The upper end of a
    reduction is cut at 100% (a ratio of non-negative totals cannot be negative)."""
    d = COHORT.loc[COHORT["category"] == category]
    cols = [d[c].to_numpy(float) for c in ("events_before", "events_after", "harm_before", "harm_after")]
    ours = {"harm_minus_events": reduction_difference_ci(*cols, 9999, 1, 0.95),
            "events": reduction_ci(cols[0], cols[1], 9999, 1, 0.95), "harm": reduction_ci(cols[2], cols[3], 9999, 1, 0.95)}
    for statistic, (point, low, high, note) in ours.items():
        r = FIELLER.loc[(category, statistic)]
        cap = 100.0 if statistic != "harm_minus_events" else np.inf
        assert point == pytest.approx(r["estimate"], rel=1e-12) and note == ""
        assert low == pytest.approx(r["ci_low"], rel=1e-9, abs=1e-9)
        assert high == pytest.approx(min(r["ci_high"], cap), rel=1e-9, abs=1e-9)


def test_fieller_on_a_non_count_outside_dataset():
    """MASS::anorexia (72 girls' weights before and after treatment): a 3.35% gain."""
    r = FIELLER.loc[("anorexia", "weight")]
    data = pd.read_csv(FIX / "anorexia.csv")
    point, low, high, note = reduction_ci(data["Prewt"].to_numpy(), data["Postwt"].to_numpy(), 9999, 1, 0.95)
    assert (point, low, high) == pytest.approx((r["estimate"], r["ci_low"], r["ci_high"]), rel=1e-9)


def test_fieller_interval_excludes_no_change_exactly_when_the_paired_t_test_rejects():
    rng = np.random.default_rng(3)
    for _ in range(200):
        before = rng.poisson(5, 20).astype(float)
        after = rng.poisson(rng.uniform(3, 6), 20).astype(float)
        point, low, high, note = reduction_ci(before, after, 9999, 1, 0.95)
        p = stats.ttest_rel(after, before).pvalue
        assert (low > 0 or high < 0) == (p < 0.05), (p, low, high)


def test_fieller_unbounded_when_the_before_mean_is_not_distinguishable_from_zero():
    before = np.array([0.0, 0, 0, 0, 0, 0, 0, 0, 0, 30])
    after = np.array([1.0, 0, 2, 0, 0, 1, 0, 0, 3, 0])
    point, low, high, note = reduction_ci(before, after, 9999, 1, 0.95)
    assert point == pytest.approx(100 * (1 - 7 / 30)) and np.isnan(low) and np.isnan(high)
    assert "unbounded" in note


def test_difference_of_reductions_hand_worked():
    # Arrests 10 -> 5 (50%), harm 100 -> 10 (90%): harm fell 40 points more.
    eb, ea = np.array([4.0, 3, 3]), np.array([2.0, 2, 1])
    hb, ha = np.array([50.0, 30, 20]), np.array([5.0, 3, 2])
    point, low, high, note = reduction_difference_ci(eb, ea, hb, ha, 999, 1, 0.95, min_subjects=6)
    assert point == pytest.approx(40.0) and np.isnan(low) and "fewer than 6" in note
    # Every subject's harm falls by exactly as large a share as its arrests: the difference is 0
    # in every resample, so no interval can exclude it.
    point, low, high, _ = reduction_difference_ci(eb, ea, 10 * eb, 10 * ea, 999, 1, 0.95)
    assert point == pytest.approx(0.0, abs=1e-12) and not (low > 0 or high < 0)


# --------------------------------------------------------------------------- correlation of changes


def test_correlation_is_of_the_change_per_subject_only():
    fix = pd.read_csv(FIX / "spearman_change.csv").iloc[0]
    c = correlations(COHORT)
    assert list(c["level"]) == ["subject_change"]  # no pooled windows, no months (A74)
    assert c["n"].iloc[0] == fix["n"] == 41
    assert rel(c["rho"].iloc[0], fix["rho"]) < 1e-10 and rel(c["p_value"].iloc[0], fix["p_value"]) < 1e-10


# --------------------------------------------------------------------------- the stage's decisions


@pytest.fixture(scope="module")
def decided():
    cfg = defaults()
    tests = prepost_tests(COHORT, cfg)
    return tests, prepost_decisions(tests, correlations(COHORT), COHORT, cfg).set_index("rule")


def test_decision_rules_are_named_and_shaped(decided):
    tests, d = decided
    cats = ["overall", "modern_slavery", "violence", "drugs", "other"]
    expected = ([f"wilcoxon_{m}_{c}" for m in ("events", "harm") for c in cats]
                + [f"reduction_{m}_{c}" for m in ("events", "harm") for c in cats]
                + ["reduction_harm_minus_events_overall", "spearman_change_overall"])
    assert list(d.index) == expected
    tables.check(d.reset_index(), "prepost_decisions")
    assert (d["alpha"] == 0.05).all() and (d["null_value"] == 0).all()


def test_wilcoxon_and_reduction_decisions(decided):
    tests, d = decided
    t = tests.set_index(["measure", "category"])
    w = d.loc["wilcoxon_harm_violence"]
    assert w["p_value"] == t.loc[("harm", "violence"), "p_holm"] and w["significant"]
    assert (w["estimate"], w["ci_low"], w["ci_high"]) == tuple(
        t.loc[("harm", "violence"), ["hl_estimate", "hl_ci_low", "hl_ci_high"]])
    # The case: harm/violence fell 59.9% but its interval includes no change.
    b = d.loc["reduction_harm_violence"]
    assert b["estimate"] == pytest.approx(59.870070, abs=1e-5) and b["ci_low"] < 0 < b["ci_high"]
    assert not b["significant"] and np.isnan(b["p_value"])
    assert d.loc["reduction_events_overall", "significant"] and d.loc["reduction_events_overall", "ci_low"] > 0
    assert "Fieller" in d.loc["reduction_events_overall", "claim"]


def test_difference_and_correlation_decisions(decided):
    _, d = decided
    h = d.loc["reduction_harm_minus_events_overall"]
    assert h["measure"] == "harm_minus_events" and h["test"] == "reduction" and "delta-method" in h["claim"]
    assert h["estimate"] == pytest.approx(82.873017 - 55.714286, abs=1e-5)
    assert h["significant"] == (h["ci_low"] > 0 or h["ci_high"] < 0) and h["ci_low"] > 0
    s = d.loc["spearman_change_overall"]
    fix = pd.read_csv(FIX / "spearman_change.csv").iloc[0]
    assert s["measure"] == "change" and rel(s["estimate"], fix["rho"]) < 1e-10 and s["significant"]


def test_a_one_sided_alternative_reaches_the_table_and_decisions():
    cfg = defaults()
    cfg["prepost"].update(bootstrap_resamples=199, alternative="less", mu=-1)
    tests = prepost_tests(COHORT, cfg)
    assert (tests["alternative"] == "less").all() and (tests["mu"] == -1).all()
    assert np.isneginf(tests["hl_ci_low"]).all()
    after, before = pair("cohort:events:overall")
    r = ALT.set_index(["dataset", "alternative", "mu"]).loc[("cohort:events:overall", "less", -1)]
    assert rel(tests.iloc[0]["p_value"], r["p_value"]) < 1e-10
    d = prepost_decisions(tests, correlations(COHORT), COHORT, cfg).set_index("rule")
    assert d.loc["wilcoxon_events_overall", "null_value"] == -1
    assert "are lower than before by -1" in d.loc["wilcoxon_events_overall", "claim"]


def test_a_non_finite_mu_stops_with_one_line():
    cfg = defaults()
    cfg["prepost"]["mu"] = float("nan")
    with pytest.raises(ConfigError, match="prepost.mu must be a finite number"):
        prepost_tests(COHORT, cfg)
