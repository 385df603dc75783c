# Link people across the order list, PNC, PND and ROCU; one episode per order subject; arrest
# events with the systems merged; every disagreement logged.  Identifiers stop here.

rule reconcile:
    input:
        # With the analyst's linkage decisions when that file exists (tables.OPTIONAL_INPUTS),
        # so a new or edited decisions file re-runs reconcile.
        **T.inputs("reconcile"),
    output:
        **outputs("reconcile"),
    params:
        config=cfg("source", "reconcile", "study.window_months", "study.earliest_reliable_date",
                   "study.extraction_date"),
        # A new key must re-run reconcile, so that no subject id made under the old key survives.
        key_fingerprint=fingerprint_for(config["source"]),
    conda:
        "../environment.yml"
    resources:
        **R("reconcile"),
    benchmark:
        "logs/benchmarks/reconcile.tsv",
    log:
        "logs/reconcile.log",
    script:
        STAGE_SCRIPT
