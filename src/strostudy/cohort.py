"""The study cohort: episodes with full windows, the exclusions, and per-subject windows."""

from __future__ import annotations

import pandas as pd

from . import categories
from .dates import add_months, full_windows
from .errors import StrostudyError

EXCLUSION_RULES = {
    "identity_unresolved": "person could not be identified from the order list (A11, A12)",
    "no_usable_start_date": "start date known only to the month or year, with no ROCU day (A7)",
    "no_rocu_return": "no ROCU return where one is required (cohort.require_rocu_return)",
    "order_ended_in_window": "order discharged or quashed inside the after window",
}


def exclusion_reasons(episodes: pd.DataFrame, config: dict) -> pd.DataFrame:
    """A boolean column per exclusion rule (an episode can meet several)."""
    window = int(config["study"]["window_months"])
    ended = episodes["status"].astype("string").str.lower().str.contains("discharg|quash").fillna(False)
    end_date = add_months(episodes["start_earliest"], window)
    return pd.DataFrame({
        "identity_unresolved": episodes["identity"].isin(["ambiguous", "unmatched"]),
        "no_usable_start_date": ~episodes["start_usable"].astype(bool),
        "no_rocu_return": ~episodes["rocu_return"].astype(bool) & bool(config["cohort"]["require_rocu_return"]),
        "order_ended_in_window": ended & (pd.to_datetime(episodes["status_date"]) < end_date).fillna(True),
    }, index=episodes.index)


def build_cohort(episodes: pd.DataFrame, config: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(episodes with ``full_windows``, ``exclusion`` and ``analysed``; the cohort flow).

    Exclusions are applied in the configured order; an episode is counted under the first
    reason it meets, and ``all_reasons`` lists every one."""
    ep = episodes.copy()
    ep["full_windows"] = full_windows(ep, config["study"])
    reasons = exclusion_reasons(ep, config)
    order = list(config["cohort"]["exclusions"])
    first = pd.Series(pd.NA, index=ep.index, dtype="string")
    for name in reversed(order):
        first = first.mask(reasons[name], name)
    ep["exclusion"] = first.where(ep["full_windows"])
    joined = pd.Series("", index=ep.index)
    for name in order:
        joined = joined.where(~reasons[name], joined.where(joined == "", joined + ";") + name)
    ep["all_reasons"] = joined.where(ep["full_windows"], "")
    ep["analysed"] = ep["full_windows"] & ep["exclusion"].isna()
    n_all, n_full, n_an = len(ep), int(ep["full_windows"].sum()), int(ep["analysed"].sum())
    counts = ep["exclusion"].value_counts()
    flow = [{"step": "orders_listed", "n_in": n_all, "n_out": n_all, "reason": "", "n": 0},
            {"step": "full_windows", "n_in": n_all, "n_out": n_full, "reason": "window_outside_data_period",
             "n": n_all - n_full}]
    flow += [{"step": "exclusions", "n_in": n_full, "n_out": n_an, "reason": r, "n": int(counts.get(r, 0))}
             for r in order]
    return ep, pd.DataFrame(flow)


def window_events(events: pd.DataFrame, cohort: pd.DataFrame, config: dict) -> pd.DataFrame:
    """Analysed subjects' arrests inside their windows, with ``month`` on each subject's own
    clock (A20) and ``window`` before/after (A3)."""
    from .dates import month_index

    window = int(config["study"]["window_months"])
    starts = cohort.loc[cohort["analysed"]].set_index("subject_id")["start_date"]
    ev = events.loc[events["subject_id"].isin(starts.index)].copy()
    ev["event_date"] = pd.to_datetime(ev["event_date"])
    start = pd.Series(starts.reindex(ev["subject_id"]).to_numpy(), index=ev.index)  # (map fails on empty frames)
    ev["month"] = month_index(ev["event_date"], start)
    if config["study"]["start_date_counts_as"] == "before":
        ev.loc[ev["event_date"] == start, "month"] = -1
    ev = ev.loc[ev["month"].between(-window, window - 1)]
    ev["window"] = (ev["month"] >= 0).map({True: "after", False: "before"})
    return ev.reset_index(drop=True)


def _category_list(windowed: pd.DataFrame, categories_cfg: dict) -> list[str]:
    """The config's categories, in order; an event of any other category stops the run
    rather than vanishing from the tables."""
    names = categories.names(categories_cfg)
    stray = sorted(set(windowed["category"].astype(str)) - set(names))
    if stray:
        raise StrostudyError(f"events.csv has arrests in categories {', '.join(stray)} that config.yaml's "
                             f"categories ({', '.join(names[1:])}) do not list; re-run the workflow from the harm "
                             "stage (snakemake --forcerun harm) so events are categorised with the current config")
    return names


def subject_windows(windowed: pd.DataFrame, cohort: pd.DataFrame, categories_cfg: dict) -> pd.DataFrame:
    """Events and harm before and after, per analysed subject and category (``overall``,
    then the config's categories in order), zeros included."""
    names = _category_list(windowed, categories_cfg)
    subjects = cohort.loc[cohort["analysed"], "subject_id"].sort_values()
    grid = pd.MultiIndex.from_product([subjects, names], names=["subject_id", "category"])
    both = pd.concat([windowed.assign(category="overall"), windowed])
    agg = both.groupby(["subject_id", "category", "window"])["harm_score"].agg(["size", "sum"]).unstack("window")
    out = pd.DataFrame(index=grid)
    for period in ("before", "after"):
        out[f"events_{period}"] = agg.get(("size", period), pd.Series(dtype=float)).reindex(grid).fillna(0).astype(int)
        out[f"harm_{period}"] = agg.get(("sum", period), pd.Series(dtype=float)).reindex(grid).fillna(0.0)
    out = out.reset_index()
    out["category"] = pd.Categorical(out["category"], names, ordered=True)
    return out.sort_values(["category", "subject_id"]).assign(category=lambda d: d["category"].astype(str)) \
        .reset_index(drop=True)


def monthly_series(windowed: pd.DataFrame, cohort: pd.DataFrame, config: dict) -> pd.DataFrame:
    """Arrests and harm per month of the subjects' own clocks (-W .. W-1), summed over the
    analysed subjects, overall and per category, zeros included (A20)."""
    window = int(config["study"]["window_months"])
    names = _category_list(windowed, config["categories"])
    n = int(cohort["analysed"].sum())
    months = range(-window, window)
    both = pd.concat([windowed.assign(category="overall"), windowed])
    agg = both.groupby(["category", "month"])["harm_score"].agg(events="size", harm="sum")
    grid = pd.MultiIndex.from_product([names, months], names=["category", "month"])
    agg = agg.reindex(grid, fill_value=0)
    out = agg.reset_index().melt(id_vars=["category", "month"], var_name="measure", value_name="value")
    out["subjects_at_risk"] = n  # full windows: every analysed subject is observed every month
    out["category"] = pd.Categorical(out["category"], names, ordered=True)
    out = out.sort_values(["measure", "category", "month"]).assign(category=lambda d: d["category"].astype(str))
    return out[["month", "measure", "category", "value", "subjects_at_risk"]].reset_index(drop=True)


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The cohort stage: episodes and events in; the flow, the cohort, per-subject windows
    and the monthly series out."""
    from . import tables
    from .stages import say

    cohort, flow = build_cohort(tables.read("orders", inputs["orders"]), config)
    windowed = window_events(tables.read("events", inputs["events"]), cohort, config)
    tables.write(flow, "cohort_flow", output["cohort_flow"])
    tables.write(cohort[["subject_id", "full_windows", "exclusion", "all_reasons", "analysed", "start_date"]],
                 "cohort", output["cohort"])
    tables.write(subject_windows(windowed, cohort, config["categories"]), "subject_windows", output["subject_windows"])
    tables.write(monthly_series(windowed, cohort, config), "monthly_series", output["monthly_series"])
    say(f"cohort: {flow['n_out'].iloc[0]} orders -> {flow['n_out'].iloc[1]} with full windows -> "
        f"{int(cohort['analysed'].sum())} analysed; {len(windowed):,} arrests in their windows", log)
    return cohort
