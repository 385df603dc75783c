"""Propensity-score matching of order subjects to comparison people, and its balance table
(issue 13, A107-A108, docs/matching.md).

* :func:`propensity_score` fits the logistic regression of ``treated`` on the features, as R's
  ``glm(family = binomial)`` does inside ``MatchIt::matchit(distance = "glm")``.
* :func:`nearest_neighbour` matches on that score greedily, as MatchIt's ``method = "nearest"``
  (version 4.5.4 and later; ``nn_matchC_vec``), and returns the match matrix as pairs.
* :func:`propensity_match` does both and returns MatchIt's per-unit ``distance``, ``weights``
  and ``subclass``.
* :func:`balance` is ``summary(m, standardize = TRUE)``: means, standardised mean differences
  and variance ratios, all data and matched.

R fixtures: ``tests/fixtures/make_matching_fixtures.R`` (MatchIt 4.7.2).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import StrostudyError

M_ORDERS = ("largest", "smallest", "data")
UNIT_COLUMNS = ["distance", "weights", "subclass", "matched"]
PAIR_COLUMNS = ["treated_id", "control_id", "slot"]
BALANCE_COLUMNS = ["feature", "mean_treated", "mean_control_all", "smd_all", "mean_treated_matched",
                   "mean_control_matched", "smd_matched", "var_ratio_all", "var_ratio_matched"]

_EPS = np.finfo(float).eps
_ROOT_EPS = math.sqrt(_EPS)


# --------------------------------------------------------------------------- inputs


def _rows(mask: np.ndarray, labels) -> str:
    idx = np.asarray(labels)[np.asarray(mask, dtype=bool)]
    shown = ", ".join(str(i) for i in idx[:5])
    more = f" (and {len(idx) - 5} more)" if len(idx) > 5 else ""
    return (f"row {shown}" if len(idx) == 1 else f"rows {shown}") + more


def _design(covariates: pd.DataFrame, features, treated: str, id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, treated as 0/1, the feature matrix), or a StrostudyError naming the problem."""
    features = [str(f) for f in features]
    if not features:
        raise StrostudyError("matching: no features given; name at least one covariate column to match on")
    wanted = [id, treated, *features]
    missing = [c for c in dict.fromkeys(wanted) if c not in covariates.columns]
    if missing:
        raise StrostudyError(f"matching: covariates has no column {', '.join(repr(c) for c in missing)}; "
                             f"add it or leave it out of the features")
    if len(set(features)) < len(features):
        raise StrostudyError("matching: a feature is listed twice; list each covariate once")
    labels = covariates.index
    ids = covariates[id].astype(str).to_numpy()
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        raise StrostudyError(f"matching: {id} repeats in {_rows(dup, labels)}; list each subject once")
    group = covariates[treated]
    as_number = pd.to_numeric(group, errors="coerce") if group.dtype != bool else group.astype("int64")
    bad = ~as_number.isin([0, 1]).to_numpy()
    if bad.any():
        raise StrostudyError(f"matching: {treated!r} is not 0 or 1 in {_rows(bad, labels)}; "
                             "code order subjects 1 and comparison people 0")
    t = as_number.to_numpy(dtype="int64")
    if not t.any():
        raise StrostudyError(f"matching: no row has {treated} = 1; there is no order subject to match")
    if t.all():
        raise StrostudyError(f"matching: no row has {treated} = 0; there is no comparison person to match to")
    columns = []
    for name in features:
        col = covariates[name]
        if col.dtype == bool:
            col = col.astype("int64")
        values = pd.to_numeric(col, errors="coerce")
        bad = (values.isna() & col.notna()).to_numpy()
        if bad.any():
            raise StrostudyError(f"matching: feature {name!r} is not a number in {_rows(bad, labels)}; "
                                 "give numbers (0/1 dummies for a category)")
        x = values.to_numpy(dtype="float64")
        bad = ~np.isfinite(x)
        if bad.any():
            raise StrostudyError(f"matching: feature {name!r} is missing or infinite in {_rows(bad, labels)}; "
                                 "fill it in or leave those subjects out of the matching")
        if np.all(x == x[0]):
            raise StrostudyError(f"matching: feature {name!r} is {x[0]:g} for everyone, so it cannot predict "
                                 "the group; drop it from the features")
        columns.append(x)
    X = np.column_stack([np.ones(len(t)), *columns])
    _check_collinear(X, features)
    return ids, t, X


def _check_collinear(X: np.ndarray, features) -> None:
    """R's glm would silently drop an aliased feature (coefficient NA); say which it is instead."""
    scaled = (X - np.r_[0.0, X[:, 1:].mean(axis=0)]) / np.r_[1.0, X[:, 1:].std(axis=0)]
    for j in range(2, X.shape[1] + 1):
        if np.linalg.matrix_rank(scaled[:, :j], tol=1e-9 * math.sqrt(len(X))) < j:
            raise StrostudyError(f"matching: feature {features[j - 2]!r} is a linear combination of the features "
                                 f"before it ({', '.join(features[:j - 2]) or 'a constant'}); drop one of them")


# --------------------------------------------------------------------------- the propensity score


def _logit_inverse(eta: np.ndarray) -> np.ndarray:
    """R's ``binomial()$linkinv`` (C_logit_linkinv): e/(1+e), with e clamped beyond |eta| > 30."""
    e = np.where(eta < -30, _EPS, np.where(eta > 30, 1 / _EPS, np.exp(np.clip(eta, -30, 30))))
    return e / (1 + e)


def _logit_mu_eta(eta: np.ndarray) -> np.ndarray:
    """R's ``binomial()$mu.eta`` (C_logit_mu_eta)."""
    e = np.exp(np.clip(eta, -30, 30))
    return np.where((eta > 30) | (eta < -30), _EPS, e / ((1 + e) * (1 + e)))


def _deviance(y: np.ndarray, mu: np.ndarray) -> float:
    return float(np.sum(np.where(y == 1, -2 * np.log(mu), -2 * np.log1p(-mu))))


def _fit_logit(X: np.ndarray, y: np.ndarray, epsilon: float = 1e-8, maxit: int = 25):
    """R's ``glm.fit`` for ``binomial(link = "logit")`` step for step: start mu = (y + 0.5)/2,
    iteratively reweighted least squares, stop when the deviance changes by less than
    ``epsilon`` relative (``glm.control()``'s defaults).  Returns (beta, mu, converged)."""
    mu = (y + 0.5) / 2
    eta = np.log(mu / (1 - mu))
    dev_old = _deviance(y, mu)
    beta = np.zeros(X.shape[1])
    for _ in range(maxit):
        mu_eta = _logit_mu_eta(eta)
        z = eta + (y - mu) / mu_eta
        w = np.sqrt(mu_eta ** 2 / (mu * (1 - mu)))
        beta = np.linalg.lstsq(X * w[:, None], z * w, rcond=None)[0]
        eta = X @ beta
        mu = _logit_inverse(eta)
        dev = _deviance(y, mu)
        if not math.isfinite(dev):
            return beta, mu, False
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            return beta, mu, True
        dev_old = dev
    return beta, mu, False


def propensity_score(covariates: pd.DataFrame, features, treated: str = "treated", id: str = "subject_id") -> pd.Series:
    """The propensity score of each row, indexed by ``id``: the fitted probability of the
    logistic regression of ``treated`` on ``features`` (MatchIt's ``distance = "glm"``)."""
    ids, t, X = _design(covariates, features, treated, id)
    single = _separating_feature(X[:, 1:], t, [str(f) for f in features])
    if single:
        raise StrostudyError(f"matching: feature {single!r} separates the groups (no order subject's value is "
                             "inside the comparison people's range, or the reverse), so the propensity score is 0 "
                             "or 1; drop or coarsen it")
    _, mu, converged = _fit_logit(X, t.astype("float64"))
    tiny = 10 * _EPS  # glm.fit's threshold for "fitted probabilities numerically 0 or 1"
    if not converged or np.any(mu < tiny) or np.any(mu > 1 - tiny):
        raise StrostudyError("matching: the features together separate the groups, so the propensity score is "
                             "0 or 1 for some subjects; drop or coarsen a feature")
    return pd.Series(mu, index=pd.Index(ids, name=id), name="distance")


def _separating_feature(x: np.ndarray, t: np.ndarray, features) -> str | None:
    """A feature on which every order subject lies at or beyond every comparison person (complete
    or quasi-complete separation: the logit's maximum likelihood is at infinity)."""
    for j, name in enumerate(features):
        a, b = x[t == 1, j], x[t == 0, j]
        if a.max() <= b.min() or a.min() >= b.max():
            return name
    return None


# --------------------------------------------------------------------------- nearest-neighbour matching


class _Available:
    """Which control ranks (in distance order) are still unmatched: the nearest one at or below
    or at or above a rank, by path-halving pointers (near-constant time per query)."""

    def __init__(self, n: int):
        self.down = np.arange(-1, n + 1)      # down[k + 1]: the largest free rank <= k (-1: none)
        self.up = np.arange(0, n + 2)         # up[k]: the smallest free rank >= k (n: none)
        self.n = n

    def below(self, k: int) -> int:
        d, i = self.down, k + 1
        while d[i] != i - 1:
            d[i] = d[d[i] + 1]
            i = d[i] + 1
        return i - 1

    def above(self, k: int) -> int:
        u, i = self.up, k
        while u[i] != i:
            u[i] = u[u[i]]
            i = u[i]
        return i

    def take(self, k: int) -> None:
        self.down[k + 1] = k - 1
        self.up[k] = k + 1


def nearest_neighbour(distance: pd.Series, treated: pd.Series, ratio: int = 1, caliper: float | None = None,
                      replace: bool = False, m_order: str = "largest", std_caliper: bool = True) -> pd.DataFrame:
    """Greedy nearest-neighbour matching on ``distance`` (indexed by subject id; ``treated`` 0/1
    on the same index), as MatchIt >= 4.5.4's ``method = "nearest"`` with a numeric distance.
    Returns the match matrix as pairs ``treated_id, control_id, slot`` (slot 1..ratio, the
    order in which the controls were taken), treated in data order.

    Without replacement, each treated unit in turn (``m_order``: ``largest`` score first, ties
    in data order) takes the nearest unmatched control; with ``ratio`` > 1 this is repeated in
    rounds (every treated unit's first match, then every second).  With replacement each treated
    unit takes its ``ratio`` nearest controls at once (the order does not matter; MatchIt uses
    the data order).  A control is within the caliper when ``|d_t - d_c| <= caliper * sd(d)``
    (the SD of all units' scores when ``std_caliper``).  Ties: units are sorted by score, stably
    (R's ``order``); on each side of the treated unit the nearest control in that order is the
    candidate; between equally distant candidates on the two sides, the one MatchIt's
    alternating scan reaches first (fewer positions away; the lower one when equal)."""
    if m_order not in M_ORDERS:
        raise StrostudyError(f"matching: m_order is {m_order!r}; use one of {', '.join(M_ORDERS)}")
    if isinstance(ratio, bool) or not float(ratio).is_integer() or int(ratio) < 1:
        raise StrostudyError(f"matching: ratio is {ratio!r}; use a whole number of at least 1")
    ratio = int(ratio)
    d = distance.to_numpy(dtype="float64")
    t = treated.reindex(distance.index).to_numpy(dtype="int64")
    ids = distance.index.astype(str).to_numpy()
    if caliper is not None:
        if not (isinstance(caliper, (int, float)) and math.isfinite(caliper) and caliper > 0):
            raise StrostudyError(f"matching: caliper is {caliper!r}; use a positive number (in SDs of the "
                                 "propensity score) or none")
        caliper = float(caliper) * (float(np.std(d, ddof=1)) if std_caliper else 1.0)
    n1 = int(t.sum())
    sorted_units = np.argsort(d, kind="stable")
    position = np.empty(len(d), dtype="int64")
    position[sorted_units] = np.arange(len(d))
    controls = sorted_units[t[sorted_units] == 0]        # control units in score order
    control_pos = position[controls]
    treated_units = np.flatnonzero(t == 1)               # rows of the match matrix, data order
    if replace or n1 <= 1:                               # MatchIt: reuse.max >= n1 forces data order
        order = np.arange(n1)
    elif m_order == "largest":
        order = np.argsort(-d[treated_units], kind="stable")
    elif m_order == "smallest":
        order = np.argsort(d[treated_units], kind="stable")
    else:
        order = np.arange(n1)
    mm = np.full((n1, ratio), -1, dtype="int64")         # control rank per slot, -1 if none
    if replace or n1 <= 1:
        for row in order:
            # (MatchIt also takes the several at once for a single treated unit without replacement)
            mm[row] = _nearest_several(d, control_pos, controls, treated_units[row], position, ratio, caliper)
    else:
        free = _Available(len(controls))
        left_free = len(controls)
        live = np.ones(n1, dtype=bool)
        for r in range(ratio):
            for row in order:
                if left_free == 0:
                    break
                if not live[row]:
                    continue
                unit = treated_units[row]
                taken = mm[row, :r]
                starts = np.r_[control_pos[taken], position[unit]]
                k = _nearest_one(d, control_pos, controls, unit, starts.min(), starts.max(), free, caliper)
                if k < 0:
                    if r == 0:
                        live[row] = False   # MatchIt: unmatched in the first round, never matched
                    continue
                mm[row, r] = k
                free.take(k)
                left_free -= 1
    rows, slots = np.nonzero(mm >= 0)
    return pd.DataFrame({"treated_id": ids[treated_units[rows]], "control_id": ids[controls[mm[rows, slots]]],
                         "slot": (slots + 1).astype("int64")}, columns=PAIR_COLUMNS)


def _nearest_one(d, control_pos, controls, unit, lo, hi, free, caliper) -> int:
    """The control rank MatchIt's ``find_control_vec`` takes for one match without replacement:
    the nearest free control below position ``lo`` and above ``hi`` (the treated unit's own
    position, widened to its earlier matches), within the caliper; the nearer of the two, and
    when they are equally near, the one its alternating scan meets first."""
    dt = d[unit]
    left = free.below(int(np.searchsorted(control_pos, lo, side="left")) - 1)
    right = free.above(int(np.searchsorted(control_pos, hi, side="right")))
    best, best_gap, best_steps = -1, math.inf, 0
    if left >= 0:
        gap = abs(dt - d[controls[left]])
        if caliper is None or gap <= caliper:
            best, best_gap, best_steps = left, gap, lo - control_pos[left]
    if right < len(controls):
        gap = abs(dt - d[controls[right]])
        steps = control_pos[right] - hi
        if (caliper is None or gap <= caliper) and (best < 0 or gap < best_gap or (gap == best_gap and steps < best_steps)):
            best = right
    return best


def _nearest_several(d, control_pos, controls, unit, position, ratio, caliper) -> np.ndarray:
    """With replacement: the ``ratio`` nearest controls (within the caliper), nearest first;
    ties in distance in the order MatchIt's alternating scan meets them."""
    dt = d[unit]
    ii = position[unit]
    split = int(np.searchsorted(control_pos, ii))
    left = np.arange(split - 1, max(split - 1 - ratio, -1), -1)
    right = np.arange(split, min(split + ratio, len(controls)))
    cand = np.r_[left, right]
    gap = np.abs(dt - d[controls[cand]])
    steps = np.r_[ii - control_pos[left], control_pos[right] - ii]
    side = np.r_[np.zeros(len(left)), np.ones(len(right))]
    keep = np.ones(len(cand), dtype=bool) if caliper is None else gap <= caliper
    # A side stops at its first control beyond the caliper; the sides are sorted, so a prefix is kept.
    cand, gap, steps, side = cand[keep], gap[keep], steps[keep], side[keep]
    found = np.lexsort((side, steps))                 # the order the scan meets them
    chosen = found[np.argsort(gap[found], kind="stable")][:ratio]
    out = np.full(ratio, -1, dtype="int64")
    out[:len(chosen)] = cand[chosen]
    return out


# --------------------------------------------------------------------------- the match


def propensity_match(covariates: pd.DataFrame, features, treated: str = "treated", id: str = "subject_id",
                     ratio: int = 1, caliper: float | None = None, replace: bool = False,
                     m_order: str = "largest") -> pd.DataFrame:
    """``MatchIt::matchit(treated ~ features, method = "nearest", distance = "glm", ratio,
    caliper, replace, m.order)`` on a DataFrame.  One row per row of ``covariates``, in its
    order: ``id, treated, distance`` (the propensity score), ``weights`` (MatchIt's ATT
    weights: 1 for a matched treated unit; a control's share of its treated units, 1/k for each
    treated unit it is one of k matches of, then scaled so the matched controls' weights
    average 1), ``subclass`` (the matched set, numbered by its treated unit's row among the
    matched; NA when unmatched, and for everyone with replacement, as MatchIt) and ``matched``
    (weight above 0).  The pairs themselves: :func:`nearest_neighbour` on ``distance``."""
    score = propensity_score(covariates, features, treated, id)
    group = pd.Series(pd.to_numeric(covariates[treated].astype("int64") if covariates[treated].dtype == bool
                                    else covariates[treated]).to_numpy(dtype="int64"), index=score.index)
    pairs = nearest_neighbour(score, group, ratio=ratio, caliper=caliper, replace=replace, m_order=m_order)
    if pairs.empty:
        raise StrostudyError("matching: no order subject has a comparison person within the caliper; widen the "
                             "caliper or match without one")
    row = pd.Series(np.arange(len(score)), index=score.index)
    t_row = row.reindex(pairs["treated_id"]).to_numpy()
    c_row = row.reindex(pairs["control_id"]).to_numpy()
    weights = np.zeros(len(score))
    subclass = np.full(len(score), -1, dtype="int64")
    per_treated = pd.Series(1, index=t_row).groupby(level=0).transform("size").to_numpy()
    if replace:
        np.add.at(weights, c_row, 1.0 / per_treated)   # weights_matrixC: in match-matrix row order
    else:
        matched_treated = np.unique(t_row)              # data order = MatchIt's subclass numbering
        number = pd.Series(np.arange(1, len(matched_treated) + 1), index=matched_treated)
        subclass[matched_treated] = number.to_numpy()
        subclass[c_row] = number.reindex(t_row).to_numpy()
        weights[c_row] = 1.0 / per_treated              # get_weights_from_subclass: treated / controls per set
    weights[np.unique(t_row)] = 1.0
    control = (group.to_numpy() == 0) & (weights > 0)
    weights[control] = control.sum() * weights[control] / math.fsum(weights[control])  # .make_sum_to_n
    return pd.DataFrame({id: score.index.to_numpy(), treated: group.to_numpy(), "distance": score.to_numpy(),
                         "weights": weights, "subclass": pd.array(np.where(subclass > 0, subclass, None), dtype="Int64"),
                         "matched": weights > 0})


# --------------------------------------------------------------------------- balance


def _wvar(x: np.ndarray, binary: bool, w: np.ndarray) -> float:
    """MatchIt's ``wvar``: p(1 - p) for a 0/1 variable, else the reliability-weighted variance."""
    w = w / w.sum()
    mx = float(np.sum(w * x))
    if binary:
        return mx * (1 - mx)
    return float(np.sum(w * (x - mx) ** 2) / (1 - np.sum(w ** 2)))


def _pooled_sd(x: np.ndarray, t: np.ndarray, binary: bool) -> float:
    """MatchIt's ``pooled_sd`` with unit sampling weights (used only when the treated SD is 0)."""
    w = np.ones(len(x))
    if binary:
        return math.sqrt(sum(float(x[t == g].sum()) * (1 - float(x[t == g].sum()) / (t == g).sum()) / len(x)
                             for g in (1, 0)))
    centred = x.copy()
    for g in (1, 0):
        centred[t == g] -= x[t == g].mean()
    w_ = w / w.sum()
    return math.sqrt(float(np.sum(w_ * centred ** 2) / (1 - np.sum(w_ ** 2))))


def _bal1var(x: np.ndarray, t: np.ndarray, w: np.ndarray, unweighted: bool) -> tuple[float, float, float, float]:
    """MatchIt's ``bal1var`` for the ATT with ``standardize = TRUE``: (mean treated, mean
    control, standardised mean difference, variance ratio)."""
    binary = bool(np.all((x == 0) | (x == 1)))
    i1, i0 = t == 1, t == 0
    too_small = (w[i1] != 0).sum() < 2 and (w[i0] != 0).sum() < 2
    m1 = float(np.sum(x[i1] * w[i1]) / np.sum(w[i1]))
    m0 = float(np.sum(x[i0] * w[i0]) / np.sum(w[i0]))
    diff = m1 - m0
    smd = np.nan
    if abs(diff) > _ROOT_EPS:
        if not too_small:
            # The treated group's SD in the whole data, matched or not (s.d.denom = "treated").
            sd = math.sqrt(_wvar(x[i1], binary, np.ones(int(i1.sum()))))
            if not math.isfinite(sd) or sd < _ROOT_EPS:
                sd = _pooled_sd(x, t, binary)
            smd = diff / sd
    else:
        smd = diff
    ratio = np.nan
    if not binary and not too_small:
        ratio = _wvar(x[i1], binary, w[i1]) / _wvar(x[i0], binary, w[i0])
    return m1, m0, smd, ratio


def balance(covariates: pd.DataFrame, matches: pd.DataFrame, features, treated: str = "treated",
            id: str = "subject_id") -> pd.DataFrame:
    """MatchIt's ``summary(m, standardize = TRUE)``: one row per feature, the propensity score
    (``distance``) first, with the means, standardised mean differences (treated SD) and variance
    ratios (treated/control) of all data and of the matched data (weighted by ``weights``).
    A 0/1 feature's SD is sqrt(p(1 - p)) and it has no variance ratio; a mean difference below
    sqrt(machine epsilon) is reported unstandardised, as MatchIt does."""
    features = [str(f) for f in features]
    ids, t, X = _design(covariates, features, treated, id)
    _require = [c for c in (id, "distance", "weights") if c not in matches.columns]
    if _require:
        raise StrostudyError(f"balance: matches has no column {', '.join(repr(c) for c in _require)}; "
                             "pass the frame propensity_match returned")
    got = matches.assign(**{id: matches[id].astype(str)}).set_index(id)
    absent = ~pd.Index(ids).isin(got.index)
    if absent.any():
        raise StrostudyError(f"balance: {_rows(absent, covariates.index)} of covariates are not in matches; "
                             "match and summarise the same subjects")
    distance = got["distance"].reindex(ids).to_numpy(dtype="float64")
    weights = got["weights"].reindex(ids).to_numpy(dtype="float64")
    ones = np.ones(len(t))
    rows = []
    for name, x in [("distance", distance), *zip(features, X[:, 1:].T)]:
        all_ = _bal1var(x, t, ones, True)
        matched = _bal1var(x, t, weights, False)
        rows.append({"feature": name, "mean_treated": all_[0], "mean_control_all": all_[1], "smd_all": all_[2],
                     "mean_treated_matched": matched[0], "mean_control_matched": matched[1],
                     "smd_matched": matched[2], "var_ratio_all": all_[3], "var_ratio_matched": matched[3]})
    return pd.DataFrame(rows, columns=BALANCE_COLUMNS)
