"""The release stage (strostudy.release): every number a study's report and figures show passes
disclosure control.  Small cells are planted by hand (an exclusion of 3 orders, a harm total
one person dominates, a category of 4 arrests) and by raising the threshold above the default
study's 41 analysed subjects, and each is seen withheld, logged without its value, carried into
what is computed from it, and shown as [c] in the report and the index."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from strostudy import disclosure, release, tables
from strostudy.config import defaults
from strostudy.disclosure import MARKER, SUPPRESSED, Rule, flags
from strostudy.stages import run_all, run_stage

RULE = Rule()


def cohort_flow(listed=120, full=60, exclusions=(("identity_unresolved", 3), ("no_rocu_return", 15))):
    """A cohort flow as the cohort stage writes it."""
    analysed = full - sum(n for _, n in exclusions)
    rows = [("orders_listed", listed, listed, None, 0), ("full_windows", listed, full, "window_outside_data_period",
                                                         listed - full)]
    rows += [("exclusions", full, analysed, reason, n) for reason, n in exclusions]
    return pd.DataFrame(rows, columns=["step", "n_in", "n_out", "reason", "n"])


def test_a_small_exclusion_is_withheld_with_a_complement_and_logged(tmp_path):
    published, log = release.publish("flow", [release.flow(cohort_flow())], RULE)
    n = dict(zip(published["reason"].where(published["step"] == "excluded", published["step"]), published["n"]))
    assert n["orders_listed"] == 120 and n["full_windows"] == 60 and n["outside_data_period"] == 60
    assert n["analysed"] == 42
    # 3 is below 10; the 15 beside it would give it back (60 - 42 - 15), so it goes too.
    assert pd.isna(n["identity_unresolved"]) and pd.isna(n["no_rocu_return"])
    assert list(log["reason"]) == ["primary:below_min_cell", "secondary"]
    assert list(log["row_key"]) == ["step=excluded; reason=identity_unresolved", "step=excluded; reason=no_rocu_return"]
    assert list(published.columns) == ["step", "reason", "n", SUPPRESSED]   # no helper column is published
    file = tables.write_csv_file(published, tmp_path / "flow.csv")
    rows = file.read_text().splitlines()
    assert "excluded,identity_unresolved,,n" in rows and "excluded,no_rocu_return,,n" in rows
    assert not any(",3," in r or r.endswith(",3") or ",15," in r for r in rows)


def test_the_listed_line_protects_the_orders_outside_the_data_period():
    published, log = release.publish("flow", [release.flow(cohort_flow(listed=66, full=60))], RULE)
    shown = published.set_index("step")["n"]
    # 6 outside the data period (listed 66 - full 60): withheld, and one of listed or full with it.
    assert pd.isna(shown["outside_data_period"])
    assert shown[["orders_listed", "full_windows"]].isna().sum() == 1
    assert set(log["reason"]) >= {"primary:below_min_cell", "secondary"}


def windows(harm_before_violence):
    """Per-subject windows: 12 subjects, overall and violence; violence harm before as given."""
    rows = []
    for i, hb in enumerate(harm_before_violence):
        rows.append({"subject_id": f"S{i}", "category": "violence", "events_before": 2, "harm_before": hb,
                     "events_after": 1, "harm_after": 10.0})
        rows.append({"subject_id": f"S{i}", "category": "overall", "events_before": 4, "harm_before": hb + 50,
                     "events_after": 2, "harm_after": 20.0})
    return pd.DataFrame(rows)


def prepost_rows(w):
    rows = []
    for (measure, category) in (("events", "overall"), ("events", "violence"), ("harm", "overall"),
                                ("harm", "violence")):
        d = w.loc[w["category"] == category]
        before, after = d[f"{measure}_before"].sum(), d[f"{measure}_after"].sum()
        rows.append({"measure": measure, "category": category, "n_subjects": len(d), "n_nonzero": len(d),
                     "total_before": before, "total_after": after, "reduction_pct": 100 * (1 - after / before),
                     "reduction_ci_low": 1.0, "reduction_ci_high": 99.0, "wilcoxon_v": 12.5, "rank_biserial": -0.6,
                     "p_value": 0.01, "p_holm": 0.02})
    return pd.DataFrame(rows)


def test_a_harm_total_one_person_dominates_is_withheld_with_its_reduction():
    w = windows([1900.0] + [10.0] * 11)   # one subject holds 1900 / 2010 = 94.5% of violence harm before
    published, log = release.publish("tests", release.tests(prepost_rows(w), w), RULE)
    harm = published.loc[published["measure"] == "harm"].set_index("category")
    assert pd.isna(harm.loc["violence", "total_before"]) and pd.isna(harm.loc["violence", "reduction_pct"])
    assert harm.loc["violence", "total_after"] == 120.0           # 12 contributors, none dominant
    why = log.set_index(["row_key", "column"])["reason"]
    assert why[("measure=harm; category=violence", "total_before")] == "primary:dominance"
    assert why[("measure=harm; category=violence", "reduction_pct")] == "derived"
    # The overall harm total is the line's other cell: withheld so the violence total cannot be
    # had by subtraction.
    assert why[("measure=harm; category=overall", "total_before")] == "secondary"
    # The auxiliary contributor columns are not published (a top share with its total would
    # give the largest contribution away).
    assert not any(c.endswith(("_contributors", "_top_share")) for c in published.columns)
    # Arrests (12 x 2 = 24 before) pass.
    events = published.loc[published["measure"] == "events"].set_index("category")
    assert events.loc["violence", "total_before"] == 24 and events.loc["violence", SUPPRESSED] == ""


def test_a_series_is_binned_until_every_point_passes():
    months = np.arange(-12, 12)
    rows = [{"subject_id": f"S{i}", "group": "order", "month": m, "category": "overall", "events": int(m % 6 == i % 6),
             "harm": float(m % 6 == i % 6) * 5.0, "days_at_risk": 30} for i in range(12) for m in months]
    panel = pd.DataFrame(rows)
    parts = release.its_observed(panel, RULE, bins=(1, 3, 6, 12))
    events = parts[0].table
    # 2 arrests a month, 6 a quarter, 12 a half-year: the first width at which every point has 10.
    assert set(events["months"]) == {6} and list(events["total"]) == [12, 12, 12, 12]
    assert disclosure.primary(events, ["total"], rule=RULE).eq("").all().all()
    # Bins never straddle the order date (month 0 starts one).
    assert (events["month_start"] % 6 == 0).all() and list(events["month_start"]) == [-12, -6, 0, 6]


def test_balance_means_that_give_a_withheld_total_back_are_withheld():
    """A mean over a group's months before the index date, times the group's published size, is
    that group's total: withheld where the rule would withhold the total."""
    months = np.arange(-24, 0)
    rows = []
    for i in range(41):   # the order group: 4 arrests in months -24..-13; one person holds most harm later
        for m in months:
            hit = (i < 4 and m == -20)
            rows.append({"subject_id": f"S{i}", "group": "order", "month": m, "category": "overall",
                         "events": int(hit) + int(m == -5), "harm": (1000.0 if i == 0 and m == -5 else 1.0 * (m == -5))
                         + 5.0 * hit, "days_at_risk": 30})
    for i in range(60):   # the comparison pool: plenty in every period
        for m in months:
            rows.append({"subject_id": f"C{i}", "group": "comparison", "month": m, "category": "overall",
                         "events": int(m in (-20, -5)), "harm": 3.0 * (m in (-20, -5)), "days_at_risk": 30})
    panel = pd.DataFrame(rows)
    cohort = pd.DataFrame({"subject_id": [f"C{i}" for i in range(60)], "matched": [i < 41 for i in range(60)]})
    balance = pd.DataFrame({"feature": ["events_m24_m13", "harm_m24_m13", "events_m12_m1", "harm_m12_m1", "age"]})
    masks = release.balance_totals(balance, panel, cohort, RULE)
    # 4 arrests (months -24..-13): withheld, and the same months' harm (4 people); months -12..-1:
    # 41 arrests pass, but one person holds 1000 of 1040 harm (96%).
    assert list(masks["mean_treated"]) == [True, True, False, True, False]
    assert not masks["mean_control_all"].any() and not masks["mean_control_matched"].any()


# --------------------------------------------------------------------------- the default study, end to end


@pytest.fixture(scope="module")
def decided(default_dirs, tmp_path_factory):
    """The default study run in-process to its decisions (shared by the tests below)."""
    work = tmp_path_factory.mktemp("release")
    (work / "data").mkdir()
    (work / "data" / "raw").symlink_to((default_dirs / "raw").resolve(), target_is_directory=True)
    run_all(defaults(), work, until="decisions")
    return work


def test_the_default_release_withholds_the_small_counts_and_bins_the_series(decided):
    run_stage("release", defaults(), decided, study="stro")
    folder = decided / "reports" / "stro" / "tables"
    flow = pd.read_csv(folder / "flow.csv", keep_default_na=False)
    assert list(flow["n"].iloc[:4]) == ["114", "49", "65", "41"]
    assert (flow["n"].iloc[4:] == "").all() and (flow["suppressed"].iloc[4:] == "n").all()  # 2, 1, 3, 2
    its = pd.read_csv(folder / "its_observed.csv")
    assert set(its.loc[its["measure"] == "events", "months"]) == {6}
    assert set(its.loc[its["measure"] == "harm", "months"]) == {12}
    tests = pd.read_csv(folder / "tests.csv").set_index(["measure", "category"])
    assert tests.loc[("events", "overall"), ["total_before", "total_after"]].tolist() == [210, 93]
    log = pd.read_csv(decided / "reports" / "stro" / "output_checking_log.csv")
    assert list(log.columns) == list(disclosure.LOG_COLUMNS) and len(log) > 0
    assert set(log["table"]) >= {"flow", "ledger", "linkage_score_bins"}


def test_a_threshold_above_the_cohort_withholds_it_everywhere(decided, tmp_path):
    """41 analysed subjects under a threshold of 45: a small cell planted by the rule.  The
    report, the figures and the index are built from the released tables alone."""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(decided / "data", work / "data", symlinks=True)
    cfg = copy.deepcopy(defaults())
    cfg["disclosure"]["min_cell"] = 45
    for rule in ("release", "figures", "report"):
        run_stage(rule, cfg, work, study="stro")
    run_stage("index", cfg, work)

    flow = pd.read_csv(work / "reports" / "stro" / "tables" / "flow.csv", keep_default_na=False)
    assert flow.set_index("step").loc["analysed", "n"] == ""
    tests = tables.read("released_tests", work / "reports" / "stro" / "tables" / "tests.csv")
    assert tests["n_subjects"].isna().all() and tests["reduction_pct"].isna().all()
    assert flags(tests)["p_holm"].all()                       # every statistic over the 41 goes

    effects = pd.read_csv(work / "reports" / "stro" / "tables" / "comparison_effects.csv")
    assert effects["estimate"].isna().all()                    # n_treated = 41 < 45

    md = (work / "reports" / "stro" / "results.md").read_text()
    assert "| analysed |  | \\[c\\] |" in md                    # [c], escaped for Markdown
    assert "| Orders analysed | 41 | \\[c\\] | withheld |" in md
    assert "**Disclosure control.**" in md
    # A decision's numbers about the withheld reductions are withheld too.
    assert "estimate 27.2" not in md and "Harm's reduction against arrests': \\[c\\]" in md
    assert "output_checking_log.csv" in md and "[c]" in (work / "reports" / "stro" / "results.html").read_text()

    log = pd.read_csv(work / "reports" / "output_checking_log.csv", keep_default_na=False)
    mine = log.loc[(log["study"] == "stro") & (log["table"] == "flow")]
    assert "step=analysed; reason=" in set(mine["row_key"])
    index_md = (work / "reports" / "index.md").read_text()
    row = next(line for line in index_md.splitlines() if line.startswith("| [") and "stro/results.html" in line)
    assert row.split("|")[5].strip() == MARKER                 # analysed, withheld in the index too
    # No withheld value is left in any released table.
    for file in (work / "reports" / "stro" / "tables").glob("*.csv"):
        published = pd.read_csv(file)
        f = flags(published)
        for column in f.columns[f.any().to_numpy()]:
            assert published.loc[f[column], column].isna().all(), (file.name, column)


# --------------------------------------------------------------------------- cells one table gives another


def test_the_non_zero_changes_go_with_a_withheld_count_of_unchanged_subjects():
    """n_nonzero is fell + rose: published beside n_subjects it would give 'same' back."""
    w = windows([10.0] * 20)
    w.loc[(w["category"] == "overall") & (w["subject_id"].isin(["S0", "S1", "S2"])), "events_after"] = 4  # unchanged
    change, _ = release.publish("subject_change", [release.subject_change(w)], RULE)
    assert flags(change).set_index(change["measure"]).loc["events", "same"]            # 3 unchanged: withheld
    # 17 of the 20 changed: a count that passes the threshold, but 20 - 17 is the withheld 3.
    t = prepost_rows(w).assign(n_nonzero=lambda d: np.where(d["category"] == "overall", 17, 20))
    published, log = release.publish("tests", release.tests(t, w, change), RULE)
    row = published.set_index(["measure", "category"]).loc[("events", "overall")]
    # V and the rank-biserial together give n_nonzero back: withheld with it.  The p-values
    # (which do not) stay, since n_nonzero is not itself below the threshold.
    assert pd.isna(row["n_nonzero"]) and pd.isna(row["wilcoxon_v"]) and pd.isna(row["rank_biserial"])
    assert row["p_value"] == 0.01 and row["p_holm"] == 0.02
    assert row[SUPPRESSED] == "n_nonzero;wilcoxon_v;rank_biserial"
    assert "n_nonzero_size" not in published.columns and "n_nonzero_size" not in set(log["column"])
    rules = set(log.loc[log["column"] == "n_nonzero", "rule"])
    assert any(r.startswith("inputs=subject_change") for r in rules)


def test_sensitivity_withholds_leave_one_out_numbered_notes_and_near_copies_of_the_main_analysis():
    rows = []
    for analysis, n, note in (("window_24", 41, ""), ("intention_to_treat", 43, "2 order(s) kept in"),
                              ("leave_one_out_lowest", 40, "left out: 3.8% of the before total"),
                              ("window_36", 12, ""), ("washout_3", 41, "")):
        for category in ("overall", "violence"):
            rows.append({"analysis": analysis, "measure": "events", "category": category, "estimate": 0.5,
                         "ci_low": 0.3, "ci_high": 0.8, "n_subjects": n, "note": note})
    published, log = release.publish("sensitivity", [release.sensitivity(pd.DataFrame(rows), RULE, "window_24")], RULE)
    assert set(published["category"]) == {"overall"}              # only the rows the report shows
    p = published.set_index("analysis")
    assert p.loc["window_24", "estimate"] == 0.5 and p.loc["washout_3", "estimate"] == 0.5
    assert p.loc["window_36", "estimate"] == 0.5                   # 12 subjects, its own cohort
    assert pd.isna(p.loc["leave_one_out_lowest", "estimate"])      # one subject's counts
    assert pd.isna(p.loc["intention_to_treat", "estimate"]) and pd.isna(p.loc["intention_to_treat", "n_subjects"])
    assert pd.isna(p.loc["intention_to_treat", "note"]) and pd.isna(p.loc["leave_one_out_lowest", "note"])
    assert not log["reason"].isin(["primary:below_min_cell"]).any()


def test_a_series_withholds_the_days_that_would_give_a_small_count_of_people_back():
    months = np.arange(-12, 12)
    rows = [{"subject_id": f"S{i}", "group": "order", "month": m, "category": "overall", "events": 3,
             "harm": 5.0 * (i + 1), "days_at_risk": 30} for i in range(5) for m in months]
    parts = release.its_observed(pd.DataFrame(rows), RULE, bins=(1, 12))
    published, log = release.publish("its_observed", parts, RULE)
    assert published["people"].isna().all() and published["days_at_risk"].isna().all()
    assert set(log.loc[log["column"] == "people", "reason"]) == {"primary:below_min_cell"}


def test_linkage_quality_publishes_no_source_totals():
    # As reconcile writes it: every source with every basis, zeros included.
    counts = {("orders", "pnc_id"): 135, ("orders", "order_ref"): 2, ("rocu_orders", "order_ref"): 46,
              ("pnd_records", "pnc_id"): 3000}
    quality = pd.DataFrame([{"source": s, "basis": b, "records": counts.get((s, b), 0)}
                            for s in ("orders", "pnd_records", "rocu_orders") for b in ("pnc_id", "order_ref")])
    published, _ = release.publish("linkage_quality", [release.linkage_quality(quality)], RULE)
    assert "total" not in set(published["basis"])                  # each is the ledger's rows read
    cell = published.set_index(["source", "basis"])["records"]
    assert pd.isna(cell[("orders", "order_ref")])
    # Each source's total is public (the ledger's rows read), so no source's row may hold a
    # single withheld cell: the 2 would come back as 137 - 135, and a withheld 46 as its total.
    for source in ("orders", "rocu_orders", "pnd_records"):
        assert cell.loc[source].isna().sum() != 1, source


def test_one_withheld_bin_of_a_window_takes_another_with_it():
    """The two 12-month bins of the before window add up to the tests' before total: one
    withheld alone would come back by subtraction."""
    months = np.arange(-24, 24)
    rows = [{"subject_id": f"S{i}", "group": "order", "month": m, "category": "overall",
             "events": int(m == -18 and i < 5) + int(m in (-6, 6, 18) and i < 12), "harm": 1.0, "days_at_risk": 30}
            for i in range(20) for m in months]
    published, log = release.publish("its_observed", release.its_observed(pd.DataFrame(rows), RULE, bins=(12,)), RULE)
    events = published.loc[published["measure"] == "events"].set_index("month_start")
    # months -24..-13 hold 5 arrests (withheld); -12..-1 hold 12, withheld with them.
    assert events["total"].isna().tolist() == [True, True, False, False]
    assert set(log.loc[log["column"] == "total", "reason"]) == {"primary:below_min_cell", "secondary"}
    assert "side" not in published.columns
