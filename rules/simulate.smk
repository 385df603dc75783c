# The synthetic default: calibrated extracts in data/raw/ and their truth in data/truth/.
# With `source: extracts` this rule does not exist and data/raw/ is read as it is.

if config["source"] == "synthetic":

    rule simulate:
        output:
            orders=RAW_TABLES["orders"],
            pnc_arrests=RAW_TABLES["pnc_arrests"],
            pnd_records=RAW_TABLES["pnd_records"],
            rocu=directory(RAW_ROCU),
            # Named files, not directory(): Snakemake empties a directory output before the
            # rule runs, which would delete data/truth/README.md.
            truth=expand("data/truth/{name}.csv", name=TRUTH_TABLES),
        params:
            seed=config["seed"],
            orders=config["synthetic_orders"],
            study=config["study"],
        conda:
            "../environment.yml"
        log:
            "logs/simulate.log",
        script:
            "../scripts/simulate.py"
