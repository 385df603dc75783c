"""Why the linker misses FEBRL true pairs: each true pair's error type per field, and what
became of it (linked, ambiguous, below the threshold, out-ranked, never a candidate).

    python benchmarks/linkage_misses.py [--only febrl4]

The error types are worked out here with their own code (edit distances from rapidfuzz, date
arithmetic on the digits), not with the linker's comparison levels, so that the breakdown is
an independent account of the data.  Prints counts only (never a name or a DOB).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from linkage_benchmark import FILES, febrl_task, febrl_wheel
from rapidfuzz.distance import OSA, Levenshtein
from rapidfuzz.process import cpdist

from strostudy.config import defaults
from strostudy.linkage import link, settings_from


def _dist(a: pd.Series, b: pd.Series, scorer) -> np.ndarray:
    return np.asarray(cpdist(a.fillna("").tolist(), b.fillna("").tolist(), scorer=scorer, workers=1))


def name_error(a: pd.Series, b: pd.Series, other_a: pd.Series, other_b: pd.Series) -> pd.Series:
    """How name ``a`` differs from ``b`` (``other_*``: the other name field, for swaps)."""
    a, b = a.str.lower().str.strip(), b.str.lower().str.strip()
    lev, osa = _dist(a, b, Levenshtein.distance), _dist(a, b, OSA.distance)
    swapped = (a == other_b.str.lower().str.strip()) & (b == other_a.str.lower().str.strip())
    nospace = a.str.replace(" ", "", regex=False) == b.str.replace(" ", "", regex=False)
    conditions = [a.isna() | b.isna(), a == b, swapped, nospace, (osa == 1) & (lev == 2), lev == 1,
                  lev == 2, pd.Series(lev, index=a.index) <= 0.5 * np.maximum(a.str.len(), b.str.len())]
    labels = ["missing", "exact", "swapped_with_other_name", "space_inserted", "transposition", "one_edit",
              "two_edits", "three_plus_edits_similar"]
    return pd.Series(np.select([np.asarray(c, dtype=bool) for c in conditions], labels, "different"), index=a.index)


def dob_error(a: pd.Series, b: pd.Series) -> pd.Series:
    """How DOB ``a`` differs from ``b`` (8-digit ``yyyymmdd`` text, as FEBRL has it)."""
    missing = (a.isna() | b.isna()).to_numpy()
    da = np.array([list(x) for x in a.fillna("00000000")]).astype(int)
    db = np.array([list(x) for x in b.fillna("00000000")]).astype(int)
    n_diff = (da != db).sum(axis=1)
    transposed = np.zeros(len(a), dtype=bool)
    for i in range(7):  # the 7 places two adjacent digits can swap
        t = da.copy()
        t[:, [i, i + 1]] = t[:, [i + 1, i]]
        transposed |= (t == db).all(axis=1) & (n_diff == 2)
    year_gap = np.abs(da[:, :4] @ [1000, 100, 10, 1] - db[:, :4] @ [1000, 100, 10, 1])
    same_md = (da[:, 4:] == db[:, 4:]).all(axis=1)
    dm_swap = (da[:, :4] == db[:, :4]).all(axis=1) & (da[:, 4:6] == db[:, 6:]).all(axis=1) & (
        da[:, 6:] == db[:, 4:6]).all(axis=1)
    conditions = [missing, n_diff == 0, dm_swap, n_diff == 1, transposed, same_md & (year_gap == 1),
                  same_md & (year_gap == 10)]
    labels = ["missing", "exact", "day_month_swapped", "one_digit", "transposed_digits", "year_off_1",
              "year_off_10"]
    return pd.Series(np.select(conditions, labels, "other"), index=a.index)


def outcomes(left: pd.DataFrame, right: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Each true pair with its error types and its fate under the default settings."""
    s = settings_from(cfg["reconcile"])
    records = link(left.assign(entity=left["id"]), right.assign(rec=right["id"]), s)[0].set_index("rec")
    loose = dict(s, threshold=1e-300, margin=0.0)  # the best candidate whatever its score
    best = link(left.assign(entity=left["id"]), right.assign(rec=right["id"]), loose)[0].set_index("rec")
    pairs = right.merge(left, on="person", suffixes=("_r", "_l"))
    pairs["forename_error"] = name_error(pairs["forenames_r"], pairs["forenames_l"], pairs["surname_r"],
                                         pairs["surname_l"])
    pairs["surname_error"] = name_error(pairs["surname_r"], pairs["surname_l"], pairs["forenames_r"],
                                        pairs["forenames_l"])
    pairs["dob_error"] = dob_error(pairs["date_of_birth_r"], pairs["date_of_birth_l"])
    status = pairs["id_r"].map(records["link_status"])
    got = pairs["id_r"].map(records["pnc_id"])
    top = pairs["id_r"].map(best["candidate"].where(best["link_status"] != "no_match"))
    pairs["fate"] = np.select(
        [(status == "linked") & (got == pairs["id_l"]), status == "linked", status == "ambiguous",
         top == pairs["id_l"], top.notna()],
        ["linked", "linked_wrong", "ambiguous", "best_but_below_threshold", "outranked"], "no_candidate")
    return pairs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(FILES))
    args = parser.parse_args(argv)
    wheel = febrl_wheel()
    if wheel is None:
        return 1
    for name in args.only:
        pairs = outcomes(*febrl_task(wheel, name), defaults())
        missed = pairs.loc[pairs["fate"] != "linked"]
        print(f"\n== {name}: {len(pairs):,} true pairs, {len(missed):,} missed "
              f"({pairs['fate'].value_counts().to_dict()})")
        for field in ("forename_error", "surname_error", "dob_error"):
            table = pd.crosstab(pairs[field], pairs["fate"] != "linked").rename(columns={False: "linked",
                                                                                        True: "missed"})
            print(table.sort_values("missed", ascending=False).to_string())
        combo = missed.groupby(["forename_error", "surname_error", "dob_error", "fate"]).size()
        print("missed, by the combination of errors:")
        print(combo.sort_values(ascending=False).head(25).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
