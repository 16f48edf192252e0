"""The orchestration turn: how runs share one process.

Runs in one process (the threads of `flowc serve`, of a Temporal worker's activities, of a
program calling `Engine.start` from many threads) advance in turns. A thread holds the turn
while it does the engine's own work for a run (reading results, deciding what is ready,
committing a node's result and audit events) and gives it up while a node does its slow work
(a model call, a sandbox, a command, a sub-flow, waiting for helper threads), so that work still
overlaps. After each node it commits, a thread that others are waiting behind hands the turn
to the longest waiter (first come, first served) and queues again.

Why: the engine's own work is Python under the interpreter lock, and it talks to SQLite, which
lets the lock go on every statement. Threads doing it at the same time gain nothing and hand
the interpreter lock (and the store's write lock) back and forth on every statement: 200
concurrent runs of in-process nodes cost 4x per node what the same runs cost one after another
(bench/runtime.py, measure 5). In turns they cost about what they cost in sequence.

The turn is an optimisation, never a guarantee: correctness rests on the store's transactions,
leases and fences, and code that does not take the turn (a heartbeat, a `for each`'s item
threads, another process) is still correct. What keeps it free of deadlock:
- it is taken only outside a store transaction, so it always comes before the store's write
  lock, never after;
- its holder never waits for another thread while holding it: every executor that may block
  (all but those that wait for a person, which only record a task) runs with the turn given
  up, and so does the wait for helper threads;
- it is reentrant for its holder, FIFO for the others, and a waiter interrupted (Ctrl-C) leaves
  the queue, or passes the turn on if it was handed it meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Iterator


class Turn:
    """A reentrant FIFO lock handed from holder to waiter (no thundering herd, no barging)."""

    def __init__(self, slice_seconds: float = 0.005) -> None:
        self.slice = slice_seconds
        self._since = 0.0
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._waiters: deque[tuple[int, threading.Lock, list[int]]] = deque()

    # ---- the primitives
    def held(self) -> bool:
        return self._owner == threading.get_ident()

    def acquire(self, depth: int = 1) -> None:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += depth
                return
            if self._owner is None:
                self._owner, self._depth = me, depth
                self._since = time.monotonic()
                return
            baton = threading.Lock()
            baton.acquire()
            entry = (me, baton, [depth])
            self._waiters.append(entry)
        try:
            baton.acquire()  # released by the holder that hands the turn to this thread
        except BaseException:  # interrupted while waiting
            with self._mutex:
                if self._owner == me:  # handed over meanwhile: pass it on
                    self._depth = 0
                    self._hand_over()
                else:
                    with contextlib.suppress(ValueError):
                        self._waiters.remove(entry)
            raise

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("the turn is not held by this thread")
            self._depth -= 1
            if self._depth == 0:
                self._hand_over()

    def _hand_over(self) -> None:
        """(holding `_mutex`, depth 0) To the longest waiter, or free."""
        if self._waiters:
            ident, baton, depth = self._waiters.popleft()
            self._owner, self._depth = ident, depth[0]
            self._since = time.monotonic()
            baton.release()
        else:
            self._owner = None

    def _release_all(self) -> int:
        """Give the turn up whatever the depth; returns the depth to take back."""
        with self._mutex:
            depth, self._depth = self._depth, 0
            self._hand_over()
        return depth

    # ---- what the engine uses
    @contextlib.contextmanager
    def held_here(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            # not held any more when an interrupt stopped `given_up` taking it back: that
            # interrupt is what goes on, not a "not held" error
            if self.held():
                self.release()

    @contextlib.contextmanager
    def given_up(self) -> Iterator[None]:
        """The turn given up while the block runs (slow work), taken back after; nothing when
        this thread does not hold it."""
        if not self.held():
            yield
            return
        depth = self._release_all()
        try:
            yield
        finally:
            self.acquire(depth)

    def pass_on(self) -> None:
        """Between two nodes: when others wait and this thread has held the turn for its
        slice (5 ms, the interpreter's own switch interval), the longest waiter goes first and
        this thread queues behind the waiters there are now. (Handing it over after every node
        cost more than the contention it saves.)"""
        if self._waiters and self.held() and time.monotonic() - self._since >= self.slice:
            depth = self._release_all()
            self.acquire(depth)

    def _reset(self) -> None:
        """In a forked child: the parent's holder and waiters are not threads here."""
        self._mutex = threading.Lock()
        self._owner, self._depth = None, 0
        self._waiters = deque()


TURN = Turn()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=TURN._reset)
