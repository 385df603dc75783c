"""The raw extracts, one builder a module; each returns its frame(s) and the discrepancies it
planted, and :func:`make_extracts` gathers them with the truth into :class:`Extracts`.

The builders draw from one random generator in a fixed order (order-list IDs, order list,
PNC, PND, ROCU), a stream of their own (:func:`strostudy.simulate.simulate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..truth import build_truth
from .identity import OrderListIds, order_list_ids
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
                  spells: pd.DataFrame | None = None) -> Extracts:
    """Every extract, and the truth, for the simulated episodes, arrests and offences (and the
    scenario's planted ``effects`` and custody ``spells``, for the truth)."""
    ids, id_notes = order_list_ids(rng, episodes)
    orders, order_notes = order_list(rng, episodes, ids.pnc_id, study)
    pnc, junk = pnc_arrests(rng, episodes, arrests, offences, catalogue)
    pnd, pnd_notes = pnd_records(rng, episodes, arrests, catalogue, ids)
    region, missing, rocu_notes = missing_region(rng, episodes)
    episodes = episodes.assign(region=region)
    rocu, styles = rocu_workbooks(rng, episodes, arrests, catalogue, ids, missing)
    discrepancies = pd.concat([id_notes, order_notes, pnd_notes, rocu_notes], ignore_index=True)
    return Extracts(orders=orders, pnc_arrests=pnc, pnd_records=pnd, rocu=rocu, rocu_styles=styles,
                    truth=build_truth(episodes, arrests, discrepancies, junk, effects, spells))
