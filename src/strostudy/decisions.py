"""Every decision the report makes, in one table, and the headline claims built from them.

A *decision* is one yes/no call of a named test: a Holm-adjusted Wilcoxon, an interval
of a reduction that excludes no change, a level or slope change, a post-order trend, a placebo
check, a correlation.  Each analytic stage writes its own decisions in the common shape of
:data:`COLUMNS` (``prepost_decisions``, ``its_decisions``); this stage joins them and adds
the headline claims of the report, each decided only by the decisions its sentence names
(:data:`HEADLINES`).  The report prints from this table, and the calibration harness
(:mod:`strostudy.calibrate`) counts how often each row is significant across simulated
seeds, so the report's rate of false claims is measured, not assumed.

A rule is named ``<test>_<measure>_<category>``: ``wilcoxon_events_overall``,
``reduction_harm_violence``, ``its_slope_harm_overall``, ``placebo_events_overall``,
``headline_harm_all``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: ``null_value`` is the estimate's value under no change: 1 for a rate ratio, 0 for a
#: coefficient, a difference, a percentage reduction or a correlation.
COLUMNS = ["rule", "test", "measure", "category", "estimate", "null_value", "ci_low", "ci_high", "p_value",
           "significant", "alpha", "claim", "note"]
TYPES = {"rule": str, "test": str, "measure": str, "category": str, "estimate": float, "null_value": float,
         "ci_low": float, "ci_high": float, "p_value": float, "significant": bool, "alpha": float, "claim": str,
         "note": object}


def decision(test: str, measure: str, category: str, *, significant: bool, alpha: float, claim: str,
             estimate: float = np.nan, null_value: float = 0.0, ci_low: float = np.nan, ci_high: float = np.nan,
             p_value: float = np.nan, note: str = "") -> dict:
    """One decision row; the rule's name is ``<test>_<measure>_<category>``."""
    return {"rule": f"{test}_{measure}_{category}", "test": test, "measure": measure, "category": category,
            "estimate": float(estimate), "null_value": float(null_value), "ci_low": float(ci_low), "ci_high": float(ci_high),
            "p_value": float(p_value), "significant": bool(significant), "alpha": float(alpha), "claim": claim,
            "note": note}


def frame(rows: list[dict]) -> pd.DataFrame:
    """Decision rows as a typed table (typed even when empty)."""
    out = pd.DataFrame(rows, columns=COLUMNS).astype(TYPES)
    out["note"] = out["note"].fillna("").astype(str)
    return out


def _get(d: pd.DataFrame, rule: str) -> pd.Series | None:
    hit = d.loc[d["rule"] == rule]
    return None if hit.empty else hit.iloc[0]


def _all_categories(d: pd.DataFrame, measure: str, alpha: float) -> dict:
    """Every category's reduction has an interval above no change (and the overall one too).
    The note names the categories whose interval includes no change, those with no interval at all (too few subjects), and those where Wilcoxon disagrees with the interval."""
    boot = d.loc[(d["test"] == "reduction") & (d["measure"] == measure)]
    wil = d.loc[(d["test"] == "wilcoxon") & (d["measure"] == measure)].set_index("category")
    fell = (boot["significant"] & (boot["ci_low"] > 0)).to_numpy()
    no_interval = (boot["ci_low"].isna() | boot["ci_high"].isna()).to_numpy()
    disagree = [c for c, f in zip(boot["category"], fell) if c in wil.index and bool(wil.loc[c, "significant"]) != f]
    cats = boot["category"].to_numpy()
    note = "; ".join(x for x in (
        f"interval includes no change: {', '.join(cats[~fell & ~no_interval])}" if (~fell & ~no_interval).any() else "",
        f"no interval (too few subjects): {', '.join(cats[no_interval])}" if no_interval.any() else "",
        f"Wilcoxon (Holm) and the interval disagree: {', '.join(disagree)}" if disagree else "",
        "no reduction was tested" if boot.empty else "") if x)
    label = "arrests" if measure == "events" else "harm"
    return decision("headline", measure, "all", significant=bool(len(boot) and fell.all()), alpha=alpha,
                    estimate=float(fell.mean()) if len(boot) else np.nan, note=note,
                    claim=f"{label.capitalize()} fell in every category: each category's reduction has a "
                          f"{1 - alpha:.0%} interval above no change")


def _from(d: pd.DataFrame, rule: str, test: str, measure: str, category: str, alpha: float, claim: str,
          holds) -> dict:
    """A headline decided by one named decision ``rule``: ``holds(row)`` says whether its
    result supports the sentence (direction included)."""
    row = _get(d, rule)
    if row is None:
        return decision(test, measure, category, significant=False, alpha=alpha, claim=claim,
                        note=f"not tested: {rule} was not run")
    return decision(test, measure, category, significant=bool(holds(row)), alpha=alpha, claim=claim,
                    estimate=row["estimate"], null_value=row["null_value"], ci_low=row["ci_low"], ci_high=row["ci_high"], p_value=row["p_value"],
                    note=f"decided by {rule}")


def headlines(d: pd.DataFrame, alpha: float) -> list[dict]:
    """The report's headline claims, each decided by the decision(s) its sentence names."""
    harm_vs = "reduction_harm_minus_events_overall"
    return [
        _all_categories(d, "events", alpha),
        _all_categories(d, "harm", alpha),
        _from(d, harm_vs, "headline", "harm_vs_events", "overall", alpha,
              "Harm fell by more than arrests did: the interval of the difference in the two reductions lies "
              "above zero",
              lambda r: r["significant"] and r["ci_low"] > 0),
        _from(d, "spearman_change_overall", "headline", "correlation", "overall", alpha,
              "Subjects whose arrests fell more also saw harm fall more: Spearman correlation of the two "
              "changes, one pair per subject (harm is a sum over arrests, so this holds whatever the order does: "
              "it is not evidence about the order)", lambda r: r["significant"] and r["estimate"] > 0),
        _from(d, "its_slope_harm_overall", "headline", "harm_trend", "overall", alpha,
              "Monthly harm turned downward after the order: the change in slope of the primary time-series "
              "model is below no change", lambda r: r["significant"] and r["estimate"] < r["null_value"]),
        _from(d, "its_slope_events_overall", "headline", "events_trend", "overall", alpha,
              "Monthly arrests turned downward after the order: the change in slope of the primary "
              "time-series model is below no change", lambda r: r["significant"] and r["estimate"] < r["null_value"]),
    ]


def combine(*parts: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """The stages' decisions, then the headlines decided from them."""
    d = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else frame([])
    d = frame(d.to_dict("records"))
    return frame([*d.to_dict("records"), *headlines(d, alpha)])


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> pd.DataFrame:
    """The decisions stage: one table of every decision and headline claim."""
    from . import tables
    from .stages import say

    alpha = float(config["study"]["alpha"])
    d = combine(tables.read("prepost_decisions", inputs["prepost_decisions"]),
                tables.read("its_decisions", inputs["its_decisions"]),
                tables.read("comparison_decisions", inputs["comparison_decisions"]), alpha=alpha)
    tables.write(d, "decisions", output["decisions"])
    held = d.loc[d["test"] == "headline"]
    say(f"{len(d)} decisions; headline claims holding: {int(held['significant'].sum())} of {len(held)}", log)
    return d
