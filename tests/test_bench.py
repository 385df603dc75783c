"""The workflow benchmark's own arithmetic (benchmarks/bench.py): the scaling exponent, how
results of several runs merge, and reading Snakemake's benchmark files.  The sizes themselves
run in `make bench`, not here."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "bench.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _results(rows, machine="m1"):
    return pd.DataFrame([{"stage": s, "size": z, "pnc_rows": n, "orders": n // 10, "wall_s": w, "cpu_s": w,
                          "peak_mb": 100.0, "machine": machine} for s, z, n, w in rows])


def test_exponent_is_the_log_log_slope_over_the_large_sizes():
    # time = 2e-5 * rows^1.05 at 0.5M, 1M, 5M; the default's 30 s of fixed cost is left out of the fit
    rows = [("workflow", "default", 6_705, 30.0)] + [
        ("workflow", z, n, 2e-5 * n**1.05) for z, n in (("0.5M", 500_000), ("1M", 1_000_000), ("5M", 5_000_000))]
    assert bench.exponent(_results(rows)) == pytest.approx(1.05, abs=1e-12)
    # doubling rows and time: slope exactly 1
    assert bench.exponent(_results([("workflow", "1M", 1_000_000, 60.0), ("workflow", "2M", 2_000_000, 120.0)])) \
        == pytest.approx(1.0, abs=1e-12)


def test_exponent_needs_two_large_sizes():
    assert np.isnan(bench.exponent(_results([("workflow", "default", 6_705, 30.0),
                                             ("workflow", "0.5M", 500_000, 200.0)])))


def test_merge_replaces_only_the_same_machine_and_size():
    old = pd.concat([_results([("workflow", "default", 6_705, 30.0), ("workflow", "0.5M", 500_000, 200.0)]),
                     _results([("workflow", "default", 6_705, 99.0)], machine="m2")], ignore_index=True)
    new = _results([("workflow", "default", 6_700, 20.0)])
    out = bench.merge(old, new)
    assert len(out) == 3
    mine = out.loc[out["machine"] == "m1"].set_index("size")["wall_s"]
    assert mine.to_dict() == {"default": 20.0, "0.5M": 200.0}
    assert out.loc[out["machine"] == "m2", "wall_s"].tolist() == [99.0]
    assert list(out.columns) == bench.COLUMNS


def test_stage_rows_reads_snakemake_benchmark_files(tmp_path):
    folder = tmp_path / "logs" / "benchmarks"
    folder.mkdir(parents=True)
    (folder / "cohort.tsv").write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\t"
                                       "cpu_time\n1.5\t0:00:01\t137.6\t900\t120\t125\t0\t1\t40\t0.61\n")
    (folder / "its.tsv").write_text("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\t"
                                    "cpu_time\n2.75\t0:00:02\tNA\t900\t120\t125\t0\t1\t40\tNA\n")
    rows = bench.stage_rows(tmp_path)
    assert rows["stage"].tolist() == ["cohort", "its"]
    assert rows["wall_s"].tolist() == [1.5, 2.75]
    assert rows.loc[0, "peak_mb"] == 137.6 and rows.loc[0, "cpu_s"] == 0.61
    assert rows.loc[1, ["peak_mb", "cpu_s"]].isna().all()


def test_every_workflow_rule_writes_a_benchmark_file():
    import re

    for smk in sorted((REPO / "rules").glob("*.smk")):
        if smk.stem in ("common", "calibrate"):
            continue
        text = smk.read_text()
        rules = re.findall(r"^\s*rule (\w+):", text, flags=re.M)
        marks = re.findall(r'"logs/benchmarks/(?:\{study\}/)?(\w+)\.tsv"', text)
        assert rules == marks, smk.name
