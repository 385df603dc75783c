# strostudy workflow: raw PNC/PND/ROCU extracts -> results report.
#   snakemake --cores all                      (synthetic default, from the repo)
#   snakemake -s path/to/Snakefile -d WORKDIR  (reads WORKDIR/config.yaml if present)
#
# Every path comes from the table registry (src/strostudy/tables.py); every rule passes on
# only the config keys its stage reads; each rule's logic is one module of src/strostudy/.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

from strostudy import config as strocfg
from strostudy import keys as strokeys
from strostudy import tables as strotables
from strostudy.errors import StrostudyError

# Defaults from the package, then WORKDIR/config.yaml (or the repo's), then --config; checked
# against the schema, so a typo or an impossible date stops here with one line.
_config_file = Path("config.yaml") if Path("config.yaml").exists() else Path(workflow.basedir) / "config.yaml"
# Then, before any extract is read: real data needs its own key, and extracts strostudy did
# not simulate are never overwritten by, or keyed as, synthetic data.
try:
    _merged = strocfg.load(_config_file, overrides=dict(config))
    strokeys.guard(_merged["source"], Path(strotables.path("raw_orders")).parent)
    if _merged["harm"]["table"] != "curated" and not Path(_merged["harm"]["table"]).is_file():
        raise StrostudyError(f"{_config_file.name}: harm.table '{_merged['harm']['table']}' is not a file; give the path "
                             "of the CCHI workbook (.xlsx) or a weights CSV, relative to the working directory, or "
                             "'curated'")
except StrostudyError as err:
    sys.exit(f"strostudy: {err}")
config.clear()
config.update(_merged)

from strostudy import studies as strostudies

# Every stage from harm on runs once per study (the {study} wildcard of the registry's paths).
wildcard_constraints:
    study="|".join(strostudies.names(config)),

report: "report/workflow.rst"

include: "rules/common.smk"
# 1. The extracts (synthetic by default), read and validated.
include: "rules/simulate.smk"
include: "rules/ingest.smk"
# 2. People linked, order episodes and arrest events reconciled across systems.
include: "rules/reconcile.smk"
# 3. Harm and offence categories.
include: "rules/harm.smk"
# 4. The cohort and its windows.
include: "rules/cohort.smk"
# 5. Before/after tests and the interrupted time series.
include: "rules/prepost.smk"
include: "rules/its.smk"
# 6. How much of the fall is the order: the comparison group, and the sensitivity panel.
include: "rules/comparison.smk"
include: "rules/sensitivity.smk"
include: "rules/decisions.smk"
# 7. What leaves the secure setting (disclosure control), its figures and the report.
include: "rules/release.smk"
include: "rules/figures.smk"
include: "rules/report.smk"
# 8. The comparison across studies (reports/index.html), disclosure-checked.
include: "rules/index.smk"
# 9. The Monte Carlo calibration of every decision (a target of its own, not part of `all`).
include: "rules/calibrate.smk"


rule all:
    default_target: True
    input:
        [T.path("results_html", s) for s in strostudies.names(config)],
        T.path("index_html"),


# `snakemake all_figures --forcerun figures` redraws every study's figures from its tables alone.
rule all_figures:
    input:
        [p for s in strostudies.names(config) for p in T.figures(s).values()],
