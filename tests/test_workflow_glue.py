"""The rule-script glue: a user error becomes one line in the log and on stderr, exit 1."""

import pytest

from strostudy.errors import ExtractError
from strostudy.workflow import MockSnakemake, run


def test_user_error_is_one_line_and_exit_1(tmp_path, capsys):
    smk = MockSnakemake(input={"orders": "data/raw/orders.csv"}, log={"log": str(tmp_path / "step.log")})

    def step(s):
        raise ExtractError(s.input.orders, "has no column 'date_made'", "the columns order_ref, date_made")

    with pytest.raises(SystemExit) as exit_info:
        run(smk, step)
    assert exit_info.value.code == 1
    expected = ("strostudy: data/raw/orders.csv: has no column 'date_made'. "
                "Expected the columns order_ref, date_made.")
    assert capsys.readouterr().err.strip() == expected
    assert (tmp_path / "step.log").read_text().strip() == expected


def test_a_step_that_succeeds_runs_once(tmp_path):
    calls = []
    run(MockSnakemake(output={"x": str(tmp_path / "x")}), lambda s: calls.append(s.output.x))
    assert calls == [str(tmp_path / "x")]
