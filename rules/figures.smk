# Publication figures from the processed tables alone: `snakemake figures` rebuilds just these.

rule figures:
    input:
        **T.inputs("figures"),
    output:
        **outputs("figures"),
    params:
        config=cfg("figures", "its.primary", "categories", "study.window_months", "harm.short_name", "harm.unit"),
    conda:
        "../environment.yml"
    log:
        "logs/figures.log",
    script:
        STAGE_SCRIPT
