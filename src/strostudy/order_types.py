"""What the package knows about each ancillary order type, as data (issue 16, item 2).

``data/order_types.csv`` holds one row per order type: the Act and section that create it,
whether it is civil or conviction-based, its target offending category and its breach
offence.  ``data/order_type_codes.csv`` holds, per order type, the CJS codes of its target
category and of its breach offence, each with its CCHI 2020 score and where that score comes
from (a row of the index, or a proxy row by the index's own rule, A18, A100-A104).

:func:`categories_for` turns the tables into the default ``categories`` block of a study of
some order types (:func:`strostudy.studies.categories`, docs/studies.md).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .categories import OVERALL
from .config import data_path, defaults
from .errors import StrostudyError

BREACH = "breach"
"""The category of breaches of a study's own orders (A101), so a sensitivity analysis can
drop them."""

BASES = ("civil", "conviction", "both")
ROLES = ("target", "breach")
LIST_SEPARATOR = ";"  # between Home Office groups, or CJS prefixes, in one order_types cell

ORDER_TYPE_DTYPES = {
    "order_type": "string", "name": "string", "act": "string", "section": "string", "basis": "string",
    "target_category": "string", "target_ho_groups": "string", "target_cjs_prefixes": "string",
    "typical_length_months": "Int64", "length_note": "string", "breach_offence": "string",
    "source_note": "string",
}
ORDER_TYPE_CODE_DTYPES = {
    "order_type": "string", "role": "string", "cjs_code": "string", "title": "string",
    "cchi_days": "Float64", "athena_urn": "string", "basis": "string",
}
_CATEGORY_NAME = r"^[a-z][a-z0-9_]*$"  # as config.schema.yaml's category_name
_CJS_CODE = r"^[A-Z]{2,4}[0-9]{3,5}[A-Z]?$"  # CJ09002, SX03220, COML025, PC02004C


class OrderTypes(pa.DataFrameModel):
    """``data/order_types.csv``: one row per order type."""

    class Config:
        strict = True
        coerce = False

    order_type: Series[pd.StringDtype] = pa.Field(unique=True, str_matches=r"^[A-Z]+$")
    """The short name an order list uses (STRO, SHPO, ...); interim orders share their full
    order's type."""
    name: Series[pd.StringDtype]
    act: Series[pd.StringDtype]
    """The Act (or Acts) under which orders of this type are made today."""
    section: Series[pd.StringDtype]
    """The provision that creates the order (interim orders and other routes in brackets)."""
    basis: Series[pd.StringDtype] = pa.Field(isin=list(BASES))
    """civil: made on application, without a conviction; conviction: made on conviction;
    both: either route."""
    target_category: Series[pd.StringDtype] = pa.Field(str_matches=_CATEGORY_NAME,
                                                      notin=[OVERALL, BREACH, "default"])
    """The offending the order is meant to prevent, as a category name (A102)."""
    target_ho_groups: Series[pd.StringDtype] = pa.Field(nullable=True)
    """Home Office offence groups (of the harm index) the target category takes whole,
    ``;``-separated; its listed codes are in order_type_codes.csv."""
    target_cjs_prefixes: Series[pd.StringDtype] = pa.Field(nullable=True, str_matches=r"^[A-Z0-9;]+$")
    """CJS code prefixes the target category takes (MS15: every Modern Slavery Act offence)."""
    typical_length_months: Series[pd.Int64Dtype] = pa.Field(ge=1)
    """A judgement, not a statistic (A103); length_note gives the Act's minimum or maximum."""
    length_note: Series[pd.StringDtype]
    breach_offence: Series[pd.StringDtype]
    """The provision that makes breaching the order an offence."""
    source_note: Series[pd.StringDtype]
    """What was and was not checked, and against what (A100)."""

    @pa.dataframe_check
    def one_definition_per_category(cls, df: pd.DataFrame) -> bool:
        """Order types sharing a target category define it the same way."""
        rules = df[["target_category", "target_ho_groups", "target_cjs_prefixes"]].fillna("").drop_duplicates()
        return bool(rules["target_category"].is_unique)


class OrderTypeCodes(pa.DataFrameModel):
    """``data/order_type_codes.csv``: per order type, the CJS codes of its target category and
    of its breach offence, each with its CCHI 2020 score and the score's basis."""

    class Config:
        strict = True
        coerce = False
        unique = ["order_type", "role", "cjs_code"]

    order_type: Series[pd.StringDtype]
    role: Series[pd.StringDtype] = pa.Field(isin=list(ROLES))
    cjs_code: Series[pd.StringDtype] = pa.Field(nullable=True, str_matches=_CJS_CODE)
    """Empty where the offence's code is not known here (A104): such a row documents the
    offence and its proxy score, and no arrest can match it until the code is filled in."""
    title: Series[pd.StringDtype]
    """The index's title where the row is the index's own (basis ``direct``), else the
    offence's own."""
    cchi_days: Series[pd.Float64Dtype] = pa.Field(nullable=True, ge=0)
    """The CCHI 2020 score (days of imprisonment) of the row named by athena_urn."""
    athena_urn: Series[pd.StringDtype] = pa.Field(nullable=True)
    """The CCHI 2020 row the score comes from."""
    basis: Series[pd.StringDtype] = pa.Field(str_matches=r"^(direct|proxy): ")
    """``direct: ...`` when the code is on that CCHI row; ``proxy: ...`` naming the closest
    offence with a guideline, as the index's authors recommend (A18)."""

    @pa.dataframe_check
    def unknown_codes_are_documented(cls, df: pd.DataFrame) -> Series[bool]:
        """A row without a code is a proxy that says the code is missing."""
        return df["cjs_code"].notna() | (df["basis"].str.startswith("proxy: ") &
                                         df["basis"].str.contains("no CJS code", regex=False))

    @pa.dataframe_check
    def scores_name_their_row(cls, df: pd.DataFrame) -> Series[bool]:
        return df["cchi_days"].isna() | df["athena_urn"].notna()


def _read(name: str, dtypes: dict[str, str]) -> pd.DataFrame:
    # Only an empty cell is missing: "NA" or "N/A" in a cell stays text.
    return pd.read_csv(data_path(name), dtype=dtypes, keep_default_na=False, na_values=[""])


def order_types() -> pd.DataFrame:
    """The package's order-type table, validated."""
    return OrderTypes.validate(_read("order_types.csv", ORDER_TYPE_DTYPES))


def order_type_codes() -> pd.DataFrame:
    """The package's order-type offence codes, validated, and consistent with
    :func:`order_types`: every order type of one table is in the other, each has a breach
    row, and order types sharing a target category list the same target codes."""
    codes = OrderTypeCodes.validate(_read("order_type_codes.csv", ORDER_TYPE_CODE_DTYPES))
    types = order_types()
    strangers = sorted(set(codes["order_type"]) - set(types["order_type"]))
    if strangers:
        raise StrostudyError(f"order_type_codes.csv names order type(s) {', '.join(strangers)} that "
                             "order_types.csv does not have")
    no_breach = sorted(set(types["order_type"]) - set(codes.loc[codes["role"] == "breach", "order_type"]))
    if no_breach:
        raise StrostudyError(f"order_type_codes.csv has no breach row for {', '.join(no_breach)}")
    listed = {t: frozenset(codes.loc[(codes["order_type"] == t) & (codes["role"] == "target"), "cjs_code"].dropna())
              for t in types["order_type"]}
    by_category: dict[str, set] = {}
    for order_type, category in zip(types["order_type"], types["target_category"]):
        by_category.setdefault(category, set()).add(listed[order_type])
    clash = sorted(category for category, lists in by_category.items() if len(lists) > 1)
    if clash:
        raise StrostudyError(f"order types sharing target category {', '.join(clash)} list different "
                             "target codes in order_type_codes.csv")
    return codes


def _split(cell) -> list[str]:
    return [] if pd.isna(cell) else [part.strip() for part in str(cell).split(LIST_SEPARATOR) if part.strip()]


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


def categories_for(order_types_studied: list[str], general: dict | None = None) -> dict:
    """The default ``categories`` block (config.yaml's format) of a study of these order types.

    In order (earlier categories win, A19): ``breach`` (the breach offences of the studied
    order types, A101), then each studied type's target category in the order given, then the
    general categories, then the default.  ``general`` is a categories block whose rules and
    default are used (default: the package defaults' categories that are no order type's
    target, today violence, drugs and other); a general category named like a target is
    skipped.  Codes a category's prefix already covers are not listed twice.
    """
    types = order_types()
    codes = order_type_codes()
    asked = _unique(str(t).strip().upper() for t in order_types_studied)
    if not asked:
        raise StrostudyError("categories_for needs at least one order type")
    unknown = [t for t in asked if t not in set(types["order_type"])]
    if unknown:
        raise StrostudyError(f"unknown order type(s) {', '.join(unknown)}; the package knows "
                             f"{', '.join(types['order_type'])} (src/strostudy/data/order_types.csv)")
    studied = codes.loc[codes["order_type"].isin(asked)]
    breach = studied.loc[(studied["role"] == "breach") & studied["cjs_code"].notna(), "cjs_code"]
    out: dict = {BREACH: {"cjs_codes": _unique(breach)}}
    by_type = types.set_index("order_type")
    for category in _unique(by_type.loc[asked, "target_category"]):
        definition = by_type.loc[by_type["target_category"] == category].iloc[0]
        prefixes = _split(definition["target_cjs_prefixes"])
        target = studied.loc[(studied["role"] == "target") & studied["cjs_code"].notna()
                             & studied["order_type"].map(by_type["target_category"]).eq(category), "cjs_code"]
        listed = [c for c in _unique(target) if not any(c.startswith(p) for p in prefixes)]
        rule = {"cjs_codes": listed, "cjs_prefixes": prefixes, "ho_groups": _split(definition["target_ho_groups"])}
        out[category] = {key: value for key, value in rule.items() if value}
    if general is None:
        package = defaults()["categories"]
        targets = set(types["target_category"])
        general = {name: rule for name, rule in package.items() if name not in targets}
    for name, rule in general.items():
        if name != "default" and name not in out:
            out[name] = rule
    out["default"] = general["default"]
    return out
