"""People and their order episodes: names, dates of birth and PNC IDs; order starts, lengths,
regions, forces and conditions; which orders have full windows; who is excluded (and why)
and who is analysed; order references and subject ids.  And the comparison pool
(:func:`comparison_people`): people like them who got no order, each with an index date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._common import largest_remainder, random_dates
from ._independent import add_months, pnc_id, subject_id, unresolved_subject_id
from .design import APPLICANTS, CONDITIONS, DEFAULT_ELIGIBLE, EXCLUSIONS, FORENAMES, ORDER_SPANS, REGIONS, SURNAMES


def cohort(rng, n: int, study: dict) -> pd.DataFrame:
    """One row per order episode (person, order, role, order reference and subject id)."""
    people = _people(rng, n)
    episodes = _assign_roles(rng, _episodes(rng, n, study))
    episodes = pd.concat([people, episodes], axis=1)
    year = episodes["start_date"].dt.year.astype(str)
    force_code = episodes["force"].str.replace(r"[^A-Z]", "", regex=True).str[:3]
    episodes["order_ref"] = "STRO/" + force_code + "/" + year + "/" + pd.Series(
        np.arange(1, n + 1)).astype(str).str.zfill(5)
    episodes["subject_id"] = subject_id(episodes["pnc_id"])
    # People the pipeline cannot identify get the id it gives them (keyed on the first order).
    first_ref = episodes["order_ref"].where(~episodes["has_interim"],
                                            episodes["order_ref"].str.replace("STRO/", "ISTRO/", regex=False))
    unresolved = episodes["role"] == "identity_unresolved"
    episodes.loc[unresolved, "subject_id"] = unresolved_subject_id(first_ref[unresolved]).to_numpy()
    return episodes


def _people(rng, n: int) -> pd.DataFrame:
    """Names, dates of birth and (unique, valid) PNC IDs."""
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
            "pnc_id": pnc_id(year, serial).to_numpy(),
        }
    )


def _episodes(rng, n: int, study: dict) -> pd.DataFrame:
    """Orders: start (spread over :data:`ORDER_SPANS`), length, region and force, applicant,
    conditions, interim order, and whether both windows fall inside the data period."""
    counts = largest_remainder(np.array([c for *_, c in ORDER_SPANS]), n)
    lo = np.repeat([pd.Timestamp(a) for a, _, _ in ORDER_SPANS], counts)
    hi = np.repeat([pd.Timestamp(b) for _, b, _ in ORDER_SPANS], counts)
    start = random_dates(rng, pd.Series(lo), pd.Series(hi))
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
    scale = n_el / DEFAULT_ELIGIBLE
    n_excl = {k: int(round(v * scale)) for k, v in EXCLUSIONS.items()}
    chosen = rng.permutation(eligible)
    role = np.full(len(episodes), "not_eligible", dtype=object)
    role[eligible] = "analysed"
    pos = 0
    for reason, k in n_excl.items():
        role[chosen[pos: pos + k]] = reason
        pos += k
    return episodes.assign(role=role)


#: The comparison pool's basis (why the person is in it) and its shares (docs/simulator.md).
BASIS_SHARES = {"refused": 0.25, "withdrawn": 0.15, "arrested_no_order": 0.60}
#: The largest PNC ID serial (serials are 1 .. PNC_SERIALS, as :func:`_people` draws them).
PNC_SERIALS = 9_999_998


def comparison_people(rng, m: int, episodes: pd.DataFrame, study: dict) -> pd.DataFrame:
    """``m`` people who could have received an order and did not, one row each: names, DOB and
    PNC ID drawn as the order people's (names not an order person's while the name space lasts;
    PNC IDs unique across orders and pool, and never an order person's PND-twin ID), an index
    date drawn as order start dates are (:data:`ORDER_SPANS`), a force drawn as orders' are,
    whether both windows around the index date fall in the data period (``eligible``), the
    ``basis`` (:data:`BASIS_SHARES`) and the subject id.  Every draw is from ``rng``."""
    n_fn = len(FORENAMES)
    pairs = n_fn * len(SURNAMES)
    taken = (episodes["forenames"].map({f: i for i, f in enumerate(FORENAMES)}).to_numpy(np.int64)
             + n_fn * episodes["surname"].map({v: i for i, v in enumerate(SURNAMES)}).to_numpy(np.int64))
    free = rng.permutation(np.setdiff1d(np.arange(pairs), taken))
    pick = free[: min(m, len(free))]
    if m > len(free):
        pick = np.concatenate([pick, rng.integers(0, pairs, m - len(free))])
    dob = pd.Timestamp("1960-01-01") + pd.to_timedelta(rng.integers(0, 365 * 42, m), unit="D")
    year = rng.integers(1998, 2020, m)
    # Serials: unique, none an order person's, nor the next one (an order person's PND twin).
    own = episodes["pnc_id"].str.slice(5, 12).astype(np.int64).to_numpy()
    barred = np.union1d(own, (own + 1) % 9_999_999)
    drawn = rng.choice(PNC_SERIALS, m + len(barred), replace=False) + 1
    serial = drawn[~np.isin(drawn, barred)][:m]
    # Index dates and forces, drawn as the orders' are.
    counts = largest_remainder(np.array([c for *_, c in ORDER_SPANS]), m)
    lo = np.repeat([pd.Timestamp(a) for a, _, _ in ORDER_SPANS], counts)
    hi = np.repeat([pd.Timestamp(b) for _, b, _ in ORDER_SPANS], counts)
    index_date = random_dates(rng, pd.Series(lo, dtype="datetime64[ns]"), pd.Series(hi, dtype="datetime64[ns]"))
    index_date = index_date.iloc[rng.permutation(m)].reset_index(drop=True)
    region_idx = rng.integers(0, len(REGIONS), m)
    force_idx = rng.integers(0, 3, m)
    forces = np.asarray([f for fs in REGIONS["forces"] for f in fs])[region_idx * 3 + force_idx]
    basis = np.asarray(list(BASIS_SHARES))[rng.choice(len(BASIS_SHARES), m, p=list(BASIS_SHARES.values()))]
    window = study["window_months"]
    eligible = (add_months(index_date, -window) >= pd.Timestamp(study["earliest_reliable_date"])) & (
        add_months(index_date, window) <= pd.Timestamp(study["extraction_date"]))
    ids = pnc_id(year, serial)
    return pd.DataFrame({
        "forenames": np.asarray(FORENAMES)[pick % n_fn], "surname": np.asarray(SURNAMES)[pick // n_fn],
        "date_of_birth": dob, "pnc_id": ids.to_numpy(), "start_date": index_date,
        "region": REGIONS["region"].to_numpy()[region_idx], "force": forces, "basis": basis,
        "eligible": eligible.to_numpy(), "role": "comparison", "subject_id": subject_id(ids).to_numpy()})
