"""Read, validate and clean the raw extracts.

Structural problems (a missing file or required column, an empty file, an unreadable
workbook) raise :class:`~strostudy.errors.ExtractError`: one sentence naming the file and the
column.  Row-level problems never stop the run: the row is quarantined with the check it
failed, and every row read is accounted for in the returned outcomes (the audit ledger).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import janitor  # noqa: F401 - registers DataFrame.clean_names
import numpy as np
import pandas as pd
import pandera.pandas as pa

from .dates import parse_dates
from .errors import ExtractError
from .ids import canonical_pnc
from .schemas import CLEAN_MODELS, RAW_MODELS

CSV_SOURCES = {"orders": "orders.csv", "pnc_arrests": "pnc_arrests.csv", "pnd_records": "pnd_records.csv"}
OUTCOME_COLUMNS = ["source", "file", "source_row", "outcome", "reason"]
NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}


@dataclass
class Ingested:
    """Cleaned tables, their quarantined rows, and the outcome of every row read."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows_read: dict[str, int] = field(default_factory=dict)
    quarantine: dict[str, pd.DataFrame] = field(default_factory=dict)
    outcomes: list[pd.DataFrame] = field(default_factory=list)

    def outcome_table(self) -> pd.DataFrame:
        return pd.concat(self.outcomes, ignore_index=True) if self.outcomes else pd.DataFrame(columns=OUTCOME_COLUMNS)


# --------------------------------------------------------------------------- reading


def _header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9()]", "", str(name).strip().lower())


def read_csv_extract(path: Path, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a CSV as text, keep its row numbers, set aside repeated header rows and exact
    duplicate rows.  Returns (rows, outcomes for the rows set aside)."""
    if not path.exists():
        raise ExtractError(path, "file not found", f"the {source} extract named as in docs/data-contract.md")
    if path.stat().st_size == 0:
        raise ExtractError(path, "is empty (no header row)", "a header row naming the columns")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise ExtractError(path, "is empty (no header row)", "a header row naming the columns") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ExtractError(path, f"cannot be read as CSV ({str(err).splitlines()[0]})",
                           "UTF-8 comma-separated text with one header row") from None
    # Headers: trimmed, lower case, snake_case (pyjanitor), whatever the extract's styling.
    frame = frame.clean_names(remove_special=True, strip_underscores=True).rename(columns={"pncid": "pnc_id"})
    _check_columns(frame, RAW_MODELS[source], path)
    frame = frame.assign(source_row=np.arange(2, len(frame) + 2))
    values = frame.drop(columns="source_row")
    # A repeated header, however it was styled, has the header key of every column's name.
    repeated = (values.apply(_header_key_series) == pd.Series({c: _header_key(c) for c in values.columns})).all(axis=1)
    duplicate = values.duplicated(keep="first") & ~repeated
    set_aside = pd.concat([
        _outcomes(frame.loc[repeated], source, path, "quarantined", "repeated_header_row"),
        _outcomes(frame.loc[duplicate], source, path, "merged", "exact_duplicate_row"),
    ])
    return frame.loc[~repeated & ~duplicate].reset_index(drop=True), set_aside


def _header_key_series(s: pd.Series) -> pd.Series:
    return s.str.strip().str.lower().str.replace(r"[^a-z0-9()]", "", regex=True)


def _check_columns(frame: pd.DataFrame, model, path: Path) -> None:
    """A missing required column is structural: stop with one sentence."""
    required = [name for name, col in model.to_schema().columns.items()]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ExtractError(path, f"has no column '{missing[0]}'" + (
            f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else ""),
            f"the columns {', '.join(required)} (see docs/data-contract.md)")


def _outcomes(rows: pd.DataFrame, source: str, path: Path, outcome: str, reason) -> pd.DataFrame:
    return pd.DataFrame({"source": source, "file": str(path), "source_row": rows["source_row"].to_numpy(),
                         "outcome": outcome, "reason": reason})


def read_rocu_workbooks(folder: Path, synonyms: dict) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Every ``rocu/*.xlsx``: find each sheet's header row (it may sit below a title block),
    map its wording onto the vocabulary, and tell the orders sheet from the offending sheet
    by its columns.  Returns (orders rows, offending rows, regions read)."""
    lookup = {_header_key(s): canon for canon, words in synonyms.items() for s in [canon, *words]}
    orders, offending, regions = [], [], []
    for path in sorted(Path(folder).glob("*.xlsx")) if Path(folder).exists() else []:
        try:
            sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=object, engine="openpyxl")
        except Exception as err:  # noqa: BLE001 - any failure to open is the same for the user
            raise ExtractError(path, f"cannot be read as an Excel workbook ({type(err).__name__})",
                               "an .xlsx file saved by Excel or LibreOffice") from None
        regions.append(path.stem)
        for sheet, grid in sheets.items():
            grid = grid.dropna(how="all").dropna(axis=1, how="all")
            if grid.empty:
                continue
            top = grid.head(30)  # the header sits in the first rows; never scan the whole sheet
            mapped = top.apply(lambda row: row.map(lambda v: lookup.get(_header_key(v)) if pd.notna(v) else None))
            hits = mapped.notna().sum(axis=1)
            if hits.max() < 3:
                raise ExtractError(path, f"sheet '{sheet}' has no header row this pipeline recognises",
                                   "column names from ingest.rocu_header_synonyms in config (docs/data-contract.md)")
            header_at = hits.idxmax()
            header = [mapped.at[header_at, c] or _header_key(grid.at[header_at, c]) for c in grid.columns]
            body = grid.loc[grid.index > header_at].set_axis(header, axis=1)
            body = body.assign(region=path.stem, file=str(path), sheet=sheet,
                               source_row=(body.index.to_numpy() + 1).astype(int))
            if "start_date" in header:
                _check_columns(body, RAW_MODELS["rocu_orders"], Path(f"{path}[{sheet}]"))
                orders.append(body)
            elif "arrest_date" in header:
                _check_columns(body, RAW_MODELS["rocu_offending"], Path(f"{path}[{sheet}]"))
                offending.append(body)
            else:
                raise ExtractError(path, f"sheet '{sheet}' has neither a start date nor an arrest date column",
                                   "an Orders sheet (with a start date) and an Offending sheet (with arrest dates)")
    empty = pd.DataFrame(columns=["region", "file", "sheet", "source_row"])
    return (pd.concat(orders, ignore_index=True) if orders else empty,
            pd.concat(offending, ignore_index=True) if offending else empty, regions)


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
    return months.round().astype("Int64")


def _partial_date(raw: pd.Series) -> pd.DataFrame:
    """Dates that may be partial (``mm/yyyy`` or ``yyyy``): date (first day) and precision."""
    text = raw.astype("string").str.strip()
    month_only = text.str.fullmatch(r"\d{1,2}/\d{4}").fillna(False)
    year_only = text.str.fullmatch(r"\d{4}").fillna(False)
    full = parse_dates(raw.where(~(month_only | year_only), None))
    date = full["date"].copy()
    date[month_only.to_numpy()] = pd.to_datetime("01/" + text[month_only], format="%d/%m/%Y", errors="coerce")
    date[year_only.to_numpy()] = pd.to_datetime(text[year_only] + "-01-01", errors="coerce")
    precision = np.select([month_only.to_numpy(), year_only.to_numpy()], ["month", "year"], "day")
    problem = full["date_problem"].where(~(month_only | year_only).to_numpy())
    return pd.DataFrame({"date": date, "precision": precision, "problem": problem}, index=raw.index)


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


def clean_pnd_records(raw: pd.DataFrame, pivot: int) -> pd.DataFrame:
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
        event_date=when["date"], event_date_problem=when["date_problem"],
        offence_description=desc.replace("", pd.NA),
        code_in_text=desc.str.upper().str.extract(CODE_IN_TEXT, expand=False),
        offence_text=desc.str.replace(CODE_IN_TEXT, "", regex=True, flags=re.I).str.strip(),
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
        start_date=start["date"], start_date_problem=start["date_problem"],
        length_months=parse_duration(text["length"].astype(str)),
        n_conditions=text.get("conditions", pd.Series("", index=raw.index)).astype(str)
        .str.count(r"[^;]*[^;\s][^;]*"),
        region=raw["region"].astype(str), source_row=raw["source_row"].astype(int),
    )


def clean_rocu_offending(raw: pd.DataFrame, pivot: int) -> pd.DataFrame:
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
    )


# --------------------------------------------------------------------------- validation


def row_checks(source: str, clean: pd.DataFrame) -> pd.Series:
    """The first row-level problem of each row, as a check name (missing where none).

    Parsing problems are named by column; the model's own checks (nullability, patterns and
    date order) are run lazily by pandera and named as pandera names them."""
    reasons = pd.Series(pd.NA, index=clean.index, dtype="string")

    def flag(mask, reason):
        nonlocal reasons
        reasons = reasons.mask(reasons.isna() & pd.Series(mask, index=clean.index).fillna(False), reason)

    for col in [c for c in clean.columns if c.endswith("_problem") and c != "pnc_problem"]:
        base = col.removesuffix("_problem")
        required = {"orders": ["date_made", "date_of_birth"], "pnc_arrests": ["arrest_date"],
                    "pnd_records": ["event_date"], "rocu_offending": ["arrest_date"]}.get(source, [])
        flag(clean[col].eq("unparseable"), f"{base}_unparseable")
        if base in required:
            flag(clean[col].eq("missing"), f"{base}_missing")
    if source == "pnc_arrests":
        flag(clean["pnc_problem"].notna(), "pnc_id_" + clean["pnc_problem"].fillna(""))
        reasons = reasons.str.replace("pnc_id_check_letter", "pnc_id_check_letter_wrong")
        flag(clean["after_extraction"], "arrest_after_extraction_date")
    if source == "orders":
        flag(clean["order_ref"].isna(), "order_ref_missing")
        flag(clean["name_key"].isna(), "name_missing")
    try:
        CLEAN_MODELS[source].validate(clean.loc[reasons.isna()], lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases.dropna(subset=["index"])
        cases = cases.assign(reason=np.where(cases["check"].astype(str).str.contains("not_nullable"),
                                             cases["column"].astype(str) + "_missing",
                                             cases["check"].astype(str).str.replace(r"\(.*", "", regex=True)))
        first = cases.drop_duplicates("index").set_index("index")["reason"]
        flag(clean.index.isin(first.index), pd.Series(first).reindex(clean.index).astype("string"))
    return reasons


def split_failures(source: str, raw: pd.DataFrame, clean: pd.DataFrame,
                   path: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(kept clean rows, quarantined rows as the extract had them plus ``check``, outcomes)."""
    reasons = row_checks(source, clean)
    bad = reasons.notna().to_numpy()
    quarantined = raw.loc[bad].assign(check=reasons[bad])
    kept = clean.loc[~bad].reset_index(drop=True)
    return kept, quarantined, pd.DataFrame({
        "source": source, "file": quarantined.get("file", pd.Series(path, index=quarantined.index)).astype(str),
        "source_row": quarantined["source_row"].to_numpy(), "outcome": "quarantined",
        "reason": quarantined["check"].to_numpy()})


RAW_INPUTS = {"orders": "raw_orders", "pnc_arrests": "raw_pnc_arrests", "pnd_records": "raw_pnd_records"}


def _raw_paths(raw: str | Path | dict) -> dict[str, Path]:
    """The extracts' paths, by registry name: from a folder laid out as data/raw/, or a dict."""
    if isinstance(raw, dict):
        return {k: Path(v) for k, v in raw.items()}
    folder = Path(raw)
    return {**{t: folder / CSV_SOURCES[s] for s, t in RAW_INPUTS.items()}, "raw_rocu": folder / "rocu"}


def ingest(raw: str | Path | dict, config: dict) -> Ingested:
    """Read, clean and validate every extract: ``raw`` is the folder holding them (as
    ``data/raw/``) or a dict of the registry's raw inputs (``raw_orders``, ... ``raw_rocu``)."""
    paths = _raw_paths(raw)
    cfg = config["ingest"]
    pivot = int(cfg["pnc_year_pivot"])
    extraction = pd.Timestamp(config["study"]["extraction_date"])
    out = Ingested()
    cleaners = {"orders": lambda r: clean_orders(r, pivot),
                "pnc_arrests": lambda r: clean_pnc_arrests(r, pivot, extraction),
                "pnd_records": lambda r: clean_pnd_records(r, pivot)}
    for source, table in RAW_INPUTS.items():
        path = paths[table]
        rows, set_aside = read_csv_extract(path, source)
        out.rows_read[source] = len(rows) + len(set_aside)
        out.outcomes.append(set_aside)
        kept, quarantined, outcomes = split_failures(source, rows, cleaners[source](rows), str(path))
        out.tables[source] = kept.assign(file=str(path))
        out.quarantine[source] = pd.concat([rows.iloc[:0].assign(check=pd.Series(dtype=str)), quarantined]) \
            if quarantined.empty else quarantined
        out.outcomes.append(outcomes)
    rocu_dir = paths["raw_rocu"]
    rocu_orders, rocu_offending, regions = read_rocu_workbooks(rocu_dir, cfg["rocu_header_synonyms"])
    for source, raw_rows, cleaner in (("rocu_orders", rocu_orders, clean_rocu_orders),
                                      ("rocu_offending", rocu_offending, clean_rocu_offending)):
        out.rows_read[source] = len(raw_rows)  # blank spreadsheet rows are not rows
        if raw_rows.empty:
            out.tables[source] = pd.DataFrame(columns=list(CLEAN_MODELS[source].to_schema().columns) + ["file"])
            out.quarantine[source] = pd.DataFrame(columns=["region", "source_row", "check"])
            continue
        kept, quarantined, outcomes = split_failures(source, raw_rows, cleaner(raw_rows, pivot), str(rocu_dir))
        out.tables[source] = kept
        out.quarantine[source] = quarantined
        out.outcomes.append(outcomes)
    out.tables["rocu_regions"] = pd.DataFrame({"region": regions})
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
    say("read " + ", ".join(f"{n:,} {s} rows" for s, n in ing.rows_read.items()), log)
    for line in quarantine_summary(ing, output["quarantine"]):
        say(line, log)
    for name, table in ing.tables.items():
        text = {c: "string" for c in table.columns if table[c].dtype == object}
        tables.write(table.astype(text), f"clean_{name}", output[f"clean_{name}"])
    write_quarantine(ing.quarantine, output["quarantine"])
    tables.write(ing.outcome_table(), "ingest_outcomes", output["ingest_outcomes"])
    Path(output["rows_read"]).write_text(json.dumps(ing.rows_read, indent=1, sort_keys=True))
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
    return ing


_CLEAN_NAMES = ["orders", "pnc_arrests", "pnd_records", "rocu_orders", "rocu_offending", "rocu_regions"]


def quarantine_summary(ingested: Ingested, quarantine_dir: str) -> list[str]:
    """One line per source with quarantined rows: file, checks, row numbers, and where they went."""
    lines = []
    outcomes = ingested.outcome_table()
    q = outcomes.loc[outcomes["outcome"] == "quarantined"]
    for (source, file), rows in q.groupby(["source", "file"], sort=True):
        parts = []
        for reason, r in rows.groupby("reason"):
            nums = sorted(r["source_row"].astype(int))
            shown = ", ".join(map(str, nums[:5])) + (f" and {len(nums) - 5} more" if len(nums) > 5 else "")
            parts.append(f"{reason} in row{'s' if len(nums) > 1 else ''} {shown}")
        lines.append(f"{file}: {len(rows)} row(s) quarantined ({'; '.join(parts)}); "
                     f"see {quarantine_dir}/{source}.csv")
    return lines
