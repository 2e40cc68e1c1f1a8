"""Reading tabular input files (CSV or JSON lines) with one set of rules and error messages."""

from __future__ import annotations

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
    if not path.is_file():
        raise InputError(f"{what} file not found: {path}")
    try:
        if path.suffix in JSON_LINES_SUFFIXES:
            return pd.read_json(path, lines=True, dtype=False)
        return pd.read_csv(path, dtype=csv_dtypes, keep_default_na=False,
                           na_values={column: [""] for column in csv_na_columns})
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot parse {path}: {exc}") from None
