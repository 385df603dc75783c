"""PNC arrests: one row per offence of every arrest PNC recorded.

Planted on rows drawn at random from every row (any person, principal or secondary offence;
docs/simulator.md): garbled arrest dates, wrong check letters and offence codes outside the
harm index, each on a share :data:`JUNK_RATES` of rows (the pipeline quarantines these rows;
the truth's ``events.planted_problem`` names the arrests they belong to); and 1% of rows
duplicated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._common import fmt_dates, fmt_uk
from .identity import _wrong_check_letter

#: The share of PNC offence rows planted with each kind of junk (an assumption: a few rows in
#: a thousand, as keying errors in a national system).
JUNK_RATES = {"garbage_date": 0.002, "pnc_check_letter": 0.002, "unknown_code": 0.002}
GARBAGE_DATES = ["31/02/2019", "not known", "00/00/0000", "2019-13-01"]


def pnc_arrests(rng, episodes: pd.DataFrame, arrests: pd.DataFrame, offences: pd.DataFrame,
                catalogue: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The PNC extract and its planted junk rows (``kind``, ``arrest_id``)."""
    pnc = offences.merge(arrests.loc[arrests["in_pnc"], ["arrest_id", "subject_row", "date"]], on="arrest_id")
    pnc = pnc.merge(catalogue[["cjs_code", "ho_class", "title"]], on="cjs_code", how="left")
    rows = pnc["subject_row"].to_numpy()
    out = pd.DataFrame({
        "pnc_id": episodes["pnc_id"].to_numpy()[rows],
        "asn": fmt_dates(pnc["date"], "%y") + "/" + pnc["arrest_id"].astype(str).str.zfill(7),
        "arrest_date": fmt_uk(pnc["date"]), "cjs_code": pnc["cjs_code"], "ho_class": pnc["ho_class"].fillna(""),
        "offence_title": pnc["title"], "force": episodes["force"].to_numpy()[rows],
    })
    kinds = np.asarray(list(JUNK_RATES))
    edges = np.cumsum(list(JUNK_RATES.values()))
    pick = np.searchsorted(edges, rng.random(len(out)), side="right")
    kind = np.where(pick < len(kinds), kinds[np.minimum(pick, len(kinds) - 1)], "")
    garbled = kind == "garbage_date"
    out.loc[garbled, "arrest_date"] = rng.choice(GARBAGE_DATES, int(garbled.sum()))
    wrong = kind == "pnc_check_letter"
    out.loc[wrong, "pnc_id"] = _wrong_check_letter(out.loc[wrong, "pnc_id"])
    unknown = kind == "unknown_code"
    out.loc[unknown, "cjs_code"] = "RT88007"
    out.loc[unknown, "ho_class"] = "803/01"
    out.loc[unknown, "offence_title"] = "Drive motor vehicle with excess alcohol"
    dup = rng.choice(len(out), max(1, len(out) // 100), replace=False)
    out = pd.concat([out, out.iloc[dup]]).iloc[rng.permutation(len(out) + len(dup))].reset_index(drop=True)
    junk = kind != ""
    planted = pd.DataFrame({"kind": kind[junk], "arrest_id": pnc["arrest_id"].to_numpy()[junk]})
    return out, planted
