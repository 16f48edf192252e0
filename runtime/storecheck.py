"""`flowc store check`: a store file's full health, read without changing a byte.

    from flowc.runtime.storecheck import check_store
    report = check_store("runs.db", anchor=None)
    print(report.text()); exit(report.exit_code)

Three parts, in order (a part that cannot run says why):

- integrity: the file's header (SQLite's, its page size, a length that matches it), SQLite's
  full `PRAGMA integrity_check` (every page, every index against its table) and
  `PRAGMA foreign_key_check`;
- schema: the migrations applied (`schema_migrations`) against those this flowc knows: up to
  date, older (the next command that opens it migrates it), newer (refused), or with a gap;
- audit: every run's trail verified with its data (runtime/audit.py), and with an anchor
  every anchored head checked, including runs anchored but no longer in the store.

The store is opened read-only (`mode=ro`): the check never migrates, repairs or writes.
Exit codes (flowc/cli.py): 0 sound; 1 an audit trail or the schema's history has problems;
4 the file cannot serve (missing, not SQLite, truncated, damaged, from a newer flowc).
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from dataclasses import dataclass, field

from .audit import VERSIONS_PREFIX, Anchor, AnchoredHead, _check_anchor, verify_evidence
from .store import MIGRATIONS, AuditVerification, StoreFault, file_fault, read_evidence, store_fault

__all__ = ["StoreReport", "check_store", "check_pg_store"]

EXIT_OK, EXIT_PROBLEMS, EXIT_STORE = 0, 1, 4
_MAX_LISTED = 20


@dataclass
class StoreReport:
    path: str
    size: int = 0
    fault: StoreFault | None = None          # the file cannot serve (exit 4)
    integrity: list[str] = field(default_factory=list)   # ["ok"] or what is wrong
    schema: str = ""
    schema_problem: str | None = None
    runs: dict[str, AuditVerification] = field(default_factory=dict)
    lost_runs: list[str] = field(default_factory=list)   # anchored, gone from the store
    # flow -> its version history against the heads anchored for it
    version_problems: dict[str, list[str]] = field(default_factory=dict)
    anchor: str | None = None
    server: bool = False  # a database server's store (PostgreSQL): it keeps its own integrity

    @property
    def audit_problems(self) -> dict[str, list[str]]:
        out = {rid: v.problems for rid, v in self.runs.items() if not v.ok}
        for line in self.lost_runs:
            out.setdefault(line.split()[1], []).append(line)
        return out

    @property
    def exit_code(self) -> int:
        if self.fault is not None:
            return EXIT_STORE
        if self.audit_problems or self.schema_problem or self.version_problems:
            return EXIT_PROBLEMS
        return EXIT_OK

    def text(self) -> str:
        from .store import _size

        lines = [f"store {self.path} ({_size(self.size)})"]
        if self.integrity:
            if self.integrity == ["ok"] and self.server:
                lines.append("integrity: kept by the server (PostgreSQL checks its own pages "
                             "and constraints); it answers")
            elif self.integrity == ["ok"]:
                lines.append("integrity: ok")
            else:
                lines.append(f"integrity: {len(self.integrity)} problem(s):")
                lines += [f"  {p}" for p in self.integrity[:_MAX_LISTED]]
        if self.schema:
            lines.append(f"schema: {self.schema}")
        if self.schema_problem:
            lines.append(f"schema problem: {self.schema_problem}")
        if self.runs or self.lost_runs or (self.integrity == ["ok"] and self.schema):
            events = sum(v.events for v in self.runs.values())
            bad = self.audit_problems
            head = f"audit: {len(self.runs)} run(s), {events} event(s)"
            if self.anchor:
                head += f", anchor {self.anchor}"
            if not bad:
                lines.append(f"{head}: every trail intact")
            else:
                lines.append(f"{head}: {len(bad)} run(s) with problems:")
                for rid, problems in list(bad.items())[:_MAX_LISTED]:
                    for p in problems[:_MAX_LISTED]:
                        lines.append(f"  run {rid}: {p}")
            if self.version_problems:
                lines.append(f"versions: {len(self.version_problems)} flow(s) whose history "
                             "does not hold its anchored heads:")
            for flow, problems in list(self.version_problems.items())[:_MAX_LISTED]:
                for p in problems[:_MAX_LISTED]:
                    lines.append(f"  {flow}: {p}")
        return "\n".join(lines) + "\n"


def _connect_read_only(path: str) -> sqlite3.Connection:
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    # (the store's own connection class: references to large values read back resolved)
    from .store import _Connection

    conn = sqlite3.connect(uri, uri=True, isolation_level=None, factory=_Connection)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def _schema(conn: sqlite3.Connection, report: StoreReport) -> bool:
    """Fill in the schema part; False when the store is from a newer flowc (a fault)."""
    known = len(MIGRATIONS)
    try:
        versions = [r[0] for r in conn.execute(
            "SELECT version FROM schema_migrations ORDER BY version").fetchall()]
    except Exception as e:  # sqlite3's OperationalError, psycopg's UndefinedTable
        if "no such table" not in str(e) and "does not exist" not in str(e):
            raise
        versions = []
    current = max(versions, default=0)
    if current > known:
        report.fault = StoreFault(
            f"{report.path}: the store's schema is version {current}, this flowc knows versions "
            f"up to {known}; open it with a newer flowc", "newer", report.path)
        report.schema = f"version {current} of {known} (written by a newer flowc)"
        return False
    missing = sorted(set(range(1, current + 1)) - set(versions))
    if missing:
        report.schema_problem = (f"migration(s) {', '.join(map(str, missing))} are not "
                                 "recorded as applied, but later ones are")
    if current == known:
        report.schema = f"version {current} of {known}, up to date"
    else:
        steps = (f"step {known}" if current + 1 == known else
                 f"steps {current + 1} to {known}")
        report.schema = (f"version {current} of {known}, not yet migrated: the next command "
                         f"that opens it migrates it ({steps})")
    return True


def _integrity(conn: sqlite3.Connection, report: StoreReport) -> None:
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(100)").fetchall()]
    except sqlite3.DatabaseError as e:
        fault = store_fault(e, report.path)
        if fault is not None and fault.kind != "damaged":
            raise  # not a verdict on the content: the file cannot be read
        rows = [f"integrity_check could not run: {e}"]
    if rows == ["ok"]:
        try:
            fks = conn.execute("PRAGMA foreign_key_check").fetchall()
        except sqlite3.DatabaseError as e:
            fks = [(f"foreign_key_check could not run: {e}",)]
        rows = [f"a row of `{r[0]}` (rowid {r[1]}) names a missing row of `{r[2]}`"
                if len(r) >= 3 else str(r[0]) for r in fks] or ["ok"]
    report.integrity = rows
    if rows != ["ok"]:
        what = " ".join("; ".join(rows[:3]).split())[:300]
        report.fault = StoreFault(
            f"{report.path}: the store is damaged (integrity_check: {what}): restore it from a "
            "backup, or move it away to start a new store", "damaged", report.path)


def check_store(path: str, anchor: Anchor | None = None) -> StoreReport:
    """Check the store file at `path` (see the module's docstring); never writes to it."""
    report = StoreReport(path, anchor=anchor.url if anchor is not None else None)
    if not os.path.isfile(path):
        report.fault = StoreFault(f"{path}: no store there (no such file): check the path, "
                                  "--store or FLOWC_STORE", "missing", path)
        return report
    report.size = os.path.getsize(path)
    report.fault = file_fault(path)
    if report.fault is not None:
        report.integrity = [str(report.fault).split(": ", 1)[-1]]
        return report
    try:
        conn = _connect_read_only(path)
    except sqlite3.DatabaseError as e:
        report.fault = store_fault(e, path) or StoreFault(f"{path}: {e}", "cannot_open", path)
        return report
    try:
        _integrity(conn, report)
        if report.fault is not None or not _schema(conn, report):
            return report
        _audit(conn, report, anchor)
    except sqlite3.DatabaseError as e:
        fault = store_fault(e, path)
        if fault is None:
            raise
        report.fault = fault
    finally:
        conn.close()
    return report


def check_pg_store(url: str, anchor: Anchor | None = None) -> StoreReport:
    """The same check on a PostgreSQL store, in a read-only session (it never migrates or
    writes). Integrity: the server keeps its pages and constraints (foreign keys included)
    itself, so this part asks it only whether it answers; schema and audit as on SQLite,
    each run's trail read in one REPEATABLE READ snapshot."""
    from .store.pgbase import _PgConnection, redact

    report = StoreReport(redact(url), anchor=anchor.url if anchor is not None else None)
    try:
        import psycopg
    except ImportError:
        report.fault = StoreFault(f"{report.path}: PostgreSQL stores need the postgres extra "
                                  "(pip install 'flowc[postgres]')", "cannot_open",
                                  report.path)
        return report
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=10,
                              options="-c default_transaction_read_only=on")
    except psycopg.Error as e:
        report.fault = StoreFault(f"{report.path}: the store cannot be opened: "
                                  f"{' '.join(str(e).split())[:300]}", "cannot_open",
                                  report.path)
        return report
    conn = _PgConnection(raw)
    report.server = True
    try:
        report.size = int(conn.execute(
            "SELECT pg_database_size(current_database())").fetchall()[0][0])
        report.integrity = ["ok"]
        if not _schema(conn, report):
            return report
        _audit(conn, report, anchor, snapshot="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    except psycopg.Error as e:
        report.fault = StoreFault(f"{report.path}: {' '.join(str(e).split())[:300]}",
                                  "cannot_open", report.path)
    finally:
        raw.close()
    return report


def _audit(conn: sqlite3.Connection, report: StoreReport, anchor: Anchor | None,
           snapshot: str = "BEGIN") -> None:
    anchored: dict[str, list[AnchoredHead]] = {}
    if anchor is not None:
        for h in anchor.heads():
            anchored.setdefault(h.run, []).append(h)
    ids = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY created_at, id")]
    for rid in ids:
        conn.execute(snapshot)
        try:
            evidence = read_evidence(conn, rid)
        finally:
            conn.execute("COMMIT")
        report.runs[rid] = verify_evidence(
            evidence, rid, anchor=anchor,
            anchored=anchored.get(rid, []) if anchor is not None else None)
    for key in [k for k in anchored if k.startswith(VERSIONS_PREFIX)]:
        # a flow's version history anchored alongside the runs: its anchored heads checked
        # against the events (its chain and rows: `flowc versions FLOW --verify`)
        flow, heads = key[len(VERSIONS_PREFIX):], anchored.pop(key)
        events = [{"seq": seq, "hash": digest} for seq, digest in conn.execute(
            "SELECT seq, hash FROM version_events WHERE flow = ? ORDER BY seq", (flow,))]
        problems: list[str] = []
        _check_anchor(events, heads, anchor.url, problems, what="history")
        if problems:
            report.version_problems[flow] = problems
    for rid, heads in anchored.items():
        if rid not in report.runs:
            last = max(heads, key=lambda h: h.seq)
            report.lost_runs.append(f"run {rid} is in the anchor (event {last.seq}) but not in "
                                    "the store: it was deleted")
