"""The SQLite store's file records: files are capabilities.

`files` records every file a node produced or a person supplied: an unguessable id minted
by the store (`new_file_id`), the run, node and item, its name, sha256 and size, and where it
lives (`workspace`: the root folder or fsspec URL, `location`: the path inside it). A file
value names its record by that id; `find_file` looks one up for a run, and only among the
files of that run's family (the runs that share its root run: parent and child flow runs).
The same id may be recorded for several runs (an error replay copies the files of the nodes
it keeps): the key is (id, run_id).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .connections import SQLiteBase
from .records import FileRecord
from .rows import _FILE_COLS, _file

__all__ = ["FileTables"]


class FileTables(SQLiteBase):
    """Files nodes produced or people supplied, found only within a run's family."""


    def record_files(self, files: Iterable[FileRecord]) -> None:
        """Record files a node produced or a person supplied (one commit, or the caller's
        transaction)."""
        rows = [(f.id, f.run_id, f.node_id, f.item, f.name, f.sha256, f.size, f.workspace,
                 f.location, f.created_at or self._now()) for f in files]
        if rows:
            self._write(lambda c: c.executemany(
                f"INSERT INTO files ({_FILE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows))

    @staticmethod
    def _root_run(conn: sqlite3.Connection, run_id: str) -> str | None:
        """The run at the top of `run_id`'s chain of parent runs (flow calls)."""
        seen = set()
        while run_id not in seen:
            seen.add(run_id)
            row = conn.execute("SELECT parent_run_id FROM runs WHERE id = ?",
                               (run_id,)).fetchone()
            if row is None:
                return None
            if row[0] is None:
                return run_id
            run_id = row[0]
        return None  # a cycle: no family at all

    def find_file(self, file_id: str, run_id: str) -> FileRecord | None:
        """The file with handle `file_id` if it belongs to `run_id`'s family (the runs that
        share its root run: parent and child flow runs), else None."""
        if not isinstance(file_id, str) or not file_id or len(file_id) > 200:
            return None

        def find(conn: sqlite3.Connection) -> FileRecord | None:
            rows = conn.execute(f"SELECT {_FILE_COLS} FROM files WHERE id = ?"
                                " ORDER BY run_id = ? DESC", (file_id, run_id)).fetchall()
            if not rows:
                return None
            if rows[0][1] == run_id:
                return _file(rows[0])
            root = self._root_run(conn, run_id)
            for r in rows:
                if root is not None and self._root_run(conn, r[1]) == root:
                    return _file(r)
            return None

        return self._read(find)

    def run_files(self, run_id: str) -> list[FileRecord]:
        """The files recorded for one run, oldest first."""
        rows = self._read(lambda c: c.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE run_id = ? ORDER BY created_at, node_id,"
            " item, name", (run_id,)).fetchall())
        return [_file(r) for r in rows]

    def copy_files(self, from_run_id: str, to_run_id: str) -> int:
        """Record the files of `from_run_id`'s family (it, its parent and child flow runs) for
        `to_run_id` too (same handles, same places): an error replay keeps nodes whose
        results name them. Returns how many."""
        def copy(conn: sqlite3.Connection) -> int:
            root = self._root_run(conn, from_run_id) or from_run_id
            family, todo = set(), [root]
            while todo:
                rid = todo.pop()
                if rid in family:
                    continue
                family.add(rid)
                todo.extend(r[0] for r in conn.execute(
                    "SELECT id FROM runs WHERE parent_run_id = ?", (rid,)).fetchall())
            count = 0
            for rid in sorted(family):
                count += conn.execute(
                    f"INSERT INTO files ({_FILE_COLS}) SELECT id, ?, node_id, item, name, sha256,"
                    " size, workspace, location, created_at FROM files WHERE run_id = ?"
                    " ON CONFLICT (id, run_id) DO NOTHING", (to_run_id, rid)).rowcount
            return count

        return self._write(copy)

