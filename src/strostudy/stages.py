"""The edges of each stage: which module runs which rule, and progress for the user.

Each stage module (:mod:`strostudy.ingest`, ``reconcile``, ``harm``, ``cohort``,
``prepost``, ``its``, ``figures``, ``report``) has a ``run(inputs, output, config, log)``
that reads its inputs and writes its outputs by their registry names
(:mod:`strostudy.tables`).  The rules' one script, ``scripts/run_stage.py``, calls
:func:`run_rule`; notebooks and tests can call a stage's ``run`` directly.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

#: The module behind each rule (``harm_index`` belongs to the harm stage but runs first).
RULE_MODULES = {"ingest": "ingest", "harm_index": "offences", "reconcile": "reconcile", "harm": "harm",
                "cohort": "cohort", "prepost": "prepost", "its": "its", "comparison": "comparison", "sensitivity": "sensitivity",
                "decisions": "decisions", "release": "release", "figures": "figures", "report": "report", "simulate": "simulate",
                "index": "index"}


def say(message: str, log: str | None = None) -> None:
    """Progress for the user (stderr) and the rule's log."""
    print(f"strostudy: {message}", file=sys.stderr, flush=True)
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as handle:
            handle.write(message + "\n")


def stage_module(rule: str):
    """The module whose ``run`` does ``rule``'s work."""
    import importlib

    return importlib.import_module(f"strostudy.{RULE_MODULES[rule]}")


def run_rule(smk) -> None:
    """Run the stage behind ``smk.rule`` with the rule's inputs, outputs and params."""
    module = stage_module(smk.rule)
    log = smk.log[0] if len(smk.log) else None
    if log:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text("")
    extra = {}
    if "threads" in inspect.signature(module.run).parameters:  # stages that can use several cores
        extra["threads"] = int(getattr(smk, "threads", 1) or 1)
    config = smk.params.config
    study = dict(getattr(smk, "wildcards", {}) or {}).get("study")
    if study is not None:  # a stage of one study runs with the study's settings
        from .studies import resolve

        config = resolve(config, study)
    module.run(inputs=dict(smk.input.items()), output=dict(smk.output.items()), config=config, log=log, **extra)


#: The rules in the order the workflow runs them (simulate only for synthetic data).
ORDER = ["simulate", "ingest", "harm_index", "reconcile", "harm", "cohort", "prepost", "its", "comparison",
         "sensitivity", "decisions", "release", "figures", "report", "index"]


def run_stage(rule: str, config: dict, workdir: str | Path = ".", log: str | None = None, study: str | None = None):
    """Run one rule's stage in this process, with the registry's paths under ``workdir`` (for
    notebooks and tests; the workflow runs the same function through its script).  A stage
    that runs per study (:data:`strostudy.tables.STUDY_STAGES`) needs ``study``, and runs
    with that study's settings (:func:`strostudy.studies.resolve`)."""
    from . import studies, tables

    work = Path(workdir)
    if rule in tables.STUDY_STAGES:
        if study is None:
            from .errors import StrostudyError

            raise StrostudyError(f"the {rule} stage runs once per study: give study= (one of "
                                 f"{', '.join(studies.names(config))})")
        config = studies.resolve(config, study)
    if rule == "index":
        found = tables.index_inputs(studies.names(config))
    else:
        found = tables.inputs(rule, work, source=config.get("source", "extracts"), study=study)
    inputs = {k: str(work / v) for k, v in found.items()}
    output = {k: str(work / v) for k, v in tables.outputs(rule, study).items()}
    return stage_module(rule).run(inputs=inputs, output=output, config=config, log=log)


def run_all(config: dict, workdir: str | Path = ".", until: str = "index", studies: list[str] | None = None) -> None:
    """Run every stage from the extracts in ``workdir/data/raw`` (simulated first when
    ``source: synthetic`` and they are missing) up to and including ``until``: the shared
    stages once, each study's stages for every study (or those in ``studies``), then the index."""
    from . import keys, tables
    from .studies import names

    keys.guard(config["source"], Path(workdir) / Path(tables.path("raw_orders")).parent)
    rules = ORDER[: ORDER.index(until) + 1]
    if config["source"] != "synthetic" or (Path(workdir) / tables.path("raw_orders")).exists():
        rules = [r for r in rules if r != "simulate"]
    for rule in [r for r in rules if r not in tables.STUDY_STAGES and r != "index"]:
        run_stage(rule, config, workdir)
    for study in studies or names(config):
        for rule in [r for r in rules if r in tables.STUDY_STAGES]:
            run_stage(rule, config, workdir, study=study)
    if "index" in rules:
        run_stage("index", config, workdir)
