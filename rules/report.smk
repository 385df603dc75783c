# The results report: self-contained HTML and Markdown.

rule report:
    input:
        unpack(raw_provenance),
        orders="data/processed/orders.csv",
        events="data/processed/events.csv",
        ledger="data/processed/audit_ledger.csv",
        discrepancies="data/processed/discrepancies.csv",
        unknown_codes="data/processed/unknown_codes.csv",
        flow="data/processed/cohort_flow.csv",
        windows="data/processed/subject_windows.csv",
        tests="data/processed/prepost_tests.csv",
        correlations="data/processed/correlations.csv",
        its_models="data/processed/its_models.csv",
        its_summary="data/processed/its_summary.csv",
        figures=expand("figures/{name}.{ext}", name=FIGURES, ext=["png", "pdf"]),
        its_diagnostics="data/processed/its_diagnostics.csv",
    output:
        html="reports/results.html",
        md="reports/results.md",
    params:
        config=config,
    conda:
        "../environment.yml"
    log:
        "logs/report.log",
    script:
        "../scripts/report.py"
