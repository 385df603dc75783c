"""The workflow benchmark (issue 15): time and peak memory of every stage, and of the whole
workflow, at several sizes; the scaling exponent; the windowed aggregation against DuckDB.

    python benchmarks/bench.py                         # every size: default, 0.5M .. 5M PNC rows
    python benchmarks/bench.py --sizes default,0.5M    # some of them
    python benchmarks/bench.py --sizes default --no-duckdb

Each size is one cold workflow run (``snakemake -d`` a fresh folder, synthetic extracts of
that many orders, ``--cores`` as given), then a no-op re-run.  Per stage, the numbers are
Snakemake's own ``benchmark:`` files (``logs/benchmarks/<rule>.tsv`` in the working folder:
wall ``s``, ``cpu_time``, ``max_rss``), so each stage's interpreter start-up counts; the whole
run's wall time is measured here, its peak memory is the largest of the stages' (they run
one at a time at ``--cores 1``; at more cores two can overlap, so the true peak can be higher).

Written: ``benchmarks/results.csv`` (stage, size, pnc_rows, orders, wall_s, cpu_s, peak_mb,
machine; rows of earlier runs on other sizes or machines are kept) and
``benchmarks/scaling.png`` (log-log time against PNC rows, one line per stage, with the fitted
exponent between 0.5 M rows and the largest size).  The DuckDB reference
(``stage = aggregation_pipeline`` and ``aggregation_duckdb``) times the cohort stage's per-subject
windowed aggregation (arrests and harm by subject, category and window) both ways over the
same Parquet, after checking that the two agree; DuckDB is a bench-only extra
(``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results.csv"
FIGURE = REPO / "benchmarks" / "scaling.png"
COLUMNS = ["stage", "size", "pnc_rows", "orders", "wall_s", "cpu_s", "peak_mb", "machine"]
#: PNC arrest rows per order listed in the synthetic extracts (6,705 at the default 114 orders,
#: 2.81 M at 48,000, measured 2026-11-23; the order people's and their comparison pool's arrests).
PNC_ROWS_PER_ORDER = 58.6
#: Orders per size: about the issue's 0.5 M, 1 M, 2 M and 5 M PNC rows (results.csv holds the
#: count each run really had).
SIZES = {"default": None, **{label: round(rows / PNC_ROWS_PER_ORDER) for label, rows in
                             (("0.5M", 500_000), ("1M", 1_000_000), ("2M", 2_000_000), ("5M", 5_000_000))}}
#: Sizes whose times the exponent is fitted on (the default's fixed costs would flatten it).
FIT_FROM = 400_000


def machine() -> str:
    """What the numbers were measured on: CPU model, cores, memory, OS and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem = f"{pages * size / 2**30:.0f} GB"
    except (ValueError, OSError):
        mem = "? GB"
    return f"{cpu}; {os.cpu_count()} cores; {mem}; {platform.system()} {platform.release()}; " \
           f"Python {platform.python_version()}"


def _snakemake(workdir: Path, cores: int, orders: int | None) -> float:
    """Run the workflow in ``workdir``; its wall time in seconds."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--cores", str(cores), "--quiet"]
    if orders is not None:
        cmd += ["--config", f"synthetic_orders={orders}"]
    cmd += ["all"]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if result.returncode:
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-15:])
        raise SystemExit(f"bench: the workflow failed in {workdir} (orders {orders}):\n{tail}")
    return wall


def stage_rows(workdir: Path) -> pd.DataFrame:
    """One row per rule from Snakemake's benchmark files: wall_s, cpu_s, peak_mb (a stage run
    per study: its default study's, ``logs/benchmarks/stro/<rule>.tsv``)."""
    rows = []
    folder = workdir / "logs" / "benchmarks"
    for f in sorted([*folder.glob("*.tsv"), *(folder / "stro").glob("*.tsv")]):
        b = pd.read_csv(f, sep="\t")
        rows.append({"stage": f.stem, "wall_s": float(b["s"].iloc[0]),
                     "cpu_s": float(pd.to_numeric(b["cpu_time"], errors="coerce").iloc[0]),
                     "peak_mb": float(pd.to_numeric(b["max_rss"], errors="coerce").iloc[0])})
    return pd.DataFrame(rows, columns=["stage", "wall_s", "cpu_s", "peak_mb"])


def pnc_rows(workdir: Path) -> int:
    """Data rows of the PNC extract the run read."""
    with open(workdir / "data" / "raw" / "pnc_arrests.csv", "rb") as f:
        return sum(1 for _ in f) - 1


def run_size(label: str, orders: int | None, cores: int, root: Path, keep: bool = False,
             duckdb: bool = True) -> pd.DataFrame:
    """Cold run, no-op re-run and the aggregation reference at one size."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-{label}-", dir=root))
    print(f"bench: {label} ({orders or 'default'} orders) in {work} ...", file=sys.stderr, flush=True)
    cold = _snakemake(work, cores, orders)
    stages = stage_rows(work)
    noop = _snakemake(work, cores, orders)
    rows = pnc_rows(work)
    extra = [{"stage": "workflow", "wall_s": cold, "cpu_s": stages["cpu_s"].sum(),
              "peak_mb": stages["peak_mb"].max()},
             {"stage": "noop", "wall_s": noop, "cpu_s": np.nan, "peak_mb": np.nan}]
    out = pd.concat([stages, pd.DataFrame(extra)], ignore_index=True)
    if duckdb:
        out = pd.concat([out, aggregation_reference(work)], ignore_index=True)
    print(f"bench: {label}: {rows:,} PNC rows, cold {cold:.1f}s, no-op {noop:.1f}s", file=sys.stderr, flush=True)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return out.assign(size=label, pnc_rows=rows, orders=orders if orders is not None else _default_orders())


def _default_orders() -> int:
    from strostudy.config import defaults

    return int(defaults()["synthetic_orders"])


# --------------------------------------------------------------------------- the DuckDB reference

AGGREGATION_SQL = """
WITH analysed AS (
    SELECT subject_id, CAST(start_date AS DATE) AS start_date FROM cohort WHERE analysed
), guessed AS (
    SELECT e.subject_id, e.category, e.harm_score, CAST(e.event_date AS DATE) AS d, a.start_date,
           CAST(datediff('month', a.start_date, CAST(e.event_date AS DATE)) AS INTEGER) AS g
    FROM events e JOIN analysed a USING (subject_id)
), ev AS (  -- whole months from the start, a month ending on the same day (clipped) as dates.month_index
    SELECT subject_id, category, harm_score,
           g - CASE WHEN d < start_date + to_months(g) THEN 1 ELSE 0 END AS m
    FROM guessed
), windowed AS (
    SELECT subject_id, category, harm_score, CASE WHEN m >= 0 THEN 'after' ELSE 'before' END AS win
    FROM ev WHERE m BETWEEN -$window AND $window - 1
), both_ AS (
    SELECT subject_id, category, win, harm_score FROM windowed
    UNION ALL SELECT subject_id, 'overall', win, harm_score FROM windowed
)
SELECT subject_id, category, win, count(*) AS events, sum(harm_score) AS harm
FROM both_ GROUP BY ALL ORDER BY ALL
"""


def aggregation_reference(workdir: Path) -> pd.DataFrame:
    """Time the cohort stage's windowed aggregation (``window_events`` then ``subject_windows``)
    and the same in DuckDB SQL over the same Parquet files; they must agree first."""
    import duckdb

    from strostudy import tables
    from strostudy.cohort import subject_windows, window_events
    from strostudy.config import defaults

    config = defaults()
    window = int(config["study"]["window_months"])
    tmp = workdir / "bench_parquet"
    tmp.mkdir(exist_ok=True)
    events = tables.read("events", workdir / tables.path("events", "stro"))
    cohort = tables.read("cohort", workdir / tables.path("cohort", "stro"))
    events.to_parquet(tmp / "events.parquet", index=False)
    cohort.to_parquet(tmp / "cohort.parquet", index=False)

    def ours() -> pd.DataFrame:
        ev = pd.read_parquet(tmp / "events.parquet")
        co = pd.read_parquet(tmp / "cohort.parquet")
        return subject_windows(window_events(ev, co, config), co, config["categories"])

    con = duckdb.connect()
    sql = AGGREGATION_SQL.replace("$window", str(window))
    views = (f"CREATE OR REPLACE VIEW events AS SELECT * FROM read_parquet('{tmp / 'events.parquet'}');"
             f"CREATE OR REPLACE VIEW cohort AS SELECT * FROM read_parquet('{tmp / 'cohort.parquet'}');")

    def theirs() -> pd.DataFrame:
        con.execute(views)
        return con.execute(sql).df()

    mine, duck = ours(), theirs()
    check = pd.concat([mine[["subject_id", "category", f"events_{w}", f"harm_{w}"]]
                      .set_axis(["subject_id", "category", "events", "harm"], axis=1).assign(win=w)
                       for w in ("before", "after")], ignore_index=True)
    check = check.loc[check["events"] > 0]
    merged = check.merge(duck, on=["subject_id", "category", "win"], how="outer", suffixes=("", "_duck"))
    same = (merged[["events", "events_duck", "harm", "harm_duck"]].notna().all(axis=1)
            & (merged["events"] == merged["events_duck"])
            & np.isclose(merged["harm"], merged["harm_duck"], rtol=1e-9, atol=1e-9))
    if not same.all():
        raise SystemExit(f"bench: DuckDB's aggregation does not match the pipeline's in {int((~same).sum())} "
                         "subject-category-window cells; fix the SQL before timing")
    timings = {}
    for name, fn in (("aggregation_pipeline", ours), ("aggregation_duckdb", theirs)):
        walls = []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            walls.append((time.perf_counter() - t0, time.process_time() - c0))
        wall, cpu = np.median(np.asarray(walls), axis=0)
        timings[name] = {"stage": name, "wall_s": wall, "cpu_s": cpu, "peak_mb": np.nan}
    con.close()
    return pd.DataFrame(list(timings.values()))


# --------------------------------------------------------------------------- results and figure


def exponent(results: pd.DataFrame, stage: str = "workflow") -> float:
    """The slope of log(wall) on log(PNC rows) over the sizes of at least :data:`FIT_FROM` rows
    (NaN with fewer than two)."""
    r = results.loc[(results["stage"] == stage) & (results["pnc_rows"] >= FIT_FROM)]
    if r["pnc_rows"].nunique() < 2:
        return float("nan")
    return float(np.polyfit(np.log(r["pnc_rows"]), np.log(r["wall_s"]), 1)[0])


def merge(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Earlier results, with this run's (machine, size) rows replacing theirs."""
    if len(old):
        key = set(zip(new["machine"], new["size"]))
        old = old.loc[[k not in key for k in zip(old["machine"], old["size"])]]
    order = {s: i for i, s in enumerate(SIZES)}
    out = pd.concat([df for df in (old, new[COLUMNS]) if len(df)], ignore_index=True)
    out = out.astype({"pnc_rows": "int64", "orders": "int64", "wall_s": "float64", "cpu_s": "float64",
                      "peak_mb": "float64"})
    return out.sort_values(["machine", "size", "stage"], key=lambda s: s.map(order).fillna(99) if s.name == "size"
                           else s, kind="stable").reset_index(drop=True)


def figure(results: pd.DataFrame, path: Path, machine_name: str) -> None:
    """Log-log wall time against PNC rows, per stage, for one machine's results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    here = results.loc[results["machine"] == machine_name]
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=150)
    colours = plt.get_cmap("tab20").colors
    for i, (stage, r) in enumerate(here.loc[~here["stage"].isin(["noop"])].groupby("stage", sort=True)):
        r = r.sort_values("pnc_rows")
        slope = exponent(here, stage)
        label = stage if np.isnan(slope) else f"{stage} (slope {slope:.2f})"
        ax.plot(r["pnc_rows"], r["wall_s"], marker="os^D"[i % 4], lw=2.5 if stage == "workflow" else 1,
                ls="-" if stage == "workflow" or i % 2 == 0 else "--",
                color="black" if stage == "workflow" else colours[i % len(colours)], label=label)
    ax.set(xscale="log", yscale="log", xlabel="PNC arrest rows", ylabel="wall time (s)",
           title="strostudy: time against extract size (log-log)")
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=6, ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--cores", type=int, default=1, help="Snakemake --cores (1: stages one at a time)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--figure", default=str(FIGURE))
    parser.add_argument("--root", default=None, help="where the working folders go (default: the system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the working folders")
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB reference")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise SystemExit(f"bench: unknown size {', '.join(unknown)}; use some of {', '.join(SIZES)}")
    if not args.no_duckdb:
        try:
            import duckdb  # noqa: F401
        except ImportError as err:
            raise SystemExit("bench: DuckDB is not installed; pip install -e '.[bench]', or pass --no-duckdb") from err
    root = Path(args.root) if args.root else Path(tempfile.gettempdir())
    me = machine()
    new = pd.concat([run_size(s, SIZES[s], args.cores, root, args.keep, not args.no_duckdb) for s in sizes],
                    ignore_index=True).assign(machine=me)
    out = Path(args.out)
    old = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=COLUMNS)
    results = merge(old, new)
    results.to_csv(out, index=False, lineterminator="\n", float_format="%.4g")
    figure(results, Path(args.figure), me)
    here = results.loc[results["machine"] == me]
    print(summary(here), file=sys.stderr)
    print(f"bench: wrote {out} and {args.figure}", file=sys.stderr)


def summary(results: pd.DataFrame) -> str:
    """The lines the issue's targets are read from."""
    def get(stage, size):
        r = results.loc[(results["stage"] == stage) & (results["size"] == size)]
        return r.iloc[0] if len(r) else None

    lines = []
    for size in SIZES:
        w, n = get("workflow", size), get("noop", size)
        if w is None:
            continue
        lines.append(f"  {size:>7}: {int(w['pnc_rows']):>9,} PNC rows  cold {w['wall_s']:7.1f}s  "
                     f"peak {w['peak_mb']:7.0f} MB  no-op {n['wall_s']:5.1f}s")
        p, d = get("aggregation_pipeline", size), get("aggregation_duckdb", size)
        if p is not None and d is not None:
            lines.append(f"           aggregation {p['wall_s']:.3f}s against DuckDB {d['wall_s']:.3f}s "
                         f"({p['wall_s'] / d['wall_s']:.1f}x)")
    slope = exponent(results)
    lines.append(f"  scaling exponent (>= {FIT_FROM:,} rows): {'n/a' if np.isnan(slope) else f'{slope:.2f}'}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
