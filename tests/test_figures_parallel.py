"""Figures drawn in parallel (the figures rule's threads) are the same bytes as drawn one
after another."""

from __future__ import annotations

import sys

import pytest
from conftest import run_stages

from strostudy import figures, tables
from strostudy.config import defaults


@pytest.mark.skipif(sys.platform != "linux", reason="parallel drawing forks, on Linux only")
def test_parallel_figures_are_byte_identical_to_serial(default_dirs, tmp_path):
    work = tmp_path / "work"
    run_stages(default_dirs / "raw", work, until="release")
    inputs = {k: str(work / v) for k, v in tables.inputs("figures", study="stro").items()}
    outs = {}
    for threads in (1, 2):
        out = {k: str(tmp_path / str(threads) / v) for k, v in tables.outputs("figures", "stro").items()}
        written = figures.run(inputs, out, defaults(), threads=threads)
        outs[threads] = {w.removeprefix(str(tmp_path / str(threads))): open(w, "rb").read() for w in written}
    assert len(outs[1]) == 2 * len(figures.DRAW) == 24
    assert outs[1].keys() == outs[2].keys()
    assert all(outs[1][k] == outs[2][k] for k in outs[1])
