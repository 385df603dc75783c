"""The comparison pool and the custody extract (issue 13, docs/simulator.md "The comparison pool
and custody"): the raw files' layout and planted mess, the pool's independence from every
draw of the order people, and what each scenario does to the pool."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from strostudy.errors import StrostudyError
from strostudy.simulate import simulate, write_extracts
from strostudy.simulate._independent import subject_id
from strostudy.simulate.arrests import SPELL_DELAY_DAYS
from strostudy.simulate.extracts.comparison import (
    BLANK_PNC_SHARE,
    COMPARISON_COLUMNS,
    CUSTODY_COLUMNS,
    LISTED_TWICE_SHARE,
    RELISTED_DAYS,
    REMAND_SHARE,
    SHORT_PNC_SHARE,
)
from strostudy.simulate.people import BASIS_SHARES
from strostudy.simulate.scenarios import CUSTODY_SHARE, SHOCK_MONTHS, SHOCK_MULTIPLIER

UK_DATE = r"^\d{2}/\d{2}/\d{4}$"
ORDER_TRUTH = ["subject_windows", "cohort_flow", "discrepancies", "episodes", "events", "effects", "identity_errors"]


def _read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _canonical(pnc: pd.Series) -> pd.Series:
    """Long-form PNC IDs from the long or the short form (``YY/N…C``), the short form's century
    taken from the two-digit year as the simulator draws years (1998-2019)."""
    short = pnc.str.match(r"^\d{2}/")
    yy = pnc.str.slice(0, 2)
    century = np.where(yy >= "98", "19", "20")
    serial = pnc.str.slice(3, -1).str.zfill(7)
    return pnc.where(~short, pd.Series(century, index=pnc.index) + yy + "/" + serial + pnc.str[-1])


@pytest.fixture(scope="module")
def default_pool(default_dirs):
    """The default extracts (``published``, comparison ratio 3) as written."""
    return default_dirs


@pytest.fixture(scope="module")
def no_pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("no_pool")
    extracts = simulate(comparison_ratio=0)
    write_extracts(extracts, root / "raw", root / "truth")
    return root, extracts


@pytest.fixture(scope="module")
def large():
    """A larger cohort, for the planted shares (6,000 pool people)."""
    return simulate(seed=1, n_orders=2000, scenario="null")


@pytest.fixture(scope="module")
def scenario_runs():
    """Truth of ``null``, ``rtm``, ``effect``, ``calendar_shock`` and ``incapacitation`` for
    seeds 1-8 (the default size)."""
    return {sc: {seed: simulate(seed=seed, scenario=sc) for seed in range(1, 9)}
            for sc in ("null", "rtm", "effect", "calendar_shock", "incapacitation")}


def _before_after(events: pd.DataFrame) -> tuple[int, int]:
    """Arrests in months -12..-1 and 0..11 of the clock."""
    month = events["month"]
    return int(month.between(-12, -1).sum()), int(month.between(0, 11).sum())


def _pooled(runs, table: str, full: bool = True) -> float:
    """Pooled (months 0..11) / (months -12..-1) ratio of a truth events table over seeds; for
    the pool, of people with full windows only (with ``full``)."""
    before = after = 0
    for extracts in runs.values():
        ev = extracts.truth[table]
        if table == "comparison_events" and full:
            people = extracts.truth["comparison"]
            ev = ev.loc[ev["subject_id"].isin(people.loc[people["full_windows"], "subject_id"])]
        b, a = _before_after(ev)
        before, after = before + b, after + a
    return after / before


# --------------------------------------------------------------------------- the files


def test_the_comparison_list_and_its_truth(default_pool):
    raw = _read(default_pool / "raw" / "comparison.csv")
    truth = pd.read_csv(default_pool / "truth" / "comparison.csv")
    assert list(raw.columns) == COMPARISON_COLUMNS
    assert list(truth.columns) == ["subject_id", "comparison_ref", "index_date", "basis", "full_windows",
                                   "listed_twice"]
    assert len(truth) == 342 and truth["subject_id"].is_unique  # round(3.0 * 114)
    assert len(raw) == 342 + truth["listed_twice"].sum() and truth["listed_twice"].sum() >= 1
    assert raw["comparison_ref"].is_unique
    assert raw["comparison_ref"].str.match(r"^CMP/[A-Z]{1,3}/20\d{2}/\d{5}$").all()
    # The ref's year is its index date's year.
    assert (raw["comparison_ref"].str.split("/").str[2] == raw["index_date"].str[-4:]).all()
    assert raw["index_date"].str.match(UK_DATE).all() and raw["date_of_birth"].str.match(UK_DATE).all()
    assert set(raw["basis"]) == set(BASIS_SHARES)
    assert raw["pnc_id"].str.match(r"^(\d{4}/\d{7}|\d{2}/\d{1,7})[A-Z]$|^$").all()
    assert (raw["pnc_id"] == "").sum() >= 3 and raw["pnc_id"].str.match(r"^\d{2}/").sum() > 50
    assert set(truth["comparison_ref"]) <= set(raw["comparison_ref"])
    # Index dates drawn as order start dates are: a similar share with full windows (49 of 114).
    assert 0.33 < truth["full_windows"].mean() < 0.53
    custody = _read(default_pool / "raw" / "custody.csv")
    assert list(custody.columns) == CUSTODY_COLUMNS and custody.empty  # no spells under published


def test_the_shares_planted_in_the_list(large):
    raw, truth = large.comparison, large.truth["comparison"]
    assert len(truth) == 6000
    assert (raw["pnc_id"] == "").mean() == pytest.approx(BLANK_PNC_SHARE, abs=0.01)
    assert raw["pnc_id"].str.match(r"^\d{2}/").mean() == pytest.approx(SHORT_PNC_SHARE * (1 - BLANK_PNC_SHARE),
                                                                       abs=0.02)
    assert truth["listed_twice"].mean() == pytest.approx(LISTED_TWICE_SHARE, abs=0.006)
    shares = truth["basis"].value_counts(normalize=True)
    for basis, share in BASIS_SHARES.items():
        assert shares[basis] == pytest.approx(share, abs=0.02)
    episodes = large.truth["episodes"]
    assert truth["full_windows"].mean() == pytest.approx(episodes["eligible"].mean(), abs=0.03)


def test_a_second_listing_is_later_and_the_truth_keeps_the_first(large):
    raw, truth = large.comparison, large.truth["comparison"]
    person = raw.assign(key=raw["surname"] + "|" + raw["forenames"] + "|" + raw["date_of_birth"],
                        index=pd.to_datetime(raw["index_date"], format="%d/%m/%Y"))
    twice = person.loc[person["key"].duplicated(keep=False)]
    assert twice["key"].nunique() == truth["listed_twice"].sum()
    spread = twice.groupby("key")["index"].agg(["min", "max", "size"])
    assert (spread["size"] == 2).all()
    assert ((spread["max"] - spread["min"]).dt.days.between(*RELISTED_DAYS)).all()
    first = twice.sort_values("index").drop_duplicates("key")
    listed = truth.set_index("comparison_ref")
    assert (pd.to_datetime(listed.loc[first["comparison_ref"], "index_date"]).to_numpy()
            == first["index"].to_numpy()).all()
    assert listed.loc[first["comparison_ref"], "listed_twice"].all()


def test_pnc_ids_are_unique_across_orders_and_pool():
    big = simulate(seed=2, n_orders=3000)  # 3,000 orders and 9,000 pool people: names run out
    orders = _canonical(big.orders["pnc_id"].loc[lambda s: s != ""])
    pool = _canonical(big.comparison["pnc_id"].loc[lambda s: s != ""])
    assert not set(orders) & set(pool)
    # Subject ids are keyed on the PNC ID: one per person, none shared between the groups.
    episodes, people = big.truth["episodes"], big.truth["comparison"]
    assert people["subject_id"].is_unique and not set(people["subject_id"]) & set(episodes["subject_id"])
    # No PNC ID on an order person's PNC or PND record (the PND twins' second IDs included) is
    # a pool person's.
    alone = simulate(seed=2, n_orders=3000, comparison_ratio=0)
    theirs = set(alone.pnd_records["pnc_id"]) | set(alone.pnc_arrests["pnc_id"])
    assert len(theirs) > 2000 and not theirs & set(pool)
    twins = alone.pnd_records.loc[alone.pnd_records["pnd_ref"].str.match(r"^PND[89]\d{5}$"), "pnc_id"]
    assert len(twins) >= 40
    # PNC rows carry the pool's PNC IDs in the long form, as they do the order people's.
    assert len(set(pool) & set(big.pnc_arrests["pnc_id"])) > 0.8 * len(set(pool))


def test_the_pool_is_in_pnc_and_pnd_but_never_in_rocu(default_pool, no_pool):
    _, without = no_pool
    first_arrest = len(without.truth["events"])
    first_ref = int(without.pnd_records["pnd_ref"].str.slice(3).astype(int).max()) + 1
    pnc = _read(default_pool / "raw" / "pnc_arrests.csv")
    pnd = _read(default_pool / "raw" / "pnd_records.csv")
    events = pd.read_csv(default_pool / "truth" / "comparison_events.csv")
    assert list(events.columns) == list(pd.read_csv(default_pool / "truth" / "events.csv", nrows=0).columns)
    assert not events["in_rocu"].any() and not events["designed"].any()
    # Every pool arrest PNC holds is one arrest summons number past the order people's.
    pool_asn = pnc.loc[pnc["asn"].str.slice(3).astype(int) >= first_arrest, "asn"]
    assert pool_asn.nunique() == events["in_pnc"].sum() > 1000
    pool_pnd = pnd.loc[pnd["pnd_ref"].str.slice(3).astype(int) >= first_ref]
    assert len(pool_pnd) == events["in_pnd"].sum()
    # With the order people's mess: PND records without a PNC ID, dates that lag, junk PNC rows.
    assert 0.25 < (pool_pnd["pnc_id"] == "").mean() < 0.45
    assert (events["pnd_lag_days"].dropna() != 0).mean() > 0.2
    assert events["planted_problem"].notna().sum() >= 1
    notes = pd.read_csv(default_pool / "truth" / "comparison_discrepancies.csv")
    assert {"arrest_date", "name_spelling", "comparison_pnc_blank", "comparison_listed_twice"} <= set(notes["kind"])
    assert notes["kind"].str.startswith("id_error_").sum() > 10
    assert set(notes["subject_id"]) <= set(pd.read_csv(default_pool / "truth" / "comparison.csv")["subject_id"])
    # Never in a ROCU return.
    pool_ids = set(_canonical(_read(default_pool / "raw" / "comparison.csv")["pnc_id"])) - {""}
    for book in sorted((default_pool / "raw" / "rocu").glob("*.xlsx")):
        sheets = pd.read_excel(book, sheet_name=None, dtype=str, header=None)
        text = pd.concat(sheets.values()).astype(str).to_numpy().ravel()
        assert not pool_ids & set(text), book.name
        assert not any(str(v).startswith("CMP/") for v in text), book.name


def test_the_order_files_do_not_change_with_the_pool(default_pool, no_pool):
    root, without = no_pool
    for name in ("orders.csv", *(f"rocu/{p.name}" for p in (root / "raw" / "rocu").glob("*.xlsx"))):
        assert (root / "raw" / name).read_bytes() == (default_pool / "raw" / name).read_bytes(), name
    for name in ORDER_TRUTH:
        assert ((root / "truth" / f"{name}.csv").read_bytes()
                == (default_pool / "truth" / f"{name}.csv").read_bytes()), name
    # PNC and PND: the order people's rows, in the same order, with the pool's added among them.
    first_arrest = len(without.truth["events"])
    first_ref = int(without.pnd_records["pnd_ref"].str.slice(3).astype(int).max()) + 1
    for name, key, first in (("pnc_arrests.csv", "asn", first_arrest), ("pnd_records.csv", "pnd_ref", first_ref)):
        alone, mixed = _read(root / "raw" / name), _read(default_pool / "raw" / name)
        theirs = mixed.loc[mixed[key].str.slice(3).astype(int) < first].reset_index(drop=True)
        pd.testing.assert_frame_equal(theirs, alone)
        assert len(mixed) > 3 * len(alone)
    # No pool: the comparison files are header-only.
    assert (root / "raw" / "comparison.csv").read_text() == ",".join(COMPARISON_COLUMNS) + "\n"
    assert (root / "raw" / "custody.csv").read_text() == ",".join(CUSTODY_COLUMNS) + "\n"
    assert pd.read_csv(root / "truth" / "comparison.csv").empty
    assert pd.read_csv(root / "truth" / "comparison_events.csv").empty


def test_the_manifest_covers_the_new_files(default_pool):
    manifest = json.loads((default_pool / "raw" / "SYNTHETIC-MANIFEST.json").read_text())
    for name in ("comparison.csv", "custody.csv"):
        assert manifest["files"][name] == hashlib.sha256((default_pool / "raw" / name).read_bytes()).hexdigest()


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        write_extracts(simulate(seed=9, scenario="incapacitation", comparison_ratio=2.5),
                       tmp_path / name / "raw", tmp_path / name / "truth")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {"raw/comparison.csv", "raw/custody.csv", "truth/comparison.csv",
            "truth/comparison_events.csv"} <= {f.as_posix() for f in files}
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert len(_read(tmp_path / "a" / "raw" / "custody.csv")) > 20
    other = simulate(seed=10, scenario="incapacitation", comparison_ratio=2.5)
    assert not other.comparison.equals(_read(tmp_path / "a" / "raw" / "comparison.csv"))
    assert len(pd.read_csv(tmp_path / "a" / "truth" / "comparison.csv")) == 285  # round(2.5 * 114)


def test_a_negative_ratio_stops_with_one_line():
    with pytest.raises(StrostudyError, match=r"^comparison_ratio must be a number of 0 or more, not -1$"):
        simulate(comparison_ratio=-1)


# --------------------------------------------------------------------------- the scenarios


def test_custody_spells_of_both_groups(scenario_runs):
    spells, n_pool = [], 0
    for extracts in scenario_runs["incapacitation"].values():
        truth, raw = extracts.truth["custody"], extracts.custody
        assert list(truth.columns) == ["subject_id", "start", "end", "kind", "group"]
        assert set(truth["group"]) == {"order", "comparison"}
        # Every true spell is in the extract, but those of people nothing identifies.
        listed = truth.loc[~truth["subject_id"].isin(_unmatched(extracts))]
        got = pd.DataFrame({"subject_id": subject_id(raw["pnc_id"]).to_numpy(),
                            "start": pd.to_datetime(raw["start_date"], format="%d/%m/%Y").dt.strftime("%Y-%m-%d"),
                            "end": pd.to_datetime(raw["end_date"], format="%d/%m/%Y").dt.strftime("%Y-%m-%d")})
        want = listed.assign(end=listed["end"].where(listed["kind"] != "deported"))[["subject_id", "start", "end"]]
        # (An unresolved person's truth id is keyed on the order, not on the PNC ID the extract has.)
        known = want["subject_id"].str.startswith("S")
        assert (sorted(map(tuple, got.loc[got["subject_id"].isin(want.loc[known, "subject_id"])].fillna("").to_numpy()))
                == sorted(map(tuple, want.loc[known].fillna("").to_numpy())))
        assert (sorted(map(tuple, got[["start", "end"]].fillna("").to_numpy()))
                == sorted(map(tuple, want[["start", "end"]].fillna("").to_numpy())))
        people = extracts.truth["comparison"].set_index("subject_id")
        mine = truth.loc[truth["group"] == "comparison"]
        assert set(mine["subject_id"]) <= set(people.index)
        # A spell starts within SPELL_DELAY_DAYS of the index date, as an order person's of the order.
        delay = (pd.to_datetime(mine["start"]) - pd.to_datetime(people.loc[mine["subject_id"], "index_date"]).to_numpy())
        assert delay.dt.days.between(*SPELL_DELAY_DAYS).all()
        # No pool arrest during a spell.
        ev = extracts.truth["comparison_events"].merge(mine, on="subject_id")
        date = pd.to_datetime(ev["event_date"])
        assert len(ev) and not ((date >= pd.to_datetime(ev["start"])) & (date <= pd.to_datetime(ev["end"]))).any()
        # The raw extract: PNC IDs always there, deportations open-ended, custody as remand or sentence.
        assert (raw["pnc_id"].str.match(r"^\d{4}/\d{7}[A-Z]$")).all()
        assert raw["start_date"].str.match(UK_DATE).all()
        assert ((raw["end_date"] == "") == (raw["kind"] == "deported")).all()
        assert (raw["kind"] == "deported").sum() == (listed["kind"] == "deported").sum()
        spells.append(raw)
        n_pool += len(people)
        assert len(mine) / len(people) == pytest.approx(CUSTODY_SHARE, abs=0.07)
    raw = pd.concat(spells)
    held = raw.loc[raw["kind"] != "deported", "kind"]
    assert (held == "remand").mean() == pytest.approx(REMAND_SHARE, abs=0.07)
    assert set(raw["kind"]) == {"remand", "sentence", "deported"}
    assert sum(len(e.truth["custody"].query("group == 'comparison'")) for e in
               scenario_runs["incapacitation"].values()) / n_pool == pytest.approx(CUSTODY_SHARE, abs=0.025)


def _unmatched(extracts) -> set[str]:
    """The unresolved order people with no PNC ID on the order list (nothing identifies them)."""
    episodes = extracts.truth["episodes"]
    blank = set(extracts.orders.loc[extracts.orders["pnc_id"] == "", "order_ref"])
    return set(episodes.loc[(episodes["exclusion_reason"] == "identity_unresolved")
                            & episodes["order_ref"].isin(blank), "subject_id"])


def test_nothing_in_the_custody_extract_identifies_an_unmatched_person():
    """Seed 2's unmatched unresolved person has a true custody spell; the extract leaves it out
    (its name and PNC ID would link the order-list row the study could not link)."""
    extracts = simulate(seed=2, scenario="incapacitation")
    unmatched = _unmatched(extracts)
    truth = extracts.truth["custody"]
    assert len(unmatched) == 1 and truth["subject_id"].isin(unmatched).sum() == 1
    assert not subject_id(extracts.custody["pnc_id"]).isin(unmatched).any()
    person = extracts.orders.loc[extracts.orders["pnc_id"] == ""].iloc[0]
    assert not ((extracts.custody["surname"].str.upper() == person["surname"])
                & (extracts.custody["forenames"] == person["forenames"])).any()


def test_custody_rows_of_order_people_do_not_depend_on_the_pool():
    with_pool, without = (simulate(seed=4, scenario="incapacitation", comparison_ratio=r) for r in (3.0, 0))
    order_ids = set(with_pool.truth["episodes"]["subject_id"])
    truth = with_pool.truth["custody"]
    pd.testing.assert_frame_equal(truth.loc[truth["subject_id"].isin(order_ids)].reset_index(drop=True),
                                  without.truth["custody"])
    episodes_pnc = set(without.custody["pnc_id"])
    mine = with_pool.custody.loc[with_pool.custody["pnc_id"].isin(episodes_pnc)].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, without.custody.reset_index(drop=True))
    assert len(with_pool.custody) > len(without.custody)


def test_rtm_pool_falls_as_the_order_people_do(scenario_runs):
    """Index dates at each person's own peak: the pool's arrests in months -12..-1 exceed those in
    months 0..11 about as much as the order people's."""
    pool, orders = _pooled(scenario_runs["rtm"], "comparison_events"), _pooled(scenario_runs["rtm"], "events")
    assert pool < 0.8 and orders < 0.8
    assert pool == pytest.approx(orders, abs=0.1)
    assert _pooled(scenario_runs["null"], "comparison_events") == pytest.approx(1.0, abs=0.08)


def test_effect_leaves_the_pool_alone(scenario_runs):
    """The pool is the counterfactual: under ``effect`` its arrests are ``null``'s, arrest for
    arrest, while the order people's fall."""
    for seed in scenario_runs["effect"]:
        effect, null = scenario_runs["effect"][seed].truth, scenario_runs["null"][seed].truth
        pd.testing.assert_frame_equal(effect["comparison_events"], null["comparison_events"])
        pd.testing.assert_frame_equal(effect["comparison"], null["comparison"])
    assert _pooled(scenario_runs["effect"], "comparison_events") == pytest.approx(1.0, abs=0.08)
    ratio = _pooled(scenario_runs["effect"], "events", full=False) / _pooled(scenario_runs["null"], "events", full=False)
    assert ratio == pytest.approx(0.6, abs=0.08)


def test_published_pool_follows_the_person_process():
    """Under ``published`` the pool offends as under ``null``: no design, no effect."""
    published, null = simulate(seed=6).truth, simulate(seed=6, scenario="null").truth
    pd.testing.assert_frame_equal(published["comparison_events"], null["comparison_events"])
    assert not published["comparison_events"]["designed"].any()
    assert not published["comparison_events"]["cjs_code"].isin(["MS15016", "MS15017"]).any()


def test_calendar_shock_dips_the_pool_too(scenario_runs):
    inside, outside = {}, {}
    for sc in ("null", "calendar_shock"):
        dates = pd.to_datetime(pd.concat([e.truth["comparison_events"]["event_date"]
                                          for e in scenario_runs[sc].values()]))
        shock = (dates >= SHOCK_MONTHS[0]) & (dates < SHOCK_MONTHS[1])
        inside[sc], outside[sc] = int(shock.sum()), int((~shock).sum())
    assert outside["calendar_shock"] == outside["null"]
    assert inside["calendar_shock"] / inside["null"] == pytest.approx(SHOCK_MULTIPLIER, abs=0.03)
