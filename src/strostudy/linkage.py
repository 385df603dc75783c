"""Person linkage for realistic error: a Fellegi–Sunter model on names, date of birth and
(where present) PNC ID, sex and postcode (A10–A11, A80–A86, docs/linkage.md).

1. Blocking (A10d, A84): candidate pairs share the key of any rule, names tried in both orders.
2. Comparison levels (A10, A83): names exact, nickname/transliteration alias, typo, initial,
   shared part, similar, different; DOB exact, day/month swapped, typo, year off, different.
3. Parameters: u from random pairs of the two lists and term frequencies (A81); m by EM on
   the candidate pairs (A82); both shrunk towards the config's m/u, so a small list keeps them.
4. Decision (A80, A11): each record has at most one person among the candidates; the match
   probability of a candidate weighs its evidence against every other candidate and against
   "none of them", with the share of records that have a person (``prior``) estimated too.

Everything is vectorised numpy/pandas on integer codes: names are compared once per distinct
pair of spellings, and no Python loop runs over records or pairs.  Inputs and outputs are put
in a canonical order first, so reruns are byte-identical whatever the input order.

At scale (issue 15): candidates are made, compared and scored a slice of records at a time
(at most ``chunk_pairs`` pairs), so memory is bounded by the slice, and the results do not
depend on it; EM runs over the pairs of its sample of records (at most ``max_records`` records
and ``max_pairs`` pairs), made directly, and weighs each kind of pair once (:class:`_Kinds`).

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
#: Nicknames and transliteration variants: every spelling in a group compares as ``alias``
#: (the first spelling names the group).  Small on purpose: common English hypocorisms and the
#: transliterations met in PNC/PND (Polish, Arabic, Russian, Romanian, Somali, Yoruba).
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
#: The parts a blocking rule is made of (joined by ``+``); ``yod`` is the decade of birth
#: (``yyy`` of ``yyyymmdd``).
BLOCK_PARTS = ("dob", "yob", "yod", "mmdd", "surname_sx", "forename_sx", "forename_initial", "surname_initial",
               "pnc_id", "postcode")
_NAME_PARTS = {"surname_sx", "forename_sx", "forename_initial", "surname_initial"}
_SOUNDEX = str.maketrans("abcdefghijklmnopqrstuvwxyz", "01230120022455012623010202")
_OPTIONAL = ("pnc_id", "sex", "postcode")
#: Candidate pairs compared and scored at a time (``reconcile.linkage.chunk_pairs``): bounds
#: the linker's memory; the results do not depend on it.
CHUNK_PAIRS = 2_000_000
#: EM's sample of records has at most this many candidate pairs (``estimation.max_pairs``).
EM_MAX_PAIRS = 10_000_000
#: EM finds the best pair of a (record, person) met by up to this many kinds of pair column by column.
_WIDE = 6


# --------------------------------------------------------------------------- names


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


def _vocab(values: pd.Series) -> np.ndarray:
    """The distinct non-missing values, sorted (code point order, whatever the input order)."""
    return np.sort(np.asarray(pd.Series(values, dtype="string").dropna().unique(), dtype=object).astype(str))


def _codes(values: pd.Series | np.ndarray, vocab: np.ndarray) -> np.ndarray:
    """Positions of ``values`` in the sorted array ``vocab`` (-1 where missing or absent)."""
    v = pd.Series(values, dtype="string")
    return pd.Index(vocab, dtype="string").get_indexer(v).astype(np.int64)


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct values of an integer array, sorted (a sort and a comparison: numpy's
    own ``unique`` is several times slower on tens of millions of values)."""
    keys = np.sort(keys)
    keep = np.ones(len(keys), dtype=bool)
    keep[1:] = keys[1:] != keys[:-1]
    return keys[keep]


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for non-negative integers, by sorting each key
    packed with its position into one integer where that fits in 63 bits."""
    n = len(keys)
    shift = max(int(n).bit_length(), 1)
    if not n or keys.min() < 0 or int(keys.max()) >= (1 << (62 - shift)):
        return np.unique(keys, return_inverse=True)
    packed = keys << shift if keys.dtype == np.int64 else keys.astype(np.int64) << shift
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    sorted_keys = packed >> shift
    new = np.ones(n, dtype=bool)
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    inverse = np.empty(n, dtype=np.int32 if n < 1 << 31 else np.int64)
    inverse[packed & ((1 << shift) - 1)] = np.cumsum(new, dtype=inverse.dtype) - 1
    return sorted_keys[new], inverse


def _unique_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of an integer matrix, sorted by the first column, then the second...,
    and each row's position among them."""
    n = len(matrix)
    if not n:
        return matrix, np.zeros(0, dtype=np.int64)
    order = np.lexsort(matrix.T[::-1])
    ordered = matrix[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


class Names:
    """Every distinct normalised name of both lists, forenames and surnames together (so a
    swapped forename and surname compare), sorted, with what the comparisons need of each:
    the name without spaces, its first and last word, its alias group, Soundex, initial."""

    def __init__(self, normalised: list[pd.Series]):
        self.words = _vocab(pd.concat(normalised, ignore_index=True))
        w = pd.Series(self.words, dtype="string")
        parts = w.str.split(" ")
        self.text = {"whole": w.str.replace(" ", "", regex=False), "first": parts.str[0]}
        last = parts.str[-1]
        aliases = pd.Series({name: group.split()[0] for group in ALIASES for name in group.split()})
        alias_first = self.text["first"].map(aliases).fillna(self.text["first"])
        alias_whole = self.text["whole"].map(aliases).fillna(self.text["whole"])
        # One code space for every word form, so any form of one name compares with any other.
        forms = [self.text["whole"], self.text["first"], last, alias_first, alias_whole]
        token_vocab = _vocab(pd.concat(forms, ignore_index=True))
        self.whole, self.first, self.last, self.alias_first, self.alias_whole = (
            _codes(f, token_vocab) for f in forms)
        sx_first, sx_whole = soundex(self.text["first"]), soundex(self.text["whole"])
        sx_vocab = _vocab(pd.concat([sx_first, sx_whole], ignore_index=True))
        self.sx_first, self.sx_whole, self.n_sx = _codes(sx_first, sx_vocab), _codes(sx_whole, sx_vocab), len(sx_vocab)
        self.initial = _letter_codes(self.text["first"].str[0])
        self.last_letter = {form: _letter_codes(self.text[form].str[-1]) for form in ("whole", "first")}
        self.first_len = self.text["first"].str.len().fillna(0).to_numpy(dtype=np.int64)
        self.whole_len = self.text["whole"].str.len().fillna(0).to_numpy(dtype=np.int64)

    def code(self, names: pd.Series) -> np.ndarray:
        return _codes(names, self.words)


def _letter_codes(letters: pd.Series) -> np.ndarray:
    """Single letters as 0-25 (-1 for anything else), one per distinct name."""
    text = pd.Series(letters, dtype="string").fillna("?").str[:1].replace("", "?")
    code = np.frombuffer(text.to_numpy(dtype=object).astype("S1").tobytes(), dtype=np.uint8).astype(np.int64) - 97
    return np.where((code >= 0) & (code < 26), code, -1)


def _similarities(names: Names, a: np.ndarray, b: np.ndarray, form: str, sim: dict) -> tuple[np.ndarray, np.ndarray]:
    """Jaro–Winkler similarity of name forms ``a``, ``b`` (``whole`` or ``first``), and whether
    they are a typo (A83): Jaro–Winkler >= ``typo``, or at most ``typo_edits`` edits of
    optimal string alignment (substitution, insertion, deletion or transposition of adjacent
    letters) with both at least ``typo_min_length`` letters long."""
    from rapidfuzz.distance import OSA, JaroWinkler
    from rapidfuzz.process import cdist, cpdist

    if not len(a):
        return np.zeros(0), np.zeros(0, dtype=bool)
    text = names.text[form].to_numpy(dtype=object)
    length = names.whole_len if form == "whole" else names.first_len
    # workers=-1: every core; each pair is scored alone, so the result does not depend on it.
    ua, ub = _distinct(a), _distinct(b)
    if len(ua) * len(ub) <= min(4 * len(a), 1 << 26):  # few names each side: every combination at once
        grid = cdist(list(text[ua]), list(text[ub]), scorer=JaroWinkler.normalized_similarity, workers=-1,
                     dtype=np.float64)
        jw = grid[np.searchsorted(ua, a), np.searchsorted(ub, b)]
        # cdist works in single precision: values at a cut-off are scored again pair by pair, so
        # a level never depends on which of the two ways the similarity was computed.
        near = np.flatnonzero((np.abs(jw - sim["typo"]) < 1e-6) | (np.abs(jw - sim["similar"]) < 1e-6))
        if len(near):
            jw[near] = cpdist(list(text[a[near]]), list(text[b[near]]), scorer=JaroWinkler.normalized_similarity)
    else:
        jw = np.asarray(cpdist(list(text[a]), list(text[b]), scorer=JaroWinkler.normalized_similarity, workers=-1))
    typo = jw >= sim["typo"]
    k = sim["typo_edits"]
    # Edit distance only where it can decide: lengths within k of each other, long enough, and
    # (for one edit in names of 4+ letters) the same first or last letter, which one edit keeps.
    can = ~typo & (np.minimum(length[a], length[b]) >= sim["typo_min_length"]) & (np.abs(length[a] - length[b]) <= k)
    if k == 1 and sim["typo_min_length"] >= 4:
        last = names.last_letter[form]
        can &= (names.initial[a] == names.initial[b]) | (last[a] == last[b])
    check = np.flatnonzero(can)
    if len(check):
        edits = cpdist(list(text[a[check]]), list(text[b[check]]), scorer=OSA.distance, score_cutoff=k,
                       workers=-1)
        typo[check] = np.asarray(edits) <= k
    return jw, typo


def _distinct_pairs(a: np.ndarray, b: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct pairs (``x``, ``y``) of codes ``a``, ``b`` (below ``size``), sorted, and
    each pair's position among them.  When the codes in use are few enough, a table of every
    combination marks those present (linear time); else a sort."""
    present_a, present_b = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)
    present_a[a], present_b[b] = True, True
    used_a, used_b = np.flatnonzero(present_a), np.flatnonzero(present_b)
    if len(used_a) * len(used_b) <= 1 << 26:  # int32 throughout: half the memory traffic
        dense_a = (np.cumsum(present_a, dtype=np.int32) - 1) * np.int32(len(used_b))
        dense_b = np.cumsum(present_b, dtype=np.int32) - 1
        cell = dense_a[a] + dense_b[b]
        seen = np.zeros(len(used_a) * len(used_b), dtype=bool)
        seen[cell] = True
        cells = np.flatnonzero(seen)
        position = np.cumsum(seen, dtype=np.int32) - 1
        return used_a[cells // len(used_b)], used_b[cells % len(used_b)], position[cell]
    keys, inverse = _unique_inverse(a * np.int64(size) + b)
    return keys // size, keys % size, inverse


def name_levels(names: Names, a: np.ndarray, b: np.ndarray, role: str, sim: dict) -> np.ndarray:
    """Comparison level of names ``a`` and ``b`` (codes in ``names``; -1 missing) as forenames
    (``role='forename'``: the first forename decides, middle names are not compared) or
    surnames (the whole surname); -1 where either is missing.  Each distinct pair of spellings
    is worked out once."""
    out = np.full(len(a), -1, dtype=np.int8)
    ok = (a >= 0) & (b >= 0)
    if not ok.any():
        return out
    every = bool(ok.all())
    x, y, inverse = _distinct_pairs(a if every else a[ok], b if every else b[ok], len(names.words))
    fn = role == "forename"
    exact = names.whole[x] == names.whole[y]
    if fn:
        exact |= names.first[x] == names.first[y]
        alias = names.alias_first[x] == names.alias_first[y]
    else:
        alias = names.alias_whole[x] == names.alias_whole[y]
    jw, typo = _similarities(names, x, y, "whole", sim)
    if fn:  # the first forename as well as the whole: "isabe lla" ~ "isabella", "thi lan" ~ "thi"
        several = np.flatnonzero((names.first[x] != names.whole[x]) | (names.first[y] != names.whole[y]))
        jw_first, typo_first = _similarities(names, x[several], y[several], "first", sim)
        jw[several] = np.maximum(jw[several], jw_first)
        typo[several] |= typo_first
    shared = ((names.first[x] == names.first[y]) | (names.first[x] == names.last[y]) |
              (names.last[x] == names.first[y]) | (names.last[x] == names.last[y]))
    sx = names.sx_first if fn else names.sx_whole
    similar = (sx[x] == sx[y]) | (jw >= sim["similar"])
    conditions = [exact, alias, typo]
    if fn:
        one_letter = (names.first_len[x] == 1) | (names.first_len[y] == 1)
        conditions.append(one_letter & (names.initial[x] == names.initial[y]))
    conditions += [shared, similar]
    levels = np.select(conditions, np.arange(len(conditions)), len(conditions)).astype(np.int8)
    if every:
        return levels[inverse]
    out[ok] = levels[inverse]
    return out


# --------------------------------------------------------------------------- dates of birth


def dob_number(values: pd.Series) -> np.ndarray:
    """A DOB as the integer ``yyyymmdd`` (-1 where missing).  Dates are taken as they are;
    text in the form ``yyyy-mm-dd`` or ``yyyymmdd`` keeps its digits even when the date is
    impossible (``1945-04-93``: a mistyped digit is still evidence, A85); other text is
    missing."""
    out = np.full(len(values), -1, dtype=np.int64)
    if not len(values):
        return out
    if pd.api.types.is_datetime64_any_dtype(values):
        d = pd.Series(values)
        ok = d.notna().to_numpy()
        out[ok] = (d.dt.year * 10000 + d.dt.month * 100 + d.dt.day).to_numpy()[ok]
        return out
    # Text: only these forms (a guess at the order of day and month could link the wrong person).
    text = pd.Series(values).astype("string").str.strip()
    digits = text.str.extract(r"^(\d{4})-?(\d{2})-?(\d{2})(?:$|[T ])")
    ok = digits.notna().all(axis=1).to_numpy()
    out[ok] = (digits[0] + digits[1] + digits[2]).to_numpy(dtype=object)[ok].astype(np.int64)
    return out


def dob_bcd(dob: np.ndarray) -> np.ndarray:
    """``yyyymmdd`` integers as 8 binary-coded decimal digits (4 bits each) in a uint32, so
    that digits compare with bit operations (missing dates give 0; callers mask them)."""
    x = np.maximum(dob, 0)
    out = np.zeros(len(x), dtype=np.uint32)
    for place in range(8):  # a loop over the 8 digit places, not over dates
        out |= ((x // 10 ** place) % 10).astype(np.uint32) << np.uint32(4 * place)
    return out


def dob_levels(a: np.ndarray, b: np.ndarray, bcd_a: np.ndarray | None = None,
               bcd_b: np.ndarray | None = None) -> np.ndarray:
    """Level of the DOB comparison of ``yyyymmdd`` integers: exact, day and month swapped, a
    typo (one digit, or two adjacent digits transposed), the year off by 1 or 10 with the same
    day and month, else different; -1 if either is missing (A10).  ``bcd_*``: the same dates
    as :func:`dob_bcd` gives them, when the caller has them already."""
    bcd_a = dob_bcd(a) if bcd_a is None else bcd_a
    bcd_b = dob_bcd(b) if bcd_b is None else bcd_b
    x = bcd_a ^ bcd_b
    differs = (x | (x >> np.uint32(1)) | (x >> np.uint32(2)) | (x >> np.uint32(3))) & np.uint32(0x11111111)
    n_diff = np.bitwise_count(differs)
    levels = np.where(n_diff == 0, 0, np.where(n_diff == 1, 2, 4)).astype(np.int8)
    two = np.flatnonzero(n_diff == 2)
    if len(two):  # two adjacent digits transposed: the digits differ by the same bits, which are theirs
        d = differs[two]
        low = d & (~d + np.uint32(1))
        shifted_x, shifted_a = x[two] // low, bcd_a[two] // low
        z = shifted_x & np.uint32(0xF)
        transposed = ((d == low * np.uint32(0x11)) & (((shifted_x >> np.uint32(4)) & np.uint32(0xF)) == z)
                      & (((shifted_a ^ (shifted_a >> np.uint32(4))) & np.uint32(0xF)) == z))
        levels[two[transposed]] = 2
    # Day and month swapped needs the same year; the year off, the same day and month.
    same_year, same_mmdd = (x >> np.uint32(16)) == 0, (x & np.uint32(0xFFFF)) == 0
    rest = np.flatnonzero((levels == 4) & (same_year | same_mmdd))
    if len(rest):
        xa, xb = bcd_a[rest], bcd_b[rest]
        byte = np.uint32(0xFF)
        day_a, month_a, day_b, month_b = xa & byte, (xa >> np.uint32(8)) & byte, xb & byte, (xb >> np.uint32(8)) & byte
        swapped = ((xa >> np.uint32(16)) == (xb >> np.uint32(16))) & (month_a == day_b) & (day_a == month_b)
        year_gap = np.abs(a[rest] // 10000 - b[rest] // 10000)
        year_off = ((xa & np.uint32(0xFFFF)) == (xb & np.uint32(0xFFFF))) & np.isin(year_gap, [1, 10])
        levels[rest] = np.select([swapped, year_off], [1, 3], 4)
    return np.where((a < 0) | (b < 0), -1, levels).astype(np.int8)


# --------------------------------------------------------------------------- the two lists


class Lists:
    """Both person lists as integer codes, reduced to their distinct profiles (a person typed
    the same way many times is compared once), in a canonical order."""

    COLUMNS = ["fn", "sn", "dob", "pnc_id", "sex", "postcode"]

    def __init__(self, left: pd.DataFrame, right: pd.DataFrame):
        # Each distinct spelling is normalised and coded once, then spread back to the rows.
        columns = (("fn", "forenames"), ("sn", "surname"))
        spelt = {(side, f): pd.factorize(frame[c].astype("string"))
                 for side, frame in (("left", left), ("right", right)) for f, c in columns}
        norm = {key: normalise_name(pd.Series(uniques, dtype="string")).replace("", pd.NA)
                for key, (_, uniques) in spelt.items()}
        self.names = Names(list(norm.values()))
        cols = {"left": {}, "right": {}}
        for (side, f), (row_code, _) in spelt.items():
            code = np.append(self.names.code(norm[side, f]), -1)  # row_code -1 (missing) takes the -1
            cols[side][f] = code[row_code]
        for side, frame in (("left", left), ("right", right)):
            cols[side]["dob"] = dob_number(frame["date_of_birth"])
        for col in _OPTIONAL:
            values = [self._clean(frame, col) for frame in (left, right)]
            vocab = _vocab(pd.concat(values, ignore_index=True))
            cols["left"][col], cols["right"][col] = (_codes(v, vocab) for v in values)
            if col == "postcode":
                district = [v.str[:-3].replace("", pd.NA) for v in values]
                dvocab = _vocab(pd.concat(district, ignore_index=True))
                self.district = [_codes(v, dvocab) for v in district]
        self.entity_names = _vocab(left["entity"])
        entity = _codes(left["entity"].astype("string"), self.entity_names)
        left_matrix = np.column_stack([entity] + [cols["left"][c] for c in self.COLUMNS])
        right_matrix = np.column_stack([cols["right"][c] for c in self.COLUMNS])
        # Sorted distinct rows: left by entity first, so one person's profiles are adjacent.
        lu, self.left_profile = _unique_rows(left_matrix)
        ru, self.right_profile = _unique_rows(right_matrix)
        self.L = {"entity": lu[:, 0], **{c: lu[:, i + 1] for i, c in enumerate(self.COLUMNS)}}
        self.R = {c: ru[:, i] for i, c in enumerate(self.COLUMNS)}
        self.left_count = np.bincount(self.left_profile, minlength=len(lu))
        self.right_count = np.bincount(self.right_profile, minlength=len(ru))
        self.left_row = _first_row(self.left_profile, len(lu))
        self.right_row = _first_row(self.right_profile, len(ru))
        self.L["district"] = self.district[0][self.left_row] if len(lu) else np.zeros(0, np.int64)
        self.L["bcd"], self.R["bcd"] = dob_bcd(self.L["dob"]), dob_bcd(self.R["dob"])
        self.R["district"] = self.district[1][self.right_row] if len(ru) else np.zeros(0, np.int64)
        self.n_entities = len(self.entity_names)

    @staticmethod
    def _clean(frame: pd.DataFrame, col: str) -> pd.Series:
        values = frame[col] if col in frame else pd.Series(pd.NA, index=frame.index)
        out = values.astype("string").str.upper().str.replace(r"\s+", "", regex=True).replace("", pd.NA)
        return out.str[0] if col == "sex" else out


def _first_row(profile: np.ndarray, n: int) -> np.ndarray:
    """The first row of each profile."""
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, profile, np.arange(len(profile), dtype=np.int64))
    return first


# --------------------------------------------------------------------------- blocking


def _block_key(lists: Lists, side: str, rule: str, crossed: bool = False) -> np.ndarray:
    """One integer blocking key per profile of ``side`` for ``rule`` (-1 if any part is
    missing); ``crossed`` reads the forename as the surname and back (name order swapped)."""
    P = lists.L if side == "left" else lists.R
    names = lists.names
    fn, sn = (P["sn"], P["fn"]) if crossed else (P["fn"], P["sn"])
    dob = P["dob"]

    def part(name: str) -> tuple[np.ndarray, int]:
        if name in _NAME_PARTS:
            code = fn if name.startswith("forename") else sn
            table = {"surname_sx": names.sx_whole, "forename_sx": names.sx_first,
                     "forename_initial": names.initial, "surname_initial": names.initial}[name]
            card = names.n_sx if name.endswith("_sx") else 26
            return np.where(code >= 0, table[np.maximum(code, 0)] if len(table) else -1, -1), card
        if name in ("dob", "yob", "yod", "mmdd"):
            value = {"dob": dob, "yob": dob // 10000, "yod": dob // 100000, "mmdd": dob % 10000}[name]
            return np.where(dob >= 0, value, -1), {"dob": 100_000_000, "yod": 1_000}.get(name, 10_000)
        return P[name], int(max(P[name].max(initial=0), lists.R[name].max(initial=0), lists.L[name].max(initial=0))) + 1

    key = np.zeros(len(dob), dtype=np.int64)
    bits = 0
    for name in rule.split("+"):
        value, card = part(name)
        width = int(card).bit_length()
        if bits + width > 62:
            raise ValueError(f"blocking rule {rule!r} has too many parts")
        key = np.where((key < 0) | (value < 0), -1, (key << width) | np.maximum(value, 0))
        bits += width
    return key


def _key_runs(lkey: np.ndarray, rkey: np.ndarray, max_rows: int, max_pairs: int):
    """The left profiles sorted by key (``order``), where each key's run starts and how long
    it is, and the right profiles (``rpos``) whose key has a kept run (``at``, its index): a
    key held by more than ``max_rows`` left profiles, or that would make more than
    ``max_pairs`` pairs, is skipped (A84)."""
    lpos = np.flatnonzero(lkey >= 0)
    order = lpos[np.argsort(lkey[lpos], kind="stable")]
    ukeys, start, count = np.unique(lkey[order], return_index=True, return_counts=True)
    rpos = np.flatnonzero(rkey >= 0)
    at = np.searchsorted(ukeys, rkey[rpos])
    hit = at < len(ukeys)
    hit[hit] = ukeys[at[hit]] == rkey[rpos[hit]]
    rpos, at = rpos[hit], at[hit]
    n_right = np.bincount(at, minlength=len(ukeys))
    keep = (count <= max_rows) & (count * n_right <= max_pairs)
    return order, start, count, rpos[keep[at]], at[keep[at]]


def _join(lkey: np.ndarray, rkey: np.ndarray, max_rows: int, max_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (right profile, left profile) with equal keys; a key held by more than
    ``max_rows`` left profiles, or that would make more than ``max_pairs`` pairs, is skipped."""
    order, start, count, rpos, at = _key_runs(lkey, rkey, max_rows, max_pairs)
    n = count[at]
    total = int(n.sum())
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return np.repeat(rpos, n), order[np.repeat(start[at], n) + offset]


class Blocking:
    """The blocking rules' keys, ready to join any set of right profiles with the left list
    (A10d, A84).  Which keys are skipped (``max_rows``, ``max_pairs``) is decided once over
    every right profile, so the pairs of a set of profiles are exactly those that the whole
    join gives them, whatever set they are asked for with: candidates can be made, compared
    and scored a bounded slice of the records at a time."""

    def __init__(self, lists: Lists, rules: list[str], max_rows: int, max_pairs: int):
        self.n_left = np.int64(max(len(lists.L["dob"]), 1))
        self.n_right = len(lists.R["dob"])
        #: per (rule, name order): the left profiles sorted by key, where each kept key's run
        #: starts and how long it is, and each right profile's key run (-1: none, or skipped)
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for rule in rules:
            lkey = _block_key(lists, "left", rule)
            crossings = (False, True) if _NAME_PARTS & set(rule.split("+")) else (False,)
            for crossed in crossings:
                order, start, count, rpos, at = _key_runs(lkey, _block_key(lists, "right", rule, crossed),
                                                          max_rows, max_pairs)
                slot = np.full(self.n_right, -1, dtype=np.int64)
                slot[rpos] = at
                self.parts.append((order, start, count, slot))

    def pairs_per_record(self) -> np.ndarray:
        """Per right profile, the pairs its keys make over every rule (a bound on its distinct
        candidates: a pair found by two rules counts twice)."""
        out = np.zeros(self.n_right, dtype=np.int64)
        for _, _, count, slot in self.parts:
            ok = slot >= 0
            out[ok] += count[slot[ok]]
        return out

    def pairs(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Candidate pairs (``r``, ``l``) of the right profiles ``rows`` (sorted; all if None),
        sorted by ``r`` then ``l``."""
        rows = np.arange(self.n_right, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        found = []
        for order, start, count, slot in self.parts:
            at = slot[rows]
            ok = at >= 0
            rpos, at = rows[ok], at[ok]
            n = count[at]
            total = int(n.sum())
            offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
            found.append(np.repeat(rpos, n) * self.n_left + order[np.repeat(start[at], n) + offset])
        pair = _distinct(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
        return pair // self.n_left, pair % self.n_left

    def chunks(self, max_pairs: int, rows: np.ndarray | None = None) -> list[np.ndarray]:
        """The right profiles ``rows`` (sorted; all if None) in consecutive slices of at most
        ``max_pairs`` pairs each (by the bound of :meth:`pairs_per_record`; a record with more
        has a slice of its own)."""
        rows = np.arange(self.n_right, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return [rows]
        total = np.cumsum(self.pairs_per_record()[rows])
        ends, at = [], 0
        while at < len(rows):
            base = total[at - 1] if at else 0
            end = max(int(np.searchsorted(total, base + max_pairs, side="right")), at + 1)
            ends.append(min(end, len(rows)))
            at = ends[-1]
        starts = [0, *ends[:-1]]
        return [rows[a:b] for a, b in zip(starts, ends)]


def candidate_pairs(lists: Lists, rules: list[str], max_rows: int, max_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pairs (``r``, ``l``: right and left profiles) sharing a key of any blocking
    rule, names also tried in swapped order; sorted by ``r`` then ``l``.  Each rule is one
    sort and one search, so the work is near-linear in the pairs found."""
    return Blocking(lists, rules, max_rows, max_pairs).pairs()


# --------------------------------------------------------------------------- comparing pairs


class Compared:
    """The comparison levels of pairs (``r``, ``l``): names in the same order and, for the
    pairs ``crossed`` where that is weak, in swapped order (``fn_x``, ``sn_x``), and the other
    fields; ``fn_value``/``sn_value`` are the left names and ``fn_record``/``sn_record`` the
    right ones, for their term frequencies."""

    def __init__(self, lists: Lists | None, r: np.ndarray, l_: np.ndarray, sim: dict | None = None,
                 cross: bool = True):
        self.r, self.l = r, l_
        if lists is None:
            return
        from concurrent.futures import ThreadPoolExecutor

        R, L, names = lists.R, lists.L, lists.names
        # Independent comparisons run two at a time (numpy and rapidfuzz release the GIL); each
        # writes its own array, so the result does not depend on the order they finish in.
        with ThreadPoolExecutor(max_workers=2) as pool:
            fn = pool.submit(name_levels, names, R["fn"][r], L["fn"][l_], "forename", sim)
            sn = pool.submit(name_levels, names, R["sn"][r], L["sn"][l_], "surname", sim)
            self.levels = {"fn": fn.result(), "sn": sn.result()}
            dob = pool.submit(dob_levels, R["dob"][r], L["dob"][l_], R["bcd"][r], L["bcd"][l_])
            # Swapped order can only help where the same order is not already exact or alias, and
            # is read only where a swapped name shares its first letter or alias group (A83).
            weak = np.flatnonzero((self.levels["fn"] > 1) | (self.levels["sn"] > 1) | (self.levels["fn"] < 0)
                                  | (self.levels["sn"] < 0)) if cross else np.zeros(0, dtype=np.int64)
            self.crossed = weak[_may_agree(names, R["sn"][r[weak]], L["fn"][l_[weak]])
                                | _may_agree(names, R["fn"][r[weak]], L["sn"][l_[weak]])]
            rw, lw = r[self.crossed], l_[self.crossed]
            fn_x = pool.submit(name_levels, names, R["sn"][rw], L["fn"][lw], "forename", sim)
            self.levels["sn_x"] = name_levels(names, R["fn"][rw], L["sn"][lw], "surname", sim)
            self.levels["fn_x"], self.levels["dob"] = fn_x.result(), dob.result()
        for field in ("pnc_id", "sex"):
            self.levels[field] = _equal_levels(R[field][r], L[field][l_])
        postcode = _equal_levels(R["postcode"][r], L["postcode"][l_])
        district = _equal_levels(R["district"][r], L["district"][l_])
        self.levels["postcode"] = np.where(postcode == 1, np.where(district == 0, 1, 2), postcode).astype(np.int8)
        self.fn_value, self.sn_value = L["fn"][l_], L["sn"][l_]
        self.fn_record, self.sn_record = R["fn"][r], R["sn"][r]

    def subset(self, rows: np.ndarray) -> Compared:
        """The same comparisons for the pairs ``rows`` (sorted positions)."""
        out = Compared(None, self.r[rows], self.l[rows])
        out.levels = {k: v[rows] for k, v in self.levels.items() if k not in ("fn_x", "sn_x")}
        at = np.searchsorted(rows, self.crossed)
        keep = (at < len(rows)) & (rows[np.minimum(at, len(rows) - 1)] == self.crossed) if len(rows) else at < 0
        out.crossed = at[keep]
        out.levels["fn_x"], out.levels["sn_x"] = self.levels["fn_x"][keep], self.levels["sn_x"][keep]
        out.fn_value, out.sn_value = self.fn_value[rows], self.sn_value[rows]
        out.fn_record, out.sn_record = self.fn_record[rows], self.sn_record[rows]
        return out

    def name_levels_kept(self, pairs: np.ndarray, swapped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forename and surname levels of ``pairs`` in the order that was kept."""
        fn, sn = self.levels["fn"][pairs].copy(), self.levels["sn"][pairs].copy()
        sw = np.flatnonzero(swapped[pairs])
        if len(sw):
            at = np.searchsorted(self.crossed, pairs[sw])
            fn[sw], sn[sw] = self.levels["fn_x"][at], self.levels["sn_x"][at]
        return fn, sn


def _stack(parts: list[Compared]) -> Compared:
    """The comparisons of several sets of pairs as one set, in that order."""
    out = Compared(None, np.concatenate([p.r for p in parts]), np.concatenate([p.l for p in parts]))
    out.levels = {k: np.concatenate([p.levels[k] for p in parts]) for k in parts[0].levels}
    offset = np.cumsum([0] + [len(p.r) for p in parts[:-1]])
    out.crossed = np.concatenate([p.crossed + o for p, o in zip(parts, offset)])
    for attr in ("fn_value", "sn_value", "fn_record", "sn_record"):
        setattr(out, attr, np.concatenate([getattr(p, attr) for p in parts]))
    return out


def _may_agree(names: Names, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Names that share their first letter or alias group (both present)."""
    ok = (a >= 0) & (b >= 0)
    a, b = np.maximum(a, 0), np.maximum(b, 0)
    if not len(names.words):
        return ok
    return ok & ((names.initial[a] == names.initial[b]) | (names.alias_first[a] == names.alias_first[b])
                 | (names.alias_whole[a] == names.alias_whole[b]))


def _equal_levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where((a < 0) | (b < 0), -1, np.where(a == b, 0, 1)).astype(np.int8)


# --------------------------------------------------------------------------- the model


class Model:
    """m and u of each level, the term frequencies of names and the share ``pi`` of records
    whose person is among the left list's people; ``weights`` turns levels into bits."""

    def __init__(self, m: dict, u: dict, tf: dict, pi: float, s: dict):
        self.m, self.u, self.tf, self.pi, self.s = m, u, tf, pi, s

    def tables(self) -> dict:
        """log2(m/u) per level of each field; index -1 (missing) is 0 bits."""
        return {f: np.append(np.log2(self.m[f] / self.u[f]), 0.0) for f in FIELDS}

    def weights(self, c: Compared) -> tuple[np.ndarray, np.ndarray]:
        """Match weight (log2 Bayes factor) of each pair and whether its names read better
        swapped; exact agreement on a name weighs by that name's frequency (A81)."""
        W = self.tables()
        tf_on = {"forename": self.s["tf_forename"], "surname": self.s["tf_surname"]}

        def exact_bits(field: str, frequency_of: str) -> np.ndarray:
            """Bits of exact agreement at ``field``'s level on each name of the vocabulary, the
            name being as common as it is as a ``frequency_of`` (forename or surname)."""
            return np.log2(self.m[field][0] / np.maximum(self.tf[frequency_of], self.s["tf_minimum"]))

        def names(levels, person_names, record_names, crossed: bool):
            w = np.zeros(len(levels[0]))
            for field, level, person, record in zip(("forename", "surname"), levels, person_names, record_names):
                bits = W[field][level]
                if tf_on[field] and len(self.tf[field]):
                    # Names read swapped agree on the record's surname as the person's forename (and back):
                    # the name is as common as it is in the record's role, so a swapped profile of one
                    # person never out-scores another person typed in the same order.
                    role = {"forename": "surname", "surname": "forename"}[field] if crossed else field
                    table = exact_bits(field, role)
                    # A variant (alias, typo...) is never stronger evidence than agreeing on the record's
                    # own name: else "Muhammad" would out-score "Mohammed" for a record "Mohammed" (A81).
                    bits = np.where(level == 0, table[np.maximum(person, 0)],
                                    np.where(level > 0, np.minimum(bits, table[np.maximum(record, 0)]), bits))
                w += bits
            return w

        lv = c.levels
        w = names((lv["fn"], lv["sn"]), (c.fn_value, c.sn_value), (c.fn_record, c.sn_record), False)
        swapped = np.zeros(len(w), dtype=bool)
        if len(c.crossed):
            x = c.crossed
            crossed = names((lv["fn_x"], lv["sn_x"]), (c.fn_value[x], c.sn_value[x]), (c.sn_record[x], c.fn_record[x]),
                            True)
            better = crossed > w[x]
            swapped[x[better]] = True
            w[x[better]] = crossed[better]
        for field in ("dob", "pnc_id", "sex", "postcode"):
            w += W[field][lv[field]]
        return w, swapped


def _config_mu(s: dict) -> tuple[dict, dict]:
    m = {f: np.array([s["m_u"][f][lv][0] for lv in LEVELS[f]], dtype=float) for f in FIELDS}
    u = {f: np.array([s["m_u"][f][lv][1] for lv in LEVELS[f]], dtype=float) for f in FIELDS}
    return m, u


def _level_counts(levels: np.ndarray, n_levels: int, weight: np.ndarray) -> np.ndarray:
    """The ``weight`` of each level (missing, -1, left out), summed in order."""
    bins = np.where(levels >= 0, levels, n_levels).astype(np.intp)  # missing: a bin of its own, dropped
    return np.bincount(bins, weights=weight, minlength=n_levels + 1)[:n_levels]


def _shrink(counts: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Counts shrunk towards the prior proportions, worth ``strength`` observations."""
    return (counts + strength * prior) / (counts.sum() + strength)


def term_frequencies(lists: Lists) -> dict:
    """The share of the left list's people with each forename (first word) and surname: the u
    of exact agreement on that name, since a record's candidates are those people (A81).  Each
    person counts once per spelling, however many rows they have."""
    names = lists.names
    out = {}
    for field, col, form in (("forename", "fn", names.first), ("surname", "sn", names.whole)):
        have = lists.L[col] >= 0
        n_forms = int(form.max(initial=0)) + 1
        person_form = _distinct(lists.L["entity"][have] * n_forms + form[lists.L[col][have]])
        per_form = np.bincount(person_form % n_forms, minlength=n_forms) / max(lists.n_entities, 1)
        out[field] = per_form[form] if len(form) else np.zeros(0)
    return out


def random_pair_counts(lists: Lists, s: dict) -> tuple[dict, float]:
    """How many random pairs of a left and a right record fall in each level of each field
    (all pairs when there are no more than ``u_sample_pairs``, else a seeded sample), and the
    number of all pairs each sampled pair stands for.  These pairs include the few true
    matches, which :func:`fit` takes out again to give u (A81)."""
    est = s["estimation"]
    n_r, n_l = len(lists.right_profile), len(lists.left_profile)
    if n_r * n_l <= est["u_sample_pairs"]:
        r = np.repeat(np.arange(len(lists.right_count)), len(lists.left_count))
        l_ = np.tile(np.arange(len(lists.left_count)), len(lists.right_count))
        weight, scale = (lists.right_count[r] * lists.left_count[l_]).astype(float), 1.0
    else:  # rows in canonical (profile) order, so the sample does not depend on the input order
        rng = np.random.default_rng(est["seed"])
        rows_r = np.repeat(np.arange(len(lists.right_count)), lists.right_count)
        rows_l = np.repeat(np.arange(len(lists.left_count)), lists.left_count)
        r = rows_r[rng.integers(0, n_r, est["u_sample_pairs"])]
        l_ = rows_l[rng.integers(0, n_l, est["u_sample_pairs"])]
        weight, scale = np.ones(len(r)), n_r * n_l / est["u_sample_pairs"]
    c = Compared(lists, r, l_, s["similarity"], cross=False)
    keys = {"forename": "fn", "surname": "sn"}
    return {f: _level_counts(c.levels[keys.get(f, f)], len(LEVELS[f]), weight) for f in FIELDS}, scale


class _Segments:
    """Pairs sorted by record then person: the boundaries of each (record, person) run and of
    each record, for reductions without a Python loop."""

    def __init__(self, r: np.ndarray, entity: np.ndarray):
        n = len(r)
        new_pe = np.ones(n, dtype=bool)
        new_pe[1:] = (r[1:] != r[:-1]) | (entity[1:] != entity[:-1])
        self.pe_start = np.flatnonzero(new_pe)
        self.pe_r = r[self.pe_start]
        new_r = np.ones(len(self.pe_start), dtype=bool)
        new_r[1:] = self.pe_r[1:] != self.pe_r[:-1]
        self.r_start = np.flatnonzero(new_r)
        self.r = self.pe_r[self.r_start]
        self.n = n
        #: each pair's (record, person) run, and each run's record
        self.run = np.repeat(np.arange(len(self.pe_start)), np.diff(np.append(self.pe_start, n)))
        self.record = np.repeat(np.arange(len(self.r_start)), np.diff(np.append(self.r_start, len(self.pe_start))))

    def best_pair(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per (record, person): the highest weight and its first pair (the person's profile
        that reads best)."""
        if not self.n:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        top = np.maximum.reduceat(w, self.pe_start)
        idx = np.where(w == top[self.run], np.arange(self.n), self.n)
        return top, np.minimum.reduceat(idx, self.pe_start)

    def per_record(self, values: np.ndarray, op) -> np.ndarray:
        return op.reduceat(values, self.r_start) if len(values) else np.zeros(0)


def posteriors(w_pe: np.ndarray, seg: _Segments, pi: float, n_entities: int):
    """Per (record, person) the probability that this person is the record's, and per record
    the probability that it is one of them (A80): hypotheses "person k" (prior pi/N each,
    Bayes factor 2^w_k against "none") and "none of the N" (prior 1 - pi)."""
    if not len(w_pe):
        return np.zeros(0), np.zeros(0)
    top = seg.per_record(w_pe, np.maximum)
    k = seg.record
    shifted = np.exp2(w_pe - top[k])
    total = seg.per_record(shifted, np.add)  # sum of Bayes factors / 2^top
    log_prior = np.log2(pi / max(n_entities, 1))
    none = np.log2(1 - pi) if pi < 1 else -np.inf
    scale = np.maximum(log_prior + top + np.log2(total), none)  # log2 of the larger term, for stability
    denom = np.exp2(log_prior + top + np.log2(total) - scale) + np.exp2(none - scale)
    p_person = np.exp2(log_prior + w_pe - scale[k]) / denom[k]
    p_any = np.exp2(log_prior + top + np.log2(total) - scale) / denom
    return p_person, p_any


class _Kinds:
    """Pairs grouped by everything their match weight depends on: each field's level and,
    for a name, the name whose frequency weighs it (the person's if exact, the record's if a
    variant), in both orders where the names were also read swapped.  Pairs of one kind weigh
    the same under any model, so EM weighs each kind once (``kinds``: one pair of each, as a
    :class:`Compared`) and spreads the weights to the pairs (``kind``); the weights are those
    :meth:`Model.weights` gives the pairs themselves, to the bit (the same arithmetic on the
    same numbers)."""

    def __init__(self, c: Compared):
        n = len(c.r)
        codes = [c.fn_value, c.sn_value, c.fn_record, c.sn_record]
        size = np.int64(max([int(v.max(initial=-1)) for v in codes] + [0]) + 2)

        def name_key(level: np.ndarray, person: np.ndarray, record: np.ndarray) -> np.ndarray:
            code = np.where(level == 0, person, np.where(level > 0, record, -1))
            return (level.astype(np.int64) + 1) * size + code + 1

        def dense(*keys: np.ndarray) -> np.ndarray:
            """Each row's position among the distinct rows of the key columns."""
            out = np.zeros(len(keys[0]), dtype=np.int64)
            for key in keys:
                _, inverse = _unique_inverse(out * (int(key.max(initial=0)) + 1) + key)
                out = inverse.astype(np.int64)
            return out

        lv = c.levels
        rest = (((lv["dob"].astype(np.int64) + 1) * 3 + lv["pnc_id"] + 1) * 3 + lv["sex"] + 1) * 4 + lv["postcode"] + 1
        kind = dense(name_key(lv["fn"], c.fn_value, c.fn_record), name_key(lv["sn"], c.sn_value, c.sn_record), rest)
        if len(c.crossed):
            x = c.crossed
            kx = dense(name_key(lv["fn_x"], c.fn_value[x], c.sn_record[x]),
                       name_key(lv["sn_x"], c.sn_value[x], c.fn_record[x]))
            swap_kind = np.zeros(n, dtype=np.int64)
            swap_kind[x] = kx + 1
            kind = dense(kind, swap_kind)
        n_kinds = int(kind.max(initial=-1)) + 1
        one = np.zeros(n_kinds, dtype=np.int64)
        one[kind] = np.arange(n, dtype=np.int64)  # any pair of a kind stands for all of it
        order = np.argsort(one)  # kinds renumbered in the order of their pairs, as a subset wants
        rank = np.empty(n_kinds, dtype=np.int64)
        rank[order] = np.arange(n_kinds)
        self.kind = rank[kind].astype(np.int32 if n_kinds < 1 << 31 else np.int64)
        self.kinds = c.subset(one[order])

    def weights(self, model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each pair's match weight, and each kind's weight and whether its names read better
        swapped."""
        w, swapped = model.weights(self.kinds)
        return w[self.kind], w, swapped


def em_records(lists: Lists, s: dict, blocking: Blocking | None = None) -> np.ndarray:
    """The right profiles EM runs over (sorted): all of them, or a seeded sample of
    ``estimation.max_records`` when there are more; and, given the ``blocking``, no more of
    them than have ``estimation.max_pairs`` candidate pairs between them (a seeded share of
    the sample), so that EM's work is bounded however many candidates each record has."""
    est = s["estimation"]
    n_profiles = len(lists.right_count)
    chosen = np.arange(n_profiles)
    if n_profiles > est["max_records"]:
        chosen = np.sort(np.random.default_rng(est["seed"]).choice(n_profiles, est["max_records"], replace=False))
    cap = est.get("max_pairs", EM_MAX_PAIRS)
    if blocking is None or cap is None or int(blocking.pairs_per_record()[chosen].sum()) <= cap:
        return chosen
    pairs = np.zeros(n_profiles, dtype=np.int64)  # each record's distinct candidates, a slice at a time
    for rows in blocking.chunks(CHUNK_PAIRS, chosen):
        pairs += np.bincount(blocking.pairs(rows)[0], minlength=n_profiles)
    if int(pairs[chosen].sum()) <= cap:
        return chosen
    order = np.random.default_rng([est["seed"], 1]).permutation(len(chosen))
    keep = int(np.searchsorted(np.cumsum(pairs[chosen[order]]), cap, side="right"))
    return np.sort(chosen[order[:keep]])


class EMSample:
    """What EM needs of the candidate pairs of its records (:func:`em_records`): each pair's
    kind (:class:`_Kinds`) and the (record, person) runs.  ``c``: the candidate pairs of every
    record, or only those of the sampled records, which gives the same; ``entity``: the
    person of each of its pairs."""

    def __init__(self, lists: Lists, c: Compared | None, entity: np.ndarray | None, s: dict,
                 records: np.ndarray | None = None, kinds: _Kinds | None = None, seg: _Segments | None = None):
        self.records = em_records(lists, s) if records is None else records
        if c is not None:
            in_sample = np.zeros(len(lists.right_count), dtype=bool)
            in_sample[self.records] = True
            sampled = in_sample[c.r]
            if not sampled.all():
                rows = np.flatnonzero(sampled)
                c, entity = c.subset(rows), entity[rows]
            kinds, seg = _Kinds(c), _Segments(c.r, entity)
        self.kinds, self.seg = kinds, seg
        self.n_pairs = seg.n
        # Per (record, person), its pairs' kinds with each kind once (the first pair of a kind
        # stands for the rest: they weigh the same, and the first of the best is chosen), then
        # the (record, person) runs by their number of kinds: up to _WIDE a column per kind, a
        # comparison per column; the rest by reductions over their runs.
        kind = self.kinds.kind
        if seg.n:
            key = seg.run * np.int64(int(kind.max()) + 1) + kind
            order = np.argsort(key, kind="stable")
            first = np.ones(seg.n, dtype=bool)
            first[order[1:]] = key[order[1:]] != key[order[:-1]]
            kept = np.flatnonzero(first)
            del key, order, first
        else:
            kept = np.zeros(0, dtype=np.int64)
        run = seg.run[kept]
        seg.run = None  # not needed again; the largest of the runs' arrays
        length = np.bincount(run, minlength=len(seg.pe_start))
        start = np.cumsum(length) - length
        kind = kind[kept].astype(np.intp)  # indices as numpy takes them, not converted each time
        del kept, run
        self.columns = []
        for width in range(1, _WIDE + 1):
            runs = np.flatnonzero(length == width)
            if len(runs):
                self.columns.append((runs, [kind[start[runs] + j] for j in range(width)]))
        self.wide = np.flatnonzero(length > _WIDE)
        self.wide_kind = kind[np.repeat(length > _WIDE, length)]
        self.wide_start = np.cumsum(length[self.wide]) - length[self.wide]
        self.wide_run = np.repeat(np.arange(len(self.wide)), length[self.wide])
        self.wide_at = np.arange(len(self.wide_kind))

    @classmethod
    def made(cls, lists: Lists, blocking: Blocking, records: np.ndarray, s: dict, chunk_pairs: int) -> EMSample:
        """The EM sample of ``records``, its candidates made and compared a slice at a time (at
        most ``chunk_pairs`` pairs), so that only the kinds of the pairs are ever held: the same
        as from one :class:`Compared` of them all, since a pair's kind is its own."""
        r, l_, kind, firsts, offset = [], [], [], [], 0
        for rows in blocking.chunks(chunk_pairs, records):
            rc, lc = blocking.pairs(rows)
            part = _Kinds(Compared(lists, rc, lc, s["similarity"]))
            r.append(rc)
            l_.append(lc)
            kind.append(part.kind.astype(np.int64) + offset)
            firsts.append(part.kinds)
            offset += len(part.kinds.r)
        every = _Kinds(_stack(firsts))  # the kinds of the slices' kinds: one numbering for all
        every.kind = every.kind[np.concatenate(kind)]
        r, l_ = np.concatenate(r), np.concatenate(l_)
        return cls(lists, None, None, s, records, every, _Segments(r, lists.L["entity"][l_]))

    def best_kind(self, w_kind: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per (record, person): the highest weight and the kind of its first pair with it, as
        :meth:`_Segments.best_pair` finds them on the pairs' weights."""
        n_pe = len(self.seg.pe_start)
        top = np.empty(n_pe)
        kind = np.empty(n_pe, dtype=np.intp)
        for runs, columns in self.columns:
            t, k = w_kind[columns[0]], columns[0]
            for column in columns[1:]:
                w = w_kind[column]
                better = w > t  # strictly: a tie keeps the earlier kind
                t, k = np.where(better, w, t), np.where(better, column, k)
            top[runs], kind[runs] = t, k
        if len(self.wide):
            w = w_kind[self.wide_kind]
            t = np.maximum.reduceat(w, self.wide_start)
            first = np.minimum.reduceat(np.where(w == t[self.wide_run], self.wide_at, len(w)), self.wide_start)
            top[self.wide], kind[self.wide] = t, self.wide_kind[first]
        return top, kind


def fit(lists: Lists, c: Compared | EMSample, entity: np.ndarray | None, s: dict, random_counts: tuple | None = None
        ) -> tuple[Model, dict]:
    """The model: u from random pairs less the pairs EM takes for matches, and term
    frequencies; m and ``pi`` by EM over the candidates of (a sample of) the records, each a
    mixture of "person k" and "none" (A80–A82).  Deterministic: a fixed start (the config's
    m and u, pi = 1/2) and a fixed sample seed.  ``c``, ``entity``: as :class:`EMSample`
    takes them, or an :class:`EMSample` already made (``entity`` None)."""
    est = s["estimation"]
    m_prior, u_prior = _config_mu(s)
    model = Model({f: v.copy() for f, v in m_prior.items()}, {f: v.copy() for f, v in u_prior.items()},
                  term_frequencies(lists), 0.5 if s["prior"] == "auto" else float(s["prior"]), s)
    if random_counts is None:
        random_counts = random_pair_counts(lists, s) if est["estimate_u"] else ({}, 1.0)
    random_counts, scale = random_counts

    def set_u(matched: dict) -> None:
        """u: the random pairs' levels less the matches among them (``matched``: the levels of
        all records' matches as EM has them, scaled to the sample), shrunk to the config."""
        for f, counts in random_counts.items():
            model.u[f] = _shrink(np.maximum(counts - matched.get(f, 0.0) / scale, 0.0), u_prior[f],
                                 est["u_prior_pairs"])

    set_u({})
    info = {"em_iterations": 0, "em_records": 0, "em_converged": True}
    if not est["estimate_m"] and s["prior"] != "auto":
        return model, info
    em = c if isinstance(c, EMSample) else EMSample(lists, c, entity, s)
    del c, entity
    chosen, kinds, seg = em.records, em.kinds.kinds, em.seg
    records = float(lists.right_count[chosen].sum())
    to_all = len(lists.right_profile) / max(records, 1.0)  # from the EM sample to every record
    count_pe, count_r = lists.right_count[seg.pe_r], lists.right_count[seg.r]
    info["em_records"] = int(records)
    info["em_converged"] = False
    for it in range(est["max_iterations"]):
        w_kind, swapped = model.weights(kinds)
        w_pe, best_kind = em.best_kind(w_kind)
        p_person, p_any = posteriors(w_pe, seg, model.pi, lists.n_entities)
        resp = p_person * count_pe
        old = np.concatenate([model.m[f] for f in FIELDS] + [model.u[f] for f in FIELDS] + [[model.pi]])
        if s["prior"] == "auto":  # Beta(1, 1) prior on pi
            model.pi = (float((p_any * count_r).sum()) + 1) / (records + 2)
        # Each kind's levels in the order kept, then each (record, person)'s best pair's.
        fn, sn = kinds.name_levels_kept(np.arange(len(w_kind)), swapped)
        levels = {"forename": fn, "surname": sn} | {f: kinds.levels[f] for f in ("dob", "pnc_id", "sex", "postcode")}
        matched = {f: _level_counts(levels[f][best_kind], len(LEVELS[f]), resp) for f in FIELDS}
        if est["estimate_m"]:
            model.m = {f: _shrink(matched[f], m_prior[f], est["m_prior_pairs"]) for f in FIELDS}
        set_u({f: v * to_all for f, v in matched.items()})
        info["em_iterations"] = it + 1
        new = np.concatenate([model.m[f] for f in FIELDS] + [model.u[f] for f in FIELDS] + [[model.pi]])
        if np.abs(new - old).max() < est["tolerance"]:
            info["em_converged"] = True
            break
    return model, info


# --------------------------------------------------------------------------- settings


def settings_from(rc: dict) -> dict:
    """The linkage settings of a ``reconcile:`` config block (thresholds at the top level,
    the model under ``linkage:``)."""
    lk = rc["linkage"]
    return {"threshold": float(rc["link_threshold"]), "margin": float(rc["link_margin"]),
            "review": float(rc["review_threshold"]), "prior": lk["prior"], "blocking": list(lk["blocking"]),
            "max_block": int(lk["max_block_size"]), "max_block_pairs": int(lk["max_block_pairs"]),
            "similarity": dict(lk["similarity"]), "tf_surname": bool(lk["tf_adjust_surname"]),
            "tf_forename": bool(lk["tf_adjust_forename"]), "tf_minimum": float(lk["tf_minimum"]),
            "estimation": dict(lk["estimation"]), "m_u": lk["m_u"],
            "chunk_pairs": int(lk.get("chunk_pairs", CHUNK_PAIRS))}


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


RECORD_COLUMNS = ["rec", "pnc_id", "link_score", "p_listed", "runner_up", "link_status", "link_basis", "review",
                  "match_weight",
                  "runner_up_weight", "runner_up_id", "candidate", "evidence", "name_order",
                  *[f"{f}_level" for f in FIELDS]]


def _pair_levels(c: Compared, pair: np.ndarray, swapped: np.ndarray) -> dict:
    """Each field's level for the chosen pairs, names in the order that was kept."""
    fn, sn = c.name_levels_kept(pair, swapped)
    out = {"forename": fn, "surname": sn} | {f: c.levels[f][pair] for f in ("dob", "pnc_id", "sex", "postcode")}
    return out | {"name_order": np.where(swapped[pair], "swapped", "same")}


def _top_two(w_pe: np.ndarray, seg: _Segments) -> tuple[np.ndarray, np.ndarray]:
    """Per record, the (record, person) runs of the best and the second-best person (-1 if
    none); ties go to the lower person code, never to the input order."""
    n = len(w_pe)
    if not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    k = seg.record
    index = np.arange(n)
    top = seg.per_record(w_pe, np.maximum)
    first = np.minimum.reduceat(np.where(w_pe == top[k], index, n), seg.r_start)
    rest = w_pe.copy()
    rest[first] = -np.inf
    runner = seg.per_record(rest, np.maximum)
    second = np.minimum.reduceat(np.where((rest == runner[k]) & (rest > -np.inf), index, n), seg.r_start)
    return first, np.where(second < n, second, -1)


def decide(lists: Lists, c: Compared, s: dict, model: Model, seg: _Segments) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per right profile: the best person, its probability and evidence, the runner-up, and
    the status: ``linked`` (probability >= threshold and clear of the runner-up by the margin,
    A11), ``ambiguous`` (the record is one of the candidates with probability >= threshold,
    but no single one is clear) or ``no_match``; ``review`` marks the uncertain band (and the
    ambiguous) for a clerical decision.  Also the best two candidates of every profile."""
    entity = lists.L["entity"][c.l]
    w, swapped = model.weights(c)
    w_pe, best = seg.best_pair(w)
    p_person, p_any = posteriors(w_pe, seg, model.pi, lists.n_entities)
    first, second = _top_two(w_pe, seg)
    pe = np.concatenate([first, second[second >= 0]])
    ranked = pd.DataFrame({"profile": seg.pe_r[pe], "rank": np.repeat([0, 1], [len(first), int((second >= 0).sum())]),
                           "entity_code": entity[best[pe]], "weight": w_pe[pe], "score": p_person[pe],
                           "pair": best[pe]}).sort_values(["profile", "rank"], ignore_index=True)
    top = ranked.loc[ranked["rank"] == 0].set_index("profile")
    second = ranked.loc[ranked["rank"] == 1].set_index("profile").reindex(top.index)
    levels = _pair_levels(c, top["pair"].to_numpy(), swapped)
    out = pd.DataFrame({"profile": top.index.to_numpy(),
                        "candidate": lists.entity_names[top["entity_code"].to_numpy()],
                        "l": c.l[top["pair"].to_numpy()], "match_weight": top["weight"].to_numpy(),
                        "link_score": top["score"].to_numpy(), **levels})
    out["runner_up"] = second["score"].fillna(0.0).to_numpy()
    out["runner_up_weight"] = second["weight"].to_numpy()
    runner_code = second["entity_code"].to_numpy()
    out["runner_up_id"] = np.where(np.isnan(runner_code), None,
                                   lists.entity_names[np.nan_to_num(runner_code).astype(np.int64)])
    any_person = pd.Series(p_any, index=seg.r).reindex(out["profile"]).to_numpy()
    gap = out["match_weight"] - out["runner_up_weight"].fillna(-np.inf)
    above = out["link_score"] >= s["threshold"]
    clear = above & (gap >= s["margin"])
    out["link_status"] = np.select([clear, above | (any_person >= s["threshold"])], ["linked", "ambiguous"],
                                   "no_match")
    out["review"] = (out["link_status"] == "ambiguous") | (
        (out["link_score"] >= s["review"]) & (out["link_status"] != "linked"))
    # The probability that the record's person is one of its candidates, whoever: summed over
    # the unlinked records, the model's own estimate of the links it did not make (A87).
    out["p_listed"] = any_person
    out["evidence"] = evidence(out)
    out = out.rename(columns={f: f"{f}_level" for f in FIELDS})
    pairs = ranked.assign(l=c.l[ranked["pair"].to_numpy()], entity=lists.entity_names[ranked["entity_code"].to_numpy()],
                          match_weight=ranked["weight"].to_numpy(),
                          **_pair_levels(c, ranked["pair"].to_numpy(), swapped))
    return out, pairs


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The slices' frames as one, as if made at once: a column whose type differs between
    slices (text that is missing throughout one) is typed again from all its values."""
    full = [p for p in parts if len(p)] or parts[:1]
    if len(full) == 1:
        return full[0].reset_index(drop=True)
    out = pd.concat(full, ignore_index=True)
    for col in out.columns:
        types = [p[col].dtype for p in full]
        if len({str(d) for d in types}) > 1 and any(str(d) == "object" for d in types):
            out[col] = out[col].to_numpy(dtype=object)
    return out


def link(left: pd.DataFrame, right: pd.DataFrame, s: dict, decisions: pd.DataFrame | None = None):
    """Link each ``right`` record (``rec``) to an ``entity`` of ``left``.  Returns one row per
    record (:data:`RECORD_COLUMNS`, and ``r_row``) and the scored candidates of the records
    marked for review (the best two per record, ``l_row``/``r_row`` their rows in
    ``left``/``right``).  The fitted model (pi, m, u, the expected number of records whose
    person is on the list) is in ``records.attrs["linkage_model"]``."""
    from concurrent.futures import ThreadPoolExecutor

    lists = Lists(left, right)
    est = s["estimation"]
    blocking = Blocking(lists, s["blocking"], s["max_block"], s["max_block_pairs"])
    # The records are scored a slice at a time, each slice's candidates made and compared on
    # their own, so memory is bounded by the slice, not the lists; a record's links depend only
    # on its own candidates, so the slices change nothing (tests/test_linkage_scale.py).
    chunk_pairs = int(s.get("chunk_pairs", CHUNK_PAIRS))
    chunks = blocking.chunks(chunk_pairs)
    needs_em = est["estimate_m"] or s["prior"] == "auto"
    em_rows = em_records(lists, s, blocking) if needs_em else None
    # One slice and EM over every record: the same comparisons serve EM and the scoring.
    reuse = len(chunks) == 1 and (not needs_em or len(em_rows) == len(lists.right_count))
    c = em = None
    with ThreadPoolExecutor(max_workers=1) as pool:  # random pairs for u, beside the candidates
        sample = pool.submit(random_pair_counts, lists, s) if est["estimate_u"] else None
        if reuse:
            r, l_ = blocking.pairs()
            c = Compared(lists, r, l_, s["similarity"])
            if needs_em:
                em = EMSample(lists, c, lists.L["entity"][l_], s, em_rows)
            del r, l_
        elif needs_em:
            # EM's candidates: those of its sample's records, made directly (not all, then a subset).
            em = EMSample.made(lists, blocking, em_rows, s, chunk_pairs)
        random_counts = sample.result() if sample is not None else ({}, 1.0)
    model, info = fit(lists, em, None, s, random_counts)
    em = None
    n_pairs, per_profile, ranked = 0, [], []
    for rows in chunks if c is None else [None]:
        if c is None:
            r, l_ = blocking.pairs(rows)
            part = Compared(lists, r, l_, s["similarity"])
        else:
            part = c
        one, two = decide(lists, part, s, model, _Segments(part.r, lists.L["entity"][part.l]))
        two["pair"] += n_pairs  # the pair's position among every record's candidates
        n_pairs += len(part.r)
        per_profile.append(one)
        ranked.append(two)
        del part
    c = None
    per_profile, ranked = _concat(per_profile), _concat(ranked)
    recs = pd.DataFrame({"rec": right["rec"].to_numpy(), "profile": lists.right_profile,
                         "r_row": np.arange(len(right))})
    out = recs.merge(per_profile, on="profile", how="left")
    out["link_score"] = out["link_score"].fillna(0.0)
    out["runner_up"] = out["runner_up"].fillna(0.0)
    out["p_listed"] = out["p_listed"].fillna(0.0)  # no candidate: the model sees no person for it
    out["link_status"] = out["link_status"].fillna("no_match")
    out["review"] = out["review"].fillna(False).astype(bool)
    out = apply_decisions(out, decisions)
    out["pnc_id"] = out["candidate"].where(out["link_status"] == "linked")
    ranked = ranked.loc[ranked["score"] >= s["review"]]
    review = out.loc[out["review"], ["rec", "profile", "r_row"]].merge(ranked, on="profile")
    review = review.assign(l_row=lists.left_row[review["l"].to_numpy()], evidence=evidence(review))
    records = out[RECORD_COLUMNS + ["r_row"]]
    records.attrs["linkage_model"] = {
        "pi": model.pi, "em_iterations": info["em_iterations"], "em_records": info["em_records"],
        "em_converged": info["em_converged"],
        "expected_matches": float(model.pi * len(right)), "candidate_pairs": n_pairs,
        "m": {f: dict(zip(LEVELS[f], model.m[f].round(6).tolist())) for f in FIELDS},
        "u": {f: dict(zip(LEVELS[f], model.u[f].round(9).tolist())) for f in FIELDS}}
    return records, review.sort_values(["rec", "rank"]).reset_index(drop=True)


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
