"""Where the notebooks find a run, its study and its config: $STROSTUDY_WORKDIR, else the
repository root; $STROSTUDY_STUDY, else the run's first study.

``CONFIG`` is the study's configuration as the workflow builds it (package defaults, then
WORKDIR/config.yaml, then the study's own settings); ``table(name)`` reads a table by its
registry name (the study's, or one shared by every study).
"""

import os
from pathlib import Path

from strostudy import tables
from strostudy.config import load
from strostudy.studies import names, resolve

WORKDIR = Path(os.environ.get("STROSTUDY_WORKDIR", Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()))
_BASE = load(WORKDIR / "config.yaml" if (WORKDIR / "config.yaml").exists() else None)
STUDY = os.environ.get("STROSTUDY_STUDY") or names(_BASE)[0]
CONFIG = resolve(_BASE, STUDY)
if not (WORKDIR / tables.path("prepost_tests", STUDY)).exists():
    raise FileNotFoundError(f"No results for study {STUDY!r} in {WORKDIR / 'data' / 'processed'}: run `make run` "
                            "first (or set STROSTUDY_WORKDIR, STROSTUDY_STUDY).")


def table(name: str):
    """A table of this run, by its name in the registry (``strostudy.tables``): the study's own,
    or the one every study shares."""
    return tables.read(name, WORKDIR / tables.path(name, STUDY if tables.per_study(name) else None))
