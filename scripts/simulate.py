"""Rule adapter: write the synthetic extracts and their truth."""

from strostudy.workflow import run


def step(smk):
    from strostudy.simulate import simulate, write_extracts

    extracts = simulate(seed=int(smk.params.seed), n_orders=int(smk.params.orders), study=dict(smk.params.study))
    from pathlib import Path

    write_extracts(extracts, raw_dir="data/raw", truth_dir=Path(smk.output.truth[0]).parent)


run(snakemake, step)  # noqa: F821 - provided by Snakemake
