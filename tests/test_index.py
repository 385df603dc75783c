"""The cross-study index (strostudy.index) on hand-made tables of two or three studies: each
count and reduction lands in its study's row, a study of 7 analysed people is withheld and
logged without its value, data are escaped in both outputs, and the figure is byte-stable."""

from __future__ import annotations

import copy
import math
import re

import pandas as pd
import pytest

from strostudy import index
from strostudy.config import defaults
from strostudy.disclosure import LOG_COLUMNS, MARKER, SUPPRESSED

EVIL = "<script>alert(1)</script> | *bold* _x_ [link](javascript:alert(2)) `code`"


def flow(listed: int, full: int, analysed: int) -> pd.DataFrame:
    """A cohort flow as the cohort stage writes it (two exclusion rows)."""
    excluded = full - analysed
    return pd.DataFrame({
        "step": ["orders_listed", "full_windows", "exclusions", "exclusions"],
        "n_in": [listed, listed, full, full], "n_out": [listed, full, analysed, analysed],
        "reason": [None, "window_outside_data_period", "identity_unresolved", "no_rocu_return"],
        "n": [0, listed - full, excluded - excluded // 2, excluded // 2]})


def prepost_table(n: int, arrests: tuple, harm: tuple) -> pd.DataFrame:
    """``prepost_tests`` rows: overall and one category, for arrests and harm; ``arrests`` and
    ``harm`` are (before, after, reduction, ci_low, ci_high) of the overall rows."""
    rows = []
    for measure, (before, after, pct, lo, hi) in (("events", arrests), ("harm", harm)):
        rows.append({"measure": measure, "category": "overall", "n_subjects": n, "total_before": before,
                     "total_after": after, "reduction_pct": pct, "reduction_ci_low": lo, "reduction_ci_high": hi,
                     "note": None})
        # A category row with other numbers: it must never be read as the overall one.
        rows.append({"measure": measure, "category": "violence", "n_subjects": n, "total_before": 12,
                     "total_after": 11, "reduction_pct": 0.0, "reduction_ci_low": -99.0, "reduction_ci_high": 99.0,
                     "note": None})
    return pd.DataFrame(rows)


EFFECT_COLUMNS = ["measure", "category", "estimator", "family", "estimate", "ci_low", "ci_high", "p_value", "se",
                  "theta", "n_treated", "n_comparison", "note"]


def effects(events: tuple | None, harm: tuple | None = None, note: str | None = None) -> pd.DataFrame:
    """``comparison_effects``: the naive and matched rows (overall) and a category row; the
    matched overall rows carry ``events`` / ``harm`` = (estimate, ci_low, ci_high)."""
    rows = []
    for measure, value in (("events", events), ("harm", harm)):
        est, lo, hi = value or (math.nan, math.nan, math.nan)
        for estimator, category, e in (("naive_prepost", "overall", (0.11, 0.12, 0.13)),
                                       ("did_matched", "violence", (0.21, 0.22, 0.23)),
                                       ("did_matched", "overall", (est, lo, hi))):
            rows.append({"measure": measure, "category": category, "estimator": estimator, "family": "poisson",
                         "estimate": e[0], "ci_low": e[1], "ci_high": e[2], "p_value": 0.01, "se": 0.2,
                         "theta": math.nan, "n_treated": 41, "n_comparison": 41,
                         "note": note if (estimator, category) == ("did_matched", "overall") else None})
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


NO_EFFECTS = pd.DataFrame(columns=EFFECT_COLUMNS)

STUDIES = {"stro": {"order_types": ["STRO"]},
           "shpo": {"order_types": ["SHPO"], "label": "Sexual harm prevention orders"},
           "small": {"order_types": ["STRO", "STPO"], "label": EVIL}}


def inputs_for() -> dict[str, tuple]:
    """Each study's (cohort_flow, prepost_tests, comparison_effects)."""
    return {
        # The default synthetic run's values (data/processed on the published scenario).
        "stro": (flow(114, 49, 41), prepost_table(41, (210, 93, 55.71428571, 29.91601191, 76.25928887),
                                                (64973.5, 11128, 82.87301746, 71.39880594, 91.60854036)),
                 effects((0.4844191111, 0.2829960201, 0.8292055666), (0.2105903023, 0.1101136271, 0.4027501101))),
        "shpo": (flow(60, 30, 25), prepost_table(25, (80, 60, 25.0, 5.5, 40.25), (5000, 6000, -20.0, -50.0, 10.0)),
                 NO_EFFECTS),
        # 7 analysed people: every arrest total is at least the threshold, so only the people
        # counts fail it, and everything computed over these 7 people goes with them.
        "small": (flow(30, 12, 7), prepost_table(7, (15, 11, 26.66666667, 2.0, 50.0), (900, 300, 66.6, 10.0, 90.0)),
                  effects((0.61, 0.3, 1.2), (0.4, 0.1, 1.6))),
    }


def config(studies=None, **extra) -> dict:
    cfg = copy.deepcopy(defaults())
    cfg["studies"] = copy.deepcopy(studies or STUDIES)
    cfg["figures"]["dpi"] = 120  # fast; the byte-stability of the save does not depend on it
    cfg.update(extra)
    return cfg


def build(cfg=None):
    cfg = cfg or config()
    data = inputs_for()
    rows = [index.study_row(name, s, *data[name]) for name, s in cfg["studies"].items()]
    table = index.index_table(rows)
    published, log = index.disclose(table, index.rule(cfg))
    return cfg, table, published, log


def rendered(cfg=None):
    cfg, table, published, log = build(cfg)
    links = {name: f"{name}/results.html" for name in cfg["studies"]}
    return index.render(published, log, cfg, links)


def md_row(markdown: str, study: str) -> list[str]:
    """The cells of one study's row of the Markdown table (split on unescaped pipes)."""
    line = next(ln for ln in markdown.splitlines() if ln.startswith("| [") and f"]({study}/results.html)" in ln)
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def html_row(html: str, study: str) -> list[str]:
    line = next(ln for ln in html.splitlines() if f'<a href="{study}/results.html">' in ln)
    return re.findall(r"<td[^>]*>(.*?)</td>", line)


# --------------------------------------------------------------------------- the rows


def test_counts_reductions_and_ratio_land_in_their_study_row():
    _, table, _, _ = build()
    assert list(table["study"]) == ["stro", "shpo", "small"]  # config order
    stro = table.iloc[0]
    assert (stro["label"], stro["order_types"]) == ("STRO", "STRO")
    assert (stro["n_listed"], stro["n_full"], stro["n_analysed"], stro["n_subjects"]) == (114, 49, 41, 41)
    assert (stro["arrests_before"], stro["arrests_after"]) == (210, 93)
    assert stro["arrests_reduction_pct"] == pytest.approx(55.71428571)
    assert (stro["arrests_ci_low"], stro["arrests_ci_high"]) == pytest.approx((29.91601191, 76.25928887))
    assert (stro["harm_before"], stro["harm_after"]) == (64973.5, 11128)
    assert stro["harm_reduction_pct"] == pytest.approx(82.87301746)
    # The matched difference in differences, overall: not the naive row, not a category's.
    assert (stro["rate_ratio"], stro["rate_ratio_ci_low"], stro["rate_ratio_ci_high"]) == pytest.approx(
        (0.4844191111, 0.2829960201, 0.8292055666))
    assert stro["harm_ratio"] == pytest.approx(0.2105903023)
    shpo = table.iloc[1]
    assert (shpo["label"], shpo["n_listed"], shpo["n_full"], shpo["n_analysed"]) == (
        "Sexual harm prevention orders", 60, 30, 25)
    assert shpo["harm_reduction_pct"] == -20.0
    assert pd.isna(shpo["rate_ratio"]) and pd.isna(shpo["comparison_note"])  # no comparison group
    assert table.iloc[2]["order_types"] == "STRO, STPO"


def test_index_table_has_explicit_dtypes_even_when_empty():
    _, table, _, _ = build()
    empty = index.index_table([])
    for frame in (table, empty):
        assert list(frame.columns) == list(index.COLUMNS)
        assert {c: str(t) for c, t in frame.dtypes.items()} == {c: str(pd.Series(dtype=t).dtype)
                                                                 for c, t in index.COLUMNS.items()}


def test_analysed_count_is_the_last_flow_step_even_without_exclusions():
    no_exclusions = flow(20, 15, 15).iloc[:2]
    row = index.study_row("x", {"order_types": ["DAPO"]}, no_exclusions, prepost_table(15, (30, 20, 33.3, 1, 60),
                                                                                    (10, 5, 50, 1, 90)), NO_EFFECTS)
    assert (row["n_listed"], row["n_full"], row["n_analysed"]) == (20, 15, 15)
    assert row["label"] == "DAPO"


# --------------------------------------------------------------------------- disclosure


def test_seven_analysed_people_are_withheld_with_everything_computed_over_them():
    _, table, published, log = build()
    small = published.iloc[2]
    assert pd.isna(small["n_analysed"]) and pd.isna(small["n_subjects"])
    assert (small["n_listed"], small["n_full"]) == (30, 12)  # at or above the threshold: published
    assert (small["arrests_before"], small["arrests_after"]) == (15, 11)
    derived = [c for c in index.DERIVED]
    assert all(pd.isna(small[c]) for c in derived)
    assert set(small[SUPPRESSED].split(";")) == {"n_analysed", "n_subjects", *derived}
    # The other studies lose nothing.
    assert list(published[SUPPRESSED].iloc[:2]) == ["", ""]
    assert published.iloc[0]["n_analysed"] == 41 and published.iloc[1]["harm_ratio"] is pd.NA

    assert list(log.columns) == list(LOG_COLUMNS)
    assert set(log["table"]) == {"index_table"} and set(log["row_key"]) == {"study=small"}
    by_column = dict(zip(log["column"], zip(log["reason"], log["rule"])))
    assert by_column["n_analysed"] == ("primary:below_min_cell", "min_cell=10")
    assert by_column["n_subjects"] == ("primary:below_min_cell", "min_cell=10")
    assert by_column["arrests_reduction_pct"] == (
        "derived", "derived_from=n_analysed+n_subjects+arrests_before+arrests_after")
    assert by_column["harm_reduction_pct"] == ("derived", "derived_from=harm_before+harm_after")
    assert len(log) == len(by_column) == 2 + len(derived)  # one row per withheld cell
    # The log never holds a withheld value.
    assert "7" not in log.to_csv(index=False)


def test_withheld_cells_show_as_c_in_both_outputs():
    markdown, html = rendered()
    cells = md_row(markdown, "small")
    # study, order types, listed, full windows, analysed, arrests, harm, ratio
    assert cells[2:] == ["30", "12", MARKER, MARKER, MARKER, MARKER]
    assert html_row(html, "small")[1:] == ["STRO, STPO", "30", "12", MARKER, MARKER, MARKER, MARKER]
    assert md_row(markdown, "stro")[2:] == ["114", "49", "41", "55.7% (29.9 to 76.3)", "82.9% (71.4 to 91.6)",
                                             "0.48 (0.28 to 0.83)"]
    assert html_row(html, "shpo")[1:] == ["SHPO", "60", "30", "25", "25.0% (5.5 to 40.2)",
                                          "−20.0% (−50.0 to 10.0)", "–"]
    for text in (markdown, html):
        assert "17 cell(s) were withheld (2 below the threshold, 15 computed from a withheld count)" in text
        assert "reports/output_checking_log.csv" in text
        assert "below 10 is withheld" in text and "more than 90% of it" in text


def test_the_rule_comes_from_config():
    _, _, published, log = build(config(disclosure={"min_cell": 5}))
    assert published.iloc[2]["n_analysed"] == 7 and len(log) == 0
    _, _, published, log = build(config(disclosure={"min_cell": 26}))
    # shpo: 25 analysed, 30 with full windows: only the first fails a threshold of 26.
    assert published.iloc[1][SUPPRESSED].split(";")[:2] == ["n_analysed", "n_subjects"]
    assert published.iloc[1]["n_full"] == 30
    with pytest.raises(ValueError, match="unknown key"):
        index.rule(config(disclosure={"min_size": 5}))


# --------------------------------------------------------------------------- rendering


def test_data_are_escaped_in_html_and_markdown():
    markdown, html = rendered()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; | *bold*" in html
    assert "<script>" not in markdown
    assert ("&lt;script&gt;alert(1)&lt;/script&gt; \\| \\*bold\\* \\_x\\_ \\[link\\](javascript:alert(2)) "
            "\\`code\\`") in markdown
    # The hostile label's pipes do not break its row: still eight cells.
    assert len(md_row(markdown, "small")) == 8


def test_links_go_to_each_study_report_and_are_encoded():
    cfg = config({"a b": {"order_types": ["STRO"]}, 'x")y': {"order_types": ["SHPO"]}})
    table = index.index_table([index.study_row(n, s, *inputs_for()["stro"]) for n, s in cfg["studies"].items()])
    published, log = index.disclose(table, index.rule(cfg))
    markdown, html = index.render(published, log, cfg, {n: f"{n}/results.html" for n in cfg["studies"]})
    assert "[STRO](a%20b/results.html)" in markdown and "[SHPO](x%22%29y/results.html)" in markdown
    assert '<a href="a%20b/results.html">STRO</a>' in html and '<a href="x%22%29y/results.html">' in html


def test_adjusted_ratio_is_a_dash_without_a_comparison_and_its_note_is_shown():
    studies = {"stro": {"order_types": ["STRO"]}, "shpo": {"order_types": ["SHPO"]}}
    cfg = config(studies)
    data = inputs_for()
    rows = [index.study_row("stro", studies["stro"], data["stro"][0], data["stro"][1],
                            effects(None, None, note="no comparison subjects <b>")),
            index.study_row("shpo", studies["shpo"], *data["shpo"])]
    table = index.index_table(rows)
    published, log = index.disclose(table, index.rule(cfg))
    markdown, html = index.render(published, log, cfg, {n: f"{n}/results.html" for n in studies})
    assert md_row(markdown, "stro")[-1] == "–" and md_row(markdown, "shpo")[-1] == "–"
    assert html_row(html, "stro")[-1] == "–" and html_row(html, "shpo")[-1] == "–"
    assert "STRO: the adjusted rate ratio was not estimated (no comparison subjects &lt;b&gt;)." in html
    assert "- STRO: the adjusted rate ratio was not estimated (no comparison subjects &lt;b&gt;)." in markdown
    assert "No cell was withheld." in markdown


def test_only_the_stro_study_is_said_to_be_calibrated_and_synthetic_others_illustrative():
    markdown, html = rendered(config(source="synthetic"))
    for text in (markdown, html):
        assert "Only the STRO study is calibrated to a publication" in text
        assert "Their synthetic data are illustrative" in text
        assert "stro and small both include STRO" in text  # the studies that could be differenced
        assert "the order reduced" not in text and "reduction after the order" in text
    markdown, html = rendered(config(source="extracts"))
    assert "calibrated to a publication" in markdown and "illustrative" not in markdown
    markdown, html = rendered(config({"stro": {"order_types": ["STRO"]}}, source="synthetic"))
    assert "calibrated" not in markdown and "calibrated" not in html


# --------------------------------------------------------------------------- the figure


def test_forest_figure_draws_published_reductions_and_marks_withheld_ones():
    cfg, _, published, _ = build()
    fig = index.forest_figure(published, cfg)
    arrests, harm = fig.axes
    labels = [t.get_text().replace("\n", " ") for t in arrests.get_yticklabels()]
    assert sorted(labels) == sorted(["STRO", "Sexual harm prevention orders", EVIL])
    assert [t.get_text() for t in arrests.texts] == [MARKER] and [t.get_text() for t in harm.texts] == [MARKER]
    # The points drawn: the two published studies' reductions, none for the withheld one.
    points = [x for ln in arrests.lines if ln.get_marker() == "o" for x in ln.get_xdata()]
    assert sorted(points) == pytest.approx([25.0, 55.71428571])
    assert fig.get_size_inches()[0] == pytest.approx(cfg["figures"]["width_in"])
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_figure_files_are_byte_identical_when_written_twice(tmp_path):
    cfg, _, published, _ = build()
    written = []
    for run in ("a", "b"):
        files = index.save_figure(index.forest_figure(published, cfg), tmp_path / run / "forest.png",
                                  tmp_path / run / "forest.pdf", cfg["figures"])
        written.append([f.read_bytes() for f in files])
    assert written[0] == written[1] and all(len(b) > 1000 for b in written[0])
    assert written[0][0].startswith(b"\x89PNG") and written[0][1].startswith(b"%PDF")


# --------------------------------------------------------------------------- the stage


def subject_windows(tests: pd.DataFrame) -> pd.DataFrame:
    """Per-subject windows behind ``tests``: each total shared equally by its subjects."""
    rows = []
    for category, t in tests.groupby("category", sort=False):
        by = t.set_index("measure")
        n = int(by.loc["events", "n_subjects"])
        for i in range(n):
            rows.append({"subject_id": f"S{i}", "category": category,
                         **{f"{m}_{w}": float(by.loc[m, f"total_{w}"]) / n for m in ("events", "harm")
                            for w in ("before", "after")}})
    return pd.DataFrame(rows)


def released_inputs(flow_table, tests, effects_table, rule) -> dict[str, pd.DataFrame]:
    """A study's released tables and log, as the release stage writes them."""
    from strostudy import release

    out, logs = {}, []
    for name, parts in (("flow", [release.flow(flow_table)]),
                        ("tests", release.tests(tests, subject_windows(tests))),
                        ("comparison_effects", [release.comparison_effects(effects_table)])):
        out[f"released_{name}"], log = release.publish(name, parts, rule)
        logs.append(log)
    out["study_checking_log"] = pd.concat(logs, ignore_index=True)
    return out


def _stage_files(root, cfg) -> tuple[dict, dict]:
    data = inputs_for()
    inputs = {}
    for name in cfg["studies"]:
        for table_name, frame in released_inputs(*data[name], index.rule(cfg)).items():
            file = root / "data" / name / f"{table_name}.csv"
            file.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(file, index=False)
            inputs[f"{name}__{table_name}"] = str(file)
    output = {"index_html": "reports/index.html", "index_md": "reports/index.md",
              "index_table": "reports/index_table.csv", "output_checking_log": "reports/output_checking_log.csv",
              "studies_forest_png": "figures/studies_forest.png", "studies_forest_pdf": "figures/studies_forest.pdf"}
    return inputs, {k: str(root / v) for k, v in output.items()}


def test_run_writes_every_output_and_the_same_bytes_twice(tmp_path, capsys):
    cfg = config(source="synthetic")
    outputs = []
    for run in ("a", "b"):
        inputs, output = _stage_files(tmp_path / run, cfg)
        index.run(inputs, output, cfg, log=str(tmp_path / run / "index.log"))
        outputs.append({k: open(v, "rb").read() for k, v in output.items()})
    assert outputs[0] == outputs[1]
    assert "3 studies, 17 cell(s) withheld (the log lists them and the studies' own 31)" in capsys.readouterr().err

    markdown, html = outputs[0]["index_md"].decode(), outputs[0]["index_html"].decode()
    assert "![Percentage reduction in arrests" in markdown and "(../figures/studies_forest.png)" in markdown
    assert '<img src="data:image/png;base64,iVBOR' in html
    assert md_row(markdown, "small")[4] == MARKER
    published = pd.read_csv(tmp_path / "a" / "reports" / "index_table.csv")
    assert list(published["n_analysed"].astype("Int64")) == [41, 25, pd.NA]
    assert published.loc[2, SUPPRESSED].startswith("n_analysed;n_subjects;")
    logged = pd.read_csv(tmp_path / "a" / "reports" / "output_checking_log.csv")
    assert list(logged.columns) == ["study", *LOG_COLUMNS] and len(logged) == 17 + 31
    assert (logged["study"].iloc[:17] == index.ALL_STUDIES).all() and (logged["table"].iloc[:17] == "index_table").all()
    # The studies' own withheld cells follow, each with its study: the small study's 7 people
    # are withheld in its released flow, and the index withholds them too.
    small = logged.loc[logged["study"] == "small"]
    assert {"flow", "tests"} <= set(small["table"]) and "step=analysed; reason=" in set(small["row_key"])
    assert "7" not in outputs[0]["output_checking_log"].decode()
    assert (tmp_path / "a" / "index.log").read_text().startswith("wrote ")


def test_run_without_a_comparison_input_and_with_a_formula_label(tmp_path):
    cfg = config({"stro": {"order_types": ["STRO"], "label": "=HYPERLINK(1)"}})
    inputs, output = _stage_files(tmp_path, cfg)
    del inputs["stro__released_comparison_effects"]
    index.run(inputs, output, cfg)
    # No comparison input: a dash; a label a spreadsheet would run as a formula: written as text.
    assert md_row(open(output["index_md"]).read(), "stro")[-1] == "–"
    assert "'=HYPERLINK(1)" in open(output["index_table"]).read()


def test_a_study_on_its_own_harm_index_is_said_to_be_on_another_scale():
    studies = {**STUDIES, "shpo": {**STUDIES["shpo"], "harm": {"table": "x.csv", "index_name": "Sexual harm index"}}}
    markdown, html = rendered(config(studies))
    said = ("Sexual harm prevention orders: harm is scored on its own index (Sexual harm index), not the CCHI harm of the "
            "other studies")
    assert said in markdown and said in html
    assert "own index" not in rendered(config())[0]
