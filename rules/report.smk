# The results report: self-contained HTML and Markdown, from the declared inputs only.

rule report:
    input:
        **T.inputs("report"),
    output:
        **outputs("report"),
    params:
        config=config,  # the report prints the configuration it ran with, so it reads all of it
    conda:
        "../environment.yml"
    resources:
        **R("report"),
    benchmark:
        "logs/benchmarks/{study}/report.tsv",
    log:
        "logs/{study}/report.log",
    script:
        STAGE_SCRIPT
