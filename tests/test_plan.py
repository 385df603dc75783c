"""The frozen analysis plan: what it holds, its hash, the deviations it reveals, and the
command's refusals (overwriting without --force; freezing after real extracts were read)."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime

import pytest
import yaml

from strostudy import plan, tables
from strostudy.cli import main
from strostudy.config import defaults

WHEN = datetime(2026, 11, 23, 9, 30, 5, tzinfo=UTC)


def test_the_plan_holds_the_analysis_sections_only():
    cfg = defaults()
    picked = plan.choices(cfg)
    assert list(picked) == ["study", "ingest", "reconcile", "harm", "categories", "cohort", "prepost", "its"]
    for left_out in ("source", "seed", "synthetic_orders", "scenario", "figures", "calibrate"):
        assert left_out in cfg and left_out not in picked
    frozen = plan.freeze(cfg, now=WHEN, config_file="config.yaml")
    assert frozen["frozen_utc"] == "2026-11-23T09:30:05Z" and frozen["strostudy_version"] == "0.1.0"
    assert frozen["sha256"] == plan.digest(picked) and frozen["replaces"] == []


def test_canonical_json_hand_worked():
    config = {"source": "extracts", "study": {"b": 1, "a": "x"}, "categories": {"z": {"q": [2, 1]}, "default": "o"}}
    # Sorted keys, no spaces; the categories keep their order (as [key, value] pairs).
    expected = b'{"categories":[["z",{"q":[2,1]}],["default","o"]],"study":{"a":"x","b":1}}'
    assert plan.canonical(plan.choices(config)) == expected
    assert plan.digest(plan.choices(config)) == hashlib.sha256(expected).hexdigest()


def test_the_hash_follows_choices_not_layout():
    cfg = defaults()
    base = plan.digest(plan.choices(cfg))
    shuffled = copy.deepcopy(cfg)
    shuffled["study"] = dict(reversed(list(cfg["study"].items())))  # key order of a mapping: not a choice
    assert plan.digest(plan.choices(shuffled)) == base
    figures_only = copy.deepcopy(cfg)
    figures_only["figures"]["dpi"] = 72  # not an analysis choice
    figures_only["seed"] = 1
    assert plan.digest(plan.choices(figures_only)) == base
    reordered = copy.deepcopy(cfg)
    cats = reordered["categories"]
    reordered["categories"] = {k: cats[k] for k in ["violence", "modern_slavery", "drugs", "default"]}
    assert plan.digest(plan.choices(reordered)) != base  # earlier categories win (A19): order is a choice
    changed = copy.deepcopy(cfg)
    changed["prepost"]["alternative"] = "less"
    assert plan.digest(plan.choices(changed)) != base


def test_the_plan_file_round_trips_and_an_edit_breaks_its_hash(tmp_path):
    path = tmp_path / "analysis_plan.yaml"
    path.write_text(plan.dump(plan.freeze(defaults(), now=WHEN)))
    read = plan.read(path)
    assert read["hash_ok"] and plan.deviations(read, defaults()) == []
    edited = yaml.safe_load(path.read_text())
    edited["choices"]["study"]["alpha"] = 0.1
    path.write_text(yaml.safe_dump(edited, sort_keys=False))
    assert not plan.read(path)["hash_ok"]
    path.write_text("- not a plan\n")
    with pytest.raises(plan.StrostudyError, match="is not a frozen analysis plan"):
        plan.read(path)


def test_deviations_list_every_differing_key():
    frozen = plan.freeze(defaults(), now=WHEN)
    used = defaults()
    used["prepost"]["bootstrap_resamples"] = 999
    used["prepost"]["mu"] = 0.0  # 0 and 0.0 are the same number: no deviation
    used["cohort"]["require_rocu_return"] = False
    del used["harm"]["fallback_score"]
    used["categories"] = {k: used["categories"][k] for k in ["drugs", "modern_slavery", "violence", "default"]}
    used["categories"]["acquisitive"] = {"ho_groups": ["THEFT OFFENCES"]}
    found = {d["key"]: (d["planned"], d["used"]) for d in plan.deviations(frozen, used)}
    assert found == {
        "prepost.bootstrap_resamples": (9999, 999),
        "cohort.require_rocu_return": (True, False),
        "harm.fallback_score": (0, plan.ABSENT),
        "categories (order)": (["modern_slavery", "violence", "drugs", "default"],
                               ["drugs", "modern_slavery", "violence", "default", "acquisitive"]),
        "categories.acquisitive": (plan.ABSENT, {"ho_groups": ["THEFT OFFENCES"]}),
    }
    bool_for_int = defaults()
    bool_for_int["its"]["hac_lags"] = True
    assert [d["key"] for d in plan.deviations(frozen, bool_for_int)] == ["its.hac_lags"]


def test_the_recorded_deviations_are_the_two_post_hoc_changes_then_issue_12s():
    recorded = plan.recorded_deviations()
    assert [d["key"] for d in recorded] == ["its.significance", "its.placebo_months", "its.significance",
                                            "its.placebo_months", "reconcile.duplicate_tolerance_days",
                                            "prepost.reduction_interval", "its.primary.harm", "its.mann_kendall",
                                            "its.significance", "comparison.standard_errors",
                                            "comparison.naive_inference"]
    for d in recorded:
        assert {"date", "key", "before", "after", "why", "after_seeing_results"} <= set(d)
    # the two made after the first fits of the study's analysis; issue 12's from simulations only
    assert [d["after_seeing_results"] for d in recorded] == [True, True] + [False] * 9
    assert recorded[1]["before"] == "[-18, -12]" and recorded[1]["after"] == "[-16, -12, -8]"
    assert recorded[2]["before"] == "both" and recorded[3]["before"] == "[-16, -12, -8]"


# --------------------------------------------------------------------------- the command


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_freeze_writes_then_refuses_to_overwrite_without_force(workdir, capsys):
    assert main(["plan", "freeze"]) == 0
    path = workdir / tables.path("analysis_plan")
    first = plan.read(path)
    assert first["hash_ok"] and first["config_file"] == "package defaults"
    assert main(["plan", "freeze"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("strostudy: analysis_plan.yaml: a plan is already frozen") and "--force" in err[-1]
    assert plan.read(path)["frozen_utc"] == first["frozen_utc"]  # untouched
    assert main(["plan", "freeze", "--force"]) == 0
    second = plan.read(path)
    assert second["replaces"] == [{"sha256": first["sha256"], "frozen_utc": first["frozen_utc"]}]


def test_freeze_uses_the_config_and_out_given(workdir):
    (workdir / "study.yaml").write_text("prepost:\n  alternative: less\n")
    assert main(["plan", "freeze", "--config", "study.yaml", "--out", "plans/p.yaml"]) == 0
    frozen = plan.read(workdir / "plans" / "p.yaml")
    assert frozen["choices"]["prepost"]["alternative"] == "less" and frozen["config_file"] == "study.yaml"


def _ingested(workdir, synthetic: bool):
    interim = workdir / tables.path("rows_read")
    interim.parent.mkdir(parents=True)
    interim.write_text("{}")
    (workdir / tables.path("extract_mark")).write_text(json.dumps({"synthetic_mark": synthetic}))


def test_freeze_refuses_once_real_extracts_were_read(workdir, capsys):
    _ingested(workdir, synthetic=False)
    (workdir / "config.yaml").write_text("source: extracts\n")
    assert main(["plan", "freeze"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds what ingest read from real extracts" in err[0]
    assert not (workdir / tables.path("analysis_plan")).exists()
    assert main(["plan", "freeze", "--force"]) == 1  # --force does not override this


def test_a_synthetic_run_does_not_block_freezing(workdir):
    _ingested(workdir, synthetic=True)
    assert plan.real_extracts_read(workdir, defaults()) == ""
    assert main(["plan", "freeze"]) == 0
    real = {**defaults(), "source": "extracts"}
    assert plan.real_extracts_read(workdir, real) != ""  # the same folder read as real extracts
