"""The pipeline's own outputs (not the truth files) reproduce the published study."""

import pandas as pd
import pytest

from strostudy.cohort import build_cohort, subject_windows, window_events
from strostudy.config import defaults

CATS = ["overall", "modern_slavery", "violence", "drugs", "other"]


def test_flow_114_49_41(processed, paper):
    flow = processed["cohort_flow"]
    assert flow["n_out"].tolist()[:2] == [paper["study"]["orders_listed"], paper["study"]["orders_with_full_windows"]]
    assert (flow.loc[flow.step == "exclusions", "n_out"] == paper["study"]["orders_analysed"]).all()
    assert flow.loc[flow.step == "exclusions"].set_index("reason")["n"].to_dict() == {
        "identity_unresolved": 2, "no_usable_start_date": 1, "no_rocu_return": 3, "order_ended_in_window": 2}


def test_flow_matches_truth(processed, truth):
    cols = ["step", "n_in", "n_out", "reason", "n"]
    pd.testing.assert_frame_equal(processed["cohort_flow"][cols].fillna(""), truth["cohort_flow"][cols].fillna(""),
                                  check_dtype=False)


def test_210_before_93_after(processed, paper):
    t = processed["prepost_tests"].set_index(["measure", "category"])
    assert t.loc[("events", "overall"), "total_before"] == paper["offending_events"]["before"]
    assert t.loc[("events", "overall"), "total_after"] == paper["offending_events"]["after"]


@pytest.mark.parametrize("measure", ["events", "harm"])
def test_reductions_round_to_published(processed, paper, measure):
    t = processed["prepost_tests"].set_index(["measure", "category"])
    for cat in CATS:
        assert round(t.loc[(measure, cat), "reduction_pct"]) == paper["reduction_percent"][measure][cat], cat
        lo, hi = t.loc[(measure, cat), ["reduction_ci_low", "reduction_ci_high"]]
        assert lo < t.loc[(measure, cat), "reduction_pct"] < hi


def test_every_category_significant_after_holm(processed):
    t = processed["prepost_tests"]
    assert len(t) == 10
    assert (t["p_holm"] < 0.05).all(), t[["measure", "category", "p_holm"]]
    assert (t["p_holm"] >= t["p_value"]).all()
    assert (t["effect_r"] < 0).all() and (t["rank_biserial"] < 0).all() and (t["hl_estimate"] < 0).all()
    assert (t["effect_r_n"] == 41).all()


def test_harm_effect_greater_than_volume(processed):
    t = processed["prepost_tests"].set_index(["measure", "category"])
    assert t.loc[("harm", "overall"), "reduction_pct"] > t.loc[("events", "overall"), "reduction_pct"]


def test_events_harm_correlation_positive_and_significant(processed):
    c = processed["correlations"].set_index("level")
    assert (c["rho"] > 0).all() and (c["p_value"] < 0.05).all()


def test_subject_windows_equal_truth(processed, truth):
    ours = processed["subject_windows"].sort_values(["subject_id", "category"]).reset_index(drop=True)
    theirs = truth["subject_windows"].sort_values(["subject_id", "category"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs[ours.columns], check_dtype=False)


def test_window_edges_and_start_day_rule():
    cfg = defaults()
    ep = pd.DataFrame({"subject_id": ["S1"], "identity": ["pnc_id"], "start_date": pd.to_datetime(["2020-03-15"]),
                       "start_earliest": pd.to_datetime(["2020-03-15"]), "start_latest": pd.to_datetime(["2020-03-15"]),
                       "start_usable": [True], "rocu_return": [True], "status": ["Active"],
                       "status_date": pd.to_datetime([None])})
    events = pd.DataFrame({"subject_id": ["S1"] * 5, "event_date": pd.to_datetime(
        ["2018-03-15", "2018-03-14", "2020-03-14", "2020-03-15", "2022-03-15"]),
        "harm_score": [1.0, 2.0, 4.0, 8.0, 16.0], "category": ["drugs"] * 5})
    cohort, _ = build_cohort(ep, cfg)
    w = subject_windows(window_events(events, cohort, cfg), cohort, cfg["categories"]).set_index("category")
    # [start - 24m, start) holds 2018-03-15 and 2020-03-14; [start, start + 24m) holds the start day.
    assert w.loc["drugs", ["events_before", "harm_before", "events_after", "harm_after"]].tolist() == [2, 5.0, 1, 8.0]
    cfg["study"]["start_date_counts_as"] = "before"
    w = subject_windows(window_events(events, cohort, cfg), cohort, cfg["categories"]).set_index("category")
    assert w.loc["drugs", ["events_before", "harm_before", "events_after"]].tolist() == [3, 13.0, 0]
