"""Studies: several ancillary-order studies in one run (issue 16, docs/studies.md).

``config.yaml``'s ``studies:`` names each study and the order types it takes from the order
list, with any overrides of its own::

    studies:
      stro: {order_types: [STRO], breach_category: false}
      shpo: {order_types: [SHPO], exclusions: [identity_unresolved, no_usable_start_date, order_ended_in_window]}

Ingest, linkage and reconciliation run once for every study (a person holding orders of two
types is one person, with one pseudonym, in both studies); reconciliation writes one episode
per person and order type (``order_episodes``).  From the harm stage on, every stage runs once
per study on the study's own episodes (:func:`study_episodes`), with the study's settings
(:func:`resolve`), and writes under the study's folder (``{study}`` in the table registry).

This module imports nothing heavy at the top: the Snakefile reads :func:`names`.
"""

from __future__ import annotations

import copy
import re

from .errors import StrostudyError

#: A study's name: a folder name and a Snakemake wildcard value.
NAME = r"[a-z][a-z0-9_]*"
#: The order type of an order whose type is none the package knows (A138).
OTHER = "OTHER"
#: Study keys that override a config setting: key -> the setting's dotted path (A138).
OVERRIDES = {"window_months": "study.window_months", "exclusions": "cohort.exclusions",
             "require_rocu_return": "cohort.require_rocu_return"}


def names(config: dict) -> list[str]:
    """The studies of ``config``, in the order it lists them."""
    studies = config.get("studies") or {}
    bad = [n for n in studies if not re.fullmatch(NAME, str(n))]
    if bad:
        raise StrostudyError(f"studies: {', '.join(map(repr, bad))} is not a study name; use lower-case letters, "
                             "digits and underscores, starting with a letter (it names the study's folders)")
    return list(studies)


def params(chosen: dict, studies: dict):
    """A per-study rule's ``params: config=``: a function of the job's wildcards giving the
    config keys ``chosen`` for the rule plus the job's study's entry of ``studies`` (from which
    :func:`resolve` makes the study's settings), so that editing one study re-runs only its
    jobs."""
    def for_job(wildcards) -> dict:
        return {**chosen, "studies": {wildcards.study: studies[wildcards.study]}}

    return for_job


def label(entry: dict) -> str:
    """A study's name for readers, from its entry of ``studies``: its ``label``, else its order
    types."""
    return str(entry.get("label") or ", ".join(entry["order_types"]))


def _set(config: dict, dotted: str, value) -> None:
    """Set ``dotted`` in ``config`` only where the config carries its block (a rule's params
    carry only the keys its stage reads)."""
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
        if part not in node:
            return
        node = node[part]
    if leaf in node:
        node[leaf] = copy.deepcopy(value)


def categories(config: dict, study: str) -> dict:
    """The study's ``categories`` block: its own, if it gives one; else (A138) ``breach`` (the
    breach offences of its order types, unless ``breach_category: false``), its order types'
    target categories, then the config's ``categories`` that are no order type's target, and
    the default (:func:`strostudy.order_types.categories_for`).  A target category that the
    config's ``categories`` also defines keeps the config's definition."""
    entry = config["studies"][study]
    if entry.get("categories"):
        return copy.deepcopy(entry["categories"])
    from .order_types import BREACH, categories_for

    general = config["categories"]
    out = categories_for(list(entry["order_types"]), general=general)
    if not entry.get("breach_category", True):
        out.pop(BREACH, None)
    return {name: copy.deepcopy(general[name]) if name in general and name != "default" else rule
            for name, rule in out.items()}


def resolve(config: dict, study: str) -> dict:
    """The config a stage of ``study`` runs with: ``config`` (whole, or the keys a rule passes
    on, with the ``studies`` block) with the study's overrides applied, its categories, and
    ``study.name``, ``study.order_types`` and ``study.label`` set."""
    if study not in (config.get("studies") or {}):
        raise StrostudyError(f"study {study!r} is not in the config's studies ({', '.join(names(config)) or 'none'})")
    out = copy.deepcopy(config)
    entry = config["studies"][study]
    for key, dotted in OVERRIDES.items():
        if key in entry:
            _set(out, dotted, entry[key])
    if "categories" in out:
        out["categories"] = categories(config, study)
    own = dict(entry.get("harm") or {})
    if own:  # the study's own harm index (A140): the keys it gives replace harm's
        out["harm"] = {**(out.get("harm") or {}), **own}
    out.setdefault("study", {})
    out["study"].update(name=study, order_types=list(entry["order_types"]), label=label(entry),
                        own_harm_table="table" in own)
    return out


def harm_file(config: dict, study: str) -> list[str]:
    """The study's own harm table, as a file the harm rule reads (so editing it re-runs the
    study's harm stage): ``[path]``, or ``[]`` when the study uses harm's (or the curated) table."""
    table = ((config.get("studies") or {}).get(study) or {}).get("harm", {}).get("table")
    return [] if table in (None, "curated") else [str(table)]


# --------------------------------------------------------------------------- order types


def canonical_order_type(raw):
    """Each order's type as the package's short name (STRO, SHPO, ...): the word "interim"
    dropped (an interim order has its full order's type), spaces squeezed, upper case; a full
    name from ``data/order_types.csv`` (``Slavery and trafficking risk order``) becomes its
    short name.  Anything else (a type the package does not know, a blank, or whatever was typed
    into the cell) becomes ``OTHER``, which no study takes: the column is free text from the
    extract, and only the package's own codes may pass ``data/interim/`` (A138)."""
    import pandas as pd

    from .order_types import order_types

    text = (pd.Series(raw, dtype="string").str.replace(r"(?i)\binterim\b", " ", regex=True)
            .str.replace(r"\s+", " ", regex=True).str.strip())
    known = order_types()
    upper = text.str.upper()
    by_name = upper.map(dict(zip(known["name"].str.upper(), known["order_type"])))
    code = upper.where(upper.isin(set(known["order_type"])), by_name)
    return code.fillna(OTHER).astype("string")


def study_episodes(order_episodes, order_types):
    """The study's episodes from reconciliation's (one per person and order type): those of its
    ``order_types``, one per person.  A person holding orders of two of the study's types enters
    once, from the episode that starts first (A138: the earliest possible start, then the
    order the study lists its types in); ``n_orders`` counts the orders of every one of them and
    ``has_interim`` is true if any was interim."""
    wanted = [str(t) for t in order_types]
    ep = order_episodes.loc[order_episodes["order_type"].isin(wanted)].copy()
    rank = ep["order_type"].map({t: i for i, t in enumerate(wanted)}).astype("int64")
    ep = ep.assign(_rank=rank).sort_values(["subject_id", "start_earliest", "_rank"], kind="stable",
                                          na_position="last")
    first = ep.drop_duplicates("subject_id").set_index("subject_id")
    by = ep.groupby("subject_id")
    first["n_orders"] = by["n_orders"].sum().astype(first["n_orders"].dtype)
    first["has_interim"] = by["has_interim"].any()
    out = first.drop(columns=["_rank", "order_type"]).reset_index()
    return out.sort_values("subject_id").reset_index(drop=True)[[c for c in order_episodes.columns
                                                                  if c != "order_type"]]
