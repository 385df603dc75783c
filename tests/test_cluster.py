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
    cluster, local = tmp_path / "cluster", tmp_path / "local"
    shutil.copytree(REPO / "profiles", cluster / "profiles")
    # The local run, in a folder of its own, runs while the cluster run does: the submit script
    # runs one job at a time, so the cluster run keeps about one core busy.
    with open(tmp_path / "local.log", "w") as log:
        local_run = subprocess.Popen([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(local),
                                      "--cores", "2", "--quiet", "--", "data/processed/stro/decisions.csv"],
                                     stdout=log, stderr=subprocess.STDOUT)
    try:
        env = {**os.environ, "STROSTUDY_SUBMIT_LOG": str(cluster / "submitted")}
        # The profile checks job status every second, not Snakemake's default 10 s: the local
        # submit script returns when its job has finished, so each job would wait out the 10 s.
        cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(cluster),
               "--profile", "profiles/local-cluster", "--quiet"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=cluster)
        local_rc = local_run.wait(timeout=900)
    finally:
        if local_run.poll() is None:
            local_run.kill()
            local_run.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = (cluster / "submitted" / "submitted.txt").read_text().splitlines()
    # simulate, ingest, harm_index, reconcile, harm, cohort, prepost, its, comparison, sensitivity, decisions,
    # release, figures, report, index
    assert len(jobs) == 15 and len(set(jobs)) == 15
    assert (cluster / "reports" / "stro" / "results.html").stat().st_size > 10_000
    assert (cluster / "reports" / "index.html").stat().st_size > 1_000
    assert local_rc == 0, (tmp_path / "local.log").read_text()[-3000:]
    for name in ("subject_windows.csv", "decisions.csv", "comparison_effects.csv"):
        assert hashlib.sha256((cluster / "data/processed/stro" / name).read_bytes()).digest() == \
            hashlib.sha256((local / "data/processed/stro" / name).read_bytes()).digest()
