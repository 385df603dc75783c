"""The comparison-group engine: the subject-month panel on a hand-worked case and against the
days at risk R computed, the difference-in-differences, naive and event-study models against R
(fixtures from make_comparison_fixtures.R), user errors, and the coverage of 1 when the groups'
trends do not differ."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import count_design

from strostudy.comparison import (
    EFFECT_COLUMNS,
    EVENT_STUDY_COLUMNS,
    PANEL_COLUMNS,
    SubjectMonthPanel,
    binned,
    did,
    event_study,
    fit_count_model,
    naive_prepost,
    subject_month_panel,
)
from strostudy.errors import StrostudyError

FIX = Path(__file__).parent / "fixtures" / "r"
PANEL = pd.read_csv(FIX / "comparison_panel.csv")
R = pd.read_csv(FIX / "comparison_r.csv")
R_EVENT_STUDY = pd.read_csv(FIX / "comparison_event_study_r.csv")
R_EVENT_STUDY_3M = pd.read_csv(FIX / "comparison_event_study_3m_r.csv")
CATEGORIES = ["violence", "drugs", "other"]


# --------------------------------------------------------------------------- the panel, by hand


def hand_case(custody=True):
    subjects = pd.DataFrame({"subject_id": ["A", "B"], "group": ["order", "comparison"],
                             "index_date": pd.to_datetime(["2021-01-31", "2020-06-15"])})
    events = pd.DataFrame({
        "subject_id": ["A", "A", "A", "B", "B", "Z"],
        "event_date": pd.to_datetime(["2021-01-31", "2021-01-15", "2020-10-01", "2020-08-14", "2020-08-15",
                                      "2020-06-20"]),
        "category": ["violence", "drugs", "violence", "drugs", "other", "other"],
        "harm_score": [10.0, 2.5, 99.0, 3.0, 99.0, 99.0]})
    spells = pd.DataFrame({"subject_id": ["A", "B", "B", "Z"],
                           "start_date": ["2021-02-20", "2020-05-01", "2020-05-05", "2020-06-01"],
                           "end_date": ["2021-03-05", "2020-05-10", "2020-05-20", "2020-07-01"]})
    return events, subjects, (spells if custody else None)


def test_panel_by_hand():
    events, subjects, spells = hand_case()
    panel = subject_month_panel(events, subjects, window=2, categories=CATEGORIES, custody=spells)
    assert list(panel.columns) == PANEL_COLUMNS
    assert len(panel) == 2 * 4 * 4  # subjects x months x (overall + 3 categories)
    SubjectMonthPanel.validate(panel)
    assert panel.dtypes[["month", "events", "days_at_risk"]].eq("int64").all() and panel["harm"].dtype == "float64"
    overall = panel.loc[panel["category"] == "overall"].set_index(["subject_id", "month"])
    # A: index 31 Jan 2021; months clip to the month's end (30 Nov, 31 Dec, 31 Jan, 28 Feb, 31 Mar).
    # Custody 20 Feb - 5 Mar (inclusive) straddles months 0 and 1: 8 days in month 0, 6 in month 1.
    # B: index 15 Jun 2020; overlapping spells 1-10 and 5-20 May merge to 1-20 May: 14 + 6 days.
    expected = pd.DataFrame({
        "subject_id": ["A"] * 4 + ["B"] * 4, "month": [-2, -1, 0, 1] * 2,
        "calendar_month": ["2020-11", "2020-12", "2021-01", "2021-02", "2020-04", "2020-05", "2020-06", "2020-07"],
        "days_at_risk": [31, 31, 28 - 8, 31 - 6, 30 - 14, 31 - 6, 30, 31],
        "events": [0, 1, 1, 0, 0, 0, 0, 1],   # the arrest on A's order date is month 0; B's of 15 Aug is month 2
        "harm": [0, 2.5, 10.0, 0, 0, 0, 0, 3.0]}).set_index(["subject_id", "month"])
    pd.testing.assert_frame_equal(overall[expected.columns], expected, check_dtype=False)
    assert overall["group"].tolist() == ["order"] * 4 + ["comparison"] * 4
    cell = panel.set_index(["subject_id", "month", "category"])
    assert cell.loc[("A", 0, "violence"), "events"] == 1 and cell.loc[("A", 0, "drugs"), "events"] == 0
    assert cell.loc[("A", -1, "drugs"), "harm"] == 2.5 and cell.loc[("B", 1, "drugs"), "harm"] == 3.0
    # Every category row of a subject-month carries the same days at risk; categories sum to overall.
    assert panel.groupby(["subject_id", "month"])["days_at_risk"].nunique().eq(1).all()
    parts = panel.loc[panel["category"] != "overall"].groupby(["subject_id", "month"])[["events", "harm"]].sum()
    pd.testing.assert_frame_equal(parts, overall[["events", "harm"]])


def test_an_arrest_day_inside_custody_is_a_day_at_risk():
    """Custody 20 Dec 2020 - 30 Jan 2021 covers A's month -1 (31 Dec - 30 Jan) whole, yet A was
    arrested on 15 Jan (twice that day, once more below): that day counts as at liberty (A91),
    once, so month -1 has 1 day at risk, not 0; month -2 (30 Nov - 30 Dec) loses 11 days."""
    events, subjects, spells = hand_case()
    events = pd.concat([events, events.iloc[[1]]], ignore_index=True)  # a second arrest on 15 Jan
    spells = pd.concat([spells, pd.DataFrame({"subject_id": ["A"], "start_date": ["2020-12-20"],
                                              "end_date": ["2021-01-30"]})], ignore_index=True)
    panel = subject_month_panel(events, subjects, 2, CATEGORIES, custody=spells)
    a = panel.loc[(panel["subject_id"] == "A") & (panel["category"] == "overall")].set_index("month")
    assert a.loc[-1, "days_at_risk"] == 1 and a.loc[-1, "events"] == 2
    assert a.loc[-2, "days_at_risk"] == 31 - 11
    assert a.loc[0, "days_at_risk"] == 28 - 8  # unchanged: the February spell holds no arrest


def test_panel_without_custody_and_start_date_before():
    events, subjects, _ = hand_case(custody=False)
    panel = subject_month_panel(events, subjects, 2, CATEGORIES, start_date_counts_as="before")
    overall = panel.loc[panel["category"] == "overall"].set_index(["subject_id", "month"])
    assert overall["days_at_risk"].tolist() == [31, 31, 28, 31, 30, 31, 30, 31]
    assert overall.loc[("A", -1), "events"] == 2 and overall.loc[("A", 0), "events"] == 0
    assert overall.loc[("A", -1), "harm"] == 12.5


def test_panel_days_at_risk_match_r():
    """R's own month arithmetic (seq by month) and custody overlap give the same days and months."""
    subjects = pd.read_csv(FIX / "comparison_subjects.csv")
    spells = pd.read_csv(FIX / "comparison_custody.csv")
    no_events = pd.DataFrame({"subject_id": pd.Series(dtype=str), "event_date": pd.Series(dtype="datetime64[ns]"),
                              "category": pd.Series(dtype=str), "harm_score": pd.Series(dtype=float)})
    panel = subject_month_panel(no_events, subjects, 12, [], custody=spells)
    ours = panel.set_index(["subject_id", "month"]).sort_index()
    ref = PANEL.set_index(["subject_id", "month"]).sort_index()
    assert len(spells) > 10 and (ref["days_at_risk"] == 0).sum() >= 2
    assert ours["days_at_risk"].tolist() == ref["days_at_risk"].tolist()
    assert ours["calendar_month"].tolist() == ref["calendar_month"].tolist()


@pytest.mark.parametrize("change,words", [
    (lambda e, s, c: (e.drop(columns="harm_score"), s, c), "'harm_score'"),
    (lambda e, s, c: (e, s.assign(group=["order", "control"]), c), "group other than"),
    (lambda e, s, c: (e, s, c.assign(end_date=["2021-02-01", *c["end_date"][1:]])), "end before they start"),
])
def test_panel_user_errors(change, words):
    events, subjects, spells = change(*hand_case())
    with pytest.raises(StrostudyError, match=words):
        subject_month_panel(events, subjects, 2, CATEGORIES, custody=spells)


# --------------------------------------------------------------------------- the models against R


def r_row(estimator, family, measure, term):
    row = R.loc[(R.estimator == estimator) & (R.family == family) & (R.measure == measure) & (R.term == term)]
    assert len(row) == 1
    return row.iloc[0]


def close(ours, theirs, rel):
    assert ours == pytest.approx(theirs, rel=rel, abs=0), (ours, theirs)


CASES = [(e, f, m) for e, f, m in R[["estimator", "family", "measure"]].drop_duplicates().itertuples(index=False)]


@pytest.mark.parametrize("estimator,family,measure", CASES, ids=["_".join(c) for c in CASES])
def test_effects_match_r(estimator, family, measure):
    fn, term = (did, "treated:post") if estimator == "did" else (naive_prepost, "post")
    out = fn(PANEL, measure, "overall", family=family)
    assert list(out.columns) == EFFECT_COLUMNS and len(out) == 1
    ours, ref = out.iloc[0], r_row(estimator, family, measure, term)
    assert ours["note"] == "" and ours["estimator"] == ("did" if estimator == "did" else "naive_prepost")
    close(ours["estimate"], ref["ratio"], 1e-8)
    close(ours["se"], ref["se"], 1e-6)
    close(ours["ci_low"], ref["ci_low"], 1e-6)
    close(ours["ci_high"], ref["ci_high"], 1e-6)
    close(ours["p_value"], ref["p_value"], 1e-5)
    assert (ours["n_treated"], ours["n_comparison"]) == (ref["n_treated"], ref["n_comparison"])
    if family == "negbin":
        close(ours["theta"], ref["theta"], 1e-5)
    else:
        assert np.isnan(ours["theta"])


@pytest.mark.parametrize("estimator,family,measure", CASES, ids=["_".join(c) for c in CASES])
def test_every_coefficient_matches_r(estimator, family, measure):
    d, X = count_design(PANEL, estimator)
    fit = fit_count_model(d[measure], X, np.log(d["days_at_risk"]), d["subject_id"], family)
    ref = R.loc[(R.estimator == estimator) & (R.family == family) & (R.measure == measure)]
    for b, se, (_, r) in zip(fit.beta, fit.se, ref.iterrows()):
        assert b == pytest.approx(r["estimate"], rel=1e-8, abs=1e-10)
        close(se, r["se"], 1e-6)


def test_planted_ratio_is_recovered_roughly():
    """The fixture plants 0.6 for order x after; the estimate is near it (a sanity check on R's side)."""
    assert 0.4 < r_row("did", "poisson", "events", "treated:post")["ratio"] < 0.9
    assert r_row("naive", "poisson", "events", "post")["ratio"] < r_row("did", "poisson", "events",
                                                                         "treated:post")["ratio"]


def test_event_study_matches_r():
    out = event_study(PANEL, "events", "overall", reference=-1)
    assert list(out.columns) == EVENT_STUDY_COLUMNS and len(out) == 24
    ref_row = out.loc[out["reference"]].iloc[0]
    assert ref_row["month"] == -1 and ref_row["estimate"] == 1.0 and np.isnan(ref_row["se"])
    ours = out.loc[~out["reference"]].set_index("month")
    theirs = R_EVENT_STUDY.set_index("month")
    assert ours.index.tolist() == theirs.index.tolist()
    np.testing.assert_allclose(ours["estimate"], theirs["estimate"], rtol=1e-8)
    np.testing.assert_allclose(ours["se"], theirs["se"], rtol=1e-6)
    np.testing.assert_allclose(ours["ci_low"], theirs["ci_low"], rtol=1e-6)
    np.testing.assert_allclose(ours["ci_high"], theirs["ci_high"], rtol=1e-6)
    np.testing.assert_allclose(ours["p_value"], theirs["p_value"], rtol=1e-5)


def test_event_study_in_3_month_periods_matches_r():
    """The pipeline's default periods (A96): months summed per subject into -12..-10, ...,
    -3..-1, 0..2, ..., the period holding month -1 the reference, as R's glm on the aggregated
    rows (tests/fixtures/r/make_comparison_fixtures.R)."""
    out = event_study(PANEL, "events", "overall", reference=-1, bin_months=3)
    assert out["month"].tolist() == list(range(-12, 12, 3))
    assert out.loc[out["reference"], "month"].tolist() == [-3]
    ours = out.loc[~out["reference"]].set_index("month")
    theirs = R_EVENT_STUDY_3M.set_index("month")
    assert ours.index.tolist() == theirs.index.tolist()
    for col, tol in (("estimate", 1e-8), ("se", 1e-6), ("ci_low", 1e-6), ("ci_high", 1e-6), ("p_value", 1e-5)):
        np.testing.assert_allclose(ours[col], theirs[col], rtol=tol)
    # The periods sum the months: a subject's -3 period is its months -3, -2 and -1.
    one = PANEL.loc[PANEL["subject_id"] == PANEL["subject_id"].iloc[0]]
    period = binned(PANEL, 3)
    mine = period.loc[(period["subject_id"] == one["subject_id"].iloc[0]) & (period["month"] == -3)].iloc[0]
    months = one.loc[one["month"].between(-3, -1)]
    assert mine["events"] == months["events"].sum() and mine["days_at_risk"] == months["days_at_risk"].sum()


# --------------------------------------------------------------------------- model errors and notes


def test_model_user_errors():
    with pytest.raises(StrostudyError, match="'days_at_risk'"):
        did(PANEL.drop(columns="days_at_risk"))
    zero = PANEL.copy()
    zero.loc[zero.index[:3], "days_at_risk"] = 0
    zero.loc[zero.index[:3], "events"] = 1
    with pytest.raises(StrostudyError, match=r"rows 0, 1, 2 \(subject S0+1 month -12, .*\) have arrests in a month with no days at risk"):
        did(zero)
    few = PANEL.loc[PANEL["subject_id"].isin(PANEL["subject_id"].unique()[:33])]  # 30 order, 3 comparison
    with pytest.raises(StrostudyError, match="too few clusters.*3 in the comparison group"):
        did(few)
    with pytest.raises(StrostudyError, match="reference month 40"):
        event_study(PANEL, reference=40)


def test_an_empty_cell_gives_a_note_not_a_fit():
    none_after = PANEL.assign(events=PANEL["events"].where((PANEL["group"] != "order") | (PANEL["month"] < 0), 0))
    out = did(none_after).iloc[0]
    assert np.isnan(out["estimate"]) and "no events in: order after" in out["note"]


# --------------------------------------------------------------------------- no difference in trends


def null_panel(rng, n_order=40, n_comparison=80, window=12):
    """Both groups fall by the same 0.6 after month 0 (regression to the mean, say), with
    overdispersed subject rates and custody-shortened months: the true DiD ratio is 1."""
    n = n_order + n_comparison
    months = np.tile(np.arange(-window, window), n)
    subject = np.repeat(np.arange(n), 2 * window)
    group = np.where(subject < n_order, "order", "comparison")
    days = rng.choice([28, 30, 31], size=len(months)) - rng.binomial(1, 0.1, len(months)) * rng.integers(
        0, 20, len(months))
    rate = 0.03 * rng.gamma(2.0, 0.5, n)[subject] * np.where(group == "order", 1.5, 1.0) * np.where(months >= 0, 0.6, 1)
    return pd.DataFrame({"subject_id": subject.astype(str), "group": group, "month": months, "category": "overall",
                         "events": rng.poisson(rate * days), "harm": 0.0, "days_at_risk": days})


def test_did_covers_one_when_trends_do_not_differ():
    rng = np.random.default_rng(20261123)
    reps = 200
    did_covers = naive_covers = 0
    for _ in range(reps):
        panel = null_panel(rng)
        d = did(panel).iloc[0]
        n = naive_prepost(panel).iloc[0]
        did_covers += d["ci_low"] <= 1 <= d["ci_high"]
        naive_covers += n["ci_low"] <= 1 <= n["ci_high"]
    assert did_covers / reps >= 0.91       # nominal 0.95; Monte Carlo sd about 0.015
    assert naive_covers / reps <= 0.05     # the naive design sees the common fall as an effect
