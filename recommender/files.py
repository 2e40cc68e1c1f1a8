"""Reading tabular input files (CSV or JSON lines) with one set of rules and error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from recommender.errors import InputError

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".json")


def read_frame(path: str | Path, what: str, csv_dtypes: dict[str, type],
               csv_na_columns: tuple[str, ...]) -> pd.DataFrame:
    """A file as a DataFrame of strings and numbers; InputError if it is missing or unparsable.

    JSON lines are read with no type guessing (pandas would otherwise turn columns named like
    dates into datetimes); in CSV only `csv_na_columns` treat an empty cell as missing.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} file {path} is a directory")
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        if path.suffix in JSON_LINES_SUFFIXES:
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_csv(path, dtype=csv_dtypes, keep_default_na=False,
                           na_values={column: [""] for column in csv_na_columns})
    except (ValueError, pd.errors.ParserError) as exc:
        where = _bad_json_line(path) if path.suffix in JSON_LINES_SUFFIXES else None
        raise InputError(f"cannot parse {path}: {where or exc}") from None


def _bad_json_line(path: Path) -> str | None:
    """The first line of a JSON lines file that is not one JSON object, as 'line N: reason' (1-based, as
    editors count); None when every line is one (pandas refused the file for another reason)."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                return f"line {number}: not JSON ({exc})"
            if not isinstance(value, dict):
                return f"line {number}: not a JSON object"
    return None
