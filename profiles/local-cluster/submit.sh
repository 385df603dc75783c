#!/usr/bin/env bash
# A stand-in for a cluster's submit command (sbatch, qsub): Snakemake's generic cluster
# executor hands it one job script per job, which runs here as a separate process.  Used by
# tests/test_cluster.py to prove every rule runs as its own submitted job.
set -euo pipefail
jobscript="${@: -1}"
log_dir="${STROSTUDY_SUBMIT_LOG:-.snakemake/submitted}"
mkdir -p "$log_dir"
echo "$jobscript" >> "$log_dir/submitted.txt"
bash "$jobscript"
echo "local-$$"
