"""The ``strostudy`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import tables


def _simulate(args) -> None:
    from .config import load
    from .keys import guard
    from .simulate import simulate, write_extracts

    guard("synthetic", args.raw_dir)  # never overwrite extracts strostudy did not simulate
    config = load(args.config, overrides={k: v for k, v in (("seed", args.seed), ("synthetic_orders", args.orders),
                                                            ("scenario", args.scenario),
                                                            ("synthetic_comparison_ratio", args.comparison_ratio)) if v is not None})
    seed, orders, scenario = config["seed"], config["synthetic_orders"], config["scenario"]
    t0 = time.perf_counter()
    print(f"Simulating {orders} orders (scenario {scenario}, seed {seed}) ...", file=sys.stderr)
    # Several order types (issue 16; docs/simulator.md, "Several order types"): the flag, else the
    # optional config keys, else STRO alone (the calibrated single-type extracts, byte for byte).
    order_types = args.order_types if args.order_types is not None else config.get("synthetic_order_types")
    two_order_share = (args.two_order_share if args.two_order_share is not None
                       else config.get("synthetic_two_order_share"))
    extra = {} if two_order_share is None else {"two_order_share": float(two_order_share)}
    extracts = simulate(seed=seed, n_orders=orders, study=config["study"], scenario=scenario,
                        comparison_ratio=float(config["synthetic_comparison_ratio"]), order_types=order_types, **extra)
    written = write_extracts(extracts, args.raw_dir, args.truth_dir)
    print(f"Wrote {len(written)} files to {args.raw_dir} and {args.truth_dir} "
          f"({len(extracts.pnc_arrests):,} PNC rows, {len(extracts.pnd_records):,} PND rows) "
          f"in {time.perf_counter() - t0:.1f}s.", file=sys.stderr)


LINK_REQUIRED = ["id", "forenames", "surname", "date_of_birth"]
LINK_OPTIONAL = ["pnc_id", "sex", "postcode"]
PAIR_COLUMNS = ["right_id", "left_id", "status", "score", "match_weight", "runner_up", "runner_up_id", "link_basis",
                "review", "evidence", "name_order", "forename", "surname", "dob", "pnc_id", "sex", "postcode"]


def _person_list(path: str):
    """A person list for ``link``: one line naming the file and the column if it cannot be used
    (never a value from it)."""
    from pathlib import Path

    import pandas as pd

    from .errors import StrostudyError
    from .ingest import parse_dates

    if not Path(path).is_file():
        raise StrostudyError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise StrostudyError(f"{path}: not a readable CSV file ({type(err).__name__})") from None
    frame.columns = frame.columns.str.strip().str.lower()
    for col in LINK_REQUIRED:
        if col not in frame:
            raise StrostudyError(f"{path}: has no column '{col}'. Expected the columns {', '.join(LINK_REQUIRED)} "
                                 f"(optional: {', '.join(LINK_OPTIONAL)})")
    if (frame["id"].str.strip() == "").any():
        raise StrostudyError(f"{path}: row {int((frame['id'].str.strip() == '').to_numpy().argmax()) + 2} has no id")
    out = frame[[c for c in LINK_REQUIRED + LINK_OPTIONAL if c in frame]].apply(lambda c: c.str.strip())
    out = out.replace("", pd.NA)
    out["date_of_birth"] = _dob_text(out["date_of_birth"], parse_dates(frame["date_of_birth"])["date"])
    return out


def _dob_text(text, parsed):
    """Dates of birth as ``yyyy-mm-dd`` text for the linker: the dates ``parse_dates`` read;
    else 8 digits ``yyyymmdd`` (or ``ddmmyyyy`` where only that is a date); else the digits
    of a date written ``yyyy-mm-dd``, ``dd/mm/yyyy`` or ``yyyymmdd`` that is impossible
    (``1945-04-93``, ``31/02/1990``) or out of the range pandas holds (``1630-08-01``), which the
    linker still compares digit by digit (A85); else missing."""
    import pandas as pd

    out = parsed.dt.strftime("%Y-%m-%d").astype("string")
    t = text.astype("string").str.strip()
    compact = t.str.fullmatch(r"\d{8}").fillna(False) & out.isna()
    ymd = pd.to_datetime(t.where(compact), format="%Y%m%d", errors="coerce")
    dmy = pd.to_datetime(t.where(compact & ymd.isna()), format="%d%m%Y", errors="coerce")
    out = out.fillna(ymd.dt.strftime("%Y-%m-%d").astype("string")).fillna(dmy.dt.strftime("%Y-%m-%d").astype("string"))
    iso = t.str.extract(r"^(\d{4})-(\d\d)-(\d\d)$").fillna(t.where(compact).str.extract(
        r"^((?:18|19|20)\d\d)(\d\d)(\d\d)$"))
    uk = t.str.extract(r"^(\d\d)[/.-](\d\d)[/.-](\d{4})$")
    impossible = (iso[0] + "-" + iso[1] + "-" + iso[2]).fillna(uk[2] + "-" + uk[1] + "-" + uk[0])
    return out.fillna(impossible.astype("string"))


def _link(args) -> None:
    from .config import load
    from .errors import StrostudyError
    from .linkage import LEVELS, link, settings_from
    from .tables import write_csv_file

    config = load(args.config)
    rc = dict(config["reconcile"])
    rc["link_threshold"] = rc["link_threshold"] if args.threshold is None else args.threshold
    rc["review_threshold"] = rc["review_threshold"] if args.review_band is None else args.review_band
    left, right = _person_list(args.left), _person_list(args.right)
    if right["id"].duplicated().any():
        raise StrostudyError(f"{args.right}: ids must be unique (row {int(right['id'].duplicated().to_numpy().argmax()) + 2} "
                             "repeats one)")
    t0 = time.perf_counter()
    records, _ = link(left.assign(entity=left["id"]), right.assign(rec=right["id"]), settings_from(rc))
    pairs = records.rename(columns={"rec": "right_id", "pnc_id": "left_id", "link_status": "status",
                                    "link_score": "score", **{c: c[:-6] for c in records if c.endswith("_level")}})
    pairs["runner_up_id"] = pairs["runner_up_id"].where(pairs["status"] != "no_match")
    for field in LEVELS:
        lv = pairs[field].fillna(-1).astype(int).to_numpy()
        pairs[field] = pd_names(LEVELS[field], lv)
    write_csv_file(pairs[PAIR_COLUMNS].round({"score": 6, "match_weight": 3, "runner_up": 6}), args.out)
    counts = pairs["status"].value_counts()
    expected = records.attrs["linkage_model"]["expected_matches"]
    print(f"Linked {len(right):,} records to {left['id'].nunique():,} people: {counts.get('linked', 0):,} linked, "
          f"{counts.get('ambiguous', 0):,} ambiguous, {counts.get('no_match', 0):,} no match; "
          f"{int(pairs['review'].sum()):,} for review; the model expects {expected:,.0f} to have a person in LEFT; "
          f"wrote {args.out} ({time.perf_counter() - t0:.1f}s).", file=sys.stderr)


def pd_names(names: list[str], levels):
    """Level numbers as their names (empty where the field was missing on either side)."""
    import numpy as np

    return np.array([*names, ""], dtype=object)[levels]


def _parser() -> argparse.ArgumentParser:
    """Every subcommand and its arguments."""
    parser = argparse.ArgumentParser(prog="strostudy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="write calibrated synthetic PNC/PND/ROCU extracts and their truth")
    sim.add_argument("--config", default="config.yaml",
                     help="config file for seed, synthetic_orders and the study dates (default: config.yaml if it "
                          "exists, else the package defaults)")
    sim.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    sim.add_argument("--orders", type=int, default=None,
                     help="overrides the config's synthetic_orders (114: the calibrated study; larger for scale tests)")
    sim.add_argument("--scenario", default=None,
                     help="overrides the config's scenario: published (default), null, rtm, incapacitation, "
                          "calendar_shock or effect (docs/simulator.md)")
    sim.add_argument("--comparison-ratio", type=float, default=None,
                     help="overrides the config's synthetic_comparison_ratio: people in the comparison pool per "
                          "order listed (0: no pool)")
    sim.add_argument("--order-types", default=None,
                     help="comma-separated order types to simulate into the same extracts, e.g. STRO,SHPO,DAPO "
                          "(--orders orders of each; default STRO alone; only STRO is calibrated, the others are "
                          "illustrative: docs/simulator.md)")
    sim.add_argument("--two-order-share", type=float, default=None,
                     help="with several order types: the share of each later type's orders made on a person who "
                          "holds an earlier type's order (default 0.05)")
    sim.add_argument("--raw-dir", default=str(Path(tables.path("raw_orders")).parent))
    sim.add_argument("--truth-dir", default=str(Path(tables.path("truth_events")).parent))
    sim.set_defaults(func=_simulate)
    lk = sub.add_parser("link", help="link two person lists on names, DOB (and PNC ID, sex, postcode)")
    lk.add_argument("left", help="CSV of the people to link to: id, forenames, surname, date_of_birth "
                                 "(yyyy-mm-dd, dd/mm/yyyy or yyyymmdd; optional pnc_id, sex, postcode); an id may "
                                 "repeat (one person, several rows)")
    lk.add_argument("right", help="CSV of the records to link, the same columns; ids unique")
    lk.add_argument("--out", required=True, help="CSV written: one row per RIGHT record")
    lk.add_argument("--threshold", type=float, default=None, help="match probability for a link (default: config)")
    lk.add_argument("--review-band", type=float, default=None,
                    help="lowest match probability marked for clerical review (default: config)")
    lk.add_argument("--config", default="config.yaml", help="config file for the linkage settings")
    lk.set_defaults(func=_link)

    its = sub.add_parser("its", help="interrupted time-series regression of any monthly (or other) series")
    its.add_argument("series", help="CSV with one row per time point")
    its.add_argument("--outcome", required=True, help="column of the counts or values")
    its.add_argument("--time", required=True, help="column of the time index (numeric, equally spaced)")
    its.add_argument("--interruption", required=True, type=float,
                     help="first time point after the interruption (post = time >= this)")
    its.add_argument("--exposure", default=None,
                     help="column of a population or time at risk; its log is the offset (count families)")
    its.add_argument("--family", default="quasipoisson", choices=["quasipoisson", "poisson", "ols", "loglinear"])
    its.add_argument("--no-slope-change", action="store_true", help="fit the step (post) only, no time_since")
    its.add_argument("--season-col", default=None, help="column of the season (e.g. calendar month 1-12)")
    its.add_argument("--harmonics", type=int, default=2, help="Fourier harmonic pairs of the season (default 2)")
    its.add_argument("--period", type=float, default=12, help="length of the seasonal cycle (default 12)")
    its.add_argument("--covariate", action="append", default=[], help="a further column to adjust for (repeatable)")
    its.add_argument("--hac-lags", type=int, default=None, help="Newey-West lags (default: the config's its.hac_lags)")
    its.add_argument("--se", action="append", default=[], choices=["model", "hac", "fixedb", "ar1"],
                     help="a standard-error type to report (repeatable; default: the config's its.standard_errors; "
                          "docs/its.md)")
    its.add_argument("--config", default="config.yaml", help="config file for the default inference settings")
    its.add_argument("--out", required=True, help="CSV written: one row per term and standard-error type")
    its.set_defaults(func=lambda a: __import__("strostudy.its", fromlist=["cli"]).cli(a))

    plan = sub.add_parser("plan", help="freeze the analysis plan before real extracts are opened")
    plan_sub = plan.add_subparsers(dest="plan_command", required=True)
    freeze = plan_sub.add_parser("freeze", help="write the analysis choices with their hash and date")
    freeze.add_argument("--config", default="config.yaml", help="the config whose analysis choices are frozen")
    freeze.add_argument("--out", default=None, help="where the plan is written (default: the registry's plan path)")
    freeze.add_argument("--force", action="store_true", help="replace an existing frozen plan (recorded in it)")
    freeze.set_defaults(func=lambda a: __import__("strostudy.plan", fromlist=["cli"]).cli(a))

    cal = sub.add_parser("calibrate", help="Monte Carlo calibration: decisions over many simulated seeds")
    cal.add_argument("--scenario", required=True, help="simulator scenario (docs/simulator.md)")
    cal.add_argument("--reps", type=int, required=True, help="number of reps (seeds)")
    cal.add_argument("--seed", type=int, default=None, help="first seed (default: the config's calibrate.seed)")
    cal.add_argument("--out", required=True, help="folder for calibration_reps.csv and calibration.csv")
    cal.add_argument("--config", default="config.yaml", help="config file of the analysis choices")
    cal.add_argument("--cores", type=int, default=1, help="reps run in parallel")
    cal.set_defaults(func=lambda a: __import__("strostudy.calibrate", fromlist=["cli"]).cli(a))
    return parser


def main(argv: list[str] | None = None) -> int:
    from .errors import StrostudyError

    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except StrostudyError as err:
        print(f"strostudy: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - no traceback (it may quote data) unless asked for
        import os

        if os.environ.get("STROSTUDY_DEBUG"):
            raise
        print(f"strostudy: unexpected error ({type(err).__name__}): this is a bug in strostudy; run again with "
              "STROSTUDY_DEBUG=1 to see the traceback, and report it without the data", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
