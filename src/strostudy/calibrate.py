"""The Monte Carlo calibration harness: how often each decision of the report is made when
the truth is known.

A *rep* simulates the raw extracts of one scenario with one seed (:mod:`strostudy.simulate`)
and runs the pipeline's own stages on them, in a working directory of its own, from ingest to
the ``decisions`` table (:mod:`strostudy.decisions`): the same functions, config and files as
``snakemake``, figures and report aside.  Across reps, a decision's rate of being significant
is its false-positive rate where the scenario plants no effect on it, and its power where it
does; an interval's coverage is how often it holds the true value the simulator planted
(``data/truth/effects.csv``).

``strostudy calibrate --scenario null --reps 1000 --out DIR`` runs reps in this process (or
``--cores`` processes); the Snakemake target ``calibration`` runs them as workflow jobs, one
per chunk of reps, so a cluster fans them out (docs/calibration.md).
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

SCENARIOS = ["published", "null", "rtm", "incapacitation", "calendar_shock", "effect"]
REP_COLUMNS = ["scenario", "rep", "seed", "rule", "test", "measure", "category", "significant", "estimate",
               "ci_low", "ci_high", "null_value", "target", "covered", "note"]
SUMMARY_COLUMNS = ["scenario", "rule", "test", "measure", "category", "n_reps", "rate", "rate_ci_low", "rate_ci_high",
                   "mean_estimate", "target", "n_intervals", "coverage", "coverage_ci_low", "coverage_ci_high"]
#: Where a rep's decisions come from: the workflow's stages up to this one.
LAST_STAGE = "decisions"


def rep_config(config: dict, scenario: str, seed: int) -> dict:
    """The config of one rep: the analysis choices as given, the extracts simulated under
    ``scenario`` with ``seed``."""
    if scenario not in SCENARIOS:
        from .errors import StrostudyError

        raise StrostudyError(f"unknown scenario '{scenario}': use one of {', '.join(SCENARIOS)}")
    cfg = copy.deepcopy(config)
    cfg.update(source="synthetic", seed=int(seed), scenario=scenario)
    return cfg


def count_measures(config: dict) -> list[str]:
    """The measures whose primary time-series model is a count model (log link on the monthly
    total), so that its level change estimates the rate ratio the simulator plants."""
    from .its import COUNT_FAMILIES, MODELS

    family = {name: kind for pairs in MODELS.values() for name, kind in pairs}
    return [m for m, model in config["its"]["primary"].items() if family[model] in COUNT_FAMILIES]


def targets(decisions: pd.DataFrame, effects: pd.DataFrame, counts: list[str] | tuple = ("events", "harm")) -> pd.Series:
    """The true value each decision's estimate and interval aim at, where the truth defines
    one (NaN elsewhere):

    - ``reduction_<m>_<c>``: the percentage reduction ``100 (1 - true rate ratio)``;
    - ``its_level_<m>_<c>``: the true rate ratio (a step at the order on the count scale), for
      the measures in ``counts`` (:func:`count_measures`);
    - ``its_slope_<m>_<c>``: 1 (the simulator plants no change of slope), likewise;
    - ``naive_prepost``, ``did_matched``, ``did_all`` (the comparison stage): the true rate ratio
      of the order, which the naive ratio misses wherever the scenario moves arrests without it.

    A measure modelled on log(1 + y) has a ratio of geometric means, not the rate ratio, so its
    time-series terms get no target; nor does the Hodges-Lehmann median change.
    """
    ratio = effects.set_index(["measure", "category"])["true_rate_ratio"]
    key = pd.MultiIndex.from_frame(decisions[["measure", "category"]])
    true_ratio = pd.Series(ratio.reindex(key).to_numpy(), index=decisions.index)
    test = decisions["test"]
    counted = decisions["measure"].isin(list(counts))
    rate_ratio = test.isin(["naive_prepost", "did_matched", "did_all"])
    return pd.Series(np.select(
        [test == "reduction", (test == "its_level") & counted, (test == "its_slope") & counted, rate_ratio],
        [100 * (1 - true_ratio), true_ratio, np.where(true_ratio.notna(), 1.0, np.nan), true_ratio], np.nan),
        index=decisions.index)


def rep(scenario: str, seed: int, config: dict, workdir: str | Path, rep_number: int = 0) -> pd.DataFrame:
    """Run one rep in ``workdir`` (which it fills); its decisions, with targets and coverage."""
    import contextlib
    import io

    from . import tables
    from .stages import run_all
    from .studies import names

    work = Path(workdir)
    quiet = io.StringIO()
    study = names(config)[0]   # the synthetic extracts' calibrated study (the first)
    with contextlib.redirect_stderr(quiet):
        run_all(rep_config(config, scenario, seed), work, until=LAST_STAGE, studies=[study])
    d = tables.read("decisions", work / tables.path("decisions", study))
    effects = pd.read_csv(work / tables.path("truth_effects"))
    # `published` fixes the cohort's totals by design: its ratio is the sample's, not a
    # parameter an interval could miss, and its fall is gradual, not a step (docs/calibration.md).
    target = targets(d, effects, count_measures(config)) if scenario != "published" else pd.Series(np.nan, index=d.index)
    covered = (d["ci_low"] <= target) & (target <= d["ci_high"])
    out = d.assign(scenario=scenario, rep=int(rep_number), seed=int(seed), target=target,
                   covered=covered.where(target.notna() & d["ci_low"].notna() & d["ci_high"].notna()))
    return out[REP_COLUMNS]


def run_reps(scenario: str, seeds: list[int], config: dict, first_rep: int = 0, progress=None) -> pd.DataFrame:
    """Reps for ``seeds`` one after another, each in a temporary folder removed afterwards."""
    import tempfile

    parts = []
    for i, seed in enumerate(seeds):
        with tempfile.TemporaryDirectory(prefix="strostudy-rep-") as tmp:
            parts.append(rep(scenario, seed, config, tmp, first_rep + i))
        if progress is not None:
            progress(i + 1, len(seeds))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REP_COLUMNS)


def _exact_ci(k: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson interval of k successes in n, as R's ``binom.test(k, n)$conf.int``."""
    from scipy import stats

    a = (1 - level) / 2
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        low = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        high = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def summarise(reps: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and rule: how often it was significant, with its exact 95% interval; the
    mean estimate; and, where the truth defines a target, the intervals' coverage."""
    r = reps.assign(significant=reps["significant"].astype(bool),
                    has_interval=reps["covered"].notna(),
                    covered_=reps["covered"].fillna(False).astype(bool))
    g = r.groupby(["scenario", "rule"], sort=True)
    out = g.agg(test=("test", "first"), measure=("measure", "first"), category=("category", "first"),
                n_reps=("seed", "size"), hits=("significant", "sum"), mean_estimate=("estimate", "mean"),
                target=("target", "mean"), n_intervals=("has_interval", "sum"), n_covered=("covered_", "sum"))
    out = out.reset_index()
    out["rate"] = out["hits"] / out["n_reps"]
    out["rate_ci_low"], out["rate_ci_high"] = _exact_ci(out["hits"], out["n_reps"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["coverage"] = np.where(out["n_intervals"] > 0, out["n_covered"] / out["n_intervals"].clip(lower=1), np.nan)
    out["coverage_ci_low"], out["coverage_ci_high"] = _exact_ci(out["n_covered"], out["n_intervals"])
    return out[SUMMARY_COLUMNS].astype({"n_reps": int, "n_intervals": int})


def write(reps: pd.DataFrame, out_dir: str | Path) -> tuple[Path, Path]:
    """``calibration_reps.csv`` and ``calibration.csv`` in ``out_dir`` (rows in a fixed order)."""
    from .tables import path, write_csv_file

    out = Path(out_dir)
    ordered = reps.sort_values(["scenario", "rep", "rule"], kind="stable").reset_index(drop=True)
    return (write_csv_file(ordered, out / Path(path("calibration_reps")).name),
            write_csv_file(summarise(ordered), out / Path(path("calibration")).name))


def _chunk(args: tuple) -> pd.DataFrame:
    scenario, seeds, config, first = args
    return run_reps(scenario, seeds, config, first)


def cli(args) -> None:
    """``strostudy calibrate``: N reps of one scenario, in ``--cores`` processes."""
    from .config import load
    from .errors import StrostudyError

    config = load(args.config)
    if args.reps < 1:
        raise StrostudyError("--reps must be at least 1")
    rep_config(config, args.scenario, 0)  # an unknown scenario stops here, in one line
    first = config["calibrate"]["seed"] if args.seed is None else args.seed
    seeds = [first + i for i in range(args.reps)]
    cores = max(1, int(args.cores))
    t0 = time.perf_counter()
    print(f"Calibrating: {args.reps} reps of scenario {args.scenario} (seeds {seeds[0]}..{seeds[-1]}) "
          f"on {cores} core(s) ...", file=sys.stderr, flush=True)
    size = max(1, min(int(config["calibrate"]["chunk"]), -(-len(seeds) // cores)))
    jobs = [(args.scenario, seeds[i:i + size], config, i) for i in range(0, len(seeds), size)]
    parts, done = [], 0
    if cores == 1:
        for job in jobs:
            parts.append(_chunk(job))
            done += len(job[1])
            _progress(done, len(seeds), t0)
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(cores) as pool:
            for part in pool.imap(_chunk, jobs):
                parts.append(part)
                done += part["seed"].nunique()
                _progress(done, len(seeds), t0)
    reps_file, summary_file = write(pd.concat(parts, ignore_index=True), args.out)
    print(f"Wrote {reps_file} and {summary_file} ({time.perf_counter() - t0:.0f}s).", file=sys.stderr)


def _progress(done: int, total: int, t0: float) -> None:
    elapsed = time.perf_counter() - t0
    left = elapsed / done * (total - done) if done else float("nan")
    print(f"strostudy: {done} of {total} reps ({elapsed:.0f}s, about {left:.0f}s left)", file=sys.stderr, flush=True)


def run_chunk(inputs: dict, output: dict, config: dict, scenario: str, seeds: list[int], first_rep: int,
              log: str | None = None) -> pd.DataFrame:
    """The workflow's ``calibration_chunk`` rule: one chunk of reps, written as CSV."""
    from .stages import say
    from .tables import write_csv_file

    t0 = time.perf_counter()
    reps = run_reps(scenario, seeds, config, first_rep)
    write_csv_file(reps, output["reps"])
    say(f"calibration {scenario}: reps {first_rep}..{first_rep + len(seeds) - 1} ({time.perf_counter() - t0:.0f}s)",
        log)
    return reps


def chunks(config: dict) -> list[tuple[str, int]]:
    """Every (scenario, chunk number) the ``calibration`` target runs."""
    size = int(config["calibrate"]["chunk"])
    return [(s, k) for s, n in config["calibrate"]["reps"].items() for k in range(-(-int(n) // size))]


def chunk_seeds(config: dict, scenario: str, chunk: int) -> tuple[list[int], int]:
    """The seeds of one chunk and the number of its first rep."""
    size, n = int(config["calibrate"]["chunk"]), int(config["calibrate"]["reps"][scenario])
    first = chunk * size
    return [int(config["calibrate"]["seed"]) + i for i in range(first, min(first + size, n))], first


def above_alpha(summary: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """For each rule of a scenario with no effect (:data:`NO_EFFECT`; headline ticks aside):
    the one-sided exact binomial p of "its false-positive rate exceeds alpha" (R's
    ``binom.test(hits, n_reps, alpha, alternative = "greater")``) and that p Holm-adjusted over
    the scenario's rules (R's ``p.adjust(p, "holm")``).  With a hundred rules, a few intervals
    lie wholly above alpha by chance alone; the Holm column is the reading that allows for that
    (docs/calibration.md, "Reading the tables")."""
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    s = summary.loc[summary["scenario"].isin(NO_EFFECT) & (summary["test"] != "headline")]
    out = s[["scenario", "rule"]].copy()
    hits = (s["rate"] * s["n_reps"]).round()
    out["p_above_alpha"] = stats.binom.sf(hits - 1, s["n_reps"], alpha)
    out["p_holm"] = out.groupby("scenario")["p_above_alpha"].transform(
        lambda p: multipletests(p.to_numpy(), method="holm")[1])
    return out.reset_index(drop=True)


def markdown(summary: pd.DataFrame, alpha: float = 0.05) -> str:
    """The calibration tables of docs/calibration.md: per scenario, each rule's rate of
    significance (false-positive rate where the scenario plants nothing on it, power where it
    does) with its exact 95% interval, and each interval's coverage of its target.  A rule of
    a scenario with no effect is marked "above alpha" when its interval lies wholly above
    alpha, and "above alpha (Holm)" when, besides, the Holm-adjusted one-sided test of its rate
    against alpha rejects (:func:`above_alpha`)."""
    def pct(v):
        return "" if pd.isna(v) else f"{100 * v:.1f}"

    holm = above_alpha(summary, alpha).set_index(["scenario", "rule"])["p_holm"]
    lines = []
    for scenario, s in summary.groupby("scenario", sort=False):
        n = int(s["n_reps"].max())
        lines += [f"### {scenario} ({n} reps)", "",
                  "| rule | significant % | 95% interval | coverage % | 95% interval | target |",
                  "|---|---:|---|---:|---|---:|"]
        for r in s.itertuples():
            above = scenario in NO_EFFECT and r.test != "headline" and r.rate_ci_low > alpha
            flag = "" if not above else (" **(above alpha, Holm)**" if holm.get((scenario, r.rule), 1.0) < alpha
                                         else " **(above alpha)**")
            cov = "" if r.n_intervals == 0 else f"{pct(r.coverage_ci_low)}–{pct(r.coverage_ci_high)}"
            target = "" if pd.isna(r.target) else f"{r.target:.4g}"
            lines.append(f"| `{r.rule}` | {pct(r.rate)}{flag} | {pct(r.rate_ci_low)}–{pct(r.rate_ci_high)} | "
                         f"{pct(r.coverage) if r.n_intervals else ''} | {cov} | {target} |")
        lines.append("")
    return "\n".join(lines)


#: Scenarios in which the order has no effect at all.
NO_EFFECT = ["null", "rtm", "incapacitation", "calendar_shock"]
