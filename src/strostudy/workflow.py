"""Glue between Snakemake rules and the package: each rule's script calls :func:`run`.

Scripts are adapters (read ``snakemake.input``/``params``, call package functions, write
``snakemake.output``).  :func:`run` turns a :class:`~strostudy.errors.StrostudyError` into one
clear line on stderr (and in the rule's log) and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def run(snakemake, step: Callable[[object], None]) -> None:
    from .errors import StrostudyError

    log = Path(snakemake.log[0]) if getattr(snakemake, "log", None) else None
    try:
        step(snakemake)
    except StrostudyError as err:
        message = f"strostudy: {err}"
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(message + "\n")
        print(message, file=sys.stderr)
        sys.exit(1)


class MockSnakemake:
    """A stand-in for the ``snakemake`` object, to run any step's script by hand:
    ``MockSnakemake(input={...}, output={...}, params={...})``."""

    def __init__(self, input=None, output=None, params=None, log=None, config=None):
        from snakemake.iocontainers import Namedlist

        self.input = Namedlist(fromdict=input or {})
        self.output = Namedlist(fromdict=output or {})
        self.params = Namedlist(fromdict=params or {})
        self.log = Namedlist(fromdict=log or {})
        self.config = config or {}
