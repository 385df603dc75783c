"""mock_snakemake: the `snakemake` object a rule's script receives, from the parsed Snakefile.

Two kinds of test.  Against a small Snakefile written here (wildcards, unpack(), input
functions, params functions, threads, resources, config.yaml), the mock is compared with what
a real `snakemake` run hands the script.  Against the project's Snakefile, only facts that
outlive its rewrites are asserted; other paths are checked against each other (every input is
some rule's output), not spelled out.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from strostudy import tables
from strostudy.errors import StrostudyError
from strostudy.workflow import mock_snakemake, snakefile_rules

MONTHLY = "data/processed/stro/monthly_series.csv"

# --- a small Snakefile, and the script that records what Snakemake gives it -----------------

MINI_SNAKEFILE = textwrap.dedent('''
    import sys
    from pathlib import Path

    import yaml

    # Like the project's: defaults, then WORKDIR/config.yaml, then --config; stop on a bad value.
    _merged = {"seed": 1, "nested": {"a": 1, "b": 2}}
    if Path("config.yaml").exists():
        _merged.update(yaml.safe_load(Path("config.yaml").read_text()))
    _merged.update(dict(config))
    if _merged.get("fail"):
        sys.exit("strostudy: the config is broken")
    config.clear()
    config.update(_merged)


    def extracts(wildcards):
        return {"orders": f"raw/{wildcards.region}/orders.csv", "arrests": f"raw/{wildcards.region}/arrests.csv"}


    rule step:
        input:
            unpack(extracts),
            notes="notes.txt",
            parts=expand("parts/{i}.csv", i=[1, 2]),
        output:
            record="out/{region}/record.json",
            plot="out/{region}/plot.png",
        params:
            seed=config["seed"],
            label=lambda wildcards: wildcards.region.upper(),
            n_inputs=lambda wildcards, input: len(input),
        threads: 2
        resources:
            mem_mb=123,
        log:
            "logs/step_{region}.log",
        script:
            "record.py"


    rule other:
        output:
            "other.txt",
        shell:
            "touch {output}"
''')

RECORD_SCRIPT = textwrap.dedent('''
    import json
    from pathlib import Path

    s = snakemake  # noqa: F821
    Path(s.output.record).write_text(json.dumps({
        "input": [[k, v] for k, v in s.input.items()], "input_list": list(s.input),
        "output": [[k, v] for k, v in s.output.items()], "log": list(s.log),
        "params": [[k, v] for k, v in s.params.items()], "wildcards": dict(s.wildcards.items()),
        "config": s.config, "rule": s.rule, "threads": s.threads,
        "resources": dict(s.resources.items()), "scriptdir": s.scriptdir,
    }))
    Path(s.output.plot).write_text("")
''')


def record(smk) -> dict:
    """What RECORD_SCRIPT writes, taken from a mock (through JSON, as the script's record is)."""
    return json.loads(json.dumps({
        "input": [[k, v] for k, v in smk.input.items()], "input_list": list(smk.input),
        "output": [[k, v] for k, v in smk.output.items()], "log": list(smk.log),
        "params": [[k, v] for k, v in smk.params.items()], "wildcards": dict(smk.wildcards.items()),
        "config": smk.config, "rule": smk.rule, "threads": smk.threads,
        "resources": dict(smk.resources.items()), "scriptdir": smk.scriptdir,
    }))


@pytest.fixture
def mini(tmp_path):
    """(snakefile, workdir): the small workflow, and a workdir holding its inputs and a config.yaml."""
    flow, work = tmp_path / "flow", tmp_path / "work"
    flow.mkdir()
    (flow / "Snakefile").write_text(MINI_SNAKEFILE)
    (flow / "record.py").write_text(RECORD_SCRIPT)
    for name in ["raw/north/orders.csv", "raw/north/arrests.csv", "notes.txt", "parts/1.csv", "parts/2.csv"]:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text("x\n")
    (work / "config.yaml").write_text("seed: 3\n")
    return flow / "Snakefile", work


def test_the_mock_is_what_a_real_run_gives_the_script(mini):
    snakefile, work = mini
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(work), "--cores", "4",
                    "--config", "seed=7", "--", "out/north/record.json"],
                   check=True, capture_output=True, text=True)
    real = json.loads((work / "out/north/record.json").read_text())

    mock = mock_snakemake("step", snakefile=snakefile, workdir=work, config_overrides={"seed": 7}, region="north")

    assert record(mock) == real
    # The facts that comparison rests on, spelled out once:
    assert dict(mock.input.items()) == {"orders": "raw/north/orders.csv", "arrests": "raw/north/arrests.csv",
                                        "notes": "notes.txt", "parts": ["parts/1.csv", "parts/2.csv"]}
    assert dict(mock.params.items()) == {"seed": 7, "label": "NORTH", "n_inputs": 5}
    assert (mock.rule, mock.threads, list(mock.log)) == ("step", 2, ["logs/step_north.log"])
    assert mock.config == {"seed": 7, "nested": {"a": 1, "b": 2}}


def test_config_yaml_in_the_workdir_is_read_and_overrides_win(mini):
    snakefile, work = mini
    assert mock_snakemake("step", snakefile=snakefile, workdir=work, region="north").config["seed"] == 3
    assert mock_snakemake("step", snakefile=snakefile, workdir=work, region="north",
                          config_overrides={"seed": 9}).params.seed == 9


def test_wildcards_must_be_given_all_and_only(mini):
    snakefile, work = mini
    with pytest.raises(StrostudyError, match="takes the wildcards region; got none"):
        mock_snakemake("step", snakefile=snakefile, workdir=work)
    with pytest.raises(StrostudyError, match="takes the wildcards none; got region"):
        mock_snakemake("other", snakefile=snakefile, workdir=work, region="north")


def test_a_snakefile_that_stops_on_its_config_is_one_line(mini):
    snakefile, work = mini
    with pytest.raises(StrostudyError) as info:
        mock_snakemake("step", snakefile=snakefile, workdir=work, config_overrides={"fail": True}, region="north")
    assert str(info.value) == "the config is broken"


def test_the_current_directory_and_sys_path_are_restored(mini, tmp_path, monkeypatch):
    snakefile, work = mini
    monkeypatch.chdir(tmp_path)
    before = list(sys.path)
    mock_snakemake("step", snakefile=snakefile, workdir=work, region="north")
    with pytest.raises(StrostudyError):
        mock_snakemake("no_such_rule", snakefile=snakefile, workdir=work)
    assert Path.cwd() == tmp_path
    assert sys.path == before


# --- the project's Snakefile ------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """An empty WORKDIR: no Snakefile of its own, so the repository's is parsed."""
    return tmp_path_factory.mktemp("workdir")


#: Wildcards for the rules that take them (one calibration chunk).
WILDCARDS = {"calibration_chunk": {"scenario": "null", "chunk": "3"},
             # every rule from harm on runs once per study: the default's one study
             **{rule: {"study": "stro"} for rule in tables.STUDY_STAGES}}


@pytest.fixture(scope="module")
def mocks(workdir):
    """Every rule of the project's Snakefile (default config), as mock_snakemake gives it."""
    return {rule: mock_snakemake(rule, workdir=workdir, **WILDCARDS.get(rule, {}))
            for rule in snakefile_rules(workdir=workdir)}


def _pattern(rule: str) -> re.Pattern:
    """The output paths a wildcard rule writes, as a regular expression."""
    from strostudy import tables

    return re.compile(re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(tables.path(rule))) + "$")


def test_its_reads_the_monthly_series(mocks):
    its = mocks["its"]
    assert [key for key, path in its.input.items() if path == MONTHLY]  # under its registry name
    assert its.rule == "its"
    assert its.output and all(not os.path.isabs(p) and p.startswith("data/processed/") for p in its.output)


def test_report_and_figures_outputs(mocks):
    assert sorted(mocks["report"].output) == ["reports/stro/results.html", "reports/stro/results.md"]
    assert any(path.endswith(".png") for path in mocks["figures"].output)


def test_the_rules_the_study_depends_on_are_there(mocks):
    assert {"simulate", "reconcile", "harm", "cohort", "its", "figures", "report"} <= set(mocks)


def test_every_input_is_made_by_another_rule(mocks):
    """The inputs (reconcile's and report's included) are expanded to the very paths other rules
    write: with the synthetic default, even the raw extracts come from `simulate`."""
    made = {path: rule for rule, smk in mocks.items() for path in smk.output}
    for rule, smk in mocks.items():
        assert all("{" not in path for path in smk.input), rule
        missing = [path for path in smk.input
                   if path not in made and not _pattern("calibration_chunk").match(path)]
        assert not missing, f"{rule} reads {missing}, which no rule writes"
        assert not any(made.get(path) == rule for path in smk.input), f"{rule} reads its own output"
    assert len(mocks["reconcile"].input) > 1 and len(mocks["report"].input) > 1


def _is_subtree(part, whole) -> bool:
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and _is_subtree(v, whole[k]) for k, v in part.items())
    return part == whole


def test_params_are_evaluated_values_from_the_config(mocks):
    for rule, smk in mocks.items():
        for name, value in smk.params.items():
            assert not callable(value), (rule, name)
            if isinstance(value, dict):  # a rule's config, or the part of it the rule reads
                assert _is_subtree(value, smk.config), (rule, name)


def test_log_and_scriptdir_are_the_rules(mocks):
    its = mocks["its"]
    assert its.log and all(p.endswith(".log") and not os.path.isabs(p) for p in its.log)
    assert its.scriptdir and Path(its.scriptdir).is_dir()
    assert its.threads >= 1 and its.resources._cores == its.threads


def test_config_overrides_reach_the_config(workdir):
    plain = mock_snakemake("its", workdir=workdir, study="stro")
    mock = mock_snakemake("its", workdir=workdir, config_overrides={"seed": 5, "its": {"hac_lags": 7}}, study="stro")
    assert mock.config["seed"] == 5
    assert mock.config["its"] == {**plain.config["its"], "hac_lags": 7}  # merged, not replaced


def test_the_workdirs_config_yaml_is_read(tmp_path):
    (tmp_path / "config.yaml").write_text("seed: 11\n")
    assert mock_snakemake("its", workdir=tmp_path, study="stro").config["seed"] == 11
    assert mock_snakemake("its", workdir=tmp_path, config_overrides={"seed": 5}, study="stro").config["seed"] == 5


def test_absolute_paths_are_under_the_workdir(workdir, mocks):
    mock = mock_snakemake("its", workdir=workdir, absolute=True, study="stro")
    assert str(workdir / MONTHLY) in mock.input
    assert list(mock.output) == [str(workdir / p) for p in mocks["its"].output]
    assert dict(mock.output.items()).keys() == dict(mocks["its"].output.items()).keys()
    assert list(mock.log) == [str(workdir / p) for p in mocks["its"].log]


def test_an_unknown_rule_is_one_line_listing_the_rules(workdir):
    with pytest.raises(StrostudyError) as info:
        mock_snakemake("itss", workdir=workdir)
    message = str(info.value)
    assert "\n" not in message and "'itss'" in message
    for rule in snakefile_rules(workdir=workdir):
        assert rule in message


def test_a_missing_snakefile_or_workdir_is_one_line(tmp_path):
    with pytest.raises(StrostudyError, match="no Snakefile at") as info:
        mock_snakemake("its", snakefile=tmp_path / "Snakefile", workdir=tmp_path)
    assert "\n" not in str(info.value)
    with pytest.raises(StrostudyError, match="is not a directory"):
        mock_snakemake("its", workdir=tmp_path / "nowhere")


def test_parsing_creates_nothing_in_the_workdir(tmp_path):
    mock_snakemake("report", workdir=tmp_path, study="stro")
    assert list(tmp_path.iterdir()) == []


def _monthly_series() -> pd.DataFrame:
    """A small monthly series, as the cohort step writes it: 48 months around the order."""
    rng = np.random.default_rng(1)
    months = np.arange(-24, 24)
    at_risk = np.full(months.size, 400)
    rate = np.where(months < 0, 30.0, 20.0)
    frames = [
        pd.DataFrame({"month": months, "measure": "events", "category": "overall",
                      "value": rng.poisson(rate), "subjects_at_risk": at_risk}),
        pd.DataFrame({"month": months, "measure": "harm", "category": "overall",
                      "value": rng.gamma(4.0, rate * 25), "subjects_at_risk": at_risk}),
    ]
    return pd.concat(frames, ignore_index=True)


def test_a_step_runs_with_the_mocks_paths_and_config(tmp_path, monkeypatch):
    from strostudy.its import its_models

    (tmp_path / "data" / "processed" / "stro").mkdir(parents=True)
    _monthly_series().to_csv(tmp_path / MONTHLY, index=False)

    mock = mock_snakemake("its", workdir=tmp_path, study="stro")
    monkeypatch.chdir(tmp_path)  # the paths are relative to the workdir, as in a real run
    monthly = pd.read_csv(next(path for path in mock.input if path == MONTHLY))
    models, diagnostics, fitted = its_models(monthly, mock.config)

    assert set(models["measure"]) == {"events", "harm"}
    assert not diagnostics.empty and len(fitted) > 0
    models.to_csv(mock.output[0], index=False)  # the output paths are writable where they say
    assert (tmp_path / mock.output[0]).exists()
