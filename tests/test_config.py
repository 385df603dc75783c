"""Configuration: defaults + config.yaml + --config, checked strictly with one-line errors."""

import copy

import pytest
import yaml
from conftest import REPO
from jsonschema import Draft202012Validator

from strostudy.config import ConfigError, check, data_path, defaults, load, merge, schema_path
from strostudy.errors import StrostudyError


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path, text) -> ConfigError:
    """The ConfigError that loading ``text`` as config.yaml raises."""
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(str(tmp_path / "config.yaml"))
    return caught.value


# --- the defaults, the repo's config and the schema ---------------------------------------


def test_defaults_validate():
    config = defaults()
    check(config, "defaults")  # raises if not
    Draft202012Validator(yaml.safe_load(schema_path().read_text()),
                         format_checker=Draft202012Validator.FORMAT_CHECKER).validate(config)


def test_defaults_are_a_fresh_copy_each_call():
    defaults()["study"]["window_months"] = 1
    assert defaults()["study"]["window_months"] == 24


def test_repo_config_validates_and_equals_defaults():
    assert load(REPO / "config.yaml") == defaults()
    assert load(str(REPO / "config.yaml")) == defaults()
    assert yaml.safe_load((REPO / "config.yaml").read_text()) == defaults()


def test_schema_copies_are_byte_identical():
    # The package reads its own copy; the repo layout wants one under schemas/.
    assert schema_path() == data_path("config.schema.yaml")
    assert (REPO / "schemas" / "config.schema.yaml").read_bytes() == schema_path().read_bytes()


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = yaml.safe_load(schema_path().read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_describes_every_default_key_and_closes_every_fixed_level():
    schema = yaml.safe_load(schema_path().read_text())

    def walk(value, sub, where):
        if "$ref" in sub:
            sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
        if where == "categories" or not isinstance(value, dict):
            return
        if where == "studies":  # named by the user; each study's settings are a closed level
            each = sub["additionalProperties"]
            assert each["additionalProperties"] is False and set(each["required"]) == {"order_types"}
            for entry in value.values():
                assert set(entry) <= set(each["properties"])
            return
        assert sub.get("additionalProperties") is False, f"{where or 'top level'} accepts unknown keys"
        assert set(value) == set(sub["properties"]) == set(sub["required"]), where
        for key, item in value.items():
            walk(item, sub["properties"][key], f"{where}.{key}".lstrip("."))

    walk(defaults(), schema, "")


def test_schema_enums_match_the_code():
    from strostudy.cohort import EXCLUSION_RULES
    from strostudy.its import MODELS

    props = yaml.safe_load(schema_path().read_text())["properties"]
    assert props["cohort"]["properties"]["exclusions"]["items"]["enum"] == list(EXCLUSION_RULES)
    primary = props["its"]["properties"]["primary"]["properties"]
    for measure, models in MODELS.items():
        assert primary[measure]["enum"] == [name for name, _ in models]


def test_date_format_checker_is_active():
    assert not Draft202012Validator.FORMAT_CHECKER.conforms("2023-02-30", "date")
    assert Draft202012Validator.FORMAT_CHECKER.conforms("2024-02-29", "date")


# --- merging and overrides ----------------------------------------------------------------


def test_merge_and_load(tmp_path):
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}
    path = write(tmp_path, "study:\n  window_months: 12\n")
    cfg = load(path, {"seed": 5})
    assert cfg["study"]["window_months"] == 12 and cfg["seed"] == 5
    assert cfg["study"]["extraction_date"] == defaults()["study"]["extraction_date"]


def test_overrides_apply_last():
    assert load(None, {"seed": 5})["seed"] == 5
    assert load(REPO / "config.yaml", {"seed": 5}) == {**defaults(), "seed": 5}


def test_missing_file_means_defaults(tmp_path):
    assert load(tmp_path / "absent.yaml") == defaults()
    assert load(write(tmp_path, "")) == defaults()


def test_categories_are_replaced_whole(tmp_path):
    cfg = load(write(tmp_path, "categories:\n  fraud:\n    ho_groups: [X]\n  default: other\n"))
    assert cfg["categories"] == {"fraud": {"ho_groups": ["X"]}, "default": "other"}
    # Everything else still merges key by key.
    assert cfg["study"] == defaults()["study"]


def test_unquoted_dates_are_read_as_dates_written(tmp_path):
    cfg = load(write(tmp_path, "study:\n  extraction_date: 2023-03-30\n"))
    assert cfg["study"]["extraction_date"] == "2023-03-30"


# --- one-line errors ----------------------------------------------------------------------


def test_config_error_is_a_strostudy_error():
    assert issubclass(ConfigError, StrostudyError)


def test_misspelt_top_level_key(tmp_path):
    err = error_of(tmp_path, "stdy:\n  window_months: 12\n")
    assert str(err) == f"{tmp_path / 'config.yaml'}: 'stdy' is not a setting (did you mean 'study'?); remove or rename it"
    assert err.key == "stdy"


def test_misspelt_nested_key(tmp_path):
    err = error_of(tmp_path, "study:\n  window_month: 12\n")
    assert "'study.window_month' is not a setting" in str(err)
    assert "did you mean 'study.window_months'?" in str(err)


def test_impossible_date(tmp_path):
    for text in ('study:\n  extraction_date: "2023-02-30"\n', "study:\n  extraction_date: 2023-02-30\n"):
        err = error_of(tmp_path, text)
        assert str(err).endswith(": study.extraction_date '2023-02-30' is not a real date; use YYYY-MM-DD")


def test_dates_out_of_order(tmp_path):
    err = error_of(tmp_path, 'study:\n  earliest_reliable_date: "2023-04-01"\n')
    assert "study.earliest_reliable_date (2023-04-01) must be before study.extraction_date (2023-03-31)" in str(err)


def test_windows_must_fit_in_the_data_period(tmp_path):
    err = error_of(tmp_path, "study:\n  window_months: 41\n")
    assert "study.window_months is 41" in str(err) and "at most 40" in str(err)
    assert load(write(tmp_path, "study:\n  window_months: 40\n"))["study"]["window_months"] == 40


def test_wrong_type(tmp_path):
    err = error_of(tmp_path, 'figures:\n  dpi: "high"\n')
    assert str(err).endswith(": figures.dpi must be an integer of at least 72 (got 'high')")
    err = error_of(tmp_path, "study:\n  window_months: x\n")
    assert str(err).endswith(": study.window_months must be an integer from 1 to 120 (got 'x')")


def test_bad_yaml_syntax(tmp_path):
    err = error_of(tmp_path, "study:\n  window_months: 12\n    alpha: 0.1\n")
    assert str(err) == (f"{tmp_path / 'config.yaml'} line 3, column 10: mapping values are not allowed here; "
                        "fix the YAML syntax")


def test_top_level_not_a_mapping(tmp_path):
    err = error_of(tmp_path, "- study\n- seed\n")
    assert "the top level must be settings written 'key: value' (got a list)" in str(err)


def test_key_given_twice(tmp_path):
    err = error_of(tmp_path, "seed: 1\nseed: 2\n")
    assert "line 2, column 1: 'seed' is given twice" in str(err)


def test_moved_keys(tmp_path):
    err = error_of(tmp_path, "rocu:\n  header_synonyms:\n    order_ref: [ref]\n")
    assert str(err).endswith(": rocu.header_synonyms has moved to ingest.rocu_header_synonyms; move it there")
    err = error_of(tmp_path, "its:\n  alpha: 0.01\n")
    assert str(err).endswith(": its.alpha has moved to study.alpha; move it there")
    err = error_of(tmp_path, "reconcile:\n  pnc_year_pivot: 30\n")
    assert str(err).endswith(": reconcile.pnc_year_pivot has moved to ingest.pnc_year_pivot; move it there")


def test_category_named_overall_is_rejected(tmp_path):
    err = error_of(tmp_path, "categories:\n  overall:\n    ho_groups: [X]\n  default: other\n")
    assert "'overall'" in str(err) and "categories" in str(err) and "reserved" in str(err)
    err = error_of(tmp_path, "categories:\n  fraud:\n    ho_groups: [X]\n  default: overall\n")
    assert "categories.default cannot be 'overall'" in str(err)


@pytest.mark.parametrize("text, expected", [
    ("categories:\n  Fraud:\n    ho_groups: [X]\n  default: other\n", "category name 'Fraud'"),
    ("categories:\n  fraud:\n    ho_group: [X]\n  default: other\n", "did you mean 'categories.fraud.ho_groups'?"),
    ("categories:\n  fraud:\n    ho_groups: [X]\n", "categories.default is missing"),
    ("categories:\n  default: other\n", "categories has no category besides default"),
    ("categories:\n  drugs:\n    ho_groups: [X]\n  default: drugs\n", "categories.default 'drugs' is also a category"),
    ("source: synth\n", "source must be synthetic or extracts (got 'synth')"),
    ("study:\n  alpha: 1\n", "study.alpha must be a number strictly between 0 and 1 (got 1)"),
    ("prepost:\n  confidence_level: 0\n", "prepost.confidence_level must be a number strictly between 0 and 1"),
    ("study:\n  window_months: 24.0\n", "study.window_months must be an integer from 1 to 120 (got 24.0)"),
    ("its:\n  placebo_min_segment: 2\n", "its.placebo_min_segment must be an integer of at least 3 (got 2)"),
    ("its:\n  significance: hac3\n", "its.significance must be"),
    ("its:\n  hac_lags: -1\n", "its.hac_lags must be an integer of at least 0"),
    ("its:\n  primary:\n    harm: ols\n", "its.primary.harm must be one of segmented_quasipoisson, segmented_ols or segmented_loglinear"),
    ("figures:\n  palette: ['#000000']\n", "figures.palette must be a list of colours written #RRGGBB, at least 5"),
    ("reconcile:\n  source_precedence: [rocu, pnc]\n", "must be a list of rocu, pnc and pnd, each exactly once"),
    ("reconcile:\n  source_precedence: [rocu, pnc, pnc]\n", "lists 'pnc' more than once"),
    ("cohort:\n  exclusions: [nope]\n", "cohort.exclusions[0] must be one of identity_unresolved"),
    ("cohort:\n  require_rocu_return: 'yes'\n", "cohort.require_rocu_return must be true or false (got 'yes')"),
    ("ingest:\n  rocu_header_synonyms:\n    order_reff: [x]\n", "did you mean 'ingest.rocu_header_synonyms.order_ref'?"),
    ("study:\n  extraction_date: 31/03/2023\n", "study.extraction_date must be a date written YYYY-MM-DD"),
    ("window_months: 12\n", "'window_months' is not a setting here (did you mean 'study.window_months'?)"),
    ("harm:\n  table:\n", "harm.table must be non-empty text (got nothing)"),
])
def test_one_line_messages(tmp_path, text, expected):
    assert expected in str(error_of(tmp_path, text))


def test_override_errors_name_the_command_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(REPO / "config.yaml", {"sed": 5})
    assert str(caught.value) == "--config: 'sed' is not a setting (did you mean 'seed'?); remove or rename it"


def test_check_names_the_source_and_never_dumps_the_config():
    config = copy.deepcopy(defaults())
    config["categories"]["fraud"] = {"ho_groups": ["X" * 500] * 50}
    config["figures"]["dpi"] = "high"
    with pytest.raises(ConfigError) as caught:
        check(config, "my.yaml")
    message = str(caught.value)
    assert message == "my.yaml: figures.dpi must be an integer of at least 72 (got 'high')"


def test_first_error_is_deterministic(tmp_path):
    text = "zzz: 1\nstudy:\n  window_months: x\nfigures:\n  dpi: high\n"
    messages = {str(error_of(tmp_path, text)) for _ in range(3)}
    assert len(messages) == 1 and "'zzz' is not a setting" in messages.pop()
