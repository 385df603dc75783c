"""The planted truth: what the pipeline should find in the extracts.

- ``subject_windows``: each analysed subject's arrests and harm before and after, overall and
  by category;
- ``cohort_flow``: orders listed, with full windows, excluded (by reason) and analysed;
- ``episodes``: every order episode with its role;
- ``events``: every arrest, its window and month, the systems that recorded it, and any
  problem planted on its PNC row;
- ``discrepancies``: every planted disagreement between extracts the pipeline can observe;
- ``effects``: the true rate ratio of arrests and of harm, per category, that the scenario
  planted (``published``: the design's after/before ratio; docs/simulator.md);
- ``custody``: the custody and deportation spells (``incapacitation``; empty otherwise), of
  order people and comparison people (``group``);
- ``identity_errors``: every keying error planted in a PND or ROCU name or DOB (the record,
  the field, the error and the value before and after; :mod:`.extracts.identity_errors`);
- ``comparison``: every comparison-pool person (index date, basis, full windows, listed twice);
- ``comparison_events``: every pool arrest, as ``events`` has the order people's (month and
  window on the index date's clock);
- ``comparison_discrepancies``: everything planted on the pool's records (the comparison list's
  blank PNC IDs and second listings, and the PND mess and keying errors, in the form of
  ``discrepancies``'s rows, ``id_error_<kind>`` for a keying error), whether or not the
  pipeline can observe it.  None of the pool's mess is in ``discrepancies`` or
  ``identity_errors``, which stay the order people's.

The pipeline never reads the truth directory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import fmt_dates
from .design import CATEGORIES, EXCLUSIONS

DISCREPANCY_COLUMNS = ["subject_id", "field", "source_pair", "detail", "kind"]


def note(frame: pd.DataFrame, field: str, pair: str, detail, kind: str) -> pd.DataFrame:
    """Discrepancy rows, one per row of ``frame`` (which carries ``subject_id``): the ``field``
    the extracts of ``pair`` disagree on, a ``detail`` (one, or one per row) and its ``kind``."""
    return pd.DataFrame({"subject_id": frame["subject_id"].to_numpy(), "field": field, "source_pair": pair,
                         "detail": detail, "kind": kind})


def build_truth(episodes: pd.DataFrame, arrests: pd.DataFrame, discrepancies: pd.DataFrame,
                junk: pd.DataFrame, effects: pd.DataFrame | None = None,
                spells: pd.DataFrame | None = None, window: int | None = None) -> dict[str, pd.DataFrame]:
    """The truth tables.  ``junk`` lists the PNC rows planted as junk (``arrest_id``, ``kind``),
    ``effects`` the planted rate ratios, ``spells`` the custody spells (``subject_row``,
    ``start``, ``end``, ``kind``).  Episodes with an ``order_type`` column (several order
    types, :mod:`.multi`) give ``order_type`` columns, a cohort flow per type and windows per
    analysed order (``window``: the study's window in months)."""
    junk = junk.drop_duplicates("arrest_id")
    planted_errors = discrepancies["kind"].astype(str).str.startswith(IDENTITY_ERROR)
    identity_errors = _identity_errors(discrepancies.loc[planted_errors])
    discrepancies = discrepancies.loc[~planted_errors, DISCREPANCY_COLUMNS]
    several = "order_type" in episodes.columns
    truth = {"subject_windows": _order_windows(episodes, arrests, window) if several
             else _subject_windows(episodes, arrests),
             "cohort_flow": _type_flows(episodes) if several else _cohort_flow(episodes),
             "discrepancies": _observable(discrepancies, episodes, arrests, junk),
             "episodes": _episode_table(episodes), "events": _events(arrests, junk)}
    if effects is not None:
        truth["effects"] = effects
    if spells is not None:
        truth["custody"] = _custody(episodes, spells)
    truth["identity_errors"] = identity_errors
    return truth


#: The kind prefix of a planted identity error's note.
IDENTITY_ERROR = "id_error_"


def _identity_errors(notes: pd.DataFrame) -> pd.DataFrame:
    """One row per planted identity error: ``subject_id``, ``source`` (pnd_records or
    rocu_orders), ``record`` (its pnd_ref or order_ref), ``field``, ``error`` and the value
    ``before`` and ``after``."""
    detail = notes["detail"].astype(str).str.extract(r"^(?P<record>[^:]*): (?P<before>.*) -> (?P<after>.*)$")
    table = pd.DataFrame({
        "subject_id": notes["subject_id"].to_numpy(),
        "source": notes["source_pair"].map({"orders~pnd": "pnd_records", "orders~rocu": "rocu_orders"}).to_numpy(),
        "record": detail["record"].to_numpy(), "field": notes["field"].to_numpy(),
        "error": notes["kind"].astype(str).str.removeprefix(IDENTITY_ERROR).to_numpy(),
        "before": detail["before"].to_numpy(), "after": detail["after"].to_numpy()})
    return table.sort_values(["source", "record", "field"], kind="stable").reset_index(drop=True)


CUSTODY_TRUTH_COLUMNS = ["subject_id", "start", "end", "kind", "group"]


def _custody(episodes: pd.DataFrame, spells: pd.DataFrame) -> pd.DataFrame:
    return custody_truth([(episodes, spells, "order")])


def custody_truth(groups: list[tuple[pd.DataFrame, pd.DataFrame, str]]) -> pd.DataFrame:
    """The spells of each (people, spells, group): ``subject_id``, ``start``, ``end``, ``kind``
    (custody | deported) and ``group`` (order | comparison)."""
    tables = [pd.DataFrame({"subject_id": people["subject_id"].reindex(spells["subject_row"]).to_numpy(),
                            "start": spells["start"].dt.strftime("%Y-%m-%d").to_numpy(),
                            "end": spells["end"].dt.strftime("%Y-%m-%d").to_numpy(),
                            "kind": spells["kind"].to_numpy(), "group": group})
              for people, spells, group in groups]
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CUSTODY_TRUTH_COLUMNS})
    table = pd.concat(tables, ignore_index=True)[CUSTODY_TRUTH_COLUMNS]
    return table.sort_values(["subject_id", "start"]).reset_index(drop=True)


COMPARISON_TRUTH_COLUMNS = ["subject_id", "comparison_ref", "index_date", "basis", "full_windows", "listed_twice"]
EVENT_COLUMNS = ["subject_id", "event_date", "cjs_code", "category", "harm_score", "window", "month", "in_pnc",
                 "in_pnd", "in_rocu", "pnd_lag_days", "designed", "planted_problem"]


def comparison_truth(pool, first: pd.DataFrame | None, junk: pd.DataFrame | None,
                     notes: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The comparison pool's truth tables (empty, with their columns, without a pool):
    ``comparison`` (one row per person; ``first``: each one's first listing and whether they
    were listed twice), ``comparison_events`` (every pool arrest, with any PNC junk planted on it,
    ``junk``) and ``comparison_discrepancies`` (``notes``: everything planted on the pool)."""
    if pool is None:
        def empty(columns):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})

        return {"comparison": empty(COMPARISON_TRUTH_COLUMNS), "comparison_events": empty(EVENT_COLUMNS),
                "comparison_discrepancies": empty(DISCREPANCY_COLUMNS)}
    people = pool.people
    table = pd.DataFrame({"subject_id": people["subject_id"].to_numpy(), "index_date": fmt_dates(
        people["start_date"], "%Y-%m-%d").to_numpy(), "basis": people["basis"].to_numpy(),
        "full_windows": people["eligible"].to_numpy(dtype=bool)}).merge(first, on="subject_id", how="left")
    table = table[COMPARISON_TRUTH_COLUMNS].sort_values("subject_id").reset_index(drop=True)
    notes = notes.assign(detail=notes["detail"].astype(str))[DISCREPANCY_COLUMNS]
    return {"comparison": table, "comparison_events": _events(pool.arrests, junk.drop_duplicates("arrest_id")),
            "comparison_discrepancies": notes.sort_values(["kind", "subject_id", "detail"],
                                                          kind="stable").reset_index(drop=True)}


def _subject_windows(episodes: pd.DataFrame, arrests: pd.DataFrame) -> pd.DataFrame:
    analysed = episodes.loc[episodes["role"] == "analysed"]
    inwin = arrests.loc[arrests["subject_row"].isin(analysed.index) & (arrests["window"] != "outside")]
    grid = pd.MultiIndex.from_product([analysed["subject_id"], ["overall", *CATEGORIES]],
                                      names=["subject_id", "category"])
    long = pd.concat([inwin.assign(category="overall"), inwin])
    agg = long.pivot_table(index=["subject_id", "category"], columns="window", values="cchi_score",
                           aggfunc=["count", "sum"], fill_value=0)
    sw = pd.DataFrame(index=grid)
    for period in ("before", "after"):
        sw[f"events_{period}"] = agg.get(("count", period), pd.Series(dtype=float)).reindex(grid).fillna(0).astype(int)
        sw[f"harm_{period}"] = agg.get(("sum", period), pd.Series(dtype=float)).reindex(grid).fillna(0.0)
    sw = sw.reset_index()
    sw["category"] = pd.Categorical(sw["category"], ["overall", *CATEGORIES], ordered=True)
    sw = sw.sort_values(["subject_id", "category"]).reset_index(drop=True)
    sw["category"] = sw["category"].astype(str)
    return sw


def _cohort_flow(episodes: pd.DataFrame) -> pd.DataFrame:
    n_all = len(episodes)
    el = episodes.loc[episodes["eligible"]]
    n_analysed = int((episodes["role"] == "analysed").sum())
    reasons = el["role"].loc[el["role"] != "analysed"].value_counts()
    flow = [{"step": "orders_listed", "n_in": n_all, "n_out": n_all, "reason": "", "n": 0},
            {"step": "full_windows", "n_in": n_all, "n_out": len(el), "reason": "window_outside_data_period",
             "n": n_all - len(el)}]
    flow += [{"step": "exclusions", "n_in": len(el), "n_out": n_analysed, "reason": r, "n": int(reasons.get(r, 0))}
             for r in EXCLUSIONS]
    return pd.DataFrame(flow)


def _type_flows(episodes: pd.DataFrame) -> pd.DataFrame:
    """The cohort flow of each order type (several order types)."""
    kinds = list(dict.fromkeys(episodes["order_type"]))
    flows = [_cohort_flow(episodes.loc[episodes["order_type"] == k]).assign(order_type=k) for k in kinds]
    table = pd.concat(flows, ignore_index=True)
    return table[["order_type", *[c for c in table.columns if c != "order_type"]]]


def _order_windows(episodes: pd.DataFrame, arrests: pd.DataFrame, window: int) -> pd.DataFrame:
    """``subject_windows`` per analysed order (several order types): every arrest of the
    person, whichever order's episode drew it, in the windows of that order."""
    from ._independent import month_index

    analysed = episodes.loc[episodes["role"] == "analysed", ["subject_id", "order_ref", "order_type", "start_date"]]
    ev = arrests[["subject_id", "date", "cchi_score", "category"]].merge(analysed, on="subject_id")
    month = month_index(ev["date"], ev["start_date"])
    ev["window"] = np.select([month.between(-window, -1), month.between(0, window - 1)], ["before", "after"],
                             "outside")
    # _subject_windows keyed on the order: its reference stands in for the subject id.
    keyed = analysed.assign(subject_id=analysed["order_ref"], role="analysed").reset_index(drop=True)
    ev = ev.assign(subject_id=ev["order_ref"], subject_row=keyed.index.to_numpy()[
        pd.Index(keyed["order_ref"]).get_indexer(ev["order_ref"])])
    table = _subject_windows(keyed, ev).rename(columns={"subject_id": "order_ref"})
    table = table.merge(analysed[["subject_id", "order_ref", "order_type"]], on="order_ref", how="left")
    table = table[["subject_id", "order_type", "order_ref", *[c for c in table.columns
                                                              if c not in ("subject_id", "order_type", "order_ref")]]]
    order = pd.Categorical(table["category"], ["overall", *CATEGORIES], ordered=True)
    return table.assign(_c=order).sort_values(["subject_id", "order_ref", "_c"]).drop(columns="_c").reset_index(drop=True)


def _episode_table(episodes: pd.DataFrame) -> pd.DataFrame:
    several = ["order_type"] if "order_type" in episodes.columns else []
    return episodes.assign(
        start_date=episodes["start_date"].dt.strftime("%Y-%m-%d"),
        analysed=episodes["role"].eq("analysed"),
        exclusion_reason=episodes["role"].where(~episodes["role"].isin(["analysed", "not_eligible"]), ""),
    )[["subject_id", *several, "order_ref", "start_date", "length_months", "region", "eligible", "analysed",
       "exclusion_reason", "has_interim", "county_lines"]]


def _events(arrests: pd.DataFrame, junk: pd.DataFrame) -> pd.DataFrame:
    # Several order types: which order's episode drew the arrest (its window and month are on
    # that order's clock).
    several = ["order_type"] if "order_type" in arrests.columns else []
    ev = arrests.assign(event_date=fmt_dates(arrests["date"], "%Y-%m-%d"))[
        ["subject_id", *several, "event_date", "cjs_code", "category", "cchi_score", "window", "month", "in_pnc",
         "in_pnd", "in_rocu", "pnd_lag", "designed", "arrest_id"]].rename(columns={"cchi_score": "harm_score",
                                                                         "pnd_lag": "pnd_lag_days"})
    ev["pnd_lag_days"] = ev["pnd_lag_days"].where(ev["in_pnd"]).astype("Int64")
    ev = ev.merge(junk, on="arrest_id", how="left").rename(columns={"kind": "planted_problem"})
    ev["planted_problem"] = ev["planted_problem"].fillna("")
    return ev.sort_values(["subject_id", "event_date", "arrest_id"]).drop(columns="arrest_id").reset_index(drop=True)


def _observable(discrepancies: pd.DataFrame, episodes: pd.DataFrame, arrests: pd.DataFrame,
                junk: pd.DataFrame) -> pd.DataFrame:
    """Keep what the pipeline can observe: nothing PND-level about people it cannot identify,
    and nothing about arrests with a PNC row planted as junk (quarantined)."""
    discrepancies = discrepancies.assign(detail=discrepancies["detail"].astype(str))
    pnd_kinds = ["arrest_date", "arrest_not_in_pnc", "arrest_not_in_pnd", "offence_wording", "name_spelling",
                 "name_order"]
    unresolved = set(episodes.loc[episodes["role"] == "identity_unresolved", "subject_id"])
    junk_arrests = arrests.loc[arrests["arrest_id"].isin(junk["arrest_id"])]
    junk_keys = set(zip(junk_arrests["subject_id"], junk_arrests["date"].dt.strftime("%Y-%m-%d")))
    hidden = discrepancies["kind"].isin(pnd_kinds) & (
        discrepancies["subject_id"].isin(unresolved)
        | pd.Series(list(zip(discrepancies["subject_id"], discrepancies["detail"]))).isin(junk_keys).to_numpy())
    discrepancies = discrepancies.loc[~hidden]
    return discrepancies.sort_values(["kind", "subject_id", "detail"], kind="stable").reset_index(drop=True)
