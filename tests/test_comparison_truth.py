"""The comparison stage against the simulator's planted truth (independent: the truth's ids,
months and windows are the simulator's own code, docs/simulator.md)."""

import pandas as pd
import pytest
from conftest import run_stages

from strostudy import tables
from strostudy.config import defaults
from strostudy.simulate import simulate, write_extracts

WINDOW_DAYS = int(defaults()["reconcile"]["match_window_days"])


def _work(tmp_path_factory, name: str, **simulated):
    root = tmp_path_factory.mktemp(name)
    write_extracts(simulate(**simulated), root / "raw", root / "truth")
    cfg = defaults()
    if "scenario" in simulated:
        cfg["scenario"] = simulated["scenario"]
    processed = run_stages(root / "raw", root / "work", cfg, until="comparison")
    truth = {p.stem: pd.read_csv(p) for p in (root / "truth").glob("*.csv")}
    return processed, truth


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    return _work(tmp_path_factory, "comparison_default")


def _in_window_counts(truth_events: pd.DataFrame, people: set) -> pd.DataFrame:
    t = truth_events.loc[truth_events["subject_id"].isin(people) & (truth_events["window"] != "outside")]
    return t.groupby(["subject_id", "window"]).size().unstack(fill_value=0).reindex(
        columns=["before", "after"], fill_value=0)


def _explained(t: pd.DataFrame, window_days: int = WINDOW_DAYS) -> set:
    """People with an arrest whose count no rule can recover, as for the order subjects
    (tests/test_reconcile.py; docs/simulator.md, "The pipeline against the truth"): a planted
    problem (a junk date, a wrong check letter, an unknown code) on an arrest in a window; beside
    the index date or a window's end, a PND date more than two days from the arrest (it can cross
    the boundary) or an arrest just outside; or two arrests of one category within the matching
    window, one held only by PNC and the other only by PND, which any matching rule makes one
    event."""
    t = t.assign(date=pd.to_datetime(t["event_date"])).sort_values(["subject_id", "category", "date"])
    # One system each: held by PNC alone and by PND alone, so either could be the other's record.
    single = t["in_pnc"].astype(bool) != t["in_pnd"].astype(bool)
    same = t["subject_id"].eq(t["subject_id"].shift()) & t["category"].eq(t["category"].shift())
    pair = same & single & single.shift(fill_value=False) & t["in_pnc"].ne(t["in_pnc"].shift()) & (
        (t["date"] - t["date"].shift()).dt.days.le(window_days))
    twin = pair | pair.shift(-1, fill_value=False)
    edge = t["month"].isin([-25, -24, -1, 0, 23, 24])  # a month beside the index date or a window's end
    cause = (t["planted_problem"].notna() & t["window"].ne("outside")) | twin | (
        edge & (t["pnd_lag_days"].abs().gt(2) | t["window"].eq("outside")))
    return set(t.loc[cause, "subject_id"])


def test_every_linkable_pool_person_is_found(default_run):
    processed, truth = default_run
    pool = tables.read("comparison_subjects", processed / "comparison_subjects.csv")
    planted = truth["comparison"]
    # A pool row with no PNC ID and no PND record carrying one cannot be linked; every other
    # person is found, once, with the earliest index date the truth lists.
    missing = set(planted["subject_id"]) - set(pool["subject_id"])
    assert len(missing) <= 3 and len(pool) >= len(planted) - 3
    assert set(pool["subject_id"]) <= set(planted["subject_id"])
    dates = planted.set_index("subject_id")["index_date"].reindex(pool["subject_id"])
    assert (pd.to_datetime(dates.to_numpy()) == pool["index_date"].to_numpy()).all()


def test_pool_arrests_in_window_match_truth(default_run):
    """Each comparison person's arrests before and after the index date equal the truth's,
    except where the simulator planted a problem on one of them (a junk date, a wrong check
    letter, an unknown code: each quarantined with its reason)."""
    processed, truth = default_run
    cohort = tables.read("comparison_cohort", processed / "comparison_cohort.csv")
    included = set(cohort.loc[(cohort["group"] == "comparison") & cohort["included"], "subject_id"])
    assert included == set(truth["comparison"].loc[truth["comparison"]["full_windows"], "subject_id"]) & set(
        cohort["subject_id"])
    panel = tables.read("subject_month_panel", processed / "subject_month_panel.parquet")
    ours = panel.loc[(panel["group"] == "comparison") & (panel["category"] == "overall")]
    ours = ours.assign(window=ours["month"].ge(0).map({True: "after", False: "before"})).pivot_table(
        index="subject_id", columns="window", values="events", aggfunc="sum").reindex(columns=["before", "after"])
    theirs = _in_window_counts(truth["comparison_events"], included).reindex(ours.index, fill_value=0)
    differ = ours.index[(ours != theirs).any(axis=1)]
    assert set(differ) <= _explained(truth["comparison_events"]), sorted(set(differ) - _explained(
        truth["comparison_events"]))
    assert len(differ) <= 12
    assert int(ours.to_numpy().sum()) > 1000  # the pool is real data, not a token


def test_order_group_in_the_panel_is_the_main_result(default_run):
    """The panel's order group reproduces the before/after totals of subject_windows, and the
    naive rate ratio their ratio (every day at risk: no custody under `published`)."""
    processed, _ = default_run
    panel = tables.read("subject_month_panel", processed / "subject_month_panel.parquet")
    windows = tables.read("subject_windows", processed / "subject_windows.csv")
    order = panel.loc[panel["group"] == "order"]
    for category, rows in windows.groupby("category"):
        mine = order.loc[order["category"] == category]
        assert mine.loc[mine["month"] < 0, "events"].sum() == rows["events_before"].sum()
        assert mine.loc[mine["month"] >= 0, "events"].sum() == rows["events_after"].sum()
        assert mine.loc[mine["month"] >= 0, "harm"].sum() == pytest.approx(rows["harm_after"].sum(), rel=1e-12)
    effects = tables.read("comparison_effects", processed / "comparison_effects.csv")
    naive = effects.loc[(effects["estimator"] == "naive_prepost") & (effects["measure"] == "events")
                        & (effects["category"] == "overall"), "estimate"].item()
    overall = windows.loc[windows["category"] == "overall"]
    days = order.loc[order["category"] == "overall"].groupby(order["month"] >= 0)["days_at_risk"].sum()
    expected = (overall["events_after"].sum() / days[True]) / (overall["events_before"].sum() / days[False])
    assert naive == pytest.approx(expected, rel=1e-9)
    # 41 order subjects matched one to one.
    cohort = tables.read("comparison_cohort", processed / "comparison_cohort.csv")
    assert (cohort["group"] == "order").sum() == 41
    assert cohort.loc[cohort["group"] == "comparison", "matched"].sum() == 41
