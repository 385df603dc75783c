"""Where the notebooks find a run, and its config: $STROSTUDY_WORKDIR, else the repository root.

``CONFIG`` is the run's configuration as the workflow builds it (package defaults, then
WORKDIR/config.yaml); ``table(name)`` reads a table by its registry name.
"""

import os
from pathlib import Path

from strostudy import tables
from strostudy.config import load

WORKDIR = Path(os.environ.get("STROSTUDY_WORKDIR", Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()))
PROCESSED = WORKDIR / "data" / "processed"
if not (PROCESSED / "prepost_tests.csv").exists():
    raise FileNotFoundError(f"No results in {PROCESSED}: run `make run` first (or set STROSTUDY_WORKDIR).")
CONFIG = load(WORKDIR / "config.yaml" if (WORKDIR / "config.yaml").exists() else None)


def table(name: str):
    """A table of this run, by its name in the registry (``strostudy.tables``)."""
    return tables.read(name, WORKDIR / tables.path(name))
