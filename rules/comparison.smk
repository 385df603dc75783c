# How much of the fall is the order? The comparison pool on the order subjects' clock: the
# subject-month panel with time at risk, the match, the balance, the naive and adjusted rate
# ratios and the event study (docs/comparison.md).

rule comparison:
    input:
        **T.inputs("comparison"),
    output:
        **outputs("comparison"),
    params:
        config=scfg("comparison", "study.window_months", "study.earliest_reliable_date", "study.extraction_date",
                   "study.start_date_counts_as", "study.alpha", "categories"),
    conda:
        "../environment.yml"
    resources:
        **R("comparison"),
    benchmark:
        "logs/benchmarks/{study}/comparison.tsv",
    log:
        "logs/{study}/comparison.log",
    script:
        STAGE_SCRIPT
