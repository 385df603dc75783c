"""Synthetic PNC, PND and ROCU extracts with planted truth.

The default (114 orders, seed 20260625) is calibrated: its truth reproduces every figure of
the published study (``data/published_study.yaml``).  The calibration is a fixed design of
arrests for the analysed subjects (:data:`DESIGN`), spread over subjects and months by the
seed; every other person, and every other ``n_orders``, comes from a random process of the
same shape.  All steps are vectorised, so ``n_orders=50_000`` (millions of arrests) runs in
seconds.

The mess the study met is planted on purpose and every planted discrepancy is listed in the
truth (``discrepancies.csv``).  The pipeline never reads the truth directory.

The simulator uses none of the pipeline's own date, ID or name code: its month arithmetic,
PNC IDs, subject ids and name folding are its own (:mod:`._independent`), so a bug in the
pipeline's cannot be copied into the truth it is tested against.

Modules: :mod:`.design` (calibration and vocabulary), :mod:`.people` (people, orders and
roles), :mod:`.arrests` (arrests, offences, recording systems), :mod:`.extracts` (one
builder per extract), :mod:`.truth`, :mod:`.write`.
"""

from __future__ import annotations

import numpy as np

from .arrests import arrests_and_offences
from .design import (
    APPLICANTS,
    CATEGORIES,
    CONDITIONS,
    DEFAULT_ORDERS,
    DESIGN,
    DESIGN_SUBJECTS,
    EXCLUSIONS,
    FORCE_SYSTEMS,
    FORENAMES,
    NAME_VARIANTS,
    ORDER_SPANS,
    REGIONS,
    ROCU_HEADERS,
    ROCU_STYLES,
    SURNAMES,
    offence_catalogue,
)
from .extracts import Extracts, make_extracts
from .people import cohort
from .write import FIXED_TIME, write_extracts

__all__ = [
    "APPLICANTS", "CATEGORIES", "CONDITIONS", "DEFAULT_ORDERS", "DESIGN", "DESIGN_SUBJECTS", "EXCLUSIONS",
    "FIXED_TIME", "FORCE_SYSTEMS", "FORENAMES", "NAME_VARIANTS", "ORDER_SPANS", "REGIONS", "ROCU_HEADERS",
    "ROCU_STYLES", "SURNAMES", "Extracts", "offence_catalogue", "simulate", "write_extracts",
]


def simulate(seed: int = 20260625, n_orders: int = DEFAULT_ORDERS, study: dict | None = None) -> Extracts:
    """Simulate the national order list, PNC, PND and ROCU extracts and their truth."""
    from ..config import defaults

    study = {**defaults()["study"], **(study or {})}
    rng = np.random.default_rng(seed)
    catalogue = offence_catalogue()
    episodes = cohort(rng, n_orders, study)
    arrests, offences = arrests_and_offences(rng, episodes, catalogue, study)
    return make_extracts(rng, episodes, arrests, offences, catalogue, study)


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> Extracts:
    """The workflow's ``simulate`` rule: write the extracts where the registry puts the raw
    inputs, and the truth beside them."""
    from pathlib import Path

    from ..stages import say

    extracts = simulate(seed=int(config["seed"]), n_orders=int(config["synthetic_orders"]), study=config["study"])
    written = write_extracts(extracts, Path(output["raw_orders"]).parent, Path(output["truth_events"]).parent)
    say(f"simulated {int(config['synthetic_orders']):,} orders (seed {config['seed']}): {len(written)} files", log)
    return extracts
