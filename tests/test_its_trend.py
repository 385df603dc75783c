"""The classical Mann-Kendall test (and Hamed-Rao's correction): a hand-worked case and R
fixtures from make_mannkendall_fixtures.R."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from strostudy.its import mann_kendall

FIX = Path(__file__).parent / "fixtures" / "r"
DATA = pd.read_csv(FIX / "mannkendall_data.csv")
R = pd.read_csv(FIX / "mannkendall_r.csv").set_index("series")


def test_hand_worked_example():
    """y = 1, 3, 2, 2, 5: of the 10 pairs, 7 rise, 2 fall and 1 ties, so S = 5; one tie group
    of 2 gives Var(S) = (5*4*15 - 2*1*9)/18 = 282/18; z = (5 - 1)/sqrt(282/18) = 1.010582;
    p = 2(1 - Phi(z)) = 0.312216; tau-a = 5/10."""
    mk = mann_kendall([1, 3, 2, 2, 5])
    assert mk["S"] == 5 and mk["var"] == pytest.approx(282 / 18, rel=1e-14)
    assert mk["z"] == pytest.approx(4 / np.sqrt(282 / 18), rel=1e-14)
    assert mk["p_value"] == pytest.approx(2 * stats.norm.sf(4 / np.sqrt(282 / 18)), rel=1e-14)
    assert mk["p_value"] == pytest.approx(0.312216, abs=1e-6) and mk["tau"] == 0.5


def test_no_trend_is_z_zero():
    mk = mann_kendall([2, 2, 2, 2])
    assert mk["S"] == 0 and mk["z"] == 0.0


@pytest.mark.parametrize("name", list(R.index))
def test_matches_r(name):
    y = DATA.loc[DATA.series == name].sort_values("i")["value"].to_numpy()
    ref = R.loc[name]
    mk, hr = mann_kendall(y), mann_kendall(y, hamed_rao=True)
    assert mk["S"] == ref["S"] and mk["n"] == ref["n"]
    assert mk["var"] == pytest.approx(ref["var"], rel=1e-12)
    assert mk["z"] == pytest.approx(ref["z"], rel=1e-12, abs=1e-15)
    assert mk["p_value"] == pytest.approx(ref["p_value"], rel=1e-10)
    assert mk["tau"] == pytest.approx(ref["tau"], rel=1e-12)
    assert hr["factor"] == pytest.approx(ref["hr_factor"], rel=1e-10)
    assert hr["p_value"] == pytest.approx(ref["hr_p_value"], rel=1e-9)


def test_hamed_rao_widens_the_test_of_the_autocorrelated_nile():
    """The Nile's annual flows (R's datasets::Nile): the correction factor n/n* is above 2, so
    the corrected p is far larger than the classical one."""
    y = DATA.loc[DATA.series == "nile"].sort_values("i")["value"].to_numpy()
    mk, hr = mann_kendall(y), mann_kendall(y, hamed_rao=True)
    assert hr["factor"] > 2 and hr["p_value"] > 100 * mk["p_value"]


def test_differs_from_kendalls_tau_b():
    """What the old 'mann_kendall' row held was scipy's tau-b test, a different p."""
    y = DATA.loc[DATA.series == "events_violence_after"].sort_values("i")["value"].to_numpy()
    tau_b = stats.kendalltau(np.arange(len(y)), y)
    assert abs(mann_kendall(y)["p_value"] - tau_b.pvalue) > 1e-4
