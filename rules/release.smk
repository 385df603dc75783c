# What leaves the secure setting: every number a study's report and figures show, through
# disclosure control, and the output-checking log of what was withheld (docs/disclosure.md).

rule release:
    input:
        **T.inputs("release"),
    output:
        **outputs("release"),
    params:
        config=scfg("disclosure", "study.window_months", "comparison.sensitivity.negative_control"),
    conda:
        "../environment.yml"
    resources:
        **R("release"),
    benchmark:
        "logs/benchmarks/{study}/release.tsv",
    log:
        "logs/{study}/release.log",
    script:
        STAGE_SCRIPT
