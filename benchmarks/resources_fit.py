"""Measure what each rule reads and its peak memory and time, in finished workflow runs, and fit
the resource model of ``strostudy.resources`` (docs/scale.md, "Resources per rule").

    # two runs of different sizes, e.g. the default and about 0.5 M PNC rows
    snakemake -s Snakefile -d /tmp/wdef --cores 1 all
    snakemake -s Snakefile -d /tmp/w05 --cores 1 --config synthetic_orders=8532 all
    python benchmarks/resources_fit.py default=/tmp/wdef 0.5M=/tmp/w05 --out benchmarks/resources.csv

Writes one row per rule and run (rule, size, input_mb, wall_s, peak_mb) and prints, per rule,
the line through the two sizes' peaks and times against input MB, doubled: the values of
``strostudy.resources.MODEL``.  The simulator reads nothing; its size is the extracts it wrote.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from strostudy import tables
from strostudy.resources import input_mb

SAFETY = 2.0


def measure(label: str, work: Path) -> pd.DataFrame:
    rows = []
    for f in sorted((work / "logs" / "benchmarks").glob("*.tsv")):
        rule = f.stem
        b = pd.read_csv(f, sep="\t")
        reads = tables.outputs("simulate").values() if rule == "simulate" else \
            tables.inputs(rule, work, source="synthetic").values()
        rows.append({"rule": rule, "size": label, "input_mb": round(input_mb(work / p for p in reads), 3),
                     "wall_s": float(b["s"].iloc[0]),
                     "peak_mb": float(pd.to_numeric(b["max_rss"], errors="coerce").iloc[0])})
    return pd.DataFrame(rows)


def fit(m: pd.DataFrame) -> dict[str, tuple[float, float, float, float]]:
    """Per rule, through the smallest and largest run: (fixed MB, MB per MB, fixed minutes,
    minutes per GB), each doubled and rounded up."""
    out = {}
    for rule, r in m.sort_values("input_mb").groupby("rule"):
        lo, hi = r.iloc[0], r.iloc[-1]
        span = hi["input_mb"] - lo["input_mb"]
        per_mb = max((hi["peak_mb"] - lo["peak_mb"]) / span, 0.0) if span > 0 else 0.0
        per_min = max((hi["wall_s"] - lo["wall_s"]) / 60 / span, 0.0) if span > 0 else 0.0
        fixed_mb = max(lo["peak_mb"] - per_mb * lo["input_mb"], 0.0)
        fixed_min = max(lo["wall_s"] / 60 - per_min * lo["input_mb"], 0.0)
        out[rule] = (float(round(SAFETY * fixed_mb)), float(round(SAFETY * per_mb, 2)), float(round(SAFETY * fixed_min, 1)),
                     float(round(SAFETY * per_min * 1024, 1)))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="label=workdir of a finished run")
    ap.add_argument("--out", default="benchmarks/resources.csv")
    a = ap.parse_args(argv)
    m = pd.concat([measure(label, Path(work)) for label, work in (r.split("=", 1) for r in a.runs)],
                  ignore_index=True)
    m.to_csv(a.out, index=False, lineterminator="\n")
    print(f"wrote {a.out}", file=sys.stderr)
    for rule, v in fit(m).items():
        print(f'    "{rule}": {v},')


if __name__ == "__main__":
    main()
