"""The command line's errors and exit codes: what a refused command raises, and the one-line
messages the `flowc` commands share (a missing path, a run store that cannot serve).

Every `*_cli` module imports them from here, and `flowc.cli` turns them into exit codes.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["EXIT_ERRORS", "EXIT_INTERNAL", "EXIT_OK", "EXIT_STORE", "EXIT_USAGE",
           "CommandError", "UsageError", "missing_path", "store_problem"]

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL, EXIT_STORE = 0, 1, 2, 3, 4


class UsageError(Exception):
    """A mistake on the command line: one line, exit code 2."""


class CommandError(UsageError):
    """A refused command (unknown id, bad value, wrong user): one line, its own exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def missing_path(text: str) -> str:
    """`PATH` does not exist, with the closest existing name beside it when there is one."""
    from difflib import get_close_matches

    path = Path(text)
    if path.is_dir():
        return f"`{text}` is a folder; give a .flow file"
    parent, parts = path, []
    while not parent.exists() and parent != parent.parent:
        parts.insert(0, parent.name)
        parent = parent.parent
    if not parent.exists() or not parent.is_dir() or not parts:
        return f"`{text}` does not exist"
    try:
        names = [p.name for p in parent.iterdir()]
    except OSError:
        names = []
    close = get_close_matches(parts[0], names, n=1, cutoff=0.8)
    if close:
        guess = parent / close[0]
        for rest in parts[1:]:  # the rest of the path, fixed the same way where it can be
            if not guess.is_dir():
                break
            inner = get_close_matches(rest, [p.name for p in guess.iterdir()], n=1, cutoff=0.8)
            guess = guess / (inner[0] if inner else rest)
        shown = str(guess) if str(parent) != "." else guess.as_posix()
        return f"`{text}` does not exist (did you mean `{shown}`?)"
    if str(parent) in (".", ""):
        return f"`{text}` does not exist"
    return f"`{text}` does not exist (`{parent}` holds no `{parts[0]}`)"


def store_problem(e: BaseException) -> str | None:
    """The one line to show when `e` (or what caused it) is the run store failing, not flowc:
    a StoreFault, StoreBusy, a store from a newer flowc, or a SQLite error about the file."""
    store = sys.modules.get("flowc.runtime.store")
    if store is None:  # no command that got this far without the store loads it
        return None
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, store.StoreFault | store.StoreBusy | store.SchemaVersionError):
            return str(e)
        fault = store.store_fault(e, "")
        if fault is not None:
            return str(fault).removeprefix(": ")
        e = e.__cause__ or e.__context__
    return None
