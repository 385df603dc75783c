"""Monte Carlo study of the time-series decisions at n = 24-48 months (docs/its.md).

Simulates monthly series like the pipeline's (48 months on the subjects' own clocks, the order
at month 0) under scenarios with no interruption, and with a known one, fits them with the
pipeline's own functions (:mod:`strostudy.its`) and counts how often each decision is
significant under each standard-error type.  Prints the tables of docs/its.md and writes
every rep to ``--out``.

    .venv/bin/python benchmarks/its_inference.py --reps 400 --placebo-reps 80 --out /tmp/its_mc

The data-generating process is written here, independently of the pipeline:

* log mean = log(level) + u_t [+ 0.25 cos(2 pi (t + c) / 12), c uniform per rep] [+ effect],
  u_t a stationary AR(1) with coefficient phi and standard deviation 0.2 ("poisson") or 0.3
  ("negbin");
* arrests ~ Poisson(mean) ("poisson") or Poisson(Gamma(3, mean / 3)) ("negbin", variance
  mean + mean^2 / 3);
* harm = the sum over a month's arrests of independent lognormal(3, 1.5) scores.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from strostudy import its
from strostudy.config import defaults

MONTHS = np.arange(-24, 24)
METHODS = ["model", "hac", "fixedb", "ar1"]
LEVELS, PHIS, COUNTS, SEASONS = (2, 6, 15), (0.0, 0.3, 0.6), ("poisson", "negbin"), (False, True)
KIND = {"events": "quasipoisson", "harm": "loglinear"}
#: Scenarios with a planted change at month 0 (log-scale level step, log-scale slope change
#: per month) or a break inside the before period (month -12): power.
EFFECTS = {"step": (np.log(0.6), 0.0, 0), "gradual": (0.0, -0.03, 0), "before_break": (np.log(0.6), 0.0, -12)}


def simulate(rng, level, phi, counts, season, reps, effect=(0.0, 0.0, 0), sd=None):
    """(arrests, harm), each reps x 48."""
    n = len(MONTHS)
    sd = sd or (0.2 if counts == "poisson" else 0.3)
    e = rng.standard_normal((reps, n))
    u = np.empty((reps, n))
    u[:, 0] = sd * e[:, 0]
    for t in range(1, n):
        u[:, t] = phi * u[:, t - 1] + np.sqrt(1 - phi * phi) * sd * e[:, t]
    if season:
        u += 0.25 * np.cos(2 * np.pi * (MONTHS[None, :] + rng.uniform(0, 12, (reps, 1))) / 12)
    step, slope, at = effect
    after = MONTHS >= at
    u += step * after + slope * (MONTHS - at) * after
    mean = level * np.exp(u - sd * sd / 2)
    arrests = rng.poisson(mean if counts == "poisson" else rng.gamma(3.0, mean / 3.0)).astype(float)
    most = int(arrests.max()) + 1
    scores = np.exp(rng.normal(3.0, 1.5, (reps, n, most)))
    harm = (scores * (np.arange(most)[None, None, :] < arrests[..., None])).sum(-1)
    return arrests, harm


def _placebo(y, kind, cfg, inf, min_segment: int) -> dict:
    """The pipeline's placebo rule under each method: Bonferroni over every feasible fake month
    of the before period and both terms."""
    before = MONTHS < 0
    ps = {m: [] for m in METHODS}
    if (y[before] > 0).sum() >= 6:
        for fake in its.placebo_months(MONTHS, min_segment):
            if its.fit_problem(y[before], MONTHS[before], kind, fake):
                continue
            try:
                g = its.segmented_fit(y[before], MONTHS[before], kind, cfg, interruption=fake)
                got = {m: list(its.contrast_inference(g, m, inf, np.eye(4)[[2, 3]])["p_value"]) for m in METHODS}
            except its.NotFitted:  # the pipeline skips such a fake month too
                continue
            for m in METHODS:
                ps[m] += got[m]
    out = {m: min(1.0, min(ps[m]) * len(ps[m])) if ps[m] else 1.0 for m in METHODS}
    both = [max(a, b) for a, b in zip(ps["model"], ps["hac"])]
    out["both"] = min(1.0, min(both) * len(both)) if both else 1.0
    return out


#: What analyse() computes: the level, slope and post-trend tests and Mann-Kendall ("terms"),
#: the residual diagnostics and seasonality ("diagnostics"), the placebo rule with 3 months
#: (the default) or 6 months kept on each side of a fake month ("placebo", "placebo6").
PARTS = ("terms", "diagnostics", "placebo", "placebo6")


def analyse(y, kind, cfg, inf, parts) -> dict:
    """Every decision's p for one series under each method."""
    f = its.segmented_fit(y, MONTHS, kind, cfg)
    out = {}
    if "terms" in parts:
        c_trend = np.zeros(len(f.terms))
        c_trend[[1, 3]] = 1
        C = np.vstack([np.eye(len(f.terms))[[2, 3]], c_trend])
        for m in METHODS:
            p = its.contrast_inference(f, m, inf, C)["p_value"]
            out[f"level_{m}"], out[f"slope_{m}"], out[f"posttrend_{m}"] = p
        for m in ("level", "slope", "posttrend"):
            out[f"{m}_both"] = max(out[f"{m}_model"], out[f"{m}_hac"])
        post = MONTHS >= 0
        out["mk_classical"] = its.mann_kendall(y[post])["p_value"]
        out["mk_hamed_rao"] = its.mann_kendall(y[post], hamed_rao=True)["p_value"]
    if "diagnostics" in parts:
        season = its.seasonality_test(f, MONTHS, cfg, inf, METHODS)["tests"]
        for m in METHODS:
            out[f"seasonality_{m}"] = season[m][1]
        out["seasonality_both"] = max(out["seasonality_model"], out["seasonality_hac"])
        lb = its.ljung_box(f.resid, [6, 12]).set_index("lag")["p_value"]
        out["ljungbox6"], out["ljungbox12"] = lb[6], lb[12]
        out["ljungbox12_sim"] = its.ljung_box_simulated(f, 12, int(cfg["ljung_box_draws"]), int(cfg["seed"]))[1]
        out["ljungbox12_ar1"] = its.ljung_box(its.fit_ar1(f).whitened, [12])["p_value"].iloc[0]
        out["phi_hat"] = its.fit_ar1(f).phi
    for part, segment in (("placebo", 3), ("placebo6", 6)):
        if part in parts:
            out.update({f"{part}_{m}": p for m, p in _placebo(y, kind, cfg, inf, segment).items()})
    return out


KEYS = ["scenario", "level", "phi", "counts", "season", "measure", "rep"]


def run(reps: int, placebo_reps: int, seed: int, parts=PARTS, scenarios=None) -> pd.DataFrame:
    cfg = defaults()["its"]
    inf = its.Inference.from_config(cfg, 0.05)
    rows = []
    grid = [(lv, ph, c, s, "null") for lv in LEVELS for ph in PHIS for c in COUNTS for s in SEASONS]
    grid += [(6, ph, "negbin", False, e) for e in EFFECTS for ph in PHIS]
    grid += [(15, ph, c, False, "strong") for ph in (0.3, 0.6) for c in COUNTS]
    streams = np.random.SeedSequence(seed).spawn(len(grid))  # a scenario's stream depends on its place only
    t0 = time.perf_counter()
    for (level, phi, counts, season, effect), ss in zip(grid, streams):
        if scenarios and effect not in scenarios:
            continue
        rng = np.random.default_rng(ss)
        arrests, harm = simulate(rng, level, phi, counts, season, reps, EFFECTS.get(effect, (0.0, 0.0, 0)),
                                 sd=0.6 if effect == "strong" else None)
        for r in range(reps):
            want = [p for p in parts if not p.startswith("placebo") or r < placebo_reps]
            for measure, y in (("events", arrests[r]), ("harm", harm[r])):
                try:
                    if its.fit_problem(y, MONTHS, KIND[measure]) or y.sum() == 0:
                        raise its.NotFitted("no events on one side")
                    res = analyse(y, KIND[measure], cfg, inf, want)
                except its.NotFitted:  # not modelled: the pipeline makes no claim (not significant)
                    res = {"not_fitted": True}
                rows.append({"scenario": effect, "level": level, "phi": phi, "counts": counts, "season": season,
                             "measure": measure, "rep": r, **res})
        print(f"{effect} level={level} phi={phi} {counts} season={season}: {time.perf_counter() - t0:.0f}s",
              file=sys.stderr, flush=True)
    return tidy(pd.DataFrame(rows))


def tidy(d: pd.DataFrame) -> pd.DataFrame:
    """A series not fitted is not significant (p = 1) in every test it would have had; placebo
    columns stay empty in reps without placebo fits."""
    if "not_fitted" not in d:
        d["not_fitted"] = False
    d["not_fitted"] = d["not_fitted"].fillna(False).astype(bool)
    tests = [c for c in d if c not in KEYS and c not in ("not_fitted", "phi_hat")]
    for c in tests:
        ran = d[c].notna() | (d["not_fitted"] & ~c.startswith("placebo"))
        d.loc[d["not_fitted"] & ran, c] = 1.0
    return d


def merge(files) -> pd.DataFrame:
    """Reps from several runs (the same seed), joined on the scenario and rep; where both hold
    a value, the later file's wins."""
    out = None
    for file in files:
        d = pd.read_csv(file, keep_default_na=False, na_values=[""])
        if out is None:
            out = d
            continue
        out = d.set_index(KEYS).combine_first(out.set_index(KEYS)).reset_index()
    return tidy(out)


def rate(hits: pd.Series) -> str:
    """Rate with its exact (Clopper-Pearson) 95% interval."""
    k, n = int(hits.sum()), int(hits.notna().sum())
    if n == 0:
        return "-"
    lo = stats.beta.ppf(0.025, k, n - k + 1) if k else 0.0
    hi = stats.beta.ppf(0.975, k + 1, n - k) if k < n else 1.0
    return f"{k / n:.3f} ({lo:.3f}-{hi:.3f})"


def tables(d: pd.DataFrame, alpha: float = 0.05) -> str:
    null = d.loc[d["scenario"] == "null"]
    out = []
    methods = [*METHODS, "both"]
    # 1. pooled false-positive rates per decision and method
    lines = ["| measure | decision | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for measure in ("events", "harm"):
        for dec in ("level", "slope", "posttrend", "placebo", "placebo6", "seasonality"):
            cells = []
            for m in methods:
                col = f"{dec}_{m}"
                if col not in null:
                    cells.append("-")
                    continue
                rows = (null["measure"] == measure) & ~(null["season"] & (dec == "seasonality"))
                sub = null.loc[rows, col].dropna()
                cells.append(rate(sub < alpha) if len(sub) else "-")
            lines.append(f"| {measure} | {dec} | " + " | ".join(cells) + " |")
    out.append("False-positive rate under no interruption, pooled over the null scenarios (seasonality: over those "
               "without seasonality)\n\n" + "\n".join(lines))
    # 2. worst scenario per method (level and slope)
    lines = ["| measure | decision | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    keys = ["level", "phi", "counts", "season"]
    for measure in ("events", "harm"):
        for dec in ("level", "slope", "posttrend", "placebo", "placebo6"):
            cells = []
            for m in methods:
                col = f"{dec}_{m}"
                g = null.loc[null["measure"] == measure].dropna(subset=[col]).groupby(keys)[col]
                fpr = g.apply(lambda p: (p < alpha).mean())
                worst = fpr.idxmax()
                sub = null.loc[(null["measure"] == measure) & (null[keys] == pd.Series(worst, index=keys)).all(axis=1),
                               col].dropna()
                cells.append(f"{rate(sub < alpha)} [{worst[0]}/{worst[1]}/{worst[2]}/{'s' if worst[3] else '-'}]")
            lines.append(f"| {measure} | {dec} | " + " | ".join(cells) + " |")
    out.append("Worst single null scenario (level/phi/counts/season)\n\n" + "\n".join(lines))
    # 3. by phi, level and slope, for each method
    lines = ["| measure | phi | decision | " + " | ".join(methods) + " |", "|---|---|---|" + "---|" * len(methods)]
    for measure in ("events", "harm"):
        for phi in PHIS:
            for dec in ("level", "slope"):
                sub = null.loc[(null["measure"] == measure) & (null["phi"] == phi)]
                lines.append(f"| {measure} | {phi} | {dec} | "
                             + " | ".join(rate(sub[f"{dec}_{m}"] < alpha) for m in methods) + " |")
    out.append("False-positive rate by AR(1) coefficient\n\n" + "\n".join(lines))
    # 3b. strong observed autocorrelation
    strong = d.loc[d["scenario"] == "strong"]
    if len(strong):
        lines = ["| measure | phi | counts | decision | " + " | ".join(methods) + " | mean phi-hat |",
                 "|---|---|---|---|" + "---|" * (len(methods) + 1)]
        for measure in ("events", "harm"):
            for (phi, counts), sub in strong.loc[strong["measure"] == measure].groupby(["phi", "counts"]):
                for dec in ("level", "slope", "posttrend", "placebo", "placebo6"):
                    cells = " | ".join(rate(sub[f"{dec}_{m}"].dropna() < alpha) for m in methods)
                    lines.append(f"| {measure} | {phi} | {counts} | {dec} | {cells} | {sub['phi_hat'].mean():.2f} |")
        out.append("False-positive rate with strong observed autocorrelation (level 15 a month, latent standard "
                   "deviation 0.6, no seasonality)\n\n" + "\n".join(lines))
    # 4. power
    lines = ["| scenario | phi | measure | decision | " + " | ".join(methods) + " |",
             "|---|---|---|---|" + "---|" * len(methods)]
    for effect, dec in (("step", "level"), ("gradual", "slope"), ("before_break", "placebo"),
                        ("before_break", "placebo6")):
        for phi in PHIS:
            for measure in ("events", "harm"):
                sub = d.loc[(d["scenario"] == effect) & (d["phi"] == phi) & (d["measure"] == measure)]
                cells = [rate(sub[f"{dec}_{m}"].dropna() < alpha) for m in methods]
                lines.append(f"| {effect} | {phi} | {measure} | {dec} | " + " | ".join(cells) + " |")
    for phi in PHIS:
        for measure in ("events", "harm"):
            sub = d.loc[(d["scenario"] == "gradual") & (d["phi"] == phi) & (d["measure"] == measure)]
            cells = [rate(sub[f"posttrend_{m}"].dropna() < alpha) for m in methods]
            lines.append(f"| gradual | {phi} | {measure} | posttrend | " + " | ".join(cells) + " |")
            lines.append(f"| gradual | {phi} | {measure} | Mann-Kendall classical / Hamed-Rao | "
                         f"{rate(sub['mk_classical'] < alpha)} | {rate(sub['mk_hamed_rao'] < alpha)} | | | |")
    for phi in PHIS:
        for measure in ("events", "harm"):
            sub = null.loc[null["season"] & (null["phi"] == phi) & (null["measure"] == measure)]
            cells = [rate(sub[f"seasonality_{m}"].dropna() < alpha) for m in methods]
            lines.append(f"| seasonal null scenarios | {phi} | {measure} | seasonality | " + " | ".join(cells) + " |")
    out.append("Power (level 6 a month, overdispersed counts, no seasonality; seasonality: every seasonal null "
               "scenario)\n\n" + "\n".join(lines))
    # 5. diagnostics and Mann-Kendall
    lines = ["| measure | phi | season | mean phi-hat | Ljung-Box 12 (chi-square) | Ljung-Box 12 (simulated null) | "
             "Ljung-Box 12 after AR(1) | MK classical | MK Hamed-Rao |", "|---|---|---|---|---|---|---|---|---|"]
    for measure in ("events", "harm"):
        for phi in PHIS:
            for season in SEASONS:
                sub = null.loc[(null["measure"] == measure) & (null["phi"] == phi) & (null["season"] == season)]
                lines.append(f"| {measure} | {phi} | {'yes' if season else 'no'} | {sub['phi_hat'].mean():.2f} | "
                             + " | ".join(rate(sub[c] < alpha) for c in ("ljungbox12", "ljungbox12_sim",
                                                                         "ljungbox12_ar1", "mk_classical",
                                                                         "mk_hamed_rao")) + " |")
    out.append("Rates of the diagnostics and Mann-Kendall under no interruption (no trend after the order)\n\n"
               + "\n".join(lines))
    return "\n\n".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300, help="reps per scenario")
    parser.add_argument("--placebo-reps", type=int, default=60, help="of which with the placebo fits")
    parser.add_argument("--seed", type=int, default=20260625)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"what to compute (of {', '.join(PARTS)})")
    parser.add_argument("--scenarios", default="", help="only these (null, step, gradual, before_break, strong)")
    parser.add_argument("--merge", nargs="+", default=None, help="print the tables of these reps files, joined")
    parser.add_argument("--out", default=None, help="folder for its_inference_reps.csv and its_inference.md")
    args = parser.parse_args(argv)
    if args.merge:
        d = merge(args.merge)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = run(args.reps, args.placebo_reps, args.seed, parts=args.parts.split(","),
                    scenarios=[s for s in args.scenarios.split(",") if s])
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        d.to_csv(out / "its_inference_reps.csv", index=False)
    if not (d["scenario"] == "null").any():
        return  # a partial run: merge it with the others for the tables
    text = tables(d)
    print(text)
    if args.out:
        (out / "its_inference.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
