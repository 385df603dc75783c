"""Harm: curated CCHI weights traceable to the reference, matching rules, unknown codes,
principal vs sum, categories, the official workbook reader and another index."""

import os
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO
from openpyxl import Workbook

from strostudy.config import data_path, defaults
from strostudy.harm import categorise, curated_weights, load_weights, read_cchi_workbook, score_events

REFERENCE = Path(os.environ.get("STROSTUDY_CCHI_REFERENCE",
                                REPO.parent / "shared" / "reference" / "cchi2020_values.csv"))
CFG = defaults()


@pytest.mark.skipif(not REFERENCE.exists(), reason="CCHI 2020 reference CSV not beside the repo (shared/)")
def test_every_curated_score_matches_the_reference_by_urn():
    import csv

    # Rows carry more CJS-code cells than the header names, so read it as ragged rows.
    rows = list(csv.reader(REFERENCE.open(encoding="utf-8-sig")))
    header, width = rows[0], max(len(r) for r in rows)
    names = header[:20] + [f"CJS Codes {i}" for i in range(width - 20)]
    ref = pd.DataFrame([r + [None] * (width - len(r)) for r in rows[1:]], columns=names).set_index("ATHENA URN")
    assert list(ref.columns[:3]) == ["FULL_OFFENCE_TITLE", "SHORT_TITLE", "CCHI Score"]
    cjs_cols = [c for c in ref.columns if c.startswith("CJS Codes")]
    curated = pd.concat([pd.read_csv(data_path(name), dtype=str, keep_default_na=False)
                         for name in ("cchi_weights.csv", "cchi_breach_weights.csv")], ignore_index=True)
    checked = 0
    for row in curated.itertuples():
        r = ref.loc[row.athena_urn]
        assert float(r["CCHI Score"]) == float(row.cchi_score), row.cjs_code
        assert r["Starting Point"].strip() == row.starting_point.strip() or row.starting_point == "", row.cjs_code
        if row.basis.startswith("direct"):
            assert row.cjs_code in set(r[cjs_cols].dropna().str.strip()), row.cjs_code
            assert r["HOME_OFFICE_CLASSIFICATION"] == row.ho_class
            assert r["CLASSIFICATION_CODE"] == row.rc_code
        else:  # a proxy: the offence has no row of its own in the index
            assert row.basis.startswith("proxy:") and row.athena_urn in row.basis
            assert not (ref[cjs_cols] == row.cjs_code).any().any()
        checked += 1
    assert checked == len(curated) == 39   # 33 offences of the STRO extracts, 6 breaches of other orders


def test_proxies_are_the_index_rule():
    w = curated_weights().set_index("cjs_code")
    for code in ("MS15001", "MS15002", "MS15003"):
        assert w.at[code, "score"] == 730 and w.at[code, "athena_urn"] == "99.99.25.0"
    for code in ("MS15016", "MS15017"):
        assert w.at[code, "score"] == 84 and w.at[code, "athena_urn"] == "66.66.94.0"


def offences_and_events():
    offences = pd.DataFrame({
        "event_id": [1, 1, 2, 3, 4, 4, 5, 6],
        "cjs_code": ["OF61131", "CJ88116", None, "MS15016", "RT88007", "OF61102", "CJ09002", "TH68005"],
        "ho_class": ["008/01", "105/01", "092/70", None, "803/01", "008/06", None, None],
    })
    return offences, pd.DataFrame({"event_id": [1, 2, 3, 4, 5, 6], "subject_id": list("aabbcc")})


def test_principal_offence_scoring_and_class_fallback():
    offences, events = offences_and_events()
    scored, quarantined, unknown = score_events(events, offences, curated_weights(), CFG["harm"], CFG["categories"],
                                                "CCHI 2020")
    s = scored.set_index("event_id")
    assert s.loc[1, "harm_score"] == 547.5 and s.loc[1, "matched_code"] == "OF61131"  # max of 547.5 and 1
    assert s.loc[2, "harm_score"] == 547.5 and s.loc[2, "match"] == "ho_class"        # class 092/70 only
    assert s.loc[3, "harm_score"] == 84 and s.loc[3, "category"] == "modern_slavery"  # breach of STRO
    assert s.loc[5, "category"] == "modern_slavery"  # CJA 2009 s71, though its group is violence
    assert s.loc[1, "category"] == "violence" and s.loc[6, "category"] == "other"
    assert (s["harm_index"] == "CCHI 2020").all()
    # The unknown code is never scored 0: the whole arrest is quarantined and the code listed.
    assert 4 not in s.index
    assert quarantined["event_id"].tolist() == [4] and quarantined["detail"].item() == "RT88007"
    assert unknown[["cjs_code", "arrests"]].values.tolist() == [["RT88007", 1]]


def test_sum_and_fallback_options():
    offences, events = offences_and_events()
    harm = {**CFG["harm"], "arrest_score": "sum", "unknown_code": "fallback", "fallback_score": 3}
    scored, quarantined, _ = score_events(events, offences, curated_weights(), harm, CFG["categories"], "CCHI")
    s = scored.set_index("event_id")
    assert s.loc[1, "harm_score"] == 548.5          # 547.5 + 1
    assert s.loc[4, "harm_score"] == 13 and s.loc[4, "match"] in {"cjs", "fallback"}  # 10 (ABH) + 3 fallback
    assert quarantined.empty


def test_class_rule_where_one_class_holds_several_scores():
    w = pd.DataFrame({"cjs_code": ["A1", "A2", "A3"], "ho_class": ["001/01"] * 3, "title": ["a", "b", "c"],
                      "score": [10.0, 365.0, 50.0], "ho_group": ["X"] * 3, "athena_urn": ["1", "2", "3"],
                      "basis": ["t"] * 3})
    offences = pd.DataFrame({"event_id": [1], "cjs_code": [None], "ho_class": ["001/01"]})
    events = pd.DataFrame({"event_id": [1]})
    for rule, expected in (("min", 10), ("max", 365), ("median", 50)):
        scored, _, _ = score_events(events, offences, w, {**CFG["harm"], "class_rule": rule}, CFG["categories"], "t")
        assert scored["harm_score"].item() == expected


def test_categories_follow_config():
    codes = pd.Series(["MS15001", "SX03119", "OF61131", "MD71230", "TH68023", "CJ09002"])
    groups = pd.Series(["", "MISCELLANEOUS CRIMES AGAINST SOCIETY", "VIOLENCE AGAINST THE PERSON", "DRUG OFFENCES",
                        "ROBBERY", "VIOLENCE AGAINST THE PERSON"])
    assert categorise(codes, groups, CFG["categories"]).tolist() == [
        "modern_slavery", "modern_slavery", "violence", "drugs", "other", "modern_slavery"]


def write_cchi_workbook(path):
    """A workbook in the official layout: a title block, then the header with repeated
    'CJS Codes' columns.  Rows are facts from the CCHI 2020 update."""
    wb = Workbook()
    ws = wb.active
    ws.title = "CCHI 2020 values sheet"
    ws.append(["The Cambridge Crime Harm Index 2020 Update"])
    ws.append([])
    ws.append(["ATHENA URN", "FULL_OFFENCE_TITLE", "SHORT_TITLE", "CCHI Score", "GROUP", "CLASSIFICATION_CODE",
               "HOME_OFFICE_CLASSIFICATION", "CJS Codes", "CJS Codes", "CJS Codes"])
    ws.append(["8N.8.1.1", "Assault with Injury - Malicious wounding", "", 547.5, "VIOLENCE AGAINST THE PERSON",
               "8N", "008/01", "OF61131", None, None])
    ws.append(["8S.8.1.2", "Assault Police - Malicious wounding", "", 182.5, "VIOLENCE AGAINST THE PERSON",
               "8S", "008/01", "OF61131", "OF61131A", None])
    ws.append(["99.99.25.0", "Knowingly hold another person in slavery/servitude", "", 730,
               "VIOLENCE AGAINST THE PERSON", "106", "099/25", "CJ09002", "CJ09002C", None])
    ws.append(["66.66.94.0", "Failure to comply with a Serious Crime Prevention Order", "", 84,
               "PUBLIC ORDER OFFENCES", "66", "066/94", "SC07001", None, None])
    ws.append(["92A.92.70.0", "Possession with intent to supply - Class A - Cocaine", "", 547.5, "DRUG OFFENCES",
               "92A", "092/70", "MD71230", "MD71230A", None])
    wb.save(path)


def test_official_workbook_reader(tmp_path):
    path = tmp_path / "cchi2020.xlsx"
    write_cchi_workbook(path)
    w = read_cchi_workbook(path)
    assert set(w["cjs_code"]) >= {"OF61131", "OF61131A", "CJ09002", "CJ09002C", "SC07001", "MD71230"}
    # MSA offences are absent from the index: their curated proxies are scored from this workbook.
    assert w.set_index("cjs_code").loc[["MS15001", "MS15016"], "score"].tolist() == [730, 84]
    weights = load_weights({**CFG["harm"], "table": str(path)})
    offences = pd.DataFrame({"event_id": [1, 2, 3], "cjs_code": ["OF61131", "MS15003", "MD71230"],
                             "ho_class": [None] * 3})
    scored, _, _ = score_events(pd.DataFrame({"event_id": [1, 2, 3]}), offences, weights, CFG["harm"],
                                CFG["categories"], "CCHI (official workbook)")
    # OF61131 sits on two rows (547.5 and 182.5): the class rule (min) decides.
    assert scored["harm_score"].tolist() == [182.5, 730, 547.5]
    assert scored["category"].tolist() == ["violence", "modern_slavery", "drugs"]


def test_workbook_problems_are_one_clear_sentence(tmp_path):
    from strostudy.errors import ExtractError

    wb = Workbook()
    wb.active.title = "Wrong sheet"
    wb.save(tmp_path / "w.xlsx")
    with pytest.raises(ExtractError, match=r"w.xlsx: has no sheet 'CCHI 2020 values sheet'"):
        read_cchi_workbook(tmp_path / "w.xlsx")
    with pytest.raises(ExtractError, match="does not exist"):
        load_weights({**CFG["harm"], "table": str(tmp_path / "nope.xlsx")})


def test_another_index_from_csv(tmp_path):
    path = tmp_path / "css.csv"
    pd.DataFrame({"cjs_code": ["OF61131", "MS15016"], "ho_class": ["008/01", ""], "title": ["GBH", "breach"],
                  "score": [1234.5, 99.0]}).to_csv(path, index=False)
    weights = load_weights({**CFG["harm"], "table": str(path)})
    offences = pd.DataFrame({"event_id": [1, 2], "cjs_code": ["OF61131", "MS15016"], "ho_class": [None, None]})
    scored, _, _ = score_events(pd.DataFrame({"event_id": [1, 2]}), offences, weights, CFG["harm"],
                                CFG["categories"], "ONS Crime Severity Score")
    assert scored["harm_score"].tolist() == [1234.5, 99.0]
    assert set(scored["harm_index"]) == {"ONS Crime Severity Score"}
    assert scored["category"].tolist() == ["other", "modern_slavery"]  # no groups in this index
    with pytest.raises(Exception, match="lacks column"):
        bad = tmp_path / "bad.csv"
        pd.DataFrame({"code": ["x"]}).to_csv(bad, index=False)
        load_weights({**CFG["harm"], "table": str(bad)})
