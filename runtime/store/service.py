"""The SQLite store's service tables (`flowc serve`): people with their roles, e-mail and
password hash; API tokens and web sessions (kept by their sha256, never in clear); ids used
once (signed links); schedule ticks (each claimed once, whatever the number of workers);
notifications (each sent once); conversations of chat flows and their messages.

Every claim is a compare-and-set in one statement (`INSERT ... ON CONFLICT DO NOTHING`), so
of several processes at once exactly one wins."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .connections import SQLiteBase
from .errors import NotFound

__all__ = ["ChatMessage", "Person", "ServiceTables", "secret_hash"]


def secret_hash(secret: str) -> str:
    """How a token or session id is kept: its sha256 (a stolen store gives no usable token)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Person:
    name: str
    roles: tuple[str, ...]
    email: str | None
    password_hash: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class ChatMessage:
    conversation: str
    seq: int
    role: str  # "user" | "assistant" | "system"
    text: str
    run_id: str | None
    created_at: float


def _person(row) -> Person:
    roles = json.loads(row[1])
    return Person(row[0], tuple(r for r in roles if isinstance(r, str)), row[2], row[3],
                  row[4], row[5])


_PERSON_COLS = "name, roles_json, email, password_hash, created_at, updated_at"
_UNSET: Any = object()


class ServiceTables(SQLiteBase):
    """People, tokens, sessions, single-use ids, schedule ticks, notifications, chats."""

    # -- people
    def set_person(self, name: str, *, roles: Any = _UNSET, email: Any = _UNSET,
                   password_hash: Any = _UNSET) -> Person:
        """Create or update a person; fields not given are kept (new: no roles)."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a person's name must be non-empty text")

        def put(conn: sqlite3.Connection) -> Person:
            now = self._now()
            conn.execute(f"INSERT INTO people ({_PERSON_COLS}) VALUES (?, '[]', NULL, NULL, ?, ?)"
                         " ON CONFLICT (name) DO NOTHING", (name, now, now))
            if roles is not _UNSET:
                conn.execute("UPDATE people SET roles_json = ?, updated_at = ? WHERE name = ?",
                             (json.dumps(sorted(set(roles))), now, name))
            if email is not _UNSET:
                conn.execute("UPDATE people SET email = ?, updated_at = ? WHERE name = ?",
                             (email, now, name))
            if password_hash is not _UNSET:
                conn.execute("UPDATE people SET password_hash = ?, updated_at = ? WHERE name = ?",
                             (password_hash, now, name))
            row = conn.execute(f"SELECT {_PERSON_COLS} FROM people WHERE name = ?",
                               (name,)).fetchone()
            return _person(row)

        return self._write(put)

    def get_person(self, name: str) -> Person | None:
        row = self._read(lambda c: c.execute(
            f"SELECT {_PERSON_COLS} FROM people WHERE name = ?", (name,)).fetchone())
        return None if row is None else _person(row)

    def list_people(self) -> list[Person]:
        rows = self._read(lambda c: c.execute(
            f"SELECT {_PERSON_COLS} FROM people ORDER BY name").fetchall())
        return [_person(r) for r in rows]

    def people_with_roles(self, roles: list[str]) -> list[Person]:
        wanted = set(roles)
        return [p for p in self.list_people() if wanted & set(p.roles)]

    # -- API tokens
    def add_api_token(self, person: str, token: str, label: str = "") -> None:
        if self.get_person(person) is None:
            raise NotFound(f"no person `{person}`")
        self._write(lambda c: c.execute(
            "INSERT INTO api_tokens (hash, person, label, created_at) VALUES (?, ?, ?, ?)",
            (secret_hash(token), person, label, self._now())))

    def token_person(self, token: str) -> str | None:
        """The person an API token belongs to, if it exists and is not revoked."""
        row = self._read(lambda c: c.execute(
            "SELECT person FROM api_tokens WHERE hash = ? AND revoked_at IS NULL",
            (secret_hash(token),)).fetchone())
        return None if row is None else row[0]

    def revoke_api_tokens(self, person: str) -> int:
        return self._write(lambda c: c.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE person = ? AND revoked_at IS NULL",
            (self._now(), person)).rowcount)

    # -- web sessions
    def add_session(self, session_id: str, person: str, csrf: str, ttl: float) -> None:
        now = self._now()
        self._write(lambda c: c.execute(
            "INSERT INTO web_sessions (hash, person, csrf, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)", (secret_hash(session_id), person, csrf, now, now + ttl)))

    def get_session(self, session_id: str) -> tuple[str, str] | None:
        """(person, csrf token) of a live session, else None."""
        row = self._read(lambda c: c.execute(
            "SELECT person, csrf FROM web_sessions WHERE hash = ? AND expires_at > ?",
            (secret_hash(session_id), self._now())).fetchone())
        return None if row is None else (row[0], row[1])

    def end_session(self, session_id: str) -> None:
        self._write(lambda c: c.execute("DELETE FROM web_sessions WHERE hash = ?",
                                        (secret_hash(session_id),)))

    # -- ids used once
    def use_once(self, once_id: str, purpose: str) -> bool:
        """True for the one caller that uses `once_id` first; False ever after."""
        return self._write(lambda c: c.execute(
            "INSERT INTO used_once (id, purpose, used_at) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING", (once_id, purpose, self._now())).rowcount == 1)

    # -- schedule ticks
    def claim_tick(self, flow: str, tick: float, owner: str) -> bool:
        """True for the one caller (of any number of workers) that claims this tick first."""
        return self._write(lambda c: c.execute(
            "INSERT INTO schedule_ticks (flow, tick, owner, claimed_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (flow, tick) DO NOTHING",
            (flow, float(tick), owner, self._now())).rowcount == 1)

    def set_tick_run(self, flow: str, tick: float, run_id: str) -> None:
        self._write(lambda c: c.execute(
            "UPDATE schedule_ticks SET run_id = ? WHERE flow = ? AND tick = ?",
            (run_id, flow, float(tick))))

    def last_tick(self, flow: str) -> float | None:
        row = self._read(lambda c: c.execute(
            "SELECT MAX(tick) FROM schedule_ticks WHERE flow = ?", (flow,)).fetchone())
        return None if row is None or row[0] is None else float(row[0])

    def ticks(self, flow: str | None = None) -> list[tuple[str, float, str, str | None]]:
        """(flow, tick, owner, run id) of claimed ticks, in tick order."""
        sql = "SELECT flow, tick, owner, run_id FROM schedule_ticks"
        args: tuple = ()
        if flow is not None:
            sql, args = sql + " WHERE flow = ?", (flow,)
        return [tuple(r) for r in self._read(lambda c: c.execute(
            sql + " ORDER BY tick, flow", args).fetchall())]

    # -- notifications
    def claim_notification(self, key: str, task_id: str, channel: str, recipient: str) -> bool:
        """True for the one caller that is to send this notification."""
        return self._write(lambda c: c.execute(
            "INSERT INTO notifications (key, task_id, channel, recipient, status, created_at)"
            " VALUES (?, ?, ?, ?, 'sending', ?) ON CONFLICT (key) DO NOTHING",
            (key, task_id, channel, recipient, self._now())).rowcount == 1)

    def notification_done(self, key: str, error: str | None = None) -> None:
        self._write(lambda c: c.execute(
            "UPDATE notifications SET status = ?, error = ?, sent_at = ? WHERE key = ?",
            ("failed" if error else "sent", error, self._now(), key)))

    def notifications(self, task_id: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT key, task_id, channel, recipient, status, error, created_at, sent_at"
               " FROM notifications")
        args: tuple = ()
        if task_id is not None:
            sql, args = sql + " WHERE task_id = ?", (task_id,)
        rows = self._read(lambda c: c.execute(sql + " ORDER BY created_at", args).fetchall())
        names = ("key", "task_id", "channel", "recipient", "status", "error", "created_at",
                 "sent_at")
        return [dict(zip(names, r, strict=True)) for r in rows]

    # -- conversations
    def create_conversation(self, conversation_id: str, flow: str, person: str) -> None:
        self._write(lambda c: c.execute(
            "INSERT INTO conversations (id, flow, person, created_at) VALUES (?, ?, ?, ?)",
            (conversation_id, flow, person, self._now())))

    def get_conversation(self, conversation_id: str) -> dict[str, Any] | None:
        row = self._read(lambda c: c.execute(
            "SELECT id, flow, person, created_at FROM conversations WHERE id = ?",
            (conversation_id,)).fetchone())
        return None if row is None else dict(zip(("id", "flow", "person", "created_at"), row,
                                                 strict=True))

    def add_chat_message(self, conversation_id: str, role: str, text: str,
                         run_id: str | None = None) -> ChatMessage:
        def add(conn: sqlite3.Connection) -> ChatMessage:
            if conn.execute("SELECT 1 FROM conversations WHERE id = ?",
                            (conversation_id,)).fetchone() is None:
                raise NotFound(f"no conversation `{conversation_id}`")
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_messages"
                               " WHERE conversation = ?", (conversation_id,)).fetchone()[0]
            now = self._now()
            conn.execute("INSERT INTO chat_messages (conversation, seq, role, text, run_id,"
                         " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                         (conversation_id, seq, role, text, run_id, now))
            return ChatMessage(conversation_id, seq, role, text, run_id, now)

        return self._write(add)

    def chat_messages(self, conversation_id: str) -> list[ChatMessage]:
        rows = self._read(lambda c: c.execute(
            "SELECT conversation, seq, role, text, run_id, created_at FROM chat_messages"
            " WHERE conversation = ? ORDER BY seq", (conversation_id,)).fetchall())
        return [ChatMessage(*r) for r in rows]
