"""Keying errors planted in PND and ROCU names and DOBs (issue 14, docs/simulator.md "Identity
errors"): each kind by hand, drawn at its documented rate from a stream of its own (every other
draw unchanged), listed in the truth, and every record carrying one still linked to its own
person."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from strostudy.simulate import simulate, write_extracts
from strostudy.simulate.extracts import identity_errors as ie


def _dates(*text):
    return pd.Series(pd.to_datetime(list(text)))


@pytest.mark.parametrize(("kind", "before", "after"), [
    ("dob_day_month_swapped", "1990-03-04", "1990-04-03"),
    ("dob_year_off_by_one", "1990-03-04", {"1989-03-04", "1991-03-04"}),
    ("dob_year_off_by_ten", "1990-03-04", {"1980-03-04", "2000-03-04"}),
    ("dob_digits_transposed", "1995-04-20", {"1959-04-20", "1995-04-02"}),  # month 40 is no date
])
def test_dob_errors_by_hand(kind, before, after):
    out, planted, _ = ie.dob_errors(np.random.default_rng(3), _dates(before), np.array([kind], dtype=object))
    got = out.dt.strftime("%Y-%m-%d").iloc[0]
    assert planted[0] == kind
    assert got in after if isinstance(after, set) else got == after


def test_a_dob_error_never_makes_an_impossible_or_too_late_date():
    # 29 February has no year either side; 31/12 cannot swap; both stay as they were.
    dob = _dates("1988-02-29", "1975-12-31", "1975-12-31")
    kinds = np.array(["dob_year_off_by_one", "dob_day_month_swapped", "dob_year_off_by_ten"], dtype=object)
    latest = _dates("2030-01-01", "2030-01-01", "1976-01-01")  # the third may not move later than 1976
    out, planted, _ = ie.dob_errors(np.random.default_rng(0), dob, kinds, latest)
    assert list(planted[:2]) == ["", ""] and out.iloc[:2].equals(dob.iloc[:2])
    assert out.iloc[2] == pd.Timestamp("1965-12-31") and planted[2] == "dob_year_off_by_ten"
    # A digit typo over many draws: always a real date, one digit different.
    n = 5000
    out, planted, _ = ie.dob_errors(np.random.default_rng(1), _dates(*["1987-11-09"] * n),
                                 np.array(["dob_digit_typo"] * n, dtype=object))
    digits = out.dt.strftime("%Y%m%d").str.split("", expand=True).iloc[:, 1:9].to_numpy()
    hit = planted == "dob_digit_typo"
    assert hit.mean() > 0.995  # the rest: eight draws gave no real date (left as they were)
    assert ((digits != np.array(list("19871109"))).sum(axis=1) == np.where(hit, 1, 0)).all()


def test_an_impossible_date_is_a_digit_typo_that_gives_no_date():
    """``dob_impossible_date``: one digit mistyped into a date that does not exist; the
    datetime is missing and the text is returned."""
    n = 2000
    dob = _dates(*["1987-02-28"] * n)
    kinds = np.array(["dob_impossible_date"] * n, dtype=object)
    out, planted, text = ie.dob_errors(np.random.default_rng(4), dob, kinds)
    hit = planted == "dob_impossible_date"
    # About 31% of one-digit typos of 1987-02-28 give no date, so eight draws find one for 95%.
    assert 0.9 < hit.mean() < 0.99 and out[hit].isna().all() and (text[~hit] == "").all()
    assert out[~hit].eq(pd.Timestamp("1987-02-28")).all()  # the rest keep their DOB
    typed = pd.Series(text[hit])
    assert pd.to_datetime(typed, format="%Y-%m-%d", errors="coerce").isna().all()  # no date
    assert typed.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    differ = (typed.str.replace("-", "").str.split("", expand=True).iloc[:, 1:9].to_numpy()
              != np.array(list("19870228"))).sum(axis=1)
    assert (differ == 1).all()  # one digit mistyped
    # By hand: the day's first digit 2 typed 3 gives 1987-02-38; the month's 0 typed 1, 1987-12-28, is a date.
    assert "1987-02-38" in set(typed) and "1987-12-28" not in set(typed)


def test_name_errors_by_hand():
    rng = np.random.default_rng(5)
    names = pd.Series(["James", "Łukasz", "O'Brien"])
    for change, length in ((ie.letter_typo, 0), (ie.letter_dropped, -1), (ie.letter_doubled, 1)):
        got = pd.Series(change(rng, names))
        assert (got.str.len() - names.str.len()).eq(length).all(), change.__name__
        assert (got.str[0] == names.str[0]).all() and (got != names).all()
    fn, sn, kinds, field = ie.name_errors(
        rng, pd.Series(["James", "Imran", "Grace", "Sophie"]), pd.Series(["Smith", "Khan", "Ali", "Campbell-Reid"]),
        np.array(["name_nickname", "name_forename_initial", "name_forename_missing", "name_nickname"], dtype=object))
    assert list(fn[:3]) == ["Jim", "I", ""] and list(field[:3]) == ["forenames"] * 3
    assert fn[3] == "Sophia" and sn[3] == "Campbell-Reid"  # one error a record: the nickname, not the surname


def test_rates_are_as_documented():
    """The share of each kind over 200,000 records is its rate (within four standard errors)."""
    n = 200_000
    rng = np.random.default_rng(7)
    for rates in (ie.DOB_ERRORS, ie.NAME_ERRORS):
        drawn = pd.Series(ie._pick(rates, rng.random(n))).value_counts()
        for kind, rate in rates.items():
            assert abs(drawn.get(kind, 0) / n - rate) < 4 * np.sqrt(rate * (1 - rate) / n), kind
    assert 0.02 < sum(ie.DOB_ERRORS.values()) <= 0.03  # the published order of DOB errors


@pytest.fixture(scope="module")
def default():
    return simulate()


def test_other_draws_are_unchanged():
    """The errors come from a stream of their own: without it every extract is the same, but
    for the names and DOBs the errors changed (no comparison pool here: its records come from
    streams of their own, tests/test_simulate_comparison.py)."""
    from strostudy.config import defaults

    default = simulate(comparison_ratio=0)
    from strostudy.simulate import extracts, offence_catalogue
    from strostudy.simulate.arrests import arrests_and_offences
    from strostudy.simulate.people import cohort

    study = defaults()["study"]
    arrest_rng, rng = (np.random.default_rng(s) for s in np.random.SeedSequence(20260625).spawn(2))
    catalogue = offence_catalogue()
    episodes = cohort(np.random.default_rng(20260625), 114, study)
    arrests, offences, _ = arrests_and_offences(arrest_rng, episodes, catalogue, study)
    clean = extracts.make_extracts(rng, episodes, arrests, offences, catalogue, study)
    assert default.orders.equals(clean.orders) and default.pnc_arrests.equals(clean.pnc_arrests)
    person = ["forenames", "surname", "date_of_birth"]
    rest = [c for c in clean.pnd_records if c not in person]
    assert default.pnd_records[rest].equals(clean.pnd_records[rest])
    changed = (default.pnd_records[person].fillna("") != clean.pnd_records[person].fillna("")).any(axis=1)
    errors = default.truth["identity_errors"]
    assert set(default.pnd_records.loc[changed, "pnd_ref"]) == set(errors.loc[errors["source"] == "pnd_records",
                                                                              "record"])
    for key in ("subject_windows", "cohort_flow", "discrepancies", "events"):
        assert default.truth[key].to_csv() == clean.truth[key].to_csv(), key
    assert len(clean.truth["identity_errors"]) == 0


def test_every_error_is_in_the_truth(default):
    errors = default.truth["identity_errors"]
    assert list(errors.columns) == ["subject_id", "source", "record", "field", "error", "before", "after"]
    assert len(errors) == 61 and set(errors["source"]) == {"pnd_records", "rocu_orders"}
    assert set(errors["error"]) <= set(ie.DOB_ERRORS) | set(ie.NAME_ERRORS) | {"name_double_barrel_part"}
    assert (errors["before"] != errors["after"]).all()
    pnd = default.pnd_records.set_index("pnd_ref")
    mine = errors.loc[errors["source"] == "pnd_records"]
    recorded = [pnd.at[r, {"forenames": "forenames", "surname": "surname"}.get(f, "date_of_birth")]
                for r, f in zip(mine["record"], mine["field"])]
    assert [str(v) if v == v else "" for v in recorded] == mine["after"].tolist()


def _recovered(seed: int, tmp_path, scale: float = 1.0) -> pd.DataFrame:
    """Every PND record carrying a planted error and no PNC ID: its link status, and whether
    it is linked to its own person (subject ids are the HMAC of the linked PNC ID)."""
    from strostudy.config import defaults
    from strostudy.ids import pseudonymise
    from strostudy.keys import pseudonym_key
    from strostudy.stages import run_all

    x = simulate(seed=seed)
    write_extracts(x, tmp_path / "data" / "raw", tmp_path / "truth")
    run_all(defaults(), tmp_path, until="reconcile")
    clean = pd.read_parquet(tmp_path / "data/interim/clean/pnd_records.parquet").set_index("pnd_ref")
    links = pd.read_parquet(tmp_path / "data/interim/links.parquet").set_index("rec")
    errors = x.truth["identity_errors"]
    errors = errors.loc[errors["source"] == "pnd_records"].drop_duplicates("record")
    rec = clean.reindex(errors["record"])
    assert rec["source_row"].notna().all()  # no error quarantined its record
    no_id = rec["pnc_id"].isna().to_numpy()
    link = links.reindex("pnd_records:" + rec["source_row"].astype(int).astype(str))
    person = pseudonymise(link["pnc_id"].reset_index(drop=True), pseudonym_key("synthetic", marked=True))
    return pd.DataFrame({"error": errors["error"].to_numpy(), "subject_id": errors["subject_id"].to_numpy(),
                         "status": link["link_status"].to_numpy(),
                         "own_person": person.astype(object).fillna("").to_numpy() == errors["subject_id"].to_numpy()}
                        ).loc[no_id]


@pytest.mark.parametrize(("seed", "scale"), [(20260625, 1), (1, 1), (2, 10)])
def test_every_record_with_an_error_links_to_its_own_person(seed, scale, tmp_path, monkeypatch):
    """Records of people with an order link to them; the unresolved person with a PND twin (a
    subject id starting with U) stays ambiguous, as planted.  At ten times the rates too."""
    monkeypatch.setattr(ie, "DOB_ERRORS", {k: v * scale for k, v in ie.DOB_ERRORS.items()})
    monkeypatch.setattr(ie, "NAME_ERRORS", {k: v * scale for k, v in ie.NAME_ERRORS.items()})
    got = _recovered(seed, tmp_path, scale)
    ordered = got.loc[~got["subject_id"].str.startswith("U")]
    assert len(ordered) >= (100 if scale > 1 else 10)
    assert ordered["own_person"].all() and ordered["status"].eq("linked").all(), ordered.loc[~ordered["own_person"]]
    if scale > 1:
        assert set(ordered["error"]) >= set(ie.DOB_ERRORS) | set(ie.NAME_ERRORS) - {"dob_day_month_swapped"}
    twins = got.loc[got["subject_id"].str.startswith("U"), "status"]
    # At ten times the rates a twin's record can carry the same mistyped DOB as the person's own
    # records with their PNC ID, and then rightly links to that ID (docs/simulator.md).
    assert twins.eq("ambiguous").all() if scale == 1 else twins.isin(["ambiguous", "linked"]).all()
