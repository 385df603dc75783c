"""The results report: Markdown and self-contained HTML rendered from Jinja2 templates.

Everything in it is computed from the workflow's outputs and the provenance of its inputs;
nothing is typed in by hand.  The run date is the only line that changes between two runs
on the same inputs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import yaml

PACKAGES = ["strostudy", "pandas", "numpy", "scipy", "statsmodels", "pandera", "matplotlib", "snakemake"]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_files(inputs: dict) -> list[Path]:
    """Every raw extract behind the inputs named ``raw_*`` (directories expanded), sorted."""
    files = []
    for name, value in inputs.items():
        if not name.startswith("raw_"):
            continue
        for item in value if isinstance(value, list) else [value]:
            p = Path(item)
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    return sorted(set(files))


def provenance(inputs: dict, config: dict) -> dict:
    from .ids import SYNTHETIC_KEY, key_fingerprint

    key = SYNTHETIC_KEY if config.get("source") == "synthetic" else __import__("os").environ.get(
        "STROSTUDY_PSEUDONYM_KEY", "")
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "files": [{"path": str(f), "bytes": f.stat().st_size, "sha256": sha256(f)} for f in input_files(inputs)],
        "config_yaml": yaml.safe_dump(config, sort_keys=True),
        "versions": versions,
        "commit": commit,
        "key_fingerprint": key_fingerprint(key) if key else "no key set",
        "run_date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render(context: dict) -> tuple[str, str]:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("strostudy", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    return env.get_template("results.md.j2").render(**context), env.get_template("results.html.j2").render(**context)


def write_report(inputs: dict, config: dict, html_path: str, md_path: str) -> None:
    context = {"config": config, "provenance": provenance(inputs, config)}
    markdown, html = render(context)
    Path(md_path).parent.mkdir(parents=True, exist_ok=True)
    Path(md_path).write_text(markdown)
    Path(html_path).write_text(html)
