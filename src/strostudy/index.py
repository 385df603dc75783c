"""The cross-study index: one row per study of ``config["studies"]``, a forest plot of the
studies' reductions, and disclosure control of every count, with an output-checking log.

Each study has its own tables and report (``reports/<study>/results.html``).  The index reads
three of each study's *released* tables (:mod:`strostudy.release`: the flow, the before/after
tests and, where there is one, the comparison's effects), so a cell a study's report withholds
is withheld here too (:func:`upstream_cells`), and merges each study's output-checking log into
its own.  It puts one row per study in config order (:func:`study_row`,
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
* harm totals: the few-contributors and dominance rules are evaluated on each study's own
  subjects by its release (a harm total they fail arrives withheld).  Here a harm total is also
  treated as derived from the study's analysed count and its arrests in the same window, and
  withheld when those are; the harm reductions and ratios follow their totals.
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
#: The ``study`` entry of the merged output-checking log for the index's own cells.
ALL_STUDIES = "(index)"
#: The log's rule for an index cell withheld because its study's release withheld it.
UPSTREAM_RULE = "inputs=the study's released tables"
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


def _released_flow(flow) -> dict:
    """The index's counts from a study's released flow (one count per step)."""
    return {"n_listed": _first(flow, flow["step"] == "orders_listed", "n"),
            "n_full": _first(flow, flow["step"] == "full_windows", "n"),
            "n_analysed": _first(flow, flow["step"] == "analysed", "n")}


def study_row(name: str, study_cfg: dict, cohort_flow, prepost_tests, comparison_effects) -> dict:
    """One study's row of the index (the keys of :data:`COLUMNS`), from its cohort flow (as the
    cohort stage writes it, or as the release stage publishes it), its
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
        **(_released_flow(flow) if "n_in" not in flow.columns else {
            "n_listed": _first(flow, flow["step"] == "orders_listed", "n_in") if len(flow) else math.nan,
            "n_full": _first(flow, flow["step"] == "full_windows", "n_out") if len(flow) else math.nan,
            "n_analysed": flow["n_out"].iloc[-1] if len(flow) else math.nan}),
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


def disclose(table, rule, upstream=None):
    """``(published, log)``: the index with every cell the rule withholds set to NA and listed
    in its ``suppressed`` column, and one log row per withheld cell (never its value).
    ``upstream``: the cells (a boolean frame, :func:`upstream_cells`) whose study withheld them
    in its own released tables, withheld here too with what is computed from them.  Raises
    :class:`strostudy.disclosure.DisclosureError` if the published table fails the final gate."""
    from . import disclosure

    spec = {"key_cols": list(KEY_COLUMNS), "derived": DERIVED}
    published, log = disclosure.apply(table, COUNT_COLUMNS, table_name=TABLE_NAME, rule=rule, upstream=upstream,
                                      upstream_rule=UPSTREAM_RULE, **spec)
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


def own_index_notes(config: dict) -> list[str]:
    """A note for each study scored on its own harm index (A140): its harm column is on another
    scale from the other studies'."""
    out = []
    for entry in config["studies"].values():
        own = entry.get("harm") or {}
        if own:
            out.append(f"{studies.label(entry)}: harm is scored on its own index "
                       f"({own.get('index_name') or own.get('table')}), not the {config['harm']['short_name']} of "
                       "the other studies, so its harm column is not comparable with theirs")
    return out


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
    notes = [*notes, *own_index_notes(config)]
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
    from .tables import INDEX_TABLES

    return {t: f"{study}__{t}" for t in INDEX_TABLES}


def upstream_cells(withheld_rows: list[dict]):
    """The index's cells that come from a cell a study's release withheld (from
    :func:`study_row` on each study's :func:`withheld_view`: 1.0 where withheld)."""
    import pandas as pd

    cols = [c for c in COLUMNS if c not in ("study", "label", "order_types")]
    return pd.DataFrame({c: [r.get(c) == 1.0 for r in withheld_rows] for c in cols}, dtype=bool)


def withheld_view(released):
    """A study's released table with each checked value replaced by 1.0 where it was withheld
    and 0.0 where it was published (keys and text kept), so that :func:`study_row` on it says
    which cells of the index come from a withheld cell."""
    import pandas as pd

    from .disclosure import SUPPRESSED, flags

    out = released.drop(columns=[SUPPRESSED]).copy()
    f = flags(released)
    for c in f.columns:
        if pd.api.types.is_numeric_dtype(released[c]) or f[c].any():
            out[c] = f[c].astype(float)
    return out


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> None:
    """The index stage.  ``inputs``: for each study of ``config["studies"]``, its released
    tables (:mod:`strostudy.release`) ``{study}__released_flow``, ``{study}__released_tests`` and
    (optional: without it the study has no adjusted ratio) ``{study}__released_comparison_effects``,
    and its ``{study}__study_checking_log``, merged into the index's.  ``output``: ``index_html``, ``index_md``,
    ``index_table`` (the published index, CSV), ``output_checking_log`` (CSV),
    ``studies_forest_png``, ``studies_forest_pdf``."""
    import base64

    import pandas as pd

    from . import tables
    from .disclosure import SUPPRESSED
    from .errors import StrostudyError
    from .stages import say

    studies = config.get("studies") or {}
    if not studies:
        raise StrostudyError("config has no studies: the index needs config['studies'] (name: {order_types: [...]})")
    rows, hidden, study_logs = [], [], []
    for name, study_cfg in studies.items():
        keys = _inputs_of(name)
        missing = [keys[t] for t in ("released_flow", "released_tests", "study_checking_log") if keys[t] not in inputs]
        if missing:
            raise StrostudyError(f"index: no input {missing[0]!r} for study {name!r}")
        # Without a comparison input the study has no adjusted ratio.
        released = [tables.read(t, inputs[keys[t]]) if keys[t] in inputs else pd.DataFrame(
            {"measure": [], "category": [], "estimator": [], SUPPRESSED: []})
            for t in ("released_flow", "released_tests", "released_comparison_effects")]
        rows.append(study_row(name, study_cfg, *[r.drop(columns="suppressed") for r in released]))
        hidden.append(study_row(name, study_cfg, *[withheld_view(r) for r in released]))
        study_logs.append(pd.read_csv(inputs[keys["study_checking_log"]], dtype=str, keep_default_na=False)
                          .assign(study=name))
    published, index_log = disclose(index_table(rows), rule(config), upstream_cells(hidden))
    checking_log = pd.concat([index_log.assign(study=ALL_STUDIES), *study_logs], ignore_index=True)
    checking_log = checking_log[["study", *[c for c in checking_log.columns if c != "study"]]]

    fig_cfg = config["figures"]
    png, pdf = Path(output["studies_forest_png"]), Path(output["studies_forest_pdf"])
    save_figure(forest_figure(published, config), png, pdf, fig_cfg)
    md_file, html_file = Path(output["index_md"]), Path(output["index_html"])
    figure = {"md_src": os.path.relpath(png, md_file.parent),
              "data_uri": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii"),
              "caption": caption(config)}
    links = {name: f"{name}/results.html" for name in studies}
    log_shown = os.path.relpath(output["output_checking_log"], html_file.parent.parent)
    markdown, html = render(published, index_log, config, links, figure=figure, log_path=log_shown)
    for file, text in ((md_file, markdown), (html_file, html)):
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
    tables.write(published, "index_table", output["index_table"])
    tables.write_csv_file(checking_log, output["output_checking_log"])
    say(f"wrote {html_file} and {md_file}: {len(published)} stud{'y' if len(published) == 1 else 'ies'}, "
        f"{len(index_log)} cell(s) withheld (the log lists them and the studies' own "
        f"{len(checking_log) - len(index_log)})", log)
