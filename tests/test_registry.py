"""The table registry is the interface: one path per table, stages that read only what the
registry says they read, no upward imports, and small functions."""

import ast
from pathlib import Path

import pytest
from conftest import REPO

from strostudy import stages, tables

SRC = REPO / "src" / "strostudy"


def test_every_path_is_declared_once():
    paths = [t.path for t in tables.TABLES.values()] + list(tables.figures().values())
    assert len(paths) == len(set(paths))
    assert all(not Path(p).is_absolute() for p in paths)


def test_each_rule_reads_only_registered_tables_written_earlier():
    written = {}
    for rule in stages.ORDER:
        for name in tables.inputs(rule):
            if name.endswith(("_png", "_pdf")):
                assert written.get(name) == "figures", name
                continue
            assert name in written, f"{rule} reads {name} before any rule writes it"
        for name in tables.outputs(rule):
            assert name not in written, f"{name} written by {written.get(name)} and {rule}"
            written[name] = rule
    # Everything processed is written by exactly one rule, and every processed table has a model.
    for t in tables.TABLES.values():
        if t.path.startswith("data/processed/"):
            assert t.name in written and t.model, t.name
            assert tables.model(t.name) is not None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("strostudy."):
            found.add(node.module.split(".")[1])
    return found


def test_no_module_imports_a_later_stage():
    order = ["ingest", "reconcile", "harm", "cohort", "prepost", "its", "figures", "report"]
    for i, stage in enumerate(order):
        later = set(order[i + 1:])
        assert not _imports(SRC / f"{stage}.py") & later, (stage, _imports(SRC / f"{stage}.py") & later)
    # Shared modules import no stage that comes after the first one using them.
    for shared in ("tables", "schemas", "config", "categories", "keys", "dates", "ids", "errors", "style"):
        assert not _imports(SRC / f"{shared}.py") & set(order[1:]), shared


@pytest.mark.parametrize("path", sorted(p for p in SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_function_over_80_lines(path):
    tree = ast.parse(path.read_text())
    long = [(n.name, n.end_lineno - n.lineno + 1) for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno + 1 > 80]
    assert not long, long


def test_stage_modules_have_a_run_with_the_rules_signature():
    import importlib
    import inspect

    for rule, module in stages.RULE_MODULES.items():
        run = importlib.import_module(f"strostudy.{module}").run
        assert list(inspect.signature(run).parameters)[:4] == ["inputs", "output", "config", "log"], rule
