"""Rule adapter: score arrest events on the harm index and close the audit ledger."""

from strostudy.workflow import run


def step(smk):
    from strostudy.stages import run_harm

    run_harm(inputs=dict(smk.input), harm_cfg=dict(smk.params.harm), categories=dict(smk.params.categories),
             out=dict(smk.output), log=smk.log[0])


run(snakemake, step)  # noqa: F821 - provided by Snakemake
