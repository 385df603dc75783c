"""What each scenario plants (docs/simulator.md has the reasons and sources).

Every scenario keeps the same people, orders, cohort flow and extract mess machinery; they
differ only in how arrests happen around the order:

- ``published``: the analysed subjects' in-window arrests follow the calibration
  (:data:`~.design.DESIGN`), which reproduces every published figure; everyone else offends at
  the design's after/before ratio once their order is made.
- ``null``: nothing changes at the order, and orders fall on people at random times.
- ``rtm``: nothing changes at the order, but the order is made when the person's own
  time-varying rate is at a peak (their last 12 months in the top decile of their own
  12-month rates); offending then regresses to the person's mean.
- ``incapacitation``: a share of people are in custody or deported for a spell after the
  order (no arrests during it); no behavioural effect.
- ``calendar_shock``: everyone's arrest rate is multiplied down over a stretch of calendar
  months (the 2020/21 lockdowns); no effect of the order.
- ``effect``: a known true rate ratio multiplies every arrest rate from the order on.

Each scenario acts on the comparison pool (:mod:`.comparison`) as on the order people, with the
index date in place of the order's start, but for the order's own effect: the pool keeps its
rate under ``effect``, and follows the person process with no design under ``published``
(:func:`~.comparison.pool_scenario`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Scenario:
    """One scenario's planted mechanism."""

    name: str
    #: Analysed subjects' in-window arrests follow the calibrated design.
    design: bool = False
    #: True rate ratio of arrests from the order on (the order's causal effect).
    rate_ratio: float = 1.0
    #: The order is made at a peak of the person's own rate (regression to the mean).
    peak_selection: bool = False
    #: Share of people in custody or deported for a spell after their order.
    custody_share: float = 0.0
    #: Calendar months (first day, day after the last) whose arrest rates are multiplied
    #: by ``shock_multiplier``.
    shock: tuple[str, str] | None = None
    shock_multiplier: float = 1.0


#: The planted rate ratio of the ``effect`` scenario.
EFFECT_RATE_RATIO = 0.6
#: ``calendar_shock``: April 2020 - March 2021 (the lockdowns), at this multiplier.
SHOCK_MONTHS = ("2020-04-01", "2021-04-01")
SHOCK_MULTIPLIER = 0.7
#: ``incapacitation``: the share of people removed for a spell after their order.
CUSTODY_SHARE = 0.2

SCENARIOS: dict[str, Scenario] = {
    "published": Scenario("published", design=True),
    "null": Scenario("null"),
    "rtm": Scenario("rtm", peak_selection=True),
    "incapacitation": Scenario("incapacitation", custody_share=CUSTODY_SHARE),
    "calendar_shock": Scenario("calendar_shock", shock=SHOCK_MONTHS, shock_multiplier=SHOCK_MULTIPLIER),
    "effect": Scenario("effect", rate_ratio=EFFECT_RATE_RATIO),
}


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; anything else stops with one line."""
    if name not in SCENARIOS:
        from ..errors import StrostudyError

        raise StrostudyError(f"unknown scenario '{name}': use one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def in_shock(dates: pd.Series, plan: Scenario) -> pd.Series:
    """Whether each date falls in the scenario's calendar shock."""
    if plan.shock is None:
        return pd.Series(False, index=dates.index)
    return (dates >= pd.Timestamp(plan.shock[0])) & (dates < pd.Timestamp(plan.shock[1]))
