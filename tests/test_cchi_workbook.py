"""The official CCHI workbook at its real size and layout: a title block above the header,
about 700 offence rows, an offence's CJS codes spread over several "CJS Codes" columns and
on into unheaded columns (as in the published cchi2020dataxls.xlsx), and every problem with
the file stopped with one sentence naming the file, the sheet and what to do."""

import csv
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO
from openpyxl import Workbook

from strostudy.config import data_path
from strostudy.errors import ExtractError
from strostudy.offences import _header_row, load_weights, read_cchi_workbook

REFERENCE = Path(os.environ.get("STROSTUDY_CCHI_REFERENCE",
                                REPO.parent / "shared" / "reference" / "cchi2020_values.csv"))
needs_reference = pytest.mark.skipif(not REFERENCE.exists(),
                                     reason="CCHI 2020 reference CSV not beside the repo (shared/)")
SHEET = "CCHI 2020 values sheet"
# The official sheet's first 20 column names (cchi2020_values.csv), then its "CJS Codes" columns.
NAMED = ["ATHENA URN", "FULL_OFFENCE_TITLE", "SHORT_TITLE", "CCHI Score",
         "Sentencing data from actual offence available: ",
         "If no sentencing data available what similar offence was used: ", "Starting Point", "Maximum Sentence",
         "Score from: ", "GROUP", "SUB_GROUP", "SUB_SUB_GROUP", "CLASSIFICATION_CODE", "HOME_OFFICE_CLASSIFICATION",
         "HO_CODE", "HO_SUB_CODE", "HO_SUB_SUB_CODE", "NOTIFIABLE", "INVESTIGATION_TYPE", "ACT"]
TITLE_BLOCK = [
    ["The Cambridge Crime Harm Index 2020 Update"],
    ["Produced by the Cambridge Centre for Evidence Based Policing; current with the sentencing guidelines "
     "as of 6 October 2020"],
    ["Copyright Cambridge Centre for Evidence based Policing 2020"],
    [None, "Scores are days in prison at the starting point sentence"],
    [],
]
HEADER_ROW = len(TITLE_BLOCK) + 1  # Excel's row number of the header


def _number(text):
    value = float(text)
    return int(value) if value.is_integer() else value


def reference_offences():
    """The 698 offence rows of the CCHI 2020 reference: (20 named cells, CJS code cells)."""
    rows = list(csv.reader(REFERENCE.open(encoding="utf-8-sig")))
    assert rows[0][:20] == NAMED
    out = []
    for r in rows[1:]:
        named = [c if c != "" else None for c in r[:20]]
        named[3] = _number(named[3])
        codes = list(r[20:])
        while codes and codes[-1] == "":
            codes.pop()
        out.append((named, [c if c != "" else None for c in codes]))
    return out, rows[0].count("CJS Codes")


def synthetic_offences(n=700):
    """n deterministic offence rows: 0-4 codes each (some run past the 3 headed code columns),
    some 'N/A', some blank, a code shared across rows; includes the proxies' URNs."""
    scores = [1, 2, 5, 10, 19, 84, 182.5, 365, 547.5, 730, 1460, 5475]
    out = []
    for i in range(n):
        urn, title, score = f"S{i}.{i % 7}.0.0", f"Synthetic offence {i}", scores[i % 12]
        if i == 10:
            urn, title, score = "99.99.25.0", "Knowingly hold another person in slavery/servitude", 730
        if i == 11:
            urn, title, score = "66.66.94.0", "Failure to comply with a Serious Crime Prevention Order", 84
        kind = i % 6
        if kind == 0:
            codes = []                                    # no code cells at all
        elif kind == 5:
            codes = ["N/A"]
        else:
            codes = [f"SY{i:05d}{'ABCD'[k]}" if k else f" SY{i:05d}" for k in range(kind)]
            if i % 10 == 1:
                codes[0] = "SH00001"                       # one code on many rows
            if i % 4 == 2:
                codes.insert(1, None)                      # a blank cell between codes
        named = [urn, title, title[:30], score, "Yes", None, "1 year", "Life", None, f"GROUP {i % 9}",
                 "SUB", "SUBSUB", str(i % 90), f"{i % 150:03d}/{i % 99:02d}", None, None, None, "Notifiable",
                 "Crime", "Some Act"]
        out.append((named, codes))
    return out, 3


def offences():
    return reference_offences() if REFERENCE.exists() else synthetic_offences()


def write_workbook(path, rows, headed_cjs, *, header=None, title_block=TITLE_BLOCK, sheet=SHEET, blank_at=None):
    """A workbook in the official layout with a title block (its first cell merged across)."""
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for line in title_block:
        ws.append(line)
    if title_block:
        ws.merge_cells("A1:H1")
    ws.append(header or NAMED + ["CJS Codes"] * headed_cjs)
    for i, (named, codes) in enumerate(rows):
        if i == blank_at:
            ws.append([])
        ws.append(list(named) + list(codes))
    wb.save(path)
    return path


def written_pairs(rows):
    """(code, URN, score) for every code cell written, as a reader must return them."""
    return sorted((c.strip().upper(), named[0], float(named[3])) for named, codes in rows for c in codes
                  if c is not None and c.strip() not in ("", "N/A"))


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    rows, headed = offences()
    path = write_workbook(tmp_path_factory.mktemp("cchi") / "cchi2020dataxls.xlsx", rows, headed, blank_at=300)
    return path, rows, headed


def message(excinfo):
    text = str(excinfo.value)
    assert "\n" not in text and "Traceback" not in text
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__context__ is None or excinfo.value.__suppress_context__
    return text


def test_reads_every_code_of_a_full_size_workbook(official):
    path, rows, headed = official
    assert len(rows) >= 698
    started = time.perf_counter()
    w = read_cchi_workbook(path)
    elapsed = time.perf_counter() - started
    read = w.loc[w["basis"] == "official workbook"]
    got = sorted(zip(read["cjs_code"], read["athena_urn"], read["score"].astype(float)))
    expected = written_pairs(rows)
    assert len(got) == len(expected) and got == expected
    # Codes run past the headed "CJS Codes" columns into unheaded ones, as in the official sheet.
    assert max(len(codes) for _, codes in rows) > headed
    assert read["cjs_code"].str.match(r"^[A-Z0-9]+$").all()      # no 'N/A', blanks or stray spaces
    assert not read["title"].str.contains("Cambridge Crime Harm Index").any()  # title block not read
    assert elapsed < 3, f"reading {len(rows)} offence rows took {elapsed:.2f}s"


def test_header_row_found_below_the_title_block(official):
    path, _, _ = official
    raw = pd.read_excel(path, sheet_name=SHEET, header=None, dtype=str)
    assert len(raw) > 700
    assert _header_row(raw) == HEADER_ROW - 1
    assert raw.iat[HEADER_ROW - 1, 0] == "ATHENA URN"


@needs_reference
def test_reference_codes_have_their_exact_scores(official):
    path, _, _ = official
    w = read_cchi_workbook(path)
    scores = w.groupby("cjs_code")["score"].agg(lambda s: sorted(set(s.astype(float))))
    assert scores["COML025"] == [3285, 5475]              # 1.1.1.1A attempted murder, 1.1.1.1 murder
    assert scores["CJ09002"] == [730]                     # 99.99.25.0, slavery/servitude
    assert scores["SC07001"] == [84]                      # 66.66.94.0, breach of an SCPO
    assert scores["MD71230"] == [547.5]                   # 92A.92.70.0, PWITS class A cocaine
    assert scores["CJ88116"] == [1]                       # 105A.105.1.0, third code column
    assert scores["OF61131"] == [19, 182.5, 547.5, 912.5]  # eight 8N/8S rows share it
    assert scores["SX03234"] == [19]                      # written ' SX03234', with a leading space
    # FI68333 sits only in the 29th code column, past the last "CJS Codes" heading.
    fi = w.loc[w["cjs_code"] == "FI68333"]
    assert fi[["athena_urn", "score"]].values.tolist() == [["10B.81.17.0", 1825]]
    urn = w.set_index("athena_urn")
    assert urn.loc["1.1.1.1", "title"] == "Murder - of persons aged 1 year or over"
    assert urn.loc["1.1.1.1", "ho_class"] == "001/01" and urn.loc["1.1.1.1", "ho_group"] == \
        "VIOLENCE AGAINST THE PERSON"
    assert "10A.8.18.0" not in set(w["athena_urn"])  # its only code cell is 'N/A'


def test_synthetic_codes_have_their_exact_scores(tmp_path):
    rows, headed = synthetic_offences()
    w = read_cchi_workbook(write_workbook(tmp_path / "s.xlsx", rows, headed))
    by_code = w.groupby("cjs_code")["score"].agg(lambda s: sorted(set(s.astype(float))))
    assert by_code["SY00007"] == [365]        # row 7: one code, written with a leading space
    assert by_code["SY00004C"] == [19]        # row 4: fourth code, in the unheaded column
    assert by_code["SY00022C"] == [1460]      # row 22: a blank cell before it, so in the fifth column
    assert by_code["SH00001"] == sorted({float([1, 2, 5, 10, 19, 84, 182.5, 365, 547.5, 730, 1460, 5475][i % 12])
                                         for i in range(700) if i % 10 == 1 and 0 < i % 6 < 5})
    assert not w["athena_urn"].isin(["S0.0.0.0", "S5.5.0.0"]).any()  # no codes; 'N/A'
    assert len(w.loc[w["basis"] == "official workbook"]) == len(written_pairs(rows))


def test_curated_proxies_are_scored_by_urn_from_the_workbook(tmp_path):
    rows, headed = offences()
    # A later edition: the proxies' source offences rescored, so the score must come from here.
    rescored = {"99.99.25.0": 800, "66.66.94.0": 90.5}
    rows = [([*named[:3], rescored.get(named[0], named[3]), *named[4:]], codes) for named, codes in rows]
    w = read_cchi_workbook(write_workbook(tmp_path / "later.xlsx", rows, headed))
    curated = pd.read_csv(data_path("cchi_weights.csv"), dtype=str, keep_default_na=False)
    proxy = curated.loc[curated["basis"].str.startswith("proxy")]
    assert sorted(proxy["cjs_code"]) == ["MS15001", "MS15002", "MS15003", "MS15016", "MS15017"]
    appended = w.iloc[-len(proxy):]
    assert appended["cjs_code"].tolist() == proxy["cjs_code"].tolist()
    assert appended["athena_urn"].tolist() == proxy["athena_urn"].tolist()
    assert appended["score"].tolist() == [rescored[u] for u in proxy["athena_urn"]]
    assert appended["basis"].str.startswith("proxy").all()
    assert (w.iloc[:-len(proxy)]["basis"] == "official workbook").all()
    # And through the config, as the harm stage loads it.
    weights = load_weights({"table": str(tmp_path / "later.xlsx"), "workbook_sheet": SHEET})
    assert weights.set_index("cjs_code").loc["MS15016", "score"] == 90.5


def test_header_anywhere_in_the_first_50_rows_in_any_case(tmp_path):
    rows, headed = synthetic_offences(60)
    title = [["CCHI"]] + [[] for _ in range(40)] + [["notes"], []]
    header = [f"  {n.lower()} " for n in NAMED] + [" cjs CODES"] * headed
    w = read_cchi_workbook(write_workbook(tmp_path / "low.xlsx", rows, headed, header=header, title_block=title))
    assert len(w.loc[w["basis"] == "official workbook"]) == len(written_pairs(rows))


def test_sheet_name_tolerates_case_and_spaces(tmp_path):
    rows, headed = synthetic_offences(20)
    path = write_workbook(tmp_path / "s.xlsx", rows, headed, sheet=" cchi 2020 VALUES sheet")
    assert len(read_cchi_workbook(path).loc[lambda d: d["basis"] == "official workbook"]) == \
        len(written_pairs(rows))


# --- problems: one sentence each, naming the file, the sheet and what to do ---------------------

def test_missing_sheet_lists_the_sheets(tmp_path):
    wb = Workbook()
    wb.active.title = "Cover page"
    wb.create_sheet("Values")
    wb.save(tmp_path / "w.xlsx")
    with pytest.raises(ExtractError) as err:
        read_cchi_workbook(tmp_path / "w.xlsx")
    assert re.fullmatch(re.escape(f"{tmp_path / 'w.xlsx'}: has no sheet '{SHEET}' (its sheets: 'Cover page', "
                                  "'Values'). Expected the sheet holding the CCHI values; set harm.workbook_sheet "
                                  "in config to its name."), message(err))


def test_header_not_found(tmp_path):
    rows, headed = synthetic_offences(10)
    title = [["CCHI"]] + [[] for _ in range(55)]  # the header below row 50
    write_workbook(tmp_path / "deep.xlsx", rows, headed, title_block=title)
    with pytest.raises(ExtractError) as err:
        read_cchi_workbook(tmp_path / "deep.xlsx")
    assert re.fullmatch(re.escape(f"{tmp_path / 'deep.xlsx'}: sheet '{SHEET}' has no 'ATHENA URN' header in its "
                                  "first 50 rows. Expected a header row with the CCHI 2020 columns (") + r".*" +
                        re.escape("); check that harm.workbook_sheet names the values sheet."), message(err))


def test_required_column_missing(tmp_path):
    rows, headed = synthetic_offences(10)
    header = [n if n != "CCHI Score" else "Score" for n in NAMED] + ["CJS Codes"] * headed
    write_workbook(tmp_path / "cols.xlsx", rows, headed, header=header)
    with pytest.raises(ExtractError) as err:
        read_cchi_workbook(tmp_path / "cols.xlsx")
    assert re.fullmatch(re.escape(f"{tmp_path / 'cols.xlsx'}: sheet '{SHEET}' lacks column(s) CCHI Score in its "
                                  f"header row (row {HEADER_ROW}). Expected the CCHI 2020 columns (ATHENA URN, "
                                  "FULL_OFFENCE_TITLE, CCHI Score, HOME_OFFICE_CLASSIFICATION, GROUP, "
                                  "CJS Codes ...)."), message(err))
    write_workbook(tmp_path / "nocjs.xlsx", rows, headed, header=NAMED + ["Codes"] * headed)
    with pytest.raises(ExtractError, match=r"nocjs.xlsx: sheet 'CCHI 2020 values sheet' lacks column\(s\) "
                                           r"CJS Codes in its header row \(row 6\)\."):
        read_cchi_workbook(tmp_path / "nocjs.xlsx")


def test_score_not_a_number_names_the_rows(tmp_path):
    rows, headed = synthetic_offences(700)
    bad = {100: "n/a", 200: None, 300: "547,5", 400: "TBC", 500: "x", 600: "y", 650: "z"}
    rows = [([*named[:3], bad.get(i, named[3]), *named[4:]], codes) for i, (named, codes) in enumerate(rows)]
    write_workbook(tmp_path / "scores.xlsx", rows, headed)
    with pytest.raises(ExtractError) as err:
        read_cchi_workbook(tmp_path / "scores.xlsx")
    first = HEADER_ROW + 1  # Excel row of offence 0
    assert message(err) == (
        f"{tmp_path / 'scores.xlsx'}: sheet '{SHEET}' has a CCHI Score that is not a number on row(s) "
        f"{first + 100} ('n/a'), {first + 200} (blank), {first + 300} ('547,5'), {first + 400} ('TBC'), "
        f"{first + 500} ('x') and 2 more. Expected a number in the CCHI Score column of every offence row "
        "(fix those cells in the workbook).")


@pytest.mark.parametrize("content, kind", [
    (b"ATHENA URN,FULL_OFFENCE_TITLE,CCHI Score\n1.1.1.1,Murder,5475\n",
     "cannot be read as an Excel workbook (it looks like text, e.g. a CSV renamed .xlsx)"),
    (b"PK\x03\x04 truncated zip", "cannot be read as an Excel workbook (BadZipFile)"),
    (b"", "is an empty file (0 bytes), not an Excel workbook"),
], ids=["csv-renamed", "corrupt-zip", "zero-bytes"])
def test_not_a_workbook(tmp_path, content, kind):
    path = tmp_path / "cchi.xlsx"
    path.write_bytes(content)
    with pytest.raises(ExtractError) as err:
        read_cchi_workbook(path)
    assert message(err) == (
        f"{path}: {kind}, so sheet '{SHEET}' cannot be read. Expected the official CCHI workbook saved as .xlsx "
        "(re-download it, or open it in Excel or LibreOffice and save it as an Excel workbook).")
