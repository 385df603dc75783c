# The cohort (full windows, exclusions), per-subject windows, monthly series and paired tests.

rule cohort:
    input:
        orders="data/processed/orders.csv",
        events="data/processed/events.csv",
    output:
        flow="data/processed/cohort_flow.csv",
        cohort="data/processed/cohort.csv",
        windows="data/processed/subject_windows.csv",
        monthly="data/processed/monthly_series.csv",
        tests="data/processed/prepost_tests.csv",
        correlations="data/processed/correlations.csv",
    params:
        config=config,
    conda:
        "../environment.yml"
    log:
        "logs/cohort.log",
    script:
        "../scripts/cohort.py"
