"""Order types as data (issue 16, item 2): the two package tables load and validate, every
order type the issue names is there, every code and score traces to the CCHI 2020 reference
(or to a documented proxy row of it), and the categories of an STRO study are today's."""

import csv
import os
from pathlib import Path

import pandas as pd
import pandera.errors
import pytest
from conftest import REPO

from strostudy.config import check, data_path, defaults
from strostudy.errors import StrostudyError
from strostudy.harm import categorise, curated_weights
from strostudy.order_types import BREACH, OrderTypeCodes, OrderTypes, categories_for, order_type_codes, order_types

REFERENCE = Path(os.environ.get("STROSTUDY_CCHI_REFERENCE",
                                REPO.parent / "shared" / "reference" / "cchi2020_values.csv"))
needs_reference = pytest.mark.skipif(not REFERENCE.exists(),
                                     reason="CCHI 2020 reference CSV not beside the repo (shared/)")
ISSUE_16_TYPES = {"STRO", "STPO", "SHPO", "SRO", "SCPO", "DAPO", "CBO", "KCPO", "SPO"}


def reference_rows() -> dict[str, dict]:
    """The reference by ATHENA URN: its title, score and set of CJS codes. Rows carry more
    CJS-code cells than the header names, so it is read as ragged rows."""
    rows = list(csv.reader(REFERENCE.open(encoding="utf-8-sig")))
    header = rows[0]
    at = {name: header.index(name) for name in ("ATHENA URN", "FULL_OFFENCE_TITLE", "CCHI Score")}
    first_code = header.index("CJS Codes")
    return {r[at["ATHENA URN"]]: {"title": r[at["FULL_OFFENCE_TITLE"]].strip(), "score": float(r[at["CCHI Score"]]),
                                  "codes": {c.strip() for c in r[first_code:] if c.strip() not in ("", "N/A")}}
            for r in rows[1:]}


def test_tables_load_with_their_types_and_validate():
    types, codes = order_types(), order_type_codes()
    assert str(types["typical_length_months"].dtype) == "Int64"
    assert str(codes["cchi_days"].dtype) == "Float64"
    assert list(types.columns) == list(OrderTypes.to_schema().columns)
    assert list(codes.columns) == list(OrderTypeCodes.to_schema().columns)


def test_every_order_type_of_the_issue_is_there_once():
    types = order_types()
    assert set(types["order_type"]) == ISSUE_16_TYPES
    assert types["order_type"].is_unique
    codes = order_type_codes()
    assert set(codes.loc[codes["role"] == "breach", "order_type"]) == ISSUE_16_TYPES
    assert codes.loc[codes["role"] == "breach", "cchi_days"].notna().all()  # every breach has a score


def test_the_models_reject_a_bad_row():
    types = order_types()
    with pytest.raises(pandera.errors.SchemaError):
        OrderTypes.validate(types.assign(basis=types["basis"].replace("civil", "civl")))
    with pytest.raises(pandera.errors.SchemaError):  # a category may not be called breach
        OrderTypes.validate(types.assign(target_category=types["target_category"].replace("stalking", BREACH)))
    codes = order_type_codes()
    blank = codes.assign(basis=codes["basis"].where(codes["cjs_code"].notna(), "proxy: a guess"))
    with pytest.raises(pandera.errors.SchemaError):  # no code, and no word that the code is missing
        OrderTypeCodes.validate(blank)


@needs_reference
def test_every_code_and_score_traces_to_the_cchi_reference():
    ref = reference_rows()
    every_code = set().union(*(r["codes"] for r in ref.values()))
    codes = order_type_codes()
    for row in codes.itertuples():
        source = ref[row.athena_urn]
        assert row.cchi_days == source["score"], (row.order_type, row.cjs_code)
        if row.basis.startswith("direct: "):
            assert row.cjs_code in source["codes"], (row.order_type, row.cjs_code)
            assert row.title == source["title"]
            assert row.athena_urn in row.basis
        else:  # a proxy: the offence has no row of its own, and the basis names the row used
            assert row.basis.startswith("proxy: ") and row.athena_urn in row.basis and source["title"] in row.basis
            assert pd.isna(row.cjs_code) or row.cjs_code not in every_code, row.cjs_code


def test_proxies_agree_with_the_curated_harm_table():
    """The MSA codes the harm stage scores today (A18) carry the same proxy row and score here."""
    curated = curated_weights().set_index("cjs_code")
    codes = order_type_codes()
    shared = codes.loc[codes["cjs_code"].isin(curated.index)]
    assert {"MS15001", "MS15016", "MS15017", "CJ09002"} <= set(shared["cjs_code"])
    for row in shared.itertuples():
        assert curated.at[row.cjs_code, "score"] == row.cchi_days
        assert curated.at[row.cjs_code, "athena_urn"] == row.athena_urn


def test_hand_checked_rows():
    types = order_types().set_index("order_type")
    assert types.loc["STRO", ["act", "basis", "target_category"]].tolist() == [
        "Modern Slavery Act 2015", "civil", "modern_slavery"]
    assert types.at["STRO", "section"].startswith("s.23")
    assert types.at["STRO", "breach_offence"].startswith("Modern Slavery Act 2015 s.30(1)(c)")
    assert types.at["STPO", "section"].startswith("s.14") and types.at["STPO", "basis"] == "both"
    assert types.at["SCPO", "breach_offence"] == "Serious Crime Act 2007 s.25"
    assert types.at["CBO", "basis"] == "conviction" and types.at["SPO", "basis"] == "civil"
    codes = order_type_codes().set_index(["order_type", "role", "cjs_code"])
    # Hand-checked in cchi2020_values.csv: URN 66.66.94.0, SC07001, 84 days, SCA 2007 s.25.
    scpo = codes.loc[("SCPO", "breach", "SC07001")]
    assert (scpo["title"], scpo["cchi_days"], scpo["athena_urn"]) == (
        "Failure to comply with a Serious Crime Prevention Order", 84, "66.66.94.0")
    # URN 66.68.7.0 holds both SX03222 and SX03223 at 10 days (SOA 2003 s.122H).
    for code in ("SX03222", "SX03223"):
        assert codes.loc[("SRO", "breach", code), "cchi_days"] == 10
    # The STRO breach proxy of A18.
    assert codes.loc[("STRO", "breach", "MS15016"), "cchi_days"] == 84


def test_an_stro_study_has_todays_categories_plus_breach():
    today = defaults()["categories"]
    stro = categories_for(["STRO"])
    assert [n for n in stro if n != BREACH] == list(today)  # names and order, default last
    assert list(stro)[0] == BREACH  # first, so that it claims MS15016 from modern_slavery's MS15 prefix
    for name, rule in today.items():
        assert stro[name] == rule, name
    assert stro[BREACH] == {"cjs_codes": ["MS15016", "MS15017"]}
    config = defaults() | {"categories": stro}
    check(config)  # a valid categories block


def test_breaches_of_the_studied_order_fall_in_breach_and_nothing_else_moves():
    weights = curated_weights()
    groups = weights["ho_group"]
    today = categorise(weights["cjs_code"], groups, defaults()["categories"])
    stro = categorise(weights["cjs_code"], groups, categories_for(["STRO"]))
    moved = weights.loc[today != stro, "cjs_code"].tolist()
    assert moved == ["MS15016", "MS15017"]
    assert set(stro[today != stro]) == {BREACH}


def test_other_studies_take_their_target_and_the_general_categories():
    cats = categories_for(["SHPO", "dapo"])
    assert list(cats) == [BREACH, "sexual", "domestic_abuse", "violence", "drugs", "default"]
    assert cats["sexual"] == {"ho_groups": ["SEXUAL OFFENCES"]}
    assert cats[BREACH]["cjs_codes"] == ["SX03220", "SX03221"]  # the DAPO breach code is not known yet
    assert "modern_slavery" not in cats  # a target of other order types, not a general category
    msa = categories_for(["STRO", "STPO"])
    assert list(msa) == list(categories_for(["STRO"]))
    for order_type in ISSUE_16_TYPES:
        check(defaults() | {"categories": categories_for([order_type])})


def test_general_categories_can_be_given():
    cats = categories_for(["KCPO"], general={"violence": {"ho_groups": ["VIOLENCE AGAINST THE PERSON"]},
                                             "default": "rest"})
    assert list(cats) == [BREACH, "weapons", "violence", "default"] and cats["default"] == "rest"


def test_an_unknown_order_type_is_named():
    with pytest.raises(StrostudyError, match="unknown order type.*ASBO"):
        categories_for(["STRO", "ASBO"])


def test_the_tables_are_package_data():
    assert data_path("order_types.csv").exists() and data_path("order_type_codes.csv").exists()
