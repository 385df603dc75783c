"""PNC IDs as the national order list records them, with the identity problems planted there.

- Two analysed people have a wrong check letter but a unique name and DOB (resolvable).
- Half the ``identity_unresolved`` people have a wrong check letter and a PND twin (a second
  PNC record with the same name and DOB), so name and DOB cannot resolve them; the other half
  have no PNC ID and nothing to match.
- 30% of IDs are written in the short form ``YY/N…C``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .._independent import CHECK_LETTERS
from ..truth import note


class OrderListIds(NamedTuple):
    """The order list's PNC IDs (indexed as the episodes) and the unresolved people's rows."""

    pnc_id: pd.Series
    twin_rows: pd.Index   #: ambiguous: a wrong check letter and a twin in PND
    blank_rows: pd.Index  #: no PNC ID and no matching person


def order_list_ids(rng, episodes: pd.DataFrame) -> tuple[OrderListIds, pd.DataFrame]:
    """The order list's PNC IDs and the discrepancies planted in them."""
    role = episodes["role"]
    order_pnc = episodes["pnc_id"].copy()
    unresolved = episodes.index[role.eq("identity_unresolved")]
    twin_rows = unresolved[: (len(unresolved) + 1) // 2]
    blank_rows = unresolved[(len(unresolved) + 1) // 2:]
    analysed = role.eq("analysed")
    resolvable = rng.choice(episodes.index[analysed], min(2, int(analysed.sum())), replace=False)
    for rows in (twin_rows, resolvable):
        order_pnc.loc[rows] = _wrong_check_letter(order_pnc.loc[rows])
    order_pnc.loc[blank_rows] = ""
    notes = pd.concat([
        note(episodes.loc[resolvable], "pnc_id", "orders~pnd", "check letter wrong; linked on name and DOB",
             "pnc_check_letter"),
        note(episodes.loc[twin_rows], "pnc_id", "orders~pnd",
             "check letter wrong; two PNC records match name and DOB", "identity_ambiguous"),
        note(episodes.loc[blank_rows], "pnc_id", "orders~rocu", "no PNC ID and no matching person",
             "identity_unmatched"),
    ], ignore_index=True)
    short = rng.random(len(episodes)) < 0.3
    yy = order_pnc.str.slice(2, 4)
    serial = order_pnc.str.slice(5, 12).str.lstrip("0")
    order_pnc = order_pnc.where(~short | (order_pnc == ""), yy + "/" + serial + order_pnc.str[-1])
    return OrderListIds(order_pnc, twin_rows, blank_rows), notes


def _wrong_check_letter(ids: pd.Series) -> pd.Series:
    """The same IDs with the check letter moved five places along the check alphabet."""
    letters = np.asarray(list(CHECK_LETTERS))
    position = ids.str[-1].map(CHECK_LETTERS.index).to_numpy(dtype=np.int64)
    return ids.str[:-1] + letters[(position + 5) % len(CHECK_LETTERS)]
