"""The SQLite store's effect records: idempotency keys for a node's side effects (intent, each
start, the first result), so a retried or resumed node looks an effect up instead of
performing it again."""

from __future__ import annotations

import sqlite3
from typing import Any

from .connections import SQLiteBase
from .errors import NotFound
from .records import NO_ITEM, EffectRecord
from .rows import _EFFECT_COLS, _effect

__all__ = ["EffectTables"]


class EffectTables(SQLiteBase):
    """Effects: one record per key."""


    @staticmethod
    def _get_effect(conn: sqlite3.Connection, key: str) -> EffectRecord | None:
        row = conn.execute(f"SELECT {_EFFECT_COLS} FROM effects WHERE key = ?", (key,)).fetchone()
        return None if row is None else _effect(row)

    def effect_intent(self, key: str, run_id: str, node_id: str,
                      item: int = NO_ITEM) -> EffectRecord:
        """Record the intent to perform the effect `key`, or return the record already there
        (status "done" with its result: do not perform it again; "intent": an earlier attempt
        may or may not have performed it)."""
        def intent(conn: sqlite3.Connection) -> EffectRecord:
            conn.execute(
                f"INSERT INTO effects ({_EFFECT_COLS}) VALUES "
                "(?, ?, ?, ?, 'intent', NULL, ?, NULL, NULL, 1)"
                " ON CONFLICT (key) DO NOTHING", (key, run_id, node_id, item, self._now()))
            rec = self._get_effect(conn, key)
            assert rec is not None
            return rec

        return self._write(intent)

    def effect_start(self, key: str, run_id: str, node_id: str, item: int = NO_ITEM,
                     kind: str | None = None) -> EffectRecord:
        """Record that the effect `key` starts: its intent the first time, one more start of
        it after that (a retry, or a resume after a crash: it runs again with the same key).
        A "done" record is returned unchanged: do not perform it again."""
        def start(conn: sqlite3.Connection) -> EffectRecord:
            conn.execute(
                f"INSERT INTO effects ({_EFFECT_COLS}) VALUES "
                "(?, ?, ?, ?, 'intent', NULL, ?, NULL, ?, 1)"
                " ON CONFLICT (key) DO UPDATE SET starts = effects.starts + 1"
                " WHERE effects.status = 'intent'",
                (key, run_id, node_id, item, self._now(), kind))
            rec = self._get_effect(conn, key)
            assert rec is not None
            return rec

        return self._write(start)

    def effect_done(self, key: str, result: Any) -> EffectRecord:
        """Record an effect's result. The first result stays: a second `done` changes nothing."""
        def done(conn: sqlite3.Connection) -> EffectRecord:
            conn.execute("UPDATE effects SET status = 'done', result_json = ?, done_at = ?"
                         " WHERE key = ? AND status = 'intent'",
                         (self._json(conn, result), self._now(), key))
            rec = self._get_effect(conn, key)
            if rec is None:
                raise NotFound(f"no effect {key}: record effect_intent() first")
            return rec

        return self._write(done)

    def get_effect(self, key: str) -> EffectRecord | None:
        return self._read(lambda c: self._get_effect(c, key))
