"""The automatic sensitivity panel (issue 13, item 5; docs/sensitivity.md).

Every row re-computes the study's main estimator - the after/before rate ratio of the
analysed subjects' totals, sum(after) / sum(before), with the interval the main result uses
(``prepost.reduction_interval``: Fieller's or the paired BCa bootstrap), on the ratio scale -
after changing one thing:

* ``window_<W>``: windows of W months (the configured window and the panel's ``windows``); the
  cohort is rebuilt, so fewer orders have full windows at longer W.  The row of the configured
  window IS the main result (``1 - reduction_pct / 100`` of ``prepost_tests``).
* ``breaches_excluded``: arrests whose principal offence is a breach of the study's own order
  type dropped.
* ``intention_to_treat``: orders discharged or quashed inside the after window kept in.
* ``washout_<k>``: months -k .. -1 dropped from the before window, the before total scaled by
  W / (W - k) so that rates, not counts, are compared.
* ``leave_one_out_lowest`` / ``leave_one_out_highest``: the ratio with each subject left out in
  turn (no interval); the note gives the most influential subject's share of the totals.
* ``time_at_risk``: the order group's Poisson rate ratio with a log(days at risk) offset and a
  subject-clustered interval (CR2 with Satterthwaite df by default, A131;
  :func:`strostudy.comparison.naive_prepost`).
* ``negative_control``: the ratio for arrests whose principal offence is in a category the
  order should not affect (motoring by default).
* ``alternative_harm_index``: harm re-scored on another index (not built yet: the row says so).

Functions take DataFrames and the merged config and return DataFrames; nothing here reads or
writes a file.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from . import categories as cats
from .cohort import build_cohort, subject_windows, window_events
from .errors import StrostudyError
from .prepost import MEASURES, NO_SUBJECTS, min_pairs, reduction_ci

PANEL_COLUMNS = ["analysis", "measure", "category", "estimate", "ci_low", "ci_high", "n_subjects", "note"]

_RULE_KEYS = ("cjs_codes", "cjs_prefixes", "ho_groups")
_EPISODE_COLUMNS = ["subject_id", "identity", "start_date", "start_earliest", "start_usable", "status", "status_date",
                    "rocu_return"]
_EVENT_COLUMNS = ["subject_id", "event_date", "harm_score", "category", "matched_code"]


# --------------------------------------------------------------------------- settings


def settings(config: dict) -> dict:
    """``comparison.sensitivity`` (config.yaml), checked."""
    s = copy.deepcopy(config["comparison"]["sensitivity"])
    window = int(config["study"]["window_months"])
    key = "config.yaml: comparison.sensitivity"
    windows = s["windows"] or []
    if not isinstance(windows, list) or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1
                                                for w in windows):
        raise StrostudyError(f"{key}.windows must be a list of whole months, each at least 1 (got {windows!r})")
    s["windows"] = sorted({window, *windows})
    k = s["washout_months"]
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k < window:
        raise StrostudyError(f"{key}.washout_months must be a whole number of months from 1 to "
                             f"{window - 1} (study.window_months - 1); got {k!r}")
    control = s["negative_control"]
    if not isinstance(control, dict) or not str(control.get("name") or ""):
        raise StrostudyError(f"{key}.negative_control needs a name (e.g. motoring) and at least one of "
                             f"{', '.join(_RULE_KEYS)}")
    name = str(control["name"])
    taken = cats.names(config["categories"])
    if name in taken:
        raise StrostudyError(f"{key}.negative_control.name {name!r} is already a category ({', '.join(taken)}); "
                             "give the negative control a name of its own")
    if not any(control.get(r) for r in _RULE_KEYS):
        raise StrostudyError(f"{key}.negative_control ({name}) lists no offences; give cjs_codes, cjs_prefixes "
                             "or ho_groups")
    alternative = s["alternative_harm_index"]
    if alternative is not None and (not isinstance(alternative, dict) or not alternative.get("name")
                                    or not alternative.get("table")):
        raise StrostudyError(f"{key}.alternative_harm_index must be null or give a name and a table "
                             "(a CSV of cjs_code, ho_class, title, score)")
    return s


def _require(frame: pd.DataFrame, columns: list[str], table: str, fix: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StrostudyError(f"{table} has no column {', '.join(missing)}; {fix}")


# --------------------------------------------------------------------------- the estimator


def ratio_rows(analysis: str, windows: pd.DataFrame, config: dict, names: list[str], note: str = "") -> pd.DataFrame:
    """The main estimator per measure x category of ``names``: sum(after) / sum(before) over
    the subjects of ``windows`` (a :func:`strostudy.cohort.subject_windows` table), with the
    interval ``prepost_tests`` gives the reduction, on the ratio scale.  It calls
    :func:`strostudy.prepost.reduction_ci` with prepost_tests' own arguments and converts back
    (ratio = 1 - reduction / 100; the reduction's upper end is the ratio's lower), so the row
    of an unchanged analysis equals the main result to the last bit."""
    pp = config["prepost"]
    fewest = min_pairs(float(config["study"]["alpha"]))
    rows = []
    for measure in MEASURES:
        for category in names:
            d = windows.loc[windows["category"] == category]
            row = {"analysis": analysis, "measure": measure, "category": category, "estimate": np.nan,
                   "ci_low": np.nan, "ci_high": np.nan, "n_subjects": len(d), "note": NO_SUBJECTS}
            if len(d):
                red, red_lo, red_hi, why = reduction_ci(
                    d[f"{measure}_before"].to_numpy(float), d[f"{measure}_after"].to_numpy(float),
                    int(pp["bootstrap_resamples"]), int(pp["bootstrap_seed"]), float(pp["confidence_level"]),
                    min_subjects=fewest, method=pp["reduction_interval"])
                row.update(estimate=1 - red / 100, ci_low=1 - red_hi / 100, ci_high=1 - red_lo / 100,
                           note="; ".join(x for x in (note, why) if x))
            rows.append(row)
    return pd.DataFrame(rows, columns=PANEL_COLUMNS)


def _blank_rows(analysis: str, measures, names, note: str, n_subjects: int = 0) -> pd.DataFrame:
    return pd.DataFrame([{"analysis": analysis, "measure": m, "category": c, "estimate": np.nan, "ci_low": np.nan,
                          "ci_high": np.nan, "n_subjects": n_subjects, "note": note}
                         for m in measures for c in names], columns=PANEL_COLUMNS)


def _with_window(config: dict, window: int) -> dict:
    out = copy.deepcopy(config)
    out["study"]["window_months"] = int(window)
    return out


# --------------------------------------------------------------------------- the analyses


def window_rows(episodes: pd.DataFrame, events: pd.DataFrame, config: dict, windows: list[int],
                names: list[str]) -> pd.DataFrame:
    """``window_<W>``: the cohort rebuilt with W-month windows (full windows and the
    order-ended rule both depend on W), the estimator on its subjects."""
    out = []
    for w in windows:
        cfg = _with_window(config, w)
        cohort, _ = build_cohort(episodes, cfg)
        sw = subject_windows(window_events(events, cohort, cfg), cohort, config["categories"])
        out.append(ratio_rows(f"window_{w}", sw, config, names))
    return pd.concat(out, ignore_index=True)


def study_order_types(config: dict) -> list[str]:
    """The order types of the study a stage runs for (``study.order_types``, set by
    :func:`strostudy.studies.resolve`)."""
    types = config["study"].get("order_types")
    if not types:
        raise StrostudyError("the sensitivity stage needs the study's order types (study.order_types); run it "
                             "through the workflow, or pass strostudy.studies.resolve(config, study)")
    return [str(t) for t in types]


def breach_codes(order_types) -> list[str]:
    """The CJS codes of the breach offences of the study's order type(s) (a name or a list;
    package data, A101)."""
    from .order_types import order_type_codes

    wanted = [order_types] if isinstance(order_types, str) else [str(t) for t in order_types]
    codes = order_type_codes()
    known = sorted(set(codes["order_type"]))
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise StrostudyError(f"config.yaml: studies: {', '.join(map(repr, unknown))} is not an order type the "
                             f"package knows ({', '.join(known)}; src/strostudy/data/order_types.csv)")
    mine = codes.loc[codes["order_type"].isin(wanted) & (codes["role"] == "breach"), "cjs_code"].dropna()
    return sorted(set(mine.astype(str).str.upper()))


def breach_rows(events: pd.DataFrame, cohort: pd.DataFrame, config: dict, names: list[str],
                codes: list[str]) -> pd.DataFrame:
    """``breaches_excluded``: every arrest whose principal offence (``matched_code``) is a
    breach of the study's own order type(s) is dropped, with its harm."""
    order_types = ", ".join(study_order_types(config))
    if not codes:
        return _blank_rows("breaches_excluded", MEASURES, names,
                           f"no breach offence code is known for {order_types} (order_type_codes.csv leaves it "
                           "empty): nothing to exclude", int(cohort["analysed"].sum()))
    is_breach = events["matched_code"].astype("string").str.strip().str.upper().isin(codes).fillna(False)
    windowed = window_events(events.loc[~is_breach.to_numpy(dtype=bool)], cohort, config)
    dropped = int(window_events(events.loc[is_breach.to_numpy(dtype=bool)], cohort, config).shape[0])
    note = f"{dropped} breach arrest(s) ({', '.join(codes)}) dropped from the windows"
    return ratio_rows("breaches_excluded", subject_windows(windowed, cohort, config["categories"]), config, names,
                      note)


def itt_rows(episodes: pd.DataFrame, events: pd.DataFrame, config: dict, names: list[str],
             cohort: pd.DataFrame) -> pd.DataFrame:
    """``intention_to_treat``: the cohort without the ``order_ended_in_window`` exclusion."""
    cfg = copy.deepcopy(config)
    cfg["cohort"]["exclusions"] = [e for e in config["cohort"]["exclusions"] if e != "order_ended_in_window"]
    itt, _ = build_cohort(episodes, cfg)
    added = int(itt["analysed"].sum() - cohort["analysed"].sum())
    note = (f"{added} order(s) that ended inside the after window kept in" if "order_ended_in_window"
            in config["cohort"]["exclusions"] else "cohort.exclusions does not exclude ended orders: as the main result")
    sw = subject_windows(window_events(events, itt, cfg), itt, config["categories"])
    return ratio_rows("intention_to_treat", sw, config, names, note)


def washout_rows(windowed: pd.DataFrame, cohort: pd.DataFrame, config: dict, names: list[str],
                 k: int) -> pd.DataFrame:
    """``washout_<k>``: arrests of months -k .. -1 dropped; the before total (W - k months) is
    scaled by W / (W - k) to a W-month rate, so the ratio compares rates per month."""
    window = int(config["study"]["window_months"])
    kept = windowed.loc[~windowed["month"].between(-k, -1)]
    sw = subject_windows(kept, cohort, config["categories"])
    scale = window / (window - k)
    sw[["events_before", "harm_before"]] = sw[["events_before", "harm_before"]].astype(float) * scale
    note = (f"months -{k} to -1 dropped ({int((windowed['month'].between(-k, -1)).sum())} arrest(s)); before "
            f"totals scaled by {window}/{window - k}")
    return ratio_rows(f"washout_{k}", sw, config, names, note)


def leave_one_out_rows(windows: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``leave_one_out_lowest`` and ``leave_one_out_highest``: the ratio with each subject left
    out in turn, (A - a_i) / (B - b_i), its smallest and largest (no interval).  The note gives
    the most influential subject's share of the before and after totals: the one whose
    omission moves the ratio furthest from the whole cohort's (leaving out a subject who holds
    every arrest before makes the ratio undefined: the most influential of all)."""
    rows = []
    for measure in MEASURES:
        for category in names:
            d = windows.loc[windows["category"] == category]
            b, a = d[f"{measure}_before"].to_numpy(float), d[f"{measure}_after"].to_numpy(float)
            n = len(d)
            low = {"analysis": "leave_one_out_lowest", "measure": measure, "category": category, "estimate": np.nan,
                   "ci_low": np.nan, "ci_high": np.nan, "n_subjects": max(n - 1, 0), "note": ""}
            high = {**low, "analysis": "leave_one_out_highest"}
            if n < 2:
                low["note"] = high["note"] = NO_SUBJECTS if n == 0 else "leave-one-out needs at least 2 subjects"
            elif b.sum() == 0:
                low["note"] = high["note"] = "no arrests before: ratio undefined"
            else:
                full = a.sum() / b.sum()
                rest_b, rest_a = b.sum() - b, a.sum() - a
                undefined = rest_b <= 0
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(undefined, np.nan, rest_a / rest_b)
                influence = np.where(undefined, np.inf, np.abs(ratio - full))
                top = int(np.argmax(influence))
                share = (f"most influential subject: {100 * b[top] / b.sum():.1f}% of the before total, "
                         + (f"{100 * a[top] / a.sum():.1f}% of the after total" if a.sum() > 0 else "no arrests after"))
                defined = ratio[~undefined]
                low["estimate"] = float(defined.min())
                low["note"] = share
                if undefined.any():
                    high["note"] = "leaving out one subject leaves no arrests before: ratio undefined; " + share
                else:
                    high["estimate"] = float(defined.max())
                    high["note"] = share
            rows += [low, high]
    return pd.DataFrame(rows, columns=PANEL_COLUMNS)


def time_at_risk_rows(panel: pd.DataFrame | None, config: dict, names: list[str]) -> pd.DataFrame:
    """``time_at_risk``: the order group's rate ratio per day at liberty, a Poisson model with
    a log(days_at_risk) offset and the naive ratio's subject-clustered interval
    (``comparison.naive_inference``, A137)
    (:func:`strostudy.comparison.naive_prepost`; arrests by ``comparison.family``, harm
    quasi-Poisson, A93-A97), at ``prepost.confidence_level`` like every row of the panel."""
    from .comparison import INTERVAL_WORDS, naive_interval, naive_options, naive_prepost

    if panel is None:
        return _blank_rows("time_at_risk", MEASURES, names,
                           "no subject-month panel given: time at risk needs the comparison stage's panel")
    cc = config["comparison"]
    level = float(config["prepost"]["confidence_level"])
    out = []
    for measure in MEASURES:
        family = cc["family"] if measure == "events" else "poisson"
        for category in names:
            try:
                got = naive_prepost(panel, measure, category, family=family, level=level,
                                    min_clusters=int(cc["min_clusters"]),
                                    standard_errors=cc["standard_errors"], **naive_options(cc)).iloc[0]
            except StrostudyError as err:
                out.append(_blank_rows("time_at_risk", [measure], [category], str(err)))
                continue
            model = "quasi-Poisson" if measure == "harm" else {"poisson": "Poisson", "negbin": "NB2"}.get(family, family)
            errors = INTERVAL_WORDS[naive_interval(cc)]
            note = "; ".join(x for x in (f"{model} rate ratio per day at risk, log(days_at_risk) offset, "
                                         f"{errors} (comparison.naive_prepost)",
                                         str(got["note"]) if pd.notna(got["note"]) else "") if x)
            out.append(pd.DataFrame([{"analysis": "time_at_risk", "measure": measure, "category": category,
                                      "estimate": got["estimate"], "ci_low": got["ci_low"], "ci_high": got["ci_high"],
                                      "n_subjects": int(got["n_treated"]), "note": note}], columns=PANEL_COLUMNS))
    return pd.concat(out, ignore_index=True)


def negative_control_mask(events: pd.DataFrame, control: dict, weights: pd.DataFrame | None = None) -> pd.Series:
    """Arrests whose principal offence (``matched_code``) falls in the negative-control rule:
    a listed CJS code, a listed prefix, or (with the harm ``weights``) a listed Home Office
    group - the rule syntax of the ``categories`` block (:func:`strostudy.harm.categorise`)."""
    from .harm import categorise

    codes = events["matched_code"].astype("string")
    groups = pd.Series(pd.NA, index=events.index, dtype="string")
    if control.get("ho_groups"):
        if weights is None:
            raise StrostudyError("comparison.sensitivity.negative_control lists ho_groups, so the panel needs the harm "
                                 "index's weights (harm_weights) to find each arrest's Home Office group")
        from .offences import offence_groups

        groups = offence_groups(codes, pd.Series(pd.NA, index=events.index, dtype="string"), weights)
    rule = {key: list(control.get(key) or []) for key in _RULE_KEYS}
    hit = categorise(codes, groups, {"control": rule, "default": ""})
    return (hit == "control").fillna(False).astype(bool)


def negative_control_rows(windowed: pd.DataFrame, cohort: pd.DataFrame, config: dict, control: dict,
                          weights: pd.DataFrame | None) -> pd.DataFrame:
    """``negative_control``: the estimator on the arrests of the negative-control rule (every
    analysed subject counted, zeros included).  The events table holds only arrests the harm
    index could score, so an offence the index does not list never reaches it."""
    name = str(control["name"])
    chosen = windowed.loc[negative_control_mask(windowed, control, weights).to_numpy()]
    n = int(cohort["analysed"].sum())
    if chosen.empty:
        return _blank_rows("negative_control", MEASURES, [name],
                           f"no {name} arrests in the windows (events.csv holds only arrests the harm index "
                           "scores; see docs/sensitivity.md): no estimate", n)
    sw = subject_windows(chosen, cohort, config["categories"])
    sw = sw.loc[sw["category"] == cats.OVERALL].assign(category=name)
    return ratio_rows("negative_control", sw, config, [name], f"{len(chosen)} {name} arrest(s) in the windows")


def rescore(linked_events: pd.DataFrame, offences: pd.DataFrame, weights: pd.DataFrame, config: dict,
            name: str) -> tuple[pd.DataFrame, int]:
    """The order subjects' arrests scored on another harm index (``weights``), with the harm
    stage's own rules (``harm.arrest_score``, ``harm.unknown_code``, A13-A15): (scored events,
    arrests the other index cannot score, which drop out as they would from the main run)."""
    from .harm import score_events

    ev = linked_events.loc[linked_events.get("group", pd.Series("order", index=linked_events.index)).eq("order")]
    scored, quarantined, _ = score_events(ev.drop(columns="group", errors="ignore"),
                                          offences.loc[offences["event_id"].isin(ev["event_id"])], weights,
                                          config["harm"], config["categories"], name)
    return scored, len(quarantined)


def alternative_harm_rows(alternative: dict | None, names: list[str], n_subjects: int,
                          cohort: pd.DataFrame | None = None, config: dict | None = None,
                          rescored: tuple[pd.DataFrame, int] | None = None) -> pd.DataFrame:
    """``alternative_harm_index`` (A119): the harm rows of the main estimator with every arrest
    scored on the other index (``rescored``, from :func:`rescore`); where none is configured,
    rows that say so."""
    if alternative is None:
        note = "no alternative harm index configured (comparison.sensitivity.alternative_harm_index)"
        return _blank_rows("alternative_harm_index", ["harm"], names, note, n_subjects)
    if rescored is None or cohort is None or config is None:
        note = f"alternative harm index {alternative['name']!r} configured, but the arrests' offences were not given"
        return _blank_rows("alternative_harm_index", ["harm"], names, note, n_subjects)
    events, dropped = rescored
    windows = subject_windows(window_events(events, cohort, config), cohort, config["categories"])
    note = f"harm scored on {alternative['name']}" + (
        f"; {dropped} arrest(s) it cannot score left out" if dropped else "")
    rows = ratio_rows("alternative_harm_index", windows, config, names, note=note)
    return rows.loc[rows["measure"] == "harm"].reset_index(drop=True)


# --------------------------------------------------------------------------- the panel


def sensitivity_panel(episodes: pd.DataFrame, events: pd.DataFrame, config: dict, panel: pd.DataFrame | None = None,
                      weights: pd.DataFrame | None = None,
                      rescored: tuple[pd.DataFrame, int] | None = None) -> pd.DataFrame:
    """The sensitivity panel: one row per analysis x measure (events, harm) x category
    (``overall`` and the config's categories; the negative control's own name), columns
    :data:`PANEL_COLUMNS`.

    ``episodes`` is ``orders.csv`` (the reconcile stage), ``events`` is ``events.csv`` (the harm
    stage), ``config`` the merged config; ``panel`` the comparison stage's subject-month panel
    (only for ``time_at_risk``; without it those rows say so); ``weights`` the harm index's
    table (only when the negative control lists Home Office groups)."""
    _require(episodes, _EPISODE_COLUMNS, "orders.csv", "re-run the workflow from the reconcile stage")
    _require(events, _EVENT_COLUMNS, "events.csv", "re-run the workflow from the harm stage")
    s = settings(config)
    names = cats.names(config["categories"])
    cohort, _ = build_cohort(episodes, config)
    windowed = window_events(events, cohort, config)
    main = subject_windows(windowed, cohort, config["categories"])
    n_main = int(cohort["analysed"].sum())
    parts = [
        window_rows(episodes, events, config, s["windows"], names),
        breach_rows(events, cohort, config, names, breach_codes(study_order_types(config))),
        itt_rows(episodes, events, config, names, cohort),
        washout_rows(windowed, cohort, config, names, int(s["washout_months"])),
        leave_one_out_rows(main, names),
        time_at_risk_rows(panel, config, names),
        negative_control_rows(windowed, cohort, config, s["negative_control"], weights),
        alternative_harm_rows(s["alternative_harm_index"], names, n_main, cohort, config, rescored),
    ]
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"analysis": str, "measure": str, "category": str, "estimate": float, "ci_low": float,
                       "ci_high": float, "n_subjects": "int64", "note": str})[PANEL_COLUMNS]


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The sensitivity stage: the episodes, events, harm index and the comparison stage's
    panel in; ``sensitivity.csv`` out."""
    from . import tables
    from .stages import say

    panel = tables.read("subject_month_panel", inputs["subject_month_panel"])
    alternative = config["comparison"]["sensitivity"]["alternative_harm_index"]
    rescored = None
    if alternative is not None:  # the arrests' offences scored again on the other index
        from .offences import load_weights

        other = load_weights({"table": alternative["table"], "workbook_sheet": config["harm"]["workbook_sheet"]})
        rescored = rescore(tables.read("linked_events", inputs["linked_events"]),
                           tables.read("event_offences", inputs["event_offences"]), other, config,
                           str(alternative["name"]))
    out = sensitivity_panel(tables.read("orders", inputs["orders"]), tables.read("events", inputs["events"]), config,
                            panel=panel.loc[panel["group"] == "order"],
                            weights=tables.read("harm_weights", inputs["harm_weights"]), rescored=rescored)
    tables.write(out, "sensitivity", output["sensitivity"])
    say(f"sensitivity: {out['analysis'].nunique()} analyses, {int(out['estimate'].notna().sum())} of {len(out)} "
        "rows estimated", log)
    return out
