"""The SQLite store's audit trail: events chained per run (runtime/store/chain.py hashes
them), the chain's head kept on the run row, and the evidence runtime/audit.py verifies.

The run row keeps the chain's head (last seq and hash), so `verify_audit` also sees events
removed from or appended to the end. `finish_node` appends a `node.result` event (the sha256
of the stored output, error and inputs) in the result's own transaction, and `verify_audit`
checks the stored results, decisions, inputs, outputs, status and plan against the events
(runtime/audit.py). The chain shows tampering by anyone who does not rewrite the whole chain,
its data and the head; anchor the head outside the store against that (`audit.Anchor`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import blobs as _blobs
from .chain import NODE_RESULT_EVENT, _audit_hash_text, _normalised, canonical_json
from .connections import SQLiteBase
from .errors import NotFound
from .records import AuditRecord, AuditVerification
from .rows import _AUDIT_COLS, _RETURNING, _audit, read_evidence

__all__ = ["AuditTrail"]


class AuditTrail(SQLiteBase):
    """The per-run hash chain of audit events."""


    def _append_events(self, conn: sqlite3.Connection, run_id: str,
                       events: Sequence[tuple[str, str | None, tuple[Any, str]]],
                       records: bool = True) -> list[AuditRecord]:
        """Chain events (kind, actor, (payload, its canonical JSON)) onto the run's trail:
        one numbering UPDATE (it takes the run's row: a row lock on a server database), one
        INSERT, one head UPDATE, whatever their number."""
        if not events:
            return []
        ts = self._now()
        known = self._heads.get(run_id)
        if known is not None:  # this store wrote the run's last events: chain on from there,
            # in one UPDATE that checks, under the write lock, that they are still the last
            seq, prev = known
            rows, out, head = self._chain(conn, run_id, seq, prev, ts, events, records)
            if conn.execute("UPDATE runs SET audit_seq = ?, audit_head = ? WHERE id = ? AND"
                            " audit_seq = ? AND audit_head = ?",
                            (seq + len(events), head, run_id, seq, prev)).rowcount == 1:
                conn.executemany(f"INSERT INTO audit_events ({_AUDIT_COLS}) VALUES"
                                 " (?, ?, ?, ?, ?, ?, ?, ?)", rows)
                self._remember_head(run_id, seq + len(events), head)
                return out
        if _RETURNING:
            row = conn.execute("UPDATE runs SET audit_seq = audit_seq + ? WHERE id = ?"
                               " RETURNING audit_seq, audit_head", (len(events), run_id)).fetchone()
        else:  # pragma: no cover - SQLite before 3.35
            row = None
            if conn.execute("UPDATE runs SET audit_seq = audit_seq + ? WHERE id = ?",
                            (len(events), run_id)).rowcount:
                row = conn.execute("SELECT audit_seq, audit_head FROM runs WHERE id = ?",
                                   (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id}")
        rows, out, head = self._chain(conn, run_id, row[0] - len(events), row[1], ts, events,
                                      records)
        conn.executemany(f"INSERT INTO audit_events ({_AUDIT_COLS}) VALUES"
                         " (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("UPDATE runs SET audit_head = ? WHERE id = ?", (head, run_id))
        self._remember_head(run_id, row[0], head)
        return out

    def _chain(self, conn: sqlite3.Connection, run_id: str, seq: int, prev: str, ts: float,
               events: Sequence[tuple[str, str | None, tuple[Any, str]]], records: bool
               ) -> tuple[list[tuple], list[AuditRecord], str]:
        """The audit rows of `events` chained on after event `seq` whose hash is `prev`:
        (rows to insert, their records when `records`, the new head)."""
        rows, out = [], []
        for kind, actor, (norm, text) in events:
            seq += 1
            digest = _audit_hash_text(prev, run_id, seq, ts, kind, actor, text)
            if norm is None and (records or len(text) >= _blobs.BLOB_BYTES):
                norm = json.loads(text)
            stored = text if len(text) < _blobs.BLOB_BYTES else \
                _blobs.pack(conn, norm, canonical_json, self._now)  # (reads back as `text`)
            rows.append((run_id, seq, ts, kind, actor, stored, prev, digest))
            if records:
                out.append(AuditRecord(run_id, seq, ts, kind, actor, norm, prev, digest))
            prev = digest
        return rows, out, prev

    def _remember_head(self, run_id: str, seq: int, head: str) -> None:
        """The (seq, head) this store just wrote for the run (a guess for its next append:
        checked by that append's UPDATE, so a rolled-back or foreign write only costs the
        longer path)."""
        if len(self._heads) >= 4096 and run_id not in self._heads:
            self._heads.clear()
        self._heads[run_id] = (seq, head)
        self._touched.add(run_id)

    def _append_audit(self, conn: sqlite3.Connection, run_id: str, kind: str, actor: str | None,
                      payload: Mapping[str, Any]) -> AuditRecord:
        return self._append_events(conn, run_id, [(kind, actor, _normalised(payload))])[0]

    def append_audit(self, run_id: str, kind: str, actor: str | None,
                     payload: Mapping[str, Any]) -> AuditRecord:
        """Append an event to the run's hash chain (payload: JSON, no NaN or infinity).
        `node.result` events are the store's own (written with each node result)."""
        if kind == NODE_RESULT_EVENT:
            raise ValueError(f"`{NODE_RESULT_EVENT}` events are written by the store with each "
                             "node result, by no one else")
        return self._write(lambda conn: self._append_audit(conn, run_id, kind, actor, payload))

    def touched_runs(self) -> set[str]:
        """The runs whose trail this store object extended since the last call (to anchor
        their heads outside the store); the set is emptied. Taken under the write lock: a
        run added by a write in another thread is in this set or the next, never lost."""
        with self._lock:
            out, self._touched = self._touched, set()
        return out

    def audit_heads(self, run_ids: Iterable[str] | None = None) -> dict[str, tuple[int, str]]:
        """{run id: (last event's seq, chain head)} of the given runs (default: every run)."""
        def read(c: sqlite3.Connection) -> dict[str, tuple[int, str]]:
            if run_ids is None:
                rows = c.execute("SELECT id, audit_seq, audit_head FROM runs").fetchall()
            else:
                rows = []
                for rid in run_ids:
                    rows += c.execute("SELECT id, audit_seq, audit_head FROM runs WHERE id = ?",
                                      (rid,)).fetchall()
            return {r[0]: (r[1], r[2]) for r in rows}

        return self._read(read)

    def audit_evidence(self, run_id: str) -> dict[str, Any]:
        """Everything the run's trail commits to, as stored, in one snapshot (`read_evidence`);
        runtime/audit.py verifies and exports it."""
        def snapshot(c: sqlite3.Connection) -> dict[str, Any]:
            if getattr(self._local, "depth", 0) or self.memory:
                return read_evidence(c, run_id)
            c.execute("BEGIN")  # one read transaction: a consistent snapshot (WAL)
            try:
                return read_evidence(c, run_id)
            finally:
                c.execute("COMMIT")

        return self._read(snapshot)

    def audit_events(self, run_id: str) -> list[AuditRecord]:
        rows = self._read(lambda c: c.execute(
            f"SELECT {_AUDIT_COLS} FROM audit_events WHERE run_id = ? ORDER BY seq",
            (run_id,)).fetchall())
        return [_audit(r) for r in rows]

    def verify_audit(self, run_id: str) -> AuditVerification:
        """Recompute the run's chain and check the stored data against what its events commit
        to (runtime/audit.py): a changed, deleted, inserted or reordered event, a chain that
        does not end at the run's recorded head, and an edited or deleted node result,
        decision, task, input, output, status or plan are each reported as a problem."""
        from ..audit import verify_evidence

        return verify_evidence(self.audit_evidence(run_id), run_id)
