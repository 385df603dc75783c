"""The ``strostudy`` command line."""

from __future__ import annotations

import argparse
import sys
import time


def _simulate(args) -> None:
    from .config import load
    from .simulate import simulate, write_extracts

    config = load(args.config, overrides={k: v for k, v in (("seed", args.seed), ("synthetic_orders", args.orders))
                                          if v is not None})
    seed, orders = config["seed"], config["synthetic_orders"]
    t0 = time.perf_counter()
    print(f"Simulating {orders} orders (seed {seed}) ...", file=sys.stderr)
    extracts = simulate(seed=seed, n_orders=orders, study=config["study"])
    written = write_extracts(extracts, args.raw_dir, args.truth_dir)
    print(f"Wrote {len(written)} files to {args.raw_dir} and {args.truth_dir} "
          f"({len(extracts.pnc_arrests):,} PNC rows, {len(extracts.pnd_records):,} PND rows) "
          f"in {time.perf_counter() - t0:.1f}s.", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from .errors import StrostudyError

    parser = argparse.ArgumentParser(prog="strostudy", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="write calibrated synthetic PNC/PND/ROCU extracts and their truth")
    sim.add_argument("--config", default="config.yaml",
                     help="config file for seed, synthetic_orders and the study dates (default: config.yaml if it "
                          "exists, else the package defaults)")
    sim.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    sim.add_argument("--orders", type=int, default=None,
                     help="overrides the config's synthetic_orders (114: the calibrated study; larger for scale tests)")
    sim.add_argument("--raw-dir", default="data/raw")
    sim.add_argument("--truth-dir", default="data/truth")
    sim.set_defaults(func=_simulate)
    args = parser.parse_args(argv)
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
