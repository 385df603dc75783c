"""Arrests and their offences.

The analysed subjects' in-window arrests follow :data:`~.design.DESIGN` exactly: spread over
subjects by activity and category affinity, and over months flat before the order and
falling smoothly after it.  Everyone else's arrests, and the analysed subjects' arrests
outside their windows, come from a random process kept clear of those windows.  Each arrest
then gets 0-2 less harmful secondary offences and the systems (PNC, PND, ROCU) that recorded it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import largest_remainder, random_dates
from ._independent import add_months, month_index
from .design import CATEGORIES, DESIGN, DESIGN_SUBJECTS


def arrests_and_offences(rng, episodes: pd.DataFrame, catalogue: pd.DataFrame,
                         study: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every arrest (one row each, with its month, window and recording systems) and every
    offence (one row per arrest and offence, the principal first)."""
    window = int(study["window_months"])
    analysed = episodes.index[episodes["role"] == "analysed"]
    designed = _designed_arrests(rng, episodes.loc[analysed], catalogue, window)
    designed["designed"] = True
    protect = (episodes["role"] == "analysed").to_numpy()
    random_part = _random_arrests(rng, episodes, catalogue, study, window, protect)
    random_part["designed"] = False
    columns = ["subject_row", "date", "cjs_code", "designed"]
    arrests = pd.concat([designed[columns], random_part[columns]], ignore_index=True)
    arrests = arrests.merge(catalogue[["cjs_code", "cchi_score", "category"]], on="cjs_code", how="left")
    arrests = _space_out(arrests)
    arrests["arrest_id"] = np.arange(len(arrests))
    start = episodes["start_date"].to_numpy()[arrests["subject_row"]]
    arrests["month"] = month_index(arrests["date"], pd.Series(start))
    arrests["window"] = np.select([arrests["month"].between(-window, -1), arrests["month"].between(0, window - 1)],
                                  ["before", "after"], "outside")
    offences = _secondary_offences(rng, arrests, catalogue)
    return _recording_systems(rng, episodes, arrests), offences


def _recording_systems(rng, episodes: pd.DataFrame, arrests: pd.DataFrame) -> pd.DataFrame:
    """Which systems recorded each arrest: PNC 90%, PND 80%, ROCU every in-window arrest of
    an order it returned; an arrest no system holds goes to PNC."""
    na = len(arrests)
    in_pnc = rng.random(na) < 0.9
    in_pnd = rng.random(na) < 0.8
    needs_rocu = episodes["eligible"].to_numpy() & (episodes["role"] != "no_rocu_return").to_numpy()
    arrest_sub = arrests["subject_row"].to_numpy()
    in_rocu = needs_rocu[arrest_sub] & (arrests["window"] != "outside").to_numpy()
    in_pnc |= ~in_pnc & ~in_pnd & ~in_rocu
    return arrests.assign(in_pnc=in_pnc, in_pnd=in_pnd, in_rocu=in_rocu,
                          subject_id=episodes["subject_id"].to_numpy()[arrest_sub])


def _designed_arrests(rng, subjects: pd.DataFrame, catalogue: pd.DataFrame, window: int) -> pd.DataFrame:
    """Arrests of the analysed subjects from :data:`DESIGN` (scaled to their number)."""
    n_s = len(subjects)
    scale = n_s / DESIGN_SUBJECTS
    design = DESIGN.copy()
    design["count"] = (
        design.groupby(["category", "period"])["count"].transform(
            lambda c: largest_remainder(c.to_numpy(), int(round(c.sum() * scale)))
        )
        if scale != 1 else design["count"]
    )
    events = design.loc[design.index.repeat(design["count"])].drop(columns="count").reset_index(drop=True)
    events = events.merge(catalogue[["cjs_code", "cchi_score"]], on="cjs_code", how="left")
    events["subject"] = _designed_subjects(rng, events, n_s)
    events["month"] = _designed_months(rng, events, window)
    start = subjects["start_date"].to_numpy()[events["subject"]]
    events["date"] = _day_in_month(rng, events, pd.Series(start))
    events["subject_row"] = subjects.index.to_numpy()[events["subject"]]
    return events.drop(columns=["subject"])


def _designed_subjects(rng, events: pd.DataFrame, n_s: int) -> np.ndarray:
    """Whose each designed arrest is: activity x category affinity; after-window arrests fall
    on subjects' own before-window "slots" (so most people decrease), plus a few who increase."""
    activity = rng.gamma(2.0, 1.0, n_s)
    affinity = rng.gamma(1.2, 1.0, (n_s, len(CATEGORIES)))
    subject = np.empty(len(events), dtype=np.int64)
    for c, cat in enumerate(CATEGORIES):
        before = np.flatnonzero((events["category"] == cat) & (events["period"] == "before"))
        after = np.flatnonzero((events["category"] == cat) & (events["period"] == "after"))
        p = activity * affinity[:, c]
        subject[before] = rng.choice(n_s, len(before), p=p / p.sum())
        n_inc = max(1, int(round(0.08 * len(after))))
        slots = rng.permutation(subject[before])[: len(after) - n_inc]
        newcomers = rng.choice(n_s, n_inc, p=p / p.sum())
        subject[after] = rng.permutation(np.concatenate([slots, newcomers]))
    return subject


def _designed_months(rng, events: pd.DataFrame, window: int) -> np.ndarray:
    """Each designed arrest's month on its subject's clock.  Monthly counts are drawn
    multinomially, so they carry Poisson-like noise as real counts do: flat before the order;
    after it, falling smoothly from the before level (no step), with the most harmful arrests
    early so harm falls faster than volume."""
    month = np.zeros(len(events), dtype=np.int64)
    for period in ("before", "after"):
        idx = np.flatnonzero(events["period"] == period)
        n = len(idx)
        if period == "before":
            weights = np.ones(window)
            key = rng.random(n)
        else:
            level = (events["period"] == "before").sum() / window
            weights = np.exp(-_decay_rate(level, n, window) * np.arange(window))
            key = -np.log(events["cchi_score"].to_numpy()[idx]) + rng.normal(0, 1.6, n)
        counts = rng.multinomial(n, weights / weights.sum())
        offset_month = -window if period == "before" else 0
        month[idx[np.argsort(key, kind="stable")]] = np.repeat(np.arange(window) + offset_month, counts)
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


def _day_in_month(rng, events: pd.DataFrame, start: pd.Series) -> pd.Series:
    """A date inside month ``month`` of each subject's clock, at least 4 days from the
    subject's other arrests that month (and 3 across a month edge), so truth is unambiguous
    under a one-day duplicate tolerance."""
    order = rng.permutation(len(events))
    key = events[["subject", "month"]].iloc[order]
    slot = key.groupby(["subject", "month"]).cumcount().to_numpy()
    slot_full = np.empty(len(events), dtype=np.int64)
    slot_full[order] = slot
    base = rng.integers(0, 2, len(events))
    offset = np.minimum(base + 4 * slot_full, 27)
    month_start = add_months(start, events["month"].to_numpy())
    return (month_start + pd.to_timedelta(offset, unit="D")).dt.normalize()


def _random_arrests(rng, episodes: pd.DataFrame, catalogue: pd.DataFrame, study: dict,
                    window: int, protect: np.ndarray) -> pd.DataFrame:
    """Arrests of everyone else, and of analysed subjects outside their windows."""
    n = len(episodes)
    start = episodes["start_date"]
    lo = add_months(start, -(window + 12)).clip(lower=pd.Timestamp("2012-01-01"))
    hi = add_months(start, window + 12).clip(upper=pd.Timestamp(study["extraction_date"]))
    rate = rng.gamma(2.0, 0.09, n)  # arrests per month
    months = ((hi - lo).dt.days / 30.44).clip(lower=0).to_numpy()
    counts = rng.poisson(rate * months)
    row = np.repeat(np.arange(n), counts)
    date = random_dates(rng, lo.iloc[row].reset_index(drop=True), hi.iloc[row].reset_index(drop=True))
    s = start.iloc[row].reset_index(drop=True)
    after = (month_index(date, s) >= 0).to_numpy()
    # Analysed subjects' windows hold only the designed arrests; keep others a week clear.
    inside = protect[row] & (date >= add_months(s, -window) - pd.Timedelta(days=7)) & (
        date < add_months(s, window) + pd.Timedelta(days=7))
    keep = ~inside.to_numpy() & (rng.random(len(row)) < np.where(after, 0.55, 1.0))
    cat_p = np.array([0.2, 0.3, 0.3, 0.2])
    cats = rng.choice(CATEGORIES, len(row), p=cat_p)
    by_cat = {c: catalogue.loc[catalogue["category"] == c] for c in CATEGORIES}
    code = np.empty(len(row), dtype=object)
    for c in CATEGORIES:
        sel = cats == c
        pool = by_cat[c]
        if c == "modern_slavery":
            pool = pool.loc[~pool["cjs_code"].isin(["MS15016", "MS15017"])]
        code[sel] = rng.choice(pool["cjs_code"].to_numpy(), sel.sum())
    # Breaches can only follow an order.
    breach = after & (cats == "modern_slavery") & (rng.random(len(row)) < 0.5)
    code[breach] = "MS15016"
    out = pd.DataFrame({"subject_row": episodes.index.to_numpy()[row], "date": date, "cjs_code": code})
    return out.loc[keep].reset_index(drop=True)


def _space_out(events: pd.DataFrame) -> pd.DataFrame:
    """Drop random arrests within 3 days of another arrest of the same person (keeps the
    designed ones), so that each true arrest is unambiguous under the duplicate tolerance."""
    ev = events.sort_values(["subject_row", "date", "designed"], ascending=[True, True, False],
                            kind="stable").reset_index(drop=True)
    # Iterate until stable: removing an arrest can only remove clashes.
    while True:
        by_person = ev.groupby("subject_row")["date"]
        gap_prev, gap_next = by_person.diff().dt.days, -by_person.diff(-1).dt.days
        clash = ((gap_prev < 3) | (gap_next < 3)).fillna(False) & ~ev["designed"]
        if not clash.any():
            return ev
        ev = ev.loc[~clash].reset_index(drop=True)


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
