# Interrupted time series: segmented models, trends, diagnostics and placebos.

rule its:
    input:
        **T.inputs("its"),
    output:
        **outputs("its"),
    params:
        config=cfg("its", "study.alpha", "study.window_months", "study.start_date_counts_as"),
    conda:
        "../environment.yml"
    resources:
        **R("its"),
    benchmark:
        "logs/benchmarks/its.tsv",
    log:
        "logs/its.log",
    script:
        STAGE_SCRIPT
