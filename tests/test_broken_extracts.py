"""Bad extracts give one clear sentence (structural) or quarantined rows (row-level); never a
traceback, and nothing is lost: the ledger still balances."""

import shutil
import subprocess
import sys

import conftest
import pandas as pd
import pytest
import yaml
from conftest import REPO
from openpyxl import load_workbook

from strostudy.config import defaults
from strostudy.errors import ExtractError, StrostudyError
from strostudy.harm import curated_weights
from strostudy.ingest import ingest
from strostudy.reconcile import reconcile

# Edited extracts carry no synthetic mark, so they are real data to the pipeline: they are
# keyed with a test secret, never the public synthetic key.
CFG = {**defaults(), "source": "extracts"}
TEST_KEY = conftest.TEST_KEY


@pytest.fixture(autouse=True)
def _pseudonymisation_key(monkeypatch):
    monkeypatch.setenv("STROSTUDY_PSEUDONYM_KEY", TEST_KEY)


def ledger_of(raw_dir):
    return conftest.ledger_of(raw_dir, CFG)


def quarantined(ledger, source, reason):
    rows = ledger.loc[(ledger["source"] == source) & (ledger["outcome"] == "quarantined") & (ledger["reason"] == reason)]
    return int(rows["rows"].sum())


def edit_csv(path, fn):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    fn(frame).to_csv(path, index=False)


def test_missing_column_is_one_sentence(raw):
    edit_csv(raw / "pnc_arrests.csv", lambda f: f.drop(columns="arrest_date"))
    with pytest.raises(ExtractError) as err:
        ingest(raw, CFG)
    message = str(err.value)
    assert message.startswith(f"{raw / 'pnc_arrests.csv'}: has no column 'arrest_date'.")
    assert "Expected the columns pnc_id, arrest_date, cjs_code" in message and "\n" not in message


def test_empty_and_missing_files(raw):
    (raw / "orders.csv").write_text("")
    with pytest.raises(ExtractError, match=r"orders.csv: is empty \(no header row\)"):
        ingest(raw, CFG)
    (raw / "orders.csv").unlink()
    with pytest.raises(ExtractError, match=r"orders.csv: file not found"):
        ingest(raw, CFG)


def test_unreadable_workbook(raw):
    (raw / "rocu" / "wales.xlsx").write_bytes(b"this is not a workbook")
    with pytest.raises(ExtractError, match=r"wales.xlsx: cannot be read as an Excel workbook"):
        ingest(raw, CFG)


def test_wrong_types_and_garbage_dates_are_quarantined(raw):
    def damage(f):
        f.loc[[3, 4], "arrest_date"] = ["TRUE", "12.5e9"]
        f.loc[5, "arrest_date"] = "yesterday"
        return f

    edit_csv(raw / "pnc_arrests.csv", damage)
    edit_csv(raw / "pnd_records.csv", lambda f: f.assign(event_datetime=f["event_datetime"].where(f.index != 7, "soon")))
    ing, _, ledger = ledger_of(raw)
    assert quarantined(ledger, "pnc_arrests", "arrest_date_unparseable") >= 3
    assert quarantined(ledger, "pnd_records", "event_date_unparseable") == 1
    q = ing.quarantine["pnc_arrests"]
    assert {"TRUE", "12.5e9", "yesterday"} <= set(q["arrest_date"])


def test_repeated_header_row(raw):
    lines = (raw / "pnc_arrests.csv").read_text().splitlines(keepends=True)
    (raw / "pnc_arrests.csv").write_text("".join(lines[:50] + [lines[0]] + lines[50:]))
    _, _, ledger = ledger_of(raw)
    assert quarantined(ledger, "pnc_arrests", "repeated_header_row") == 1


def test_bom_crlf_and_extra_columns_change_nothing(raw, default_dirs):
    _, base, _ = ledger_of(default_dirs / "raw")
    text = (raw / "orders.csv").read_text()
    (raw / "orders.csv").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    edit_csv(raw / "pnd_records.csv", lambda f: f.assign(Notes="checked", **{"Officer in case": "x"}))
    _, result, ledger = ledger_of(raw)
    pd.testing.assert_frame_equal(result.episodes, base.episodes)
    pd.testing.assert_frame_equal(result.events, base.events)


def test_blank_rows_above_a_workbook_header(raw, default_dirs):
    path = raw / "rocu" / "yorkshire.xlsx"
    wb = load_workbook(path)
    for ws in wb.worksheets:
        ws.insert_rows(1, amount=4)
        ws["A2"] = "Returned by the regional analyst"
    wb.save(path)
    _, base, _ = ledger_of(default_dirs / "raw")
    _, result, _ = ledger_of(raw)
    pd.testing.assert_frame_equal(result.episodes, base.episodes)


def test_wrong_check_letter_is_quarantined_with_its_row(raw):
    frame = pd.read_csv(raw / "pnc_arrests.csv", dtype=str, keep_default_na=False)
    good = frame["pnc_id"].str.match(r"^\d{4}/\d{7}[A-Z]$")
    row = frame.index[good][10]
    frame.loc[row, "pnc_id"] = frame.loc[row, "pnc_id"][:-1] + ("A" if frame.loc[row, "pnc_id"][-1] != "A" else "B")
    frame.to_csv(raw / "pnc_arrests.csv", index=False)
    ing, _, ledger = ledger_of(raw)
    q = ing.quarantine["pnc_arrests"]
    assert (row + 2) in set(q.loc[q["check"] == "pnc_id_check_letter_wrong", "source_row"])


def test_real_extracts_need_a_key(default_dirs, monkeypatch):
    monkeypatch.delenv("STROSTUDY_PSEUDONYM_KEY", raising=False)
    cfg = {**CFG, "source": "extracts"}
    ing = ingest(default_dirs / "raw", cfg)
    with pytest.raises(StrostudyError, match="STROSTUDY_PSEUDONYM_KEY"):
        reconcile(ing, cfg, curated_weights())
    monkeypatch.setenv("STROSTUDY_PSEUDONYM_KEY", "a-long-test-secret-0123456789")
    keyed = reconcile(ing, cfg, curated_weights())
    assert ing.synthetic_mark  # simulated extracts: the public key is allowed, and gives other ids
    synthetic = reconcile(ing, {**CFG, "source": "synthetic"}, curated_weights())
    assert not set(keyed.episodes["subject_id"]) & set(synthetic.episodes["subject_id"])


def test_unmarked_extracts_never_get_the_public_key(default_dirs, tmp_path):
    shutil.copytree(default_dirs / "raw", tmp_path / "raw")
    (tmp_path / "raw" / "SYNTHETIC-MANIFEST.json").unlink()
    ing = ingest(tmp_path / "raw", CFG)
    assert not ing.synthetic_mark
    with pytest.raises(StrostudyError, match="no valid synthetic mark .* public synthetic key is not used"):
        reconcile(ing, {**CFG, "source": "synthetic"}, curated_weights())


def test_workflow_stops_with_one_line_not_a_traceback(default_dirs, tmp_path):
    shutil.copytree(default_dirs / "raw", tmp_path / "data" / "raw")
    edit_csv(tmp_path / "data" / "raw" / "orders.csv", lambda f: f.drop(columns="date_made"))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"source": "extracts"}))
    env = {"STROSTUDY_PSEUDONYM_KEY": "a-long-test-secret-0123456789", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                             "--cores", "1", "all"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode != 0
    assert "strostudy: data/raw/orders.csv: has no column 'date_made'." in result.stderr
    assert "Traceback" not in result.stderr
