"""The offence vocabulary: the harm index's weights table, and offence wording to CJS codes.

The weights are the Cambridge Crime Harm Index 2020 by default: a curated table of the
offences the extracts carry (``data/cchi_weights.csv``, every score traceable to its ATHENA
URN).  ``harm.table`` can point at the official CCHI workbook instead, or at another index's
weights as a CSV.  The harm stage loads the table once (``harm_weights``); reconcile codes
PND and ROCU wording with it and harm scores with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import data_path
from .errors import ExtractError
from .ingest import normalise_name

WEIGHT_COLUMNS = ["cjs_code", "ho_class", "title", "score", "ho_group", "athena_urn", "basis"]


def curated_weights() -> pd.DataFrame:
    """The package's curated CCHI 2020 table, in the common weights layout: the offences of the
    STRO extracts (``data/cchi_weights.csv``) and the breach offences of other order types that
    have a CCHI 2020 row of their own (``data/cchi_breach_weights.csv``, A138)."""
    table = pd.concat([pd.read_csv(data_path(name), dtype=str, keep_default_na=False)
                       for name in ("cchi_weights.csv", "cchi_breach_weights.csv")], ignore_index=True)
    return _standard(table.rename(columns={"cchi_score": "score"}))


def _standard(table: pd.DataFrame) -> pd.DataFrame:
    out = table.reindex(columns=WEIGHT_COLUMNS)
    for col in ("cjs_code", "ho_class", "title", "ho_group", "athena_urn", "basis"):
        out[col] = out[col].astype("string").str.strip().replace("", pd.NA)
    out["cjs_code"] = out["cjs_code"].str.upper()
    out["score"] = pd.to_numeric(out["score"], errors="coerce")
    return out


# The official workbook's columns (matched ignoring case and surrounding spaces) and the
# names they take in the common weights layout.
_WORKBOOK_COLUMNS = {"ATHENA URN": "athena_urn", "FULL_OFFENCE_TITLE": "title", "CCHI Score": "score",
                     "HOME_OFFICE_CLASSIFICATION": "ho_class", "GROUP": "ho_group"}
_CJS_HEADERS = ["cjs codes", "cjs code"]
_HEADER_SCAN_ROWS = 50  # the header sits below a title block, never further down than this
_NO_CODE = {"", "N/A", "NA", "-"}
_WORKBOOK_LAYOUT = ("the CCHI 2020 columns (ATHENA URN, FULL_OFFENCE_TITLE, CCHI Score, "
                    "HOME_OFFICE_CLASSIFICATION, GROUP, CJS Codes ...)")


def _header_key(values: pd.Series) -> pd.Series:
    """Header cells as compared: spaces collapsed and trimmed, case folded, blank for empty."""
    return (values.astype("string").str.replace(r"\s+", " ", regex=True).str.strip().str.casefold()
            .fillna(""))


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _open_workbook(path: Path, sheet: str) -> tuple[pd.DataFrame, str]:
    """The sheet as a grid of text (row i is Excel row i + 1) and the sheet's name as the
    workbook spells it; or an ExtractError in one line."""
    expected = ("the official CCHI workbook saved as .xlsx (re-download it, or open it in Excel or "
                "LibreOffice and save it as an Excel workbook)")
    try:
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError as err:
        raise ExtractError(path, f"cannot be opened ({type(err).__name__}), so sheet '{sheet}' cannot be read",
                           expected) from None
    if not magic:
        raise ExtractError(path, f"is an empty file (0 bytes), not an Excel workbook, so sheet '{sheet}' "
                           "cannot be read", expected)
    try:
        book = pd.ExcelFile(path)
    except Exception as err:  # noqa: BLE001 - any failure to open is the same for the user
        text = b"\0" not in magic and not magic.startswith(b"PK")
        kind = "it looks like text, e.g. a CSV renamed .xlsx" if text else type(err).__name__
        raise ExtractError(path, f"cannot be read as an Excel workbook ({kind}), so sheet '{sheet}' cannot be read",
                           expected) from None
    with book:
        names = [str(n) for n in book.sheet_names]
        if sheet not in names:
            # Tolerate case and surrounding spaces in the sheet's name, if that picks one sheet.
            close = [n for n in names if _one_line(n).casefold() == _one_line(sheet).casefold()]
            if len(close) != 1:
                listed = ", ".join(f"'{_one_line(n)}'" for n in names)
                raise ExtractError(path, f"has no sheet '{sheet}' (its sheets: {listed})",
                                   "the sheet holding the CCHI values; set harm.workbook_sheet in config to its name")
            sheet = close[0]
        try:
            # Every cell as its text: 'N/A', 'NA' or 'n/a' stay text (no code, or a bad score).
            return pd.read_excel(book, sheet_name=sheet, header=None, dtype=str, keep_default_na=False), sheet
        except Exception as err:  # noqa: BLE001
            raise ExtractError(path, f"sheet '{sheet}' cannot be read ({type(err).__name__}: "
                               f"{_one_line(err)[:120]})", expected) from None


def _header_row(raw: pd.DataFrame) -> int | None:
    """Position of the header row (the first with an 'ATHENA URN' cell) among the sheet's first
    50 rows, whatever the sheet's size; None if there is none."""
    top = raw.head(_HEADER_SCAN_ROWS).apply(_header_key)
    hits = np.flatnonzero((top == "athena urn").any(axis=1).to_numpy())
    return int(hits[0]) if len(hits) else None


def read_cchi_workbook(path: str | Path, sheet: str = "CCHI 2020 values sheet") -> pd.DataFrame:
    """The official CCHI workbook (or a later edition with the same columns), one row per
    (CJS code, offence row).

    The header row is found in the first 50 rows (below any title block), its names matched
    ignoring case and surrounding spaces.  An offence's CJS codes sit in several columns all
    headed "CJS Codes", and in the official workbook also in the unheaded columns to their
    right (rows with many codes run past the last heading); 'N/A' and blank cells are no code."""
    path = Path(path)
    if not path.exists():
        raise ExtractError(path, "the harm table named in config (harm.table) does not exist",
                           "the official CCHI workbook (.xlsx) or a weights CSV")
    raw, sheet = _open_workbook(path, sheet)

    at = _header_row(raw)
    if at is None:
        raise ExtractError(path, f"sheet '{sheet}' has no 'ATHENA URN' header in its first {_HEADER_SCAN_ROWS} "
                           "rows", f"a header row with {_WORKBOOK_LAYOUT}; check that harm.workbook_sheet names "
                           "the values sheet")
    header = _header_key(raw.iloc[at]).to_numpy(dtype=object)

    wanted = {name.casefold(): col for name, col in _WORKBOOK_COLUMNS.items()}
    found = {col: int(np.flatnonzero(header == key)[0]) for key, col in wanted.items() if (header == key).any()}
    is_cjs = np.isin(header, _CJS_HEADERS)
    missing = [name for name, col in _WORKBOOK_COLUMNS.items() if col not in found]
    missing += [] if is_cjs.any() else ["CJS Codes"]
    if missing:
        raise ExtractError(path, f"sheet '{sheet}' lacks column(s) {', '.join(missing)} in its header row "
                           f"(row {at + 1})", _WORKBOOK_LAYOUT)
    # The code block: from the first "CJS Codes" column, every column headed so or not headed at all.
    first = int(np.flatnonzero(is_cjs)[0])
    block = is_cjs[first:] | (header[first:] == "")
    named = np.flatnonzero(~block)
    code_cols = first + np.flatnonzero(block[: named[0] if len(named) else len(block)])

    body = raw.iloc[at + 1:]
    base = body.iloc[:, list(found.values())].set_axis(list(found), axis=1)
    base = base.apply(lambda c: c.str.strip())
    keep = base["athena_urn"].fillna("").ne("").to_numpy()
    base, codes, rows = base.loc[keep], body.iloc[keep, code_cols], body.index[keep] + 1

    score = pd.to_numeric(base["score"], errors="coerce")
    bad = score.isna().to_numpy()
    if bad.any():
        shown = ", ".join(f"{r} ({_one_line(v)!r})" if pd.notna(v) and v != "" else f"{r} (blank)"
                          for r, v in zip(rows[bad][:5], base["score"].to_numpy()[bad][:5]))
        more = f" and {bad.sum() - 5} more" if bad.sum() > 5 else ""
        raise ExtractError(path, f"sheet '{sheet}' has a CCHI Score that is not a number on row(s) {shown}{more}",
                           "a number in the CCHI Score column of every offence row (fix those cells in the workbook)")
    base = base.assign(score=score.to_numpy())

    long = (
        codes.set_axis(range(codes.shape[1]), axis=1)
        .assign(_row=np.arange(len(codes)))
        .melt(id_vars="_row", var_name="_col", value_name="cjs_code")
        .dropna(subset=["cjs_code"])
    )
    long["cjs_code"] = long["cjs_code"].str.strip()
    long = long.loc[~long["cjs_code"].str.upper().isin(_NO_CODE)].sort_values(["_row", "_col"], kind="stable")
    table = base.iloc[long["_row"].to_numpy()].assign(cjs_code=long["cjs_code"].to_numpy(),
                                                      basis="official workbook")
    table = _standard(table.reset_index(drop=True))
    # Offences the index has no row for take the curated proxy, scored from this workbook (A18).
    proxies = curated_weights()
    proxies = proxies.loc[proxies["basis"].str.startswith("proxy") & ~proxies["cjs_code"].isin(table["cjs_code"])]
    by_urn = base.drop_duplicates("athena_urn").set_index("athena_urn")["score"]
    proxies = proxies.assign(score=proxies["athena_urn"].map(by_urn)).dropna(subset=["score"])
    out = pd.concat([table, proxies], ignore_index=True)
    return out.assign(score=pd.to_numeric(out["score"]))  # an empty proxies frame would make it object


def load_weights(harm_cfg: dict, base_dir: str | Path = ".") -> pd.DataFrame:
    """The weights named by ``harm.table``: ``curated``, an .xlsx workbook, or a CSV of another
    index with at least ``cjs_code, ho_class, title, score`` (``ho_group`` optional)."""
    table = harm_cfg["table"]
    if table == "curated":
        return curated_weights()
    path = Path(base_dir) / table
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_cchi_workbook(path, harm_cfg["workbook_sheet"])
    if not path.exists():
        raise ExtractError(path, "the harm table named in config (harm.table) does not exist",
                           "'curated', a CCHI workbook (.xlsx) or a weights CSV")
    other = pd.read_csv(path, dtype=str, keep_default_na=False)
    other.columns = other.columns.str.strip().str.lower()
    missing = [c for c in ("cjs_code", "score") if c not in other.columns]
    if missing:
        raise ExtractError(path, f"lacks column(s) {', '.join(missing)}", "cjs_code, ho_class, title, score")
    return _standard(other.assign(basis=other.get("basis", f"index table {path.name}")))


def offence_matcher(weights: pd.DataFrame):
    """Map offence wording to a CJS code: a code in the text, an exact title, the wording list
    (``data/offence_wording.csv``), then a close fuzzy match to a title (unique best >= 90)."""
    from rapidfuzz import fuzz
    from rapidfuzz.process import cdist

    wording = pd.read_csv(data_path("offence_wording.csv"), dtype=str)
    lookup = pd.concat([
        pd.DataFrame({"key": _offence_key(weights["title"].fillna("")), "cjs_code": weights["cjs_code"]}),
        pd.DataFrame({"key": _offence_key(wording["wording"]), "cjs_code": wording["cjs_code"]}),
    ]).dropna().drop_duplicates("key")
    lookup = lookup.loc[lookup["key"] != ""]
    exact = lookup.set_index("key")["cjs_code"]

    def match(text: pd.Series) -> pd.Series:
        key = _offence_key(text.fillna(""))
        uniques = pd.Series(key.unique())
        found = uniques.map(exact)
        todo = uniques[found.isna() & (uniques != "")]
        if len(todo):
            scores = cdist(todo.tolist(), lookup["key"].tolist(), scorer=fuzz.token_sort_ratio, workers=1)
            order = np.argsort(-scores, axis=1, kind="stable")
            best = scores[np.arange(len(todo)), order[:, 0]]
            second = scores[np.arange(len(todo)), order[:, 1]] if scores.shape[1] > 1 else np.zeros(len(todo))
            codes = lookup["cjs_code"].to_numpy()[order[:, 0]]
            ok = (best >= 90) & ((best - second) >= 3)
            found[todo.index] = np.where(ok, codes, None)
        return key.map(pd.Series(found.to_numpy(), index=uniques.to_numpy())).astype("string")

    return match


def _offence_key(text: pd.Series) -> pd.Series:
    return normalise_name(text.astype("string"))


def offence_groups(codes: pd.Series, ho_classes: pd.Series, weights: pd.DataFrame) -> pd.Series:
    """The Home Office offence group of each offence, from its CJS code, else its Home Office
    class; missing where the index does not say (A8 uses it to tell arrests apart)."""
    by_code = weights.dropna(subset=["cjs_code", "ho_group"]).drop_duplicates("cjs_code").set_index("cjs_code")
    by_class = weights.dropna(subset=["ho_class", "ho_group"]).sort_values(["ho_class", "score"]) \
        .drop_duplicates("ho_class").set_index("ho_class")
    code = codes.astype("string").str.strip().str.upper()
    hoc = ho_classes.astype("string").str.strip()
    return code.map(by_code["ho_group"]).fillna(hoc.map(by_class["ho_group"])).astype("string")


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The harm index step: load the weights named by ``harm.table`` once, for every later step."""
    from . import tables
    from .stages import say

    weights = load_weights(config["harm"])
    tables.write(weights, "harm_weights", output["harm_weights"])
    say(f"harm index: {len(weights):,} offence codes from {config['harm']['table']}", log)
    return weights
