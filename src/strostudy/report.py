"""The results report: Markdown and self-contained HTML rendered from Jinja2 templates.

Everything in it is computed from the workflow's outputs and the provenance of its inputs;
nothing is typed in by hand.  The run date is the only line that changes between two runs
on the same inputs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

from . import categories
from .style import window_words

PACKAGES = ["strostudy", "pandas", "numpy", "scipy", "statsmodels", "pandera", "matplotlib", "snakemake"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(inputs: dict) -> list[Path]:
    """Every raw extract behind the inputs named ``raw_*`` (the registry's raw tables;
    directories expanded), sorted."""
    files = []
    for name, value in inputs.items():
        if not name.startswith("raw_"):
            continue
        for item in value if isinstance(value, list) else [value]:
            p = Path(item)
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    return sorted(set(files))


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
    return {
        "files": [{"path": str(f), "bytes": f.stat().st_size, "sha256": sha256(f)} for f in input_files(inputs)],
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


def headline(published: dict, t: dict, config: dict) -> list[dict]:
    """Every published figure beside the value this run reproduced, and whether they match.
    A published category this run's config does not have shows as not reproduced."""
    alpha = float(config["study"]["alpha"])
    window = int(config["study"]["window_months"])
    cat_labels = categories.labels(config["categories"])
    flow = t["cohort_flow"]
    tests = t["prepost_tests"].set_index(["measure", "category"])
    its = t["its_summary"].set_index("measure")
    corr = t["correlations"].set_index("level")
    study = published["study"]
    rows = [
        ("Orders listed", study["orders_listed"], int(flow["n_out"].iloc[0])),
        (f"Orders with full {window_words(window)} windows", study["orders_with_full_windows"],
         int(flow["n_out"].iloc[1])),
        ("Orders analysed", study["orders_analysed"], int(flow["n_out"].iloc[-1])),
        (f"Arrests in the {window} months before", published["offending_events"]["before"],
         int(tests.loc[("events", "overall"), "total_before"])),
        (f"Arrests in the {window} months after", published["offending_events"]["after"],
         int(tests.loc[("events", "overall"), "total_after"])),
    ]
    out = [{"figure": f, "published": str(p), "reproduced": str(r), "match": p == r} for f, p, r in rows]
    for measure, label in (("events", "Arrests"), ("harm", "CCHI harm")):
        for cat, pub in published["reduction_percent"][measure].items():
            name = cat_labels.get(cat, cat.replace("_", " ")).lower()
            if (measure, cat) not in tests.index:
                out.append({"figure": f"{label} reduction, {name} (%)", "published": str(pub),
                            "reproduced": "category not in config", "match": False})
                continue
            got = tests.loc[(measure, cat), "reduction_pct"]
            out.append({"figure": f"{label} reduction, {name} (%)", "published": str(pub),
                        "reproduced": f"{got:.1f}", "match": round(got) == pub})
    for measure, label in (("events", "arrests"), ("harm", "harm")):
        ok = bool((tests.loc[measure, "p_holm"] < alpha).all())
        out.append({"figure": f"Reduction in {label} significant in every category", "published": "yes",
                    "reproduced": f"yes (Holm p < {alpha:g})" if ok else "no", "match": ok})
    for measure, label, want_gradual in (("harm", "harm", True), ("events", "arrests", False)):
        row = its.loc[measure]
        ok = bool(row["post_trend_down"]) and (row["change"] == "gradual" or not want_gradual)
        out.append({"figure": f"Post-order monthly {label}: significant downward trend"
                              + (", gradual not stepped" if want_gradual else ""),
                    "published": "yes", "reproduced": f"trend {'down' if row['post_trend_down'] else 'not down'}; "
                                                      f"change {row['change']}", "match": ok})
    c = corr.loc["subject_windows"]
    ok = bool(c["rho"] > 0 and c["p_value"] < alpha)
    out.append({"figure": "Arrests and harm correlate positively and significantly", "published": "yes",
                "reproduced": f"rho = {c['rho']:.2f}, p {_p(c['p_value'])}", "match": ok})
    bigger = tests.loc[("harm", "overall"), "reduction_pct"] > tests.loc[("events", "overall"), "reduction_pct"]
    out.append({"figure": "Fall in harm greater than fall in volume", "published": "yes",
                "reproduced": "yes" if bigger else "no", "match": bool(bigger)})
    return out


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


def build_context(tables: dict, config: dict, provenance_info: dict, figures: dict) -> dict:
    from .config import published

    t = tables
    pub = published()
    tests = t["prepost_tests"].copy()
    tests["category_name"] = tests["category"].map(categories.labels(config["categories"]))
    test_rows = [{
        "measure": "Arrests" if r.measure == "events" else "Harm", "category": r.category_name,
        "before": _fmt(r.total_before), "after": _fmt(r.total_after),
        "reduction": f"{r.reduction_pct:.1f}% ({_fmt(r.reduction_ci_low)} to {_fmt(r.reduction_ci_high)})",
        "v": _fmt(r.wilcoxon_v), "n_nonzero": int(r.n_nonzero), "p": _p(r.p_value), "p_holm": _p(r.p_holm),
        "p_exact": _p(r.p_exact), "r": f"{r.effect_r:.2f}", "rb": f"{r.rank_biserial:.2f}",
        "hl": f"{_fmt(r.hl_estimate, 2)} ({_fmt(r.hl_ci_low, 2)} to {_fmt(r.hl_ci_high, 2)})",
        "note": r.note if isinstance(r.note, str) else ""} for r in tests.itertuples()]
    models = t["its_models"]
    primary = config["its"]["primary"]
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
    ledger = t["audit_ledger"].fillna("")
    q = ledger.loc[ledger["outcome"] == "quarantined"]
    disc = t["discrepancies"].groupby(["kind", "source_pair"]).size().reset_index(name="n").sort_values(
        ["n", "kind"], ascending=[False, True])
    events = t["events"]
    headline_rows = headline(pub, t, config)
    return {
        "config": config, "provenance": provenance_info, "headline": headline_rows,
        "all_match": all(r["match"] for r in headline_rows),
        "harm_index": str(events["harm_index"].iloc[0]) if len(events) else config["harm"]["index_name"],
        "harm_table": config["harm"]["table"],
        "flow": t["cohort_flow"].fillna("").to_dict("records"),
        "ledger": ledger.to_dict("records"), "quarantine": q.to_dict("records"),
        "discrepancies": disc.to_dict("records"), "n_discrepancies": len(t["discrepancies"]),
        "unknown_codes": t["unknown_codes"].fillna("").to_dict("records"),
        "tests": test_rows, "its_rows": its_rows, "placebo_rows": placebo_rows,
        "its_sentences": [its_sentence(r) for _, r in t["its_summary"].iterrows()],
        "correlations": t["correlations"].to_dict("records"),
        "figures": figures, "published_source": "College of Policing, Going equipped issue 12 (25 June 2026), "
                                                "practice note 'Slavery and trafficking risk orders'",
        "fmt": _fmt, "p": _p, "alpha": float(config["study"]["alpha"]),
        "level_pct": f"{100 * float(config['prepost']['confidence_level']):g}%",
    }


def render(context: dict) -> tuple[str, str]:
    from jinja2 import Environment, PackageLoader

    def env(autoescape: bool) -> Environment:
        return Environment(loader=PackageLoader("strostudy", "templates"), autoescape=autoescape,
                           trim_blocks=True, lstrip_blocks=True)

    return env(False).get_template("results.md.j2").render(**context), \
        env(True).get_template("results.html.j2").render(**context)


def caption(name: str, config: dict) -> str:
    """A figure's caption (``templates/captions/NAME.rst``), with the config filled in."""
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
    say(f"wrote {output['results_html']} and {output['results_md']}", log)
