"""PND records: one row per arrest PND recorded, with the person as PND holds them.

Planted: event date-times that lag the arrest date by a recording lag (0, a day or two
either way, occasionally weeks; :data:`~..arrests.PND_LAGS`); names spelt another
way, typed without accents or hyphens, or with forenames and surname swapped; PNC IDs left
off (linkage then rests on name and DOB); offences in three wordings; a PND twin (a second
PNC record with the same name and DOB) for the ambiguous unresolved people; no PNC ID and
a mistyped DOB for the unmatched ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._common import ascii_fold, fmt_dates
from .._independent import normalise_name, pnc_id
from ..design import FORCE_SYSTEMS, NAME_VARIANTS
from ..truth import note
from .identity import OrderListIds
from .identity_errors import plant

#: The mistyped DOB PND holds the unmatched unresolved people's records under, so nothing links them.
UNMATCHED_DOB = "1901-01-01"


def pnd_records(rng, episodes: pd.DataFrame, arrests: pd.DataFrame, catalogue: pd.DataFrame,
                ids: OrderListIds, identity_rng=None, first_ref: int = 100000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The PND extract and its discrepancies (including arrests PNC or PND lacks); with
    ``identity_rng``, keying errors in names and DOBs too (:mod:`.identity_errors`, listed as
    ``id_error_*`` notes).  The records are numbered ``PND<first_ref>`` on, in a random order."""
    pnd_ar = arrests.loc[arrests["in_pnd"]].reset_index(drop=True)
    sr = pnd_ar["subject_row"].to_numpy()
    event_dt, time_notes = _event_times(rng, pnd_ar)
    fn, sn, spelled, name_notes = _names(rng, episodes, pnd_ar)
    # Records typed without a PNC ID keep the nominal's spelling (linkage then rests on
    # name and DOB); misspelt names come with the ID, as when PND copies a PNC nominal.
    no_id = (rng.random(len(pnd_ar)) < 0.35) & ~spelled
    desc, wording_notes = _wording(rng, pnd_ar, catalogue)
    out = pd.DataFrame({
        "pnd_ref": "PND" + pd.Series(rng.permutation(len(pnd_ar)) + first_ref).astype(str),
        "surname": sn, "forenames": fn,
        "date_of_birth": fmt_dates(pd.Series(episodes["date_of_birth"].to_numpy()[sr]), "%Y-%m-%d"),
        "pnc_id": pd.Series(episodes["pnc_id"].to_numpy()[sr]).where(~no_id, ""), "event_datetime": event_dt,
        "force_system": rng.choice(FORCE_SYSTEMS, len(pnd_ar)), "offence_description": desc,
    })
    identity_notes = pd.DataFrame(columns=["subject_id", "field", "source_pair", "detail", "kind"])
    if identity_rng is not None:
        # The unmatched people's records are left alone: they are hidden below.
        person = pd.DataFrame({"forenames": out["forenames"], "surname": out["surname"],
                               "date_of_birth": pd.Series(episodes["date_of_birth"].to_numpy()[sr])})
        person, identity_notes = plant(identity_rng, person, episodes["subject_id"].to_numpy()[sr], out["pnd_ref"],
                                       "orders~pnd", pnd_ar["date"] + pd.to_timedelta(pnd_ar["pnd_lag"], unit="D"),
                                       skip=np.isin(sr, ids.blank_rows))
        typed = person["dob_as_typed"].to_numpy(dtype=object)  # a DOB that is no date, as typed
        out = out.assign(forenames=person["forenames"], surname=person["surname"],
                         date_of_birth=np.where(typed != "", typed,
                                                fmt_dates(person["date_of_birth"], "%Y-%m-%d").to_numpy(dtype=object)))
    if len(ids.twin_rows):
        out = pd.concat([out, _twins(episodes.loc[ids.twin_rows])], ignore_index=True)
    # The unmatched: their PND records carry no PNC ID and a mistyped DOB, so nothing links.
    hide = np.flatnonzero(np.isin(sr, ids.blank_rows))
    out.loc[hide, "pnc_id"] = ""
    out.loc[hide, "date_of_birth"] = UNMATCHED_DOB
    out = out.iloc[rng.permutation(len(out))].reset_index(drop=True)
    notes = [time_notes, *name_notes, wording_notes, *_unrecorded(arrests)]
    return out, pd.concat(notes + ([identity_notes] if identity_rng is not None else []), ignore_index=True)


def _event_times(rng, pnd_ar: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Date-times of the events: the arrest date moved by its recording lag (``pnd_lag``,
    :data:`~..arrests.PND_LAGS`); a one-day lag is a late-evening custody record logged in the
    early hours of the next day.  A lag is a discrepancy the pipeline can see where PNC or
    ROCU also holds the arrest."""
    lag = pnd_ar["pnd_lag"].to_numpy()
    pnd_date = pnd_ar["date"] + pd.to_timedelta(lag, unit="D")
    secs = np.where(lag == 1, rng.integers(0, 7200, len(pnd_ar)), rng.integers(8 * 3600, 23 * 3600, len(pnd_ar)))
    clock = pd.Series(pd.Timestamp("2000-01-01") + pd.to_timedelta(secs, unit="s"))
    event_dt = fmt_dates(pnd_date, "%Y-%m-%dT") + fmt_dates(clock, "%H:%M:%S").to_numpy()
    seen = (lag != 0) & (pnd_ar["in_pnc"] | pnd_ar["in_rocu"]).to_numpy()
    pair = np.where(pnd_ar["in_pnc"].to_numpy()[seen], "pnc~pnd", "rocu~pnd")
    return event_dt.to_numpy(), note(pnd_ar.loc[seen], "arrest_date", pair, _day(pnd_ar.loc[seen]), "arrest_date")


def _names(rng, episodes: pd.DataFrame, pnd_ar: pd.DataFrame):
    """Forenames and surname as PND holds them: 20% spelt another way, 25% without accents
    or hyphens, 7% swapped."""
    sr = pnd_ar["subject_row"].to_numpy()
    forenames = pd.Series(episodes["forenames"].to_numpy()[sr])
    surname = pd.Series(episodes["surname"].to_numpy()[sr])
    variant = rng.random(len(pnd_ar))
    spelled = variant < 0.2
    fn = forenames.where(~spelled, forenames.replace(NAME_VARIANTS))
    sn = surname.where(~spelled, surname.replace(NAME_VARIANTS))
    folded = (variant >= 0.2) & (variant < 0.45)
    fn = fn.where(~folded, ascii_fold(fn))
    sn = sn.where(~folded, ascii_fold(sn).str.replace("-", " ", regex=False))
    swapped = (variant >= 0.45) & (variant < 0.52)
    fn, sn = fn.where(~swapped, sn), sn.where(~swapped, fn)
    # A spelling variant is a discrepancy only where it survives normalisation (case and
    # accents are not disagreements).
    changed = spelled & (_normalised(fn + " " + sn) != _normalised(forenames + " " + surname))
    notes = [note(pnd_ar.loc[changed], "name", "orders~pnd", "spelling variant", "name_spelling"),
             note(pnd_ar.loc[swapped], "name", "orders~pnd", "forenames and surname swapped", "name_order")]
    return fn, sn, spelled, notes


def _wording(rng, pnd_ar: pd.DataFrame, catalogue: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Offence descriptions: 45% the PNC title, 40% a force system's short wording, 15% the
    title with the code in brackets."""
    titles = catalogue.set_index("cjs_code")
    code = pnd_ar["cjs_code"]
    # Each distinct code's wordings, worked out once.
    which, codes = pd.factorize(code)
    title = titles["title"].reindex(codes).to_numpy(dtype=object)[which]
    short = titles["short_wording"].reindex(codes).to_numpy(dtype=object)[which]
    bracketed = (titles["title"].reindex(codes).to_numpy(dtype=object) + " [" + np.asarray(codes, dtype=object)
                 + "]")[which]
    wording = rng.random(len(pnd_ar))
    desc = np.where(wording < 0.45, title, np.where(wording < 0.85, short, bracketed))
    reworded = ((wording >= 0.45) & (wording < 0.85) & pnd_ar["in_pnc"].to_numpy()
                & (_normalised(pd.Series(desc)) != _normalised(pd.Series(title))))
    return desc, note(pnd_ar.loc[reworded], "offence", "pnc~pnd", _day(pnd_ar.loc[reworded]), "offence_wording")


def _twins(twins: pd.DataFrame) -> pd.DataFrame:
    """Duplicate PNC records: one incident recorded against two PNC nominals with the same name
    and DOB, the person's own PNC ID and a second one (a known PNC problem), so a mistyped ID
    on the order list cannot be resolved by name and DOB, however few other PND records the
    person has."""
    n = len(twins)
    own = twins["pnc_id"].to_numpy()
    second = pnc_id(twins["pnc_id"].str[:4].astype(int), (twins["pnc_id"].str[5:12].astype(int) + 1) % 9_999_999)
    return pd.DataFrame({
        "pnd_ref": np.concatenate([("PND9" + pd.Series(np.arange(n)).astype(str).str.zfill(5)).to_numpy(),
                                   ("PND8" + pd.Series(np.arange(n)).astype(str).str.zfill(5)).to_numpy()]),
        "surname": np.tile(twins["surname"].to_numpy(), 2), "forenames": np.tile(twins["forenames"].to_numpy(), 2),
        "date_of_birth": np.tile(twins["date_of_birth"].dt.strftime("%Y-%m-%d").to_numpy(), 2),
        "pnc_id": np.concatenate([second.to_numpy(), own]),
        "event_datetime": np.tile((twins["start_date"] - pd.Timedelta(days=400)).dt.strftime("%Y-%m-%dT14:00:00")
                                  .to_numpy(), 2),
        "force_system": "Niche RMS", "offence_description": "Common assault and battery"})


def _unrecorded(arrests: pd.DataFrame) -> list[pd.DataFrame]:
    """In-window arrests PNC, or PND, does not hold, dated as the systems that hold them date
    them (PND's lagged date for an arrest only PND holds)."""
    only = arrests.loc[arrests["window"] != "outside"]
    seen = only["date"].where(only["in_rocu"] | only["in_pnc"],
                              only["date"] + pd.to_timedelta(only["pnd_lag"].fillna(0), unit="D"))
    dated = only.assign(date=seen)
    return [note(dated.loc[~dated[system]], "arrest", "pnc~pnd", _day(dated.loc[~dated[system]]), kind)
            for system, kind in (("in_pnc", "arrest_not_in_pnc"), ("in_pnd", "arrest_not_in_pnd"))]


def _normalised(text: pd.Series) -> np.ndarray:
    """:func:`normalise_name` of each value, worked out once per distinct value."""
    codes, uniques = pd.factorize(text.astype(object).fillna(""))
    return normalise_name(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)[codes]


def _day(arrests: pd.DataFrame) -> pd.Series:
    return fmt_dates(arrests["date"], "%Y-%m-%d")
