"""The frozen analysis plan: the analysis choices written down, hashed and dated before the
extracts are opened, so every later change to them shows in the report as a deviation.

``strostudy plan freeze`` writes the config sections that decide results (:data:`SECTIONS`:
the study design, reading, linkage, harm scoring, categories, cohort rules and the tests)
with a SHA-256 of their canonical JSON, the UTC date and the strostudy version, to the
registry's ``analysis_plan.yaml``.  It will not overwrite a plan without ``--force`` (the new
plan then records the one it replaced), and it will not freeze at all once real extracts
have been read in the working directory: a plan written after the data were seen is not a
plan (docs/assumptions.md, A75-A77).

The report reads the plan, checks its hash, and lists every difference between the plan and
the config it ran with (:func:`deviations`), beside the deviations recorded before this
mechanism existed (``data/recorded_deviations.yaml``, :func:`recorded_deviations`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import yaml

from .errors import StrostudyError

#: The config sections that decide results.  Not frozen: where the extracts come from
#: (``source``, and the simulator's ``seed``, ``synthetic_orders`` and ``scenario``), how the
#: figures look, and the calibration harness's settings.
SECTIONS = ("study", "ingest", "reconcile", "harm", "categories", "cohort", "prepost", "its")
#: The plan file's format version.
FORMAT = 1
#: Shown where a key is in the plan but not in the config used, or the other way round.
ABSENT = "(absent)"
#: Within these sections the order of the keys is itself a choice (earlier categories win, A19).
ORDERED = ("categories",)


def choices(config: dict) -> dict:
    """The analysis choices of ``config``: its :data:`SECTIONS`, in that order."""
    return {name: config[name] for name in SECTIONS if name in config}


def _canonical_form(value, ordered: bool = False):
    """Mappings as JSON objects with sorted keys, except the :data:`ORDERED` sections, whose
    key order is kept as a list of ``[key, value]`` pairs."""
    if isinstance(value, dict):
        if ordered:
            return [[str(k), _canonical_form(v)] for k, v in value.items()]
        return {str(k): _canonical_form(v, k in ORDERED) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_form(v) for v in value]
    return value


def canonical(analysis_choices: dict) -> bytes:
    """The canonical JSON of the choices: UTF-8, sorted keys (order kept where it is a choice),
    no spaces.  The same choices always give the same bytes, however the YAML was written."""
    return json.dumps(_canonical_form(analysis_choices), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False).encode("utf-8")


def digest(analysis_choices: dict) -> str:
    """SHA-256 of :func:`canonical`, in hex."""
    return hashlib.sha256(canonical(analysis_choices)).hexdigest()


def freeze(config: dict, now: datetime | None = None, config_file: str = "", replaces: list | None = None) -> dict:
    """The plan of ``config``: its analysis choices with their hash, the UTC date and time and
    the strostudy version (``replaces`` lists the plans a forced freeze replaced)."""
    from . import __version__

    when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    picked = choices(config)
    return {"format": FORMAT, "sha256": digest(picked), "frozen_utc": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "strostudy_version": __version__, "config_file": config_file, "sections": list(SECTIONS),
            "replaces": list(replaces or []), "choices": picked}


HEADER = ("# The frozen analysis plan (strostudy plan freeze; docs/assumptions.md A75-A77).\n"
          "# Do not edit: the report checks sha256 against the choices below and lists every\n"
          "# difference between them and the config a run used as a deviation from this plan.\n")


def dump(plan: dict) -> str:
    """The plan as YAML text, in the order :func:`freeze` gives it."""
    return HEADER + yaml.safe_dump(plan, sort_keys=False, allow_unicode=True, width=100)


def read(path: str | Path) -> dict:
    """A plan file, with ``hash_ok``: whether its hash still matches its choices (False if the
    file was edited after freezing).  A file that is not a plan is a one-line error."""
    path = Path(path)
    try:
        plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise StrostudyError(f"{path}: cannot be read as a frozen analysis plan ({type(err).__name__})") from None
    keys = ("sha256", "frozen_utc", "strostudy_version", "choices")
    if not isinstance(plan, dict) or any(k not in plan for k in keys) or not isinstance(plan["choices"], dict):
        raise StrostudyError(f"{path}: is not a frozen analysis plan (it needs {', '.join(keys)}); write one with "
                             "`strostudy plan freeze`")
    return {**plan, "hash_ok": digest(plan["choices"]) == str(plan["sha256"])}


def _walk(planned, used, key: str, out: list[dict]) -> None:
    if isinstance(planned, dict) and isinstance(used, dict):
        if key.split(".")[-1] in ORDERED and [k for k in planned if k in used] != [k for k in used if k in planned]:
            out.append({"key": f"{key} (order)", "planned": list(planned), "used": list(used)})
        for name in [*planned, *[k for k in used if k not in planned]]:
            _walk(planned.get(name, ABSENT), used.get(name, ABSENT), f"{key}.{name}" if key else str(name), out)
    elif planned != used or type(planned) is not type(used) and not _same_number(planned, used):
        out.append({"key": key, "planned": planned, "used": used})


def _same_number(a, b) -> bool:
    numbers = (int, float)
    return (isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool)
            and not isinstance(b, bool) and a == b)


def deviations(plan: dict, config: dict) -> list[dict]:
    """Every key whose value differs between the frozen plan and ``config``: ``key`` (dotted
    path), ``planned`` and ``used`` (:data:`ABSENT` where one side lacks the key).  Lists are
    compared whole; in :data:`ORDERED` sections a change of order is a deviation too."""
    out: list[dict] = []
    _walk(plan["choices"], choices(config), "", out)
    return out


def recorded_deviations() -> list[dict]:
    """The deviations recorded before plans were frozen (package data), oldest first."""
    from .config import data_path

    return yaml.safe_load(data_path("recorded_deviations.yaml").read_text(encoding="utf-8"))["deviations"]


# --------------------------------------------------------------------------- the command


def real_extracts_read(workdir: str | Path, config: dict) -> str:
    """Why real extracts count as already read in ``workdir`` ("" if they do not): the ingest
    stage's outputs are in ``data/interim/`` and the extracts were not synthetic (the config
    says ``source: extracts``, or ingest found no synthetic mark)."""
    from . import tables

    work = Path(workdir)
    written = [p for p in tables.outputs("ingest").values() if (work / p).exists()]
    if not written:
        return ""
    mark = work / tables.path("extract_mark")
    try:
        synthetic = bool(json.loads(mark.read_text())["synthetic_mark"]) if mark.exists() else False
    except (OSError, ValueError, KeyError, TypeError):
        synthetic = False
    if config["source"] == "extracts" or not synthetic:
        return f"{work / Path(tables.path('rows_read')).parent}/ already holds what ingest read from real extracts"
    return ""


def cli(args) -> None:
    """``strostudy plan freeze [--config FILE] [--out PATH] [--force]``."""
    import sys

    from . import tables
    from .config import load

    config = load(args.config)
    out = Path(args.out or tables.path("analysis_plan"))
    for work in dict.fromkeys([Path.cwd(), out.resolve().parent]):
        why = real_extracts_read(work, config)
        if why:
            raise StrostudyError(f"not frozen: {why}, so a plan written now would not come before the data; record "
                                 "changes as deviations instead (docs/assumptions.md A76)")
    replaces = []
    if out.exists():
        if not args.force:
            raise StrostudyError(f"{out}: a plan is already frozen; it is not replaced without --force (the new plan "
                                 "then records the old one's hash and date)")
        try:
            old = read(out)
            replaces = [*old.get("replaces", []), {"sha256": old["sha256"], "frozen_utc": old["frozen_utc"]}]
        except StrostudyError:
            replaces = [{"sha256": "unreadable", "frozen_utc": "unknown"}]
    plan = freeze(config, config_file=str(args.config) if Path(args.config).exists() else "package defaults",
                  replaces=replaces)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump(plan), encoding="utf-8")
    print(f"Froze the analysis plan ({len(plan['choices'])} sections, sha256 {plan['sha256'][:12]}…, "
          f"{plan['frozen_utc']}) in {out}.", file=sys.stderr)
