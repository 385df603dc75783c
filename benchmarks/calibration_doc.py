"""Write the calibration tables into docs/calibration.md (between its two markers) and copy
the summary beside it (docs/calibration/calibration.csv; the per-rep file, tens of MB, stays
in data/calibration/: any rep is re-made by `strostudy calibrate --reps 1 --seed S`).

    snakemake calibration --cores all          # or strostudy calibrate ... per scenario
    python benchmarks/calibration_doc.py data/calibration/calibration.csv

With ``--comparison``, only the comparison group's rules (issue 13: the naive, matched and
whole-pool rate ratios, overall) are tabled, between their own markers, and their summary
copied to docs/calibration/comparison_calibration.csv.  ``--label x10`` writes them between
the markers ``<!-- comparison calibration x10: start -->`` ... ``end -->`` instead, and the summary
to docs/calibration/comparison_calibration_x10.csv (a run at another cohort size).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from strostudy.calibrate import SCENARIOS, markdown

START, END = "<!-- calibration tables: start -->", "<!-- calibration tables: end -->"


def comparison_markers(label: str = "") -> tuple[str, str]:
    """The markers of a comparison table in docs/calibration.md (``label``: a run's own)."""
    name = f"comparison calibration {label}".strip()
    return f"<!-- {name}: start -->", f"<!-- {name}: end -->"


ESTIMATORS = {"naive_prepost": "naive before/after", "did_matched": "DiD, matched", "did_all": "DiD, whole pool"}


def comparison_markdown(summary: pd.DataFrame) -> str:
    """One row per scenario, measure and estimator (overall): the mean rate ratio, its target,
    the intervals' coverage of the target and how often the interval excludes 1, each with its
    exact 95% interval."""
    def pct(v):
        return "" if pd.isna(v) else f"{100 * v:.1f}"

    rows = summary.loc[summary["test"].isin(list(ESTIMATORS)) & (summary["category"] == "overall")]
    lines = ["| scenario | measure | estimator | reps | mean ratio | true ratio | coverage % | 95% interval "
             "| excludes 1 % | 95% interval |", "|---|---|---|---:|---:|---:|---:|---|---:|---|"]
    for r in rows.itertuples():
        target = "" if pd.isna(r.target) else f"{r.target:.3g}"
        cov = "" if not r.n_intervals else f"{pct(r.coverage_ci_low)}–{pct(r.coverage_ci_high)}"
        lines.append(f"| {r.scenario} | {'arrests' if r.measure == 'events' else 'harm'} | {ESTIMATORS[r.test]} | "
                     f"{int(r.n_reps)} | {r.mean_estimate:.3f} | {target} | "
                     f"{pct(r.coverage) if r.n_intervals else ''} | {cov} | {pct(r.rate)} | "
                     f"{pct(r.rate_ci_low)}–{pct(r.rate_ci_high)} |")
    return "\n".join(lines) + "\n"


def _between(text: str, markers: tuple[str, str], body: str) -> str:
    head, _, rest = text.partition(markers[0])
    _, _, tail = rest.partition(markers[1])
    return f"{head}{markers[0]}\n\n{body}\n{markers[1]}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("summary", nargs="+", help="calibration.csv file(s), one per run")
    parser.add_argument("--doc", default="docs/calibration.md")
    parser.add_argument("--comparison", action="store_true",
                        help="table only the comparison group's rules, between their own markers")
    parser.add_argument("--label", default="", help="with --comparison: a run's own markers and CSV (e.g. x10)")
    args = parser.parse_args()
    summary = pd.concat([pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in args.summary],
                        ignore_index=True)  # the scenario "null" is not a missing value
    summary["order"] = summary["scenario"].map({s: i for i, s in enumerate(SCENARIOS)})
    summary = summary.sort_values(["order", "rule"], kind="stable").drop(columns="order")
    doc = Path(args.doc)
    text = doc.read_text()
    if args.comparison:
        summary = summary.loc[summary["test"].isin(list(ESTIMATORS))]
        markers = comparison_markers(args.label)
        if markers[0] not in text:
            raise SystemExit(f"{doc} has no line '{markers[0]}': add it and '{markers[1]}' where the table goes")
        doc.write_text(_between(text, markers, comparison_markdown(summary)))
        suffix = f"_{args.label}" if args.label else ""
        out = doc.parent / "calibration" / f"comparison_calibration{suffix}.csv"
        out.parent.mkdir(exist_ok=True)
        summary.to_csv(out, index=False, lineterminator="\n", float_format="%.10g")
        print(f"wrote the comparison table into {doc} and {out}")
        return
    doc.write_text(_between(text, (START, END), markdown(summary)))
    out = doc.parent / "calibration" / "calibration.csv"
    out.parent.mkdir(exist_ok=True)
    summary.to_csv(out, index=False, lineterminator="\n", float_format="%.10g")
    print(f"wrote the tables into {doc} and {out}")


if __name__ == "__main__":
    main()
