"""The comparison list and the custody extract, and the pool's PNC and PND records.

- ``comparison.csv``: one row per listing of a pool person (:data:`COMPARISON_COLUMNS`).
  Planted: PNC IDs in the long or short form as the order list writes them (30% short), blank
  for :data:`BLANK_PNC_SHARE` of rows (the pipeline must link those on name and DOB); a share
  :data:`LISTED_TWICE_SHARE` of people listed a second time with a later index date
  (:data:`RELISTED_DAYS` after the first, never after the extraction date; the earliest is the
  true one).
- ``custody.csv``: one row per custody or deportation spell, order people and pool alike
  (:data:`CUSTODY_COLUMNS`); a custody spell is recorded as ``remand`` for
  :data:`REMAND_SHARE` of spells, else ``sentence``; a deportation as ``deported`` with no end.
  PNC IDs always present, in the long form (the source is PNC-based).
- The pool's PNC and PND records, with the same mess as the order people's
  (:func:`~.pnc.pnc_arrests`, :func:`~.pnd.pnd_records`), placed at random among the order
  people's rows, whose order among themselves is unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._common import fmt_dates, fmt_uk, random_dates
from ..truth import DISCREPANCY_COLUMNS, note
from .identity import OrderListIds
from .pnc import pnc_arrests
from .pnd import pnd_records

COMPARISON_COLUMNS = ["comparison_ref", "pnc_id", "surname", "forenames", "date_of_birth", "index_date", "basis"]
CUSTODY_COLUMNS = ["pnc_id", "surname", "forenames", "date_of_birth", "start_date", "end_date", "kind"]
#: The comparison list's rows with no PNC ID (an assumption: applications and arrests logged
#: without the PNC nominal).
BLANK_PNC_SHARE = 0.05
#: Rows whose PNC ID is written ``YY/N…C``, as on the order list.
SHORT_PNC_SHARE = 0.30
#: People listed twice, the second time this many days (uniform) after the first (a second
#: application refused or withdrawn, or a second arrest without an order); assumptions.
LISTED_TWICE_SHARE = 0.02
RELISTED_DAYS = (30, 365)
#: Custody spells recorded as remand (the rest as a sentence); an assumption.
REMAND_SHARE = 0.3


def comparison_list(rng, people: pd.DataFrame, extraction: pd.Timestamp
                    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The comparison list (``comparison.csv``), each person's first listing (``subject_id``,
    ``comparison_ref``, ``listed_twice``) and the listing's planted mess as notes."""
    m = len(people)
    start = people["start_date"].reset_index(drop=True)
    twice = (rng.random(m) < LISTED_TWICE_SHARE) & (start + pd.Timedelta(days=RELISTED_DAYS[0]) <= extraction).to_numpy()
    again = np.flatnonzero(twice)
    later = random_dates(rng, start[again].reset_index(drop=True) + pd.Timedelta(days=RELISTED_DAYS[0]),
                         (start[again].reset_index(drop=True) + pd.Timedelta(days=RELISTED_DAYS[1])).clip(
                             upper=extraction))
    person = np.concatenate([np.arange(m), again])
    rows = people.iloc[person].reset_index(drop=True)
    index_date = pd.concat([start, later], ignore_index=True)
    force_code = rows["force"].str.replace(r"[^A-Z]", "", regex=True).str[:3]
    ref = ("CMP/" + force_code + "/" + index_date.dt.year.astype(str) + "/"
           + pd.Series(np.arange(1, len(rows) + 1)).astype(str).str.zfill(5))
    canonical = rows["pnc_id"]
    short = rng.random(len(rows)) < SHORT_PNC_SHARE
    listed_pnc = canonical.where(~short, canonical.str.slice(2, 4) + "/" + canonical.str.slice(5, 12).str.lstrip("0")
                                 + canonical.str[-1])
    blank = rng.random(len(rows)) < BLANK_PNC_SHARE
    listed_pnc = listed_pnc.where(~blank, "")
    frame = pd.DataFrame({
        "comparison_ref": ref, "pnc_id": listed_pnc, "surname": rows["surname"].str.upper(),
        "forenames": rows["forenames"], "date_of_birth": fmt_uk(rows["date_of_birth"]),
        "index_date": fmt_uk(index_date), "basis": rows["basis"]})[COMPARISON_COLUMNS]
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    first = pd.DataFrame({"subject_id": people["subject_id"].to_numpy(), "comparison_ref": ref[:m].to_numpy(),
                          "listed_twice": twice})
    notes = pd.concat([
        note(rows.loc[blank], "pnc_id", "comparison~pnc", ref[blank], "comparison_pnc_blank"),
        note(rows.iloc[m:], "index_date", "comparison~comparison",
             ref[m:] + " " + fmt_dates(index_date[m:], "%Y-%m-%d"), "comparison_listed_twice"),
    ], ignore_index=True)
    return frame, first, notes


def pool_records(pool, catalogue: pd.DataFrame, pnc: pd.DataFrame, pnd: pd.DataFrame
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """PNC and PND with the pool's records added (at random places; the order people's rows
    keep their order), the pool's planted PNC junk (``kind``, ``arrest_id``) and its PND notes
    (``orders~`` pairs renamed ``comparison~``).  The pool's PND references continue after the
    largest of the order people's."""
    rng = pool.rng["extracts"]
    people = pool.people
    pool_pnc, junk = pnc_arrests(rng, people, pool.arrests, pool.offences, catalogue)
    ids = OrderListIds(people["pnc_id"], pd.Index([], dtype=np.int64), pd.Index([], dtype=np.int64))
    first_ref = int(pnd["pnd_ref"].str.slice(3).astype(np.int64).max()) + 1 if len(pnd) else 100000
    pool_pnd, notes = pnd_records(rng, people, pool.arrests, catalogue, ids, pool.rng["identity"], first_ref)
    notes = notes.assign(source_pair=notes["source_pair"].astype(str).str.replace("orders~", "comparison~",
                                                                                  regex=False))
    return _interleave(rng, pnc, pool_pnc), _interleave(rng, pnd, pool_pnd), junk, notes[DISCREPANCY_COLUMNS]


def _interleave(rng, base: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    """``base`` and ``extra`` in one frame, ``extra``'s rows at random places, each frame's rows
    in their own order."""
    n, m = len(base), len(extra)
    if not m:
        return base
    at_extra = np.zeros(n + m, dtype=bool)
    at_extra[rng.choice(n + m, m, replace=False)] = True
    order = np.empty(n + m, dtype=np.int64)
    order[~at_extra] = np.arange(n)
    order[at_extra] = n + np.arange(m)
    both = pd.concat([base, extra[base.columns]], ignore_index=True)
    return both.iloc[order].reset_index(drop=True)


def custody_extract(rng, groups: list[tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """``custody.csv``: one row per spell of each (people, spells) group, in that order of
    draws (so a group's kinds do not depend on the groups after it), sorted by start date and
    PNC ID."""
    parts = []
    for people, spells in groups:  # the order people, then the pool: two groups, not people
        u = rng.random(len(spells))
        who = people.loc[spells["subject_row"].to_numpy()]
        deported = (spells["kind"] == "deported").to_numpy()
        kind = np.where(deported, "deported", np.where(u < REMAND_SHARE, "remand", "sentence"))
        parts.append(pd.DataFrame({
            "pnc_id": who["pnc_id"].to_numpy(), "surname": who["surname"].to_numpy(),
            "forenames": who["forenames"].to_numpy(), "date_of_birth": fmt_uk(who["date_of_birth"]).to_numpy(),
            "start_date": fmt_uk(spells["start"]).to_numpy(),
            "end_date": np.where(deported, "", fmt_uk(spells["end"]).to_numpy(dtype=object)),
            "kind": kind, "_start": spells["start"].to_numpy()}))
    if not parts or not sum(len(p) for p in parts):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CUSTODY_COLUMNS})
    out = pd.concat([p for p in parts if len(p)], ignore_index=True)
    out = out.sort_values(["_start", "pnc_id"], kind="stable").reset_index(drop=True)
    return out[CUSTODY_COLUMNS]


def empty_comparison_list() -> pd.DataFrame:
    """A comparison list with no rows (header only)."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COMPARISON_COLUMNS})
