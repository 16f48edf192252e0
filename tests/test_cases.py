"""Checker and graph-rule cases with their expected diagnostics written inline.

A line ending in `//~ CODE [CODE...]` expects exactly those codes on that line; every other
line expects none (mypy-style test data). Add a case by adding a `.flow` file to `cases/`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flowc.compiler.api import compile_file

CASES = Path(__file__).parent / "cases"
_EXPECT = re.compile(r"//~\s*((?:F\d{4}\s*)+)$")


def _expected(path: Path) -> set[tuple[int, str]]:
    out = set()
    for i, line in enumerate(path.read_text().splitlines(), 1):
        m = _EXPECT.search(line)
        if m:
            out.update((i, code) for code in m.group(1).split())
    return out


@pytest.mark.parametrize("path", sorted(CASES.glob("*.flow")), ids=lambda p: p.stem)
def test_case(path: Path):
    result = compile_file(path)
    got = {(d.start.line, d.code) for d in result.diagnostics.sorted()
           if d.source.path == str(path)}
    want = _expected(path)
    detail = "\n".join(f"{d.start.line}:{d.start.column} {d.code} {d.message}"
                       for d in result.diagnostics.sorted())
    assert got == want, f"unexpected: {sorted(got - want)}; missing: {sorted(want - got)}\n{detail}"
    if not want:
        assert result.plan is not None
