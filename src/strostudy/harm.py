"""Harm scores and offence categories for arrests, and the audit ledger that closes the
row accounts.

The weights come from the harm index step (:mod:`strostudy.offences`).  An arrest scores its principal (most harmful) offence, or the sum of its
offences (A13); codes match on the CJS code first, then the Home Office class (A14); unknown
codes are quarantined or given a named fallback, never silently 0 (A15).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from . import categories
from .errors import StrostudyError
from .offences import curated_weights, load_weights, read_cchi_workbook  # noqa: F401 - the harm API


def categorise(codes: pd.Series, groups: pd.Series, categories_cfg: dict) -> pd.Series:
    """Category of each offence from its CJS code and Home Office group (A19)."""
    code = codes.astype("string").str.upper().fillna("")
    group = groups.astype("string").str.upper().fillna("")
    out = pd.Series(categories_cfg["default"], index=codes.index, dtype="string")
    # Earlier categories win, so modern slavery (listed first) claims CJA 2009 s71 from violence.
    for name, rule in reversed(list(categories.rules(categories_cfg).items())):
        hit = code.isin([c.upper() for c in rule.get("cjs_codes", [])])
        for prefix in rule.get("cjs_prefixes", []):
            hit |= code.str.startswith(prefix.upper())
        hit |= group.isin([g.upper() for g in rule.get("ho_groups", [])])
        out = out.mask(hit, name)
    return out


def _one_score_per(weights: pd.DataFrame, key: str, rule: str) -> pd.DataFrame:
    """Collapse rows sharing ``key`` to one score by ``rule`` (A14); the other columns come
    from the row with the lowest score."""
    w = weights.dropna(subset=[key, "score"])
    score = w.groupby(key)["score"].agg({"min": "min", "max": "max", "median": "median"}[rule])
    return w.sort_values([key, "score"]).drop_duplicates(key).set_index(key).assign(score=score)


def score_offences(offences: pd.DataFrame, weights: pd.DataFrame, harm_cfg: dict,
                   categories_cfg: dict) -> pd.DataFrame:
    """Add ``score``, ``matched_code``, ``match`` (cjs | ho_class | fallback | unknown) and
    ``category`` to offences with columns ``cjs_code`` and ``ho_class``."""
    rule = harm_cfg["class_rule"]
    by_code = _one_score_per(weights, "cjs_code", rule)
    by_class = _one_score_per(weights, "ho_class", rule)
    code = offences["cjs_code"].astype("string").str.strip().str.upper()
    hoc = offences["ho_class"].astype("string").str.strip()
    s_code = code.map(by_code["score"])
    s_class = hoc.map(by_class["score"])
    match = np.select([s_code.notna(), s_class.notna()], ["cjs", "ho_class"], "unknown")
    score = s_code.fillna(s_class)
    group = code.map(by_code["ho_group"]).fillna(hoc.map(by_class["ho_group"]))
    matched = code.where(s_code.notna(), hoc.map(by_class["cjs_code"]))
    if harm_cfg["unknown_code"] == "fallback":
        score = score.fillna(float(harm_cfg["fallback_score"]))
        match = np.where(match == "unknown", "fallback", match)
    out = offences.assign(score=score.astype(float), matched_code=matched, match=match)
    out["category"] = categorise(code.fillna(matched.fillna("")), group, categories_cfg)
    return out


def score_events(events: pd.DataFrame, offences: pd.DataFrame, weights: pd.DataFrame, harm_cfg: dict,
                 categories_cfg: dict, index_name: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Score each arrest event from its offences.

    ``events`` has ``event_id`` (plus anything else, carried through); ``offences`` has
    ``event_id, cjs_code, ho_class``.  Returns (scored events, quarantined events with the
    reason, unknown codes with counts).
    """
    scored = score_offences(offences, weights, harm_cfg, categories_cfg)
    unknown_rows = scored["match"].eq("unknown")
    unknown = (scored.loc[unknown_rows]
               .assign(cjs_code=lambda d: d["cjs_code"].fillna(""), ho_class=lambda d: d["ho_class"].fillna(""))
               .groupby(["cjs_code", "ho_class"], dropna=False).agg(offences=("event_id", "size"),
                                                                    arrests=("event_id", "nunique"))
               .reset_index().sort_values(["arrests", "cjs_code"], ascending=[False, True]))
    bad_events = scored.loc[unknown_rows, "event_id"].unique()
    # The principal offence: highest score; ties go to the alphabetically first code so the
    # choice does not depend on row order.
    usable = scored.loc[~scored["event_id"].isin(bad_events)]
    ranked = usable.sort_values(["event_id", "score", "matched_code"], ascending=[True, False, True])
    principal = ranked.drop_duplicates("event_id").set_index("event_id")
    total = usable.groupby("event_id")["score"].sum()
    how = harm_cfg["arrest_score"]
    result = events.loc[~events["event_id"].isin(bad_events)].copy()
    result["harm_score"] = result["event_id"].map(principal["score"] if how == "principal" else total).astype(float)
    result["harm_index"] = index_name
    result["category"] = result["event_id"].map(principal["category"])
    result["matched_code"] = result["event_id"].map(principal["matched_code"])
    result["match"] = result["event_id"].map(principal["match"])
    result["n_offences"] = result["event_id"].map(usable.groupby("event_id").size()).astype("Int64")
    no_offence = result["harm_score"].isna()
    if no_offence.any():
        raise StrostudyError(f"{int(no_offence.sum())} arrest event(s) have no offence rows to score "
                             f"(first: {result.loc[no_offence, 'event_id'].iloc[0]}); this is a bug in the "
                             "reconcile stage - please report it")
    quarantined = events.loc[events["event_id"].isin(bad_events)].assign(
        check="unknown_offence_code",
        detail=lambda d: d["event_id"].map(
            scored.loc[unknown_rows].groupby("event_id")["cjs_code"].agg(
                lambda c: ", ".join(sorted(c.fillna("(blank)").astype(str).unique())))))
    return result, quarantined, unknown


def audit_ledger(outcomes: pd.DataFrame, rows_read: dict[str, int]) -> pd.DataFrame:
    """Per source: rows read = kept + merged + quarantined, broken down by reason."""
    counts = outcomes.groupby(["source", "outcome", "reason"]).size().rename("rows").reset_index()
    totals = outcomes.groupby("source").size()
    read = pd.DataFrame({"source": list(rows_read), "outcome": "read", "reason": "",
                         "rows": list(rows_read.values())})
    ledger = pd.concat([read, counts], ignore_index=True)
    ledger["balances"] = ledger["source"].map(lambda s: int(totals.get(s, 0)) == int(rows_read.get(s, -1)))
    order = {"read": 0, "kept": 1, "merged": 2, "quarantined": 3}
    return ledger.sort_values(["source", "outcome", "reason"], key=lambda c: c.map(order) if c.name == "outcome"
                              else c).reset_index(drop=True)


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The harm stage of one study: the study's episodes (its order types, A138); each arrest
    event scored once and categorised by the study's categories; and the audit ledger closed
    (rows behind events quarantined here become quarantined rows).  ``config`` is the study's
    (:func:`strostudy.studies.resolve`)."""
    from . import tables
    from .stages import say
    from .studies import study_episodes

    harm_cfg = config["harm"]
    order_types = config.get("study", {}).get("order_types")
    if not order_types:
        raise StrostudyError("the harm stage needs the study's order types (study.order_types); run it through "
                             "the workflow, or pass strostudy.studies.resolve(config, study)")
    episodes = tables.read("order_episodes", inputs["order_episodes"])
    mine = study_episodes(episodes, order_types)
    if config["study"].get("own_harm_table"):
        # The study's own index (A140): its weights loaded here, for this study alone.
        from .offences import load_weights

        weights = load_weights(harm_cfg)
        say(f"harm: the study's own index, {len(weights):,} offence codes from {harm_cfg['table']}", log)
    else:
        weights = tables.read("harm_weights", inputs["harm_weights"])
    events = tables.read("linked_events", inputs["linked_events"])
    offences = tables.read("event_offences", inputs["event_offences"])
    scored, quarantined, unknown = score_events(events, offences, weights, harm_cfg, config["categories"],
                                                harm_cfg["index_name"])
    outcomes = tables.read("row_outcomes", inputs["row_outcomes"])
    hit = outcomes["event_id"].isin(quarantined["event_id"])
    outcomes.loc[hit, "outcome"] = "quarantined"
    outcomes.loc[hit, "reason"] = "unknown_offence_code"
    ledger = audit_ledger(outcomes, json.loads(Path(inputs["rows_read"]).read_text()))
    # The order subjects' events, and the comparison pool's (issue 13), apart: the study's tables
    # read only the first.
    pool = scored["group"].eq("comparison") if "group" in scored else pd.Series(False, index=scored.index)
    # Arrests of people who hold only orders of other types belong to those types' studies.
    other = ~pool & ~scored["subject_id"].isin(mine["subject_id"])
    tables.write(mine, "orders", output["orders"])
    tables.write(scored.loc[~pool & ~other].drop(columns="group", errors="ignore"), "events", output["events"])
    tables.write(scored.loc[pool].drop(columns="group", errors="ignore"), "comparison_events",
                 output["comparison_events"])
    tables.write(unknown, "unknown_codes", output["unknown_codes"])
    tables.write(ledger, "audit_ledger", output["audit_ledger"])
    tables.write(quarantined, "quarantine_harm", output["quarantine_harm"])
    if not ledger["balances"].all():
        bad = ledger.loc[~ledger["balances"], "source"].unique()
        raise StrostudyError(f"audit ledger does not balance for {', '.join(bad)}; this is a bug, please report it")
    if mine.empty:  # most likely a study naming a type the order list spells otherwise
        listed = episodes["order_type"].value_counts().sort_index()
        say(f"{config['study'].get('name', 'study')}: no order on the order list is of type {', '.join(order_types)}; "
            f"its types are {', '.join(f'{t} ({n})' for t, n in listed.items()) or 'none'}. Check the study's "
            "order_types in config.yaml (studies:)", log)
    say(f"{config['study'].get('name', 'study')}: {len(mine):,} order episodes of {', '.join(order_types)} "
        f"(of {episodes['subject_id'].nunique():,} people with any order); scored {len(scored):,} arrest events "
        f"({int(pool.sum()):,} of the comparison pool, {int(other.sum()):,} of people with only other order types) on "
        f"{harm_cfg['index_name']}; {len(quarantined):,} quarantined for {len(unknown):,} unknown offence code(s)", log)
    return scored
