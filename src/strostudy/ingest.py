"""Read, validate and clean the raw extracts.

Structural problems (a missing file or required column, an empty or unreadable file, a
column twice, a workbook without its Orders or Offending sheet) raise
:class:`~strostudy.errors.ExtractError`: one sentence naming the file and the column.
Row-level problems never stop the run: the row is quarantined with the reason it failed
(docs/data-contract.md), and every row read is accounted for in the returned outcomes
(the audit ledger).  No message ever holds a cell's value: they name files, columns and row
numbers only.

The pipeline keeps its own columns beside an extract's (:data:`OWN_COLUMNS`, and the columns
the cleaners derive, such as ``name_key``).  An extract's column with one of those names is
kept under the prefix ``extract_`` (a column ``file`` becomes ``extract_file``), so it can
never overwrite the pipeline's bookkeeping or change a file named in a message.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .dates import LAST_DAY, in_bounds, parse_dates
from .errors import ExtractError
from .ids import canonical_pnc
from .schemas import CLEAN_MODELS, RAW_MODELS

CSV_SOURCES = {"orders": "orders.csv", "pnc_arrests": "pnc_arrests.csv", "pnd_records": "pnd_records.csv",
               "comparison": "comparison.csv", "custody": "custody.csv"}
#: Extracts a study may go without (issue 13): the comparison pool and the custody periods.
#: Without them the clean tables are empty, and the report says what that means.
OPTIONAL_SOURCES = ("comparison", "custody")
OUTCOME_COLUMNS = ["source", "file", "source_row", "outcome", "reason"]
NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}
#: The pipeline's own columns beside an extract's: each row's number and file, a quarantined
#: row's check, a workbook row's region and sheet, and a workbook row's first contract column
#: holding a formula without a value (used by the row checks, then dropped).
OWN_COLUMNS = ("source_row", "file", "check", "region", "sheet", "formula_without_value")
#: An extract's column named like one of the pipeline's own is kept under this prefix.
EXTRACT_PREFIX = "extract_"
CSV_EXPECTED = "UTF-8 comma-separated text with one header row (in Excel: Save As 'CSV UTF-8')"
XLSX_EXPECTED = "an .xlsx file saved by Excel or LibreOffice"


@dataclass
class Ingested:
    """Cleaned tables, their quarantined rows, the outcome of every row read, and progress
    notes for the user (files and sheets ignored)."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    quarantine: dict[str, pd.DataFrame] = field(default_factory=dict)
    outcomes: list[pd.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Do the extracts carry a valid synthetic mark (:func:`strostudy.keys.synthetic_mark`)?
    #: Only then may reconcile use the public synthetic key.
    synthetic_mark: bool = False

    def outcome_table(self) -> pd.DataFrame:
        return pd.concat(self.outcomes, ignore_index=True) if self.outcomes else pd.DataFrame(columns=OUTCOME_COLUMNS)


# --------------------------------------------------------------------------- reading CSVs


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9()]", "", str(name).strip().lower())


def read_csv_extract(path: Path, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CSV as text, keep its row numbers, set aside repeated header rows and exact
    duplicate rows.  Returns (rows, outcomes for the rows set aside).  A header with no rows
    under it is a valid, empty extract."""
    import janitor  # noqa: F401 - registers DataFrame.clean_names; imported here, not by the stages that only read tables

    frame = _read_csv_text(Path(path), source)
    # Headers: trimmed, lower case, snake_case (pyjanitor), whatever the extract's styling.
    frame = frame.clean_names(remove_special=True, strip_underscores=True).rename(columns={"pncid": "pnc_id"})
    _check_columns(frame, RAW_MODELS[source], path)
    _check_unique_columns(frame.columns, path)
    # A repeated header, however it was styled, has the header key of every column's name.
    header = pd.Series({c: _header_key(c) for c in frame.columns})
    repeated = (frame.apply(_header_key_series) == header).all(axis=1).astype(bool)
    duplicate = frame.duplicated(keep="first").astype(bool) & ~repeated
    frame = frame.rename(columns=_keep_apart(frame.columns, _reserved(source)))
    frame = frame.assign(source_row=np.arange(2, len(frame) + 2))
    set_aside = pd.concat([
        _outcomes(frame.loc[repeated], source, path, "quarantined", "repeated_header_row"),
        _outcomes(frame.loc[duplicate], source, path, "merged", "exact_duplicate_row"),
    ])
    return frame.loc[~repeated & ~duplicate].reset_index(drop=True), set_aside


def _read_csv_text(path: Path, source: str) -> pd.DataFrame:
    """The CSV's cells as text under its own header names (duplicates not renamed), or one
    sentence saying why it cannot be read (never quoting its contents)."""
    if not path.exists():
        raise ExtractError(path, "file not found", f"the {source} extract named as in docs/data-contract.md")
    head = _read_head(path, 65536, CSV_EXPECTED)
    if not head:
        raise ExtractError(path, "is empty (no header row)", "a header row naming the columns")
    _check_text(path, head)
    read = functools.partial(pd.read_csv, path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                             skip_blank_lines=True, index_col=False)
    try:
        with warnings.catch_warnings():
            # index_col=False: a separator ending every data row is dropped, never shifting the
            # columns one place (pandas would otherwise make the first column the index).
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            frame = read()
            names = read(header=None, nrows=1).iloc[0].tolist()
    except pd.errors.EmptyDataError:
        raise ExtractError(path, "is empty (no header row)", "a header row naming the columns") from None
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except pd.errors.ParserError as err:
        raise _parser_problem(path, err) from None
    # pandas renames a repeated name ('arrest_date.1'); the header's own names let a repeat be
    # seen.  A blank header cell keeps pandas' 'Unnamed: N'.
    frame.columns = [n if str(n).strip() else p for n, p in zip(names, frame.columns, strict=True)]
    return frame


def _check_text(path: Path, head: bytes) -> None:
    """Binary files and UTF-16 text fail here, with a sentence saying what they look like."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ExtractError(path, "is UTF-16 text (Excel's 'Unicode Text'), not UTF-8", CSV_EXPECTED)
    if head.startswith(b"PK\x03\x04"):
        raise ExtractError(path, "is a zip file or an Excel workbook, not CSV text", CSV_EXPECTED)
    if b"\x00" in head:
        raise ExtractError(path, "is not a text file (it holds binary data)", CSV_EXPECTED)


def _not_utf8(path: Path) -> ExtractError:
    """Where the first byte that is not UTF-8 is (by line number, never by its text)."""
    data = path.read_bytes()
    data = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    try:
        data.decode("utf-8")
        where = ""
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        where = f" (line {line} has the first byte that is not UTF-8; it may be saved as Windows-1252 or Latin-1)"
    return ExtractError(path, f"is not UTF-8 text{where}", CSV_EXPECTED)


def _parser_problem(path: Path, err: Exception) -> ExtractError:
    """pandas' parser error as line numbers only (its message could quote a cell)."""
    text = str(err)
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if fields:
        problem = (f"line {fields[2]} has {fields[3]} fields but the header has {fields[1]} "
                   "(a comma inside a value that is not in quotes?)")
    else:
        line = re.search(r"(?:line|row) (\d+)", text)
        problem = ("cannot be read as CSV (unbalanced quotes or a broken line"
                   + (f" near line {line[1]}" if line else "") + ")")
    return ExtractError(path, problem, CSV_EXPECTED)


def _header_key_series(s: pd.Series) -> pd.Series:
    return s.str.strip().str.lower().str.replace(r"[^a-z0-9()]", "", regex=True)


def _check_columns(frame: pd.DataFrame, model, path: Path) -> None:
    """A missing required column is structural: stop with one sentence."""
    required = [name for name, col in model.to_schema().columns.items() if col.required]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ExtractError(path, f"has no column '{missing[0]}'" + (
            f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""),
            f"the columns {', '.join(required)} (see docs/data-contract.md)")


def _check_unique_columns(columns, path, where: str = "") -> None:
    """A column named twice (after the header's styling is removed) is structural: which of
    the two holds the data cannot be known."""
    names = pd.Index(columns)
    repeated = names[names.duplicated()].unique()
    if len(repeated):
        times = int((names == repeated[0]).sum())
        also = f" (also repeated: {', '.join(map(str, repeated[1:]))})" if len(repeated) > 1 else ""
        raise ExtractError(path, f"{where}has the column '{repeated[0]}' "
                           f"{'twice' if times == 2 else f'{times} times'}{also}; keep one")


def _keep_apart(columns, reserved: frozenset[str]) -> dict[str, str]:
    """Renames for an extract's columns named like the pipeline's own: ``file`` ->
    ``extract_file`` (prefixed again while the name is taken)."""
    taken = set(columns) | reserved
    renames = {}
    for name in [c for c in columns if c in reserved]:
        new = EXTRACT_PREFIX + name
        while new in taken:
            new = EXTRACT_PREFIX + new
        renames[name] = new
        taken.add(new)
    return renames


def _outcomes(rows: pd.DataFrame, source: str, path: Path, outcome: str, reason) -> pd.DataFrame:
    return pd.DataFrame({"source": source, "file": str(path), "source_row": rows["source_row"].to_numpy(),
                         "outcome": outcome, "reason": reason})


# --------------------------------------------------------------------------- reading workbooks


#: Files in rocu/ that look like a region's return but are not named ``*.xlsx`` (another format,
#: or ``.XLSX``): they stop the run (ignoring one would drop a region's return unnoticed).
NOT_XLSX_RETURNS = {".xlsx", ".xls", ".xlsm", ".xlsb", ".ods", ".csv"}
#: The sheet kinds of a return: the column that tells them apart, and its wording in messages.
ROCU_SHEETS = {"rocu_orders": ("Orders", "start_date", "a start date"),
               "rocu_offending": ("Offending", "arrest_date", "an arrest date")}


@dataclass
class RocuReturns:
    """The ROCU workbooks' rows (orders and offending), the regions read, and what in rocu/
    was ignored and why (``path: reason``)."""

    orders: pd.DataFrame
    offending: pd.DataFrame
    regions: list[str]
    ignored: list[str]


def read_rocu_workbooks(folder: Path, synonyms: dict) -> RocuReturns:
    """Every ``rocu/*.xlsx``: find each sheet's header row (it may sit below a title block),
    map its wording onto the vocabulary, and tell the orders sheet from the offending sheet
    by its columns.  Lock files, hidden files, other files and sheets that are neither (a
    'Notes' sheet) are ignored and listed.  A missing or empty rocu/ gives no rows."""
    lookup = {_header_key(s): canon for canon, words in synonyms.items() for s in [canon, *words]}
    workbooks, ignored = _rocu_files(Path(folder))
    found = {kind: [] for kind in ROCU_SHEETS}
    for path in workbooks:
        sheets, skipped = _read_return(path, lookup)
        for kind, body in sheets:
            found[kind].append(body)
        ignored += skipped
    stacked = {kind: pd.concat(frames, ignore_index=True) if frames else _empty_raw(kind)
               for kind, frames in found.items()}
    return RocuReturns(stacked["rocu_orders"], stacked["rocu_offending"], [p.stem for p in workbooks], ignored)


def _rocu_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The workbooks in rocu/ (none if it is missing), and the other files with why each is
    ignored; a return in another spreadsheet format stops the run."""
    if not folder.exists():
        return [], []
    if not folder.is_dir():
        raise ExtractError(folder, "is a file, not a folder", "a folder holding one .xlsx workbook per ROCU region")
    workbooks, ignored = [], []
    for path in sorted(folder.iterdir()):
        name, suffix = path.name, path.suffix.lower()
        if name.startswith("~$"):
            ignored.append(f"{path}: Excel lock file")
        elif name.startswith("."):
            ignored.append(f"{path}: hidden file")
        elif path.is_dir():
            ignored.append(f"{path}: folder")
        elif path.suffix == ".xlsx" and not _inside(path, folder):
            ignored.append(f"{path}: links outside the rocu/ folder (not read)")
        elif path.suffix == ".xlsx":
            workbooks.append(path)
        elif suffix in NOT_XLSX_RETURNS:
            # ".XLSX" too: the report's provenance hashes rocu/*.xlsx, so every workbook read must match it.
            raise ExtractError(path, "looks like a ROCU return but is not named <region>.xlsx",
                               "each return saved as an Excel Workbook named <region>.xlsx (lower-case extension) "
                               "in rocu/; move other files out")
        else:
            ignored.append(f"{path}: not a workbook")
    return workbooks, ignored


def _inside(path: Path, folder: Path) -> bool:
    """Is the real path of ``path`` (links followed) inside ``folder``?"""
    import os

    root = os.path.realpath(folder)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _read_return(path: Path, lookup: dict) -> tuple[list[tuple[str, pd.DataFrame]], list[str]]:
    """One region's workbook: its Orders and Offending rows (both sheets must be there) and
    the sheets ignored, with why."""
    grids, formulas = _open_workbook(path)
    found, skipped = [], []
    contract = {word.lower() for word, _, _ in ROCU_SHEETS.values()}
    for sheet, grid in grids.items():
        if str(sheet).strip().lower() not in contract:
            # Only the contract's sheets are read: a "Notes" or a superseded draft is listed, not used.
            skipped.append(f"sheet '{sheet}': not one of the contract's sheets (Orders, Offending)")
            continue
        kind, body = _sheet_rows(grid, formulas[sheet], lookup, path, str(sheet))
        if kind is None:
            skipped.append(f"sheet '{sheet}': {body}")
        else:
            found.append((kind, body))
    kinds = {kind for kind, _ in found}
    for kind, (word, _, column) in ROCU_SHEETS.items():
        if kind not in kinds:
            others = f" (ignored: {'; '.join(skipped)})" if skipped else ""
            raise ExtractError(path, f"has no {word} sheet: no sheet has a header row with {column} column{others}",
                               "an Orders sheet (with a start date column) and an Offending sheet (with an "
                               "arrest date column), headed as in ingest.rocu_header_synonyms (docs/data-contract.md)")
    return found, [f"{path} {s}" for s in skipped]


def _read_head(path: Path, size: int, expected: str) -> bytes:
    """The first ``size`` bytes of a file, or one line saying it cannot be opened."""
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as err:
        raise ExtractError(path, f"cannot be opened ({type(err).__name__})", expected) from None


def _open_workbook(path: Path) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Every sheet as a grid of cell values (cached values of formulas), and where a formula
    has no cached value (the workbook was written by a program that does not calculate)."""
    head = _read_head(path, 8, XLSX_EXPECTED)
    if not head:
        raise ExtractError(path, "is an empty file (0 bytes), not an Excel workbook", XLSX_EXPECTED)
    read = functools.partial(pd.read_excel, path, sheet_name=None, header=None, dtype=object, engine="openpyxl")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's warnings can quote a cell's value
            grids = read()
            formulas = read(engine_kwargs={"data_only": False}) if _has_formulas(path) else {}
    except Exception as err:  # noqa: BLE001 - any failure to open is the same for the user
        text = b"\0" not in head and not head.startswith(b"PK")
        kind = "it looks like text, e.g. a CSV renamed .xlsx" if text else type(err).__name__
        raise ExtractError(path, f"cannot be read as an Excel workbook ({kind})", XLSX_EXPECTED) from None
    flags = {}
    for sheet, grid in grids.items():
        if sheet not in formulas:
            flags[sheet] = pd.DataFrame(False, index=grid.index, columns=grid.columns)
            continue
        # A formula cell's text starts with '='; without a cached value its value is missing.
        shown = formulas[sheet]
        rows, cols = grid.index.union(shown.index), grid.columns.union(shown.columns)
        grids[sheet] = grid = grid.reindex(index=rows, columns=cols)
        is_formula = shown.reindex(index=rows, columns=cols).apply(
            lambda c: c.astype("string").str.startswith("=")).fillna(False).astype(bool)
        flags[sheet] = is_formula & grid.isna()
    return grids, flags


def _has_formulas(path: Path) -> bool:
    """Whether any sheet holds a formula (read a second time only then)."""
    with zipfile.ZipFile(path) as book:
        return any(re.search(rb"<(?:\w+:)?f[ >]", book.read(name)) for name in book.namelist()
                   if name.startswith("xl/worksheets/") and name.endswith(".xml"))


def _sheet_rows(grid: pd.DataFrame, formulas: pd.DataFrame, lookup: dict, path: Path,
                sheet: str) -> tuple[str | None, pd.DataFrame | str]:
    """A sheet's rows under its header, as ``(kind, rows)``; or ``(None, why it is ignored)``."""
    used_rows = grid.notna().any(axis=1) | formulas.any(axis=1)
    used_cols = grid.notna().any(axis=0) | formulas.any(axis=0)
    grid, formulas = grid.loc[used_rows, used_cols], formulas.loc[used_rows, used_cols]
    if grid.empty:
        return None, "blank"
    top = grid.head(30)  # the header sits in the first rows; never scan the whole sheet
    mapped = top.apply(lambda row: row.map(lambda v: lookup.get(_header_key(v)) if pd.notna(v) else None))
    hits = mapped.notna().sum(axis=1)
    if hits.max() < 3:
        return None, "no header row with ROCU column names"
    header_at = hits.idxmax()
    header = [mapped.at[header_at, c] or (_header_key(grid.at[header_at, c]) if pd.notna(grid.at[header_at, c])
                                          else f"unnamed_{c + 1}") for c in grid.columns]
    kind = next((k for k, (_, column, _) in ROCU_SHEETS.items() if column in header), None)
    if kind is None:
        return None, "its header has neither a start date nor an arrest date column"
    _check_unique_columns(header, path, f"sheet '{sheet}' ")
    renames = _keep_apart(header, _reserved(kind))
    header = [renames.get(h, h) for h in header]
    body = grid.loc[grid.index > header_at].set_axis(header, axis=1)
    _check_columns(body, RAW_MODELS[kind], Path(f"{path}[{sheet}]"))
    # A contract column's formula without a value quarantines the row (named by its first such column).
    contract = [h for h in header if h in set(lookup.values())]
    hit = formulas.loc[body.index].set_axis(header, axis=1)[contract]
    first = hit.idxmax(axis=1).where(hit.any(axis=1)) if len(hit) else pd.Series(index=body.index, dtype=object)
    return kind, body.assign(region=path.stem, file=str(path), sheet=sheet,
                             source_row=(body.index.to_numpy() + 1).astype(int),
                             formula_without_value=first.astype("string"))


def _empty_raw(source: str) -> pd.DataFrame:
    """A source's raw rows with no rows: every contract column, and the pipeline's own."""
    text = "str" if source in CSV_SOURCES else object
    columns = {name: pd.Series(dtype=text) for name in RAW_MODELS[source].to_schema().columns}
    own = {"source_row": pd.Series(dtype="int64")}
    if source not in CSV_SOURCES:
        own |= {"region": pd.Series(dtype="str"), "file": pd.Series(dtype="str"), "sheet": pd.Series(dtype="str"),
                "formula_without_value": pd.Series(dtype="string")}
    return pd.DataFrame(columns | own)


@functools.cache
def _reserved(source: str) -> frozenset[str]:
    """The column names the pipeline writes beside a source's own: its bookkeeping and every
    column the cleaner derives (``name_key``, ``event_date``, ``after_extraction`` ...)."""
    empty = _empty_raw(source)
    derived = set(_cleaners(40, LAST_DAY)[source](empty).columns) - set(empty.columns)
    return frozenset(OWN_COLUMNS) | frozenset(derived)


# --------------------------------------------------------------------------- cleaning


#: Letters that Unicode decomposition does not reduce to ASCII.
TRANSLITERATE = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss", "Æ": "AE",
                               "æ": "ae", "Œ": "OE", "œ": "oe", "Þ": "Th", "þ": "th", "ð": "d", "ı": "i"})


def normalise_name(s: pd.Series) -> pd.Series:
    """Case, accents, hyphens, apostrophes and spacing removed: ``Łukasz O'Brien-Lee`` ->
    ``lukasz obrien lee``."""
    text = s.astype("string").fillna("")
    # Names repeat, so fold each distinct spelling once (national extracts have millions of rows).
    uniques = pd.Series(text.unique())
    folded_uniques = uniques.map(lambda v: unicodedata.normalize("NFKD", v.translate(TRANSLITERATE))
                                 .encode("ascii", "ignore").decode("ascii"))
    folded = text.map(pd.Series(folded_uniques.to_numpy(), index=uniques.to_numpy())).astype("string")
    return (folded.str.lower().str.replace(r"['’`.]", "", regex=True).str.replace(r"[^a-z]+", " ", regex=True)
            .str.strip())


def parse_duration(text: pd.Series) -> pd.Series:
    """Free-text order length in months (A16): '2 years', '24 months', 'Two years', '3 yrs',
    '36 mths', a bare number of months; missing where there is no number."""
    t = text.astype("string").str.lower().str.strip().fillna("")
    for word, n in NUMBER_WORDS.items():
        t = t.str.replace(rf"\b{word}\b", str(n), regex=True)
    parts = t.str.extract(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>y|yr|yrs|year|years|m|mth|mths|month|months)?\b")
    n = pd.to_numeric(parts["n"], errors="coerce")
    years = parts["unit"].fillna("").str.startswith("y")
    months = n.where(~years, n * 12)
    # An absurd length ('99999999999999999999 months') stays absurd (out of range), never overflowing.
    return months.clip(upper=1_000_000).round().astype("Int64")


def _partial_date(raw: pd.Series) -> pd.DataFrame:
    """Dates that may be partial (``mm/yyyy`` or ``yyyy``): date (first day), precision and
    problem (as :func:`~strostudy.dates.parse_dates`; a partial date that is no date, such as
    ``13/2019``, is unparseable)."""
    text = raw.astype("string").str.strip()
    month_only = text.str.fullmatch(r"\d{1,2}/\d{4}").fillna(False).to_numpy(dtype=bool)
    year_only = text.str.fullmatch(r"\d{4}").fillna(False).to_numpy(dtype=bool)
    partial = month_only | year_only
    full = parse_dates(raw.where(~partial, None))
    as_day = ("01/" + text).where(month_only, "01/01/" + text).where(partial)
    parsed = pd.to_datetime(as_day, format="%d/%m/%Y", errors="coerce")
    first_day, out_of_range = in_bounds(parsed)
    date = full["date"].where(~partial, first_day)
    precision = np.select([month_only, year_only], ["month", "year"], "day")
    problem = full["date_problem"].where(~partial)
    problem = problem.mask(partial & parsed.isna().to_numpy(), "unparseable").mask(out_of_range, "out_of_range")
    return pd.DataFrame({"date": date, "precision": precision, "problem": problem}, index=raw.index)


def _as_recorded_if_unparseable(raw: pd.Series, parsed: pd.DataFrame) -> pd.Series:
    """The text of a date that is no date (``1987-02-30``), missing elsewhere: a blanked DOB's
    digits, which the linker may still compare (A85, A89); interim only, like the DOB."""
    return raw.astype("string").str.strip().where(parsed["date_problem"].eq("unparseable").fillna(False))


def clean_orders(raw: pd.DataFrame, pivot: int) -> pd.DataFrame:
    made = _partial_date(raw["date_made"])
    dob = parse_dates(raw["date_of_birth"])
    status_date = parse_dates(raw["status_date"])
    ids = canonical_pnc(raw["pnc_id"], pivot)
    kind = raw["order_type"].str.strip().str.lower()
    return raw.assign(
        order_ref=raw["order_ref"].str.strip().replace("", pd.NA),
        pnc_id=ids["pnc_id"], pnc_id_as_recorded=ids["pnc_id_as_recorded"], pnc_problem=ids["pnc_problem"],
        surname=raw["surname"].str.strip(), forenames=raw["forenames"].str.strip(),
        name_key=normalise_name(raw["forenames"] + " " + raw["surname"]).replace("", pd.NA),
        name_key_swapped=normalise_name(raw["surname"] + " " + raw["forenames"]).replace("", pd.NA),
        date_of_birth=dob["date"], date_of_birth_problem=dob["date_problem"],
        is_interim=kind.str.contains("interim"), order_type=raw["order_type"].str.strip(),
        date_made=made["date"], date_made_precision=made["precision"], date_made_problem=made["problem"],
        length_months=parse_duration(raw["duration"]), status=raw["status"].str.strip(),
        status_date=status_date["date"], status_date_problem=status_date["date_problem"],
    )


def clean_pnc_arrests(raw: pd.DataFrame, pivot: int, extraction_date: pd.Timestamp) -> pd.DataFrame:
    ids = canonical_pnc(raw["pnc_id"], pivot)
    date = parse_dates(raw["arrest_date"])
    get = raw.get
    return raw.assign(
        pnc_id=ids["pnc_id"], pnc_problem=ids["pnc_problem"],
        asn=get("asn", pd.Series("", index=raw.index)).str.strip().replace("", pd.NA),
        arrest_date=date["date"], arrest_date_problem=date["date_problem"],
        cjs_code=raw["cjs_code"].str.strip().str.upper().replace("", pd.NA),
        ho_class=get("ho_class", pd.Series("", index=raw.index)).str.strip().replace("", pd.NA),
        offence_title=get("offence_title", pd.Series("", index=raw.index)).str.strip(),
        after_extraction=date["date"] > extraction_date,
    )


CODE_IN_TEXT = r"\[\s*([A-Z]{2}\d{5}[A-Z]?)\s*\]"


def clean_pnd_records(raw: pd.DataFrame, pivot: int, extraction_date: pd.Timestamp = LAST_DAY) -> pd.DataFrame:
    ids = canonical_pnc(raw.get("pnc_id", pd.Series("", index=raw.index)), pivot)
    when = parse_dates(raw["event_datetime"])
    dob = parse_dates(raw["date_of_birth"])
    desc = raw["offence_description"].str.strip()
    return raw.assign(
        pnd_ref=raw["pnd_ref"].str.strip(), pnc_id=ids["pnc_id"], pnc_problem=ids["pnc_problem"],
        surname=raw["surname"].str.strip(), forenames=raw["forenames"].str.strip(),
        name_key=normalise_name(raw["forenames"] + " " + raw["surname"]).replace("", pd.NA),
        name_key_swapped=normalise_name(raw["surname"] + " " + raw["forenames"]).replace("", pd.NA),
        date_of_birth=dob["date"], date_of_birth_problem=dob["date_problem"],
        date_of_birth_as_recorded=_as_recorded_if_unparseable(raw["date_of_birth"], dob),
        event_date=when["date"], event_date_problem=when["date_problem"],
        offence_description=desc.replace("", pd.NA),
        code_in_text=desc.str.upper().str.extract(CODE_IN_TEXT, expand=False),
        offence_text=desc.str.replace(CODE_IN_TEXT, "", regex=True, flags=re.I).str.strip(),
        after_extraction=when["date"] > extraction_date,
    )


def clean_rocu_orders(raw: pd.DataFrame, pivot: int) -> pd.DataFrame:
    text = raw.astype(object).where(raw.notna(), "")
    ids = canonical_pnc(text.get("pnc_id", pd.Series("", index=raw.index)).astype(str), pivot)
    start = parse_dates(raw["start_date"])
    dob = parse_dates(raw["date_of_birth"])
    return raw.assign(
        order_ref=text["order_ref"].astype(str).str.strip().replace("", pd.NA),
        pnc_id=ids["pnc_id"], pnc_problem=ids["pnc_problem"],
        name_key=normalise_name(text["forenames"].astype(str) + " " + text["surname"].astype(str)),
        name_key_swapped=normalise_name(text["surname"].astype(str) + " " + text["forenames"].astype(str)),
        date_of_birth=dob["date"], date_of_birth_problem=dob["date_problem"],
        date_of_birth_as_recorded=_as_recorded_if_unparseable(raw["date_of_birth"], dob),
        start_date=start["date"], start_date_problem=start["date_problem"],
        length_months=parse_duration(text["length"].astype(str)),
        n_conditions=text.get("conditions", pd.Series("", index=raw.index)).astype(str)
        .str.count(r"[^;]*[^;\s][^;]*"),
        region=raw["region"].astype(str), source_row=raw["source_row"].astype(int),
    )


def clean_rocu_offending(raw: pd.DataFrame, pivot: int, extraction_date: pd.Timestamp = LAST_DAY) -> pd.DataFrame:
    text = raw.astype(object).where(raw.notna(), "")
    ids = canonical_pnc(text.get("pnc_id", pd.Series("", index=raw.index)).astype(str), pivot)
    date = parse_dates(raw["arrest_date"])
    return raw.assign(
        order_ref=text["order_ref"].astype(str).str.strip().replace("", pd.NA),
        pnc_id=ids["pnc_id"], arrest_date=date["date"], arrest_date_problem=date["date_problem"],
        offence=text["offence"].astype(str).str.strip().replace("", pd.NA),
        cjs_code=text.get("cjs_code", pd.Series("", index=raw.index)).astype(str).str.strip().str.upper()
        .replace("", pd.NA),
        region=raw["region"].astype(str), source_row=raw["source_row"].astype(int),
        after_extraction=date["date"] > extraction_date,
    )


def _person_columns(raw: pd.DataFrame, pivot: int) -> dict:
    """The identity columns of a comparison or custody row, cleaned as the order list's."""
    ids = canonical_pnc(raw["pnc_id"], pivot)
    dob = parse_dates(raw["date_of_birth"])
    return dict(pnc_id=ids["pnc_id"], pnc_id_as_recorded=ids["pnc_id_as_recorded"], pnc_problem=ids["pnc_problem"],
                surname=raw["surname"].str.strip(), forenames=raw["forenames"].str.strip(),
                name_key=normalise_name(raw["forenames"] + " " + raw["surname"]).replace("", pd.NA),
                name_key_swapped=normalise_name(raw["surname"] + " " + raw["forenames"]).replace("", pd.NA),
                date_of_birth=dob["date"], date_of_birth_problem=dob["date_problem"])


def clean_comparison(raw: pd.DataFrame, pivot: int) -> pd.DataFrame:
    """Comparison-pool rows: identity as the order list's; the index date a full date."""
    index = parse_dates(raw["index_date"])
    basis = raw.get("basis", pd.Series("", index=raw.index))
    return raw.assign(comparison_ref=raw["comparison_ref"].str.strip().replace("", pd.NA),
                      **_person_columns(raw, pivot), index_date=index["date"], index_date_problem=index["date_problem"],
                      basis=basis.fillna("").str.strip().str.lower().replace("", pd.NA))


def clean_custody(raw: pd.DataFrame, pivot: int) -> pd.DataFrame:
    """Custody periods: identity as the order list's; a blank end date is a period still running."""
    start, end = parse_dates(raw["start_date"]), parse_dates(raw["end_date"])
    kind = raw.get("kind", pd.Series("", index=raw.index))
    return raw.assign(**_person_columns(raw, pivot), start_date=start["date"], start_date_problem=start["date_problem"],
                      end_date=end["date"], end_date_problem=end["date_problem"],
                      kind=kind.fillna("").str.strip().str.lower().replace("", pd.NA))


def _cleaners(pivot: int, extraction_date: pd.Timestamp) -> dict:
    """Each source's cleaner, with the study's PNC year pivot and extraction date."""
    return {"orders": lambda r: clean_orders(r, pivot),
            "pnc_arrests": lambda r: clean_pnc_arrests(r, pivot, extraction_date),
            "pnd_records": lambda r: clean_pnd_records(r, pivot, extraction_date),
            "rocu_orders": lambda r: clean_rocu_orders(r, pivot),
            "rocu_offending": lambda r: clean_rocu_offending(r, pivot, extraction_date),
            "comparison": lambda r: clean_comparison(r, pivot),
            "custody": lambda r: clean_custody(r, pivot)}


# --------------------------------------------------------------------------- validation


#: Date columns whose blank (or N/K) value quarantines the row.
REQUIRED_DATES = {"orders": ["date_made", "date_of_birth"], "pnc_arrests": ["arrest_date"],
                  "comparison": ["index_date", "date_of_birth"], "custody": ["start_date"],
                  "pnd_records": ["event_date"], "rocu_offending": ["arrest_date"]}
#: Sources whose date of birth serves only to link the row to a person: a DOB there that is not
#: a date (``1987-02-30``, ``1987-13-04``) is blanked and the row kept (A89), not quarantined as
#: ``date_of_birth_unparseable``.  The clean table keeps ``date_of_birth_problem`` beside the
#: blank (and the text in ``date_of_birth_as_recorded``, whose digits the linker may still
#: compare, A85), and the row's ledger reason ends ``_after_dob_blanked`` (:func:`blanked_dobs`).  On
#: the order list the DOB identifies the subject, so there the row is still quarantined.
DOB_BLANKED_IF_UNPARSEABLE = ("pnd_records", "rocu_orders")
#: Sources whose event dates cannot be after the extraction date, and the reason they get.
AFTER_EXTRACTION = {"pnc_arrests": "arrest_after_extraction_date", "pnd_records": "event_after_extraction_date",
                    "rocu_offending": "arrest_after_extraction_date"}
#: pandera's names for its built-in checks, and the ending of the reason a row failing one gets
#: (``<column>_<ending>``); a model's own dataframe checks keep their names.
PANDERA_REASONS = {"not_nullable": "missing", "field_uniqueness": "duplicate", "greater_than_or_equal_to":
                   "out_of_range", "less_than_or_equal_to": "out_of_range", "greater_than": "out_of_range",
                   "less_than": "out_of_range", "in_range": "out_of_range", "str_matches": "malformed",
                   "isin": "not_allowed", "dtype": "wrong_type"}


def row_checks(source: str, clean: pd.DataFrame) -> pd.Series:
    """The first row-level problem of each row, as a documented reason (missing where none;
    docs/data-contract.md).

    Parsing problems are named by column; the model's own checks (nullability, uniqueness,
    ranges and date order) are run lazily by pandera and named by :data:`PANDERA_REASONS`."""
    reasons = pd.Series(pd.NA, index=clean.index, dtype="string")

    def flag(mask, reason):
        nonlocal reasons
        reasons = reasons.mask(reasons.isna() & pd.Series(mask, index=clean.index).fillna(False), reason)

    if "formula_without_value" in clean:
        flag(clean["formula_without_value"].notna(), clean["formula_without_value"] + "_formula_without_value")
    for col in [c for c in clean.columns if c.endswith("_problem") and c != "pnc_problem"]:
        base = col.removesuffix("_problem")
        flag(clean[col].eq("out_of_range"), f"{base}_out_of_range")
        if not (base == "date_of_birth" and source in DOB_BLANKED_IF_UNPARSEABLE):
            flag(clean[col].eq("unparseable"), f"{base}_unparseable")
        if base in REQUIRED_DATES.get(source, []):
            flag(clean[col].eq("missing"), f"{base}_missing")
    if source == "pnc_arrests":
        flag(clean["pnc_problem"].notna(), "pnc_id_" + clean["pnc_problem"].fillna(""))
        reasons = reasons.str.replace("pnc_id_check_letter", "pnc_id_check_letter_wrong")
    if source in AFTER_EXTRACTION:
        flag(clean["after_extraction"], AFTER_EXTRACTION[source])
    if source == "orders":
        flag(clean["order_ref"].isna(), "order_ref_missing")
    if source == "comparison":
        flag(clean["comparison_ref"].isna(), "comparison_ref_missing")
    if source == "custody":  # a period is tied to its person by PNC ID, else by name and DOB
        flag(clean["pnc_id"].isna() & (clean["name_key"].isna() | clean["date_of_birth"].isna()),
             "person_unidentifiable")
    if source in ("orders", "pnd_records", "comparison"):
        flag(clean["name_key"].isna(), "name_missing")
    try:
        # Uniqueness (order_ref) is checked among the rows that pass every other check: a row
        # quarantined for its own problem leaves the other row as the only record of its ref.
        # Rows that still share a ref are all quarantined (order_ref_duplicate): they disagree
        # (exact copies were merged on reading), and keeping whichever comes first in the file
        # would be a guess; ROCU rows for that ref then show as order_not_on_order_list.
        CLEAN_MODELS[source].validate(clean.loc[reasons.isna()], lazy=True)
    except pa.errors.SchemaErrors as errors:
        first = _pandera_reasons(errors.failure_cases)
        flag(clean.index.isin(first.index), pd.Series(first).reindex(clean.index).astype("string"))
    return reasons


def _pandera_reasons(cases: pd.DataFrame) -> pd.Series:
    """The first failed check of each row (by index), as a documented reason."""
    cases = cases.dropna(subset=["index"])
    check = cases["check"].astype(str).str.replace(r"\(.*", "", regex=True)
    ending = check.map(PANDERA_REASONS)
    cases = cases.assign(reason=np.where(ending.notna(), cases["column"].astype(str) + "_" + ending.fillna(""), check))
    return cases.drop_duplicates("index").set_index("index")["reason"]


def split_failures(source: str, raw: pd.DataFrame, clean: pd.DataFrame,
                   path: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(kept clean rows, quarantined rows as the extract had them plus ``check``, outcomes)."""
    reasons = row_checks(source, clean)
    bad = reasons.notna().to_numpy()
    flags = ["formula_without_value"]  # used by the checks, not part of any table
    quarantined = raw.loc[bad].drop(columns=flags, errors="ignore").assign(check=reasons[bad])
    kept = clean.loc[~bad].drop(columns=flags, errors="ignore").reset_index(drop=True)
    return kept, quarantined, pd.DataFrame({
        "source": source, "file": quarantined.get("file", pd.Series(path, index=quarantined.index)).astype(str),
        "source_row": quarantined["source_row"].to_numpy(), "outcome": "quarantined",
        "reason": quarantined["check"].to_numpy()})


RAW_INPUTS = {"orders": "raw_orders", "pnc_arrests": "raw_pnc_arrests", "pnd_records": "raw_pnd_records",
              "comparison": "raw_comparison", "custody": "raw_custody"}


def _raw_paths(raw: str | Path | dict) -> dict[str, Path]:
    """The extracts' paths, by registry name: from a folder laid out as data/raw/ (the optional
    extracts only where they exist), or a dict."""
    if isinstance(raw, dict):
        return {k: Path(v) for k, v in raw.items()}
    folder = Path(raw)
    paths = {t: folder / CSV_SOURCES[s] for s, t in RAW_INPUTS.items()}
    return {**{t: p for t, p in paths.items() if p.exists() or t.removeprefix("raw_") not in OPTIONAL_SOURCES},
            "raw_rocu": folder / "rocu"}


def ingest(raw: str | Path | dict, config: dict) -> Ingested:
    """Read, clean and validate every extract: ``raw`` is the folder holding them (as
    ``data/raw/``) or a dict of the registry's raw inputs (``raw_orders``, ... ``raw_rocu``)."""
    from .keys import synthetic_mark

    paths = _raw_paths(raw)
    cfg = config["ingest"]
    cleaners = _cleaners(int(cfg["pnc_year_pivot"]), pd.Timestamp(config["study"]["extraction_date"]))
    out = Ingested(synthetic_mark=synthetic_mark(paths["raw_orders"].parent))
    for source, table in RAW_INPUTS.items():
        path = paths.get(table)
        if path is None or (source in OPTIONAL_SOURCES and not path.exists()):
            # An optional extract not supplied: an empty clean table, nothing read.
            out.tables[source] = cleaners[source](_empty_raw(source)).assign(file=pd.Series(dtype="str"))
            continue
        rows, set_aside = read_csv_extract(path, source)
        if source == "orders" and rows.empty:
            raise ExtractError(path, "the order list has no orders (no rows under its header)",
                               "one row per STRO or interim STRO (docs/data-contract.md)")
        out.rows_read[source] = len(rows) + len(set_aside)
        out.outcomes.append(set_aside)
        kept, quarantined, outcomes = split_failures(source, rows, cleaners[source](rows), str(path))
        if source == "orders" and kept.empty:
            raise ExtractError(path, f"every row was quarantined ({_rows_by_reason(outcomes)}), so no order is "
                               "left to study", "order rows that pass the checks in docs/data-contract.md")
        out.tables[source] = kept.assign(file=str(path))
        out.quarantine[source] = pd.concat([rows.iloc[:0].assign(check=pd.Series(dtype=str)), quarantined]) \
            if quarantined.empty else quarantined
        out.outcomes.append(outcomes)
    returns = read_rocu_workbooks(paths["raw_rocu"], cfg["rocu_header_synonyms"])
    for source, raw_rows in (("rocu_orders", returns.orders), ("rocu_offending", returns.offending)):
        out.rows_read[source] = len(raw_rows)  # blank spreadsheet rows are not rows
        kept, quarantined, outcomes = split_failures(source, raw_rows, cleaners[source](raw_rows),
                                                     str(paths["raw_rocu"]))
        out.tables[source] = kept
        out.quarantine[source] = quarantined
        out.outcomes.append(outcomes)
    out.tables["rocu_regions"] = pd.DataFrame({"region": returns.regions})
    if returns.ignored:
        out.notes.append("ignored " + "; ".join(returns.ignored))
    return out


def write_quarantine(frames: dict[str, pd.DataFrame], folder: str | Path) -> None:
    """One CSV per source of quarantined rows, ``source_row`` and ``check`` first."""
    from .tables import write_csv_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in sorted(frames.items()):
        if frame is None or not len(frame):
            frame = pd.DataFrame(columns=["source_row", "check"])
        first = ["source_row", "check"] + [c for c in frame.columns if c not in ("source_row", "check")]
        write_csv_file(frame[first], folder / f"{name}.csv")


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> Ingested:
    """The ingest stage: the raw extracts in, cleaned tables, quarantine and row outcomes out."""
    import json

    from . import tables
    from .stages import say

    ing = ingest({k: v for k, v in inputs.items() if k.startswith("raw_")}, config)
    for note in ing.notes:
        say(note, log)
    say("read " + ", ".join(f"{n:,} {s} rows" for s, n in ing.rows_read.items()), log)
    for line in quarantine_summary(ing, output["quarantine"]) + blanked_summary(ing):
        say(line, log)
    for name, table in ing.tables.items():
        text = {c: "string" for c in table.columns if table[c].dtype == object}
        tables.write(table.astype(text), f"clean_{name}", output[f"clean_{name}"])
    write_quarantine(ing.quarantine, output["quarantine"])
    tables.write(ing.outcome_table(), "ingest_outcomes", output["ingest_outcomes"])
    Path(output["rows_read"]).write_text(json.dumps(ing.rows_read, indent=1, sort_keys=True))
    Path(output["extract_mark"]).write_text(json.dumps({"synthetic_mark": ing.synthetic_mark}) + "\n")
    return ing


def load(inputs: dict) -> Ingested:
    """The ingest stage's outputs read back, for the stages after it."""
    import json

    from . import tables

    ing = Ingested()
    for name in _CLEAN_NAMES:
        ing.tables[name] = tables.read(f"clean_{name}", inputs[f"clean_{name}"])
    ing.rows_read = json.loads(Path(inputs["rows_read"]).read_text())
    ing.outcomes = [tables.read("ingest_outcomes", inputs["ingest_outcomes"])]
    ing.synthetic_mark = bool(json.loads(Path(inputs["extract_mark"]).read_text())["synthetic_mark"])
    return ing


_CLEAN_NAMES = ["orders", "pnc_arrests", "pnd_records", "rocu_orders", "rocu_offending", "rocu_regions", "comparison",
                "custody"]


def quarantine_summary(ingested: Ingested, quarantine_dir: str) -> list[str]:
    """One line per source with quarantined rows: file, checks, row numbers, and where they went."""
    lines = []
    outcomes = ingested.outcome_table()
    q = outcomes.loc[outcomes["outcome"] == "quarantined"]
    for (source, file), rows in q.groupby(["source", "file"], sort=True):
        lines.append(f"{file}: {len(rows)} row(s) quarantined ({_rows_by_reason(rows)}); "
                     f"see {quarantine_dir}/{source}.csv")
    return lines


def blanked_dobs(ingested: Ingested) -> pd.DataFrame:
    """The kept rows whose date of birth was not a date and was blanked (A89): ``source``,
    ``file``, ``source_row`` and ``reason`` (``date_of_birth_unparseable``)."""
    parts = []
    for source in DOB_BLANKED_IF_UNPARSEABLE:
        table = ingested.tables.get(source)
        if table is None or "date_of_birth_problem" not in table:
            continue
        hit = table.loc[table["date_of_birth_problem"].eq("unparseable").fillna(False).to_numpy(dtype=bool)]
        parts.append(pd.DataFrame({"source": source, "file": hit["file"].astype(str).to_numpy(),
                                   "source_row": hit["source_row"].astype(int).to_numpy(),
                                   "reason": "date_of_birth_unparseable"}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["source", "file", "source_row", "reason"])


def blanked_summary(ingested: Ingested) -> list[str]:
    """One line per file with rows kept but their date of birth blanked (A89)."""
    blanked = blanked_dobs(ingested)
    return [f"{file}: {len(rows)} row(s) kept with the date of birth blanked ({_rows_by_reason(rows)})"
            for (source, file), rows in blanked.groupby(["source", "file"], sort=True)]


def _rows_by_reason(rows: pd.DataFrame) -> str:
    """``arrest_date_missing in row 162; pnc_id_check_letter_wrong in rows 864, 1156``: each
    reason with its first five row numbers."""
    parts = []
    for reason, r in rows.groupby("reason"):
        nums = sorted(r["source_row"].astype(int))
        shown = ", ".join(map(str, nums[:5])) + (f" and {len(nums) - 5} more" if len(nums) > 5 else "")
        parts.append(f"{reason} in row{'s' if len(nums) > 1 else ''} {shown}")
    return "; ".join(parts)
