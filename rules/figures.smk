# Publication figures from data/processed alone: `snakemake figures` rebuilds just these.

FIGURES = ["study_flow", "prepost_totals", "paired_subjects", "monthly_its", "source_agreement", "residual_acf"]


rule figures:
    input:
        flow="data/processed/cohort_flow.csv",
        tests="data/processed/prepost_tests.csv",
        windows="data/processed/subject_windows.csv",
        monthly="data/processed/monthly_series.csv",
        its_models="data/processed/its_models.csv",
        its_diagnostics="data/processed/its_diagnostics.csv",
        discrepancies="data/processed/discrepancies.csv",
    output:
        **{
            f"{name}_png": report(f"figures/{name}.png", caption=f"../src/strostudy/templates/captions/{name}.rst", category="Figures")
            for name in FIGURES
        },
        **{f"{name}_pdf": f"figures/{name}.pdf" for name in FIGURES},
    params:
        config=config,
    conda:
        "../environment.yml"
    log:
        "logs/figures.log",
    script:
        "../scripts/figures.py"
