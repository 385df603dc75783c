"""Shared fixtures: the default synthetic extracts, simulated once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from strostudy.config import published
from strostudy.simulate import simulate, write_extracts

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def default_dirs(tmp_path_factory):
    """The default synthetic extracts and truth, written to disk as the workflow writes them."""
    root = tmp_path_factory.mktemp("default")
    write_extracts(simulate(), root / "raw", root / "truth")
    return root


@pytest.fixture(scope="session")
def truth(default_dirs):
    return {p.stem: pd.read_csv(p) for p in (default_dirs / "truth").glob("*.csv")}


@pytest.fixture(scope="session")
def paper():
    return published()


def run_stages(raw_dir, work, config=None):
    """Run the workflow's stages in-process (as the rules do) into ``work``; returns paths."""
    from strostudy.config import defaults
    from strostudy.stages import run_cohort, run_harm, run_its, run_reconcile

    cfg = config or defaults()
    w = Path(work)
    interim, processed = w / "interim", w / "processed"
    rec = {"orders": processed / "orders.csv", "discrepancies": processed / "discrepancies.csv",
           "events": interim / "events.parquet", "offences": interim / "event_offences.parquet",
           "outcomes": interim / "row_outcomes.parquet", "rows_read": interim / "rows_read.json",
           "links": interim / "links.parquet", "quarantine": interim / "quarantine", "clean": interim / "clean"}
    processed.mkdir(parents=True, exist_ok=True)
    run_reconcile(str(raw_dir), cfg, rec)
    harm_out = {"events": processed / "events.csv", "unknown_codes": processed / "unknown_codes.csv",
                "ledger": processed / "audit_ledger.csv", "quarantine": interim / "quarantine_harm.csv"}
    run_harm({k: rec[k] for k in ("events", "offences", "outcomes", "rows_read")}, cfg["harm"], cfg["categories"],
             harm_out)
    cohort_out = {k: processed / f"{v}.csv" for k, v in
                  {"flow": "cohort_flow", "cohort": "cohort", "windows": "subject_windows",
                   "monthly": "monthly_series", "tests": "prepost_tests", "correlations": "correlations"}.items()}
    run_cohort({"orders": rec["orders"], "events": harm_out["events"]}, cfg, cohort_out)
    run_its({"monthly": cohort_out["monthly"]}, cfg,
            {k: processed / f"its_{k}.csv" for k in ("models", "diagnostics", "summary")})
    return processed


@pytest.fixture(scope="session")
def processed(default_dirs):
    """The pipeline's own outputs on the default synthetic extracts."""
    folder = run_stages(default_dirs / "raw", default_dirs / "work")
    return {p.stem: pd.read_csv(p, keep_default_na=True) for p in folder.glob("*.csv")}
