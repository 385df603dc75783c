# Interrupted time-series and trend models of the monthly series.

rule its:
    input:
        monthly="data/processed/monthly_series.csv",
    output:
        models="data/processed/its_models.csv",
        diagnostics="data/processed/its_diagnostics.csv",
        summary="data/processed/its_summary.csv",
    params:
        config=config,
    conda:
        "../environment.yml"
    log:
        "logs/its.log",
    script:
        "../scripts/its.py"
