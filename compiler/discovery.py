"""Which files are flows: the rule `flowc check DIR` walks a folder by, and editors match by.

A flow is a file named `*.flow`, except JavaScript Flow's type declaration files
(`*.js.flow`, and the other `*.<js-ish>.flow` names Flow reads). Walking a folder skips what is
not the project's own: folders that `.gitignore` files ignore (the repository's, from its root
down, and nested ones), hidden folders (`.git`, `.venv`, `.tox`, ...), `node_modules`,
`__pycache__` and virtual environments (any folder holding a `pyvenv.cfg`). A path named on
the command line is always taken, as ruff and mypy do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

__all__ = ["JS_FLOW_SUFFIXES", "SKIPPED_DIRS", "find_flow_files", "is_flow_file"]

# JavaScript Flow declaration files: `foo.js.flow` beside `foo.js` (and the module flavours)
JS_FLOW_SUFFIXES = (".js.flow", ".mjs.flow", ".cjs.flow", ".jsx.flow")
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env"})


def is_flow_file(name: str | os.PathLike) -> bool:
    """True for a flowc flow's file name: `*.flow`, never `*.js.flow`."""
    base = os.path.basename(os.fspath(name)).lower()
    return base.endswith(".flow") and not base.endswith(JS_FLOW_SUFFIXES) and base != ".flow"


def _skipped_dir(entry: os.DirEntry) -> bool:
    name = entry.name
    if name.startswith(".") or name in SKIPPED_DIRS:
        # `venv`/`env` are skipped only when they are virtual environments
        if name in ("venv", "env"):
            return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))
        return True
    return os.path.exists(os.path.join(entry.path, "pyvenv.cfg"))


def _read_ignore(folder: str) -> list[str]:
    try:
        with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


class _Ignores:
    """The `.gitignore` rules in force in one folder: (base folder, spec) pairs, outermost
    first. A path is ignored when the last spec with an opinion says so (git's order: a
    deeper file can re-include what an outer one excluded)."""

    def __init__(self, layers: list[tuple[str, GitIgnoreSpec]]):
        self.layers = layers

    def child(self, folder: str) -> _Ignores:
        lines = _read_ignore(folder)
        if not lines:
            return self
        from pathspec import GitIgnoreSpec

        return _Ignores([*self.layers, (folder, GitIgnoreSpec.from_lines(lines))])

    def ignored(self, path: str, is_dir: bool) -> bool:
        verdict = False
        for base, spec in self.layers:
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            if rel.startswith("../"):
                continue
            if is_dir:
                rel += "/"
            result = spec.check_file(rel)
            if result.include is not None:
                verdict = result.include
        return verdict


def _repo_root(folder: Path) -> Path | None:
    for cand in (folder, *folder.parents):
        if (cand / ".git").exists():
            return cand
    return None


def _ignores_above(folder: Path) -> _Ignores:
    """The rules of the `.gitignore` files between the repository's root and `folder`
    (inclusive); none outside a repository but the folder's own."""
    root = _repo_root(folder)
    chain = [folder]
    if root is not None:
        rel = folder.relative_to(root)
        chain = [root / p for p in (*reversed(rel.parents), rel)]
    ig = _Ignores([])
    for f in chain:
        ig = ig.child(str(f))
    return ig


def _walk(folder: str, ignores: _Ignores, out: list[Path]) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            if _skipped_dir(entry) or ignores.ignored(entry.path, True):
                continue
            _walk(entry.path, ignores.child(entry.path), out)
        elif is_flow_file(entry.name) and not ignores.ignored(entry.path, False):
            out.append(Path(entry.path))


def find_flow_files(folder: str | os.PathLike) -> list[Path]:
    """The flows under `folder` (sorted), by the rules above."""
    start = Path(os.path.abspath(folder))
    out: list[Path] = []
    _walk(str(start), _ignores_above(start), out)
    given = os.fspath(folder)
    # keep the paths as the user wrote the folder (relative stays relative)
    return sorted(Path(given) / p.relative_to(start) for p in out)
