"""Subject-clustered CR2 errors of a series model (strostudy.clustered.panel_cr2) against R's
clubSandwich on a fixed-effects glm (tests/fixtures/r/make_cr2_fixtures.R) and against the
explicit fixed-effects design run through the general CR2 code (itself checked against R in
test_comparison_cr2.py), with chunking, a never-arrested unit and the intercept guard."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy.clustered import cr2, panel_cr2
from strostudy.its import segmented_fit

FIX = Path(__file__).parent / "fixtures" / "r"
PANEL = pd.read_csv(FIX / "its_panel.csv")
R = pd.read_csv(FIX / "its_cr2_r.csv").set_index("term")
MONTHS = np.arange(-18, 18)
Y = PANEL.pivot(index="unit", columns="month", values="y").reindex(columns=MONTHS).to_numpy(float)
# time, post, time_since, and the slope after the order (time + time_since)
CONTRASTS = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 1, 0, 1.0]])


def _fit(y):
    return segmented_fit(y, MONTHS, "quasipoisson", {"seasonal_terms": False})


def _explicit(f, Yp, C):
    """The fixed-effects design written out: one dummy per arrested unit, the series' time
    columns repeated, fitted values tau_j s_t; through the general cr2."""
    total = Yp.sum(1)
    Yk = Yp[total > 0]
    g, t = Yk.shape
    s = np.exp(f.eta) / np.exp(f.eta).sum()
    mu = (total[total > 0][:, None] * s[None, :]).ravel()
    X = np.hstack([np.kron(np.eye(g), np.ones((t, 1))), np.tile(f.X[:, 1:], (g, 1))])
    bread = np.linalg.inv((X * mu[:, None]).T @ X)
    Cf = np.hstack([np.zeros((len(C), g)), C[:, 1:]])
    vcov, df = cr2(X, Yk.ravel(), mu, mu, np.repeat(np.arange(g), t), g, bread, contrasts=Cf)
    return np.sqrt(np.einsum("ij,jk,ik->i", Cf, vcov, Cf)), df


def test_matches_clubsandwich_on_the_fixed_effects_glm():
    f = _fit(Y.sum(0))
    se, df = panel_cr2(f.X, f.eta, Y, CONTRASTS)
    terms = ["time", "post", "time_since", "post_trend"]
    np.testing.assert_allclose(CONTRASTS @ f.beta, R.loc[terms, "estimate"], rtol=1e-8)
    np.testing.assert_allclose(se, R.loc[terms, "se"], rtol=1e-7)
    np.testing.assert_allclose(df, R.loc[terms, "df"], rtol=1e-7)
    assert 13 < df.min() and df.max() < 14   # 23 arrested units: df well below 22


def test_matches_the_explicit_design_in_any_block_size():
    rng = np.random.default_rng(5)
    Yp = rng.poisson(rng.gamma(0.7, 0.5, 40)[:, None] * np.exp(rng.normal(0, 0.6, (40, len(MONTHS)))))
    Yp[[4, 9]] = 0
    f = _fit(Yp.sum(0).astype(float))
    want_se, want_df = _explicit(f, Yp.astype(float), CONTRASTS)
    for cells in (1, 36 * 36 * 7, 10**9):
        se, df = panel_cr2(f.X, f.eta, Yp, CONTRASTS, cells=cells)
        np.testing.assert_allclose(se, want_se, rtol=1e-9)
        np.testing.assert_allclose(df, want_df, rtol=1e-9)


def test_a_dominant_unit_lowers_the_df():
    """When one unit carries most of the series, the Satterthwaite df fall (the errors rest on
    few independent units): the reason for CR2 with Satterthwaite over t on G - 1."""
    rng = np.random.default_rng(8)
    even = rng.poisson(2.0, (30, len(MONTHS))).astype(float)
    lopsided = even.copy()
    lopsided[0] *= 40
    df_even = panel_cr2(_fit(even.sum(0)).X, _fit(even.sum(0)).eta, even, CONTRASTS)[1]
    df_lop = panel_cr2(_fit(lopsided.sum(0)).X, _fit(lopsided.sum(0)).eta, lopsided, CONTRASTS)[1]
    assert (df_even > 20).all() and (df_lop < 5).all()


def test_the_intercept_cannot_be_a_contrast():
    f = _fit(Y.sum(0))
    with pytest.raises(ValueError, match="intercept"):
        panel_cr2(f.X, f.eta, Y, np.array([[1.0, 0, 0, 0]]))
