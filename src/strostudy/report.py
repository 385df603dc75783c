"""The results report: Markdown and self-contained HTML rendered from Jinja2 templates.

Everything in it is computed from the workflow's outputs and the provenance of its inputs;
nothing is typed in by hand.  Every claim it ticks is a row of the decisions table
(:mod:`strostudy.decisions`) and names the test that decides it.  It shows no clock time (the
only date is the frozen plan's), so the same inputs give byte-identical text (A78).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import subprocess
import urllib.parse
from pathlib import Path

import numpy as np
import yaml

from . import categories
from .cohort import EXCLUSION_RULES
from .disclosure import MARKER
from .schemas import MEASURES
from .style import window_words

PACKAGES = ["strostudy", "pandas", "numpy", "scipy", "statsmodels", "pandera", "matplotlib", "snakemake"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: The registry names of the contract's three CSV extracts (docs/data-contract.md).  These and
#: the ``rocu/*.xlsx`` workbooks (not Excel's ``~$`` lock files) are all the provenance hashes.
CONTRACT_CSVS = ("raw_orders", "raw_pnc_arrests", "raw_pnd_records")


def _raw_folder(inputs: dict) -> Path | None:
    for name in (*CONTRACT_CSVS, "raw_rocu"):
        if name in inputs:
            return Path(inputs[name]).parent
    return None


def input_files(inputs: dict) -> tuple[list[Path], list[str]]:
    """The contract's extract files behind the inputs, sorted, and one note per file not
    hashed (:func:`strostudy.keys.contract_files`: lock files skipped, links out of the raw
    folder never opened)."""
    from .keys import contract_files

    folder = _raw_folder(inputs)
    return contract_files(folder) if folder is not None else ([], [])


def provenance(inputs: dict, config: dict) -> dict:
    """Where the results come from: the extracts' hashes, the config, package versions, the git
    commit and the key's fingerprint.  No clock time: the same inputs give the same report."""
    from .keys import fingerprint_for
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    files, skipped = input_files(inputs)
    return {
        "files": [{"path": str(f), "bytes": f.stat().st_size, "sha256": sha256(f)} for f in files],
        "skipped": skipped,
        "config_yaml": yaml.safe_dump(config, sort_keys=False),
        "versions": versions,
        "commit": commit,
        "key_fingerprint": fingerprint_for(config["source"]),
    }


def _withheld(value) -> bool:
    """Whether a released cell was withheld by disclosure control (shown as ``[c]``)."""
    return isinstance(value, str) and value == MARKER


def _fmt(value, digits: int = 1) -> str:
    if _withheld(value):
        return MARKER
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)) or float(value).is_integer() and abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _p(value) -> str:
    if _withheld(value):
        return MARKER
    if value is None or not np.isfinite(value):
        return "–"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _num(value, spec: str = ".2f") -> str:
    """``value`` formatted by ``spec``, or a dash when it is missing (a test not run)."""
    if _withheld(value):
        return MARKER
    return "–" if value is None or not np.isfinite(value) else format(value, spec)


def _g(value) -> str:
    """Any estimate or interval end, with as many digits as its size needs; ∞ for an open end."""
    if _withheld(value):
        return MARKER
    if value is None or np.isnan(value):
        return "–"
    if np.isinf(value):
        return "∞" if value > 0 else "−∞"
    return format(value, ",.0f" if abs(value) >= 100 else ".3g")


def _count(value) -> str:
    """A released count: the whole number, or ``[c]`` where it was withheld."""
    return MARKER if _withheld(value) else "–" if value is None or not np.isfinite(value) else f"{int(value)}"


def _finite(value) -> bool:
    return value is not None and not isinstance(value, str) and bool(np.isfinite(value))


def _at(frame, key, column):
    """``frame.loc[key, column]``, or NaN when the row is not there."""
    return frame.loc[key, column] if key in frame.index else np.nan


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _measure_word(measure: str) -> str:
    return {"events": "arrests", "harm": "harm"}.get(measure, measure.replace("_", " "))


# --------------------------------------------------------------------------- what can be said


def analysed(flow) -> int:
    """The number of subjects analysed: what the cohort flow's last step leaves (the processed
    flow: it decides what the report can say, and is never printed)."""
    return int(flow["n_out"].iloc[-1]) if len(flow) else 0


def flow_count(flow, step: str):
    """A released flow's count at ``step`` (``[c]`` where withheld; NaN where the step is absent)."""
    hit = flow.loc[flow["step"] == step, "n"]
    return hit.iloc[0] if len(hit) else np.nan


def cohort_statement(n: int, flow, config: dict) -> str:
    """A plain statement of why no test could run (no analysed subject) or why no test can show
    a change (fewer subjects than :func:`strostudy.prepost.min_pairs`); "" otherwise.  ``n`` is
    the processed count (it decides what is said); the counts printed come from the released
    flow ``flow`` (shown with ``[c]`` where withheld)."""
    from .prepost import min_pairs

    study = config["study"]
    alpha = float(study["alpha"])
    fewest = min_pairs(alpha)
    if n >= fewest:
        return ""
    if n > 0:
        shown = _count(flow_count(flow, "analysed"))
        who, whose = ("1 subject was", "this subject's") if shown == "1" else (f"{shown} subjects were",
                                                                             "these subjects'")
        # A withheld count is not narrowed down by saying how far below the test's minimum it is.
        fewer = f", fewer than {fewest}" if shown != MARKER else ""
        return (f"Only {who} analysed{fewer}: too few for the exact signed-rank test to reach p < "
                f"{alpha:g} (its smallest two-sided p with n subjects is 2/2^n), so the before/after tests cannot "
                f"show a change; the reductions' intervals are not computed, and the time series hold {whose} arrests "
                "alone. Read every result below as a description, not as evidence of a change; published figures "
                "this run does not match are marked as differing.")
    listed, full = _count(flow_count(flow, "orders_listed")), _count(flow_count(flow, "full_windows"))
    period = f"the data period ({study['earliest_reliable_date']} to {study['extraction_date']})"
    windows = f"full {window_words(study['window_months'])} windows before and after the order"
    if full == "0":
        why = f"none of the {listed} orders listed has {windows} inside {period}"
    else:
        excl = flow.loc[flow["step"] == "excluded"]
        excl = excl.loc[[_withheld(v) or v > 0 for v in excl["n"]]]
        reasons = "; ".join(f"{_count(r.n)}: {EXCLUSION_RULES.get(r.reason, str(r.reason)).split(' (')[0]}"
                            for r in excl.itertuples())
        why = f"{full} of the {listed} orders listed have {windows} inside {period}, but all were excluded ({reasons})"
    return (f"No test could run: no order reached the analysed cohort, because {why}. The before/after tests, "
            "correlations and time-series models are marked not run below, and no published figure is compared "
            "with this run. The cohort flow and the data-quality sections (ingest, reconcile, harm) are complete.")


def _row(figure: str, published, reproduced: str, match: bool | None) -> dict:
    """A headline row; ``match`` is None where the reproduced value is withheld (disclosure
    control), so that whether it matches is not shown either."""
    return {"figure": figure, "published": str(published), "reproduced": reproduced,
            "match": None if match is None else bool(match)}


def _count_rows(published: dict, t: dict, window: int, n: int) -> list[dict]:
    flow, tests = t["flow"], t["tests"].set_index(["measure", "category"])
    study = published["study"]
    rows = [("Orders listed", study["orders_listed"], flow_count(flow, "orders_listed")),
            (f"Orders with full {window_words(window)} windows", study["orders_with_full_windows"],
             flow_count(flow, "full_windows")),
            ("Orders analysed", study["orders_analysed"], flow_count(flow, "analysed")),
            (f"Arrests in the {window} months before", published["offending_events"]["before"],
             _at(tests, ("events", "overall"), "total_before") if n else np.nan),
            (f"Arrests in the {window} months after", published["offending_events"]["after"],
             _at(tests, ("events", "overall"), "total_after") if n else np.nan)]
    return [_row(f, p, MARKER, None) if _withheld(r) else _row(f, p, str(int(r)), p == int(r)) if _finite(r)
            else _row(f, p, "not run", False) for f, p, r in rows]


def _reduction_rows(published: dict, tests, cat_labels: dict) -> list[dict]:
    out = []
    for measure, label in (("events", "Arrests"), ("harm", "CCHI harm")):
        for cat, pub in published["reduction_percent"][measure].items():
            figure = f"{label} reduction, {cat_labels.get(cat, cat.replace('_', ' ')).lower()} (%)"
            got = _at(tests, (measure, cat), "reduction_pct")
            if (measure, cat) not in tests.index:
                out.append(_row(figure, pub, "category not in config", False))
            elif _withheld(got):
                out.append(_row(figure, pub, MARKER, None))
            elif not _finite(got):
                out.append(_row(figure, pub, "not computed", False))
            else:
                out.append(_row(figure, pub, f"{got:.1f}", round(got) == pub))
    return out


def headline(published: dict, t: dict, config: dict, n: int) -> list[dict]:
    """Every published count and percentage beside the value this run reproduced (from the
    released tables ``t["flow"]`` and ``t["tests"]``, shown as displayed), and whether they
    match.  A published category this run's config does not have, and a value this run could
    not compute (a test not run), show as not reproduced; a value withheld by disclosure
    control shows as ``[c]``, and whether it matches is not said.  The published study's
    claims of significance are not here: they are :func:`claim_rows`, each decided by a test."""
    tests = t["tests"].set_index(["measure", "category"])
    return (_count_rows(published, t, int(config["study"]["window_months"]), n)
            + _reduction_rows(published, tests, categories.labels(config["categories"])))


# --------------------------------------------------------------------------- decisions and claims


def _rules(decisions) -> dict:
    """Each decision row by its rule name, as a dict (the note as text)."""
    return {r["rule"]: {**r, "note": _text(r["note"])} for r in decisions.to_dict("records")}


def evidence(row: dict) -> str:
    """A decision's numbers: its estimate, interval and p, as far as it has them."""
    parts = []
    if _finite(row["estimate"]):
        # A ratio's kind (of rates, of geometric means of 1 + harm, peak to trough) is in its note.
        kind = ("estimate" if row["null_value"] != 1 else "rate ratio" if row["measure"] == "events" else "ratio")
        parts.append(f"{kind} {_g(row['estimate'])}")
    if not (np.isnan(row["ci_low"]) or np.isnan(row["ci_high"])):
        parts.append(f"interval {_g(row['ci_low'])} to {_g(row['ci_high'])}")
    if _finite(row["p_value"]):
        p = _p(row["p_value"])
        parts.append(f"p {p}" if p.startswith("<") else f"p = {p}")
    return ", ".join(parts)


#: The published study's finding that each headline claim (by its ``measure``) re-tests.
PUBLISHED_FINDING = {"events": "events_all_categories_reduced", "harm": "harm_all_categories_reduced",
                     "harm_vs_events": "harm_effect_greater_than_volume_effect",
                     "correlation": "events_harm_correlation", "harm_trend": "post_order_monthly_harm_trend",
                     "events_trend": "post_order_monthly_events_trend"}
_RULE_NAME = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")


def _published_words(value) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value).replace("_", " ")


def backing(row: dict, rules: dict) -> list[str]:
    """The decisions a headline claim rests on: the rules its note names (``decided by X``, or
    ``not tested: X was not run``), or for a claim about every category, each category's
    reduction decision of that measure."""
    named = [r for r in _RULE_NAME.findall(row["note"]) if r in rules or f"not tested: {r}" in row["note"]]
    if named:
        return list(dict.fromkeys(named))
    if row["category"] == "all":
        return [r for r, d in rules.items() if d["test"] == "reduction" and d["measure"] == row["measure"]]
    return []


def claim_rows(decisions, published: dict, hidden: frozenset = frozenset()) -> list[dict]:
    """One row per headline claim of the decisions table (``test == "headline"``): the claim,
    whether it holds, the published finding it re-tests, the decisions that back it and their
    numbers, and the note (which says where Wilcoxon and an interval disagree).  A decision on
    a category whose totals are withheld (``hidden``: (measure, category) pairs) has its numbers
    shown as ``[c]``."""
    rules = _rules(decisions)
    findings = published.get("significance", {})
    out = []
    for row in (r for r in rules.values() if r["test"] == "headline"):
        backed = backing(row, rules)
        single = rules.get(backed[0]) if len(backed) == 1 else None
        key = PUBLISHED_FINDING.get(row["measure"])
        if any((rules[b]["measure"], rules[b]["category"]) in hidden for b in backed if b in rules):
            # Whether it holds, and which categories its note names, come from withheld cells.
            out.append({"claim": row["claim"], "holds": None, "backed_by": ", ".join(backed) or "–",
                        "published": _published_words(findings[key]) if key in findings else "–",
                        "evidence": MARKER, "note": MARKER})
            continue
        out.append({"claim": row["claim"], "holds": bool(row["significant"]),
                    "published": _published_words(findings[key]) if key in findings else "–",
                    "backed_by": ", ".join(backed) or "–",
                    "evidence": evidence(single) if single is not None else "", "note": row["note"]})
    return out


def _verdict(rules: dict, measure: str, category: str, alpha: float, show_p: bool = True) -> str:
    """Whether a reduction is called a change (only when its interval excludes no change), and
    where the Holm-adjusted Wilcoxon test says otherwise (with its p unless ``show_p`` is false:
    the p is withheld by disclosure control)."""
    boot, wil = rules.get(f"reduction_{measure}_{category}"), rules.get(f"wilcoxon_{measure}_{category}")
    if boot is None:
        return "not tested"
    if np.isnan(boot["ci_low"]) or np.isnan(boot["ci_high"]):
        said = "no interval"
    elif boot["significant"]:
        said = "fell: interval above no change" if boot["ci_low"] > 0 else "rose: interval below no change"
    else:
        said = "interval includes no change"
    if wil is not None and _finite(wil["p_value"]) and bool(wil["significant"]) != bool(boot["significant"]):
        said += (f"; Wilcoxon (Holm p = {_p(wil['p_value']) if show_p else MARKER}) disagrees: "
                 + ("it finds a change" if wil["significant"] else f"it does not reach p < {alpha:g}"))
    return said


def difference_sentence(rules: dict, level_pct: str, method: str = "fieller", hidden: frozenset = frozenset()) -> str:
    """Harm's reduction minus arrests' and its interval (``reduction_harm_minus_events_overall``);
    withheld where either overall reduction is (``hidden``)."""
    rule = "reduction_harm_minus_events_overall"
    row = rules.get(rule)
    if row is None:
        return f"Harm's reduction against arrests': not tested ({rule} was not run)."
    if {("events", "overall"), ("harm", "overall")} & set(hidden):
        return f"Harm's reduction against arrests': {MARKER} (an overall total is withheld by disclosure control)."
    if not _finite(row["estimate"]):
        return f"Harm's reduction against arrests': not computed ({row['note'] or 'no estimate'})."
    said = ("harm fell by more than arrests did" if row["significant"] and row["ci_low"] > 0
            else "arrests fell by more than harm did" if row["significant"]
            else "the interval includes no difference, so the two reductions are not shown to differ")
    kind = "delta-method" if method == "fieller" else "paired bootstrap (BCa)"
    interval = (f" ({level_pct} {kind} interval {_g(row['ci_low'])} to {_g(row['ci_high'])})"
                if not np.isnan(row["ci_low"]) else f" (no interval: {row['note']})")
    return (f"Harm's percentage reduction minus arrests', overall: {_g(row['estimate'])} percentage points"
            f"{interval}: {said} ({rule}).")


#: The time-series decisions the report states, in order, with what each is about.
ITS_TESTS = (("its_level", "Level change at the order date"), ("its_slope", "Change of slope at the order date"),
             ("its_posttrend", "Trend after the order"), ("mannkendall", "Mann–Kendall trend test after the order"),
             ("placebo", "In-time placebo (fake order dates in the before period)"),
             ("ljungbox", "Residual autocorrelation (Ljung–Box)"), ("seasonality", "Seasonality"))


def _its_result(test: str, row: dict) -> str:
    below = _finite(row["estimate"]) and row["estimate"] < row["null_value"]
    if test in ("its_level", "its_slope"):
        return ("a significant " + ("fall" if below else "rise") if row["significant"] else "no significant change")
    if test in ("its_posttrend", "mannkendall"):
        return ("a significant " + ("downward" if below else "upward") + " trend" if row["significant"]
                else "no significant trend")
    if test == "placebo":
        return ("a change at fake order dates, where none should be: read the time-series results with caution"
                if row["significant"] else "no change at fake order dates, as expected")
    if test == "ljungbox":
        return "present: the model's residuals are autocorrelated" if row["significant"] else "not detected"
    if test == "seasonality":
        return "present" if row["significant"] else "not detected"
    return "significant" if row["significant"] else "not significant"


def mann_kendall_line(models, measure: str) -> str:
    """The Mann-Kendall test and Theil-Sen slope of the overall series as a description, when
    no claim rests on them (``its.mann_kendall: none``, A65); "" when they were not computed."""
    if models.empty:
        return ""
    m = models.loc[(models["measure"] == measure) & (models["category"] == "overall")]
    mk = m.loc[(m["model"] == "mann_kendall") & (m["se_type"] == "classical")]
    ts = m.loc[m["model"] == "theil_sen"]
    if mk.empty or ts.empty:
        return ""
    r, t = mk.iloc[0], ts.iloc[0]
    return (f"Mann–Kendall trend test after the order (reported, not a decision: it assumes independent months, "
            f"and no claim rests on it, A65): S = {r['estimate']:g} over {int(r['n'])} months, p = {_p(r['p_value'])}; "
            f"Theil–Sen slope {_g(t['estimate'])} a month ({_g(t['ci_low'])} to {_g(t['ci_high'])}).")


def its_statements(decisions, measures, models=None) -> list[dict]:
    """Per measure (overall series), one sentence per time-series decision of :data:`ITS_TESTS`,
    from the decisions table; a decision not there is said to be not tested, except the
    Mann-Kendall test, which by default is described from ``models`` instead (A65)."""
    rules = _rules(decisions)
    out = []
    for measure in measures:
        lines = []
        for test, title in ITS_TESTS:
            rule = f"{test}_{measure}_overall"
            row = rules.get(rule)
            described = mann_kendall_line(models, measure) if test == "mannkendall" and models is not None else ""
            if row is None and described:
                lines.append(described)
                continue
            if row is None:
                lines.append(f"{title}: not tested ({rule} was not run).")
                continue
            numbers = evidence(row)
            note = f"; {row['note']}" if row["note"] else ""
            lines.append(f"{title}: {_its_result(test, row)}" + (f" ({numbers}{note})" if numbers or note else "")
                         + ".")
        out.append({"measure": _measure_word(measure).capitalize(), "lines": lines})
    return out


def its_decision_rows(decisions) -> list[dict]:
    """Every time-series decision (every category), as a table."""
    tests = [t for t, _ in ITS_TESTS]
    rows = decisions.loc[decisions["test"].isin(tests)]
    return [{"rule": r["rule"], "evidence": evidence(r) or "–", "result": _its_result(r["test"], r).split(":")[0]}
            for r in _rules(rows).values()]


def not_fitted(models, measures) -> list[str]:
    """A sentence per measure with no time-series model (the reason its_models gives)."""
    skipped = models.loc[(models["model"] == "none") & (models["category"] == "overall")]
    out = []
    for measure in measures:
        reason = skipped.loc[skipped["measure"] == measure, "note"] if "note" in skipped else skipped["model"][:0]
        if len(reason):
            out.append(f"Monthly {_measure_word(measure)}: no time-series model was fitted ({reason.iloc[0]}).")
    return out


# --------------------------------------------------------------------------- linkage quality

#: The link bases (schemas.LINK_BASES) and sources of the linkage-quality table, in words.
LINK_BASIS_WORDS = {"pnc_id": "PNC ID", "order_ref": "order reference", "probabilistic": "probabilistic",
                    "clerical_accept": "clerical: accepted", "clerical_reject": "clerical: rejected",
                    "ambiguous": "ambiguous", "no_match": "no match"}
PERSON_SOURCE_WORDS = {"orders": "order list", "pnd_records": "PND", "rocu_orders": "ROCU orders",
                       "rocu_offending": "ROCU offending"}


def linkage_context(quality, summary) -> dict | None:
    """The linkage-quality section, from the released tables: records per source by how they
    were tied to a person (with each source's and each basis's total), and the model's own
    estimate of the links it did not make (A87): the sum, over the records left unlinked
    without a clerical decision, of the probability that the record's person is one of its
    candidates.  Withheld counts show as ``[c]``.  None when the run wrote no linkage tables."""
    if quality is None or summary is None or not len(summary):
        return None
    cell = {(r.source, r.basis): r.records for r in quality.itertuples()}
    bases = [b for b in LINK_BASIS_WORDS if b in set(quality["basis"])]
    sources = [s for s in PERSON_SOURCE_WORDS if s in set(quality["source"])]
    rows = [{"source": PERSON_SOURCE_WORDS[src], "counts": [_count(cell.get((src, b), 0)) for b in bases]}
            for src in sources if src != "all"]
    s = summary.iloc[0]

    def missed(col):
        return MARKER if _withheld(s[col]) else f"{float(s[col]):.1f}"

    return {"bases": [LINK_BASIS_WORDS[b] for b in bases], "rows": rows,
            "totals": [_count(cell.get(("all", b), 0)) for b in bases],
            **{k: _count(s[k]) for k in ("by_name", "linked", "ambiguous", "no_match", "review", "accepted",
                                          "rejected", "no_candidate")},
            "missed": missed("missed"), "missed_ambiguous": missed("missed_ambiguous"),
            "missed_no_match": missed("missed_no_match")}


# --------------------------------------------------------------------------- comparison group

ESTIMATOR_WORDS = {"naive_prepost": "before/after (order group only)",
                   "did_matched": "difference in differences (matched)",
                   "did_all": "difference in differences (whole pool)"}


def _ratio_text(row, why: bool = True) -> str:
    """``0.44 (0.36 to 0.55)``; the estimate alone where it has no interval; where there is no
    estimate, the reason (``why``) or a dash."""
    if row is not None and _withheld(row.get("estimate")):
        return MARKER
    if row is None or not _finite(row.get("estimate")):
        return f"not estimated: {_text(row.get('note'))}" if row is not None and why else "–"
    if not (_finite(row.get("ci_low")) and _finite(row.get("ci_high"))):
        return f"{row['estimate']:.2f}"
    return f"{row['estimate']:.2f} ({row['ci_low']:.2f} to {row['ci_high']:.2f})"




#: The comparison section of a report built without the comparison stage's tables.
NO_COMPARISON = {"available": False, "custody_periods": "0", "has_custody": False}


def comparison_context(groups, balance, effects, config: dict) -> dict:
    """The section "How much of the fall is the order?": the comparison group's size, the
    naive and adjusted rate ratios side by side, the balance, and what the design can show;
    all from the released tables (``[c]`` where withheld)."""
    from .comparison import INTERVAL_WORDS, naive_interval

    cc = config["comparison"]
    intervals = INTERVAL_WORDS[cc["standard_errors"]].replace(" interval", " intervals", 1)
    if naive_interval(cc) != cc["standard_errors"]:
        intervals = (f"{intervals} for the differences in differences; for the before/after ratio, a "
                     f"{INTERVAL_WORDS[naive_interval(cc)]} and its p, {int(cc['wild_draws'])} draws")
    names = categories.labels(config["categories"])
    g = groups.iloc[0]
    by = {(r["measure"], r["category"], r["estimator"]): r for r in effects.to_dict("records")}
    rows = []
    for measure in MEASURES:
        for category in categories.names(config["categories"]):
            rows.append({"measure": "Arrests" if measure == "events" else "Harm",
                         "category": names.get(category, category),
                         **{e: _ratio_text(by.get((measure, category, e))) for e in ESTIMATOR_WORDS}})
    main = {e: by.get(("events", categories.OVERALL, e)) for e in ESTIMATOR_WORDS}
    naive, adjusted = main["naive_prepost"], main["did_matched"]
    level = f"{100 * float(cc['confidence_level']):g}%"
    if adjusted is not None and _finite(adjusted.get("estimate")) and naive is not None and _finite(naive.get("estimate")):
        covers = adjusted["ci_low"] <= 1 <= adjusted["ci_high"]
        summary = (f"Arrests of the order group after the order were {naive['estimate']:.2f} times those before "
                   f"({level} CI {naive['ci_low']:.2f} to {naive['ci_high']:.2f}). Relative to the matched comparison "
                   f"group over the same months of their own clocks, the ratio is {adjusted['estimate']:.2f} "
                   f"({level} CI {adjusted['ci_low']:.2f} to {adjusted['ci_high']:.2f}, p {_p(adjusted['p_value'])}): "
                   + ("the interval includes 1, so the data are consistent with the order making no difference "
                      "beyond what happened to the comparison group." if covers else
                      "the interval excludes 1, so the order group's arrests fell more than the comparison "
                      "group's."))
    else:
        summary = ""
    return {
        "available": _withheld(g["n_full"]) or g["n_full"] > 0, "n_order": _count(g["n_order"]),
        "n_listed": _count(g["n_pool"]), "n_full": _count(g["n_full"]), "n_matched": _count(g["n_matched"]),
        "method": cc["matching"]["method"], "ratio": cc["matching"]["ratio"],
        "caliper": cc["matching"]["caliper"], "family": cc["family"], "level": level,
        "intervals": intervals,
        "custody_periods": _count(g["custody_periods"]), "custody_subjects": _count(g["custody_subjects"]),
        "has_custody": _withheld(g["custody_periods"]) or g["custody_periods"] > 0,
        "estimators": list(ESTIMATOR_WORDS.values()), "rows": rows, "summary": summary,
        "balance": [{"feature": str(r.feature).replace("_", " "), "all": _num(r.smd_all), "matched": _num(r.smd_matched),
                     "mean_treated": _g(r.mean_treated), "mean_all": _g(r.mean_control_all),
                     "mean_matched": _g(r.mean_control_matched)} for r in balance.itertuples()],
        "imbalanced": [str(r.feature).replace("_", " ") for r in balance.itertuples()
                       if _finite(r.smd_matched) and abs(r.smd_matched) > 0.1],
    }


def _largest(counts) -> str:
    """The largest of some released counts, or ``[c]`` when any is withheld."""
    values = list(counts)
    if any(_withheld(v) for v in values):
        return MARKER
    return _count(max(values)) if values else "–"


def sensitivity_context(panel, config: dict) -> list[dict]:
    """The sensitivity panel's overall rows, arrests and harm side by side, as text; each
    measure's note, labelled where the two differ."""
    control = config["comparison"]["sensitivity"]["negative_control"]["name"]
    rows = panel.loc[panel["category"].isin([categories.OVERALL, control])]

    out = []
    for analysis, r in rows.groupby("analysis", sort=False):
        by = {m: x for m, x in zip(r["measure"], r.to_dict("records"))}
        notes = {m: _text(x.get("note")) for m, x in by.items() if _text(x.get("note"))}
        note = next(iter(notes.values())) if len(set(notes.values())) == 1 else "; ".join(
            f"{'arrests' if m == 'events' else 'harm'}: {n}" for m, n in notes.items())
        out.append({"analysis": str(analysis).replace("_", " "), "events": _ratio_text(by.get("events"), why=False),
                    "harm": _ratio_text(by.get("harm"), why=False), "n": _largest(r["n_subjects"]), "note": note})
    return out


# --------------------------------------------------------------------------- the context


def _test_rows(tests, rules: dict, config: dict) -> list[dict]:
    names = categories.labels(config["categories"])
    alpha = float(config["study"]["alpha"])
    return [{
        "measure": "Arrests" if r.measure == "events" else "Harm", "category": names.get(r.category, r.category),
        "before": _fmt(r.total_before), "after": _fmt(r.total_after),
        "reduction": MARKER if _withheld(r.reduction_pct) else
        f"{r.reduction_pct:.1f}% ({_fmt(r.reduction_ci_low)} to {_fmt(r.reduction_ci_high)})"
        if _finite(r.reduction_pct) else "–",
        "verdict": MARKER if _withheld(r.reduction_pct) else _verdict(rules, r.measure, r.category, alpha,
                                                                       show_p=not _withheld(r.p_holm)),
        "v": _fmt(r.wilcoxon_v), "n_nonzero": _count(r.n_nonzero), "p": _p(r.p_value), "p_holm": _p(r.p_holm),
        "p_exact": _p(r.p_exact), "r": _num(r.effect_r), "rb": _num(r.rank_biserial),
        "hl": f"{_g(r.hl_estimate)} ({_g(r.hl_ci_low)} to {_g(r.hl_ci_high)})",
        "note": _text(r.note)} for r in tests.itertuples()]


def _its_rows(models, primary: dict) -> list[dict]:
    """The primary models' level and slope terms (overall), as fitted (log scale for counts)."""
    its_rows = []
    for measure, model in primary.items():
        m = models.loc[(models["measure"] == measure) & (models["category"] == "overall") & (models["model"] == model)
                       & models["term"].isin(["post", "time_since"])]
        for r in m.itertuples():
            its_rows.append({"measure": "Arrests" if measure == "events" else "Harm", "model": model.replace("_", " "),
                             "term": "level change (post)" if r.term == "post" else "slope change (time_since)",
                             "se": r.se_type, "estimate": f"{r.estimate:.3f}",
                             "ci": f"{r.ci_low:.3f} to {r.ci_high:.3f}", "p": _p(r.p_value)})
    return its_rows


def _correlation_rows(correlations) -> list[dict]:
    """Each correlation as text; ``rho`` is None where it was not computed (``note`` says why)."""
    return [{"level": str(c.level).replace("_", " "), "n": _count(c.n), "p": _p(c.p_value), "note": c.p_method,
             "rho": MARKER if _withheld(c.rho) else f"{c.rho:.2f}" if _finite(c.rho) else None}
            for c in correlations.itertuples()]


def _shown(value) -> str:
    """A config value as one line of text (JSON for lists and mappings)."""
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def plan_context(plan_file: str | None, config: dict) -> dict:
    """The frozen plan (if any) and every deviation from it, with the deviations recorded
    before plans were frozen (:mod:`strostudy.plan`)."""
    from . import plan
    from .errors import StrostudyError

    recorded = [{**d, "before": _shown(d["before"]), "after": _shown(d["after"]),
                 "seen": "yes" if d["after_seeing_results"] else "no"} for d in plan.recorded_deviations()]
    out = {"frozen": False, "problem": "", "recorded": recorded, "deviations": []}
    if plan_file is None or not Path(plan_file).exists():
        return out
    try:
        frozen = plan.read(plan_file)
    except StrostudyError as err:
        return {**out, "problem": str(err)}
    sha = str(frozen["sha256"])
    return {**out, "frozen": True, "sha256": sha if re.fullmatch(r"[0-9a-f]{64}", sha) else "(not a SHA-256)",
            "date": str(frozen["frozen_utc"]),
            "version": str(frozen["strostudy_version"]), "hash_ok": bool(frozen["hash_ok"]),
            "replaced": len(frozen.get("replaces") or []),
            "deviations": [{"key": d["key"], "planned": _shown(d["planned"]), "used": _shown(d["used"])}
                           for d in plan.deviations(frozen, config)]}


def order_words(types: list[str]) -> str:
    """``an order: Sexual harm prevention order (SHPO)``: the study's order types by their names
    in ``data/order_types.csv`` (a type the package does not know, by its code)."""
    from .order_types import order_types

    known = order_types().set_index("order_type")["name"]
    return "an order: " + " or ".join(f"{known[t]} ({t})" if t in known.index else t for t in types)


def shown(released):
    """A released table as the report shows it: withheld cells as ``[c]`` (object columns),
    without the ``suppressed`` column."""
    from .disclosure import render

    return render(released)


def hidden_decisions(t: dict) -> frozenset:
    """The (measure, category) pairs of the decisions whose numbers are withheld (a decision's
    estimate and interval describe the cells it is computed from): those whose before or after
    total, or reduction, the released tests withhold; the difference of the two overall
    reductions when either is; the correlations when their count of subjects is."""
    from .disclosure import flags

    tests = t["released_tests"]
    f = flags(tests)[["total_before", "total_after", "reduction_pct"]].any(axis=1).to_numpy()
    hidden = set(zip(tests["measure"].astype(str)[f], tests["category"].astype(str)[f]))
    if {("events", "overall"), ("harm", "overall")} & hidden:
        hidden.add(("harm_minus_events", "overall"))
    if "released_correlations" in t and flags(t["released_correlations"]).to_numpy().any():
        d = t["decisions"].loc[t["decisions"]["test"] == "spearman"]
        hidden |= set(zip(d["measure"], d["category"]))
    return frozenset(hidden)


def build_context(tables: dict, config: dict, provenance_info: dict, figures: dict,
                  plan_info: dict | None = None) -> dict:
    """What the templates need.  Every number about people or records comes from a released
    table (``released_*``, :mod:`strostudy.release`), shown with ``[c]`` where disclosure
    control withheld it; the processed cohort flow only decides what can be said."""
    from .config import published
    from .disclosure import Rule, flags, markdown_note

    t = tables
    r = {name.removeprefix("released_"): shown(frame) for name, frame in t.items() if name.startswith("released_")}
    hidden = hidden_decisions(t)
    ledger = r["ledger"]
    summary = r["discrepancy_summary"]
    disc = summary.loc[~((summary["kind"] == "all") & (summary["source_pair"] == "all"))]
    total_disc = summary.loc[(summary["kind"] == "all") & (summary["source_pair"] == "all"), "n"]
    events = t["events"]
    n = analysed(t["cohort_flow"])
    empty = n == 0
    paper = published()
    # Only a study of STROs alone is set beside the publication (issue 16).
    types = [str(x) for x in config["study"].get("order_types", ["STRO"])]
    calibrated = types == ["STRO"]
    headline_rows = [] if empty or not calibrated else headline(paper, r, config, n)
    decisions = t["decisions"]
    rules = _rules(decisions)
    level_pct = f"{100 * float(config['prepost']['confidence_level']):g}%"
    measures = list(config["its"]["primary"])
    claims = [] if empty or not calibrated else claim_rows(decisions, paper, hidden)
    pp = config["prepost"]
    rule = Rule.from_config(config.get("disclosure"))
    log = t.get("study_checking_log", ())
    return {
        "config": config, "provenance": provenance_info, "headline": headline_rows, "calibrated": calibrated,
        "order_words": "a Slavery and Trafficking Risk Order" if calibrated else order_words(types),
        "orders_plural": "STROs" if calibrated else "these orders", "study_types": ", ".join(types),
        "all_match": bool(headline_rows) and all(row["match"] is not False for row in headline_rows),
        "headline_withheld": sum(row["match"] is None for row in headline_rows),
        "claims": claims, "claims_holding": sum(c["holds"] is True for c in claims),
        "claims_withheld": sum(c["holds"] is None for c in claims),
        "empty": empty, "statement": cohort_statement(n, r["flow"], config),
        "harm_index": str(events["harm_index"].iloc[0]) if len(events) else config["harm"]["index_name"],
        "harm_table": config["harm"]["table"],
        "flow": [{"step": row.step.replace("_", " "), "reason": _text(row.reason), "n": _count(row.n)}
                 for row in r["flow"].itertuples()],
        "ledger": [{**row, "rows": _count(row["rows"]), "reason": _text(row["reason"])}
                   for row in ledger.to_dict("records")],
        "discrepancies": [{**row, "n": _count(row["n"])} for row in disc.to_dict("records")],
        "n_discrepancies": _count(total_disc.iloc[0]) if len(total_disc) else "0",
        "unknown_codes": [{**row, "offences": _count(row["offences"]), "arrests": _count(row["arrests"])}
                          for row in r["unknown_codes"].fillna("").to_dict("records")],
        "tests": _test_rows(r["tests"], rules, config),
        "n_tests": int((t["released_tests"]["p_holm"].notna() | flags(t["released_tests"])["p_holm"]).sum()),
        "alternative": pp["alternative"], "mu": pp["mu"],
        "difference": difference_sentence(rules, level_pct, pp["reduction_interval"], hidden),
        "reduction_interval": ("Fieller intervals of the ratio of paired means (Student's t on n − 1 df; a "
                               "reduction's interval excludes no change exactly when the paired t-test of the "
                               "per-subject change rejects)" if pp["reduction_interval"] == "fieller"
                               else "cluster-bootstrap (BCa) intervals over subjects"),
        "its_rows": _its_rows(t["its_models"], config["its"]["primary"]),
        "its_statements": its_statements(decisions, measures, t["its_models"]),
        "its_decisions": its_decision_rows(decisions),
        "not_fitted": not_fitted(t["its_models"], measures),
        "correlations": _correlation_rows(r["correlations"]),
        "linkage": linkage_context(r.get("linkage_quality"), r.get("linkage_summary")),
        "sensitivity": sensitivity_context(r["sensitivity"], config) if "sensitivity" in r else [],
        "main_window": f"window {int(config['study']['window_months'])}",
        "comparison": comparison_context(r["comparison_groups"], r["comparison_balance"], r["comparison_effects"],
                                         config) if "comparison_effects" in r else NO_COMPARISON,
        "disclosure": {"note": MdSafe(markdown_note(rule)), "withheld": len(log), "log": "output_checking_log.csv",
                       "tables": "tables/", "min_cell": rule.min_cell},
        "plan": plan_info or plan_context(None, config),
        "config_fence": md_fence(provenance_info["config_yaml"], "yaml"),
        "figures": figures, "published_source": "College of Policing, Going equipped issue 12 (25 June 2026), "
                                                "practice note 'Slavery and trafficking risk orders'",
        "fmt": _fmt, "p": _p, "alpha": float(config["study"]["alpha"]), "level_pct": level_pct,
    }


# --------------------------------------------------------------------------- escaping and rendering


class MdSafe(str):
    """Text already safe to place in the Markdown report: escaped by :func:`md_escape`, or
    built here to be literal (a URL, a fenced block)."""


_MD_SPECIAL = re.compile(r"([\\`*~\[\]|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")
_NEWLINE = re.compile(r"\r\n|\r|\n")


def md_escape(value) -> MdSafe:
    """Any value as inert Markdown text, safe in a paragraph or a table cell: ``&``, ``<``,
    ``>`` as entities (renderers pass raw HTML through); ``\\``, backticks, ``*``, ``~``, ``[``,
    ``]``, ``|`` and any ``_`` not between two letters or digits (which cannot start or end
    emphasis) backslash-escaped: no code span, emphasis, link or cell break; a line break as
    ``<br>`` (a newline would end the table row)."""
    if isinstance(value, MdSafe):
        return value
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return MdSafe(_NEWLINE.sub("<br>", _MD_SPECIAL.sub(r"\\\1", text)))


def md_url(path) -> MdSafe:
    """A relative path as a link destination: percent-encoded, so it cannot end the link."""
    return MdSafe(urllib.parse.quote(str(path).replace(os.sep, "/"), safe="/"))


def md_fence(text: str, info: str = "") -> MdSafe:
    """``text`` in a fenced code block whose fence is longer than any run of backticks in it,
    so nothing in the text can close the block."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return MdSafe(f"{fence}{info}\n{text if text.endswith(chr(10)) else text + chr(10)}{fence}")


def environment(markdown: bool):
    """The Jinja environment of one report.  HTML: autoescape on, so every value is escaped
    (nothing is marked safe).  Markdown: every ``{{ }}`` output passes through
    :func:`md_escape` (``finalize``) unless it is already :class:`MdSafe`."""
    from jinja2 import Environment, PackageLoader

    if not markdown:
        return Environment(loader=PackageLoader("strostudy", "templates"), autoescape=True, trim_blocks=True,
                           lstrip_blocks=True)
    env = Environment(loader=PackageLoader("strostudy", "templates"), autoescape=False, trim_blocks=True,
                      lstrip_blocks=True, finalize=md_escape)
    env.filters.update(md=md_escape, md_url=md_url)
    return env


def render(context: dict) -> tuple[str, str]:
    return environment(True).get_template("results.md.j2").render(**context), \
        environment(False).get_template("results.html.j2").render(**context)


def caption(name: str, config: dict) -> str:
    """A figure's caption (``templates/captions/NAME.rst``), with the config filled in.  The
    text is escaped where it is rendered, like every other value."""
    from jinja2 import Template

    file = Path(__file__).resolve().parent / "templates" / "captions" / f"{name}.rst"
    return Template(file.read_text()).render(snakemake={"config": config}).strip()


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> None:
    """The report stage: results.md (figures linked) and results.html (figures embedded,
    self-contained), from the declared inputs only."""
    import base64

    import pandas as pd

    from . import tables as registry
    from .stages import say

    t = {name: registry.read(name, inputs[name]) for name in registry.REPORT_TABLES}
    t["study_checking_log"] = pd.read_csv(inputs["study_checking_log"], dtype=str, keep_default_na=False)
    figs = {}
    for name in registry.FIGURES:
        png = Path(inputs[f"{name}_png"])
        md_src = os.path.relpath(png, Path(output["results_md"]).parent)
        figs[name] = {"md_src": md_src,
                      "data_uri": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii"),
                      "caption": caption(name, config)}
    context = build_context(t, config, provenance(inputs, config), figs,
                            plan_context(inputs.get("analysis_plan"), config))
    markdown, html = render(context)
    for key, text in (("results_md", markdown), ("results_html", html)):
        Path(output[key]).parent.mkdir(parents=True, exist_ok=True)
        Path(output[key]).write_text(text)
    say(f"wrote {output['results_html']} and {output['results_md']}"
        + (f" ({context['statement'].split(':')[0].lower()})" if context["empty"] else ""), log)
