"""The cross-study index: one row per study of ``config["studies"]``, a forest plot of the
studies' reductions, and disclosure control of every count, with an output-checking log.

Each study has its own tables and report (``reports/<study>/results.html``).  The index reads
three of each study's tables (``cohort_flow``, ``prepost_tests`` and, where there is one,
``comparison_effects``), puts one row per study in config order (:func:`study_row`,
:func:`index_table`), withholds what the disclosure rule says must not be published
(:func:`disclose`, :mod:`strostudy.disclosure`), and writes ``reports/index.html`` and
``reports/index.md`` (:func:`render`), the forest plot (:func:`forest_figure`), the published
table and the output-checking log (:func:`run`).

Disclosure, as applied here (:data:`COUNT_COLUMNS`, :data:`DERIVED`):

* counts of people (orders listed, with full windows, analysed, tested) and the arrest totals
  before and after are frequency cells, withheld below ``disclosure.min_cell``;
* a statistic of a study whose analysed count or arrest totals are withheld (its reductions,
  their intervals, its rate ratios and the comparison's note) is withheld with them: it
  describes fewer people, or fewer arrests, than the threshold allows;
* harm totals: the index's inputs hold no per-person contributions, so neither the
  few-contributors rule nor the dominance rule can be evaluated on them here.  A harm total is
  treated as derived from the study's analysed count and its arrests in the same window, and
  withheld when those are (a harm total summed over fewer than ``min_cell`` people or
  arrests); the harm reductions and ratios follow their totals.  No contributor counts are
  invented.
* the rows are different studies (different sets of people), so no cells add up across rows,
  and within a row the counts are nested, not parts of a published total: there are no
  lines, hence no secondary suppression.  The differences between published counts (e.g.
  orders with full windows minus orders analysed) are each study's own cohort flow, checked
  with that study's report, not here.

:func:`disclose` ends with :func:`strostudy.disclosure.check`, the final gate: the index is not
written if a published cell still breaks the rule.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from . import studies

#: The index table's columns and dtypes, in order (one row per study).
COLUMNS = {
    "study": "string", "label": "string", "order_types": "string",
    "n_listed": "Int64", "n_full": "Int64", "n_analysed": "Int64", "n_subjects": "Int64",
    "arrests_before": "Int64", "arrests_after": "Int64",
    "arrests_reduction_pct": "Float64", "arrests_ci_low": "Float64", "arrests_ci_high": "Float64",
    "harm_before": "Float64", "harm_after": "Float64",
    "harm_reduction_pct": "Float64", "harm_ci_low": "Float64", "harm_ci_high": "Float64",
    "rate_ratio": "Float64", "rate_ratio_ci_low": "Float64", "rate_ratio_ci_high": "Float64",
    "harm_ratio": "Float64", "harm_ratio_ci_low": "Float64", "harm_ratio_ci_high": "Float64",
    "comparison_note": "string",
}

#: Frequency cells: counts of people and of arrests.
COUNT_COLUMNS = ("n_listed", "n_full", "n_analysed", "n_subjects", "arrests_before", "arrests_after")
_PEOPLE = ["n_analysed", "n_subjects"]
_ARRESTS = ["arrests_before", "arrests_after"]
_HARM = ["harm_before", "harm_after"]
#: Each statistic and the cells it is computed from (withheld with any of them).
DERIVED = {
    **{c: [*_PEOPLE, *_ARRESTS] for c in ("arrests_reduction_pct", "arrests_ci_low", "arrests_ci_high",
                                          "rate_ratio", "rate_ratio_ci_low", "rate_ratio_ci_high",
                                          "comparison_note")},
    "harm_before": [*_PEOPLE, "arrests_before"],
    "harm_after": [*_PEOPLE, "arrests_after"],
    **{c: list(_HARM) for c in ("harm_reduction_pct", "harm_ci_low", "harm_ci_high",
                                "harm_ratio", "harm_ratio_ci_low", "harm_ratio_ci_high")},
}
#: The key of each row in the output-checking log (a study's name from config, never a value).
KEY_COLUMNS = ("study",)
#: The index's name in the output-checking log.
TABLE_NAME = "index_table"
#: The adjusted estimator the index shows (:mod:`strostudy.comparison`).
ADJUSTED = "did_matched"
#: The order types of the one study calibrated to a publication (the College of Policing's
#: 2026 practice note on STROs, ``data/published_study.yaml``).
PUBLISHED_ORDER_TYPES = ("STRO",)


# --------------------------------------------------------------------------- one row per study


def _first(frame, mask, column):
    """``frame.loc[mask, column]``'s first value as a Python scalar, or NaN when there is none."""
    import pandas as pd

    hit = frame.loc[mask, column] if len(frame) and column in frame.columns else []
    if not len(hit):
        return math.nan
    value = hit.iloc[0]
    return math.nan if pd.isna(value) else value


def _overall(tests, measure: str, column: str):
    if not len(tests):
        return math.nan
    return _first(tests, (tests["measure"] == measure) & (tests["category"] == "overall"), column)


def _effect(effects, measure: str, column: str):
    if effects is None or not len(effects):
        return math.nan
    return _first(effects, (effects["estimator"] == ADJUSTED) & (effects["measure"] == measure)
                  & (effects["category"] == "overall"), column)


def study_row(name: str, study_cfg: dict, cohort_flow, prepost_tests, comparison_effects) -> dict:
    """One study's row of the index (the keys of :data:`COLUMNS`), from its cohort flow, its
    before/after tests (the ``overall`` rows of arrests and harm) and its comparison effects
    (the matched difference in differences, ``overall``; NaN where there is none, with the
    comparison's note when it gave one).  Missing steps or rows give NaN, not an error."""
    order_types = [str(t) for t in study_cfg["order_types"]]
    flow = cohort_flow
    note = _effect(comparison_effects, "events", "note")
    row = {
        "study": str(name),
        "label": studies.label(study_cfg),
        "order_types": ", ".join(order_types),
        "n_listed": _first(flow, flow["step"] == "orders_listed", "n_in") if len(flow) else math.nan,
        "n_full": _first(flow, flow["step"] == "full_windows", "n_out") if len(flow) else math.nan,
        "n_analysed": flow["n_out"].iloc[-1] if len(flow) else math.nan,
        "n_subjects": _overall(prepost_tests, "events", "n_subjects"),
        "arrests_before": _overall(prepost_tests, "events", "total_before"),
        "arrests_after": _overall(prepost_tests, "events", "total_after"),
        "harm_before": _overall(prepost_tests, "harm", "total_before"),
        "harm_after": _overall(prepost_tests, "harm", "total_after"),
        "rate_ratio": _effect(comparison_effects, "events", "estimate"),
        "rate_ratio_ci_low": _effect(comparison_effects, "events", "ci_low"),
        "rate_ratio_ci_high": _effect(comparison_effects, "events", "ci_high"),
        "harm_ratio": _effect(comparison_effects, "harm", "estimate"),
        "harm_ratio_ci_low": _effect(comparison_effects, "harm", "ci_low"),
        "harm_ratio_ci_high": _effect(comparison_effects, "harm", "ci_high"),
        "comparison_note": note if isinstance(note, str) and note else None,
    }
    for measure, prefix in (("events", "arrests"), ("harm", "harm")):
        row[f"{prefix}_reduction_pct"] = _overall(prepost_tests, measure, "reduction_pct")
        row[f"{prefix}_ci_low"] = _overall(prepost_tests, measure, "reduction_ci_low")
        row[f"{prefix}_ci_high"] = _overall(prepost_tests, measure, "reduction_ci_high")
    return {c: row[c] for c in COLUMNS}


def index_table(rows: list[dict]):
    """The index: one row per study, in the order given, with the dtypes of :data:`COLUMNS`
    (a count that is not a whole number is an error)."""
    import pandas as pd

    return pd.DataFrame({c: pd.array([r.get(c) for r in rows], dtype=dtype) for c, dtype in COLUMNS.items()})


# --------------------------------------------------------------------------- disclosure


def rule(config: dict):
    """The disclosure rule of ``config["disclosure"]`` (defaults where it is absent)."""
    from .disclosure import Rule

    return Rule.from_config(config.get("disclosure"))


def disclose(table, rule):
    """``(published, log)``: the index with every cell the rule withholds set to NA and listed
    in its ``suppressed`` column, and one log row per withheld cell (never its value).  Raises
    :class:`strostudy.disclosure.DisclosureError` if the published table fails the final gate."""
    from . import disclosure

    spec = {"key_cols": list(KEY_COLUMNS), "derived": DERIVED}
    published, log = disclosure.apply(table, COUNT_COLUMNS, table_name=TABLE_NAME, rule=rule, **spec)
    problems = disclosure.check(published, COUNT_COLUMNS, rule=rule, source=table, **spec)
    if problems:
        shown = "; ".join(f"{k} {c}: {p}" for k, c, p in problems[:5])
        raise disclosure.DisclosureError(f"the study index fails disclosure control ({shown})")
    return published, log


def _withheld(table):
    """Per cell, whether it was withheld (none for a table that did not go through disclosure)."""
    import pandas as pd

    from .disclosure import SUPPRESSED, flags

    if SUPPRESSED in table.columns:
        return flags(table)
    return pd.DataFrame(False, index=table.index, columns=table.columns)


def _floats(series):
    import numpy as np

    return series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


# --------------------------------------------------------------------------- the forest plot

#: The panels of the forest plot: the measure's column prefix in the index.
PANELS = ("arrests", "harm")


def _panel_title(prefix: str, config: dict) -> str:
    return "Arrests" if prefix == "arrests" else str(config["harm"]["short_name"])


def forest_figure(table, config: dict):
    """The studies' reductions after the order (%), arrests and harm side by side, each with
    its interval, one row per study (config order, top to bottom), a line at no change.  A
    withheld reduction is not drawn: the row says ``[c]``; one not computed says ``n/a``.
    ``table`` is the published index (:func:`disclose`) or the index itself."""
    import textwrap

    import matplotlib.pyplot as plt
    import numpy as np

    from . import style
    from .disclosure import MARKER

    fig_cfg = config["figures"]
    style.apply(fig_cfg)
    n = len(table)
    labels = [textwrap.fill(str(s), 28) for s in table["label"].astype(object)]
    # Each row is as tall as its label's lines, so wrapped labels never overlap.
    slots = np.array([0.7 + 0.45 * (label.count("\n") + 1) for label in labels])
    edges = np.r_[0.0, np.cumsum(slots[::-1])]
    y = ((edges[:-1] + edges[1:]) / 2)[::-1]  # the first study at the top
    width, _ = style.size(fig_cfg)
    height = 0.9 + 0.22 * max(float(edges[-1]), 1.15)
    fig, axes = plt.subplots(1, len(PANELS), figsize=style.size(fig_cfg, height / width), sharey=True)
    colours = style.palette(fig_cfg)
    if n == 0:
        for ax, prefix in zip(axes, PANELS):
            style.empty_panel(ax, "No studies")
            ax.set_title(_panel_title(prefix, config))
        return fig
    withheld = _withheld(table)
    for k, (ax, prefix) in enumerate(zip(axes, PANELS)):
        est, lo, hi = (_floats(table[f"{prefix}_{c}"]) for c in ("reduction_pct", "ci_low", "ci_high"))
        hidden = withheld[f"{prefix}_reduction_pct"].to_numpy(dtype=bool)
        ax.axvline(0, color="0.45", lw=0.8, zorder=1)
        shown = ~hidden & np.isfinite(est)
        has_ci = shown & np.isfinite(lo) & np.isfinite(hi)
        colour = colours[k % len(colours)]
        if has_ci.any():
            ax.errorbar(est[has_ci], y[has_ci], xerr=[est[has_ci] - lo[has_ci], hi[has_ci] - est[has_ci]],
                        fmt="o", color=colour, ms=4, capsize=2, lw=1, zorder=3)
        if (shown & ~has_ci).any():
            ax.plot(est[shown & ~has_ci], y[shown & ~has_ci], "o", color=colour, ms=4, zorder=3)
        for i in np.flatnonzero(~shown):
            ax.text(0, y[i], MARKER if hidden[i] else "n/a", ha="center", va="center", color="0.25",
                    fontsize="small", zorder=4, bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none"})
        ax.set_title(_panel_title(prefix, config))
        ax.set_xlabel("Reduction after the order (%)")
        ax.set_ylim(0, edges[-1])
        if not shown.any():  # nothing but markers: the whole range a reduction (%) can take up to 100
            ax.set_xlim(-100, 100)
        ax.tick_params(axis="y", length=0)
    axes[0].set_yticks(y, labels)
    fig.tight_layout()
    return fig


def caption(config: dict) -> str:
    """The forest plot's caption, from config."""
    from .disclosure import MARKER

    window = int(config["study"]["window_months"])
    level = f"{100 * float(config['prepost']['confidence_level']):g}%"
    return (f"Percentage reduction in arrests and in {config['harm']['short_name']} in the {window} months after "
            f"the order against the {window} months before, one row per study, with {level} intervals; a point "
            f"right of the line is a fall, left of it a rise. {MARKER}: withheld (disclosure control); n/a: "
            "not computed.")


def save_figure(fig, png: str | Path, pdf: str | Path, fig_cfg: dict) -> list[Path]:
    """The figure as PNG and PDF (:func:`strostudy.style.save`: byte-identical on rerun)."""
    from . import style

    png, pdf = Path(png), Path(pdf)
    written = style.save(fig, png.with_suffix(""), fig_cfg)
    if written[1] != pdf:
        pdf.parent.mkdir(parents=True, exist_ok=True)
        written[1].replace(pdf)
        written[1] = pdf
    return written


# --------------------------------------------------------------------------- rendering


def _minus(text: str) -> str:
    return text.replace("-", "−")


def _count(value, hidden: bool):
    import pandas as pd

    from .disclosure import MARKER
    from .report import MdSafe

    if hidden:
        return MdSafe(MARKER)
    return "–" if pd.isna(value) else f"{int(value):,}"


def _interval(est, lo, hi, hidden: bool, pattern: str, unit: str = ""):
    """``est(unit) (lo to hi)``, the marker when withheld, a dash when not computed."""
    from .disclosure import MARKER
    from .report import MdSafe

    if hidden:
        return MdSafe(MARKER)
    if not math.isfinite(est):
        return "–"
    text = format(est, pattern) + unit
    if math.isfinite(lo) and math.isfinite(hi):
        text += f" ({format(lo, pattern)} to {format(hi, pattern)})"
    return _minus(text)


def _rows(table, links: dict[str, str]) -> tuple[list[dict], list[str]]:
    """The rendered table's cells per study, and a note per study whose comparison gave none."""
    from .report import md_url

    withheld = _withheld(table)
    values = {c: _floats(table[c]) for c, dtype in COLUMNS.items() if dtype == "Float64"}
    stats = {"arrests": (("arrests_reduction_pct", "arrests_ci_low", "arrests_ci_high"), ".1f", "%"),
             "harm": (("harm_reduction_pct", "harm_ci_low", "harm_ci_high"), ".1f", "%"),
             "ratio": (("rate_ratio", "rate_ratio_ci_low", "rate_ratio_ci_high"), ".2f", "")}
    rows, notes = [], []
    for i in range(len(table)):
        r, w = table.iloc[i], withheld.iloc[i]
        study = str(r["study"])
        row = {"study": study, "label": str(r["label"]), "order_types": str(r["order_types"]),
               "href": md_url(links[study]) if study in links else "",
               **{c: _count(r[c], bool(w[c])) for c in ("n_listed", "n_full", "n_analysed")}}
        for key, (cols, pattern, unit) in stats.items():
            row[key] = _interval(*(float(values[c][i]) for c in cols), hidden=bool(w[list(cols)].any()),
                                 pattern=pattern, unit=unit)
        rows.append(row)
        note = r["comparison_note"]
        if row["ratio"] == "–" and not w["comparison_note"] and isinstance(note, str) and note:
            notes.append(f"{row['label']}: the adjusted rate ratio was not estimated ({note}).")
    return rows, notes


def overlaps(studies: dict) -> list[str]:
    """Each pair of studies that share an order type, in words ("stro and stro_stpo both
    include STRO"): their counts could be differenced."""
    names = list(studies)
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = [t for t in studies[a]["order_types"] if t in set(studies[b]["order_types"])]
            if shared:
                out.append(f"{a} and {b} both include {', '.join(map(str, shared))}")
    return out


def context(table, log, config: dict, links: dict[str, str], figure: dict | None = None,
            log_path: str = "reports/output_checking_log.csv") -> dict:
    """What the index templates show (every value from data escaped where it is rendered)."""
    from .disclosure import MARKER
    from .report import MdSafe

    sdc = rule(config)
    rows, notes = _rows(table, links)
    studies = config["studies"]
    published_only = [n for n, s in studies.items() if tuple(s["order_types"]) == PUBLISHED_ORDER_TYPES]
    others = [n for n in studies if n not in published_only]
    reasons = log["reason"].astype(str)
    return {
        "rows": rows, "notes": notes, "figure": figure,
        "window": int(config["study"]["window_months"]),
        "level": f"{100 * float(config['prepost']['confidence_level']):g}%",
        "ratio_level": f"{100 * float(config['comparison']['confidence_level']):g}%",
        "harm_name": str(config["harm"]["short_name"]),
        "source": str(config.get("source", "")), "synthetic": config.get("source") == "synthetic",
        "other_studies": bool(others), "stro_studies": published_only, "overlaps": overlaps(studies),
        "rule": {"min_cell": sdc.min_cell, "dominance_n": sdc.dominance_n,
                 "dominance_share": f"{100 * sdc.dominance_share:g}%", "suppress_zeros": sdc.suppress_zeros},
        "n_withheld": len(log), "n_primary": int(reasons.str.startswith("primary:").sum()),
        "n_derived": int((reasons == "derived").sum()),
        "marker": MdSafe(MARKER), "log_path": log_path,
    }


def render(table, log, config: dict, links: dict[str, str], *, figure: dict | None = None,
           log_path: str = "reports/output_checking_log.csv") -> tuple[str, str]:
    """``(markdown, html)`` of the index: ``table`` is the published index (:func:`disclose`),
    ``log`` its output-checking log, ``links`` each study's report relative to the index
    (``{"stro": "stro/results.html"}``), ``figure`` the forest plot (``md_src``: its path
    relative to the Markdown file; ``data_uri``: the PNG embedded; ``caption``) or None."""
    from .report import environment

    ctx = context(table, log, config, links, figure, log_path)
    texts = (environment(True).get_template("index.md.j2").render(**ctx),
             environment(False).get_template("index.html.j2").render(**ctx))
    return tuple(t if t.endswith("\n") else t + "\n" for t in texts)


# --------------------------------------------------------------------------- the stage


def _inputs_of(study: str) -> dict[str, str]:
    return {t: f"{study}__{t}" for t in ("cohort_flow", "prepost_tests", "comparison_effects")}


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> None:
    """The index stage.  ``inputs``: ``{study}__cohort_flow``, ``{study}__prepost_tests`` and
    (optional: without it the study has no adjusted ratio) ``{study}__comparison_effects`` for
    each study of ``config["studies"]``.  ``output``: ``index_html``, ``index_md``,
    ``index_table`` (the published index, CSV), ``output_checking_log`` (CSV),
    ``studies_forest_png``, ``studies_forest_pdf``."""
    import base64

    import pandas as pd

    from . import tables
    from .errors import StrostudyError
    from .stages import say

    studies = config.get("studies") or {}
    if not studies:
        raise StrostudyError("config has no studies: the index needs config['studies'] (name: {order_types: [...]})")
    rows = []
    for name, study_cfg in studies.items():
        keys = _inputs_of(name)
        for table_name in ("cohort_flow", "prepost_tests"):
            if keys[table_name] not in inputs:
                raise StrostudyError(f"index: no input {keys[table_name]!r} for study {name!r}")
        effects = (tables.read("comparison_effects", inputs[keys["comparison_effects"]])
                   if keys["comparison_effects"] in inputs else pd.DataFrame())
        rows.append(study_row(name, study_cfg, tables.read("cohort_flow", inputs[keys["cohort_flow"]]),
                              tables.read("prepost_tests", inputs[keys["prepost_tests"]]), effects))
    published, checking_log = disclose(index_table(rows), rule(config))

    fig_cfg = config["figures"]
    png, pdf = Path(output["studies_forest_png"]), Path(output["studies_forest_pdf"])
    save_figure(forest_figure(published, config), png, pdf, fig_cfg)
    md_file, html_file = Path(output["index_md"]), Path(output["index_html"])
    figure = {"md_src": os.path.relpath(png, md_file.parent),
              "data_uri": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii"),
              "caption": caption(config)}
    links = {name: f"{name}/results.html" for name in studies}
    log_shown = os.path.relpath(output["output_checking_log"], html_file.parent.parent)
    markdown, html = render(published, checking_log, config, links, figure=figure, log_path=log_shown)
    for file, text in ((md_file, markdown), (html_file, html)):
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    tables.write(published, "index_table", output["index_table"])
    tables.write_csv_file(checking_log, output["output_checking_log"])
    say(f"wrote {html_file} and {md_file}: {len(published)} stud{'y' if len(published) == 1 else 'ies'}, "
        f"{len(checking_log)} cell(s) withheld", log)
