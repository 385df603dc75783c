# Every decision the report makes, and the headline claims decided from them.

rule decisions:
    input:
        **T.inputs("decisions"),
    output:
        **outputs("decisions"),
    params:
        config=cfg("study.alpha"),
    conda:
        "../environment.yml"
    resources:
        **R("decisions"),
    benchmark:
        "logs/benchmarks/decisions.tsv",
    log:
        "logs/decisions.log",
    script:
        STAGE_SCRIPT
