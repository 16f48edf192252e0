"""The heartbeat of the runs one engine is advancing: it keeps each run's lease while its nodes
run, however long they take, and stops the run's work at once when the run is cancelled or
its lease was taken by another process.

One daemon thread per engine (started when a node that may take time starts, or when a pass
has lasted a tick) ticks every `interval` seconds (a quarter of the lease, at most
0.25 s). Each tick reads every held run's lease state; once a quarter of the lease has passed
since the last renewal it renews it instead (`store.heartbeat`). A run found "cancelled" or
"lost" is marked stopped, and the sandboxes its threads are waiting on are killed
(`sandbox.inflight`), on that tick and on every later one while the run is held (a sandbox
started meanwhile goes too). The engine checks `check(run_id)` before and after each attempt
of a node, and its commits are fenced by the store (`store.fenced`), so a stopped run's
process neither commits nor starts anything more for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .store import LeaseLost, RunCancelled

__all__ = ["Heartbeat"]

_log = logging.getLogger("flowc.runtime")


@dataclass
class _Held:
    token: int
    depth: int = 1
    since: float = field(default_factory=time.monotonic)
    renewed: float = field(default_factory=time.monotonic)
    stopped: str | None = None          # "cancelled", "lost", "interrupted"
    threads: Counter = field(default_factory=Counter)


class Heartbeat:
    def __init__(self, store, owner: str, lease_seconds: float):
        self.store = store
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.interval = min(0.25, lease_seconds / 4)
        self._held: dict[str, _Held] = {}
        # threads whose sandboxes were killed for a stopped run, with the error to raise:
        # work they do meanwhile for another run (a sub-flow's, nested) is no result either
        self._killed: dict[int, LeaseLost] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- what the engine calls

    @contextmanager
    def hold(self, run_id: str, token: int) -> Iterator[None]:
        """The engine holds the run's lease (with `token`) for the block. Inside a transaction
        the caller opened (many runs started in one commit) there is nothing to watch: that
        transaction holds the store's write lock, nobody can take the lease or cancel the run
        until it commits, and another connection cannot see the lease yet."""
        if self.store.in_transaction():
            yield
            return
        with self._lock:
            held = self._held.get(run_id)
            if held is None:
                self._held[run_id] = _Held(token)
            else:  # a nested advance of the same run
                held.depth += 1
        try:
            yield
        finally:
            with self._lock:
                held = self._held[run_id]
                held.depth -= 1
                if held.depth <= 0:
                    del self._held[run_id]

    @contextmanager
    def working(self, run_id: str) -> Iterator[None]:
        """This thread does the run's work for the block (its sandboxes die with the run)."""
        ident = threading.get_ident()
        with self._lock:
            held = self._held.get(run_id)
            if held is not None:
                held.threads[ident] += 1
                self._start()
        try:
            yield
        finally:
            with self._lock:
                if held is not None:
                    held.threads[ident] -= 1
                    if held.threads[ident] <= 0:
                        del held.threads[ident]
                        if held.stopped is not None:
                            self._killed.pop(ident, None)

    def keep(self, run_id: str) -> None:
        """Between the batches of a pass: `check`, and start the heartbeat if the pass has
        lasted a tick already (a pass of quick nodes only, e.g. gates, needs none)."""
        self.check(run_id)
        held = self._held.get(run_id)
        if self._thread is None and held is not None and \
                time.monotonic() - held.since >= self.interval:
            with self._lock:
                self._start()

    def _start(self) -> None:
        """Start the thread (hold the lock). It starts with the first node that may take
        time (a sandbox, a model, a sub-flow) or the first pass that lasts a tick: starting a
        thread costs more than a pass of quick nodes."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="flowc-heartbeat")
            self._thread.start()

    def check(self, run_id: str) -> None:
        """Raise `RunCancelled` or `LeaseLost` if the run's work must stop (or if this
        thread's sandboxes were killed because another run it works for stopped)."""
        held = self._held.get(run_id)
        why = held.stopped if held is not None else None
        if why is not None:
            raise _error(run_id, why)
        killed = self._killed.get(threading.get_ident())
        if killed is not None:
            raise killed

    def stop(self, run_id: str, why: str) -> None:
        """Stop the run's work now (its sandboxes are killed): e.g. a fenced commit failed,
        or the process is interrupted."""
        with self._lock:
            held = self._held.get(run_id)
            if held is None:
                return
            if held.stopped is None:
                held.stopped = why
            threads = list(held.threads)
            for ident in threads:
                self._killed.setdefault(ident, _error(run_id, held.stopped))
        if threads:
            from .sandbox.inflight import kill_threads  # (the sandbox package loads lazily)

            kill_threads(threads)

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    # -- the thread

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            if self._closed:
                return
            with self._lock:
                runs = [(rid, h.token, h.renewed, h.stopped) for rid, h in self._held.items()]
            for run_id, token, renewed, stopped in runs:
                if stopped is not None:
                    self.stop(run_id, stopped)  # a sandbox started since dies too
                    continue
                now = time.monotonic()
                renew = now - renewed >= self.lease_seconds / 4
                try:
                    state = self.store.heartbeat(run_id, self.owner, token, self.lease_seconds,
                                                 renew=renew)
                except Exception as e:  # the store is busy or failing: the next tick retries
                    if getattr(self.store, "closed", False):
                        return  # closed under an engine that was never closed: nothing to keep
                    _log.warning("flowc: heartbeat of run %s failed: %s", run_id, e)
                    continue
                if state == "held" and renew:
                    with self._lock:
                        held = self._held.get(run_id)
                        if held is not None:
                            held.renewed = now
                elif state in ("cancelled", "lost"):
                    self.stop(run_id, state)


def _error(run_id: str, why: str) -> LeaseLost:
    if why == "cancelled":
        return RunCancelled(f"run {run_id} was cancelled")
    if why == "lost":
        return LeaseLost(f"another process took the lease on run {run_id} over")
    return LeaseLost(f"run {run_id}: {why}")
