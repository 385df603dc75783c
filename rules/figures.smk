# Publication figures from the processed tables alone: `snakemake figures` rebuilds just these.

rule figures:
    input:
        **T.inputs("figures"),
    output:
        **outputs("figures"),
    params:
        config=scfg("figures", "its.primary", "categories", "study.window_months", "harm.short_name", "harm.unit",
                   "comparison.event_study_reference", "comparison.event_study_bin_months",
                   "comparison.confidence_level",
                   "comparison.sensitivity.negative_control"),
    threads: 4  # figures are drawn in parallel, a process per thread (Snakemake gives at most --cores)
    conda:
        "../environment.yml"
    resources:
        **R("figures"),
    benchmark:
        "logs/benchmarks/{study}/figures.tsv",
    log:
        "logs/{study}/figures.log",
    script:
        STAGE_SCRIPT
