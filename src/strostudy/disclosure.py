"""Statistical disclosure control (SDC) of the tables and figures the pipeline publishes.

The study publishes counts of people and of arrests, and sums of harm, per category and
window, built from police records of a small number of identifiable people.  Before such a
table leaves the secure setting, each cell is checked against the rules below, failing cells
are withheld (shown as ``[c]``, "confidential", as the Office for National Statistics marks
them), and every withheld cell is logged with its reason -- but never with its value.

Rules as implemented (:class:`Rule`; the defaults are the common UK rules of thumb):

* **Minimum cell size (threshold rule).**  A frequency cell (a count of people or arrests,
  ``count_cols``) below ``min_cell`` (default 10) is withheld; a cell of exactly ``min_cell``
  is published.  Reason ``primary:below_min_cell``.
* **Few contributors.**  A magnitude cell (e.g. a sum of harm) to which fewer than
  ``min_cell`` people contribute (``contributors``: the number of units with a non-zero
  contribution) is withheld: the threshold rule applied to the units behind the sum.  Reason
  ``primary:few_contributors``.
* **Dominance, the (n, k) rule.**  A magnitude cell whose largest ``dominance_n`` (default 1)
  contributors hold more than ``dominance_share`` (default 0.9) of its total is withheld: the
  total then says roughly what the largest contributor's value is.  Reason
  ``primary:dominance``.  Contributions are assumed non-negative (harm scores, arrest counts).
* **Zeros.**  A true zero is not treated as disclosive by default (``suppress_zeros=False``).
  The guidance below discusses zeros under group (class, attribute) disclosure: a zero is a
  risk where it shows that everyone, or no one, in an identifiable group has an attribute.  A
  zero here says that none of the analysed subjects was arrested for a category in a window:
  a fact about the whole cohort, not about one person, and the threshold rule already keeps
  the cohort's small subgroups out of the tables.  Whether that holds for a given release is
  a judgement; set ``suppress_zeros=True`` to withhold zero cells as well (ACRO's default
  configuration treats zeros as disclosive).  Missing values (statistics not computed) are
  not cells to withhold; they stay missing.
* **Secondary (complementary) suppression.**  Where cells add up to a published total (a
  *line*, :class:`Line`: the categories and their ``overall`` row, the windows and a total
  column), one withheld cell could be recovered by subtraction.  So in every line with exactly
  one withheld cell, the smallest other non-zero published cell is withheld too (zeros only if
  no non-zero cell is left; a withheld zero protects little), ties broken by position (earlier
  row, then earlier column).  This repeats over all lines until each line holds no withheld
  cell or at least two.  Reason ``secondary``.
* **Derived statistics.**  A statistic computed from a withheld cell (a percentage reduction
  from before/after totals, a rate ratio, an interval, a note saying "no arrests before") is
  withheld too: with the other input published, it would give the withheld cell back.
  Reason ``derived``.

What this is not: the secondary step is the usual "at least two withheld cells per line"
heuristic, not an optimal or audited cell-suppression (e.g. tau-ARGUS's linear-programming
methods, which also check the *interval* within which a withheld cell can be pinned down from
the published ones).  In tables with few lines it leaves every withheld cell with at least one
degree of freedom; in large linked tables an audit may still narrow a cell down.  The rules do
not address differencing between separately published tables (e.g. the same counts for two
overlapping cohorts); that needs a judgement over the whole release.

References (the practice followed; these rules are a subset of what each describes):

* Office for National Statistics / Government Statistical Service, *Disclosure control
  guidance for tables produced from administrative data* (threshold rules, zeros, secondary
  suppression, the ``[c]`` marker).
* Griffiths, E. et al. (2019), *Handbook on Statistical Disclosure Control for Outputs* (the
  "SDC Handbook", Safe Data Access Professionals working group), and the ACRO / SACRO tools
  (Automatic Checking of Research Outputs; its default configuration uses a threshold of 10,
  an (n, k) = (2, 0.9) dominance rule and a p-ratio rule).
* Hundepool, A. et al. (2012), *Statistical Disclosure Control*, Wiley (ch. 4 and 5: the
  threshold and (n, k) dominance rules, secondary suppression).

The API is plain functions on pandas DataFrames: :func:`primary` finds the cells that fail,
:func:`secondary` and :func:`suppress_derived` extend the set, :func:`apply` does all three and
returns the published table and the log, :func:`check` is the final gate, :func:`contributions`
computes the contributor counts and top shares from per-person rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from .errors import StrostudyError

#: How a withheld cell is shown to readers (ONS: "[c]", confidential).
MARKER = "[c]"
#: The published table's column listing, per row, the columns withheld (";"-separated).
SUPPRESSED = "suppressed"
#: The reasons a cell is withheld, as they appear in the reasons frame and the log.
REASONS = ("primary:below_min_cell", "primary:few_contributors", "primary:dominance", "secondary", "derived")
#: The columns of the suppression log (none holds a withheld value).
LOG_COLUMNS = ("table", "row_key", "column", "reason", "rule")

_OK = ""  # a published cell in a reasons frame
#: Keys of the config's ``disclosure`` block that say how a table is laid out before it is
#: checked (:mod:`strostudy.release`), not how a cell is checked: not part of :class:`Rule`.
PRESENTATION_KEYS = ("series_bin_months",)


class DisclosureError(StrostudyError, ValueError):
    """A disclosure rule or table specification that cannot be used."""


# --------------------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Rule:
    """The disclosure rule: ``min_cell`` (the threshold, a cell of exactly ``min_cell`` is
    published), ``dominance_share`` (k of the (n, k) rule, a fraction), ``suppress_zeros`` and
    ``dominance_n`` (n of the (n, k) rule: how many of the largest contributors are summed)."""

    min_cell: int = 10
    dominance_share: float = 0.9
    suppress_zeros: bool = False
    dominance_n: int = 1

    def __post_init__(self):
        def whole(name, value):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise DisclosureError(f"disclosure.{name} must be a whole number of at least 1 (got {value!r})")
            object.__setattr__(self, name, int(value))

        whole("min_cell", self.min_cell)
        whole("dominance_n", self.dominance_n)
        share = self.dominance_share
        if isinstance(share, bool) or not isinstance(share, int | float | np.number) or not 0 < share <= 1:
            raise DisclosureError(f"disclosure.dominance_share must be a fraction in (0, 1] (got {share!r})")
        object.__setattr__(self, "dominance_share", float(share))
        if not isinstance(self.suppress_zeros, bool | np.bool_):
            raise DisclosureError(f"disclosure.suppress_zeros must be true or false (got {self.suppress_zeros!r})")
        object.__setattr__(self, "suppress_zeros", bool(self.suppress_zeros))

    @classmethod
    def from_config(cls, d: Mapping | None) -> Rule:
        """The rule from a config's ``disclosure`` block (or a whole config holding one); missing
        keys take the defaults, unknown keys are an error (as everywhere in the config)."""
        d = dict(d or {})
        if isinstance(d.get("disclosure"), Mapping):
            d = dict(d["disclosure"])
        for key in PRESENTATION_KEYS:
            d.pop(key, None)
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise DisclosureError(f"disclosure: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
        return cls(**d)

    def describe(self, reason: str) -> str:
        """The ``rule`` entry of the log for a primary reason (the rule's settings only: nothing
        about the cell, so a zero withheld under ``suppress_zeros`` reads like any small cell)."""
        zeros = "; suppress_zeros=true" if self.suppress_zeros else ""
        if reason == "primary:dominance":
            return f"dominance_n={self.dominance_n}; dominance_share={self.dominance_share:g}"
        if reason in ("primary:below_min_cell", "primary:few_contributors"):
            return f"min_cell={self.min_cell}{zeros}"
        raise DisclosureError(f"not a primary reason: {reason!r}")


@dataclass(frozen=True)
class Line:
    """Cells that add up to a published total, so that one withheld cell among them could be
    recovered by subtraction.  ``across="rows"``: for each of ``columns`` separately, the rows
    sharing the values of ``by`` form a line (``by=()``: the whole column), e.g. the categories
    and the ``overall`` row of one measure.  ``across="columns"``: within each row, ``columns``
    together form a line, e.g. ``before``, ``after`` and ``total``.  The total itself is a
    member of the line."""

    columns: tuple[str, ...]
    by: tuple[str, ...] = ()
    across: str = "rows"

    def __post_init__(self):
        for name in ("columns", "by"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if self.across not in ("rows", "columns"):
            raise DisclosureError(f"Line.across must be 'rows' or 'columns' (got {self.across!r})")
        if not self.columns:
            raise DisclosureError("a Line needs at least one column")
        if self.across == "columns" and self.by:
            raise DisclosureError("a Line across columns lies within one row: it takes no 'by'")

    def describe(self, column: str) -> str:
        """The ``rule`` entry of the log for a cell withheld to protect this line."""
        if self.across == "columns":
            return "line=" + "+".join(self.columns)
        return f"line={column} by {'+'.join(self.by)}" if self.by else f"line={column} over all rows"


# --------------------------------------------------------------------------- helpers


def _numeric(s: pd.Series) -> np.ndarray:
    """A column as float64 with NaN for missing (nullable dtypes included)."""
    try:
        return pd.to_numeric(s, errors="raise").astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as e:
        raise DisclosureError(f"column {s.name!r} must be numeric to be checked ({e})") from e


def _require(table: pd.DataFrame, columns) -> None:
    missing = [c for c in dict.fromkeys(columns) if c not in table.columns]
    if missing:
        raise DisclosureError(f"table has no column(s) {', '.join(map(str, missing))}")


def _ordered(table: pd.DataFrame, columns) -> list[str]:
    """``columns`` without repeats, in the table's column order."""
    wanted = set(columns)
    _require(table, wanted)
    return [c for c in table.columns if c in wanted]


def _lines(lines) -> list[Line]:
    if lines is None:
        return []
    if isinstance(lines, Line):
        return [lines]
    return [ln if isinstance(ln, Line) else Line(**ln) for ln in lines]


def _protected(table, count_cols, contributors, top_share, lines, derived) -> list[str]:
    """Every column whose cells the rules govern, in table order."""
    cols = [*count_cols, *contributors, *top_share]
    for ln in lines:
        cols += ln.columns
        cols += ln.by
    for d, ins in derived.items():
        cols += [d, *ins]
    by = {b for ln in lines for b in ln.by}
    return [c for c in _ordered(table, cols) if c not in by]


def _group_ids(table: pd.DataFrame, by: tuple[str, ...]) -> np.ndarray:
    if not by:
        return np.zeros(len(table), dtype=np.int64)
    return table.groupby(list(by), sort=False, dropna=False, observed=True).ngroup().to_numpy(dtype=np.int64)


def _row_keys(table: pd.DataFrame, key_cols: Sequence[str] | None) -> np.ndarray:
    """'k1=v1; k2=v2' per row, from the key columns (or the index when there are none)."""
    if not len(table):
        return np.array([], dtype=object)
    if not key_cols:
        name = table.index.name or "row"
        return (name + "=" + pd.Series(table.index, dtype=object).astype("str").fillna("<NA>")).to_numpy(object)
    key = None
    for k in key_cols:
        part = str(k) + "=" + table[k].astype("str").fillna("<NA>").reset_index(drop=True)
        key = part if key is None else key + "; " + part
    return key.to_numpy(dtype=object)


# --------------------------------------------------------------------------- contributions


def contributions(micro: pd.DataFrame, by: Sequence[str], value_cols: Sequence[str], *, unit: str | None = None,
                  top_n: int = 1) -> pd.DataFrame:
    """Per group of ``by``: each value column's total, its number of contributors (units with a
    non-zero value, column ``<col>_contributors``) and the share of the total held by its
    ``top_n`` largest contributors (``<col>_top_share``; NaN where the total is 0).  With
    ``unit`` (e.g. ``subject_id``) a unit's rows are summed first, so a contributor is a person,
    not a row.  Groups appear in order of first appearance.  Values must be non-negative."""
    by, vals = list(by), list(value_cols)
    _require(micro, [*by, *vals, *([unit] if unit else [])])
    if top_n < 1:
        raise DisclosureError(f"top_n must be at least 1 (got {top_n})")
    d = micro[[*by, *([unit] if unit else []), *vals]].copy()
    for v in vals:
        d[v] = _numeric(d[v])
        if (d[v] < 0).any():
            raise DisclosureError(f"contributions: {v} has negative values; the dominance rule needs non-negative ones")
    if unit:
        d = d.groupby([*by, unit], sort=False, dropna=False, observed=True)[vals].sum().reset_index()
    if not by:
        d["_all"], by_ = 0, ["_all"]
    else:
        by_ = by
    g = d.groupby(by_, sort=False, dropna=False, observed=True)
    total = g[vals].sum()
    out = total.copy()
    nonzero = d[vals].gt(0)
    nonzero[by_] = d[by_]
    counts = nonzero.groupby(by_, sort=False, dropna=False, observed=True)[vals].sum()
    for v in vals:
        ranked = d[[*by_, v]].sort_values(v, ascending=False, kind="stable")
        top = ranked.loc[ranked.groupby(by_, sort=False, dropna=False, observed=True).cumcount() < top_n]
        top = top.groupby(by_, sort=False, dropna=False, observed=True)[v].sum().reindex(total.index)
        out[f"{v}_contributors"] = counts[v].astype("int64")
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{v}_top_share"] = np.where(total[v].to_numpy() > 0, top.to_numpy() / total[v].to_numpy(), np.nan)
    out = out.reset_index()
    if not by:
        out = out.drop(columns="_all")
    return out[[*by, *[c for v in vals for c in (v, f"{v}_contributors", f"{v}_top_share")]]]


# --------------------------------------------------------------------------- primary


def primary(table: pd.DataFrame, count_cols: Sequence[str] = (), *, rule: Rule = Rule(),
            contributors: Mapping[str, str] | None = None, top_share: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Which cells fail the rule, and why: a frame with the table's index and one column per
    checked column (``count_cols`` and the keys of ``contributors`` and ``top_share``, in table
    order), holding ``""`` where the cell may be published, else ``primary:below_min_cell``,
    ``primary:few_contributors`` or ``primary:dominance`` (first applicable, in that order).

    ``count_cols``: frequency cells, withheld when below ``rule.min_cell`` (zeros only with
    ``suppress_zeros``).  ``contributors``: {magnitude column: column holding its number of
    contributing units}; withheld when fewer than ``min_cell`` (a zero cell, no contributors,
    only with ``suppress_zeros``; a missing count on a non-zero cell fails).  ``top_share``:
    {magnitude column: column holding the share (0-1) of the cell held by its largest
    ``rule.dominance_n`` contributors}, as :func:`contributions` computes it; withheld when
    above ``rule.dominance_share``.  Missing cells are never flagged (nothing is published)."""
    count_cols, contributors, top_share = list(count_cols), dict(contributors or {}), dict(top_share or {})
    _require(table, [*contributors.values(), *top_share.values()])
    cols = _ordered(table, [*count_cols, *contributors, *top_share])
    out = {}
    for c in cols:
        v = _numeric(table[c])
        present, zero = ~np.isnan(v), v == 0
        exempt_zero = zero & (not rule.suppress_zeros)
        reason = np.full(len(table), _OK, dtype=object)
        if c in top_share:
            share = _numeric(table[top_share[c]])
            reason[present & ~exempt_zero & (share > rule.dominance_share)] = "primary:dominance"
        if c in contributors:
            k = _numeric(table[contributors[c]])
            reason[present & ~exempt_zero & ~(k >= rule.min_cell)] = "primary:few_contributors"
        if c in count_cols:
            reason[present & ~exempt_zero & (v < rule.min_cell)] = "primary:below_min_cell"
        out[c] = reason
    return pd.DataFrame(out, index=table.index, columns=cols, dtype=object)


# --------------------------------------------------------------------------- secondary and derived


def _pick_in_rows(gid: np.ndarray, withheld: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row positions of one complement per group that holds exactly one withheld cell: the
    smallest non-zero published cell (zeros last), the earliest row on ties."""
    if not len(gid):
        return np.array([], dtype=np.int64)
    n_withheld = np.bincount(gid, weights=withheld.astype(float), minlength=int(gid.max()) + 1)
    idx = np.flatnonzero((n_withheld == 1)[gid] & ~withheld & ~np.isnan(values))
    if not idx.size:
        return idx
    order = np.lexsort((idx, np.abs(values[idx]), values[idx] == 0, gid[idx]))  # the last key sorts first
    chosen = idx[order]
    first = np.r_[True, gid[chosen][1:] != gid[chosen][:-1]]
    return chosen[first]


def _pick_in_columns(withheld: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, column offsets) of one complement per row holding exactly one withheld cell among
    the line's columns: the smallest non-zero published cell, else a zero, the first on ties."""
    cand = (withheld.sum(axis=1) == 1)[:, None] & ~withheld & ~np.isnan(values)
    nonzero = np.where(cand & (values != 0), np.abs(values), np.inf)
    first_nonzero = np.argmin(nonzero, axis=1) if nonzero.size else np.zeros(0, dtype=np.int64)
    has_nonzero = np.isfinite(nonzero).any(axis=1)
    zeros = cand & (values == 0)
    first_zero = np.argmax(zeros, axis=1) if zeros.size else np.zeros(0, dtype=np.int64)
    rows = np.flatnonzero(has_nonzero | zeros.any(axis=1))
    return rows, np.where(has_nonzero, first_nonzero, first_zero)[rows]


def _reasons_frame(reasons: pd.DataFrame, table: pd.DataFrame, extra) -> pd.DataFrame:
    """``reasons`` widened to every column it needs (new ones all published), in table order."""
    if len(reasons) != len(table):
        raise DisclosureError("the reasons frame and the table must have the same rows")
    cols = _ordered(table, [*reasons.columns, *extra])
    return reasons.reindex(columns=cols, fill_value=_OK).astype(object).fillna(_OK)


def _extend(reasons: pd.DataFrame, table: pd.DataFrame, lines: list[Line],
            derived: dict[str, list[str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Secondary and derived suppression together, repeated until nothing changes; returns the
    reasons and, per cell, the line or inputs that caused a secondary or derived suppression."""
    extra = [c for ln in lines for c in ln.columns] + [c for d, ins in derived.items() for c in (d, *ins)]
    reasons = _reasons_frame(reasons, table, extra)
    for ln in lines:
        _require(table, ln.by)
    cols = list(reasons.columns)
    at = {c: j for j, c in enumerate(cols)}
    r = reasons.to_numpy(dtype=object, copy=True)
    why = np.full(r.shape, _OK, dtype=object)
    s = r != _OK
    values = {c: _numeric(table[c]) for ln in lines for c in ln.columns}
    groups = {ln.by: _group_ids(table, ln.by) for ln in lines if ln.across == "rows"}
    changed = True
    while changed:
        changed = False
        for ln in lines:
            if ln.across == "rows":
                for c in ln.columns:
                    j = at[c]
                    pick = _pick_in_rows(groups[ln.by], s[:, j], values[c])
                    if pick.size:
                        s[pick, j], r[pick, j], why[pick, j], changed = True, "secondary", ln.describe(c), True
            else:
                js = np.array([at[c] for c in ln.columns])
                rows, offs = _pick_in_columns(s[:, js], np.column_stack([values[c] for c in ln.columns]))
                if rows.size:
                    s[rows, js[offs]], r[rows, js[offs]], why[rows, js[offs]] = True, "secondary", ln.describe("")
                    changed = True
        for d, ins in derived.items():
            hit = s[:, [at[i] for i in ins]].any(axis=1) & ~s[:, at[d]]
            if hit.any():
                j = at[d]
                s[hit, j], r[hit, j], why[hit, j], changed = True, "derived", "derived_from=" + "+".join(ins), True
    return (pd.DataFrame(r, index=reasons.index, columns=cols, dtype=object),
            pd.DataFrame(why, index=reasons.index, columns=cols, dtype=object))


def _derived(derived) -> dict[str, list[str]]:
    out = {}
    for d, ins in dict(derived or {}).items():
        ins = [ins] if isinstance(ins, str) else list(ins)
        if not ins:
            raise DisclosureError(f"derived column {d!r} names no input column")
        out[d] = ins
    return out


def secondary(reasons: pd.DataFrame, table: pd.DataFrame, lines: Sequence[Line] | Line) -> pd.DataFrame:
    """Complementary suppression: ``reasons`` (from :func:`primary`; any non-empty entry is a
    withheld cell) with ``secondary`` added until every line (:class:`Line`) holds no withheld
    cell or at least two.  Columns of the lines missing from ``reasons`` are added."""
    return _extend(reasons, table, _lines(lines), {})[0]


def suppress_derived(reasons: pd.DataFrame, table: pd.DataFrame, derived: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """``reasons`` with ``derived`` added to each cell of a derived column ({column: its input
    columns, in the same row}) one of whose inputs is withheld (chains followed).  A derived
    cell is withheld even when missing: "not computed" can itself reveal an input (a reduction
    undefined because nothing happened before)."""
    return _extend(reasons, table, [], _derived(derived))[0]


# --------------------------------------------------------------------------- apply


def log_frame(rows: Mapping | None = None) -> pd.DataFrame:
    """The suppression log (empty, or from columns of equal length) with its dtypes: every
    column a string; no column holds a withheld value."""
    rows = dict(rows or {})
    return pd.DataFrame({c: pd.Series(rows.get(c, []), dtype="str") for c in LOG_COLUMNS})


def _nullable(s: pd.Series) -> pd.Series:
    """A column in a dtype that holds pandas NA (the withheld cells)."""
    if pd.api.types.is_bool_dtype(s.dtype) and not isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
        return s.astype("boolean")
    if isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
        return s
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.astype("Int64")
    if pd.api.types.is_float_dtype(s.dtype):
        return s.astype("Float64")
    return s.astype(object)


def _marker(withheld: np.ndarray, cols: list[str], index) -> pd.Series:
    """Per row, the withheld columns joined by ';' ('' when none)."""
    marker = pd.Series(np.full(len(index), "", dtype=object), index=index)
    for j, c in enumerate(cols):
        marker = marker + np.where(withheld[:, j], c + ";", "")
    return marker.str.rstrip(";").astype("str")


def _spec(table, count_cols, key_cols, contributors, top_share, lines, derived):
    count_cols = [count_cols] if isinstance(count_cols, str) else list(count_cols)
    contributors, top_share = dict(contributors or {}), dict(top_share or {})
    lines, derived = _lines(lines), _derived(derived)
    cols = _protected(table, count_cols, contributors, top_share, lines, derived)
    key_cols = [key_cols] if isinstance(key_cols, str) else list(key_cols or [])
    _require(table, key_cols)
    aux = [c for c in dict.fromkeys([*contributors.values(), *top_share.values()]) if c not in cols]
    leak = [k for k in key_cols if k in cols or k in aux]
    if leak:
        raise DisclosureError(f"key column(s) {', '.join(leak)} are checked or auxiliary cells: the log's "
                              "row_key would reveal them")
    return count_cols, key_cols, contributors, top_share, lines, derived, cols, aux


def apply(table: pd.DataFrame, count_cols: Sequence[str] = (), *, table_name: str, rule: Rule = Rule(),
          key_cols: Sequence[str] | None = None, contributors: Mapping[str, str] | None = None,
          top_share: Mapping[str, str] | None = None, lines: Sequence[Line] | Line = (),
          derived: Mapping[str, Sequence[str]] | None = None, upstream: pd.DataFrame | None = None,
          upstream_rule: str = "inputs=upstream") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Primary, secondary and derived suppression of one table: ``(published, log)``.

    ``upstream`` (optional): a boolean frame (the table's index; some of its columns) of cells
    already withheld where they come from, e.g. a study's released table behind the index.  They
    are withheld here too (reason ``derived``, rule ``upstream_rule``) before secondary and
    derived suppression run, so what is computed from them goes with them.

    ``published`` is the table with every withheld cell set to pandas NA (each checked column
    in a nullable dtype: Int64, Float64, boolean or object, whether or not anything is
    withheld, so the schema does not depend on the data), the auxiliary columns named in
    ``contributors`` and ``top_share`` dropped (a top share with its total would give the
    largest contribution away; checked columns are kept), and a last column ``suppressed``
    listing the row's withheld columns (';'-separated, '' when none) -- render with
    :func:`render` ("[c]").  NA in a checked column that is not listed there was missing
    already (a statistic not computed).

    ``log`` (:func:`log_frame`) has one row per withheld cell, in table order: ``table``,
    ``row_key`` (``key_cols`` as 'k=v; k=v', or the index), ``column``, ``reason`` (one of
    :data:`REASONS`) and ``rule`` (the setting, line or inputs that caused it) -- never the
    cell's value.  The arguments are those of :func:`primary`, :class:`Line` and
    :func:`suppress_derived`."""
    if not isinstance(table_name, str) or not table_name:
        raise DisclosureError("apply needs a table_name for the log")
    if SUPPRESSED in table.columns:
        raise DisclosureError(f"table already has a {SUPPRESSED!r} column")
    count_cols, key_cols, contributors, top_share, lines, derived, cols, aux = _spec(
        table, count_cols, key_cols, contributors, top_share, lines, derived)
    reasons = primary(table, count_cols, rule=rule, contributors=contributors, top_share=top_share)
    if upstream is not None:
        up = list(upstream.columns)
        cols = _ordered(table, [*cols, *up])
        reasons = _reasons_frame(reasons, table, up)
        for c in up:
            seed = upstream[c].to_numpy(dtype=bool) & (reasons[c].to_numpy(dtype=object) == _OK)
            reasons.loc[seed, c] = "derived"
    reasons, why = _extend(reasons, table, lines, derived)
    if upstream is not None:
        why = why.mask((reasons == "derived") & (why == _OK), upstream_rule)
    reasons, why = reasons.reindex(columns=cols, fill_value=_OK), why.reindex(columns=cols, fill_value=_OK)
    r = reasons.to_numpy(dtype=object)
    withheld = r != _OK
    published = table.drop(columns=aux)
    for j, c in enumerate(cols):
        published[c] = _nullable(table[c]).mask(withheld[:, j])
    published[SUPPRESSED] = _marker(withheld, cols, table.index)
    rows, js = np.nonzero(withheld)  # row-major: table row order, then column order
    reason = r[rows, js]
    rule_text = why.to_numpy(dtype=object)[rows, js]
    is_primary = np.char.startswith(reason.astype(str), "primary:")
    rule_text = np.where(is_primary, pd.Series(reason).map(
        {x: rule.describe(x) for x in REASONS if x.startswith("primary:")}).to_numpy(object), rule_text)
    log = log_frame({"table": np.full(len(rows), table_name, dtype=object), "row_key": _row_keys(table, key_cols)[rows],
                     "column": np.array(cols, dtype=object)[js] if len(rows) else [], "reason": reason,
                     "rule": rule_text})
    return published, log


def flags(published: pd.DataFrame) -> pd.DataFrame:
    """Per cell, whether it was withheld (from the ``suppressed`` column of :func:`apply`)."""
    if SUPPRESSED not in published.columns:
        raise DisclosureError(f"table has no {SUPPRESSED!r} column: it did not come from disclosure.apply")
    cols = [c for c in published.columns if c != SUPPRESSED]
    listed = ";" + published[SUPPRESSED].astype("string").fillna("").astype("str") + ";"
    return pd.DataFrame({c: listed.str.contains(f";{c};", regex=False).to_numpy(dtype=bool) for c in cols},
                        index=published.index, columns=cols)


def render(published: pd.DataFrame, marker: str = MARKER) -> pd.DataFrame:
    """The published table for a report: withheld cells shown as ``marker`` ("[c]"), other
    cells as they are (object columns), without the ``suppressed`` column."""
    f = flags(published)
    out = published.drop(columns=SUPPRESSED).astype(object)
    for c in f.columns[f.any().to_numpy()]:
        out[c] = out[c].mask(f[c], marker)
    return out


# --------------------------------------------------------------------------- the final gate


def check(published: pd.DataFrame, count_cols: Sequence[str] = (), *, rule: Rule = Rule(),
          source: pd.DataFrame | None = None, key_cols: Sequence[str] | None = None,
          contributors: Mapping[str, str] | None = None, top_share: Mapping[str, str] | None = None,
          lines: Sequence[Line] | Line = (), derived: Mapping[str, Sequence[str]] | None = None,
          ) -> list[tuple[str, str, str]]:
    """The cells that still break the rule, as sorted ``(row_key, column, problem)``; ``[]``
    when the table may be published.  Withheld cells are those listed in ``published``'s
    ``suppressed`` column (none if it has none, e.g. a raw table).  The primary rule is
    evaluated on ``source`` (the table before :func:`apply`, holding the auxiliary columns;
    same rows in the same order) or, without it, on ``published`` itself.  Problems:

    * ``primary:*``: a published cell that fails the primary rule;
    * ``value_not_removed``: a withheld cell whose value is still in the table;
    * ``secondary``: the only withheld cell of a line whose other cells are all published
      (so it equals the total minus the others);
    * ``derived``: a published derived cell with a withheld input."""
    src = published if source is None else source
    if len(src) != len(published):
        raise DisclosureError("source and published tables must have the same rows")
    count_cols, key_cols, contributors, top_share, lines, derived, cols, _ = _spec(
        src, count_cols, key_cols, contributors, top_share, lines, derived)
    _require(published, cols)
    withheld = (flags(published)[cols].to_numpy(dtype=bool) if SUPPRESSED in published.columns
                else np.zeros((len(published), len(cols)), dtype=bool))
    at = {c: j for j, c in enumerate(cols)}
    keys = _row_keys(published, key_cols)
    problems: list[tuple[int, int, str]] = []

    def note(mask: np.ndarray, j: int, what) -> None:
        for i in np.flatnonzero(mask):
            problems.append((int(i), j, what if isinstance(what, str) else what[i]))

    reasons = primary(src, count_cols, rule=rule, contributors=contributors, top_share=top_share)
    for c in reasons.columns:
        r = reasons[c].to_numpy(dtype=object)
        note((r != _OK) & ~withheld[:, at[c]], at[c], r)
    for c in cols:
        note(withheld[:, at[c]] & published[c].notna().to_numpy(dtype=bool), at[c], "value_not_removed")
    for ln in lines:
        if ln.across == "rows":
            gid = _group_ids(published, ln.by)
            for c in ln.columns:
                w = withheld[:, at[c]]
                unknown = published[c].isna().to_numpy(dtype=bool) & ~w
                ng = int(gid.max()) + 1 if len(gid) else 0
                n_w, n_u = (np.bincount(gid, weights=x.astype(float), minlength=ng) for x in (w, unknown))
                size = np.bincount(gid, minlength=ng)
                note(w & ((n_w == 1) & (n_u == 0) & (size > 1))[gid], at[c], "secondary")
        else:
            js = [at[c] for c in ln.columns]
            w = withheld[:, js]
            unknown = published[list(ln.columns)].isna().to_numpy(dtype=bool) & ~w
            risky = (w.sum(axis=1) == 1) & ~unknown.any(axis=1)
            for k, j in enumerate(js):
                note(w[:, k] & risky, j, "secondary")
    for d, ins in derived.items():
        note(~withheld[:, at[d]] & withheld[:, [at[i] for i in ins]].any(axis=1), at[d], "derived")
    return sorted({(str(keys[i]), cols[j], what) for i, j, what in problems})


# --------------------------------------------------------------------------- for readers


def markdown_note(rule: Rule = Rule()) -> str:
    """One paragraph telling report readers what was withheld and why."""
    top = "largest contributor accounts" if rule.dominance_n == 1 else f"{rule.dominance_n} largest contributors account"
    zeros = ("Zero counts are also withheld." if rule.suppress_zeros else
             "Zero counts are shown: a true zero does not by itself identify anyone in these tables.")
    return (
        f"**Disclosure control.** To protect the people in these records, figures are checked before publication "
        f"following Office for National Statistics guidance for tables from administrative data and the SDC "
        f"Handbook's rules for research outputs. A count of fewer than {rule.min_cell} is withheld; a sum of "
        f"harm is withheld when fewer than {rule.min_cell} people contribute to it or when its {top} for more "
        f"than {rule.dominance_share:.0%} of it. Where a withheld figure could be worked out from a total and "
        f"the other figures in the same row or column, a further figure there is withheld too (secondary "
        f"suppression), and statistics calculated from a withheld figure (percentage reductions, rate ratios, "
        f"intervals) are withheld with it. {zeros} Withheld figures are shown as {MARKER}."
    )
