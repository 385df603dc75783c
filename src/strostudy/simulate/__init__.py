"""Synthetic PNC, PND and ROCU extracts, a comparison list and a custody extract, with planted
truth, under a scenario.

``simulate(seed, n_orders, study, scenario, comparison_ratio)`` writes the same people, orders,
cohort flow and extract mess under every scenario (:mod:`.scenarios`); the scenarios differ in
how arrests happen around the order.  The default, ``published`` with 114 orders, is calibrated: its
truth reproduces every figure of the published study (``data/published_study.yaml``) through
a fixed design of the analysed subjects' arrests (:data:`DESIGN`), spread over subjects and
months by the person process (:mod:`.process`).  ``null``, ``rtm``, ``incapacitation``,
``calendar_shock`` and ``effect`` draw everyone's arrests from the person process, acted on by
the scenario.  Every scenario also writes a comparison pool of ``round(comparison_ratio *
n_orders)`` people who got no order, each with an index date, whose arrests come from the same
person process with the scenario acting on them as on order people but for the order's own
effect (:mod:`.comparison`), and the custody spells of both groups.  Every distribution is stated, with its reason, in docs/simulator.md.  All steps
are vectorised, so ``n_orders=50_000`` (millions of arrests) runs in seconds.

The mess the study met is planted, drawn from documented distributions over every person
(not shaped to the pipeline's rules), and every planted discrepancy is listed in the truth
(``discrepancies.csv``; the pool's in ``comparison_discrepancies.csv``), with the planted rate
ratios (``effects.csv``) and custody spells (``custody.csv``).  The pipeline never reads the
truth directory.

The simulator uses none of the pipeline's own date, ID or name code: its month arithmetic,
PNC IDs, subject ids and name folding are its own (:mod:`._independent`), so a bug in the
pipeline's cannot be copied into the truth it is tested against.

Modules: :mod:`.scenarios`, :mod:`.design` (calibration and vocabulary), :mod:`.people`
(people, orders and roles; the pool's people), :mod:`.process` (the person process),
:mod:`.arrests` (arrests, offences, recording systems), :mod:`.comparison` (the comparison pool
and its streams), :mod:`.extracts` (one builder per extract), :mod:`.truth`, :mod:`.write`.
"""

from __future__ import annotations

import numpy as np

from .arrests import arrests_and_offences, design_ratios
from .comparison import COMPARISON_STREAM, comparison_pool, pool_size
from .comparison import streams as comparison_streams
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
from .extracts.identity_errors import IDENTITY_STREAM
from .multi import (
    ORDER_TYPE_STREAM,
    TWO_ORDER_SHARE,
    extended_catalogue,
    is_default,
    offence_mix,
    parse_types,
    share_people,
    two_orders_truth,
    type_cohort,
    type_effects,
    type_plan,
    type_streams,
)
from .people import cohort
from .scenarios import SCENARIOS
from .scenarios import scenario as scenario_named
from .write import FIXED_TIME, write_extracts

__all__ = [
    "APPLICANTS", "CATEGORIES", "COMPARISON_STREAM", "CONDITIONS", "DEFAULT_ORDERS", "DESIGN", "DESIGN_SUBJECTS",
    "EXCLUSIONS", "FIXED_TIME", "FORCE_SYSTEMS", "FORENAMES", "NAME_VARIANTS", "ORDER_SPANS", "REGIONS", "ROCU_HEADERS",
    "ROCU_STYLES", "SCENARIOS", "SURNAMES", "TWO_ORDER_SHARE", "Extracts", "offence_catalogue", "simulate",
    "write_extracts",
]


def simulate(seed: int = 20260625, n_orders: int = DEFAULT_ORDERS, study: dict | None = None,
             scenario: str = "published", comparison_ratio: float = 3.0, order_types=None,
             two_order_share: float = TWO_ORDER_SHARE) -> Extracts:
    """Simulate the national order list, PNC, PND and ROCU extracts, the comparison list and the
    custody extract, and their truth, under ``scenario`` (docs/simulator.md), with a comparison
    pool of ``round(comparison_ratio * n_orders)`` people; an unknown scenario or a negative
    ratio stops with one line.

    People and orders, arrests, and the extracts draw from three streams of ``seed`` (people and
    orders from ``default_rng(seed)`` itself, as they always have; the other two spawned from
    it), the keying errors in PND and ROCU names and DOBs from a fourth,
    ``default_rng([seed, IDENTITY_STREAM])``, and everything about the comparison pool and the
    custody extract from streams spawned from ``SeedSequence([seed, COMPARISON_STREAM])``, so
    the same seed gives the same people, orders and cohort flow under every scenario, and the
    same order people's records whatever the pool's size.

    ``order_types`` (a list, or ``"STRO,SHPO,DAPO"``; default STRO alone): ``n_orders`` orders of
    each listed type in the same extracts, ``two_order_share`` of each later type's orders on a
    person who holds an earlier type's (:mod:`.multi`; only STRO is calibrated, the others are
    illustrative).  STRO alone is the single-type simulator, byte for byte."""
    from ..config import defaults

    plan = scenario_named(scenario)
    types = parse_types(order_types)
    if not is_default(types):
        return _several_types(seed, n_orders, study, plan, comparison_ratio, types, two_order_share)
    n_pool = pool_size(comparison_ratio, n_orders)
    study = {**defaults()["study"], **(study or {})}
    people_rng = np.random.default_rng(seed)
    arrest_rng, extract_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    # Keying errors in PND and ROCU names and DOBs: a fourth stream, so the others are unchanged.
    identity_rng = np.random.default_rng([seed, IDENTITY_STREAM])
    catalogue = offence_catalogue()
    episodes = cohort(people_rng, n_orders, study)
    arrests, offences, spells = arrests_and_offences(arrest_rng, episodes, catalogue, study, plan)
    # The comparison pool: streams of its own, so every draw above is as it was without it.
    pool_rng = comparison_streams(seed)
    pool = comparison_pool(pool_rng, n_pool, episodes, arrests, catalogue, study, plan)
    return make_extracts(extract_rng, episodes, arrests, offences, catalogue, study,
                         effects=_effects(plan, episodes, catalogue), spells=spells, identity_rng=identity_rng,
                         pool=pool, custody_rng=pool_rng["custody"])


def _several_types(seed: int, n_orders: int, study: dict | None, plan, comparison_ratio: float, types: list[str],
                   two_order_share: float) -> Extracts:
    """:func:`simulate` with several order types (:mod:`.multi`).  STRO's people, orders and
    arrests are the single-type run's (the same streams); each other type draws its people,
    orders and arrests from streams of its own; the pairing of two-order people draws from one
    more; the extract mess, the pool and the custody extract draw from the single-type run's
    streams, over every type's records at once."""
    import pandas as pd

    from ..config import defaults

    share = float(two_order_share)
    if not np.isfinite(share) or not 0 <= share <= 1:
        from ..errors import StrostudyError

        raise StrostudyError(f"two_order_share must be a number from 0 to 1, not {two_order_share!r}")
    n_pool = pool_size(comparison_ratio, n_orders * len(types))
    study = {**defaults()["study"], **(study or {})}
    people_rng = np.random.default_rng(seed)
    arrest_rng, extract_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    identity_rng = np.random.default_rng([seed, IDENTITY_STREAM])
    base = offence_catalogue()
    catalogue = extended_catalogue(base)
    parts, arrest_rngs = [], {}
    for order_type in types:  # a loop over a handful of order types
        if order_type == "STRO":
            parts.append(cohort(people_rng, n_orders, study).assign(order_type="STRO"))
            arrest_rngs[order_type] = arrest_rng
            continue
        streams = type_streams(seed, order_type)
        taken = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        parts.append(type_cohort(streams["people"], order_type, n_orders, study, taken))
        arrest_rngs[order_type] = streams["arrests"]
    episodes = pd.concat(parts, ignore_index=True)
    episodes, pairs = share_people(np.random.default_rng([seed, ORDER_TYPE_STREAM]), episodes, share)
    arrests, offences, spells, first = [], [], [], 0
    for order_type in types:
        rows = np.flatnonzero((episodes["order_type"] == order_type).to_numpy())
        mine = episodes.iloc[rows].reset_index(drop=True)
        stro = order_type == "STRO"
        a, o, sp = arrests_and_offences(arrest_rngs[order_type], mine, catalogue, study, plan if stro else type_plan(plan),
                                        first_arrest_id=first,
                                        mix=None if stro else offence_mix(order_type, base, breaches=plan.design))
        arrests.append(a.assign(subject_row=rows[a["subject_row"].to_numpy()], order_type=order_type))
        spells.append(sp.assign(subject_row=rows[sp["subject_row"].to_numpy()]))
        offences.append(o)
        first = int(a["arrest_id"].max()) + 1 if len(a) else first
    arrests = pd.concat(arrests, ignore_index=True)
    offences = pd.concat(offences, ignore_index=True)
    spells = pd.concat(spells, ignore_index=True)
    stro_episodes = episodes.loc[episodes["order_type"] == "STRO"]
    effects = type_effects(plan, types, _effects(plan, stro_episodes, base) if len(stro_episodes) else None,
                           type_plan(SCENARIOS["published"]).rate_ratio)
    pool_rng = comparison_streams(seed)
    pool = comparison_pool(pool_rng, n_pool, episodes, arrests, catalogue, study, plan)
    extracts = make_extracts(extract_rng, episodes, arrests, offences, catalogue, study, effects=effects,
                             spells=spells, identity_rng=identity_rng, pool=pool, custody_rng=pool_rng["custody"])
    extracts.truth["two_orders"] = two_orders_truth(episodes, pairs)
    extracts.order_types = list(types)
    return extracts


def _effects(plan, episodes, catalogue):
    """The true rate ratio per measure and category: ``published``'s design after/before
    ratio, else the scenario's rate ratio of the order (1 where it has none)."""
    import pandas as pd

    if plan.design:
        return design_ratios(int((episodes["role"] == "analysed").sum()), catalogue)
    cats = ["overall", *CATEGORIES]
    return pd.DataFrame({"measure": np.repeat(["events", "harm"], len(cats)), "category": cats * 2,
                         "true_rate_ratio": plan.rate_ratio})


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> Extracts:
    """The workflow's ``simulate`` rule: write the extracts where the registry puts the raw
    inputs (the comparison list and custody extract beside the order list), and the truth
    beside them."""
    from pathlib import Path

    from ..stages import say

    # Several order types (issue 16, A135): STRO alone by default.
    extracts = simulate(seed=int(config["seed"]), n_orders=int(config["synthetic_orders"]), study=config["study"],
                        scenario=config["scenario"], comparison_ratio=float(config["synthetic_comparison_ratio"]),
                        order_types=config["synthetic_order_types"],
                        two_order_share=float(config["synthetic_two_order_share"]))
    written = write_extracts(extracts, Path(output["raw_orders"]).parent, Path(output["truth_events"]).parent)
    say(f"simulated {int(config['synthetic_orders']):,} orders (scenario {config['scenario']}, seed {config['seed']}): "
        f"{len(written)} files", log)
    return extracts
