"""The ``yod`` blocking part (decade of birth, issue 15): its keys worked out by hand, alone
and joined with a name part, in both name orders; and the config accepts it."""

import numpy as np
import pandas as pd
import pytest

from strostudy.config import ConfigError, load
from strostudy.linkage import BLOCK_PARTS, Lists, _block_key

LEFT = pd.DataFrame({
    "entity": ["P1", "P2", "P3", "P4", "P5", "P6"],
    "forenames": ["Anna", "Zoe", "Carl", "Dan", "Eve", "Ian"],
    "surname": ["Smith", "Brown", "Jones", "Lee", "Khan", "Moss"],
    # a date; another decade; an impossible date (its digits are kept); missing; the decade
    # boundary on either side
    "date_of_birth": ["1985-06-12", "1990-01-01", "1945-04-93", None, "2000-01-01", "1999-12-31"],
})
RIGHT = pd.DataFrame({"rec": ["R1"], "forenames": ["Smith"], "surname": ["Anna"], "date_of_birth": ["1985-06-12"]})


def _keys(rule: str, side: str = "left", crossed: bool = False) -> list[int]:
    lists = Lists(LEFT, RIGHT)
    profile = lists.left_profile if side == "left" else lists.right_profile
    return _block_key(lists, side, rule, crossed)[profile].tolist()


def test_yod_is_a_blocking_part():
    assert "yod" in BLOCK_PARTS


def test_yod_alone_is_the_first_three_digits_of_the_year():
    # 1985 -> 198, 1990 -> 199, 1945 (day 93) -> 194, missing -> -1, 2000 -> 200, 1999 -> 199
    assert _keys("yod") == [198, 199, 194, -1, 200, 199]


def test_yod_after_a_name_part():
    # forename_initial (26 values: 5 bits) then yod (1,000 values: 10 bits): initial * 1024 + decade.
    # a=0, z=25, c=2, d=3 (no DOB), e=4, i=8
    assert _keys("forename_initial+yod") == [198, 25 * 1024 + 199, 2 * 1024 + 194, -1, 4 * 1024 + 200,
                                             8 * 1024 + 199]


def test_yod_before_a_name_part():
    # yod (10 bits) then forename_initial (5 bits): decade * 32 + initial.
    assert _keys("yod+forename_initial") == [198 * 32, 199 * 32 + 25, 194 * 32 + 2, -1, 200 * 32 + 4, 199 * 32 + 8]


def test_yod_with_names_swapped():
    # The right record is Anna Smith typed surname first: in the same order its initial is
    # s (18), in swapped order a (0), which meets the left Anna Smith's key (198).
    assert _keys("forename_initial+yod", "right") == [18 * 1024 + 198]
    assert _keys("forename_initial+yod", "right", crossed=True) == [198]


def test_config_accepts_yod_and_refuses_an_unknown_part():
    rules = ["dob", "surname_sx+forename_initial+yod", "forename_sx+surname_initial+yod"]
    config = load(None, {"reconcile": {"linkage": {"blocking": rules}}})
    assert config["reconcile"]["linkage"]["blocking"] == rules
    with pytest.raises(ConfigError):
        load(None, {"reconcile": {"linkage": {"blocking": ["surname_sx+decade"]}}})


def test_keys_are_integers():
    assert np.asarray(_keys("yod")).dtype.kind == "i"
