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
