# How much of the fall is the order? The comparison pool on the order subjects' clock: the
# subject-month panel with time at risk, the match, the balance, the naive and adjusted rate
# ratios and the event study (docs/comparison.md).

rule comparison:
    input:
        **T.inputs("comparison"),
    output:
        **outputs("comparison"),
    params:
        config=cfg("comparison", "study.window_months", "study.earliest_reliable_date", "study.extraction_date",
                   "study.start_date_counts_as", "study.alpha", "categories"),
    conda:
        "../environment.yml"
    resources:
        **R("comparison"),
    benchmark:
        "logs/benchmarks/comparison.tsv",
    log:
        "logs/comparison.log",
    script:
        STAGE_SCRIPT
