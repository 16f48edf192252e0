"""The SQLite store's machinery, below its tables: connections, transactions, retries,
migrations and lease fences (`SQLiteBase`; runtime/store/sqlitestore.py composes the tables
on it).

Durability
    The database runs in WAL mode with `synchronous=NORMAL`. Every committed transaction is
    atomic and survives a crash of the process (or of every process using the store); after a
    power loss or an operating-system crash the last transactions committed before it may be
    rolled back, never half-applied: the store goes back to a consistent earlier state, and
    the runtime resumes from the node results that are there (effects are keyed, so an effect
    whose `done` was lost is looked up, not blindly repeated). `SQLiteStore(path,
    synchronous="FULL")` fsyncs on every commit and closes that window at some cost in
    write throughput.

Concurrency
    Each thread gets its own connection (a `threading.local`; a forked child opens new ones and
    never touches the parent's). Start worker processes with `spawn` or `forkserver`: a child
    forked while another thread of the parent is inside SQLite can inherit SQLite's internal
    mutexes locked and hang (SQLite's rule, not this module's). Every write runs in `BEGIN IMMEDIATE`, so a transaction takes
    the write lock up front instead of failing half-way when it upgrades a read lock. Writers
    of one process queue on an in-process lock (per database file) before they ask SQLite, so
    threads hand the write lock to each other at once instead of sleeping in SQLite's busy
    handler; writers of different processes wait in SQLite's busy handler (`busy_timeout`),
    and a write that still meets "database is locked/busy" is rolled back and retried with
    jittered exponential backoff for up to `retry_for` seconds before `StoreBusy` is raised.
    Readers never block writers (WAL). Compare-and-set updates (`decide_task`,
    `expire_task`, `escalate_task`, `claim_runs`, `release_run`, `effect_done`) say in their
    WHERE clause which state they expect, so exactly one of several concurrent callers wins in
    any process.

Fenced leases
    A run's lease has a fencing token (`lease_token`) that grows each time the lease passes to
    another owner. `with store.fenced(run_id, owner, token):` makes every transaction the
    calling thread opens check first, under the write lock, that `owner` still holds the
    lease with that token (`LeaseLost` if another process took it, `RunCancelled` if the run
    was cancelled: nothing of the transaction commits). `heartbeat()` renews a held lease.

Transactions
    `with store.transaction():` opens one write transaction for the calling thread; every store
    method called inside it (on the same thread) joins it, each in its own SAVEPOINT, and
    everything commits together or not at all. Nested `transaction()` blocks are savepoints.
    `finish_node(..., audit=[...])` appends audit events in the node result's transaction.

"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from .. import blobs as _blobs
from .. import faults as _faults
from . import schema as _schema
from .codec import _dump
from .errors import (
    LeaseLost,
    RunCancelled,
    SchemaVersionError,
    StoreBusy,
    StoredValueChanged,
    StoreError,
    StoreFault,
)
from .filefaults import _RESTORE, QUICK_CHECK_MAX_BYTES, _check_hint, file_fault, store_fault
from .records import TERMINAL_RUN_STATUSES

__all__ = ["SQLiteBase"]

T = TypeVar("T")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """A lock another connection holds for now: worth a retry. SQLITE_PROTOCOL is one too: a
    WAL reader that lost its race for a read mark about a hundred times in a row (many
    connections opening at once on a loaded machine) gives up with it."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL)
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg or "locking protocol" in msg



# ---------------------------------------------------------------- process-wide writer locks

_REGISTRY_LOCK = threading.Lock()
_WRITE_LOCKS: dict[str, threading.RLock] = {}
# Connections inherited through fork(): a child must neither use nor close them (closing could
# checkpoint or delete the parent's WAL), so they are kept referenced until the child exits.
_FORK_ORPHANS: list[sqlite3.Connection] = []


_FORK_LOCK = threading.Lock()  # a child's threads forget the parent's connections once


def _reset_after_fork() -> None:
    global _REGISTRY_LOCK, _WRITE_LOCKS, _FORK_LOCK
    _REGISTRY_LOCK = threading.Lock()
    _WRITE_LOCKS = {}
    _FORK_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _write_lock_for(key: str) -> threading.RLock:
    with _REGISTRY_LOCK:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced (the base class cannot); it resolves the
    references to large values in the rows it reads (runtime/blobs.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.blob_cache = _blobs.BlobCache()
        self.row_factory = _blobs.resolve_row


# ------------------------------------------------------------------------------ the store


class SQLiteBase:
    """One SQLite file in WAL mode (or `":memory:"`, one locked connection): its connections
    (one per thread), write transactions, retries, migrations and lease fences. The table
    classes build on it; `SQLiteStore` is all of them together.

    `busy_timeout` is how long one statement waits in SQLite for another process's lock;
    `retry_for` bounds the whole retry loop around a write; `clock` gives "now" (tests);
    `quick_check_max_bytes`: files up to this size get `PRAGMA quick_check` when opened (0:
    never), larger ones the header checks only."""

    dialect = "sqlite"  # where the tables' SQL differs (a planner hint, "no limit")

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL",
                 busy_timeout: float = 5.0, retry_for: float = 60.0,
                 clock: Callable[[], float] = time.time,
                 quick_check_max_bytes: int = QUICK_CHECK_MAX_BYTES):
        path = os.fspath(path)
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = path
        self.memory = path in (":memory:", "")
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.retry_for = retry_for
        self.clock = clock
        self.quick_check_max_bytes = quick_check_max_bytes
        self.journal_mode = "memory"
        self._closed = False
        self._touched: set[str] = set()  # runs whose trail grew (see touched_runs)
        self._heads: dict[str, tuple[int, str]] = {}  # run -> (seq, head) this store wrote
        self._commits = 0  # the memory store's commits (its fences' data_version)
        self._pid = os.getpid()
        self._local = threading.local()
        self._conns: list[tuple[weakref.ref[threading.Thread], _Connection]] = []
        self._conns_lock = threading.Lock()
        self._prune_at = 8  # (see _conn)
        if self.memory:
            self._key = f":memory:{id(self)}"
            self._lock = threading.RLock()
            self._mem_conn = self._connect(":memory:")
        else:
            parent = os.path.dirname(os.path.abspath(path))
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as e:
                raise StoreFault(f"{path}: the store cannot be opened: its folder {parent} "
                                 f"cannot be made ({e.strerror or e})", "cannot_open",
                                 path) from e
            self._key = os.path.realpath(path)
            self._lock = _write_lock_for(self._key)
            fault = file_fault(path)  # not SQLite, a damaged header, truncated
            if fault is not None:
                raise fault
        try:
            if not self.memory:
                conn = self._conn()
                self.journal_mode = self._retrying(lambda: self._enable_wal(conn))
                self._retrying(lambda: self._quick_check(conn))
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.close()
            self._fault(exc)
            raise
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _now(self) -> float:
        return float(self.clock())

    def _fault(self, exc: BaseException) -> None:
        """Raise the StoreFault a SQLite error about the file stands for (else return)."""
        fault = store_fault(exc, self.path)
        if fault is not None:
            raise fault from exc

    def _quick_check(self, conn: sqlite3.Connection) -> None:
        """A damaged store is refused when it is opened, before anything commits into it:
        `PRAGMA quick_check` over files up to `quick_check_max_bytes`."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size == 0 or size > self.quick_check_max_bytes:
            return
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(3)").fetchall()]
        if rows != ["ok"]:
            what = " ".join("; ".join(rows).split())[:300]
            raise StoreFault(f"{self.path}: the store is damaged (quick_check: {what}): "
                             f"{_RESTORE}; {_check_hint(self.path)}", "damaged", self.path)

    def __enter__(self) -> SQLiteBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections

    def _connect(self, target: str) -> _Connection:
        conn = sqlite3.connect(target, timeout=self.busy_timeout, isolation_level=None,
                               check_same_thread=False, factory=_Connection)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        return conn

    @staticmethod
    def _enable_wal(conn: sqlite3.Connection) -> str:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        return str(mode).lower()

    def _conn(self) -> _Connection:
        """This thread's connection (the memory store's one connection: hold `_lock`)."""
        if self._closed:
            own = getattr(self._local, "conn", None) if not self.memory else None
            if own is not None:  # left open by close() while this thread might be using it
                self._local.conn = None
                with contextlib.suppress(sqlite3.Error):
                    own.close()
            raise StoreError(f"{self!r} is closed")
        if self.memory:
            return self._mem_conn
        if os.getpid() != self._pid:
            with _FORK_LOCK:
                if os.getpid() != self._pid:
                    self._forget_parent_connections()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(self.path)
            self._local.conn = conn
            with self._conns_lock:
                # the connections of threads that are gone are closed when the list has doubled
                # since it was last pruned: amortised O(1) a thread (every time was O(threads))
                if len(self._conns) >= self._prune_at:
                    alive = []
                    for thread, c in self._conns:
                        t = thread()
                        if t is not None and t.is_alive():
                            alive.append((thread, c))
                        else:
                            c.close()  # its thread is gone
                    self._conns = alive
                    self._prune_at = max(8, 2 * len(alive))
                self._conns.append((weakref.ref(threading.current_thread()), conn))
        return conn

    def _forget_parent_connections(self) -> None:
        _FORK_ORPHANS.extend(c for _, c in self._conns)
        own = getattr(self._local, "conn", None)
        if own is not None:
            _FORK_ORPHANS.append(own)
        self._conns = []
        self._conns_lock = threading.Lock()
        self._local = threading.local()
        self._lock = _write_lock_for(self._key)
        self._pid = os.getpid()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the connections this store opened (in this process). Another live thread's
        connection is left to that thread (closed on its next use, which raises StoreError,
        or when it exits): closing a connection another thread is inside of crashes SQLite."""
        if self._closed:
            return
        self._closed = True
        if self.memory:
            with self._lock:
                self._mem_conn.close()
            return
        if os.getpid() != self._pid:
            with _FORK_LOCK:
                if os.getpid() != self._pid:
                    self._forget_parent_connections()
            return
        me = threading.current_thread()
        with self._conns_lock:
            for thread, c in self._conns:
                t = thread()
                if t is None or t is me or not t.is_alive():
                    with contextlib.suppress(sqlite3.Error):
                        c.close()
                # else: that thread may be inside SQLite with it at this moment, and closing it
                # from here frees what SQLite is using (a segfault). Its own thread closes it
                # when it next asks for it (`_conn`) or exits (its thread-local dies with it).
            self._conns = []

    # -- transactions and retries

    def _retrying(self, attempt: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.retry_for
        delay = 0.002
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"{self.path}: still locked after {self.retry_for:g} s: "
                                    f"{exc}") from exc
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.25)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SQLiteBase]:
        """One write transaction for this thread; store calls inside it join it (savepoints).

        Commits when the block ends, rolls everything back when it raises."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            conn = self._conn()
            name = f"flowc_sp{depth}"
            conn.execute(f"SAVEPOINT {name}")
            self._local.depth = depth + 1
            try:
                yield self
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # the error raised is the one to see
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {name}")
            finally:
                self._local.depth = depth
            return
        conn = self._conn()  # first: after a fork it also replaces the inherited lock
        with self._lock:
            try:
                if conn.in_transaction:  # left open by a failed ROLLBACK: start clean
                    conn.execute("ROLLBACK")
                self._retrying(lambda: conn.execute("BEGIN IMMEDIATE"))
            except sqlite3.DatabaseError as exc:
                self._fault(exc)
                raise
            self._local.depth = 1
            point = _faults.point_name() if _faults.ACTIVE else None  # crash tests only
            try:
                self._check_fence(conn)  # under the write lock: no one changes the lease now
                yield self
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            else:
                try:
                    if point is not None:
                        _faults.reached(point, "before")
                    self._retrying(lambda: conn.execute("COMMIT"))
                except BaseException as exc:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    self._fault(exc)
                    raise
                if self.memory:  # (what `PRAGMA data_version` is to a file: see _check_fence)
                    self._commits += 1
                    seen = getattr(self._local, "fence_seen", None)
                    if seen is not None and seen[1] == self._commits - 1:
                        self._local.fence_seen = (seen[0], self._commits)  # ours: it holds
                if point is not None:
                    _faults.reached(point, "after")
            finally:
                self._local.depth = 0
                if getattr(self._local, "lease_write", False):  # what a fence check found
                    self._local.lease_write = False           # may no longer hold
                    self._local.fence_seen = None

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` atomically: in this thread's open transaction, else in its own (retried)."""
        def once() -> T:
            with self.transaction():
                return fn(self._conn())

        try:
            if getattr(self._local, "depth", 0):
                return once()
            return self._retrying(once)
        except sqlite3.IntegrityError as exc:  # e.g. a node or task of a run that does not exist
            raise StoreError(f"{self.path}: {exc}") from exc
        except _blobs.BlobChanged as exc:
            raise StoredValueChanged(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:  # the file: damaged, read-only, full, ...
            self._fault(exc)
            raise

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            if self.memory:
                with self._lock:
                    return fn(self._conn())
            if getattr(self._local, "depth", 0):
                return fn(self._conn())
            return self._retrying(lambda: fn(self._conn()))
        except _blobs.BlobChanged as exc:
            raise StoredValueChanged(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._fault(exc)
            raise

    def _json(self, conn: sqlite3.Connection, value: Any) -> str | None:
        """The JSON text to store for `value`, its large parts stored once (runtime/blobs.py)."""
        return _blobs.pack(conn, value, _dump, self._now)

    # -- migrations

    @staticmethod
    def _version(conn: sqlite3.Connection) -> int:
        try:
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise
        return int(row[0] or 0)

    @staticmethod
    def _ddl(statement: str) -> str:
        """A migration's statement as this database takes it (PostgreSQL: pgbase.py)."""
        return statement

    def _refuse_newer(self, version: int) -> None:
        if version > len(_schema.MIGRATIONS):
            raise SchemaVersionError(
                f"{self.path}: the store's schema is version {version}, this flowc knows "
                f"versions up to {len(_schema.MIGRATIONS)}; open it with a newer flowc")

    def _migrate(self) -> None:
        version = self._read(self._version)
        self._refuse_newer(version)
        if version == len(_schema.MIGRATIONS):
            return

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(self._ddl(_schema.MIGRATIONS_TABLE))
            current = self._version(conn)  # again, under the write lock
            self._refuse_newer(current)
            for number in range(current + 1, len(_schema.MIGRATIONS) + 1):
                for statement in _schema.MIGRATIONS[number - 1]:
                    conn.execute(self._ddl(statement))
                conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                             (number, self._now()))

        self._write(apply)

    def schema_version(self) -> int:
        return self._read(self._version)


    # -- lease fences

    @staticmethod
    def _lease_state(row: Sequence[Any] | None, owner: str, token: int) -> str:
        if row is None:
            return "unknown"       # not committed yet (another connection's transaction)
        status, lease_owner, lease_token = row
        if status == "cancelled":
            return "cancelled"
        if lease_token != token:
            return "lost"          # another process took the lease since
        if status in TERMINAL_RUN_STATUSES:
            return "ended"         # ended by the holder itself (a terminal status frees it)
        return "held" if lease_owner == owner else "lost"

    @contextlib.contextmanager
    def fenced(self, run_id: str, owner: str, token: int) -> Iterator[None]:
        """Fence this thread's writes: every transaction it opens inside the block (a store
        method on its own, or `transaction()`) first checks, under the write lock, that
        `owner` still holds the run's lease with `token`: if another process took it,
        `LeaseLost` is raised, if the run was cancelled `RunCancelled`, and nothing of that
        transaction commits. Blocks nest (a sub-flow's run inside its parent's pass)."""
        stack = self._local.__dict__.setdefault("fences", [])
        stack.append((run_id, owner, token))
        try:
            yield
        finally:
            stack.pop()

    def in_transaction(self) -> bool:
        """Whether the calling thread has a transaction open (`transaction()`)."""
        return bool(getattr(self._local, "depth", 0))

    def current_fence(self) -> tuple[str, str, int] | None:
        """This thread's innermost fence (to carry into a helper thread), or None."""
        stack = getattr(self._local, "fences", None)
        return stack[-1] if stack else None

    def _check_fence(self, conn: sqlite3.Connection) -> None:
        stack = getattr(self._local, "fences", None)
        if not stack:
            return
        fence = stack[-1]
        # nothing another connection committed since this one last found the fence held
        # (SQLite's data_version): it still holds, no need to read the run again
        # (the memory store's one connection counts every commit: none since this thread's
        # own last one says the same)
        version = self._commits if self.memory else \
            conn.execute("PRAGMA data_version").fetchone()[0]
        if getattr(self._local, "fence_seen", None) == (fence, version):
            return
        self._check_lease(conn, fence)
        self._local.fence_seen = (fence, version)

    def _check_lease(self, conn: sqlite3.Connection, fence: tuple[str, str, int]) -> None:
        """RunCancelled / LeaseLost unless `fence`'s owner still holds the run's lease."""
        run_id, owner, token = fence
        state = self._lease_state(conn.execute(
            "SELECT status, lease_owner, lease_token FROM runs WHERE id = ?",
            (run_id,)).fetchone(), owner, token)
        if state == "cancelled":
            raise RunCancelled(f"run {run_id} was cancelled")
        if state == "lost":
            raise LeaseLost(f"the lease on run {run_id} was taken by another process")
