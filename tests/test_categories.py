"""Config drives the categories: one added or renamed in config.yaml reaches every table,
figure and the report, and per subject the categories sum to overall (nothing is lost)."""

import copy

import pandas as pd
import pytest
from conftest import run_stages

from strostudy.config import defaults

COLS = ["events_before", "events_after", "harm_before", "harm_after"]


def with_categories(categories):
    cfg = copy.deepcopy(defaults())
    cfg["categories"] = categories
    return cfg


def assert_categories_sum_to_overall(windows):
    overall = windows.loc[windows["category"] == "overall"].set_index("subject_id")[COLS]
    parts = windows.loc[windows["category"] != "overall"].groupby("subject_id")[COLS].sum()
    pd.testing.assert_frame_equal(parts.reindex(overall.index), overall, check_dtype=False)


@pytest.fixture(scope="module")
def acquisitive(default_dirs, tmp_path_factory):
    cats = copy.deepcopy(defaults()["categories"])
    default = cats.pop("default")
    cats["acquisitive"] = {"ho_groups": ["THEFT", "BURGLARY", "ROBBERY"]}
    cats["default"] = default
    work = tmp_path_factory.mktemp("acquisitive")
    processed = run_stages(default_dirs / "raw", work, with_categories(cats), until="report")
    return work, {p.stem: pd.read_csv(p) for p in processed.glob("*.csv")}


def test_an_added_category_reaches_every_table(acquisitive, processed):
    work, t = acquisitive
    order = ["overall", "modern_slavery", "violence", "drugs", "acquisitive", "other"]
    assert list(dict.fromkeys(t["subject_windows"]["category"])) == order
    assert list(dict.fromkeys(t["prepost_tests"]["category"])) == order
    assert set(t["monthly_series"]["category"]) == set(order)
    assert_categories_sum_to_overall(t["subject_windows"])
    # Theft, burglary and robbery arrests left "other" for the new category; the totals stand.
    base = processed["prepost_tests"].set_index(["measure", "category"])
    new = t["prepost_tests"].set_index(["measure", "category"])
    assert new.loc[("events", "overall"), "total_before"] == base.loc[("events", "overall"), "total_before"] == 210
    moved = new.loc[("events", "acquisitive"), "total_before"]
    assert moved > 0
    assert new.loc[("events", "other"), "total_before"] == base.loc[("events", "other"), "total_before"] - moved
    report = (work / "reports" / "stro" / "results.md").read_text()
    assert "| Arrests | Acquisitive |" in report


def test_a_renamed_category_keeps_every_arrest(default_dirs, tmp_path, processed):
    cats = copy.deepcopy(defaults()["categories"])
    cats = {("fraud" if k == "drugs" else k): v for k, v in cats.items()}
    cats["fraud"] = {**cats["fraud"], "label": "Fraud (renamed)"}
    folder = run_stages(default_dirs / "raw", tmp_path, with_categories(cats), until="prepost")
    windows = pd.read_csv(folder / "subject_windows.csv")
    tests = pd.read_csv(folder / "prepost_tests.csv").set_index(["measure", "category"])
    assert list(dict.fromkeys(windows["category"])) == ["overall", "modern_slavery", "violence", "fraud", "other"]
    assert_categories_sum_to_overall(windows)
    base = processed["prepost_tests"].set_index(["measure", "category"])
    assert tests.loc[("events", "fraud"), "total_before"] == base.loc[("events", "drugs"), "total_before"]
    assert tests.loc[("events", "overall"), "total_before"] == 210


def test_default_categories_sum_to_overall(processed):
    assert_categories_sum_to_overall(processed["subject_windows"])


def test_stale_events_stop_with_one_line(processed, default_dirs, tmp_path):
    """events.csv categorised under an old config is not silently dropped by the cohort."""
    from strostudy.cohort import subject_windows
    from strostudy.errors import StrostudyError

    windowed = pd.DataFrame({"subject_id": ["S0000000000000001"], "category": ["drugs"], "window": ["before"],
                             "harm_score": [1.0]})
    cohort = pd.DataFrame({"subject_id": ["S0000000000000001"], "analysed": [True]})
    cats = {"violence": {"ho_groups": ["VIOLENCE AGAINST THE PERSON"]}, "default": "other"}
    with pytest.raises(StrostudyError, match="categories drugs .* re-run the workflow from the harm stage"):
        subject_windows(windowed, cohort, cats)
