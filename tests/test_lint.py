"""The code passes ruff and the workflow passes `snakemake --lint`."""

import subprocess
import sys

from conftest import REPO


def test_ruff():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "scripts", "notebooks"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_snakemake_lint():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert "Congratulations" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]
