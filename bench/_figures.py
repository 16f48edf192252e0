"""Figures that cannot drift: a benchmark's `--markdown PATH` writes its results as a markdown
table, and `scripts/figures.py` pastes that file, unchanged, into every README or docs block
that names it:

    <!-- figures: bench/results/sandbox.md -->
    ...the file's text, pasted...
    <!-- /figures -->

`scripts/figures.py --check` (run by the tests) fails when a block differs from its file, so
a figure in the docs is always the last recorded run's, as the benchmark printed it."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

__all__ = ["markdown_table", "write_markdown"]


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(path: str | os.PathLike, script: str, argv: list[str] | None,
                   body: str) -> None:
    """Write a benchmark's results: what ran (`script`, its `__file__`, with `argv`, or this
    process's arguments when None), where and when, then `body` (tables, notes)."""
    args = sys.argv[1:] if argv is None else argv
    command = " ".join([f"python bench/{Path(script).name}", *args])
    cores = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    header = (f"_Written by `{command}` on {stamp}: {cores} cores, load {load:.1f} at the end, "
              f"Python {platform.python_version()}._")
    text = header + "\n\n" + body.strip() + "\n"
    Path(path).write_text(text, encoding="utf-8")
    print(f"\nwrote {path}", file=sys.stderr)
