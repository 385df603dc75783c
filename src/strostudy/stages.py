"""The edges of each stage: read its inputs, call the stage's functions, write its outputs.

Rules' scripts call these; notebooks and tests can too.  All file formats live here: Parquet
between stages, CSV (byte-stable: fixed float format, ISO dates, ``\\n`` line ends) for
``data/processed``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd


def say(message: str, log: str | None = None) -> None:
    """Progress for the user (stderr) and the rule's log."""
    print(f"strostudy: {message}", file=sys.stderr, flush=True)
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as handle:
            handle.write(message + "\n")


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Deterministic CSV: the same frame always gives the same bytes."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, lineterminator="\n", float_format="%.10g")


def read_csv(path: str | Path, dates: tuple[str, ...] = ()) -> pd.DataFrame:
    frame = pd.read_csv(path, keep_default_na=True)
    for col in dates:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col])
    return frame


def validated(frame: pd.DataFrame, model, name: str) -> pd.DataFrame:
    """Check a table the pipeline made against its pandera model (lazily, every failure at
    once).  A failure here is a bug in strostudy, not in the user's extracts."""
    import pandera.pandas as pa

    from .errors import StrostudyError

    try:
        return model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases[["column", "check"]].drop_duplicates().head(5).to_dict("records")
        raise StrostudyError(f"internal check failed for {name}: {cases}; please report this as a bug") from None


def _write_parquet(frame: pd.DataFrame, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def run_reconcile(raw_dir: str, config: dict, out: dict, log: str | None = None) -> None:
    from .harm import load_weights
    from .ingest import ingest, quarantine_summary
    from .reconcile import reconcile

    t0 = time.perf_counter()
    ing = ingest(raw_dir, config)
    say("read " + ", ".join(f"{n:,} {s} rows" for s, n in ing.rows_read.items()), log)
    for line in quarantine_summary(ing, out["quarantine"]):
        say(line, log)
    result = reconcile(ing, config, load_weights(config["harm"]))
    clean_dir = Path(out["clean"])
    for name, table in ing.tables.items():
        _write_parquet(table.astype({c: "string" for c in table.columns if table[c].dtype == object}),
                       clean_dir / f"{name}.parquet")
    qdir = Path(out["quarantine"])
    qdir.mkdir(parents=True, exist_ok=True)
    for name in sorted(set(ing.quarantine) | set(result.quarantine)):
        parts = [q for q in (ing.quarantine.get(name), result.quarantine.get(name)) if q is not None and len(q)]
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["source_row", "check"])
        first = ["source_row", "check"] + [c for c in frame.columns if c not in ("source_row", "check")]
        write_csv(frame[first], qdir / f"{name}.csv")
    from .schemas import Episodes, Events

    write_csv(validated(result.episodes, Episodes, "orders.csv"), out["orders"])
    validated(result.events, Events, "events")
    write_csv(result.discrepancies, out["discrepancies"])
    _write_parquet(result.events, out["events"])
    _write_parquet(result.offences, out["offences"])
    _write_parquet(result.outcomes, out["outcomes"])
    _write_parquet(result.links, out["links"])
    Path(out["rows_read"]).write_text(json.dumps(ing.rows_read, indent=1, sort_keys=True))
    ids = result.episodes["identity"].value_counts().to_dict()
    say(f"{len(result.episodes):,} order episodes ({', '.join(f'{v} by {k}' for k, v in sorted(ids.items()))}); "
        f"{len(result.events):,} arrest events; {len(result.discrepancies):,} discrepancies logged "
        f"({time.perf_counter() - t0:.1f}s)", log)


def run_harm(inputs: dict, harm_cfg: dict, categories: dict, out: dict, log: str | None = None) -> None:
    from .harm import load_weights, score_events
    from .reconcile import audit_ledger

    weights = load_weights(harm_cfg)
    events = pd.read_parquet(inputs["events"])
    offences = pd.read_parquet(inputs["offences"])
    scored, quarantined, unknown = score_events(events, offences, weights, harm_cfg, categories,
                                                harm_cfg.get("index_name", "harm index"))
    # Rows behind quarantined events become quarantined rows, so the ledger still balances.
    outcomes = pd.read_parquet(inputs["outcomes"])
    hit = outcomes["event_id"].isin(quarantined["event_id"])
    outcomes.loc[hit, "outcome"] = "quarantined"
    outcomes.loc[hit, "reason"] = "unknown_offence_code"
    rows_read = json.loads(Path(inputs["rows_read"]).read_text())
    ledger = audit_ledger(outcomes, rows_read)
    write_csv(scored, out["events"])
    write_csv(unknown, out["unknown_codes"])
    write_csv(ledger, out["ledger"])
    write_csv(quarantined, out["quarantine"])
    if not ledger["balances"].all():
        bad = ledger.loc[~ledger["balances"], "source"].unique()
        raise RuntimeError(f"audit ledger does not balance for {', '.join(bad)}; this is a bug, please report it")
    say(f"scored {len(scored):,} arrest events on {harm_cfg.get('index_name')}; "
        f"{len(quarantined):,} quarantined for {len(unknown):,} unknown offence code(s)", log)


def run_cohort(inputs: dict, config: dict, out: dict, log: str | None = None) -> None:
    from .cohort import build_cohort, monthly_series, subject_windows, window_events
    from .prepost import correlations, prepost_tests

    episodes = read_csv(inputs["orders"], dates=("start_date", "start_earliest", "start_latest", "status_date"))
    events = read_csv(inputs["events"], dates=("event_date",))
    cohort, flow = build_cohort(episodes, config)
    windowed = window_events(events, cohort, config)
    windows = subject_windows(windowed, cohort)
    monthly = monthly_series(windowed, cohort, config)
    write_csv(flow, out["flow"])
    write_csv(cohort[["subject_id", "full_windows", "exclusion", "all_reasons", "analysed", "start_date"]],
              out["cohort"])
    write_csv(windows, out["windows"])
    write_csv(monthly, out["monthly"])
    say(f"cohort: {flow['n_out'].iloc[0]} orders -> {flow['n_out'].iloc[1]} with full windows -> "
        f"{int(cohort['analysed'].sum())} analysed; {len(windowed):,} arrests in their windows", log)
    t0 = time.perf_counter()
    tests = prepost_tests(windows, config, progress=(lambda m: say(m, log)) if len(windows) > 5000 else None)
    write_csv(tests, out["tests"])
    write_csv(correlations(windows, monthly), out["correlations"])
    say(f"before/after tests for {len(tests)} measure x category rows ({time.perf_counter() - t0:.1f}s)", log)


def run_its(inputs: dict, config: dict, out: dict, log: str | None = None) -> None:
    import warnings

    from .its import its_models, summary

    monthly = read_csv(inputs["monthly"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' small-sample notes; diagnostics are reported instead
        models, diagnostics = its_models(monthly, config)
    write_csv(models, out["models"])
    write_csv(diagnostics, out["diagnostics"])
    findings = summary(models, config)
    write_csv(findings, out["summary"])
    for row in findings.itertuples():
        say(f"{row.measure}: change at the order is {row.change} ({row.model}); post-order trend "
            f"{'down, significant' if row.post_trend_down else 'not significantly down'}; "
            f"placebos significant: {row.placebos_significant or 'none'}", log)


FIGURE_INPUTS = {"study_flow": ["flow"], "prepost_totals": ["tests"], "paired_subjects": ["windows"],
                 "monthly_its": ["monthly", "its_models"], "source_agreement": ["discrepancies"],
                 "residual_acf": ["its_diagnostics"]}


def run_figures(inputs: dict, config: dict, figures_dir: str, log: str | None = None) -> list[Path]:
    """Every figure, as PNG and PDF, from the processed tables alone."""
    from . import figures, style

    fig_cfg = config["figures"]
    primary = config["its"]["primary"]
    style.apply(fig_cfg)
    t = {name: read_csv(path) for name, path in inputs.items()}
    made = {
        "study_flow": lambda: figures.study_flow(t["flow"], fig_cfg),
        "prepost_totals": lambda: figures.prepost_totals(t["tests"], fig_cfg),
        "paired_subjects": lambda: figures.paired_subjects(t["windows"], fig_cfg),
        "monthly_its": lambda: figures.monthly_its(t["monthly"], t["its_models"], primary, fig_cfg),
        "source_agreement": lambda: figures.source_agreement(t["discrepancies"], fig_cfg),
        "residual_acf": lambda: figures.residual_acf(t["its_diagnostics"], primary, fig_cfg),
    }
    written = []
    for name in figures.FIGURES:
        written += style.save(made[name](), Path(figures_dir) / name, fig_cfg)
    say(f"wrote {len(written)} figure files to {figures_dir}/", log)
    return written
