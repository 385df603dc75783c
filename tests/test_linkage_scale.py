"""The person linker at scale (issue 15): the records scored a slice of candidates at a time
give exactly what scoring them all at once gives; EM's sample of records has its candidates
made directly, exactly as the subset of every record's candidates; and EM weighing each kind
of pair once gives the pairs' own weights to the bit."""

import copy

import numpy as np
import pandas as pd
import pytest

from strostudy.config import defaults
from strostudy.linkage import (
    _NAME_PARTS,
    Blocking,
    Compared,
    EMSample,
    Lists,
    _block_key,
    _join,
    _Kinds,
    _Segments,
    candidate_pairs,
    em_records,
    fit,
    link,
    random_pair_counts,
    settings_from,
)

S = settings_from(defaults()["reconcile"])

FORENAMES = ["james", "jim", "mohammed", "muhammad", "anna", "lukasz", "grace", "daniel", "danny", "thi lan", "sean",
             "karolina", "tariq", "john", "jon", "sarah", "sara", "kate", "catherine", "oluwaseun"]
SURNAMES = ["smith", "smyth", "khan", "campbell-reid", "kowalski", "okafor", "popescu", "nguyen", "murphy",
            "wisniewska", "hussain", "jones", "brown", "taylor", "williams"]


def _typo(rng: np.random.Generator, word: str) -> str:
    i = int(rng.integers(0, max(len(word) - 1, 1)))
    return word[:i] + word[i + 1] + word[i] + word[i + 2:] if len(word) > 2 else word + "e"


def people_and_records(n_people: int = 300, n_records: int = 300, seed: int = 3):
    """People from a small stock of names and DOBs in a few years (so blocks are crowded and
    many records have several candidates, some twins), with sex and postcode; records of
    them with one error each (a typo, names swapped, a DOB digit or day/month, a nickname, a
    missing field), and strangers."""
    rng = np.random.default_rng(seed)
    dob = pd.Timestamp("1985-01-01") + pd.to_timedelta(rng.integers(0, 4 * 365, n_people), "D")
    people = pd.DataFrame({
        "entity": [f"P{i:04d}" for i in range(n_people)],
        "forenames": rng.choice(FORENAMES, n_people), "surname": rng.choice(SURNAMES, n_people),
        "date_of_birth": dob.strftime("%Y-%m-%d"),
        "sex": rng.choice(["M", "F"], n_people),
        "postcode": [f"AB{d} {u}XY" for d, u in zip(rng.integers(1, 6, n_people), rng.integers(1, 9, n_people))]})
    twins = people.sample(8, random_state=seed).assign(entity=lambda d: d["entity"] + "T")
    # People held twice, typed another way (a typo, another postcode): one person, two profiles.
    again = people.sample(n_people // 4, random_state=seed + 1).reset_index(drop=True)
    again.loc[::2, "surname"] = [_typo(rng, w) for w in again.loc[::2, "surname"]]
    again.loc[1::2, "postcode"] = "ZZ1 1ZZ"
    people = pd.concat([people, twins, again], ignore_index=True)
    pick = rng.integers(0, len(people), n_records)
    rec = people.iloc[pick].reset_index(drop=True).drop(columns="entity")
    kind = rng.integers(0, 8, n_records)
    for i in range(n_records):
        if kind[i] == 0:
            rec.loc[i, "surname"] = _typo(rng, rec.loc[i, "surname"])
        elif kind[i] == 1:
            rec.loc[i, ["forenames", "surname"]] = rec.loc[i, ["surname", "forenames"]].to_numpy()
        elif kind[i] == 2:
            d = rec.loc[i, "date_of_birth"]
            rec.loc[i, "date_of_birth"] = d[:-1] + str((int(d[-1]) + 1) % 10)
        elif kind[i] == 3:
            y, m, d = rec.loc[i, "date_of_birth"].split("-")
            rec.loc[i, "date_of_birth"] = f"{y}-{d}-{m}" if int(d) <= 12 else f"{int(y) + 1}-{m}-{d}"
        elif kind[i] == 4:
            rec.loc[i, "forenames"] = pd.NA
        elif kind[i] == 5:
            rec.loc[i, "postcode"] = pd.NA
        elif kind[i] == 6:  # a stranger with a crowded name
            rec.loc[i, ["forenames", "date_of_birth", "postcode"]] = [rng.choice(FORENAMES), "1950-06-15", "YY9 9YY"]
    rec.insert(0, "rec", [f"R{i:04d}" for i in range(n_records)])
    return people, rec


@pytest.fixture(scope="module")
def fixture_lists():
    return people_and_records()


def _joined(lists, rules, max_rows, max_pairs):
    """The candidate pairs as :func:`_join` makes them over every record at once, rule by
    rule and in both name orders (the linker's way before the blocking was sliced)."""
    n_left = np.int64(max(len(lists.L["dob"]), 1))
    found = []
    for rule in rules:
        lkey = _block_key(lists, "left", rule)
        for crossed in (False, True) if _NAME_PARTS & set(rule.split("+")) else (False,):
            r, l_ = _join(lkey, _block_key(lists, "right", rule, crossed), max_rows, max_pairs)
            found.append(r * n_left + l_)
    pair = np.unique(np.concatenate(found))
    return pair // n_left, pair % n_left


def _with(s: dict, **estimation) -> dict:
    out = copy.deepcopy(s)
    out["estimation"].update(estimation)
    return out


def test_the_fixture_is_crowded_enough_to_matter(fixture_lists):
    """Records with many candidates, crossed (swapped) names and several people each: the
    cases a slice boundary or a sample could break."""
    left, right = fixture_lists
    lists = Lists(left, right)
    r, l_ = candidate_pairs(lists, S["blocking"], S["max_block"], S["max_block_pairs"])
    c = Compared(lists, r, l_, S["similarity"])
    per_record = np.bincount(r)
    assert len(r) > 3000 and per_record.max() >= 40
    assert len(c.crossed) > 100
    seg = _Segments(r, lists.L["entity"][l_])
    assert len(seg.pe_start) < len(r)  # some records meet one person by two profiles


def test_blocking_slices_give_every_record_its_whole_candidates(fixture_lists):
    left, right = fixture_lists
    lists = Lists(left, right)
    b = Blocking(lists, S["blocking"], S["max_block"], S["max_block_pairs"])
    r, l_ = b.pairs()
    chunks = b.chunks(500)
    assert len(chunks) > 5
    assert np.array_equal(np.concatenate(chunks), np.arange(len(lists.right_count)))
    bound = b.pairs_per_record()
    parts = [b.pairs(rows) for rows in chunks]
    for rows, (rc, _) in zip(chunks, parts):
        assert bound[rows].sum() <= 500 or len(rows) == 1
        assert len(rc) <= bound[rows].sum()
    assert np.array_equal(np.concatenate([p[0] for p in parts]), r)
    assert np.array_equal(np.concatenate([p[1] for p in parts]), l_)
    # Any set of records, not only a slice: the pairs of those records, as the whole join has them.
    some = np.array([0, 3, 4, 17, len(lists.right_count) - 1])
    rs, ls = b.pairs(some)
    keep = np.isin(r, some)
    assert np.array_equal(rs, r[keep]) and np.array_equal(ls, l_[keep])
    # A skipped key is skipped for every slice: the caps count every record's keys.
    tight = Blocking(lists, S["blocking"], S["max_block"], 40)
    rt, lt = tight.pairs()
    assert 0 < len(rt) < len(r)
    for max_pairs, (rb, lb) in ((S["max_block_pairs"], (r, l_)), (40, (rt, lt))):  # as the join, rule by rule
        ro, lo = _joined(lists, S["blocking"], S["max_block"], max_pairs)
        assert np.array_equal(rb, ro) and np.array_equal(lb, lo)
    sliced = [tight.pairs(rows) for rows in tight.chunks(200)]
    assert np.array_equal(np.concatenate([p[0] for p in sliced]), rt)
    assert np.array_equal(np.concatenate([p[1] for p in sliced]), lt)


@pytest.mark.parametrize("max_records", [10_000, 90], ids=["every_record", "sampled"])
def test_scoring_in_slices_equals_scoring_at_once(fixture_lists, max_records):
    """A slice of 1, 50 and 700 pairs at most (one record at a time, and a few): the records,
    the review pairs and the model are exactly those of one slice."""
    left, right = fixture_lists
    s = _with(S, max_records=max_records)
    s["review"] = 0.0  # every record's best two go to review, so the review pairs are many
    whole, whole_review = link(left, right, dict(s, chunk_pairs=10**9))
    model = whole.attrs["linkage_model"]
    assert model["candidate_pairs"] > 3000
    assert set(whole["link_status"]) == {"linked", "ambiguous", "no_match"}
    assert (whole["link_status"] == "linked").sum() > 100 and len(whole_review) > 50
    assert whole["name_order"].eq("swapped").sum() > 5
    for chunk in (1, 50, 700):
        records, review = link(left, right, dict(s, chunk_pairs=chunk))
        pd.testing.assert_frame_equal(records, whole, check_exact=True)
        pd.testing.assert_frame_equal(review, whole_review, check_exact=True)
        assert records.attrs["linkage_model"] == model


def test_em_sample_made_directly_equals_the_subset_of_all_candidates(fixture_lists):
    """With 90 of the records sampled for EM: their candidates made on their own equal the
    subset of every record's candidates, pair by pair and level by level, and EM on either
    gives the same model to the bit."""
    left, right = fixture_lists
    s = _with(S, max_records=90)
    lists = Lists(left, right)
    chosen = em_records(lists, s)
    assert len(chosen) == 90 < len(lists.right_count)
    b = Blocking(lists, s["blocking"], s["max_block"], s["max_block_pairs"])
    r, l_ = b.pairs()
    full = Compared(lists, r, l_, s["similarity"])
    rows = np.flatnonzero(np.isin(r, chosen))
    old = full.subset(rows)
    rd, ld = b.pairs(chosen)
    direct = Compared(lists, rd, ld, s["similarity"])
    assert len(rd) == len(rows) > 1000
    assert np.array_equal(direct.r, old.r) and np.array_equal(direct.l, old.l)
    assert np.array_equal(direct.crossed, old.crossed) and len(direct.crossed) > 20
    assert direct.levels.keys() == old.levels.keys()
    for key in direct.levels:
        assert np.array_equal(direct.levels[key], old.levels[key]), key
    for attr in ("fn_value", "sn_value", "fn_record", "sn_record"):
        assert np.array_equal(getattr(direct, attr), getattr(old, attr)), attr
    counts = random_pair_counts(lists, s)
    via_subset = fit(lists, full, lists.L["entity"][l_], s, counts)
    via_direct = fit(lists, direct, lists.L["entity"][ld], s, counts)
    prepared = fit(lists, EMSample(lists, direct, lists.L["entity"][ld], s), None, s, counts)
    for model, info in (via_direct, prepared):
        assert info == via_subset[1]
        assert model.pi == via_subset[0].pi
        for f in model.m:
            assert np.array_equal(model.m[f], via_subset[0].m[f]) and np.array_equal(model.u[f], via_subset[0].u[f])
    assert via_subset[1]["em_records"] == int(lists.right_count[chosen].sum())
    assert via_subset[1]["em_iterations"] > 1
    assert 0.3 < via_subset[0].pi < 1.0


def test_kinds_weigh_each_pair_exactly_as_the_model_does(fixture_lists):
    """EM weighs one pair of each kind and spreads the weight: the same float64 bits as
    :meth:`Model.weights` on every pair, and the same name order, under the config's m/u and
    under a fitted model (term frequencies on and off)."""
    left, right = fixture_lists
    lists = Lists(left, right)
    r, l_ = candidate_pairs(lists, S["blocking"], S["max_block"], S["max_block_pairs"])
    c = Compared(lists, r, l_, S["similarity"])
    kinds = _Kinds(c)
    assert len(kinds.kinds.r) < 0.6 * len(r)  # fewer kinds than pairs
    model, _ = fit(lists, c, lists.L["entity"][l_], S)
    for tf in (True, False):
        model.s = dict(S, tf_forename=tf, tf_surname=tf)
        w, swapped = model.weights(c)
        spread, w_kind, swapped_kind = kinds.weights(model)
        assert np.array_equal(spread.view(np.int64), w.view(np.int64))
        assert np.array_equal(swapped_kind[kinds.kind], swapped)
        assert swapped.sum() > 5


def test_em_sample_made_slice_by_slice_equals_one_comparison(fixture_lists):
    """EM's sample compared 50 pairs at a time, only the kinds kept, gives the model of its
    pairs compared at once, to the bit."""
    left, right = fixture_lists
    s = _with(S, max_records=120)
    lists = Lists(left, right)
    b = Blocking(lists, s["blocking"], s["max_block"], s["max_block_pairs"])
    chosen = em_records(lists, s, b)
    assert len(chosen) == 120 and len(b.chunks(50, chosen)) > 20
    rd, ld = b.pairs(chosen)
    once = EMSample(lists, Compared(lists, rd, ld, s["similarity"]), lists.L["entity"][ld], s, chosen)
    sliced = EMSample.made(lists, b, chosen, s, 50)
    assert sliced.n_pairs == once.n_pairs == len(rd)
    assert len(sliced.kinds.kinds.r) == len(once.kinds.kinds.r)  # the same kinds, however numbered
    counts = random_pair_counts(lists, s)
    m1, i1 = fit(lists, once, None, s, counts)
    m2, i2 = fit(lists, sliced, None, s, counts)
    assert i1 == i2 and i1["em_iterations"] > 1 and m1.pi == m2.pi
    for f in m1.m:
        assert np.array_equal(m1.m[f], m2.m[f]) and np.array_equal(m1.u[f], m2.u[f])


def test_em_sample_is_capped_in_pairs_only_above_the_cap(fixture_lists):
    """``estimation.max_pairs``: at or above the sample's candidate pairs the sample is the
    records' (so results below the cap are unchanged); below, a seeded share of it whose
    pairs fit, the same every run."""
    left, right = fixture_lists
    lists = Lists(left, right)
    b = Blocking(lists, S["blocking"], S["max_block"], S["max_block_pairs"])
    n_pairs = len(b.pairs()[0])
    every = em_records(lists, S)
    assert np.array_equal(every, np.arange(len(lists.right_count)))
    assert np.array_equal(em_records(lists, _with(S, max_pairs=n_pairs), b), every)
    capped = em_records(lists, _with(S, max_pairs=1000), b)
    assert np.array_equal(capped, em_records(lists, _with(S, max_pairs=1000), b))
    per_record = np.bincount(b.pairs()[0], minlength=len(lists.right_count))
    assert 1000 - per_record.max() < per_record[capped].sum() <= 1000
    assert np.all(np.diff(capped) > 0) and np.isin(capped, every).all()
    whole = link(left, right, S)[0].attrs["linkage_model"]
    model = link(left, right, _with(S, max_pairs=1000))[0].attrs["linkage_model"]
    assert whole["em_records"] == len(right)
    assert model["em_records"] == int(lists.right_count[capped].sum()) < len(right)
    assert model["candidate_pairs"] == whole["candidate_pairs"] == n_pairs  # every record still scored
