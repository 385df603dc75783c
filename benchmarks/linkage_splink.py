"""Splink 5 on the same FEBRL benchmarks (names + DOB only), for docs/linkage.md.

Splink is not a dependency of strostudy.  Run this in a throwaway environment:

    python3.11 -m venv /tmp/splinkvenv
    /tmp/splinkvenv/bin/pip install "splink==5.0.0" "pandas>=3"
    /tmp/splinkvenv/bin/python benchmarks/linkage_splink.py

A standard Splink set-up for person records with names and a date of birth:

- comparisons: ``NameComparison`` on forename and on surname (exact with term-frequency
  adjustment, Jaro-Winkler >= 0.92, >= 0.88, else) and ``DateOfBirthComparison`` (exact,
  Levenshtein <= 1, within 1 month, 1 year, 10 years, else; impossible dates as missing);
- blocking: the DOB; forename and surname; each name with the birth year or the day and
  month; each name with the other's first letter (DuckDB has no Soundex, so names block
  exactly where ours block on Soundex);
- parameters: the prior ``probability_two_random_records_match`` = 1 / (people on the left),
  as each right record has at most one person; u from 1e6 random pairs (seeded); m by EM,
  one session blocked on the names (trains the DOB) and one blocked on the DOB (trains the
  names), as in Splink's FEBRL tutorial;
- decision (the same threshold semantics as ours): each right record takes its
  highest-probability pair, linked if that pair's match probability is >= 0.9.

A second row per data set re-decides Splink's own Bayes factors with our decision rule
(A80: each record is one of its candidates or none of the people on the left, with the share
``pi`` of records that have a person estimated by EM, linked at probability >= 0.9 and a
3-bit margin over the runner-up), to show how much of the difference is the decision rule
and how much the comparisons and parameters.

Prints the same table as ``linkage_benchmark.py``.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import pandas as pd
from linkage_benchmark import dataset_arguments, machine, score, tasks

THRESHOLD = 0.9


def splink_link(left: pd.DataFrame, right: pd.DataFrame, seed: int = 20260625) -> tuple[pd.DataFrame, float]:
    """Every candidate pair (``left_id``, ``right_id``) with Splink's match probability ``p``
    and Bayes factor ``bits`` (match weight less the prior), and the seconds taken."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    def frame(people: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"unique_id": people["id"], "first_name": people["forenames"].str.strip(),
                             "surname": people["surname"].str.strip(),
                             "dob": people["date_of_birth"].str.replace("-", "", regex=False)})

    t0 = time.perf_counter()
    db = DuckDBAPI()
    tables = [db.register(frame(left), dataset_display_name="febrl_left"),
              db.register(frame(right), dataset_display_name="febrl_right")]
    prior = 1 / len(left)
    settings = SettingsCreator(
        link_type="link_only",
        probability_two_random_records_match=prior,
        comparisons=[cl.NameComparison("first_name"), cl.NameComparison("surname"),
                     cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y%m%d")],
        blocking_rules_to_generate_predictions=[
            block_on("dob"), block_on("first_name", "surname"), block_on("surname", "first_name"),
            block_on("surname", "substr(dob, 1, 4)"), block_on("surname", "substr(dob, 5, 4)"),
            block_on("first_name", "substr(dob, 1, 4)"), block_on("first_name", "substr(dob, 5, 4)"),
            block_on("surname", "substr(first_name, 1, 1)"), block_on("first_name", "substr(surname, 1, 1)"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(tables, settings, log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    pairs = linker.inference.predict().as_pandas_dataframe()
    seconds = time.perf_counter() - t0
    left_ids = set(left["id"])
    is_left_l = pairs["unique_id_l"].isin(left_ids)  # the left list may be either column
    return pd.DataFrame({"left_id": pairs["unique_id_l"].where(is_left_l, pairs["unique_id_r"]),
                         "right_id": pairs["unique_id_r"].where(is_left_l, pairs["unique_id_l"]),
                         "p": pairs["match_probability"],
                         "bits": pairs["match_weight"] - np.log2(prior / (1 - prior))}), seconds


def best_pair(pairs: pd.DataFrame) -> pd.DataFrame:
    """Splink's decision: each right record's most probable pair, linked at p >= 0.9."""
    best = pairs.sort_values(["right_id", "p", "left_id"], ascending=[True, False, True]).drop_duplicates("right_id")
    return best.loc[best["p"] >= THRESHOLD]


def one_to_one(pairs: pd.DataFrame, n_left: int, n_right: int, margin: float = 3.0) -> pd.DataFrame:
    """Our decision rule (A80, A11) on Splink's Bayes factors, written out again here."""
    bits = pairs.groupby(["right_id", "left_id"])["bits"].max().reset_index()
    top = bits.groupby("right_id")["bits"].transform("max")
    total = np.exp2(bits["bits"] - top).groupby(bits["right_id"]).transform("sum")  # sum of BF / 2^top
    pi = 0.5
    for _ in range(500):  # EM for pi, Beta(1, 1) prior
        a = np.log2(pi / n_left) + top + np.log2(total)  # log2 of (pi/N) * sum of BF
        p_any = (1 / (1 + np.exp2(np.log2(1 - pi) - a))).groupby(bits["right_id"]).first()
        new = (p_any.sum() + 1) / (n_right + 2)
        if abs(new - pi) < 1e-10:
            break
        pi = new
    a = np.log2(pi / n_left) + top + np.log2(total)
    p = np.exp2(np.log2(pi / n_left) + bits["bits"] - np.logaddexp2(a, np.log2(1 - pi)))
    bits = bits.assign(p=p).sort_values(["right_id", "bits", "left_id"], ascending=[True, False, True])
    runner = bits.groupby("right_id")["bits"].nth(1)
    runner = pd.Series(runner.to_numpy(), index=bits.loc[runner.index, "right_id"].to_numpy())
    best = bits.drop_duplicates("right_id").set_index("right_id")
    gap = best["bits"] - runner.reindex(best.index).fillna(-np.inf)
    return best.loc[(best["p"] >= THRESHOLD) & (gap >= margin)].reset_index()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_arguments(parser)
    args = parser.parse_args(argv)
    import splink

    print(f"machine: {machine()}; splink {splink.__version__}, pandas {pd.__version__}")
    print("| data set | decision | records (left x right) | true pairs | linked | precision | recall | F1 | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, left, right in tasks(args.only, args.extra):
        pairs, seconds = splink_link(left, right)
        for rule, links in (("Splink: best pair, p >= 0.9", best_pair(pairs)),
                            ("Splink scores, our one-to-one rule", one_to_one(pairs, len(left), len(right)))):
            r = score(links, left, right)
            print(f"| {name} | {rule} | {r['records']} | {r['pairs']:,} | {r['linked']:,} | {r['precision']:.4f} | "
                  f"{r['recall']:.4f} | {r['f1']:.4f} | {seconds:.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
