# Harm: the index's weights, loaded once for every later step; each arrest scored and
# categorised once; the audit ledger that accounts for every row read.

rule harm_index:
    input:
        # A weights file named in config is an input, so editing it re-runs what it scores.
        lambda wildcards: [] if config["harm"]["table"] == "curated" else [config["harm"]["table"]],
    output:
        **outputs("harm_index"),
    params:
        config=cfg("harm.table", "harm.workbook_sheet"),
    conda:
        "../environment.yml"
    resources:
        **R("harm_index"),
    benchmark:
        "logs/benchmarks/harm_index.tsv",
    log:
        "logs/harm_index.log",
    script:
        STAGE_SCRIPT


rule harm:
    input:
        # The study's own harm table (studies.<name>.harm.table, A140), if it names a file.
        lambda wildcards: strostudies.harm_file(config, wildcards.study),
        **T.inputs("harm"),
    output:
        **outputs("harm"),
    params:
        config=scfg("harm", "categories"),
    conda:
        "../environment.yml"
    resources:
        **R("harm"),
    benchmark:
        "logs/benchmarks/{study}/harm.tsv",
    log:
        "logs/{study}/harm.log",
    script:
        STAGE_SCRIPT
