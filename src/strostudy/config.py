"""Configuration: package defaults, overlaid by a user's YAML and by command-line values."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path

import yaml


def data_path(name: str) -> Path:
    """Path of a file shipped in ``strostudy/data``."""
    return Path(str(resources.files("strostudy") / "data" / name))


def defaults() -> dict:
    return yaml.safe_load(data_path("defaults.yaml").read_text())


def merge(base: dict, override: dict | None) -> dict:
    """Recursive merge: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Defaults, then the YAML at ``path`` (if it exists), then ``overrides``."""
    config = defaults()
    if path is not None and Path(path).exists():
        config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    return merge(config, overrides)


def published() -> dict:
    """The published study's figures, as carried by the package."""
    return yaml.safe_load(data_path("published_study.yaml").read_text())
