"""Errors a user can act on.  The workflow and the CLI print their message as one sentence
(naming the file, column and rows, and where any quarantined rows went) and stop without a
traceback."""

from __future__ import annotations


class StrostudyError(Exception):
    """A problem with the user's inputs or config, described in words they can act on."""


class ExtractError(StrostudyError):
    """A raw extract that cannot be read at all (missing file or column, empty, unreadable)."""

    def __init__(self, path, problem: str, expected: str = ""):
        self.path = str(path)
        message = f"{self.path}: {problem}."
        if expected:
            message += f" Expected {expected}."
        super().__init__(message)
