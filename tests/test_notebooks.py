"""Committed notebooks carry no outputs and match their paired percent-format scripts.
(`make test` executes them with nbmake against a fresh synthetic run.)"""

import json

import jupytext
import pytest
from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("0*.ipynb"))


def test_the_four_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == ["01-explore-extracts", "02-cohort-and-prepost", "03-time-series",
                                           "04-figures-for-publication"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_outputs_stripped_and_paired(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    paired = jupytext.read(path.with_suffix(".py"))
    assert [c.source for c in paired.cells] == ["".join(c["source"]) for c in nb["cells"]]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_call_the_package_not_copies(path):
    text = path.with_suffix(".py").read_text()
    assert "from strostudy" in text
    for forbidden in ("def ", "rankdata", "sm.GLM", "merge_asof"):
        assert forbidden not in text, forbidden
