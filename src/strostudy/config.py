"""Configuration: package defaults, overlaid by a user's YAML and by command-line values,
then checked strictly, in one place, against one schema.

``load`` is what the workflow calls: the package defaults (``data/defaults.yaml``), then the
user's ``config.yaml``, then ``--config`` values, then ``check``.  A config that cannot be used
raises ``ConfigError`` with one line that names the file and the key and says what to do,
e.g. ``config.yaml: 'stdy' is not a setting (did you mean 'study'?); remove or rename it``.

The schema is ``data/config.schema.yaml`` (``schema_path()``); the repository's
``schemas/config.schema.yaml`` is a byte-identical copy.  What a schema cannot say (the data
period in order and long enough for both windows, the default category distinct from the
rule categories) is checked here, after the schema.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import functools
import re
from importlib import resources
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators

from strostudy.errors import StrostudyError

SCHEMA_FILE = "config.schema.yaml"
# Top-level blocks a config replaces whole instead of merging key by key: renaming a
# category must not keep the old one.
REPLACED_WHOLE = ("categories", "studies")
# Keys that moved, old dotted name -> new one, so an old config gets a pointed hint.
MOVED = {
    "rocu.header_synonyms": "ingest.rocu_header_synonyms",
    "reconcile.pnc_year_pivot": "ingest.pnc_year_pivot",
    "its.alpha": "study.alpha",
}
OVERRIDES_SOURCE = "--config"

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CATEGORY_NAME = "^[a-z][a-z0-9_]*$"
_COLOUR = "^#[0-9A-Fa-f]{6}$"


class ConfigError(StrostudyError):
    """A config that cannot be used.  The message is one line naming the file and the key;
    ``key`` is the dotted key at fault ("" when it is the file as a whole)."""

    def __init__(self, message: str, key: str = ""):
        super().__init__(" ".join(str(message).split()))
        self.key = key


# --- files --------------------------------------------------------------------------------


def data_path(name: str) -> Path:
    """Path of a file shipped in ``strostudy/data``."""
    return Path(str(resources.files("strostudy") / "data" / name))


def schema_path() -> Path:
    """The config schema the package checks against (``strostudy/data/config.schema.yaml``)."""
    return data_path(SCHEMA_FILE)


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    """Safe YAML with two changes for config files: a date stays the text it was written as
    (so ``2023-02-30`` reaches the check instead of failing inside the YAML reader, and a
    date is a string whether or not it was quoted), and a key given twice in one mapping is
    an error instead of silently the last one."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise _DuplicateKey(problem=f"'{key}' is given twice in the same block",
                                            problem_mark=key_node.start_mark)
                    seen.add(key)
                except TypeError:  # an unhashable key: the base constructor reports it
                    pass
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _read_yaml(path: Path, name: str) -> dict:
    """The mapping in a YAML config file; any problem is a one-line ``ConfigError``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: the file is not UTF-8 text; save it as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"{name}: cannot be read ({err.strerror or type(err).__name__}); "
                          "check the path and its permissions") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{name} line {mark.line + 1}, column {mark.column + 1}" if mark else name
        problem = err.problem or err.context or "not valid YAML"
        if isinstance(err, _DuplicateKey):
            raise ConfigError(f"{where}: {problem}; keep one", "") from None
        raise ConfigError(f"{where}: {problem}; fix the YAML syntax") from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as err:
        raise ConfigError(f"{name}: cannot be read as YAML ({err}); fix the YAML syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the top level must be settings written 'key: value' (got {_kind(data)}); "
                          "start from a copy of the repository's config.yaml")
    return data


@functools.lru_cache(maxsize=1)
def _schema() -> dict:
    return yaml.safe_load(schema_path().read_text(encoding="utf-8"))


def _is_integer(checker, instance) -> bool:
    # JSON Schema counts 24.0 as an integer; a config should not.
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictValidator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))


@functools.lru_cache(maxsize=1)
def _validator():
    return _StrictValidator(_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@functools.lru_cache(maxsize=1)
def _defaults() -> dict:
    path = data_path("defaults.yaml")
    config = _read_yaml(path, str(path))
    check(config, str(path))
    return config


def defaults() -> dict:
    """The package defaults (checked; a fresh copy each call)."""
    return copy.deepcopy(_defaults())


def published() -> dict:
    """The published study's figures, as carried by the package."""
    return yaml.safe_load(data_path("published_study.yaml").read_text())


# --- merging ------------------------------------------------------------------------------


def merge(base: dict, override: dict | None, replace_whole: tuple[str, ...] = REPLACED_WHOLE) -> dict:
    """Recursive merge: mappings merge key by key, anything else replaces.  The top-level keys
    in ``replace_whole`` (``categories``) are replaced whole, never merged."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in replace_whole:
            out[key] = merge(out[key], value, ())
        else:
            out[key] = copy.deepcopy(value)
    return out


def _plain(value):
    """Dates given as date objects (e.g. by a Python caller) become the text the schema checks."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def load(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Defaults, then the YAML at ``path`` (if it exists), then ``overrides`` (``--config``),
    checked.  Raises ``ConfigError`` (one line) if the result cannot be used."""
    name = str(path or "defaults")
    config = defaults()
    from_file: dict = {}
    if path is not None and Path(path).exists():
        from_file = _read_yaml(Path(path), name)
        config = merge(config, from_file)
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError(f"{OVERRIDES_SOURCE}: must be key=value settings (got {_kind(overrides)})")
    overrides = _plain(dict(overrides or {}))
    config = merge(config, overrides)
    found = _problem(config)
    if found:
        key, text = found
        # Name --config when the key at fault came from the command line, not the file.
        source = OVERRIDES_SOURCE if key.split(".")[0].split("[")[0] in overrides else name
        raise ConfigError(f"{source}: {text}", key)
    return config


# --- checking -----------------------------------------------------------------------------


def check(config: dict, source: str = "config") -> None:
    """Raise ``ConfigError`` for the first problem (schema errors first, in key order, then
    the rules a schema cannot state), as one line starting ``source:``."""
    found = _problem(config)
    if found:
        key, text = found
        raise ConfigError(f"{source}: {text}", key)


_RANK = {"additionalProperties": 0, "propertyNames": 0, "required": 1, "type": 2}


def _order(err):
    path = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in err.path)
    rank = 0 if "propertyNames" in err.schema_path else _RANK.get(err.validator, 3)
    return path, rank, str(err.validator), err.message


def _problem(config) -> tuple[str, str] | None:
    """(dotted key, what is wrong and what to do) for the first problem, or None."""
    errors = sorted(_validator().iter_errors(config), key=_order)
    if errors:
        return _describe(errors[0], config)
    return _rules(config)


def _dotted(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _kind(value) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _show(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(err, config) -> tuple[str, str]:
    path = list(err.path)
    where = _dotted(path)
    if "propertyNames" in err.schema_path and "enum" in err.schema:  # a name from a fixed list
        return _dotted(path + [err.instance]), f"{_show(err.instance)} in {where} must be {_expect(err.schema)}"
    if "propertyNames" in err.schema_path:  # a category's name
        name = err.instance
        key = _dotted(path + [name])
        if name == "overall":
            return key, (f"category name 'overall' in {where} is reserved (it means every arrest); "
                         "rename that category")
        return key, (f"category name {_show(name)} in {where} must be lower-case letters, digits and _, "
                     "starting with a letter; rename it")
    if err.validator == "additionalProperties" and err.validator_value is False:
        return _unknown_key(err, path, config)
    if err.validator == "required":
        missing = [k for k in err.validator_value if not isinstance(err.instance, dict) or k not in err.instance]
        key = _dotted(path + [missing[0]])
        if key == "categories.default":
            return key, ("categories.default is missing; name the category of everything else "
                         "(e.g. default: other)")
        return key, f"{key} is missing; add it"
    schema = err.schema if isinstance(err.schema, dict) else {}
    subject = where or "the config"
    if schema.get("pattern") == _CATEGORY_NAME and err.instance == "overall":
        return where, (f"{where} cannot be 'overall' (it means every arrest); "
                       "name another category, e.g. other")
    if schema.get("format") == "date":
        value = err.instance
        if isinstance(value, str) and _DATE.fullmatch(value):
            return where, f"{where} {_show(value)} is not a real date; use YYYY-MM-DD"
        return where, f"{where} must be a date written YYYY-MM-DD (got {_show(value)})"
    if err.validator == "uniqueItems":
        seen, repeated = [], None
        for item in err.instance:
            if item in seen:
                repeated = item
                break
            seen.append(item)
        return where, f"{where} lists {_show(repeated)} more than once; list each once"
    return where, f"{subject} must be {_expect(schema)} (got {_show(err.instance)})"


def _unknown_key(err, path, config) -> tuple[str, str]:
    allowed = list(err.schema.get("properties", {}))
    patterns = list(err.schema.get("patternProperties", {}))
    extras = sorted((k for k in err.instance
                     if k not in allowed and not any(re.search(p, str(k)) for p in patterns)), key=str)
    name = extras[0]
    key = _dotted(path + [name])
    if key in MOVED:
        return key, f"{key} has moved to {MOVED[key]}; move it there"
    inside = [old for old in MOVED if old.startswith(key + ".")]
    if inside:
        block = err.instance[name]
        present = [old for old in inside if isinstance(block, dict) and old[len(key) + 1:] in block]
        if present:
            return present[0], f"{present[0]} has moved to {MOVED[present[0]]}; move it there"
        return key, f"'{key}' is not a setting ({inside[0]} has moved to {MOVED[inside[0]]}); remove it"
    guess = difflib.get_close_matches(str(name), allowed, n=1)
    if guess:
        return key, f"'{key}' is not a setting (did you mean '{_dotted(path + guess)}'?); remove or rename it"
    elsewhere = {p: p.rsplit(".", 1)[-1] for p in _setting_paths() if p.count(".") != len(path)}
    exact = [p for p, leaf in elsewhere.items() if leaf == str(name)]
    close = exact or [p for leaf in difflib.get_close_matches(str(name), list(elsewhere.values()), n=1)
                      for p, lf in elsewhere.items() if lf == leaf]
    if close:
        return key, f"'{key}' is not a setting here (did you mean '{close[0]}'?); move or rename it"
    level = f"in {_dotted(path)}" if path else "at the top level"
    return key, f"'{key}' is not a setting; remove it (the settings {level} are: {', '.join(allowed)})"


@functools.lru_cache(maxsize=1)
def _setting_paths() -> tuple[str, ...]:
    """Every fixed key of the schema, dotted (``study.window_months``...)."""
    out = []

    def walk(schema, prefix):
        for key, sub in schema.get("properties", {}).items():
            out.append(prefix + key)
            if isinstance(sub, dict) and "properties" in sub:
                walk(sub, prefix + key + ".")

    walk(_schema(), "")
    return tuple(out)


def _or(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _bounds(schema) -> str:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if xlo is not None and xhi is not None:
        return f" strictly between {xlo} and {xhi}"
    if lo is not None and hi is not None:
        return f" from {lo} to {hi}"
    if lo is not None:
        return f" of at least {lo}"
    if xlo is not None:
        return f" greater than {xlo}"
    if hi is not None:
        return f" of at most {hi}"
    if xhi is not None:
        return f" less than {xhi}"
    return ""


def _expect(schema: dict) -> str:
    """What a value must be, in words, from its schema."""
    if "enum" in schema:
        return ("one of " if len(schema["enum"]) > 2 else "") + _or(schema["enum"])
    if schema.get("format") == "date":
        return "a date written YYYY-MM-DD"
    if schema.get("pattern") == _CATEGORY_NAME:
        return "a category name (lower-case letters, digits and _, starting with a letter; not 'overall')"
    kind = schema.get("type")
    if kind in ("integer", "number"):
        return ("an integer" if kind == "integer" else "a number") + _bounds(schema)
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return "a colour written #RRGGBB" if schema.get("pattern") == _COLOUR else "non-empty text"
    if kind == "array":
        items = schema.get("items", {})
        least, unique = schema.get("minItems"), schema.get("uniqueItems")
        if "enum" in items:
            if unique and least == len(items["enum"]):
                return f"a list of {_or(items['enum']).replace(' or ', ' and ')}, each exactly once"
            text = f"a list drawn from {_or(items['enum'])}"
        elif items.get("type") in ("integer", "number"):
            text = f"a list of {items['type']}s{_bounds(items)}"
        elif items.get("pattern") == _COLOUR:
            text = "a list of colours written #RRGGBB"
        else:
            text = "a list of text values"
        if least:
            text += f", at least {least} of them"
        if unique:
            text += ", each at most once"
        return text
    if kind == "object":
        keys = list(schema.get("properties", {}))
        return "a mapping of " + ", ".join(keys) if keys else "a mapping"
    if kind == ["string", "object"] and str(schema.get("pattern", "")).startswith("^("):
        # one value for every key, or a mapping (its.significance: a rule, or one per measure)
        names = schema["pattern"][2:-2].split("|")
        return f"one of {_or(names)}, or a mapping of {', '.join(schema.get('properties', {}))} to one of them"
    return "valid"


def _add_months(day: dt.date, months: int) -> dt.date:
    """Whole months, clipping to the month's last day (as ``strostudy.dates.add_months``)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (nxt - dt.timedelta(days=1)).day))


def _windows_fit(earliest: dt.date, extraction: dt.date, window: int) -> bool:
    """Is there an order start with both windows inside the data period (as
    ``strostudy.dates.full_windows`` decides)?"""
    start = _add_months(earliest, window)
    for _ in range(4):  # month-end clipping can leave the before window a few days short
        if _add_months(start, -window) >= earliest:
            break
        start += dt.timedelta(days=1)
    return _add_months(start, window) <= extraction


def _rules(config: dict) -> tuple[str, str] | None:
    """The rules the schema cannot state; the config has already passed the schema."""
    study = config["study"]
    earliest = dt.date.fromisoformat(study["earliest_reliable_date"])
    extraction = dt.date.fromisoformat(study["extraction_date"])
    if earliest >= extraction:
        return "study.earliest_reliable_date", (
            f"study.earliest_reliable_date ({earliest}) must be before study.extraction_date ({extraction}); "
            "correct one of them")
    window = study["window_months"]
    if not _windows_fit(earliest, extraction, window):
        most = max((w for w in range(1, window) if _windows_fit(earliest, extraction, w)), default=0)
        room = f"at most {most}" if most else "not even 1"
        return "study.window_months", (
            f"study.window_months is {window}, but two {window}-month windows do not fit between "
            f"study.earliest_reliable_date ({earliest}) and study.extraction_date ({extraction}), which allow "
            f"{room}; shorten the windows or widen the data period")
    categories = config["categories"]
    rules = [name for name in categories if name != "default"]
    if not rules:
        return "categories", ("categories has no category besides default; add at least one "
                              "(a name with cjs_codes, cjs_prefixes or ho_groups)")
    if categories["default"] in rules:
        return "categories.default", (
            f"categories.default '{categories['default']}' is also a category with rules; name a different "
            "category for everything else (e.g. default: other)")
    return None
