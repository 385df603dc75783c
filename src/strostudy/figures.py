"""Publication figures, each a function of the *released* tables (``reports/<study>/tables``,
after disclosure control: :mod:`strostudy.release`) or of pure model outputs, returning a figure.

A withheld value is never drawn: where it would be, the figure writes ``[c]``
(:data:`strostudy.disclosure.MARKER`), and a figure with anything withheld says so
(:data:`WITHHELD`).  Nothing withheld reaches an axis limit, a stacked total, an error bar or
a legend count: each is computed from published cells only.

The look comes from :mod:`strostudy.style` only; nothing here sets a colour or a font.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import categories, disclosure, release
from .disclosure import MARKER
from .style import empty_panel, measure_label, palette, size, window_words
from .tables import FIGURES  # noqa: F401 - the figures' names live in the registry

#: What a time-series panel says when there is no fitted model to draw.
NO_MODEL = "No time-series model fitted\n(no analysed subjects,\nor no arrests in their windows)"
#: The note a figure carries when anything on it is withheld.
WITHHELD = f"{MARKER}: withheld (disclosure control)"
#: What a panel says when everything it would show is withheld.
ALL_WITHHELD = f"Not shown: withheld {MARKER}\n(disclosure control)"


def _withheld(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell of a released table, whether disclosure control withheld it (a table without a
    ``suppressed`` column is not a released table: an error, so nothing unchecked is drawn)."""
    return disclosure.flags(table)


def _values(table: pd.DataFrame, column: str) -> np.ndarray:
    """A released column as float, NaN where withheld or missing."""
    return pd.to_numeric(table[column], errors="coerce").astype(float).to_numpy()


def _count(value: float, hidden: bool, fmt: str = "{:,.0f}") -> str:
    """A count as text: ``[c]`` when withheld, ``n/a`` when missing."""
    if hidden:
        return MARKER
    return fmt.format(value) if np.isfinite(value) else "n/a"


def _note_below(fig) -> None:
    """The withheld note under the figure, left-aligned (saving takes the tight box, so it is
    kept, and it overlaps nothing drawn inside the figure)."""
    fig.text(0.01, 0.0, WITHHELD, ha="left", va="top", fontsize="small", color="0.3")


def _note_handle():
    """A legend entry carrying the withheld note (no symbol)."""
    from matplotlib.patches import Patch

    return Patch(color="none"), WITHHELD


def _reduction_label(pct: float, hidden: bool = False) -> str:
    """A bar's label: ``−56%`` for a fall, ``+12%`` for a rise, ``n/a`` when undefined, ``[c]``
    when withheld."""
    if hidden:
        return MARKER
    if not np.isfinite(pct):
        return "n/a"
    return f"−{pct:.0f}%" if pct >= 0 else f"+{-pct:.0f}%"


#: The cohort-flow exclusion reasons in words.
EXCLUSION_WORDS = {"identity_unresolved": "identity not resolved", "no_usable_start_date": "no usable start date",
                   "no_rocu_return": "no ROCU return", "order_ended_in_window": "order ended in window"}


def study_flow(flow: pd.DataFrame, config: dict):
    """The cohort flow: orders listed -> full windows -> analysed, with exclusion reasons (from
    the released flow: a withheld count shows as ``[c]``)."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, ax = plt.subplots(figsize=size(fig_cfg, 0.55))
    ax.set_axis_off()
    steps = flow["step"].astype(str)
    n, hidden = _values(flow, "n"), _withheld(flow)["n"].to_numpy(bool)

    def step(name: str) -> tuple[float, bool]:
        at = np.flatnonzero(steps.to_numpy() == name)
        return (n[at[0]], bool(hidden[at[0]])) if len(at) else (np.nan, False)

    listed, full, outside, analysed = (step(s) for s in ("orders_listed", "full_windows", "outside_data_period",
                                                          "analysed"))
    boxes = [(0.5, 0.88, f"Orders listed\nn = {_count(*listed, '{:.0f}')}"),
             (0.5, 0.55, f"Full {window_words(config['study']['window_months'])} windows before and after\n"
                         f"n = {_count(*full, '{:.0f}')}"),
             (0.5, 0.12, f"Analysed\nn = {_count(*analysed, '{:.0f}')}")]
    colour = palette(fig_cfg)[0]
    for x, y, text in boxes:
        ax.text(x, y, text, ha="center", va="center", transform=ax.transAxes,
                bbox={"boxstyle": "round,pad=0.5", "fc": "white", "ec": colour, "lw": 1})
    for (x0, y0, _), (x1, y1, _) in zip(boxes, boxes[1:]):
        ax.annotate("", xy=(x1, y1 + 0.1), xytext=(x0, y0 - 0.1), xycoords="axes fraction",
                    arrowprops={"arrowstyle": "-|>", "color": "0.3", "lw": 1})
    side = [(0.86, 0.72, f"Window outside the data period\nn = {_count(*outside, '{:.0f}')}")]
    excl = (steps == "excluded").to_numpy()
    reasons = "\n".join(f"{EXCLUSION_WORDS.get(r, r)}: {_count(v, h, '{:.0f}')}"
                        for r, v, h in zip(flow["reason"].fillna("").astype(str)[excl], n[excl], hidden[excl]))
    # The total excluded is full - analysed: published cells, so shown whenever both are.
    total = (full[0] - analysed[0], not (full[1] or analysed[1]))
    side.append((0.86, 0.33, f"Excluded (n = {_count(total[0], not total[1], '{:.0f}')})\n{reasons}".rstrip()))
    for x, y, text in side:
        ax.text(x, y, text, ha="center", va="center", transform=ax.transAxes, fontsize="small",
                bbox={"boxstyle": "round,pad=0.4", "fc": "0.96", "ec": "0.6", "lw": 0.8})
        ax.annotate("", xy=(x - 0.17, y), xytext=(0.5, y), xycoords="axes fraction",
                    arrowprops={"arrowstyle": "-|>", "color": "0.5", "lw": 0.8})
    if hidden.any():
        _note_below(fig)
    return fig


def prepost_totals(tests: pd.DataFrame, config: dict):
    """Totals before and after by category; the after bar carries the interval of the
    reduction, and the label gives the reduction with its CI.  A withheld total has no bar
    (``[c]`` at its place), a withheld reduction is labelled ``[c]``, a withheld interval is
    not drawn."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig_cfg, window = config["figures"], config["study"]["window_months"]
    cat_labels = categories.labels(config["categories"])
    cats = [c for c in cat_labels if c in set(tests["category"])]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.45))
    hidden = _withheld(tests)
    # Subjects withheld are subjects still (fewer than the threshold, or a zero withheld):
    # the panels are drawn, with [c], rather than said to be empty.
    if not ((_values(tests, "n_subjects") > 0) | hidden["n_subjects"].to_numpy(bool)).any():
        for ax, measure in zip(axes, ("events", "harm")):
            empty_panel(ax)
            ax.set_title(measure_label(measure, config))
        return fig
    col = palette(fig_cfg)
    x = np.arange(len(cats))
    any_hidden = False
    for ax, measure in zip(axes, ("events", "harm")):
        rows = (tests["measure"] == measure).to_numpy()
        t = tests.loc[rows].set_index("category").reindex(cats)
        h = hidden.loc[rows].set_index(tests.loc[rows, "category"]).reindex(cats, fill_value=False)
        before, after = _values(t, "total_before"), _values(t, "total_after")
        hb, ha = h["total_before"].to_numpy(bool), h["total_after"].to_numpy(bool)
        hr = h["reduction_pct"].to_numpy(bool)
        hci = h[["reduction_ci_low", "reduction_ci_high"]].any(axis=1).to_numpy(bool)
        before, after = np.where(hb, np.nan, before), np.where(ha, np.nan, after)
        with np.errstate(invalid="ignore"):
            lo = np.where(hci, np.nan, before * (1 - _values(t, "reduction_ci_high") / 100))
            hi = np.where(hci, np.nan, before * (1 - _values(t, "reduction_ci_low") / 100))
        shown_b, shown_a = np.isfinite(before), np.isfinite(after)
        ax.bar(x[shown_b] - 0.2, before[shown_b], 0.4, color=col[0])
        ax.bar(x[shown_a] + 0.2, after[shown_a], 0.4, color=col[1])
        ci = shown_a & np.isfinite(lo) & np.isfinite(hi)
        if ci.any():
            ax.errorbar(x[ci] + 0.2, after[ci], yerr=np.vstack([after[ci] - lo[ci], hi[ci] - after[ci]]).clip(min=0),
                        fmt="none", ecolor="k", capsize=2, lw=0.8)
        for xs, hid in ((x - 0.2, hb), (x + 0.2, ha)):
            for xi in xs[hid]:
                ax.annotate(MARKER, (xi, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                            fontsize="small")
        # Labels and the axis from published values only.
        with np.errstate(invalid="ignore"):
            tops = np.column_stack([before, after, hi])
        for i in range(len(cats)):
            label = _reduction_label(float(_values(t, "reduction_pct")[i]), bool(hr[i]))
            top = tops[i][np.isfinite(tops[i])]
            if top.size:
                ax.text(x[i], top.max() * 1.03, label, ha="center", va="bottom", fontsize="small")
            else:  # both bars withheld: the label above their markers
                ax.annotate(label, (x[i], 0), xytext=(0, 14), textcoords="offset points", ha="center", va="bottom",
                            fontsize="small")
        any_hidden |= bool(hb.any() or ha.any() or hr.any() or (hci & np.isfinite(after)).any())
        ax.set_xticks(x, [cat_labels[c] for c in cats], rotation=30, ha="right")
        ax.set_xlim(-0.65, len(cats) - 0.35)
        ax.set_ylabel(measure_label(measure, config))
        top = tops[np.isfinite(tops)]
        top = top.max() if top.size else 0
        ax.set_ylim(0, (top if top > 0 else 1) * 1.15)
    handles = [Patch(color=col[0]), Patch(color=col[1])]
    labels = [f"{window} months before", f"{window} months after"]
    if any_hidden:
        handles, labels = handles + [_note_handle()[0]], labels + [WITHHELD]
    axes[0].legend(handles, labels, loc="upper right")
    fig.tight_layout()
    return fig


#: The released subject-change columns, in words, in the order they are drawn.
CHANGE_WORDS = {"fell": "fell", "same": "unchanged", "rose": "rose"}


def paired_subjects(change: pd.DataFrame, config: dict):
    """How many analysed subjects' totals (overall) fell, stayed the same or rose after the
    order, arrests and harm: the published form of the per-subject comparison (each person's
    own counts are individual-level data).  A withheld count has no bar, ``[c]`` in its place."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.4))
    hidden = _withheld(change)
    cols = list(CHANGE_WORDS)
    counts = np.column_stack([_values(change, c) for c in cols]) if len(change) else np.zeros((0, 3))
    hid = hidden[cols].to_numpy(bool) if len(change) else np.zeros((0, 3), bool)
    if not ((np.nan_to_num(counts) > 0) | hid).any():
        for ax, measure in zip(axes, ("events", "harm")):
            empty_panel(ax)
            ax.set_title(measure_label(measure, config))
        return fig
    col = palette(fig_cfg)
    x = np.arange(len(cols))
    published = counts[np.isfinite(counts) & ~hid]
    top = published.max() if published.size else 0
    for ax, measure in zip(axes, ("events", "harm")):
        ax.set_title(measure_label(measure, config))
        at = np.flatnonzero(change["measure"].astype(str).to_numpy() == measure)
        v = counts[at[0]] if len(at) else np.full(len(cols), np.nan)
        h = hid[at[0]] if len(at) else np.zeros(len(cols), bool)
        shown = np.isfinite(v) & ~h
        ax.bar(x[shown], v[shown], 0.6, color=col[0])
        for i in range(len(cols)):
            ax.annotate(_count(v[i], bool(h[i])), (x[i], v[i] if shown[i] else 0), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize="small")
        ax.set_xticks(x, [CHANGE_WORDS[c] for c in cols])
        ax.set_xlim(-0.6, len(cols) - 0.4)
        ax.set_ylim(0, (top if top > 0 else 1) * 1.15)
        from matplotlib.ticker import MaxNLocator

        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("Total after the order, against before")
    axes[0].set_ylabel("Subjects")
    fig.tight_layout()
    if hid.any():
        _note_below(fig)
    return fig


def _legend_below(fig, axes, ncol: int, note: bool = False, first: str = ""):
    """One legend under the panels, from the labelled artists of all panels (each label once,
    in panel order, those starting with ``first`` first; none if no panel has any), with the
    withheld note last when ``note``, and the panels laid out above it."""
    handles, labels = [], []
    for a in axes:
        for h, lab in zip(*a.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if first:
        ahead = [lab.startswith(first) for lab in labels]
        order = [i for i in range(len(labels)) if ahead[i]] + [i for i in range(len(labels)) if not ahead[i]]
        handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    if handles and note:
        h, lab = _note_handle()
        handles, labels = handles + [h], labels + [lab]
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=ncol, bbox_to_anchor=(0.5, -0.02))
    rows = int(np.ceil(len(handles) / ncol)) if handles else 1
    fig.tight_layout(rect=(0, 0.08 + 0.05 * (rows - 1), 1, 1))
    return fig


def _period_words(k: int) -> str:
    """What an observed point of a series binned in ``k``-month periods is."""
    return "monthly" if k <= 1 else f"mean per month over {k}-month periods"


def _withheld_bins(ax, starts, ends, colour, row: int = 0) -> None:
    """``[c]`` at the middle of each withheld bin of a series, along the bottom of the panel
    (one row of markers per series)."""
    from matplotlib.transforms import blended_transform_factory

    where = blended_transform_factory(ax.transData, ax.transAxes)
    for s, e in zip(starts, ends):
        ax.text((s + e) / 2, 0.02 + 0.06 * row, MARKER, transform=where, ha="center", va="bottom",
                fontsize="x-small", color=colour, clip_on=True)


def _periods(ax, start, end, y, colour, label: str | None) -> None:
    """A binned series: a point at each period's middle and a bar across its months (so the
    periods show even where neighbours have the same value)."""
    if len(y):
        ax.errorbar((start + end) / 2, y, xerr=(end - start) / 2 + 0.5, fmt="o", ms=3, color=colour, ecolor=colour,
                    elinewidth=1.6, capsize=0, zorder=3, label=label)


def _binned(table: pd.DataFrame, value: str) -> tuple[np.ndarray, ...]:
    """A released binned series: its bins' first and last months, ``value`` (NaN where
    withheld) and whether each bin's value (or the total it comes from) is withheld."""
    hidden = _withheld(table)
    hid = hidden[value].to_numpy(bool) | (hidden["total"].to_numpy(bool) if "total" in hidden else False)
    v = np.where(hid, np.nan, _values(table, value))
    return _values(table, "month_start"), _values(table, "month_end"), v, hid


def monthly_its(fitted: pd.DataFrame, observed: pd.DataFrame, config: dict):
    """Arrests and harm on the subjects' own clocks: the observed means per month over the
    periods of the released series (each drawn across its period; a withheld period is not
    drawn, ``[c]`` at its place), the fitted segmented model, the before-trend projected past
    the order as a counterfactual, and the order date.  Harm is drawn on a log(1 + x) axis,
    the scale its log-linear model works on."""
    import matplotlib.pyplot as plt

    fig_cfg, primary = config["figures"], config["its"]["primary"]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.46))
    col = palette(fig_cfg)
    obs = {m: observed.loc[observed["measure"].astype(str) == m].sort_values("month_start") for m in ("events", "harm")}
    widths = {m: int(np.nanmax(_values(o, "months"))) for m, o in obs.items() if len(o)}
    # One legend for both panels: the period in it when the panels share one, else in each title.
    shared = next(iter(widths.values())) if len(set(widths.values())) == 1 else None
    any_hidden = False
    for ax, measure in zip(axes, ("events", "harm")):
        s = fitted.loc[(fitted["measure"] == measure) & (fitted["category"] == "overall")
                       & (fitted["model"] == primary[measure])].sort_values("month")
        if s.empty:
            empty_panel(ax, NO_MODEL)
            ax.set_title(measure_label(measure, config))
            continue
        months = s["month"].to_numpy(float)
        fit, counter = s["fitted"].to_numpy(float), s["counterfactual"].to_numpy(float)
        scale = np.log1p if measure == "harm" else (lambda v: v)
        start, end, y, hid = _binned(obs[measure], "per_month")
        shown = np.isfinite(y)
        if measure in widths:
            _periods(ax, start[shown], end[shown], scale(y[shown]), col[0],
                     f"observed ({_period_words(shared) if shared else 'mean per month over each period'})")
            if not shared:
                ax.set_title(f"{measure_label(measure, config)}: "
                             + ("monthly" if widths[measure] <= 1 else f"{widths[measure]}-month periods"))
        if hid.any():
            _withheld_bins(ax, start[hid], end[hid], col[0])
            any_hidden = True
        pre, post = months < 0, months >= 0
        ax.plot(months[pre], scale(fit[pre]), color=col[1], lw=1.4, label="segmented model")
        ax.plot(months[post], scale(fit[post]), color=col[1], lw=1.4)
        ax.plot(months[post], scale(counter[post]), color=col[1], lw=1.0, ls="--", label="before-trend projected")
        ax.axvline(-0.5, color="0.4", lw=0.8, ls=":", label="order made (month 0)")
        ax.set_xlabel("Months from the order")
        ax.set_ylabel(measure_label(measure, config) + " per month" + (" (log scale)" if measure == "harm" else ""))
        if measure == "harm":
            # The axis from the model and the published points only.
            drawn = np.concatenate([y[shown], fit[np.isfinite(fit)], counter[np.isfinite(counter)]])
            ticks = np.array([0, 10, 100, 1000, 10000])
            ticks = ticks[ticks <= max(drawn.max() if drawn.size else 0, 1) * 2]
            ax.set_yticks(np.log1p(ticks), [f"{t:,}" for t in ticks])
        else:
            ax.set_ylim(bottom=0)
    return _legend_below(fig, axes, ncol=2, note=any_hidden, first="observed")


def _kind_words(kind: pd.Series) -> pd.Series:
    """A kind of discrepancy as the source-agreement heatmap writes it."""
    return (kind.astype(str).str.replace("_", " ").str.replace("pnc", "PNC").str.replace("pnd", "PND")
            .str.replace("rocu", "ROCU"))


def _pair_words(pair: pd.Series) -> pd.Series:
    """A pair of sources as the source-agreement heatmap writes it."""
    return pair.astype(str).str.upper().str.replace("ORDERS", "order list").str.replace("~", " vs ")


def source_agreement(summary: pd.DataFrame, config: dict):
    """How often the systems disagreed: discrepancies by kind and source pair (from the released
    summary: a withheld count is ``[c]`` on a neutral cell; a pair absent from the summary is 0).
    The total over all kinds is in the title."""
    import matplotlib.pyplot as plt
    import seaborn as sns
    from matplotlib.patches import Rectangle

    fig_cfg = config["figures"]
    hidden = _withheld(summary)["n"].to_numpy(bool)
    n = _values(summary, "n")
    total = (summary["kind"].astype(str) == "all").to_numpy() & (summary["source_pair"].astype(str) == "all").to_numpy()
    cells = ~total
    if not ((np.nan_to_num(n) > 0) | hidden)[cells].any():
        fig, ax = plt.subplots(figsize=size(fig_cfg, 0.4))
        empty_panel(ax, "No disagreements between sources")
        return fig
    d = pd.DataFrame({"kind": _kind_words(summary["kind"][cells]).to_numpy(),
                      "pair": _pair_words(summary["source_pair"][cells]).to_numpy(),
                      "n": np.where(hidden[cells], np.nan, n[cells]), "hidden": hidden[cells]})
    table = d.pivot_table(index="kind", columns="pair", values="n", aggfunc="sum", fill_value=0, dropna=False)
    mask = d.pivot_table(index="kind", columns="pair", values="hidden", aggfunc="any", fill_value=False,
                         dropna=False).reindex_like(table).fillna(False).astype(bool)
    table = table.where(~mask, np.nan)
    # Rows by their published total (withheld cells count as nothing), then by name.
    order = pd.DataFrame({"sum": table.fillna(0).sum(axis=1), "name": table.index}).sort_values(
        ["sum", "name"], ascending=[False, True], kind="stable").index
    table, mask = table.loc[order], mask.loc[order]
    fig, ax = plt.subplots(figsize=size(fig_cfg, 0.75))
    cmap = sns.light_palette(palette(fig_cfg)[0], as_cmap=True)
    annot = table.map(lambda v: "" if not np.isfinite(v) else f"{v:.0f}")
    sns.heatmap(table, mask=mask.to_numpy(), annot=annot.to_numpy(), fmt="", cmap=cmap, cbar=False, linewidths=0.5,
                linecolor="white", ax=ax, annot_kws={"fontsize": "small"})
    for i, j in zip(*np.nonzero(mask.to_numpy())):
        ax.add_patch(Rectangle((j, i), 1, 1, facecolor="0.8", edgecolor="white", lw=0.5))
        ax.text(j + 0.5, i + 0.5, MARKER, ha="center", va="center", fontsize="small", color="0.1")
    ax.set_xlabel("Sources compared")
    ax.set_ylabel("Discrepancy")
    ax.tick_params(axis="x", rotation=30)
    if total.any():
        at = np.flatnonzero(total)[0]
        ax.set_title(f"Disagreements in all: {_count(n[at], bool(hidden[at]))}", fontsize="medium")
    fig.tight_layout()
    if mask.to_numpy().any() or hidden[total].any():
        _note_below(fig)
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


#: The palette colour (an index into ``figures.palette``) of each stack of the linkage figure,
#: by its label (:data:`strostudy.release.LINKAGE_GROUPS`, whose order the stacks follow).
LINKAGE_COLOURS = dict(zip((label for label, _ in release.LINKAGE_GROUPS), (0, 2, 5, 1, 3)))


def linkage_scores(bins: pd.DataFrame, summary: pd.DataFrame, config: dict):
    """The match probability of each record's best candidate (records linked on name and DOB),
    on a log-odds axis, stacked by outcome, from the released histogram (a withheld bin is
    drawn as nothing, with ``[c]`` above it); the link threshold and the review band drawn.
    Records with no candidate at all are counted in the legend, not drawn."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig_cfg = config["figures"]
    fig, ax = plt.subplots(figsize=size(fig_cfg, 0.55))
    if bins.empty:
        empty_panel(ax, "No record was linked on name and date of birth")
        return fig
    col = palette(fig_cfg)
    hidden = _withheld(bins)["records"].to_numpy(bool)
    records = np.where(hidden, np.nan, _values(bins, "records"))
    outcome, which = bins["outcome"].astype(str).to_numpy(), bins["bin"].astype(str).to_numpy()
    is_all = which == "all"
    # The thresholds the reconcile stage applied, as the released histogram carries them.
    p_link, p_review = float(bins["link_threshold"].iloc[0]), float(bins["review_threshold"].iloc[0])
    threshold, review = release.log_odds(np.array([p_link, p_review]))
    ax.axvspan(review, threshold, color="0.92", zorder=0, label=f"review band ({p_review:g} ≤ p < {p_link:g})")
    known = [label for label, _ in release.LINKAGE_GROUPS]
    labels = [lab for lab in known if lab in set(outcome)] + list(dict.fromkeys(o for o in outcome if o not in known))
    per_bin = ~is_all
    lows, highs = _values(bins, "log_odds_low"), _values(bins, "log_odds_high")
    keys = sorted(set(zip(lows[per_bin], highs[per_bin])))
    bottom = dict.fromkeys(keys, 0.0)
    marks: dict[tuple, list[str]] = {}
    for k, label in enumerate(labels):
        colour = col[LINKAGE_COLOURS.get(label, len(known) + k) % len(col)]
        at = np.flatnonzero(per_bin & (outcome == label))
        left = [(lows[i], highs[i]) for i in at]
        height = np.nan_to_num(records[at])  # a withheld bin adds nothing to the stack
        total = np.flatnonzero(is_all & (outcome == label))
        n = _count(records[total[0]], bool(hidden[total[0]])) if len(total) else _count(height.sum(), False)
        ax.bar([lo for lo, _ in left], height, width=[hi - lo for lo, hi in left],
               bottom=[bottom[key] for key in left], align="edge", color=colour, edgecolor="white", linewidth=0.3,
               label=f"{label} (n = {n})")
        for key, h, i in zip(left, height, at):
            bottom[key] += h
            if hidden[i]:
                marks.setdefault(key, []).append(colour)
    for (lo, hi), colours in sorted(marks.items()):
        for j, colour in enumerate(colours):
            ax.annotate(MARKER, ((lo + hi) / 2, bottom[(lo, hi)]), xytext=(0, 2 + 13 * j), textcoords="offset points",
                        ha="center", va="bottom", rotation=90, fontsize="x-small", color=colour)
    ax.axvline(threshold, color="0.2", lw=1.0, ls="--", label=f"link threshold (p = {p_link:g})")
    from matplotlib.ticker import FuncFormatter

    ax.set_yscale("symlog", linthresh=1)  # a few records in the band beside hundreds linked
    top = max(bottom.values(), default=0)
    ax.set_ylim(0, max(top, 1) * (4 if marks else 1.5))  # room for the [c] markers above a stack
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ticks = np.array([1e-6, 1e-4, 0.01, 0.1, 0.9, 0.99, 0.9999, 1 - 1e-6])
    ax.set_xticks(release.log_odds(ticks), ["≤10⁻⁶", "10⁻⁴", "0.01", "0.1", "0.9", "0.99", "0.9999", "≥1−10⁻⁶"])
    ax.set_xlim(-release.LOG_ODDS_LIMIT, release.LOG_ODDS_LIMIT)
    ax.set_xlabel("Match probability of the best candidate (log-odds scale)")
    ax.set_ylabel("Records")
    handles, texts = ax.get_legend_handles_labels()
    if len(summary) and "no_candidate" in summary:
        unseen, unseen_hidden = _values(summary, "no_candidate")[0], bool(_withheld(summary)["no_candidate"].iloc[0])
        if unseen_hidden or (np.isfinite(unseen) and unseen > 0):
            handles.append(Patch(color="none"))
            texts.append(f"no candidate found (not drawn): {_count(unseen, unseen_hidden)}")
    if hidden.any() or MARKER in " ".join(texts):
        handles.append(_note_handle()[0])
        texts.append(WITHHELD)
    # Under the panel, where it covers no bar.
    fig.legend(handles, texts, loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.02), fontsize="small")
    fig.tight_layout(rect=(0, 0.02 + 0.03 * int(np.ceil(len(handles) / 2)), 1, 1))
    return fig


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


def _row_marker(ax, y, colour, text: str = MARKER) -> None:
    """``[c]`` at the left of the panel, in row ``y`` (data), for a withheld estimate."""
    from matplotlib.transforms import blended_transform_factory

    ax.text(0.02, y, text, transform=blended_transform_factory(ax.transAxes, ax.transData), ha="left",
            va="center", fontsize="small", color=colour)


def comparison_effects(effects: pd.DataFrame, config: dict):
    """A forest plot: each category's rate ratio by each estimator, arrests and harm, with
    intervals, on a log axis; 1 is no change.  A withheld estimate is not drawn: ``[c]`` in its
    row, in its estimator's colour; a withheld interval is not drawn."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    labels = categories.labels(config["categories"])
    order = [c for c in categories.names(config["categories"])]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.55), sharey=True)
    col = palette(fig_cfg)
    hidden = _withheld(effects)
    any_hidden = False
    for ax, measure in zip(axes, ("events", "harm")):
        ax.set_title(measure_label(measure, config))
        at = (effects["measure"] == measure).to_numpy()
        rows, h = effects.loc[at], hidden.loc[at]
        est_hidden = h["estimate"].to_numpy(bool)
        published = np.isfinite(_values(rows, "estimate")) & ~est_hidden
        if not published.any():
            empty_panel(ax, ALL_WITHHELD if est_hidden.any() else "No rate ratio could be estimated")
            any_hidden |= bool(est_hidden.any())
            continue
        for j, (estimator, words) in enumerate(ESTIMATOR_WORDS.items()):
            pick = (rows["estimator"] == estimator).to_numpy()
            r = rows.loc[pick].set_index("category").reindex(order)
            rh = h.loc[pick].set_index(rows.loc[pick, "category"]).reindex(order, fill_value=False)
            y = np.arange(len(order)) * 4 + j
            gone = rh["estimate"].to_numpy(bool)
            est = np.where(gone, np.nan, _values(r, "estimate"))
            ci_gone = gone | rh[["ci_low", "ci_high"]].any(axis=1).to_numpy(bool)
            lo = np.where(ci_gone, np.nan, _values(r, "ci_low"))
            hi = np.where(ci_gone, np.nan, _values(r, "ci_high"))
            ok, ci = np.isfinite(est), np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
            ax.hlines(y[ci], lo[ci], hi[ci], color=col[j], lw=1.0)
            ax.scatter(est[ok], y[ok], s=12, color=col[j], label=words, zorder=3)
            for yi in y[gone]:
                _row_marker(ax, yi, col[j])
            any_hidden |= bool(gone.any() or (ci_gone & ok).any())
        ax.axvline(1.0, color="0.3", lw=0.8)
        _ratio_axis(ax, "x")
        ax.set_xlabel("Rate ratio, after / before (log scale)")
    axes[0].set_yticks(np.arange(len(order)) * 4 + 1, [labels.get(c, c) for c in order])
    axes[0].set_ylim(len(order) * 4 - 1, -1)
    return _legend_below(fig, axes, ncol=2, note=any_hidden)


def comparison_balance(balance: pd.DataFrame, config: dict):
    """Covariate balance (a "Love plot"): each covariate's absolute standardised mean
    difference, all comparison people against the matched, with the 0.1 rule of thumb.  A
    withheld difference is not drawn; the row says which is withheld (``[c]``)."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, ax = plt.subplots(figsize=size(fig_cfg, 0.4))
    col = palette(fig_cfg)
    if balance.empty:
        empty_panel(ax, "No comparison group was matched")
        return fig
    b = balance.reset_index(drop=True)
    hidden = _withheld(b)
    y = np.arange(len(b))
    gone = {}
    for c, colour, marker, label in (("smd_all", col[0], "o", "all comparison people"),
                                     ("smd_matched", col[1], "D", "matched")):
        gone[c] = hidden[c].to_numpy(bool)
        v = np.abs(np.where(gone[c], np.nan, _values(b, c)))
        ok = np.isfinite(v)
        ax.scatter(v[ok], y[ok], s=14, color=colour, marker=marker, label=label, zorder=3)
    ax.axvline(0.1, color="0.4", lw=0.8, ls="--", label="0.1")
    # A withheld difference is named in its row's label (where nothing else is drawn).
    words = [str(f).replace("_", " ") for f in b["feature"]]
    for i in np.flatnonzero(gone["smd_all"] | gone["smd_matched"]):
        which = ("all, matched" if gone["smd_all"][i] and gone["smd_matched"][i] else
                 "all" if gone["smd_all"][i] else "matched")
        words[i] += f" ({which}: {MARKER})"
    ax.set_yticks(y, words)
    ax.set_ylim(len(b) - 0.5, -0.5)
    ax.set_xlim(left=0)
    ax.set_xlabel("Absolute standardised mean difference")
    handles, labels = ax.get_legend_handles_labels()
    if any(g.any() for g in gone.values()):
        handles, labels = handles + [_note_handle()[0]], labels + [WITHHELD]
    ax.legend(handles, labels, loc="best")
    fig.tight_layout()
    return fig


def sensitivity(panel: pd.DataFrame, config: dict):
    """The sensitivity panel as a forest plot: the overall rate ratio after / before of arrests
    and harm under each analysis, with its interval where it has one, on a log axis; the main
    analysis's interval shaded.  A withheld ratio is not drawn: ``[c]`` in its row."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    keep = panel["category"].isin(["overall", config["comparison"]["sensitivity"]["negative_control"]["name"]])
    rows, hidden = panel.loc[keep], _withheld(panel).loc[keep]
    analyses = list(dict.fromkeys(rows["analysis"]))
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.12 + 0.045 * max(len(analyses), 1)), sharey=True)
    col = palette(fig_cfg)
    main = f"window_{int(config['study']['window_months'])}"
    any_hidden = False
    for ax, measure in zip(axes, ("events", "harm")):
        ax.set_title(measure_label(measure, config))
        pick = (rows["measure"] == measure).to_numpy()
        r = rows.loc[pick].set_index("analysis").reindex(analyses)
        h = hidden.loc[pick].set_index(rows.loc[pick, "analysis"]).reindex(analyses, fill_value=False)
        gone = h["estimate"].to_numpy(bool)
        est = np.where(gone, np.nan, _values(r, "estimate"))
        ci_gone = gone | h[["ci_low", "ci_high"]].any(axis=1).to_numpy(bool)
        lo, hi = (np.where(ci_gone, np.nan, _values(r, c)) for c in ("ci_low", "ci_high"))
        if not np.isfinite(est).any():
            empty_panel(ax, ALL_WITHHELD if gone.any() else "No sensitivity analysis could be estimated")
            any_hidden |= bool(gone.any())
            continue
        y = np.arange(len(analyses))
        if main in analyses:
            m = analyses.index(main)
            if np.isfinite(lo[m]) and np.isfinite(hi[m]):
                ax.axvspan(lo[m], hi[m], color="0.92", zorder=0)
        ok, ci = np.isfinite(est), np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
        ax.hlines(y[ci], lo[ci], hi[ci], color=col[0], lw=1.0)
        ax.scatter(est[ok], y[ok], s=12, color=[col[1] if a == main else col[0] for a in np.array(analyses)[ok]],
                   zorder=3)
        for yi in y[gone]:
            _row_marker(ax, yi, "0.3")
        any_hidden |= bool(gone.any() or (ci_gone & ok).any())
        ax.axvline(1.0, color="0.3", lw=0.8)
        _ratio_axis(ax, "x")
        ax.set_xlabel("Rate ratio, after / before (log scale)")
    axes[0].set_yticks(np.arange(len(analyses)), [a.replace("_", " ") for a in analyses])
    axes[0].set_ylim(len(analyses) - 0.5, -0.5)
    fig.tight_layout()
    if any_hidden:
        _note_below(fig)
    return fig


def controlled_series(series: pd.DataFrame, config: dict):
    """The time series beside its control: arrests and harm per 100 person-months at liberty,
    per period of the subjects' own clocks (the released series' periods, each drawn across
    its months; a withheld period is not drawn, ``[c]`` at its place), for the order group and
    the matched comparison group (the whole pool with full windows where nobody was matched)."""
    import matplotlib.pyplot as plt

    fig_cfg = config["figures"]
    fig, axes = plt.subplots(1, 2, figsize=size(fig_cfg, 0.42))
    col = palette(fig_cfg)
    any_hidden = False
    for ax, measure in zip(axes, ("events", "harm")):
        rows = series.loc[series["measure"].astype(str) == measure]
        names = list(dict.fromkeys(rows["series"].astype(str)))
        others = [s for s in names if s != "order group"]
        months = _values(rows, "months")
        k = int(np.nanmax(months)) if np.isfinite(months).any() else 1
        ax.set_title(measure_label(measure, config) + (f", {k}-month periods" if k > 1 else ""))
        if not others:
            empty_panel(ax, "No comparison group")
            continue
        for j, name in enumerate(["order group", *others]):
            s = rows.loc[rows["series"].astype(str) == name].sort_values("month_start")
            start, end, rate, hid = _binned(s, "rate")
            shown = np.isfinite(rate)
            _periods(ax, start[shown], end[shown], rate[shown], col[j], name)
            if hid.any():
                _withheld_bins(ax, start[hid], end[hid], col[j], row=j)
                any_hidden = True
        ax.axvline(-0.5, color="0.4", lw=0.8, ls=":")
        # The clock's extent from the bins (published, whether or not their values are), so a
        # panel whose values are all withheld still spans its months.
        lo, hi = np.nanmin(_values(rows, "month_start")) - 0.5, np.nanmax(_values(rows, "month_end")) + 0.5
        ax.set_xlim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.set_ylim(bottom=0)
        ax.set_xlabel("Months from the order (index date)")
        ax.set_ylabel(f"{'Arrests' if measure == 'events' else 'Harm'} per 100 person-months at liberty")
    return _legend_below(fig, axes, ncol=3, note=any_hidden)


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
    """The figures stage: every figure, as PNG and PDF, from the released tables and the model
    outputs alone; with ``threads`` > 1 on Linux, that many forked processes draw them (each
    figure is drawn alone, so the files are the same bytes whichever process draws it).
    Elsewhere, or with one thread, one after another: a spawned process would re-run the rule's
    script."""
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
