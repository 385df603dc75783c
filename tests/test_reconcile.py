"""Reconciliation against planted truth on the default seed and five others; the ledger."""

from types import SimpleNamespace

import pandas as pd
import pytest

from strostudy import tables
from strostudy.config import defaults
from strostudy.harm import audit_ledger
from strostudy.simulate import simulate, write_extracts
from strostudy.stages import run_all

EVENT_KINDS = {"arrest_date", "arrest_not_in_pnc", "arrest_not_in_pnd", "offence_wording"}


@pytest.fixture(scope="module", params=[20260625, 1, 2, 3, 4, 5])
def run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"seed{request.param}")
    write_extracts(simulate(seed=request.param), root / "raw", root / "truth")
    (root / "work" / "data").mkdir(parents=True)
    (root / "work" / "data" / "raw").symlink_to(root / "raw", target_is_directory=True)
    run_all(defaults(), root / "work", until="harm")
    w = root / "work"
    result = SimpleNamespace(**{name: tables.read(table, w / tables.path(table)) for name, table in (
        ("episodes", "orders"), ("outcomes", "row_outcomes"), ("discrepancies", "discrepancies"),
        ("events", "linked_events"))})
    truth = {p.stem: pd.read_csv(p) for p in (root / "truth").glob("*.csv")}
    return {"result": result, "truth": truth, "events": pd.read_csv(w / tables.path("events")),
            "ledger": pd.read_csv(w / tables.path("audit_ledger"), keep_default_na=False), "root": w}


def analysed(truth):
    ep = truth["episodes"]
    return ep.loc[ep["analysed"]]


def test_order_starts_match_truth(run):
    truth_ep = analysed(run["truth"]).set_index("subject_id")
    ep = run["result"].episodes.set_index("subject_id").reindex(truth_ep.index)
    assert ep["start_date"].dt.strftime("%Y-%m-%d").tolist() == truth_ep["start_date"].tolist()
    assert (ep["length_months"].astype(int) == truth_ep["length_months"]).all()


def test_arrests_of_analysed_subjects_match_truth(run):
    subjects = set(analysed(run["truth"])["subject_id"])
    t = run["truth"]["events"]
    t = t.loc[t["subject_id"].isin(subjects)]
    assert (t["planted_problem"].fillna("") == "").all()  # junk is never planted on analysed subjects
    e = run["events"].loc[run["events"]["subject_id"].isin(subjects)]
    key = ["subject_id", "event_date", "category", "harm_score"]
    truth_rows = t[key].sort_values(key).reset_index(drop=True)
    ours = e[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, truth_rows, check_dtype=False)
    # Which systems recorded each arrest is kept too.
    merged = t.merge(e, on=["subject_id", "event_date"], suffixes=("_t", ""))
    for s in ("pnc", "pnd", "rocu"):
        assert (merged[f"in_{s}"] == merged[f"in_{s}_t"]).mean() > 0.97, s


def test_every_planted_discrepancy_is_found(run):
    planted = run["truth"]["discrepancies"]
    found = run["result"].discrepancies

    def keys(frame):
        return set(zip(frame["subject_id"], frame["kind"],
                       frame["detail"].where(frame["kind"].isin(EVENT_KINDS), "")))

    missing = keys(planted) - keys(found)
    assert not missing, sorted(missing)[:10]
    assert len(keys(planted)) > 500


def test_ledger_balances(run):
    ledger = run["ledger"]
    assert ledger["balances"].all()
    for source, rows in ledger.groupby("source"):
        read = rows.loc[rows["outcome"] == "read", "rows"].sum()
        assert read == rows.loc[rows["outcome"] != "read", "rows"].sum() > 0, source
    assert set(ledger["source"]) == {"orders", "pnc_arrests", "pnd_records", "rocu_orders", "rocu_offending"}


def test_identity_problems_are_reported_not_guessed(run):
    ep = run["result"].episodes
    truth = run["truth"]["episodes"]
    unresolved = set(truth.loc[truth["exclusion_reason"] == "identity_unresolved", "subject_id"])
    assert set(ep.loc[ep["identity"].isin(["ambiguous", "unmatched"]), "subject_id"]) == unresolved
    assert all(s.startswith("U") for s in unresolved)


def test_interim_and_full_collapse_to_one_episode(run):
    ep = run["result"].episodes
    truth = run["truth"]["episodes"]
    assert len(ep) == len(truth) == 114
    assert ep["has_interim"].sum() == truth["has_interim"].sum()


def test_ledger_counts_are_hand_checkable():
    outcomes = pd.DataFrame({"source": ["a", "a", "a", "b"], "outcome": ["kept", "merged", "quarantined", "kept"],
                             "reason": ["event", "dup", "bad_date", "event"]})
    ledger = audit_ledger(outcomes, {"a": 3, "b": 2})
    assert ledger.loc[ledger["source"] == "a", "balances"].all()
    assert not ledger.loc[ledger["source"] == "b", "balances"].any()  # 2 read, 1 accounted for
