"""pandera models: the documentation and the checks of every raw source and cleaned table.

Raw models check structure (the columns a source must have; everything is read as text);
columns typed ``Series[...] | None`` are the contract's optional ones, used when present.
Clean models carry the row-level checks; a row failing one is quarantined with a reason named
after the column and the check (``order_ref_duplicate``, ``length_months_out_of_range``; the
list is in docs/data-contract.md), never dropped silently (see
:func:`strostudy.ingest.split_failures`).
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
    asn: Series[str] | None
    ho_class: Series[str] | None
    offence_title: Series[str] | None
    force: Series[str] | None


class RawPndRecords(_Raw):
    """PND records: one row per event, person fields as the force typed them."""

    pnd_ref: Series[str]
    surname: Series[str]
    forenames: Series[str]
    date_of_birth: Series[str]
    event_datetime: Series[str]
    offence_description: Series[str]
    pnc_id: Series[str] | None
    force_system: Series[str] | None


class RawRocuOrders(_Raw):
    """A ROCU return's order sheet, after its headers are mapped onto the vocabulary."""

    order_ref: Series[object]
    surname: Series[object]
    forenames: Series[object]
    date_of_birth: Series[object]
    start_date: Series[object]
    length: Series[object]
    pnc_id: Series[object] | None
    conditions: Series[object] | None


class RawRocuOffending(_Raw):
    """A ROCU return's offending sheet (two years before and after each order)."""

    order_ref: Series[object]
    arrest_date: Series[object]
    offence: Series[object]
    pnc_id: Series[object] | None
    cjs_code: Series[object] | None


class RawComparison(_Raw):
    """The comparison pool (optional): people who could have received an order and did not,
    each with an index date (docs/data-contract.md)."""

    comparison_ref: Series[str]
    pnc_id: Series[str] = pa.Field(nullable=True)
    surname: Series[str]
    forenames: Series[str]
    date_of_birth: Series[str]
    index_date: Series[str]
    basis: Series[str] | None


class RawCustody(_Raw):
    """Custody periods (optional): when a person could not offend in the community."""

    pnc_id: Series[str] = pa.Field(nullable=True)
    surname: Series[str]
    forenames: Series[str]
    date_of_birth: Series[str]
    start_date: Series[str]
    end_date: Series[str] = pa.Field(nullable=True)
    kind: Series[str] | None


RAW_MODELS = {
    "orders": RawOrders, "pnc_arrests": RawPncArrests, "pnd_records": RawPndRecords,
    "rocu_orders": RawRocuOrders, "rocu_offending": RawRocuOffending,
    "comparison": RawComparison, "custody": RawCustody,
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


class CleanComparison(_Clean):
    """Cleaned comparison-pool rows; a PNC ID failing its check letter goes to linkage (A10)."""

    comparison_ref: Series[str] = pa.Field(nullable=False, unique=True)
    pnc_id: Series[str] = pa.Field(nullable=True, str_matches=CANONICAL_PNC)
    name_key: Series[str] = pa.Field(nullable=False)
    date_of_birth: Series[pd.Timestamp] = pa.Field(nullable=False)
    index_date: Series[pd.Timestamp] = pa.Field(nullable=False)

    @pa.dataframe_check(name="born_after_index_date")
    def born_before_index(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["date_of_birth"] >= df["index_date"]).fillna(False)


class CleanCustody(_Clean):
    """Cleaned custody periods; a missing end date is a period still running (A92)."""

    pnc_id: Series[str] = pa.Field(nullable=True, str_matches=CANONICAL_PNC)
    name_key: Series[str] = pa.Field(nullable=True)
    start_date: Series[pd.Timestamp] = pa.Field(nullable=False)
    end_date: Series[pd.Timestamp] = pa.Field(nullable=True)

    @pa.dataframe_check(name="end_date_before_start_date")
    def ends_after_start(cls, df: pd.DataFrame) -> Series[bool]:
        return ~(df["end_date"] < df["start_date"]).fillna(False)


CLEAN_MODELS = {
    "orders": CleanOrders, "pnc_arrests": CleanPncArrests, "pnd_records": CleanPndRecords,
    "rocu_orders": CleanRocuOrders, "rocu_offending": CleanRocuOffending,
    "comparison": CleanComparison, "custody": CleanCustody,
}


SUBJECT_ID = r"^[SU][0-9a-f]{16}$"
MEASURES = ["events", "harm"]


class _Table(pa.DataFrameModel):
    """A table the pipeline writes: the listed columns must be there with these types; a
    stage may add columns (documented in docs/data-contract.md).  Types are checked after
    coercion, so the same values held as another dtype (text as ``string[pyarrow]``, scores
    read as text from a workbook, an empty column) pass, and values that cannot be coerced
    fail."""

    class Config:
        strict = False
        coerce = True


class Outcomes(_Table):
    """The fate of a row read: ``kept``, ``merged`` or ``quarantined``, with the reason."""

    source: Series[str]
    file: Series[str]
    source_row: Series[int] = pa.Field(ge=1)
    outcome: Series[str] = pa.Field(isin=["kept", "merged", "quarantined"])
    reason: Series[str]


class Weights(_Table):
    """The harm index in the common layout: one row per (code, offence row)."""

    cjs_code: Series[str] = pa.Field(nullable=True)
    ho_class: Series[str] = pa.Field(nullable=True)
    title: Series[str] = pa.Field(nullable=True)
    score: Series[float] = pa.Field(nullable=True, ge=0)
    ho_group: Series[str] = pa.Field(nullable=True)


class Episodes(_Table):
    """``data/processed/<study>/orders.csv``: one order episode per person, of the study's order
    types (pseudonymous)."""

    subject_id: Series[str] = pa.Field(unique=True, str_matches=SUBJECT_ID)
    identity: Series[str] = pa.Field(isin=["pnc_id", "rocu", "linked", "ambiguous", "unmatched"])
    start_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    start_source: Series[str] = pa.Field(nullable=True)
    start_usable: Series[bool]
    start_earliest: Series[pd.Timestamp] = pa.Field(nullable=True)
    start_latest: Series[pd.Timestamp] = pa.Field(nullable=True)
    length_months: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    status: Series[str] = pa.Field(nullable=True)
    status_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    rocu_return: Series[bool]


class OrderEpisodes(Episodes):
    """``data/processed/order_episodes.csv``: one order episode per person and order type, every
    type on the order list (issue 16); a study takes its types' episodes (A138)."""

    class Config:
        unique = ["subject_id", "order_type"]

    subject_id: Series[str] = pa.Field(str_matches=SUBJECT_ID)
    order_type: Series[str]


class Discrepancies(_Table):
    """``data/processed/discrepancies.csv``: one disagreement per row, with what was used."""

    subject_id: Series[str] = pa.Field(str_matches=SUBJECT_ID)
    kind: Series[str]
    field: Series[str]
    source_pair: Series[str]
    resolution: Series[str] = pa.Field(nullable=True)


#: How a person record was tied to a person, strongest first (the linkage-quality table, A87):
#: it carries a valid PNC ID; it is tied by its order reference (an order-list row through the
#: ROCU return of the same order, A10b; a ROCU row through the order list); a probabilistic
#: link on name and DOB; an analyst's clerical decision (accepted, or rejected); ambiguous;
#: no person found.
LINK_BASES = ["pnc_id", "order_ref", "probabilistic", "clerical_accept", "clerical_reject", "ambiguous", "no_match"]
#: The sources whose rows are person records.
PERSON_SOURCES = ["orders", "pnd_records", "rocu_orders", "rocu_offending", "comparison", "custody"]


class LinkageQuality(_Table):
    """Person records per source and the way each was tied to a person (A87); no identifiers."""

    source: Series[str] = pa.Field(isin=PERSON_SOURCES)
    basis: Series[str] = pa.Field(isin=LINK_BASES, description="one of LINK_BASES")
    records: Series[int] = pa.Field(ge=0)


class LinkageScores(_Table):
    """One row per record linked on name and DOB (order-list and PND rows without a valid PNC
    ID): the best candidate's match probability, the probability that the record's person is
    any of its candidates, and the outcome; no identifiers, no record references."""

    source: Series[str] = pa.Field(isin=["orders", "pnd_records", "comparison", "custody"])
    link_status: Series[str] = pa.Field(isin=["linked", "ambiguous", "no_match"])
    link_basis: Series[str] = pa.Field(nullable=True, isin=["probabilistic", "clerical_accept", "clerical_reject"],
                                       description="empty when not linked and no clerical decision applied")
    review: Series[bool] = pa.Field(description="in the review band (or ambiguous): sent for a clerical decision")
    link_score: Series[float] = pa.Field(ge=0, le=1, description="P(best candidate is the record's person)")
    p_listed: Series[float] = pa.Field(ge=0, le=1, description="P(the record's person is one of its candidates)")
    match_weight: Series[float] = pa.Field(nullable=True, description="best candidate's match weight (bits)")
    link_threshold: Series[float] = pa.Field(ge=0, le=1, description="reconcile.link_threshold as applied")
    review_threshold: Series[float] = pa.Field(ge=0, le=1, description="reconcile.review_threshold as applied")


class LinkedEvents(_Table):
    """Arrest events after the systems are merged (A8), before scoring."""

    event_id: Series[str] = pa.Field(unique=True)
    subject_id: Series[str] = pa.Field(str_matches=SUBJECT_ID)
    event_date: Series[pd.Timestamp]
    date_source: Series[str] = pa.Field(isin=["rocu", "pnc", "pnd"])
    in_pnc: Series[bool]
    in_pnd: Series[bool]
    in_rocu: Series[bool]


class EventOffences(_Table):
    """The offences of each event, from the system chosen by A17."""

    event_id: Series[str]
    cjs_code: Series[str] = pa.Field(nullable=True)
    ho_class: Series[str] = pa.Field(nullable=True)
    source: Series[str] = pa.Field(isin=["rocu", "pnc", "pnd"])


class Events(LinkedEvents):
    """``data/processed/events.csv``: one scored arrest event per row (A8, A13, A19)."""

    harm_score: Series[float] = pa.Field(ge=0)
    harm_index: Series[str]
    category: Series[str]
    matched_code: Series[str] = pa.Field(nullable=True)
    match: Series[str] = pa.Field(isin=["cjs", "ho_class", "fallback"])
    n_offences: Series[pd.Int64Dtype] = pa.Field(ge=1)


class ComparisonSubjects(_Table):
    """``data/processed/comparison_subjects.csv``: one person of the comparison pool per row
    (pseudonymous), with the index date their arrests are counted from (A105)."""

    subject_id: Series[str] = pa.Field(unique=True, str_matches=SUBJECT_ID)
    identity: Series[str] = pa.Field(isin=["pnc_id", "linked"])
    index_date: Series[pd.Timestamp]
    basis: Series[str] = pa.Field(nullable=True)
    age_at_index: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)


class Custody(_Table):
    """``data/processed/custody.csv``: custody periods of order and comparison subjects (A91,
    A92); an empty end date is a period still running."""

    subject_id: Series[str] = pa.Field(str_matches=SUBJECT_ID)
    start_date: Series[pd.Timestamp]
    end_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    kind: Series[str] = pa.Field(nullable=True)


GROUPS = ("order", "comparison")


class SubjectMonthPanel(_Table):
    """``data/processed/subject_month_panel.parquet``: one row per subject x month of the
    subject's own clock x category (``overall`` first), both groups (docs/comparison.md)."""

    subject_id: Series[str]
    group: Series[str] = pa.Field(isin=list(GROUPS))
    month: Series[int]
    """Whole months from the subject's index date: month m is [index + m, index + m + 1) (A20)."""
    calendar_month: Series[str] = pa.Field(str_matches=r"^\d{4}-\d{2}$")
    """The calendar month (YYYY-MM) in which the subject's month m begins."""
    category: Series[str]
    events: Series[int] = pa.Field(ge=0)
    harm: Series[float] = pa.Field(ge=0)
    days_at_risk: Series[int] = pa.Field(ge=0)
    """Days of month m less the days inside custody periods (A91, A92)."""


class ComparisonCohort(_Table):
    """``data/processed/comparison_cohort.csv``: every order subject analysed and every
    comparison person, with whether they enter the comparison and the match (A105-A108)."""

    subject_id: Series[str] = pa.Field(unique=True, str_matches=SUBJECT_ID)
    group: Series[str] = pa.Field(isin=list(GROUPS))
    index_date: Series[pd.Timestamp]
    included: Series[bool]
    reason: Series[str] = pa.Field(nullable=True)
    matched: Series[bool]
    distance: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    subclass: Series[pd.Int64Dtype] = pa.Field(nullable=True)


class ComparisonBalance(_Table):
    """``data/processed/comparison_balance.csv``: each covariate's means and standardised mean
    difference in all data and after matching (MatchIt's summary, A108)."""

    feature: Series[str]
    mean_treated: Series[float] = pa.Field(nullable=True)
    mean_control_all: Series[float] = pa.Field(nullable=True)
    smd_all: Series[float] = pa.Field(nullable=True)
    mean_control_matched: Series[float] = pa.Field(nullable=True)
    smd_matched: Series[float] = pa.Field(nullable=True)


class ComparisonEffects(_Table):
    """``data/processed/comparison_effects.csv``: one rate ratio per measure, category and
    estimator (``naive_prepost``, ``did_matched``, ``did_all``), A90-A99."""

    measure: Series[str] = pa.Field(isin=MEASURES)
    category: Series[str]
    estimator: Series[str] = pa.Field(isin=["naive_prepost", "did_matched", "did_all"])
    estimate: Series[float] = pa.Field(nullable=True, ge=0)
    ci_low: Series[float] = pa.Field(nullable=True, ge=0)
    ci_high: Series[float] = pa.Field(nullable=True, ge=0)
    p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    df: Series[float] = pa.Field(nullable=True, gt=0)   # inf: the normal (cr1); Satterthwaite df (cr2, A131)
    interval: Series[str] = pa.Field(isin=["cr1", "cr2", "cr3", "wild_score"])   # how ci and p were made (A137)
    n_treated: Series[int] = pa.Field(ge=0)
    n_comparison: Series[int] = pa.Field(ge=0)
    note: Series[str] = pa.Field(nullable=True)


class EventStudy(_Table):
    """``data/processed/event_study.csv``: the order/comparison rate ratio of each month,
    relative to the reference month (A96); a row with no month says in ``note`` why no model
    was fitted."""

    measure: Series[str] = pa.Field(isin=MEASURES)
    category: Series[str]
    month: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    reference: Series[bool]
    estimate: Series[float] = pa.Field(nullable=True, ge=0)
    ci_low: Series[float] = pa.Field(nullable=True, ge=0)
    ci_high: Series[float] = pa.Field(nullable=True, ge=0)
    df: Series[float] = pa.Field(nullable=True, gt=0)   # inf: the normal (cr1); Satterthwaite df (cr2, A131)


class Sensitivity(_Table):
    """``data/processed/sensitivity.csv``: the main before/after rate ratio (after / before)
    under each sensitivity analysis (docs/sensitivity.md)."""

    analysis: Series[str]
    measure: Series[str] = pa.Field(isin=MEASURES)
    category: Series[str]
    estimate: Series[float] = pa.Field(nullable=True, ge=0)
    ci_low: Series[float] = pa.Field(nullable=True, ge=0)
    ci_high: Series[float] = pa.Field(nullable=True, ge=0)
    n_subjects: Series[int] = pa.Field(ge=0)
    note: Series[str] = pa.Field(nullable=True)


class UnknownCodes(_Table):
    cjs_code: Series[str] = pa.Field(nullable=True)
    ho_class: Series[str] = pa.Field(nullable=True)
    offences: Series[int] = pa.Field(ge=1)
    arrests: Series[int] = pa.Field(ge=1)


class AuditLedger(_Table):
    """Per source: rows read = kept + merged + quarantined, by reason."""

    source: Series[str]
    outcome: Series[str] = pa.Field(isin=["read", "kept", "merged", "quarantined"])
    reason: Series[str] = pa.Field(nullable=True)
    rows: Series[int] = pa.Field(ge=0)
    balances: Series[bool]


class CohortFlow(_Table):
    step: Series[str] = pa.Field(isin=["orders_listed", "full_windows", "exclusions"])
    n_in: Series[int] = pa.Field(ge=0)
    n_out: Series[int] = pa.Field(ge=0)
    reason: Series[str] = pa.Field(nullable=True)
    n: Series[int] = pa.Field(ge=0)


class Cohort(_Table):
    subject_id: Series[str] = pa.Field(unique=True, str_matches=SUBJECT_ID)
    full_windows: Series[bool]
    exclusion: Series[str] = pa.Field(nullable=True)
    analysed: Series[bool]
    start_date: Series[pd.Timestamp] = pa.Field(nullable=True)


class SubjectWindows(_Table):
    """Per analysed subject and category (``overall`` first, then config's categories)."""

    subject_id: Series[str] = pa.Field(str_matches=SUBJECT_ID)
    category: Series[str]
    events_before: Series[int] = pa.Field(ge=0)
    harm_before: Series[float] = pa.Field(ge=0)
    events_after: Series[int] = pa.Field(ge=0)
    harm_after: Series[float] = pa.Field(ge=0)

    @pa.dataframe_check(name="categories_sum_to_overall")
    def categories_sum_to_overall(cls, df: pd.DataFrame) -> bool:
        cols = ["events_before", "events_after", "harm_before", "harm_after"]
        overall = df.loc[df["category"] == "overall"].set_index("subject_id")[cols]
        parts = df.loc[df["category"] != "overall"].groupby("subject_id")[cols].sum()
        parts = parts.reindex(overall.index, fill_value=0)
        return bool(((overall - parts).abs() <= 1e-6 * (1 + overall.abs())).all().all())


class MonthlySeries(_Table):
    month: Series[int]
    measure: Series[str] = pa.Field(isin=MEASURES)
    category: Series[str]
    value: Series[float] = pa.Field(ge=0)
    subjects_at_risk: Series[int] = pa.Field(ge=0)


class PrepostTests(_Table):
    """One row per measure x category: the paired before/after tests (:mod:`strostudy.prepost`)."""

    measure: Series[str] = pa.Field(isin=MEASURES)
    category: Series[str]
    n_subjects: Series[int] = pa.Field(ge=0)
    total_before: Series[float]
    total_after: Series[float]
    reduction_pct: Series[float] = pa.Field(nullable=True)
    """100 (1 - total after / total before); its interval is a two-sided paired BCa bootstrap."""
    p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    """R's ``wilcox.test`` p under ``alternative`` and ``mu``, before any adjustment."""
    alternative: Series[str] = pa.Field(isin=["two.sided", "less", "greater"])
    """Of the Wilcoxon tests (p_value, p_pratt, p_exact) and the Hodges-Lehmann interval."""
    mu: Series[float]
    """The null change per subject (after - before) of the Wilcoxon tests."""
    p_holm: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    """Holm-adjusted across every before/after test that ran (both measures, every category)."""
    significant_holm: Series[bool]


class Correlations(_Table):
    """Spearman correlation of arrests and harm on independent units only: one pair per
    subject (the change in each), A74."""

    level: Series[str] = pa.Field(isin=["subject_change"])
    n: Series[int] = pa.Field(ge=0)
    rho: Series[float] = pa.Field(nullable=True, ge=-1, le=1)
    p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1)


class ItsModels(_Table):
    """Every time-series model term, one row per standard-error type (``se_type``: ``model``,
    ``hac_<lags>``, ``fixedb``, ``ar1``), the post-order trends, the placebo fits and the
    trend tests (:mod:`strostudy.its`)."""

    measure: Series[str] = pa.Field(isin=MEASURES)
    category: Series[str]
    model: Series[str]
    term: Series[str]
    estimate: Series[float] = pa.Field(nullable=True)
    se_type: Series[str] = pa.Field(nullable=True)
    p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    df: Series[float] = pa.Field(nullable=True)
    """Degrees of freedom of the t reference (inf: normal; empty: simulated, fixed-b)."""
    ratio: Series[float] = pa.Field(nullable=True, gt=0)
    """exp(estimate) for log-scale models (a rate ratio for the GLMs), with its interval."""
    ratio_ci_low: Series[float] = pa.Field(nullable=True, ge=0)
    ratio_ci_high: Series[float] = pa.Field(nullable=True, ge=0)
    base_model: Series[str]
    placebo_month: Series[pd.Int64Dtype] = pa.Field(nullable=True, le=-2)


class ItsDiagnostics(_Table):
    """Residual diagnostics per model: Durbin-Watson, Ljung-Box (and of the AR(1)-whitened
    residuals), ACF/PACF, the AR(1) correlation, the seasonality tests and the residuals."""

    measure: Series[str] = pa.Field(isin=MEASURES)
    category: Series[str]
    model: Series[str]
    diagnostic: Series[str]
    value: Series[float] = pa.Field(nullable=True)
    p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1)


class ItsSummary(_Table):
    """The findings per measure (overall), decided under ``rule`` (its.significance)."""

    measure: Series[str] = pa.Field(isin=MEASURES)
    model: Series[str]
    change: Series[str] = pa.Field(isin=["gradual", "stepped", "both", "neither"])
    post_trend_down: Series[bool]
    alpha: Series[float] = pa.Field(gt=0, lt=1)
    rule: Series[str] = pa.Field(isin=["ar1", "cr2", "fixedb", "hac", "model", "both"])
    level_ratio: Series[float] = pa.Field(nullable=True, gt=0)
    slope_ratio: Series[float] = pa.Field(nullable=True, gt=0)
    post_trend_ratio: Series[float] = pa.Field(nullable=True, gt=0)
    autocorrelation: Series[bool]
    seasonality: Series[bool]


class ItsFitted(_Table):
    """Per month and fitted segmented model: the observed value, the model's fit and the
    counterfactual (the before-trend projected past the order), on the data's own scale."""

    measure: Series[str] = pa.Field(isin=MEASURES)
    category: Series[str]
    model: Series[str]
    month: Series[int]
    observed: Series[float]
    fitted: Series[float]
    counterfactual: Series[float]


class Decisions(_Table):
    """One decision per row (:mod:`strostudy.decisions`): the rule's name
    ``<test>_<measure>_<category>``, the test that decides it, its estimate, interval and p,
    and whether it is significant (or, for a headline, whether the claim holds)."""

    rule: Series[str] = pa.Field(unique=True, str_matches=r"^[a-z0-9]+(_[a-z0-9]+)+$")
    test: Series[str]
    measure: Series[str]
    category: Series[str]
    estimate: Series[float] = pa.Field(nullable=True)
    null_value: Series[float]
    ci_low: Series[float] = pa.Field(nullable=True)
    ci_high: Series[float] = pa.Field(nullable=True)
    p_value: Series[float] = pa.Field(nullable=True, ge=0, le=1)
    significant: Series[bool]
    alpha: Series[float] = pa.Field(gt=0, lt=1)
    claim: Series[str]
    note: Series[str] = pa.Field(nullable=True)



class StudyIndex(_Table):
    """``data/processed/index.csv``: one row per study (issue 16, :mod:`strostudy.index`), as
    published: a withheld cell is empty and named in ``suppressed`` (disclosure control)."""

    study: Series[str] = pa.Field(unique=True, str_matches=r"^[a-z][a-z0-9_]*$")
    label: Series[str]
    order_types: Series[str]
    n_listed: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    n_full: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    n_analysed: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    arrests_reduction_pct: Series[float] = pa.Field(nullable=True)
    harm_reduction_pct: Series[float] = pa.Field(nullable=True)
    rate_ratio: Series[float] = pa.Field(nullable=True, ge=0)
    suppressed: Series[str] = pa.Field(nullable=True)
