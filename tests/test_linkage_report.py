"""The report's linkage-quality section (issue 14 item 4; docs/linkage.md, A87): records per
source by how each was tied to a person, clerical decisions counted in the table and the
audit ledger, the model's estimate of links missed, and the score figure."""

from __future__ import annotations

import hashlib
import shutil

import pandas as pd
import pytest

from strostudy import release, tables
from strostudy.config import defaults
from strostudy.disclosure import MARKER, Rule
from strostudy.report import linkage_context, render, shown


@pytest.fixture(scope="module")
def decided(default_dirs, tmp_path_factory):
    """The default extracts run twice to the ledger: once as they are, then with an analyst
    accepting an ambiguous record's first candidate and rejecting one probabilistic link."""
    from strostudy.stages import run_all

    work = tmp_path_factory.mktemp("decided")
    shutil.copytree(default_dirs / "raw", work / "data" / "raw")
    run_all(defaults(), work, until="harm")
    before = {n: pd.read_csv(work / tables.path(n, "stro" if tables.per_study(n) else None), keep_default_na=False) for n in ("linkage_quality", "audit_ledger")}
    review = pd.read_csv(work / tables.path("linkage_review"), dtype=str)
    links = pd.read_parquet(work / tables.path("links"))
    accept = review.loc[review["rank"] == "1"].head(1)
    reject = links.loc[links["source"].eq("pnd_records") & links["link_basis"].eq("probabilistic")].sort_values(
        "rec").head(1)
    decisions = pd.concat([accept[["rec", "pnc_id"]].assign(decision="accept"),
                           reject[["rec", "pnc_id"]].assign(decision="reject")])
    decisions.to_csv(work / tables.path("linkage_decisions"), index=False)
    run_all(defaults(), work, until="harm")
    after = {n: pd.read_csv(work / tables.path(n, "stro" if tables.per_study(n) else None), keep_default_na=False) for n in ("linkage_quality", "audit_ledger")}
    scores = tables.read("linkage_scores", work / tables.path("linkage_scores"))
    return before, after, scores, accept["rec"].iloc[0]


def _counts(quality: pd.DataFrame) -> dict:
    return quality.set_index(["source", "basis"])["records"].to_dict()


def test_default_counts(decided):
    """The default extracts: every person record counted once, by how reconcile tied it."""
    before = _counts(decided[0]["linkage_quality"])
    # PND holds the comparison pool's records too (docs/simulator.md): 3,443 + 1,303 + 6 + 26 rows,
    # of which the order people's are 640 + 226 + 6 + 22 as before the pool was added.
    assert {k: v for k, v in before.items() if v} == {
        ("orders", "pnc_id"): 135, ("orders", "order_ref"): 2, ("orders", "probabilistic"): 1,
        ("orders", "ambiguous"): 1, ("orders", "no_match"): 1,
        ("pnd_records", "pnc_id"): 3443, ("pnd_records", "probabilistic"): 1303, ("pnd_records", "ambiguous"): 6,
        ("pnd_records", "no_match"): 26, ("rocu_orders", "order_ref"): 46, ("rocu_offending", "order_ref"): 352,
        ("comparison", "pnc_id"): 330, ("comparison", "probabilistic"): 17, ("comparison", "no_match"): 2}
    ledger = decided[0]["audit_ledger"]
    read = ledger.loc[ledger["outcome"] == "read"].set_index("source")["rows"]
    per_source = decided[0]["linkage_quality"].groupby("source")["records"].sum()
    assert (per_source == read.reindex(per_source.index)).all()  # every row read is a person record counted


def test_clerical_decisions_are_counted_in_the_table_and_the_ledger(decided):
    before, after = _counts(decided[0]["linkage_quality"]), _counts(decided[1]["linkage_quality"])
    source = decided[3].split(":")[0]
    moved = {k: after[k] - before[k] for k in before if after[k] != before[k]}
    assert moved == {(source, "clerical_accept"): 1, (source, "ambiguous"): -1,
                     ("pnd_records", "clerical_reject"): 1, ("pnd_records", "probabilistic"): -1}
    ledger = decided[1]["audit_ledger"]
    reasons = ledger.set_index(["source", "reason"])["rows"]
    assert reasons[("pnd_records", "person_rejected_in_review")] == 1
    accepted = ledger.loc[ledger["reason"].str.endswith("_after_clerical_accept")]
    assert accepted["rows"].sum() == 1 and set(accepted["source"]) == {source}
    assert ledger["balances"].all()
    assert not decided[0]["audit_ledger"]["reason"].str.contains("clerical").any()


def test_missed_links_are_the_unlinked_records_probabilities():
    scores = pd.DataFrame({
        "source": ["pnd_records"] * 6, "link_status": ["linked", "ambiguous", "no_match", "no_match", "no_match",
                                                       "linked"],
        "link_basis": ["probabilistic", None, None, "clerical_reject", None, "clerical_accept"],
        "review": [False, True, True, False, False, False], "link_score": [0.99, 0.5, 0.3, 0.0, 0.0, 0.2],
        "p_listed": [0.99, 0.98, 0.4, 0.9, 0.0, 0.2], "match_weight": [20.0, 17.0, 5.0, 3.0, None, 2.0]})
    quality = pd.DataFrame({"source": ["pnd_records"] * 3, "basis": ["pnc_id", "probabilistic", "no_match"],
                            "records": [10, 1, 3]})

    def context(rule):
        q, _ = release.publish("linkage_quality", [release.linkage_quality(quality)], rule)
        s, _ = release.publish("linkage_summary", [release.linkage_summary(scores)], rule)
        return linkage_context(shown(q), shown(s))

    ctx = context(Rule(min_cell=1))   # nothing withheld
    # 0.98 (ambiguous) + 0.4 + 0.0 (no match); the rejected and the accepted records are decided.
    assert (ctx["missed"], ctx["missed_ambiguous"], ctx["missed_no_match"]) == ("1.4", "1.0", "0.4")
    assert (ctx["linked"], ctx["ambiguous"], ctx["no_match"], ctx["review"]) == ("2", "1", "3", "2")
    assert (ctx["accepted"], ctx["rejected"], ctx["no_candidate"], ctx["by_name"]) == ("1", "1", "1", "6")
    assert ctx["totals"] == ["10", "1", "3"]   # each source's total is its rows read, in the ledger
    assert ctx["bases"] == ["PNC ID", "probabilistic", "no match"] and ctx["rows"][0]["counts"] == ["10", "1", "3"]
    assert linkage_context(None, None) is None
    # Under the default rule, every count here but the 10 and the 14 is below 10: withheld, and
    # the estimate of links missed (a sum over the ambiguous and unmatched records) with them.
    ctx = context(Rule())
    assert ctx["rows"][0]["counts"] == ["10", MARKER, MARKER] and ctx["totals"] == ["10", MARKER, MARKER]
    assert ctx["linked"] == ctx["missed"] == ctx["missed_no_match"] == MARKER


def test_the_section_is_rendered_and_escaped(decided):
    """Both reports carry the section; a value rendered goes through the reports' escaping."""
    from conftest import released
    from test_report import FIGURES, PROVENANCE

    from strostudy.report import build_context

    cfg = defaults()
    cfg["disclosure"]["min_cell"] = 1   # the counts themselves, to check where they land
    base = {"cohort_flow": pd.DataFrame({"step": ["orders_listed", "full_windows"], "n_in": [1, 1], "n_out": [1, 0],
                                         "reason": ["", "window_outside_data_period"], "n": [0, 1]}),
            "prepost_tests": pd.DataFrame(columns=["measure", "category", "n_subjects", "total_before", "total_after",
                                                   "reduction_pct", "reduction_ci_low", "reduction_ci_high", "p_holm"]),
            "subject_windows": pd.DataFrame(columns=["subject_id", "category", "events_before", "harm_before",
                                                     "events_after", "harm_after"]),
            "its_models": pd.DataFrame(columns=["measure", "category", "model", "term", "note"]),
            "correlations": pd.DataFrame(columns=["level", "n", "p_value", "p_method", "rho"]),
            "audit_ledger": pd.DataFrame({"source": ["orders"], "outcome": ["read"], "reason": [""], "rows": [1],
                                          "balances": [True]}),
            "discrepancies": pd.DataFrame(columns=["kind", "source_pair"]),
            "unknown_codes": pd.DataFrame(columns=["cjs_code", "ho_class", "offences", "arrests"]),
            "events": pd.DataFrame({"harm_index": ["x"]}),
            "decisions": pd.DataFrame(columns=["rule", "test", "measure", "category", "significant", "estimate",
                                               "null_value", "ci_low", "ci_high", "p_value", "note", "claim"])}
    quality = decided[1]["linkage_quality"].assign(basis=lambda d: d["basis"].astype(str))
    scores = decided[2]
    figures = {**FIGURES, "linkage_scores": {**FIGURES["linkage_scores"], "caption": "<b>*scores*</b>"}}
    t = released({**base, "linkage_quality": quality, "linkage_scores": scores}, Rule(min_cell=1))
    md, html = render(build_context(t, cfg, PROVENANCE, figures))
    for text in (md, html):
        assert "Linkage quality" in text and "clerical: accepted" in text
        assert "1 clerical acceptances and 1 rejections were applied" in text
    assert "| PND | 3443 | 0 | 1302 | " in md  # one probabilistic link fewer: the rejected one
    assert "&lt;b&gt;\\*scores\\*&lt;/b&gt;" in md and "&lt;b&gt;*scores*&lt;/b&gt;" in html and "<b>*" not in html


def _released_linkage(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The linkage figure's inputs, as the release stage makes them (disclosure-checked)."""
    from strostudy import disclosure, release

    rule = disclosure.Rule()
    bins, _ = release.publish("linkage_score_bins", [release.linkage_score_bins(scores)], rule)
    summary, _ = release.publish("linkage_summary", [release.linkage_summary(scores)], rule)
    return bins, summary


def test_figure_bytes_are_deterministic(decided, tmp_path):
    from strostudy import figures, style

    cfg = defaults()
    style.apply(cfg["figures"])
    digests = []
    for i in range(2):
        written = style.save(figures.linkage_scores(*_released_linkage(decided[2]), cfg), tmp_path / f"f{i}",
                             cfg["figures"])
        digests.append([hashlib.sha256(p.read_bytes()).hexdigest() for p in written])
    assert digests[0] == digests[1]
    empty = decided[2].iloc[:0]
    fig = figures.linkage_scores(*_released_linkage(empty), cfg)
    assert "No record was linked" in " ".join(t.get_text() for t in fig.axes[0].texts)
