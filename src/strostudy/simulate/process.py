"""The person process: how often each person is arrested, month by month, and for what.

Person ``i`` (docs/simulator.md, "The person process"):

- offends at a long-run rate ``rate_i ~ Gamma(RATE_SHAPE, mean RATE_MEAN)`` arrests a month
  (people differ a lot);
- splits it over the categories by ``affinity_i ~ Dirichlet(AFFINITY_CONCENTRATION x the
  study's pre-order category shares)`` (people specialise);
- has a slowly wandering log-multiplier ``x_im``, a stationary Gaussian AR(1) on the person's
  own monthly clock (``AR_RHO``, stationary sd ``AR_SD``), so months are overdispersed and runs
  of busy and quiet months occur, with no trend; ``exp(x - AR_SD**2 / 2)`` has mean 1, so
  ``rate_i`` stays the person's mean;
- under peak selection (``rtm``) ``x`` is conditioned on its mean over the
  ``PEAK_MONTHS`` months before the order being ``z`` standard deviations high, with ``z``
  from the top decile of N(0, 1): the order follows the person's own peak.

Arrests in month ``m`` are Poisson(``rate_i exp(x_im - AR_SD**2 / 2)``) on a grid of months
from ``window + MARGIN_MONTHS`` before the order to as many after it, on uniformly drawn days
of the month.  Each arrest's category follows the affinities and its offence a code pool per
category (the study's pre-order offence mix, :data:`~.design.DESIGN`, plus one of every other
code the category has, so rarer offences appear).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtri

from ._independent import add_months
from .design import CATEGORIES, DESIGN

#: Long-run arrests per person per month: mean and gamma shape.  The mean is the study's
#: pre-order rate (210 arrests / 41 subjects / 24 months = 0.21).
RATE_MEAN = 0.21
RATE_SHAPE = 3.0
#: Dirichlet concentration of category affinities around the study's pre-order shares.
AFFINITY_CONCENTRATION = 10.0
#: The monthly AR(1) log-multiplier: autocorrelation and stationary standard deviation.
AR_RHO = 0.8
AR_SD = 0.5
#: Peak selection (rtm): the order follows ``PEAK_MONTHS`` months whose mean log-multiplier is
#: in the person's top ``PEAK_TOP_SHARE`` (a z-score drawn from the normal tail above it).
PEAK_MONTHS = 12
PEAK_TOP_SHARE = 0.10
#: Months simulated either side of the two windows.
MARGIN_MONTHS = 12
#: Codes that only a breach of an order can carry.
BREACH_CODES = ["MS15016", "MS15017"]


@dataclass
class Process:
    """Each person's long-run rate, category affinities and monthly multipliers (columns are
    the months ``months`` of the person's own clock)."""

    rate: np.ndarray        # (people,)
    affinity: np.ndarray    # (people, categories)
    multiplier: np.ndarray  # (people, months), mean 1
    months: np.ndarray      # (months,) month offsets from the order


def person_process(rng, n: int, window: int, peak_selection: bool) -> Process:
    """Draw every person's rate, affinities and monthly multipliers."""
    months = np.arange(-(window + MARGIN_MONTHS), window + MARGIN_MONTHS)
    rate = rng.gamma(RATE_SHAPE, RATE_MEAN / RATE_SHAPE, n)
    shares = DESIGN.loc[DESIGN["period"] == "before"].groupby("category")["count"].sum().reindex(CATEGORIES)
    affinity = rng.dirichlet(AFFINITY_CONCENTRATION * (shares / shares.sum()).to_numpy(), n)
    # Stationary AR(1): the first month from the stationary law, then innovations.
    shocks = rng.normal(0.0, AR_SD * np.sqrt(1 - AR_RHO**2), (n, len(months)))
    shocks[:, 0] = rng.normal(0.0, AR_SD, n)
    x = lfilter([1.0], [1.0, -AR_RHO], shocks, axis=1)
    # Drawn under every scenario, so that scenarios of one seed share every other draw.
    peak = ndtri(rng.uniform(1 - PEAK_TOP_SHARE, 1.0, n))
    if peak_selection:
        x = _at_a_peak(x, months, peak)
    return Process(rate, affinity, np.exp(x - AR_SD**2 / 2), months)


def _at_a_peak(x: np.ndarray, months: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Condition each path on its mean over the ``PEAK_MONTHS`` months before the order being
    ``z`` sd high (Gaussian conditioning: the path moves by its covariance with that mean)."""
    lag = np.abs(months[:, None] - months[None, :])
    cov = AR_SD**2 * AR_RHO**lag
    weights = ((months >= -PEAK_MONTHS) & (months < 0)) / PEAK_MONTHS
    var_mean = weights @ cov @ weights
    gain = cov @ weights / var_mean
    return x + np.outer(z * np.sqrt(var_mean) - x @ weights, gain)


def code_pools(catalogue: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per category, the codes arrests of that category carry and their probabilities: the
    study's pre-order mix plus one of every other (non-breach) code of the category."""
    before = DESIGN.loc[DESIGN["period"] == "before"].groupby("cjs_code")["count"].sum()
    pools = {}
    for cat in CATEGORIES:
        codes = catalogue.loc[(catalogue["category"] == cat) & ~catalogue["cjs_code"].isin(BREACH_CODES), "cjs_code"]
        weight = codes.map(before).fillna(0).to_numpy() + 1.0
        pools[cat] = (codes.to_numpy(), weight / weight.sum())
    return pools


def process_arrests(rng, start: pd.Series, proc: Process) -> pd.DataFrame:
    """Every person's arrests on the month grid: ``subject_row`` (position in ``start``),
    ``month`` (of the person's own clock) and ``date``."""
    expected = proc.rate[:, None] * proc.multiplier
    counts = rng.poisson(expected).ravel()
    cell = np.repeat(np.arange(counts.size), counts)
    row, col = np.divmod(cell, len(proc.months))
    month = proc.months[col]
    first = add_months(start.iloc[row].reset_index(drop=True), month)
    length = (add_months(start.iloc[row].reset_index(drop=True), month + 1) - first).dt.days.to_numpy()
    day = np.floor(rng.random(len(row)) * length).astype(int)
    date = (first + pd.to_timedelta(day, unit="D")).dt.normalize()
    return pd.DataFrame({"subject_row": row, "month": month, "date": date})


def categories_and_codes(rng, rows: np.ndarray, affinity: np.ndarray, pools: dict) -> tuple[np.ndarray, np.ndarray]:
    """A category for each arrest (by its person's affinities) and a code from its pool."""
    cum = np.cumsum(affinity[rows], axis=1)
    pick = (rng.random(len(rows))[:, None] * cum[:, -1:] > cum).sum(axis=1)
    category = np.asarray(CATEGORIES)[np.minimum(pick, len(CATEGORIES) - 1)]
    code = np.empty(len(rows), dtype=object)
    for cat in CATEGORIES:
        sel = category == cat
        codes, p = pools[cat]
        code[sel] = rng.choice(codes, int(sel.sum()), p=p)
    return category, code
