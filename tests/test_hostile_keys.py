"""Hostile input, part 1: the public key is used only for extracts marked synthetic; a real
run needs a proper key, checked before any extract is read; no CSV cell runs as a formula;
an unexpected failure prints one line and keeps the traceback (which may quote data) in the log."""

import hashlib
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from conftest import REPO, run_stages

from strostudy import keys
from strostudy.config import defaults
from strostudy.errors import StrostudyError
from strostudy.tables import neutralise_formulas

KEY = "a-long-test-secret-0123456789"


def digests(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_simulated_extracts_carry_a_valid_mark(raw):
    assert keys.synthetic_mark(raw)
    (raw / "rocu" / "~$north.xlsx").write_bytes(b"lock")  # an Excel lock file is not an extract
    assert keys.synthetic_mark(raw)


@pytest.mark.parametrize("tamper", ["edit", "add", "remove", "no_manifest", "forged_mark"])
def test_any_change_removes_the_mark(raw, tamper):
    if tamper == "edit":
        with open(raw / "pnc_arrests.csv", "a") as f:
            f.write("2019/0000001A,01/01/2020,XX00000\n")
    elif tamper == "add":
        shutil.copy(next((raw / "rocu").glob("*.xlsx")), raw / "rocu" / "extra.xlsx")
    elif tamper == "remove":
        next((raw / "rocu").glob("*.xlsx")).unlink()
    elif tamper == "no_manifest":
        (raw / keys.MANIFEST).unlink()
    else:
        text = (raw / keys.MANIFEST).read_text()
        (raw / keys.MANIFEST).write_text(text.replace('"mark": "', '"mark": "0'))
    assert not keys.synthetic_mark(raw)


def test_guard_refuses_unmarked_extracts_as_synthetic(raw):
    (raw / keys.MANIFEST).unlink()
    with pytest.raises(StrostudyError, match="did not simulate .* will not be overwritten, nor pseudonymised"):
        keys.guard("synthetic", raw)
    with pytest.raises(StrostudyError, match="public synthetic key is not used"):
        keys.pseudonym_key("synthetic", marked=False)


@pytest.mark.parametrize("value, message", [(None, "no pseudonymisation key: 'source: extracts' needs"),
                                            ("", "no pseudonymisation key"),
                                            ("short", "is 5 characters long; use at least 16")])
def test_real_extracts_need_a_long_key(raw, monkeypatch, value, message):
    monkeypatch.delenv(keys.KEY_ENV, raising=False)
    if value is not None:
        monkeypatch.setenv(keys.KEY_ENV, value)
    with pytest.raises(StrostudyError, match=message):
        keys.guard("extracts", raw)
    monkeypatch.setenv(keys.KEY_ENV, KEY)
    keys.guard("extracts", raw)


def test_workflow_never_keys_or_overwrites_real_extracts_as_synthetic(raw, tmp_path):
    """The issue's case: real extracts in data/raw, and a config with no `source:` line."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    shutil.copytree(raw, work / "data" / "raw")
    (work / "data" / "raw" / keys.MANIFEST).unlink()  # real extracts carry no mark
    (work / "config.yaml").write_text(yaml.safe_dump({"study": {"window_months": 24}}))
    before = digests(work / "data" / "raw")
    env = {k: v for k, v in os.environ.items() if k != keys.KEY_ENV}
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work),
                             "--cores", "1", "all"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode != 0
    assert "strostudy: data/raw/ holds extracts that strostudy did not simulate" in result.stderr
    assert "Traceback" not in result.stderr
    assert digests(work / "data" / "raw") == before  # nothing overwritten
    assert not (work / "data" / "processed").exists() and not (work / "data" / "interim").exists()


def test_formula_cells_are_neutralised():
    frame = pd.DataFrame({"text": ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "-3",
                                   "+1.5e-3", "plain", None],
                          "number": [-1.5, 2, -3, 4, 5, 6, 7, 8, 9]})
    out = neutralise_formulas(frame)
    assert out["text"].tolist()[:5] == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tx"]
    assert out["text"].tolist()[5:8] == ["-3", "+1.5e-3", "plain"]  # plain numbers and text unchanged
    assert pd.isna(out["text"].iloc[8])
    assert out["number"].tolist() == frame["number"].tolist()
    assert list(neutralise_formulas(pd.DataFrame({"=cmd": [1]})).columns) == ["'=cmd"]


def test_no_formula_from_the_extracts_reaches_a_csv(raw, tmp_path, monkeypatch):
    payloads = ["=HYPERLINK(\"http://evil\",\"click\")", "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
                "+1+cmd|' /C calc'!A0"]
    orders = pd.read_csv(raw / "orders.csv", dtype=str, keep_default_na=False)
    orders.loc[:3, "owning_force"] = payloads
    orders.loc[:3, "applicant"] = payloads
    orders.to_csv(raw / "orders.csv", index=False)
    pnc = pd.read_csv(raw / "pnc_arrests.csv", dtype=str, keep_default_na=False)
    pnc.loc[:1, "cjs_code"] = payloads[:2]  # unknown codes: unknown_codes.csv and quarantine_harm.csv
    pnc.loc[2, "arrest_date"] = payloads[2]  # an unparseable date: ingest's quarantine
    pnc.to_csv(raw / "pnc_arrests.csv", index=False)
    monkeypatch.setenv(keys.KEY_ENV, KEY)
    cfg = {**defaults(), "source": "extracts"}
    run_stages(raw, tmp_path / "work", cfg, until="harm")
    written = sorted((tmp_path / "work" / "data").rglob("*.csv"))
    assert len(written) >= 10
    seen = 0
    for path in written:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        cells = pd.Series([*frame.columns, *frame.to_numpy().ravel()], dtype=str)
        risky = cells.str.match(r"[=+\-@\t\r]") & ~cells.str.fullmatch(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
        assert not risky.any(), (path.name, cells[risky].head(3).tolist())
        seen += int(cells.str.startswith(("'=", "'+", "'@")).sum())
    assert seen >= len(payloads)  # the payloads did reach the CSVs, neutralised
    orders_out = pd.read_csv(tmp_path / "work" / "data" / "processed" / "stro" / "orders.csv", dtype=str)
    assert orders_out["owning_force"].str.startswith("'=").any()


def test_an_unexpected_error_is_one_line_and_the_traceback_goes_to_the_log(tmp_path, capsys):
    from strostudy.workflow import run

    log = tmp_path / "logs" / "cohort.log"
    smk = SimpleNamespace(log=[str(log)], rule="cohort")

    def step(_):
        raise ValueError("Jane Smith 01/02/1980 2019/0123456E")

    with pytest.raises(SystemExit) as exit_:
        run(smk, step)
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("strostudy: unexpected error in rule 'cohort' (ValueError)")
    assert "Jane" not in err[0] and "1980" not in err[0] and str(log) in err[0]
    assert "Traceback" in log.read_text() and "Jane Smith" in log.read_text()


def test_strostudy_simulate_never_overwrites_real_extracts(raw, tmp_path, monkeypatch, capsys):
    from strostudy.cli import main

    (raw / keys.MANIFEST).unlink()
    before = digests(raw)
    monkeypatch.chdir(tmp_path)
    assert main(["simulate", "--raw-dir", str(raw), "--truth-dir", str(tmp_path / "truth")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds extracts that strostudy did not simulate" in err[0]
    assert digests(raw) == before


@pytest.mark.parametrize("break_pnc", ["header_only", "every_date_bad"])
def test_a_broken_pnc_extract_still_gives_a_report(raw, tmp_path, monkeypatch, break_pnc):
    """Every stage writes its tables through the registry's checks: a PNC extract with no
    rows, or with every row quarantined, is a result (an empty PNC), not an internal error."""
    pnc = pd.read_csv(raw / "pnc_arrests.csv", dtype=str, keep_default_na=False)
    if break_pnc == "header_only":
        pnc = pnc.iloc[:0]
    else:
        pnc["arrest_date"] = "bad"
    pnc.to_csv(raw / "pnc_arrests.csv", index=False)
    monkeypatch.setenv(keys.KEY_ENV, KEY)
    processed = run_stages(raw, tmp_path / "work", {**defaults(), "source": "extracts"}, until="report")
    ledger = pd.read_csv(processed / "audit_ledger.csv", keep_default_na=False)
    assert ledger["balances"].all()
    read = ledger.loc[(ledger["source"] == "pnc_arrests") & (ledger["outcome"] == "read"), "rows"].item()
    assert read == (0 if break_pnc == "header_only" else len(pnc))
    assert (tmp_path / "work" / "reports" / "stro" / "results.html").stat().st_size > 1000


def test_a_missing_harm_table_is_one_line(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"harm": {"table": "nowhere/cchi.xlsx"}}))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                             "--cores", "1", "all"], capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "strostudy: config.yaml: harm.table 'nowhere/cchi.xlsx' is not a file" in result.stderr
    assert "Traceback" not in result.stderr and "MissingInputException" not in result.stderr
