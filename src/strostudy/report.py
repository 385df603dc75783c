"""The results report: Markdown and self-contained HTML rendered from Jinja2 templates.

Everything in it is computed from the workflow's outputs and the provenance of its inputs;
nothing is typed in by hand.  The run date is the only line that changes between two runs
on the same inputs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import subprocess
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

from . import categories
from .cohort import EXCLUSION_RULES
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
        "run_date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)) or float(value).is_integer() and abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _p(value) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def _num(value, spec: str = ".2f") -> str:
    """``value`` formatted by ``spec``, or a dash when it is missing (a test not run)."""
    return "–" if value is None or not np.isfinite(value) else format(value, spec)


def _finite(value) -> bool:
    return value is not None and bool(np.isfinite(value))


def _at(frame, key, column):
    """``frame.loc[key, column]``, or NaN when the row is not there."""
    return frame.loc[key, column] if key in frame.index else np.nan


# --------------------------------------------------------------------------- what can be said


def analysed(flow) -> int:
    """The number of subjects analysed: what the cohort flow's last step leaves."""
    return int(flow["n_out"].iloc[-1]) if len(flow) else 0


def cohort_statement(flow, config: dict) -> str:
    """A plain statement of why no test could run (no analysed subject) or why no test can show
    a change (fewer subjects than :func:`strostudy.prepost.min_pairs`); "" otherwise."""
    from .prepost import min_pairs

    study = config["study"]
    alpha = float(study["alpha"])
    n, fewest = analysed(flow), min_pairs(alpha)
    if n >= fewest:
        return ""
    if n > 0:
        who, whose = ("1 subject was", "this subject's") if n == 1 else (f"{n} subjects were", "these subjects'")
        return (f"Only {who} analysed, fewer than {fewest}: too few for the exact signed-rank test to reach p < "
                f"{alpha:g} (its smallest two-sided p with n subjects is 2/2^n), so the before/after tests cannot "
                f"show a change; bootstrap intervals are not computed, and the time series hold {whose} arrests "
                "alone. Read every result below as a description, not as evidence of a change; published figures "
                "this run does not match are marked ✗.")
    listed = int(flow["n_out"].iloc[0])
    full = int(flow.loc[flow["step"] == "full_windows", "n_out"].iloc[0])
    period = f"the data period ({study['earliest_reliable_date']} to {study['extraction_date']})"
    windows = f"full {window_words(study['window_months'])} windows before and after the order"
    if full == 0:
        why = f"none of the {listed} orders listed has {windows} inside {period}"
    else:
        excl = flow.loc[(flow["step"] == "exclusions") & (flow["n"] > 0)]
        reasons = "; ".join(f"{int(r.n)}: {EXCLUSION_RULES.get(r.reason, str(r.reason)).split(' (')[0]}"
                            for r in excl.itertuples())
        why = f"{full} of the {listed} orders listed have {windows} inside {period}, but all were excluded ({reasons})"
    return (f"No test could run: no order reached the analysed cohort, because {why}. The before/after tests, "
            "correlations and time-series models are marked not run below, and no published figure is compared "
            "with this run. The cohort flow and the data-quality sections (ingest, reconcile, harm) are complete.")


def _row(figure: str, published, reproduced: str, match: bool) -> dict:
    return {"figure": figure, "published": str(published), "reproduced": reproduced, "match": bool(match)}


def _count_rows(published: dict, t: dict, window: int) -> list[dict]:
    flow, tests = t["cohort_flow"], t["prepost_tests"].set_index(["measure", "category"])
    study = published["study"]
    rows = [("Orders listed", study["orders_listed"], flow["n_out"].iloc[0]),
            (f"Orders with full {window_words(window)} windows", study["orders_with_full_windows"],
             flow["n_out"].iloc[1]),
            ("Orders analysed", study["orders_analysed"], flow["n_out"].iloc[-1]),
            (f"Arrests in the {window} months before", published["offending_events"]["before"],
             _at(tests, ("events", "overall"), "total_before") if analysed(flow) else np.nan),
            (f"Arrests in the {window} months after", published["offending_events"]["after"],
             _at(tests, ("events", "overall"), "total_after") if analysed(flow) else np.nan)]
    return [_row(f, p, str(int(r)), p == int(r)) if _finite(r) else _row(f, p, "not run", False)
            for f, p, r in rows]


def _reduction_rows(published: dict, tests, cat_labels: dict) -> list[dict]:
    out = []
    for measure, label in (("events", "Arrests"), ("harm", "CCHI harm")):
        for cat, pub in published["reduction_percent"][measure].items():
            figure = f"{label} reduction, {cat_labels.get(cat, cat.replace('_', ' ')).lower()} (%)"
            got = _at(tests, (measure, cat), "reduction_pct")
            if (measure, cat) not in tests.index:
                out.append(_row(figure, pub, "category not in config", False))
            elif not _finite(got):
                out.append(_row(figure, pub, "not computed", False))
            else:
                out.append(_row(figure, pub, f"{got:.1f}", round(got) == pub))
    return out


def _finding_rows(t: dict, tests, alpha: float) -> list[dict]:
    its, corr = t["its_summary"].set_index("measure"), t["correlations"].set_index("level")
    out = []
    for measure, label in (("events", "arrests"), ("harm", "harm")):
        p = tests.loc[measure, "p_holm"] if measure in tests.index.get_level_values(0) else tests["p_holm"].iloc[:0]
        ok = bool(len(p) and (p < alpha).all())
        out.append(_row(f"Reduction in {label} significant in every category", "yes",
                        f"yes (Holm p < {alpha:g})" if ok else "not run" if p.isna().all() else "no", ok))
    for measure, label, want_gradual in (("harm", "harm", True), ("events", "arrests", False)):
        figure = f"Post-order monthly {label}: significant downward trend" + (", gradual not stepped"
                                                                             if want_gradual else "")
        if measure not in its.index:
            out.append(_row(figure, "yes", "no model fitted", False))
            continue
        row = its.loc[measure]
        ok = bool(row["post_trend_down"]) and (row["change"] == "gradual" or not want_gradual)
        out.append(_row(figure, "yes", f"trend {'down' if row['post_trend_down'] else 'not down'}; "
                                       f"change {row['change']}", ok))
    rho, p = _at(corr, "subject_windows", "rho"), _at(corr, "subject_windows", "p_value")
    out.append(_row("Arrests and harm correlate positively and significantly", "yes",
                    f"rho = {rho:.2f}, p {_p(p)}" if _finite(rho) else "not computed",
                    _finite(rho) and rho > 0 and p < alpha))
    fall = [_at(tests, (m, "overall"), "reduction_pct") for m in ("harm", "events")]
    bigger = all(_finite(v) for v in fall) and fall[0] > fall[1]
    out.append(_row("Fall in harm greater than fall in volume", "yes",
                    ("yes" if bigger else "no") if all(_finite(v) for v in fall) else "not computed", bigger))
    return out


def headline(published: dict, t: dict, config: dict) -> list[dict]:
    """Every published figure beside the value this run reproduced, and whether they match.
    A published category this run's config does not have, and a value this run could not
    compute (a test not run), show as not reproduced."""
    tests = t["prepost_tests"].set_index(["measure", "category"])
    return (_count_rows(published, t, int(config["study"]["window_months"]))
            + _reduction_rows(published, tests, categories.labels(config["categories"]))
            + _finding_rows(t, tests, float(config["study"]["alpha"])))


def its_sentence(summary_row) -> str:
    change = {"gradual": "a gradual change (a slope change without a level change)",
              "stepped": "a stepped change (a level change without a slope change)",
              "both": "both a level change and a slope change", "neither": "neither a level nor a slope change"}
    label = "arrests" if summary_row["measure"] == "events" else "harm"
    return (f"Monthly {label} show {change[summary_row['change']]} at the order date "
            f"({summary_row['model'].replace('_', ' ')}; significant only when p < {summary_row['alpha']} with both "
            f"model-based and HAC standard errors). After the order, {label} "
            f"{'fell significantly month on month' if summary_row['post_trend_down'] else 'showed no significant trend'}"
            f" (OLS slope {summary_row['post_trend_slope']:.2f} per month). This describes timing, not cause.")


def its_sentences(summary, models, primary: dict) -> list[str]:
    """The findings per measure, in the config's order; a measure not modelled says why."""
    found = summary.set_index("measure")
    skipped = models.loc[(models["model"] == "none") & (models["category"] == "overall")]
    out = []
    for measure in primary:
        if measure in found.index:
            out.append(its_sentence(found.loc[measure].rename(None).to_dict() | {"measure": measure}))
            continue
        reason = skipped.loc[skipped["measure"] == measure, "note"] if "note" in skipped else skipped["model"][:0]
        label = "arrests" if measure == "events" else "harm"
        out.append(f"Monthly {label}: no time-series model was fitted "
                   f"({reason.iloc[0] if len(reason) else 'not run'}).")
    return out


# --------------------------------------------------------------------------- the context


def _test_rows(tests, config: dict) -> list[dict]:
    names = categories.labels(config["categories"])
    return [{
        "measure": "Arrests" if r.measure == "events" else "Harm", "category": names.get(r.category, r.category),
        "before": _fmt(r.total_before), "after": _fmt(r.total_after),
        "reduction": f"{r.reduction_pct:.1f}% ({_fmt(r.reduction_ci_low)} to {_fmt(r.reduction_ci_high)})"
        if _finite(r.reduction_pct) else "–",
        "v": _fmt(r.wilcoxon_v), "n_nonzero": int(r.n_nonzero), "p": _p(r.p_value), "p_holm": _p(r.p_holm),
        "p_exact": _p(r.p_exact), "r": _num(r.effect_r), "rb": _num(r.rank_biserial),
        "hl": f"{_fmt(r.hl_estimate, 2)} ({_fmt(r.hl_ci_low, 2)} to {_fmt(r.hl_ci_high, 2)})",
        "note": r.note if isinstance(r.note, str) else ""} for r in tests.itertuples()]


def _its_rows(models, primary: dict) -> tuple[list[dict], list[dict]]:
    """The primary models' level and slope changes, and their placebos (overall)."""
    its_rows = []
    for measure, model in primary.items():
        m = models.loc[(models["measure"] == measure) & (models["category"] == "overall") & (models["model"] == model)
                       & models["term"].isin(["post", "time_since"])]
        for r in m.itertuples():
            its_rows.append({"measure": "Arrests" if measure == "events" else "Harm", "model": model.replace("_", " "),
                             "term": "level change (post)" if r.term == "post" else "slope change (time_since)",
                             "se": r.se_type, "estimate": f"{r.estimate:.3f}",
                             "ci": f"{r.ci_low:.3f} to {r.ci_high:.3f}", "p": _p(r.p_value)})
    placebo = models.loc[models["placebo_month"].notna() & (models["category"] == "overall")
                         & models["term"].isin(["post", "time_since"])
                         & (models["measure"].map(primary) == models["base_model"])]
    placebo_rows = [{"measure": "Arrests" if r.measure == "events" else "Harm", "month": int(r.placebo_month),
                     "term": r.term, "se": r.se_type, "estimate": f"{r.estimate:.3f}", "p": _p(r.p_value)}
                    for r in placebo.itertuples()]
    return its_rows, placebo_rows


def _correlation_rows(correlations) -> list[dict]:
    """Each correlation as text; ``rho`` is None where it was not computed (``note`` says why)."""
    return [{"level": str(c.level).replace("_", " "), "n": int(c.n), "p": _p(c.p_value), "note": c.p_method,
             "rho": f"{c.rho:.2f}" if _finite(c.rho) else None} for c in correlations.itertuples()]


def build_context(tables: dict, config: dict, provenance_info: dict, figures: dict) -> dict:
    from .config import published

    t = tables
    ledger = t["audit_ledger"].fillna("")
    disc = t["discrepancies"].groupby(["kind", "source_pair"]).size().reset_index(name="n").sort_values(
        ["n", "kind"], ascending=[False, True])
    events = t["events"]
    empty = analysed(t["cohort_flow"]) == 0
    headline_rows = [] if empty else headline(published(), t, config)
    its_rows, placebo_rows = _its_rows(t["its_models"], config["its"]["primary"])
    return {
        "config": config, "provenance": provenance_info, "headline": headline_rows,
        "all_match": bool(headline_rows) and all(r["match"] for r in headline_rows),
        "empty": empty, "statement": cohort_statement(t["cohort_flow"], config),
        "harm_index": str(events["harm_index"].iloc[0]) if len(events) else config["harm"]["index_name"],
        "harm_table": config["harm"]["table"],
        "flow": t["cohort_flow"].fillna("").to_dict("records"),
        "ledger": ledger.to_dict("records"), "quarantine": ledger.loc[ledger["outcome"] == "quarantined"].to_dict(
            "records"),
        "discrepancies": disc.to_dict("records"), "n_discrepancies": len(t["discrepancies"]),
        "unknown_codes": t["unknown_codes"].fillna("").to_dict("records"),
        "tests": _test_rows(t["prepost_tests"], config), "its_rows": its_rows, "placebo_rows": placebo_rows,
        "its_sentences": its_sentences(t["its_summary"], t["its_models"], config["its"]["primary"]),
        "correlations": _correlation_rows(t["correlations"]),
        "config_fence": md_fence(provenance_info["config_yaml"], "yaml"),
        "figures": figures, "published_source": "College of Policing, Going equipped issue 12 (25 June 2026), "
                                                "practice note 'Slavery and trafficking risk orders'",
        "fmt": _fmt, "p": _p, "alpha": float(config["study"]["alpha"]),
        "level_pct": f"{100 * float(config['prepost']['confidence_level']):g}%",
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

    from . import tables as registry
    from .stages import say

    t = {name: registry.read(name, inputs[name]) for name in registry.REPORT_TABLES}
    figs = {}
    for name in registry.FIGURES:
        png = Path(inputs[f"{name}_png"])
        md_src = os.path.relpath(png, Path(output["results_md"]).parent)
        figs[name] = {"md_src": md_src,
                      "data_uri": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii"),
                      "caption": caption(name, config)}
    context = build_context(t, config, provenance(inputs, config), figs)
    markdown, html = render(context)
    for key, text in (("results_md", markdown), ("results_html", html)):
        Path(output[key]).parent.mkdir(parents=True, exist_ok=True)
        Path(output[key]).write_text(text)
    say(f"wrote {output['results_html']} and {output['results_md']}"
        + (f" ({context['statement'].split(':')[0].lower()})" if context["empty"] else ""), log)
