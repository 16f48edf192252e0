"""A background writer for trace records, so a run does not wait for them.

An attempt's start record (attempt, inputs, start time) and its model exchanges are queued
when the node's result is committed and written by one thread in batches (`record_traces`, one
commit a batch); `flush()` waits until everything queued is written, and the engine flushes
before `advance` returns, so a trace read after a run is complete. What a crash can lose is
only trace detail of the last nodes, never a result, task, effect or audit event.
"""

from __future__ import annotations

import queue
import sys
import threading

__all__ = ["TraceWriter"]


class TraceWriter:
    def __init__(self, store):
        self.store = store
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def put(self, item) -> None:
        """Queue `(run_id, node_id, item, started, calls)`."""
        with self._cond:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="flowc-trace",
                                                daemon=True)
                self._thread.start()
        self._queue.put(item)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(b is None for b in batch)
            batch = [b for b in batch if b is not None]
            try:
                self.store.record_traces(batch)
            except Exception as e:  # trace detail is lost, never a run: say so once
                if self.error is None:
                    print(f"flowc: trace records could not be written: {e}", file=sys.stderr)
                self.error = e
            with self._cond:
                self._pending -= len(batch)
                self._cond.notify_all()
            if stop:
                return

    def flush(self, timeout: float = 60.0) -> bool:
        """Wait until every queued record is written; False if that took over `timeout`."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        self.flush()
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=10)
