# Read and validate the extracts: every row kept, or quarantined with the check it failed.

rule ingest:
    input:
        **T.inputs("ingest", source=config["source"]),
        # Real extracts: each workbook too, not only the folder, so editing one in place re-runs
        # the workflow.  (Synthetic workbooks are the simulate rule's own output.)
        rocu_workbooks=sorted(str(p) for p in Path(T.path("raw_rocu")).glob("*.xlsx") if not p.name.startswith("~$"))
        if config["source"] == "extracts" else [],
    output:
        **outputs("ingest"),
    params:
        config=cfg("ingest", "study.extraction_date"),
    conda:
        "../environment.yml"
    resources:
        **R("ingest"),
    benchmark:
        "logs/benchmarks/ingest.tsv",
    log:
        "logs/ingest.log",
    script:
        STAGE_SCRIPT
