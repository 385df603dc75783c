"""The release stage: disclosure control of everything one study's report and figures publish.

The processed tables (``data/processed/<study>/``) stay inside the secure setting, whole.  What
leaves it is the report and its figures, so every number they show is taken from a *released*
table written here (``reports/<study>/tables/*.csv``) after :mod:`strostudy.disclosure` has
withheld what the rule says must not be published; each withheld cell is listed, with its
reason but never its value, in ``reports/<study>/output_checking_log.csv``, for the analyst to
submit with the tables (issue 16; docs/disclosure.md says what each table holds and why).

What is checked, table by table (:data:`BUILDERS`):

* **flow**: the cohort flow, one count per row (orders listed, with full windows, outside the
  data period, analysed, each exclusion).  Two lines add up: listed = full + outside, and
  full = analysed + the exclusions.
* **tests**: the before/after tests.  People (``n_subjects``, ``n_nonzero``) and arrest totals
  are frequency cells; a harm total is a magnitude cell, checked for few contributors and
  dominance over the subjects' own harm (``subject_windows``); categories add up to a total
  within a measure.  A reduction and its interval are derived from the two totals, and every
  test statistic from ``n_subjects``.
* **subject_change**: how many subjects' arrests (harm) fell, stayed the same or rose: the
  published form of the per-subject comparison (a scatter of each person's counts is
  individual-level data, which no threshold rule lets out).
* **its_observed**, **controlled_series**: the time series on the subjects' own clocks,
  aggregated before anything is withheld, as disclosure guidance prefers: monthly where every
  month passes the rule, else in the finest of :data:`SERIES_BINS` months at which every
  point passes; points still failing at a year are withheld.  A point's arrests are a
  frequency cell, its harm a magnitude cell over the subjects, its rates derived from them.
* **comparison_groups**, **comparison_effects**, **comparison_balance**, **sensitivity**,
  **correlations**: group sizes are frequency cells; ratios, intervals, p-values, means and
  standardised differences are derived from the sizes they describe.  A rate ratio of a
  category whose before/after totals the tests table withholds is withheld with them (the
  ratio and one total give the other back).  A covariate mean times its group's size is a
  total: where the rule would withhold that total (arrests below the threshold; harm from too
  few people or dominated by one) the mean is withheld.
* **ledger**, **discrepancy_summary**, **unknown_codes**, **linkage_quality**,
  **linkage_summary**, **linkage_score_bins**: counts of records from the data-quality
  sections, checked as frequency cells, with their totals as lines.

Model outputs (the time-series and event-study coefficients, fitted lines, residual
autocorrelations) are not cells and are published as they are; the models behind them are fitted
to the whole analysed cohort (docs/disclosure.md).

Every released table passes :func:`strostudy.disclosure.check` before it is written; a table
that fails is an internal error, not a release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import disclosure
from .disclosure import Line

#: The periods (months per point) a released time series may use, finest first, when the
#: config does not say (``disclosure.series_bin_months``).
SERIES_BINS = (1, 3, 6, 12)
#: Days in an average month (365.25 / 12), for rates per person-month.
DAYS_PER_MONTH = 365.25 / 12
#: The before/after tests' statistics (withheld with the counts they are computed from).
_STATS = ("wilcoxon_v", "wilcoxon_z", "p_value", "p_pratt", "p_exact", "p_holm", "effect_r", "rank_biserial",
          "hl_estimate", "hl_ci_low", "hl_ci_high", "significant_holm")


@dataclass
class Part:
    """A table (or one part of it, checked on its own) before disclosure, and how it is checked:
    the arguments of :func:`strostudy.disclosure.apply`.  ``helper`` columns (line groups,
    contributor counts) are dropped from what is published."""

    table: pd.DataFrame
    count_cols: tuple = ()
    key_cols: tuple = ()
    contributors: dict = field(default_factory=dict)
    top_share: dict = field(default_factory=dict)
    lines: tuple = ()
    derived: dict = field(default_factory=dict)
    helper: tuple = ()
    #: Cells withheld in another released table that this one would give back (a boolean frame).
    upstream: pd.DataFrame | None = None
    upstream_rule: str = "inputs=upstream"

    def spec(self) -> dict:
        return {"key_cols": list(self.key_cols), "contributors": self.contributors, "top_share": self.top_share,
                "lines": list(self.lines), "derived": self.derived}


def publish(name: str, parts: list[Part], rule) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(published, log)`` of table ``name``: each part through
    :func:`strostudy.disclosure.apply` and the final gate, then the parts stacked (a table
    whose rows follow different rules, like arrests and harm, is checked part by part)."""
    frames, logs = [], []
    for part in parts:
        published, log = disclosure.apply(part.table, part.count_cols, table_name=name, rule=rule, **part.spec(),
                                          upstream=part.upstream, upstream_rule=part.upstream_rule)
        problems = disclosure.check(published, part.count_cols, rule=rule, source=part.table, **part.spec())
        if problems:  # pragma: no cover - the engine's own tests cover the gate
            shown = "; ".join(f"{k} {c}: {p}" for k, c, p in problems[:5])
            raise disclosure.DisclosureError(f"released table {name} fails disclosure control ({shown}); "
                                             "please report this as a bug")
        helpers = [c for c in part.helper if c in published.columns]
        if helpers:  # a helper column is checked, never published: not in `suppressed`, not in the log
            names = "|".join(re.escape(h) for h in helpers)
            published[disclosure.SUPPRESSED] = (published[disclosure.SUPPRESSED].astype("string").fillna("")
                                                .str.replace(rf"(?:^|;)(?:{names})(?=;|$)", "", regex=True)
                                                .str.lstrip(";").astype(str))
            log = log.loc[~log["column"].isin(helpers)].reset_index(drop=True)
        frames.append(published.drop(columns=helpers))
        logs.append(log)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return out, pd.concat(logs, ignore_index=True) if len(logs) > 1 else logs[0]


def _hidden_rows(rows: pd.DataFrame, hidden: frozenset, columns) -> pd.DataFrame | None:
    """An upstream frame (:attr:`Part.upstream`): ``columns`` in the rows whose (measure,
    category) is in ``hidden``; None when there is nothing to withhold."""
    cols = [c for c in columns if c in rows.columns]
    keys = pd.MultiIndex.from_arrays([rows["measure"].astype(str), rows["category"].astype(str)])
    mask = keys.isin(list(hidden)) if hidden else np.zeros(len(rows), dtype=bool)
    if not mask.any() or not cols:
        return None
    return pd.DataFrame({c: mask for c in cols}, index=rows.index)


def hidden_totals(tests: pd.DataFrame) -> frozenset:
    """The (measure, category) pairs whose before or after total the released tests withhold:
    a ratio of them and one published total would give the other back."""
    f = disclosure.flags(tests)[["total_before", "total_after"]].any(axis=1).to_numpy()
    return frozenset(zip(tests["measure"].astype(str)[f], tests["category"].astype(str)[f]))


#: The rule logged for a ratio withheld because its category's totals are (:func:`hidden_totals`).
TOTALS_RULE = "inputs=tests.total_before+total_after"


# --------------------------------------------------------------------------- the cohort


def flow(cohort_flow: pd.DataFrame) -> Part:
    """The cohort flow with each count once (``step``, ``reason``, ``n``), and its two lines."""
    steps = cohort_flow["step"].astype(str)
    full = cohort_flow.loc[steps == "full_windows"]
    excl = cohort_flow.loc[steps == "exclusions"]
    listed = int(cohort_flow["n_in"].iloc[0]) if len(cohort_flow) else 0
    n_full = int(full["n_out"].iloc[0]) if len(full) else listed
    analysed = int(excl["n_out"].iloc[0]) if len(excl) else n_full
    rows = [("orders_listed", "", listed, "listed", "_1"),
            ("full_windows", "", n_full, "listed", "full"),
            ("outside_data_period", str(full["reason"].iloc[0]) if len(full) else "", listed - n_full, "listed", "_2"),
            ("analysed", "", analysed, "_3", "full")]
    rows += [("excluded", str(r.reason), int(r.n), f"_{4 + i}", "full") for i, r in enumerate(excl.itertuples())]
    table = pd.DataFrame(rows, columns=["step", "reason", "n", "line_listed", "line_full"])
    table["n"] = table["n"].astype("int64")
    return Part(table, count_cols=("n",), key_cols=("step", "reason"), helper=("line_listed", "line_full"),
                lines=(Line(("n",), by=("line_listed",)), Line(("n",), by=("line_full",))))


def tests(prepost_tests: pd.DataFrame, subject_windows: pd.DataFrame,
          change: pd.DataFrame | None = None) -> list[Part]:
    """The before/after tests: arrests and harm checked apart (a harm total is a magnitude).
    Every test statistic (V, z, the p-values, r, the rank-biserial, the Hodges-Lehmann estimate
    and its interval, whose ends can be one person's change) and the note are derived from the
    number of subjects and of non-zero changes (V, z, r and the rank-biserial, which together
    give the number of non-zero changes back, also from its withholding by another table).
    ``change``: the released
    :func:`subject_change`; where it withholds a count, the overall row's ``n_nonzero`` (which
    is fell + rose) is withheld too."""
    t = prepost_tests.copy()
    people = tuple(c for c in ("n_subjects", "n_nonzero", "effect_r_n") if c in t.columns)
    count = [c for c in ("n_subjects", "n_nonzero") if c in t.columns]
    # V, z, r and the rank-biserial together solve for n_nonzero: they go whenever it does.
    # The p-values, the Hodges-Lehmann estimate and interval and the note go when a count is
    # below the rule (a copy of n_nonzero, checked alike, that another table does not withhold).
    solving = [c for c in ("wilcoxon_v", "wilcoxon_z", "effect_r", "rank_biserial") if c in t.columns]
    others = [c for c in (*_STATS, "note") if c in t.columns and c not in solving]
    if "n_nonzero" in t.columns:
        t["n_nonzero_size"] = t["n_nonzero"]
        people = (*people, "n_nonzero_size")
    size = ["n_subjects", *(["n_nonzero_size"] if "n_nonzero" in t.columns else [])]
    derived = {**{c: ["total_before", "total_after", "n_subjects"] for c in
                  ("reduction_pct", "reduction_ci_low", "reduction_ci_high")},
               **{c: count for c in solving}, **{c: size for c in others}}
    line = Line(("total_before", "total_after"), by=("measure",))

    def upstream(rows: pd.DataFrame):
        if change is None or "n_nonzero" not in rows.columns or not len(change):
            return None
        gone = disclosure.flags(change)[["fell", "same", "rose"]].any(axis=1)
        gone_measures = set(change["measure"].astype(str)[gone.to_numpy()])
        mask = rows["measure"].astype(str).isin(gone_measures) & (rows["category"] == "overall")
        return pd.DataFrame({"n_nonzero": mask.to_numpy(dtype=bool)}, index=rows.index)

    rule = "inputs=subject_change (n_nonzero is fell + rose)"
    ev = t.loc[t["measure"] == "events"].reset_index(drop=True)
    events = Part(ev, count_cols=(*people, "total_before", "total_after"), key_cols=("measure", "category"),
                  lines=(line,), derived=derived, upstream=upstream(ev), upstream_rule=rule, helper=("n_nonzero_size",))
    harm = t.loc[t["measure"] != "events"].reset_index(drop=True)
    c = disclosure.contributions(subject_windows, ["category"], ["harm_before", "harm_after"], unit="subject_id")
    harm = harm.merge(c.drop(columns=["harm_before", "harm_after"]), on="category", how="left")
    aux = {f"total_{w}": f"harm_{w}" for w in ("before", "after")}
    return [events, Part(harm, count_cols=people, key_cols=("measure", "category"), lines=(line,), derived=derived,
                         contributors={k: f"{v}_contributors" for k, v in aux.items()},
                         top_share={k: f"{v}_top_share" for k, v in aux.items()}, upstream=upstream(harm),
                         upstream_rule=rule, helper=("n_nonzero_size",))]


def subject_change(subject_windows: pd.DataFrame) -> Part:
    """Per measure, how many subjects' totals (overall) fell, stayed the same or rose; the three
    add up to the analysed count, published in the flow."""
    w = subject_windows.loc[subject_windows["category"] == "overall"]
    rows = []
    for measure in ("events", "harm"):
        d = np.sign(w[f"{measure}_after"].to_numpy(float) - w[f"{measure}_before"].to_numpy(float))
        rows.append((measure, int((d < 0).sum()), int((d == 0).sum()), int((d > 0).sum())))
    table = pd.DataFrame(rows, columns=["measure", "fell", "same", "rose"]).astype(
        {"fell": "int64", "same": "int64", "rose": "int64"})
    return Part(table, count_cols=("fell", "same", "rose"), key_cols=("measure",),
                lines=(Line(("fell", "same", "rose"), across="columns"),))


def correlations(corr: pd.DataFrame) -> Part:
    return Part(corr.reset_index(drop=True), count_cols=("n",), key_cols=("level",),
                derived={c: ["n"] for c in ("rho", "p_value") if c in corr.columns})


# --------------------------------------------------------------------------- time series


def _binned(panel: pd.DataFrame, k: int, by: list[str], measure: str) -> pd.DataFrame:
    """Per ``by`` and ``k``-month bin of the subjects' clocks: the months it spans, the people
    at liberty in it, their days at liberty and their total of ``measure`` (for harm, with its
    contributors and largest share over the subjects)."""
    p = panel.assign(bin=np.floor_divide(panel["month"].to_numpy(), k))
    keys = [*by, "bin"]
    out = p.groupby(keys, sort=True, observed=True).agg(
        month_start=("month", "min"), month_end=("month", "max"), days_at_risk=("days_at_risk", "sum"),
        total=(measure, "sum")).reset_index()
    out["months"] = (out["month_end"] - out["month_start"] + 1).astype("int64")
    people = p.loc[p["days_at_risk"] > 0].groupby(keys, observed=True)["subject_id"].nunique()
    out["people"] = (out.set_index(keys).index.map(people).fillna(0).astype("int64") if len(out)
                     else pd.Series([], dtype="int64"))
    if measure == "events":
        out["total"] = out["total"].astype("int64")
    else:
        c = disclosure.contributions(p, keys, [measure], unit="subject_id")
        out = out.merge(c.drop(columns=[measure]).rename(columns=lambda x: x.replace(measure, "total")), on=keys,
                        how="left")
    out.insert(0, "measure", measure)
    return out.drop(columns="bin")


def _series_part(panel: pd.DataFrame, by: list[str], measure: str, rule, people: bool,
                 bins=SERIES_BINS) -> Part:
    """One measure's series, binned at the finest of ``bins`` months at which no point fails
    the primary rule (at the coarsest, with what still fails withheld)."""
    # The people at liberty are counted whether or not a figure shows them (days at liberty give
    # them back), so both are checked.
    count_cols = (*(("total",) if measure == "events" else ()), "people")
    for k in sorted(int(b) for b in bins):
        b = _binned(panel, k, by, measure)
        # The bins of a window add up to its before or after total, published in the tests: one
        # withheld bin beside its published neighbours would come back by subtraction.
        b["side"] = np.where(b["month_start"] < 0, "before", "after")
        part = Part(b, count_cols=count_cols, key_cols=(*by, "measure", "month_start", "month_end"),
                    derived={"per_month": ["total"], "rate": ["total"], "days_at_risk": ["people"]},
                    lines=(Line(("total",), by=(*by, "side")),), helper=("side",))
        if measure != "events":
            part.contributors, part.top_share = {"total": "total_contributors"}, {"total": "total_top_share"}
        failing = disclosure.primary(b, part.count_cols, rule=rule, contributors=part.contributors,
                                     top_share=part.top_share)
        if not (failing != "").to_numpy().any():
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        b["per_month"] = b["total"] / b["months"]
        b["rate"] = 100 * DAYS_PER_MONTH * b["total"] / b["days_at_risk"].where(b["days_at_risk"] > 0)
    return part


def its_observed(panel: pd.DataFrame, rule, bins=SERIES_BINS) -> list[Part]:
    """The order group's arrests and harm (overall) on their own clocks, each binned
    (:func:`_series_part`): what the time-series figure draws as observed points."""
    p = panel.loc[(panel["group"] == "order") & (panel["category"] == "overall")]
    return [_series_part(p, [], m, rule, people=False, bins=bins) for m in ("events", "harm")]


def controlled_series(panel: pd.DataFrame, cohort: pd.DataFrame, rule, bins=SERIES_BINS) -> list[Part]:
    """Arrests and harm per 100 person-months at liberty, for the order group and the matched
    comparison group (the whole pool where nobody was matched), each measure binned alike over
    both groups (:func:`_series_part`)."""
    matched = set(cohort.loc[cohort["matched"].astype(bool), "subject_id"])
    overall = panel.loc[panel["category"] == "overall"]
    pool = overall["group"].eq("comparison")
    comparison = pool & overall["subject_id"].isin(matched) if matched else pool
    words = "matched comparison group" if matched else "comparison pool"
    p = pd.concat([overall.loc[overall["group"].eq("order")].assign(series="order group"),
                   overall.loc[comparison].assign(series=words)], ignore_index=True)
    return [_series_part(p, ["series"], m, rule, people=True, bins=bins) for m in ("events", "harm")]


# --------------------------------------------------------------------------- the comparison


def comparison_groups(cohort: pd.DataFrame, custody: pd.DataFrame) -> Part:
    pool = cohort.loc[cohort["group"] == "comparison"]
    row = {"n_order": int((cohort["group"] == "order").sum()), "n_pool": len(pool),
           "n_full": int(pool["included"].astype(bool).sum()), "n_matched": int(pool["matched"].astype(bool).sum()),
           "custody_periods": len(custody), "custody_subjects": int(custody["subject_id"].nunique())}
    table = pd.DataFrame([row]).astype("int64")
    return Part(table, count_cols=tuple(row))


def comparison_effects(effects: pd.DataFrame, hidden: frozenset = frozenset()) -> Part:
    """The rate ratios; those of a category whose totals the tests withhold (``hidden``) too."""
    ratio = ("estimate", "ci_low", "ci_high", "p_value", "se", "theta")
    stats = [c for c in (*ratio, "df", "note") if c in effects.columns]
    e = effects.reset_index(drop=True)
    return Part(e, count_cols=("n_treated", "n_comparison"), key_cols=("measure", "category", "estimator"),
                derived={c: ["n_treated", "n_comparison"] for c in stats},
                upstream=_hidden_rows(e, hidden, ratio), upstream_rule=TOTALS_RULE)


def comparison_balance(balance: pd.DataFrame, groups: pd.DataFrame,
                       totals: dict[str, np.ndarray] | None = None) -> Part:
    """The balance table with each group's size beside it (so a mean is withheld with its size,
    and a standardised difference with either mean).  ``totals``: per mean column, the rows
    whose mean times the group's size is a total the rule withholds (:func:`balance_totals`)."""
    b = balance.reset_index(drop=True).copy()
    g = groups.iloc[0] if len(groups) else {}
    for col, key in (("n_treated", "n_order"), ("n_control_all", "n_full"), ("n_control_matched", "n_matched")):
        b[col] = np.int64(g.get(key, 0)) if len(b) else pd.Series([], dtype="int64")
    derived = {"mean_treated": ["n_treated"], "mean_control_all": ["n_control_all"],
               "smd_all": ["n_treated", "n_control_all", "mean_treated", "mean_control_all"],
               "mean_control_matched": ["n_control_matched"],
               "smd_matched": ["n_treated", "n_control_matched", "mean_treated", "mean_control_matched"]}
    upstream = pd.DataFrame({c: np.asarray(m, dtype=bool) for c, m in totals.items()}, index=b.index) \
        if totals and any(np.asarray(m).any() for m in totals.values()) else None
    return Part(b, count_cols=("n_treated", "n_control_all", "n_control_matched"), key_cols=("feature",),
                derived=derived, upstream=upstream, upstream_rule="inputs=mean*group size (a total the rule withholds)")


#: A balance covariate that is a group's mean total over some months before the index date:
#: ``events_m24_m13`` (arrests in months -24 to -13), ``harm_m12_m1``.
_PERIOD_FEATURE = r"^(events|harm)_m(\d+)_m(\d+)$"


def balance_totals(balance: pd.DataFrame, panel: pd.DataFrame, cohort: pd.DataFrame, rule) -> dict[str, np.ndarray]:
    """Per group column of the balance table, the rows whose mean, times the group's size
    (published), is a total the rule withholds: the group's arrests over the feature's months
    below the threshold, or its harm over them from too few people or dominated by one.  The
    totals are computed from the subject-month panel (order group; the comparison pool; the
    matched comparison group)."""
    feature = balance["feature"].astype(str)
    parts = feature.str.extract(_PERIOD_FEATURE)
    overall = panel.loc[panel["category"] == "overall"]
    matched = set(cohort.loc[cohort["matched"].astype(bool), "subject_id"])
    groups = {"mean_treated": overall["group"].eq("order"), "mean_control_all": overall["group"].eq("comparison"),
              "mean_control_matched": overall["group"].eq("comparison") & overall["subject_id"].isin(matched)}
    out = {}
    for mean, in_group in groups.items():
        mask = np.zeros(len(balance), dtype=bool)
        for i in np.flatnonzero(parts[0].notna().to_numpy()):
            measure, first, last = parts.iloc[i, 0], -int(parts.iloc[i, 1]), -int(parts.iloc[i, 2])
            rows = overall.loc[in_group & overall["month"].between(first, last)]
            if measure == "events":
                cell = pd.DataFrame({"total": [int(rows["events"].sum())]})
                failing = disclosure.primary(cell, ["total"], rule=rule)
            else:
                c = disclosure.contributions(rows, [], ["harm"], unit="subject_id")
                failing = disclosure.primary(c.rename(columns=lambda x: x.replace("harm", "total")), rule=rule,
                                             contributors={"total": "total_contributors"},
                                             top_share={"total": "total_top_share"})
            mask[i] = bool((failing != "").to_numpy().any())
        out[mean] = mask
    return out


#: Sensitivity analyses whose ratio is the main result with one subject left out: set beside the
#: published totals it gives that subject's own counts back, so it is never released.
LEAVE_ONE_OUT = ("leave_one_out_lowest", "leave_one_out_highest")


def sensitivity(panel: pd.DataFrame, rule, main: str | None = None, shown=("overall",),
                hidden: frozenset = frozenset()) -> Part:
    """The sensitivity rows the report and figure show (``shown`` categories: overall and the
    negative control).  Withheld besides the rule: the leave-one-out ratios (individual-level);
    a note that quotes a number (the notes count arrests and orders no rule has checked); an
    analysis whose subjects differ from the main analysis's (``main``) by fewer than
    ``min_cell``, since its ratio against the main totals describes those few people; and the
    ratios of a category whose totals the tests withhold (``hidden``)."""
    p = panel.loc[panel["category"].isin(list(shown))].reset_index(drop=True)
    stats = [c for c in ("estimate", "ci_low", "ci_high") if c in p.columns]
    n = pd.to_numeric(p["n_subjects"], errors="coerce")
    n_main = n.loc[p["analysis"] == main].max() if main is not None else np.nan
    few = (n - n_main).abs().between(1, rule.min_cell - 1) if np.isfinite(n_main) else pd.Series(False, index=p.index)
    loo = p["analysis"].isin(LEAVE_ONE_OUT)
    numbered = p["note"].fillna("").astype(str).str.contains(r"\d", regex=True) if "note" in p else loo & False
    totals = _hidden_rows(p, hidden, stats)
    totals = totals.to_numpy(dtype=bool).any(axis=1) if totals is not None else np.zeros(len(p), dtype=bool)
    up = pd.DataFrame({**{c: (loo | few).to_numpy(dtype=bool) | totals for c in stats},
                       "n_subjects": few.to_numpy(dtype=bool),
                       **({"note": numbered.to_numpy(dtype=bool)} if "note" in p else {})}, index=p.index)
    return Part(p, count_cols=("n_subjects",), key_cols=("analysis", "measure", "category"),
                derived={c: ["n_subjects"] for c in stats}, upstream=up,
                upstream_rule="individual-level (one subject left out), a note quoting a count, fewer than "
                              "min_cell subjects apart from the main analysis, or its category's totals withheld")


# --------------------------------------------------------------------------- data quality


def ledger(audit_ledger: pd.DataFrame) -> Part:
    t = audit_ledger.reset_index(drop=True).copy()
    t["reason"] = t["reason"].fillna("")
    return Part(t, count_cols=("rows",), key_cols=("source", "outcome", "reason"),
                lines=(Line(("rows",), by=("source",)),))


def discrepancy_summary(discrepancies: pd.DataFrame) -> Part:
    # In key order: an order by size would rank the withheld cells among themselves.
    d = discrepancies.groupby(["kind", "source_pair"]).size().reset_index(name="n").sort_values(
        ["kind", "source_pair"], kind="stable")
    total = pd.DataFrame([{"kind": "all", "source_pair": "all", "n": len(discrepancies)}])
    t = pd.concat([d, total], ignore_index=True).astype({"n": "int64"})
    return Part(t, count_cols=("n",), key_cols=("kind", "source_pair"), lines=(Line(("n",)),))


def unknown_codes(codes: pd.DataFrame) -> Part:
    ordered = codes.sort_values(["cjs_code", "ho_class"], kind="stable", na_position="last").reset_index(drop=True)
    return Part(ordered, count_cols=("offences", "arrests"), key_cols=("cjs_code", "ho_class"))


#: The person sources whose linkage the report shows (the comparison pool is linked apart).
LINKED_SOURCES = ("orders", "pnd_records", "rocu_orders", "rocu_offending")


def linkage_quality(quality: pd.DataFrame) -> Part:
    """Records per person source and basis, with each source's and each basis's total."""
    q = quality.loc[quality["source"].isin(LINKED_SOURCES)]
    q = q.groupby(["source", "basis"], sort=False)["records"].sum().reset_index()
    # No source totals: each is that source's rows read, which the ledger publishes, so they
    # cannot protect a cell; the source lines are checked against that total all the same.
    by_basis = q.groupby("basis", sort=False)["records"].sum().reset_index().assign(source="all")
    t = pd.concat([q, by_basis], ignore_index=True)[["source", "basis", "records"]]
    t["records"] = t["records"].astype("int64")
    return Part(t, count_cols=("records",), key_cols=("source", "basis"),
                lines=(Line(("records",), by=("source",)), Line(("records",), by=("basis",))))


def linkage_summary(scores: pd.DataFrame) -> Part:
    """The counts the linkage paragraph quotes, and the model's estimate of links missed."""
    basis = scores["link_basis"].fillna("")
    status = scores["link_status"]
    unlinked = status.ne("linked") & ~basis.isin(["clerical_accept", "clerical_reject"])
    missed = scores["p_listed"].where(unlinked, 0.0)
    row = {"by_name": len(scores), "linked": int(status.eq("linked").sum()),
           "ambiguous": int(status.eq("ambiguous").sum()), "no_match": int(status.eq("no_match").sum()),
           "review": int(scores["review"].astype(bool).sum()), "accepted": int(basis.eq("clerical_accept").sum()),
           "rejected": int(basis.eq("clerical_reject").sum()), "no_candidate": int(scores["match_weight"].isna().sum()),
           "missed": float(missed.sum()), "missed_ambiguous": float(missed[status.eq("ambiguous")].sum()),
           "missed_no_match": float(missed[status.eq("no_match")].sum())}
    counts = tuple(k for k in row if not k.startswith("missed"))
    return Part(pd.DataFrame([row]), count_cols=counts,
                lines=(Line(("by_name", "linked", "ambiguous", "no_match"), across="columns"),),
                derived={"missed": ["ambiguous", "no_match"], "missed_ambiguous": ["ambiguous"],
                         "missed_no_match": ["no_match"]})


#: What each stack of the linkage figure counts: its label and the status or clerical basis.
LINKAGE_GROUPS = (("linked (probabilistic)", "probabilistic"), ("linked (clerical accept)", "clerical_accept"),
                  ("rejected in review", "clerical_reject"), ("ambiguous", "ambiguous"), ("no match", "no_match"))
#: The posterior odds the linkage histogram runs over, in bits: log2(p / (1 - p)) within +-20.
LOG_ODDS_LIMIT = 20.0
LOG_ODDS_BINS = 40


def log_odds(p) -> np.ndarray:
    """log2(p / (1 - p)), held to +-:data:`LOG_ODDS_LIMIT` (so 0 and 1 land in the end bins)."""
    lim = 2.0 ** -LOG_ODDS_LIMIT
    p = np.clip(np.asarray(p, dtype=float), lim / (1 + lim), 1 / (1 + lim))
    return np.clip(np.log2(p) - np.log2(1 - p), -LOG_ODDS_LIMIT, LOG_ODDS_LIMIT)


def linkage_score_bins(scores: pd.DataFrame) -> Part:
    """The linkage figure's histogram as a table: records per outcome and log-odds bin of the
    best candidate's match probability, with each outcome's total (records with a candidate)."""
    seen = scores.loc[scores["match_weight"].notna()]
    group = seen["link_basis"].fillna("").where(seen["link_basis"].fillna("").ne(""), seen["link_status"])
    edges = np.linspace(-LOG_ODDS_LIMIT, LOG_ODDS_LIMIT, LOG_ODDS_BINS + 1)
    x = log_odds(seen["link_score"].to_numpy(float))
    at = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, LOG_ODDS_BINS - 1)
    rows = []
    for label, key in LINKAGE_GROUPS:
        hit = group.eq(key).to_numpy()
        if not hit.any():
            continue
        counts = np.bincount(at[hit], minlength=LOG_ODDS_BINS)
        rows += [(label, str(i), edges[i], edges[i + 1], int(n)) for i, n in enumerate(counts)]
        rows.append((label, "all", -LOG_ODDS_LIMIT, LOG_ODDS_LIMIT, int(hit.sum())))
    t = pd.DataFrame(rows, columns=["outcome", "bin", "log_odds_low", "log_odds_high", "records"])
    t["records"] = t["records"].astype("int64")
    t["link_threshold"] = float(seen["link_threshold"].iloc[0]) if len(seen) else np.nan
    t["review_threshold"] = float(seen["review_threshold"].iloc[0]) if len(seen) else np.nan
    return Part(t, count_cols=("records",), key_cols=("outcome", "bin"), lines=(Line(("records",), by=("outcome",)),))


# --------------------------------------------------------------------------- the stage


def release(t: dict, rule, bins=SERIES_BINS, main: str | None = None,
            shown=("overall",)) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Every released table of one study, by name, and the study's output-checking log (in
    table order), from the processed tables ``t`` (by registry name); time series binned at
    the finest of ``bins`` months at which every point passes; ``main`` the sensitivity panel's
    main analysis and ``shown`` the categories its report and figure show."""
    out: dict[str, pd.DataFrame] = {}
    logs: list[pd.DataFrame] = []

    def put(name, parts):
        out[name], log = publish(name, parts if isinstance(parts, list) else [parts], rule)
        logs.append(log)

    put("flow", flow(t["cohort_flow"]))
    put("subject_change", subject_change(t["subject_windows"]))
    put("tests", tests(t["prepost_tests"], t["subject_windows"], out["subject_change"]))
    put("correlations", correlations(t["correlations"]))
    put("its_observed", its_observed(t["subject_month_panel"], rule, bins))
    put("controlled_series", controlled_series(t["subject_month_panel"], t["comparison_cohort"], rule, bins))
    groups = comparison_groups(t["comparison_cohort"], t["custody"])
    put("comparison_groups", groups)
    # Across tables: a ratio of a category whose totals are withheld, and a balance mean that
    # gives a withheld total back, go with them.
    hidden = hidden_totals(out["tests"])
    put("comparison_effects", comparison_effects(t["comparison_effects"], hidden))
    put("comparison_balance", comparison_balance(t["comparison_balance"], groups.table, balance_totals(
        t["comparison_balance"], t["subject_month_panel"], t["comparison_cohort"], rule)))
    put("sensitivity", sensitivity(t["sensitivity"], rule, main, shown, hidden))
    put("ledger", ledger(t["audit_ledger"]))
    put("discrepancy_summary", discrepancy_summary(t["discrepancies"]))
    put("unknown_codes", unknown_codes(t["unknown_codes"]))
    put("linkage_quality", linkage_quality(t["linkage_quality"]))
    put("linkage_summary", linkage_summary(t["linkage_scores"]))
    put("linkage_score_bins", linkage_score_bins(t["linkage_scores"]))
    return out, pd.concat(logs, ignore_index=True)


#: The released tables, in the order they are written and logged.
RELEASED = ["flow", "subject_change", "tests", "correlations", "its_observed", "controlled_series",
            "comparison_groups", "comparison_effects", "comparison_balance", "sensitivity", "ledger",
            "discrepancy_summary", "unknown_codes", "linkage_quality", "linkage_summary", "linkage_score_bins"]


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> None:
    """The release stage of one study: its released tables and output-checking log."""
    from . import tables as registry
    from .stages import say

    t = {name: registry.read(name, inputs[name]) for name in registry.RULE_INPUTS["release"]}
    rule = disclosure.Rule.from_config(config.get("disclosure"))
    sens = config["comparison"]["sensitivity"]
    published, checking_log = release(t, rule, config["disclosure"].get("series_bin_months", SERIES_BINS),
                                      main=f"window_{int(config['study']['window_months'])}",
                                      shown=("overall", sens["negative_control"]["name"]))
    for name in RELEASED:
        registry.write_csv_file(published[name], output[f"released_{name}"])
    registry.write_csv_file(checking_log, output["study_checking_log"])
    n = len(checking_log)
    say(f"released {len(RELEASED)} tables for the report and figures; {n} cell{'s' if n != 1 else ''} withheld "
        f"(min_cell {rule.min_cell}), listed in {output['study_checking_log']}", log)
