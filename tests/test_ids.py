import pandas as pd

from strostudy.ids import SYNTHETIC_KEY, canonical_pnc, check_letter, format_pnc, pseudonymise


def test_check_letters_hand_worked():
    # 19 * 10^7 + 123456 = 190123456 = 23 * 8266237 + 5 -> letters[5] = "E"
    # 04 * 10^7 + 7      = 40000007  = 23 * 1739130 + 17 -> letters[17] = "T"
    # 99 * 10^7 + 0      = 990000000 = 23 * 43043478 + 6 -> letters[6] = "F"
    assert list(check_letter([2019, 2004, 1999], [123456, 7, 0])) == ["E", "T", "F"]
    assert format_pnc([2019], [123456]).tolist() == ["2019/0123456E"]


def test_canonical_pnc_short_forms_and_problems():
    raw = pd.Series(["19/123456E", " 2019/0123456e ", "04/7T", "19/123456F", "N/K", "", "abc", None, "85/1234567X"])
    out = canonical_pnc(raw)
    assert out["pnc_id"].tolist()[:3] == ["2019/0123456E", "2019/0123456E", "2004/0000007T"]
    assert out["pnc_problem"].tolist()[3:8] == ["check_letter", "blank", "blank", "malformed", "blank"]
    assert out["pnc_id_as_recorded"][3] == "2019/0123456F"
    # 1985: 85 * 10^7 + 1234567 = 851234567 = 23 * 37010198 + 13 -> "N", so X is wrong.
    assert out["pnc_problem"][8] == "check_letter"
    assert check_letter([1985], [1234567])[0] == "N"


def test_pseudonym_is_keyed_and_stable():
    ids = pd.Series(["2019/0123456E", "2004/0000007T", "2019/0123456E", None])
    a = pseudonymise(ids, SYNTHETIC_KEY)
    assert a[0] == a[2] and a[0] != a[1] and pd.isna(a[3])
    assert a[0].startswith("S") and len(a[0]) == 17
    assert pseudonymise(ids, "another key")[0] != a[0]
    # HMAC-SHA256 of the canonical ID under the documented synthetic key (computed independently).
    import hashlib
    import hmac

    expected = hmac.new(SYNTHETIC_KEY.encode(), b"2019/0123456E", hashlib.sha256).hexdigest()[:16]
    assert a[0] == "S" + expected
