"""An empty or tiny cohort is a result, not a crash: every stage writes its tables, the tests
that cannot run say so, the figures draw, and the report says plainly what could not be done."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest
from conftest import run_stages

from strostudy.config import check, defaults
from strostudy.its import its_models, summary
from strostudy.prepost import min_pairs
from strostudy.tables import FIGURES

# Data periods chosen on the default synthetic extracts (orders.csv start dates of a default run).
PERIODS = {
    # 7 orders have full one-year windows; none has a ROCU return, so every one is excluded.
    "all_excluded": ("2021-01-01", "2023-03-31", 12),
    # Two one-year windows fit only for an order starting on 2021-01-01, and none does.
    "no_full_windows": ("2020-01-01", "2022-01-01", 12),
    # One order (started 2018-08-17) has full two-year windows, then two (and 2018-12-26).
    "one_subject": ("2016-07-01", "2020-09-01", 24),
    "two_subjects": ("2016-07-01", "2021-01-01", 24),
}


def period_config(name: str) -> dict:
    cfg = copy.deepcopy(defaults())
    earliest, extraction, window = PERIODS[name]
    cfg["study"].update(earliest_reliable_date=earliest, extraction_date=extraction, window_months=window)
    check(cfg)
    return cfg


def run(default_dirs, tmp_path_factory, name: str) -> dict:
    work = tmp_path_factory.mktemp(name)
    processed = run_stages(default_dirs / "raw", work, period_config(name), until="report")
    out = {p.stem: pd.read_csv(p) for p in processed.glob("*.csv")}
    out["md"] = (work / "reports" / "stro" / "results.md").read_text()
    out["html"] = (work / "reports" / "stro" / "results.html").read_text()
    out["figures"] = {p.name: p.stat().st_size for p in (work / "figures" / "stro").glob("*")}
    return out


@pytest.fixture(scope="module", params=["all_excluded", "no_full_windows"])
def empty(request, default_dirs, tmp_path_factory):
    return request.param, run(default_dirs, tmp_path_factory, request.param)


@pytest.fixture(scope="module", params=["one_subject", "two_subjects"])
def tiny(request, default_dirs, tmp_path_factory):
    return int(request.param.startswith("two")) + 1, run(default_dirs, tmp_path_factory, request.param)


def test_an_empty_cohort_writes_every_table(empty):
    _, t = empty
    assert t["cohort_flow"]["n_out"].iloc[-1] == 0
    assert len(t["subject_windows"]) == 0 and "events_before" in t["subject_windows"]
    for name in ("its_summary", "its_fitted", "its_diagnostics"):
        assert name in t and len(t[name]) == 0
    assert (t["monthly_series"]["subjects_at_risk"] == 0).all()


def test_an_empty_cohort_marks_every_test_not_run(empty):
    _, t = empty
    tests = t["prepost_tests"]
    assert len(tests) == 2 * 5  # every measure x category of the config, still listed
    assert (tests["note"] == "not run: no analysed subjects").all()
    assert tests[["p_value", "p_holm", "p_exact", "reduction_pct"]].isna().all().all()
    assert (tests["n_subjects"] == 0).all() and not tests["significant_holm"].any()
    assert t["correlations"]["rho"].isna().all() and t["correlations"]["p_method"].str.startswith("not run").all()
    models = t["its_models"]
    assert (models["model"] == "none").all() and models["note"].str.startswith("not run").all()


def test_an_empty_cohort_still_draws_every_figure(empty):
    _, t = empty
    assert sorted(t["figures"]) == sorted(f"{n}.{e}" for n in FIGURES for e in ("png", "pdf"))
    assert all(size > 1000 for size in t["figures"].values())


def test_the_empty_report_says_why_and_claims_nothing(empty):
    name, t = empty
    md, html = t["md"], t["html"]
    statement = "No test could run: no order reached the analysed cohort"
    assert statement in md and statement in html
    assert md.index(statement) < md.index("## Headline")
    # The 7 excluded orders are fewer than the disclosure threshold: withheld, here as in the flow.
    why = ("but all were excluded (\\[c\\]: no ROCU return" if name == "all_excluded"
           else "none of the 114 orders listed")
    assert why in md
    for text in (md, html):
        assert "Every published figure is reproduced" not in text and "| figure | published |" not in text
        assert "No published figure" in text
    # The cohort flow and the data-quality sections are all there.
    flow_row = ("| excluded | no_rocu_return | \\[c\\] |" if name == "all_excluded"
                else "| outside data period | window_outside_data_period | 114 |")
    assert flow_row in md
    for section in ("## Ingest", "## Reconcile", "## Harm", "## Cohort", "## Provenance"):
        assert section in md
    assert "| pnc_arrests | read |" in md and "disagreements between sources" in md
    assert md.count("| Arrests | Overall | 0 | 0 | – |") == 1
    assert "no time-series model was fitted (not run: no analysed subjects)" in md


def test_a_tiny_cohort_runs_the_tests_it_can_and_says_they_are_powerless(tiny):
    n, t = tiny
    assert t["cohort_flow"]["n_out"].iloc[-1] == n
    tests = t["prepost_tests"]
    assert (tests["n_subjects"] == n).all()
    ran = tests.loc[tests["n_nonzero"] > 0]
    assert len(ran) and ran["p_value"].notna().all() and (ran["p_value"] > 0.05).all()
    exact = ran.loc[ran["p_method"] == "exact", "p_value"]
    assert len(exact) and (exact >= 2.0 ** (1 - n) - 1e-12).all()  # the smallest p n pairs can give
    assert ran["note"].str.contains(f"cannot reach p < 0.05 with fewer than {min_pairs(0.05)}").all()
    assert ran["reduction_ci_low"].isna().all() and ran["note"].str.contains("too few distinct subjects").all()
    assert not tests["significant_holm"].any()
    change = t["correlations"].set_index("level").loc["subject_change"]
    assert np.isnan(change["rho"]) and change["p_method"] == "not run: fewer than 3 pairs"


def test_the_tiny_report_claims_nothing_it_did_not_reproduce(tiny):
    n, t = tiny
    md = t["md"]
    # n (1 or 2) is below the disclosure threshold: the report says how few without the count.
    assert "Only \\[c\\] subjects were analysed: too few for the exact signed-rank test" in md
    assert f"Only {n} " not in md and "analysed, fewer than" not in md     # not narrowed down to 1-5
    assert md.index("Only ") < md.index("## Headline")
    assert "Every published figure is reproduced" not in md
    # Every figure of the tiny cohort that could be compared is withheld (too few people), and
    # the report says that the rest match, not that every figure does.
    assert re.search(r"\*\*Every published figure shown is reproduced\*\* \((\d+) withheld by disclosure control\)", md)
    assert int(re.search(r"\((\d+) withheld by disclosure control\)", md).group(1)) >= 3
    assert "| Orders analysed | 41 | \\[c\\] | withheld |" in md
    claim = next(line for line in md.splitlines() if line.startswith("| Arrests fell in every category"))
    # Its reductions are withheld (too few people), so whether it holds is withheld too: never a tick.
    assert "| \\[c\\] withheld |" in claim and "✓" not in claim


def test_its_skips_a_series_too_short_or_all_zero():
    cfg = copy.deepcopy(defaults())
    months = np.arange(-2, 2)
    short = pd.DataFrame({"month": months, "measure": "events", "category": "overall", "value": [3.0, 1, 2, 0],
                          "subjects_at_risk": 4})
    zero = short.assign(measure="harm", value=0.0)
    models, diagnostics, fitted = its_models(pd.concat([short, zero]), cfg)
    notes = models.set_index("measure")["note"]
    assert notes["events"] == "not run: fewer than 3 months before or after the order"
    assert notes["harm"] == "not run: the monthly series is all zero"
    assert diagnostics.empty and fitted.empty and summary(models, cfg).empty


def test_its_fits_only_the_placebos_inside_a_short_before_period():
    cfg = copy.deepcopy(defaults())  # every fake month leaving its.placebo_min_segment (6) months each side
    cfg["its"]["significance"] = "ar1"   # a series alone, with no subjects' series for cr2
    months = np.arange(-12, 12)
    y = np.where(months < 0, 8.0, 4.0) + (months % 3)
    monthly = pd.DataFrame({"month": months, "measure": "events", "category": "overall", "value": y,
                            "subjects_at_risk": 5})
    models, _, _ = its_models(monthly, cfg)
    assert set(models["placebo_month"].dropna()) == {-6}
    cfg["its"]["placebo_min_segment"] = 3
    models, _, _ = its_models(monthly, cfg)
    assert set(models["placebo_month"].dropna()) == set(range(-9, -2))
