"""Studies as a dimension of the workflow (issue 16): each study's settings, its episodes, and a
multi-order run in which a person holding two orders of different types is linked once and
counted in both studies."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO

from strostudy import tables
from strostudy.config import defaults, load
from strostudy.errors import StrostudyError
from strostudy.simulate import simulate, write_extracts
from strostudy.stages import run_all
from strostudy.studies import canonical_order_type, categories, names, resolve, study_episodes

THREE = REPO / "docs" / "examples" / "three_studies.yaml"


def test_the_default_has_one_study_whose_categories_are_todays():
    cfg = defaults()
    assert names(cfg) == ["stro"]
    stro = resolve(cfg, "stro")
    # breach_category: false keeps breaches in modern slavery, as the published study counted them
    assert stro["categories"] == cfg["categories"]
    assert list(stro["categories"]) == ["modern_slavery", "violence", "drugs", "default"]
    assert stro["study"]["order_types"] == ["STRO"] and stro["study"]["name"] == "stro"
    assert stro["study"]["window_months"] == cfg["study"]["window_months"] == 24


def test_a_study_of_another_type_takes_its_target_and_breach_categories_and_overrides():
    cfg = load(THREE)
    assert names(cfg) == ["stro", "shpo", "dapo"]
    shpo = resolve(cfg, "shpo")
    assert list(shpo["categories"]) == ["breach", "sexual", "modern_slavery", "violence", "drugs", "default"]
    assert shpo["categories"]["breach"] == {"cjs_codes": ["SX03220", "SX03221"]}
    assert shpo["categories"]["sexual"] == {"ho_groups": ["SEXUAL OFFENCES"]}
    assert shpo["cohort"]["exclusions"] == ["identity_unresolved", "no_usable_start_date", "order_ended_in_window"]
    assert shpo["cohort"]["require_rocu_return"] is False
    # the base config is not changed by resolving a study
    assert cfg["cohort"]["require_rocu_return"] is True
    # a study's own categories block wins; a window of its own too
    cfg["studies"]["shpo"] |= {"categories": {"sexual": {"ho_groups": ["SEXUAL OFFENCES"]}, "default": "other"},
                               "window_months": 12}
    again = resolve(cfg, "shpo")
    assert list(again["categories"]) == ["sexual", "default"] and again["study"]["window_months"] == 12


def test_a_target_category_the_config_defines_keeps_the_configs_definition():
    cfg = defaults()
    cfg["categories"]["modern_slavery"] = {"cjs_prefixes": ["MS15"]}
    assert categories(cfg, "stro")["modern_slavery"] == {"cjs_prefixes": ["MS15"]}


def test_unknown_study_and_bad_names_are_one_line_errors():
    with pytest.raises(StrostudyError, match="study 'shpo' is not in the config's studies \\(stro\\)"):
        resolve(defaults(), "shpo")
    with pytest.raises(StrostudyError, match="'Bad Name' is not a study name"):
        names({"studies": {"Bad Name": {"order_types": ["STRO"]}}})


def test_order_types_are_read_as_the_packages_short_names():
    raw = pd.Series(["STRO", "Interim STRO", " interim  stro ", "Sexual harm prevention order", "shpo", "XYZ order",
                     None, "John Smith 01/02/1980", "=HYPERLINK(1)"])
    # free text the package does not know (a type, a blank, a name typed into the cell) never passes
    assert canonical_order_type(raw).tolist() == ["STRO", "STRO", "STRO", "SHPO", "SHPO", "OTHER", "OTHER", "OTHER",
                                                  "OTHER"]


def _episodes():
    day = pd.Timestamp
    return pd.DataFrame({
        "subject_id": ["S1", "S1", "S2", "S3"], "order_type": ["STPO", "STRO", "STRO", "SHPO"],
        "identity": ["pnc_id"] * 4, "start_date": [day("2019-03-01"), day("2018-01-10"), day("2020-05-05"),
                                                   day("2019-01-01")],
        "start_usable": [True] * 4,
        "start_earliest": [day("2019-03-01"), day("2018-01-10"), day("2020-05-05"), day("2019-01-01")],
        "n_orders": [1, 2, 1, 1], "has_interim": [False, True, False, False], "rocu_return": [True, True, False, False]})


def test_a_study_takes_its_types_one_episode_per_person_the_earliest():
    ep = _episodes()
    stro = study_episodes(ep, ["STRO"])
    assert stro["subject_id"].tolist() == ["S1", "S2"] and "order_type" not in stro
    both = study_episodes(ep, ["STRO", "STPO"]).set_index("subject_id")
    # S1 holds an STPO (2019) and an STRO (2018): one episode, from the STRO, counting all 3 orders
    assert both.loc["S1", "start_date"] == pd.Timestamp("2018-01-10")
    assert both.loc["S1", "n_orders"] == 3 and bool(both.loc["S1", "has_interim"])
    assert study_episodes(ep, ["SHPO"])["subject_id"].tolist() == ["S3"]
    assert study_episodes(ep, ["KCPO"]).empty


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """The three-study example on multi-order synthetic extracts, run in-process to the cohort."""
    root = tmp_path_factory.mktemp("three")
    cfg = load(THREE)
    extracts = simulate(order_types=cfg["synthetic_order_types"])
    write_extracts(extracts, root / "data" / "raw", root / "data" / "truth")
    run_all(cfg, root, until="cohort")
    return root


def test_two_orders_of_different_types_one_person_counted_in_both_studies(three):
    truth = pd.read_csv(three / tables.path("truth_episodes"))
    holders = truth.groupby("subject_id")["order_type"].agg(frozenset)
    two = holders.loc[holders.map(len) == 2]
    assert len(two) >= 5   # synthetic_two_order_share of each later type's orders
    episodes = tables.read("order_episodes", three / tables.path("order_episodes"))
    linked = episodes.groupby("subject_id")["order_type"].agg(frozenset)
    for subject, types in two.items():
        assert linked.get(subject) == types, subject     # one pseudonym, both order types
    for study, order_type in (("stro", "STRO"), ("shpo", "SHPO"), ("dapo", "DAPO")):
        orders = tables.read("orders", three / tables.path("orders", study))
        assert orders["subject_id"].is_unique
        mine = set(two.index[two.map(lambda t, o=order_type: o in t)])
        assert mine and mine <= set(orders["subject_id"])
        cohort = tables.read("cohort", three / tables.path("cohort", study))
        assert mine <= set(cohort["subject_id"])
        assert len(orders) == int((truth["order_type"] == order_type).sum()) - int(
            truth.loc[truth["order_type"] == order_type, "subject_id"].isna().sum())


def test_each_study_writes_its_own_folder_and_categories(three):
    for study in ("stro", "shpo", "dapo"):
        windows = pd.read_csv(three / tables.path("subject_windows", study))
        assert len(windows) > 0
    shpo = pd.read_csv(three / tables.path("subject_windows", "shpo"))
    assert {"breach", "sexual"} <= set(shpo["category"])
    assert "breach" not in set(pd.read_csv(three / tables.path("subject_windows", "stro"))["category"])
    # SHPO breaches are scored (SX03220: CCHI 2020 row 66.68.8.0, 10 days) and fall in `breach`
    events = pd.read_csv(three / tables.path("events", "shpo"))
    breaches = events.loc[events["matched_code"] == "SX03220"]
    assert len(breaches) > 0 and set(breaches["category"]) == {"breach"} and set(breaches["harm_score"]) == {10.0}


def test_the_example_config_is_valid_and_documented():
    text = Path(THREE).read_text()
    assert "make run CONFIGFILE=docs/examples/three_studies.yaml" in text
    assert set(yaml.safe_load(text)["studies"]) == {"stro", "shpo", "dapo"}


def test_a_report_names_its_studys_orders():
    from strostudy.report import order_words

    assert order_words(["SHPO"]) == "an order: Sexual harm prevention order (SHPO)"
    assert order_words(["STRO", "STPO"]) == ("an order: Slavery and trafficking risk order (STRO) or "
                                             "Slavery and trafficking prevention order (STPO)")
    assert order_words(["XYZ"]) == "an order: XYZ"


def test_a_study_with_its_own_harm_index_scores_its_arrests_on_it(default_dirs, tmp_path):
    """Two studies of the same orders, one on the curated CCHI table and one on another index
    (every score doubled, as a CSV): the second's arrests score twice the first's, the shared
    stages run once, and the rule reads the study's table (so editing it re-runs the study)."""
    from strostudy.offences import curated_weights
    from strostudy.studies import harm_file, resolve

    other = curated_weights()[["cjs_code", "ho_class", "title", "score"]].assign(
        score=lambda d: d["score"].astype(float) * 2)
    other.to_csv(tmp_path / "doubled.csv", index=False)
    cfg = load(None)
    cfg["studies"] = {"stro": {"order_types": ["STRO"]},
                      "doubled": {"order_types": ["STRO"], "harm": {"table": str(tmp_path / "doubled.csv"),
                                                                    "index_name": "Doubled CCHI",
                                                                    "short_name": "2x CCHI"}}}
    assert harm_file(cfg, "doubled") == [str(tmp_path / "doubled.csv")] and harm_file(cfg, "stro") == []
    assert resolve(cfg, "doubled")["harm"]["table"] == str(tmp_path / "doubled.csv")
    assert resolve(cfg, "doubled")["harm"]["arrest_score"] == cfg["harm"]["arrest_score"]  # the rest kept
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "raw").symlink_to((default_dirs / "raw").resolve(), target_is_directory=True)
    run_all(cfg, work, until="harm")
    a = tables.read("events", work / tables.path("events", "stro")).set_index("event_id")
    b = tables.read("events", work / tables.path("events", "doubled")).set_index("event_id")
    assert a.index.equals(b.index) and len(a) > 1000
    assert (b["harm_score"] == 2 * a["harm_score"]).all()
    assert set(b["harm_index"]) == {"Doubled CCHI"} and set(a["harm_index"]) == {"Cambridge Crime Harm Index 2020"}
