# Before and after: paired tests per measure and category, and the arrests-harm correlations.

rule prepost:
    input:
        **T.inputs("prepost"),
    output:
        **outputs("prepost"),
    params:
        config=scfg("prepost", "study.alpha"),
    conda:
        "../environment.yml"
    resources:
        **R("prepost"),
    benchmark:
        "logs/benchmarks/{study}/prepost.tsv",
    log:
        "logs/{study}/prepost.log",
    script:
        STAGE_SCRIPT
