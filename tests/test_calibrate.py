"""The calibration harness and the decisions table: hand-worked headline claims, R's exact
binomial interval, targets and coverage, and the summary arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy import calibrate
from strostudy.config import defaults
from strostudy.decisions import combine, decision, frame, headlines

FIXTURES = Path(__file__).parent / "fixtures" / "r"
ALPHA = 0.05


def _boot(measure, category, est, low, high):
    return decision("reduction", measure, category, significant=low > 0 or high < 0, alpha=ALPHA, claim="",
                    estimate=est, ci_low=low, ci_high=high)


def _wilcoxon(measure, category, p):
    return decision("wilcoxon", measure, category, significant=p < ALPHA, alpha=ALPHA, claim="", p_value=p)


def _rows(harm_violence_low=-28.0, wilcoxon_violence_p=0.01):
    rows = []
    for cat in ("overall", "modern_slavery", "violence", "drugs", "other"):
        rows += [_boot("events", cat, 50.0, 30.0, 70.0), _wilcoxon("events", cat, 0.001)]
        low = harm_violence_low if cat == "violence" else 40.0
        rows += [_boot("harm", cat, 60.0, low, 94.0),
                 _wilcoxon("harm", cat, wilcoxon_violence_p if cat == "violence" else 0.001)]
    return frame(rows)


def test_headline_needs_every_interval_to_exclude_no_change():
    """harm/violence's interval -28% to 94% includes no change: the 'every category' claim
    fails, and its note names the category and the disagreement with Wilcoxon."""
    h = frame(headlines(_rows(), ALPHA)).set_index("rule")
    assert bool(h.loc["headline_events_all", "significant"]) is True
    assert h.loc["headline_events_all", "note"] == ""
    assert bool(h.loc["headline_harm_all", "significant"]) is False
    assert h.loc["headline_harm_all", "estimate"] == pytest.approx(4 / 5)
    assert h.loc["headline_harm_all", "note"] == ("interval includes no change: violence; "
                                                  "Wilcoxon (Holm) and the interval disagree: violence")
    ok = frame(headlines(_rows(harm_violence_low=5.0), ALPHA)).set_index("rule")
    assert bool(ok.loc["headline_harm_all", "significant"]) is True


def test_headline_from_a_missing_rule_is_not_claimed():
    h = frame(headlines(_rows(), ALPHA)).set_index("rule")
    assert bool(h.loc["headline_harm_vs_events_overall", "significant"]) is False
    assert h.loc["headline_harm_vs_events_overall", "note"] == \
        "not tested: reduction_harm_minus_events_overall was not run"


def test_headline_direction_uses_the_null_value():
    """A slope change is a rate ratio (null 1): 0.95 with p < alpha is downward, 1.05 is not;
    harm vs volume needs the difference's interval above zero."""
    base = _rows().to_dict("records")
    down = decision("its_slope", "harm", "overall", significant=True, alpha=ALPHA, claim="", estimate=0.95,
                    null_value=1.0, ci_low=0.92, ci_high=0.98, p_value=0.001)
    up = decision("its_slope", "events", "overall", significant=True, alpha=ALPHA, claim="", estimate=1.05,
                  null_value=1.0, ci_low=1.01, ci_high=1.09, p_value=0.01)
    diff = decision("reduction", "harm_minus_events", "overall", significant=True, alpha=ALPHA, claim="",
                    estimate=27.0, ci_low=12.0, ci_high=40.0)
    d = combine(frame(base), frame([down, up, diff]), alpha=ALPHA).set_index("rule")
    assert bool(d.loc["headline_harm_trend_overall", "significant"]) is True
    assert bool(d.loc["headline_events_trend_overall", "significant"]) is False
    assert bool(d.loc["headline_harm_vs_events_overall", "significant"]) is True
    assert d.loc["headline_harm_vs_events_overall", "note"] == "decided by reduction_harm_minus_events_overall"
    assert d.index.is_unique


def test_exact_interval_matches_r_binom_test():
    r = pd.read_csv(FIXTURES / "binom_exact.csv")
    low, high = calibrate._exact_ci(r["k"], r["n"])
    np.testing.assert_allclose(low, r["low"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(high, r["high"], rtol=1e-10, atol=1e-14)


def test_targets_only_where_the_truth_defines_one():
    d = frame([_boot("events", "overall", 50.0, 30.0, 70.0), _boot("harm", "violence", 60.0, -28.0, 94.0),
               decision("its_level", "events", "overall", significant=True, alpha=ALPHA, claim="", estimate=0.6,
                        null_value=1.0, ci_low=0.5, ci_high=0.7),
               decision("its_slope", "events", "overall", significant=False, alpha=ALPHA, claim="",
                        estimate=1.0, null_value=1.0, ci_low=0.98, ci_high=1.02),
               decision("its_level", "harm", "overall", significant=True, alpha=ALPHA, claim="", estimate=0.5,
                        null_value=1.0, ci_low=0.4, ci_high=0.6),
               _wilcoxon("events", "overall", 0.01)])
    effects = pd.DataFrame({"measure": ["events", "harm", "events", "harm"],
                            "category": ["overall", "violence", "violence", "overall"],
                            "true_rate_ratio": [0.6, 0.5, 0.6, 0.5]})
    t = calibrate.targets(d, effects, ["events"])  # harm modelled on log(1 + harm)
    assert t.iloc[0] == pytest.approx(40.0)   # 100 (1 - 0.6)
    assert t.iloc[1] == pytest.approx(50.0)
    assert t.iloc[2] == pytest.approx(0.6)    # a step on the count scale: the rate ratio itself
    assert t.iloc[3] == 1.0                   # no planted change of slope
    assert np.isnan(t.iloc[4]) and np.isnan(t.iloc[5])   # log(1 + harm) ratio, Wilcoxon: no target
    # With harm's primary model a count model (the default), its level change has a target too.
    assert calibrate.targets(d, effects, ["events", "harm"]).iloc[4] == pytest.approx(0.5)


def test_count_measures_follow_the_primary_models():
    cfg = defaults()
    assert calibrate.count_measures(cfg) == ["events", "harm"]
    cfg["its"]["primary"]["harm"] = "segmented_loglinear"
    assert calibrate.count_measures(cfg) == ["events"]


def test_summary_rates_and_coverage_by_hand():
    """Four reps: significant in 1 -> rate 0.25 with R's exact interval; 3 of 4 intervals hold
    the target -> coverage 0.75."""
    reps = pd.DataFrame({
        "scenario": "null", "rep": range(4), "seed": range(1, 5), "rule": "reduction_events_overall",
        "test": "reduction", "measure": "events", "category": "overall",
        "significant": [True, False, False, False], "estimate": [10.0, 2.0, -4.0, 0.0],
        "ci_low": [1.0, -5.0, -9.0, -6.0], "ci_high": [20.0, 8.0, 3.0, 7.0], "null_value": 0.0,
        "target": 0.0, "covered": [False, True, True, True], "note": ""})
    s = calibrate.summarise(reps).iloc[0]
    assert (s["n_reps"], s["rate"], s["mean_estimate"]) == (4, 0.25, 2.0)
    assert (s["n_intervals"], s["coverage"]) == (4, 0.75)
    low, high = calibrate._exact_ci(np.array([1]), np.array([4]))
    assert (s["rate_ci_low"], s["rate_ci_high"]) == (low[0], high[0])
    assert s["rate_ci_low"] == pytest.approx(0.00630946, abs=1e-8)  # binom.test(1, 4)
    assert s["rate_ci_high"] == pytest.approx(0.80587955, abs=1e-8)


def test_above_alpha_matches_r_binom_test_and_holm():
    """One-sided exact tests of each rule's rate against alpha, Holm-adjusted over the
    scenario's rules, as R: p <- sapply(h, function(k) binom.test(k, 1000, 0.05,
    alternative = "greater")$p.value); p.adjust(p, "holm") for h = 74, 69, 50, 20, 65.  Headline
    ticks and scenarios with an effect are not tested; the markdown marks the Holm flag."""
    hits = [74, 69, 50, 20, 65]
    rules = [f"rule_{i}" for i in range(5)]
    summary = pd.DataFrame({"scenario": "null", "rule": rules, "test": "did_all", "measure": "events",
                            "category": "overall", "n_reps": 1000, "rate": [h / 1000 for h in hits]})
    summary = pd.concat([summary, summary.iloc[:1].assign(rule="tick", test="headline"),
                         summary.iloc[:1].assign(scenario="effect")], ignore_index=True)
    got = calibrate.above_alpha(summary)
    assert got[["scenario", "rule"]].values.tolist() == [["null", r] for r in rules]
    np.testing.assert_allclose(got["p_above_alpha"], [0.000647616739995822, 0.005108727486328194,
                                                      0.520258942912680045, 0.999999712030800403,
                                                      0.020749899365538605], rtol=1e-10)
    np.testing.assert_allclose(got["p_holm"], [0.00323808369997911, 0.02043490994531278, 1, 1,
                                               0.06224969809661582], rtol=1e-10)
    low, high = calibrate._exact_ci(np.array(hits), np.full(5, 1000))
    full = summary.iloc[:5].assign(rate_ci_low=low, rate_ci_high=high, mean_estimate=1.0, target=np.nan,
                                   n_intervals=0, coverage=np.nan, coverage_ci_low=np.nan, coverage_ci_high=np.nan)
    text = calibrate.markdown(full)
    assert "`rule_0` | 7.4 **(above alpha, Holm)**" in text and "`rule_1` | 6.9 **(above alpha, Holm)**" in text
    assert "`rule_4` | 6.5 **(above alpha)** |" in text      # interval above 5%, not after Holm
    assert "`rule_2` | 5.0 |" in text


def test_chunks_cover_every_rep_once():
    cfg = {"calibrate": {"seed": 7, "chunk": 3, "reps": {"null": 7, "rtm": 0, "effect": 3}}}
    assert calibrate.chunks(cfg) == [("null", 0), ("null", 1), ("null", 2), ("effect", 0)]
    seeds = [calibrate.chunk_seeds(cfg, "null", k) for k in range(3)]
    assert seeds == [([7, 8, 9], 0), ([10, 11, 12], 3), ([13], 6)]


def test_unknown_scenario_is_one_line():
    from strostudy.cli import main

    assert main(["calibrate", "--scenario", "nope", "--reps", "2", "--out", "x"]) == 1


@pytest.mark.workflow
def test_a_rep_reproduces_through_the_workflow(tmp_path):
    """Done-when of issue 12: one rep re-run through the workflow (`strostudy simulate
    --scenario null --seed S`, then snakemake) makes the same decisions as its rows in
    calibration_reps.csv."""
    import subprocess
    import sys

    from conftest import REPO

    from strostudy.config import load

    seed = 11
    out = tmp_path / "cal"
    cli = [sys.executable, "-m", "strostudy.cli"]
    subprocess.run([*cli, "calibrate", "--scenario", "null", "--reps", "1", "--seed", str(seed), "--out", str(out),
                    "--config", str(REPO / "config.yaml")], check=True, capture_output=True)
    work = tmp_path / "work"
    subprocess.run([*cli, "simulate", "--scenario", "null", "--seed", str(seed), "--config", str(REPO / "config.yaml"),
                    "--raw-dir", str(work / "data" / "raw"), "--truth-dir", str(work / "data" / "truth")],
                   check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
                             "--cores", "2", "--quiet", "--config", "scenario=null", f"seed={seed}", "--",
                             "data/processed/stro/decisions.csv"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    workflow = pd.read_csv(work / "data" / "processed" / "stro" / "decisions.csv").set_index("rule")
    reps = pd.read_csv(out / "calibration_reps.csv").set_index("rule")
    assert reps["seed"].unique().tolist() == [seed]
    assert len(reps) == len(workflow) > 40
    assert reps.index.sort_values().tolist() == workflow.index.sort_values().tolist()
    joined = reps.merge(workflow, left_index=True, right_index=True, suffixes=("", "_wf"))
    assert (joined["significant"] == joined["significant_wf"]).all()
    np.testing.assert_array_equal(joined["estimate"].to_numpy(), joined["estimate_wf"].to_numpy())
    assert load(REPO / "config.yaml")["source"] == "synthetic"


@pytest.mark.workflow
def test_the_calibration_target_runs_chunks_as_jobs(tmp_path):
    """`snakemake calibration`: one job per chunk of reps, then the summary; the scenario
    named "null" survives the round trip through CSV (pandas would read it as missing)."""
    import subprocess
    import sys

    import yaml
    from conftest import REPO

    reps = {"published": 0, "null": 2, "rtm": 0, "incapacitation": 0, "calendar_shock": 0, "effect": 1}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"calibrate": {"seed": 5, "reps": reps, "chunk": 1}}))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                             "--cores", "2", "--quiet", "--", "calibration"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    chunks = sorted(p.relative_to(tmp_path / "data" / "calibration").as_posix()
                    for p in (tmp_path / "data" / "calibration").glob("*/chunk_*.csv"))
    assert chunks == ["effect/chunk_0.csv", "null/chunk_0.csv", "null/chunk_1.csv"]
    summary = pd.read_csv(tmp_path / "data" / "calibration" / "calibration.csv", keep_default_na=False,
                          na_values=[""])
    assert sorted(summary["scenario"].unique()) == ["effect", "null"]
    assert set(summary.loc[summary["scenario"] == "null", "n_reps"]) == {2}
    per_rep = pd.read_csv(tmp_path / "data" / "calibration" / "calibration_reps.csv", keep_default_na=False,
                          na_values=[""])
    assert sorted(per_rep.loc[per_rep["scenario"] == "null", "seed"].unique()) == [5, 6]
