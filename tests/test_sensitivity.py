"""The sensitivity panel (issue 13, item 5): a hand-worked cohort where every analysis is
counted by hand, and the default synthetic data, where the configured window's row is the main
result of prepost_tests."""

import numpy as np
import pandas as pd
import pytest
from conftest import Processed

from strostudy import tables
from strostudy.categories import names
from strostudy.cohort import build_cohort, subject_windows, window_events
from strostudy.comparison import subject_month_panel
from strostudy.config import defaults
from strostudy.errors import StrostudyError
from strostudy.prepost import prepost_tests
from strostudy.sensitivity import PANEL_COLUMNS, breach_codes, sensitivity_panel
from strostudy.studies import resolve

# --------------------------------------------------------------------------- the hand-worked cohort
#
# Data period 2016-07-01 .. 2023-03-31 (the defaults); 24-month windows.
#   S1 starts 2019-01-10, S2 2019-06-01, S3 2020-02-01: full windows at 24 months, analysed.
#   S4 starts 2019-09-01 and was discharged 2020-06-01, inside its after window: excluded
#      (order_ended_in_window), back in under intention to treat.
#   S5 starts 2021-06-01: its 24-month after window ends after the extraction date; full at 12.
# Arrests: (subject, date, category, principal code, harm); the month on the subject's clock.

ARRESTS = [
    ("S1", "2017-03-01", "violence", "OF61102", 10.0),        # -23
    ("S1", "2018-11-20", "modern_slavery", "MS15001", 730.0),  # -2: washout
    ("S1", "2019-05-05", "modern_slavery", "MS15016", 84.0),   # 3: breach of the order
    ("S1", "2020-06-01", "drugs", "MD71221", 2.0),            # 16
    ("S1", "2021-01-01", "other", "RT88001", 1.0),            # 23: motoring (negative control)
    ("S2", "2018-01-15", "drugs", "MD71230", 547.5),          # -17
    ("S2", "2019-04-10", "violence", "CJ88116", 1.0),         # -2: washout
    ("S2", "2019-05-31", "other", "TH68005", 1.0),            # -1: washout
    ("S2", "2019-06-01", "violence", "CJ88116", 1.0),         # 0: the start day counts as after (A3)
    ("S2", "2020-12-01", "modern_slavery", "MS15017", 84.0),  # 18: breach of an interim order
    ("S3", "2017-06-01", "modern_slavery", "MS15001", 730.0),  # -32: only inside a 36-month window
    ("S3", "2018-05-01", "other", "RT88001", 1.0),            # -21: motoring (negative control)
    ("S3", "2019-01-01", "other", "TH68005", 1.0),            # -13
    ("S3", "2019-08-15", "violence", "OF61102", 10.0),        # -6
    ("S3", "2019-10-01", "drugs", "MD71221", 2.0),            # -4
    ("S3", "2021-01-01", "other", "TH68005", 1.0),            # 11
    ("S3", "2022-12-01", "drugs", "MD71221", 2.0),            # 34: only inside a 36-month window
    ("S4", "2018-09-01", "violence", "OF61102", 10.0),        # -12
    ("S4", "2020-10-01", "violence", "OF61102", 10.0),        # 13
    ("S5", "2021-01-01", "other", "TH68005", 1.0),            # -5
    ("S5", "2022-01-01", "other", "TH68005", 1.0),            # 7
    ("S5", "2022-03-01", "other", "TH68005", 1.0),            # 9
]


def hand_episodes():
    starts = pd.to_datetime(["2019-01-10", "2019-06-01", "2020-02-01", "2019-09-01", "2021-06-01"])
    return pd.DataFrame({
        "subject_id": ["S1", "S2", "S3", "S4", "S5"], "identity": "pnc_id", "start_date": starts,
        "start_earliest": starts, "start_latest": starts, "start_usable": True, "rocu_return": True,
        "status": ["Active", "Active", "Expired", "Discharged", "Active"],
        "status_date": pd.to_datetime([None, None, None, "2020-06-01", None])})


def hand_events():
    e = pd.DataFrame(ARRESTS, columns=["subject_id", "event_date", "category", "matched_code", "harm_score"])
    return e.assign(event_date=pd.to_datetime(e["event_date"]), event_id=[f"E{i}" for i in range(len(e))])


def hand_config(**sensitivity):
    cfg = resolve(defaults(), "stro")
    cfg["comparison"]["min_clusters"] = 2  # three order subjects in the time-at-risk model
    cfg["comparison"]["sensitivity"] |= sensitivity
    return cfg


def row(panel, analysis, measure="events", category="overall"):
    hit = panel.loc[(panel["analysis"] == analysis) & (panel["measure"] == measure) & (panel["category"] == category)]
    assert len(hit) == 1, (analysis, measure, category)
    return hit.iloc[0]


@pytest.fixture(scope="module")
def hand():
    return sensitivity_panel(hand_episodes(), hand_events(), hand_config())


def test_columns_and_analyses(hand):
    assert list(hand.columns) == PANEL_COLUMNS
    assert list(dict.fromkeys(hand["analysis"])) == [
        "window_12", "window_18", "window_24", "window_36", "breaches_excluded", "intention_to_treat", "washout_3",
        "leave_one_out_lowest", "leave_one_out_highest", "time_at_risk", "negative_control", "alternative_harm_index"]
    cats = ["overall", "modern_slavery", "violence", "drugs", "other"]
    assert hand.loc[hand["analysis"] == "window_24", "category"].tolist() == cats * 2
    assert hand.loc[hand["analysis"] == "window_24", "measure"].tolist() == ["events"] * 5 + ["harm"] * 5


def test_main_window_by_hand(hand):
    # Before: S1 2 (10 + 730), S2 3 (547.5 + 1 + 1), S3 4 (1 + 1 + 10 + 2); after: S1 3 (84 + 2 + 1),
    # S2 2 (1 + 84), S3 1 (1).  Events 6 / 9; harm 173 / 1303.5.
    r = row(hand, "window_24")
    assert r["estimate"] == pytest.approx(6 / 9, rel=1e-12) and r["n_subjects"] == 3
    assert row(hand, "window_24", "harm")["estimate"] == pytest.approx(173 / 1303.5, rel=1e-12)
    # Three subjects are too few for an interval (min_pairs(0.05) = 6): the note says so.
    assert np.isnan(r["ci_low"]) and "too few distinct subjects" in r["note"]


def test_other_windows_rebuild_the_cohort(hand):
    # 12 months: S1, S2, S3 and S5 (S4 ended inside its after window).  Before: S1 1 (2018-11-20),
    # S2 2 (2019-04-10, 2019-05-31), S3 2 (2019-08-15, 2019-10-01), S5 1; after: S1 1 (the breach),
    # S2 1 (the start day), S3 1 (2021-01-01), S5 2.  5 / 6.
    r12 = row(hand, "window_12")
    assert r12["n_subjects"] == 4 and r12["estimate"] == pytest.approx(5 / 6, rel=1e-12)
    # 36 months: only S3 has both windows inside the data period.  Before 5 (2017-06-01 .. 2019-10-01),
    # after 2 (2021-01-01, 2022-12-01); harm (730 + 1 + 1 + 10 + 2) -> (1 + 2).
    r36 = row(hand, "window_36")
    assert r36["n_subjects"] == 1 and r36["estimate"] == pytest.approx(2 / 5, rel=1e-12)
    assert row(hand, "window_36", "harm")["estimate"] == pytest.approx(3 / 744, rel=1e-12)
    # 18 months: S5 too (2021-06-01 + 18 months = 2022-12-01); S4 still ended inside its window.
    assert row(hand, "window_18")["n_subjects"] == 4
    # A window no order fits: rows with no estimate, saying why.
    empty = row(sensitivity_panel(hand_episodes(), hand_events(), hand_config(windows=[60])), "window_60")
    assert empty["n_subjects"] == 0 and np.isnan(empty["estimate"]) and empty["note"] == "not run: no analysed subjects"


def test_breaches_excluded_by_hand(hand):
    # MS15016 (S1) and MS15017 (S2) go: events after 6 - 2 = 4; harm after 173 - 168 = 5.
    r = row(hand, "breaches_excluded")
    assert r["estimate"] == pytest.approx(4 / 9, rel=1e-12)
    assert row(hand, "breaches_excluded", "harm")["estimate"] == pytest.approx(5 / 1303.5, rel=1e-12)
    # Both breaches were modern slavery arrests: that category's after total falls to zero.
    assert row(hand, "breaches_excluded", "events", "modern_slavery")["estimate"] == 0.0
    assert row(hand, "window_24", "events", "modern_slavery")["estimate"] == pytest.approx(2 / 1)
    assert r["note"].startswith("2 breach arrest(s) (MS15016, MS15017)")


def test_breach_codes_come_from_the_order_type_tables():
    assert breach_codes("STRO") == ["MS15016", "MS15017"]
    assert breach_codes("SHPO") == ["SX03220", "SX03221"]


def test_intention_to_treat_adds_the_ended_order(hand):
    # S4: 1 arrest (10) before, 1 (10) after: events 7 / 10, harm 183 / 1313.5, four subjects.
    r = row(hand, "intention_to_treat")
    assert r["n_subjects"] == 4 and r["estimate"] == pytest.approx(7 / 10, rel=1e-12)
    assert row(hand, "intention_to_treat", "harm")["estimate"] == pytest.approx(183 / 1313.5, rel=1e-12)
    assert r["note"].startswith("1 order(s)")


def test_washout_by_hand(hand):
    # Months -3 .. -1 dropped: S1's 2018-11-20 and S2's 2019-04-10 and 2019-05-31.  Before events
    # 1 + 1 + 4 = 6 over 21 months, as a 24-month rate 6 * 24/21 = 48/7; after 6: 6 / (48/7) = 7/8.
    r = row(hand, "washout_3")
    assert r["estimate"] == pytest.approx(7 / 8, rel=1e-12) and r["n_subjects"] == 3
    harm_before = 10 + 547.5 + 14
    assert row(hand, "washout_3", "harm")["estimate"] == pytest.approx(173 / (harm_before * 24 / 21), rel=1e-12)
    assert "(3 arrest(s))" in r["note"]
    other = sensitivity_panel(hand_episodes(), hand_events(), hand_config(washout_months=6))
    # Months -6 .. -1 also drop S3's -6 and -4: before 1 + 1 + 2 = 4 over 18 months -> 4 * 24/18.
    assert row(other, "washout_6")["estimate"] == pytest.approx(6 / (4 * 24 / 18), rel=1e-12)


def test_leave_one_out_by_hand(hand):
    # Events (before, after): S1 (2, 3), S2 (3, 2), S3 (4, 1); totals 9 and 6, ratio 2/3.
    # Without S1: 3/7; without S2: 4/6; without S3: 5/5.  S3 moves the ratio most (by 1/3).
    low, high = row(hand, "leave_one_out_lowest"), row(hand, "leave_one_out_highest")
    assert low["estimate"] == pytest.approx(3 / 7, rel=1e-12) and high["estimate"] == pytest.approx(1.0, rel=1e-12)
    assert low["n_subjects"] == high["n_subjects"] == 2
    assert np.isnan(low["ci_low"]) and np.isnan(high["ci_high"])
    assert low["note"] == high["note"] == "most influential subject: 44.4% of the before total, 16.7% of the after total"
    assert "S3" not in low["note"]
    # Modern slavery events: S1 (1, 1), S2 (0, 1), S3 (0, 0).  S1 holds the one arrest before, so
    # leaving S1 out leaves none; without S2: 1/1; without S3: 2/1.
    ms = row(hand, "leave_one_out_highest", "events", "modern_slavery")
    assert np.isnan(ms["estimate"]) and "ratio undefined" in ms["note"] and ms["note"].endswith("100.0% of the before total, 50.0% of the after total")
    assert row(hand, "leave_one_out_lowest", "events", "modern_slavery")["estimate"] == pytest.approx(1 / 1)


def test_negative_control_by_hand(hand):
    # RT88001 (motoring, the default rule's prefix RT): S3 one before, S1 one after.
    r = row(hand, "negative_control", "events", "motoring")
    assert r["estimate"] == pytest.approx(1.0) and r["n_subjects"] == 3
    assert row(hand, "negative_control", "harm", "motoring")["estimate"] == pytest.approx(1.0)
    assert len(hand.loc[hand["analysis"] == "negative_control"]) == 2
    # A rule that matches nothing: no estimate, and the note says why.
    none = sensitivity_panel(hand_episodes(), hand_events(), hand_config(
        negative_control={"name": "fishing", "cjs_prefixes": ["FI"]}))
    f = row(none, "negative_control", "events", "fishing")
    assert np.isnan(f["estimate"]) and f["note"].startswith("no fishing arrests")
    # Listed codes work as in the categories block; other codes of the prefix stay out.
    listed = sensitivity_panel(hand_episodes(), hand_events(), hand_config(
        negative_control={"name": "shoplifting", "cjs_codes": ["TH68005"]}))
    # TH68005: S2 one before (-1), S3 one before (-13) and one after (11): 1 / 2.
    assert row(listed, "negative_control", "events", "shoplifting")["estimate"] == pytest.approx(0.5)


def test_time_at_risk_by_hand(hand):
    assert np.isnan(row(hand, "time_at_risk")["estimate"])
    assert row(hand, "time_at_risk")["note"].startswith("no subject-month panel given")
    events, episodes, cfg = hand_events(), hand_episodes(), hand_config()
    cohort, _ = build_cohort(episodes, cfg)
    subjects = cohort.loc[cohort["analysed"]].assign(group="order", index_date=lambda d: d["start_date"])
    panel = subject_month_panel(events, subjects, 24, names(cfg["categories"]))
    got = sensitivity_panel(episodes, events, cfg, panel=panel)
    r = row(got, "time_at_risk")
    # No custody: the Poisson MLE is the ratio of the rates per day.  Days before: 730 each
    # (S1 2017-01-10 .. 2019-01-10, S2 2017-06-01 .., S3 2018-02-01 ..); after: 731 each (29 Feb 2020).
    assert r["estimate"] == pytest.approx((6 / (3 * 731)) / (9 / (3 * 730)), rel=1e-9)
    assert r["ci_low"] < r["estimate"] < r["ci_high"] and r["n_subjects"] == 3
    assert r["note"].startswith("Poisson rate ratio per day at risk, log(days_at_risk) offset")
    assert row(got, "time_at_risk", "harm")["note"].startswith("quasi-Poisson")


def test_alternative_harm_index_rows_say_why(hand):
    alt = hand.loc[hand["analysis"] == "alternative_harm_index"]
    assert set(alt["measure"]) == {"harm"} and alt["estimate"].isna().all()
    assert alt["note"].str.startswith("no alternative harm index configured").all()
    named = sensitivity_panel(hand_episodes(), hand_events(), hand_config(
        alternative_harm_index={"name": "ONS CSS", "table": "data/ons_css.csv"}))
    note = row(named, "alternative_harm_index", "harm")["note"]
    assert "'ONS CSS'" in note and "offences were not given" in note


def test_alternative_harm_index_rescores_the_arrests(default_inputs, default_dirs):
    """Every score times 3 leaves a ratio of totals unchanged (exactly the main harm rows), and
    an index that scores modern-slavery offences at zero leaves that category no harm."""
    from strostudy.offences import curated_weights
    from strostudy.sensitivity import rescore

    episodes, events = default_inputs
    interim = default_dirs / "work"
    linked = tables.read("linked_events", interim / tables.path("linked_events"))
    offences = tables.read("event_offences", interim / tables.path("event_offences"))
    cfg = resolve(defaults(), "stro")
    cfg["comparison"]["sensitivity"]["alternative_harm_index"] = {"name": "CCHI x 3", "table": "x.csv"}
    weights = curated_weights()
    tripled = rescore(linked, offences, weights.assign(score=3 * weights["score"]), cfg, "CCHI x 3")
    panel = sensitivity_panel(episodes, events, cfg, rescored=tripled)
    alt = panel.loc[panel["analysis"] == "alternative_harm_index"].set_index("category")
    main = panel.loc[(panel["analysis"] == "window_24") & (panel["measure"] == "harm")].set_index("category")
    np.testing.assert_allclose(alt.loc[main.index, "estimate"], main["estimate"], rtol=1e-12)
    # The two arrests the main run quarantined for an unknown code are left out here too.
    assert tripled[1] == 2 and len(tripled[0]) == len(events)
    assert (alt["note"] == "harm scored on CCHI x 3; 2 arrest(s) it cannot score left out").all()
    no_ms = weights.assign(score=weights["score"].where(~weights["cjs_code"].fillna("").str.startswith("MS"), 0.0))
    got = sensitivity_panel(episodes, events, cfg, rescored=rescore(linked, offences, no_ms, cfg, "no MS"))
    alt = got.loc[got["analysis"] == "alternative_harm_index"].set_index("category")
    assert alt.loc["overall", "estimate"] != pytest.approx(main.loc["overall", "estimate"])


@pytest.mark.parametrize("sensitivity,words", [
    ({"washout_months": 24}, "washout_months must be a whole number of months from 1 to 23"),
    ({"washout_months": 0}, "washout_months"),
    ({"windows": [12, "x"]}, "windows must be a list of whole months"),
    ({"negative_control": {"name": "violence", "cjs_prefixes": ["RT"]}}, "already a category"),
    ({"negative_control": {"name": "motoring"}}, "lists no offences"),
    ({"alternative_harm_index": {"name": "x"}}, "alternative_harm_index must be null"),
])
def test_config_errors(sensitivity, words):
    with pytest.raises(StrostudyError, match=words):
        sensitivity_panel(hand_episodes(), hand_events(), hand_config(**sensitivity))


def test_input_errors():
    with pytest.raises(StrostudyError, match="events.csv has no column matched_code; re-run"):
        sensitivity_panel(hand_episodes(), hand_events().drop(columns="matched_code"), hand_config())
    cfg = hand_config()
    cfg["study"]["order_types"] = ["XYZ"]
    with pytest.raises(StrostudyError, match="'XYZ' is not an order type"):
        sensitivity_panel(hand_episodes(), hand_events(), cfg)
    with pytest.raises(StrostudyError, match="needs the harm index's weights"):
        sensitivity_panel(hand_episodes(), hand_events(), hand_config(
            negative_control={"name": "motoring", "ho_groups": ["MOTORING"]}))


def test_negative_control_by_home_office_group():
    weights = pd.DataFrame({"cjs_code": ["RT88001", "TH68005"], "ho_class": [None, "046/00"], "score": [1.0, 1.0],
                            "ho_group": ["MOTORING", "THEFT"]})
    got = sensitivity_panel(hand_episodes(), hand_events(), hand_config(
        negative_control={"name": "theft", "ho_groups": ["THEFT"]}), weights=weights)
    assert row(got, "negative_control", "events", "theft")["estimate"] == pytest.approx(0.5)


# --------------------------------------------------------------------------- the default synthetic data


@pytest.fixture(scope="module")
def default_inputs(processed, default_dirs):
    folder = Processed(default_dirs / "work" / "data" / "processed")
    return tables.read("orders", folder / "orders.csv"), tables.read("events", folder / "events.csv")


def main_tests(episodes, events, cfg):
    cohort, _ = build_cohort(episodes, cfg)
    return prepost_tests(subject_windows(window_events(events, cohort, cfg), cohort, cfg["categories"]), cfg)


def assert_main_equal(panel, tests, exact=True):
    main = panel.loc[panel["analysis"] == "window_24"].set_index(["measure", "category"])
    t = tests.set_index(["measure", "category"])
    assert len(main) == len(t) == 10 and sorted(main.index) == sorted(t.index)
    main = main.loc[t.index]
    ours = main[["estimate", "ci_low", "ci_high"]].to_numpy()
    theirs = np.column_stack([1 - t["reduction_pct"] / 100, 1 - t["reduction_ci_high"] / 100,
                              1 - t["reduction_ci_low"] / 100])
    assert np.isfinite(ours).all()
    if exact:
        np.testing.assert_array_equal(ours, theirs)
    else:  # prepost_tests.csv holds the reductions to 10 significant digits: compare on their scale
        np.testing.assert_allclose(100 * (1 - ours), t[["reduction_pct", "reduction_ci_high", "reduction_ci_low"]],
                                   rtol=1e-9, atol=0)
    assert (main["n_subjects"] == t["n_subjects"]).all()


def test_window_24_is_the_main_result(default_inputs, processed, paper):
    episodes, events = default_inputs
    cfg = resolve(defaults(), "stro")
    panel = sensitivity_panel(episodes, events, cfg)
    assert_main_equal(panel, main_tests(episodes, events, cfg), exact=True)
    assert_main_equal(panel, processed["prepost_tests"], exact=False)
    # The published study: 210 arrests before, 93 after (a 56% fall, rounded), 41 subjects.
    r = row(panel, "window_24")
    before, after = paper["offending_events"]["before"], paper["offending_events"]["after"]
    assert r["estimate"] == pytest.approx(after / before, rel=1e-12)
    assert round(100 * (1 - r["estimate"])) == paper["reduction_percent"]["events"]["overall"]
    assert r["n_subjects"] == paper["study"]["orders_analysed"]
    assert r["ci_low"] < r["estimate"] < r["ci_high"] < 1


def test_default_panel_facts(default_inputs):
    episodes, events = default_inputs
    panel = sensitivity_panel(episodes, events, resolve(defaults(), "stro"))
    # Longer windows leave fewer orders with both windows inside the data period.
    n = panel.loc[(panel["measure"] == "events") & (panel["category"] == "overall")].set_index("analysis")["n_subjects"]
    assert n["window_12"] >= n["window_18"] >= n["window_24"] > n["window_36"] > 0
    # The two orders that ended early (test_cohort's flow) come back under intention to treat.
    assert n["intention_to_treat"] == n["window_24"] + 2
    # Breaches are arrests after the order: dropping them lowers the after/before ratio.
    assert row(panel, "breaches_excluded")["estimate"] < row(panel, "window_24")["estimate"]
    lo, hi = row(panel, "leave_one_out_lowest")["estimate"], row(panel, "leave_one_out_highest")["estimate"]
    assert lo < row(panel, "window_24")["estimate"] < hi
    # The curated harm table has no motoring offence, so events.csv cannot hold one.
    assert np.isnan(row(panel, "negative_control", "events", "motoring")["estimate"])


def test_window_24_equals_main_result_with_bca(default_inputs):
    episodes, events = default_inputs
    cfg = resolve(defaults(), "stro")
    cfg["prepost"]["reduction_interval"] = "bca"
    cfg["prepost"]["bootstrap_resamples"] = 499
    panel = sensitivity_panel(episodes, events, cfg)
    assert_main_equal(panel, main_tests(episodes, events, cfg), exact=True)
