"""The calibration_chunk rule: one chunk of reps (strostudy.calibrate.run_chunk)."""

from strostudy import calibrate
from strostudy.workflow import run


def _step(smk):
    seeds, first = calibrate.chunk_seeds(smk.params.config, smk.wildcards.scenario, int(smk.wildcards.chunk))
    calibrate.run_chunk({}, dict(smk.output.items()), smk.params.config, smk.wildcards.scenario, seeds, first,
                        log=smk.log[0])


run(snakemake, _step)  # noqa: F821 - provided by Snakemake
