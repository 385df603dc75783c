"""Small helpers shared by the simulator's modules: apportioning counts, drawing dates,
and writing names and dates as the extracts do."""

from __future__ import annotations

import numpy as np
import pandas as pd


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts in proportion to ``weights`` that sum to ``total``."""
    raw = np.asarray(weights, dtype=float)
    raw = raw / raw.sum() * total
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return base


def random_dates(rng, lo: pd.Series, hi: pd.Series) -> pd.Series:
    """A uniformly drawn day in ``[lo, hi]`` for each pair (``lo`` where ``hi`` precedes it)."""
    span = (hi - lo).dt.days.clip(lower=0).to_numpy()
    offset = np.floor(rng.random(len(span)) * (span + 1)).astype(int)
    return (lo + pd.to_timedelta(offset, unit="D")).dt.normalize()


def ascii_fold(s: pd.Series) -> pd.Series:
    """Accents dropped as a system without them types names (letters NFKD cannot split are lost);
    each distinct value is folded once (names repeat a lot)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    values = pd.Series(uniques, dtype=s.dtype)
    folded = values.str.normalize("NFKD").str.encode("ascii", errors="ignore").str.decode("ascii")
    text = np.append(folded.to_numpy(dtype=object), np.nan)
    return pd.Series(text[np.where(codes < 0, len(text) - 1, codes)], index=s.index, dtype=folded.dtype)


def fmt_dates(d: pd.Series, fmt: str) -> pd.Series:
    """``d.dt.strftime(fmt)``, formatting each distinct date once (extracts repeat dates a lot)."""
    codes, uniques = pd.factorize(pd.Series(d), sort=False)
    text = np.append(pd.DatetimeIndex(uniques).strftime(fmt).to_numpy(dtype=object), np.nan)
    return pd.Series(text[np.where(codes < 0, len(text) - 1, codes)], index=pd.Series(d).index, dtype=object)


def fmt_uk(d: pd.Series) -> pd.Series:
    """Dates as ``dd/mm/yyyy``."""
    return fmt_dates(d, "%d/%m/%Y")
