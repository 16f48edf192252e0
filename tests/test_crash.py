"""Crash safety: `flowc run` killed with SIGKILL at random moments; the worker finishes every run
and no effect is acted on twice.

A local HTTP server stands for the outside world: it counts every request per idempotency
key and acts only on the first. The short form runs in CI; `-m slow` runs the 100 trials.
"""

from __future__ import annotations

import http.server
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowc.runtime.store import SQLiteStore

FLOW = '''flow crashy version "1.0.0"
policy approval: off
input n: int
node a: int = code python(v: n) """
import flowc_http
await flowc_http.post("http://{host}/act", body=f"a:{{v}}", headers={{"Idempotency-Key": idempotency_key}})
result = v + 1
"""
  effect external
  hosts ["{host}"]
node b: int = code python(v: a) """
import flowc_http
await flowc_http.post("http://{host}/act", body=f"b:{{v}}", headers={{"Idempotency-Key": idempotency_key}})
result = v * 2
"""
  effect external
  hosts ["{host}"]
node c: int = code python(v: b) """
result = v + 100
"""
output total: int = c
'''


class Receiver(http.server.BaseHTTPRequestHandler):
    seen: dict[str, int] = {}      # requests per idempotency key
    acted: dict[str, int] = {}     # actions per effect (its body names run and node)
    lock = threading.Lock()

    def do_POST(self):
        key = self.headers.get("Idempotency-Key", "")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        with Receiver.lock:
            first = key not in Receiver.seen
            Receiver.seen[key] = Receiver.seen.get(key, 0) + 1
            if first:  # a receiver that honours the key acts on its first delivery only
                Receiver.acted[body] = Receiver.acted.get(body, 0) + 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def _trials(n_trials: int, tmp_path: Path) -> None:
    Receiver.seen.clear()
    Receiver.acted.clear()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{srv.server_address[1]}"
    flow = tmp_path / "crashy.flow"
    flow.write_text(FLOW.format(host=host))
    store_path = tmp_path / "runs.db"
    env = {**os.environ, "FLOWC_LEASE_SECONDS": "1", "FLOWC_STORE": str(store_path)}
    rng = random.Random(20261125)
    for i in range(n_trials):
        proc = subprocess.Popen([sys.executable, "-m", "flowc", "run", str(flow), "--input",
                                 f"n={i}"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 1.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    time.sleep(1.2)  # the killed processes' leases lapse
    deadline = time.monotonic() + 600
    store = SQLiteStore(str(store_path))
    while time.monotonic() < deadline:
        pending = [r for r in store.list_runs(limit=10_000) if r.status in ("queued", "running")]
        if not pending:
            break
        subprocess.run([sys.executable, "-m", "flowc", "worker", "--once"], env=env,
                       capture_output=True, timeout=600)
        time.sleep(1.1)
    srv.shutdown()
    runs = store.list_runs(limit=10_000)
    statuses = {r.status for r in runs}
    assert statuses <= {"succeeded"}, [(r.id, r.status, r.error) for r in runs
                                        if r.status != "succeeded"]
    for r in runs:
        n = r.inputs["n"]
        assert r.outputs == {"total": (n + 1) * 2 + 100}
    # every effect of every run acted on exactly once: a retry after a crash reuses the key
    assert all(v == 1 for v in Receiver.acted.values()), Receiver.acted
    assert set(Receiver.acted) == {f"a:{r.inputs['n']}" for r in runs} | \
        {f"b:{r.inputs['n'] + 1}" for r in runs}
    duplicates = sum(v - 1 for v in Receiver.seen.values())
    print(f"{n_trials} kill -9 trials: {len(runs)} runs created and completed, "
          f"{len(Receiver.acted)} effects acted once, {duplicates} duplicate deliveries "
          "refused by the key")


def test_kill9_short(tmp_path):
    _trials(8, tmp_path)


@pytest.mark.slow
def test_kill9_hundred_trials(tmp_path):
    _trials(100, tmp_path)
