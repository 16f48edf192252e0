"""The store's schema: its numbered migrations, in SQL that SQLite and PostgreSQL both accept
(`DOUBLE PRECISION`, `ON CONFLICT`, no PRAGMAs). A store file records the steps applied in
`schema_migrations`; opening it applies the missing ones."""

from __future__ import annotations

from collections.abc import Iterable

from .chain import LEGACY_AUDIT_GENESIS
from .records import (
    ASSIGNEE_KINDS,
    EFFECT_STATUSES,
    NODE_STATUSES,
    RUN_STATUSES,
    TASK_KINDS,
    TASK_STATUSES,
    VERSION_STATUSES,
)

__all__ = ["MIGRATIONS", "MIGRATIONS_TABLE"]

def _in(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# An ordered list of steps; step i (1-based) brings the schema to version i. Never edit a
# released step: append a new one. Each step runs, with its schema_migrations row, in the
# transaction that opens the store.
MIGRATIONS: list[tuple[str, ...]] = [
    (  # 1: the initial schema
        """CREATE TABLE plans (
            hash TEXT PRIMARY KEY,
            json TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL)""",
        f"""CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            flow_name TEXT NOT NULL,
            plan_hash TEXT NOT NULL REFERENCES plans (hash),
            status TEXT NOT NULL CHECK (status IN {_in(RUN_STATUSES)}),
            inputs_json TEXT,
            outputs_json TEXT,
            error TEXT,
            parent_run_id TEXT REFERENCES runs (id),
            parent_node_id TEXT,
            workspace_url TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            lease_owner TEXT,
            lease_until DOUBLE PRECISION,
            audit_seq INTEGER NOT NULL DEFAULT 0,
            audit_head TEXT NOT NULL DEFAULT '{LEGACY_AUDIT_GENESIS}')""",
        "CREATE INDEX runs_status ON runs (status, created_at)",
        "CREATE INDEX runs_parent ON runs (parent_run_id)",
        f"""CREATE TABLE node_executions (
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            status TEXT NOT NULL CHECK (status IN {_in(NODE_STATUSES)}),
            attempt INTEGER NOT NULL DEFAULT 1,
            inputs_json TEXT,
            output_json TEXT,
            outcome TEXT,
            error TEXT,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
            PRIMARY KEY (run_id, node_id, item))""",
        f"""CREATE TABLE tasks (
            id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            kind TEXT NOT NULL CHECK (kind IN {_in(TASK_KINDS)}),
            status TEXT NOT NULL CHECK (status IN {_in(TASK_STATUSES)}),
            assignees_json TEXT NOT NULL,
            title TEXT NOT NULL,
            show_json TEXT,
            form_json TEXT,
            deadline DOUBLE PRECISION,
            timeout_outcome TEXT,
            decision_json TEXT,
            decided_by TEXT,
            decided_at DOUBLE PRECISION,
            created_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX tasks_status_deadline ON tasks (status, deadline)",
        "CREATE INDEX tasks_status_created ON tasks (status, created_at)",
        "CREATE INDEX tasks_run ON tasks (run_id)",
        # assignees_json is the record; this table is its index for inbox queries
        f"""CREATE TABLE task_assignees (
            task_id TEXT NOT NULL REFERENCES tasks (id),
            kind TEXT NOT NULL CHECK (kind IN {_in(ASSIGNEE_KINDS)}),
            name TEXT NOT NULL,
            PRIMARY KEY (task_id, kind, name))""",
        "CREATE INDEX task_assignees_name ON task_assignees (kind, name)",
        f"""CREATE TABLE effects (
            key TEXT PRIMARY KEY,
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            status TEXT NOT NULL CHECK (status IN {_in(EFFECT_STATUSES)}),
            result_json TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            done_at DOUBLE PRECISION)""",
        "CREATE INDEX effects_run ON effects (run_id)",
        """CREATE TABLE audit_events (
            run_id TEXT NOT NULL REFERENCES runs (id),
            seq INTEGER NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT,
            payload_json TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (run_id, seq))""",
    ),
    (  # 2: where a run's flow lives, to find its project's skills when it resumes elsewhere
        "ALTER TABLE runs ADD COLUMN base_dir TEXT",
    ),
    (  # 3: every model exchange (for traces, cost and error replay) and per-node figures
        """CREATE TABLE model_calls (
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            seq INTEGER NOT NULL,
            attempt INTEGER NOT NULL DEFAULT 1,
            purpose TEXT NOT NULL,
            provider TEXT NOT NULL,
            alias TEXT NOT NULL,
            model TEXT NOT NULL,
            request_json TEXT NOT NULL,
            response_json TEXT,
            error TEXT,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cost DOUBLE PRECISION NOT NULL DEFAULT 0,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (run_id, node_id, item, attempt, seq))""",
        "CREATE INDEX model_calls_time ON model_calls (started_at)",
        "ALTER TABLE node_executions ADD COLUMN metrics_json TEXT",
    ),
    (  # 4: gate escalation: a task's steps, how many fired, when the next one is due
        "ALTER TABLE tasks ADD COLUMN escalations_json TEXT",
        "ALTER TABLE tasks ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE tasks ADD COLUMN next_escalation DOUBLE PRECISION",
        "CREATE INDEX tasks_status_escalation ON tasks (status, next_escalation)",
    ),
    (  # 5: files are capabilities: every file a node produced or a person supplied
        """CREATE TABLE files (
            id TEXT NOT NULL,
            run_id TEXT NOT NULL REFERENCES runs (id),
            node_id TEXT NOT NULL,
            item INTEGER NOT NULL DEFAULT -1,
            name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            workspace TEXT NOT NULL,
            location TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (id, run_id))""",
        "CREATE INDEX files_run ON files (run_id)",
    ),
    (  # 6: large values stored once (runtime/blobs.py): parts of stored JSON by their sha256
        """CREATE TABLE blobs (
            hash TEXT PRIMARY KEY,
            json TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL)""",
    ),
    (  # 7: every external effect gets a key: which node kind performs it, how often it started
        "ALTER TABLE effects ADD COLUMN kind TEXT",
        "ALTER TABLE effects ADD COLUMN starts INTEGER NOT NULL DEFAULT 1",
    ),
    (  # 8: fenced leases: a token that grows each time another owner takes a run's lease
        "ALTER TABLE runs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0",
    ),
    (  # 9: the service (`flowc serve`): people and their sign-in, API tokens, web sessions,
       # single-use links, schedule ticks claimed once, notifications sent once, conversations
        """CREATE TABLE people (
            name TEXT PRIMARY KEY,
            roles_json TEXT NOT NULL,
            email TEXT,
            password_hash TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE api_tokens (
            hash TEXT PRIMARY KEY,
            person TEXT NOT NULL,
            label TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION)""",
        "CREATE INDEX api_tokens_person ON api_tokens (person)",
        """CREATE TABLE web_sessions (
            hash TEXT PRIMARY KEY,
            person TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE used_once (
            id TEXT PRIMARY KEY,
            purpose TEXT NOT NULL,
            used_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE schedule_ticks (
            flow TEXT NOT NULL,
            tick DOUBLE PRECISION NOT NULL,
            owner TEXT NOT NULL,
            run_id TEXT,
            claimed_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (flow, tick))""",
        """CREATE TABLE notifications (
            key TEXT PRIMARY KEY,
            task_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            status TEXT NOT NULL,
            error TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            sent_at DOUBLE PRECISION)""",
        "CREATE INDEX notifications_task ON notifications (task_id)",
        # a run's tasks by status (a run's pending tasks, asked on every API answer about it)
        "CREATE INDEX tasks_run_status ON tasks (run_id, status)",
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            flow TEXT NOT NULL,
            person TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE chat_messages (
            conversation TEXT NOT NULL REFERENCES conversations (id),
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            text TEXT NOT NULL,
            run_id TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (conversation, seq))""",
    ),
    (  # 10: flow versions (runtime/versions.py): immutable snapshots, their status, and their
       # history chained per flow
        f"""CREATE TABLE flow_versions (
            flow TEXT NOT NULL,
            number INTEGER NOT NULL,
            hash TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN {_in(VERSION_STATUSES)}),
            author TEXT NOT NULL,
            message TEXT NOT NULL,
            origin TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            bundle_sha256 TEXT NOT NULL,
            bundle TEXT NOT NULL,
            PRIMARY KEY (flow, number),
            UNIQUE (flow, hash))""",
        "CREATE INDEX flow_versions_status ON flow_versions (flow, status)",
        """CREATE TABLE version_events (
            flow TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            kind TEXT NOT NULL,
            actor TEXT,
            payload_json TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (flow, seq))""",
        """CREATE TABLE version_chains (
            flow TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            head TEXT NOT NULL)""",
    ),
    (  # the engine a run is orchestrated by, when it is not the embedded one (Temporal): the
        # embedded workers leave such runs (and their sub-flow runs) alone
        """CREATE TABLE run_engines (
            run_id TEXT PRIMARY KEY REFERENCES runs (id),
            engine TEXT NOT NULL,
            workflow_id TEXT NOT NULL,
            address TEXT NOT NULL,
            namespace TEXT NOT NULL,
            task_queue TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL)""",
    ),
]

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL)"""

