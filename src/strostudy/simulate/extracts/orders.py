"""The national order list: one row per order, plus a row for each interim order.

Planted: interim and full orders both listed; durations in inconsistent free text; statuses,
with some orders ended (discharged, quashed) inside the after window; start dates a few days
off and lengths wrong for some orders (ROCU has them right); starts known only to the month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._common import fmt_uk
from .._independent import add_months
from ..truth import note


def order_list(rng, episodes: pd.DataFrame, order_pnc: pd.Series, study: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The order list (``order_pnc``: the PNC IDs as it records them) and its discrepancies."""
    start = episodes["start_date"]
    full_date = start.where(~episodes["has_interim"], start + pd.to_timedelta(episodes["interim_gap_days"], unit="D"))
    duration_text = _duration_text(rng, episodes["length_months"].to_numpy())
    status, status_date, ended_notes = _status(rng, episodes, full_date, study)
    listed_start, duration_text, listing_notes = _listing_errors(rng, episodes, duration_text)
    undated = episodes.index[episodes["role"].eq("no_usable_start_date")]
    # One type (STRO) unless the episodes carry their own (several order types, :mod:`..multi`).
    kind = episodes["order_type"] if "order_type" in episodes.columns else pd.Series("STRO", index=episodes.index)
    orders = pd.DataFrame({
        "order_ref": episodes["order_ref"], "pnc_id": order_pnc,
        "surname": episodes["surname"].str.upper(), "forenames": episodes["forenames"],
        "date_of_birth": fmt_uk(episodes["date_of_birth"]), "owning_force": episodes["force"],
        "applicant": np.where(episodes["applicant"] == "police", episodes["force"], episodes["applicant"]),
        "order_type": kind,
        "date_made": fmt_uk(listed_start.where(~episodes["has_interim"], full_date)),
        "duration": duration_text, "status": status,
        "status_date": fmt_uk(status_date).fillna(""),
    })
    interim = episodes.index[episodes["has_interim"]]
    interim_rows = orders.loc[interim].assign(
        order_ref=lambda d: "I" + d["order_ref"], order_type="Interim " + kind[interim],
        date_made=fmt_uk(listed_start[interim]), duration="Until full hearing",
        status="Superseded by full order", status_date=fmt_uk(full_date[interim]))
    orders = pd.concat([orders, interim_rows])
    # Starts known only to the month, on both the full and the interim row.
    month_only = orders.index.isin(undated)
    orders.loc[month_only, "date_made"] = start.reindex(orders.index[month_only]).dt.strftime("%m/%Y").to_numpy()
    orders = orders.sort_values(["date_made", "order_ref"], kind="stable")
    orders = orders.iloc[rng.permutation(len(orders))].reset_index(drop=True)
    notes = pd.concat([
        ended_notes, *listing_notes,
        note(episodes.loc[undated], "start_date", "pnc~rocu", "order list gives month only; ROCU N/K",
             "start_date_unusable"),
        note(episodes.loc[interim], "order_type", "orders~orders", "interim and full order listed",
             "interim_and_full"),
    ], ignore_index=True)
    return orders, notes


def _duration_text(rng, months: np.ndarray) -> np.ndarray:
    styles = rng.integers(0, 6, len(months))
    years = months // 12
    words = np.array(["zero", "one", "two", "three", "four", "five", "six"])[np.minimum(years, 6)]
    return np.select(
        [styles == 0, styles == 1, styles == 2, styles == 3, styles == 4],
        [years.astype(str) + " years", months.astype(str) + " months", years.astype(str) + " yrs",
         np.char.capitalize(words.astype(str)) + " years", months.astype(str) + " mths"],
        years.astype(str) + " Years",
    )


def _status(rng, episodes: pd.DataFrame, full_date: pd.Series, study: dict):
    """Status and status date; the ``order_ended_in_window`` orders were discharged or
    quashed 3-17 months after the full order (a discharge cannot precede it)."""
    start = episodes["start_date"]
    expired = add_months(start, episodes["length_months"]) < pd.Timestamp(study["extraction_date"])
    status = pd.Series(np.where(expired, "Expired", "Active"), index=episodes.index)
    status_date = pd.Series(pd.NaT, index=episodes.index, dtype="datetime64[ns]")
    ended = episodes.index[episodes["role"].eq("order_ended_in_window")]
    status[ended] = np.resize(["Discharged", "Quashed on appeal"], len(ended))
    status_date[ended] = (add_months(full_date[ended], rng.integers(3, 18, len(ended)))).to_numpy()
    notes = note(episodes.loc[ended], "status", "orders~rocu", "order ended inside the after window", "order_ended")
    return status, status_date, notes


def _listing_errors(rng, episodes: pd.DataFrame, duration_text: np.ndarray):
    """Start dates and lengths on which the order list and ROCU disagree (ROCU is right):
    up to six analysed orders listed a few days off, and three others with the wrong length."""
    start = episodes["start_date"]
    listed_start = start.copy()
    el_an = episodes.index[episodes["role"].eq("analysed")]
    shifted = rng.choice(el_an, min(6, len(el_an)), replace=False)
    shift = rng.choice([-9, -5, -3, -2, -1, 1, 2, 4, 7], len(shifted))
    listed_start[shifted] = start[shifted] + pd.to_timedelta(shift, unit="D")
    listed_length = episodes["length_months"].copy()
    rest = np.setdiff1d(el_an, shifted)
    relength = rng.choice(rest, min(3, len(rest)), replace=False)
    listed_length[relength] = np.where(listed_length[relength] == 24, 36, 24)
    duration_text = duration_text.copy()
    duration_text[episodes.index.get_indexer(relength)] = _duration_text(rng, listed_length[relength].to_numpy())
    notes = [note(episodes.loc[shifted], "start_date", "pnc~rocu", shift.astype(str), "order_start_date"),
             note(episodes.loc[relength], "length_months", "pnc~rocu", "length differs", "order_length")]
    return listed_start, duration_text, notes
