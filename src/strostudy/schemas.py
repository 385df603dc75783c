"""pandera models: the documentation and the checks of every raw source and cleaned table.

Raw models check structure (the columns a source must have; everything is read as text).
Clean models carry the row-level checks; a row failing one is quarantined with the check's
name, never dropped silently (see :func:`strostudy.ingest.split_failures`).
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

CANONICAL_PNC = r"^\d{4}/\d{7}[A-Z]$"


class _Raw(pa.DataFrameModel):
    class Config:
        strict = False  # extra columns are kept, and ignored by the analysis
        coerce = False


class RawOrders(_Raw):
    """The national order list (PNC): one row per order, interim orders included."""

    order_ref: Series[str]
    pnc_id: Series[str] = pa.Field(nullable=True)
    surname: Series[str]
    forenames: Series[str]
    date_of_birth: Series[str]
    owning_force: Series[str]
    applicant: Series[str]
    order_type: Series[str]
    date_made: Series[str]
    duration: Series[str] = pa.Field(nullable=True)
    status: Series[str]
    status_date: Series[str] = pa.Field(nullable=True)


class RawPncArrests(_Raw):
    """PNC arrest and offence records: one row per offence."""

    pnc_id: Series[str]
    arrest_date: Series[str]
    cjs_code: Series[str]


class RawPndRecords(_Raw):
    """PND records: one row per event, person fields as the force typed them."""

    pnd_ref: Series[str]
    surname: Series[str]
    forenames: Series[str]
    date_of_birth: Series[str]
    event_datetime: Series[str]
    offence_description: Series[str]


class RawRocuOrders(_Raw):
    """A ROCU return's order sheet, after its headers are mapped onto the vocabulary."""

    order_ref: Series[object]
    surname: Series[object]
    forenames: Series[object]
    date_of_birth: Series[object]
    start_date: Series[object]
    length: Series[object]


class RawRocuOffending(_Raw):
    """A ROCU return's offending sheet (two years before and after each order)."""

    order_ref: Series[object]
    arrest_date: Series[object]
    offence: Series[object]


RAW_MODELS = {
    "orders": RawOrders, "pnc_arrests": RawPncArrests, "pnd_records": RawPndRecords,
    "rocu_orders": RawRocuOrders, "rocu_offending": RawRocuOffending,
}


class _Clean(pa.DataFrameModel):
    source_row: Series[int] = pa.Field(ge=1, description="row number in the raw file (header is row 1)")

    class Config:
        strict = False


class CleanOrders(_Clean):
    """Cleaned order rows.  A PNC ID that fails its check letter is kept aside (``pnc_id`` is
    missing, ``pnc_problem`` says why) and the row goes to name and DOB linkage (A10)."""

    order_ref: Series[str] = pa.Field(nullable=False, unique=True)
    pnc_id: Series[str] = pa.Field(nullable=True, str_matches=CANONICAL_PNC)
    name_key: Series[str] = pa.Field(nullable=False, description="normalised 'forenames surname'")
    date_of_birth: Series[pd.Timestamp] = pa.Field(nullable=False)
    is_interim: Series[bool]
    date_made: Series[pd.Timestamp] = pa.Field(nullable=False, description="first day of the period if partial")
    date_made_precision: Series[str] = pa.Field(isin=["day", "month", "year"])
    length_months: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, le=600)
    status_date: Series[pd.Timestamp] = pa.Field(nullable=True)

    @pa.dataframe_check(name="status_date_before_date_made")
    def status_after_made(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["status_date"] < df["date_made"]).fillna(False)

    @pa.dataframe_check(name="born_after_order")
    def born_before_order(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["date_of_birth"] >= df["date_made"]).fillna(False)


class CleanPncArrests(_Clean):
    """Cleaned PNC offence rows: the PNC ID is the only identifier, so it must be valid."""

    pnc_id: Series[str] = pa.Field(nullable=False, str_matches=CANONICAL_PNC)
    arrest_date: Series[pd.Timestamp] = pa.Field(nullable=False)
    cjs_code: Series[str] = pa.Field(nullable=True)
    ho_class: Series[str] = pa.Field(nullable=True)

    @pa.dataframe_check(name="no_offence_code")
    def has_offence(cls, df: pd.DataFrame) -> Series[bool]:
        return df["cjs_code"].notna() | df["ho_class"].notna()


class CleanPndRecords(_Clean):
    """Cleaned PND events; ``pnc_id`` only where it passes its check letter."""

    pnd_ref: Series[str] = pa.Field(nullable=False)
    pnc_id: Series[str] = pa.Field(nullable=True, str_matches=CANONICAL_PNC)
    name_key: Series[str] = pa.Field(nullable=False)
    date_of_birth: Series[pd.Timestamp] = pa.Field(nullable=True)
    event_date: Series[pd.Timestamp] = pa.Field(nullable=False)
    offence_description: Series[str] = pa.Field(nullable=False)

    @pa.dataframe_check(name="event_before_birth")
    def born_before_event(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["event_date"] <= df["date_of_birth"]).fillna(False)


class CleanRocuOrders(_Clean):
    """Cleaned ROCU order rows; ``start_date`` may be missing (N/K) but not garbage."""

    region: Series[str]
    order_ref: Series[str] = pa.Field(nullable=False)
    pnc_id: Series[str] = pa.Field(nullable=True, str_matches=CANONICAL_PNC)
    start_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    length_months: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1, le=600)


class CleanRocuOffending(_Clean):
    """Cleaned ROCU offending rows."""

    region: Series[str]
    order_ref: Series[str] = pa.Field(nullable=False)
    arrest_date: Series[pd.Timestamp] = pa.Field(nullable=False)
    offence: Series[str] = pa.Field(nullable=False)


CLEAN_MODELS = {
    "orders": CleanOrders, "pnc_arrests": CleanPncArrests, "pnd_records": CleanPndRecords,
    "rocu_orders": CleanRocuOrders, "rocu_offending": CleanRocuOffending,
}


class Episodes(pa.DataFrameModel):
    """``data/processed/orders.csv``: one order episode per person (pseudonymous)."""

    subject_id: Series[str] = pa.Field(unique=True, str_matches=r"^[SU][0-9a-f]{16}$")
    identity: Series[str] = pa.Field(isin=["pnc_id", "rocu", "linked", "ambiguous", "unmatched"])
    start_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    start_source: Series[str] = pa.Field(nullable=True)
    length_months: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    rocu_return: Series[bool]

    class Config:
        strict = False


class Events(pa.DataFrameModel):
    """``data/processed/events.csv``: one arrest event per row, systems merged (A8)."""

    event_id: Series[str] = pa.Field(unique=True)
    subject_id: Series[str] = pa.Field(str_matches=r"^[SU][0-9a-f]{16}$")
    event_date: Series[pd.Timestamp]
    in_pnc: Series[bool]
    in_pnd: Series[bool]
    in_rocu: Series[bool]

    class Config:
        strict = False
