"""Where results go and how they are written: markdown tables, matplotlib figures, run records.

Every benchmark writes `<name>.md` (and mostly `<name>.json` and PNGs) into one directory,
benchmarks/results/ unless `--out` says otherwise.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

#: The committed results: benchmarks/results/, wherever the benchmark is started from.
RESULTS = Path(__file__).resolve().parents[1] / "results"
GIB = 1024 ** 3



def description(doc: str | None) -> str:
    """A script's --help description: the first paragraph of its module docstring, on one line."""
    first = (doc or "").strip().split("\n\n")[0]
    return " ".join(first.split())

def results_dir(path: Path) -> Path:
    """`path`, created with its parents if missing."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def md_table(header: Sequence[str], align: str, rows: Iterable[Sequence[object]]) -> str:
    """A markdown table: `align` has one letter per column, `l` (left) or `r` (right).

    Raises
    ------
    ValueError
        If a row or `align` has another number of cells than `header`.
    """
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"align needs one l or r per column ({len(header)}), got {align!r}")
    lines = ["| " + " | ".join(header) + " |", "|" + "".join("---:|" if a == "r" else "---|" for a in align)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"a row has {len(row)} cells for {len(header)} columns: {row!r}")
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def gib(value: float) -> str:
    """Bytes as GiB with two decimals: `1.56`."""
    return f"{value / GIB:.2f}"


def pyplot() -> ModuleType:
    """matplotlib.pyplot on the Agg backend (files only, no screen needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def run_record(command: str, seconds: float, results: list[dict], **fields: object) -> dict:
    """What a run's JSON holds: the command, when it finished (local time), the cores, the whole run's
    wall seconds, `fields` and the per-case `results`. `load_run` reads it back for --report-only."""
    return {"command": command, "finished": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count(), **fields,
            "seconds": seconds, "results": results}


def save_run(out: Path, name: str, run: dict) -> Path:
    """Write `run` to `out`/`name`.json (created with `out` if missing); the path."""
    path = results_dir(out) / f"{name}.json"
    path.write_text(json.dumps(run, indent=1))
    return path


def load_run(out: Path, name: str) -> dict:
    """The run record `save_run` wrote to `out`/`name`.json."""
    return json.loads((out / f"{name}.json").read_text())
