import yaml
from conftest import REPO

from strostudy.config import defaults, load, merge


def test_repo_config_equals_package_defaults():
    # config.yaml is the user's copy of the defaults; they must not drift apart.
    assert yaml.safe_load((REPO / "config.yaml").read_text()) == defaults()


def test_merge_and_load(tmp_path):
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}
    path = tmp_path / "config.yaml"
    path.write_text("study:\n  window_months: 12\n")
    cfg = load(path, {"seed": 5})
    assert cfg["study"]["window_months"] == 12 and cfg["seed"] == 5
    assert cfg["study"]["extraction_date"] == defaults()["study"]["extraction_date"]


def test_defaults_validate_against_schema():
    from snakemake.utils import validate

    validate(defaults(), str(REPO / "schemas" / "config.schema.yaml"))
