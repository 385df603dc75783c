"""Publication figures, each a function of ``data/processed`` tables returning a figure.

The look comes from :mod:`strostudy.style` only; nothing here sets a colour or a font.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import categories
from .style import empty_panel, measure_label, palette, size, window_words
from .tables import FIGURES  # noqa: F401 - the figures' names live in the registry

#: What a time-series panel says when there is no fitted model to draw.
NO_MODEL = "No time-series model fitted\n(no analysed subjects,\nor no arrests in their windows)"


def _reduction_label(pct: float) -> str:
    """A bar's label: ``−56%`` for a fall, ``+12%`` for a rise, ``n/a`` when undefined."""
    if not np.isfinite(pct):
        return "n/a"
    return f"−{pct:.0f}%" if pct >= 0 else f"+{-pct:.0f}%"


def study_flow(flow: pd.DataFrame, config: dict):
    """The cohort flow: orders listed -> full windows -> analysed, with exclusion reasons."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, ax = plt.subplots(figsize=size(fig_cfg, 0.55))
    ax.set_axis_off()
    listed = int(flow.loc[flow["step"] == "orders_listed", "n_out"].iloc[0])
    windows = flow.loc[flow["step"] == "full_windows"].iloc[0]
    excl = flow.loc[flow["step"] == "exclusions"]
    analysed = int(excl["n_out"].iloc[0]) if len(excl) else int(windows["n_out"])
    boxes = [(0.5, 0.88, f"Orders listed\nn = {listed}"),
             (0.5, 0.55, f"Full {window_words(config['study']['window_months'])} windows before and after\n"
                            f"n = {int(windows['n_out'])}"),
             (0.5, 0.12, f"Analysed\nn = {analysed}")]
    colour = palette(fig_cfg)[0]
    for x, y, text in boxes:
        ax.text(x, y, text, ha="center", va="center", transform=ax.transAxes,
                bbox={"boxstyle": "round,pad=0.5", "fc": "white", "ec": colour, "lw": 1})
    for (x0, y0, _), (x1, y1, _) in zip(boxes, boxes[1:]):
        ax.annotate("", xy=(x1, y1 + 0.1), xytext=(x0, y0 - 0.1), xycoords="axes fraction",
                    arrowprops={"arrowstyle": "-|>", "color": "0.3", "lw": 1})
    side = [(0.86, 0.72, f"Window outside the data period\nn = {int(windows['n'])}")]
    labels = {"identity_unresolved": "identity not resolved", "no_usable_start_date": "no usable start date",
              "no_rocu_return": "no ROCU return", "order_ended_in_window": "order ended in window"}
    reasons = "\n".join(f"{labels.get(r, r)}: {int(n)}" for r, n in zip(excl["reason"], excl["n"]))
    side.append((0.86, 0.33, f"Excluded (n = {int(excl['n'].sum())})\n{reasons}"))
    for x, y, text in side:
        ax.text(x, y, text, ha="center", va="center", transform=ax.transAxes, fontsize="small",
                bbox={"boxstyle": "round,pad=0.4", "fc": "0.96", "ec": "0.6", "lw": 0.8})
        ax.annotate("", xy=(x - 0.17, y), xytext=(0.5, y), xycoords="axes fraction",
                    arrowprops={"arrowstyle": "-|>", "color": "0.5", "lw": 0.8})
    return fig


def prepost_totals(tests: pd.DataFrame, config: dict):
    """Totals before and after by category; the after bar carries the interval of the
    reduction, and the label gives the reduction with its CI."""
    import matplotlib.pyplot as plt

    fig_cfg, window = config["figures"], config["study"]["window_months"]
    cat_labels = categories.labels(config["categories"])
    cats = [c for c in cat_labels if c in set(tests["category"])]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.45))
    if not (tests["n_subjects"] > 0).any():
        for ax, measure in zip(axes, ("events", "harm")):
            empty_panel(ax)
            ax.set_title(measure_label(measure, config))
        return fig
    col = palette(fig_cfg)
    x = np.arange(len(cats))
    for ax, measure in zip(axes, ("events", "harm")):
        t = tests.loc[tests["measure"] == measure].set_index("category").loc[cats]
        before, after = t["total_before"].to_numpy(), t["total_after"].to_numpy()
        lo = before * (1 - t["reduction_ci_high"].to_numpy() / 100)
        hi = before * (1 - t["reduction_ci_low"].to_numpy() / 100)
        ax.bar(x - 0.2, before, 0.4, color=col[0], label=f"{window} months before")
        ax.bar(x + 0.2, after, 0.4, color=col[1], label=f"{window} months after",
               yerr=np.vstack([after - lo, hi - after]).clip(min=0), capsize=2, error_kw={"lw": 0.8})
        for i, row in enumerate(t.itertuples()):
            ax.text(x[i], np.nanmax([before[i], hi[i]]) * 1.03, _reduction_label(row.reduction_pct), ha="center",
                    va="bottom", fontsize="small")
        ax.set_xticks(x, [cat_labels[c] for c in cats], rotation=30, ha="right")
        ax.set_ylabel(measure_label(measure, config))
        top = np.nanmax(np.concatenate([before, hi]))
        ax.set_ylim(0, (top if top > 0 else 1) * 1.15)
    axes[0].legend(loc="upper right")
    fig.tight_layout()
    return fig


def paired_subjects(windows: pd.DataFrame, config: dict):
    """Each analysed subject's total before against after (overall); harm on a log1p scale."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    w = windows.loc[windows["category"] == "overall"]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.45))
    if w.empty:
        for ax, measure in zip(axes, ("events", "harm")):
            empty_panel(ax)
            ax.set_title(measure_label(measure, config))
        return fig
    col = palette(fig_cfg)
    for ax, measure in zip(axes, ("events", "harm")):
        b, a = w[f"{measure}_before"].to_numpy(float), w[f"{measure}_after"].to_numpy(float)
        if measure == "harm":
            b, a = np.log1p(b), np.log1p(a)
        top = max(b.max(), a.max()) * 1.05 + 0.5
        ax.plot([0, top], [0, top], color="0.6", lw=0.8, ls="--", label="no change")
        ax.scatter(b, a, s=14, color=col[0], alpha=0.75, edgecolor="white", linewidth=0.4, label="subject")
        ax.set_xlim(-0.2, top)
        ax.set_ylim(-0.2, top)
        ax.set_aspect("equal")
        label = measure_label(measure, config) + (" (log scale)" if measure == "harm" else "")
        ax.set_xlabel(f"{label}, before")
        ax.set_ylabel(f"{label}, after")
        if measure == "harm":
            ticks = np.array([0, 10, 100, 1000, 10000])
            ticks = ticks[np.log1p(ticks) <= top]
            ax.set_xticks(np.log1p(ticks), [f"{t:,}" for t in ticks])
            ax.set_yticks(np.log1p(ticks), [f"{t:,}" for t in ticks])
        else:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend(loc="upper left")
    fig.tight_layout()
    return fig


def _legend_below(fig, axes, ncol: int):
    """One legend under the panels, from the first panel that has labelled artists (none if no
    panel has), and the panels laid out above it."""
    handles, labels = next((hl for hl in (a.get_legend_handles_labels() for a in axes) if hl[0]), ([], []))
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def monthly_its(fitted: pd.DataFrame, config: dict):
    """Monthly arrests and harm on the subjects' own clocks, the fitted segmented model, the
    before-trend projected past the order as a counterfactual, and the order date.  Harm is
    drawn on a log(1 + x) axis, the scale its log-linear model works on."""
    import matplotlib.pyplot as plt

    fig_cfg, primary = config["figures"], config["its"]["primary"]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.46))
    col = palette(fig_cfg)
    for ax, measure in zip(axes, ("events", "harm")):
        s = fitted.loc[(fitted["measure"] == measure) & (fitted["category"] == "overall")
                       & (fitted["model"] == primary[measure])].sort_values("month")
        if s.empty:
            empty_panel(ax, NO_MODEL)
            ax.set_title(measure_label(measure, config))
            continue
        months = s["month"].to_numpy(float)
        fit, counter = s["fitted"].to_numpy(float), s["counterfactual"].to_numpy(float)
        y = s["observed"].to_numpy(float)
        scale = np.log1p if measure == "harm" else (lambda v: v)
        ax.scatter(months, scale(y), s=10, color=col[0], label="observed", zorder=3)
        pre, post = months < 0, months >= 0
        ax.plot(months[pre], scale(fit[pre]), color=col[1], lw=1.4, label="segmented model")
        ax.plot(months[post], scale(fit[post]), color=col[1], lw=1.4)
        ax.plot(months[post], scale(counter[post]), color=col[1], lw=1.0, ls="--", label="before-trend projected")
        ax.axvline(-0.5, color="0.4", lw=0.8, ls=":", label="order made (month 0)")
        ax.set_xlabel("Months from the order")
        ax.set_ylabel(measure_label(measure, config) + " per month" + (" (log scale)" if measure == "harm" else ""))
        if measure == "harm":
            ticks = np.array([0, 10, 100, 1000, 10000])
            ticks = ticks[ticks <= max(y.max(), 1) * 2]
            ax.set_yticks(np.log1p(ticks), [f"{t:,}" for t in ticks])
        else:
            ax.set_ylim(bottom=0)
    return _legend_below(fig, axes, ncol=4)


def source_agreement(discrepancies: pd.DataFrame, config: dict):
    """How often the systems disagreed: discrepancies by kind and source pair."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig_cfg = config["figures"]
    if discrepancies.empty:
        fig, ax = plt.subplots(figsize=size(fig_cfg, 0.4))
        empty_panel(ax, "No disagreements between sources")
        return fig
    table = pd.crosstab(discrepancies["kind"].str.replace("_", " ").str.replace("pnc", "PNC").str.replace("pnd", "PND")
                        .str.replace("rocu", "ROCU"),
                        discrepancies["source_pair"].str.upper().str.replace("ORDERS", "order list").str.replace("~", " vs "))
    table = table.loc[table.sum(axis=1).sort_values(ascending=False).index]
    fig, ax = plt.subplots(figsize=size(fig_cfg, 0.75))
    cmap = sns.light_palette(palette(fig_cfg)[0], as_cmap=True)
    sns.heatmap(table, annot=True, fmt="d", cmap=cmap, cbar=False, linewidths=0.5, linecolor="white", ax=ax,
                annot_kws={"fontsize": "small"})
    ax.set_xlabel("Sources compared")
    ax.set_ylabel("Discrepancy")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def residual_acf(diagnostics: pd.DataFrame, config: dict):
    """Autocorrelation of the primary models' residuals with approximate 95% bounds."""
    import matplotlib.pyplot as plt

    fig_cfg, primary = config["figures"], config["its"]["primary"]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.35), sharey=True)
    col = palette(fig_cfg)
    for ax, measure in zip(axes, ("events", "harm")):
        d = diagnostics.loc[(diagnostics["measure"] == measure) & (diagnostics["category"] == "overall")
                            & (diagnostics["model"] == primary[measure])]
        acf = d.loc[d["diagnostic"] == "acf"].sort_values("lag")
        if acf.empty:
            empty_panel(ax, NO_MODEL)
            ax.set_title(measure_label(measure, config), fontsize="small")
            continue
        n = int((d["diagnostic"] == "residual").sum())
        ax.vlines(acf["lag"], 0, acf["value"], color=col[0], lw=1.5)
        ax.axhline(0, color="0.3", lw=0.6)
        bound = 1.96 / np.sqrt(max(n, 1))
        ax.axhspan(-bound, bound, color="0.9", zorder=0)
        ax.set_xlabel("Lag (months)")
        ax.set_title(f"{measure_label(measure, config)}: {primary[measure].replace('_', ' ')}", fontsize="small")
    axes[0].set_ylabel("Residual autocorrelation")
    fig.tight_layout()
    return fig


#: The posterior odds the linkage figure's axis runs over, in bits: log2(p / (1 - p)) from
#: 2^-20 to 2^20; a probability beyond falls in the end bins.
LOG_ODDS_LIMIT = 20.0
#: What each stack of the linkage figure shows: its label, the status or clerical basis it
#: counts, and the palette colour it takes (an index into ``figures.palette``).
LINKAGE_GROUPS = (("linked (probabilistic)", "probabilistic", 0), ("linked (clerical accept)", "clerical_accept", 2),
                  ("rejected in review", "clerical_reject", 5), ("ambiguous", "ambiguous", 1),
                  ("no match", "no_match", 3))


def _log_odds(p: np.ndarray) -> np.ndarray:
    """log2(p / (1 - p)), held to +-:data:`LOG_ODDS_LIMIT` (so 0 and 1 land in the end bins)."""
    lim = 2.0 ** -LOG_ODDS_LIMIT
    p = np.clip(np.asarray(p, dtype=float), lim / (1 + lim), 1 / (1 + lim))
    return np.clip(np.log2(p) - np.log2(1 - p), -LOG_ODDS_LIMIT, LOG_ODDS_LIMIT)


def linkage_scores(scores: pd.DataFrame, config: dict):
    """The match probability of each record's best candidate (records linked on name and DOB),
    on a log-odds axis, stacked by outcome; the link threshold and the review band drawn.
    Records with no candidate at all are counted in the legend, not drawn."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, ax = plt.subplots(figsize=size(fig_cfg, 0.45))
    seen = scores.loc[scores["match_weight"].notna()]
    if seen.empty:
        empty_panel(ax, "No record was linked on name and date of birth")
        return fig
    col = palette(fig_cfg)
    group = seen["link_basis"].fillna("").where(seen["link_basis"].fillna("").ne(""), seen["link_status"])
    x = _log_odds(seen["link_score"].to_numpy(float))
    edges = np.linspace(-LOG_ODDS_LIMIT, LOG_ODDS_LIMIT, 41)
    # The thresholds the reconcile stage applied, as it wrote them beside the scores.
    p_link, p_review = float(seen["link_threshold"].iloc[0]), float(seen["review_threshold"].iloc[0])
    threshold, review = _log_odds(np.array([p_link, p_review]))
    ax.axvspan(review, threshold, color="0.92", zorder=0, label=f"review band ({p_review:g} ≤ p < {p_link:g})")
    stacks = [(label, x[group.eq(key).to_numpy()], col[i % len(col)]) for label, key, i in LINKAGE_GROUPS]
    stacks = [s for s in stacks if len(s[1])]
    ax.hist([s[1] for s in stacks], bins=edges, stacked=True, color=[s[2] for s in stacks],
            label=[f"{s[0]} (n = {len(s[1]):,})" for s in stacks], edgecolor="white", linewidth=0.3)
    ax.axvline(threshold, color="0.2", lw=1.0, ls="--", label=f"link threshold (p = {p_link:g})")
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("symlog", linthresh=1)  # a few records in the band beside hundreds linked
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ticks = np.array([1e-6, 1e-4, 0.01, 0.1, 0.9, 0.99, 0.9999, 1 - 1e-6])
    ax.set_xticks(_log_odds(ticks), ["≤10⁻⁶", "10⁻⁴", "0.01", "0.1", "0.9", "0.99", "0.9999", "≥1−10⁻⁶"])
    ax.set_xlim(-LOG_ODDS_LIMIT, LOG_ODDS_LIMIT)
    ax.set_xlabel("Match probability of the best candidate (log-odds scale)")
    ax.set_ylabel("Records")
    unseen = int(scores["match_weight"].isna().sum())
    handles, labels = ax.get_legend_handles_labels()
    if unseen:
        from matplotlib.patches import Patch

        handles.append(Patch(color="none"))
        labels.append(f"no candidate found (not drawn): {unseen:,}")
    ax.legend(handles, labels, loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


#: Days in an average month (365.25 / 12), for rates per person-month.
DAYS_PER_MONTH = 365.25 / 12
#: Tick values of a rate-ratio axis on a log scale, written as plain numbers.
RATIO_TICKS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]


def _ratio_axis(ax, which: str = "x") -> None:
    """A log-scale rate-ratio axis with plain-number ticks (1, 0.5, 0.2 ...; no exponents, which
    the style's ``text.parse_math = False`` would print as TeX)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    lo, hi = (ax.get_xlim if which == "x" else ax.get_ylim)()
    ticks = [t for t in RATIO_TICKS if lo <= t <= hi] or [1]
    if len(ticks) > 7:  # a wide range: powers of ten only
        ticks = [t for t in ticks if round(t / 10 ** np.floor(np.log10(t))) == 1]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def event_study(es: pd.DataFrame, config: dict):
    """The order group's monthly rate ratio to the matched comparison group, relative to the
    reference month, with 95% intervals, on a log axis: flat before the order if the groups
    were on parallel paths (A96)."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.42), sharex=True)
    col = palette(fig_cfg)
    for ax, measure in zip(axes, ("events", "harm")):
        s = es.loc[(es["measure"] == measure) & (es["category"] == "overall")].sort_values("month")
        ax.set_title(measure_label(measure, config))
        if s.empty or not s.loc[~s["reference"].astype(bool), "estimate"].notna().any():
            empty_panel(ax, "No comparison group" if s.empty else "Not estimated: a period\nhas no arrests in a group")
            continue
        m = s["month"].to_numpy(float)
        est = s["estimate"].to_numpy(float)
        lo, hi = s["ci_low"].to_numpy(float), s["ci_high"].to_numpy(float)
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.vlines(m[ok], lo[ok], hi[ok], color=col[0], lw=0.8, alpha=0.7)
        ax.scatter(m, est, s=9, color=np.where(s["reference"].to_numpy(bool), "0.2", col[0]), zorder=3)
        ax.axhline(1.0, color="0.3", lw=0.8)
        ax.axvline(0, color="0.4", lw=0.8, ls=":")
        _ratio_axis(ax, "y")
        ax.set_xlabel("Months from the order (index date)")
        ax.set_ylabel("Rate ratio, order / comparison (log scale)")
    fig.tight_layout()
    return fig


#: The estimators of the comparison effects, in words, in the order they are drawn.
ESTIMATOR_WORDS = {"naive_prepost": "before/after, order group only",
                   "did_matched": "difference in differences, matched comparison",
                   "did_all": "difference in differences, whole comparison pool"}


def comparison_effects(effects: pd.DataFrame, config: dict):
    """A forest plot: each category's rate ratio by each estimator, arrests and harm, with
    intervals, on a log axis; 1 is no change."""
    import matplotlib.pyplot as plt

    from . import categories

    fig_cfg = config["figures"]
    labels = categories.labels(config["categories"])
    order = [c for c in categories.names(config["categories"])]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.55), sharey=True)
    col = palette(fig_cfg)
    for ax, measure in zip(axes, ("events", "harm")):
        ax.set_title(measure_label(measure, config))
        rows = effects.loc[effects["measure"] == measure]
        if rows.empty or not rows["estimate"].notna().any():
            empty_panel(ax, "No rate ratio could be estimated")
            continue
        for j, (estimator, words) in enumerate(ESTIMATOR_WORDS.items()):
            r = rows.loc[rows["estimator"] == estimator].set_index("category").reindex(order)
            y = np.arange(len(order)) * 4 + j
            est = r["estimate"].to_numpy(float)
            lo, hi = r["ci_low"].to_numpy(float), r["ci_high"].to_numpy(float)
            ok = np.isfinite(est)
            ax.hlines(y[ok], lo[ok], hi[ok], color=col[j], lw=1.0)
            ax.scatter(est[ok], y[ok], s=12, color=col[j], label=words, zorder=3)
        ax.axvline(1.0, color="0.3", lw=0.8)
        _ratio_axis(ax, "x")
        ax.set_xlabel("Rate ratio, after / before (log scale)")
    axes[0].set_yticks(np.arange(len(order)) * 4 + 1, [labels.get(c, c) for c in order])
    axes[0].invert_yaxis()
    return _legend_below(fig, axes, ncol=3)


def comparison_balance(balance: pd.DataFrame, config: dict):
    """Covariate balance (a "Love plot"): each covariate's absolute standardised mean
    difference, all comparison people against the matched, with the 0.1 rule of thumb."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, ax = plt.subplots(figsize=size(fig_cfg, 0.4))
    col = palette(fig_cfg)
    if balance.empty:
        empty_panel(ax, "No comparison group was matched")
        return fig
    b = balance.reset_index(drop=True)
    y = np.arange(len(b))
    ax.scatter(b["smd_all"].abs(), y, s=14, color=col[0], marker="o", label="all comparison people", zorder=3)
    ax.scatter(b["smd_matched"].abs(), y, s=14, color=col[1], marker="D", label="matched", zorder=3)
    ax.axvline(0.1, color="0.4", lw=0.8, ls="--", label="0.1")
    ax.set_yticks(y, [str(f).replace("_", " ") for f in b["feature"]])
    ax.invert_yaxis()
    ax.set_xlim(left=0)
    ax.set_xlabel("Absolute standardised mean difference")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def sensitivity(panel: pd.DataFrame, config: dict):
    """The sensitivity panel as a forest plot: the overall rate ratio after / before of arrests
    and harm under each analysis, with its interval where it has one, on a log axis; the main
    analysis's interval shaded."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    rows = panel.loc[panel["category"].isin(["overall", config["comparison"]["sensitivity"]["negative_control"]["name"]])]
    analyses = list(dict.fromkeys(rows["analysis"]))
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.12 + 0.045 * max(len(analyses), 1)), sharey=True)
    col = palette(fig_cfg)
    main = f"window_{int(config['study']['window_months'])}"
    for ax, measure in zip(axes, ("events", "harm")):
        ax.set_title(measure_label(measure, config))
        r = rows.loc[rows["measure"] == measure].set_index("analysis").reindex(analyses)
        if not r["estimate"].notna().any():
            empty_panel(ax, "No sensitivity analysis could be estimated")
            continue
        y = np.arange(len(analyses))
        est, lo, hi = (r[c].to_numpy(float) for c in ("estimate", "ci_low", "ci_high"))
        if main in r.index and np.isfinite(r.loc[main, "ci_low"]):
            ax.axvspan(r.loc[main, "ci_low"], r.loc[main, "ci_high"], color="0.92", zorder=0)
        ok = np.isfinite(lo) & np.isfinite(hi)
        ax.hlines(y[ok], lo[ok], hi[ok], color=col[0], lw=1.0)
        ax.scatter(est, y, s=12, color=[col[1] if a == main else col[0] for a in analyses], zorder=3)
        ax.axvline(1.0, color="0.3", lw=0.8)
        _ratio_axis(ax, "x")
        ax.set_xlabel("Rate ratio, after / before (log scale)")
    axes[0].set_yticks(np.arange(len(analyses)), [a.replace("_", " ") for a in analyses])
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig


def controlled_series(panel: pd.DataFrame, cohort: pd.DataFrame, config: dict):
    """The time series beside its control: arrests and harm per 100 person-months at liberty,
    month by month of the subjects' own clocks, for the order group and the matched comparison
    group (the whole pool with full windows where nobody was matched)."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.42))
    col = palette(fig_cfg)
    matched = set(cohort.loc[cohort["matched"].astype(bool), "subject_id"])
    pool = panel["group"].eq("comparison")
    comparison = pool & panel["subject_id"].isin(matched) if matched else pool
    overall = panel["category"].eq("overall")
    words = "matched comparison group" if matched else "comparison pool"
    for ax, measure in zip(axes, ("events", "harm")):
        ax.set_title(measure_label(measure, config))
        if not (overall & comparison).any():
            empty_panel(ax, "No comparison group")
            continue
        for j, (label, rows) in enumerate((("order group", overall & panel["group"].eq("order")),
                                           (words, overall & comparison))):
            by = panel.loc[rows].groupby("month")[[measure, "days_at_risk"]].sum()
            rate = 100 * DAYS_PER_MONTH * by[measure] / by["days_at_risk"].where(by["days_at_risk"] > 0)
            ax.plot(by.index, rate, color=col[j], lw=1.2, marker="o", ms=2.5, label=label)
        ax.axvline(-0.5, color="0.4", lw=0.8, ls=":")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("Months from the order (index date)")
        ax.set_ylabel(f"{'Arrests' if measure == 'events' else 'Harm'} per 100 person-months at liberty")
    return _legend_below(fig, axes, ncol=2)


#: Each figure's function; the tables it draws from are in the registry (FIGURE_INPUTS).
DRAW = {"study_flow": study_flow, "prepost_totals": prepost_totals, "paired_subjects": paired_subjects,
        "monthly_its": monthly_its, "source_agreement": source_agreement, "residual_acf": residual_acf,
        "linkage_scores": linkage_scores, "event_study": event_study, "comparison_effects": comparison_effects,
        "comparison_balance": comparison_balance, "sensitivity": sensitivity, "controlled_series": controlled_series}


def draw_and_save(name: str, inputs: dict, output: dict, config: dict) -> list[str]:
    """One figure, drawn from its tables and saved as PNG and PDF (a process of its own can
    run this: it sets the figures' look itself)."""
    from pathlib import Path

    from . import style, tables

    style.apply(config["figures"])
    fig = DRAW[name](*[tables.read(t, inputs[t]) for t in tables.FIGURE_INPUTS[name]], config)
    return [str(w) for w in style.save(fig, Path(output[f"{name}_png"]).with_suffix(""), config["figures"])]


def run(inputs: dict, output: dict, config: dict, log: str | None = None, threads: int = 1) -> list[str]:
    """The figures stage: every figure, as PNG and PDF, from the processed tables alone; with
    ``threads`` > 1 on Linux, that many forked processes draw them (each figure is drawn alone,
    so the files are the same bytes whichever process draws it).  Elsewhere, or with one
    thread, one after another: a spawned process would re-run the rule's script."""
    import sys

    from .stages import say

    names = list(DRAW)
    if threads > 1 and sys.platform == "linux":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        from itertools import repeat

        with ProcessPoolExecutor(max_workers=min(int(threads), len(names)), mp_context=mp.get_context("fork")) as pool:
            parts = list(pool.map(draw_and_save, names, repeat(inputs), repeat(output), repeat(config)))
    else:
        parts = [draw_and_save(name, inputs, output, config) for name in names]
    written = [w for part in parts for w in part]
    say(f"wrote {len(written)} figure files", log)
    return written
