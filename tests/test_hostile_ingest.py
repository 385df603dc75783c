"""Hostile and broken extracts: every problem a user can cause ends as one ``strostudy:`` line
naming the file and column (an ExtractError), or as quarantined rows with a documented reason;
never a traceback, never an identifying value on the console, and the audit ledger balances.

Each broken input is made from a copy of the default synthetic extracts."""

import datetime as dt
import re
import shutil

import conftest
import pandas as pd
import pytest
from conftest import REPO, Processed
from openpyxl import load_workbook

from strostudy.config import defaults
from strostudy.errors import ExtractError
from strostudy.ingest import ingest
from strostudy.offences import curated_weights
from strostudy.reconcile import reconcile
from strostudy.stages import run_stage

# Edited extracts carry no synthetic mark, so they are real data to the pipeline: they are
# keyed with a test secret, never the public synthetic key.
CFG = {**defaults(), "source": "extracts"}
TEST_KEY = conftest.TEST_KEY


@pytest.fixture(autouse=True)
def _pseudonymisation_key(monkeypatch):
    monkeypatch.setenv("STROSTUDY_PSEUDONYM_KEY", TEST_KEY)
CSV_EXPECTED = "Expected UTF-8 comma-separated text with one header row (in Excel: Save As 'CSV UTF-8')."


@pytest.fixture(scope="module")
def base(default_dirs):
    """The default extracts, ingested and reconciled once for this module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STROSTUDY_PSEUDONYM_KEY", TEST_KEY)
        ing = ingest(default_dirs / "raw", CFG)
        return ing, reconcile(ing, CFG, curated_weights())


def ledger_of(raw_dir):
    return conftest.ledger_of(raw_dir, CFG)


def rows_with(ing, source, reason):
    """The row numbers ingest quarantined for ``reason``."""
    out = ing.outcome_table()
    hit = (out["source"] == source) & (out["outcome"] == "quarantined") & (out["reason"] == reason)
    return sorted(out.loc[hit, "source_row"].astype(int))


def new_reasons(ing, base_ing):
    """The ingest outcomes that the default extracts do not have: {(source, reason): rows}."""
    def counts(i):
        return i.outcome_table().groupby(["source", "reason"]).size()
    diff = counts(ing).sub(counts(base_ing), fill_value=0)
    return {k: int(v) for k, v in diff.items() if v}


def edit_csv(path, fn):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(frame).to_csv(path, index=False)


def set_csv_cell(path, index, column, value):
    """Set one cell (data row ``index``, i.e. row ``index + 2`` of the file)."""
    def change(frame):
        frame.loc[index, column] = value
        return frame
    edit_csv(path, change)


def rocu_cell(ws, canonical):
    """(header row, column number) of the column ``canonical`` in a ROCU sheet."""
    words = {canonical, *CFG["ingest"]["rocu_header_synonyms"][canonical]}

    def key(v):
        return re.sub(r"[^a-z0-9()]", "", str(v).lower())

    for row in ws.iter_rows():
        for cell in row:
            if cell.value is not None and key(cell.value) in {key(w) for w in words}:
                return cell.row, cell.column
    raise AssertionError(f"no {canonical} column in {ws.title}")


def run_stages(raw_dir, work, until):
    """The workflow's stages in-process on ``raw_dir`` (as data/raw), from ingest to ``until``;
    returns data/processed."""
    (work / "data").mkdir(parents=True)
    (work / "data" / "raw").symlink_to(raw_dir, target_is_directory=True)
    rules = ["ingest", "harm_index", "reconcile", "harm"]
    for rule in rules[: rules.index(until) + 1]:
        run_stage(rule, CFG, work, study="stro" if rule == "harm" else None)
    return Processed(work / "data" / "processed")


def error_line(raw_dir):
    with pytest.raises(ExtractError) as err:
        ingest(raw_dir, CFG)
    message = str(err.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------- 1. header-only extracts


@pytest.mark.parametrize("name", ["pnc_arrests", "pnd_records"])
def test_header_only_csv_is_an_empty_extract(raw, name):
    path = raw / f"{name}.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    ing, result, ledger = ledger_of(raw)
    assert ing.rows_read[name] == 0 and ing.tables[name].empty
    assert not (result.outcomes["source"] == name).any()
    assert ledger.loc[(ledger["source"] == name) & (ledger["outcome"] == "read"), "rows"].tolist() == [0]
    assert len(result.events) > 0  # the other systems' arrests are still linked


def test_order_list_without_orders_is_one_line(raw):
    path = raw / "orders.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    assert error_line(raw) == (f"{path}: the order list has no orders (no rows under its header). "
                               "Expected one row per STRO or interim STRO (docs/data-contract.md).")


def test_order_list_with_every_row_quarantined_is_one_line(raw):
    path = raw / "orders.csv"
    edit_csv(path, lambda f: f.assign(date_made="made in spring"))
    n = len(pd.read_csv(path, dtype=str))
    assert error_line(raw) == (
        f"{path}: every row was quarantined (date_made_unparseable in rows 2, 3, 4, 5, 6 and {n - 5} more), so no "
        "order is left to study. Expected order rows that pass the checks in docs/data-contract.md.")


def test_empty_extracts_survive_every_stage_to_the_ledger(raw, tmp_path):
    """Header-only PND and an empty rocu/ through the stages' own files (Parquet round trip)."""
    path = raw / "pnd_records.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    shutil.rmtree(raw / "rocu")
    (raw / "rocu").mkdir()
    processed = run_stages(raw, tmp_path / "work", until="harm")
    ledger = pd.read_csv(processed / "audit_ledger.csv", keep_default_na=False)
    assert ledger["balances"].all()
    read = ledger.loc[ledger["outcome"] == "read"].set_index("source")["rows"]
    assert read[["pnd_records", "rocu_orders", "rocu_offending"]].tolist() == [0, 0, 0]
    assert not pd.read_csv(processed / "orders.csv")["rocu_return"].any()


# --------------------------------------------------------------------- 2. empty or missing rocu/


@pytest.mark.parametrize("how", ["empty", "missing"])
def test_rocu_folder_empty_or_missing(raw, base, how):
    shutil.rmtree(raw / "rocu")
    if how == "empty":
        (raw / "rocu").mkdir()
    ing, result, ledger = ledger_of(raw)
    assert ing.rows_read["rocu_orders"] == ing.rows_read["rocu_offending"] == 0
    assert ing.tables["rocu_regions"].empty and ing.tables["rocu_orders"].empty and ing.notes == []
    assert not result.episodes["rocu_return"].any()
    assert len(result.episodes) == len(base[1].episodes)  # the order list decides the episodes
    assert not result.events["in_rocu"].any()
    read = ledger.loc[ledger["outcome"] == "read"].set_index("source")["rows"]
    assert read[["rocu_orders", "rocu_offending"]].tolist() == [0, 0] and read["orders"] > 0


# --------------------------------------------------------------------- 3. dates pandas cannot hold


@pytest.mark.parametrize("name, column, value, reason", [
    ("orders", "date_of_birth", "01/01/1600", "date_of_birth_out_of_range"),
    ("orders", "date_made", "01/1600", "date_made_out_of_range"),
    ("orders", "date_made", "9999", "date_made_out_of_range"),
    ("orders", "status_date", "31/12/9999", "status_date_out_of_range"),
    ("pnc_arrests", "arrest_date", "31/12/9999", "arrest_date_out_of_range"),
    ("pnc_arrests", "arrest_date", "1066-10-14", "arrest_date_out_of_range"),
    ("pnd_records", "date_of_birth", "1600-01-01", "date_of_birth_out_of_range"),
    ("pnd_records", "event_datetime", "9999-12-31T23:59:00", "event_date_out_of_range"),
])
def test_csv_date_out_of_range_is_quarantined(raw, base, name, column, value, reason):
    set_csv_cell(raw / f"{name}.csv", 7, column, value)
    ing, _, _ = ledger_of(raw)
    assert rows_with(ing, name, reason) == [9]
    assert new_reasons(ing, base[0]) == {(name, reason): 1}
    q = ing.quarantine[name]
    assert q.loc[q["source_row"] == 9, column].tolist() == [value]  # the row as the extract had it


@pytest.mark.parametrize("sheet, column, value, reason", [
    ("Orders", "date_of_birth", "01/01/1600", "date_of_birth_out_of_range"),
    ("Orders", "start_date", dt.datetime(9999, 12, 31), "start_date_out_of_range"),
    ("Offending", "arrest_date", "31/12/9999", "arrest_date_out_of_range"),
    ("Offending", "arrest_date", dt.datetime(1600, 1, 1), "arrest_date_out_of_range"),
])
def test_workbook_date_out_of_range_is_quarantined(raw, base, sheet, column, value, reason):
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    header_row, col = rocu_cell(wb[sheet], column)
    wb[sheet].cell(header_row + 1, col, value)
    wb.save(path)
    ing, _, _ = ledger_of(raw)
    source = {"Orders": "rocu_orders", "Offending": "rocu_offending"}[sheet]
    assert rows_with(ing, source, reason) == [header_row + 1]
    assert new_reasons(ing, base[0]) == {(source, reason): 1}
    assert ing.outcome_table().query("reason == @reason")["file"].tolist() == [str(path)]


def test_out_of_range_value_is_never_printed(raw, tmp_path, capfd):
    set_csv_cell(raw / "orders.csv", 7, "date_of_birth", "01/01/1600")
    set_csv_cell(raw / "pnc_arrests.csv", 3, "arrest_date", "31/12/9999")
    run_stages(raw, tmp_path / "work", until="ingest")
    printed = capfd.readouterr()
    console = printed.out + printed.err
    assert "1600" not in console and "9999" not in console and "Traceback" not in console
    data = tmp_path / "work" / "data"
    assert (f"strostudy: {data / 'raw' / 'orders.csv'}: 1 row(s) quarantined (date_of_birth_out_of_range in row 9); "
            f"see {data / 'interim' / 'quarantine'}/orders.csv") in console.splitlines()
    pnc_line = next(line for line in console.splitlines() if "pnc_arrests.csv: " in line)
    assert "arrest_date_out_of_range in row 5;" in pnc_line


# --------------------------------------------------------------------- 4. after the extraction date


def test_pnd_event_after_extraction_date_is_quarantined(raw, base):
    set_csv_cell(raw / "pnd_records.csv", 10, "event_datetime", "2099-01-01T10:00:00")
    ing, _, _ = ledger_of(raw)
    assert rows_with(ing, "pnd_records", "event_after_extraction_date") == [12]
    assert new_reasons(ing, base[0]) == {("pnd_records", "event_after_extraction_date"): 1}


def test_rocu_arrest_after_extraction_date_is_quarantined(raw, base):
    path = raw / "rocu" / "yorkshire.xlsx"
    wb = load_workbook(path)
    header_row, col = rocu_cell(wb["Offending"], "arrest_date")
    wb["Offending"].cell(header_row + 2, col, dt.datetime(2099, 1, 1))
    wb.save(path)
    ing, _, _ = ledger_of(raw)
    assert rows_with(ing, "rocu_offending", "arrest_after_extraction_date") == [header_row + 2]
    assert new_reasons(ing, base[0]) == {("rocu_offending", "arrest_after_extraction_date"): 1}


# --------------------------------------------------------------------- 5. lock files and strays in rocu/


def test_lock_files_and_stray_files_in_rocu_are_ignored_and_listed(raw, base):
    rocu = raw / "rocu"
    (rocu / "~$north_east.xlsx").write_bytes(b"")
    (rocu / "~$wales.xlsx").write_bytes(b"\x10garbage owner name\x00")
    (rocu / "README.txt").write_text("returns as of March")
    (rocu / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    ing, _, _ = ledger_of(raw)
    assert ing.notes == [f"ignored {rocu}/.DS_Store: hidden file; {rocu}/README.txt: not a workbook; "
                         f"{rocu}/~$north_east.xlsx: Excel lock file; {rocu}/~$wales.xlsx: Excel lock file"]
    assert ing.rows_read == base[0].rows_read
    assert ing.tables["rocu_regions"].equals(base[0].tables["rocu_regions"])


def test_ignored_files_are_one_progress_line(raw, tmp_path, capfd):
    (raw / "rocu" / "~$north_east.xlsx").write_bytes(b"")
    run_stages(raw, tmp_path / "work", until="ingest")
    err = capfd.readouterr().err
    rocu = tmp_path / "work" / "data" / "raw" / "rocu"
    assert f"strostudy: ignored {rocu}/~$north_east.xlsx: Excel lock file\n" in err


@pytest.mark.parametrize("content, kind", [
    (b"", "is an empty file (0 bytes), not an Excel workbook"),
    (b"order ref,surname\n", "cannot be read as an Excel workbook (it looks like text, e.g. a CSV renamed .xlsx)"),
])
def test_unreadable_named_workbook_is_one_line(raw, content, kind):
    path = raw / "rocu" / "wales.xlsx"
    path.write_bytes(content)
    assert error_line(raw) == f"{path}: {kind}. Expected an .xlsx file saved by Excel or LibreOffice."


@pytest.mark.parametrize("name", ["wales.xls", "wales.csv", "WALES.XLSX"])
def test_return_in_another_spreadsheet_format_is_one_line(raw, name):
    path = raw / "rocu" / name
    (raw / "rocu" / "wales.xlsx").rename(path)
    assert error_line(raw) == (f"{path}: looks like a ROCU return but is not named <region>.xlsx. Expected each "
                               "return saved as an Excel Workbook named <region>.xlsx (lower-case extension) in "
                               "rocu/; move other files out.")


# --------------------------------------------------------------------- 6. extra sheets


def test_extra_sheet_is_ignored_and_listed(raw, base):
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    notes = wb.create_sheet("Notes")
    notes["A1"], notes["A2"] = "Returned by the analyst", "Order ref, surname and date of birth checked"
    wb.create_sheet("Sheet3")
    wb.save(path)
    ing, _, _ = ledger_of(raw)
    not_contract = "not one of the contract's sheets (Orders, Offending)"
    assert ing.notes == [f"ignored {path} sheet 'Notes': {not_contract}; {path} sheet 'Sheet3': {not_contract}"]
    assert ing.rows_read == base[0].rows_read and not new_reasons(ing, base[0])


def test_a_superseded_draft_sheet_is_not_read(raw, base):
    """A copy of the Orders sheet under another name (a draft with other start dates) is
    listed as ignored, never read beside the real one."""
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    wb.copy_worksheet(wb["Orders"]).title = "Orders (superseded draft)"
    wb.save(path)
    ing, _, _ = ledger_of(raw)
    assert ing.rows_read == base[0].rows_read
    assert any("sheet 'Orders (superseded draft)': not one of the contract's sheets" in n for n in ing.notes)


def test_a_workbook_linking_outside_rocu_is_not_read(raw, base, tmp_path):
    outside = tmp_path / "outside_wales.xlsx"
    target = sorted((raw / "rocu").glob("*.xlsx"))[0]
    target.rename(outside)
    target.symlink_to(outside)
    ing, _, _ = ledger_of(raw)
    assert f"{target}: links outside the rocu/ folder (not read)" in " ".join(ing.notes)
    assert target.stem not in set(ing.tables["rocu_regions"]["region"])
    assert ing.rows_read["rocu_orders"] < base[0].rows_read["rocu_orders"]


def test_workbook_without_its_offending_sheet_is_one_line(raw):
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    header_row, col = rocu_cell(wb["Offending"], "arrest_date")
    wb["Offending"].cell(header_row, col, "When")
    wb.save(path)
    assert error_line(raw) == (
        f"{path}: has no Offending sheet: no sheet has a header row with an arrest date column (ignored: sheet "
        "'Offending': its header has neither a start date nor an arrest date column). Expected an Orders sheet "
        "(with a start date column) and an Offending sheet (with an arrest date column), headed as in "
        "ingest.rocu_header_synonyms (docs/data-contract.md).")


# --------------------------------------------------------------------- 7. formulas without a value


@pytest.mark.parametrize("sheet, column, reason", [
    ("Offending", "arrest_date", "arrest_date_formula_without_value"),
    ("Orders", "start_date", "start_date_formula_without_value"),
    ("Orders", "surname", "surname_formula_without_value"),
])
def test_formula_without_cached_value_is_quarantined(raw, base, sheet, column, reason):
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    header_row, col = rocu_cell(wb[sheet], column)
    # openpyxl never calculates: the workbook holds the formula and no cached value.
    wb[sheet].cell(header_row + 2, col, "=DATE(2019,1,1)" if "date" in column else '=UPPER("x")')
    wb.save(path)
    ing, _, _ = ledger_of(raw)
    source = {"Orders": "rocu_orders", "Offending": "rocu_offending"}[sheet]
    assert rows_with(ing, source, reason) == [header_row + 2]
    assert new_reasons(ing, base[0]) == {(source, reason): 1}
    assert "formula_without_value" not in ing.tables[source] and "formula_without_value" not in ing.quarantine[source]


def add_offending_column(raw, header, first_value):
    """Add a column ``header`` to the eastern workbook's Offending sheet, ``first_value`` in its
    first data row; returns the workbook's path."""
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    ws = wb["Offending"]
    header_row, _ = rocu_cell(ws, "arrest_date")
    ws.cell(header_row, ws.max_column + 1, header)
    ws.cell(header_row + 1, ws.max_column, first_value)
    wb.save(path)
    return path


def test_formula_in_an_extra_column_is_harmless(raw, base):
    add_offending_column(raw, "Checked", "=TODAY()")
    ing, _, _ = ledger_of(raw)
    assert not new_reasons(ing, base[0])


# --------------------------------------------------------------------- 8. a column twice


@pytest.mark.parametrize("second", ["arrest_date", "Arrest Date"])
def test_duplicated_csv_column_is_one_line(raw, second):
    path = raw / "pnc_arrests.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.insert(len(frame.columns), "dup", frame["arrest_date"])
    frame.to_csv(path, index=False, header=[*frame.columns[:-1], second])
    assert error_line(raw) == f"{path}: has the column 'arrest_date' twice; keep one."


def test_duplicated_workbook_column_is_one_line(raw):
    path = raw / "rocu" / "eastern.xlsx"
    wb = load_workbook(path)
    ws = wb["Orders"]
    header_row, _ = rocu_cell(ws, "start_date")
    ws.cell(header_row, ws.max_column + 1, "Date granted")
    wb.save(path)
    assert error_line(raw) == f"{path}: sheet 'Orders' has the column 'start_date' twice; keep one."


# --------------------------------------------------------------------- 9. columns named like the pipeline's own


def test_columns_named_like_bookkeeping_are_kept_apart(raw, base):
    path = raw / "pnc_arrests.csv"
    edit_csv(path, lambda f: f.assign(file="C:/export/pnc.csv", source_row="7", check="ok"))
    edit_csv(raw / "pnd_records.csv", lambda f: f.assign(event_date="01/01/2000", name_key="x"))
    ing, result, ledger = ledger_of(raw)
    assert not new_reasons(ing, base[0])
    pd.testing.assert_frame_equal(result.events, base[1].events)
    out = result.outcomes
    assert set(out.loc[out["source"] == "pnc_arrests", "file"]) == {str(path)}
    kept, q = ing.tables["pnc_arrests"], ing.quarantine["pnc_arrests"]
    assert set(kept["file"]) == {str(path)} and set(kept["extract_file"]) == {"C:/export/pnc.csv"}
    assert set(q["extract_source_row"]) == {"7"} and set(q["extract_check"]) == {"ok"}
    assert sorted(q["source_row"]) == sorted(base[0].quarantine["pnc_arrests"]["source_row"])
    assert set(ing.tables["pnd_records"]["extract_event_date"]) == {"01/01/2000"}


def test_workbook_column_named_file_is_kept_apart(raw, base):
    path = add_offending_column(raw, "File", "scan 12")
    ing, _, _ = ledger_of(raw)
    rows = ing.tables["rocu_offending"]
    assert set(rows.loc[rows["region"] == "eastern", "file"]) == {str(path)}
    assert rows["extract_file"].dropna().tolist() == ["scan 12"]
    assert not new_reasons(ing, base[0])


# --------------------------------------------------------------------- 10. an order reference twice (and
# the model's other checks): documented reasons, not pandera's check names


def test_repeated_order_ref_quarantines_every_row_of_it(raw, base):
    orders = pd.read_csv(raw / "orders.csv", dtype=str, keep_default_na=False)
    set_csv_cell(raw / "orders.csv", 5, "order_ref", orders.loc[4, "order_ref"])
    ing, result, _ = ledger_of(raw)
    assert rows_with(ing, "orders", "order_ref_duplicate") == [6, 7]
    assert new_reasons(ing, base[0]) == {("orders", "order_ref_duplicate"): 2}
    assert orders.loc[4, "order_ref"] not in set(ing.tables["orders"]["order_ref"])


def test_repeated_order_ref_on_a_row_quarantined_anyway_keeps_the_other(raw, base):
    orders = pd.read_csv(raw / "orders.csv", dtype=str, keep_default_na=False)
    set_csv_cell(raw / "orders.csv", 5, "order_ref", orders.loc[4, "order_ref"])
    set_csv_cell(raw / "orders.csv", 5, "date_of_birth", "not a date")
    ing, _, _ = ledger_of(raw)
    assert rows_with(ing, "orders", "date_of_birth_unparseable") == [7]
    assert rows_with(ing, "orders", "order_ref_duplicate") == []
    assert orders.loc[4, "order_ref"] in set(ing.tables["orders"]["order_ref"])


def test_model_range_check_has_a_documented_reason(raw, base):
    set_csv_cell(raw / "orders.csv", 3, "duration", "0 months")
    ing, _, _ = ledger_of(raw)
    assert rows_with(ing, "orders", "length_months_out_of_range") == [5]
    assert new_reasons(ing, base[0]) == {("orders", "length_months_out_of_range"): 1}


# --------------------------------------------------------------------- 11. not UTF-8, not text


def test_latin1_csv_is_one_line(raw):
    path = raw / "orders.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[5] = lines[5].replace(",", ",Jos\u00e9 ", 1)
    path.write_bytes("".join(lines).encode("utf-8", "replace").replace("Jos\u00e9".encode(), b"Jos\xe9"))
    assert error_line(raw) == (f"{path}: is not UTF-8 text (line 6 has the first byte that is not UTF-8; it may be "
                               f"saved as Windows-1252 or Latin-1). {CSV_EXPECTED}")


@pytest.mark.parametrize("content, problem", [
    (bytes(range(256)) * 8, "is not a text file (it holds binary data)"),
    (b"PK\x03\x04\x14\x00\x06\x00", "is a zip file or an Excel workbook, not CSV text"),
    ("order_ref,surname\n".encode("utf-16"), "is UTF-16 text (Excel's 'Unicode Text'), not UTF-8"),
    (b"\xff\xd8\xff\xe0garbage\xc3\x28" * 10, "is not UTF-8 text (line 1 has the first byte that is not UTF-8; "
                                              "it may be saved as Windows-1252 or Latin-1)"),
])
def test_binary_csv_is_one_line(raw, content, problem):
    path = raw / "orders.csv"
    path.write_bytes(content)
    assert error_line(raw) == f"{path}: {problem}. {CSV_EXPECTED}"


def test_ragged_csv_is_one_line_naming_the_line(raw):
    path = raw / "pnd_records.csv"
    lines = path.read_text().splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\n") + ",extra,fields\n"
    path.write_text("".join(lines))
    assert error_line(raw) == (f"{path}: line 4 has 10 fields but the header has 8 (a comma inside a value that "
                               f"is not in quotes?). {CSV_EXPECTED}")


def test_pnd_row_without_a_name_is_quarantined(raw, base):
    edit_csv(raw / "pnd_records.csv", lambda f: f.assign(surname=f["surname"].where(f.index != 2, " "),
                                                          forenames=f["forenames"].where(f.index != 2, "")))
    ing, _, _ = ledger_of(raw)
    assert rows_with(ing, "pnd_records", "name_missing") == [4]
    assert new_reasons(ing, base[0]) == {("pnd_records", "name_missing"): 1}


# --------------------------------------------------------------------- documented reasons


DOCUMENTED = (REPO / "docs" / "data-contract.md").read_text()


@pytest.mark.parametrize("reason", [
    "repeated_header_row", "arrest_date_formula_without_value", "start_date_formula_without_value",
    "date_of_birth_out_of_range", "date_made_out_of_range", "status_date_out_of_range", "arrest_date_out_of_range",
    "event_date_out_of_range", "start_date_out_of_range", "arrest_date_unparseable", "event_date_unparseable",
    "date_of_birth_unparseable", "arrest_date_missing", "pnc_id_check_letter_wrong", "event_after_extraction_date",
    "arrest_after_extraction_date", "order_ref_duplicate", "name_missing", "length_months_out_of_range",
])
def test_every_reason_given_here_is_documented(reason):
    table = [line for line in DOCUMENTED.splitlines() if line.startswith("| `")]
    names = [re.findall(r"`([^`]+)`", line.split(" | ")[0]) for line in table]
    patterns = [n for row in names for n in row]
    assert reason in patterns or any(p.startswith("<column>_") and reason.endswith(p.removeprefix("<column>"))
                                     for p in patterns), reason


# --------------------------------------------------------------------- messages never quote a cell


def test_ingest_messages_never_format_a_cell_value():
    """Every message ingest builds names files, sheets, columns, reasons and row numbers: each
    expression its f-strings format is one of these, reviewed (a new one must be reviewed too)."""
    source = (REPO / "src" / "strostudy" / "ingest.py").read_text()
    assert "print(" not in source and ".format(" not in source and "%s" not in source
    reviewed = {
        # files, folders, sheets and where in them
        "path", "file", "name", "source", "quarantine_dir", "sheet", "where", "s", "body", "others",
        "'; '.join(skipped)", "word", "column", "kind", "type(err).__name__",
        # column names of a header (never a data row: the required columns were found first)
        "missing[0]", "', '.join(missing[1:])", "', '.join(required)", "repeated[0]",
        "', '.join(map(str, repeated[1:]))", "base", "c + 1",
        # counts, line and row numbers, and reasons (built from column names and fixed words)
        "times", "also", "line", "line[1]", "fields[1]", "fields[2]", "fields[3]", "n:,", "len(rows)",
        "len(nums) - 5", "reason", "'s' if len(nums) > 1 else ''", "shown", "_rows_by_reason(rows)",
        "_rows_by_reason(outcomes)",
    }
    for message in re.findall(r'f"([^"]*)"', source):
        for expr in re.findall(r"\{([^{}]*)\}", message):
            assert expr in reviewed, f"{expr!r} in f-string {message!r}"
