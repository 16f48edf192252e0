"""Store faults are store errors (issue 13, finding 8): a damaged, truncated, foreign,
read-only or full database file gives one line that names the file, says what is wrong and what
to do, with exit code 4 (never "internal error", never a traceback), for every command; a
damaged store is refused when it is opened, before anything commits; `flowc store check` runs
the full integrity check, reports the schema's migrations and verifies every run's audit trail.

Real files only: bytes flipped in a real page, a real truncation, a real read-only mount and a
real full file system (a small tmpfs) made in a user and mount namespace (`unshare`), and
SQLite's own `max_page_count` for a database that may not grow."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXIT_STORE = 4

FLOW = '''flow faults version "1.0.0"
input amount: float
node review = await human(
  to: role("lead"),
  show: [amount],
  edit: { amount: float = amount },
  actions: [approve, edit, reject],
  timeout: 48h -> reject,
)
output approved: float = review.amount
'''


def flowc(*args, cwd=None, wrap=()):
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FLOWC_DEBUG", None)
    env.pop("FLOWC_STORE", None)
    return subprocess.run([*wrap, sys.executable, "-m", "flowc", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=300)


def _copy_db(src: Path, dst: Path) -> None:
    """A consistent copy of a live SQLite file (its WAL folded in), in WAL mode."""
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    s.backup(d)
    s.close()
    d.execute("PRAGMA journal_mode = WAL")
    d.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store made by the real CLI: one run paused at a gate (its task for `ana`, a lead)."""
    folder = tmp_path_factory.mktemp("faults")
    flow = folder / "faults.flow"
    flow.write_text(FLOW)
    db = folder / "runs.db"
    r = flowc("run", flow, "--input", "amount=5", "--store", db)
    assert r.returncode == 0 and "paused" in r.stdout, r.stdout + r.stderr
    assert flowc("people", "ana", "lead", "--store", db).returncode == 0
    (task,) = json.loads(flowc("inbox", "--json", "--store", db).stdout)
    return {"folder": folder, "flow": flow, "db": db, "task": task["id"], "run": task["run"]}


@pytest.fixture
def case(template, tmp_path):
    """A private copy of the template store (and its people.json) for one test."""
    db = tmp_path / "runs.db"
    _copy_db(template["db"], db)
    shutil.copy(template["db"].parent / "people.json", tmp_path / "people.json")
    return {**template, "db": db, "dir": tmp_path}


def commands(case) -> list[list[str]]:
    task, run, flow = case["task"], case["run"], case["flow"]
    return [["runs"], ["inbox"], ["show", task], ["resume", task, "--approve", "--as", "ana"],
            ["run", flow, "--input", "amount=1"], ["worker", "--once"], ["cancel", run],
            ["audit", run], ["audit", run, "--verify"], ["replay", run], ["store", "check"]]


WRITES = {"resume", "run", "cancel", "worker", "replay"}


def assert_store_error(r, db: Path, *words: str) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == EXIT_STORE, (r.returncode, r.stdout, r.stderr)
    assert len(lines) == 1, r.stderr
    line = lines[0]
    assert "Traceback" not in r.stderr and "internal error" not in line and "bug" not in line
    assert str(db) in line, line
    for w in words:
        assert w in line.lower(), (w, line)
    return line


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _page_of(db: Path, table: str) -> tuple[int, int]:
    """(page size, root page number) of a table."""
    c = sqlite3.connect(db)
    size = c.execute("PRAGMA page_size").fetchone()[0]
    (root,) = c.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    c.close()
    return size, root


def flip_bytes(db: Path, table: str = "tasks") -> None:
    """Flip (xor 0xff) the first bytes of a table's root page: its b-tree page header."""
    size, root = _page_of(db, table)
    data = bytearray(db.read_bytes())
    at = (root - 1) * size
    for i in range(at, at + 12):
        data[i] ^= 0xFF
    db.write_bytes(bytes(data))


# ------------------------------------------------------------------- damaged, truncated, foreign


def test_flipped_bytes_every_command_is_a_store_error_and_nothing_commits(case):
    db = case["db"]
    flip_bytes(db)
    before = _sha(db)
    for argv in commands(case):
        r = flowc(*argv, "--store", db, cwd=case["dir"])
        line = assert_store_error(r, db, "damaged")
        assert "flowc store check" in line or "backup" in line, line
    assert _sha(db) == before  # refused at open: not one byte written


def test_a_truncated_file_is_a_store_error(case):
    db = case["db"]
    size, _ = _page_of(db, "tasks")
    with open(db, "r+b") as f:
        f.truncate(size * 2 + 100)
    for argv in commands(case):
        r = flowc(*argv, "--store", db, cwd=case["dir"])
        assert_store_error(r, db, "truncated")


def test_a_file_that_is_not_sqlite_is_a_store_error(case):
    db = case["db"]
    db.write_bytes(b"this is a text file, not a run store\n" * 300)
    for argv in commands(case):
        r = flowc(*argv, "--store", db, cwd=case["dir"])
        assert_store_error(r, db, "not a sqlite database")


def test_a_store_from_a_newer_flowc_is_a_store_error(case):
    db = case["db"]
    c = sqlite3.connect(db)
    c.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)")
    c.commit()
    c.close()
    for argv in (["runs"], ["resume", case["task"], "--approve", "--as", "ana"],
                 ["store", "check"]):
        r = flowc(*argv, "--store", db, cwd=case["dir"])
        assert_store_error(r, db, "newer flowc")


def test_damage_is_found_when_the_store_is_opened(case):
    from flowc.runtime.store import SQLiteStore, StoreFault

    flip_bytes(case["db"])
    with pytest.raises(StoreFault) as info:
        SQLiteStore(str(case["db"]))
    assert info.value.kind == "damaged" and str(case["db"]) in str(info.value)


# ------------------------------------------------------------------ read-only and full (real)


def _namespaces_work(tmp: Path) -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = tmp / "probe"
    probe.mkdir(exist_ok=True)
    r = subprocess.run([unshare, "--user", "--map-root-user", "--mount", "sh", "-c",
                        'mount -t tmpfs -o size=64k tmpfs "$0" && mount --bind "$0" "$0" && '
                        'mount -o remount,ro,bind "$0" "$0"', str(probe)],
                       capture_output=True, timeout=60)
    return r.returncode == 0


@pytest.fixture
def namespaces(tmp_path):
    if not _namespaces_work(tmp_path):
        pytest.skip("needs `unshare --user --mount` (user namespaces) to make a real read-only "
                    "mount and a real full file system without root")


def in_namespace(script: str):
    """A prefix that runs the command after `script` (mounts) in a new user and mount
    namespace: the mounts are real and vanish with the process."""
    return ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            script + ' && exec "$@"', "sh")


def test_a_read_only_store_file_reads_and_refuses_writes_as_a_store_error(case, namespaces):
    db = case["db"]
    ro = in_namespace(f'mount --bind "{db}" "{db}" && mount -o remount,ro,bind "{db}" "{db}"')
    for argv in commands(case):
        r = flowc(*argv, "--store", db, cwd=case["dir"], wrap=ro)
        if argv[0] == "replay":  # refused before it writes: the run has no failed node
            assert r.returncode == 2 and "no failed node" in r.stderr, r.stderr
        elif argv[0] in WRITES and argv[0] != "worker":
            assert_store_error(r, db, "read-only")
        elif argv[0] == "worker":  # nothing is due: it may have nothing to write
            assert r.returncode in (0, EXIT_STORE), r.stderr
            if r.returncode:
                assert_store_error(r, db, "read-only")
        else:
            assert r.returncode == 0, (argv, r.stdout, r.stderr)
    c = sqlite3.connect(db)
    assert c.execute("SELECT status FROM runs").fetchall() == [("paused",)]
    c.close()


def test_a_store_in_a_read_only_folder_is_a_store_error(case, namespaces):
    db, folder = case["db"], case["dir"]
    ro = in_namespace(f'mount --bind "{folder}" "{folder}" && '
                      f'mount -o remount,ro,bind "{folder}" "{folder}"')
    for argv in commands(case):
        r = flowc(*argv, "--store", db, cwd=ROOT, wrap=ro)
        assert_store_error(r, db, "read-only")


def test_a_full_disk_is_a_store_error_and_leaves_the_store_sound(case, namespaces, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    db = disk / "runs.db"
    size = case["db"].stat().st_size
    # a tmpfs just big enough for the store, its -shm and a few pages: the next run fills it
    script = (f'mount -t tmpfs -o size={size + 96 * 1024} tmpfs "{disk}" && '
              f'cp "{case["db"]}" "{db}" && cp "{case["dir"] / "people.json"}" "{disk}/" && '
              f'(dd if=/dev/zero of="{disk}/filler" bs=4096 count=8 2>/dev/null; true)')
    check = " && ".join([
        f'"{sys.executable}" -m flowc run "{case["flow"]}" --input amount=1 --store "{db}" '
        f'> "{tmp_path}/run.out" 2> "{tmp_path}/run.err"; echo $? > "{tmp_path}/run.rc"',
        f'rm -f "{disk}/filler"',
        f'"{sys.executable}" -m flowc store check --store "{db}" > "{tmp_path}/check.out" 2>&1;'
        f' echo $? > "{tmp_path}/check.rc"'])
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                        script + " && " + check], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "NO_COLOR": "1"})
    assert r.returncode == 0, r.stderr
    rc = int((tmp_path / "run.rc").read_text())
    err = (tmp_path / "run.err").read_text()
    result = subprocess.CompletedProcess([], rc, (tmp_path / "run.out").read_text(), err)
    assert_store_error(result, db, "full")
    # space given back: the store is sound and every audit trail intact
    assert int((tmp_path / "check.rc").read_text()) == 0, (tmp_path / "check.out").read_text()


def test_a_database_at_its_page_limit_is_a_store_error(case):
    """SQLite's `max_page_count` (a per-connection limit) makes the database itself full:
    the store says so and keeps what it had."""
    from flowc.runtime.store import SQLiteStore, StoreFault

    s = SQLiteStore(str(case["db"]))
    conn = s._conn()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    plan = s.list_runs()[0].plan_hash
    with pytest.raises(StoreFault) as info:
        for _ in range(200):
            s.create_run("faults", plan, {"amount": "x" * 4000})
    assert info.value.kind == "full" and str(case["db"]) in str(info.value)
    assert "database or disk is full" in str(info.value.__cause__)
    s.close()
    s = SQLiteStore(str(case["db"]))
    assert s.get_run(case["run"]).status == "paused"
    s.close()


def test_an_engine_does_not_record_a_store_fault_as_a_node_or_run_failure(case):
    """A read the store cannot do (a page damaged after the store was opened) stops the
    engine with the store's error: the node is not failed with it, nor the run."""
    import threading

    from flowc_testkit import plan_of

    from flowc.runtime.engine import Engine
    from flowc.runtime.store import SQLiteStore, StoreFault

    s = SQLiteStore(str(case["db"]))
    flip_bytes(case["db"], "tasks")  # after the open-time check passed
    caught: list[BaseException] = []

    def start() -> None:  # a new thread: a new connection, no page cached
        try:
            with Engine(s) as engine:
                engine.start(plan_of(FLOW), {"amount": 3.0})
        except BaseException as e:
            caught.append(e)

    t = threading.Thread(target=start)
    t.start()
    t.join(120)
    assert caught and isinstance(caught[0], StoreFault), caught
    assert caught[0].kind == "damaged"
    runs = {r.id: r for r in s.list_runs()}
    new = [r for r in runs.values() if r.id != case["run"]]
    assert len(new) == 1 and new[0].status != "failed", new
    assert all(n.status != "failed" for n in s.node_results(new[0].id))
    s.close()


# ------------------------------------------------------------------------------ store check


def test_store_check_reports_integrity_migrations_and_audit(case):
    from flowc.runtime.store import MIGRATIONS

    db = case["db"]
    r = flowc("store", "check", "--store", db)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "integrity: ok" in r.stdout
    assert f"schema: version {len(MIGRATIONS)} of {len(MIGRATIONS)}" in r.stdout
    assert "audit: 1 run" in r.stdout and "intact" in r.stdout
    # an edited event: the run is named, exit 1
    c = sqlite3.connect(db)
    c.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")
    c.commit()
    c.close()
    r = flowc("store", "check", "--store", db)
    assert r.returncode == 1 and case["run"] in r.stdout and "event 1" in r.stdout, r.stdout


def test_store_check_reports_damage_with_the_integrity_report(case):
    db = case["db"]
    flip_bytes(db, "node_executions")
    r = flowc("store", "check", "--store", db)
    assert r.returncode == EXIT_STORE
    assert "integrity:" in r.stdout + r.stderr
    assert str(db) in r.stderr


def test_store_check_on_an_old_schema_says_it_will_be_migrated(case):
    db = case["db"]
    c = sqlite3.connect(db)
    top = c.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
    c.execute("DELETE FROM schema_migrations WHERE version = ?", (top,))
    c.commit()
    c.close()
    r = flowc("store", "check", "--store", db)
    assert f"schema: version {top - 1} of {top}" in r.stdout, r.stdout
    assert "migrated" in r.stdout
    # the check itself changes nothing
    c = sqlite3.connect(db)
    assert c.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0] == top - 1
    c.close()


def test_store_check_on_a_missing_store_is_a_store_error(tmp_path):
    db = tmp_path / "none.db"
    r = flowc("store", "check", "--store", db)
    assert_store_error(r, db, "no store")
    assert not db.exists()
