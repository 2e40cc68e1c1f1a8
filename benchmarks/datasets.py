"""Data sets for the benchmarks: MovieLens 100k (from the RecBole wheel) and the demo storefront.

MovieLens 100k comes out of the `recbole` wheel on PyPI, which ships it as an atomic
`.inter` file: `pip download` is the only network access, and the wheel is cached.

    python -m benchmarks.datasets ml-100k --out data/ml-100k/events.csv
    python -m benchmarks.datasets demo --out data/demo-bench/events.csv
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.demo import generate_storefront
from recommender.events import EventTable, write_events

DEFAULT_CACHE = Path("benchmarks/.cache")
RECBOLE_VERSION = "1.2.1"
WHEEL_GLOB = f"recbole-{RECBOLE_VERSION}-*.whl"
ML100K_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
ML100K_COLUMNS = ("user_id", "item_id", "rating", "timestamp")

#: The demo storefront's fixed seed and clock, so every run sees the same events.
DEMO_SEED = 0
DEMO_NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class DatasetError(RuntimeError):
    """A data set cannot be obtained or read; the message says what to do."""


def find_wheel(cache_dir: Path) -> Path | None:
    wheels = sorted(Path(cache_dir).glob(WHEEL_GLOB))
    return wheels[0] if wheels else None


def download_wheel(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The cached recbole wheel, fetched with `pip download` the first time."""
    cache_dir = Path(cache_dir)
    cached = find_wheel(cache_dir)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", f"recbole=={RECBOLE_VERSION}",
               "-d", str(cache_dir)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DatasetError(f"could not run {' '.join(command)}: {exc}") from None
    wheel = find_wheel(cache_dir)
    if result.returncode != 0 or wheel is None:
        detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise DatasetError(
            f"downloading MovieLens 100k failed: `{' '.join(command)}` exited with {result.returncode}.\n"
            + "\n".join(f"  {line}" for line in detail)
            + f"\nIt needs network access to PyPI. Offline, copy recbole-{RECBOLE_VERSION}-py3-none-any.whl "
            f"into {cache_dir}/ by hand."
        )
    return wheel


def read_inter(wheel: Path, member: str = ML100K_MEMBER) -> pd.DataFrame:
    """The ratings table from an atomic `.inter` file inside a wheel (zip), type suffixes dropped."""
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as handle:
            frame = pd.read_csv(handle, sep="\t", dtype=str, keep_default_na=False)
    except zipfile.BadZipFile:
        raise DatasetError(f"{wheel} is not a valid wheel (zip); delete it and run again") from None
    except KeyError:
        raise DatasetError(f"{wheel} has no {member}") from None
    frame.columns = [str(c).split(":", 1)[0] for c in frame.columns]
    missing = [c for c in ML100K_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{member} in {wheel} lacks column(s) {', '.join(missing)}")
    return frame[list(ML100K_COLUMNS)]


def ratings_to_events(ratings: pd.DataFrame) -> EventTable:
    """One `review` event per rating, its value the stars."""
    frame = pd.DataFrame({
        "user_id": ratings["user_id"].astype(str),
        "item_id": ratings["item_id"].astype(str),
        "type": "review",
        "timestamp": pd.to_numeric(ratings["timestamp"], errors="raise").astype(np.float64),
        "value": pd.to_numeric(ratings["rating"], errors="raise").astype(np.float32),
    })
    return EventTable.from_frame(frame)


def movielens_100k(cache_dir: Path = DEFAULT_CACHE) -> EventTable:
    """MovieLens 100k: 100,000 ratings (1-5 stars) of 1,682 movies by 943 users, as review events."""
    return ratings_to_events(read_inter(download_wheel(cache_dir)))


def demo_storefront(seed: int = DEMO_SEED, now: float = DEMO_NOW) -> EventTable:
    """The synthetic storefront of recommender.demo, with a fixed seed and clock."""
    return generate_storefront(seed=seed, now=now).events


DATASETS: dict[str, Callable[[], EventTable]] = {
    "ml-100k": movielens_100k,
    "demo": demo_storefront,
}


def load(name: str, cache_dir: Path = DEFAULT_CACHE) -> EventTable:
    if name == "ml-100k":
        return movielens_100k(cache_dir)
    if name == "demo":
        return demo_storefront()
    raise DatasetError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")


def write_events_csv(events: EventTable, path: str | Path) -> Path:
    """Events as CSV with columns user_id,item_id,type,timestamp,value (what the CLI reads)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_events(events, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a benchmark data set as an events CSV.")
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--out", type=Path, help="CSV to write (default data/<dataset>/events.csv)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    out = args.out or Path("data") / args.dataset / "events.csv"
    try:
        events = load(args.dataset, args.cache_dir)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_events_csv(events, out)
    print(f"wrote {len(events)} events of {len(set(events.user_ids))} users and "
          f"{len(set(events.item_ids))} items to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
