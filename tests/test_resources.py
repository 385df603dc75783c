"""Each rule's cluster resources (issue 15; strostudy.resources): the arithmetic by hand, every
rule declaring them, and the model covering every measured peak of benchmarks/resources.csv."""

from pathlib import Path

import pandas as pd
import pytest

from strostudy import resources
from strostudy.workflow import _parsed_workflow

REPO = Path(__file__).resolve().parents[1]
MEASURED = pd.read_csv(REPO / "benchmarks" / "resources.csv")


def test_estimate_by_hand(monkeypatch):
    """(fixed MB, MB per MB, fixed min, min per GB) = (300, 4, 2, 30), reading 512 MB:
    300 + 4 * 512 = 2348 MB and 2 + 30 * 0.5 = 17 minutes; the retry doubles both; a tiny rule
    gets the floors."""
    monkeypatch.setitem(resources.MODEL, "x", (300.0, 4.0, 2.0, 30.0))
    assert resources.estimate("x", 512) == (2348, 17)
    assert resources.estimate("x", 512, attempt=2) == (4696, 34)
    assert resources.estimate("x", 0) == (resources.MIN_MB, resources.MIN_MINUTES)
    assert resources.estimate("never_heard_of", 0) == (1000, 10)


def test_rule_resources_are_what_snakemake_calls(monkeypatch, tmp_path):
    """512 MB of input in a file and a folder (a missing path counts nothing)."""
    monkeypatch.setitem(resources.MODEL, "x", (300.0, 4.0, 2.0, 30.0))
    (tmp_path / "a.bin").write_bytes(b"0" * (256 * 2**20))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.bin").write_bytes(b"0" * (256 * 2**20))
    paths = [str(tmp_path / "a.bin"), str(tmp_path / "d"), str(tmp_path / "missing.csv")]
    assert resources.input_mb(paths) == 512
    r = resources.rule_resources("x")
    assert r["mem_mb"](None, paths, 1) == 2348
    assert r["runtime"](None, paths, 2) == 34
    sim = resources.rule_resources("x", orders=1000)
    assert sim["mem_mb"](None, [], 1) == resources.estimate("x", 1000 * resources.SIMULATED_MB_PER_ORDER)[0]


def test_every_rule_asks_for_memory_and_time():
    with _parsed_workflow(None, REPO, None) as (workflow, _, _):
        rules = {r.name: r for r in workflow.rules}
    assert "simulate" in rules and "reconcile" in rules
    for name, rule in rules.items():
        if not rule.output:  # a target rule (all, all_figures): it runs nothing
            continue
        assert {"mem_mb", "runtime"} <= set(rule.resources), name
        assert name in resources.MODEL or name.startswith("calibration"), name


@pytest.mark.parametrize("row", MEASURED.to_dict("records"), ids=lambda r: f"{r['rule']}-{r['size']}")
def test_the_model_covers_every_measured_peak(row):
    mem, minutes = resources.estimate(row["rule"], row["input_mb"])
    assert mem >= row["peak_mb"], f"{row['rule']} at {row['size']}: asks {mem} MB, peaked at {row['peak_mb']}"
    assert minutes * 60 >= row["wall_s"]
