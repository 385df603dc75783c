"""The pseudonymisation key: where it comes from, and its printable fingerprint.

Light on purpose (no pandas): the workflow reads the fingerprint at parse time, so that a
new key re-runs reconcile and no subject id made under the old key survives.
"""

from __future__ import annotations

import hashlib
import os

KEY_ENV = "STROSTUDY_PSEUDONYM_KEY"
MIN_KEY_LENGTH = 16

#: The key used when ``source: synthetic``.  It is public on purpose: synthetic people are
#: not real, and a fixed key lets truth files and pipeline outputs be joined on subject id.
SYNTHETIC_KEY = "strostudy-synthetic-extracts-public-key"


def key_fingerprint(key: str) -> str:
    """A short, non-reversible fingerprint of the key, safe to print in a report."""
    return hashlib.sha256(("fingerprint:" + key).encode()).hexdigest()[:12]


def current_key(source: str) -> str:
    """The key the run would use: the public synthetic key for synthetic data, else the
    environment variable (empty when unset)."""
    return SYNTHETIC_KEY if source == "synthetic" else os.environ.get(KEY_ENV, "")


def fingerprint_for(source: str) -> str:
    key = current_key(source)
    return key_fingerprint(key) if key else "no key set"


def pseudonym_key(source: str) -> str:
    """The HMAC key, or one line saying how to set it."""
    from .errors import StrostudyError

    key = current_key(source)
    if source != "synthetic" and len(key) < MIN_KEY_LENGTH:
        raise StrostudyError(
            f"no pseudonymisation key: set the environment variable {KEY_ENV} to a long random secret "
            f"(at least {MIN_KEY_LENGTH} characters) before running on real extracts, e.g. "
            f"export {KEY_ENV}=\"$(python -c 'import secrets; print(secrets.token_hex(32))')\"; keep it out of the "
            "repository and use the same key to reproduce the same subject ids")
    return key
