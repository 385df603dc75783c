"""Propensity-score matching against R's MatchIt 4.7.2 (fixtures from
tests/fixtures/make_matching_fixtures.R: lalonde and a study-shaped simulated set, 17 calls),
hand-worked cases, and the user errors."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy.errors import StrostudyError
from strostudy.matching import BALANCE_COLUMNS, balance, nearest_neighbour, propensity_match, propensity_score

FIX = Path(__file__).parent / "fixtures" / "matching"
CASES = pd.read_csv(FIX / "cases.csv")
UNITS = pd.read_csv(FIX / "units_r.csv")
PAIRS = pd.read_csv(FIX / "pairs_r.csv")
BALANCE = pd.read_csv(FIX / "balance_r.csv")
DATA = {name: pd.read_csv(FIX / f"{name}.csv") for name in ("lalonde", "simulated")}
FEATURES = {name: [c for c in frame.columns if c not in ("subject_id", "treated")] for name, frame in DATA.items()}
STATS = ["mean_treated", "mean_control_all", "smd_all", "var_ratio_all", "mean_treated_matched",
         "mean_control_matched", "smd_matched", "var_ratio_matched"]


def run_case(case):
    cs = CASES.set_index("case").loc[case]
    caliper = None if pd.isna(cs["caliper"]) else float(cs["caliper"])
    args = dict(ratio=int(cs["ratio"]), caliper=caliper, replace=bool(cs["replace"]), m_order=cs["m_order"])
    data = DATA[cs["data"]]
    matches = propensity_match(data, FEATURES[cs["data"]], **args)
    score = matches.set_index("subject_id")
    pairs = nearest_neighbour(score["distance"], score["treated"], **args)
    return data, matches, pairs


@pytest.mark.parametrize("case", CASES["case"])
def test_match_agrees_with_matchit(case):
    data, matches, pairs = run_case(case)
    r = UNITS.loc[UNITS["case"] == case].set_index("subject_id")
    assert matches["subject_id"].tolist() == data["subject_id"].tolist()
    r = r.loc[matches["subject_id"]]
    np.testing.assert_allclose(matches["distance"], r["distance"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(matches["weights"], r["weights"], rtol=1e-13, atol=1e-15)
    assert (matches["matched"].to_numpy() == (r["weights"] > 0).to_numpy()).all()
    # MatchIt numbers the sets by the treated unit's row; with replacement there are none.
    assert matches["subclass"].astype("float64").fillna(-1).tolist() == r["subclass"].fillna(-1).tolist()
    r_pairs = PAIRS.loc[PAIRS["case"] == case]
    assert set(zip(pairs["treated_id"], pairs["control_id"])) == set(zip(r_pairs["treated_id"], r_pairs["control_id"]))
    # The slot (the order a treated unit's controls were taken) agrees too, except between
    # controls exactly as far from their treated unit, which MatchIt orders with std::partial_sort.
    both = r_pairs.merge(pairs, on=["treated_id", "control_id"], suffixes=("_r", ""))
    d = matches.set_index("subject_id")["distance"]
    both["gap"] = (d.reindex(both["treated_id"]).to_numpy() - d.reindex(both["control_id"]).to_numpy()).round(12)
    untied = ~both.duplicated(["treated_id", "gap"], keep=False)
    assert (both.loc[untied, "slot"] == both.loc[untied, "slot_r"]).all()
    assert untied.mean() > 0.8   # lalonde has many identical controls


@pytest.mark.parametrize("case", CASES["case"])
def test_balance_agrees_with_matchit(case):
    data, matches, _ = run_case(case)
    ours = balance(data, matches, FEATURES[CASES.set_index("case").loc[case, "data"]])
    assert list(ours.columns) == BALANCE_COLUMNS
    r = BALANCE.loc[BALANCE["case"] == case]
    assert ours["feature"].tolist() == r["feature"].tolist()
    for col in STATS:
        got, want = ours[col].to_numpy(dtype=float), r[col].to_numpy(dtype=float)
        assert (np.isnan(got) == np.isnan(want)).all(), col   # binary features have no variance ratio
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-10, atol=1e-12, err_msg=col)


def test_fixtures_cover_what_they_claim():
    """The fixtures exercise calipers that drop treated units, controls running out, ties."""
    matched_treated = UNITS.loc[(UNITS["treated"] == 1) & (UNITS["weights"] > 0)].groupby("case").size()
    n_treated = UNITS.loc[UNITS["treated"] == 1].groupby("case").size()
    assert matched_treated["lalonde_1_caliper"] < n_treated["lalonde_1_caliper"]
    assert matched_treated["simulated_3_caliper"] < n_treated["simulated_3_caliper"]
    run_out = UNITS.loc[UNITS["case"] == "lalonde_3_run_out"]
    assert (run_out.loc[run_out["treated"] == 0, "weights"] > 0).all()       # every control used
    assert PAIRS.loc[PAIRS["case"] == "lalonde_3_run_out"].groupby("treated_id").size().min() < 3
    sim = UNITS.loc[UNITS["case"] == "simulated_1"]
    assert sim["distance"].duplicated().sum() >= 6                           # copied rows tie
    assert "MatchIt 4.7.2" in (FIX / "versions.txt").read_text()


# --------------------------------------------------------------------------- by hand


def line(treated_scores, control_scores):
    """Scores on a line, named T1.. and C1.. in that order."""
    ids = [f"T{i + 1}" for i in range(len(treated_scores))] + [f"C{i + 1}" for i in range(len(control_scores))]
    return (pd.Series(list(treated_scores) + list(control_scores), index=ids, dtype=float),
            pd.Series([1] * len(treated_scores) + [0] * len(control_scores), index=ids))


def as_pairs(frame):
    return {(t, c) for t, c in zip(frame["treated_id"], frame["control_id"])}


def test_nearest_neighbour_by_hand():
    # Largest first: T1 (0.9) takes C2 (0.85, nearer than C1 0.7); T2 (0.6) then takes C1 (0.7,
    # nearer than C3 0.45); T3 (0.2) takes C4 (0.15).  C5 (0.01) is left over.
    d, t = line([0.9, 0.6, 0.2], [0.7, 0.85, 0.45, 0.15, 0.01])
    assert as_pairs(nearest_neighbour(d, t)) == {("T1", "C2"), ("T2", "C1"), ("T3", "C4")}
    # Smallest first: T3 takes C4, T2 takes C1, T1 takes C2: the same here.
    assert as_pairs(nearest_neighbour(d, t, m_order="smallest")) == {("T1", "C2"), ("T2", "C1"), ("T3", "C4")}
    # Order matters when two treated want one control: T1 0.5 and T2 0.45 both nearest C1 0.48.
    d, t = line([0.5, 0.45], [0.48, 0.6, 0.35])
    assert as_pairs(nearest_neighbour(d, t)) == {("T1", "C1"), ("T2", "C3")}              # 0.5 first
    assert as_pairs(nearest_neighbour(d, t, m_order="smallest")) == {("T2", "C1"), ("T1", "C2")}
    # With replacement both take C1.
    assert as_pairs(nearest_neighbour(d, t, replace=True)) == {("T1", "C1"), ("T2", "C1")}


def test_caliper_drops_a_treated_unit():
    # The SD of all five scores (0.9, 0.5, 0.88, 0.52, 0.1; mean 0.58) is sqrt(0.4328 / 4) =
    # 0.32894; a caliper of 0.1 SD is 0.0329: both pairs (0.02 apart) are inside; at 0.05 SD
    # (0.0164) neither is.
    d, t = line([0.9, 0.5], [0.88, 0.52, 0.1])
    assert abs(np.std(d.to_numpy(), ddof=1) - np.sqrt(0.4328 / 4)) < 1e-12
    assert as_pairs(nearest_neighbour(d, t, caliper=0.1)) == {("T1", "C1"), ("T2", "C2")}
    assert as_pairs(nearest_neighbour(d, t, caliper=0.05)) == set()
    # C1 at 0.85: SD sqrt(0.41552 / 4) = 0.32230, caliper 0.0322; T1 (0.05 from C1) is dropped.
    d, t = line([0.9, 0.5], [0.85, 0.52, 0.1])
    assert as_pairs(nearest_neighbour(d, t, caliper=0.1)) == {("T2", "C2")}


def test_ties_and_ratio_by_hand():
    # Two controls at T1's own score: equal scores sort stably in data order (T1, C1, C2), so both
    # are above T1 and the first in data order is met first.
    d, t = line([0.5], [0.5, 0.5, 0.1])
    assert as_pairs(nearest_neighbour(d, t)) == {("T1", "C1")}
    # Exactly equally far below and above (0.25, representable): the lower one, which MatchIt's
    # alternating scan (below first) meets first.
    d, t = line([0.5, 0.95], [0.25, 0.75, 0.94])
    assert as_pairs(nearest_neighbour(d, t, m_order="smallest")) == {("T1", "C1"), ("T2", "C3")}
    # Ratio 2 in rounds: every treated unit's first match before anyone's second.
    d, t = line([0.9, 0.5], [0.88, 0.52, 0.86, 0.3])
    pairs = nearest_neighbour(d, t, ratio=2)
    assert set(zip(pairs["treated_id"], pairs["control_id"], pairs["slot"])) == {
        ("T1", "C1", 1), ("T2", "C2", 1), ("T1", "C3", 2), ("T2", "C4", 2)}


def test_weights_by_hand():
    # Without replacement, ratio 2 and 4 controls for 2 treated: each control 1/2, scaled to mean 1.
    cov = pd.DataFrame({"subject_id": ["T1", "T2", "C1", "C2", "C3", "C4", "C5"], "treated": [1, 1, 0, 0, 0, 0, 0],
                        "x": [5.0, 4.0, 4.5, 3.0, 1.0, 0.5, 2.0]})
    m = propensity_match(cov, ["x"], ratio=2).set_index("subject_id")
    assert m.loc[["T1", "T2"], "weights"].tolist() == [1.0, 1.0]
    assert np.isclose(m.loc[m["treated"] == 0, "weights"].sum(), 4.0) and (m["weights"] > 0).sum() == 6
    # With replacement: a control shared by two treated units counts twice, before scaling.
    m = propensity_match(cov, ["x"], replace=True).set_index("subject_id")
    used = m.loc[(m["treated"] == 0) & m["matched"]]
    assert len(used) == 1 and used["weights"].iloc[0] == 1.0 and m["subclass"].isna().all()


# --------------------------------------------------------------------------- user errors

BASE = pd.DataFrame({"subject_id": [f"S{i}" for i in range(8)], "treated": [1, 1, 1, 0, 0, 0, 0, 0],
                     "a": [3.0, 1, 4, 1, 5, 9, 2, 6], "b": [2.0, 7, 1, 8, 2, 8, 1, 8]})


@pytest.mark.parametrize("change,words", [
    (lambda f: f.drop(columns="b"), "no column 'b'"),
    (lambda f: f.assign(treated=[1, 1, 2, 0, 0, 0, 0, 0]), "not 0 or 1 in row 2"),
    (lambda f: f.assign(treated=0), "no row has treated = 1"),
    (lambda f: f.assign(treated=1), "no row has treated = 0"),
    (lambda f: f.assign(b=4.0), "'b' is 4 for everyone"),
    (lambda f: f.assign(b=2 * f["a"] + 1), "'b' is a linear combination"),
    (lambda f: f.assign(b=[9.0, 9, 9, 1, 1, 1, 1, 1]), "'b' separates the groups"),
    (lambda f: f.assign(a=[3.0, None, 4, 1, 5, 9, 2, 6]), "'a' is missing or infinite in row 1"),
    (lambda f: f.assign(a=["3", "x", "4", "1", "5", "9", "2", "6"]), "'a' is not a number in row 1"),
    (lambda f: f.assign(subject_id=["S0"] * 8), "subject_id repeats"),
])
def test_user_errors(change, words):
    with pytest.raises(StrostudyError, match=words) as err:
        propensity_match(change(BASE.copy()), ["a", "b"])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs,words", [
    (dict(ratio=0), "ratio is 0"), (dict(ratio=1.5), "ratio is 1.5"), (dict(caliper=-0.2), "caliper is -0.2"),
    (dict(m_order="random"), "m_order is 'random'"), (dict(caliper=1e-9), "no order subject has a comparison person"),
])
def test_argument_errors(kwargs, words):
    with pytest.raises(StrostudyError, match=words):
        propensity_match(BASE, ["a", "b"], **kwargs)


def test_balance_needs_the_same_subjects():
    m = propensity_match(BASE, ["a", "b"])
    with pytest.raises(StrostudyError, match="not in matches"):
        balance(BASE, m.iloc[1:], ["a", "b"])


def test_large_pool_is_fast():
    """Tens of thousands of controls: the greedy loop walks sorted scores, not every control."""
    import time

    rng = np.random.default_rng(1)
    n1, n0 = 2_000, 40_000
    d, t = line(rng.beta(3, 2, n1), rng.beta(2, 3, n0))
    start = time.perf_counter()
    pairs = nearest_neighbour(d, t, ratio=2)
    assert time.perf_counter() - start < 10 and len(pairs) == 2 * n1
    assert pairs["control_id"].is_unique
    score = propensity_score(pd.DataFrame({"subject_id": d.index, "treated": t.to_numpy(), "x": d.to_numpy()}), ["x"])
    assert score.between(0, 1).all()
