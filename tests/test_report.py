"""What the report says, from tables built by hand: every tick comes from a headline row of the
decisions table and names its test; reductions are called changes only by their intervals,
with disagreements said; time-series statements come from decision rows (a missing one is
"not tested"); the plan and its deviations are shown; no clock time and no causal wording."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import released

from strostudy import plan, tables
from strostudy.config import defaults
from strostudy.decisions import combine, decision, frame
from strostudy.disclosure import Rule
from strostudy.prepost import correlations, prepost_decisions, prepost_tests
from strostudy.report import _verdict, build_context, claim_rows, evidence, its_statements, plan_context, render

FIX = Path(__file__).parent / "fixtures" / "r"
COHORT = pd.read_csv(FIX / "cohort_windows.csv")
PROVENANCE = {"files": [], "skipped": [], "config_yaml": "source: synthetic\n", "versions": {"strostudy": "0.1.0"},
              "commit": "abc123", "key_fingerprint": "b7d0282a1383"}
FIGURES = {n: {"md_src": f"../figures/{n}.png", "data_uri": "data:image/png;base64,AAAA", "caption": n}
           for n in tables.FIGURES}


def its_rows() -> list[dict]:
    """A few time-series decisions, as the its stage writes them (not all of them)."""
    return [decision("its_level", "events", "overall", significant=False, alpha=0.05, claim="level",
                     estimate=1.08, null_value=1, ci_low=0.8, ci_high=1.4, p_value=0.5),
            decision("its_slope", "events", "overall", significant=True, alpha=0.05, claim="slope",
                     estimate=0.88, null_value=1, ci_low=0.85, ci_high=0.91, p_value=1e-6),
            decision("ljungbox", "events", "overall", significant=True, alpha=0.05, claim="lb", p_value=0.01),
            decision("seasonality", "events", "overall", significant=False, alpha=0.05, claim="season",
                     p_value=0.6),
            decision("placebo", "events", "overall", significant=True, alpha=0.05, claim="placebo", p_value=0.02),
            decision("its_slope", "harm", "overall", significant=False, alpha=0.05, claim="slope",
                     estimate=0.97, null_value=1, ci_low=0.9, ci_high=1.05, p_value=0.4)]


@pytest.fixture(scope="module")
def report_tables():
    cfg = defaults()
    cfg["prepost"]["bootstrap_resamples"] = 999
    tests = prepost_tests(COHORT, cfg)
    corr = correlations(COHORT)
    decided = combine(prepost_decisions(tests, corr, COHORT, cfg), frame(its_rows()), alpha=0.05)
    flow = pd.DataFrame({"step": ["orders_listed", "full_windows", "exclusions"], "n_in": [114, 114, 49],
                         "n_out": [114, 49, 41], "reason": ["", "window_outside_data_period", "no_rocu_return"],
                         "n": [0, 65, 8]})
    models = pd.DataFrame({"measure": ["events"], "category": ["overall"], "model": ["segmented_quasipoisson"],
                           "term": ["post"], "estimate": [0.1], "se": [0.2], "se_type": ["model"], "ci_low": [-0.3],
                           "ci_high": [0.5], "p_value": [0.6]})
    # These tests are about what the report says; disclosure control is tested in test_release.
    cfg["disclosure"]["min_cell"] = 1
    return cfg, released({"cohort_flow": flow, "prepost_tests": tests, "subject_windows": COHORT,
                          "correlations": corr, "decisions": decided,
                 "its_summary": pd.DataFrame(), "its_models": models,
                 "audit_ledger": pd.DataFrame({"source": ["orders"], "outcome": ["read"], "reason": [""],
                                               "rows": [143], "balances": [True]}),
                 "discrepancies": pd.DataFrame(columns=["kind", "source_pair"]),
                 "unknown_codes": pd.DataFrame(columns=["cjs_code", "ho_class", "offences", "arrests"]),
                 "events": pd.DataFrame({"harm_index": ["Cambridge Crime Harm Index 2020"]})}, Rule(min_cell=1))


def rendered(cfg, t, plan_info=None) -> tuple[str, str]:
    return render(build_context(t, cfg, PROVENANCE, FIGURES, plan_info))


def test_every_tick_is_a_headline_row_and_names_its_test(report_tables):
    cfg, t = report_tables
    heads = t["decisions"].loc[t["decisions"]["test"] == "headline"]
    claims = claim_rows(t["decisions"], {"significance": {}})
    assert [c["claim"] for c in claims] == list(heads["claim"])
    assert [c["holds"] for c in claims] == list(heads["significant"])
    by_claim = {c["claim"]: c for c in claims}
    vs = by_claim[heads.loc[heads["measure"] == "harm_vs_events", "claim"].iloc[0]]
    assert vs["backed_by"] == "reduction_harm_minus_events_overall" and vs["holds"]
    assert vs["evidence"].startswith("estimate 27.2, interval ")
    harm_all = by_claim[heads.loc[heads["measure"] == "harm", "claim"].iloc[0]]
    assert not harm_all["holds"]  # harm/violence: its interval includes no change
    assert harm_all["backed_by"].split(", ") == [f"reduction_harm_{c}" for c in
                                                 ("overall", "modern_slavery", "violence", "drugs", "other")]
    assert "violence" in harm_all["note"] and "disagree" in harm_all["note"]
    events_trend = by_claim[heads.loc[heads["measure"] == "events_trend", "claim"].iloc[0]]
    assert events_trend["holds"] and events_trend["backed_by"] == "its_slope_events_overall"
    assert "rate ratio 0.88" in events_trend["evidence"]
    md, html = rendered(cfg, t)
    for c in claims:
        mark = "✓ holds" if c["holds"] else "✗ does not hold"
        assert f"| {mark} | {c['backed_by']} |" in md
    assert html.count("✓ holds") == sum(c["holds"] for c in claims)
    assert md.count("✗ does not hold") == sum(not c["holds"] for c in claims)


def test_a_tick_follows_the_headline_row_not_the_tests(report_tables):
    _, t = report_tables
    flipped = t["decisions"].copy()
    row = (flipped["test"] == "headline") & (flipped["measure"] == "harm_vs_events")
    flipped.loc[row, "significant"] = False
    claims = claim_rows(flipped, {"significance": {}})
    assert [c["holds"] for c in claims if "by more than arrests" in c["claim"]] == [False]


def test_untested_headlines_and_published_findings(report_tables):
    _, t = report_tables
    no_its = combine(t["decisions"].loc[t["decisions"]["test"].isin(["wilcoxon", "reduction", "spearman"])],
                     alpha=0.05)
    claims = claim_rows(no_its, {"significance": {"harm_trend_x": 1, "events_harm_correlation":
                                                  "positive_significant"}})
    trend = [c for c in claims if "Monthly harm" in c["claim"]][0]
    assert not trend["holds"] and trend["backed_by"] == "its_slope_harm_overall"
    assert trend["note"] == "not tested: its_slope_harm_overall was not run"
    assert [c["published"] for c in claims if "Spearman" in c["claim"]] == ["positive significant"]


def test_a_reduction_is_a_change_only_by_its_interval(report_tables):
    _, t = report_tables
    rules = {r["rule"]: {**r, "note": ""} for r in t["decisions"].to_dict("records")}
    said = _verdict(rules, "harm", "violence", 0.05)
    assert said.startswith("interval includes no change; Wilcoxon (Holm p = ")
    assert said.endswith("disagrees: it finds a change")
    assert _verdict(rules, "events", "overall", 0.05) == "fell: interval above no change"
    assert _verdict(rules, "harm", "acquisitive", 0.05) == "not tested"


def test_mann_kendall_is_described_not_decided_by_default():
    """With its.mann_kendall: none (A65) the report states the test from its_models as a
    description, saying that no claim rests on it; with no models it is 'not tested'."""
    from strostudy.report import mann_kendall_line

    models = pd.DataFrame({"measure": ["events"] * 3, "category": ["overall"] * 3,
                           "model": ["mann_kendall", "mann_kendall", "theil_sen"], "term": ["S", "S", "slope"],
                           "estimate": [-154.0, -154.0, -0.29], "se_type": ["classical", "hamed_rao", "model"],
                           "ci_low": [np.nan, np.nan, -0.43], "ci_high": [np.nan, np.nan, -0.17],
                           "p_value": [1.2495e-4, 1.2495e-4, np.nan], "n": [24, 24, 24]})
    line = mann_kendall_line(models, "events")
    assert line.startswith("Mann–Kendall trend test after the order (reported, not a decision")
    assert "S = -154 over 24 months, p = 0.0001" in line and "Theil–Sen slope -0.29 a month (-0.43 to -0.17)" in line
    assert mann_kendall_line(models, "harm") == ""
    d = pd.DataFrame(columns=["rule", "test", "measure", "category", "significant", "estimate", "null_value",
                              "ci_low", "ci_high", "p_value", "note", "claim", "alpha"])
    lines = its_statements(d, ["events"], models)[0]["lines"]
    assert lines[3] == line and lines[0].endswith("(its_level_events_overall was not run).")


def test_time_series_statements_come_from_decision_rows(report_tables):
    _, t = report_tables
    statements = {s["measure"]: s["lines"] for s in its_statements(t["decisions"], ["events", "harm"])}
    events, harm = statements["Arrests"], statements["Harm"]
    assert events[0] == "Level change at the order date: no significant change (rate ratio 1.08, interval 0.8 " \
                        "to 1.4, p = 0.5000)."
    assert events[1].startswith("Change of slope at the order date: a significant fall (rate ratio 0.88")
    assert events[2] == "Trend after the order: not tested (its_posttrend_events_overall was not run)."
    assert events[4].startswith("In-time placebo (fake order dates in the before period): a change at fake "
                                "order dates, where none should be")
    assert events[5].startswith("Residual autocorrelation (Ljung–Box): present")
    assert events[6] == "Seasonality: not detected (p = 0.6000)."
    assert harm[0] == "Level change at the order date: not tested (its_level_harm_overall was not run)."
    assert harm[1].startswith("Change of slope at the order date: no significant change")


def test_evidence_shows_open_interval_ends():
    row = {"estimate": -3.0, "null_value": 0.0, "ci_low": float("-inf"), "ci_high": -1.5, "p_value": 0.00002}
    assert evidence(row) == "estimate -3, interval −∞ to -1.5, p < 0.0001"


def test_the_plan_and_its_deviations_are_shown(report_tables, tmp_path):
    cfg, t = report_tables
    md, html = rendered(cfg, t, plan_context(None, cfg))
    for text in (md, html):
        assert "No plan was frozen" in text
        assert "its.significance" in text and "its.placebo_months" in text  # recorded before plans existed
    path = tmp_path / "analysis_plan.yaml"
    frozen = plan.freeze(defaults(), now=datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
    path.write_text(plan.dump(frozen))
    used = defaults()
    used["prepost"]["bootstrap_resamples"] = 999
    info = plan_context(str(path), used)
    assert info["deviations"] == [{"key": "prepost.bootstrap_resamples", "planned": "9999", "used": "999"}]
    md, html = rendered(used, t, info)
    assert f"Analysis plan frozen 2026-11-23T08:00:00Z (strostudy 0.1.0), SHA-256 `{frozen['sha256']}`" in md
    assert "| prepost.bootstrap_resamples | 9999 | 999 |" in md
    assert "edited after it was frozen" not in md
    assert plan_context(str(path), defaults())["deviations"] == []
    path.write_text(plan.dump({**frozen, "sha256": "`" + "0" * 63}))
    hostile = plan_context(str(path), defaults())
    assert hostile["sha256"] == "(not a SHA-256)" and not hostile["hash_ok"]
    md, html = rendered(cfg, t, hostile)
    assert "**The plan file was edited after it was frozen" in md and "edited after it was frozen" in html


def test_the_report_text_is_the_same_on_every_run(report_tables):
    cfg, t = report_tables
    first, second = rendered(cfg, t), rendered(cfg, t)
    assert first == second
    assert "run date" not in first[0] and "run date" not in first[1]


CAUSAL = re.compile(r"\b(the order|orders?|STROs?) (reduced|cut|lowered|caused|prevented|worked)\b|"
                    r"\b(effect|impact) of (the|an) order\b|\bbecause of the order\b", flags=re.I)


NEGATED = re.compile(r"\b(not|cannot|no)\b", flags=re.I)


def causal_sentences(text: str) -> list[str]:
    """Sentences with causal wording that do not deny it ("they do not show that the order caused them")."""
    return [s for s in re.split(r"(?<=[.!?])\s+|\n", text) if CAUSAL.search(s) and not NEGATED.search(s)]


def test_no_causal_language(report_tables):
    cfg, t = report_tables
    for text in rendered(cfg, t):
        assert causal_sentences(text) == []
        assert "the order caused them" in text  # the limitation that denies it is there (and allowed)
    assert causal_sentences("Arrests fell after the order. The order reduced harm.") == ["The order reduced harm."]
    assert not any(causal_sentences(claim) for claim in t["decisions"]["claim"])
