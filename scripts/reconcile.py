"""Rule adapter: ingest, validate, link and reconcile the raw extracts."""

from strostudy.workflow import run


def step(smk):
    from strostudy.stages import run_reconcile

    run_reconcile(raw_dir="data/raw", config=dict(smk.params.config), out=dict(smk.output), log=smk.log[0])


run(snakemake, step)  # noqa: F821 - provided by Snakemake
