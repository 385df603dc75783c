"""The study cohort: episodes with full windows, the exclusions, and per-subject windows."""

from __future__ import annotations

import pandas as pd

from .dates import add_months


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
