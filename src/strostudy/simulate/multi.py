"""Several order types in one run (issue 16): ``simulate(order_types=["STRO", "SHPO", "DAPO"])``.

Only STRO is calibrated to the publication; every other type is **illustrative**
(docs/simulator.md, "Several order types").  With several types listed:

- each listed type gets ``n_orders`` orders (:func:`type_cohort`).  STRO's are the default run's
  (drawn from ``default_rng(seed)`` as they always are, with the calibrated design under
  ``published``); every other type's people, orders and arrests come from streams of their own,
  ``SeedSequence([seed, ORDER_TYPE_STREAM, i])`` with ``i`` the type's row in
  ``data/order_types.csv`` (:func:`type_streams`), so a type's records do not depend on which
  other types are listed.  People, orders, roles and exclusions are drawn as STRO's are
  (:func:`~.people.cohort`), with the type's code in the order reference
  (``SHPO/WMP/2019/00012``; interim orders ``ISHPO/...``, listed as ``Interim SHPO``), interim orders only for
  types whose Act has them (``section`` mentions one), lengths around the type's
  ``typical_length_months`` (:func:`_lengths`) and the force as applicant.  Their names, DOBs
  and PNC IDs are drawn as the comparison pool's are (:func:`~.people.comparison_people`): no
  name, serial or PND-twin serial of a person drawn before them;
- each type's holders offend by the same person process, but the affinity slot that is
  modern slavery for the STRO cohort is the type's own target offending
  (:data:`TARGET_MIXES`), and under ``published`` (where STROs get breach arrests) half the
  post-order target arrests are breaches of the order (:data:`~.arrests.BREACH_SHARE`), coded
  with the type's first breach code in ``data/order_type_codes.csv`` (:func:`breach_codes`);
- a share :data:`TWO_ORDER_SHARE` of each type's orders after the first listed (in the order of
  ``order_types.csv``) are made on a person who already holds an order of an earlier type
  (:func:`share_people`): the same name, DOB and PNC ID, on another date.  Their records hold
  the arrests of both orders' episodes (each episode draws its own offending, on its own
  clock), and ``two_orders.csv`` in the truth lists them.

The order-type tables are read as data (``config.data_path``); the pipeline's
``strostudy.order_types`` is not imported (it classifies categories, which the simulator must
not borrow: tests/test_simulate_independent.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import data_path
from ._independent import subject_id, unresolved_subject_id
from .people import cohort, comparison_people

#: The order types of a default run: STRO alone, byte-identical to the single-type simulator.
DEFAULT_TYPES = ("STRO",)
#: The random streams of the other order types: ``SeedSequence([seed, ORDER_TYPE_STREAM, i])``
#: (issue 16), ``i`` the type's row in ``data/order_types.csv``; the pairing of two-order people
#: draws from ``default_rng([seed, ORDER_TYPE_STREAM])``.
ORDER_TYPE_STREAM = 16
#: Of each listed type's orders after the first type's, the share made on a person who already
#: holds an order of an earlier-listed type (an assumption: illustrative, no published overlap
#: of ancillary orders was found; config ``synthetic_two_order_share``).
TWO_ORDER_SHARE = 0.05
#: The STRO cohort's lengths (24-60 months, typical 36) scale to each type's
#: ``typical_length_months``, rounded to whole years (the order list writes years), at least 1.
STRO_TYPICAL_MONTHS = 36
#: Each type's target offending as codes of the simulator's own offence catalogue (the curated
#: harm table, :func:`~.design.offence_catalogue`), with weights: what its holders' arrests draw
#: in the affinity slot that is modern slavery for STRO holders (27.6% of the study's pre-order
#: arrests, :data:`~.design.DESIGN`).  The catalogue holds no code of the Home Office group
#: SEXUAL OFFENCES, so SHPO and SRO lean to the Sexual Offences Acts' prostitution codes (SX);
#: CJS codes carry no domestic-abuse flag, so DAPO leans to the violence and harassment codes
#: domestic abuse is mostly recorded as.  Assumptions, illustrative.
TARGET_MIXES: dict[str, dict[str, float]] = {
    "STRO": {"MS15001": 22, "MS15003": 18, "CJ09002": 12, "SX03119": 4, "SX03118": 2, "SX56123": 2},
    "STPO": {"MS15001": 22, "MS15003": 18, "CJ09002": 12, "SX03119": 4, "SX03118": 2, "SX56123": 2},
    "SHPO": {"SX03119": 3, "SX03118": 4, "SX56123": 3},
    "SRO": {"SX03119": 2, "SX03118": 5, "SX56123": 3},
    "SCPO": {"CJ88121": 5, "ID10003": 2, "MD71230": 1, "MD71131": 1},
    "DAPO": {"CJ88116": 5, "OF61102": 3, "OF61014": 2, "PH97007": 2, "CD71039": 1, "PU86149": 1},
    "CBO": {"PU86149": 4, "CD71039": 3, "TH68005": 2, "CJ88116": 1},
    "KCPO": {"CJ88117": 6, "OF61131": 2, "OF61016": 1, "TH68023": 1},
    "SPO": {"PH97007": 5, "PU86149": 2, "OF61014": 1, "CJ88116": 1},
}
#: What the manifest and the docs say of the types.
CALIBRATION_NOTE = ("Only STRO is calibrated to the published study; every other order type is illustrative "
                    "(docs/simulator.md, 'Several order types').")


@dataclass(frozen=True)
class OffenceMix:
    """A type's target offending (codes and probabilities) and its breach code ("" for none)."""

    order_type: str
    codes: np.ndarray
    p: np.ndarray
    breach: str
    #: Whether post-order target arrests become breaches (as STROs' do under ``published``).
    breaches: bool


def type_table() -> pd.DataFrame:
    """``data/order_types.csv`` as text."""
    return pd.read_csv(data_path("order_types.csv"), dtype=str, keep_default_na=False)


def code_table() -> pd.DataFrame:
    """``data/order_type_codes.csv`` as text (an empty code stays empty)."""
    return pd.read_csv(data_path("order_type_codes.csv"), dtype=str, keep_default_na=False)


def parse_types(order_types) -> list[str]:
    """The listed types (a list, or ``"STRO,SHPO"``), upper-cased, deduplicated, in the order of
    ``order_types.csv`` (so STRO, when listed, comes first); an unknown or simulator-less type
    stops with one line."""
    from ..errors import StrostudyError

    if order_types is None:
        return list(DEFAULT_TYPES)
    if isinstance(order_types, str):
        order_types = order_types.split(",")
    asked = {str(t).strip().upper() for t in order_types if str(t).strip()}
    known = list(type_table()["order_type"])
    unknown = sorted(asked - set(known)) + sorted(asked & set(known) - set(TARGET_MIXES))
    if unknown or not asked:
        raise StrostudyError(f"unknown order type(s) {', '.join(unknown) or '(none given)'}: use some of "
                             f"{', '.join(t for t in known if t in TARGET_MIXES)}")
    return [t for t in known if t in asked]


def is_default(types: list[str]) -> bool:
    return tuple(types) == DEFAULT_TYPES


def type_streams(seed: int, order_type: str) -> dict[str, np.random.Generator]:
    """A non-STRO type's streams: its people and orders, and its arrests."""
    i = int(np.flatnonzero(type_table()["order_type"].to_numpy() == order_type)[0])
    people, arrests = np.random.SeedSequence([seed, ORDER_TYPE_STREAM, i]).spawn(2)
    return {"people": np.random.default_rng(people), "arrests": np.random.default_rng(arrests)}


def breach_codes(catalogue: pd.DataFrame) -> pd.DataFrame:
    """The breach codes of ``order_type_codes.csv`` the catalogue lacks, as catalogue rows
    (category ``other``, the CCHI days of the row as score, the title as every wording;
    ``breach_only``: no arrest draws them but as a breach)."""
    codes = code_table()
    rows = codes.loc[(codes["role"] == "breach") & (codes["cjs_code"] != "")
                     & ~codes["cjs_code"].isin(catalogue["cjs_code"])].drop_duplicates("cjs_code")
    return pd.DataFrame({"cjs_code": rows["cjs_code"].to_numpy(), "ho_class": np.nan, "title": rows["title"].to_numpy(),
                         "cchi_score": rows["cchi_days"].astype(float).to_numpy(), "athena_urn": rows["athena_urn"].to_numpy(),
                         "basis": rows["basis"].to_numpy(), "category": "other", "short_wording": rows["title"].to_numpy()})


def extended_catalogue(catalogue: pd.DataFrame) -> pd.DataFrame:
    """The catalogue plus the breach codes it lacks, flagged ``breach_only``."""
    extra = breach_codes(catalogue)
    return pd.concat([catalogue.assign(breach_only=False), extra.assign(breach_only=True)], ignore_index=True)


def offence_mix(order_type: str, catalogue: pd.DataFrame, breaches: bool) -> OffenceMix:
    """The type's :data:`TARGET_MIXES` row and its first breach code in ``order_type_codes.csv``."""
    mix = TARGET_MIXES[order_type]
    missing = sorted(set(mix) - set(catalogue["cjs_code"]))
    if missing:
        raise ValueError(f"TARGET_MIXES[{order_type}] names codes the catalogue lacks: {missing}")
    codes = code_table()
    breach = codes.loc[(codes["order_type"] == order_type) & (codes["role"] == "breach") & (codes["cjs_code"] != ""),
                       "cjs_code"]
    weight = np.asarray(list(mix.values()), dtype=float)
    return OffenceMix(order_type, np.asarray(list(mix), dtype=object), weight / weight.sum(),
                      breach.iloc[0] if len(breach) else "", breaches)


def _lengths(stro_months: np.ndarray, typical: int) -> np.ndarray:
    years = np.rint(stro_months * typical / STRO_TYPICAL_MONTHS / 12).astype(int)
    return 12 * np.maximum(years, 1)


def type_cohort(rng, order_type: str, n: int, study: dict, taken: pd.DataFrame) -> pd.DataFrame:
    """``n`` orders of ``order_type`` (not STRO), drawn as STRO's are, on people drawn as the
    comparison pool's (none a person of ``taken``, the episodes drawn before)."""
    row = type_table().set_index("order_type").loc[order_type]
    episodes = cohort(rng, n, study)
    people = comparison_people(rng, n, taken, study) if len(taken) else None
    if people is not None:
        for col in ("forenames", "surname", "date_of_birth", "pnc_id"):
            episodes[col] = people[col].to_numpy()
    episodes["order_ref"] = order_type + episodes["order_ref"].str.slice(len("STRO"))
    episodes["length_months"] = _lengths(episodes["length_months"].to_numpy(), int(row["typical_length_months"]))
    episodes["applicant"] = "police"
    if "interim" not in row["section"].lower():
        episodes["has_interim"] = False
    return with_subject_ids(episodes.assign(order_type=order_type))


def with_subject_ids(episodes: pd.DataFrame) -> pd.DataFrame:
    """Subject ids as :func:`~.people.cohort` gives them: keyed on the PNC ID, and for the
    people the pipeline cannot identify on the first order's reference."""
    ids = subject_id(episodes["pnc_id"]).to_numpy()
    unresolved = (episodes["role"] == "identity_unresolved").to_numpy()
    first_ref = episodes["order_ref"].where(~episodes["has_interim"], "I" + episodes["order_ref"])
    ids[unresolved] = unresolved_subject_id(first_ref[unresolved]).to_numpy()
    return episodes.assign(subject_id=ids)


IDENTITY = ["forenames", "surname", "date_of_birth", "pnc_id"]


def share_people(rng, episodes: pd.DataFrame, share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give ``round(share x n)`` of each later type's ``n`` orders to people who hold an order of
    an earlier type (each person at most two orders, on different dates).  Neither order may
    be of a person the pipeline cannot identify (their PNC records are special), and an
    analysed STRO is never shared (the calibrated subjects keep exactly the published
    arrests).  Returns the episodes and the pairs (``first_row``, ``second_row``)."""
    types = list(dict.fromkeys(episodes["order_type"]))
    role, kind = episodes["role"].to_numpy(), episodes["order_type"].to_numpy()
    free = (role != "identity_unresolved") & ~((kind == "STRO") & (role == "analysed"))
    used = np.zeros(len(episodes), dtype=bool)
    pairs = []
    for k, order_type in enumerate(types[1:], start=1):  # a loop over a handful of types
        earlier = np.flatnonzero(free & ~used & np.isin(kind, types[:k]))
        mine = np.flatnonzero(free & ~used & (kind == order_type))
        m = min(int(round(share * int((kind == order_type).sum()))), len(earlier), len(mine))
        if m <= 0:
            continue
        first, second = rng.choice(earlier, m, replace=False), rng.choice(mine, m, replace=False)
        starts = episodes["start_date"].to_numpy()
        keep = starts[first] != starts[second]
        first, second = first[keep], second[keep]
        used[first] = used[second] = True
        pairs.append(pd.DataFrame({"first_row": first, "second_row": second}))
    pairs = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame({"first_row": [], "second_row": []},
                                                                           dtype=np.int64)
    episodes = episodes.copy()
    for col in [*IDENTITY, "subject_id"]:
        values = episodes[col].to_numpy().copy()
        values[pairs["second_row"].to_numpy()] = values[pairs["first_row"].to_numpy()]
        episodes[col] = values
    return episodes, pairs


def two_orders_truth(episodes: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """``two_orders.csv``: one row per person holding two orders, with both orders, the one
    that started first first."""
    a, b = pairs["first_row"].to_numpy(), pairs["second_row"].to_numpy()
    later = episodes["start_date"].to_numpy()[a] > episodes["start_date"].to_numpy()[b]
    first, second = episodes.iloc[np.where(later, b, a)], episodes.iloc[np.where(later, a, b)]
    table = pd.DataFrame({
        "subject_id": first["subject_id"].to_numpy(), "pnc_id": first["pnc_id"].to_numpy(),
        "first_order_ref": first["order_ref"].to_numpy(), "first_order_type": first["order_type"].to_numpy(),
        "first_start_date": first["start_date"].dt.strftime("%Y-%m-%d").to_numpy(),
        "second_order_ref": second["order_ref"].to_numpy(), "second_order_type": second["order_type"].to_numpy(),
        "second_start_date": second["start_date"].dt.strftime("%Y-%m-%d").to_numpy()})
    return table.sort_values("subject_id").reset_index(drop=True)


def type_effects(plan, types: list[str], stro_effects: pd.DataFrame | None, design_ratio: float) -> pd.DataFrame:
    """``effects.csv`` with ``order_type``: STRO's rows as a STRO-only run writes them; for every
    other type the rate ratio of arrests from the order on (``published``: the design's overall
    after/before ratio, as for the STRO cohort's other people; else the scenario's), overall
    only (breach coding moves arrests between categories and harm)."""
    parts = []
    if stro_effects is not None:
        parts.append(stro_effects.assign(order_type="STRO"))
    others = [t for t in types if t != "STRO"]
    ratio = design_ratio if plan.design else plan.rate_ratio
    if others:
        parts.append(pd.DataFrame({"measure": "events", "category": "overall", "true_rate_ratio": ratio,
                                   "order_type": others}))
    return pd.concat(parts, ignore_index=True)[["order_type", "measure", "category", "true_rate_ratio"]]


def type_plan(plan):
    """The scenario as it acts on a non-STRO type: no calibrated design; under ``published``
    the design's after/before ratio from the order on, as for the STRO cohort's other people."""
    from .design import DESIGN

    if not plan.design:
        return plan
    ratio = DESIGN.groupby("period")["count"].sum()
    return dataclasses.replace(plan, design=False, rate_ratio=float(ratio["after"] / ratio["before"]))
