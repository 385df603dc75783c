"""The calibration rule: every chunk's reps joined and summarised (strostudy.calibrate.write)."""

from pathlib import Path

from strostudy import calibrate
from strostudy.workflow import run


def _step(smk):
    import pandas as pd

    # keep_default_na=False: the scenario "null" is a name, not a missing value
    reps = pd.concat([pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in smk.input], ignore_index=True)
    calibrate.write(reps, Path(smk.output.reps).parent)


run(snakemake, _step)  # noqa: F821 - provided by Snakemake
