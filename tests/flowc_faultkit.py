"""Helpers for crash tests that drive real `flowc` processes against a real SQLite store:
start a command (optionally with a fault: SIGKILL at a commit point, see runtime/faults.py),
a counting HTTP server standing for the outside world, and the checks every crash test ends
with (the run's state, the audit chain, every event once).

    with CountingServer() as srv, Flowc(tmp_path) as fc:
        fc.write("f.flow", FLOW.format(host=srv.host))
        r = fc.run("run", "f.flow", fault="Engine._commit/finish_node:after")
        assert r.returncode == -9
        fc.settle(run_id)                     # workers until the run can go no further
        fc.assert_audit_ok(run_id)
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

__all__ = ["KILLED", "CountingServer", "Flowc", "commit_points"]

KILLED = -signal.SIGKILL


def commit_points(log: Path) -> list[tuple[str, int]]:
    """The commit points a `FLOWC_FAULT_LOG` file lists, each with its occurrence number."""
    seen: Counter = Counter()
    out = []
    if not log.exists():
        return out
    for line in log.read_text().splitlines():
        if line:
            seen[line] += 1
            out.append((line, seen[line]))
    return out


class _Counting(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self):
        srv = self.server
        key = self.headers.get("Idempotency-Key", "")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        with srv.lock:
            srv.requests.append((self.path, key, body))
            first = not key or key not in srv.keys
            srv.keys[key] = srv.keys.get(key, 0) + 1
            if first:  # a receiver that honours the key acts on its first delivery only
                srv.acted[body] += 1
            srv.changed.notify_all()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Counting)
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.requests: list[tuple[str, str, str]] = []   # (path, key, body), in order
        self.keys: dict[str, int] = {}                  # deliveries per idempotency key
        self.acted: Counter = Counter()                 # actions per body


class CountingServer:
    """A local HTTP server that records every POST (path, Idempotency-Key, body) and acts on
    a body once per key (`acted`)."""

    def __enter__(self) -> CountingServer:
        self.srv = _Server()
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.host = f"127.0.0.1:{self.srv.server_address[1]}"
        return self

    def __exit__(self, *exc) -> None:
        self.srv.shutdown()
        self.srv.server_close()

    @property
    def acted(self) -> Counter:
        with self.srv.lock:
            return Counter(self.srv.acted)

    @property
    def bodies(self) -> list[str]:
        with self.srv.lock:
            return [b for _, _, b in self.srv.requests]

    def clear(self) -> None:
        with self.srv.lock:
            self.srv.requests.clear()
            self.srv.keys.clear()
            self.srv.acted.clear()

    def wait_for(self, body: str, timeout: float = 120.0) -> bool:
        """Block until a request with this body arrived (False after `timeout`: a hang bound)."""
        end = time.monotonic() + timeout
        with self.srv.changed:
            while not any(b == body for _, _, b in self.srv.requests):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.srv.changed.wait(left)
        return True


class Flowc:
    """`flowc` commands as real processes, sharing one store (`runs.db` in `folder`)."""

    def __init__(self, folder: Path, lease_seconds: float = 2.0, **env: str):
        self.folder = Path(folder)
        self.store_path = self.folder / "runs.db"
        self.lease_seconds = lease_seconds
        self.env = {**os.environ, "FLOWC_STORE": str(self.store_path),
                    "FLOWC_LEASE_SECONDS": str(lease_seconds), **env}
        for name in ("FLOWC_DEBUG", "FLOWC_FAULT", "FLOWC_FAULT_LOG"):
            if name not in env:
                self.env.pop(name, None)
        self._store = None

    def __enter__(self) -> Flowc:
        return self

    def __exit__(self, *exc) -> None:
        if self._store is not None:
            self._store.close()

    @property
    def store(self):
        if self._store is None:
            from flowc.runtime.store import SQLiteStore

            self._store = SQLiteStore(str(self.store_path))
        return self._store

    def write(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.write_text(text)
        return path

    def _env(self, fault: str | None, log: Path | None, extra: dict | None) -> dict:
        env = dict(self.env)
        if fault:
            env["FLOWC_FAULT"] = fault
        if log is not None:
            env["FLOWC_FAULT_LOG"] = str(log)
        env.update(extra or {})
        return env

    def run(self, *args, fault: str | None = None, log: Path | None = None,
            env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        """`flowc ARGS...` to its end (or its kill)."""
        return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)],
                              cwd=self.folder, env=self._env(fault, log, env),
                              capture_output=True, text=True, timeout=timeout)

    def start(self, *args, fault: str | None = None, log: Path | None = None,
              env: dict | None = None) -> subprocess.Popen:
        """`flowc ARGS...` in the background."""
        return subprocess.Popen([sys.executable, "-m", "flowc", *map(str, args)],
                                cwd=self.folder, env=self._env(fault, log, env),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # -- the store, read the way a person would see it

    def only_run(self):
        runs = self.store.list_runs(limit=10)
        assert len(runs) == 1, [(r.id, r.status) for r in runs]
        return runs[0]

    def top_runs(self):
        return [r for r in self.store.list_runs(limit=1000) if r.parent_run_id is None]

    def pending_task(self, run_id: str | None = None):
        tasks = self.store.list_tasks(status="pending", limit=1000)
        if run_id is not None:
            family = self.family(run_id)
            tasks = [t for t in tasks if t.run_id in family]
        return tasks[0] if tasks else None

    def family(self, run_id: str) -> set[str]:
        ids, todo = set(), [run_id]
        runs = self.store.list_runs(limit=10_000)
        while todo:
            rid = todo.pop()
            if rid not in ids:
                ids.add(rid)
                todo.extend(r.id for r in runs if r.parent_run_id == rid)
        return ids

    def kinds(self, run_id: str) -> Counter:
        """The audit event kinds of a run and its sub-flow runs, without the store's own
        `node.result` events (one with every node result: see `node_results_once`)."""
        return Counter(e.kind for rid in self.family(run_id)
                       for e in self.store.audit_events(rid) if e.kind != "node.result")

    def node_results_once(self, run_id: str) -> bool:
        """Whether no node result of the run or its sub-flow runs was recorded twice with a
        final status (a node that ran twice)."""
        seen = Counter((rid, e.payload["node"], e.payload["item"])
                       for rid in self.family(run_id) for e in self.store.audit_events(rid)
                       if e.kind == "node.result"
                       and e.payload["status"] in ("succeeded", "failed", "skipped"))
        return all(n == 1 for n in seen.values())

    def lapse(self) -> None:
        """Wait until a lease taken by a killed process has lapsed."""
        time.sleep(self.lease_seconds + 0.2)

    def settle(self, run_id: str | None = None, *, decide: bool | str = False,
               passes: int = 12, cancel: bool = False) -> None:
        """Bring the run(s) as far as they go, the way an operator would after a crash:
        `flowc worker --once` (after the killed process's lease lapsed) until no run is
        queued or running; with `decide` ("approve", "reject"; True: approve), a pending task
        is decided by ana (`flowc resume`); with `cancel`, a run not yet cancelled is
        cancelled again (`flowc cancel`)."""
        action = {True: "approve", False: None}.get(decide, decide)
        for _ in range(passes):
            runs = [self.store.get_run(run_id)] if run_id else self.top_runs()
            live = [r for r in runs if r is not None and not r.terminal]
            if not live:
                return
            if cancel:
                for r in live:
                    got = self.run("cancel", r.id)
                    assert got.returncode in (0, 1), got.stderr
                continue
            task = self.pending_task(run_id) if action else None
            if task is not None and all(r.status == "paused" for r in live):
                got = self.run("resume", task.id, f"--{action}", "--as", "ana")
                assert got.returncode in (0, 1), got.stderr
                continue
            if all(r.status == "paused" for r in live) and not self._wakeable(live):
                return
            self.lapse()
            got = self.run("worker", "--once")
            assert got.returncode == 0, got.stderr
        raise AssertionError(f"runs still live after {passes} passes: "
                             f"{[(r.id, r.status) for r in self.top_runs()]}")

    def _wakeable(self, runs) -> bool:
        """A paused run has a task that is no longer pending (a worker can continue it)."""
        for r in runs:
            for rid in self.family(r.id):
                for t in self.store.list_tasks(status=None, run_id=rid, limit=1000):
                    if t.status != "pending" and any(
                            n.node_id == t.node_id and n.item == t.item and
                            n.status == "waiting" for n in self.store.node_results(rid)):
                        return True
        return False

    def assert_audit_ok(self, run_id: str) -> None:
        """`flowc audit RUN --verify` passes for the run and its sub-flow runs, and each run's
        trail starts with `run.started`."""
        for rid in self.family(run_id):
            got = self.run("audit", rid, "--verify")
            assert got.returncode == 0, got.stdout + got.stderr
            events = self.store.audit_events(rid)
            assert events and events[0].kind == "run.started", [e.kind for e in events]

    def audit_json(self, run_id: str) -> list[dict]:
        return json.loads(self.run("audit", run_id, "--format", "json").stdout)
