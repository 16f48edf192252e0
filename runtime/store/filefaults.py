"""What is wrong with a store file that cannot serve, in one line: damaged, not SQLite,
truncated, read-only, full, not openable, I/O (`StoreFault`), from its first bytes or from
the SQLite error it raised."""

from __future__ import annotations

import os
import sqlite3

from .errors import StoreFault

__all__ = ["QUICK_CHECK_MAX_BYTES", "file_fault", "store_fault"]

# What the store checks when it opens a file: the header always, the b-trees (`PRAGMA
# quick_check`, about 4 ms per MB: 62 ms for 16 MB, 10,000 runs) when the file is at most this
# big, so opening stays well inside the inbox's 200 ms; `flowc store check` runs the full
# `integrity_check` on any size.
QUICK_CHECK_MAX_BYTES = 16 * 2**20

_RESTORE = "restore it from a backup, or move it away to start a new store"


def _check_hint(path: str) -> str:
    return f"`flowc store check --store {path}` reports what is wrong"


def _free_bytes(folder: str) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _folder_read_only(folder: str) -> bool:
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(folder, os.W_OK)


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def store_fault(exc: BaseException, path: str) -> StoreFault | None:
    """The one-line StoreFault for a SQLite error that is about the database file (damaged,
    foreign, read-only, full, not openable, I/O), or None for any other error."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.IntegrityError):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    text = str(exc)
    low = text.lower()
    folder = os.path.dirname(os.path.abspath(path)) if path else "."
    name = os.path.basename(path)
    if primary == sqlite3.SQLITE_CORRUPT or "malformed" in low:
        return StoreFault(f"{path}: the store is damaged ({text}): {_RESTORE}; "
                          f"{_check_hint(path)}", "damaged", path)
    if primary == sqlite3.SQLITE_NOTADB or "not a database" in low:
        return StoreFault(f"{path}: not a SQLite database, so not a flowc run store ({text}): "
                          "point --store or FLOWC_STORE at the run store, or move this file "
                          "away", "not_sqlite", path)
    if primary == sqlite3.SQLITE_READONLY or "readonly" in low:
        return StoreFault(f"{path}: the store is read-only ({text}): give this user write "
                          f"access to the file and its folder (SQLite also writes {name}-wal "
                          f"and {name}-shm beside it)", "read_only", path)
    free = _free_bytes(folder)
    if primary == sqlite3.SQLITE_FULL or "is full" in low or (
            primary == sqlite3.SQLITE_IOERR and free == 0):
        where = f"{_size(free)} free on its disk" if free is not None else "its disk"
        return StoreFault(f"{path}: the store is full ({text}; {where}): free disk space (or "
                          "lift the size limit), then run the command again; what was "
                          "committed is kept", "full", path)
    if primary in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH) or \
            "unable to open" in low:
        if not os.path.isdir(folder):
            return StoreFault(f"{path}: the store cannot be opened: its folder {folder} does "
                              "not exist", "cannot_open", path)
        if _folder_read_only(folder):
            return StoreFault(f"{path}: the store cannot be opened: its folder {folder} is "
                              f"read-only (SQLite must create {name}-wal and {name}-shm there):"
                              " give this user write access to the folder, or use a store in "
                              "a writable one", "read_only", path)
        return StoreFault(f"{path}: the store cannot be opened ({text}): check that this user "
                          "may read and write the file and its folder", "cannot_open", path)
    if primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_NOLFS):
        return StoreFault(f"{path}: a disk I/O error on the store ({text}): check the disk "
                          "(full, failing, or a network file system SQLite cannot lock), then "
                          f"{_check_hint(path)}", "io", path)
    return None


def file_fault(path: str) -> StoreFault | None:
    """What the first bytes and the size of a store file show is wrong with it, if anything:
    not a SQLite database, a damaged header, a file shorter than its header says (truncated).
    A file that does not exist or is empty is a new store: None."""
    try:
        size = os.path.getsize(path)
        if size == 0:
            return None
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return None
    except OSError:
        return None  # SQLite says what it is when it opens it
    magic = b"SQLite format 3\x00"
    if not head.startswith(magic[:len(head)]) or (len(head) >= len(magic) and
                                                   not head.startswith(magic)):
        return StoreFault(f"{path}: not a SQLite database, so not a flowc run store (its first "
                          "bytes are not SQLite's): point --store or FLOWC_STORE at the run "
                          "store, or move this file away", "not_sqlite", path)
    if len(head) < 100:
        return StoreFault(f"{path}: the store is truncated: the file holds {size} bytes, less "
                          f"than SQLite's 100-byte header: {_RESTORE}", "truncated", path)
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return StoreFault(f"{path}: the store is damaged: its header names a page size of "
                          f"{page} bytes: {_RESTORE}; {_check_hint(path)}", "damaged", path)
    pages = int.from_bytes(head[28:32], "big")
    if pages and head[24:28] == head[92:96] and size < pages * page:
        return StoreFault(f"{path}: the store is truncated: its header says {pages} pages of "
                          f"{page} bytes ({pages * page} bytes), the file holds {size}: "
                          f"{_RESTORE}", "truncated", path)
    if size % page:
        return StoreFault(f"{path}: the store is truncated: {size} bytes is not a whole number "
                          f"of its {page}-byte pages: {_RESTORE}", "truncated", path)
    return None
