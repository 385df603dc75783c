"""The workflow is cluster-safe: every rule runs as its own submitted job through Snakemake's
generic cluster executor (profiles/local-cluster: a local submit script stands in for sbatch),
and the results equal a local run's."""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.workflow


def test_every_rule_runs_as_a_submitted_job(tmp_path):
    shutil.copytree(REPO / "profiles", tmp_path / "profiles")
    env = {**os.environ, "STROSTUDY_SUBMIT_LOG": str(tmp_path / "submitted")}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "--profile", "profiles/local-cluster", "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = (tmp_path / "submitted" / "submitted.txt").read_text().splitlines()
    # simulate, ingest, harm_index, reconcile, harm, cohort, prepost, its, comparison, sensitivity, decisions,
    # figures, report, index
    assert len(jobs) == 14 and len(set(jobs)) == 14
    assert (tmp_path / "reports" / "stro" / "results.html").stat().st_size > 10_000
    assert (tmp_path / "reports" / "index.html").stat().st_size > 1_000
    local = tmp_path / "local"
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(local),
                    "--cores", "2", "--quiet", "--", "data/processed/stro/decisions.csv"], check=True, capture_output=True)
    for name in ("subject_windows.csv", "decisions.csv", "comparison_effects.csv"):
        assert hashlib.sha256((tmp_path / "data/processed/stro" / name).read_bytes()).digest() == \
            hashlib.sha256((local / "data/processed/stro" / name).read_bytes()).digest()
