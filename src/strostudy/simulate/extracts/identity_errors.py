"""Keying errors in the person fields of PND records and ROCU returns (issue 14): dates of
birth with a mistyped digit, two digits transposed, day and month swapped, or the year one or
ten out; names with a mistyped, dropped or doubled letter, an initial for the forename, a
nickname, no forename, or one part of a double-barrelled surname.  (Forenames and surname
swapped, spelling variants and lost accents are planted by :mod:`.pnd` already.)

Each record gets at most one DOB error and at most one name error, drawn at the rates of
:data:`DOB_ERRORS` and :data:`NAME_ERRORS` (docs/simulator.md, "Identity errors") from a
random stream of their own, so every other draw of a seed is unchanged.  The five kinds of
DOB error that give a real date never make an impossible one: the first of :data:`DOB_TRIES`
draws that gives a real date is used.  The sixth, ``dob_impossible_date``, is a digit mistyped
into a date that does not exist (``1987-02-30``, ``1987-13-04``), as a DOB typed into a text
field or a spreadsheet cell keeps it: the first of the same draws as ``dob_digit_typo`` that
gives no date is used (no draw of its own, so the other errors are as they were), and the
record carries the text (ingest blanks such a DOB and keeps the row, A89).  Every error is
listed (``id_error_<type>`` notes, gathered by :func:`..truth.build_truth` into
``identity_errors.csv``).

All string work is vectorised on fixed-width code-point arrays; no loop runs over records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The random stream of identity errors: ``default_rng([seed, IDENTITY_STREAM])``.
IDENTITY_STREAM = 14
#: Per record, the chance of each DOB error (at most one a record).  The total, 2.5%, is the
#: order reported for health and census records (1.5% and 2% of birthdates wrong, Luo et al.
#: 2014; 2.9% of linked census-death pairs with different DOBs, Swiss National Cohort 2013);
#: the split between kinds is an assumption.  ``dob_impossible_date`` (a mistyped digit that
#: gives no date, 0.2%) comes on top, an assumption; it is last, so adding it moved no other
#: kind's draws.
DOB_ERRORS = {"dob_digit_typo": 0.010, "dob_digits_transposed": 0.005, "dob_day_month_swapped": 0.004,
              "dob_year_off_by_one": 0.004, "dob_year_off_by_ten": 0.002, "dob_impossible_date": 0.002}
#: The DOB errors that give no real date (the record carries the text).
IMPOSSIBLE_DOB_ERRORS = ("dob_impossible_date",)
#: Per record, the chance of each name error (at most one a record); assumptions.
#: ``name_double_barrel_part`` applies only to double-barrelled surnames (its rate is of those),
#: ``name_nickname`` only to forenames that have one in :data:`NICKNAMES`.
NAME_ERRORS = {"name_letter_typo": 0.010, "name_letter_dropped": 0.005, "name_letter_doubled": 0.005,
               "name_forename_initial": 0.010, "name_forename_missing": 0.005, "name_nickname": 0.030}
DOUBLE_BARREL_ONE_PART = 0.25
#: The simulator's own nicknames and short forms (not the linker's list).
NICKNAMES = {"James": "Jim", "Daniel": "Danny", "Thomas": "Tom", "Tomasz": "Tomek", "Patrick": "Paddy",
             "Mohammed": "Mo", "Krzysztof": "Krzys", "Łukasz": "Łukas", "Elena": "Lena", "Karolina": "Karo",
             "Agnieszka": "Aga", "Nicole": "Nicky", "Sophie": "Sophia", "Marcus": "Marc", "Declan": "Dec",
             "Abdi": "Abdullahi", "Ștefan": "Stefan", "Zoltán": "Zoli", "Jordan": "Jordy"}
#: Draws of a DOB error tried per record before giving up on it (a few per thousand records).
DOB_TRIES = 8
_WIDTH = 48
_LETTERS = np.array([ord(c) for c in "abcdefghijklmnopqrstuvwxyz"], dtype=np.uint32)


def _pick(rates: dict, u: np.ndarray) -> np.ndarray:
    """Each record's error kind by ``rates`` (at most one a record), "" for none."""
    edges = np.cumsum(list(rates.values()))
    at = np.searchsorted(edges, u, side="right")
    kinds = np.array(list(rates), dtype=object)
    return np.where(at < len(edges), kinds[np.minimum(at, len(edges) - 1)], "")


# --------------------------------------------------------------------------- dates of birth


def _valid(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Whether year, month, day make a real date (the Gregorian calendar, by hand)."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)] + (leap & (month == 2))
    return (year >= 1900) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days)


def _digits(ymd: np.ndarray) -> np.ndarray:
    """``yyyymmdd`` integers as an (n, 8) array of digits, most significant first."""
    return (ymd[:, None] // 10 ** np.arange(7, -1, -1)) % 10


def _undigits(digits: np.ndarray) -> np.ndarray:
    return (digits * 10 ** np.arange(7, -1, -1)).sum(axis=1)


def dob_errors(rng, dob: pd.Series, kinds: np.ndarray, latest: pd.Series | None = None
               ) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """``dob`` (datetimes) with the error ``kinds`` (from :data:`DOB_ERRORS`, "" for none)
    planted; the kinds actually planted (a record where no draw gave a real date, on or
    before ``latest`` when given, keeps its DOB and gets ""); and the text ``yyyy-mm-dd`` of
    each DOB planted as a date that does not exist (``dob_impossible_date``; its datetime is
    missing), "" elsewhere."""
    n_all = len(dob)
    d = pd.to_datetime(pd.Series(dob)).reset_index(drop=True)
    ymd_all = (d.dt.year * 10000 + d.dt.month * 100 + d.dt.day).fillna(0).to_numpy(dtype=np.int64)
    # Every record's draws are made (so the stream does not depend on the kinds), but only the
    # records with an error to plant are worked on.
    pos = rng.integers(2, 8, (n_all, DOB_TRIES))
    shift = rng.integers(1, 10, (n_all, DOB_TRIES))
    first = rng.choice(np.array([2, 4, 6]), (n_all, DOB_TRIES))
    sign = np.where(rng.random((n_all, DOB_TRIES)) < 0.5, -1, 1)
    kinds_all = np.asarray(kinds, dtype=object)
    sel = np.flatnonzero(kinds_all != "")
    pos, shift, first, sign, ymd, kinds = pos[sel], shift[sel], first[sel], sign[sel], ymd_all[sel], kinds_all[sel]
    n = len(sel)
    digits = np.repeat(_digits(ymd)[:, None, :], DOB_TRIES, axis=1)  # (n, tries, 8)
    tries = np.arange(DOB_TRIES)
    # A digit typo: one of the year's last two digits, the month's or the day's (positions 2-7)
    # becomes another digit.
    typo = digits.copy()
    rows = np.arange(n)[:, None]
    typo[rows, tries, pos] = (typo[rows, tries, pos] + shift) % 10
    # Two adjacent digits of one field transposed: year (2-3), month (4-5) or day (6-7).
    swap = digits.copy()
    swap[rows, tries, first], swap[rows, tries, first + 1] = digits[rows, tries, first + 1], digits[rows, tries, first]
    # Year one or ten out, earlier or later.
    candidates = {
        "dob_digit_typo": _undigits(typo.reshape(-1, 8)).reshape(n, DOB_TRIES),
        "dob_digits_transposed": _undigits(swap.reshape(-1, 8)).reshape(n, DOB_TRIES),
        "dob_day_month_swapped": np.repeat(((ymd // 10000) * 10000 + (ymd % 100) * 100 + (ymd // 100) % 100)[:, None],
                                           DOB_TRIES, axis=1),
        "dob_year_off_by_one": ymd[:, None] + 10000 * sign,
        "dob_year_off_by_ten": ymd[:, None] + 100000 * sign,
    }
    # A digit typo that gives no date: the typo draws again, no draw of its own.
    candidates["dob_impossible_date"] = candidates["dob_digit_typo"]
    if latest is None:
        bound = np.full(n, 99991231, dtype=np.int64)
    else:
        last = pd.to_datetime(pd.Series(latest)).reset_index(drop=True).iloc[sel]
        bound = (last.dt.year * 10000 + last.dt.month * 100 + last.dt.day).fillna(99991231).to_numpy(dtype=np.int64)
    planted_sel = np.zeros(n, dtype=np.int64)
    for kind, values in candidates.items():  # a loop over the six kinds, not over records
        real = _valid(values // 10000, (values // 100) % 100, values % 100)
        if kind in IMPOSSIBLE_DOB_ERRORS:
            ok = ~real  # a changed digit, so never the DOB itself
        else:
            ok = real & (values != ymd[:, None]) & (values <= bound[:, None])
        first_ok = np.argmax(ok, axis=1)
        mine = (kinds == kind) & ok.any(axis=1) & (ymd > 0)
        planted_sel[mine] = values[mine, first_ok[mine]]
    planted = np.zeros(n_all, dtype=np.int64)
    planted[sel] = planted_sel
    kinds = kinds_all
    done = planted > 0
    no_date = done & np.isin(kinds, IMPOSSIBLE_DOB_ERRORS)
    text = np.full(n_all, "", dtype=object)
    digits8 = pd.Series(planted[no_date]).astype(str).str.zfill(8)
    text[no_date] = (digits8.str[:4] + "-" + digits8.str[4:6] + "-" + digits8.str[6:]).to_numpy(dtype=object)
    out = d.copy()
    real_date = done & ~no_date
    out[real_date] = pd.to_datetime(pd.Series(planted[real_date]).astype(str), format="%Y%m%d").to_numpy()
    out[no_date] = pd.NaT
    return out.set_axis(pd.Series(dob).index), np.where(done, kinds, ""), text


# --------------------------------------------------------------------------- names


def _codes(text: pd.Series) -> np.ndarray:
    """Names as an (n, width) array of code points (0 after the end)."""
    arr = np.asarray(pd.Series(text).fillna("").astype(str).to_numpy(), dtype=f"<U{_WIDTH}")
    return arr.view(np.uint32).reshape(len(arr), _WIDTH).copy()


def _text(codes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(codes, dtype=np.uint32).view(f"<U{_WIDTH}").ravel().astype(object)


def _letter_positions(rng, codes: np.ndarray) -> np.ndarray:
    """A random position among each name's letters after the first (-1 if it has none)."""
    is_letter = _is_letter(codes)
    is_letter[:, 0] = False
    count = is_letter.sum(axis=1)
    k = np.floor(rng.random(len(codes)) * np.maximum(count, 1)).astype(np.int64)
    rank = np.cumsum(is_letter, axis=1) - 1
    hit = is_letter & (rank == k[:, None])
    return np.where(count > 0, np.argmax(hit, axis=1), -1)


def _is_letter(codes: np.ndarray) -> np.ndarray:
    """Letters: a-z, A-Z and anything beyond ASCII (accented letters)."""
    lower = codes | np.uint32(0x20)
    return ((lower >= ord("a")) & (lower <= ord("z"))) | (codes > 127)


def letter_typo(rng, names: pd.Series) -> np.ndarray:
    """One letter (not the first) replaced by another, in the case of the one it replaces."""
    codes = _codes(names)
    pos = _letter_positions(rng, codes)
    rows = np.flatnonzero(pos >= 0)
    old = codes[rows, pos[rows]]
    new = _LETTERS[(np.searchsorted(_LETTERS, old | np.uint32(0x20)) + rng.integers(1, 26, len(rows))) % 26]
    upper = (old >= ord("A")) & (old <= ord("Z"))
    codes[rows, pos[rows]] = np.where(upper, new & ~np.uint32(0x20), new)
    return _text(codes)


def letter_dropped(rng, names: pd.Series) -> np.ndarray:
    """One letter (not the first) left out."""
    codes = _codes(names)
    pos = _letter_positions(rng, codes)
    col = np.arange(_WIDTH)[None, :]
    src = np.where((pos[:, None] >= 0) & (col >= pos[:, None]), np.minimum(col + 1, _WIDTH - 1), col)
    out = np.take_along_axis(codes, src, axis=1)
    out[:, -1] = np.where(pos >= 0, 0, out[:, -1])
    return _text(out)


def letter_doubled(rng, names: pd.Series) -> np.ndarray:
    """One letter (not the first) typed twice."""
    codes = _codes(names)
    pos = _letter_positions(rng, codes)
    col = np.arange(_WIDTH)[None, :]
    src = np.where((pos[:, None] >= 0) & (col > pos[:, None]), col - 1, col)
    return _text(np.take_along_axis(codes, src, axis=1))


def name_errors(rng, forenames: pd.Series, surname: pd.Series, kinds: np.ndarray
                ) -> tuple[pd.Series, pd.Series, np.ndarray, np.ndarray]:
    """``forenames`` and ``surname`` with the error ``kinds`` (from :data:`NAME_ERRORS`)
    planted, a double-barrelled surname shown by one part at :data:`DOUBLE_BARREL_ONE_PART`;
    the kinds planted and the field each hit ("" where none)."""
    fn = pd.Series(forenames).reset_index(drop=True).astype(object)
    sn = pd.Series(surname).reset_index(drop=True).astype(object)
    n = len(fn)
    kinds = kinds.copy()
    on_surname = rng.random(n) < 0.5
    barrel = sn.str.contains("-", regex=False).fillna(False).to_numpy() & (rng.random(n) < DOUBLE_BARREL_ONE_PART)
    which_part = rng.random(n) < 0.5
    nickname = fn.map(NICKNAMES)
    kinds = np.where((kinds == "name_nickname") & nickname.isna().to_numpy(), "", kinds)
    kinds = np.where(barrel & (kinds == ""), "name_double_barrel_part", kinds)
    field = np.where(np.isin(kinds, ["name_letter_typo", "name_letter_dropped", "name_letter_doubled"]),
                     np.where(on_surname, "surname", "forenames"),
                     np.where(kinds == "name_double_barrel_part", "surname",
                              np.where(kinds == "", "", "forenames")))
    for kind, change in (("name_letter_typo", letter_typo), ("name_letter_dropped", letter_dropped),
                         ("name_letter_doubled", letter_doubled)):  # three kinds, not records
        hit_fn = (kinds == kind) & (field == "forenames")
        hit_sn = (kinds == kind) & (field == "surname")
        fn[hit_fn] = change(rng, fn[hit_fn])
        sn[hit_sn] = change(rng, sn[hit_sn])
    initial = kinds == "name_forename_initial"
    fn[initial] = fn[initial].str[0]
    fn[kinds == "name_forename_missing"] = ""
    nick = kinds == "name_nickname"
    fn[nick] = nickname[nick]
    bar = kinds == "name_double_barrel_part"
    parts = sn[bar].str.split("-", n=1)
    sn[bar] = np.where(which_part[bar], parts.str[0], parts.str[-1])
    return fn, sn, kinds, field


# --------------------------------------------------------------------------- records


#: A planted DOB puts the person at least this old at the record's date: nobody under the age
#: of criminal responsibility (10 in England and Wales) is arrested, so a system or an officer
#: would catch a younger one.
MIN_AGE_YEARS = 10


def plant(rng, frame: pd.DataFrame, subject_id: np.ndarray, record: pd.Series, source_pair: str,
          on_date: pd.Series, skip: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` (``forenames``, ``surname``, ``date_of_birth`` as datetimes) with identity
    errors planted on every row but ``skip``, and one note per error (``id_error_<kind>``;
    the record's reference, the field, and the value before and after in ``detail``).
    ``on_date``: each record's date (an arrest, an order), which a planted real DOB precedes
    by :data:`MIN_AGE_YEARS` at least.  A DOB planted as a date that does not exist is
    missing in ``date_of_birth`` and its text (``yyyy-mm-dd``) is in ``dob_as_typed`` ("" on
    every other row), for the caller to write."""
    n = len(frame)
    keep = np.zeros(n, dtype=bool) if skip is None else np.asarray(skip, dtype=bool)
    dob_kinds = np.where(keep, "", _pick(DOB_ERRORS, rng.random(n)))
    name_kinds = np.where(keep, "", _pick(NAME_ERRORS, rng.random(n)))
    latest = pd.to_datetime(pd.Series(on_date)) - pd.DateOffset(years=MIN_AGE_YEARS)
    dob, dob_kinds, dob_text = dob_errors(rng, frame["date_of_birth"], dob_kinds, latest)
    fn, sn, name_kinds, field = name_errors(rng, frame["forenames"], frame["surname"], name_kinds)
    name_kinds = np.where(keep, "", name_kinds)
    fn = fn.where(~keep, frame["forenames"].reset_index(drop=True))
    sn = sn.where(~keep, frame["surname"].reset_index(drop=True))
    out = frame.assign(forenames=fn.to_numpy(), surname=sn.to_numpy(), date_of_birth=dob.to_numpy(),
                       dob_as_typed=dob_text)
    was = {"forenames": frame["forenames"].astype(str).to_numpy(), "surname": frame["surname"].astype(str).to_numpy()}
    now = {"forenames": fn.astype(str).to_numpy(), "surname": sn.astype(str).to_numpy()}
    ref = np.asarray(record, dtype=object).astype(str)
    on_dob = dob_kinds != ""
    d_old = _iso(pd.to_datetime(frame["date_of_birth"]).reset_index(drop=True), on_dob)
    d_new = np.where(dob_text != "", dob_text, _iso(pd.to_datetime(dob).reset_index(drop=True), on_dob))
    on_name = name_kinds != ""
    name_old = np.where(field == "surname", was["surname"], was["forenames"])
    name_new = np.where(field == "surname", now["surname"], now["forenames"])
    notes = pd.concat([
        pd.DataFrame({"subject_id": subject_id[on_dob], "field": "date_of_birth", "source_pair": source_pair,
                      "detail": ref[on_dob] + ": " + d_old[on_dob] + " -> " + d_new[on_dob],
                      "kind": "id_error_" + dob_kinds[on_dob].astype(str)}),
        pd.DataFrame({"subject_id": subject_id[on_name], "field": field[on_name], "source_pair": source_pair,
                      "detail": ref[on_name] + ": " + name_old[on_name].astype(str) + " -> "
                      + name_new[on_name].astype(str),
                      "kind": "id_error_" + name_kinds[on_name].astype(str)})], ignore_index=True)
    return out, notes


def _iso(dates: pd.Series, where: np.ndarray) -> np.ndarray:
    """``yyyy-mm-dd`` of the dates at ``where`` (None elsewhere: only those are written)."""
    out = np.full(len(dates), None, dtype=object)
    out[where] = dates[where].dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
    return out
