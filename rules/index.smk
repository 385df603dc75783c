# The comparison across studies: one row per study, a forest plot, disclosure control with
# its output-checking log (reports/index.html; issue 16).

rule index:
    input:
        **T.index_inputs(strostudies.names(config)),
    output:
        **outputs("index"),
    params:
        config=cfg("studies", "disclosure", "figures", "source", "study.window_months", "prepost.confidence_level",
                   "comparison.confidence_level", "harm.short_name"),
    conda:
        "../environment.yml"
    resources:
        **R("index"),
    benchmark:
        "logs/benchmarks/index.tsv",
    log:
        "logs/index.log",
    script:
        STAGE_SCRIPT
