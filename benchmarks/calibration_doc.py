"""Write the calibration tables into docs/calibration.md (between its two markers) and copy
the summary beside it (docs/calibration/calibration.csv; the per-rep file, tens of MB, stays
in data/calibration/: any rep is re-made by `strostudy calibrate --reps 1 --seed S`).

    snakemake calibration --cores all          # or strostudy calibrate ... per scenario
    python benchmarks/calibration_doc.py data/calibration/calibration.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from strostudy.calibrate import SCENARIOS, markdown

START, END = "<!-- calibration tables: start -->", "<!-- calibration tables: end -->"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("summary", nargs="+", help="calibration.csv file(s), one per run")
    parser.add_argument("--doc", default="docs/calibration.md")
    args = parser.parse_args()
    summary = pd.concat([pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in args.summary],
                        ignore_index=True)  # the scenario "null" is not a missing value
    summary["order"] = summary["scenario"].map({s: i for i, s in enumerate(SCENARIOS)})
    summary = summary.sort_values(["order", "rule"], kind="stable").drop(columns="order")
    doc = Path(args.doc)
    text = doc.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{START}\n\n{markdown(summary)}\n{END}{tail}")
    out = doc.parent / "calibration" / "calibration.csv"
    out.parent.mkdir(exist_ok=True)
    summary.to_csv(out, index=False, lineterminator="\n", float_format="%.10g")
    print(f"wrote the tables into {doc} and {out}")


if __name__ == "__main__":
    main()
