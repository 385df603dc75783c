"""Where the notebooks find a run: $STROSTUDY_WORKDIR, else the repository root."""

import os
from pathlib import Path

WORKDIR = Path(os.environ.get("STROSTUDY_WORKDIR", Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()))
PROCESSED = WORKDIR / "data" / "processed"
if not (PROCESSED / "prepost_tests.csv").exists():
    raise FileNotFoundError(f"No results in {PROCESSED}: run `make run` first (or set STROSTUDY_WORKDIR).")
