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
    """The package's curated CCHI 2020 table, in the common weights layout."""
    table = pd.read_csv(data_path("cchi_weights.csv"), dtype=str, keep_default_na=False)
    return _standard(table.rename(columns={"cchi_score": "score"}))


def _standard(table: pd.DataFrame) -> pd.DataFrame:
    out = table.reindex(columns=WEIGHT_COLUMNS)
    for col in ("cjs_code", "ho_class", "title", "ho_group", "athena_urn", "basis"):
        out[col] = out[col].astype("string").str.strip().replace("", pd.NA)
    out["cjs_code"] = out["cjs_code"].str.upper()
    out["score"] = pd.to_numeric(out["score"], errors="coerce")
    return out


def read_cchi_workbook(path: str | Path, sheet: str = "CCHI 2020 values sheet") -> pd.DataFrame:
    """The official CCHI workbook (or a later edition with the same columns), one row per
    (CJS code, offence row).  The CJS codes sit in several columns all headed "CJS Codes"."""
    path = Path(path)
    if not path.exists():
        raise ExtractError(path, "the harm table named in config (harm.table) does not exist",
                           "the official CCHI workbook (.xlsx) or a weights CSV")
    try:
        raw = pd.read_excel(path, sheet_name=sheet, dtype=str, header=None)
    except ValueError as err:
        raise ExtractError(path, f"has no sheet '{sheet}' ({err})", "the CCHI workbook's values sheet") from None
    header_row = raw.index[(raw.head(30).astype(str).apply(lambda c: c.str.strip()) == "ATHENA URN").any(axis=1)]
    if len(header_row) == 0:
        raise ExtractError(path, f"sheet '{sheet}' has no 'ATHENA URN' header", "the CCHI 2020 column layout")
    header = raw.loc[header_row[0]].astype(str).str.strip()
    body = raw.loc[header_row[0] + 1:].set_axis(header, axis=1)
    needed = ["ATHENA URN", "FULL_OFFENCE_TITLE", "CCHI Score", "HOME_OFFICE_CLASSIFICATION", "GROUP"]
    missing = [c for c in needed if c not in header.to_numpy()]
    if missing or "CJS Codes" not in header.to_numpy():
        raise ExtractError(path, f"sheet '{sheet}' lacks column(s) {', '.join(missing or ['CJS Codes'])}",
                           "the CCHI 2020 columns (ATHENA URN, FULL_OFFENCE_TITLE, CCHI Score, "
                           "HOME_OFFICE_CLASSIFICATION, GROUP, CJS Codes ...)")
    codes = body.loc[:, (header == "CJS Codes").to_numpy()]
    base = body.loc[:, [c for c in needed]].copy()
    base.columns = ["athena_urn", "title", "score", "ho_class", "ho_group"]
    long = (
        codes.set_axis(range(codes.shape[1]), axis=1)
        .assign(_row=np.arange(len(codes)))
        .melt(id_vars="_row", value_name="cjs_code")
        .dropna(subset=["cjs_code"])
    )
    long["cjs_code"] = long["cjs_code"].str.strip()
    long = long.loc[~long["cjs_code"].isin(["", "N/A"])]
    table = base.reset_index(drop=True).iloc[long["_row"].to_numpy()].assign(
        cjs_code=long["cjs_code"].to_numpy(), basis="official workbook")
    table = _standard(table.dropna(subset=["athena_urn"]))
    # Offences the index has no row for take the curated proxy, scored from this workbook (A18).
    proxies = curated_weights()
    proxies = proxies.loc[proxies["basis"].str.startswith("proxy") & ~proxies["cjs_code"].isin(table["cjs_code"])]
    by_urn = table.drop_duplicates("athena_urn").set_index("athena_urn")["score"]
    proxies = proxies.assign(score=proxies["athena_urn"].map(by_urn)).dropna(subset=["score"])
    return pd.concat([table, proxies], ignore_index=True)


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
