"""The simulator is independent of the pipeline it tests.

It plants the truth the pipeline is checked against, so it must not import the pipeline's own
date, ID, name, harm, cohort or linkage code (a bug there would be copied into the truth and
never caught).  Its own helpers are checked here against hand-worked values, and against the
pipeline only where the two must agree (subject ids join truth to outputs).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy.simulate import _independent as own

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "strostudy" / "simulate"
FORBIDDEN = ["strostudy.dates", "strostudy.ids", "strostudy.ingest", "strostudy.harm", "strostudy.cohort",
             "strostudy.reconcile"]


# --------------------------------------------------------------------------- imports


def _module_name(path: Path) -> str:
    parts = ["strostudy", *path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(source: str, module: str, is_package: bool) -> set[str]:
    """Every module a source imports (relative imports resolved; ``from a import b`` counts
    both ``a`` and ``a.b``), and every string constant naming a ``strostudy`` module."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("strostudy."):
            found.add(node.value)
    return found


def _forbidden(source: str, module: str, is_package: bool = False) -> list[str]:
    return sorted(m for m in _imported(source, module, is_package)
                  if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def test_no_module_of_the_simulator_imports_the_pipeline():
    files = sorted(PACKAGE_DIR.rglob("*.py"))
    assert len(files) >= 8 and not (PACKAGE_DIR.parent / "simulate.py").exists()
    offenders = {str(f.relative_to(PACKAGE_DIR)): bad for f in files
                 if (bad := _forbidden(f.read_text(), _module_name(f), f.name == "__init__.py"))}
    assert not offenders, offenders


def test_the_simulator_takes_only_config_and_errors_from_the_package():
    """Stricter than the list above: no pipeline module at all (offences, categories, keys ...);
    only config, errors and the workflow's progress line (``stages.say``, in the rule's ``run``)."""
    allowed = ("strostudy.config", "strostudy.errors", "strostudy.simulate", "strostudy.stages")
    used = {m for f in PACKAGE_DIR.rglob("*.py")
            for m in _imported(f.read_text(), _module_name(f), f.name == "__init__.py")
            if m.startswith("strostudy.") and not any(m == a or m.startswith(a + ".") for a in allowed)}
    assert not used, used


@pytest.mark.parametrize("source, module", [
    ("from ..ids import format_pnc", "strostudy.simulate.people"),
    ("from ... import ingest", "strostudy.simulate.extracts.pnd"),
    ("from .. import dates", "strostudy.simulate.arrests"),
    ("import strostudy.harm as h", "strostudy.simulate.truth"),
    ("from strostudy.cohort import build", "strostudy.simulate.truth"),
    ("from strostudy import reconcile", "strostudy.simulate.truth"),
    ("import importlib\nimportlib.import_module('strostudy.ids')", "strostudy.simulate.truth"),
])
def test_the_import_check_catches_every_spelling(source, module):
    assert _forbidden(source, module)


@pytest.mark.parametrize("source, module, is_package", [
    ("from ..config import data_path, defaults", "strostudy.simulate.design", False),
    ("from ...errors import StrostudyError", "strostudy.simulate.extracts.pnc", False),
    ("from .dates import x\nfrom ._independent import add_months", "strostudy.simulate.people", False),
    ("from ..truth import note", "strostudy.simulate.extracts", True),
])
def test_the_import_check_allows_config_errors_and_its_own_modules(source, module, is_package):
    assert not _forbidden(source, module, is_package)


# --------------------------------------------------------------------------- months, by hand


def _d(*dates):
    return pd.Series(pd.to_datetime(list(dates)))


@pytest.mark.parametrize("start, months, expected", [
    ("2020-01-31", 1, "2020-02-29"),   # clipped to a leap February
    ("2019-01-31", 1, "2019-02-28"),
    ("2020-03-31", -1, "2020-02-29"),
    ("2020-02-29", 12, "2021-02-28"),
    ("2020-01-31", 2, "2020-03-31"),   # the day comes back when the month is long enough
    ("2019-08-31", 1, "2019-09-30"),
    ("2019-12-15", 1, "2020-01-15"),   # across a year
    ("2020-01-15", -24, "2018-01-15"),
    ("2016-05-31", -3, "2016-02-29"),
    ("2018-07-20", 0, "2018-07-20"),
])
def test_add_months_by_hand(start, months, expected):
    assert own.add_months(_d(start), months).iloc[0] == pd.Timestamp(expected)


def test_add_months_per_row_keeps_index_and_missing():
    dates = pd.Series(pd.to_datetime(["2020-01-31", None, "2021-06-30"]), index=[10, 11, 12])
    out = own.add_months(dates, [1, 5, -4])
    assert list(out.index) == [10, 11, 12]
    assert out.iloc[0] == pd.Timestamp("2020-02-29") and pd.isna(out.iloc[1])
    assert out.iloc[2] == pd.Timestamp("2021-02-28")


@pytest.mark.parametrize("event, start, expected", [
    ("2020-02-29", "2020-01-31", 1),   # start + 1 month is clipped to 29 Feb: month 1 begins there
    ("2020-02-28", "2020-01-31", 0),
    ("2020-01-31", "2020-01-31", 0),   # the start day is month 0 (after)
    ("2020-01-30", "2020-01-31", -1),
    ("2020-03-14", "2020-03-15", -1),
    ("2020-04-14", "2020-03-15", 0),
    ("2020-04-15", "2020-03-15", 1),
    ("2018-03-15", "2020-03-15", -24),
    ("2018-03-14", "2020-03-15", -25),
    ("2022-03-14", "2020-03-15", 23),
    ("2022-03-15", "2020-03-15", 24),
])
def test_month_index_by_hand(event, start, expected):
    out = own.month_index(_d(event), _d(start))
    assert out.iloc[0] == expected and out.dtype == np.int64


def test_month_index_agrees_with_add_months():
    """Month m is [start + m, start + m + 1) on the simulator's own clock."""
    rng = np.random.default_rng(1)
    start = pd.Series(pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, 5000), unit="D"))
    start.iloc[:200] = pd.Timestamp("2016-01-31")  # month ends, where clipping matters
    event = start + pd.to_timedelta(rng.integers(-800, 800, 5000), unit="D")
    m = own.month_index(event, start)
    assert (own.add_months(start, m) <= event).all()
    assert (event < own.add_months(start, m + 1)).all()


# --------------------------------------------------------------------------- IDs, by hand


def test_pnc_id_by_hand():
    # 5 * 10^7 + 12345 = 50012345 = 23 * 2174449 + 18 -> letter 18 of ZABCDEFGHJKLMNPQRTUVWXY is U
    # 19 * 10^7 + 1 = 190000001 = 23 * 8260869 + 14 -> P
    assert list(own.pnc_id([2005, 2019], [12345, 1])) == ["2005/0012345U", "2019/0000001P"]


def test_subject_id_by_hand():
    # Worked once in a shell:
    #   hmac.new(b"strostudy-synthetic-extracts-public-key", b"2005/0012345U", hashlib.sha256).hexdigest()
    #   hmac.new(<same key>, b"order:ISTRO/WMP/2019/00007", hashlib.sha256).hexdigest()
    ids = own.subject_id(pd.Series(["2005/0012345U", "2005/0012345U"]))
    assert list(ids) == ["S03530f5e1cc77b79"] * 2
    assert own.unresolved_subject_id(pd.Series(["ISTRO/WMP/2019/00007"])).iloc[0] == "U4874193f3fc4c1dd"


@pytest.mark.parametrize("raw, expected", [
    ("Łukasz O'Brien-Lee", "lukasz obrien lee"),
    ("Zoë  Campbell-Reid", "zoe campbell reid"),
    ("NGUYỄN Tuấn", "nguyen tuan"),
    ("Ștefan Wiśniewski", "stefan wisniewski"),
    ("Possess a controlled drug - Class A (Cocaine)", "possess a controlled drug class a cocaine"),
    (None, ""),
])
def test_normalise_name_by_hand(raw, expected):
    assert own.normalise_name(pd.Series([raw], dtype=object)).iloc[0] == expected


# --------------------------------------------------------------------------- where the two must agree


def test_subject_ids_join_the_pipelines():
    """The truth's subject ids must be the ones the pipeline computes (truth joins outputs on them)."""
    from strostudy.ids import pseudonymise, unresolved_subject_id
    from strostudy.keys import SYNTHETIC_KEY

    assert own.SYNTHETIC_KEY == SYNTHETIC_KEY
    rng = np.random.default_rng(3)
    pnc = own.pnc_id(rng.integers(1998, 2020, 500), rng.integers(1, 9_999_999, 500))
    assert (own.subject_id(pnc) == pseudonymise(pnc, SYNTHETIC_KEY)).all()
    refs = pd.Series([f"STRO/WMP/2019/{i:05d}" for i in range(50)])
    assert (own.unresolved_subject_id(refs) == unresolved_subject_id(refs, SYNTHETIC_KEY)).all()


def test_pnc_ids_are_valid_for_the_pipeline():
    from strostudy.ids import canonical_pnc

    rng = np.random.default_rng(4)
    pnc = own.pnc_id(rng.integers(1998, 2020, 500), rng.integers(1, 9_999_999, 500))
    parsed = canonical_pnc(pnc)
    assert parsed["pnc_problem"].isna().all() and (parsed["pnc_id"] == pnc).all()


def test_truth_subject_ids_match_the_pipeline_on_the_default_extracts(truth, default_dirs):
    from strostudy.ids import canonical_pnc, pseudonymise
    from strostudy.keys import SYNTHETIC_KEY

    pnc = pd.read_csv(default_dirs / "raw" / "pnc_arrests.csv", dtype=str)["pnc_id"]
    valid = canonical_pnc(pnc)["pnc_id"].dropna().unique()
    pipeline_ids = set(pseudonymise(pd.Series(valid), SYNTHETIC_KEY))
    # People the pipeline cannot identify carry a U id in the truth; everyone else's must match.
    truth_ids = {s for s in truth["events"].loc[truth["events"]["in_pnc"], "subject_id"] if s.startswith("S")}
    assert len(truth_ids) > 50 and truth_ids <= pipeline_ids
