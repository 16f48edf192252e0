"""Batched trace records, so a run does not pay a write for each one.

An attempt's model exchanges are kept in memory when the node's result is committed (its
start goes into the result's own row) and written in batches, one `executemany` each: a full
batch rides along with the next node result's commit, and what is left goes into the commit
that pauses or ends the run, so a trace read after a run is complete and tracing adds no
commit of its own. (Writing each node's exchanges with its result costs more: a statement per
node. A second thread writing the same SQLite file was slower still: it fights the engine for
the write lock.) What a
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
        """Keep `(run_id, node_id, item, started, calls)` until a batch is written."""
        with self._lock:
            self._items.append(item)

    def take_batch(self) -> list:
        """A full batch's model exchanges, to write with the commit at hand (no commit of
        their own); empty while the batch is not full."""
        with self._lock:
            if len(self._items) < self.batch:
                return []
            items, self._items = self._items, []
        return [c for *_, calls in items for c in calls]

    def flush(self) -> None:
        """Write what is kept (inside the caller's transaction when one is open)."""
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
