"""Person linkage for realistic error: a Fellegi–Sunter match weight on names, date of birth
and (where present) PNC ID, sex and postcode, with fixed, documented m/u probabilities,
term-frequency adjustment of surname agreement, typo-tolerant blocking, the margin rule
(A11) and a clerical review loop (A10–A10e, docs/linkage.md).

Everything is a plain function on DataFrames and is vectorised: comparisons are computed
once per distinct pair of values, never in a Python loop over records.  Nothing here prints.

Inputs of :func:`link`: ``left`` (the candidates: ``entity`` — the person a row belongs to,
e.g. a PNC ID — and ``forenames``, ``surname``, ``date_of_birth``, optional ``pnc_id``,
``sex``, ``postcode``) and ``right`` (the records to link: ``rec`` and the same fields).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .ingest import normalise_name

FIELDS = ("forename", "surname", "dob", "pnc_id", "sex", "postcode")
#: The comparison levels of each field, strongest first; the last is disagreement.
LEVELS = {
    "forename": ["exact", "alias", "typo", "initial", "part", "similar", "different"],
    "surname": ["exact", "alias", "typo", "part", "similar", "different"],
    "dob": ["exact", "day_month_swapped", "typo", "year_off", "different"],
    "pnc_id": ["exact", "different"],
    "sex": ["exact", "different"],
    "postcode": ["exact", "district", "different"],
}
#: Nicknames and transliteration variants: every spelling in a group compares as ``alias``.
ALIASES = [
    "william bill billy will willy liam", "robert bob bobby rob robbie bert", "james jim jimmy jamie",
    "michael mike mick mickey mikey", "david dave davey", "daniel dan danny danial", "thomas tom tommy tomasz",
    "christopher chris kit krzysztof krzystof", "stephen steven steve stevie stefan", "anthony tony antony",
    "joseph joe joey jozef josef", "benjamin ben benny", "samuel sam sammy", "matthew matt mateusz",
    "nicholas nick nicky mikolaj", "alexander alex alexandr aleksandr aleksander aleksandar sasha",
    "andrew andy drew andrzej", "patrick pat paddy", "richard rick ricky dick", "edward ed eddie ted ned",
    "charles charlie chuck karol", "peter pete piotr petr", "paul pawel pavel", "john jon johnny jack",
    "catherine katherine kathryn kate katie cathy kathy", "elizabeth liz lizzie beth betty eliza",
    "margaret maggie meg peggy", "rebecca becky", "victoria vicky", "jennifer jenny jen",
    "susan sue susie", "eva ewa", "elena helena yelena", "lukasz lukas lucas luke", "sean shaun shawn",
    "muhammad mohammed mohammad mohamed muhammed mohamad", "ahmed ahmad", "hussain hussein husain",
    "mahmood mahmud mehmood", "mohamud mohamoud", "yusuf yousef youssef yusef", "sergei sergey",
    "dmitri dmitry dmitriy", "yuri yury iurii", "tariq tarik", "oluwaseun oluwaseyi", "gheorghe gheorge george",
    "iqbal ikbal", "darius dariusz", "kowalski kowalsky",
]
_SOUNDEX = str.maketrans("abcdefghijklmnopqrstuvwxyz", "01230120022455012623010202")


# --------------------------------------------------------------------------- features


def _alias_table() -> pd.Series:
    pairs = [(name, group.split()[0]) for group in ALIASES for name in group.split()]
    return pd.Series(dict(pairs))


def soundex(names: pd.Series) -> pd.Series:
    """American Soundex of normalised names (``smith`` -> ``s530``), computed once per
    distinct spelling with vectorised string operations."""
    uniq = pd.Series(names.dropna().unique(), dtype="string")
    uniq = uniq.loc[uniq.str.len() > 0]
    digits = uniq.str.replace(r"[hw]", "", regex=True).str.translate(_SOUNDEX)
    digits = digits.str.replace(r"(\d)\1+", r"\1", regex=True)
    code = uniq.str[0] + digits.str[1:].str.replace("0", "", regex=False)
    code = (code + "000").str[:4]
    return names.map(pd.Series(code.to_numpy(), index=uniq.to_numpy())).astype("string")


def _tokens(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    norm = normalise_name(text).replace("", pd.NA)
    parts = norm.str.split(" ")
    return norm.str.replace(" ", "", regex=False), parts.str[0], parts.str[-1]


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The comparison fields of a person list: normalised names (whole, first and last
    token, alias, Soundex), the DOB as ``yyyymmdd`` digits, and the optional fields."""
    aliases = _alias_table()
    out = pd.DataFrame(index=frame.index)
    for field, column in (("fn", "forenames"), ("sn", "surname")):
        whole, first, last = _tokens(frame[column].astype("string"))
        out[f"{field}"], out[f"{field}_first"], out[f"{field}_last"] = whole, first, last
        key = first if field == "fn" else whole
        out[f"{field}_alias"] = key.map(aliases).fillna(key).astype("string")
        out[f"{field}_sx"] = soundex(key)
    dob = pd.to_datetime(frame["date_of_birth"], errors="coerce")
    out["dob"] = dob.dt.strftime("%Y%m%d").astype("string")
    out["yob"] = dob.dt.year.astype("Int64").astype("string")
    out["mmdd"] = dob.dt.strftime("%m%d").astype("string")
    for col in ("pnc_id", "sex", "postcode"):
        values = frame[col] if col in frame else pd.Series(pd.NA, index=frame.index)
        out[col] = values.astype("string").str.upper().str.replace(r"\s+", "", regex=True).replace("", pd.NA)
    out["sex"] = out["sex"].str[0]
    out["district"] = out["postcode"].str[:-3]
    return out


# --------------------------------------------------------------------------- blocking


def _block_keys(f: pd.DataFrame, rule: str, crossed: bool = False) -> pd.Series:
    """One blocking key per row for ``rule`` (fields joined by ``+``); missing if any part is.
    ``crossed`` reads the forename as the surname and back (name order swapped)."""
    swap = {"surname_sx": "fn_sx", "forename_sx": "sn_sx"} if crossed else {}
    source = {"dob": "dob", "yob": "yob", "mmdd": "mmdd", "surname_sx": "sn_sx", "forename_sx": "fn_sx",
              "forename_initial": "fn_initial", "pnc_id": "pnc_id", "postcode": "postcode"}
    parts = []
    for part in rule.split("+"):
        col = swap.get(part, source[part])
        parts.append(f["fn_first"].str[0] if col == "fn_initial" else f[col])
    key = parts[0].astype("string")
    for p in parts[1:]:
        key = key + "|" + p.astype("string")
    return key


def candidate_pairs(left: pd.DataFrame, right: pd.DataFrame, rules: list[str], max_block: int) -> pd.DataFrame:
    """Pairs (``r``, ``l``: positions in ``right`` and ``left``) sharing a key of any blocking
    rule, in either name order; keys held by more than ``max_block`` left rows are skipped
    (they would compare everyone with everyone).  Near-linear: each rule is one hash join."""
    found = []
    for rule in rules:
        lk = _block_keys(left, rule)
        counts = lk.value_counts()
        lk = lk.where(~lk.isin(counts.index[counts > max_block]))
        lframe = pd.DataFrame({"key": lk.to_numpy(), "l": np.arange(len(left))}).dropna()
        for crossed in (False, True) if "_sx" in rule else (False,):
            rk = _block_keys(right, rule, crossed)
            rframe = pd.DataFrame({"key": rk.to_numpy(), "r": np.arange(len(right))}).dropna()
            found.append(rframe.merge(lframe, on="key")[["r", "l"]])
    if not found:
        return pd.DataFrame({"r": np.array([], dtype=np.int64), "l": np.array([], dtype=np.int64)})
    pairs = pd.concat(found, ignore_index=True).astype(np.int64)
    return pairs.drop_duplicates().sort_values(["r", "l"]).reset_index(drop=True)


# --------------------------------------------------------------------------- comparisons

NAME_COLUMNS = ["fn", "fn_first", "fn_last", "fn_alias", "fn_sx", "sn", "sn_first", "sn_last", "sn_alias", "sn_sx"]
_CROSS = {c: ("sn" + c[2:] if c.startswith("fn") else "fn" + c[2:]) for c in NAME_COLUMNS}


class _Vocab:
    """Every name string of both lists as one integer code (missing: -1), so pairs compare
    integers and each distinct pair of spellings is scored once."""

    def __init__(self, left: pd.DataFrame, right: pd.DataFrame):
        values = pd.concat([left[c] for c in NAME_COLUMNS] + [right[c] for c in NAME_COLUMNS], ignore_index=True)
        codes, words = pd.factorize(values.astype("string"))
        k = len(NAME_COLUMNS)
        self.left = dict(zip(NAME_COLUMNS, codes[: len(left) * k].reshape(k, len(left))))
        self.right = dict(zip(NAME_COLUMNS, codes[len(left) * k:].reshape(k, len(right))))
        self.words = np.asarray(words, dtype=object)
        self.lengths = pd.Series(self.words, dtype="string").str.len().fillna(0).to_numpy(dtype=np.int64)
        self.initials = pd.Series(self.words, dtype="string").str[0].to_numpy(dtype=object)

    def jaro_winkler(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Jaro–Winkler similarity of codes ``a[i]``, ``b[i]`` (NaN where either is missing)."""
        from rapidfuzz.distance import JaroWinkler
        from rapidfuzz.process import cpdist

        out = np.full(len(a), np.nan)
        ok = (a >= 0) & (b >= 0)
        if not ok.any():
            return out
        size = np.int64(len(self.words))
        keys, inverse = np.unique(a[ok].astype(np.int64) * size + b[ok], return_inverse=True)
        sims = cpdist(list(self.words[keys // size]), list(self.words[keys % size]),
                      scorer=JaroWinkler.normalized_similarity, workers=1)
        out[ok] = np.asarray(sims)[inverse]
        return out


def _eq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a >= 0) & (a == b)


def _name_levels(R: dict, L: dict, vocab: _Vocab, sim: dict, part: str) -> np.ndarray:
    """Level of the forename (``part='fn'``) or surname (``'sn'``) comparison; -1 if missing."""
    first, last, whole = R[f"{part}_first"], R[f"{part}_last"], R[part]
    lfirst, llast, lwhole = L[f"{part}_first"], L[f"{part}_last"], L[part]
    key_r, key_l = (first, lfirst) if part == "fn" else (whole, lwhole)
    jw = vocab.jaro_winkler(key_r, key_l)
    shared = _eq(first, llast) | _eq(last, lfirst) | _eq(last, llast) | _eq(first, lfirst)
    conditions = [_eq(key_r, key_l), _eq(R[f"{part}_alias"], L[f"{part}_alias"]), jw >= sim["typo"]]
    if part == "fn":
        short = (np.where(first >= 0, vocab.lengths[first], 0) == 1) | (np.where(lfirst >= 0, vocab.lengths[lfirst], 0) == 1)
        same_initial = (first >= 0) & (lfirst >= 0) & (vocab.initials[np.maximum(first, 0)] ==
                                                        vocab.initials[np.maximum(lfirst, 0)])
        conditions.append(short & same_initial)
    conditions += [shared, _eq(R[f"{part}_sx"], L[f"{part}_sx"]) | (jw >= sim["similar"])]
    levels = np.select(conditions, np.arange(len(conditions)), len(conditions))
    return np.where((key_r >= 0) & (key_l >= 0), levels, -1)


def _digits(dob: pd.Series) -> np.ndarray:
    """``yyyymmdd`` as an (n, 8) array of digits; -1 where missing."""
    text = dob.fillna("00000000").to_numpy(dtype="S8")
    arr = np.frombuffer(text.tobytes(), dtype=np.uint8).reshape(-1, 8).astype(np.int16) - 48
    arr[dob.isna().to_numpy()] = -1
    return arr


def dob_levels(rd: np.ndarray, ld: np.ndarray) -> np.ndarray:
    """Level of the DOB comparison of digit rows ``rd``, ``ld``: exact, day and month swapped,
    a typo (one digit, or two adjacent digits transposed), the year off by 1 or 10 with the
    same day and month, else different; -1 if either is missing."""
    missing = (rd[:, 0] < 0) | (ld[:, 0] < 0)
    diff = rd != ld
    n_diff = diff.sum(axis=1)
    adjacent = np.zeros(len(rd), dtype=bool)
    for i in range(7):  # the 7 places two adjacent digits can swap (a loop over columns)
        adjacent |= (n_diff == 2) & diff[:, i] & diff[:, i + 1] & (rd[:, i] == ld[:, i + 1]) & (rd[:, i + 1] == ld[:, i])
    swapped = (rd[:, :4] == ld[:, :4]).all(axis=1) & (rd[:, 4:6] == ld[:, 6:8]).all(axis=1) & \
        (rd[:, 6:8] == ld[:, 4:6]).all(axis=1)
    year = (rd[:, :4] * np.array([1000, 100, 10, 1])).sum(axis=1) - (ld[:, :4] * np.array([1000, 100, 10, 1])).sum(axis=1)
    year_off = (rd[:, 4:] == ld[:, 4:]).all(axis=1) & np.isin(np.abs(year), [1, 10])
    levels = np.select([n_diff == 0, swapped, (n_diff == 1) | adjacent, year_off], [0, 1, 2, 3], 4)
    return np.where(missing, -1, levels)


def _simple_levels(rv: pd.Series, lv: pd.Series, rows_r: np.ndarray, rows_l: np.ndarray) -> np.ndarray:
    codes, _ = pd.factorize(pd.concat([rv, lv], ignore_index=True).astype("string"))
    a, b = codes[: len(rv)][rows_r], codes[len(rv):][rows_l]
    return np.where((a < 0) | (b < 0), -1, np.where(a == b, 0, 1))


# --------------------------------------------------------------------------- the match weight


def settings_from(rc: dict) -> dict:
    """The linkage settings of a ``reconcile:`` config block (thresholds at the top level,
    the model under ``linkage:``), with the weights of each level worked out."""
    lk = rc["linkage"]
    weights = {}
    for field, levels in LEVELS.items():
        m_u = lk["m_u"][field]
        # Level -1 (a value missing on either side) indexes the appended 0: no evidence.
        weights[field] = np.array([np.log2(m_u[lv][0] / m_u[lv][1]) for lv in levels] + [0.0])
    return {"threshold": float(rc["link_threshold"]), "margin": float(rc["link_margin"]),
            "review": float(rc["review_threshold"]), "prior": lk["prior"], "blocking": list(lk["blocking"]),
            "max_block": int(lk["max_block_size"]), "similarity": dict(lk["similarity"]),
            "tf_surname": bool(lk["tf_adjust_surname"]), "tf_minimum": float(lk["tf_minimum"]),
            "m_exact_surname": float(lk["m_u"]["surname"]["exact"][0]), "weights": weights}


def _prior_weight(prior, n_entities: int) -> float:
    """log2 prior odds that a record and a candidate person are the same: ``auto`` takes one
    true match among the candidate people."""
    p = 1.0 / max(n_entities, 2) if prior == "auto" else float(prior)
    return float(np.log2(p / (1 - p)))


def _surname_weight(levels: np.ndarray, code: np.ndarray, tf: np.ndarray, s: dict) -> np.ndarray:
    """Surname weights; exact agreement on a common surname counts for less (TF adjustment:
    u of that surname is its frequency in the two lists, not the average)."""
    w = s["weights"]["surname"][levels]
    if s["tf_surname"]:
        u = np.maximum(tf[np.maximum(code, 0)], s["tf_minimum"])
        w = np.where(levels == 0, np.log2(s["m_exact_surname"] / u), w)
    return w


def score_pairs(left: pd.DataFrame, right: pd.DataFrame, pairs: pd.DataFrame, s: dict) -> pd.DataFrame:
    """The match weight of each candidate pair and the level of every field, the names
    compared in both orders (the better order kept)."""
    vocab = _Vocab(left, right)
    r, l_ = pairs["r"].to_numpy(), pairs["l"].to_numpy()
    L = {c: vocab.left[c][l_] for c in NAME_COLUMNS}
    codes_sn = np.concatenate([vocab.left["sn"], vocab.right["sn"]])
    tf = np.bincount(codes_sn[codes_sn >= 0], minlength=len(vocab.words)) / max(int((codes_sn >= 0).sum()), 1)
    orient = []
    for crossed in (False, True):
        R = {c: vocab.right[_CROSS[c] if crossed else c][r] for c in NAME_COLUMNS}
        fn = _name_levels(R, L, vocab, s["similarity"], "fn")
        sn = _name_levels(R, L, vocab, s["similarity"], "sn")
        orient.append((fn, sn, s["weights"]["forename"][fn] + _surname_weight(sn, L["sn"], tf, s)))
    crossed = orient[1][2] > orient[0][2]
    out = pd.DataFrame({"r": r, "l": l_, "name_order": np.where(crossed, "swapped", "same")})
    out["forename"] = np.where(crossed, orient[1][0], orient[0][0])
    out["surname"] = np.where(crossed, orient[1][1], orient[0][1])
    weight = np.where(crossed, orient[1][2], orient[0][2])
    out["dob"] = dob_levels(_digits(right["dob"])[r], _digits(left["dob"])[l_])
    for field in ("pnc_id", "sex", "postcode"):
        out[field] = _simple_levels(right[field], left[field], r, l_)
    district = _simple_levels(right["district"], left["district"], r, l_)
    out["postcode"] = np.where((out["postcode"] == 1) & (district == 0), 1, np.where(out["postcode"] == 1, 2,
                                                                                         out["postcode"]))
    for field in ("dob", "pnc_id", "sex", "postcode"):
        weight = weight + s["weights"][field][out[field].to_numpy()]
    out["match_weight"] = weight
    return out


def probability(weight) -> np.ndarray:
    return 1.0 / (1.0 + np.exp2(-np.asarray(weight, dtype=float)))


def evidence(levels: pd.DataFrame) -> pd.Series:
    """``forename=exact; surname=typo; dob=day_month_swapped; order=swapped``: how each
    field compared (fields missing on either side are left out)."""
    text = pd.Series("", index=levels.index, dtype="string")
    for field in FIELDS:
        lv = levels[field].fillna(-1).astype(int).to_numpy()
        names = np.array(LEVELS[field] + [""], dtype=object)[lv]
        part = pd.Series(np.where(lv >= 0, field + "=" + names.astype(str) + "; ", ""), index=levels.index)
        text = text + part
    swapped = levels["name_order"].eq("swapped").to_numpy()
    return (text + np.where(swapped, "order=swapped", "")).str.rstrip("; ")


# --------------------------------------------------------------------------- decisions


def _ranked(cands: pd.DataFrame, unit: str) -> pd.DataFrame:
    """Each unit's candidate people, best first (ties broken by the entity, then the row,
    so the order never depends on the input order)."""
    per = cands.sort_values([unit, "match_weight", "entity", "l"], ascending=[True, False, True, True])
    per = per.drop_duplicates([unit, "entity"])
    return per.assign(rank=per.groupby(unit).cumcount())


def decide(cands: pd.DataFrame, unit: str, s: dict) -> pd.DataFrame:
    """Per unit: the best candidate, its probability and evidence, the runner-up, and the
    status: ``linked`` (above the threshold and clear of the runner-up by the margin, A11),
    ``ambiguous`` (above the threshold, not clear) or ``no_match``; ``review`` marks the
    uncertain band (and the ambiguous) for a clerical decision."""
    per = _ranked(cands, unit)
    top = per.loc[per["rank"] == 0].set_index(unit)
    second = per.loc[per["rank"] == 1].set_index(unit).reindex(top.index)
    out = top[["entity", "l", "match_weight", "name_order", *FIELDS]].copy()
    out["link_score"] = probability(top["match_weight"])
    out["runner_up"] = probability(second["match_weight"]).round(12)
    out["runner_up"] = out["runner_up"].fillna(0.0)
    out["runner_up_weight"] = second["match_weight"]
    out["runner_up_id"] = second["entity"]
    gap = top["match_weight"] - second["match_weight"].fillna(-np.inf)
    above = out["link_score"] >= s["threshold"]
    out["link_status"] = np.select([above & (gap >= s["margin"]), above], ["linked", "ambiguous"], "no_match")
    out["review"] = (out["link_status"] == "ambiguous") | (
        (out["link_score"] >= s["review"]) & (out["link_score"] < s["threshold"]))
    out["evidence"] = evidence(out)
    out = out.rename(columns={"entity": "candidate", **{f: f"{f}_level" for f in FIELDS}})
    return out.rename_axis(unit).reset_index()


def apply_decisions(result: pd.DataFrame, decisions: pd.DataFrame | None) -> pd.DataFrame:
    """Clerical decisions (``rec``, ``pnc_id``, ``decision`` accept|reject): an accepted pair
    is linked whatever its score; a rejected best candidate is not linked (the record is left
    ``no_match`` unless its runner-up is accepted).  ``link_basis`` records which applied."""
    out = result.copy()
    out["link_basis"] = np.where(out["link_status"] == "linked", "probabilistic", "")
    if decisions is None or decisions.empty:
        return out
    d = decisions.assign(decision=decisions["decision"].astype(str).str.strip().str.lower())
    d = d.drop_duplicates(["rec", "pnc_id"], keep="last")
    accept = d.loc[d["decision"] == "accept"].drop_duplicates("rec", keep="last").set_index("rec")["pnc_id"]
    rejected = pd.MultiIndex.from_frame(d.loc[d["decision"] == "reject", ["rec", "pnc_id"]].astype(str))
    best = pd.MultiIndex.from_arrays([out["rec"].astype(str), out["candidate"].astype(str)])
    hit = best.isin(rejected)
    out.loc[hit, ["link_status", "link_basis", "review"]] = ["no_match", "clerical_reject", False]
    take = out["rec"].isin(accept.index)
    out.loc[take, "candidate"] = out.loc[take, "rec"].map(accept)
    out.loc[take, ["link_status", "link_basis", "review"]] = ["linked", "clerical_accept", False]
    return out


# --------------------------------------------------------------------------- linking two lists

PROFILE = [*NAME_COLUMNS, "dob", "yob", "mmdd", "pnc_id", "sex", "postcode", "district"]
RECORD_COLUMNS = ["rec", "pnc_id", "link_score", "runner_up", "link_status", "link_basis", "review", "match_weight",
                  "runner_up_weight", "runner_up_id", "candidate", "evidence", "name_order",
                  *[f"{f}_level" for f in FIELDS]]


def _profiles(f: pd.DataFrame, extra: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct comparison profiles of a list (a person typed the same way many times is
    compared once) and each row's profile number."""
    key = f[PROFILE + extra].astype("string").fillna("\x00")
    profile = key.groupby(PROFILE + extra, sort=True).ngroup().to_numpy()
    first = pd.Series(np.arange(len(f))).groupby(profile).min()
    unique = f.iloc[first.to_numpy()].reset_index(drop=True).assign(row=first.to_numpy())
    return unique, profile


def link(left: pd.DataFrame, right: pd.DataFrame, s: dict, decisions: pd.DataFrame | None = None):
    """Link each ``right`` record (``rec``) to an ``entity`` of ``left``.  Returns one row per
    record (:data:`RECORD_COLUMNS`) and the scored candidates of the records marked for review
    (the best two per record, ``l_row``/``r_row`` their rows in ``left``/``right``)."""
    lf = features(left).assign(entity=left["entity"].astype("string").to_numpy())
    rf = features(right)
    lu, _ = _profiles(lf, ["entity"])
    ru, r_profile = _profiles(rf, [])
    pairs = candidate_pairs(lu, ru, s["blocking"], s["max_block"])
    scored = score_pairs(lu, ru, pairs, s)
    scored["match_weight"] += _prior_weight(s["prior"], lu["entity"].nunique())
    scored["entity"] = lu["entity"].to_numpy()[scored["l"].to_numpy()]
    per_profile = decide(scored.rename(columns={"r": "profile"}), "profile", s)
    recs = pd.DataFrame({"rec": right["rec"].to_numpy(), "profile": r_profile, "r_row": np.arange(len(right))})
    out = recs.merge(per_profile, on="profile", how="left")
    out["link_score"] = out["link_score"].fillna(0.0)
    out["runner_up"] = out["runner_up"].fillna(0.0)
    out["link_status"] = out["link_status"].fillna("no_match")
    out["review"] = out["review"].fillna(False).astype(bool)
    out = apply_decisions(out, decisions)
    out["pnc_id"] = out["candidate"].where(out["link_status"] == "linked")
    ranked = _ranked(scored.rename(columns={"r": "profile"}), "profile")
    ranked = ranked.loc[(ranked["rank"] < 2) & (probability(ranked["match_weight"]) >= s["review"])]
    review = out.loc[out["review"], ["rec", "profile", "r_row"]].merge(ranked, on="profile")
    review = review.assign(l_row=lu["row"].to_numpy()[review["l"].to_numpy()], score=probability(review["match_weight"]),
                           evidence=evidence(review))
    return out[RECORD_COLUMNS + ["r_row"]], review.sort_values(["rec", "rank"]).reset_index(drop=True)


def review_table(review: pd.DataFrame, left: pd.DataFrame, right: pd.DataFrame) -> pd.DataFrame:
    """The uncertain pairs for a clerical decision: both records side by side, the score and
    the evidence, and an empty ``decision`` column for the analyst (accept | reject)."""
    cols = ["forenames", "surname", "date_of_birth"] + [c for c in ("pnc_id", "sex", "postcode") if c in left]
    rv = right.reset_index(drop=True).iloc[review["r_row"].to_numpy()]
    lv = left.reset_index(drop=True).iloc[review["l_row"].to_numpy()]
    side = {f"record_{c}": rv[c].to_numpy() for c in cols if c in right and c != "pnc_id"}
    side |= {f"candidate_{c}": lv[c].to_numpy() for c in cols if c != "pnc_id"}
    out = pd.DataFrame({"rec": review["rec"].to_numpy(), "pnc_id": review["entity"].to_numpy(),
                        "rank": review["rank"].to_numpy() + 1, "score": review["score"].round(6).to_numpy(),
                        "match_weight": review["match_weight"].round(3).to_numpy(),
                        "evidence": review["evidence"].to_numpy(), **side, "decision": ""})
    for c in [c for c in out if c.endswith("date_of_birth")]:
        out[c] = pd.to_datetime(out[c], errors="coerce").dt.strftime("%Y-%m-%d")
    return out
