"""Every rule's script: run the stage behind the rule (strostudy.stages.RULE_MODULES).

Scripts are adapters: the rule's inputs, outputs and params go to the stage's ``run``.
A user-caused failure (``StrostudyError``) becomes one line, never a traceback.
"""

from strostudy.stages import run_rule
from strostudy.workflow import run

run(snakemake, run_rule)  # noqa: F821 - provided by Snakemake
