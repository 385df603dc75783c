# Read and validate the extracts: every row kept, or quarantined with the check it failed.

rule ingest:
    input:
        **T.inputs("ingest"),
    output:
        **outputs("ingest"),
    params:
        config=cfg("ingest", "study.extraction_date"),
    conda:
        "../environment.yml"
    log:
        "logs/ingest.log",
    script:
        STAGE_SCRIPT
