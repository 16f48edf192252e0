"""Batched trace records, so a run does not pay a write for each one.

An attempt's start record (attempt, inputs, start time) and its model exchanges are kept in
memory when the node's result is committed, and written together (`record_traces`: two
`executemany` statements in one commit) every `BATCH` nodes with model calls and before `advance` returns, so a
trace read after a run is complete. A second thread writing the same SQLite file would fight
the engine for its write lock, so the batches are written by the engine's own thread. What a
crash can lose is only the trace detail of the last nodes, never a result, task, effect or
audit event.
"""

from __future__ import annotations

import sys
import threading

__all__ = ["TraceWriter", "BATCH"]

BATCH = 64


class TraceWriter:
    def __init__(self, store, batch: int = BATCH):
        self.store = store
        self.batch = batch
        self._items: list = []
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def put(self, item) -> None:
        """Keep `(run_id, node_id, item, started, calls)`; write a full batch."""
        with self._lock:
            self._items.append(item)
            full = len(self._items) >= self.batch
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        if not items:
            return
        try:
            self.store.record_traces(items)
        except Exception as e:  # trace detail is lost, never a run: say so once
            if self.error is None:
                print(f"flowc: trace records could not be written: {e}", file=sys.stderr)
            self.error = e

    def close(self) -> None:
        self.flush()
