# The sensitivity panel: the main before/after estimator under each variation (windows,
# breaches excluded, intention to treat, washout, leave-one-out, time at risk, negative
# control), from the processed tables and the comparison stage's panel (docs/sensitivity.md).

rule sensitivity:
    input:
        **T.inputs("sensitivity"),
        # An alternative harm index's table is an input, so editing it re-runs the panel.
        alternative_harm_table=lambda wildcards: [] if not config["comparison"]["sensitivity"]["alternative_harm_index"]
        else [config["comparison"]["sensitivity"]["alternative_harm_index"]["table"]],
    output:
        **outputs("sensitivity"),
    params:
        config=scfg("comparison.sensitivity", "comparison.family", "comparison.min_clusters",
                    "comparison.standard_errors", "comparison.naive_inference", "comparison.wild_draws",
                    "comparison.wild_seed", "study", "cohort", "categories", "prepost", "harm"),
    conda:
        "../environment.yml"
    resources:
        **R("sensitivity"),
    benchmark:
        "logs/benchmarks/{study}/sensitivity.tsv",
    log:
        "logs/{study}/sensitivity.log",
    script:
        STAGE_SCRIPT
