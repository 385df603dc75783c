"""Dates: month arithmetic that matches R's ``lubridate::%m+%`` and parsing of every
date style the extracts use."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Excel's day zero for serial dates (the 1900 leap-year bug is absorbed by using 1899-12-30).
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
MISSING_DATE_TOKENS = {"", "N/K", "NK", "N/A", "NA", "UNKNOWN", "NOT KNOWN", "-", "NAN", "NAT", "NONE"}
#: The days every table can hold (pandas' nanosecond timestamps run 1677-09-21 to 2262-04-11).
#: A real date outside them (``01/01/1600``, ``31/12/9999``) is ``out_of_range``, never an error.
FIRST_DAY = pd.Timestamp("1677-09-22")
LAST_DAY = pd.Timestamp("2262-04-11")


def in_bounds(parsed: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Dates parsed at any resolution as nanosecond dates, and which were out of range (those
    become missing).  ``parsed`` is a datetime Series; missing stays missing, not out of range."""
    parsed = pd.Series(parsed)
    inside = parsed.between(FIRST_DAY, LAST_DAY).to_numpy(dtype=bool)
    out = pd.Series(pd.NaT, index=parsed.index, dtype="datetime64[ns]")
    if inside.any():
        out[inside] = parsed[inside].to_numpy()
    return out, parsed.notna().to_numpy(dtype=bool) & ~inside


def add_months(dates: pd.Series | pd.DatetimeIndex, months) -> pd.Series:
    """Add whole months, clipping to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    d = pd.Series(pd.to_datetime(dates)).dt.normalize()
    values = d.to_numpy(dtype="datetime64[D]")
    month_start = values.astype("datetime64[M]")
    target = month_start + np.asarray(months, dtype="int64").astype("timedelta64[M]")
    day = (values - month_start).astype("int64")
    last_day = ((target + np.timedelta64(1, "M")).astype("datetime64[D]") - target.astype("datetime64[D]")).astype("int64") - 1
    out = target.astype("datetime64[D]") + np.minimum(day, last_day).astype("timedelta64[D]")
    # A result past the days a table can hold is missing, never a date wrapped around the calendar.
    inside = (out >= np.datetime64(FIRST_DAY.date(), "D")) & (out <= np.datetime64(LAST_DAY.date(), "D"))
    result = pd.Series(np.where(inside, out, np.datetime64("NaT", "D")), index=d.index).astype("datetime64[ns]")
    return result.where(d.notna())


def month_index(event_dates: pd.Series, start_dates: pd.Series) -> pd.Series:
    """Whole months from ``start`` to ``event``: month m covers [start + m, start + m + 1).

    Negative before the start.  Consistent with :func:`add_months`, so an arrest is in
    month m exactly when ``add_months(start, m) <= date < add_months(start, m + 1)``.
    """
    e = pd.Series(pd.to_datetime(event_dates)).dt.normalize()
    s = pd.Series(pd.to_datetime(start_dates), index=e.index).dt.normalize()
    em = e.to_numpy(dtype="datetime64[M]").astype("int64")
    sm = s.to_numpy(dtype="datetime64[M]").astype("int64")
    guess = pd.Series(em - sm, index=e.index)
    boundary = add_months(s, guess)
    return (guess - (e < boundary).astype("int64")).where(e.notna() & s.notna())


def parse_dates(raw: pd.Series, dayfirst: bool = True) -> pd.DataFrame:
    """Parse a column holding any mix of the date styles met in extracts.

    Accepts ``dd/mm/yyyy`` (and ``dd-mm-yyyy``, ``dd.mm.yyyy``), ISO dates with or without
    a time, Excel serial numbers, real datetime cells, and blanks or ``N/K``.  Returns
    ``date`` (normalised to midnight, missing where unknown or unparseable) and
    ``date_problem``: ``missing`` (blank or N/K, allowed where the column is optional),
    ``unparseable`` (text that is not a date in any accepted style) or ``out_of_range`` (a
    date before 1677-09-22 or after 2262-04-11, which no table can hold).
    """
    parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[us]")
    is_dt = raw.map(lambda v: isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "year"))
    is_dt = is_dt.astype(bool).to_numpy(dtype=bool)
    if is_dt.any():
        parsed[is_dt] = _as_us(pd.to_datetime(raw[is_dt].astype(object), errors="coerce").dt.normalize())
    text = raw.where(~is_dt).astype("string").str.strip()
    missing = ~is_dt & (text.isna() | text.str.upper().isin(MISSING_DATE_TOKENS)).to_numpy(dtype=bool)
    todo = ~is_dt & ~missing
    numeric = pd.to_numeric(text.where(todo), errors="coerce").astype("float64")
    serial = todo & numeric.between(1, 100_000).to_numpy(dtype=bool)
    if serial.any():
        parsed[serial] = EXCEL_EPOCH + pd.to_timedelta(np.floor(numeric[serial]), unit="D")
    rest = todo & ~serial
    iso = rest & text.str.match(r"^\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)
    if iso.any():
        parsed[iso] = _as_us(pd.to_datetime(text[iso].str.slice(0, 10), format="%Y-%m-%d", errors="coerce"))
    uk = rest & ~iso
    if uk.any():
        cleaned = text[uk].str.replace(r"[.\-]", "/", regex=True).str.split(" ").str[0]
        fmt = "%d/%m/%Y" if dayfirst else "%m/%d/%Y"
        parsed[uk] = _as_us(pd.to_datetime(cleaned, format=fmt, errors="coerce"))
    out, out_of_range = in_bounds(parsed)
    problem = pd.Series(pd.NA, index=raw.index, dtype="string")
    problem = problem.mask(missing, "missing").mask(todo & parsed.isna().to_numpy(), "unparseable")
    problem = problem.mask(out_of_range, "out_of_range")
    return pd.DataFrame({"date": out, "date_problem": problem}, index=raw.index)


def _as_us(dates: pd.Series) -> np.ndarray:
    """Microsecond datetimes (years 1 to 9999), whatever resolution pandas parsed at."""
    return pd.Series(dates).astype("datetime64[us]").to_numpy()


def full_windows(episodes: pd.DataFrame, study: dict) -> pd.Series:
    """Both windows inside the data period (A1-A4).  A start known only to the month or year
    qualifies when every day it could be passes (``start_earliest``/``start_latest``)."""
    window = int(study["window_months"])
    earliest = pd.Timestamp(study["earliest_reliable_date"])
    extraction = pd.Timestamp(study["extraction_date"])
    lo = episodes["start_earliest"] if "start_earliest" in episodes else episodes["start_date"]
    hi = episodes["start_latest"] if "start_latest" in episodes else episodes["start_date"]
    ok = (add_months(lo, -window) >= earliest) & (add_months(hi, window) <= extraction)
    return ok.fillna(False).astype(bool).set_axis(episodes.index)


def age_in_years(births: pd.Series, dates: pd.Series) -> pd.Series:
    """Completed years from each birth date to each date: whole months (:func:`month_index`,
    A3) // 12, so a birthday on 29 February falls on 28 February in other years; missing where
    either date is."""
    months = month_index(pd.Series(dates, index=pd.Series(births).index), pd.Series(births))
    return (months // 12).astype("Int64")
