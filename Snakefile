# strostudy workflow: raw PNC/PND/ROCU extracts -> results report.
#   snakemake --cores all                      (synthetic default, from the repo)
#   snakemake -s path/to/Snakefile -d WORKDIR  (reads WORKDIR/config.yaml if present)
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

from strostudy import config as strocfg

# Defaults from the package, then WORKDIR/config.yaml (or the repo's), then --config.
_config_file = Path("config.yaml") if Path("config.yaml").exists() else Path(workflow.basedir) / "config.yaml"
_merged = strocfg.load(_config_file, overrides=dict(config))
config.clear()
config.update(_merged)
validate(config, "schemas/config.schema.yaml")

report: "report/workflow.rst"

include: "rules/common.smk"
include: "rules/simulate.smk"
include: "rules/reconcile.smk"
include: "rules/cohort.smk"
include: "rules/its.smk"
include: "rules/figures.smk"
include: "rules/report.smk"


rule all:
    input:
        "reports/results.html",
