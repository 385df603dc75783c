"""The comparison pool: people who could have received an order and did not, each with an
index date, offending by the same person process as the order people (docs/simulator.md, "The
comparison pool and custody").

The scenario acts on the pool exactly as on the order people, with the index date in place of
the order's start: random timing (``null``), the index date at the person's own peak (``rtm``;
the application was made at a peak and then refused), custody and deportation spells after
the index date (``incapacitation``), the calendar dip (``calendar_shock``).  The order's own
effect does not: under ``effect`` the pool keeps its rate (it is the counterfactual), and under
``published`` it follows the person process with no effect (the order people stay on the
calibrated design).

Everything about the pool is drawn from streams of its own, spawned from
``SeedSequence([seed, COMPARISON_STREAM])`` (:func:`streams`), so every draw of the order people,
their arrests and their extracts is as it was without the pool.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .arrests import arrests_and_offences
from .people import comparison_people
from .scenarios import Scenario

#: The pool's random streams: ``SeedSequence([seed, COMPARISON_STREAM]).spawn(5)`` (issue 13).
COMPARISON_STREAM = 13
#: The streams spawned from it, in this order.
STREAMS = ("people", "arrests", "extracts", "identity", "custody")


def streams(seed: int) -> dict[str, np.random.Generator]:
    """The pool's five random streams (:data:`STREAMS`): its people and index dates; its
    arrests and offences; its PNC, PND and listing mess; the keying errors in its PND names and
    DOBs; and the custody extract's kinds of spell."""
    children = np.random.SeedSequence([seed, COMPARISON_STREAM]).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


def pool_scenario(plan: Scenario) -> Scenario:
    """The scenario as it acts on the pool: its peak selection, custody spells and calendar
    shock, but no effect of an order (rate ratio 1) and no calibrated design."""
    return dataclasses.replace(plan, design=False, rate_ratio=1.0)


@dataclass
class Pool:
    """The comparison pool: its people (one row each; ``start_date`` is the index date), their
    arrests, offences and custody spells (as :func:`~.arrests.arrests_and_offences` gives them),
    and the streams its extracts are drawn from."""

    people: pd.DataFrame
    arrests: pd.DataFrame
    offences: pd.DataFrame
    spells: pd.DataFrame
    rng: dict[str, np.random.Generator]


def comparison_pool(rng: dict[str, np.random.Generator], n_people: int, episodes: pd.DataFrame,
                    order_arrests: pd.DataFrame, catalogue: pd.DataFrame, study: dict,
                    plan: Scenario) -> Pool | None:
    """``n_people`` pool people and their arrests under ``plan`` (acting as
    :func:`pool_scenario` says), or None for an empty pool.  Their arrest ids follow the
    order people's (``order_arrests``)."""
    if n_people <= 0:
        return None
    people = comparison_people(rng["people"], n_people, episodes, study)
    first = int(order_arrests["arrest_id"].max()) + 1 if len(order_arrests) else 0
    arrests, offences, spells = arrests_and_offences(rng["arrests"], people, catalogue, study, pool_scenario(plan),
                                                     rocu=False, first_arrest_id=first)
    return Pool(people=people, arrests=arrests, offences=offences, spells=spells, rng=rng)


def pool_size(comparison_ratio: float, n_orders: int) -> int:
    """``round(comparison_ratio * n_orders)``; a ratio that is negative or not a number stops
    with one line."""
    ratio = float(comparison_ratio)
    if not np.isfinite(ratio) or ratio < 0:
        from ..errors import StrostudyError

        raise StrostudyError(f"comparison_ratio must be a number of 0 or more, not {comparison_ratio!r}")
    return int(round(ratio * n_orders))
