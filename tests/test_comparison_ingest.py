"""The comparison pool and custody periods (issue 13): read, validated, linked, pseudonymised,
and every row accounted for, on hand-made rows added to the default extracts."""

import conftest
import pandas as pd
import pytest

from strostudy.config import defaults
from strostudy.simulate._independent import pnc_id

CFG = {**defaults(), "source": "extracts"}
COMPARISON_COLUMNS = ["comparison_ref", "pnc_id", "surname", "forenames", "date_of_birth", "index_date", "basis"]
CUSTODY_COLUMNS = ["pnc_id", "surname", "forenames", "date_of_birth", "start_date", "end_date", "kind"]
# Two people on no order list, with PNC IDs made by the simulator's own (independent) code.
PERSON_B, PERSON_C, STRANGER = pnc_id([2011, 2012, 2013], [8_000_001, 8_000_002, 8_000_003])


@pytest.fixture(autouse=True)
def _pseudonymisation_key(monkeypatch):
    monkeypatch.setenv("STROSTUDY_PSEUDONYM_KEY", conftest.TEST_KEY)


def _write(path, columns, rows):
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


@pytest.fixture
def hand_case(raw):
    """Person A holds an order; B (two arrests on PNC, one with two offences) is listed twice;
    C has no PNC ID on the comparison list but one on a PND record with the same name and DOB."""
    orders = pd.read_csv(raw / "orders.csv", dtype=str, keep_default_na=False)
    a = orders.loc[orders["pnc_id"].str.len() > 0].iloc[0]
    pnc = pd.read_csv(raw / "pnc_arrests.csv", dtype=str, keep_default_na=False)
    extra = pd.DataFrame({"pnc_id": [PERSON_B] * 3, "asn": ["19/9990001", "19/9990001", "20/9990002"],
                          "arrest_date": ["05/06/2019", "05/06/2019", "10/02/2020"],
                          "cjs_code": ["MD71230", "OF61016", "OF61016"]})
    pd.concat([pnc, extra], ignore_index=True).fillna("").to_csv(raw / "pnc_arrests.csv", index=False)
    pnd = pd.read_csv(raw / "pnd_records.csv", dtype=str, keep_default_na=False)
    c_row = {c: "" for c in pnd.columns} | {"pnd_ref": "PND999001", "surname": "Quinlan", "forenames": "Bartholomew",
                                            "date_of_birth": "1983-04-17", "pnc_id": PERSON_C,
                                            "event_datetime": "2019-11-02T10:00:00",
                                            "offence_description": "common assault"}
    pd.concat([pnd, pd.DataFrame([c_row])], ignore_index=True).to_csv(raw / "pnd_records.csv", index=False)
    _write(raw / "comparison.csv", COMPARISON_COLUMNS, [
        ["CMP/1", a["pnc_id"], a["surname"], a["forenames"], a["date_of_birth"], "01/01/2019", "refused"],
        ["CMP/2", PERSON_B, "Okafor", "Chidi", "03/03/1990", "01/01/2020", "withdrawn"],
        ["CMP/3", PERSON_B, "Okafor", "Chidi", "03/03/1990", "01/03/2019", "refused"],
        ["CMP/4", "", "Quinlan", "Bartholomew", "17/04/1983", "15/07/2019", "arrested_no_order"],
        ["CMP/5", "", "Nobody", "Atall", "01/01/1970", "15/07/2019", "refused"],
        ["CMP/6", PERSON_B, "Okafor", "Chidi", "03/03/1990", "", "refused"],
    ])
    _write(raw / "custody.csv", CUSTODY_COLUMNS, [
        [PERSON_B, "Okafor", "Chidi", "03/03/1990", "01/08/2019", "30/09/2019", "remand"],
        [a["pnc_id"], a["surname"], a["forenames"], a["date_of_birth"], "01/02/2020", "", "deported"],
        [STRANGER, "Else", "Someone", "01/01/1980", "01/02/2020", "01/03/2020", "sentence"],
        [PERSON_B, "Okafor", "Chidi", "03/03/1990", "01/05/2020", "01/04/2020", "sentence"],
    ])
    return raw


def _reasons(outcomes, source):
    rows = outcomes.loc[outcomes["source"] == source].sort_values("source_row")
    return dict(zip(rows["source_row"].astype(int), zip(rows["outcome"], rows["reason"])))


def test_comparison_rows_each_get_a_fate(hand_case):
    ing, result, ledger = conftest.ledger_of(hand_case, CFG)
    # Header is row 1, so CMP/1 is row 2.
    assert _reasons(result.outcomes, "comparison") == {
        2: ("quarantined", "comparison_holds_an_order"),
        3: ("merged", "same_person_as_another_comparison_row"),
        4: ("kept", "comparison_subject"),
        5: ("kept", "comparison_subject"),
        6: ("quarantined", "person_no_match"),
        7: ("quarantined", "index_date_missing"),
    }
    pool = result.comparison_subjects
    assert len(pool) == 2 and set(pool["identity"]) == {"pnc_id", "linked"}
    b = pool.loc[pool["identity"] == "pnc_id"].iloc[0]
    assert b["index_date"] == pd.Timestamp("2019-03-01")  # the earlier of B's two index dates (A105)
    assert b["age_at_index"] == 28  # born 3 March 1990, index 1 March 2019
    c = pool.loc[pool["identity"] == "linked"].iloc[0]
    assert c["index_date"] == pd.Timestamp("2019-07-15") and c["age_at_index"] == 36
    # No identifier leaves reconcile in the processed tables.
    assert not pool.astype(str).apply(lambda col: col.str.contains(PERSON_B, regex=False)).any().any()
    # B's two arrests (one with two offences) are two comparison events; C's PND record one.
    events = result.events
    assert set(events.loc[events["group"] == "comparison", "subject_id"]) == set(pool["subject_id"])
    assert (events["subject_id"] == b["subject_id"]).sum() == 2
    assert (events["subject_id"] == c["subject_id"]).sum() == 1
    # The comparison pool's records are kept or merged like any subject's, and the ledger balances.
    assert ledger["balances"].all()
    assert ledger.loc[(ledger["source"] == "comparison") & (ledger["outcome"] == "read"), "rows"].item() == 6


def test_custody_periods_of_the_study_people_only(hand_case):
    _, result, _ = conftest.ledger_of(hand_case, CFG)
    assert _reasons(result.outcomes, "custody") == {
        2: ("kept", "custody_period"),
        3: ("kept", "custody_period"),
        4: ("quarantined", "person_not_in_study"),
        5: ("quarantined", "end_date_before_start_date"),
    }
    periods = result.custody
    assert list(periods.columns) == ["subject_id", "start_date", "end_date", "kind"]
    assert sorted(periods["kind"]) == ["deported", "remand"]
    deported = periods.loc[periods["kind"] == "deported"].iloc[0]
    assert pd.isna(deported["end_date"]) and deported["subject_id"] in set(result.episodes["subject_id"])


def test_without_the_optional_extracts_nothing_changes(raw, default_dirs):
    """No comparison.csv or custody.csv: empty tables, and the order subjects' tables as before."""
    (raw / "comparison.csv").unlink(missing_ok=True)
    (raw / "custody.csv").unlink(missing_ok=True)
    ing, result, ledger = conftest.ledger_of(raw, CFG)
    assert result.comparison_subjects.empty and result.custody.empty
    assert "comparison" not in ing.rows_read and "custody" not in set(ledger["source"])
    assert set(result.events["group"]) == {"order"}


def test_free_text_leaves_interim_only_as_a_documented_value(hand_case):
    """A name or a formula typed into `basis` or `kind` never reaches data/processed/."""
    comparison = pd.read_csv(hand_case / "comparison.csv", dtype=str, keep_default_na=False)
    comparison.loc[comparison["comparison_ref"] == "CMP/2", "basis"] = "=HYPERLINK(\"x\") Chidi Okafor"
    comparison.loc[comparison["comparison_ref"] == "CMP/3", "basis"] = "Withdrawn "
    comparison.to_csv(hand_case / "comparison.csv", index=False)
    custody = pd.read_csv(hand_case / "custody.csv", dtype=str, keep_default_na=False)
    custody.loc[0, "kind"] = "held at HMP Somewhere for Chidi"
    custody.to_csv(hand_case / "custody.csv", index=False)
    _, result, _ = conftest.ledger_of(hand_case, CFG)
    # CMP/3 (the earlier index date) is B's kept row; CMP/2 was merged into it.
    assert sorted(result.comparison_subjects["basis"].astype(str)) == ["arrested_no_order", "withdrawn"]
    assert sorted(result.custody["kind"].astype(str)) == ["deported", "other"]
