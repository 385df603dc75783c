# The synthetic default: calibrated extracts in data/raw/ and their planted truth in data/truth/
# (truth as named files, not a directory, which Snakemake would empty of its README).
# With `source: extracts` this rule does not exist and data/raw/ is read as it is.

if config["source"] == "synthetic":

    rule simulate:
        output:
            **outputs("simulate"),
        params:
            config=cfg("seed", "synthetic_orders", "synthetic_comparison_ratio", "synthetic_order_types",
                       "synthetic_two_order_share", "scenario", "study.earliest_reliable_date", "study.extraction_date",
                       "study.window_months"),
        conda:
            "../environment.yml"
        resources:
            **R("simulate", orders=config["synthetic_orders"]),
        benchmark:
            "logs/benchmarks/simulate.tsv",
        log:
            "logs/simulate.log",
        script:
            STAGE_SCRIPT
