"""The raw extracts, one builder a module; each returns its frame(s) and the discrepancies it
planted, and :func:`make_extracts` gathers them with the truth into :class:`Extracts`.

The builders draw from one random generator in a fixed order (order-list IDs, order list,
PNC, PND, ROCU), a stream of their own (:func:`strostudy.simulate.simulate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..truth import build_truth
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


def make_extracts(rng, episodes: pd.DataFrame, arrests: pd.DataFrame, offences: pd.DataFrame,
                  catalogue: pd.DataFrame, study: dict, effects: pd.DataFrame | None = None,
                  spells: pd.DataFrame | None = None, identity_rng=None) -> Extracts:
    """Every extract, and the truth, for the simulated episodes, arrests and offences (and the
    scenario's planted ``effects`` and custody ``spells``, for the truth).  ``identity_rng``:
    the stream of keying errors in PND and ROCU names and DOBs (none without it)."""
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
    return Extracts(orders=orders, pnc_arrests=pnc, pnd_records=pnd, rocu=rocu, rocu_styles=styles,
                    truth=build_truth(episodes, arrests, discrepancies, junk, effects, spells))


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
