"""Link people across the order list, PNC, PND and ROCU; build order episodes and arrest
events; log every disagreement and how it was resolved.

Identifiers stop here: the outputs meant for ``data/processed`` carry only the subject id
(a keyed HMAC of the PNC ID, A12) and no names, dates of birth or PNC IDs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dates import add_months, age_in_years, full_windows
from .ids import pseudonymise, unresolved_subject_id
from .ingest import Ingested, blanked_dobs
from .keys import KEY_ENV, pseudonym_key  # noqa: F401 - KEY_ENV is part of the reconcile API
from .offences import _offence_key, offence_groups, offence_matcher
from .schemas import LINK_BASES, PERSON_SOURCES

SOURCES = ("rocu", "pnc", "pnd")
DISCREPANCY_COLUMNS = ["subject_id", "kind", "field", "source_pair", "value_a", "value_b", "resolution", "detail"]


@dataclass
class Reconciled:
    episodes: pd.DataFrame        # processed/order_episodes.csv: per person and order type (pseudonymous)
    events: pd.DataFrame          # one row per arrest event (pseudonymous)
    offences: pd.DataFrame        # event_id, cjs_code, ho_class, source
    discrepancies: pd.DataFrame   # processed/discrepancies.csv
    outcomes: pd.DataFrame        # every raw row: kept / merged / quarantined, with reason
    links: pd.DataFrame           # interim: every record's person link (identifiers)
    quarantine: dict[str, pd.DataFrame]
    review: pd.DataFrame | None = None   # interim: uncertain pairs for a clerical decision
    linkage_quality: pd.DataFrame | None = None  # processed: records per source and link basis
    linkage_scores: pd.DataFrame | None = None   # processed: each linked-by-name record's scores
    comparison_subjects: pd.DataFrame | None = None  # processed: the comparison pool's people (pseudonymous)
    custody: pd.DataFrame | None = None              # processed: custody periods of the study's people


# --------------------------------------------------------------------------- linkage

PERSON_FIELDS = ["forenames", "surname", "date_of_birth", "sex", "postcode"]
#: The optional extracts whose rows are people too (issue 13): linked like the order list's.
OPTIONAL_PERSON_SOURCES = ("comparison", "custody")


def link_people(ing: Ingested, rc: dict, decisions: pd.DataFrame | None = None):
    """Link every order-list and PND record without a valid PNC ID to a person (a PNC ID held
    by the order list, PND or a ROCU return) on names, DOB and, where present, sex and
    postcode (A10-A11, :mod:`strostudy.linkage`).  Returns (one row per record with ``rec``,
    ``source`` and the link's evidence; the uncertain pairs for clerical review)."""
    from .linkage import link, review_table, settings_from

    def fields(frame: pd.DataFrame) -> list[str]:
        return [c for c in PERSON_FIELDS if c in frame]

    holders = [s for s in ("orders", "pnd_records", "rocu_orders", *OPTIONAL_PERSON_SOURCES) if s in ing.tables]
    tables = {s: _dob_for_linkage(ing.tables[s]) for s in holders}
    left = pd.concat([tables[s][["pnc_id", *fields(tables[s])]] for s in holders], ignore_index=True)
    left = left.dropna(subset=["pnc_id"]).drop_duplicates().reset_index(drop=True)
    left = left.assign(entity=left["pnc_id"])
    right = pd.concat([
        tables[s].loc[tables[s]["pnc_id"].isna(), ["source_row", *fields(tables[s])]].assign(
            rec=lambda d, s=s: s + ":" + d["source_row"].astype(str), source=s)
        for s in ("orders", "pnd_records", *OPTIONAL_PERSON_SOURCES) if s in tables], ignore_index=True)
    records, review = link(left, right.drop(columns=["source_row"]), settings_from(rc), decisions)
    model = records.attrs.get("linkage_model", {})
    if not model.get("em_converged", True):
        from .stages import say

        say(f"warning: the linkage model's EM stopped after {model['em_iterations']} iterations without meeting "
            "its tolerance; its match weights may not be final. Raise reconcile.linkage.estimation.max_iterations "
            "in config.yaml (or loosen its tolerance) and re-run")
    links = records.drop(columns=["r_row"]).merge(right[["rec", "source"]], on="rec")
    return links, review_table(review, left, right)


def _person_of(table: pd.DataFrame, source: str, links: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each row's person (its PNC ID, else the person the linker tied it to) and how it was
    tied: ``pnc_id``, ``linked``, or the linker's ``ambiguous`` / ``no_match`` /
    ``rejected_in_review``."""
    by_rec = links.loc[links["source"] == source].set_index("rec")
    rec = source + ":" + table["source_row"].astype(str)
    status = rec.map(by_rec["link_status"]).astype("string").fillna("no_match").astype(str)
    status = status.mask(rec.map(by_rec["link_basis"]).astype("string").eq("clerical_reject").fillna(False),
                         "rejected_in_review")
    linked = rec.map(by_rec["pnc_id"]).astype("string").where(status.eq("linked"))
    person = table["pnc_id"].astype("string").fillna(linked.astype("string"))
    how = pd.Series(np.where(table["pnc_id"].notna(), "pnc_id", status), index=table.index)
    return person, how


def _dob_for_linkage(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the DOB the linker compares: the date, or where ingest blanked a DOB that
    was no date (A89), its text as recorded, whose digits are still evidence (``1993-42-10``
    is one digit from ``1993-02-10``; A85).  Unchanged where no DOB was blanked."""
    typed = table.get("date_of_birth_as_recorded")
    if typed is None or not typed.notna().any():
        return table
    as_text = table["date_of_birth"].dt.strftime("%Y-%m-%d").astype(object)
    return table.assign(date_of_birth=as_text.where(typed.isna(), typed.astype(object)))


def record_bases(ing: Ingested, links: pd.DataFrame) -> pd.DataFrame:
    """Each person record's ``source`` and ``basis`` (:data:`LINK_BASES`), as reconcile ties
    it: order-list rows by their PNC ID, else the ROCU return of their order, else the linker;
    PND rows by their PNC ID, else the linker; ROCU rows by their order reference, else their
    PNC ID (A10b)."""
    by_rec = links.set_index("rec")
    linker = by_rec["link_basis"].fillna("").where(by_rec["link_basis"].fillna("").ne(""), by_rec["link_status"])
    orders, pnd = ing.tables["orders"], ing.tables["pnd_records"]
    rocu_refs = ing.tables["rocu_orders"].dropna(subset=["pnc_id"])["order_ref"]
    listed_refs = orders["order_ref"].dropna()

    def by_linker(frame: pd.DataFrame, source: str) -> pd.Series:
        return (source + ":" + frame["source_row"].astype(str)).map(linker).fillna("no_match")

    parts = [
        pd.DataFrame({"source": "orders", "basis": np.select(
            [orders["pnc_id"].notna(), orders["order_ref"].isin(rocu_refs)], ["pnc_id", "order_ref"],
            by_linker(orders, "orders"))}),
        pd.DataFrame({"source": "pnd_records", "basis": np.where(pnd["pnc_id"].notna(), "pnc_id",
                                                                 by_linker(pnd, "pnd_records"))})]
    for source in OPTIONAL_PERSON_SOURCES:  # the comparison pool and custody periods, where supplied
        table = ing.tables.get(source)
        if table is not None and len(table):
            parts.append(pd.DataFrame({"source": source, "basis": np.where(table["pnc_id"].notna(), "pnc_id",
                                                                           by_linker(table, source))}))
    for source in ("rocu_orders", "rocu_offending"):
        rocu = ing.tables[source]
        parts.append(pd.DataFrame({"source": source, "basis": np.select(
            [rocu["order_ref"].isin(listed_refs), rocu["pnc_id"].notna()], ["order_ref", "pnc_id"], "no_match")}))
    return pd.concat(parts, ignore_index=True)


def linkage_quality(bases: pd.DataFrame) -> pd.DataFrame:
    """Records per source and basis, every combination listed (zeros included)."""
    # The optional extracts (comparison pool, custody) are listed when supplied.
    sources = [s for s in PERSON_SOURCES if s not in OPTIONAL_PERSON_SOURCES or s in set(bases["source"])]
    grid = pd.MultiIndex.from_product([sources, LINK_BASES], names=["source", "basis"])
    counts = bases.groupby(["source", "basis"]).size().reindex(grid, fill_value=0).astype(int)
    return counts.rename("records").reset_index()


def linkage_scores(links: pd.DataFrame, rc: dict) -> pd.DataFrame:
    """The scores of every record the linker saw, without its reference (sorted by value, so
    nothing ties a row to a record), with the thresholds they were decided at."""
    cols = ["source", "link_status", "link_basis", "review", "link_score", "p_listed", "match_weight"]
    out = links.assign(link_basis=links["link_basis"].fillna("").replace("", pd.NA))[cols]
    return out.sort_values(["source", "link_score", "p_listed", "match_weight", "link_status", "link_basis", "review"],
                           na_position="first", kind="stable").reset_index(drop=True).assign(
        link_threshold=float(rc["link_threshold"]), review_threshold=float(rc["review_threshold"]))


# --------------------------------------------------------------------------- episodes


def _order_identity(orders: pd.DataFrame, rocu: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
    """Each order row's person: its own PNC ID, else ROCU's for the same order (A10b), else a
    name/DOB link (A10, A11); rows of one person (interim + full) share a ``group``."""
    rocu_by_ref = rocu.dropna(subset=["pnc_id"]).drop_duplicates("order_ref").set_index("order_ref")["pnc_id"]
    orders["person"] = orders["pnc_id"]
    orders["identity"] = np.where(orders["pnc_id"].notna(), "pnc_id", pd.NA)
    via_rocu = orders["person"].isna() & orders["order_ref"].map(rocu_by_ref).notna()
    orders.loc[via_rocu, "person"] = orders.loc[via_rocu, "order_ref"].map(rocu_by_ref)
    orders.loc[via_rocu, "identity"] = "rocu"
    order_links = links.loc[links["source"] == "orders"].set_index("rec")
    need = orders["person"].isna()
    rec = "orders:" + orders["source_row"].astype(str)
    linked = rec.map(order_links["pnc_id"])
    status = rec.map(order_links["link_status"])
    orders.loc[need & linked.notna(), "person"] = linked[need & linked.notna()]
    orders.loc[need & linked.notna(), "identity"] = "linked"
    unresolved = orders["person"].isna()
    orders.loc[unresolved, "identity"] = status[unresolved].replace({"no_match": "unmatched"}).fillna("unmatched")
    # Unresolved rows of one person (interim + full) still group by name and DOB.
    orders["group"] = orders["person"].fillna(
        "?" + orders["name_key"].fillna("") + "|" + orders["date_of_birth"].dt.strftime("%Y-%m-%d").fillna(""))
    # Rows of a group whose identity resolved lend it to the others (an interim row with a
    # bad PNC ID and a full row with a good one).
    strength = ["pnc_id", "rocu", "linked", "ambiguous", "unmatched"]
    rank = orders["identity"].map({v: i for i, v in enumerate(strength)}).fillna(len(strength) - 1)
    best = rank.groupby(orders["group"]).transform("min").astype(int)
    orders["identity"] = np.asarray(strength)[best.to_numpy()]
    return orders


def _episode_frame(orders: pd.DataFrame, episode_start: str) -> pd.DataFrame:
    """One row per group: the order list's view (first order, last full order) (A5)."""
    full = orders.loc[~orders["is_interim"]].sort_values(["group", "date_made", "order_ref"])
    first = orders.sort_values(["group", "date_made", "order_ref"]).drop_duplicates("group").set_index("group")
    last_full = full.drop_duplicates("group", keep="last").set_index("group")
    if episode_start == "full":
        first = full.drop_duplicates("group").set_index("group").combine_first(first)
    latest = last_full.reindex(first.index)
    by_group = orders.groupby("group")
    return pd.DataFrame({
        "person": first["person"], "identity": first["identity"],
        "pnc_start": first["date_made"], "pnc_start_precision": first["date_made_precision"],
        "pnc_length": latest["length_months"].astype("Int64"),
        "n_orders": by_group.size(), "has_interim": by_group["is_interim"].any(),
        "status": latest["status"].fillna(first["status"]), "status_date": latest["status_date"],
        "owning_force": latest["owning_force"].fillna(first["owning_force"]),
        "applicant": latest["applicant"].fillna(first["applicant"]),
        "first_ref": first["order_ref"], "name_key": latest["name_key"].fillna(first["name_key"]),
        "order_type": first["order_type"],
        "date_of_birth": first["date_of_birth"],
    }, index=first.index)


def _attach_rocu(ep: pd.DataFrame, orders: pd.DataFrame, rocu: pd.DataFrame) -> pd.DataFrame:
    """ROCU rows join their episode by any of its order refs, else by person (A10b)."""
    rocu["group"] = rocu["order_ref"].map(orders.set_index("order_ref")["group"])
    by_person = rocu["group"].isna() & rocu["pnc_id"].notna()
    person_to_group = orders.dropna(subset=["person"]).drop_duplicates("person").set_index("person")["group"]
    rocu.loc[by_person, "group"] = rocu.loc[by_person, "pnc_id"].map(person_to_group)
    r = rocu.dropna(subset=["group"]).drop_duplicates("group").set_index("group").reindex(ep.index)
    return ep.assign(rocu_return=ep.index.isin(rocu["group"].dropna()), rocu_start=r["start_date"],
                     rocu_length=r["length_months"].astype("Int64"), region=r["region"],
                     n_conditions=r["n_conditions"].astype("Int64"))


def _resolve_start(ep: pd.DataFrame, precedence: list[str]) -> pd.DataFrame:
    """Start date and length from the first source in precedence with a value (A6); the
    start's possible range where only the month or year is known (A4, A7)."""
    nat = pd.Series(pd.NaT, index=ep.index, dtype="datetime64[ns]")
    starts = {"rocu": ep["rocu_start"], "pnc": ep["pnc_start"].where(ep["pnc_start_precision"] == "day"),
              "pnd": nat}
    lengths = {"rocu": ep["rocu_length"], "pnc": ep["pnc_length"],
               "pnd": pd.Series(pd.NA, index=ep.index, dtype="Int64")}
    ep["start_date"] = nat
    ep["start_source"] = pd.Series(pd.NA, index=ep.index, dtype="string")
    ep["length_months"] = pd.Series(pd.NA, index=ep.index, dtype="Int64")
    ep["length_source"] = pd.Series(pd.NA, index=ep.index, dtype="string")
    for source in reversed(precedence):
        for value, column in ((starts[source], "start"), (lengths[source], "length")):
            has = value.notna()
            ep.loc[has, "start_date" if column == "start" else "length_months"] = value[has]
            ep.loc[has, f"{column}_source"] = source
    ep["start_earliest"] = ep["start_date"].fillna(ep["pnc_start"])
    span = ep["pnc_start_precision"].map({"month": 1, "year": 12}).fillna(0).astype(int)
    ep["start_latest"] = ep["start_date"].fillna(add_months(ep["pnc_start"], span.to_numpy()) - pd.Timedelta(days=1))
    ep["start_usable"] = ep["start_date"].notna()
    return ep


def build_episodes(ing: Ingested, cfg: dict, key: str, links: pd.DataFrame):
    """One episode per person from the order list and ROCU returns, with start and length
    resolved by precedence (A5, A6, A7) and every disagreement logged."""
    rc = cfg["reconcile"]
    orders = _order_identity(ing.tables["orders"].copy(), ing.tables["rocu_orders"], links)
    # One episode per person and order type (issue 16, A138): a study takes its types' episodes.
    from .studies import canonical_order_type

    orders["order_type"] = canonical_order_type(orders["order_type"])
    orders["group"] = orders["group"] + "|" + orders["order_type"]
    rocu = ing.tables["rocu_orders"].copy()
    ep = _attach_rocu(_episode_frame(orders, rc["episode_start"]), orders, rocu)
    ep = _resolve_start(ep, list(rc["source_precedence"]))
    ep["age_at_start"] = age_in_years(ep["date_of_birth"], ep["start_date"])
    ep["subject_id"] = pseudonymise(ep["person"], key)
    nobody = ep["subject_id"].isna()
    ep.loc[nobody, "subject_id"] = unresolved_subject_id(ep.loc[nobody, "first_ref"], key).to_numpy()
    disc = _episode_discrepancies(ep, orders, cfg)
    return ep.rename_axis("group").reset_index(), orders, rocu, disc


def _iso(dates) -> pd.Series:
    return pd.Series(dates).dt.strftime("%Y-%m-%d")


def _days_apart(gap: pd.Series, a: str, b: str) -> pd.Series:
    """``PNC 9 days earlier than ROCU``: a signed gap in words (a cell starting with ``-``
    would be a formula to a spreadsheet)."""
    days = gap.dt.days
    return a + " " + days.abs().astype(str) + " days " + np.where(days < 0, "earlier", "later") + " than " + b


def _episode_discrepancies(ep: pd.DataFrame, orders: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    rows = []
    fmt = _iso
    both = ep["rocu_start"].notna() & ep["pnc_start"].notna() & (ep["pnc_start_precision"] == "day")
    diff = both & (ep["rocu_start"] != ep["pnc_start"])
    rows.append(pd.DataFrame({
        "subject_id": ep.loc[diff, "subject_id"], "kind": "order_start_date", "field": "start_date",
        "source_pair": "pnc~rocu", "value_a": fmt(ep.loc[diff, "pnc_start"]), "value_b": fmt(ep.loc[diff, "rocu_start"]),
        "resolution": "used " + ep.loc[diff, "start_source"].astype(str),
        "detail": _days_apart(ep.loc[diff, "pnc_start"] - ep.loc[diff, "rocu_start"], "PNC", "ROCU")}))
    ldiff = ep["rocu_length"].notna() & ep["pnc_length"].notna() & (ep["rocu_length"] != ep["pnc_length"])
    rows.append(pd.DataFrame({
        "subject_id": ep.loc[ldiff, "subject_id"], "kind": "order_length", "field": "length_months",
        "source_pair": "pnc~rocu", "value_a": ep.loc[ldiff, "pnc_length"].astype(str),
        "value_b": ep.loc[ldiff, "rocu_length"].astype(str), "resolution": "used " + ep.loc[ldiff, "length_source"],
        "detail": "length differs"}))
    interim = ep["has_interim"]
    rows.append(pd.DataFrame({
        "subject_id": ep.loc[interim, "subject_id"], "kind": "interim_and_full", "field": "order_type",
        "source_pair": "orders~orders", "value_a": "interim order", "value_b": "full order",
        "resolution": "one episode from " + fmt(ep.loc[interim, "start_date"]).fillna("an unusable date"),
        "detail": ep.loc[interim, "n_orders"].astype(str) + " orders"}))
    bad_id = orders.loc[orders["pnc_problem"].notna()].drop_duplicates("group")
    bad_id = bad_id.assign(subject_id=bad_id["group"].map(ep["subject_id"]))
    kind = bad_id["identity"].map({"ambiguous": "identity_ambiguous", "unmatched": "identity_unmatched"}).fillna(
        "pnc_check_letter")
    rows.append(pd.DataFrame({
        "subject_id": bad_id["subject_id"], "kind": kind, "field": "pnc_id", "source_pair": "orders~" +
        bad_id["identity"].map({"rocu": "rocu", "linked": "pnd"}).fillna("pnd"),
        "value_a": "PNC ID " + bad_id["pnc_problem"].astype(str), "value_b": "",
        "resolution": bad_id["identity"].map({"rocu": "identified from the ROCU return",
                                              "linked": "linked on name and DOB",
                                              "ambiguous": "unresolved: several people match name and DOB",
                                              "unmatched": "unresolved: no person matches name and DOB"}),
        "detail": bad_id["pnc_problem"].astype(str)}))
    ended = ep["status"].str.lower().str.contains("discharg|quash").fillna(False)
    rows.append(pd.DataFrame({
        "subject_id": ep.loc[ended, "subject_id"], "kind": "order_ended", "field": "status", "source_pair": "orders",
        "value_a": ep.loc[ended, "status"], "value_b": fmt(ep.loc[ended, "status_date"]),
        "resolution": "excluded if inside the after window", "detail": "order ended early"}))
    unusable = ~ep["start_usable"]
    rows.append(pd.DataFrame({
        "subject_id": ep.loc[unusable, "subject_id"], "kind": "start_date_unusable", "field": "start_date",
        "source_pair": "pnc~rocu", "value_a": "precision " + ep.loc[unusable, "pnc_start_precision"].astype(str),
        "value_b": np.where(ep.loc[unusable, "rocu_return"], "N/K", "no return"),
        "resolution": "no usable start date", "detail": "day unknown"}))
    wanted = full_windows(ep, cfg["study"]) & ~ep["rocu_return"]  # the cohort's own rule (A4)
    rows.append(pd.DataFrame({
        "subject_id": ep.loc[wanted, "subject_id"], "kind": "rocu_missing", "field": "rocu_return",
        "source_pair": "pnc~rocu", "value_a": "order on PNC", "value_b": "no ROCU return",
        "resolution": "PNC values used; excluded if a return is required", "detail": "no return"}))
    return pd.concat(rows, ignore_index=True).reindex(columns=DISCREPANCY_COLUMNS)


# --------------------------------------------------------------------------- comparison pool


#: The documented values of the free-text ``basis`` and ``kind`` columns: any other text leaves
#: reconcile as ``other``, so nothing typed into them passes ``data/interim/`` (a name, say).
BASES = ("refused", "withdrawn", "arrested_no_order")
CUSTODY_KINDS = ("remand", "sentence", "deported")


def _known(values: pd.Series, allowed: tuple) -> pd.Series:
    text = values.astype("string").str.strip().str.lower()
    return text.where(text.isin(allowed) | text.isna(), "other").astype("string")


#: The columns of the comparison subjects and custody tables (processed, pseudonymous).
COMPARISON_SUBJECT_COLUMNS = ["subject_id", "identity", "index_date", "basis", "age_at_index"]
CUSTODY_COLUMNS = ["subject_id", "start_date", "end_date", "kind"]


def _row_outcomes(table: pd.DataFrame, source: str, outcome, reason) -> pd.DataFrame:
    return pd.DataFrame({"source": source, "file": table["file"].astype(str).to_numpy(),
                         "source_row": table["source_row"].to_numpy(), "outcome": outcome, "reason": reason})


def build_comparison(ing: Ingested, ep: pd.DataFrame, links: pd.DataFrame, key: str):
    """The comparison pool (issue 13): one subject per person of ``comparison.csv``, with the
    earliest index date where a person is listed twice (A105).  A row whose person holds an
    order is quarantined (``comparison_holds_an_order``: an order subject is never their own
    control), as is a row no person can be found for (``person_no_match``, ``person_ambiguous``,
    ``person_rejected_in_review``).  Returns (subjects, person -> subject_id, row outcomes,
    quarantined rows)."""
    comp = ing.tables["comparison"].copy()
    person, how = _person_of(comp, "comparison", links)
    comp["person"], comp["identity"] = person, how
    holds_order = person.isin(ep["person"].dropna()).to_numpy(dtype=bool)
    unresolved = person.isna().to_numpy(dtype=bool)
    ok = comp.loc[~holds_order & ~unresolved].sort_values(["person", "index_date", "comparison_ref"], kind="stable")
    repeat = ok["person"].duplicated()
    kept = ok.loc[~repeat]
    subjects = pd.DataFrame({"subject_id": pseudonymise(kept["person"], key).to_numpy(),
                             "identity": kept["identity"].to_numpy(), "index_date": kept["index_date"].to_numpy(),
                             "basis": _known(kept["basis"], BASES).to_numpy(),
                             "age_at_index": age_in_years(kept["date_of_birth"], kept["index_date"]).to_numpy()},
                            columns=COMPARISON_SUBJECT_COLUMNS)
    subjects = subjects.astype({"subject_id": "string", "identity": "string", "basis": "string",
                                "age_at_index": "Int64"})
    people = pd.Series(subjects["subject_id"].to_numpy(), index=kept["person"].to_numpy(), dtype="string")
    subjects = subjects.sort_values("subject_id").reset_index(drop=True)
    quarantined = comp.loc[holds_order | unresolved]
    reason = np.where(holds_order[holds_order | unresolved], "comparison_holds_an_order",
                      "person_" + quarantined["identity"].astype(str))
    outcomes = pd.concat([
        _row_outcomes(kept, "comparison", "kept", "comparison_subject"),
        _row_outcomes(ok.loc[repeat], "comparison", "merged", "same_person_as_another_comparison_row"),
        _row_outcomes(quarantined, "comparison", "quarantined", reason)], ignore_index=True)
    return subjects, people, outcomes, quarantined.assign(check=reason)


def custody_periods(ing: Ingested, person_subject: pd.Series, links: pd.DataFrame):
    """Custody periods of the study's people (order and comparison subjects), by subject
    (A91, A92).  A period of anyone else is quarantined (``person_not_in_study``), as is one no
    person can be found for.  Returns (periods, row outcomes, quarantined rows)."""
    cu = ing.tables["custody"].copy()
    person, how = _person_of(cu, "custody", links)
    subject = person.map(person_subject)
    kept = subject.notna().to_numpy(dtype=bool)
    periods = pd.DataFrame({"subject_id": subject[kept].astype("string").to_numpy(),
                            "start_date": cu.loc[kept, "start_date"].to_numpy(),
                            "end_date": cu.loc[kept, "end_date"].to_numpy(),
                            "kind": _known(cu.loc[kept, "kind"], CUSTODY_KINDS).to_numpy()}, columns=CUSTODY_COLUMNS)
    periods = periods.astype({"subject_id": "string", "kind": "string"})
    periods = periods.sort_values(["subject_id", "start_date", "end_date"], kind="stable").reset_index(drop=True)
    reason = np.where(person[~kept].notna(), "person_not_in_study", "person_" + how[~kept].astype(str))
    outcomes = pd.concat([_row_outcomes(cu.loc[kept], "custody", "kept", "custody_period"),
                          _row_outcomes(cu.loc[~kept], "custody", "quarantined", reason)], ignore_index=True)
    return periods, outcomes, cu.loc[~kept].assign(check=reason)


# --------------------------------------------------------------------------- events


def _records(ing: Ingested, ep: pd.DataFrame, orders: pd.DataFrame, links: pd.DataFrame, weights: pd.DataFrame,
             cfg: dict, pool: pd.Series | None = None):
    """Every arrest record of a linked person (an order subject, or a person of the comparison
    ``pool``: person -> subject_id), one row per (source, arrest), with its offences."""
    match = offence_matcher(weights)
    # One pseudonym per person, whichever order types they hold (issue 16).
    person_subject = ep.dropna(subset=["person"]).drop_duplicates("person").set_index("person")["subject_id"]
    if pool is not None and len(pool):
        person_subject = pd.concat([person_subject, pool.astype(person_subject.dtype)])
    quarantine = {}

    pnc = ing.tables["pnc_arrests"].copy()
    pnc["subject_id"] = pnc["pnc_id"].map(person_subject)
    quarantine["pnc_arrests"] = pnc.loc[pnc["subject_id"].isna()].assign(check="person_not_on_order_list")
    pnc = pnc.loc[pnc["subject_id"].notna()]
    pnc["arrest_key"] = pnc["asn"].fillna(pnc["arrest_date"].dt.strftime("%Y-%m-%d"))
    pnc["rec"] = "pnc:" + pnc["pnc_id"] + ":" + pnc["arrest_key"]
    pnc_off = pnc[["rec", "cjs_code", "ho_class", "offence_title", "source_row"]].assign(source="pnc")
    pnc_rec = pnc.groupby("rec").agg(subject_id=("subject_id", "first"), date=("arrest_date", "min")).reset_index()

    pnd = ing.tables["pnd_records"].copy()
    person, status = _person_of(pnd, "pnd_records", links)
    pnd["subject_id"] = person.map(person_subject)
    pnd["person"] = person.where(pnd["subject_id"].notna())
    # Linked to a person who has no episode: that person's order row was itself quarantined.
    status = status.mask(status.eq("linked"), "order_quarantined")
    why = np.where(pnd["pnc_id"].notna(), "person_not_on_order_list", "person_" + status)
    quarantine["pnd_records"] = pnd.loc[pnd["subject_id"].isna()].assign(check=why[pnd["subject_id"].isna()])
    pnd = pnd.loc[pnd["subject_id"].notna()]
    pnd["rec"] = "pnd:" + pnd["source_row"].astype(str)
    pnd["cjs_code"] = pnd["code_in_text"].fillna(match(pnd["offence_text"]))
    pnd_off = pnd[["rec", "cjs_code", "offence_text", "source_row"]].rename(columns={"offence_text": "offence_title"})
    pnd_off = pnd_off.assign(ho_class=pd.NA, source="pnd")
    pnd_rec = pnd[["rec", "subject_id", "event_date", "name_key", "person"]].rename(columns={"event_date": "date"})

    ro = ing.tables["rocu_offending"].copy()
    ref_subject = orders.set_index("order_ref")["group"].map(ep.set_index("group")["subject_id"])
    ro["subject_id"] = ro["order_ref"].map(ref_subject)
    by_pnc = ro["subject_id"].isna() & ro["pnc_id"].notna()
    ro.loc[by_pnc, "subject_id"] = ro.loc[by_pnc, "pnc_id"].map(person_subject)
    quarantine["rocu_offending"] = ro.loc[ro["subject_id"].isna()].assign(check="order_not_on_order_list")
    ro = ro.loc[ro["subject_id"].notna()]
    ro["rec"] = "rocu:" + ro["region"] + ":" + ro["source_row"].astype(str)
    ro["cjs_code"] = ro["cjs_code"].fillna(match(ro["offence"]))
    ro_off = ro[["rec", "cjs_code", "offence", "source_row", "region"]].rename(columns={"offence": "offence_title"})
    ro_off = ro_off.assign(ho_class=pd.NA, source="rocu")
    ro_rec = ro[["rec", "subject_id", "arrest_date"]].rename(columns={"arrest_date": "date"})

    offences = pd.concat([pnc_off, pnd_off, ro_off], ignore_index=True)
    records = pd.concat([ro_rec.assign(source="rocu"), pnc_rec.assign(source="pnc"), pnd_rec.assign(source="pnd")],
                        ignore_index=True)
    principal = _principal_offences(offences, weights)
    records["group"] = records["rec"].map(principal["_group"])
    records["principal"] = records["rec"].map(principal["_code"])
    return records, offences, quarantine, pnd


#: The offence group of a record whose principal offence the index knows but puts in no Home
#: Office group (A50).
NO_GROUP = "(no Home Office group)"


def _principal_offences(offences: pd.DataFrame, weights: pd.DataFrame) -> pd.DataFrame:
    """Each record's principal offence (the most harmful known to the index), by record:
    ``_code`` and ``_group``, its Home Office group (A8): :data:`NO_GROUP` where the index knows
    the offence but gives it no group, missing where the index does not know it.  Only the
    principal counts, as ROCU and PND hold only the principal: a PNC record's secondary
    offences must not make it look like another arrest."""
    code = offences["cjs_code"].astype("string").str.strip().str.upper()
    scores = weights.dropna(subset=["cjs_code", "score"]).groupby("cjs_code")["score"].max()
    ranked = offences.assign(_group=offence_groups(offences["cjs_code"], offences["ho_class"], weights),
                             _score=code.map(scores).fillna(-1), _code=code.fillna(""))
    ranked = ranked.sort_values(["rec", "_score", "_code"], ascending=[True, False, True])
    principal = ranked.drop_duplicates("rec").set_index("rec")[["_code", "_group", "_score"]]
    # An offence the index knows but puts in no group (the Modern Slavery Act codes) is a group
    # of its own; only an offence the index does not know matches any group.
    no_group = principal["_group"].isna() & (principal["_score"] >= 0)
    principal["_group"] = principal["_group"].astype(object).where(~no_group, NO_GROUP)
    return principal[["_code", "_group"]]


def merge_records(records: pd.DataFrame, precedence: list[str], window_days: int,
                  pool_subjects=None) -> pd.DataFrame:
    """Group arrest records of several systems into events (A8, A50).

    Records are matched jointly across all systems: two groups of records (each record starts
    as its own group) become one event when they are of the same person, hold no two records
    of one system, all their dates lie within ``window_days`` of each other, and their offence
    groups agree (or one is unknown).  Events of ``pool_subjects`` (the comparison pool) are
    numbered ``C…``, the others ``E…``.  So a record of one system matches at most one record of
    each other system, and two records of one system are never one arrest (ingest has already
    set aside exact duplicate rows).  Pairs whose offence groups agree come before pairs where
    one is unknown; then pairs whose principal offences have the same code (two arrests of a
    person close together are told apart by what they were for); then the nearest pair; then
    the earlier records.  Last, records of the **same day** still unmatched become one arrest
    even where their offence groups differ: systems disagree on an arrest's offences (for
    example when a PNC offence row was quarantined) more often than a person is arrested twice
    in a day for different things and each arrest is missed by the other system.  Which
    record's date and offences the event takes is decided by precedence afterwards (A6, A17,
    A51).  Returns ``records`` with ``event_id``.
    """
    rank = {s: i for i, s in enumerate(precedence)}
    records = records.assign(cat=records["group"].fillna("?").astype(str),
                             date=pd.to_datetime(records["date"]).astype("datetime64[ns]"),
                             subject_id=records["subject_id"].astype(str),
                             _rank=records["source"].map(rank).astype(int))
    order = records.sort_values(["subject_id", "date", "_rank", "rec"], kind="stable")
    group = _match_across_systems(order, int(window_days))
    order = order.assign(_group=group)
    # An event's date is its top-precedence record's (A6); final ids follow (subject, that
    # date, first record), so they do not depend on how the records were grouped.
    top = order.sort_values(["_group", "_rank", "date", "rec"], kind="stable").drop_duplicates("_group")
    first_rec = order.groupby("_group")["rec"].min()
    top = top.assign(first=top["_group"].map(first_rec)).sort_values(["subject_id", "date", "first"], kind="stable")
    # The comparison pool's events are numbered apart (``C…``), so the order subjects' ids do
    # not depend on the pool (A106).
    pooled = top["subject_id"].isin(pool_subjects).to_numpy() if pool_subjects is not None else np.zeros(len(top), bool)
    final = pd.Series(pd.NA, index=top["_group"].to_numpy(), dtype="string")
    for prefix, chosen in (("E", ~pooled), ("C", pooled)):
        n = int(chosen.sum())
        if n == 0:
            continue
        final.iloc[np.flatnonzero(chosen)] = np.char.add(prefix, np.char.zfill(np.arange(1, n + 1).astype(str),
                                                                               len(str(n))))
    event_id = pd.Series(final.reindex(group).to_numpy(), index=order.index).reindex(records.index)
    return records.drop(columns="_rank").assign(event_id=event_id.astype("string"))


def _match_across_systems(records: pd.DataFrame, window_days: int) -> np.ndarray:
    """The event group of each record (``records`` in row order): agglomeration of candidate
    pairs, in the order of :func:`_candidate_pairs`, under the rules of :func:`merge_records`.

    Done in rounds: each group takes its first allowed neighbour, and pairs of groups that
    chose each other merge, until no allowed pair is left.  A pair that is not allowed never
    becomes allowed (groups only grow), so it is dropped for good."""
    n = len(records)
    pairs = _candidate_pairs(records, window_days)
    group = np.arange(n)
    sources = (1 << records["_rank"].to_numpy()).astype(np.int64)
    lo = records["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    hi = lo.copy()
    cat = records["cat"].to_numpy().astype(object)
    a, b, same_day = pairs["a"].to_numpy(), pairs["b"].to_numpy(), pairs["same_day"].to_numpy()
    while len(a):
        ga, gb = group[a], group[b]
        span = np.maximum(hi[ga], hi[gb]) - np.minimum(lo[ga], lo[gb])
        agree = (cat[ga] == cat[gb]) | (cat[ga] == "?") | (cat[gb] == "?")
        allowed = ((ga != gb) & ((sources[ga] & sources[gb]) == 0) & (span <= window_days)
                   & (agree | same_day))
        a, b, ga, gb, same_day = a[allowed], b[allowed], ga[allowed], gb[allowed], same_day[allowed]
        if not len(a):
            break
        # Pairs are in nearest-first order: a group's first pair is its choice.
        ends = np.concatenate([ga, gb])
        position = np.concatenate([np.arange(len(ga)), np.arange(len(gb))])
        first = pd.Series(position).groupby(ends).min()
        chosen = (first.reindex(ga).to_numpy() == np.arange(len(ga))) & (first.reindex(gb).to_numpy() == np.arange(len(gb)))
        keep, gone = np.minimum(ga[chosen], gb[chosen]), np.maximum(ga[chosen], gb[chosen])
        sources[keep] |= sources[gone]
        lo[keep] = np.minimum(lo[keep], lo[gone])
        hi[keep] = np.maximum(hi[keep], hi[gone])
        cat[keep] = np.where(cat[keep] == "?", cat[gone], cat[keep])
        root = np.arange(n)
        root[gone] = keep
        group = root[group]
    return group


def _candidate_pairs(records: pd.DataFrame, window_days: int) -> pd.DataFrame:
    """Every pair of records (``a``, ``b``: row positions) of the same person, of different
    systems, at most ``window_days`` apart, whose offence groups agree or either is unknown
    (``?``), and, last (``same_day``), pairs of the same day whose groups differ: pairs of a
    known group first, then those whose principal offences have the same code, then nearest
    first, then by position.
    Joined on the person and a date bucket ``window_days + 1`` wide and the next one, so a
    person's history is not crossed with itself in full."""
    width = window_days + 1
    days = records["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    code = records["principal"] if "principal" in records else pd.Series("", index=records.index)
    recs = pd.DataFrame({"pos": np.arange(len(records)), "subject_id": records["subject_id"].to_numpy(),
                         "rank": records["_rank"].to_numpy(), "day": days, "cat": records["cat"].to_numpy(),
                         "code": code.astype("string").fillna("").astype(str).to_numpy(), "bucket": days // width})
    same = recs.merge(recs, on=["subject_id", "bucket"], suffixes=("_a", "_b"))
    same = same.loc[same["pos_a"] < same["pos_b"]]
    following = recs.merge(recs.assign(bucket=recs["bucket"] - 1), on=["subject_id", "bucket"], suffixes=("_a", "_b"))
    pairs = pd.concat([same, following], ignore_index=True)
    pairs = pairs.assign(a=np.minimum(pairs["pos_a"], pairs["pos_b"]), b=np.maximum(pairs["pos_a"], pairs["pos_b"]),
                         distance=(pairs["day_a"] - pairs["day_b"]).abs(),
                         unknown=(pairs["cat_a"] == "?") | (pairs["cat_b"] == "?"),
                         other_code=(pairs["code_a"] != pairs["code_b"]) | (pairs["code_a"] == ""))
    agree = (pairs["cat_a"] == pairs["cat_b"]) | pairs["unknown"]
    pairs = pairs.loc[(pairs["rank_a"] != pairs["rank_b"]) & (pairs["distance"] <= window_days)
                      & (agree | (pairs["distance"] == 0))].assign(same_day=lambda d: ~agree.loc[d.index])
    return pairs.sort_values(["same_day", "unknown", "other_code", "distance", "a", "b"],
                             kind="stable")[["a", "b", "distance", "same_day"]]


def build_events(records: pd.DataFrame, offences: pd.DataFrame, precedence: list[str], window_days: int,
                 weights: pd.DataFrame | None = None, pool_subjects=None):
    """Events from the records (A8, A50), their offences (A17, A51) and the records with
    their event (``merged``; ``offences_from_rocu`` marks the PNC records set aside by A51).
    ``weights`` (the harm index) says which codes can be scored; without it A51 is not
    applied."""
    merged = merge_records(records, precedence, window_days, pool_subjects)
    rank = {s: i for i, s in enumerate(precedence)}
    merged["rank"] = merged["source"].map(rank)
    top = merged.sort_values(["event_id", "rank", "date"]).drop_duplicates("event_id").set_index("event_id")
    events = pd.DataFrame({"event_id": top.index, "subject_id": top["subject_id"].to_numpy(),
                           "event_date": top["date"].to_numpy(), "date_source": top["source"].to_numpy()})
    # Membership by the events' positions among the distinct ids (a hash lookup each, where an
    # isin on text builds a Python list of the ids: seconds at a million rows).
    event_code, event_ids = pd.factorize(merged["event_id"], use_na_sentinel=False)
    event_ids = pd.Index(event_ids)
    at = event_ids.get_indexer(events["event_id"])

    def held(marked: np.ndarray) -> np.ndarray:
        """Whether each id of ``at`` (-1: not an id of ``merged``) is among the ``marked``."""
        return np.append(marked, False)[at]

    for s in SOURCES:
        marked = np.zeros(len(event_ids), dtype=bool)
        marked[event_code[merged["source"].eq(s).fillna(False).to_numpy(dtype=bool)]] = True
        events[f"in_{s}"] = held(marked)
    # Offences: PNC records every charge of an arrest, so its offences are used when it has the
    # arrest; then ROCU's, then PND's (A17).
    offence_rank = {"pnc": 0, "rocu": 1, "pnd": 2}
    merged["offence_rank"] = merged["source"].map(offence_rank)
    # ... unless a ROCU return holds the arrest with offences the index can score, and PNC's
    # principal offence is another, or the index cannot score one of PNC's: then the force's
    # own record is used, as it is for dates (A6, A51).
    merged["offences_from_rocu"] = False
    if weights is not None:
        scorable = _scorable(offences, weights).groupby(offences["rec"]).all()
        ok = merged["rec"].map(scorable).fillna(False).astype(bool)
        principal = merged.get("principal", pd.Series("", index=merged.index)).astype("string").fillna("").astype(str)
        rocu = principal.loc[merged["source"].eq("rocu") & ok].groupby(merged["event_id"]).first()
        differs = principal != merged["event_id"].map(rocu).astype("string").fillna("").astype(str)
        with_rocu = np.zeros(len(event_ids), dtype=bool)
        found = event_ids.get_indexer(rocu.index)
        with_rocu[found[found >= 0]] = True
        merged["offences_from_rocu"] = (merged["source"].eq("pnc") & with_rocu[event_code] & (~ok | differs))
        merged["pnc_unscorable"] = merged["offences_from_rocu"] & ~ok
        merged.loc[merged["offences_from_rocu"], "offence_rank"] = len(offence_rank)
    chosen = merged.sort_values(["event_id", "offence_rank", "rec"]).drop_duplicates("event_id")
    event_offences = offences.merge(chosen[["rec", "event_id"]], on="rec")[
        ["event_id", "cjs_code", "ho_class", "offence_title", "source"]]
    return events.sort_values(["subject_id", "event_date", "event_id"]).reset_index(drop=True), \
        event_offences.sort_values(["event_id", "cjs_code"]).reset_index(drop=True), merged


def _scorable(offences: pd.DataFrame, weights: pd.DataFrame) -> pd.Series:
    """Whether the harm index can score each offence row: its CJS code, else its Home Office
    class, is in the index (as the harm stage matches them, A14)."""
    codes = set(weights["cjs_code"].dropna().astype(str).str.strip().str.upper())
    classes = set(weights["ho_class"].dropna().astype(str).str.strip())
    code = offences["cjs_code"].astype("string").str.strip().str.upper()
    ho_class = offences["ho_class"].astype("string").str.strip()
    return (code.isin(codes) | ho_class.isin(classes)).fillna(False).astype(bool)


def _event_discrepancies(events: pd.DataFrame, merged: pd.DataFrame, offences: pd.DataFrame,
                         pnd: pd.DataFrame, ep: pd.DataFrame) -> pd.DataFrame:
    rows = []
    fmt = _iso
    m = merged.merge(events[["event_id", "event_date", "date_source"]], on="event_id")
    off = m["date"] != m["event_date"]
    rows.append(pd.DataFrame({
        "subject_id": m.loc[off, "subject_id"], "kind": "arrest_date", "field": "arrest_date",
        "source_pair": m.loc[off, "date_source"] + "~" + m.loc[off, "source"],
        "value_a": fmt(m.loc[off, "event_date"]).to_numpy(), "value_b": fmt(m.loc[off, "date"]).to_numpy(),
        "resolution": "used " + m.loc[off, "date_source"], "detail": fmt(m.loc[off, "event_date"]).to_numpy()}))
    for s, other in (("pnc", "pnd"), ("pnd", "pnc")):
        missing = ~events[f"in_{s}"]
        rows.append(pd.DataFrame({
            "subject_id": events.loc[missing, "subject_id"], "kind": f"arrest_not_in_{s}", "field": "arrest",
            "source_pair": "pnc~pnd", "value_a": np.where(events.loc[missing, f"in_{other}"], f"in {other}", ""),
            "value_b": f"not in {s}", "resolution": "kept (union of systems)",
            "detail": fmt(events.loc[missing, "event_date"]).to_numpy()}))
    # Offences taken from ROCU: PNC's principal offence is another, or the index cannot score
    # one of PNC's codes (A51).
    switched = m.loc[m["offences_from_rocu"]] if "offences_from_rocu" in m else m.iloc[:0]
    unscorable = switched["pnc_unscorable"].to_numpy(dtype=bool) if len(switched) else np.zeros(0, dtype=bool)
    rows.append(pd.DataFrame({
        "subject_id": switched["subject_id"],
        "kind": np.where(unscorable, "offence_code_unscorable", "principal_offence"), "field": "offence",
        "source_pair": "pnc~rocu",
        "value_a": np.where(unscorable, "PNC code not in the harm index",
                            "PNC principal " + switched.get("principal", pd.Series("", index=switched.index))
                            .fillna("").astype(str)),
        "value_b": "ROCU offence in the index", "resolution": "used ROCU offences",
        "detail": fmt(switched["event_date"]).to_numpy()}))
    # Wording: a PND description that is none of the PNC titles of the same arrest.
    both = events.loc[events["in_pnc"] & events["in_pnd"], ["event_id", "subject_id", "event_date"]]
    keyed = offences.merge(merged[["rec", "event_id"]], on="rec").assign(key=lambda d: _offence_key(d["offence_title"]))
    pnc_titles = keyed.loc[keyed["source"] == "pnc", ["event_id", "key"]].drop_duplicates()
    pnd_text = keyed.loc[keyed["source"] == "pnd", ["event_id", "key"]].drop_duplicates("event_id")
    same = pnd_text.merge(pnc_titles, on=["event_id", "key"])["event_id"]
    w = both.loc[~both["event_id"].isin(same)]
    rows.append(pd.DataFrame({
        "subject_id": w["subject_id"], "kind": "offence_wording", "field": "offence", "source_pair": "pnc~pnd",
        "value_a": "PNC title", "value_b": "PND wording differs", "resolution": "used PNC offences",
        "detail": fmt(w["event_date"]).to_numpy()}))
    # Names: PND person fields against the order list, for records linked to a person.
    # A person holding orders of two types has two episodes: the first one's name (issue 16).
    name = pnd.assign(order_key=pnd["subject_id"].map(ep.drop_duplicates("subject_id").set_index("subject_id")["name_key"]))
    same = name["name_key"] == name["order_key"]
    swapped = ~same & (name["name_key"].str.split().map(sorted, na_action="ignore") ==
                       name["order_key"].str.split().map(sorted, na_action="ignore"))
    spelled = ~same & ~swapped
    for mask, kind, text in ((swapped, "name_order", "forenames and surname swapped"),
                             (spelled, "name_spelling", "spelling differs")):
        rows.append(pd.DataFrame({
            "subject_id": name.loc[mask, "subject_id"], "kind": kind, "field": "name", "source_pair": "orders~pnd",
            "value_a": "order list name", "value_b": text, "resolution": "linked on " + np.where(
                name.loc[mask, "pnc_id"].notna(), "PNC ID", "name and DOB"), "detail": text}))
    no_id = pnd["pnc_id"].isna()
    rows.append(pd.DataFrame({
        "subject_id": pnd.loc[no_id, "subject_id"], "kind": "missing_pnc_id", "field": "pnc_id",
        "source_pair": "orders~pnd", "value_a": "", "value_b": "no PNC ID on PND record",
        "resolution": "linked on name and DOB", "detail": fmt(pnd.loc[no_id, "event_date"]).to_numpy()}))
    return pd.concat(rows, ignore_index=True).reindex(columns=DISCREPANCY_COLUMNS)


# --------------------------------------------------------------------------- the stage


def reconcile(ing: Ingested, cfg: dict, weights: pd.DataFrame, decisions: pd.DataFrame | None = None) -> Reconciled:
    """Link people, build episodes and arrest events from the ingested tables.  ``weights``
    is the harm index, used here only to code offence wording and to tell offences apart
    (A8, A17); scoring happens in the harm stage."""
    key = pseudonym_key(cfg["source"], marked=ing.synthetic_mark)
    rc = cfg["reconcile"]
    precedence = list(rc["source_precedence"])
    links, review = link_people(ing, rc, decisions)
    ep, orders, rocu, ep_disc = build_episodes(ing, cfg, key, links)
    pool, pool_people, pool_outcomes, pool_quarantine = build_comparison(ing, ep, links, key)
    records, offences, quarantine, pnd = _records(ing, ep, orders, links, weights, cfg, pool_people)
    events, event_offences, merged = build_events(records, offences, precedence, int(rc["match_window_days"]), weights,
                                                  pool_subjects=set(pool["subject_id"]))
    events["group"] = np.where(events["subject_id"].isin(pool["subject_id"]), "comparison", "order")
    # Disagreements between systems are logged for the order subjects, whose records the study
    # reports on (A106); the comparison pool's arrests are merged by the same rules.
    ev_disc = _event_discrepancies(events.loc[events["group"] == "order"], merged, offences,
                                   pnd.loc[pnd["subject_id"].isin(ep["subject_id"])], ep)
    person_subject = pd.concat([ep.dropna(subset=["person"]).drop_duplicates("person").set_index("person")["subject_id"]
                                .astype("string"),
                                pool_people])
    custody, custody_outcomes, custody_quarantine = custody_periods(ing, person_subject, links)
    quarantine |= {"comparison": pool_quarantine, "custody": custody_quarantine}
    discrepancies = (pd.concat([ep_disc, ev_disc], ignore_index=True)
                     .sort_values(["kind", "subject_id", "detail", "source_pair"], kind="stable").reset_index(drop=True))
    outcomes = _outcomes(ing, orders, rocu, merged, offences,
                         {k: v for k, v in quarantine.items() if k not in OPTIONAL_PERSON_SOURCES}, precedence, links,
                         extra=[pool_outcomes, custody_outcomes])
    episodes = ep[["subject_id", "order_type", "identity", "start_date", "start_source", "start_usable",
                   "start_earliest", "start_latest", "length_months", "length_source", "n_orders", "has_interim",
                   "status", "status_date", "rocu_return", "region", "owning_force", "applicant", "n_conditions",
                   "age_at_start"]]
    episodes = episodes.sort_values(["subject_id", "order_type"]).reset_index(drop=True)
    return Reconciled(episodes=episodes, events=events, offences=event_offences, discrepancies=discrepancies,
                      outcomes=outcomes, links=links, quarantine=quarantine, review=review,
                      linkage_quality=linkage_quality(record_bases(ing, links)), linkage_scores=linkage_scores(links, rc),
                      comparison_subjects=pool, custody=custody)


def run(inputs: dict, output: dict, config: dict, log: str | None = None) -> Reconciled:
    """The reconcile stage: the ingest stage's tables in; episodes, events, discrepancies,
    row outcomes and the linkage quarantine out."""
    import time

    from . import ingest, tables
    from .stages import say

    t0 = time.perf_counter()
    ing = ingest.load(inputs)
    decisions = read_decisions(inputs.get("linkage_decisions"))  # optional: an input only when it exists
    result = reconcile(ing, config, tables.read("harm_weights", inputs["harm_weights"]), decisions)
    ingest.write_quarantine(result.quarantine, output["quarantine_linkage"])
    tables.write(result.episodes, "order_episodes", output["order_episodes"])
    tables.write(result.discrepancies, "discrepancies", output["discrepancies"])
    tables.write(result.events, "linked_events", output["linked_events"])
    tables.write(result.offences, "event_offences", output["event_offences"])
    tables.write(result.outcomes, "row_outcomes", output["row_outcomes"])
    tables.write(result.links, "links", output["links"])
    tables.write(result.review, "linkage_review", output["linkage_review"])
    tables.write(result.linkage_quality, "linkage_quality", output["linkage_quality"])
    tables.write(result.linkage_scores, "linkage_scores", output["linkage_scores"])
    tables.write(result.comparison_subjects, "comparison_subjects", output["comparison_subjects"])
    tables.write(result.custody, "custody", output["custody"])
    ids = result.episodes["identity"].value_counts().to_dict()
    say(f"{len(result.episodes):,} order episodes ({', '.join(f'{v} by {k}' for k, v in sorted(ids.items()))}); "
        f"{len(result.comparison_subjects):,} comparison people; {len(result.custody):,} custody periods; "
        f"{len(result.events):,} arrest events; {len(result.discrepancies):,} discrepancies logged "
        f"({time.perf_counter() - t0:.1f}s)", log)
    return result


DECISION_COLUMNS = ["rec", "pnc_id", "decision"]


def read_decisions(file: str | None) -> pd.DataFrame | None:
    """An analyst's clerical decisions (``rec``, ``pnc_id``, ``decision`` accept|reject), or
    None when there is no file.  A structural problem stops the run with one line."""
    from pathlib import Path

    from .errors import StrostudyError

    if not file or not Path(file).exists():
        return None
    frame = pd.read_csv(file, dtype=str, keep_default_na=False)
    missing = [c for c in DECISION_COLUMNS if c not in frame]
    if missing:
        raise StrostudyError(f"{file}: has no column '{missing[0]}'. Expected the columns {', '.join(DECISION_COLUMNS)}")
    frame = frame[DECISION_COLUMNS].apply(lambda c: c.str.strip())
    bad = ~frame["decision"].str.lower().isin(["accept", "reject", ""])
    if bad.any():
        raise StrostudyError(f"{file}: decision in row {int(np.flatnonzero(bad)[0]) + 2} is not accept or reject")
    return frame.loc[frame["decision"] != ""]


def _outcomes(ing, orders, rocu, merged, offences, quarantine, precedence, links=None, extra=()) -> pd.DataFrame:
    """The fate of every row read: ingest's outcomes, then those of the rows it kept.  A row
    kept with its date of birth blanked says so in its reason (``event_after_dob_blanked``,
    A89).  A row whose person link an analyst decided (``links``' ``link_basis``
    clerical_accept or clerical_reject) says so too (``event_after_clerical_accept``), so the
    audit ledger counts the decisions applied (A10e); a rejected PND row is quarantined as
    ``person_rejected_in_review``."""
    parts = [ing.outcome_table()]
    # Orders: each episode keeps its first row; its other rows (interim + full) are merged.
    first = orders.sort_values(["group", "date_made", "order_ref"]).duplicated("group")
    parts.append(pd.DataFrame({"source": "orders", "file": orders["file"], "source_row": orders["source_row"],
                               "outcome": np.where(first, "merged", "kept"),
                               "reason": np.where(first, "same_episode_as_another_order", "episode")}))
    unmatched_rocu = rocu["group"].isna()
    parts.append(pd.DataFrame({"source": "rocu_orders", "file": rocu["file"], "source_row": rocu["source_row"],
                               "outcome": np.where(unmatched_rocu, "quarantined", "kept"),
                               "reason": np.where(unmatched_rocu, "order_not_on_order_list", "episode")}))
    # Arrest records: the top-precedence record of each event is kept, the rest merged (A8).
    rank = {s: i for i, s in enumerate(precedence)}
    m = merged.assign(rank=merged["source"].map(rank)).sort_values(["event_id", "rank", "rec"])
    top = ~m.duplicated("event_id")
    fate = pd.DataFrame({"rec": m["rec"], "event_id": m["event_id"], "outcome": np.where(top, "kept", "merged"),
                         "reason": np.where(top, "event", "same_arrest_as_" + m.groupby("event_id")["source"]
                                            .transform("first"))})
    rows = offences.merge(fate, on="rec")
    src_name = {"pnc": "pnc_arrests", "pnd": "pnd_records", "rocu": "rocu_offending"}
    files = {"pnc": ing.tables["pnc_arrests"]["file"].iloc[0] if len(ing.tables["pnc_arrests"]) else "",
             "pnd": ing.tables["pnd_records"]["file"].iloc[0] if len(ing.tables["pnd_records"]) else ""}
    rocu_files = ing.tables["rocu_offending"][["region", "source_row", "file"]].rename(columns={"file": "rocu_file"})
    rows = rows.merge(rocu_files.assign(source="rocu"), on=["source", "region", "source_row"], how="left") \
        if "region" in rows else rows.assign(rocu_file="")
    parts.append(pd.DataFrame({
        "source": rows["source"].map(src_name), "file": rows["rocu_file"].fillna(rows["source"].map(files)),
        "source_row": rows["source_row"], "outcome": rows["outcome"], "reason": rows["reason"],
        "event_id": rows["event_id"]}))
    for source, q in quarantine.items():
        parts.append(pd.DataFrame({"source": source, "file": q["file"].astype(str), "source_row": q["source_row"],
                                   "outcome": "quarantined", "reason": q["check"]}))
    parts.extend(extra)  # the comparison pool's and the custody periods' rows
    out = pd.concat(parts, ignore_index=True)
    out["source_row"] = out["source_row"].astype(int)
    blanked = blanked_dobs(ing)
    if len(blanked):
        # A row kept with its date of birth blanked (A89) says so, whatever became of it.
        where = out["source"] + ":" + out["file"].astype(str) + ":" + out["source_row"].astype(str)
        hit = where.isin(blanked["source"] + ":" + blanked["file"] + ":" + blanked["source_row"].astype(str))
        out.loc[hit, "reason"] = out.loc[hit, "reason"].astype(str) + "_after_dob_blanked"
    if links is not None and len(links):
        decided = links.loc[links["link_basis"].isin(["clerical_accept", "clerical_reject"])].set_index("rec")
        basis = (out["source"] + ":" + out["source_row"].astype(str)).map(decided["link_basis"])
        hit = basis.notna() & ~out["reason"].astype(str).str.startswith("person_rejected_in_review")
        if hit.any():
            out.loc[hit, "reason"] = out.loc[hit, "reason"].astype(str) + "_after_" + basis[hit].astype(str)
    out["event_id"] = out.get("event_id", pd.Series(pd.NA, index=out.index)).astype("string")
    return out
