"""Arrests and their offences, under a scenario (:mod:`.scenarios`).

Everyone's arrests come from the person process (:mod:`.process`), and the scenario acts on
it: a rate ratio from the order on (``effect``), a calendar shock, custody spells during
which a person cannot be arrested (``incapacitation``), or an order timed at the person's
peak (``rtm``, in the process itself).  Under ``published`` the analysed subjects'
in-window arrests are the calibrated design instead (:data:`~.design.DESIGN`), spread over
subjects and months by the same person process, with each subject's own after/before
propensity so that some subjects offend more after the order; everyone else offends at the
design's after/before ratio once their order is made.  Each arrest then gets 0-2 less
harmful secondary offences and the systems (PNC, PND, ROCU) that recorded it.

The comparison pool's arrests come from the same function, on the pool's people with their
index dates for order starts, under the scenario as :func:`~.comparison.pool_scenario` makes it,
from the pool's own stream, with no ROCU return (``rocu=False``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import largest_remainder
from ._independent import add_months, month_index
from .design import CATEGORIES, DESIGN, DESIGN_SUBJECTS
from .process import Process, categories_and_codes, code_pools, person_process, process_arrests
from .scenarios import SCENARIOS, Scenario, in_shock

#: The extracts' earliest arrests (the systems' histories are loaded from here).
EXTRACTS_BEGIN = pd.Timestamp("2012-01-01")
#: ``published``: each analysed subject's after-order propensity is ``UNDETERRED_UP`` for a
#: share ``UNDETERRED_SHARE`` of subjects (the order does not deter them) and 1 for the rest,
#: times a lognormal individual factor with log-sd ``PROPENSITY_SD`` (docs/simulator.md).
UNDETERRED_SHARE = 0.25
UNDETERRED_UP = 6.0
PROPENSITY_SD = 0.3
#: ``published``: where a category's after-order arrests fall: on each subject in proportion to
#: their own before-order arrests of the category plus ``SPREAD`` x the category's before-order
#: total shared out by rate x affinity (so subjects with none before can offend after), times
#: their propensity.
SPREAD = 0.3
#: ``published``: the share of other people's post-order modern-slavery arrests that are
#: breaches of their order.
BREACH_SHARE = 0.5
#: ``incapacitation``: kinds of spell and their shares; a custody spell starts up to
#: ``SPELL_DELAY_DAYS`` after the order and lasts ``CUSTODY_DAYS`` (uniform); a deportation
#: lasts to the end of the data period.
SPELL_KINDS = {"custody": 0.75, "deported": 0.25}
SPELL_DELAY_DAYS = (0, 90)
CUSTODY_DAYS = (91, 548)
#: How many days PND's event date is after the arrest date (negative: before it): these
#: lags with these probabilities, else (``PND_LONG_LAG``) a longer lag of 3-28 days either way.
PND_LAGS = {0: 0.70, 1: 0.14, -1: 0.06, 2: 0.03, -2: 0.02}
PND_LONG_LAG = {"share": 0.05, "days": (3, 28), "later": 0.75}


def arrests_and_offences(rng, episodes: pd.DataFrame, catalogue: pd.DataFrame, study: dict,
                         plan: Scenario = SCENARIOS["published"], rocu: bool = True,
                         first_arrest_id: int = 0, mix=None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every arrest (one row each, with its month, window and recording systems), every
    offence (one row per arrest and offence, the principal first) and every custody spell.
    ``episodes["start_date"]`` is the date the person's clock runs from (an order's start, or a
    comparison person's index date).  ``rocu=False``: no ROCU return holds these people's arrests
    (the comparison pool); ``first_arrest_id``: the first arrest's id (the pool's follow the
    order people's, so PNC arrest summons numbers stay unique); ``mix``: another order type's
    target offending and breach code (:class:`~.multi.OffenceMix`; None for STRO).  Codes flagged
    ``breach_only`` in ``catalogue`` (another type's breach codes) are never drawn but as a breach."""
    window = int(study["window_months"])
    drawn = catalogue.loc[~catalogue["breach_only"]] if "breach_only" in catalogue.columns else catalogue
    proc = person_process(rng, len(episodes), window, plan.peak_selection)
    start = episodes["start_date"].reset_index(drop=True)
    spells = custody_spells(rng, episodes, study, plan)
    arrests = _process_part(rng, episodes, proc, drawn, study, plan, spells, mix)
    if plan.design:
        analysed = np.flatnonzero((episodes["role"] == "analysed").to_numpy())
        designed = _designed_arrests(rng, analysed, proc, catalogue, window, start)
        arrests = pd.concat([arrests, designed], ignore_index=True)
    arrests["designed"] = arrests["designed"].astype(bool)
    arrests = arrests.merge(catalogue[["cjs_code", "cchi_score", "category"]], on="cjs_code", how="left")
    arrests = arrests.sort_values(["subject_row", "date", "designed", "cjs_code"], kind="stable").reset_index(drop=True)
    arrests["subject_row"] = episodes.index.to_numpy()[arrests["subject_row"]]
    arrests["arrest_id"] = first_arrest_id + np.arange(len(arrests))
    arrests["month"] = month_index(arrests["date"], pd.Series(episodes["start_date"].to_numpy()[arrests["subject_row"]]))
    arrests["window"] = np.select([arrests["month"].between(-window, -1), arrests["month"].between(0, window - 1)],
                                  ["before", "after"], "outside")
    offences = _secondary_offences(rng, arrests, drawn)
    spells["subject_row"] = episodes.index.to_numpy()[spells["subject_row"]]
    return _recording_systems(rng, episodes, arrests, pd.Timestamp(study["extraction_date"]), rocu), offences, spells


def _process_part(rng, episodes: pd.DataFrame, proc: Process, catalogue: pd.DataFrame, study: dict, plan: Scenario,
                  spells: pd.DataFrame, mix=None) -> pd.DataFrame:
    """The person process's arrests, inside the data period, as the scenario leaves them.  With
    ``mix`` (another order type), the affinity slot that is modern slavery for STRO holders
    draws the type's target offending, and where ``mix.breaches`` half the post-order ones
    (:data:`BREACH_SHARE`) are breaches of the order (``mix.breach``)."""
    window = int(study["window_months"])
    start = episodes["start_date"].reset_index(drop=True)
    arrests = process_arrests(rng, start, proc)
    row = arrests["subject_row"].to_numpy()
    category, code = categories_and_codes(rng, row, proc.affinity, code_pools(catalogue))
    after = arrests["month"].to_numpy() >= 0
    if mix is not None:
        target = category == "modern_slavery"
        code = np.where(target, rng.choice(mix.codes, len(row), p=mix.p), code)
        if mix.breaches and mix.breach:
            code = np.where(after & target & (rng.random(len(row)) < BREACH_SHARE), mix.breach, code)
    keep_p = np.where(after, plan.rate_ratio, 1.0) * np.where(in_shock(arrests["date"], plan), plan.shock_multiplier, 1.0)
    if plan.design:
        ratio = DESIGN.groupby("period")["count"].sum()
        keep_p = np.where(after, keep_p * ratio["after"] / ratio["before"], keep_p)
        # The design holds the analysed subjects' in-window arrests.
        analysed = (episodes["role"] == "analysed").to_numpy()[row]
        keep_p = np.where(analysed & (np.abs(arrests["month"].to_numpy() + 0.5) < window), 0.0, keep_p)
        breach = after & (category == "modern_slavery") & (rng.random(len(row)) < BREACH_SHARE)
        code = np.where(breach, "MS15016", code)
    if len(spells):
        by_row = spells.set_index("subject_row")
        lo = by_row["start"].reindex(row).to_numpy()
        hi = by_row["end"].reindex(row).to_numpy()
        held = (arrests["date"].to_numpy() >= lo) & (arrests["date"].to_numpy() <= hi)
        keep_p = np.where(held, 0.0, keep_p)
    inside = (arrests["date"] >= EXTRACTS_BEGIN) & (arrests["date"] <= pd.Timestamp(study["extraction_date"]))
    keep = (rng.random(len(row)) < keep_p) & inside.to_numpy()
    return arrests.assign(cjs_code=code, designed=False).loc[keep, ["subject_row", "date", "cjs_code", "designed"]]


def custody_spells(rng, episodes: pd.DataFrame, study: dict, plan: Scenario) -> pd.DataFrame:
    """``incapacitation``: who is in custody or deported after their order, from when to when
    (``subject_row`` is the position in ``episodes``).  Every draw is made for everyone under
    every scenario, so that scenarios of one seed share every other draw."""
    n = len(episodes)
    held = rng.random(n) < plan.custody_share
    kinds = np.asarray(list(SPELL_KINDS))
    kind = kinds[rng.choice(len(kinds), n, p=list(SPELL_KINDS.values()))]
    start = episodes["start_date"].to_numpy() + pd.to_timedelta(
        rng.integers(SPELL_DELAY_DAYS[0], SPELL_DELAY_DAYS[1] + 1, n), unit="D").to_numpy()
    custody_end = start + pd.to_timedelta(rng.integers(CUSTODY_DAYS[0], CUSTODY_DAYS[1] + 1, n), unit="D").to_numpy()
    end = np.where(kind == "deported", np.datetime64(pd.Timestamp(study["extraction_date"])), custody_end)
    return pd.DataFrame({"subject_row": np.flatnonzero(held), "start": pd.to_datetime(start[held]),
                         "end": pd.to_datetime(end[held]), "kind": kind[held]})


def _recording_systems(rng, episodes: pd.DataFrame, arrests: pd.DataFrame, extraction: pd.Timestamp,
                       rocu: bool = True) -> pd.DataFrame:
    """Which systems recorded each arrest: PNC 90%, PND 80%, ROCU every in-window arrest of
    an order it returned (none with ``rocu=False``); an arrest no system holds goes to PNC.  PNC and ROCU hold the arrest
    date; PND's event date lags it by ``pnd_lag`` days (:data:`PND_LAGS`), and a PND record
    dated after the extraction date was not yet there to extract."""
    na = len(arrests)
    in_pnc = rng.random(na) < 0.9
    in_pnd = rng.random(na) < 0.8
    lag = pnd_lags(rng, na)
    in_pnd &= (arrests["date"] + pd.to_timedelta(lag, unit="D") <= extraction).to_numpy()
    needs_rocu = episodes["eligible"].to_numpy() & (episodes["role"] != "no_rocu_return").to_numpy() & rocu
    arrest_sub = arrests["subject_row"].to_numpy()
    in_rocu = needs_rocu[arrest_sub] & (arrests["window"] != "outside").to_numpy()
    in_pnc |= ~in_pnc & ~in_pnd & ~in_rocu
    return arrests.assign(in_pnc=in_pnc, in_pnd=in_pnd, in_rocu=in_rocu, pnd_lag=lag,
                          subject_id=episodes["subject_id"].to_numpy()[arrest_sub])


def pnd_lags(rng, n: int) -> np.ndarray:
    """Days from the arrest date to PND's event date, from :data:`PND_LAGS` and
    :data:`PND_LONG_LAG`."""
    short = np.asarray(list(PND_LAGS))
    p = np.append(np.asarray(list(PND_LAGS.values())), PND_LONG_LAG["share"])
    pick = rng.choice(len(p), n, p=p / p.sum())
    lo, hi = PND_LONG_LAG["days"]
    long_lag = rng.integers(lo, hi + 1, n) * np.where(rng.random(n) < PND_LONG_LAG["later"], 1, -1)
    return np.where(pick < len(short), short[np.minimum(pick, len(short) - 1)], long_lag)


# --------------------------------------------------------------------------- the calibrated design


def _scaled_design(n_s: int) -> pd.DataFrame:
    """:data:`DESIGN`, its counts scaled to ``n_s`` analysed subjects."""
    design = DESIGN.copy()
    if n_s != DESIGN_SUBJECTS:
        design["count"] = design.groupby(["category", "period"])["count"].transform(
            lambda c: largest_remainder(c.to_numpy(), int(round(c.sum() * n_s / DESIGN_SUBJECTS))))
    return design


def design_ratios(n_s: int, catalogue: pd.DataFrame) -> pd.DataFrame:
    """The design's after/before ratio of arrests and of harm, per category and overall
    (``published``'s ``effects.csv``)."""
    design = _scaled_design(n_s).merge(catalogue[["cjs_code", "cchi_score"]], on="cjs_code")
    design = design.assign(harm=design["count"] * design["cchi_score"])
    by_cat = design.pivot_table(index="category", columns="period", values=["count", "harm"], aggfunc="sum")
    by_cat.loc["overall"] = by_cat.sum()
    rows = []
    for measure, column in (("events", "count"), ("harm", "harm")):
        for cat in ["overall", *CATEGORIES]:
            rows.append((measure, cat, by_cat.loc[cat, (column, "after")] / by_cat.loc[cat, (column, "before")]))
    return pd.DataFrame(rows, columns=["measure", "category", "true_rate_ratio"])


def _designed_arrests(rng, subjects: np.ndarray, proc: Process, catalogue: pd.DataFrame, window: int,
                      start: pd.Series) -> pd.DataFrame:
    """The analysed subjects' in-window arrests from the scaled :data:`DESIGN` (``subjects``:
    their positions).  Before the order, each category's arrests fall on (subject, month)
    in proportion to the subject's rate x affinity x monthly multiplier (no trend).  After it,
    the months follow the design's smooth fall, the most harmful arrests early, and each
    month's arrests of a category fall on subjects in proportion to (their own before-order
    arrests of the category + ``SPREAD`` x its before total shared by rate x affinity) x their
    propensity (:data:`UNDETERRED_SHARE`, :data:`PROPENSITY_SD`) x their monthly multiplier."""
    n_s = len(subjects)
    design = _scaled_design(n_s)
    weight = proc.rate[subjects, None] * proc.affinity[subjects]
    multiplier = proc.multiplier[subjects]
    col = {m: int(np.flatnonzero(proc.months == m)[0]) for m in range(-window, window)}
    propensity = np.exp(rng.normal(0.0, PROPENSITY_SD, n_s)) * np.where(rng.random(n_s) < UNDETERRED_SHARE,
                                                                        UNDETERRED_UP, 1.0)
    parts = []
    for c, cat in enumerate(CATEGORIES):
        rows = design.loc[(design["category"] == cat) & (design["period"] == "before")]
        codes = np.repeat(rows["cjs_code"].to_numpy(), rows["count"].to_numpy())
        p = weight[:, c, None] * multiplier[:, [col[m] for m in range(-window, 0)]]
        counts = rng.multinomial(len(codes), (p / p.sum()).ravel())
        subject, month = np.divmod(np.repeat(np.arange(counts.size), counts), window)
        parts.append(pd.DataFrame({"subject": subject, "month": month - window, "cjs_code": rng.permutation(codes)}))
    after = design.loc[design["period"] == "after"]
    after = pd.DataFrame({"cjs_code": np.repeat(after["cjs_code"].to_numpy(), after["count"].to_numpy()),
                          "category": np.repeat(after["category"].to_numpy(), after["count"].to_numpy())})
    after = after.merge(catalogue[["cjs_code", "cchi_score"]], on="cjs_code", how="left")
    after["month"] = _after_months(rng, after["cchi_score"].to_numpy(), int(design.loc[design["period"] == "before",
                                                                                         "count"].sum()), window)
    after["subject"] = -1
    for c, cat in enumerate(CATEGORIES):
        # A subject's own before-order arrests predict their after-order ones; the rate term
        # lets subjects with none before offend after.
        before = np.bincount(parts[c]["subject"], minlength=n_s)
        level = (before + SPREAD * before.sum() * weight[:, c] / weight[:, c].sum()) * propensity
        for m in range(window):
            idx = np.flatnonzero((after["category"] == cat).to_numpy() & (after["month"] == m).to_numpy())
            if not len(idx):
                continue
            p = level * multiplier[:, col[m]]
            counts = rng.multinomial(len(idx), p / p.sum())
            after.loc[idx, "subject"] = rng.permutation(np.repeat(np.arange(n_s), counts))
    parts.append(after[["subject", "month", "cjs_code"]])
    events = pd.concat(parts, ignore_index=True)
    subject_start = start.iloc[subjects[events["subject"]]].reset_index(drop=True)
    first = add_months(subject_start, events["month"].to_numpy())
    length = (add_months(subject_start, events["month"].to_numpy() + 1) - first).dt.days.to_numpy()
    day = np.floor(rng.random(len(events)) * length).astype(int)
    return pd.DataFrame({"subject_row": subjects[events["subject"]], "date": (first + pd.to_timedelta(day, unit="D"))
                         .dt.normalize(), "cjs_code": events["cjs_code"], "designed": True})


def _after_months(rng, harm: np.ndarray, n_before: int, window: int) -> np.ndarray:
    """Months of the design's after-window arrests: monthly counts drawn multinomially from a
    curve falling smoothly from the before level (no step), the most harmful arrests early so
    that harm falls faster than volume."""
    n = len(harm)
    weights = np.exp(-_decay_rate(n_before / window, n, window) * np.arange(window))
    counts = rng.multinomial(n, weights / weights.sum())
    key = -np.log(harm) + rng.normal(0, 1.6, n)
    month = np.empty(n, dtype=np.int64)
    month[np.argsort(key, kind="stable")] = np.repeat(np.arange(window), counts)
    return month


def _decay_rate(level: float, total: int, window: int) -> float:
    """k such that sum_{m<window} level * exp(-k m) = total (bisection)."""
    lo, hi = 1e-6, 5.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if level * np.exp(-mid * np.arange(window)).sum() > total:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _secondary_offences(rng, arrests: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    """Each arrest's offences: the principal plus 0-2 strictly less harmful ones."""
    n_extra = rng.choice([0, 1, 2], len(arrests), p=[0.6, 0.3, 0.1])
    row = np.repeat(np.arange(len(arrests)), n_extra)
    cand = rng.integers(0, len(catalogue), len(row))
    cand_score = catalogue["cchi_score"].to_numpy()[cand]
    ok = cand_score < arrests["cchi_score"].to_numpy()[row]
    ok &= ~catalogue["cjs_code"].str.startswith("MS1501").to_numpy()[cand]
    extra = pd.DataFrame({"arrest_id": arrests["arrest_id"].to_numpy()[row[ok]],
                          "cjs_code": catalogue["cjs_code"].to_numpy()[cand[ok]],
                          "principal": False})
    extra = extra.drop_duplicates(["arrest_id", "cjs_code"])
    main = pd.DataFrame({"arrest_id": arrests["arrest_id"], "cjs_code": arrests["cjs_code"], "principal": True})
    return pd.concat([main, extra], ignore_index=True).sort_values(["arrest_id", "principal"],
                                                                   ascending=[True, False], kind="stable")
