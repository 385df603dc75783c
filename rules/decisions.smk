# Every decision the report makes, and the headline claims decided from them.

rule decisions:
    input:
        **T.inputs("decisions"),
    output:
        **outputs("decisions"),
    params:
        config=scfg("study.alpha"),
    conda:
        "../environment.yml"
    resources:
        **R("decisions"),
    benchmark:
        "logs/benchmarks/{study}/decisions.tsv",
    log:
        "logs/{study}/decisions.log",
    script:
        STAGE_SCRIPT
