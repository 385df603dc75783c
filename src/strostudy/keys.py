"""The pseudonymisation key: where it comes from, and its printable fingerprint.

Light on purpose (no pandas): the workflow reads the fingerprint at parse time, so that a
new key re-runs reconcile and no subject id made under the old key survives.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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


def require_key() -> str:
    """The key real extracts are pseudonymised with, from the environment, or one line saying
    what is wrong with it (missing, or too short to resist brute force)."""
    from .errors import StrostudyError

    key = os.environ.get(KEY_ENV, "")
    if not key:
        raise StrostudyError(
            f"no pseudonymisation key: 'source: extracts' needs the environment variable {KEY_ENV} set to a long "
            f"random secret, e.g. export {KEY_ENV}=\"$(python -c 'import secrets; print(secrets.token_hex(32))')\"; "
            "keep it out of the repository and reuse it to reproduce the same subject ids")
    if len(key) < MIN_KEY_LENGTH:
        raise StrostudyError(
            f"the pseudonymisation key in {KEY_ENV} is {len(key)} characters long; use at least {MIN_KEY_LENGTH} "
            "(a 64-character hex secret from secrets.token_hex(32) is good): a short key can be brute-forced")
    return key


def pseudonym_key(source: str, marked: bool = True) -> str:
    """The HMAC key.  The public key is used only for ``source: synthetic`` extracts that
    carry the synthetic mark (``marked``); real extracts need :func:`require_key`."""
    from .errors import StrostudyError

    if source != "synthetic":
        return require_key()
    if not marked:
        raise StrostudyError(
            f"the extracts carry no valid synthetic mark ({MANIFEST}), so they are treated as real data and the "
            f"public synthetic key is not used: set 'source: extracts' and {KEY_ENV}")
    return SYNTHETIC_KEY


# --------------------------------------------------------------------------- the synthetic mark

MANIFEST = "SYNTHETIC-MANIFEST.json"


def contract_files(raw_dir: str | Path) -> tuple[list[Path], list[str]]:
    """The contract's extract files in ``raw_dir`` (the CSVs, the optional comparison pool and
    custody periods among them, and ``rocu/*.xlsx``; Excel lock files ``~$*`` are not
    extracts), sorted; and a note for each one not taken: a link whose real path is outside
    ``raw_dir`` (never opened) or a path that is not a file."""
    raw = Path(raw_dir)
    names = ("orders.csv", "pnc_arrests.csv", "pnd_records.csv", "comparison.csv", "custody.csv")
    candidates = [raw / n for n in names if (raw / n).exists()]
    if (raw / "rocu").is_dir():
        candidates += sorted(p for p in (raw / "rocu").glob("*.xlsx") if not p.name.startswith("~$"))
    root = os.path.realpath(raw)
    files, notes = [], []
    for file in candidates:
        real = os.path.realpath(file)
        if os.path.commonpath([root, real]) != root:
            notes.append(f"{file}: not hashed, it links outside the raw folder {raw}")
        elif not os.path.isfile(real):
            notes.append(f"{file}: not hashed, not a file")
        else:
            files.append(file)
    return sorted(files), notes


def extract_files(raw_dir: str | Path) -> list[Path]:
    return contract_files(raw_dir)[0]


def synthetic_mark(raw_dir: str | Path) -> bool:
    """Do the extracts in ``raw_dir`` carry a valid synthetic mark: a manifest written by
    ``strostudy simulate`` whose HMAC under the public key is right, listing exactly the
    extract files present, each with its SHA-256?  Anything else (no manifest, an edited file,
    an added or missing file) is treated as real data."""
    import hmac
    import json

    raw = Path(raw_dir)
    try:
        manifest = json.loads((raw / MANIFEST).read_text())
        digests = dict(manifest["files"])
        mark = str(manifest["mark"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    canonical = json.dumps(digests, sort_keys=True, separators=(",", ":"))
    expected = hmac.new(SYNTHETIC_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    present = {p.relative_to(raw).as_posix(): p for p in extract_files(raw)}
    if not hmac.compare_digest(mark, expected) or set(present) != set(digests):
        return False
    return all(hashlib.sha256(p.read_bytes()).hexdigest() == digests[name] for name, p in present.items())


def guard(source: str, raw_dir: str | Path) -> None:
    """Before anything reads an extract: refuse to simulate over (or pseudonymise with the
    public key) extracts that are not marked synthetic, and check the key real data needs."""
    from .errors import StrostudyError

    raw = Path(raw_dir)
    if source == "synthetic":
        if extract_files(raw) and not synthetic_mark(raw):
            raise StrostudyError(
                f"{raw}/ holds extracts that strostudy did not simulate (no valid {MANIFEST}); they will not be "
                "overwritten, nor pseudonymised with the public synthetic key. To analyse them set 'source: "
                f"extracts' in config.yaml and {KEY_ENV}; for a synthetic run use an empty working directory (synthetic "
                "extracts made before the mark existed: delete them, e.g. `make clean` in the repository)")
        return
    require_key()
