# The Monte Carlo calibration harness (docs/calibration.md): not part of `all`.
#   snakemake calibration --cores all      (calibrate.reps reps of each scenario)
# Each job runs one chunk of calibrate.chunk reps, so a cluster profile fans them out.
from strostudy import calibrate as C

_ANALYSIS = {k: v for k, v in config.items() if k != "figures"}


rule calibration_chunk:
    output:
        reps=T.path("calibration_chunk"),
    params:
        config=_ANALYSIS,
    wildcard_constraints:
        scenario="|".join(C.SCENARIOS),
        chunk=r"\d+",
    resources:
        **R("calibration_chunk"),
    log:
        "logs/calibration/{scenario}_{chunk}.log",
    conda:
        "../environment.yml"
    script:
        "../scripts/calibrate_chunk.py"


rule calibration:
    input:
        [T.path("calibration_chunk").format(scenario=s, chunk=k) for s, k in C.chunks(config)],
    output:
        reps=T.path("calibration_reps"),
        summary=T.path("calibration"),
    resources:
        **R("calibration"),
    log:
        "logs/calibration/summary.log",
    conda:
        "../environment.yml"
    script:
        "../scripts/calibrate_summary.py"
