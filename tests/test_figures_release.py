"""The figures draw from the released tables only (issue 16): a value disclosure control withheld
is never drawn or printed (not as a label, a bar, a point, an axis limit or a legend count), the
figure writes "[c]" where it would be and says what that means; and every figure still draws when
there is nothing to show."""

from __future__ import annotations

import io
import re

import matplotlib
import numpy as np
import pandas as pd
import pytest

from strostudy import disclosure, figures, release, style
from strostudy.config import defaults
from strostudy.disclosure import MARKER, Rule

RULE = disclosure.Rule()
CATS = ["overall", "modern_slavery", "violence", "drugs", "other"]


@pytest.fixture(scope="module")
def cfg():
    c = defaults()
    style.apply(c["figures"])
    return c


@pytest.fixture(autouse=True)
def _close():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def released(name: str, parts) -> pd.DataFrame:
    """A released table as the figures stage reads it: published, written as CSV, read back."""
    published, _ = release.publish(name, parts if isinstance(parts, list) else [parts], RULE)
    buf = io.StringIO()
    published.to_csv(buf, index=False)
    buf.seek(0)
    return pd.read_csv(buf)


def withheld(table: pd.DataFrame, column: str) -> np.ndarray:
    return disclosure.flags(table)[column].to_numpy(bool)


def texts(fig) -> list[str]:
    """Every text on the figure except the axes' tick labels and axis labels (an axis's own
    numbers are not cells; its limits are checked apart)."""
    ticks = {id(t) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.findobj(matplotlib.text.Text)}
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text) if id(t) not in ticks and t.get_text()]


def numbers(fig) -> set[str]:
    """The numbers written on the figure, as written (thousands separators dropped)."""
    return {n.replace(",", "") for t in texts(fig) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", t)}


def assert_withheld_shown(fig, *planted) -> None:
    """``[c]`` and its note on the figure, and none of the planted (withheld) numbers."""
    written = " ".join(texts(fig))
    assert MARKER in written and figures.WITHHELD in written
    found = numbers(fig)
    for value in planted:
        assert str(value) not in found, f"withheld value {value} is written on the figure"


def bar_heights(fig) -> list[float]:
    return [p.get_height() for ax in fig.axes for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]


def _drawn(fig, axis: int, lines: bool) -> np.ndarray:
    """Every value on ``axis`` (0: x, 1: y) drawn as a point or a segment (line collections and
    scatter offsets), and with ``lines`` the plotted lines' too."""
    out = []
    for ax in fig.axes:
        for c in ax.collections:
            if isinstance(c, matplotlib.collections.LineCollection):
                out += [v for seg in c.get_segments() for v in np.asarray(seg)[:, axis]]
            elif isinstance(c, matplotlib.collections.PathCollection) and len(c.get_offsets()):
                out += list(np.asarray(c.get_offsets())[:, axis])
        if lines:
            for line in ax.lines:
                out += list(np.asarray(line.get_ydata(), dtype=float))
    return np.asarray(out, dtype=float)


def drawn_y(fig) -> np.ndarray:
    """Every y value drawn as a point, a segment or a line."""
    return _drawn(fig, 1, lines=True)


def drawn_x(fig) -> np.ndarray:
    """Every x value drawn as a point or a segment."""
    return _drawn(fig, 0, lines=False)


# --------------------------------------------------------------------------- the cohort


def test_study_flow_writes_c_for_withheld_counts_and_the_total_from_published_ones(cfg):
    cohort_flow = pd.DataFrame({
        "step": ["orders_listed", "full_windows", "exclusions", "exclusions"],
        "n_in": [120, 120, 60, 60], "n_out": [120, 60, 47, 47],
        "reason": ["", "window_outside_data_period", "identity_unresolved", "no_rocu_return"], "n": [0, 60, 7, 6]})
    flow = released("flow", release.flow(cohort_flow))
    assert withheld(flow, "n").sum() == 2
    fig = figures.study_flow(flow, cfg)
    assert_withheld_shown(fig, 7, 6)
    written = " ".join(texts(fig))
    assert "Excluded (n = 13)" in written  # full - analysed: both published
    assert "identity not resolved: [c]" in written and "no ROCU return: [c]" in written


def test_study_flow_total_is_c_when_an_input_is_withheld(cfg):
    cohort_flow = pd.DataFrame({"step": ["orders_listed", "full_windows", "exclusions"], "n_in": [120, 120, 8],
                                "n_out": [120, 8, 5], "reason": ["", "window_outside_data_period", "no_rocu_return"],
                                "n": [0, 112, 3]})
    flow = released("flow", release.flow(cohort_flow))
    fig = figures.study_flow(flow, cfg)
    assert "Excluded (n = [c])" in " ".join(texts(fig))
    assert_withheld_shown(fig, 8, 5, 3)


# --------------------------------------------------------------------------- before/after


def _tests_tables():
    """Before/after totals with the 'other' arrests planted small (9 before, 4 after)."""
    rng = np.random.default_rng(3)
    windows = pd.DataFrame([(f"S{i:02d}", c, rng.integers(100, 200), rng.integers(10, 90))
                            for i in range(20) for c in CATS],
                           columns=["subject_id", "category", "harm_before", "harm_after"]).astype(
        {"harm_before": float, "harm_after": float})
    harm = windows.groupby("category", sort=False)[["harm_before", "harm_after"]].sum().reindex(CATS)
    events = {"overall": (250, 120), "modern_slavery": (100, 50), "violence": (61, 33), "drugs": (80, 36),
              "other": (9, 4)}
    rows = []
    for measure in ("events", "harm"):
        for c in CATS:
            b, a = events[c] if measure == "events" else harm.loc[c].to_numpy()
            rows.append({"measure": measure, "category": c, "n_subjects": 20, "total_before": b, "total_after": a,
                         "reduction_pct": 100 * (1 - a / b), "reduction_ci_low": 100 * (1 - a / b) - 15,
                         "reduction_ci_high": 100 * (1 - a / b) + 10, "n_nonzero": 15, "effect_r_n": 20})
    return pd.DataFrame(rows), windows


def test_prepost_totals_draws_no_withheld_bar_label_or_interval(cfg):
    t, windows = _tests_tables()
    tests = released("tests", release.tests(t, windows))
    h = disclosure.flags(tests)
    other = (tests["measure"] == "events") & (tests["category"] == "other")
    assert h.loc[other, ["total_before", "total_after", "reduction_pct"]].all(axis=None)
    fig = figures.prepost_totals(tests, cfg)
    hidden_totals = [v for c in ("total_before", "total_after") for v in t.loc[h[c].to_numpy(), c]]
    assert len(hidden_totals) == 4  # 'other' (9, 4) and, with them, 'violence' (61, 33)
    heights = bar_heights(fig)
    for v in hidden_totals:
        assert not np.isclose(heights, v).any(), f"a bar has the withheld height {v}"
    assert_withheld_shown(fig, 9, 4, 56)  # 56%: the withheld reduction of 'other'
    # No error bar reaches a withheld category's interval.
    events_ax = fig.axes[0]
    at = [lab.get_text() for lab in events_ax.get_xticklabels()].index("Other")
    bars_x = [np.asarray(seg)[:, 0] for c in events_ax.collections
              if isinstance(c, matplotlib.collections.LineCollection) for seg in c.get_segments()]
    assert bars_x and not any(np.isclose(x, at + 0.2).any() for x in bars_x)
    top = events_ax.get_ylim()[1]
    published = t.loc[(t["measure"] == "events") & ~other.to_numpy(), ["total_before", "total_after"]]
    assert top <= published.to_numpy().max() * 1.5


def test_paired_subjects_is_a_bar_chart_of_fell_same_rose(cfg):
    w = pd.DataFrame({"subject_id": [f"S{i:02d}" for i in range(30)], "category": "overall",
                      "events_before": [3] * 22 + [1] * 5 + [0] * 3, "events_after": [1] * 22 + [1] * 5 + [2] * 3,
                      "harm_before": [500.0] * 25 + [0.0] * 5, "harm_after": [100.0] * 25 + [40.0] * 5})
    change = released("subject_change", release.subject_change(w))
    assert withheld(change, "same")[0] and withheld(change, "rose")[0]  # 5 and 3
    fig = figures.paired_subjects(change, cfg)
    assert_withheld_shown(fig, 5, 3)
    heights = bar_heights(fig)
    assert 22 in heights and not {5, 3, 25} & set(heights)  # harm: rose 5 withheld, fell 25 with it
    assert fig.axes[0].get_ylim()[1] == pytest.approx(22 * 1.15)  # the axis from published counts only


# --------------------------------------------------------------------------- the series


def _panel(comparison: bool = True) -> pd.DataFrame:
    """Fifteen order subjects (and fifteen comparison people) over months -24..23, arrests about
    every fourth month each; but the order group's last year holds only 4 arrests, of two people
    (so it is withheld at every period length: arrests too few, harm from too few people)."""
    rows = []
    for group in ("order", "comparison") if comparison else ("order",):
        for i in range(15):
            for m in range(-24, 24):
                if group == "order" and m >= 12:
                    e = int(i < 2 and m in (12, 15))
                else:
                    e = int((m + i) % 4 == 0)
                rows.append((f"{group[0]}{i:02d}", group, m, "overall", e, 300.0 * e, 30))
    return pd.DataFrame(rows, columns=["subject_id", "group", "month", "category", "events", "harm", "days_at_risk"])


def _source(parts) -> pd.DataFrame:
    """A released series' rows before anything was withheld (same rows, same order)."""
    return pd.concat([p.table for p in parts], ignore_index=True)


def _fitted(cfg) -> pd.DataFrame:
    months = np.arange(-24, 24)
    return pd.concat([pd.DataFrame({"measure": m, "category": "overall", "model": cfg["its"]["primary"][m],
                                    "month": months, "observed": 777.0, "fitted": 4.0 - 0.05 * months,
                                    "counterfactual": 4.0 + 0.01 * months}) for m in ("events", "harm")])


def test_monthly_its_draws_released_periods_not_the_fitted_tables_observed_column(cfg):
    panel = _panel(comparison=False)
    observed = released("its_observed", release.its_observed(panel, RULE))
    late = observed["month_start"] >= 12
    assert withheld(observed, "per_month")[late.to_numpy()].all()
    fig = figures.monthly_its(_fitted(cfg), observed, cfg)
    assert_withheld_shown(fig, 4)
    ys = drawn_y(fig)
    assert not np.isclose(ys, 777.0).any() and not np.isclose(ys, np.log1p(777.0)).any()
    source = _source(release.its_observed(panel, RULE))
    for measure, v, hid in zip(observed["measure"], source["per_month"], late.to_numpy()):
        v = np.log1p(v) if measure == "harm" else v
        assert np.isclose(ys, v).any() != hid  # drawn exactly when published
    assert not np.isclose(drawn_x(fig), 23.5).any()  # no segment across the withheld year
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "observed (mean per month over 12-month periods)" in legend


def test_controlled_series_draws_rates_per_period_without_withheld_ones(cfg):
    panel = _panel()
    cohort = pd.DataFrame({"subject_id": panel["subject_id"].unique(), "matched": True})
    series = released("controlled_series", release.controlled_series(panel, cohort, RULE))
    hid = withheld(series, "rate")
    assert hid.any() and not hid.all()
    planted = _source(release.controlled_series(panel, cohort, RULE))["rate"].to_numpy(float)
    fig = figures.controlled_series(series, cfg)
    assert_withheld_shown(fig)
    ys = drawn_y(fig)
    published = series.loc[~hid, "rate"].to_numpy(float)
    for v in planted[hid]:
        # (a withheld rate equal to a published one, e.g. the other group's, is drawn for that one)
        assert not np.isclose(ys, v).any() or np.isclose(published, v).any()
    for v in published:
        assert np.isclose(ys, v).any()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["order group", "matched comparison group"]


def test_controlled_series_without_a_comparison_group(cfg):
    panel = _panel(comparison=False)
    series = released("controlled_series", release.controlled_series(panel, pd.DataFrame(
        {"subject_id": panel["subject_id"].unique(), "matched": False}), RULE))
    fig = figures.controlled_series(series, cfg)
    assert " ".join(texts(fig)).count("No comparison group") == 2


# --------------------------------------------------------------------------- data quality


def test_source_agreement_marks_withheld_cells(cfg):
    d = pd.DataFrame({"kind": ["arrest_date"] * 40 + ["name_order"] * 25 + ["order_length"] * 7,
                      "source_pair": ["pnc~pnd"] * 40 + ["orders~pnd"] * 25 + ["pnc~rocu"] * 7})
    summary = released("discrepancy_summary", release.discrepancy_summary(d))
    assert withheld(summary, "n").sum() == 2  # 7, and 25 with it (the total is published)
    fig = figures.source_agreement(summary, cfg)
    assert_withheld_shown(fig, 7, 25)
    written = texts(fig)
    assert written.count(MARKER) == 2 and "40" in written and any("72" in t for t in written)


def _scores() -> pd.DataFrame:
    """60 probabilistic links, 12 records without a match, 3 ambiguous (planted small) and 4
    with no candidate at all (planted small)."""
    def rows(n, status, basis, score, weight=1.0):
        return pd.DataFrame({"source": "pnd_records", "link_status": status, "link_basis": basis, "review": False,
                             "link_score": score, "p_listed": score, "match_weight": weight, "link_threshold": 0.9,
                             "review_threshold": 0.1}, index=range(n))

    return pd.concat([rows(60, "linked", "probabilistic", 0.99999), rows(12, "no_match", "", 1e-5),
                      rows(3, "ambiguous", "", 0.5), rows(4, "no_match", "", 0.0, np.nan)], ignore_index=True)


def linkage_tables(scores):
    return (released("linkage_score_bins", release.linkage_score_bins(scores)),
            released("linkage_summary", release.linkage_summary(scores)))


def test_linkage_scores_stacks_published_bins_and_marks_withheld_ones(cfg):
    bins, summary = linkage_tables(_scores())
    fig = figures.linkage_scores(bins, summary, cfg)
    assert_withheld_shown(fig, 3, 4)
    heights = bar_heights(fig)
    assert 60 in heights and 12 in heights and 3 not in heights
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "linked (probabilistic) (n = 60)" in legend and "ambiguous (n = [c])" in legend
    assert "no candidate found (not drawn): [c]" in legend


# --------------------------------------------------------------------------- the comparison


def _effects() -> pd.DataFrame:
    rows = []
    for measure in ("events", "harm"):
        for c in CATS:
            for j, estimator in enumerate(figures.ESTIMATOR_WORDS):
                n = 6 if (c == "violence" and estimator == "did_matched") else 40  # planted: 6 treated
                rows.append({"measure": measure, "category": c, "estimator": estimator, "family": "poisson",
                             "estimate": 0.123 if n == 6 else 0.5 + 0.05 * j, "ci_low": 0.0456 if n == 6 else 0.3,
                             "ci_high": 0.9, "p_value": 0.01, "se": 0.2, "df": 40.0, "theta": np.nan,
                             "interval": "cr2", "n_treated": n, "n_comparison": 40, "note": ""})
    return pd.DataFrame(rows)


def test_comparison_effects_skips_withheld_estimates(cfg):
    effects = released("comparison_effects", release.comparison_effects(_effects()))
    assert withheld(effects, "estimate").sum() == 2
    fig = figures.comparison_effects(effects, cfg)
    assert_withheld_shown(fig)
    xs = drawn_x(fig)
    assert not np.isclose(xs, 0.123).any() and not np.isclose(xs, 0.0456).any()
    for ax in fig.axes:
        assert ax.get_xlim()[0] > 0.0456  # the axis from published values only


def test_comparison_balance_skips_withheld_differences(cfg):
    balance = pd.DataFrame({"feature": ["distance", "events_m24_m13", "age_at_index"],
                            "mean_treated": [0.3, 2.5, 36.0], "mean_control_all": [0.2, 2.6, 38.0],
                            "smd_all": [0.25, -0.05, -0.17], "mean_control_matched": [0.3, 2.4, 37.0],
                            "smd_matched": [0.0111, 0.0222, -0.0333]})
    groups = pd.DataFrame([{"n_order": 40, "n_full": 140, "n_matched": 8}])  # planted: 8 matched
    b = released("comparison_balance", release.comparison_balance(balance, groups))
    assert withheld(b, "smd_matched").all()
    fig = figures.comparison_balance(b, cfg)
    assert_withheld_shown(fig)
    xs = drawn_x(fig)
    assert not np.isclose(xs, [[0.0111], [0.0222], [0.0333]]).any()
    rows = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert rows == [f"{f} (matched: {MARKER})" for f in ("distance", "events m24 m13", "age at index")]


def test_sensitivity_skips_withheld_ratios(cfg):
    rows = [{"analysis": a, "measure": m, "category": "overall", "estimate": 0.654 if a == "window_36" else 0.5,
             "ci_low": 0.3, "ci_high": 0.8, "n_subjects": 6 if a == "window_36" else 40, "note": ""}
            for a in ("window_12", "window_24", "window_36") for m in ("events", "harm")]
    panel = released("sensitivity", release.sensitivity(pd.DataFrame(rows), Rule()))
    fig = figures.sensitivity(panel, cfg)
    assert_withheld_shown(fig)
    assert not np.isclose(drawn_x(fig), 0.654).any()


# --------------------------------------------------------------------------- nothing to show


def test_every_released_figure_draws_an_empty_study(cfg):
    def empty(columns):
        return pd.DataFrame({c: pd.Series([], dtype=object if c == "suppressed" else float) for c in columns})

    flow = released("flow", release.flow(pd.DataFrame({"step": ["orders_listed", "full_windows"], "n_in": [0, 0],
                                                       "n_out": [0, 0], "reason": ["", "window_outside_data_period"],
                                                       "n": [0, 0]})))
    t, windows = _tests_tables()
    t = t.assign(n_subjects=0, total_before=0.0, total_after=0.0, reduction_pct=np.nan, reduction_ci_low=np.nan,
                 reduction_ci_high=np.nan, n_nonzero=0, effect_r_n=0)
    tests = released("tests", release.tests(t, windows.iloc[:0]))
    change = released("subject_change", release.subject_change(windows.iloc[:0].assign(
        events_before=0, events_after=0)))
    series_cols = ["measure", "month_start", "month_end", "days_at_risk", "total", "months", "people", "per_month",
                   "rate", "suppressed"]
    fitted = _fitted(cfg).iloc[:0]
    summary = released("discrepancy_summary", release.discrepancy_summary(pd.DataFrame(
        {"kind": pd.Series([], dtype=str), "source_pair": pd.Series([], dtype=str)})))
    bins, link = linkage_tables(_scores().iloc[:0])
    effects = released("comparison_effects", release.comparison_effects(
        _effects().assign(estimate=np.nan, ci_low=np.nan, ci_high=np.nan, n_treated=0, n_comparison=0)))
    balance = empty(["feature", "mean_treated", "mean_control_all", "smd_all", "mean_control_matched", "smd_matched",
                     "n_treated", "n_control_all", "n_control_matched", "suppressed"])
    sens = released("sensitivity", release.sensitivity(pd.DataFrame(
        [{"analysis": "window_24", "measure": m, "category": "overall", "estimate": np.nan, "ci_low": np.nan,
          "ci_high": np.nan, "n_subjects": 0, "note": "not run"} for m in ("events", "harm")]), Rule()))
    drawn = [figures.study_flow(flow, cfg), figures.prepost_totals(tests, cfg), figures.paired_subjects(change, cfg),
             figures.monthly_its(fitted, empty(series_cols), cfg), figures.source_agreement(summary, cfg),
             figures.linkage_scores(bins, link, cfg), figures.comparison_effects(effects, cfg),
             figures.comparison_balance(balance, cfg), figures.sensitivity(sens, cfg),
             figures.controlled_series(empty(["series", *series_cols]), cfg)]
    for fig in drawn:
        assert MARKER not in " ".join(texts(fig))
        fig.canvas.draw()  # the layout runs too
    assert "No analysed subjects" in " ".join(texts(drawn[1])) and "No analysed subjects" in " ".join(texts(drawn[2]))


def test_a_table_that_was_not_released_is_refused(cfg):
    with pytest.raises(disclosure.DisclosureError):
        figures.paired_subjects(pd.DataFrame({"measure": ["events"], "fell": [3], "same": [1], "rose": [2]}), cfg)
