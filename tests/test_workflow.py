"""The workflow runs anywhere: a temporary WORKDIR, its own config, --config overrides."""

import hashlib
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

pytestmark = pytest.mark.workflow


def snakemake(workdir, *args, check=True, env=None):
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--cores", "2", *(["--quiet"] if check else []), "all", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if check and result.returncode != 0:
        raise AssertionError(result.stdout[-3000:] + result.stderr[-3000:])
    return result


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    snakemake(work)
    return work


def test_default_run_writes_everything_under_workdir(synthetic_run):
    w = synthetic_run
    assert (w / "reports" / "results.html").stat().st_size > 1000
    assert (w / "reports" / "results.md").exists()
    for name in ("orders.csv", "pnc_arrests.csv", "pnd_records.csv"):
        assert (w / "data" / "raw" / name).exists()
    assert len(list((w / "data" / "raw" / "rocu").glob("*.xlsx"))) == 9
    assert (w / "data" / "truth" / "subject_windows.csv").exists()
    html = (w / "reports" / "results.html").read_text()
    assert digest(w / "data" / "raw" / "orders.csv") in html  # provenance lists the input hashes


def test_seed_from_the_command_line(synthetic_run, tmp_path):
    snakemake(tmp_path, "--config", "seed=123")
    assert digest(tmp_path / "data/raw/orders.csv") != digest(synthetic_run / "data/raw/orders.csv")
    assert "seed: 123" in (tmp_path / "reports/results.md").read_text()


def test_source_extracts_reads_data_raw(synthetic_run, tmp_path):
    shutil.copytree(synthetic_run / "data" / "raw", tmp_path / "data" / "raw")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"source": "extracts"}))
    import os

    snakemake(tmp_path, env={**os.environ, "STROSTUDY_PSEUDONYM_KEY": "a-long-test-secret-0123456789"})
    assert not (tmp_path / "data" / "truth").exists()  # nothing simulated
    assert digest(tmp_path / "data/raw/orders.csv") == digest(synthetic_run / "data/raw/orders.csv")
    assert "Source: **extracts**" in (tmp_path / "reports/results.md").read_text()


def test_bad_config_fails_before_any_rule(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"source": "spreadsheets"}))
    result = snakemake(tmp_path, check=False)
    assert result.returncode != 0
    assert "spreadsheets" in result.stderr and "source" in result.stderr
    assert not (tmp_path / "data").exists()


def test_no_identifiers_past_interim(synthetic_run):
    """No synthetic person's name, date of birth or PNC ID (long or short form) appears in
    data/processed, figures or reports."""
    import re

    import pandas as pd

    from strostudy.ids import canonical_pnc
    from strostudy.ingest import normalise_name

    raw = synthetic_run / "data" / "raw"
    orders = pd.read_csv(raw / "orders.csv", dtype=str, keep_default_na=False)
    pnd = pd.read_csv(raw / "pnd_records.csv", dtype=str, keep_default_na=False)
    pnc = pd.read_csv(raw / "pnc_arrests.csv", dtype=str, keep_default_na=False)
    ids = pd.concat([orders["pnc_id"], pnd["pnc_id"], pnc["pnc_id"]])
    canon = canonical_pnc(ids)["pnc_id_as_recorded"].dropna()
    needles = set(ids[ids.str.len() > 5]) | set(canon) | set(canon.str.slice(2))  # short forms too
    dobs = pd.to_datetime(pd.concat([orders["date_of_birth"]]), format="%d/%m/%Y")
    needles |= set(dobs.dt.strftime("%d/%m/%Y")) | set(dobs.dt.strftime("%Y-%m-%d"))
    names = pd.concat([orders["forenames"] + " " + orders["surname"], pnd["forenames"] + " " + pnd["surname"]])
    needles |= set(names) | set(normalise_name(names))
    surnames = {s for s in normalise_name(pd.concat([orders["surname"], pnd["surname"]])) if len(s) >= 5}
    word = re.compile(r"\b(" + "|".join(sorted(map(re.escape, surnames))) + r")\b", re.I)
    files = [p for folder in ("data/processed", "figures", "reports") for p in (synthetic_run / folder).rglob("*")
             if p.is_file()]
    assert len(files) >= 5
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="ignore")
        lowered = text.lower()
        hits = [n for n in needles if n and n.lower() in lowered]
        assert not hits, (path, hits[:5])
        assert not word.search(text), (path, word.search(text).group(0))
