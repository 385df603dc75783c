"""A date of birth that is no date (A89, docs/data-contract.md): on PND and ROCU rows, where the
DOB only helps linkage, the row is kept with the DOB blanked and the blanking noted (the clean
table's ``date_of_birth_problem``, a progress line, and the ledger reason's
``_after_dob_blanked``); on the order list, where the DOB identifies the subject, the row is
still quarantined."""

import re

import conftest
import pandas as pd
import pytest
from openpyxl import load_workbook

from strostudy.config import defaults
from strostudy.ingest import (
    blanked_dobs,
    blanked_summary,
    clean_orders,
    clean_pnd_records,
    clean_rocu_orders,
    split_failures,
)

CFG = {**defaults(), "source": "extracts"}  # edited extracts carry no synthetic mark


@pytest.fixture(autouse=True)
def _pseudonymisation_key(monkeypatch):
    monkeypatch.setenv("STROSTUDY_PSEUDONYM_KEY", conftest.TEST_KEY)


# --------------------------------------------------------------------- by hand, on a few rows


def _pnd(*dobs):
    n = len(dobs)
    return pd.DataFrame({
        "pnd_ref": [f"PND{i}" for i in range(n)], "surname": "Tran", "forenames": "Minh",
        "date_of_birth": list(dobs), "pnc_id": "", "event_datetime": "2020-06-01T10:00:00",
        "force_system": "Niche RMS", "offence_description": "Theft [TH68010]", "source_row": range(2, n + 2)})


def test_pnd_dob_that_is_no_date_is_blanked_and_the_row_kept():
    raw = _pnd("1987-02-30", "1987-13-04", "04/05/1987", "", "1600-01-01")
    kept, quarantined, outcomes = split_failures("pnd_records", raw, clean_pnd_records(raw, 40), "pnd.csv")
    assert kept["source_row"].tolist() == [2, 3, 4, 5]
    assert kept["date_of_birth"].isna().tolist() == [True, True, False, True]
    assert kept["date_of_birth"].iloc[2] == pd.Timestamp("1987-05-04")
    assert kept["date_of_birth_problem"].tolist()[:2] == ["unparseable", "unparseable"]
    assert kept["date_of_birth_problem"].iloc[3] == "missing"  # blank: unknown, not blanked
    assert kept["date_of_birth_as_recorded"].tolist()[:2] == ["1987-02-30", "1987-13-04"]
    assert kept["date_of_birth_as_recorded"].iloc[2:].isna().all()
    # A real date outside the range any table can hold is still quarantined.
    assert quarantined["check"].tolist() == ["date_of_birth_out_of_range"]
    assert outcomes["source_row"].tolist() == [6]


def test_rocu_orders_dob_that_is_no_date_is_blanked_and_the_row_kept():
    raw = pd.DataFrame({"order_ref": ["STRO/1", "STRO/2"], "pnc_id": [None, None], "surname": "Tran",
                        "forenames": "Minh", "date_of_birth": ["30/02/1987", pd.Timestamp("1987-05-04")],
                        "start_date": "01/06/2020", "length": "24 months", "conditions": None,
                        "region": "eastern", "source_row": [5, 6], "file": "eastern.xlsx"})
    kept, quarantined, _ = split_failures("rocu_orders", raw, clean_rocu_orders(raw, 40), "rocu")
    assert kept["source_row"].tolist() == [5, 6] and quarantined.empty
    assert kept["date_of_birth"].isna().tolist() == [True, False]
    assert kept["date_of_birth_problem"].iloc[0] == "unparseable"


def test_order_list_dob_that_is_no_date_still_quarantines_the_row():
    raw = pd.DataFrame({"order_ref": ["STRO/1", "STRO/2"], "pnc_id": "", "surname": "Tran", "forenames": "Minh",
                        "date_of_birth": ["30/02/1987", "04/05/1987"], "owning_force": "Kent Police",
                        "applicant": "Kent Police", "order_type": "STRO", "date_made": "01/06/2020",
                        "duration": "2 years", "status": "Active", "status_date": "", "source_row": [2, 3]})
    kept, quarantined, _ = split_failures("orders", raw, clean_orders(raw, 40), "orders.csv")
    assert kept["source_row"].tolist() == [3]
    assert quarantined["check"].tolist() == ["date_of_birth_unparseable"]


# --------------------------------------------------------------------- through ingest and reconcile


@pytest.fixture(scope="module")
def base(default_dirs):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STROSTUDY_PSEUDONYM_KEY", conftest.TEST_KEY)
        return conftest.ledger_of(default_dirs / "raw", CFG)


def _header(ws, canonical):
    """(header row, column number) of the column ``canonical`` (or a synonym) in a ROCU sheet."""
    def key(v):
        return re.sub(r"[^a-z0-9()]", "", str(v).lower())

    words = {key(w) for w in (canonical, *CFG["ingest"]["rocu_header_synonyms"][canonical])}
    return next((c.row, c.column) for r in ws.iter_rows() for c in r if c.value is not None and key(c.value) in words)


def _blanked(ing) -> set:
    """The rows kept with their DOB blanked, as (source, row number)."""
    return set(map(tuple, blanked_dobs(ing)[["source", "source_row"]].values.tolist()))


def _reason(result, source, row):
    out = result.outcomes
    return out.loc[(out["source"] == source) & (out["source_row"] == row), "reason"].tolist()


def test_pnd_row_with_dob_30_february_is_kept_and_noted(raw, base):
    path = raw / "pnd_records.csv"
    pnd = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = int(pnd.index[pnd["pnc_id"].ne("")][0])  # a record that carries its PNC ID
    pnd.loc[row, "date_of_birth"] = "1987-02-30"
    pnd.to_csv(path, index=False)
    ing, result, ledger = conftest.ledger_of(raw, CFG)  # balances
    source_row = row + 2
    outcomes = ing.outcome_table()
    assert not ((outcomes["source"] == "pnd_records") & (outcomes["source_row"] == source_row)).any()
    assert ing.rows_read == base[0].rows_read
    clean = ing.tables["pnd_records"].set_index("source_row")
    assert pd.isna(clean.at[source_row, "date_of_birth"])
    assert clean.at[source_row, "date_of_birth_problem"] == "unparseable"
    assert clean.at[source_row, "date_of_birth_as_recorded"] == "1987-02-30"
    # The default extracts plant impossible DOBs of their own (on the comparison pool's PND
    # records, docs/simulator.md); this row is the one more.
    assert _blanked(ing) - _blanked(base[0]) == {("pnd_records", source_row)}
    assert len(_blanked(ing)) == len(_blanked(base[0])) + 1
    (line,) = blanked_summary(ing)
    n = len(_blanked(ing))
    assert line.startswith(f"{path}: {n} row(s) kept with the date of birth blanked (date_of_birth_unparseable in row")
    assert re.search(rf"\b{source_row}\b", line)  # the first five rows are named; this is among them
    (reason,) = _reason(result, "pnd_records", source_row)
    (before,) = _reason(base[1], "pnd_records", source_row)
    assert reason == before + "_after_dob_blanked"
    assert (ledger["reason"] == reason).any()


def test_rocu_orders_row_with_dob_30_february_is_kept_and_noted(raw, base):
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    ws = wb["Orders"]
    header_row, col = _header(ws, "date_of_birth")
    source_row = header_row + 1
    ws.cell(source_row, col).value = "30/02/1987"  # typed as text: Excel keeps what it cannot read as a date
    wb.save(path)
    ing, result, ledger = conftest.ledger_of(raw, CFG)
    outcomes = ing.outcome_table()
    assert not outcomes["reason"].astype(str).str.startswith("date_of_birth").any()
    clean = ing.tables["rocu_orders"]
    mine = clean.loc[(clean["region"] == "eastern") & (clean["source_row"] == source_row)]
    assert len(mine) == 1 and mine["date_of_birth"].isna().all()
    assert mine["date_of_birth_problem"].tolist() == ["unparseable"]
    assert _blanked(ing) - _blanked(base[0]) == {("rocu_orders", source_row)}
    got = result.outcomes.loc[(result.outcomes["source"] == "rocu_orders") & (result.outcomes["file"] == str(path))
                              & (result.outcomes["source_row"] == source_row), "reason"].tolist()
    assert got == ["episode_after_dob_blanked"]
    assert ledger.loc[(ledger["source"] == "rocu_orders") & (ledger["reason"] == "episode_after_dob_blanked"),
                      "rows"].tolist() == [1]


def test_rocu_offending_row_with_a_dob_column_is_kept(raw, base):
    """The Offending sheet has no DOB in the contract; a region that adds one, with a date
    that is no date, loses no row (the column is kept as an extra and not read)."""
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    ws = wb["Offending"]
    header_row, _ = _header(ws, "arrest_date")
    extra = ws.max_column + 1
    ws.cell(header_row, extra).value = "DOB"
    ws.cell(header_row + 1, extra).value = "1987-13-04"
    wb.save(path)
    ing, _, _ = conftest.ledger_of(raw, CFG)
    assert ing.rows_read == base[0].rows_read
    assert len(ing.tables["rocu_offending"]) == len(base[0].tables["rocu_offending"])
    assert _blanked(ing) == _blanked(base[0])
    assert "rocu_offending" not in set(blanked_dobs(ing)["source"])
