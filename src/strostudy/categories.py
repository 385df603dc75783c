"""Offence categories as the config names them: their order and their labels.

Every table, figure and sentence takes its categories from here, so a category added,
removed or renamed in ``config.yaml`` flows through the whole study.  ``overall`` (every
arrest) always comes first.
"""

from __future__ import annotations

OVERALL = "overall"


def rules(categories_cfg: dict) -> dict[str, dict]:
    """The categories defined by codes and groups, in config order (earlier ones win, A19)."""
    return {k: v for k, v in categories_cfg.items() if k != "default"}


def names(categories_cfg: dict, overall: bool = True) -> list[str]:
    """Every category in the order tables show them: ``overall``, the rules, the default."""
    listed = list(rules(categories_cfg)) + [categories_cfg["default"]]
    return ([OVERALL] if overall else []) + listed


def label(name: str, categories_cfg: dict) -> str:
    """A category's label: its ``label`` in config, else its name capitalised."""
    rule = rules(categories_cfg).get(name) or {}
    return rule.get("label") or name.replace("_", " ").capitalize()


def labels(categories_cfg: dict) -> dict[str, str]:
    return {n: label(n, categories_cfg) for n in names(categories_cfg)}
