"""The README's architecture map matches the tree: every module under recommender/ and service/ is named
in its directory, and everything the map names exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKED = ("recommender", "service")
UNLISTED = {"__init__.py", "__main__.py"}  # a package's face and entry point go with its directory line


def map_paths(readme: str) -> set[str]:
    """Paths the architecture map names: one entry per line, two spaces of indent per directory level,
    the name first (directories end in '/')."""
    section = readme[readme.index("## Architecture"):]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```")]
    paths: set[str] = set()
    stack: list[str] = []
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        stack = stack[:depth] + [name]
        paths.add("".join(stack).rstrip("/"))
    return paths


def tree_paths() -> set[str]:
    found: set[str] = set()
    for top in CHECKED:
        for path in (REPO / top).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            relative = path.relative_to(REPO)
            found.update(str(parent) for parent in relative.parents if str(parent) != ".")
            if path.name not in UNLISTED:
                found.add(str(relative))
    return found


def test_the_map_names_every_module_and_nothing_that_is_not_there():
    named = map_paths((REPO / "README.md").read_text())
    actual = tree_paths()
    missing = sorted(actual - named)
    assert not missing, f"modules missing from the README's architecture map: {missing}"
    stale = sorted(p for p in named if re.match(rf"({'|'.join(CHECKED)})(/|$)", p) and p not in actual)
    assert not stale, f"the README's architecture map names what is not in the tree: {stale}"
    listed = {p for p in named if not p.startswith(CHECKED)}
    assert all((REPO / p).exists() for p in listed), listed


def test_the_parser_reads_nesting_from_indentation():
    readme = "## Architecture\n\n```\na/   x\n  b.py  y\n  c/\n    d.py\ne.py\n```\n"
    assert map_paths(readme) == {"a", "a/b.py", "a/c", "a/c/d.py", "e.py"}
