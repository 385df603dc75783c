"""PNC identifiers and the pseudonymous subject id.

A PNC ID is ``YYYY/NNNNNNNC``: the year the record was created, a 7-digit serial and a
check letter.  The check letter is ``CHECK_LETTERS[int(YY + serial) % 23]``, where YY is
the last two digits of the year.  Extracts often carry the short form ``YY/N…C`` with
leading zeros dropped from the serial; :func:`canonical_pnc` expands it.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd

from .keys import SYNTHETIC_KEY, key_fingerprint  # noqa: F401 - part of the ids API

CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"

PNC_PATTERN = r"^\s*(?P<year>\d{2}|\d{4})\s*/\s*(?P<serial>\d{1,7})\s*(?P<check>[A-Za-z])\s*$"


def check_letter(year: pd.Series | np.ndarray, serial: pd.Series | np.ndarray) -> np.ndarray:
    """Check letter for 4-digit ``year`` and integer ``serial`` (vectorised)."""
    yy = np.asarray(year, dtype=np.int64) % 100
    number = yy * 10_000_000 + np.asarray(serial, dtype=np.int64)
    return np.asarray(list(CHECK_LETTERS))[number % 23]


def format_pnc(year, serial, check=None) -> pd.Series:
    """Canonical ``YYYY/NNNNNNNC`` strings; the right check letter unless one is given."""
    year = pd.Series(np.asarray(year, dtype=np.int64))
    serial = pd.Series(np.asarray(serial, dtype=np.int64))
    letters = pd.Series(check_letter(year, serial) if check is None else np.asarray(check))
    return year.astype(str) + "/" + serial.astype(str).str.zfill(7) + letters


def expand_year(yy: pd.Series, pivot: int) -> pd.Series:
    """Two-digit years: ``yy <= pivot`` is 20yy, otherwise 19yy."""
    yy = yy.astype("float64")
    return yy.where(yy > 99, np.where(yy <= pivot, 2000 + yy, 1900 + yy))


def canonical_pnc(raw: pd.Series, year_pivot: int = 40) -> pd.DataFrame:
    """Parse PNC IDs in any accepted style.

    Returns a frame aligned to ``raw`` with ``pnc_id`` (canonical, or missing) and
    ``pnc_problem``: missing, ``blank``, ``malformed`` or ``check_letter``.  A wrong
    check letter keeps the canonical form in ``pnc_id_as_recorded`` so linkage can still
    use the rest of the record.
    """
    text = raw.astype("string").str.strip().str.upper()
    text = text.mask(text.isin(["", "N/K", "NK", "UNKNOWN", "NONE", "NAN"]))
    parts = text.str.extract(PNC_PATTERN)
    year = expand_year(pd.to_numeric(parts["year"]).astype("float64"), year_pivot)
    serial = pd.to_numeric(parts["serial"]).astype("float64")
    ok_shape = parts["year"].notna().to_numpy()
    formatted = pd.Series(pd.NA, index=raw.index, dtype="string")
    if ok_shape.any():
        formatted[ok_shape] = format_pnc(
            year[ok_shape], serial[ok_shape], parts.loc[ok_shape, "check"].str.upper()
        ).to_numpy()
        expected = pd.Series(pd.NA, index=raw.index, dtype="string")
        expected[ok_shape] = check_letter(year[ok_shape], serial[ok_shape])
        good = ok_shape & (expected == parts["check"].str.upper()).fillna(False).to_numpy()
    else:
        good = ok_shape
    problem = pd.Series(pd.NA, index=raw.index, dtype="string")
    problem = problem.mask(text.isna(), "blank")
    problem = problem.mask(text.notna() & ~ok_shape, "malformed")
    problem = problem.mask(ok_shape & ~good, "check_letter")
    return pd.DataFrame(
        {
            "pnc_id": formatted.where(good),
            "pnc_id_as_recorded": formatted,
            "pnc_problem": problem,
        },
        index=raw.index,
    )


def pseudonymise(canonical_ids: pd.Series, key: str, length: int = 16) -> pd.Series:
    """Keyed HMAC-SHA256 of each id, as ``S`` + the first ``length`` hex digits.

    Only distinct values are hashed, so a national extract costs one HMAC per person.
    """
    values = canonical_ids.astype("string")
    uniques = values.dropna().unique()
    secret = key.encode()
    lookup = {
        v: "S" + hmac.new(secret, v.encode(), hashlib.sha256).hexdigest()[:length] for v in uniques
    }
    return values.map(lookup).astype("string")


def unresolved_subject_id(order_refs: pd.Series, key: str) -> pd.Series:
    """Id for an episode whose person cannot be identified: keyed on its first order
    reference, marked ``U`` so it can never collide with a person's ``S`` id."""
    secret = key.encode()
    return pd.Series(order_refs).map(
        lambda ref: "U" + hmac.new(secret, ("order:" + ref).encode(), hashlib.sha256).hexdigest()[:16])
