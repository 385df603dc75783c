# Interrupted time series: segmented models, trends, diagnostics and placebos.

rule its:
    input:
        **T.inputs("its"),
    output:
        **outputs("its"),
    params:
        config=scfg("its", "study.alpha", "study.window_months", "study.start_date_counts_as"),
    conda:
        "../environment.yml"
    resources:
        **R("its"),
    benchmark:
        "logs/benchmarks/{study}/its.tsv",
    log:
        "logs/{study}/its.log",
    script:
        STAGE_SCRIPT
