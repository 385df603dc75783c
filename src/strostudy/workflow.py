"""Glue between Snakemake rules and the package: each rule's script calls :func:`run`.

Scripts are adapters (read ``snakemake.input``/``params``, call package functions, write
``snakemake.output``).  :func:`run` turns a :class:`~strostudy.errors.StrostudyError` into one
clear line on stderr (and in the rule's log) and a non-zero exit, and anything unexpected into
one line pointing at the log that holds the traceback: never a traceback on the console.

To run one step by hand (a notebook, a debugger), :func:`mock_snakemake` parses the Snakefile
with Snakemake and returns the ``snakemake`` object that rule's script would receive.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


def run(snakemake, step: Callable[[object], None]) -> None:
    """Run a rule's step.  A user-caused failure (:class:`~strostudy.errors.StrostudyError`)
    becomes its one line; anything else becomes one line naming the rule and the log that
    holds the traceback, so no value from the data (a name, a date of birth) reaches the
    console."""
    import traceback

    from .errors import StrostudyError

    log = Path(snakemake.log[0]) if getattr(snakemake, "log", None) else None
    rule = getattr(snakemake, "rule", None) or "this step"
    try:
        step(snakemake)
    except StrostudyError as err:
        _fail(f"strostudy: {err}", log)
    except Exception as err:  # noqa: BLE001 - the guard of last resort
        where = f"; the traceback (which may quote your data) is in {log}" if log else ""
        detail = "".join(traceback.format_exception(err))
        _fail(f"strostudy: unexpected error in rule '{rule}' ({type(err).__name__}): this is a bug in strostudy, "
              f"not a problem you caused{where}. Please report it, without the data.", log, detail)


def _fail(message: str, log: Path | None, detail: str = "") -> None:
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as handle:
            handle.write(detail + message + "\n")
    print(message, file=sys.stderr)
    sys.exit(1)


class MockSnakemake:
    """A hand-made stand-in for the ``snakemake`` object, every path typed by the caller:
    ``MockSnakemake(input={...}, output={...}, params={...})``.  To get a rule's real paths,
    params and config from the Snakefile, use :func:`mock_snakemake` instead."""

    def __init__(self, input=None, output=None, params=None, log=None, config=None):
        from snakemake.iocontainers import Namedlist

        self.input = Namedlist(fromdict=input or {})
        self.output = Namedlist(fromdict=output or {})
        self.params = Namedlist(fromdict=params or {})
        self.log = Namedlist(fromdict=log or {})
        self.config = config or {}


def mock_snakemake(
    rule: str,
    snakefile: str | Path | None = None,
    workdir: str | Path = ".",
    config_overrides: dict | None = None,
    *,
    absolute: bool = False,
    **wildcards: str,
):
    """The ``snakemake`` object that ``rule``'s ``script:`` would receive, built by parsing the
    Snakefile with Snakemake itself, to run one workflow step in a notebook or a debugger::

        from strostudy.workflow import mock_snakemake
        snakemake = mock_snakemake("its", workdir="runs/2024")   # then run the script's body

    Arguments
    ---------
    rule -- the rule's name (``its``, ``report``, ...).
    snakefile -- the Snakefile to parse.  By default the one Snakemake itself would pick in
        ``workdir`` (``Snakefile``, ``workflow/Snakefile``, ...), else this repository's
        ``Snakefile``.  A relative path is taken from the current directory.
    workdir -- the run's working directory, as ``snakemake -d WORKDIR``.  The Snakefile is
        parsed with this as the current directory (and the directory is restored afterwards),
        so it reads ``WORKDIR/config.yaml`` exactly as a real run does.
    config_overrides -- values as ``snakemake --config key=value`` would give them; the
        Snakefile merges them over the package defaults and ``config.yaml`` itself.
    absolute -- make ``input``, ``output`` and ``log`` paths absolute under ``workdir``.
        By default they are relative, as Snakemake gives them to a script: then run the step
        with ``workdir`` as the current directory (``os.chdir(workdir)``).
    **wildcards -- the rule's wildcard values, if it has any (every one, and no others).

    Returns a :class:`snakemake.script.Snakemake` with ``input``, ``output``, ``params``
    (evaluated), ``log``, ``wildcards``, ``config``, ``rule``, ``threads``, ``resources`` and
    ``scriptdir``, as a script run by ``snakemake --cores N`` (N >= the rule's threads) gets.
    Input functions (``unpack(...)`` too) are evaluated; nothing is run, checked for existence
    or created.  A missing Snakefile or workdir, an unknown rule, wrong wildcards, or a Snakefile
    that stops while being read (a bad config) raise a one-line
    :class:`~strostudy.errors.StrostudyError`.
    """
    from .errors import StrostudyError

    with _parsed_workflow(snakefile, workdir, config_overrides) as (workflow, path, workdir):
        from snakemake.dag import DAG
        from snakemake.jobs import Job
        from snakemake.script import Snakemake

        rules = [r.name for r in workflow.rules]
        if rule not in rules:
            raise StrostudyError(f"mock_snakemake: {path} has no rule {rule!r}; its rules are {', '.join(rules)}.")
        the_rule = workflow.get_rule(rule)
        needed, given = set(the_rule.wildcard_names), set(wildcards)
        if needed != given:
            need = ", ".join(sorted(needed)) or "none"
            raise StrostudyError(f"mock_snakemake: rule {rule!r} takes the wildcards {need}; "
                                 f"got {', '.join(sorted(given)) or 'none'}.")

        # A Job is what Snakemake runs: it expands the rule's input (input functions, unpack),
        # output, log, params and resources for these wildcards, exactly as for a real run.
        job = Job(the_rule, DAG(workflow, rules=[the_rule]), {k: str(v) for k, v in wildcards.items()})
        smk = Snakemake(
            job.input,
            job.output,
            job.params,
            job.wildcards,
            job.threads,
            job.resources,
            job.log,
            copy.deepcopy(workflow.config),
            the_rule.name,
            None,  # bench_iteration: not a benchmark run
            _script_dir(the_rule),
        )

    if absolute:
        def under_workdir(p):
            return p if os.path.isabs(p) else os.path.normpath(os.path.join(workdir, p))

        smk.input, smk.output, smk.log = (type(files)(toclone=files, custom_map=under_workdir)
                                          for files in (smk.input, smk.output, smk.log))
    return smk


def snakefile_rules(snakefile: str | Path | None = None, workdir: str | Path = ".",
                    config_overrides: dict | None = None) -> list[str]:
    """The names of the Snakefile's rules, in the order it defines them (arguments as for
    :func:`mock_snakemake`; which rules exist can depend on the config, e.g. ``source``)."""
    with _parsed_workflow(snakefile, workdir, config_overrides) as (workflow, _, _):
        return [r.name for r in workflow.rules]


@contextmanager
def _parsed_workflow(snakefile, workdir, config_overrides):
    """Parse the Snakefile with Snakemake's :class:`~snakemake.workflow.Workflow`, the current
    directory set to ``workdir`` (restored on exit); yields (workflow, snakefile, workdir)."""
    from .errors import StrostudyError

    workdir = Path(workdir).expanduser().resolve()
    if not workdir.is_dir():
        raise StrostudyError(f"mock_snakemake: the workdir {workdir} is not a directory.")
    path = _find_snakefile(snakefile, workdir)

    # snakemake.workflow cannot be imported first (a circular import); snakemake.api loads it.
    import snakemake.api  # noqa: F401
    from snakemake.logging import LoggerManager, logger
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        DeploymentSettings,
        GroupSettings,
        OutputSettings,
        ResourceSettings,
        StorageSettings,
        WorkflowSettings,
    )
    from snakemake.workflow import Workflow

    cwd, sys_path = os.getcwd(), list(sys.path)
    output_settings = OutputSettings()
    workflow = None
    try:
        os.chdir(workdir)
        # As `snakemake --config ...` builds it: the overrides become the Snakefile's initial
        # `config`, which it merges over the defaults and config.yaml itself.
        workflow = Workflow(
            config_settings=ConfigSettings(config=dict(config_overrides or {})),
            resource_settings=ResourceSettings(),
            workflow_settings=WorkflowSettings(),
            logger_manager=LoggerManager(logger, output_settings),
            storage_settings=StorageSettings(),
            dag_settings=DAGSettings(),
            deployment_settings=DeploymentSettings(),
            output_settings=output_settings,
            group_settings=GroupSettings(),
            storage_provider_settings={},
        )
        try:
            workflow.include(str(path), overwrite_default_target=True)
        except SystemExit as stop:  # the Snakefile's own sys.exit("strostudy: ...") on a bad config
            raise StrostudyError(_exit_message(stop, path)) from None
        workflow.check()
        yield workflow, path, workdir
    finally:
        os.chdir(cwd)
        sys.path[:] = sys_path  # Snakemake put the Snakefile's directory first while parsing
        if workflow is not None:
            workflow.tear_down()


def _find_snakefile(snakefile, workdir: Path) -> Path:
    """The Snakefile given, else the one Snakemake would pick in ``workdir``, else the repo's."""
    from .errors import StrostudyError

    if snakefile is not None:
        path = Path(snakefile).expanduser().resolve()
        if not path.is_file():
            raise StrostudyError(f"mock_snakemake: no Snakefile at {path}.")
        return path
    names = ["Snakefile", "snakefile", "workflow/Snakefile", "workflow/snakefile"]  # Snakemake's order
    candidates = [workdir / name for name in names] + [Path(__file__).resolve().parents[2] / "Snakefile"]
    for path in candidates:
        if path.is_file():
            return path
    raise StrostudyError(f"mock_snakemake: no Snakefile in {workdir} or {candidates[-1].parent}; "
                         "pass snakefile=PATH.")


def _exit_message(stop: SystemExit, path: Path) -> str:
    if isinstance(stop.code, str):
        return stop.code.removeprefix("strostudy: ")
    return f"mock_snakemake: {path} stopped while being read (exit code {stop.code})."


def _script_dir(rule) -> str | None:
    """The directory of the rule's script, as Snakemake gives it (``snakemake.scriptdir``)."""
    if not rule.script or rule.basedir is None:
        return None
    basedir = rule.basedir.get_path_or_uri(secret_free=True)
    return os.path.dirname(os.path.normpath(os.path.join(basedir, str(rule.script))))
