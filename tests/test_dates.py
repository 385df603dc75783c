import pandas as pd

from strostudy.dates import add_months, month_index, parse_dates


def test_add_months_clips_like_lubridate():
    d = pd.Series(pd.to_datetime(["2020-01-31", "2020-03-31", "2021-02-28", "2020-02-29"]))
    out = add_months(d, [1, -1, -12, 12])
    assert out.dt.strftime("%Y-%m-%d").tolist() == ["2020-02-29", "2020-02-29", "2020-02-28", "2021-02-28"]


def test_month_index_boundaries():
    start = pd.Series(pd.to_datetime(["2020-03-15"] * 6))
    events = pd.Series(pd.to_datetime(
        ["2020-03-15", "2020-03-14", "2020-04-14", "2020-04-15", "2018-03-15", "2018-03-14"]))
    # The start day opens month 0; the day before is month -1; 24 months back opens month -24.
    assert month_index(events, start).tolist() == [0, -1, 0, 1, -24, -25]


def test_parse_dates_every_style():
    raw = pd.Series(["03/02/2020", "2020-02-03T23:10:00", 43864, "43864", "N/K", "", None, "31/02/2020",
                     "garbage", pd.Timestamp("2020-02-03 12:00")], dtype=object)
    out = parse_dates(raw)
    good = out["date"].dt.strftime("%Y-%m-%d")
    assert good[[0, 1, 2, 3, 9]].tolist() == ["2020-02-03"] * 5
    assert out["date_problem"].tolist()[4:9] == ["missing", "missing", "missing", "unparseable", "unparseable"]
