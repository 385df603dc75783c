"""The person linker (A10-A11, A80-A86, docs/linkage.md): hand-worked comparison levels and
probabilities, pairs for each error type, determinism, the clerical review loop and
``strostudy link``."""

import hashlib

import numpy as np
import pandas as pd
import pytest

from strostudy import cli
from strostudy.config import defaults
from strostudy.linkage import LEVELS, Names, _join, dob_levels, link, name_levels, posteriors, settings_from

S = settings_from(defaults()["reconcile"])

# Candidate people (several, so the prior is realistic), then records with one error each.
PEOPLE = [
    ("P1", "James", "Smith", "1990-03-04"), ("P2", "Mohammed", "Khan", "1985-11-20"),
    ("P3", "Anna", "Campbell-Reid", "1979-01-02"), ("P4", "Łukasz", "Kowalski", "1992-07-15"),
    ("P5", "Grace", "Okafor", "1988-05-30"), ("P6", "Daniel", "Popescu", "1995-12-01"),
    ("P7", "Thi Lan", "Nguyen", "1993-06-17"), ("P8", "Sean", "Murphy", "1980-09-09"),
    ("P9", "Karolina", "Wisniewska", "1991-02-28"), ("P10", "Tariq", "Hussain", "1987-04-11"),
]
CASES = [  # (rec, forenames, surname, dob, expected person or None)
    ("dob_one_digit", "Grace", "Okafor", "1988-05-31", "P5"),
    ("dob_transposed", "Daniel", "Popescu", "1959-12-01", "P6"),
    ("dob_day_month", "Anna", "Campbell-Reid", "1979-02-01", "P3"),
    ("dob_year_off", "Sean", "Murphy", "1981-09-09", "P8"),
    ("dob_decade", "Karolina", "Wisniewska", "1981-02-28", "P9"),
    ("name_typo", "Karolina", "Wisniewksa", "1991-02-28", "P9"),
    ("dropped_letter", "ukasz", "Kowalski", "1992-07-15", "P4"),
    ("added_letter", "Tariqq", "Hussain", "1987-04-11", "P10"),
    ("swapped_order", "Popescu", "Daniel", "1995-12-01", "P6"),
    ("double_barrelled", "Anna", "Reid", "1979-01-02", "P3"),
    ("hyphen_as_space", "Anna", "Campbell Reid", "1979-01-02", "P3"),
    ("initial", "J", "Smith", "1990-03-04", "P1"),
    ("nickname", "Jim", "Smith", "1990-03-04", "P1"),
    ("transliteration", "Muhammad", "Khan", "1985-11-20", "P2"),
    ("middle_name_missing", "Thi", "Nguyen", "1993-06-17", "P7"),
    ("forename_missing", "", "Hussain", "1987-04-11", "P10"),
    ("different_person", "Grace", "Okafor", "1901-01-01", None),
    ("stranger", "Zoltan", "Horvath", "1970-01-01", None),
]


def frames(people=PEOPLE, cases=CASES):
    left = pd.DataFrame(people, columns=["entity", "forenames", "surname", "date_of_birth"])
    right = pd.DataFrame([c[:4] for c in cases], columns=["rec", "forenames", "surname", "date_of_birth"])
    right["forenames"] = right["forenames"].replace("", pd.NA)
    return left, right


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_error_type_links_or_not_as_expected(case):
    left, right = frames(cases=[case])
    records, _ = link(left, right, S)
    row = records.iloc[0]
    if case[4] is None:
        assert row["link_status"] == "no_match" and pd.isna(row["pnc_id"]), row["evidence"]
    else:
        assert row["link_status"] == "linked" and row["pnc_id"] == case[4], row["evidence"]
        assert row["link_score"] >= S["threshold"] and row["evidence"]


def test_evidence_names_how_each_field_agreed():
    left, right = frames(cases=[c for c in CASES if c[0] in ("swapped_order", "nickname", "dob_day_month")])
    ev = link(left, right, S)[0].set_index("rec")["evidence"]
    assert "order=swapped" in ev["swapped_order"]
    assert "forename=alias" in ev["nickname"]
    assert "dob=day_month_swapped" in ev["dob_day_month"]


def test_duplicate_nominal_is_ambiguous_never_guessed():
    people = PEOPLE + [("P11", "James", "Smith", "1990-03-04")]
    left, right = frames(people, [("twin", "James", "Smith", "1990-03-04", None)])
    records, review = link(left, right, S)
    row = records.iloc[0]
    assert row["link_status"] == "ambiguous" and pd.isna(row["pnc_id"]) and row["review"]
    assert row["runner_up"] == pytest.approx(row["link_score"]) and row["runner_up_id"] in ("P1", "P11")
    assert set(review["entity"]) == {"P1", "P11"}


def test_two_runs_are_byte_identical(tmp_path):
    left, right = frames()
    digests = []
    for i in range(2):
        records, review = link(left.sample(frac=1, random_state=i), right.sample(frac=1, random_state=i), S)
        out = records.sort_values("rec").drop(columns="r_row").to_csv(index=False)
        digests.append(hashlib.sha256(out.encode()).hexdigest())
    assert digests[0] == digests[1]


def test_a_decision_flips_an_uncertain_pair():
    left, right = frames(cases=[("weak", "Grace", "Okafor", "1901-05-30", None)])
    s = dict(S, review=0.0)
    records, review = link(left, right, s)
    assert records.iloc[0]["link_status"] == "no_match" and records.iloc[0]["review"]
    decisions = pd.DataFrame({"rec": ["weak"], "pnc_id": ["P5"], "decision": ["accept"]})
    flipped = link(left, right, s, decisions)[0].iloc[0]
    assert flipped["link_status"] == "linked" and flipped["pnc_id"] == "P5"
    assert flipped["link_basis"] == "clerical_accept"
    # A rejection of a linked pair unlinks it.
    left, right = frames(cases=[CASES[0]])
    reject = pd.DataFrame({"rec": ["dob_one_digit"], "pnc_id": ["P5"], "decision": ["reject"]})
    row = link(left, right, S, reject)[0].iloc[0]
    assert row["link_status"] == "no_match" and row["link_basis"] == "clerical_reject"


def test_reconcile_applies_decisions_from_the_raw_folder(default_dirs, tmp_path):
    """The synthetic run's ambiguous twin goes to review; accepting it links it next run."""
    import shutil

    from strostudy import tables
    from strostudy.stages import run_all

    work = tmp_path / "work"
    shutil.copytree(default_dirs / "raw", work / "data" / "raw")
    run_all(defaults(), work, until="reconcile")
    review = pd.read_csv(work / tables.path("linkage_review"), dtype=str)
    assert len(review) and set(review["decision"].fillna("")) == {""}
    pick = review.loc[review["rank"] == "1"].head(1).assign(decision="accept")
    pick[["rec", "pnc_id", "decision"]].to_csv(work / tables.path("linkage_decisions"), index=False)
    run_all(defaults(), work, until="reconcile")
    links = pd.read_parquet(work / tables.path("links")).set_index("rec")
    rec = pick["rec"].iloc[0]
    assert links.loc[rec, "link_status"] == "linked" and links.loc[rec, "link_basis"] == "clerical_accept"


GOLDEN = """right_id,left_id,status,score,match_weight,runner_up,runner_up_id,link_basis,review,evidence,name_order,forename,surname,dob,pnc_id,sex,postcode
R1,L1,linked,0.999999,20.328,0,,probabilistic,False,forename=alias; surname=exact; dob=exact,same,alias,exact,exact,,,
R2,L2,linked,0.99985,13.29,0,,probabilistic,False,forename=alias; surname=exact; dob=typo,same,alias,exact,typo,,,
R3,L3,linked,0.999981,16.246,0,,probabilistic,False,forename=exact; surname=part; dob=day_month_swapped,same,exact,part,day_month_swapped,,,
R4,,no_match,0,,0,,,False,,,,,,,,
"""


def _cli_files(tmp_path):
    (tmp_path / "left.csv").write_text("id,forenames,surname,date_of_birth\nL1,James,Smith,1990-03-04\n"
                                       "L2,Mohammed,Khan,1985-11-20\nL3,Anna,Campbell-Reid,1979-01-02\n")
    (tmp_path / "right.csv").write_text("id,forenames,surname,date_of_birth\nR1,Jim,Smith,1990-03-04\n"
                                        "R2,Muhammad,Khan,1985-11-02\nR3,Anna,Reid,1979-02-01\n"
                                        "R4,Zoe,Nobody,2001-01-01\n")


def test_cli_link_golden(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _cli_files(tmp_path)
    assert cli.main(["link", "left.csv", "right.csv", "--out", "pairs.csv"]) == 0
    assert (tmp_path / "pairs.csv").read_text() == GOLDEN


def test_cli_missing_column_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _cli_files(tmp_path)
    (tmp_path / "bad.csv").write_text("id,forenames,date_of_birth\nX1,Secretname,1990-03-04\n")
    assert cli.main(["link", "left.csv", "bad.csv", "--out", "pairs.csv"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'surname'" in err
    assert "Secretname" not in err and "1990" not in err


def test_cli_reads_compact_and_impossible_dates():
    """FEBRL-style ``yyyymmdd``, ``ddmmyyyy`` where only that is a date, and the digits of an
    impossible date (A85); anything else unreadable is missing."""
    from strostudy.dates import parse_dates

    text = pd.Series(["1990-03-04", "19650101", "01021990", "19450493", "31/02/1990", "04/03/1990", "N/K",
                      "12345678"], dtype="string")
    got = cli._dob_text(text, parse_dates(text)["date"])
    assert got.tolist() == ["1990-03-04", "1965-01-01", "1990-02-01", "1945-04-93", "1990-02-31", "1990-03-04",
                            pd.NA, pd.NA]


# --------------------------------------------------------------------------- comparison levels by hand

DOB_CASES = [  # (record, candidate, level)
    (19900304, 19900304, "exact"),
    (19900403, 19900304, "day_month_swapped"),
    (19900305, 19900304, "typo"),          # one digit
    (19090304, 19900304, "typo"),          # 9 and 0 of the year transposed
    (19900134, 19900314, "typo"),          # month and day digits transposed across the boundary
    (19910304, 19900304, "typo"),          # one digit of the year: a typo before a year off
    (19890304, 19900304, "year_off"),      # a year off with a carry (two digits, not transposed)
    (20050304, 19950304, "year_off"),      # a decade off across the century
    (19750611, 19900304, "different"),
    (19900314, 19900341, "typo"),          # the day's digits transposed (an impossible date kept as digits)
]


@pytest.mark.parametrize("a,b,level", DOB_CASES)
def test_dob_levels_by_hand(a, b, level):
    got = dob_levels(np.array([a, b, -1]), np.array([b, a, a]))
    assert [LEVELS["dob"][g] for g in got[:2]] == [level, level]  # symmetric
    assert got[2] == -1  # missing on one side: no evidence


SIM = settings_from(defaults()["reconcile"])["similarity"]
NAME_CASES = [  # (record, candidate, role, level)
    ("james", "james", "forename", "exact"),
    ("jim", "james", "forename", "alias"),
    ("muhammad", "mohammed", "forename", "alias"),
    ("nitchell", "mitchell", "forename", "typo"),     # first letter wrong: Jaro-Winkler 0.917, one edit
    ("isabe lla", "isabella", "forename", "exact"),   # a space typed inside: the whole name agrees
    ("thi", "thi lan", "forename", "exact"),          # the first forename decides; middle names not compared
    ("j", "james", "forename", "initial"),
    ("lan", "thi lan", "forename", "part"),
    ("tom", "tim", "forename", "similar"),            # one edit in three letters is not a typo; same Soundex
    ("grace", "zoltan", "forename", "different"),
    ("campbell reid", "campbellreid", "surname", "exact"),
    ("reid", "campbell reid", "surname", "part"),
    ("maxon", "mason", "surname", "typo"),            # Jaro-Winkler 0.893, one substitution in five letters
    ("wnite", "white", "surname", "typo"),
    ("kowalsky", "kowalski", "surname", "alias"),
    ("smith", "smyth", "surname", "typo"),
    ("okafor", "okonkwo", "surname", "different"),
]


@pytest.mark.parametrize("a,b,role,level", NAME_CASES, ids=[f"{c[0]}~{c[1]}" for c in NAME_CASES])
def test_name_levels_by_hand(a, b, role, level):
    names = Names([pd.Series([a, b, "filler"], dtype="string")])
    codes = names.code(pd.Series([a, b], dtype="string"))
    got = name_levels(names, codes[:1], codes[1:], role, SIM)
    assert LEVELS[role][got[0]] == level


def test_match_probability_by_hand():
    """One record, two candidate people with 10 and 7 bits of evidence, pi = 1/2, N = 1000:
    P(k) = (pi/N) 2^w_k / ((pi/N)(2^10 + 2^7) + 1 - pi) (A80)."""
    from strostudy.linkage import _Segments

    seg = _Segments(np.array([0, 0]), np.array([0, 1]))
    p_person, p_any = posteriors(np.array([10.0, 7.0]), seg, 0.5, 1000)
    assert p_person == pytest.approx([0.512 / 1.076, 0.064 / 1.076])
    assert p_any == pytest.approx([0.576 / 1.076])


def test_prior_is_the_share_of_records_with_a_person():
    """Forty people; forty exact records give pi = (40 + 1) / (40 + 2) under the Beta(1, 1)
    prior; twenty of them and twenty strangers give about (20 + 1) / 42."""
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(w) for w in letters[rng.integers(0, 26, (80, 7))]]
    people = pd.DataFrame({"entity": [f"P{i}" for i in range(40)], "forenames": words[:40], "surname": words[40:],
                           "date_of_birth": pd.Timestamp("1970-01-01") + pd.to_timedelta(np.arange(40) * 97, "D")})
    same = people.rename(columns={"entity": "rec"}).assign(rec=lambda d: "R" + d["rec"])
    pi = link(people, same, S)[0].attrs["linkage_model"]["pi"]
    assert pi == pytest.approx(41 / 42, abs=1e-3)
    rest = same.iloc[20:]
    strangers = rest.assign(forenames="zz" + rest["forenames"], surname="qq" + rest["surname"],
                            date_of_birth=pd.Timestamp("1901-01-01"))
    pi = link(people, pd.concat([same.iloc[:20], strangers]), S)[0].attrs["linkage_model"]["pi"]
    assert pi == pytest.approx(21 / 42, abs=1e-3)


def _forty_people_twenty_renamed():
    """Forty people with made-up names and DOBs, and forty records of them, the first twenty
    with the forename replaced by another made-up name; and the words used."""
    rng = np.random.default_rng(11)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(w) for w in letters[rng.integers(0, 26, (120, 7))]]
    people = pd.DataFrame({"entity": [f"P{i}" for i in range(40)], "forenames": words[:40], "surname": words[40:80],
                           "date_of_birth": pd.Timestamp("1970-01-01") + pd.to_timedelta(np.arange(40) * 97, "D")})
    records = people.rename(columns={"entity": "rec"}).assign(rec=lambda d: "R" + d["rec"])
    records.loc[:19, "forenames"] = words[80:100]
    return people, records, words


def test_em_estimates_m_from_the_records_and_shrinks_it_to_the_config():
    """Forty people and forty records of them, twenty with the forename replaced by another
    name: every record is found with certainty, so EM gives m(forename different) =
    (20 + 50 x 0.08) / (40 + 50) with the config's m (0.08) worth 50 matched pairs (A82)."""
    people, records, words = _forty_people_twenty_renamed()
    out = link(people, records, S)[0]
    assert (out["link_status"] == "linked").all()
    m = out.attrs["linkage_model"]["m"]["forename"]
    assert m["different"] == pytest.approx((20 + 50 * 0.08) / 90, abs=2e-3)
    assert m["exact"] == pytest.approx((20 + 50 * 0.75) / 90, abs=2e-3)



def test_em_says_whether_it_converged(capsys):
    """The same forty people: EM meets its tolerance within the default 100 iterations; held
    to one iteration it does not, and the model says so (reconcile then warns, in one line)."""
    import copy

    from strostudy.reconcile import link_people

    people, records, words = _forty_people_twenty_renamed()
    model = link(people, records, S)[0].attrs["linkage_model"]
    assert model["em_converged"] is True and 1 < model["em_iterations"] < 100
    one = copy.deepcopy(S)
    one["estimation"]["max_iterations"] = 1
    model = link(people, records, one)[0].attrs["linkage_model"]
    assert model["em_converged"] is False and model["em_iterations"] == 1

    class Ingested:  # the two tables link_people reads
        tables = {"orders": people.rename(columns={"entity": "pnc_id"}).assign(source_row=range(40)),
                  "pnd_records": records.drop(columns="rec").assign(pnc_id=pd.NA, source_row=range(40))}

    rc = copy.deepcopy(defaults()["reconcile"])
    rc["linkage"]["estimation"]["max_iterations"] = 1
    link_people(Ingested(), rc)
    err = capsys.readouterr().err
    assert "EM stopped after 1 iterations without meeting its tolerance" in err
    assert "reconcile.linkage.estimation.max_iterations" in err
    assert words[80] not in err  # no name reaches the console


def test_a_block_too_big_is_skipped():
    """Key 1 has two left rows, key 2 one; right rows hold keys 1, 2, 2 (A10d, A84)."""
    lkey, rkey = np.array([1, 1, 2]), np.array([1, 2, 2, -1])
    r, l_ = _join(lkey, rkey, max_rows=10, max_pairs=10)
    assert sorted(zip(r.tolist(), l_.tolist())) == [(0, 0), (0, 1), (1, 2), (2, 2)]
    r, l_ = _join(lkey, rkey, max_rows=1, max_pairs=10)  # key 1 has too many left rows
    assert sorted(zip(r.tolist(), l_.tolist())) == [(1, 2), (2, 2)]
    r, l_ = _join(lkey, rkey, max_rows=10, max_pairs=1)  # each key would make two pairs
    assert len(r) == 0


def test_swapped_names_with_a_dob_typo_still_meet_and_link():
    """Swapped order and a mistyped DOB digit: no blocking key holds in the same order, so
    only the swapped-order keys make the pair a candidate."""
    left, right = frames(cases=[("swap_and_typo", "Popescu", "Daniel", "1995-12-07", "P6")])
    row = link(left, right, S)[0].iloc[0]
    assert row["link_status"] == "linked" and row["pnc_id"] == "P6"
    assert row["evidence"] == "forename=exact; surname=exact; dob=typo; order=swapped"


def _people_with_twin(extra):
    """Ten people, a PNC twin of P2 (same name and DOB, another ID) and ``extra`` rows."""
    return PEOPLE + [("P2-twin", "Mohammed", "Khan", "1985-11-20")] + extra


def test_a_swapped_name_profile_does_not_out_score_a_twin():
    """P2 also appears with forename and surname swapped; the record matches P2 and the twin
    equally, so it stays ambiguous (the swapped profile's names are as common as they are in
    the record's roles, A81)."""
    left, right = frames(_people_with_twin([("P2", "Khan", "Mohammed", "1985-11-20")]),
                         [("rec", "Mohammed", "Khan", "1985-11-20", None)])
    row = link(left, right, S)[0].iloc[0]
    assert row["link_status"] == "ambiguous" and pd.isna(row["pnc_id"]), row["evidence"]
    assert row["link_score"] == pytest.approx(row["runner_up"])


def test_a_spelling_variant_does_not_out_score_the_spelling():
    """P2 is held as "Muhammad", the twin as "Mohammed"; a record "Mohammed" agrees exactly with
    the twin and by alias with P2.  Without the cap on a variant's weight, the alias (average u)
    out-weighed exact agreement on the common "Mohammed" (term-frequency u) by more than the
    margin and the record was linked to P2; capped, the two tie and the record is ambiguous."""
    people = [p if p[0] != "P2" else ("P2", "Muhammad", "Khan", "1985-11-20") for p in PEOPLE]
    people += [("P2-twin", "Mohammed", "Khan", "1985-11-20"), ("P11", "Mohammed", "Ali", "1990-01-01"),
               ("P12", "Mohammed", "Rahman", "1991-02-02"), ("P13", "Mohammed", "Begum", "1992-03-03")]
    left, right = frames(people, [("rec", "Mohammed", "Khan", "1985-11-20", None)])
    row = link(left, right, S)[0].iloc[0]
    assert row["link_status"] == "ambiguous" and pd.isna(row["pnc_id"]), row["evidence"]
    assert {row["candidate"], row["runner_up_id"]} == {"P2", "P2-twin"}
    assert row["match_weight"] == pytest.approx(row["runner_up_weight"])
