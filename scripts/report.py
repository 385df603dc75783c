"""Rule adapter: render the results report."""

from strostudy.workflow import run


def step(smk):
    from strostudy.report import write_report

    write_report(inputs=dict(smk.input), config=dict(smk.params.config), html_path=smk.output.html,
                 md_path=smk.output.md)


run(snakemake, step)  # noqa: F821 - provided by Snakemake
