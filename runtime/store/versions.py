"""The SQLite store's flow versions: immutable snapshots of a flow (its plan, sources, SOPs,
lock and local skills: runtime/versions.py builds them), their lifecycle status, and the
history of every transition as a hash chain per flow.

A version is identified by its flow and its plan hash, and numbered 1, 2, ... per flow in the
order versions were recorded. Its snapshot never changes; only its status does. Each status
change is a compare-and-set (`UPDATE ... WHERE status IN (expected)`) committed with its event
in one transaction: of two people acting on one version at once, one wins and the other gets
`StatusConflict`. Publishing a version supersedes the flow's published one in the same
commit, so a flow has at most one published version at any moment.

The events of a flow (`version_events`) are chained like a run's audit trail
(runtime/store/chain.py's hashing, the chain's key `versions/FLOW`), the head kept in
`version_chains`: `verify_version_chain` recomputes it, so a changed, removed or reordered
event shows."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .chain import AUDIT_GENESIS, _audit_hash_text, _normalised
from .connections import SQLiteBase
from .errors import NotFound, StatusConflict, StoreError
from .records import VERSION_EVENT_STATUS, VERSION_STATUSES

__all__ = ["VERSION_STATUSES", "VersionEvent", "VersionExists", "VersionRecord", "VersionTables"]



class VersionExists(StoreError):
    """The flow already has a version with this plan hash (nothing changed)."""

    def __init__(self, message: str, number: int):
        super().__init__(message)
        self.number = number


@dataclass(frozen=True)
class VersionRecord:
    flow: str
    number: int
    hash: str              # the plan hash: what identifies the snapshot
    status: str
    author: str
    message: str
    origin: str | None     # e.g. "git:COMMIT", "import", "rollback"
    created_at: float
    updated_at: float
    bundle_sha256: str


@dataclass(frozen=True)
class VersionEvent:
    flow: str
    seq: int
    ts: float
    kind: str
    actor: str | None
    payload: Any
    prev_hash: str
    hash: str


_COLS = ("flow, number, hash, status, author, message, origin, created_at, updated_at, "
         "bundle_sha256")


def _record(row) -> VersionRecord:
    return VersionRecord(*row)


def _payload(text: Any) -> Any:
    """An event's payload as stored (None: unreadable, a row changed outside flowc, which
    `verify_version_chain` names)."""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None


def _chain_key(flow: str) -> str:
    return f"versions/{flow}"


class VersionTables(SQLiteBase):
    """Flow versions, their status and their chained history."""

    # -- the chain
    def _append_version_events(self, conn: sqlite3.Connection, flow: str,
                               events: Sequence[tuple[str, str | None, Mapping[str, Any]]]
                               ) -> None:
        conn.execute("INSERT INTO version_chains (flow, seq, head) VALUES (?, 0, ?)"
                     " ON CONFLICT (flow) DO NOTHING", (flow, AUDIT_GENESIS))
        seq, head = conn.execute("SELECT seq, head FROM version_chains WHERE flow = ?",
                                 (flow,)).fetchone()
        ts = self._now()
        for kind, actor, payload in events:
            _, text = _normalised(payload)
            seq += 1
            digest = _audit_hash_text(head, _chain_key(flow), seq, ts, kind, actor, text)
            conn.execute("INSERT INTO version_events (flow, seq, ts, kind, actor, payload_json,"
                         " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (flow, seq, ts, kind, actor, text, head, digest))
            head = digest
        conn.execute("UPDATE version_chains SET seq = ?, head = ? WHERE flow = ?",
                     (seq, head, flow))

    # -- writes
    def add_version(self, flow: str, plan_hash: str, bundle_text: str, bundle_sha256: str, *,
                    author: str, message: str, origin: str | None = None,
                    status: str = "draft", event: Mapping[str, Any] | None = None,
                    recorded_by: str | None = None) -> VersionRecord:
        """Record a new version (numbered next for its flow) with its `version.submitted`
        event, whose actor is who recorded it (`recorded_by`: an importer; default the
        author) and whose payload names the author. VersionExists: the flow has this plan
        hash already."""
        if status not in VERSION_STATUSES:
            raise ValueError(f"unknown version status {status!r}")

        def put(conn: sqlite3.Connection) -> VersionRecord:
            known = conn.execute("SELECT number FROM flow_versions WHERE flow = ? AND hash = ?",
                                 (flow, plan_hash)).fetchone()
            if known is not None:
                raise VersionExists(f"{flow} v{known[0]} has this plan already "
                                    f"({plan_hash[:12]})", known[0])
            (last,) = conn.execute("SELECT COALESCE(MAX(number), 0) FROM flow_versions"
                                   " WHERE flow = ?", (flow,)).fetchone()
            now = self._now()
            conn.execute(f"INSERT INTO flow_versions ({_COLS}, bundle) VALUES"
                         " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (flow, last + 1, plan_hash, status, author, message, origin, now, now,
                          bundle_sha256, bundle_text))
            self._append_version_events(conn, flow, [("version.submitted",
                                                        recorded_by or author, {
                "version": last + 1, "author": author, "hash": plan_hash, "bundle_sha256": bundle_sha256,
                "message": message, "origin": origin, "status": status, **(event or {})})])
            return _record(conn.execute(f"SELECT {_COLS} FROM flow_versions WHERE flow = ?"
                                        " AND number = ?", (flow, last + 1)).fetchone())

        return self._write(put)

    def set_version_status(self, flow: str, number: int, expect: Sequence[str], status: str, *,
                           kind: str, actor: str, payload: Mapping[str, Any]
                           ) -> VersionRecord:
        """Compare-and-set a version's status (from one of `expect`) with its event; to
        "published", the flow's published version becomes "superseded" in the same commit
        (its own `version.superseded` event). StatusConflict: the version's status was not
        one of `expect` (someone acted first)."""
        if status not in VERSION_STATUSES:
            raise ValueError(f"unknown version status {status!r}")

        def put(conn: sqlite3.Connection) -> VersionRecord:
            now = self._now()
            marks = ", ".join("?" for _ in expect)
            changed = conn.execute(
                f"UPDATE flow_versions SET status = ?, updated_at = ? WHERE flow = ? AND"
                f" number = ? AND status IN ({marks})",
                (status, now, flow, number, *expect)).rowcount
            if changed != 1:
                row = conn.execute("SELECT status FROM flow_versions WHERE flow = ? AND"
                                   " number = ?", (flow, number)).fetchone()
                if row is None:
                    raise NotFound(f"no version {number} of {flow}")
                raise StatusConflict(f"{flow} v{number} is {row[0]}")
            events = []
            if status == "published":
                for (other,) in conn.execute(
                        "SELECT number FROM flow_versions WHERE flow = ? AND status ="
                        " 'published' AND number != ?", (flow, number)).fetchall():
                    conn.execute("UPDATE flow_versions SET status = 'superseded', updated_at = ?"
                                 " WHERE flow = ? AND number = ?", (now, flow, other))
                    events.append(("version.superseded", actor, {"version": other,
                                                                 "by": number}))
            events.insert(0, (kind, actor, {"version": number, "status": status, **payload}))
            self._append_version_events(conn, flow, events)
            return _record(conn.execute(f"SELECT {_COLS} FROM flow_versions WHERE flow = ?"
                                        " AND number = ?", (flow, number)).fetchone())

        return self._write(put)

    def add_version_event(self, flow: str, kind: str, actor: str | None,
                          payload: Mapping[str, Any]) -> None:
        """An event with no status change (a review comment)."""
        self._write(lambda conn: self._append_version_events(conn, flow,
                                                             [(kind, actor, payload)]))

    # -- reads
    def list_versions(self, flow: str | None = None) -> list[VersionRecord]:
        """A flow's versions, newest first (every flow's: by flow, then newest first)."""
        if flow is None:
            rows = self._read(lambda c: c.execute(
                f"SELECT {_COLS} FROM flow_versions ORDER BY flow, number DESC").fetchall())
        else:
            rows = self._read(lambda c: c.execute(
                f"SELECT {_COLS} FROM flow_versions WHERE flow = ? ORDER BY number DESC",
                (flow,)).fetchall())
        return [_record(r) for r in rows]

    def get_version(self, flow: str, number: int) -> VersionRecord | None:
        row = self._read(lambda c: c.execute(
            f"SELECT {_COLS} FROM flow_versions WHERE flow = ? AND number = ?",
            (flow, number)).fetchone())
        return None if row is None else _record(row)

    def version_by_hash(self, flow: str, plan_hash: str) -> VersionRecord | None:
        row = self._read(lambda c: c.execute(
            f"SELECT {_COLS} FROM flow_versions WHERE flow = ? AND hash = ?",
            (flow, plan_hash)).fetchone())
        return None if row is None else _record(row)

    def published_version(self, flow: str) -> VersionRecord | None:
        row = self._read(lambda c: c.execute(
            f"SELECT {_COLS} FROM flow_versions WHERE flow = ? AND status = 'published'",
            (flow,)).fetchone())
        return None if row is None else _record(row)

    def published_versions(self) -> list[VersionRecord]:
        """Every flow's published version."""
        rows = self._read(lambda c: c.execute(
            f"SELECT {_COLS} FROM flow_versions WHERE status = 'published' ORDER BY flow"
        ).fetchall())
        return [_record(r) for r in rows]

    def version_bundle(self, flow: str, number: int) -> str:
        row = self._read(lambda c: c.execute(
            "SELECT bundle FROM flow_versions WHERE flow = ? AND number = ?",
            (flow, number)).fetchone())
        if row is None:
            raise NotFound(f"no version {number} of {flow}")
        return row[0]

    def version_submission(self, flow: str, number: int) -> VersionEvent | None:
        """The `version.submitted` event of a version (its actor: who recorded it)."""
        for event in self._read(lambda c: c.execute(
                "SELECT seq, ts, kind, actor, payload_json, prev_hash, hash FROM version_events"
                " WHERE flow = ? AND kind = 'version.submitted' ORDER BY seq",
                (flow,)).fetchall()):
            payload = _payload(event[4])
            if isinstance(payload, dict) and payload.get("version") == number:
                return VersionEvent(flow, *event[:4], payload, *event[5:])
        return None

    def version_chain_head(self, flow: str) -> tuple[int, str] | None:
        """(events, hash of the last) of a flow's version history, as recorded (None: the
        flow has no history)."""
        row = self._read(lambda c: c.execute(
            "SELECT seq, head FROM version_chains WHERE flow = ?", (flow,)).fetchone())
        return None if row is None else (row[0], row[1])

    def version_events(self, flow: str) -> list[VersionEvent]:
        rows = self._read(lambda c: c.execute(
            "SELECT flow, seq, ts, kind, actor, payload_json, prev_hash, hash FROM"
            " version_events WHERE flow = ? ORDER BY seq", (flow,)).fetchall())
        return [VersionEvent(r[0], r[1], r[2], r[3], r[4], _payload(r[5]), r[6], r[7])
                for r in rows]

    def verify_version_chain(self, flow: str, *,
                             bundles: Sequence[int] | None = None) -> list[str]:
        """The problems of a flow's version history (empty: intact): each event's hash
        recomputed from the one before, the numbering, the head kept apart; and each
        version's row against its history: its status what its events say, its plan hash,
        author and snapshot (sha256 of the stored bundle) what its `version.submitted` event
        recorded. `bundles`: check only these versions' snapshots (default: all)."""
        def read(c):
            return (c.execute("SELECT seq, ts, kind, actor, payload_json, prev_hash, hash FROM"
                              " version_events WHERE flow = ? ORDER BY seq", (flow,)).fetchall(),
                    c.execute("SELECT seq, head FROM version_chains WHERE flow = ?",
                              (flow,)).fetchone(),
                    c.execute(f"SELECT {_COLS} FROM flow_versions WHERE flow = ? ORDER BY"
                              " number", (flow,)).fetchall())

        rows, head, versions = self._read(read)
        problems, prev = [], AUDIT_GENESIS
        status: dict[int, str] = {}
        submitted: dict[int, tuple[str, dict]] = {}
        for i, (seq, ts, kind, actor, text, prev_hash, digest) in enumerate(rows, 1):
            if seq != i:
                problems.append(f"event {i} is numbered {seq}")
            if prev_hash != prev:
                problems.append(f"event {seq} does not follow the one before it")
            try:
                payload = json.loads(text)
                _, canon = _normalised(payload)
            except (ValueError, TypeError, RecursionError):
                # a stored row is hostile input: unreadable is changed, never a crash
                problems.append(f"event {seq} ({str(kind)[:40]}) was changed (its payload "
                                "is not JSON)")
                prev = digest
                continue
            if _audit_hash_text(prev_hash, _chain_key(flow), seq, ts, kind, actor,
                                canon) != digest:
                problems.append(f"event {seq} ({kind}) was changed")
            prev = digest
            number = payload.get("version") if isinstance(payload, dict) else None
            if not isinstance(number, int):
                continue
            if kind == "version.submitted":
                submitted[number] = (actor, payload)
                status[number] = str(payload.get("status") or "draft")
            elif kind in VERSION_EVENT_STATUS:
                status[number] = VERSION_EVENT_STATUS[kind]
        if rows and (head is None or tuple(head) != (len(rows), prev)):
            problems.append("the history's end does not match its recorded head (events "
                            "removed or added at the end)")
        if not rows and (versions or (head is not None and head[0] != 0)):
            problems.append("the history's events are gone")
            return problems
        numbers = {r[1] for r in versions}
        for number in sorted(set(submitted) - numbers):
            problems.append(f"v{number} is in the history but not in the table: its row was "
                            "deleted or moved")
        for v in map(_record, versions):
            where = f"v{v.number}"
            if v.number not in submitted:
                problems.append(f"{where} has no `version.submitted` event in the history")
                continue
            actor, payload = submitted[v.number]
            if status.get(v.number) != v.status:
                problems.append(f"{where} is {v.status} in the table; its history says "
                                f"{status.get(v.number)}")
            if (payload.get("hash"), payload.get("author", actor),
                    payload.get("bundle_sha256")) != (v.hash, v.author, v.bundle_sha256):
                problems.append(f"{where}'s plan hash, author or snapshot sha256 is not the "
                                "one its history recorded")
            if bundles is None or v.number in bundles:
                text = self.version_bundle(flow, v.number)
                if not isinstance(text, str) or hashlib.sha256(
                        text.encode("utf-8", "surrogatepass")).hexdigest() != v.bundle_sha256:
                    problems.append(f"{where}'s stored snapshot does not hash to its recorded "
                                    "sha256: it was changed")
        return problems
