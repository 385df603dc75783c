"""ROCU returns: one workbook per region (an ``Orders`` and an ``Offending`` sheet) for the
orders with full windows the study asked about.

Planted: one region sent no return at all (its orders are the ``no_rocu_return`` ones);
each region words its headers and writes its dates its own way (:data:`~..design.ROCU_STYLES`);
lengths in months or years; start dates ``N/K`` where unusable; PNC IDs copied from the
order list (so blank or wrong where it is); 30% of offences without a CJS code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..design import REGIONS, ROCU_STYLES
from ..truth import note
from .identity import OrderListIds


def missing_region(rng, episodes: pd.DataFrame) -> tuple[pd.Series, str | None, pd.DataFrame]:
    """Each episode's region once one region has sent nothing, that region, and the
    discrepancies.  The region of the first no-return order sends nothing: its other asked
    orders move to other regions, and two thirds of the no-return orders move into it (the
    rest stay where they are and are left out of their region's return)."""
    region = episodes["region"].copy()
    no_return = episodes.index[episodes["role"].eq("no_rocu_return")]
    notes = note(episodes.loc[no_return], "rocu_return", "pnc~rocu", "no ROCU return for this order", "rocu_missing")
    if not len(no_return):
        return region, None, notes
    missing = region.at[no_return[0]]
    clash = episodes.index[episodes["eligible"] & (region == missing) & ~episodes.index.isin(no_return)]
    others = [r for r in REGIONS["region"] if r != missing]
    region.loc[clash] = rng.choice(others, len(clash))
    region.loc[no_return[: max(1, len(no_return) * 2 // 3)]] = missing
    return region, missing, notes


def rocu_workbooks(rng, episodes: pd.DataFrame, arrests: pd.DataFrame, catalogue: pd.DataFrame,
                   ids: OrderListIds, missing: str | None) -> tuple[dict, dict]:
    """The workbooks (region -> sheet name -> frame) and each region's layout."""
    no_return = episodes.index[episodes["role"].eq("no_rocu_return")]
    asked = episodes.loc[episodes["eligible"] & ~episodes.index.isin(no_return)]
    returned = arrests.loc[arrests["in_rocu"]]
    titles = catalogue.set_index("cjs_code")["title"]
    rocu, styles = {}, {}
    for region, style in ROCU_STYLES.items():
        if region == missing:
            continue
        mine = asked.loc[asked["region"] == region]
        offending = returned.loc[returned["subject_row"].isin(mine.index)]
        rocu[region] = {"Orders": _orders_sheet(episodes, mine, ids),
                        "Offending": _offending_sheet(rng, episodes, offending, titles, ids)}
        styles[region] = style
    return rocu, styles


def _orders_sheet(episodes: pd.DataFrame, mine: pd.DataFrame, ids: OrderListIds) -> pd.DataFrame:
    undated = episodes["role"].eq("no_usable_start_date")
    start = mine["start_date"].astype(object).where(~undated.reindex(mine.index).to_numpy(), "N/K")
    length = np.where(mine.index % 2 == 0, mine["length_months"].astype(str) + " months",
                      (mine["length_months"] // 12).astype(str) + " years")
    # ROCU copied the PNC ID from the order list where it was blank or a duplicate record.
    pnc = mine["pnc_id"].where(~mine.index.isin(ids.blank_rows), "")
    pnc = pnc.where(~mine.index.isin(ids.twin_rows), ids.pnc_id.reindex(mine.index))
    return pd.DataFrame({
        "order_ref": mine["order_ref"], "pnc_id": pnc, "surname": mine["surname"], "forenames": mine["forenames"],
        "date_of_birth": mine["date_of_birth"].astype(object), "start_date": start, "length": length,
        "conditions": mine["conditions"]}).reset_index(drop=True)


def _offending_sheet(rng, episodes: pd.DataFrame, off: pd.DataFrame, titles: pd.Series,
                     ids: OrderListIds) -> pd.DataFrame:
    rows = off["subject_row"]
    unknown = rows.isin(ids.blank_rows.union(ids.twin_rows)).to_numpy()
    sheet = pd.DataFrame({
        "order_ref": episodes["order_ref"].to_numpy()[rows],
        "pnc_id": pd.Series(episodes["pnc_id"].to_numpy()[rows]).where(~unknown, "").to_numpy(),
        "arrest_date": off["date"].astype(object).to_numpy(),
        "offence": titles.reindex(off["cjs_code"]).to_numpy(),
        "cjs_code": np.where(rng.random(len(off)) < 0.7, off["cjs_code"].to_numpy(), "")})
    return sheet.sort_values(["order_ref", "arrest_date"], kind="stable").reset_index(drop=True)
