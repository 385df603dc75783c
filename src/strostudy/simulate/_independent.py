"""The simulator's own dates, PNC IDs, subject ids and name folding.

The simulator plants the truth the pipeline is tested against, so it must not borrow the
pipeline's code for these: a bug there would be copied into the truth and never caught.
Each helper here is written from the specification alone (``docs/data-contract.md`` and the
docstrings of the pipeline modules), in a different way where there is one, and
``tests/test_simulate_independent.py`` checks both against hand-worked values.

- Months: adding months keeps the day of the month, clipped to the target month's last day
  (R's ``lubridate::%m+%``: 31 Jan + 1 month = 28/29 Feb).  Month ``m`` of a subject's own
  clock is ``[start + m months, start + m + 1 months)``.
- PNC IDs: ``YYYY/NNNNNNNC``, the check letter ``CHECK_LETTERS[int(YY + serial) % 23]``.
- Subject ids: ``S`` + the first 16 hex digits of HMAC-SHA256 (key, canonical PNC ID); a
  person who cannot be identified gets ``U`` + the first 16 hex digits of HMAC-SHA256
  (key, ``order:`` + the first order reference).
- Names: transliterate the letters NFKD cannot split (Ł, ø, ß ...), drop accents, lower
  case, drop apostrophes and full stops, and turn every other run of non-letters into one
  space.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

import numpy as np
import pandas as pd

CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
#: The public key for synthetic people (they are not real), so truth joins the pipeline's
#: outputs on subject id.
SYNTHETIC_KEY = "strostudy-synthetic-extracts-public-key"
ID_HEX_DIGITS = 16
_NAME_LETTERS = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss",
                               "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Þ": "Th", "þ": "th", "ð": "d",
                               "ı": "i"})


# --------------------------------------------------------------------------- months


def _calendar(dates: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(months since year 0, day of month, days in that month) of each date (NaT as 2000-01-01)."""
    d = dates.fillna(pd.Timestamp("2000-01-01"))
    months = d.dt.year.to_numpy(np.int64) * 12 + d.dt.month.to_numpy(np.int64) - 1
    return months, d.dt.day.to_numpy(np.int64), d.dt.days_in_month.to_numpy(np.int64)


def add_months(dates, months) -> pd.Series:
    """Add whole months to each date, clipping the day to the target month's length."""
    d = pd.Series(pd.to_datetime(dates)).dt.normalize()
    count, day, _ = _calendar(d)
    target = count + np.asarray(months, dtype=np.int64)
    first = pd.Series((target - 1970 * 12).astype("datetime64[M]").astype("datetime64[ns]"), index=d.index)
    day = np.minimum(day, first.dt.days_in_month.to_numpy(np.int64))
    return (first + pd.to_timedelta(day - 1, unit="D")).where(d.notna())


def month_index(event_dates, start_dates) -> pd.Series:
    """Month of each event on its subject's clock (negative before the start).

    The month ``m`` that ``start + m months`` reaches in the event's calendar month holds
    the event unless the event falls before that day (the start's day, clipped to the
    month's length); then the event is in month ``m - 1``.
    """
    e = pd.Series(pd.to_datetime(event_dates)).dt.normalize()
    s = pd.Series(pd.to_datetime(pd.Series(start_dates).to_numpy()), index=e.index).dt.normalize()
    e_count, e_day, e_length = _calendar(e)
    s_count, s_day, _ = _calendar(s)
    months = pd.Series(e_count - s_count - (e_day < np.minimum(s_day, e_length)), index=e.index)
    known = e.notna() & s.notna()
    return months if known.all() else months.where(known)


# --------------------------------------------------------------------------- PNC IDs and subject ids


def pnc_id(year, serial) -> pd.Series:
    """Canonical PNC IDs for 4-digit years and integer serials, with their check letters."""
    year = np.asarray(year, dtype=np.int64)
    serial = np.asarray(serial, dtype=np.int64)
    letter = np.asarray(list(CHECK_LETTERS))[((year % 100) * 10_000_000 + serial) % 23]
    return pd.Series(year).astype(str) + "/" + pd.Series(serial).astype(str).str.zfill(7) + letter


def _hmac_hex(message: str, key: str) -> str:
    return hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()[:ID_HEX_DIGITS]


def subject_id(pnc_ids: pd.Series, key: str = SYNTHETIC_KEY) -> pd.Series:
    """``S`` + the keyed HMAC of each canonical PNC ID (one HMAC per distinct ID)."""
    ids = pd.Series(pnc_ids).astype("string")
    lookup = {v: "S" + _hmac_hex(v, key) for v in ids.dropna().unique()}
    return ids.map(lookup).astype("string")


def unresolved_subject_id(order_refs: pd.Series, key: str = SYNTHETIC_KEY) -> pd.Series:
    """``U`` + the keyed HMAC of ``order:`` + each first order reference."""
    return pd.Series(order_refs).map(lambda ref: "U" + _hmac_hex("order:" + ref, key))


# --------------------------------------------------------------------------- names


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_NAME_LETTERS))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def normalise_name(names: pd.Series) -> pd.Series:
    """Names (or offence wordings) as compared across systems: ``Łukasz O'Brien-Lee`` ->
    ``lukasz obrien lee``."""
    text = pd.Series(names).astype("string").fillna("")
    folded = text.map({v: _fold(v) for v in text.unique()}).astype("string").str.lower()
    return folded.str.replace(r"['’`.]", "", regex=True).str.replace(r"[^a-z]+", " ", regex=True).str.strip()
