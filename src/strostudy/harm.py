"""Harm scores and offence categories for arrests.

The weights are the Cambridge Crime Harm Index 2020 by default: a curated table of the
offences the extracts carry (``data/cchi_weights.csv``, every score traceable to its ATHENA
URN).  ``harm.table`` can point at the official CCHI workbook instead, or at another index's
weights as a CSV.  An arrest scores its principal (most harmful) offence, or the sum of its
offences (A13); codes match on the CJS code first, then the Home Office class (A14); unknown
codes are quarantined or given a named fallback, never silently 0 (A15).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .config import data_path
from .errors import ExtractError, StrostudyError

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
    table = harm_cfg.get("table", "curated")
    if table == "curated":
        return curated_weights()
    path = Path(base_dir) / table
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_cchi_workbook(path, harm_cfg.get("workbook_sheet", "CCHI 2020 values sheet"))
    if not path.exists():
        raise ExtractError(path, "the harm table named in config (harm.table) does not exist",
                           "'curated', a CCHI workbook (.xlsx) or a weights CSV")
    other = pd.read_csv(path, dtype=str, keep_default_na=False)
    other.columns = other.columns.str.strip().str.lower()
    missing = [c for c in ("cjs_code", "score") if c not in other.columns]
    if missing:
        raise ExtractError(path, f"lacks column(s) {', '.join(missing)}", "cjs_code, ho_class, title, score")
    return _standard(other.assign(basis=other.get("basis", f"index table {path.name}")))


def categorise(codes: pd.Series, groups: pd.Series, categories_cfg: dict) -> pd.Series:
    """Category of each offence from its CJS code and Home Office group (A19)."""
    code = codes.astype("string").str.upper().fillna("")
    group = groups.astype("string").str.upper().fillna("")
    out = pd.Series(categories_cfg.get("default", "other"), index=codes.index, dtype="string")
    # Earlier categories win, so modern slavery (listed first) claims CJA 2009 s71 from violence.
    for name, rule in reversed([(k, v) for k, v in categories_cfg.items() if isinstance(v, dict)]):
        hit = code.isin([c.upper() for c in rule.get("cjs_codes", [])])
        for prefix in rule.get("cjs_prefixes", []):
            hit |= code.str.startswith(prefix.upper())
        hit |= group.isin([g.upper() for g in rule.get("ho_groups", [])])
        out = out.mask(hit, name)
    return out


def _one_score_per(weights: pd.DataFrame, key: str, rule: str) -> pd.DataFrame:
    """Collapse rows sharing ``key`` to one score by ``rule`` (A14); the other columns come
    from the row with the lowest score."""
    w = weights.dropna(subset=[key, "score"])
    score = w.groupby(key)["score"].agg({"min": "min", "max": "max", "median": "median"}[rule])
    return w.sort_values([key, "score"]).drop_duplicates(key).set_index(key).assign(score=score)


def score_offences(offences: pd.DataFrame, weights: pd.DataFrame, harm_cfg: dict,
                   categories_cfg: dict) -> pd.DataFrame:
    """Add ``score``, ``matched_code``, ``match`` (cjs | ho_class | fallback | unknown) and
    ``category`` to offences with columns ``cjs_code`` and ``ho_class``."""
    rule = harm_cfg.get("class_rule", "min")
    by_code = _one_score_per(weights, "cjs_code", rule)
    by_class = _one_score_per(weights, "ho_class", rule)
    code = offences["cjs_code"].astype("string").str.strip().str.upper()
    hoc = offences["ho_class"].astype("string").str.strip()
    s_code = code.map(by_code["score"])
    s_class = hoc.map(by_class["score"])
    match = np.select([s_code.notna(), s_class.notna()], ["cjs", "ho_class"], "unknown")
    score = s_code.fillna(s_class)
    group = code.map(by_code["ho_group"]).fillna(hoc.map(by_class["ho_group"]))
    matched = code.where(s_code.notna(), hoc.map(by_class["cjs_code"]))
    if harm_cfg.get("unknown_code", "quarantine") == "fallback":
        score = score.fillna(float(harm_cfg.get("fallback_score", 0)))
        match = np.where(match == "unknown", "fallback", match)
    out = offences.assign(score=score.astype(float), matched_code=matched, match=match)
    out["category"] = categorise(code.fillna(matched.fillna("")), group, categories_cfg)
    return out


def score_events(events: pd.DataFrame, offences: pd.DataFrame, weights: pd.DataFrame, harm_cfg: dict,
                 categories_cfg: dict, index_name: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score each arrest event from its offences.

    ``events`` has ``event_id`` (plus anything else, carried through); ``offences`` has
    ``event_id, cjs_code, ho_class``.  Returns (scored events, quarantined events with the
    reason, unknown codes with counts).
    """
    scored = score_offences(offences, weights, harm_cfg, categories_cfg)
    unknown_rows = scored["match"].eq("unknown")
    unknown = (scored.loc[unknown_rows]
               .assign(cjs_code=lambda d: d["cjs_code"].fillna(""), ho_class=lambda d: d["ho_class"].fillna(""))
               .groupby(["cjs_code", "ho_class"], dropna=False).agg(offences=("event_id", "size"),
                                                                    arrests=("event_id", "nunique"))
               .reset_index().sort_values(["arrests", "cjs_code"], ascending=[False, True]))
    bad_events = scored.loc[unknown_rows, "event_id"].unique()
    # The principal offence: highest score; ties go to the alphabetically first code so the
    # choice does not depend on row order.
    usable = scored.loc[~scored["event_id"].isin(bad_events)]
    ranked = usable.sort_values(["event_id", "score", "matched_code"], ascending=[True, False, True])
    principal = ranked.drop_duplicates("event_id").set_index("event_id")
    total = usable.groupby("event_id")["score"].sum()
    how = harm_cfg.get("arrest_score", "principal")
    result = events.loc[~events["event_id"].isin(bad_events)].copy()
    result["harm_score"] = result["event_id"].map(principal["score"] if how == "principal" else total).astype(float)
    result["harm_index"] = index_name
    result["category"] = result["event_id"].map(principal["category"])
    result["matched_code"] = result["event_id"].map(principal["matched_code"])
    result["match"] = result["event_id"].map(principal["match"])
    result["n_offences"] = result["event_id"].map(usable.groupby("event_id").size()).astype("Int64")
    no_offence = result["harm_score"].isna()
    if no_offence.any():
        raise StrostudyError(f"{int(no_offence.sum())} arrest event(s) have no offence rows to score "
                             f"(first: {result.loc[no_offence, 'event_id'].iloc[0]}); this is a bug in the "
                             "reconcile stage - please report it")
    quarantined = events.loc[events["event_id"].isin(bad_events)].assign(
        check="unknown_offence_code",
        detail=lambda d: d["event_id"].map(
            scored.loc[unknown_rows].groupby("event_id")["cjs_code"].agg(
                lambda c: ", ".join(sorted(c.fillna("(blank)").astype(str).unique())))))
    return result, quarantined, unknown
