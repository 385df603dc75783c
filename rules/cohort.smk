# The cohort: episodes with full windows, the exclusions, per-subject windows, monthly series.

rule cohort:
    input:
        **T.inputs("cohort"),
    output:
        **outputs("cohort"),
    params:
        config=scfg("study.window_months", "study.earliest_reliable_date", "study.extraction_date",
                   "study.start_date_counts_as", "cohort", "categories"),
    conda:
        "../environment.yml"
    resources:
        **R("cohort"),
    benchmark:
        "logs/benchmarks/{study}/cohort.tsv",
    log:
        "logs/{study}/cohort.log",
    script:
        STAGE_SCRIPT
