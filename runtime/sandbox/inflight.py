"""Executions in flight, by the thread that waits for each: what to kill to stop one at once.

The runtime stops the work of a run that was cancelled or whose lease another process took
(runtime/heartbeat.py): it kills the sandbox processes the run's threads are waiting on, from
another thread. Each execution registers how to kill its process for as long as it runs; a
killed execution ends as the sandbox's own failure (crashed), and its thread goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

__all__ = ["executing", "kill_threads"]

_lock = threading.Lock()
_by_thread: dict[int, list[Callable[[], None]]] = {}


@contextmanager
def executing(kill: Callable[[], None]) -> Iterator[None]:
    """While the block runs, `kill_threads` of this thread calls `kill` (SIGKILL to the
    process: it must be safe to call from another thread, and more than once)."""
    ident = threading.get_ident()
    with _lock:
        _by_thread.setdefault(ident, []).append(kill)
    try:
        yield
    finally:
        with _lock:
            kills = _by_thread.get(ident)
            if kills:
                kills.remove(kill)
                if not kills:
                    del _by_thread[ident]


def kill_threads(idents: Iterable[int]) -> int:
    """Kill every execution the threads `idents` are waiting on; returns how many."""
    with _lock:
        kills = [k for i in idents for k in _by_thread.get(i, ())]
    for kill in kills:
        try:
            kill()
        except Exception:  # pragma: no cover - the process is gone already
            pass
    return len(kills)
