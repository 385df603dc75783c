"""Several order types in one simulated run (issue 16; docs/simulator.md, "Several order types")."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from strostudy.errors import StrostudyError
from strostudy.simulate import simulate, write_extracts
from strostudy.simulate.multi import TARGET_MIXES, TWO_ORDER_SHARE

SEED = 20260625
TYPES = ["STRO", "SHPO", "DAPO"]
SEXUAL = ["SX03118", "SX03119", "SX56123"]  # the catalogue's Sexual Offences Act codes (not the breaches)


def _files(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write(extracts, root):
    write_extracts(extracts, root / "raw", root / "truth")
    return _files(root)


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """The default cohort with SHPOs and DAPOs added, written once."""
    root = tmp_path_factory.mktemp("three")
    extracts = simulate(seed=SEED, order_types=TYPES)
    _write(extracts, root)
    return extracts, root


def _canonical_pnc(ids: pd.Series) -> pd.Series:
    """``YYYY/NNNNNNNC`` or ``YY/N…C`` -> ``YY/serial/C`` (this test's own, not the pipeline's)."""
    year, rest = ids.str.split("/", n=1).str[0], ids.str.split("/", n=1).str[1]
    return year.str[-2:] + "/" + rest.str[:-1].str.lstrip("0") + "/" + rest.str[-1]


# --------------------------------------------------------------------------- the default is untouched


@pytest.mark.parametrize("seed, scenario", [(SEED, "published"), (7, "null")])
def test_stro_alone_is_the_single_type_run_byte_for_byte(tmp_path, seed, scenario):
    default = _write(simulate(seed=seed, scenario=scenario, comparison_ratio=1.0), tmp_path / "default")
    listed = _write(simulate(seed=seed, scenario=scenario, comparison_ratio=1.0, order_types=["STRO"]),
                    tmp_path / "listed")
    as_text = _write(simulate(seed=seed, scenario=scenario, comparison_ratio=1.0, order_types=" stro "),
                     tmp_path / "text")
    assert len(default) == 26 and "truth/two_orders.csv" not in default
    assert listed == default and as_text == default
    assert "order_types" not in json.loads(default["raw/SYNTHETIC-MANIFEST.json"])
    assert b"order_type" not in default["truth/episodes.csv"].split(b"\n")[0]


def test_unknown_order_types_stop_with_one_line():
    with pytest.raises(StrostudyError, match="unknown order type.*XYZ"):
        simulate(order_types="STRO,XYZ")
    with pytest.raises(StrostudyError, match="two_order_share"):
        simulate(order_types="STRO,SHPO", two_order_share=1.5)


# --------------------------------------------------------------------------- three types in one run


def test_every_listed_type_is_on_the_order_list(three):
    extracts, root = three
    orders = pd.read_csv(root / "raw" / "orders.csv", dtype=str, keep_default_na=False)
    counts = orders["order_type"].value_counts()
    assert counts[["STRO", "SHPO", "DAPO"]].tolist() == [114, 114, 114]
    # Interim orders only where the Act has them (order_types.csv's section): STRO here.
    assert set(counts.index) == {"STRO", "SHPO", "DAPO", "Interim STRO"}
    assert 10 <= counts["Interim STRO"] <= 45
    for code in TYPES:
        refs = orders.loc[orders["order_type"] == code, "order_ref"]
        assert refs.str.match(rf"^{code}/[A-Z]+/20\d\d/\d{{5}}$").all() and refs.is_unique
    assert orders.loc[orders["order_type"] == "Interim STRO", "order_ref"].str.startswith("ISTRO/").all()
    # Every type goes through the same mess: short PNC IDs, blank ones, month-only starts.
    for code in ("SHPO", "DAPO"):
        mine = orders.loc[orders["order_type"] == code]
        assert 0.15 < mine["pnc_id"].str.match(r"^\d\d/").mean() < 0.45
        assert mine["date_made"].str.match(r"^\d\d/\d{4}$").sum() == 1
    # Half the six unidentifiable people (two a type) have no PNC ID on the list, the last ones.
    full = orders.loc[~orders["order_type"].str.startswith("Interim")]
    assert (full["pnc_id"] == "").sum() == 3 and (full.loc[full["order_type"] == "DAPO", "pnc_id"] == "").sum() == 2
    flow = extracts.truth["cohort_flow"]
    assert set(flow["order_type"]) == set(TYPES)
    assert extracts.truth["episodes"]["order_type"].value_counts().to_dict() == {t: 114 for t in TYPES}


def test_the_other_types_mess_is_planted_and_listed(three):
    extracts, _ = three
    episodes = extracts.truth["episodes"].set_index("subject_id")["order_type"]
    ids = extracts.truth["identity_errors"]
    kinds = extracts.truth["discrepancies"]
    for code in ("SHPO", "DAPO"):
        people = set(extracts.truth["episodes"].loc[lambda e, c=code: e["order_type"] == c, "subject_id"])
        assert ids["subject_id"].isin(people).sum() > 10
        assert {"name_spelling", "arrest_date", "offence_wording"} <= set(kinds.loc[kinds["subject_id"].isin(people),
                                                                                     "kind"])
    assert len(episodes) > 0
    pnc = extracts.pnc_arrests
    assert pnc.duplicated().sum() >= 0.008 * len(pnc)  # the 1% duplicated rows, over every type


def test_each_type_has_its_own_offence_mix(three):
    extracts, _ = three
    events = extracts.truth["events"]
    principal = events.groupby("order_type")["cjs_code"]
    sexual = principal.apply(lambda c: c.isin(SEXUAL).mean())
    assert sexual["SHPO"] > 0.12 and sexual["SHPO"] > 4 * sexual["STRO"]
    assert sexual["DAPO"] < 0.01
    assert events.loc[events["order_type"] == "DAPO", "cjs_code"].isin(TARGET_MIXES["DAPO"]).mean() > 0.35
    violence = events.groupby("order_type")["category"].apply(lambda c: (c == "violence").mean())
    assert violence["DAPO"] > 1.5 * violence["STRO"]
    # Modern slavery is STRO's target offending, not the others'.
    slavery = principal.apply(lambda c: c.str.startswith("MS1500").mean())
    assert slavery["STRO"] > 0.1 and slavery["SHPO"] == 0 and slavery["DAPO"] == 0


def test_breaches_follow_the_order_with_the_type_s_breach_code(three):
    extracts, _ = three
    events = extracts.truth["events"]
    shpo_breach = events.loc[events["cjs_code"] == "SX03220"]
    assert len(shpo_breach) >= 10
    assert (shpo_breach["order_type"] == "SHPO").all() and (shpo_breach["month"] >= 0).all()
    assert shpo_breach["subject_id"].nunique() >= 5
    assert shpo_breach["harm_score"].eq(10).all()
    # STRO breaches as before; DAPO's breach has no CJS code (order_type_codes.csv), so none.
    assert (events.loc[events["cjs_code"] == "MS15016", "order_type"] == "STRO").all()
    assert not events["cjs_code"].isin(["SX03221", "SX03222", "SC07001"]).any()
    assert extracts.pnc_arrests["cjs_code"].eq("SX03220").sum() >= 10
    pnc = extracts.pnc_arrests.loc[extracts.pnc_arrests["cjs_code"] == "SX03220"]
    assert pnc["offence_title"].str.startswith("Breach SHPO").all()


def test_two_order_people_are_one_person_in_every_extract(three):
    extracts, root = three
    pairs = extracts.truth["two_orders"]
    expected = 2 * int(round(TWO_ORDER_SHARE * 114))  # SHPO's and DAPO's share
    assert expected - 2 <= len(pairs) <= expected and pairs["subject_id"].is_unique
    assert (pairs["first_order_type"] != pairs["second_order_type"]).all()
    assert (pairs["first_start_date"] < pairs["second_start_date"]).all()
    episodes = extracts.truth["episodes"]
    assert episodes.loc[episodes["subject_id"].isin(pairs["subject_id"])].groupby("subject_id").size().eq(2).all()
    assert episodes.groupby("subject_id").size().max() == 2
    # An analysed STRO subject keeps exactly the calibrated arrests: never a second order.
    stro_analysed = episodes.loc[(episodes["order_type"] == "STRO") & episodes["analysed"], "subject_id"]
    assert not pairs["subject_id"].isin(stro_analysed).any()
    orders = pd.read_csv(root / "raw" / "orders.csv", dtype=str, keep_default_na=False)
    orders = orders.assign(pnc=_canonical_pnc(orders["pnc_id"]))
    for _, pair in pairs.iterrows():  # a handful of pairs, in a test
        both = orders.loc[orders["order_ref"].isin([pair["first_order_ref"], pair["second_order_ref"]])]
        assert len(both) == 2
        assert both[["pnc", "surname", "forenames", "date_of_birth"]].nunique().eq(1).all()
        assert both["pnc"].iloc[0] == _canonical_pnc(pd.Series([pair["pnc_id"]])).iloc[0]
    # Their PNC records hold the arrests of both orders' episodes.
    events = extracts.truth["events"]
    strands = events.loc[events["subject_id"].isin(pairs["subject_id"])].groupby("subject_id")["order_type"].nunique()
    assert (strands == 2).mean() > 0.5
    pnc_people = _canonical_pnc(extracts.pnc_arrests["pnc_id"])
    assert _canonical_pnc(pairs["pnc_id"]).isin(pnc_people).all()


def test_windows_are_per_order_and_stro_keeps_the_published_ones(three):
    extracts, _ = three
    windows = extracts.truth["subject_windows"]
    assert {"order_type", "order_ref"} <= set(windows.columns)
    stro = windows.loc[(windows["order_type"] == "STRO") & (windows["category"] == "overall")]
    assert len(stro) == 41
    assert (stro["events_before"].sum(), stro["events_after"].sum()) == (210, 93)
    single = simulate(seed=SEED, comparison_ratio=0.0).truth["subject_windows"]
    mine = windows.loc[windows["order_type"] == "STRO"].drop(columns=["order_type", "order_ref"])
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), single.reset_index(drop=True), check_dtype=False)
    others = windows.loc[(windows["order_type"] != "STRO") & (windows["category"] == "overall")]
    assert others.groupby("order_type").size().to_dict() == {"DAPO": 41, "SHPO": 41}
    effects = extracts.truth["effects"]
    assert set(effects["order_type"]) == set(TYPES)
    assert np.isclose(effects.loc[effects["order_type"] == "SHPO", "true_rate_ratio"].iloc[0], 93 / 210)


def test_the_manifest_says_only_stro_is_calibrated(three):
    _, root = three
    manifest = json.loads((root / "raw" / "SYNTHETIC-MANIFEST.json").read_text())
    assert manifest["order_types"] == {"STRO": "calibrated", "SHPO": "illustrative", "DAPO": "illustrative"}
    assert "illustrative" in manifest["note"] and "orders.csv" in manifest["files"]


def test_same_seed_same_files_and_listing_order_does_not_matter(three, tmp_path):
    _, root = three
    again = _write(simulate(seed=SEED, order_types="DAPO,STRO,SHPO"), tmp_path / "again")
    assert again == _files(root)
    other = _write(simulate(seed=SEED + 1, order_types=TYPES), tmp_path / "other")
    assert other["raw/orders.csv"] != again["raw/orders.csv"]


def test_a_type_s_records_do_not_depend_on_stro_being_listed():
    """Without STRO, the first listed type keeps its own people, and the knife-crime mix leans to
    bladed articles."""
    alone = simulate(seed=3, n_orders=60, comparison_ratio=0.0, order_types="KCPO,SHPO")
    episodes = alone.truth["episodes"]
    assert set(episodes["order_type"]) == {"KCPO", "SHPO"} and len(episodes) == 120
    events = alone.truth["events"]
    blade = events.groupby("order_type")["cjs_code"].apply(lambda c: c.eq("CJ88117").mean())
    assert blade["KCPO"] > 0.1 and blade["KCPO"] > 3 * blade["SHPO"]
    assert "Interim KCPO" not in set(alone.orders["order_type"])
