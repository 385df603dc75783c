# Validate and clean the extracts, link people, build order episodes and arrest events.

rule reconcile:
    input:
        unpack(raw_inputs),
    output:
        orders="data/processed/orders.csv",
        discrepancies="data/processed/discrepancies.csv",
        events="data/interim/events.parquet",
        offences="data/interim/event_offences.parquet",
        outcomes="data/interim/row_outcomes.parquet",
        rows_read="data/interim/rows_read.json",
        links="data/interim/links.parquet",
        quarantine=directory("data/interim/quarantine"),
        clean=directory("data/interim/clean"),
    params:
        config=config,
    conda:
        "../environment.yml"
    log:
        "logs/reconcile.log",
    script:
        "../scripts/reconcile.py"


rule harm:
    input:
        events="data/interim/events.parquet",
        offences="data/interim/event_offences.parquet",
        outcomes="data/interim/row_outcomes.parquet",
        rows_read="data/interim/rows_read.json",
    output:
        events="data/processed/events.csv",
        unknown_codes="data/processed/unknown_codes.csv",
        ledger="data/processed/audit_ledger.csv",
        quarantine="data/interim/quarantine_harm.csv",
    params:
        harm=config["harm"],
        categories=config["categories"],
    conda:
        "../environment.yml"
    log:
        "logs/harm.log",
    script:
        "../scripts/harm.py"
