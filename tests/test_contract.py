"""docs/data-contract.md agrees with the files the simulator writes (and the config's synonyms)."""

import re

import pandas as pd
import pytest
from conftest import REPO
from openpyxl import load_workbook

from strostudy.config import defaults

CONTRACT = (REPO / "docs" / "data-contract.md").read_text()


def documented_columns(heading: str) -> list[str]:
    """Column names (first cell, in backticks) of the first table under ``heading``."""
    section = CONTRACT.split(heading, 1)[1]
    table = re.search(r"\n(\|.*\|\n)+", section).group(0)
    return re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M)


@pytest.mark.parametrize("name", ["orders", "pnc_arrests", "pnd_records"])
def test_csv_columns_match_contract(default_dirs, name):
    header = pd.read_csv(default_dirs / "raw" / f"{name}.csv", nrows=0).columns.tolist()
    assert header == documented_columns(f"## `{name}.csv`")


@pytest.mark.parametrize("sheet", ["Orders", "Offending"])
def test_rocu_headers_are_documented_synonyms(default_dirs, sheet):
    canonical = documented_columns(f"### Sheet `{sheet}`")
    synonyms = defaults()["ingest"]["rocu_header_synonyms"]

    def norm(s):
        return re.sub(r"[^a-z0-9()]", "", str(s).lower())

    seen = set()
    for path in sorted((default_dirs / "raw" / "rocu").glob("*.xlsx")):
        ws = load_workbook(path, read_only=True)[sheet]
        rows = [r for r in ws.iter_rows(values_only=True) if any(v is not None for v in r)]
        header = next(r for r in rows if sum(v is not None for v in r) >= 3)
        mapped = [next(k for k, vs in synonyms.items() if norm(h) in {norm(v) for v in vs}) for h in header]
        assert mapped == canonical, path.name
        seen.update(header)
    # Every synonym the workbooks use is in the contract's table too.
    for h in seen:
        assert h.lower() in CONTRACT.lower(), h


def test_order_types_and_statuses_are_documented(default_dirs):
    orders = pd.read_csv(default_dirs / "raw" / "orders.csv", dtype=str)
    for value in set(orders["order_type"]) | set(orders["status"]):
        assert f"`{value}`" in CONTRACT, value
