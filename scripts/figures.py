"""Rule adapter: publication figures."""

from strostudy.workflow import run


def step(smk):
    from strostudy.stages import run_figures

    run_figures(inputs=dict(smk.input), config=dict(smk.params.config), figures_dir="figures", log=smk.log[0])


run(snakemake, step)  # noqa: F821 - provided by Snakemake
