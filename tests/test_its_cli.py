"""`strostudy its` on the standard tutorial (Lopez Bernal, Cummins and Gasparrini 2017):
every model of make_tutorial_fixtures.R reproduced through the command line, and a user's
mistakes answered in one line."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy.cli import main

FIX = Path(__file__).parent / "fixtures" / "r"
SICILY = FIX / "sicily.csv"
R = pd.read_csv(FIX / "tutorial_models_r.csv")
MODELS = list(R["model"].drop_duplicates())


def run_cli(tmp_path, *args, name="out.csv"):
    out = tmp_path / name
    code = main(["its", *map(str, args), "--out", str(out)])
    return code, out


def tutorial(tmp_path, model: str) -> pd.DataFrame:
    ref = R.loc[R["model"] == model].iloc[0]
    args = [SICILY, "--outcome", "aces", "--time", "time", "--interruption", 37, "--exposure", "stdpop",
            "--family", ref["family"], "--se", "model", "--se", "hac", "--hac-lags", 3]
    if not ref["slope_change"]:
        args.append("--no-slope-change")
    if ref["seasonal"]:
        args += ["--season-col", "month", "--harmonics", 2, "--period", 12]
    code, out = run_cli(tmp_path, *args, name=f"{model}.csv")
    assert code == 0
    return pd.read_csv(out)


@pytest.mark.parametrize("model", MODELS)
def test_every_tutorial_model_matches_r(tmp_path, model):
    """Estimates, model-based and Newey-West SEs, p-values, intervals and rate ratios of each
    Poisson / quasi-Poisson model (step only or with a slope change, with or without Fourier
    seasonality, offset log(stdpop)), to 1e-8 relative (the CSV keeps 10 significant digits)."""
    ours = tutorial(tmp_path, model).set_index(["se_type", "term"])
    ref = R.loc[R["model"] == model].set_index(["se_type", "term"])
    assert set(ours.index) == set(ref.index)
    ours = ours.loc[ref.index]
    for col in ("estimate", "se", "ci_low", "ci_high", "ratio", "ratio_ci_low", "ratio_ci_high"):
        assert np.allclose(ours[col], ref[col], rtol=1e-8, atol=0), col
    assert np.allclose(ours["p_value"], ref["p_value"], rtol=1e-6, atol=1e-300)


@pytest.mark.parametrize("seasonal", [False, True], ids=["plain", "seasonal"])
def test_tutorial_quasipoisson_rate_ratios(tmp_path, seasonal):
    """The tutorial's headline: the quasi-Poisson rate ratio of the smoking ban, without
    (model 2) and with (model 3) Fourier seasonality, as R gives them (step-only models)."""
    model = f"quasipoisson_{'seasonal' if seasonal else 'plain'}_step"
    ours = tutorial(tmp_path, model).set_index(["se_type", "term"]).loc[("model", "post")]
    ref = R.loc[(R["model"] == model) & (R["se_type"] == "model") & (R["term"] == "post")].iloc[0]
    for col in ("ratio", "ratio_ci_low", "ratio_ci_high"):
        assert ours[col] == pytest.approx(ref[col], rel=1e-9)
    assert ours["ratio"] == pytest.approx(0.885 if seasonal else 0.894, abs=5e-4)  # R's, to three decimals


def test_the_default_output_has_every_standard_error_type(tmp_path):
    code, out = run_cli(tmp_path, SICILY, "--outcome", "aces", "--time", "time", "--interruption", 37,
                        "--exposure", "stdpop", "--config", tmp_path / "none.yaml")
    table = pd.read_csv(out)
    assert code == 0
    assert list(table.columns)[:10] == ["term", "estimate", "se", "se_type", "ci_low", "ci_high", "p_value", "ratio",
                                        "ratio_ci_low", "ratio_ci_high"]
    assert list(dict.fromkeys(table["se_type"])) == ["model", "hac_3", "fixedb", "ar1"]
    assert list(table.loc[table.se_type == "ar1", "term"]) == ["intercept", "time", "post", "time_since"]


def test_ols_has_no_ratio_and_a_covariate_is_a_term(tmp_path):
    frame = pd.read_csv(SICILY).assign(rate=lambda d: d["aces"] / d["stdpop"] * 1e5)
    path = tmp_path / "rates.csv"
    frame.to_csv(path, index=False)
    code, out = run_cli(tmp_path, path, "--outcome", "rate", "--time", "time", "--interruption", 37, "--family", "ols",
                        "--covariate", "pop", "--se", "model")
    table = pd.read_csv(out)
    assert code == 0 and list(table["term"]) == ["intercept", "time", "post", "time_since", "pop"]
    assert table["ratio"].isna().all()
    import statsmodels.api as sm

    x = np.column_stack([np.ones(59), frame["time"], frame["smokban"], (frame["time"] - 37) * frame["smokban"],
                         frame["pop"]])
    ref = sm.OLS(frame["rate"], x).fit()
    assert np.allclose(table["estimate"], ref.params, rtol=1e-8)
    assert np.allclose(table["se"], ref.bse, rtol=1e-8)


# --------------------------------------------------------------------------- one-line errors


@pytest.mark.parametrize("change,args,expect", [
    (None, ["--outcome", "acs"], "has no column 'acs' (for the outcome)"),
    (None, ["--exposure", "stdpp"], "has no column 'stdpp' (for the exposure)"),
    ("text", [], "column 'aces' is not a number in row 5"),
    ("blank", [], "column 'aces' is empty in row 5"),
    ("negative", [], "column 'aces' is negative in row 5"),
    ("gap", [], "column 'time' is not equally spaced"),
    ("repeat", [], "column 'time' repeats a time point"),
    (None, ["--interruption", 58], "57 point(s) before and 2 from the interruption at 58 in column 'time'"),
    (None, ["--covariate", "smokban"], "the term 'smokban' is constant or a combination of the terms before it"),
])
def test_a_user_error_is_one_line_naming_the_file_and_column(tmp_path, capsys, change, args, expect):
    frame = pd.read_csv(SICILY).astype({"aces": object})
    if change == "text":
        frame.loc[3, "aces"] = "n/a"
    elif change == "blank":
        frame.loc[3, "aces"] = None
    elif change == "negative":
        frame.loc[3, "aces"] = -2
    elif change == "gap":
        frame = frame.drop(index=10)
    elif change == "repeat":
        frame.loc[11, "time"] = 11
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    base = {"--outcome": "aces", "--time": "time", "--interruption": 37, "--exposure": "stdpop"}
    for key, value in zip(args[::2], args[1::2]):
        base[key] = value
    code, out = run_cli(tmp_path, path, *[x for kv in base.items() for x in kv], *args[len(args):])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert err.count("\n") == 1 and err.startswith(f"strostudy: {path}: ") and "Traceback" not in err
    assert expect in err


def test_a_missing_file_is_one_line(tmp_path, capsys):
    code, _ = run_cli(tmp_path, tmp_path / "nope.csv", "--outcome", "y", "--time", "t", "--interruption", 0)
    err = capsys.readouterr().err
    assert code == 1 and err == f"strostudy: {tmp_path / 'nope.csv'}: no such file\n"
