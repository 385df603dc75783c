"""The table registry: every file the workflow reads or writes, declared once.

Each entry names a table, its path (relative to the working directory), the stage that
writes it and the pandera model of its columns (in :mod:`strostudy.schemas`).  The rules
build their ``input:`` and ``output:`` from here, the stages read and write through
:func:`read` and :func:`write`, and the report and the tests look paths up here.  A path
appears nowhere else.

A table written once per study (every stage from harm on, :data:`STUDY_STAGES`; issue 16,
docs/studies.md) has ``{study}`` in its path: ``data/processed/{study}/cohort.csv``.  The rules
keep it as a Snakemake wildcard; :func:`path`, :func:`inputs` and :func:`outputs` fill it in
when given the study's name.

This module imports nothing heavy at the top, so the Snakefile parses quickly; pandas and
pandera load only when a table is read or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The stages in the order the method runs them (the Snakefile includes their rules so).
STAGES = ["simulate", "ingest", "reconcile", "harm", "cohort", "prepost", "its", "comparison", "sensitivity",
          "decisions", "release", "figures", "report", "index"]


@dataclass(frozen=True)
class Table:
    name: str
    path: str
    stage: str              # the stage that writes it ("raw" for what the user supplies)
    model: str | None       # the pandera model's name in strostudy.schemas
    description: str

    @property
    def kind(self) -> str:
        suffix = Path(self.path).suffix
        return {".csv": "csv", ".parquet": "parquet", ".json": "json", ".html": "html", ".md": "md",
                ".png": "png", ".pdf": "pdf"}.get(suffix, "dir")


def _t(name, path, stage, model, description):
    return name, Table(name, path, stage, model, description)


_CLEAN = {"orders": "CleanOrders", "pnc_arrests": "CleanPncArrests", "pnd_records": "CleanPndRecords",
          "rocu_orders": "CleanRocuOrders", "rocu_offending": "CleanRocuOffending", "rocu_regions": None,
          "comparison": "CleanComparison", "custody": "CleanCustody"}
TRUTH_TABLES = ["subject_windows", "cohort_flow", "discrepancies", "episodes", "events", "effects", "custody",
                "identity_errors", "comparison", "comparison_events", "comparison_discrepancies"]

TABLES: dict[str, Table] = dict([
    # The extracts: written by `simulate` with `source: synthetic`, else supplied (docs/data-contract.md).
    _t("raw_orders", "data/raw/orders.csv", "simulate", "RawOrders", "the national order list"),
    _t("raw_pnc_arrests", "data/raw/pnc_arrests.csv", "simulate", "RawPncArrests", "PNC arrest and offence rows"),
    _t("raw_pnd_records", "data/raw/pnd_records.csv", "simulate", "RawPndRecords", "PND event rows"),
    _t("raw_rocu", "data/raw/rocu", "simulate", None, "one workbook per ROCU region"),
    _t("raw_comparison", "data/raw/comparison.csv", "simulate", "RawComparison",
       "the comparison pool: people who could have received an order and did not, with index dates; optional"),
    _t("raw_custody", "data/raw/custody.csv", "simulate", "RawCustody",
       "custody periods (remand, sentence, deportation); optional"),
    *[_t(f"truth_{n}", f"data/truth/{n}.csv", "simulate", None, f"planted truth: {n}") for n in TRUTH_TABLES],
    # ingest: validated, cleaned extracts (identifiers still present: interim only).
    *[_t(f"clean_{n}", f"data/interim/clean/{n}.parquet", "ingest", m, f"cleaned {n} rows") for n, m in _CLEAN.items()],
    _t("ingest_outcomes", "data/interim/ingest_outcomes.parquet", "ingest", "Outcomes",
       "rows set aside or quarantined while reading, with the reason"),
    _t("rows_read", "data/interim/rows_read.json", "ingest", None, "rows read per source"),
    _t("extract_mark", "data/interim/extract_mark.json", "ingest", None,
       "whether the extracts carry the synthetic mark (only then the public key is used)"),
    _t("quarantine", "data/interim/quarantine", "ingest", None,
       "rows failing a check, one CSV per source, as the extract had them"),
    # harm index: the weights every later step codes and scores offences with, loaded once.
    _t("harm_weights", "data/interim/harm_weights.parquet", "harm", "Weights", "the harm index, one row per code"),
    # reconcile: people linked, order episodes, arrest events (unscored).
    _t("order_episodes", "data/processed/order_episodes.csv", "reconcile", "OrderEpisodes",
       "one order episode per person and order type, every type on the order list"),
    _t("discrepancies", "data/processed/discrepancies.csv", "reconcile", "Discrepancies",
       "every disagreement between sources and how it was resolved"),
    _t("linked_events", "data/interim/events.parquet", "reconcile", "LinkedEvents",
       "one arrest event per row, systems merged, before scoring"),
    _t("event_offences", "data/interim/event_offences.parquet", "reconcile", "EventOffences",
       "the offences of each arrest event"),
    _t("row_outcomes", "data/interim/row_outcomes.parquet", "reconcile", "Outcomes",
       "the fate of every row that survived ingest"),
    _t("links", "data/interim/links.parquet", "reconcile", None, "every record's person link (identifiers)"),
    _t("linkage_review", "data/interim/linkage_review.csv", "reconcile", None,
       "pairs in the uncertain linkage band, both records side by side, for a clerical decision (identifiers)"),
    _t("linkage_quality", "data/processed/linkage_quality.csv", "reconcile", "LinkageQuality",
       "person records per source and how each was tied to a person (PNC ID, order reference, probabilistic, "
       "clerical, ambiguous, none)"),
    _t("linkage_scores", "data/processed/linkage_scores.csv", "reconcile", "LinkageScores",
       "the match probabilities of every record linked on name and DOB, without references"),
    _t("linkage_decisions", "data/raw/linkage_decisions.csv", "raw", None,
       "an analyst's clerical linkage decisions (rec, pnc_id, accept|reject); optional"),
    _t("analysis_plan", "analysis_plan.yaml", "raw", None,
       "the frozen analysis plan (strostudy plan freeze): the analysis choices, their hash and date; optional"),
    _t("comparison_subjects", "data/processed/comparison_subjects.csv", "reconcile", "ComparisonSubjects",
       "the comparison pool's people, one per row, with their index dates (pseudonymous)"),
    _t("custody", "data/processed/custody.csv", "reconcile", "Custody",
       "custody periods of order and comparison subjects (pseudonymous)"),
    _t("quarantine_linkage", "data/interim/quarantine_linkage", "reconcile", None,
       "rows of people not on (or not linkable to) the order list, one CSV per source"),
    # harm: scores and categories, and the audit ledger that closes the row accounts.
    # harm, per study: the study's episodes (its order types), and every arrest scored and
    # categorised by the study's categories.
    _t("orders", "data/processed/{study}/orders.csv", "harm", "Episodes",
       "one order episode per person, of the study's order types"),
    _t("events", "data/processed/{study}/events.csv", "harm", "Events", "scored arrest events of the study's subjects"),
    _t("comparison_events", "data/processed/{study}/comparison_events.csv", "harm", "Events",
       "scored arrest events of the comparison pool"),
    _t("unknown_codes", "data/processed/{study}/unknown_codes.csv", "harm", "UnknownCodes",
       "offence codes the harm index does not know"),
    _t("audit_ledger", "data/processed/{study}/audit_ledger.csv", "harm", "AuditLedger",
       "rows read = kept + merged + quarantined, per source"),
    _t("quarantine_harm", "data/interim/{study}/quarantine_harm.csv", "harm", None, "events with an unknown offence code"),
    # cohort
    _t("cohort_flow", "data/processed/{study}/cohort_flow.csv", "cohort", "CohortFlow", "orders -> full windows -> analysed"),
    _t("cohort", "data/processed/{study}/cohort.csv", "cohort", "Cohort", "each episode's windows and exclusion"),
    _t("subject_windows", "data/processed/{study}/subject_windows.csv", "cohort", "SubjectWindows",
       "arrests and harm before and after, per analysed subject and category"),
    _t("monthly_series", "data/processed/{study}/monthly_series.csv", "cohort", "MonthlySeries",
       "arrests and harm per month of the subjects' own clocks"),
    # prepost
    _t("prepost_tests", "data/processed/{study}/prepost_tests.csv", "prepost", "PrepostTests",
       "paired before/after tests per measure and category"),
    _t("correlations", "data/processed/{study}/correlations.csv", "prepost", "Correlations", "arrests-harm correlations"),
    _t("prepost_decisions", "data/processed/{study}/prepost_decisions.csv", "prepost", "Decisions",
       "every before/after decision (rule, test, estimate, interval, p, significant)"),
    # its
    _t("its_models", "data/processed/{study}/its_models.csv", "its", "ItsModels", "every model term, both SEs"),
    _t("its_diagnostics", "data/processed/{study}/its_diagnostics.csv", "its", "ItsDiagnostics", "residual diagnostics"),
    _t("its_summary", "data/processed/{study}/its_summary.csv", "its", "ItsSummary", "the findings per measure"),
    _t("its_fitted", "data/processed/{study}/its_fitted.csv", "its", "ItsFitted",
       "observed, fitted and counterfactual values per month and model"),
    _t("its_decisions", "data/processed/{study}/its_decisions.csv", "its", "Decisions",
       "every time-series decision (level, slope, post-order trend, placebo)"),
    # comparison: the comparison group, matched, and the adjusted effects (issue 13)
    _t("comparison_cohort", "data/processed/{study}/comparison_cohort.csv", "comparison", "ComparisonCohort",
       "each order and comparison subject considered: group, index date, covariates, match"),
    _t("subject_month_panel", "data/processed/{study}/subject_month_panel.parquet", "comparison", "SubjectMonthPanel",
       "arrests, harm and days at risk per subject, month and category, both groups"),
    _t("comparison_balance", "data/processed/{study}/comparison_balance.csv", "comparison", "ComparisonBalance",
       "covariate balance (standardised differences) before and after matching"),
    _t("comparison_effects", "data/processed/{study}/comparison_effects.csv", "comparison", "ComparisonEffects",
       "naive and adjusted rate ratios per measure and category"),
    _t("event_study", "data/processed/{study}/event_study.csv", "comparison", "EventStudy",
       "order/comparison rate ratios per period relative to the months before the order"),
    _t("comparison_decisions", "data/processed/{study}/comparison_decisions.csv", "comparison", "Decisions",
       "every comparison-group decision (naive and adjusted rate ratios against no change)"),
    # sensitivity: the main estimator under each variation (docs/sensitivity.md)
    _t("sensitivity", "data/processed/{study}/sensitivity.csv", "sensitivity", "Sensitivity",
       "the main before/after rate ratio under each sensitivity analysis"),
    # decisions: every decision the report makes, with the headline claims, in one table
    _t("decisions", "data/processed/{study}/decisions.csv", "decisions", "Decisions",
       "every decision the report makes, the headline claims included (docs/calibration.md)"),
    # calibration (not part of `all`): the snakemake target `calibration`, or `strostudy calibrate`
    _t("calibration_chunk", "data/calibration/{scenario}/chunk_{chunk}.csv", "calibrate", None,
       "one chunk of reps: every decision of every rep, with its target and coverage"),
    _t("calibration_reps", "data/calibration/calibration_reps.csv", "calibrate", None,
       "every decision of every rep (docs/calibration.md)"),
    _t("calibration", "data/calibration/calibration.csv", "calibrate", None,
       "per scenario and rule: the rate of significance and the intervals' coverage, with exact 95% intervals"),
    # report
    # What leaves the secure setting: every number the report and figures show, disclosure-checked
    # (strostudy.release, docs/disclosure.md), and the log of what was withheld.
    *[_t(f"released_{n}", f"reports/{{study}}/tables/{n}.csv", "release", None, f"released: {d}") for n, d in (
        ("flow", "the cohort flow, one count per row"), ("tests", "the before/after tests"),
        ("subject_change", "subjects whose arrests or harm fell, stayed the same or rose"),
        ("correlations", "the arrests-harm correlations"),
        ("its_observed", "the order group's observed series, binned until every point passes"),
        ("controlled_series", "the order and comparison groups' rates, binned alike"),
        ("comparison_groups", "the comparison's group sizes"), ("comparison_effects", "the rate ratios"),
        ("comparison_balance", "the covariate balance"), ("sensitivity", "the sensitivity panel"),
        ("ledger", "the audit ledger"), ("discrepancy_summary", "disagreements between sources, by kind"),
        ("unknown_codes", "offence codes the harm table does not know"),
        ("linkage_quality", "records by source and how they were linked"),
        ("linkage_summary", "the linkage paragraph's counts"),
        ("linkage_score_bins", "the linkage figure's histogram"))],
    _t("study_checking_log", "reports/{study}/output_checking_log.csv", "release", None,
       "every cell of the study's released tables withheld by disclosure control, with its reason (never its value)"),
    _t("results_html", "reports/{study}/results.html", "report", None, "the results report, self-contained"),
    _t("results_md", "reports/{study}/results.md", "report", None, "the results report, Markdown"),
    # index: one row per study, a forest plot across studies, disclosure-checked (issue 16)
    _t("index_table", "data/processed/index.csv", "index", "StudyIndex",
       "one row per study: orders, reductions, adjusted rate ratio (disclosure-checked)"),
    _t("output_checking_log", "reports/output_checking_log.csv", "index", None,
       "every cell withheld by disclosure control, with its reason (never its value), to submit with the tables"),
    _t("index_html", "reports/index.html", "index", None, "the comparison across studies, self-contained"),
    _t("index_md", "reports/index.md", "index", None, "the comparison across studies, Markdown"),
    _t("studies_forest_png", "figures/studies_forest.png", "index", None, "the forest plot across studies"),
    _t("studies_forest_pdf", "figures/studies_forest.pdf", "index", None, "the forest plot across studies"),
])

#: The stages run once per study (paths with ``{study}``); the others run once for all studies.
STUDY_STAGES = ["harm", "cohort", "prepost", "its", "comparison", "sensitivity", "decisions", "release", "figures",
                "report"]
#: What the index reads from each study.
INDEX_TABLES = ["released_flow", "released_tests", "released_comparison_effects", "study_checking_log"]

#: Publication figures (each written as PNG and PDF by the figures stage) and the tables each
#: is drawn from.
FIGURE_INPUTS = {"study_flow": ["released_flow"], "prepost_totals": ["released_tests"],
                 "paired_subjects": ["released_subject_change"], "monthly_its": ["its_fitted", "released_its_observed"],
                 "source_agreement": ["released_discrepancy_summary"], "residual_acf": ["its_diagnostics"],
                 "linkage_scores": ["released_linkage_score_bins", "released_linkage_summary"],
                 "event_study": ["event_study"], "comparison_effects": ["released_comparison_effects"],
                 "comparison_balance": ["released_comparison_balance"], "sensitivity": ["released_sensitivity"],
                 "controlled_series": ["released_controlled_series"]}
FIGURES = list(FIGURE_INPUTS)
FIGURE_TABLES = sorted({t for needs in FIGURE_INPUTS.values() for t in needs})
FIGURE_FORMATS = ["png", "pdf"]

#: The tables the report reads (besides the raw extracts, for provenance, and the figures):
#: every number it shows from a released table (strostudy.release); the processed cohort flow
#: only decides what it can say (whether anyone was analysed), and is not printed.
REPORT_TABLES = ["cohort_flow", "its_models", "events", "decisions", "released_flow", "released_tests", "released_correlations",
                 "released_comparison_groups", "released_comparison_effects", "released_comparison_balance",
                 "released_sensitivity", "released_ledger", "released_discrepancy_summary", "released_unknown_codes",
                 "released_linkage_quality", "released_linkage_summary", "study_checking_log"]
#: What the release stage reads: every processed table a number in the report or a figure
#: comes from (strostudy.release).
RELEASE_TABLES = ["cohort_flow", "prepost_tests", "subject_windows", "correlations", "subject_month_panel",
                  "comparison_cohort", "custody", "comparison_effects", "comparison_balance", "sensitivity",
                  "audit_ledger", "discrepancies", "unknown_codes", "linkage_quality", "linkage_scores"]


RAW = ["raw_orders", "raw_pnc_arrests", "raw_pnd_records", "raw_rocu"]

#: What each rule reads, by table name: the one declaration the rules and :func:`inputs` use.
RULE_INPUTS = {
    "simulate": [],
    "ingest": RAW,
    "harm_index": [],
    "reconcile": [f"clean_{n}" for n in _CLEAN] + ["ingest_outcomes", "rows_read", "extract_mark", "harm_weights"],
    "harm": ["harm_weights", "order_episodes", "linked_events", "event_offences", "row_outcomes", "rows_read"],
    "cohort": ["orders", "events"],
    "prepost": ["subject_windows", "monthly_series"],
    "comparison": ["cohort", "orders", "events", "comparison_subjects", "comparison_events", "custody"],
    "sensitivity": ["orders", "events", "subject_month_panel", "harm_weights", "linked_events", "event_offences"],
    "its": ["monthly_series", "events", "cohort"],
    "decisions": ["prepost_decisions", "its_decisions", "comparison_decisions"],
    "release": RELEASE_TABLES,
    "figures": FIGURE_TABLES,
    "report": RAW + REPORT_TABLES,
    "index": INDEX_TABLES,   # of every study: index_inputs
}
#: The rule that writes tables of a stage, where it is not the stage's own name.
_RULE_OF = {"harm_weights": "harm_index"}


#: Files a rule reads only when the user has supplied them (an analyst's clerical decisions).
OPTIONAL_INPUTS = {"ingest": ["raw_comparison", "raw_custody"], "reconcile": ["linkage_decisions"],
                   "report": ["analysis_plan"]}


STUDY = "{study}"


def _in_study(path: str, study: str | None) -> str:
    """``path`` with its study folder filled in (left as the ``{study}`` wildcard when ``study``
    is None, as the rules want it)."""
    return path if study is None else path.replace(STUDY, study)


def inputs(rule: str, workdir: str | Path = ".", source: str = "extracts", study: str | None = None) -> dict[str, str]:
    """Every file ``rule`` reads, name -> path: its tables, the optional ones that exist under
    ``workdir`` (or, with ``source: synthetic``, that the simulator writes), and (for the
    report) every figure.  Paths stay relative to ``workdir``; a study's paths name ``study``
    (or keep the ``{study}`` wildcard without one)."""
    found = {n: TABLES[n].path for n in RULE_INPUTS[rule]}
    found |= {n: TABLES[n].path for n in OPTIONAL_INPUTS.get(rule, [])
              if (Path(workdir) / TABLES[n].path).exists() or (source == "synthetic" and TABLES[n].stage == "simulate")}
    found = {**found, **figures()} if rule == "report" else found
    return {n: _in_study(p, study) for n, p in found.items()}


def index_inputs(studies) -> dict[str, str]:
    """What the index reads: :data:`INDEX_TABLES` of every study, ``{study}__{table}`` -> path."""
    return {f"{s}__{t}": path(t, s) for s in studies for t in INDEX_TABLES}


def outputs(rule: str, study: str | None = None) -> dict[str, str]:
    """Every file ``rule`` writes, name -> path (a study's named, or with the wildcard)."""
    if rule == "figures":
        return {n: _in_study(p, study) for n, p in figures().items()}
    stage = {"harm_index": "harm"}.get(rule, rule)
    return {t.name: _in_study(t.path, study) for t in TABLES.values()
            if t.stage == stage and _RULE_OF.get(t.name, stage) == rule}


def per_study(table: str) -> bool:
    """Whether table ``table`` is written once per study (its path has a study folder).  A
    rule runs once per study when it is in :data:`STUDY_STAGES`."""
    return STUDY in TABLES[table].path


def figure_path(name: str, ext: str, study: str | None = None) -> str:
    return _in_study(f"figures/{STUDY}/{name}.{ext}", study)


def path(name: str, study: str | None = None) -> str:
    """The path of table ``name`` (KeyError names the table if it is not registered); a study's
    table needs the study's name (:func:`strostudy.studies.names` lists them)."""
    p = TABLES[name].path
    if STUDY in p and study is None:
        raise KeyError(f"{name} is written once per study: give the study's name (tables.path({name!r}, study))")
    return _in_study(p, study)


def paths(*names: str, study: str | None = None) -> dict[str, str]:
    return {n: path(n, study) for n in names}


def written_by(stage: str, study: str | None = None) -> dict[str, str]:
    """Every table ``stage`` writes, name -> path."""
    return {t.name: _in_study(t.path, study) for t in TABLES.values() if t.stage == stage}


def figures(study: str | None = None) -> dict[str, str]:
    """Every figure file of a study, ``{name}_{ext}`` -> path."""
    return {f"{n}_{e}": figure_path(n, e, study) for n in FIGURES for e in FIGURE_FORMATS}


# --------------------------------------------------------------------------- reading and writing


def model(name: str):
    """The pandera model of table ``name`` (in :mod:`strostudy.schemas`), or None."""
    entry = TABLES[name]
    if entry.model is None:
        return None
    from . import schemas

    return getattr(schemas, entry.model)


def _date_columns(m) -> list[str]:
    import pandas as pd

    if m is None:
        return []
    return [c for c, col in m.to_schema().columns.items() if str(col.dtype).startswith("datetime64")
            or col.dtype.type is pd.Timestamp]


def read(name: str, file: str | Path | None = None):
    """Read table ``name`` (from ``file``, else its registered path), with its date columns
    parsed as the model declares them."""
    import pandas as pd

    file = Path(file or path(name))
    if TABLES[name].kind == "parquet":
        return pd.read_parquet(file)
    frame = pd.read_csv(file, keep_default_na=True)
    for col in _date_columns(model(name)):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col])
    return frame


def check(frame, name: str):
    """Validate a table the pipeline made against its model (lazily, every failure at once).
    A failure here is a bug in strostudy, not in the user's extracts."""
    m = model(name)
    if m is None:
        return frame
    import pandera.pandas as pa

    from .errors import StrostudyError

    try:
        return m.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases[["column", "check"]].drop_duplicates().head(5).to_dict("records")
        raise StrostudyError(f"internal check failed for {name}: {cases}; please report this as a bug") from None


def write(frame, name: str, file: str | Path | None = None) -> Path:
    """Validate ``frame`` against its model and write it.  CSV is byte-stable: ISO dates, a
    fixed float format and ``\\n`` line ends; Parquet keeps the dtypes."""
    check(frame, name)
    file = Path(file or path(name))
    file.parent.mkdir(parents=True, exist_ok=True)
    if TABLES[name].kind == "parquet":
        frame.to_parquet(file, index=False)
        return file
    return write_csv_file(frame, file)


#: A text cell a spreadsheet would run as a formula starts with one of these (OWASP, CSV injection).
FORMULA_START = r"^[=+\-@\t\r]"
#: ... unless the whole cell is a plain number, which stays a number ("-3", "+1.5e-3").
PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def neutralise_formulas(frame):
    """Prefix ``'`` to every text cell (and header) a spreadsheet would run as a formula, so
    Excel or LibreOffice shows it as text.  Numeric columns and plain numbers in text columns
    are left alone (docs/data-contract.md, "CSV files strostudy writes")."""
    import pandas as pd

    def risky(text: pd.Series) -> pd.Series:
        return (text.str.contains(FORMULA_START, regex=True) & ~text.str.fullmatch(PLAIN_NUMBER)).fillna(False)

    out = frame.copy()
    for col in out.columns:
        values = out[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        text = values.astype("string")
        hit = risky(text)
        if hit.any():
            out[col] = text.mask(hit, "'" + text).astype(object).where(values.notna(), values)
    headers = pd.Series([str(c) for c in out.columns], dtype="string")
    bad = risky(headers).to_numpy()
    if bad.any():
        out.columns = ["'" + h if b else h for h, b in zip(headers, bad)]
    return out


def write_csv_file(frame, file: str | Path) -> Path:
    """Deterministic, spreadsheet-safe CSV: the same frame always gives the same bytes (ISO
    dates, ``%.10g`` floats, ``\\n`` line ends), and no cell runs as a formula."""
    import pandas as pd

    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    neutralise_formulas(out).to_csv(file, index=False, lineterminator="\n", float_format="%.10g")
    return file
