"""Synthetic PNC, PND and ROCU extracts with planted truth.

The default (114 orders, seed 20260625) is calibrated: its truth reproduces every figure of
the published study (``data/published_study.yaml``).  The calibration is a fixed design of
arrests for the analysed subjects (:data:`DESIGN`), spread over subjects and months by the
seed; every other person, and every other ``n_orders``, comes from a random process of the
same shape.  All steps are vectorised, so ``n_orders=50_000`` (millions of arrests) runs in
seconds.

The mess the study met is planted on purpose and every planted discrepancy is listed in the
truth (``discrepancies.csv``).  The pipeline never reads the truth directory.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .config import data_path
from .dates import add_months, month_index
from .ids import SYNTHETIC_KEY, format_pnc, pseudonymise, unresolved_subject_id
from .ingest import normalise_name

CATEGORIES = ["modern_slavery", "violence", "drugs", "other"]

#: Arrests of the analysed subjects in the default cohort (41 subjects): principal offence
#: counts by category and window.  With principal-offence scoring these give 210 -> 93 arrests
#: and every published reduction (see tests/test_simulate.py for the arithmetic).
DESIGN = pd.DataFrame(
    [
        ("modern_slavery", "before", "MS15001", 22), ("modern_slavery", "before", "MS15003", 18),
        ("modern_slavery", "before", "CJ09002", 12), ("modern_slavery", "before", "SX03119", 4),
        ("modern_slavery", "before", "SX03118", 2), ("modern_slavery", "before", "SX56123", 2),
        ("modern_slavery", "after", "MS15016", 20), ("modern_slavery", "after", "MS15001", 2),
        ("modern_slavery", "after", "SX03118", 4), ("modern_slavery", "after", "SX56123", 3),
        ("violence", "before", "OF61016", 2), ("violence", "before", "COML017", 1),
        ("violence", "before", "OF61131", 9), ("violence", "before", "PH97007", 3),
        ("violence", "before", "OF61102", 15), ("violence", "before", "OF61014", 5),
        ("violence", "before", "CJ88116", 15),
        ("violence", "after", "OF61131", 7), ("violence", "after", "OF61102", 6),
        ("violence", "after", "OF61014", 2), ("violence", "after", "CJ88116", 10),
        ("drugs", "before", "MD71230", 8), ("drugs", "before", "MD71131", 6),
        ("drugs", "before", "MD71134", 6), ("drugs", "before", "MD71344", 8),
        ("drugs", "before", "MD71241", 12), ("drugs", "before", "MD71210", 10),
        ("drugs", "before", "MD71221", 10),
        ("drugs", "after", "MD71230", 3), ("drugs", "after", "MD71134", 4),
        ("drugs", "after", "MD71344", 9), ("drugs", "after", "MD71241", 6),
        ("drugs", "after", "MD71210", 3),
        ("other", "before", "TH68038", 3), ("other", "before", "TH68023", 6),
        ("other", "before", "TH68026", 6), ("other", "before", "CJ88121", 6),
        ("other", "before", "CJ88117", 5), ("other", "before", "TH68001", 6),
        ("other", "before", "TH68005", 8),
        ("other", "after", "CJ88121", 1), ("other", "after", "CJ88117", 2),
        ("other", "after", "TH68001", 3), ("other", "after", "TH68005", 8),
    ],
    columns=["category", "period", "cjs_code", "count"],
)
DESIGN_SUBJECTS = 41

#: Orders by period (the 2022 review: 19 STROs July 2015 - March 2017, a peak of 29 in
#: 2020/21).  Start dates are drawn inside each span; with the default data period the
#: three middle spans hold the 49 orders with full two-year windows.
ORDER_SPANS = [
    ("2015-07-01", "2016-03-31", 8), ("2016-04-01", "2017-03-31", 11),
    ("2017-04-01", "2018-03-31", 12), ("2018-04-01", "2018-06-10", 10),
    ("2018-07-20", "2019-03-31", 4), ("2019-04-01", "2020-03-31", 16),
    ("2020-04-01", "2021-03-10", 29), ("2021-04-20", "2022-03-31", 17),
    ("2022-04-01", "2023-01-31", 7),
]
DEFAULT_ORDERS = sum(n for _, _, n in ORDER_SPANS)
#: Exclusions among the 49 eligible orders in the default cohort (scaled for other sizes).
EXCLUSIONS = {"identity_unresolved": 2, "no_usable_start_date": 1, "no_rocu_return": 3,
              "order_ended_in_window": 2}

REGIONS = pd.DataFrame(
    [
        ("north_east", "NERSOU", ["Northumbria Police", "Durham Constabulary", "Cleveland Police"]),
        ("north_west", "TITAN", ["Greater Manchester Police", "Lancashire Constabulary", "Merseyside Police"]),
        ("yorkshire", "Yorkshire and Humber ROCU", ["West Yorkshire Police", "South Yorkshire Police", "Humberside Police"]),
        ("east_midlands", "EMSOU", ["Nottinghamshire Police", "Leicestershire Police", "Lincolnshire Police"]),
        ("west_midlands", "West Midlands ROCU", ["West Midlands Police", "Staffordshire Police", "West Mercia Police"]),
        ("eastern", "ERSOU", ["Essex Police", "Hertfordshire Constabulary", "Norfolk Constabulary"]),
        ("south_east", "SEROCU", ["Thames Valley Police", "Hampshire Constabulary", "Kent Police"]),
        ("south_west", "SWROCU", ["Avon and Somerset Constabulary", "Devon and Cornwall Police", "Dorset Police"]),
        ("london", "Metropolitan Police", ["Metropolitan Police Service", "City of London Police", "British Transport Police"]),
        ("wales", "TARIAN", ["South Wales Police", "Gwent Police", "Dyfed-Powys Police"]),
    ],
    columns=["region", "rocu", "forces"],
)
#: How each region's workbook is laid out: header wording (index into each synonym list),
#: date style, and whether a title block sits above the header.
ROCU_STYLES = {
    "north_east": (0, "serial", False), "north_west": (1, "uk_text", True),
    "yorkshire": (2, "datetime", False), "east_midlands": (3, "iso_text", False),
    "west_midlands": (0, "datetime", True), "eastern": (1, "serial", False),
    "south_east": (2, "uk_text", False), "south_west": (3, "serial", True),
    "london": (0, "iso_text", False), "wales": (1, "uk_text", False),
}
ROCU_HEADERS = {
    "order_ref": ["Order Ref", "Order reference", "STRO ref", "Ref No"],
    "pnc_id": ["PNC ID", "PNCID", "PNC Number", "PNC No"],
    "surname": ["Surname", "Last name", "Family name", "Surname"],
    "forenames": ["Forenames", "First names", "Given names", "Forename(s)"],
    "date_of_birth": ["DOB", "Date of birth", "D.O.B.", "DOB"],
    "start_date": ["Start date", "Order start", "Date order made", "Date granted"],
    "length": ["Length", "Duration", "Order length", "Term"],
    "conditions": ["Conditions", "Prohibitions", "Order conditions", "Conditions"],
    "arrest_date": ["Arrest date", "Date of arrest", "Event date", "Offence date"],
    "offence": ["Offence", "Offence description", "Offence title", "Offence"],
    "cjs_code": ["CJS code", "Offence code", "CJS", "CJS code"],
}

FORENAMES = [
    "James", "Daniel", "Liam", "Connor", "Kyle", "Jordan", "Marcus", "Tyrone", "Andre", "Kwame",
    "Chidi", "Oluwaseun", "Emeka", "Abdi", "Mohammed", "Imran", "Bilal", "Tariq", "Hamza", "Arjun",
    "Ionuț", "Ștefan", "Florin", "Mihai", "Gheorghe", "Łukasz", "Paweł", "Tomasz", "Krzysztof",
    "Dritan", "Arben", "Besnik", "Gëzim", "Tuấn", "Minh", "Duc", "Lajos", "Zoltán", "Mantas",
    "Darius", "Sean", "Patrick", "Declan", "Ewa", "Ioana", "Elena", "Zoë", "Chloé", "Amira",
    "Fatima", "Grace", "Blessing", "Sophie", "Leanne", "Nicole", "Jade", "Karolina", "Agnieszka",
    "Thi Lan", "Renée",
]
SURNAMES = [
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Roberts",
    "Johnson", "Walker", "O'Brien", "McCarthy", "Murphy", "Doherty", "Okafor", "Adeyemi", "Mensah",
    "Boateng", "Nwosu", "Hussain", "Khan", "Ahmed", "Iqbal", "Patel", "Begum", "Ali", "Mahmood",
    "Popescu", "Ionescu", "Dumitru", "Stan", "Munteanu", "Constantin", "Kowalski", "Nowak",
    "Wiśniewski", "Wójcik", "Zieliński", "Hoxha", "Krasniqi", "Berisha", "Gashi", "Nguyễn", "Trần",
    "Lê", "Phạm", "Horváth", "Kovács", "Szabó", "Kazlauskas", "Jankauskas", "Petrauskas",
    "Campbell-Reid", "Lloyd-Evans", "Ferreira", "Santos", "Mohamud", "Warsame", "Hassan",
]
#: Spelling variants met between systems (and accents lost).
NAME_VARIANTS = {
    "Mohammed": "Muhammad", "Oluwaseun": "Oluwaseyi", "Tariq": "Tarik", "Sean": "Shaun",
    "Łukasz": "Lukas", "Krzysztof": "Krzystof", "Gheorghe": "Gheorge", "Tuấn": "Tuan",
    "Kowalski": "Kowalsky", "Hussain": "Hussein", "Mahmood": "Mahmud", "Ahmed": "Ahmad",
    "Mohamud": "Mohamoud", "Iqbal": "Ikbal", "Daniel": "Danial", "Darius": "Dariusz",
}
CONDITIONS = [
    "not to enter a defined exclusion zone", "no contact with any person under 18 (limited exceptions)",
    "no contact with named individuals", "not to supply mobile devices to any person under 18",
    "own no more than one mobile phone, registered with police", "notify police of any change of address",
    "not to arrange or pay for the travel of any person", "not to rent or sub-let property to non-family",
    "not to accept cash payments from tenants", "surrender passport", "no foreign travel without notice",
    "not to post content glorifying drug dealing on social media", "allow police to inspect devices on request",
    "not to act as a gangmaster or labour provider", "not to arrange work for any other person",
]
APPLICANTS = ["police", "NCA", "GLAA", "Immigration Enforcement"]
FORCE_SYSTEMS = ["Niche RMS", "Athena", "Connect", "Storm", "Genesis"]


@dataclass
class Extracts:
    """The raw extracts as frames, and the planted truth."""

    orders: pd.DataFrame
    pnc_arrests: pd.DataFrame
    pnd_records: pd.DataFrame
    rocu: dict[str, dict[str, pd.DataFrame]]
    rocu_styles: dict[str, tuple]
    truth: dict[str, pd.DataFrame] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def offence_catalogue() -> pd.DataFrame:
    """The offences the synthetic extracts carry: the curated CCHI table plus category."""
    table = pd.read_csv(data_path("cchi_weights.csv"), dtype=str)
    table["cchi_score"] = table["cchi_score"].astype(float)
    ms = table["cjs_code"].str.startswith("MS15") | table["cjs_code"].isin(
        ["CJ09002", "SX03119", "SX03118", "SX56123"]
    )
    table["category"] = np.select(
        [ms, table["ho_group"].eq("VIOLENCE AGAINST THE PERSON"), table["ho_group"].eq("DRUG OFFENCES")],
        ["modern_slavery", "violence", "drugs"],
        "other",
    )
    # How force systems word each offence: the first entry of the wording list the pipeline
    # also reads (data/offence_wording.csv).
    wording = pd.read_csv(data_path("offence_wording.csv"), dtype=str).drop_duplicates("cjs_code")
    table["short_wording"] = table["cjs_code"].map(wording.set_index("cjs_code")["wording"])
    return table


def _largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    raw = np.asarray(weights, dtype=float)
    raw = raw / raw.sum() * total
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return base


def _random_dates(rng, lo: pd.Series, hi: pd.Series) -> pd.Series:
    span = (hi - lo).dt.days.clip(lower=0).to_numpy()
    offset = np.floor(rng.random(len(span)) * (span + 1)).astype(int)
    return (lo + pd.to_timedelta(offset, unit="D")).dt.normalize()


def _ascii(s: pd.Series) -> pd.Series:
    return s.str.normalize("NFKD").str.encode("ascii", errors="ignore").str.decode("ascii")


def _fmt_uk(d: pd.Series) -> pd.Series:
    return d.dt.strftime("%d/%m/%Y")


# --------------------------------------------------------------------------- people and orders


def _people(rng, n: int) -> pd.DataFrame:
    # Unique (forename, surname) pairs while the name space lasts; DOBs keep people apart beyond.
    pairs = len(FORENAMES) * len(SURNAMES)
    pick = rng.permutation(pairs)[: min(n, pairs)]
    if n > pairs:
        pick = np.concatenate([pick, rng.integers(0, pairs, n - pairs)])
    dob = pd.Timestamp("1960-01-01") + pd.to_timedelta(rng.integers(0, 365 * 42, n), unit="D")
    year = rng.integers(1998, 2020, n)
    serial = rng.choice(9_999_998, n, replace=False) + 1  # unique, so PNC IDs are unique
    return pd.DataFrame(
        {
            "forenames": np.asarray(FORENAMES)[pick % len(FORENAMES)],
            "surname": np.asarray(SURNAMES)[pick // len(FORENAMES)],
            "date_of_birth": dob,
            "pnc_id": format_pnc(year, serial).to_numpy(),
        }
    )


def _episodes(rng, n: int, study: dict) -> pd.DataFrame:
    counts = _largest_remainder(np.array([c for *_, c in ORDER_SPANS]), n)
    lo = np.repeat([pd.Timestamp(a) for a, _, _ in ORDER_SPANS], counts)
    hi = np.repeat([pd.Timestamp(b) for _, b, _ in ORDER_SPANS], counts)
    start = _random_dates(rng, pd.Series(lo), pd.Series(hi))
    start = start.iloc[rng.permutation(n)].reset_index(drop=True)
    region_idx = rng.integers(0, len(REGIONS), n)
    force_idx = rng.integers(0, 3, n)
    forces = np.asarray([f for fs in REGIONS["forces"] for f in fs])[region_idx * 3 + force_idx]
    months = rng.choice([24, 36, 48, 60], n, p=[0.35, 0.35, 0.1, 0.2])
    window = study["window_months"]
    eligible = (add_months(start, -window) >= pd.Timestamp(study["earliest_reliable_date"])) & (
        add_months(start, window) <= pd.Timestamp(study["extraction_date"])
    )
    n_cond = rng.integers(2, 6, n)
    picked = np.asarray(CONDITIONS, dtype=object)[rng.random((n, len(CONDITIONS))).argsort(axis=1)[:, :5]]
    conditions = picked[:, 0]
    for j in range(1, 5):
        conditions = np.where(j < n_cond, conditions + "; " + picked[:, j], conditions)
    # Draw order matters: the calibrated default depends on this exact sequence of draws.
    applicant = rng.choice(APPLICANTS, n, p=[0.8, 0.08, 0.06, 0.06])
    county_lines = rng.random(n) < 0.3  # the share of orders against county-lines exploitation
    conditions = np.where(county_lines, "not to enter the county lines exclusion area; " + conditions, conditions)
    return pd.DataFrame(
        {
            "start_date": start,
            "length_months": months,
            "region": REGIONS["region"].to_numpy()[region_idx],
            "force": forces,
            "applicant": applicant,
            "county_lines": county_lines,
            "has_interim": rng.random(n) < 0.25,
            "interim_gap_days": rng.integers(30, 150, n),
            "conditions": conditions,
            "eligible": eligible.to_numpy(),
        }
    )


def _assign_roles(rng, episodes: pd.DataFrame) -> pd.DataFrame:
    """Pick the excluded among the eligible (with a reason) and the analysed."""
    eligible = np.flatnonzero(episodes["eligible"].to_numpy())
    n_el = len(eligible)
    scale = n_el / 49
    n_excl = {k: int(round(v * scale)) for k, v in EXCLUSIONS.items()}
    chosen = rng.permutation(eligible)
    role = np.full(len(episodes), "not_eligible", dtype=object)
    role[eligible] = "analysed"
    pos = 0
    for reason, k in n_excl.items():
        role[chosen[pos: pos + k]] = reason
        pos += k
    return episodes.assign(role=role)


# --------------------------------------------------------------------------- arrests


def _designed_arrests(rng, subjects: pd.DataFrame, catalogue: pd.DataFrame, window: int) -> pd.DataFrame:
    """Arrests of the analysed subjects from :data:`DESIGN` (scaled to their number)."""
    n_s = len(subjects)
    scale = n_s / DESIGN_SUBJECTS
    design = DESIGN.copy()
    design["count"] = (
        design.groupby(["category", "period"])["count"].transform(
            lambda c: _largest_remainder(c.to_numpy(), int(round(c.sum() * scale)))
        )
        if scale != 1 else design["count"]
    )
    events = design.loc[design.index.repeat(design["count"])].drop(columns="count").reset_index(drop=True)
    events = events.merge(catalogue[["cjs_code", "cchi_score"]], on="cjs_code", how="left")

    # Subjects: activity x category affinity; after-window arrests fall on subjects' own
    # before-window "slots" (so most people decrease), plus a few who increase.
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
    events["subject"] = subject

    # Months: flat before the order; after it, counts fall smoothly from the before level
    # (no step) and the most harmful arrests come early, so harm falls faster than volume.
    events["month"] = 0
    for period in ("before", "after"):
        idx = np.flatnonzero(events["period"] == period)
        n = len(idx)
        # Monthly counts are drawn multinomially, so they carry Poisson-like noise as real
        # counts do: flat before the order; after it, falling smoothly from the before level
        # (no step), with the most harmful arrests early so harm falls faster than volume.
        if period == "before":
            weights = np.ones(window)
            key = rng.random(n)
        else:
            level = (events["period"] == "before").sum() / window
            weights = np.exp(-_decay_rate(level, n, window) * np.arange(window))
            key = -np.log(events["cchi_score"].to_numpy()[idx]) + rng.normal(0, 1.6, n)
        counts = rng.multinomial(n, weights / weights.sum())
        offset_month = -window if period == "before" else 0
        slots = np.repeat(np.arange(window) + offset_month, counts)
        events.loc[idx[np.argsort(key, kind="stable")], "month"] = slots
    start = subjects["start_date"].to_numpy()[events["subject"]]
    events["date"] = _day_in_month(rng, events, pd.Series(start))
    events["subject_row"] = subjects.index.to_numpy()[events["subject"]]
    return events.drop(columns=["subject"])


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
    date = _random_dates(rng, lo.iloc[row].reset_index(drop=True), hi.iloc[row].reset_index(drop=True))
    s = start.iloc[row].reset_index(drop=True)
    m = month_index(date, s)
    # Analysed subjects' windows hold only the designed arrests; keep others a week clear.
    inside = protect[row] & (date >= add_months(s, -window) - pd.Timedelta(days=7)) & (
        date < add_months(s, window) + pd.Timedelta(days=7))
    after = (m >= 0).to_numpy()
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
    out = pd.DataFrame({"subject_row": episodes.index.to_numpy()[row], "date": date, "cjs_code": code,
                        "month": m})
    out = out.loc[keep].merge(catalogue[["cjs_code", "cchi_score", "category"]], on="cjs_code", how="left")
    return out


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


# --------------------------------------------------------------------------- the whole set


def simulate(seed: int = 20260625, n_orders: int = DEFAULT_ORDERS, study: dict | None = None) -> Extracts:
    """Simulate the national order list, PNC, PND and ROCU extracts and their truth."""
    from .config import defaults

    study = {**defaults()["study"], **(study or {})}
    window = int(study["window_months"])
    rng = np.random.default_rng(seed)
    catalogue = offence_catalogue()

    people = _people(rng, n_orders)
    episodes = _assign_roles(rng, _episodes(rng, n_orders, study))
    episodes = pd.concat([people, episodes], axis=1)
    episodes["order_seq"] = np.arange(n_orders)
    year = episodes["start_date"].dt.year.astype(str)
    force_code = episodes["force"].str.replace(r"[^A-Z]", "", regex=True).str[:3]
    episodes["order_ref"] = "STRO/" + force_code + "/" + year + "/" + pd.Series(
        np.arange(1, n_orders + 1)).astype(str).str.zfill(5)
    episodes["subject_id"] = pseudonymise(episodes["pnc_id"], SYNTHETIC_KEY)

    # People the pipeline cannot identify get the id it gives them (keyed on the first order).
    first_ref = episodes["order_ref"].where(~episodes["has_interim"],
                                            episodes["order_ref"].str.replace("STRO/", "ISTRO/", regex=False))
    unresolved = episodes["role"] == "identity_unresolved"
    episodes.loc[unresolved, "subject_id"] = unresolved_subject_id(first_ref[unresolved], SYNTHETIC_KEY).to_numpy()

    analysed = episodes.index[episodes["role"] == "analysed"]
    designed = _designed_arrests(rng, episodes.loc[analysed].reset_index(drop=True).set_index(analysed),
                                 catalogue, window)
    designed["designed"] = True
    protect = (episodes["role"] == "analysed").to_numpy()
    random_part = _random_arrests(rng, episodes, catalogue, study, window, protect)
    random_part["designed"] = False
    arrests = pd.concat([designed[["subject_row", "date", "cjs_code", "designed"]],
                         random_part[["subject_row", "date", "cjs_code", "designed"]]], ignore_index=True)
    arrests = arrests.merge(catalogue[["cjs_code", "cchi_score", "category"]], on="cjs_code", how="left")
    arrests = _space_out(arrests)
    arrests["arrest_id"] = np.arange(len(arrests))
    start = episodes["start_date"].to_numpy()[arrests["subject_row"]]
    arrests["month"] = month_index(arrests["date"], pd.Series(start))
    arrests["window"] = np.select([arrests["month"].between(-window, -1), arrests["month"].between(0, window - 1)],
                                  ["before", "after"], "outside")
    offences = _secondary_offences(rng, arrests, catalogue)

    return _make_extracts(rng, episodes, arrests, offences, catalogue, study)


def _make_extracts(rng, episodes, arrests, offences, catalogue, study) -> Extracts:
    window = int(study["window_months"])
    n = len(episodes)
    disc: list[pd.DataFrame] = []

    def note(frame: pd.DataFrame, field_: str, pair: str, detail, kind: str) -> None:
        disc.append(pd.DataFrame({"subject_id": frame["subject_id"].to_numpy(), "field": field_,
                                  "source_pair": pair, "detail": detail, "kind": kind}))

    role = episodes["role"]
    # ---- which systems recorded each arrest
    na = len(arrests)
    in_pnc = rng.random(na) < 0.9
    in_pnd = rng.random(na) < 0.8
    needs_rocu = episodes["eligible"].to_numpy() & (role != "no_rocu_return").to_numpy()
    arrest_sub = arrests["subject_row"].to_numpy()
    in_rocu = needs_rocu[arrest_sub] & (arrests["window"] != "outside").to_numpy()
    orphan = ~in_pnc & ~in_pnd & ~in_rocu
    in_pnc |= orphan
    arrests = arrests.assign(in_pnc=in_pnc, in_pnd=in_pnd, in_rocu=in_rocu,
                             subject_id=episodes["subject_id"].to_numpy()[arrest_sub])

    # ---- identity problems planted on the order list
    order_pnc = episodes["pnc_id"].copy()
    bad_letter = role.eq("identity_unresolved")
    unresolved = episodes.index[bad_letter]
    twin_rows = unresolved[: (len(unresolved) + 1) // 2]       # ambiguous: a twin in PND
    blank_rows = unresolved[(len(unresolved) + 1) // 2:]       # no PNC ID and nothing to match
    resolvable = rng.choice(episodes.index[role.eq("analysed")], min(2, int(role.eq("analysed").sum())),
                            replace=False)
    for rows in (twin_rows, resolvable):
        wrong = order_pnc[rows].str[:-1] + order_pnc[rows].str[-1].map(
            lambda c: "ZABCDEFGHJKLMNPQRTUVWXY"[("ZABCDEFGHJKLMNPQRTUVWXY".index(c) + 5) % 23])
        order_pnc[rows] = wrong
    order_pnc[blank_rows] = ""
    note(episodes.loc[resolvable], "pnc_id", "orders~pnd", "check letter wrong; linked on name and DOB",
         "pnc_check_letter")
    note(episodes.loc[twin_rows], "pnc_id", "orders~pnd", "check letter wrong; two PNC records match name and DOB",
         "identity_ambiguous")
    note(episodes.loc[blank_rows], "pnc_id", "orders~rocu", "no PNC ID and no matching person",
         "identity_unmatched")
    short = rng.random(n) < 0.3
    yy = order_pnc.str.slice(2, 4)
    serial = order_pnc.str.slice(5, 12).str.lstrip("0")
    order_pnc = order_pnc.where(~short | (order_pnc == ""), yy + "/" + serial + order_pnc.str[-1])

    # ---- the order list: interim + full rows, inconsistent duration text, statuses
    start = episodes["start_date"]
    full_date = start.where(~episodes["has_interim"], start + pd.to_timedelta(episodes["interim_gap_days"], unit="D"))
    duration_text = _duration_text(rng, episodes["length_months"].to_numpy())
    status = np.where(add_months(start, episodes["length_months"]) < pd.Timestamp(study["extraction_date"]),
                      "Expired", "Active")
    status_date = pd.Series(pd.NaT, index=episodes.index, dtype="datetime64[ns]")
    ended = episodes.index[role.eq("order_ended_in_window")]
    ended_how = np.resize(["Discharged", "Quashed on appeal"], len(ended))
    status = pd.Series(status, index=episodes.index)
    status[ended] = ended_how
    # Counted from the full order (a discharge cannot precede it), and inside the after window.
    status_date[ended] = (add_months(full_date[ended], rng.integers(3, 18, len(ended)))).to_numpy()
    note(episodes.loc[ended], "status", "orders~rocu", "order ended inside the after window", "order_ended")

    # Start-date and length disagreements between the order list and ROCU (ROCU is right).
    listed_start = start.copy()
    el_an = episodes.index[role.eq("analysed")]
    shifted = rng.choice(el_an, min(6, len(el_an)), replace=False)
    shift = rng.choice([-9, -5, -3, -2, -1, 1, 2, 4, 7], len(shifted))
    listed_start[shifted] = start[shifted] + pd.to_timedelta(shift, unit="D")
    note(episodes.loc[shifted], "start_date", "pnc~rocu", shift.astype(str), "order_start_date")
    listed_length = episodes["length_months"].copy()
    rest = np.setdiff1d(el_an, shifted)
    relength = rng.choice(rest, min(3, len(rest)), replace=False)
    listed_length[relength] = np.where(listed_length[relength] == 24, 36, 24)
    duration_text[episodes.index.get_indexer(relength)] = _duration_text(rng, listed_length[relength].to_numpy())
    note(episodes.loc[relength], "length_months", "pnc~rocu", "length differs", "order_length")

    undated = episodes.index[role.eq("no_usable_start_date")]
    orders = pd.DataFrame({
        "order_ref": episodes["order_ref"], "pnc_id": order_pnc,
        "surname": episodes["surname"].str.upper(), "forenames": episodes["forenames"],
        "date_of_birth": _fmt_uk(episodes["date_of_birth"]), "owning_force": episodes["force"],
        "applicant": np.where(episodes["applicant"] == "police", episodes["force"], episodes["applicant"]),
        "order_type": "STRO",
        "date_made": _fmt_uk(listed_start.where(~episodes["has_interim"], full_date)),
        "duration": duration_text, "status": status,
        "status_date": _fmt_uk(status_date).fillna(""),
    })
    orders.loc[undated, "date_made"] = start[undated].dt.strftime("%m/%Y")
    note(episodes.loc[undated], "start_date", "pnc~rocu", "order list gives month only; ROCU N/K",
         "start_date_unusable")
    interim = episodes.index[episodes["has_interim"]]
    interim_rows = orders.loc[interim].assign(
        order_ref=lambda d: d["order_ref"].str.replace("STRO/", "ISTRO/", regex=False),
        order_type="Interim STRO", date_made=_fmt_uk(listed_start[interim]), duration="Until full hearing",
        status="Superseded by full order", status_date=_fmt_uk(full_date[interim]))
    interim_rows.loc[interim_rows.index.isin(undated), "date_made"] = start[
        interim_rows.index[interim_rows.index.isin(undated)]].dt.strftime("%m/%Y")
    note(episodes.loc[interim], "order_type", "orders~orders", "interim and full order listed", "interim_and_full")
    orders = pd.concat([orders, interim_rows]).sort_values(["date_made", "order_ref"], kind="stable")
    orders = orders.iloc[rng.permutation(len(orders))].reset_index(drop=True)

    # ---- PNC arrests: one row per offence
    pnc_ar = arrests.loc[arrests["in_pnc"]]
    pnc = offences.merge(pnc_ar[["arrest_id", "subject_row", "date"]], on="arrest_id")
    pnc = pnc.merge(catalogue[["cjs_code", "ho_class", "title"]], on="cjs_code", how="left")
    pnc["pnc_id"] = episodes["pnc_id"].to_numpy()[pnc["subject_row"]]
    pnc["force"] = episodes["force"].to_numpy()[pnc["subject_row"]]
    pnc["asn"] = (pnc["date"].dt.strftime("%y") + "/" + pnc["arrest_id"].astype(str).str.zfill(7))
    pnc_out = pd.DataFrame({
        "pnc_id": pnc["pnc_id"], "asn": pnc["asn"], "arrest_date": _fmt_uk(pnc["date"]),
        "cjs_code": pnc["cjs_code"], "ho_class": pnc["ho_class"].fillna(""), "offence_title": pnc["title"],
        "force": pnc["force"],
    })
    # Mess in PNC rows, kept away from the analysed subjects' windows where it would be lost.
    analysed_rows = set(episodes.index[role.eq("analysed")])
    safe = ~pnc["subject_row"].isin(analysed_rows).to_numpy()
    safe_idx = np.flatnonzero(safe & pnc["principal"].to_numpy())
    junk = rng.choice(safe_idx, min(6, len(safe_idx)), replace=False)
    pnc_out.loc[junk[:2], "arrest_date"] = ["31/02/2019", "not known"]
    pnc_out.loc[junk[2:4], "pnc_id"] = pnc_out.loc[junk[2:4], "pnc_id"].str[:-1] + "Z"
    pnc_out.loc[junk[4:6], ["cjs_code", "ho_class", "offence_title"]] = [
        ["RT88007", "803/01", "Drive motor vehicle with excess alcohol"]] * len(junk[4:6])
    dup = rng.choice(len(pnc_out), max(1, len(pnc_out) // 100), replace=False)
    pnc_out = pd.concat([pnc_out, pnc_out.iloc[dup]]).iloc[rng.permutation(len(pnc_out) + len(dup))]
    pnc_out = pnc_out.reset_index(drop=True)
    junk_truth = pd.DataFrame({"kind": ["garbage_date", "garbage_date", "pnc_check_letter", "pnc_check_letter",
                                        "unknown_code", "unknown_code"][: len(junk)],
                               "arrest_id": pnc["arrest_id"].to_numpy()[junk]})

    # ---- PND: one row per arrest, person fields, date-times, wording
    pnd_ar = arrests.loc[arrests["in_pnd"]].reset_index(drop=True)
    sr = pnd_ar["subject_row"].to_numpy()
    late = (rng.random(len(pnd_ar)) < 0.15) & pnd_ar["in_pnc"].to_numpy()
    pnd_date = pnd_ar["date"] + pd.to_timedelta(late.astype(int), unit="D")
    secs = np.where(late, rng.integers(0, 7200, len(pnd_ar)), rng.integers(8 * 3600, 23 * 3600, len(pnd_ar)))
    event_dt = (pnd_date + pd.to_timedelta(secs, unit="s")).dt.strftime("%Y-%m-%dT%H:%M:%S")
    note(pnd_ar.loc[late], "arrest_date", "pnc~pnd", pnd_ar.loc[late, "date"].dt.strftime("%Y-%m-%d"),
         "arrest_date")
    forenames = episodes["forenames"].to_numpy()[sr]
    surname = episodes["surname"].to_numpy()[sr]
    fn, sn = pd.Series(forenames), pd.Series(surname)
    variant = rng.random(len(pnd_ar))
    spelled = variant < 0.2
    fn = fn.where(~spelled, fn.replace(NAME_VARIANTS))
    sn = sn.where(~spelled, sn.replace(NAME_VARIANTS))
    folded = (variant >= 0.2) & (variant < 0.45)
    fn = fn.where(~folded, _ascii(fn))
    sn = sn.where(~folded, _ascii(sn).str.replace("-", " ", regex=False))
    swapped = (variant >= 0.45) & (variant < 0.52)
    fn, sn = fn.where(~swapped, sn), sn.where(~swapped, fn)
    # A spelling variant is a discrepancy only where it survives normalisation (case and
    # accents are not disagreements).
    changed = spelled & (normalise_name(fn + " " + sn) != normalise_name(pd.Series(forenames) + " " + pd.Series(surname)))
    note(pnd_ar.loc[changed.to_numpy()], "name", "orders~pnd", "spelling variant", "name_spelling")
    note(pnd_ar.loc[swapped], "name", "orders~pnd", "forenames and surname swapped", "name_order")
    # Records typed without a PNC ID keep the nominal's spelling (linkage then rests on
    # name and DOB); misspelt names come with the ID, as when PND copies a PNC nominal.
    no_id = (rng.random(len(pnd_ar)) < 0.35) & ~spelled
    pnd_pnc = pd.Series(episodes["pnc_id"].to_numpy()[sr]).where(~no_id, "")
    titles = catalogue.set_index("cjs_code")
    code = pnd_ar["cjs_code"]
    wording = rng.random(len(pnd_ar))
    desc = np.where(wording < 0.45, titles["title"].reindex(code).to_numpy(),
                    np.where(wording < 0.85, titles["short_wording"].reindex(code).to_numpy(),
                             titles["title"].reindex(code).to_numpy() + " [" + code.to_numpy() + "]"))
    reworded = ((wording >= 0.45) & (wording < 0.85) & pnd_ar["in_pnc"].to_numpy()
                & (normalise_name(pd.Series(desc)).to_numpy() != normalise_name(titles["title"].reindex(code)).to_numpy()))
    note(pnd_ar.loc[reworded], "offence", "pnc~pnd", pnd_ar.loc[reworded, "date"].dt.strftime("%Y-%m-%d"),
         "offence_wording")
    pnd_out = pd.DataFrame({
        "pnd_ref": "PND" + pd.Series(rng.permutation(len(pnd_ar)) + 100000).astype(str),
        "surname": sn, "forenames": fn,
        "date_of_birth": pd.Series(episodes["date_of_birth"].to_numpy()[sr]).dt.strftime("%Y-%m-%d"),
        "pnc_id": pnd_pnc, "event_datetime": event_dt.to_numpy(),
        "force_system": rng.choice(FORCE_SYSTEMS, len(pnd_ar)), "offence_description": desc,
    })
    # Duplicate PNC records: the same name and DOB under a second PNC ID (a known PNC
    # problem), so a mistyped ID on the order list cannot be resolved by name and DOB.
    if len(twin_rows):
        tw = episodes.loc[twin_rows]
        pnd_out = pd.concat([pnd_out, pd.DataFrame({
            "pnd_ref": "PND9" + pd.Series(np.arange(len(tw))).astype(str).str.zfill(5),
            "surname": tw["surname"].to_numpy(), "forenames": tw["forenames"].to_numpy(),
            "date_of_birth": tw["date_of_birth"].dt.strftime("%Y-%m-%d").to_numpy(),
            "pnc_id": format_pnc(tw["pnc_id"].str[:4].astype(int), (tw["pnc_id"].str[5:12].astype(int) + 1) % 9_999_999).to_numpy(),
            "event_datetime": (tw["start_date"] - pd.Timedelta(days=400)).dt.strftime("%Y-%m-%dT14:00:00").to_numpy(),
            "force_system": "Niche RMS", "offence_description": "Common assault and battery"})], ignore_index=True)
    # The unmatched: their PND records carry no PNC ID and a mistyped DOB, so nothing links.
    blank_set = set(blank_rows)
    hide = np.isin(sr, list(blank_set))
    if hide.any():
        pnd_out.loc[np.flatnonzero(hide), "pnc_id"] = ""
        pnd_out.loc[np.flatnonzero(hide), "date_of_birth"] = "1901-01-01"
    pnd_out = pnd_out.iloc[rng.permutation(len(pnd_out))].reset_index(drop=True)
    only = arrests.loc[arrests["window"] != "outside"]
    note(only.loc[~only["in_pnc"]], "arrest", "pnc~pnd", only.loc[~only["in_pnc"], "date"].dt.strftime("%Y-%m-%d"),
         "arrest_not_in_pnc")
    note(only.loc[~only["in_pnd"]], "arrest", "pnc~pnd", only.loc[~only["in_pnd"], "date"].dt.strftime("%Y-%m-%d"),
         "arrest_not_in_pnd")

    # ---- ROCU returns: one workbook per region, for the orders the study asked about
    rocu, styles = {}, {}
    asked = episodes.loc[episodes["eligible"]]
    missing_region = None
    no_return = episodes.index[role.eq("no_rocu_return")]
    if len(no_return):
        # One region sent nothing: pick the region of the first no-return order and move the
        # other eligible orders of that region... into no-return only if they are the planted ones.
        missing_region = episodes.at[no_return[0], "region"]
        clash = asked.index[(asked["region"] == missing_region) & ~asked.index.isin(no_return)]
        others = [r for r in REGIONS["region"] if r != missing_region]
        episodes.loc[clash, "region"] = rng.choice(others, len(clash))
        asked = episodes.loc[episodes["eligible"]]
        half = no_return[: max(1, len(no_return) * 2 // 3)]
        episodes.loc[half, "region"] = missing_region
        asked = episodes.loc[episodes["eligible"]]
    note(episodes.loc[no_return], "rocu_return", "pnc~rocu", "no ROCU return for this order", "rocu_missing")
    rocu_ar = arrests.loc[arrests["in_rocu"]]
    for region, (variant_i, date_style, title_block) in ROCU_STYLES.items():
        if region == missing_region:
            continue
        mine = asked.loc[(asked["region"] == region) & ~asked.index.isin(no_return)]
        ep = mine.assign(
            start_out=mine["start_date"].astype(object),
            length_out=np.where(mine.index % 2 == 0, mine["length_months"].astype(str) + " months",
                                (mine["length_months"] // 12).astype(str) + " years"))
        ep.loc[ep.index.isin(undated), "start_out"] = "N/K"
        # ROCU copied the PNC ID from the order list where it was blank or a duplicate record.
        rocu_pnc = ep["pnc_id"].where(~ep.index.isin(blank_set), "")
        rocu_pnc = rocu_pnc.where(~ep.index.isin(twin_rows), order_pnc.reindex(ep.index))
        order_sheet = pd.DataFrame({
            "order_ref": ep["order_ref"], "pnc_id": rocu_pnc,
            "surname": ep["surname"], "forenames": ep["forenames"],
            "date_of_birth": ep["date_of_birth"].astype(object), "start_date": ep["start_out"],
            "length": ep["length_out"], "conditions": ep["conditions"]})
        off = rocu_ar.loc[rocu_ar["subject_row"].isin(mine.index)]
        off_sheet = pd.DataFrame({
            "order_ref": episodes["order_ref"].to_numpy()[off["subject_row"]],
            "pnc_id": pd.Series(episodes["pnc_id"].to_numpy()[off["subject_row"]]).where(
                ~off["subject_row"].isin(blank_set | set(twin_rows)).to_numpy(), "").to_numpy(),
            "arrest_date": off["date"].astype(object).to_numpy(),
            "offence": titles["title"].reindex(off["cjs_code"]).to_numpy(),
            "cjs_code": np.where(rng.random(len(off)) < 0.7, off["cjs_code"].to_numpy(), "")})
        off_sheet = off_sheet.sort_values(["order_ref", "arrest_date"], kind="stable").reset_index(drop=True)
        rocu[region] = {"Orders": order_sheet.reset_index(drop=True), "Offending": off_sheet}
        styles[region] = (variant_i, date_style, title_block)

    truth = _truth(episodes, arrests, offences, catalogue, window, disc, junk_truth)
    return Extracts(orders=orders, pnc_arrests=pnc_out, pnd_records=pnd_out, rocu=rocu, rocu_styles=styles,
                    truth=truth)


def _duration_text(rng, months: np.ndarray) -> np.ndarray:
    styles = rng.integers(0, 6, len(months))
    years = months // 12
    words = np.array(["zero", "one", "two", "three", "four", "five", "six"])[np.minimum(years, 6)]
    return np.select(
        [styles == 0, styles == 1, styles == 2, styles == 3, styles == 4],
        [years.astype(str) + " years", months.astype(str) + " months", years.astype(str) + " yrs",
         np.char.capitalize(words.astype(str)) + " years", months.astype(str) + " mths"],
        years.astype(str) + " Years",
    )


def _truth(episodes, arrests, offences, catalogue, window, disc, junk_truth) -> dict[str, pd.DataFrame]:
    analysed = episodes.loc[episodes["role"] == "analysed"]
    inwin = arrests.loc[arrests["subject_row"].isin(analysed.index) & (arrests["window"] != "outside")]
    grid = pd.MultiIndex.from_product([analysed["subject_id"], ["overall", *CATEGORIES]],
                                      names=["subject_id", "category"])
    long = pd.concat([inwin.assign(category="overall"), inwin])
    agg = long.pivot_table(index=["subject_id", "category"], columns="window", values="cchi_score",
                           aggfunc=["count", "sum"], fill_value=0)
    sw = pd.DataFrame(index=grid)
    for period in ("before", "after"):
        sw[f"events_{period}"] = agg.get(("count", period), pd.Series(dtype=float)).reindex(grid).fillna(0).astype(int)
        sw[f"harm_{period}"] = agg.get(("sum", period), pd.Series(dtype=float)).reindex(grid).fillna(0.0)
    sw = sw.reset_index()
    sw["category"] = pd.Categorical(sw["category"], ["overall", *CATEGORIES], ordered=True)
    sw = sw.sort_values(["subject_id", "category"]).reset_index(drop=True)
    sw["category"] = sw["category"].astype(str)

    n_all = len(episodes)
    el = episodes.loc[episodes["eligible"]]
    reasons = el["role"].loc[el["role"] != "analysed"].value_counts()
    flow = [{"step": "orders_listed", "n_in": n_all, "n_out": n_all, "reason": "", "n": 0},
            {"step": "full_windows", "n_in": n_all, "n_out": len(el), "reason": "window_outside_data_period",
             "n": n_all - len(el)}]
    n_in = len(el)
    flow += [{"step": "exclusions", "n_in": n_in, "n_out": len(analysed), "reason": r, "n": int(reasons.get(r, 0))}
             for r in EXCLUSIONS]
    flow = pd.DataFrame(flow)

    ep = episodes.assign(
        start_date=episodes["start_date"].dt.strftime("%Y-%m-%d"),
        analysed=episodes["role"].eq("analysed"),
        exclusion_reason=episodes["role"].where(~episodes["role"].isin(["analysed", "not_eligible"]), ""),
    )[["subject_id", "order_ref", "start_date", "length_months", "region", "eligible", "analysed",
       "exclusion_reason", "has_interim", "county_lines"]]
    ev = arrests.assign(event_date=arrests["date"].dt.strftime("%Y-%m-%d"))[
        ["subject_id", "event_date", "cjs_code", "category", "cchi_score", "window", "month", "in_pnc", "in_pnd",
         "in_rocu", "designed", "arrest_id"]].rename(columns={"cchi_score": "harm_score"})
    ev = ev.merge(junk_truth, on="arrest_id", how="left").rename(columns={"kind": "planted_problem"})
    ev["planted_problem"] = ev["planted_problem"].fillna("")
    ev = ev.sort_values(["subject_id", "event_date", "arrest_id"]).drop(columns="arrest_id").reset_index(drop=True)
    discrepancies = pd.concat(disc, ignore_index=True)
    discrepancies["detail"] = discrepancies["detail"].astype(str)
    # Keep what the pipeline can observe: nothing PND-level about people it cannot identify,
    # and nothing about arrests whose principal PNC row was planted as junk (quarantined).
    pnd_kinds = ["arrest_date", "arrest_not_in_pnc", "arrest_not_in_pnd", "offence_wording", "name_spelling",
                 "name_order"]
    unresolved = set(episodes.loc[episodes["role"] == "identity_unresolved", "subject_id"])
    junk = arrests.loc[arrests["arrest_id"].isin(junk_truth["arrest_id"])]
    junk_keys = set(zip(junk["subject_id"], junk["date"].dt.strftime("%Y-%m-%d")))
    hidden = discrepancies["kind"].isin(pnd_kinds) & (
        discrepancies["subject_id"].isin(unresolved)
        | pd.Series(list(zip(discrepancies["subject_id"], discrepancies["detail"]))).isin(junk_keys))
    discrepancies = discrepancies.loc[~hidden]
    discrepancies = discrepancies.sort_values(["kind", "subject_id", "detail"], kind="stable").reset_index(drop=True)
    return {"subject_windows": sw, "cohort_flow": flow, "discrepancies": discrepancies, "episodes": ep,
            "events": ev}


# --------------------------------------------------------------------------- writing


FIXED_TIME = datetime(2026, 6, 25, 0, 0, 0)


def write_extracts(extracts: Extracts, raw_dir: str | Path, truth_dir: str | Path | None = None) -> list[Path]:
    """Write the extracts (CSV and XLSX) byte-identically for the same input."""
    raw = Path(raw_dir)
    (raw / "rocu").mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("orders.csv", extracts.orders), ("pnc_arrests.csv", extracts.pnc_arrests),
                        ("pnd_records.csv", extracts.pnd_records)):
        path = raw / name
        frame.to_csv(path, index=False, lineterminator="\n")
        written.append(path)
    for region, sheets in extracts.rocu.items():
        path = raw / "rocu" / f"{region}.xlsx"
        _write_rocu_workbook(path, sheets, extracts.rocu_styles[region], region)
        written.append(path)
    if truth_dir is not None:
        truth = Path(truth_dir)
        truth.mkdir(parents=True, exist_ok=True)
        for name, frame in extracts.truth.items():
            path = truth / f"{name}.csv"
            frame.to_csv(path, index=False, lineterminator="\n", float_format="%.6f")
            written.append(path)
    return written


def _write_rocu_workbook(path: Path, sheets: dict[str, pd.DataFrame], style: tuple, region: str) -> None:
    from openpyxl import Workbook

    variant, date_style, title_block = style
    wb = Workbook()
    wb.remove(wb.active)
    for sheet_name, frame in sheets.items():
        ws = wb.create_sheet(sheet_name)
        if title_block:
            ws.append([f"STRO study data request - {region.replace('_', ' ').title()} return"])
            ws.append([])
        ws.append([ROCU_HEADERS[c][variant] for c in frame.columns])
        date_cols = {c for c in frame.columns if c in ("start_date", "date_of_birth", "arrest_date")}
        for row in frame.itertuples(index=False):
            values = []
            for col, v in zip(frame.columns, row):
                if col in date_cols and isinstance(v, (pd.Timestamp, datetime)):
                    v = _excel_date(pd.Timestamp(v), date_style)
                values.append(None if (isinstance(v, float) and np.isnan(v)) or v == "" else v)
            ws.append(values)
        if date_style == "datetime":
            for col_idx, col in enumerate(frame.columns, start=1):
                if col in date_cols:
                    for cell in ws.iter_cols(min_col=col_idx, max_col=col_idx, min_row=1):
                        for c in cell:
                            if isinstance(c.value, datetime):
                                c.number_format = "DD/MM/YYYY"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    wb.properties.creator = "strostudy simulate"
    buffer = io.BytesIO()
    wb.save(buffer)
    _zip_fixed_times(buffer.getvalue(), path)


def _excel_date(d: pd.Timestamp, style: str):
    if style == "serial":
        return int((d.normalize() - pd.Timestamp("1899-12-30")).days)
    if style == "uk_text":
        return d.strftime("%d/%m/%Y")
    if style == "iso_text":
        return d.strftime("%Y-%m-%d")
    return d.to_pydatetime()


def _zip_fixed_times(data: bytes, path: Path) -> None:
    """Rewrite an xlsx with fixed member timestamps so the bytes depend only on content."""
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 6, 25, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" at save time
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-06-25T00:00:00Z", content)
            out.writestr(fixed, content)
