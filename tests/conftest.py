"""Shared fixtures: the default synthetic extracts, simulated once per session."""

from __future__ import annotations

import shutil
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


@pytest.fixture
def raw(default_dirs, tmp_path):
    """A writable copy of the default extracts, for a test that breaks them."""
    shutil.copytree(default_dirs / "raw", tmp_path / "raw")
    return tmp_path / "raw"


@pytest.fixture(scope="session")
def truth(default_dirs):
    return {p.stem: pd.read_csv(p) for p in (default_dirs / "truth").glob("*.csv")}


@pytest.fixture(scope="session")
def paper():
    return published()


#: The default config's one study.
STUDY = "stro"


class Processed:
    """``data/processed`` of a run, with the default study's folder looked in first: ``folder /
    "cohort.csv"`` is the study's table, ``folder / "custody.csv"`` the shared one."""

    def __init__(self, root: Path, study: str = STUDY):
        self.root, self.study = Path(root), study

    def __truediv__(self, name):
        mine = self.root / self.study / name
        return mine if mine.exists() else self.root / name

    def glob(self, pattern):
        return sorted([*self.root.glob(pattern), *(self.root / self.study).glob(pattern)])

    def __fspath__(self):
        return str(self.root)


def run_stages(raw_dir, work, config=None, until="its"):
    """Run the workflow's stages in-process (each stage's ``run``, as the rules do) in the
    working directory ``work``, on the extracts in ``raw_dir``; returns data/processed (its
    default study's tables first: :class:`Processed`)."""
    from strostudy.config import defaults
    from strostudy.stages import run_all

    w = Path(work)
    (w / "data").mkdir(parents=True, exist_ok=True)
    if not (w / "data" / "raw").exists():
        (w / "data" / "raw").symlink_to(Path(raw_dir).resolve(), target_is_directory=True)
    run_all(config or defaults(), w, until=until)
    return Processed(w / "data" / "processed")


@pytest.fixture(scope="session")
def processed(default_dirs):
    """The pipeline's own outputs on the default synthetic extracts (shared and the study's)."""
    folder = run_stages(default_dirs / "raw", default_dirs / "work")
    return {p.stem: pd.read_csv(p, keep_default_na=True) for p in folder.glob("*.csv")}


#: A test secret for extracts the pipeline must treat as real (edited ones carry no synthetic mark).
TEST_KEY = "a-long-test-secret-0123456789"


def ledger_of(raw_dir, cfg):
    """Ingest and reconcile ``raw_dir``; the audit ledger must balance for every source."""
    from strostudy.harm import audit_ledger
    from strostudy.ingest import ingest
    from strostudy.offences import curated_weights
    from strostudy.reconcile import reconcile

    ing = ingest(raw_dir, cfg)
    result = reconcile(ing, cfg, curated_weights())
    ledger = audit_ledger(result.outcomes, ing.rows_read)
    assert ledger["balances"].all()
    return ing, result, ledger


def count_design(panel: pd.DataFrame, estimator: str):
    """The rows and design matrix of the comparison fixtures' count models (make_comparison_fixtures.R,
    make_cr2_fixtures.R): ``did`` is ``treated * post`` on every row with time at risk, ``naive``
    is ``post`` on the order group's."""
    import numpy as np

    d = panel.loc[panel["days_at_risk"] > 0]
    if estimator == "naive":
        d = d.loc[d["group"] == "order"]
    treated = (d["group"] == "order").to_numpy(float)
    post = (d["month"] >= 0).to_numpy(float)
    X = (np.column_stack([np.ones(len(d)), treated, post, treated * post]) if estimator == "did"
         else np.column_stack([np.ones(len(d)), post]))
    return d, X


def released(t: dict, rule=None) -> dict:
    """``t`` (processed tables by registry name, built by hand) with the released tables the
    report reads (``released_<name>``, :mod:`strostudy.release`) for those of its inputs that
    ``t`` holds, and the study's output-checking log."""
    from strostudy import disclosure, release

    rule = rule or disclosure.Rule()
    makers = {"flow": ("cohort_flow",), "tests": ("prepost_tests", "subject_windows"), "correlations": ("correlations",),
              "ledger": ("audit_ledger",), "discrepancy_summary": ("discrepancies",),
              "unknown_codes": ("unknown_codes",), "linkage_quality": ("linkage_quality",),
              "linkage_summary": ("linkage_scores",), "sensitivity": ("sensitivity",)}
    out, logs = dict(t), []
    for name, needs in makers.items():
        if all(n in t for n in needs):
            parts = getattr(release, name)(*[t[n] for n in needs])
            out[f"released_{name}"], log = release.publish(name, parts if isinstance(parts, list) else [parts], rule)
            logs.append(log)
    if {"comparison_cohort", "custody", "comparison_effects", "comparison_balance"} <= set(t):
        groups = release.comparison_groups(t["comparison_cohort"], t["custody"])
        for name, part in (("comparison_groups", groups), ("comparison_effects", release.comparison_effects(
                t["comparison_effects"])), ("comparison_balance", release.comparison_balance(
                t["comparison_balance"], groups.table))):
            out[f"released_{name}"], log = release.publish(name, [part], rule)
            logs.append(log)
    out["study_checking_log"] = pd.concat(logs, ignore_index=True) if logs else disclosure.log_frame()
    return out
