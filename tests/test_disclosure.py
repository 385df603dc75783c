"""Statistical disclosure control (strostudy.disclosure) on hand-made tables whose every
withheld cell is worked out by hand in the comments."""

import numpy as np
import pandas as pd
import pytest

from strostudy import disclosure as sdc
from strostudy.disclosure import DisclosureError, Line, Rule

KEYS = ["measure", "category"]


def _line_table() -> pd.DataFrame:
    """Arrests of one measure: the categories add up to the overall row (4 + 25 + 31 = 60)."""
    return pd.DataFrame({"measure": ["events"] * 4, "category": ["overall", "violence", "drugs", "other"],
                         "n": [60, 4, 25, 31]})


def _unknowns_determined(published: pd.DataFrame, table: pd.DataFrame, row_lines, col_lines) -> bool:
    """Whether the published cells and totals pin every withheld cell down: each line gives
    the equation sum(withheld) = total - sum(published others); the withheld values are
    determined only when those equations have full column rank."""
    flags = sdc.flags(published)
    cells = [(i, c) for c in flags.columns for i in np.flatnonzero(flags[c].to_numpy())]
    at = {cell: k for k, cell in enumerate(cells)}
    rows = []
    for col, groups in row_lines:
        for members in groups:
            eq = np.zeros(len(cells))
            for i in members:
                if (i, col) in at:
                    eq[at[(i, col)]] = 1
            rows.append(eq)
    for cols in col_lines:
        for i in range(len(table)):
            eq = np.zeros(len(cells))
            for c in cols:
                if (i, c) in at:
                    eq[at[(i, c)]] = 1
            rows.append(eq)
    return bool(np.linalg.matrix_rank(np.array(rows)) == len(cells))


# --------------------------------------------------------------------------- the planted small cell


def test_small_cell_is_withheld_with_its_complement_and_the_total_gives_neither_back():
    t = _line_table()
    published, log = sdc.apply(t, ["n"], table_name="arrests", key_cols=KEYS, lines=Line("n", by="measure"))
    # violence (4 < 10) is primary; the next smallest in the line is drugs (25).
    assert published["n"].isna().tolist() == [False, True, True, False]
    assert published.loc[[0, 3], "n"].tolist() == [60, 31]
    assert published["suppressed"].tolist() == ["", "n", "n", ""]
    assert log.to_dict("records") == [
        {"table": "arrests", "row_key": "measure=events; category=violence", "column": "n",
         "reason": "primary:below_min_cell", "rule": "min_cell=10"},
        {"table": "arrests", "row_key": "measure=events; category=drugs", "column": "n",
         "reason": "secondary", "rule": "line=n by measure"},
    ]
    # overall - other = 60 - 31 = 29 = violence + drugs: one equation, two unknowns.
    assert not _unknowns_determined(published, t, [("n", [[0, 1, 2, 3]])], [])
    assert sdc.check(published, ["n"], key_cols=KEYS, lines=Line("n", by="measure")) == []


def test_without_the_complement_the_planted_cell_is_recovered_and_check_says_so():
    t = _line_table()
    reasons = sdc.primary(t, ["n"])
    assert reasons["n"].tolist() == ["", "primary:below_min_cell", "", ""]
    # Withholding only the 4 would leave it as 60 - 25 - 31.
    naive = t.assign(n=t["n"].astype("Int64").mask(t["category"] == "violence"),
                     suppressed=np.where(t["category"] == "violence", "n", ""))
    assert 60 - 25 - 31 == 4
    assert _unknowns_determined(naive, t, [("n", [[0, 1, 2, 3]])], [])
    assert sdc.check(naive, ["n"], key_cols=KEYS, lines=Line("n", by="measure")) == [
        ("measure=events; category=violence", "n", "secondary")]
    full = sdc.secondary(reasons, t, [Line("n", by="measure")])
    assert full["n"].tolist() == ["", "primary:below_min_cell", "secondary", ""]


def test_two_way_table_suppresses_until_every_line_has_two():
    """Rows add up to the overall row, before + after = total in each row.  The 4 (violence,
    before) is primary.  Its row's smallest other cell is after (20 < 24); the before column's
    is drugs (15); then the after column has violence alone, so drugs' after (12) goes too,
    which also gives the drugs row two.  Every line then has 0 or 2 withheld cells."""
    t = pd.DataFrame({"category": ["violence", "drugs", "other", "overall"],
                      "before": [4, 15, 30, 49], "after": [20, 12, 40, 72], "total": [24, 27, 70, 121]})
    lines = [Line(["before", "after", "total"]), Line(["before", "after", "total"], across="columns")]
    published, log = sdc.apply(t, ["before", "after", "total"], table_name="windows", key_cols=["category"],
                               lines=lines)
    assert published["suppressed"].tolist() == ["before;after", "before;after", "", ""]
    assert log[["row_key", "column", "reason"]].values.tolist() == [
        ["category=violence", "before", "primary:below_min_cell"],
        ["category=violence", "after", "secondary"],
        ["category=drugs", "before", "secondary"],
        ["category=drugs", "after", "secondary"],
    ]
    # vb + va = 24, db + da = 27, vb + db = 49 - 30 = 19, va + da = 72 - 40 = 32: rank 3 for 4
    # unknowns; vb = t, va = 24 - t, db = 19 - t, da = 8 + t fits every t in [0, 19].
    assert not _unknowns_determined(published, t, [(c, [[0, 1, 2, 3]]) for c in ("before", "after", "total")],
                                    [["before", "after", "total"]])
    for vb in (0, 4, 19):
        va, db, da = 24 - vb, 19 - vb, 8 + vb
        assert min(va, db, da) >= 0 and vb + db == 19 and va + da == 32
    assert sdc.check(published, ["before", "after", "total"], key_cols=["category"], lines=lines) == []


# --------------------------------------------------------------------------- dominance and contributors


def _harm_micro() -> pd.DataFrame:
    """violence: p01 scores 500 + 450 = 950 over two arrests, ten others 5 each: total 1000, the
    largest person 95%.  drugs: twelve people 10 each (120, 1/12 each).  other: nine people 20
    each (180).  nil: ten people with no harm."""
    rows = [("violence", "p01", 500.0), ("violence", "p01", 450.0)]
    rows += [("violence", f"v{i:02d}", 5.0) for i in range(10)]
    rows += [("drugs", f"d{i:02d}", 10.0) for i in range(12)]
    rows += [("other", f"o{i:02d}", 20.0) for i in range(9)]
    rows += [("nil", f"z{i:02d}", 0.0) for i in range(10)]
    return pd.DataFrame(rows, columns=["category", "subject_id", "harm"])


def test_contributions_count_people_not_rows():
    c = sdc.contributions(_harm_micro(), ["category"], ["harm"], unit="subject_id")
    assert c["category"].tolist() == ["violence", "drugs", "other", "nil"]
    assert c["harm"].tolist() == [1000.0, 120.0, 180.0, 0.0]
    assert c["harm_contributors"].tolist() == [11, 12, 9, 0]
    assert c["harm_top_share"].iloc[:3].tolist() == pytest.approx([0.95, 1 / 12, 20 / 180])
    assert np.isnan(c["harm_top_share"].iloc[3])
    # Row by row the largest "contributor" would be one arrest: 500 / 1000.
    rows = sdc.contributions(_harm_micro(), ["category"], ["harm"])
    assert rows["harm_top_share"].iloc[0] == pytest.approx(0.5)
    assert rows["harm_contributors"].iloc[0] == 12
    two = sdc.contributions(_harm_micro(), ["category"], ["harm"], unit="subject_id", top_n=2)
    assert two["harm_top_share"].iloc[:3].tolist() == pytest.approx([0.955, 20 / 120, 40 / 180])


def test_dominant_contributor_and_few_contributors_withhold_a_harm_sum():
    c = sdc.contributions(_harm_micro(), ["category"], ["harm"], unit="subject_id")
    published, log = sdc.apply(c, table_name="harm", key_cols=["category"],
                               contributors={"harm": "harm_contributors"}, top_share={"harm": "harm_top_share"})
    # violence: 95% > 90% (11 contributors pass); other: 9 < 10 people; drugs and the zero kept.
    assert published["harm"].isna().tolist() == [True, False, True, False]
    assert published["harm"].dtype == "Float64"
    assert published.loc[[1, 3], "harm"].tolist() == [120.0, 0.0]
    assert list(published.columns) == ["category", "harm", "suppressed"]  # the shares never leave
    assert log[["row_key", "reason", "rule"]].values.tolist() == [
        ["category=violence", "primary:dominance", "dominance_n=1; dominance_share=0.9"],
        ["category=other", "primary:few_contributors", "min_cell=10"],
    ]


def test_dominance_at_exactly_the_share_is_kept_and_n2_rule():
    t = pd.DataFrame({"cell": ["a", "b", "c"], "harm": [1000.0, 1000.0, 1000.0], "k": [11, 11, 11],
                      "share": [900 / 1000, 901 / 1000, 0.6]})
    reasons = sdc.primary(t, contributors={"harm": "k"}, top_share={"harm": "share"})
    assert reasons["harm"].tolist() == ["", "primary:dominance", ""]
    # With the (2, 0.5) rule, a top-two share of 0.6 is dominant too.
    strict = sdc.primary(t, rule=Rule(dominance_n=2, dominance_share=0.5), top_share={"harm": "share"})
    assert strict["harm"].tolist() == ["primary:dominance"] * 3


def test_threshold_is_strict_ten_is_kept_nine_is_not():
    t = pd.DataFrame({"category": ["a", "b", "c"], "n": [10, 9, 11]})
    published, log = sdc.apply(t, ["n"], table_name="t", key_cols=["category"])
    assert published["n"].tolist() == [10, pd.NA, 11]
    assert log["row_key"].tolist() == ["category=b"]
    # With a threshold of 11, the 10 falls below it too.
    assert sdc.primary(t, ["n"], rule=Rule(min_cell=11))["n"].tolist() == ["primary:below_min_cell"] * 2 + [""]


def test_zeros_kept_by_default_and_withheld_on_request_without_revealing_them():
    t = pd.DataFrame({"category": ["a", "b", "c", "d"], "n": [0, 15, 3, 20], "harm": [0.0, 80.0, 60.0, 90.0],
                      "k": [0, 12, 3, 14]})
    published, log = sdc.apply(t, ["n"], table_name="t", key_cols=["category"], contributors={"harm": "k"})
    assert published["n"].tolist() == [0, 15, pd.NA, 20]
    assert published["harm"].tolist() == [0.0, 80.0, pd.NA, 90.0]
    assert "k" not in published  # the contributor counts are auxiliary: dropped
    zeros = Rule(suppress_zeros=True)
    published, log = sdc.apply(t, ["n"], rule=zeros, table_name="t", key_cols=["category"],
                               contributors={"harm": "k"})
    assert published["n"].tolist() == [pd.NA, 15, pd.NA, 20]
    assert published["harm"].tolist() == [pd.NA, 80.0, pd.NA, 90.0]
    assert log[["row_key", "column", "reason"]].values.tolist() == [
        ["category=a", "n", "primary:below_min_cell"], ["category=a", "harm", "primary:few_contributors"],
        ["category=c", "n", "primary:below_min_cell"], ["category=c", "harm", "primary:few_contributors"]]
    # The zero's log line reads exactly like the 3's: the log does not say which was 0.
    assert log["rule"].nunique() == 1 and log["rule"].iloc[0] == "min_cell=10; suppress_zeros=true"


def test_secondary_prefers_a_non_zero_complement():
    """overall 40 = a 4 + b 0 + c 36: withholding the 0 with the 4 would leave 40 - 36 = 4 + 0,
    so the complement is c (36), the smallest non-zero cell."""
    t = pd.DataFrame({"category": ["overall", "a", "b", "c"], "n": [40, 4, 0, 36]})
    published, _ = sdc.apply(t, ["n"], table_name="t", key_cols=["category"], lines=Line("n"))
    assert published["n"].tolist() == [40, pd.NA, 0, pd.NA]


# --------------------------------------------------------------------------- derived statistics


def test_derived_percent_change_is_withheld_when_either_input_is():
    t = pd.DataFrame({"category": ["a", "b", "c", "d", "e"], "before": [40, 50, 6, 0, 0],
                      "after": [4, 20, 30, 3, 0]})
    with np.errstate(divide="ignore", invalid="ignore"):
        t["pct_change"] = 100 * (t["after"] - t["before"]) / t["before"].where(t["before"] > 0)
    t["pct_low"] = t["pct_change"] - 5.0
    derived = {"pct_change": ["before", "after"], "pct_low": ["pct_change"]}
    published, log = sdc.apply(t, ["before", "after"], table_name="t", key_cols=["category"], derived=derived)
    # a: after 4 withheld; b: -60% kept; c: before 6 withheld; d: after 3 withheld, and its
    # "undefined" change (before = 0) is withheld as well, or the blank would say before was 0.
    # e: 0 and 0 are true zeros (kept); its change is undefined, missing but not withheld.
    assert published["pct_change"].isna().tolist() == [True, False, True, True, True]
    assert published.loc[4, ["before", "after"]].tolist() == [0, 0]
    assert published.loc[1, "pct_change"] == pytest.approx(-60.0)
    assert published.loc[1, "pct_low"] == pytest.approx(-65.0)
    assert published["suppressed"].tolist() == ["after;pct_change;pct_low", "", "before;pct_change;pct_low",
                                                "after;pct_change;pct_low", ""]
    assert log.loc[log["column"] == "pct_change", "rule"].unique().tolist() == ["derived_from=before+after"]
    assert log.loc[log["column"] == "pct_low", "rule"].unique().tolist() == ["derived_from=pct_change"]
    assert set(log["reason"]) == {"primary:below_min_cell", "derived"}
    assert sdc.check(published, ["before", "after"], key_cols=["category"], derived=derived) == []
    leaked = published.copy()
    leaked.loc[0, "pct_change"] = -90.0
    leaked.loc[0, "suppressed"] = "after;pct_low"
    assert sdc.check(leaked, ["before", "after"], key_cols=["category"], derived=derived) == [
        ("category=a", "pct_change", "derived")]


def test_prepost_shaped_table_end_to_end():
    """The layout of prepost_tests: measure x category rows, categories adding up to overall
    within a measure, totals checked as magnitudes (people with an arrest in the window and the
    largest person's share), the reduction and its interval derived from them."""
    t = pd.DataFrame({
        "measure": ["events"] * 4 + ["harm"] * 4,
        "category": ["overall", "violence", "drugs", "other"] * 2,
        "n_subjects": [41] * 8,
        "total_before": [90, 30, 30, 30, 9000.0, 3000.0, 3000.0, 3000.0],
        "total_after": [40, 12, 18, 10, 4000.0, 1200.0, 1800.0, 1000.0],
        "n_before": [30, 15, 14, 13, 30, 15, 14, 13],
        "n_after": [25, 8, 12, 11, 25, 8, 12, 11],
        "top_after": [0.1, 0.2, 0.2, 0.2, 0.3, 0.4, 0.5, 0.95],
    })
    t["reduction_pct"] = 100 * (1 - t["total_after"] / t["total_before"])
    spec = dict(key_cols=KEYS, contributors={"total_before": "n_before", "total_after": "n_after"},
                top_share={"total_after": "top_after"}, lines=Line(["total_before", "total_after"], by="measure"),
                derived={"reduction_pct": ["total_before", "total_after"]})
    published, log = sdc.apply(t, ["n_subjects"], table_name="prepost_tests", **spec)
    # events: violence after has 8 people (few); complement other (10 < 18).  harm: violence
    # after 8 people, other after 95% one person; the line then has two, so no complement.
    assert published["suppressed"].tolist() == ["", "total_after;reduction_pct", "", "total_after;reduction_pct",
                                                "", "total_after;reduction_pct", "", "total_after;reduction_pct"]
    assert log.loc[log["column"] == "total_after", "reason"].tolist() == [
        "primary:few_contributors", "secondary", "primary:few_contributors", "primary:dominance"]
    assert list(published.columns) == ["measure", "category", "n_subjects", "total_before", "total_after",
                                       "reduction_pct", "suppressed"]
    assert published["n_subjects"].dtype == "Int64" and published["total_after"].dtype == "Float64"
    assert published.loc[2, "reduction_pct"] == pytest.approx(40.0)
    assert sdc.check(published, ["n_subjects"], source=t, **spec) == []
    rendered = sdc.render(published)
    assert rendered["total_after"].tolist() == [40.0, "[c]", 18.0, "[c]", 4000.0, "[c]", 1800.0, "[c]"]
    assert "suppressed" not in rendered


# --------------------------------------------------------------------------- the log, determinism, edges


def test_log_never_holds_a_withheld_value():
    t = pd.DataFrame({"measure": ["harm"] * 4, "category": ["overall", "violence", "drugs", "other"],
                      "n": [58, 7, 3, 48], "harm": [1713.25, 613.25, 250.0, 850.0], "k": [30, 7, 3, 20]})
    published, log = sdc.apply(t, ["n"], table_name="harm_table", key_cols=KEYS, contributors={"harm": "k"},
                               lines=Line(["n", "harm"], by="measure"))
    withheld = sdc.flags(published)
    # n: 7 and 3 (< 10); harm: 613.25 (7 people) and 250 (3 people); each line then has two.
    assert t.loc[withheld["n"], "n"].tolist() == [7, 3]
    assert t.loc[withheld["harm"], "harm"].tolist() == [613.25, 250.0]
    raw = {"7", "3", "613.25", "613", "250"}
    assert tuple(log.columns) == sdc.LOG_COLUMNS
    assert all(dt == "str" for dt in log.dtypes)
    for text in log.to_numpy().ravel():
        assert not any(v in text for v in raw), text
    assert published.loc[withheld["n"], "n"].isna().all() and published.loc[withheld["harm"], "harm"].isna().all()


def test_same_input_same_output_and_ties_go_to_the_earlier_row():
    """overall 100 = a 5 + b 20 + c 20 + d 55: the complement of a is b or c (both 20); the
    earlier row wins, so reversing the rows picks c."""
    t = pd.DataFrame({"category": ["overall", "a", "b", "c", "d"], "n": [100, 5, 20, 20, 55]})
    first = sdc.apply(t, ["n"], table_name="t", key_cols=["category"], lines=Line("n"))
    again = sdc.apply(t.copy(), ["n"], table_name="t", key_cols=["category"], lines=Line("n"))
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    assert first[1]["row_key"].tolist() == ["category=a", "category=b"]
    backwards = sdc.apply(t.iloc[::-1].reset_index(drop=True), ["n"], table_name="t", key_cols=["category"],
                          lines=Line("n"))[1]
    assert backwards["row_key"].tolist() == ["category=c", "category=a"]


def test_empty_table():
    t = pd.DataFrame({"measure": pd.Series([], dtype="str"), "category": pd.Series([], dtype="str"),
                      "n": pd.Series([], dtype="int64"), "harm": pd.Series([], dtype="float64"),
                      "k": pd.Series([], dtype="int64")})
    published, log = sdc.apply(t, ["n"], table_name="t", key_cols=KEYS, contributors={"harm": "k"},
                               lines=Line(["n"], by="measure"), derived={"harm": ["n"]})
    assert published.empty and list(published.columns) == ["measure", "category", "n", "harm", "suppressed"]
    assert published["n"].dtype == "Int64" and published["harm"].dtype == "Float64"
    pd.testing.assert_frame_equal(log, sdc.log_frame())
    assert sdc.check(published, ["n"], key_cols=KEYS, lines=Line(["n"], by="measure")) == []
    assert sdc.primary(t, ["n"]).empty


def test_check_lists_what_a_raw_table_breaks():
    t = _line_table()
    assert sdc.check(t, ["n"], key_cols=KEYS) == [("measure=events; category=violence", "n",
                                                   "primary:below_min_cell")]
    published, _ = sdc.apply(t, ["n"], table_name="t", key_cols=KEYS, lines=Line("n", by="measure"))
    published.loc[1, "n"] = 4  # a withheld value put back
    assert sdc.check(published, ["n"], key_cols=KEYS, lines=Line("n", by="measure")) == [
        ("measure=events; category=violence", "n", "value_not_removed")]


def test_rule_from_config():
    assert Rule.from_config({}) == Rule(10, 0.9, False)
    assert Rule.from_config(None) == Rule()
    assert Rule.from_config({"min_cell": 5, "suppress_zeros": True}) == Rule(min_cell=5, suppress_zeros=True)
    assert Rule.from_config({"disclosure": {"dominance_share": 0.85}}).dominance_share == 0.85
    with pytest.raises(DisclosureError, match="min_cel"):
        Rule.from_config({"min_cel": 5})
    for bad in ({"min_cell": 0}, {"min_cell": 2.5}, {"min_cell": True}, {"dominance_share": 1.5},
                {"dominance_share": 0}, {"suppress_zeros": "no"}, {"dominance_n": 0}):
        with pytest.raises(DisclosureError):
            Rule.from_config(bad)
    assert isinstance(DisclosureError("x"), ValueError)


def test_specification_errors():
    t = _line_table()
    with pytest.raises(DisclosureError, match="row_key would reveal"):
        sdc.apply(t, ["n"], table_name="t", key_cols=["category", "n"])
    with pytest.raises(DisclosureError, match="no column"):
        sdc.apply(t, ["missing"], table_name="t")
    with pytest.raises(DisclosureError, match="table_name"):
        sdc.apply(t, ["n"], table_name="")
    with pytest.raises(DisclosureError):
        Line(["n"], across="diagonal")
    with pytest.raises(DisclosureError, match="'category' must be numeric"):
        sdc.primary(t, ["category"])


def test_index_keys_when_no_key_columns():
    t = pd.DataFrame({"n": [12, 3]}, index=pd.Index(["x", "y"], name="cell"))
    _, log = sdc.apply(t, ["n"], table_name="t")
    assert log["row_key"].tolist() == ["cell=y"]


def test_markdown_note():
    note = sdc.markdown_note(Rule())
    assert "fewer than 10" in note and "more than 90%" in note and "[c]" in note and "Zero counts are shown" in note
    note = sdc.markdown_note(Rule(min_cell=5, dominance_share=0.85, suppress_zeros=True, dominance_n=2))
    assert "fewer than 5" in note and "2 largest contributors" in note and "85%" in note
    assert "Zero counts are also withheld" in note
