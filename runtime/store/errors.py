"""The store's exceptions: what a caller may catch from any `Store` implementation."""

from __future__ import annotations

__all__ = [
    "LeaseLost", "NotFound", "RunCancelled", "SchemaVersionError", "StatusConflict",
    "StoreBusy", "StoreError", "StoreFault", "StoredValueChanged",
]

class StoreError(Exception):
    """A problem with the run store that is not a bug in the caller's data."""


class NotFound(StoreError, KeyError):
    """No plan, run, task or effect with that key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class StatusConflict(StoreError):
    """The row is not in the status the caller expected (someone else changed it first)."""


class SchemaVersionError(StoreError):
    """The database was written by a newer flowc (a schema version this code does not know)."""


class StoredValueChanged(StoreError):
    """A large value the store keeps once (runtime/blobs.py) was changed or removed."""


class StoreBusy(StoreError):
    """The database stayed locked by other writers for longer than the retry budget."""


class StoreFault(StoreError):
    """The database file itself cannot serve: damaged, not a SQLite database, truncated,
    read-only, full, or not openable. The message is one line: the file, what is wrong, what
    to do. `kind` is one of "damaged", "truncated", "not_sqlite", "read_only", "full",
    "cannot_open", "io", "missing"."""

    def __init__(self, message: str, kind: str, path: str = ""):
        super().__init__(message)
        self.kind = kind
        self.path = path


class LeaseLost(StoreError):
    """A fenced write of a process whose lease on the run another process took: refused,
    nothing of its transaction is committed. The process must stop working on the run."""


class RunCancelled(LeaseLost):
    """A fenced write for a run that was cancelled: refused, nothing of it is committed."""
