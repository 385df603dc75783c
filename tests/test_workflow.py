"""The workflow runs anywhere: a temporary WORKDIR, its own config, --config overrides."""

import hashlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO

from strostudy import tables

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
    assert (w / "reports" / "stro" / "results.html").stat().st_size > 1000
    assert (w / "reports" / "stro" / "results.md").exists()
    for name in ("orders.csv", "pnc_arrests.csv", "pnd_records.csv"):
        assert (w / "data" / "raw" / name).exists()
    assert len(list((w / "data" / "raw" / "rocu").glob("*.xlsx"))) == 9
    assert (w / "data" / "truth" / "subject_windows.csv").exists()
    html = (w / "reports" / "stro" / "results.html").read_text()
    assert digest(w / "data" / "raw" / "orders.csv") in html  # provenance lists the input hashes


def test_seed_from_the_command_line(synthetic_run, tmp_path):
    snakemake(tmp_path, "--config", "seed=123")
    assert digest(tmp_path / "data/raw/orders.csv") != digest(synthetic_run / "data/raw/orders.csv")
    assert "seed: 123" in (tmp_path / "reports/stro/results.md").read_text()


def test_source_extracts_reads_data_raw(synthetic_run, tmp_path):
    shutil.copytree(synthetic_run / "data" / "raw", tmp_path / "data" / "raw")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"source": "extracts"}))
    import os

    snakemake(tmp_path, env={**os.environ, "STROSTUDY_PSEUDONYM_KEY": "a-long-test-secret-0123456789"})
    assert not (tmp_path / "data" / "truth").exists()  # nothing simulated
    assert digest(tmp_path / "data/raw/orders.csv") == digest(synthetic_run / "data/raw/orders.csv")
    assert "Source: **extracts**" in (tmp_path / "reports/stro/results.md").read_text()


def test_bad_config_fails_before_any_rule(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"source": "spreadsheets"}))
    result = snakemake(tmp_path, check=False)
    assert result.returncode != 0
    assert "spreadsheets" in result.stderr and "source" in result.stderr
    assert not (tmp_path / "data").exists()


def whole_word_hits(needles, text):
    """The needles found in ``text`` as whole words, ignoring case: a needle must not touch a
    letter or digit on either side, so the surname "Tran" is found in "Tran, Minh" but not in
    "British Transport Police".  (Lookarounds rather than ``\\b``, so a needle that starts or
    ends with punctuation is still matched.)"""
    words = sorted({n.strip() for n in needles if n and n.strip()}, key=len, reverse=True)
    if not words:
        return []
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)", re.I)
    return sorted({m.group(0) for m in pattern.finditer(text)})


def test_whole_word_hits_catches_a_leak_but_not_a_longer_word():
    assert whole_word_hits({"tran"}, "owning_force,British Transport Police") == []
    assert whole_word_hits({"tran"}, "subject,Tran, Minh") == ["Tran"]
    assert whole_word_hits({" Tran", ""}, "name: TRAN") == ["TRAN"]  # a PND record with no forename
    assert whole_word_hits({"2019/0012345A", "19/12345A"}, "id 19/12345A;") == ["19/12345A"]
    assert whole_word_hits({"04/05/1987"}, "dob 04/05/1987") == ["04/05/1987"]
    assert whole_word_hits({"04/05/1987"}, "14/05/19870") == []


def test_no_identifiers_past_interim(synthetic_run):
    """No synthetic person's name, date of birth or PNC ID (long or short form) appears, as a
    whole word, in data/processed, figures or reports."""
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
        hits = whole_word_hits(needles, text)
        assert not hits, (path, hits[:5])
        assert not word.search(text), (path, word.search(text).group(0))


def test_two_fresh_runs_are_identical(synthetic_run, tmp_path):
    """Byte-identical processed tables and figures; report text identical but for the run date."""
    snakemake(tmp_path)
    a, b = synthetic_run, tmp_path
    processed = sorted(p.relative_to(a).as_posix() for p in (a / "data" / "processed").rglob("*.csv"))
    assert len(processed) >= 14
    for name in processed:
        assert digest(a / name) == digest(b / name), name
    figures = sorted(p.name for p in (a / "figures" / "stro").glob("*.p*"))
    assert len(figures) == len(tables.FIGURES) * len(tables.FIGURE_FORMATS)
    for name in figures:
        assert digest(a / "figures" / "stro" / name) == digest(b / "figures" / "stro" / name), name
    assert digest(a / "figures" / "studies_forest.png") == digest(b / "figures" / "studies_forest.png")
    for name in ("stro/results.md", "stro/results.html", "index.md", "index.html"):
        lines_a = [x for x in (a / "reports" / name).read_text().splitlines() if "run date" not in x]
        lines_b = [x for x in (b / "reports" / name).read_text().splitlines() if "run date" not in x]
        assert lines_a == lines_b, name


def test_report_is_self_contained(synthetic_run):
    import re

    html = (synthetic_run / "reports" / "stro" / "results.html").read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    assert len(refs) >= 6 + 7  # six embedded figures and the contents links
    anchors = set(re.findall(r"""id\s*=\s*["']([^"']+)["']""", html))
    for ref in refs:
        if ref.startswith("#"):
            assert ref[1:] in anchors, ref  # no broken in-page link
        else:
            assert ref.startswith("data:image/png;base64,"), ref[:60]  # nothing external
    assert "<link" not in html and "@import" not in html and "url(" not in html
    md = (synthetic_run / "reports" / "stro" / "results.md").read_text()
    assert "Every published figure is reproduced." in md and "| differs |" not in md
    for name in ("study_flow", "prepost_totals", "paired_subjects", "monthly_its", "source_agreement", "residual_acf"):
        assert f"](../../figures/stro/{name}.png)" in md


def test_report_makes_no_causal_claim(synthetic_run):
    text = (synthetic_run / "reports" / "stro" / "results.md").read_text().lower()
    for phrase in ("caused a", "causes a", "led to a reduction", "effect of the order", "reduced offending by",
                   "because of the order", "due to the order"):
        assert phrase not in text
    assert "no causal claim" in text and "regression to the mean" in text and "custody" in text


def scheduled(workdir, edit=None, env=None, source="synthetic"):
    """The rules a dry run would run with the default config changed by ``edit`` (a function
    of the config dict), written to WORKDIR/config.yaml."""
    import re

    from strostudy.config import load

    config = load(None, overrides={"source": source})
    if edit:
        edit(config)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out = snakemake(workdir, "-n", check=False, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    stats = out.stdout.split("Job stats:")[1].split("total")[0] if "Job stats:" in out.stdout else ""
    return {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", stats, flags=re.M)} - {"all"}


@pytest.fixture
def rerun_dir(synthetic_run, tmp_path):
    """A copy of the finished run (outputs, mtimes and Snakemake's records of params)."""
    shutil.copytree(synthetic_run, tmp_path / "run", symlinks=True)
    return tmp_path / "run"


def test_a_change_reruns_only_what_reads_it(rerun_dir):
    assert scheduled(rerun_dir) == set()
    assert scheduled(rerun_dir, lambda c: c["figures"].update(dpi=150)) == {"figures", "report", "index"}
    assert scheduled(rerun_dir, lambda c: c["its"].update(hac_lags=4)) == {"its", "decisions", "figures", "report"}
    # The bar figure draws the reduction CIs, so it follows the before/after tests (through the
    # released tables); the sensitivity panel recomputes the main result with the same interval.
    assert scheduled(rerun_dir, lambda c: c["prepost"].update(bootstrap_resamples=999)) == {
        "prepost", "sensitivity", "decisions", "release", "figures", "report", "index"}
    assert scheduled(rerun_dir, lambda c: c["comparison"]["matching"].update(caliper=0.2)) == {
        "comparison", "sensitivity", "decisions", "release", "figures", "report", "index"}
    # The calibration harness is outside `all`: its settings rerun only the report, which prints the config.
    assert scheduled(rerun_dir, lambda c: c["calibrate"].update(chunk=5)) == {"report"}


def test_a_category_change_reruns_from_harm(rerun_dir):
    def rename(c):
        c["categories"] = {("fraud" if k == "drugs" else k): v for k, v in c["categories"].items()}

    assert scheduled(rerun_dir, rename) == {"harm", "cohort", "prepost", "its", "comparison", "sensitivity",
                                            "decisions", "release", "figures", "report", "index"}


def test_a_new_pseudonymisation_key_reruns_reconcile(rerun_dir):
    import os

    (rerun_dir / "config.yaml").write_text(yaml.safe_dump({"source": "extracts"}))
    key_a = {**os.environ, "STROSTUDY_PSEUDONYM_KEY": "first-test-secret-0123456789"}
    snakemake(rerun_dir, env=key_a)
    assert scheduled(rerun_dir, env=key_a, source="extracts") == set()
    key_b = {**os.environ, "STROSTUDY_PSEUDONYM_KEY": "second-test-secret-0123456789"}
    assert scheduled(rerun_dir, env=key_b, source="extracts") == {"reconcile", "harm", "cohort", "prepost", "its",
                                                                  "comparison", "sensitivity", "decisions",
                                                                  "release", "figures", "report", "index"}


@pytest.mark.parametrize("config_text, needle", [
    ("stdy:\n  window_months: 12\n", "'stdy' is not a setting (did you mean 'study'?)"),
    ("study:\n  window_month: 12\n", "'study.window_month' is not a setting (did you mean 'study.window_months'?)"),
    ("study:\n  extraction_date: '2023-02-30'\n", "study.extraction_date '2023-02-30' is not a real date"),
    ("study: [unclosed\n", "config.yaml line"),
])
def test_bad_config_stops_with_one_line(tmp_path, config_text, needle):
    (tmp_path / "config.yaml").write_text(config_text)
    result = snakemake(tmp_path, check=False)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any(line.startswith("strostudy: config.yaml") and needle in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()
