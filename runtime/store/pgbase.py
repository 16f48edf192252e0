"""The store's connection layer on PostgreSQL (psycopg 3): what `SQLiteBase` is to a file,
for a server every worker, `flowc serve` and the CLI share. The table classes (runs.py,
nodes.py, ...) run on it unchanged: their SQL is the subset both databases accept
(schema.py), written with `?` placeholders that this layer turns into psycopg's.

Writes are serialised as SQLite serialises them: each write transaction takes one
transaction-scoped advisory lock first (`pg_advisory_xact_lock`), so a read-then-write in a
transaction (a compare-and-set, an audit append, a lease check) sees every commit made before
it and none is made beside it, across processes and machines. Reads outside a transaction
are single statements (READ COMMITTED); `audit_evidence` reads in one REPEATABLE READ
transaction, one snapshot. A lost connection is opened again on the next call; a write whose
transaction failed on a serialisation or deadlock error is retried within `retry_for`."""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from .. import blobs as _blobs
from .connections import SQLiteBase
from .errors import (
    StoreBusy,
    StoredValueChanged,
    StoreError,
    StoreFault,
)

T = TypeVar("T")

# The one advisory lock key of flowc's writers (any 64-bit number no other program uses).
_WRITE_LOCK_KEY = 0x666C6F7763  # "flowc"
_PLACEHOLDER = re.compile(r"\?")
_SQL_CACHE: dict[str, str] = {}


def _pg_sql(sql: str) -> str:
    """The statement with psycopg's placeholders (`?` -> `%s`, a literal `%` doubled)."""
    out = _SQL_CACHE.get(sql)
    if out is None:
        out = _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))
        if len(_SQL_CACHE) < 4096:
            _SQL_CACHE[sql] = out
    return out


def _param(value: Any) -> Any:
    # SQLite stores a bool as an integer and the schema's columns are INTEGER: so here
    return int(value) if type(value) is bool else value


def _params(params: Sequence[Any] | None) -> tuple:
    return () if not params else tuple(_param(v) for v in params)


_SECRET_PARAM = re.compile(r"(?i)((?:^|&)(?:password|sslpassword)=)[^&]*")


def redact(url: str) -> str:
    """The URL without its passwords (for messages and `repr`): the one in its user part,
    and `password=`/`sslpassword=` query parameters."""
    try:
        parts = urlsplit(url)
        password = parts.password
        host = parts.hostname or ""
        if parts.port:
            host += f":{parts.port}"
    except ValueError:
        return "postgresql://..."
    netloc = parts.netloc
    if password is not None:
        netloc = f"{parts.username or ''}:***@{host}"
    query = _SECRET_PARAM.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


# PostgreSQL's INTEGER is 32 bits; SQLite's is 64 (file sizes, tokens, counts): the schema's
# INTEGER columns are BIGINT here
_INTEGER = re.compile(r"\bINTEGER\b")


def _pg_ddl(statement: str) -> str:
    return _INTEGER.sub("BIGINT", statement)


class _Cursor:
    """A psycopg cursor with sqlite3's face: `execute` returns it, rows come back with the
    store's large values resolved (runtime/blobs.py), unless `row_factory` is set to None."""

    def __init__(self, conn: _PgConnection):
        self.connection = conn
        self._cur = conn.raw.cursor()
        self.row_factory: Callable | None = _blobs.resolve_row

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _Cursor:
        self._cur.execute(_pg_sql(sql), _params(params))
        return self

    def executemany(self, sql: str, rows) -> _Cursor:
        self._cur.executemany(_pg_sql(sql), [_params(r) for r in rows])
        return self

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def description(self):
        return self._cur.description

    def _row(self, row):
        return row if self.row_factory is None or row is None else self.row_factory(self, row)

    def fetchone(self):
        if self._cur.description is None:
            return None
        return self._row(self._cur.fetchone())

    def fetchall(self) -> list:
        if self._cur.description is None:
            return []
        return [self._row(r) for r in self._cur.fetchall()]

    def __iter__(self):
        return iter(self.fetchall())


class _PgConnection:
    """One psycopg connection (autocommit: transactions are begun and ended explicitly, as
    the table code does on SQLite) with sqlite3's `execute`/`executemany`/`cursor`."""

    def __init__(self, raw):
        self.raw = raw
        self.blob_cache = _blobs.BlobCache()

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> _Cursor:
        return self.cursor().execute(sql, params)

    def executemany(self, sql: str, rows) -> _Cursor:
        return self.cursor().executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def in_error(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status == TransactionStatus.INERROR

    def close(self) -> None:
        self.raw.close()


def _errors():
    import psycopg

    return psycopg


def _retryable(exc: BaseException) -> bool:
    psycopg = _errors()
    return isinstance(exc, (psycopg.errors.SerializationFailure,
                            psycopg.errors.DeadlockDetected,
                            psycopg.errors.LockNotAvailable))  # lock_timeout: another writer


class PostgresBase(SQLiteBase):
    """A PostgreSQL database as the store: one connection per thread, write transactions
    serialised by an advisory lock, retries and lease checks. What does not depend on the
    database (migrations' order, lease states and fences) is SQLiteBase's."""

    dialect = "postgresql"
    memory = False
    journal_mode = "postgresql"

    def __init__(self, url: str, *, retry_for: float = 60.0,
                 clock: Callable[[], float] = time.time, connect_timeout: float = 10.0,
                 lock_timeout: float = 5.0, idle_timeout: float = 300.0, **_ignored: Any):
        try:
            import psycopg  # noqa: F401
        except ImportError as e:  # an install without the extra
            raise StoreError("a postgresql:// store needs psycopg: pip install "
                             "'flowc[postgres]'") from e
        self.url = url
        self.path = redact(url)
        self.retry_for = retry_for
        self.clock = clock
        self.connect_timeout = connect_timeout
        # one wait for the write lock (then retried until retry_for: StoreBusy); a client
        # that stops inside a transaction is cut off by the server after idle_timeout
        self.lock_timeout = lock_timeout
        self.idle_timeout = idle_timeout
        self._pid = os.getpid()
        self._closed = False
        self._touched: set[str] = set()
        self._heads: dict[str, tuple[int, str]] = {}
        self._local = threading.local()
        self._lock = threading.RLock()
        self._conns: list[tuple[weakref.ref[threading.Thread], _PgConnection]] = []
        self._conns_lock = threading.Lock()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresStore({self.path!r})"

    # -- connections

    def _connect(self) -> _PgConnection:
        psycopg = _errors()
        try:
            raw = psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout)),
                options=f"-c lock_timeout={int(self.lock_timeout * 1000)} "
                        f"-c idle_in_transaction_session_timeout={int(self.idle_timeout * 1000)}")
        except psycopg.Error as e:
            raise StoreFault(f"{self.path}: the store cannot be opened: "
                             f"{' '.join(str(e).split())[:300]}", "cannot_open",
                             self.path) from e
        return _PgConnection(raw)

    def _conn(self) -> _PgConnection:
        if self._closed:
            raise StoreError(f"{self!r} is closed")
        self._after_fork()
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.raw.closed:
            conn = None  # lost: the next call opens another
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._conns_lock:
                alive = []
                for thread, c in self._conns:
                    t = thread()
                    if t is not None and t.is_alive() and not c.raw.closed:
                        alive.append((thread, c))
                    else:
                        with contextlib.suppress(Exception):
                            c.close()
                alive.append((weakref.ref(threading.current_thread()), conn))
                self._conns = alive
        return conn

    def _after_fork(self) -> None:
        """In a forked child, forget the parent's connections and thread state (its open
        transaction too, if it forked inside one): never used, never closed from here."""
        if os.getpid() != self._pid:
            self._conns = []
            self._conns_lock = threading.Lock()
            self._local = threading.local()
            self._lock = threading.RLock()
            self._pid = os.getpid()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._conns_lock:
            for _, c in self._conns:
                with contextlib.suppress(Exception):
                    c.close()
            self._conns = []

    # -- transactions and retries

    def _retrying(self, attempt: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.retry_for
        delay = 0.002
        while True:
            try:
                return attempt()
            except Exception as exc:
                if not _retryable(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"{self.path}: still conflicting after "
                                    f"{self.retry_for:g} s: {exc}") from exc
                time.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.25)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresBase]:
        """One write transaction for this thread; store calls inside it join it (savepoints).
        Commits when the block ends, rolls everything back when it raises."""
        self._after_fork()
        depth = getattr(self._local, "depth", 0)
        if depth:
            conn = self._conn()
            name = f"flowc_sp{depth}"
            conn.execute(f"SAVEPOINT {name}")
            self._local.depth = depth + 1
            try:
                yield self
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                    conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            else:
                conn.execute(f"RELEASE SAVEPOINT {name}")
            finally:
                self._local.depth = depth
            return
        conn = self._conn()
        with self._lock:
            if conn.in_transaction:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
            conn.execute("BEGIN")
            try:
                conn.execute(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK_KEY})")
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            self._local.depth = 1
            try:
                self._check_fence(conn)
                yield self
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            else:
                try:
                    if conn.in_error:
                        # a statement failed inside and its error was caught: PostgreSQL
                        # would answer COMMIT with a rollback and no error
                        raise StoreError(f"{self.path}: a statement failed inside the "
                                         "transaction (its error was caught): nothing of it "
                                         "was committed")
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.execute("ROLLBACK")
                    raise
            finally:
                self._local.depth = 0

    def _translate(self, exc: BaseException) -> BaseException | None:
        psycopg = _errors()
        if isinstance(exc, _blobs.BlobChanged):
            return StoredValueChanged(f"{self.path}: {exc}")
        if isinstance(exc, psycopg.errors.IntegrityError):
            return StoreError(f"{self.path}: {' '.join(str(exc).split())[:300]}")
        if isinstance(exc, psycopg.errors.ProgramLimitExceeded):  # a key too long to index
            return StoreError(f"{self.path}: a value too large for the database: "
                              f"{' '.join(str(exc).split())[:300]}")
        if isinstance(exc, UnicodeEncodeError):  # a lone surrogate in a text column
            return StoreError(f"{self.path}: a text the database cannot hold (a lone "
                              "surrogate)")
        if isinstance(exc, psycopg.OperationalError):
            return StoreFault(f"{self.path}: the store cannot serve: "
                              f"{' '.join(str(exc).split())[:300]}", "cannot_serve",
                              self.path)
        if isinstance(exc, psycopg.DataError):
            return StoreError(f"{self.path}: a value the database refuses: "
                              f"{' '.join(str(exc).split())[:300]}")
        return None

    def _write(self, fn: Callable[[Any], T]) -> T:
        self._after_fork()

        def once() -> T:
            with self.transaction():
                return fn(self._conn())

        try:
            if getattr(self._local, "depth", 0):
                return once()
            return self._retrying(once)
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is not None:
                raise mapped from exc
            raise

    def _read(self, fn: Callable[[Any], T]) -> T:
        self._after_fork()
        try:
            return fn(self._conn())
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is not None:
                raise mapped from exc
            raise

    # -- migrations (SQLiteBase's, with BIGINT for INTEGER)

    _ddl = staticmethod(_pg_ddl)

    @staticmethod
    def _version(conn) -> int:
        row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        if row is None or row[0] is None:
            return 0
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    # -- lease fences (SQLiteBase's; the lease is read in every fenced transaction)

    def _check_fence(self, conn) -> None:
        stack = getattr(self._local, "fences", None)
        if stack:
            self._check_lease(conn, stack[-1])
