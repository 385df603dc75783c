"""Rule adapter: interrupted time-series models."""

from strostudy.workflow import run


def step(smk):
    from strostudy.stages import run_its

    run_its(inputs=dict(smk.input), config=dict(smk.params.config), out=dict(smk.output), log=smk.log[0])


run(snakemake, step)  # noqa: F821 - provided by Snakemake
