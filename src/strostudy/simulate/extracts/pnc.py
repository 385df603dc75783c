"""PNC arrests: one row per offence of every arrest PNC recorded.

Planted, away from the analysed subjects (where they would hide designed arrests): two
garbage arrest dates, two wrong check letters and two unknown offence codes on principal
rows (quarantined by the pipeline; listed in the truth's ``events.planted_problem``), and
1% of rows duplicated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._common import fmt_uk

JUNK_KINDS = ["garbage_date", "garbage_date", "pnc_check_letter", "pnc_check_letter", "unknown_code", "unknown_code"]


def pnc_arrests(rng, episodes: pd.DataFrame, arrests: pd.DataFrame, offences: pd.DataFrame,
                catalogue: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The PNC extract and its planted junk rows (``kind``, ``arrest_id``)."""
    pnc = offences.merge(arrests.loc[arrests["in_pnc"], ["arrest_id", "subject_row", "date"]], on="arrest_id")
    pnc = pnc.merge(catalogue[["cjs_code", "ho_class", "title"]], on="cjs_code", how="left")
    rows = pnc["subject_row"].to_numpy()
    out = pd.DataFrame({
        "pnc_id": episodes["pnc_id"].to_numpy()[rows],
        "asn": pnc["date"].dt.strftime("%y") + "/" + pnc["arrest_id"].astype(str).str.zfill(7),
        "arrest_date": fmt_uk(pnc["date"]), "cjs_code": pnc["cjs_code"], "ho_class": pnc["ho_class"].fillna(""),
        "offence_title": pnc["title"], "force": episodes["force"].to_numpy()[rows],
    })
    analysed = episodes.index[episodes["role"].eq("analysed")]
    safe_idx = np.flatnonzero(~pnc["subject_row"].isin(analysed).to_numpy() & pnc["principal"].to_numpy())
    junk = rng.choice(safe_idx, min(len(JUNK_KINDS), len(safe_idx)), replace=False)
    out.loc[junk[:2], "arrest_date"] = ["31/02/2019", "not known"]
    out.loc[junk[2:4], "pnc_id"] = out.loc[junk[2:4], "pnc_id"].str[:-1] + "Z"
    out.loc[junk[4:6], ["cjs_code", "ho_class", "offence_title"]] = [
        ["RT88007", "803/01", "Drive motor vehicle with excess alcohol"]] * len(junk[4:6])
    dup = rng.choice(len(out), max(1, len(out) // 100), replace=False)
    out = pd.concat([out, out.iloc[dup]]).iloc[rng.permutation(len(out) + len(dup))].reset_index(drop=True)
    planted = pd.DataFrame({"kind": JUNK_KINDS[: len(junk)], "arrest_id": pnc["arrest_id"].to_numpy()[junk]})
    return out, planted
