"""Large values stored once: a part of a stored JSON value of BLOB_BYTES or more goes into the
`blobs` table under the sha256 of its JSON text, and the value keeps a reference in its place.

A value a person edits is kept by its task (the decision), the gate's result, the audit
event that records the decision, the run's outputs and the event that ends the run; a large
input also by the run, its start event, what a gate shows and prefills. Each of these records
keeps its own JSON text, and each large part of it is written once, whichever record wrote it
first: the others refer to it.

A reference is the JSON text `{"\\ud800":"<sha256>"}`. No JSON text the store writes from a
value can hold it: values are checked to hold no lone surrogates (validate.value_problem), and
the encoders write every other character as itself. Reading resolves references as rows are
fetched (`resolve_row`, the connections' row factory), so every reader, the audit's checks
included, sees the whole value, as it would have been written; a blob whose text no longer
hashes to its name is reported as a changed stored value (StoreError), never read.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable
from typing import Any

__all__ = ["BLOB_BYTES", "BlobCache", "BlobChanged", "pack", "resolve_row", "resolve_text"]

# A part of a value whose JSON is at least this long is stored once, in `blobs`
BLOB_BYTES = 16 * 1024
_MARK = '{"\\ud800":"'
_REF = re.compile(r'\{"\\ud800":"([0-9a-f]{64})"\}')
_CACHE_BYTES = 32 * 2**20   # resolved blobs a connection keeps (they never change)


class BlobChanged(Exception):
    """A stored value's text no longer matches its hash, or is gone (the store was altered)."""


def pack(conn: sqlite3.Connection, value: Any, dump: Callable[[Any], str | None],
         now: Callable[[], float]) -> str | None:
    """The JSON text to store for `value` (`dump(value)`, the store's encoder), with each part
    of BLOB_BYTES or more written to `blobs` (once) and referred to. Small values, the many,
    cost one length check."""
    text = dump(value)
    if text is None or len(text) < BLOB_BYTES:
        return text
    return _pack(conn, value, text, dump, now)


def _pack(conn: sqlite3.Connection, value: Any, text: str,
          dump: Callable[[Any], str | None], now: Callable[[], float]) -> str:
    """`text` (the JSON of `value`, at least BLOB_BYTES long): its large parts stored first,
    then itself if it is still large. What a reader gets back is `text` exactly: a container
    is split only where its parts' texts make up its own (the encoder may write a part alone
    differently, e.g. a value the fast encoder refuses), else it is stored whole."""
    if isinstance(value, (dict, list, tuple)) and value:
        if isinstance(value, dict):
            keys = [dump({k: None})[1:-len(":null}")] + ":" for k in value]  # as written
            subs = [dump(v) or "null" for v in value.values()]
            opening, closing = "{", "}"
        else:
            keys = [""] * len(value)
            subs = [dump(v) or "null" for v in value]
            opening, closing = "[", "]"
        if opening + ",".join(k + v for k, v in zip(keys, subs, strict=True)) + closing == text:
            text = opening + ",".join(
                k + (_pack(conn, v, sub, dump, now) if len(sub) >= BLOB_BYTES else sub)
                for k, v, sub in zip(keys, value.values() if isinstance(value, dict) else value,
                                     subs, strict=True)) + closing
    if len(text) < BLOB_BYTES:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    conn.execute("INSERT INTO blobs (hash, json, created_at) VALUES (?, ?, ?)"
                 " ON CONFLICT (hash) DO NOTHING", (digest, text, now()))
    return _MARK + digest + '"}'


def resolve_text(conn: sqlite3.Connection, text: str, depth: int = 0) -> str:
    """`text` with every reference replaced by the JSON it stands for (recursively)."""
    if depth > 200:  # values nest at most 100 deep (validate.MAX_DEPTH): this is a loop
        raise BlobChanged("a stored value refers to itself: the store was altered")
    return _REF.sub(lambda m: _blob(conn, m.group(1), depth), text)


class BlobCache:
    """Resolved blobs a connection keeps (a blob never changes), up to _CACHE_BYTES."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.size = 0

    def put(self, digest: str, text: str) -> None:
        if self.size + len(text) > _CACHE_BYTES:
            self.texts.clear()
            self.size = 0
        if len(text) <= _CACHE_BYTES:
            self.texts[digest] = text
            self.size += len(text)


def _blob(conn: sqlite3.Connection, digest: str, depth: int) -> str:
    cache = getattr(conn, "blob_cache", None)
    if cache is not None and digest in cache.texts:
        return cache.texts[digest]
    cur = conn.cursor()
    cur.row_factory = None  # the blob as stored: its hash is checked on that text
    row = cur.execute("SELECT json FROM blobs WHERE hash = ?", (digest,)).fetchone()
    if row is None:
        raise BlobChanged(f"stored value {digest[:12]}... was changed: it is gone from the "
                          "store's blobs")
    text = row[0]
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
        raise BlobChanged(f"stored value {digest[:12]}... was changed: its text no longer "
                          "matches its sha256")
    text = resolve_text(conn, text, depth + 1) if _MARK in text else text
    if cache is not None:
        cache.put(digest, text)
    return text


def resolve_row(cursor: sqlite3.Cursor, row: tuple) -> tuple:
    """The row factory of the store's connections: a row with a reference in a text column
    comes back with it resolved; any other row as it is."""
    for cell in row:
        if type(cell) is str and _MARK in cell:
            conn = cursor.connection
            return tuple(resolve_text(conn, c) if type(c) is str and _MARK in c else c
                         for c in row)
    return row
