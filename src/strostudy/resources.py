"""What each rule asks a cluster scheduler for (issue 15): memory and run time, from the
benchmark (``make bench``; benchmarks/results.csv, docs/scale.md "Resources per rule").

A rule's peak memory is close to a fixed part (the interpreter and its imports) plus a multiple
of the size of what it reads; so is its time.  :data:`MODEL` holds, per rule, the fixed part and
the multiple, fitted through the default run and the 0.5 M-row run of the benchmark, then
doubled (a rule's peak varies with the data's shape, not only its size).  A job that still runs
out is retried by the profile (``retries: 1``) with twice the memory and time (``attempt``).

This module imports nothing heavy: the Snakefile reads it on every parse.
"""

from __future__ import annotations

import math
import os

#: Per rule: (fixed MB, MB per MB read, fixed minutes, minutes per GB read).  Measured values
#: and how they were fitted: docs/scale.md, "Resources per rule".
MODEL: dict[str, tuple[float, float, float, float]] = {
    "cohort": (274.0, 9.77, 0.8, 0.0),
    "comparison": (425.0, 39.75, 2.3, 133.9),
    "decisions": (270.0, 0.0, 0.0, 0.0),
    "figures": (543.0, 54.15, 7.7, 0.0),
    "harm": (289.0, 83.27, 1.5, 96.4),
    "harm_index": (317.0, 0.0, 1.2, 0.0),
    "ingest": (461.0, 8.26, 2.2, 108.8),
    "its": (428.0, 27.14, 2.5, 0.0),
    "prepost": (386.0, 10.13, 1.7, 0.0),
    "reconcile": (579.0, 125.74, 1.2, 2874.4),
    "report": (409.0, 1.11, 1.9, 0.0),
    "sensitivity": (458.0, 62.8, 2.0, 0.0),
    "simulate": (436.0, 5.44, 1.9, 64.9),
}
#: Not measured yet: the index asks for what the report does (it reads a few small tables).
MODEL["index"] = MODEL["report"]
#: Not measured yet: the release stage aggregates the subject-month panel, as prepost does the
#: subject windows, so it asks for what prepost does.
MODEL["release"] = MODEL["prepost"]
#: A rule that is not in :data:`MODEL` asks for this (MB, MB per MB, minutes, minutes per GB).
FALLBACK = (1000.0, 10.0, 10.0, 30.0)
#: MB of raw extracts the simulator writes per order (with its comparison pool), for sizing
#: the ``simulate`` rule, which reads nothing.
SIMULATED_MB_PER_ORDER = 0.0206   # 175.0 MB for 8,532 orders (0.5 M PNC rows); 2.4 MB for 114
#: Never ask for less than this much memory, or time.
MIN_MB, MIN_MINUTES = 500, 5


def estimate(rule: str, input_mb: float, attempt: int = 1) -> tuple[int, int]:
    """(mem_mb, runtime in minutes) for ``rule`` reading ``input_mb`` MB, on try ``attempt``."""
    fixed_mb, per_mb, fixed_min, per_gb = MODEL.get(rule, FALLBACK)
    scale = 2 ** (max(int(attempt), 1) - 1)
    mem = max(MIN_MB, math.ceil((fixed_mb + per_mb * float(input_mb)) * scale))
    minutes = max(MIN_MINUTES, math.ceil((fixed_min + per_gb * float(input_mb) / 1024) * scale))
    return mem, minutes


def input_mb(paths) -> float:
    """MB of the files (and folders' files) in ``paths`` that exist: read directly, so a parsed
    but unscheduled workflow (``mock_snakemake``) sizes its inputs too (Snakemake's own
    ``input.size_mb`` needs a running scheduler)."""
    total = 0
    for path in paths:
        path = str(path)
        if os.path.isdir(path):
            total += sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)
        elif os.path.isfile(path):
            total += os.path.getsize(path)
    return total / 2**20


def rule_resources(rule: str, orders: int | None = None) -> dict:
    """The ``resources:`` of ``rule``: ``mem_mb`` and ``runtime`` as functions of its input's
    size and the try, as Snakemake calls them.  ``orders`` (the simulator, which reads nothing)
    sizes it by the extracts it will write instead: :data:`SIMULATED_MB_PER_ORDER` each."""
    def size(input) -> float:  # noqa: A002
        return float(orders) * SIMULATED_MB_PER_ORDER if orders is not None else input_mb(input)

    def mem_mb(wildcards, input, attempt):  # noqa: A002 - Snakemake passes it by this name
        return estimate(rule, size(input), attempt)[0]

    def runtime(wildcards, input, attempt):  # noqa: A002
        return estimate(rule, size(input), attempt)[1]

    return {"mem_mb": mem_mb, "runtime": runtime}
