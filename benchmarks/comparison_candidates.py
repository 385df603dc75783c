"""Monte Carlo comparison of the comparison stage's subject-clustered standard errors on the same
panels (A131, A136): ``cr1`` (sandwich::vcovCL, Wald on the normal), ``cr2`` and ``cr3``
(clubSandwich's CR2 and CR3, t on Satterthwaite df) and, as a check that needs no covariance
formula, ``wcr`` (the restricted wild cluster score bootstrap of Kline and Santos 2012, Webb's
six-point weights, the pipeline's ``comparison.wild_score_test`` with the default draws and seed:
its p and its interval by test inversion, A137).

Two steps, so candidates can be added without re-running the pipeline:

    # 1. each seed simulated and run to the comparison stage; its panel (who was matched too),
    #    comparison_effects and true effects kept in DIR
    .venv/bin/python benchmarks/comparison_candidates.py collect --scenario null --seeds 5001-5400 --dir DIR
    # 2. every candidate on every saved panel (the whole-pool and matched DiD, and the naive
    #    before/after ratio), one row per seed, estimator, measure, category
    .venv/bin/python benchmarks/comparison_candidates.py evaluate --dir DIR --out ev.csv
    # 3. rates of significance (and coverage of the truth) per rule and candidate
    .venv/bin/python benchmarks/comparison_candidates.py summary ev.csv

Seeds must not be the harness's (it uses 1 onwards): this comparison chooses the setting the
harness then checks (docs/calibration.md, "Choosing the fixes (fourth round)").  Each process
uses one BLAS thread (A132); set OPENBLAS_NUM_THREADS=1 before Python starts.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import re
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

CANDIDATES = ("cr1", "cr2", "cr3")


def collect_one(args: tuple) -> int:
    scenario, seed, config_file, out = args
    out = Path(out)
    if (out / f"truth_{scenario}_{seed}.csv").exists():
        return seed
    from strostudy import calibrate, tables
    from strostudy.config import load
    from strostudy.stages import run_all

    cfg = calibrate.rep_config(load(config_file), scenario, seed)
    with tempfile.TemporaryDirectory(prefix="strostudy-cmp-") as tmp, contextlib.redirect_stderr(io.StringIO()):
        run_all(cfg, tmp, until="comparison")
        panel = pd.read_parquet(Path(tmp) / tables.path("subject_month_panel", "stro"))
        cohort = pd.read_csv(Path(tmp) / tables.path("comparison_cohort", "stro"))
        chosen = cohort.loc[cohort["matched"].astype(str) == "True", "subject_id"]
        panel.assign(matched=panel["subject_id"].isin(chosen)).to_parquet(out / f"panel_{scenario}_{seed}.parquet")
        shutil.copy(Path(tmp) / tables.path("comparison_effects", "stro"), out / f"fx_{scenario}_{seed}.csv")
        shutil.copy(Path(tmp) / tables.path("truth_effects"), out / f"truth_{scenario}_{seed}.csv")
    return seed


def evaluate_one(file: str) -> pd.DataFrame:
    from strostudy.comparison import _wald, fit_count_model, wild_score_test
    from strostudy.config import defaults

    wild = defaults()["comparison"]

    scenario, seed = re.search(r"panel_(\w+?)_(\d+)\.parquet$", file).groups()
    seed = int(seed)
    panel = pd.read_parquet(file)
    truth = pd.read_csv(Path(file).with_name(f"truth_{scenario}_{seed}.csv")).set_index(["measure", "category"])
    out = []
    # the naive ratio on the order group (the panel with custody; the pipeline's naive panel
    # counts custody days too, so under scenarios with custody this is only close to it)
    for estimator, data in (("did_all", panel), ("did_matched", panel.loc[panel["matched"]]),
                            ("naive_prepost", panel.loc[panel["group"] == "order"])):
        for measure in ("events", "harm"):
            for category in sorted(panel["category"].unique()):
                rows = data.loc[(data["category"] == category) & (data["days_at_risk"] > 0)].reset_index(drop=True)
                y = rows[measure].to_numpy(float)
                treated = (rows["group"] == "order").to_numpy(float)
                post = (rows["month"] >= 0).to_numpy(float)
                if pd.Series(y).groupby([treated, post]).sum().le(0).any():
                    continue   # an empty cell: the pipeline fits no model (A98)
                X = (np.column_stack([np.ones(len(rows)), post]) if estimator == "naive_prepost"
                     else np.column_stack([np.ones(len(rows)), treated, post, treated * post]))
                offset = np.log(rows["days_at_risk"].to_numpy(float))
                held = (rows.assign(t=treated, p=post).groupby(["t", "p", "subject_id"])[measure].sum() > 0) \
                    .groupby(level=[0, 1]).sum()
                target = truth["true_rate_ratio"].get((measure, category), np.nan)
                r = {"scenario": scenario, "seed": seed, "estimator": estimator, "measure": measure,
                     "category": category, "target": target, "treated_after": int(held.get((1, 1), 0)),
                     "treated_before": int(held.get((1, 0), 0))}
                for se in CANDIDATES:
                    fit = fit_count_model(y, X, offset, rows["subject_id"], "poisson", standard_errors=se)
                    w = _wald(fit.beta[-1], fit.se[-1], 0.95, fit.df[-1])   # the pipeline's own interval and p
                    r |= {f"{se}_{k}": w[k] for k in ("estimate", "se", "df", "p_value")}
                    r[f"{se}_covered"] = (float(w["ci_low"] <= target <= w["ci_high"]) if np.isfinite(target)
                                          else np.nan)
                if estimator != "naive_prepost":   # the wild test is the naive ratio's choice (A137)
                    out.append(r)
                    continue
                # the pipeline's own test and interval, with its draws and seed (A137)
                wcr = wild_score_test(y, X, offset, rows["subject_id"], np.log(r["cr1_estimate"]),
                                      draws=wild["wild_draws"], seed=wild["wild_seed"])
                r |= {"wcr_p": wcr["p_value"], "wcr_ci_low": wcr["ci_low"], "wcr_ci_high": wcr["ci_high"],
                      "wcr_covered": (float(wcr["ci_low"] <= target <= wcr["ci_high"]) if np.isfinite(target)
                                      else np.nan)}
                out.append(r)
    return pd.DataFrame(out)


def _pool(fn, jobs, cores: int, what: str):
    got = []
    with ProcessPoolExecutor(cores) as pool:
        for i, part in enumerate(pool.map(fn, jobs), 1):
            got.append(part)
            if i % 25 == 0 or i == len(jobs):
                print(f"{what}: {i}/{len(jobs)}", file=sys.stderr, flush=True)
    return got


def summary(ev: pd.DataFrame, alpha: float = 0.05) -> None:
    from strostudy.calibrate import _exact_ci

    ev = ev.assign(rule=ev["estimator"] + "_" + ev["measure"] + "_" + ev["category"])
    names = [*CANDIDATES, "wcr"]
    for scenario, s in ev.groupby("scenario"):
        # a candidate not fitted to a rule (wcr: the naive ratio's only) is empty there, not 0%
        sig = pd.DataFrame({c: (p < alpha).astype("float64").where(p.notna())
                            for c in names for p in [s[f"{c}_p_value" if c in CANDIDATES else f"{c}_p"]]}) \
            .assign(rule=s["rule"])
        by = sig.groupby("rule")
        table = by.mean().mul(100).round(1)
        for c in names:
            n = by[c].count().to_numpy()
            table[f"{c}_low"] = np.where(n > 0, (100 * _exact_ci(by[c].sum().to_numpy(), np.maximum(n, 1))[0]).round(1),
                                         np.nan)
        table["reps"] = by.size()
        print(f"\n{scenario}: % significant per rule (exact 95% lower bound beside)")
        with pd.option_context("display.width", 220, "display.max_rows", 200, "display.max_columns", 20):
            print(table[[x for c in names for x in (c, f"{c}_low")] + ["reps"]])
        for label, part in (("every rule", sig), ("naive before/after", sig.loc[s["estimator"] == "naive_prepost"]),
                            ("difference in differences", sig.loc[s["estimator"] != "naive_prepost"])):
            pooled = part[names].mean().mul(100).round(2)
            print(f"pooled over {len(part)} model fits, {label}: "
                  + ", ".join(f"{c} {v}%" for c, v in pooled.items() if pd.notna(v)))
        for label, part in (("naive before/after", s.loc[s["estimator"] == "naive_prepost"]),
                            ("difference in differences", s.loc[s["estimator"] != "naive_prepost"])):
            cov = {c: part[f"{c}_covered"].mean() for c in names
                   if f"{c}_covered" in part and part[f"{c}_covered"].notna().any()}
            if cov:
                print(f"coverage of the true ratio, {label}: "
                      + ", ".join(f"{c} {100 * v:.2f}%" for c, v in cov.items()))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--scenario", default="null")
    c.add_argument("--seeds", default="5001-5400", help="first-last")
    c.add_argument("--config", default="config.yaml")
    c.add_argument("--dir", required=True)
    c.add_argument("--cores", type=int, default=2)
    e = sub.add_parser("evaluate")
    e.add_argument("--dir", required=True)
    e.add_argument("--scenario", default="*")
    e.add_argument("--out", required=True)
    e.add_argument("--cores", type=int, default=2)
    s = sub.add_parser("summary")
    s.add_argument("evaluated", nargs="+")
    a = ap.parse_args(argv)
    if a.step == "collect":
        Path(a.dir).mkdir(parents=True, exist_ok=True)
        lo, hi = (int(x) for x in a.seeds.split("-"))
        _pool(collect_one, [(a.scenario, seed, a.config, a.dir) for seed in range(lo, hi + 1)], a.cores, "collect")
    elif a.step == "evaluate":
        files = sorted(glob.glob(str(Path(a.dir) / f"panel_{a.scenario}_*.parquet")))
        pd.concat(_pool(evaluate_one, files, a.cores, "evaluate"), ignore_index=True).to_csv(a.out, index=False)
    else:
        summary(pd.concat([pd.read_csv(f, keep_default_na=False, na_values=[""]) for f in a.evaluated],
                          ignore_index=True))


if __name__ == "__main__":
    main()
