"""Monte Carlo comparison of the comparison stage's subject-clustered standard errors (A131):
``cr1`` (sandwich::vcovCL, Wald on the normal; the default until issue 12's third round) against
``cr2`` (clubSandwich's CR2 with Satterthwaite t).  The harness (docs/calibration.md) found two
of the comparison stage's category decisions above alpha under ``null`` with ``cr1``.

For each seed the scenario is simulated and run to the comparison stage with ``cr1``, then the
comparison stage alone is re-run with ``cr2`` on the same tables, so both see the same data.
It writes the long table ``--out`` (scenario, seed, standard_errors, rule, significant,
covered) and prints, per rule family and standard errors, the rate of significant calls and of
intervals covering the truth, with exact 95% intervals.  Seeds should not be the harness's
(which uses 1 onwards): this comparison chooses the setting the harness then checks.

    .venv/bin/python benchmarks/comparison_candidates.py --scenario null --seeds 5001-5200 --cores 2 --out cmp.csv
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats


def one(args: tuple) -> pd.DataFrame:
    scenario, seed, config = args
    from strostudy import calibrate, tables
    from strostudy.stages import run_all, run_stage

    out = []
    with tempfile.TemporaryDirectory(prefix="strostudy-cmp-") as tmp, contextlib.redirect_stderr(io.StringIO()):
        cfg = calibrate.rep_config(config, scenario, seed)
        truth = None
        for se in ("cr1", "cr2"):
            cfg = copy.deepcopy(cfg)
            cfg["comparison"]["standard_errors"] = se
            if se == "cr1":
                run_all(cfg, tmp, until="comparison")
                truth = pd.read_csv(Path(tmp) / tables.path("truth_effects"))
            else:
                run_stage("comparison", cfg, tmp)
            fx = pd.read_csv(Path(tmp) / tables.path("comparison_effects"), keep_default_na=False, na_values=[""])
            t = fx.merge(truth.rename(columns={"true_rate_ratio": "target"}), on=["measure", "category"], how="left")
            target = t["target"]   # the order's true rate ratio, as the harness's calibrate.targets
            fitted = t["estimate"].notna()
            out.append(pd.DataFrame({
                "scenario": scenario, "seed": seed, "standard_errors": se,
                "rule": t["estimator"] + "_" + t["measure"] + "_" + t["category"],
                "significant": (fitted & ((t["ci_low"] > 1) | (t["ci_high"] < 1))).astype(int),
                "covered": ((t["ci_low"] <= target) & (target <= t["ci_high"])).where(fitted).astype("float"),
            }))
    return pd.concat(out, ignore_index=True)


def exact(k, n, level=0.95):
    a = (1 - level) / 2
    lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
    hi = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    return lo, hi


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default="null")
    ap.add_argument("--seeds", default="5001-5200", help="first-last")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    from strostudy.config import load

    config = load(a.config)
    lo, hi = (int(x) for x in a.seeds.split("-"))
    jobs = [(a.scenario, s, config) for s in range(lo, hi + 1)]
    parts = []
    with ProcessPoolExecutor(a.cores) as pool:
        for i, part in enumerate(pool.map(one, jobs), 1):
            parts.append(part)
            if i % 20 == 0:
                print(f"{i}/{len(jobs)} seeds", file=sys.stderr, flush=True)
    reps = pd.concat(parts, ignore_index=True)
    reps.to_csv(a.out, index=False)
    g = reps.groupby(["standard_errors", "rule"]).agg(n=("significant", "size"), k=("significant", "sum"),
                                                      cov=("covered", "mean")).reset_index()
    g["rate"] = g["k"] / g["n"]
    g["low"], g["high"] = exact(g["k"].to_numpy(), g["n"].to_numpy())
    wide = g.pivot(index="rule", columns="standard_errors", values=["rate", "low", "cov"])
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(wide.round(3))
    pooled = reps.assign(family=reps["rule"].str.split("_").str[:-2].str.join("_"))
    print(pooled.groupby(["standard_errors", "family"]).agg(rate=("significant", "mean"), covered=("covered", "mean"),
                                                             n=("significant", "size")).round(4))


if __name__ == "__main__":
    main()
