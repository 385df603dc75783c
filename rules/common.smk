# Paths come from the table registry (strostudy.tables): T.inputs(rule) and T.outputs(rule)
# declare what each rule reads and writes.  Params carry only the config keys a rule's stage
# reads, so a change re-runs just the rules that use it.  R(rule) gives a rule's resources
# (mem_mb, runtime) for a cluster, from the benchmark (strostudy.resources).
from pathlib import Path

from strostudy import tables as T
from strostudy.resources import rule_resources as R
from strostudy.keys import fingerprint_for

STAGE_SCRIPT = "../scripts/run_stage.py"


def cfg(*keys):
    """The config keys a rule reads (dotted), as a nested dict shaped like the config."""
    out = {}
    for key in keys:
        *parents, leaf = key.split(".")
        src, dst = config, out
        for part in parents:
            src, dst = src[part], dst.setdefault(part, {})
        dst[leaf] = src[leaf]
    return out


def outputs(rule):
    """The rule's outputs from the registry: folders as directory(), figures into the
    Snakemake report with their captions."""
    out = {}
    for name, path in T.outputs(rule).items():
        if name in T.TABLES and T.TABLES[name].kind == "dir":
            out[name] = directory(path)
        elif path.endswith(".png"):
            caption = f"../src/strostudy/templates/captions/{Path(path).stem}.rst"
            out[name] = report(path, caption=caption, category="Figures")
        else:
            out[name] = path
    return out



def scfg(*keys):
    """cfg(keys) for a stage run once per study, plus that study's entry of `studies`, from
    which the stage takes the study's settings (strostudy.studies.resolve); editing one study
    re-runs only that study's jobs."""
    return strostudies.params(cfg(*keys), config["studies"])
