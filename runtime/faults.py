"""Fault injection at the store's commit points, for crash tests: kill the process at one.

Every write to the store commits in one place, the end of the outermost `transaction()`
(a store method called on its own opens one). Each commit has a **commit point** name,
worked out from where it was made: `CALLER/METHOD`, the function outside the store that
asked for it (its qualified name: `Engine._commit`, `cmd_cancel`) and the store method it
called (`finish_node`, or `transaction` for a `with store.transaction():` block). So a new
`with store.transaction():` block or a new store write call is a new commit point without
anything to register: the harness (tests/test_fault_injection.py) finds it by running its
scenarios with `FLOWC_FAULT_LOG`, and its static check finds every call site in the code.

Environment (read once, when this module is first imported; nothing happens without them):

`FLOWC_FAULT=POINT:before|after[:N]`
    SIGKILL this process just before (`before`: the transaction is rolled back, nothing of it
    is stored) or just after (`after`: it is committed, nothing after it ran) the N-th commit
    at POINT (default the first).

`FLOWC_FAULT_LOG=FILE`
    Append each commit point reached, one name a line, to FILE (when its commit starts).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

__all__ = ["ACTIVE", "point_name", "reached"]

_SPEC = os.environ.get("FLOWC_FAULT", "").strip()
_LOG = os.environ.get("FLOWC_FAULT_LOG", "").strip()
ACTIVE = bool(_SPEC or _LOG)

_STORE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "store", "")
_SKIP = (_STORE_DIR, os.path.join("contextlib.py"))

_target: tuple[str, str, int] | None = None
if _SPEC:
    _name, _sep, _rest = _SPEC.rpartition(":")
    if _rest.isdigit():
        _name, _sep, _when = _name.rpartition(":")
        _nth = int(_rest)
    else:
        _when, _nth = _rest, 1
    if not _name or _when not in ("before", "after"):
        sys.exit(f"flowc: FLOWC_FAULT is POINT:before|after[:N], not {_SPEC!r}")
    _target = (_name, _when, _nth)

_counts: dict[str, int] = {}
_lock = threading.Lock()


def point_name() -> str:
    """The name of the commit point of the transaction being opened (call it from inside the
    store): the first caller outside the store, and the outermost store method it called."""
    frame = sys._getframe(1)
    method = "transaction"
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(_STORE_DIR):
            name = frame.f_code.co_name
            if not name.startswith("_") and name not in ("once", "<lambda>"):
                method = name
        elif not path.endswith(_SKIP[1]):
            return f"{frame.f_code.co_qualname}/{method}"
        frame = frame.f_back
    return f"?/{method}"


def reached(name: str, when: str) -> None:
    """A commit at `name` is about to happen (`before`) or has happened (`after`)."""
    if when == "before":
        with _lock:
            _counts[name] = _counts.get(name, 0) + 1
            count = _counts[name]
        if _LOG:
            fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{name}\n".encode())
            finally:
                os.close(fd)
    else:
        count = _counts.get(name, 0)
    if _target is not None and _target[0] == name and _target[1] == when and \
            _target[2] == count:
        os.kill(os.getpid(), signal.SIGKILL)
