"""The raw extracts, one builder a module; each returns its frame(s) and the discrepancies it
planted, and :func:`make_extracts` gathers them with the truth into :class:`Extracts`.

The builders draw from one random generator in a fixed order (order-list IDs, order list,
PNC, PND, ROCU), a stream of their own (:func:`strostudy.simulate.simulate`).  The comparison
pool's PNC and PND records, the comparison list and the custody extract
(:mod:`.comparison`) draw from the pool's own streams (:mod:`..comparison`), after the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..truth import build_truth, comparison_truth, custody_truth
from .comparison import COMPARISON_COLUMNS, CUSTODY_COLUMNS, comparison_list, custody_extract, pool_records
from .identity import OrderListIds, order_list_ids
from .identity_errors import plant
from .orders import order_list
from .pnc import pnc_arrests
from .pnd import pnd_records
from .rocu import missing_region, rocu_workbooks

__all__ = ["Extracts", "OrderListIds", "make_extracts"]


@dataclass
class Extracts:
    """The raw extracts as frames, and the planted truth."""

    orders: pd.DataFrame
    pnc_arrests: pd.DataFrame
    pnd_records: pd.DataFrame
    rocu: dict[str, dict[str, pd.DataFrame]]
    rocu_styles: dict[str, tuple]
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: The comparison list (``comparison.csv``) and the custody extract (``custody.csv``).
    comparison: pd.DataFrame = field(default_factory=lambda: _empty(COMPARISON_COLUMNS))
    custody: pd.DataFrame = field(default_factory=lambda: _empty(CUSTODY_COLUMNS))
    #: The order types simulated (:mod:`..multi`); only STRO is calibrated.
    order_types: list[str] = field(default_factory=lambda: ["STRO"])


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def make_extracts(rng, episodes: pd.DataFrame, arrests: pd.DataFrame, offences: pd.DataFrame,
                  catalogue: pd.DataFrame, study: dict, effects: pd.DataFrame | None = None,
                  spells: pd.DataFrame | None = None, identity_rng=None, pool=None, custody_rng=None) -> Extracts:
    """Every extract, and the truth, for the simulated episodes, arrests and offences (and the
    scenario's planted ``effects`` and custody ``spells``, for the truth).  ``identity_rng``:
    the stream of keying errors in PND and ROCU names and DOBs (none without it).  ``pool``: the
    comparison pool (:class:`..comparison.Pool`; none without it), whose records are added to
    PNC and PND after every other draw.  ``custody_rng``: the stream of the custody extract's
    kinds of spell (without it, ``default_rng(13)``)."""
    ids, id_notes = order_list_ids(rng, episodes)
    orders, order_notes = order_list(rng, episodes, ids.pnc_id, study)
    pnc, junk = pnc_arrests(rng, episodes, arrests, offences, catalogue)
    pnd, pnd_notes = pnd_records(rng, episodes, arrests, catalogue, ids, identity_rng)
    region, missing, rocu_notes = missing_region(rng, episodes)
    episodes = episodes.assign(region=region)
    rocu, styles = rocu_workbooks(rng, episodes, arrests, catalogue, ids, missing)
    if identity_rng is not None:
        rocu, rocu_identity = _rocu_identity_errors(identity_rng, rocu, episodes)
        rocu_notes = pd.concat([rocu_notes, rocu_identity], ignore_index=True)
    discrepancies = pd.concat([id_notes, order_notes, pnd_notes, rocu_notes], ignore_index=True)
    truth = build_truth(episodes, arrests, discrepancies, junk, effects, spells, window=int(study["window_months"]))
    groups = [] if spells is None else [(episodes, spells, "order")]
    if pool is None:
        comparison, first = _empty(COMPARISON_COLUMNS), None
        truth.update(comparison_truth(None, None, None, None))
    else:
        pnc, pnd, pool_junk, pool_notes = pool_records(pool, catalogue, pnc, pnd)
        comparison, first, list_notes = comparison_list(pool.rng["extracts"], pool.people,
                                                        pd.Timestamp(study["extraction_date"]))
        truth.update(comparison_truth(pool, first, pool_junk, pd.concat([pool_notes, list_notes], ignore_index=True)))
        groups.append((pool.people, pool.spells, "comparison"))
    if spells is not None:
        truth["custody"] = custody_truth(groups)
    custody_rng = np.random.default_rng(13) if custody_rng is None else custody_rng
    # The custody extract holds the spells of the people the study can name: not those of the
    # unmatched unresolved order people (no PNC ID on the order list, nothing that links them);
    # the truth keeps them.
    custody = custody_extract(custody_rng, [
        (people, group_spells.loc[~group_spells["subject_row"].isin(ids.blank_rows)] if group == "order"
         else group_spells) for people, group_spells, group in groups])
    return Extracts(orders=orders, pnc_arrests=pnc, pnd_records=pnd, rocu=rocu, rocu_styles=styles,
                    truth=truth, comparison=comparison, custody=custody)


def _rocu_identity_errors(rng, rocu: dict, episodes: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Keying errors in the ROCU returns' Orders sheets (names and DOBs), region by region in a
    fixed order; a planted DOB precedes the order's start by the minimum age."""
    by_ref = episodes.set_index("order_ref")
    out, notes = {}, []
    for region in sorted(rocu):  # a loop over regions, not over people
        sheet = rocu[region]["Orders"]
        person = sheet.assign(date_of_birth=pd.to_datetime(sheet["date_of_birth"]))
        person, planted = plant(rng, person, by_ref["subject_id"].reindex(sheet["order_ref"]).to_numpy(),
                                sheet["order_ref"], "orders~rocu", by_ref["start_date"].reindex(sheet["order_ref"]))
        # A DOB that is no date is a text cell, typed the British way (``30/02/1987``).
        typed = person["dob_as_typed"].astype(str)
        as_text = (typed.str[8:10] + "/" + typed.str[5:7] + "/" + typed.str[:4]).to_numpy(dtype=object)
        out[region] = {**rocu[region], "Orders": sheet.assign(
            forenames=person["forenames"].to_numpy(), surname=person["surname"].to_numpy(),
            date_of_birth=np.where(typed.to_numpy() != "", as_text, person["date_of_birth"].astype(object).to_numpy()))}
        notes.append(planted)
    return {r: out[r] for r in rocu}, pd.concat(notes, ignore_index=True) if notes else pd.DataFrame()
