"""The person linker (A10-A11, docs/linkage.md): hand-worked pairs for each error type,
determinism, the clerical review loop and ``strostudy link``."""

import hashlib

import pandas as pd
import pytest

from strostudy import cli
from strostudy.config import defaults
from strostudy.linkage import link, settings_from

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
R1,L1,linked,0.999997,18.473,0,,probabilistic,False,forename=alias; surname=exact; dob=exact,same,alias,exact,exact,,,
R2,L2,linked,0.999506,10.981,0,,probabilistic,False,forename=alias; surname=exact; dob=typo,same,alias,exact,typo,,,
R3,L3,linked,0.999998,18.78,0,,probabilistic,False,forename=exact; surname=part; dob=day_month_swapped,same,exact,part,day_month_swapped,,,
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
