"""Uploads that start runs (`on upload file<K>`), run webhooks sent once when a run pauses or
ends, the inbox's paging and filters, and the `flowc serve` / `flowc token` / `flowc people`
command lines (one-line errors, never a traceback)."""

from __future__ import annotations

import hashlib
import http.server
import json
import subprocess
import sys
import threading

import httpx
import pytest
from servekit import EXAMPLES, run_status, seed_gate, serving, signed_in, token_for, wait_for

INTAKE = '''flow intake version "1.0.0"
  "Counts the rows of an uploaded sheet."

on upload file<csv>

input sheet: file<csv>
input note: str = "uploaded"

node count: int = code python(sheet: sheet) """
  result = 1
"""

output rows = count
'''
PEOPLE = [("carla", ["support_lead"], "carla-pw", None)]


def test_an_upload_starts_a_run_with_the_file(tmp_path, pool):
    project = tmp_path / "project"
    project.mkdir()
    (project / "intake.flow").write_text(INTAKE)
    with serving(project, tmp_path / "runs.db", people=PEOPLE, sandbox=pool) as (base, service):
        h = {"authorization": f"Bearer {token_for(service, 'carla')}"}
        data = b"id,amount\nA-17,40\nB-9,60\n"
        r = httpx.post(f"{base}/api/flows/intake/uploads", headers=h,
                       files={"file": ("../../march.csv", data, "text/csv")})
        assert r.status_code == 201, r.text
        run = run_status(service, r.json()["id"], "succeeded", "failed")
        assert run.status == "succeeded", run.error
        files = service.store.run_files(run.id)
        assert [(f.name, f.sha256) for f in files] == [("march.csv",
                                                        hashlib.sha256(data).hexdigest())]
        # the wrong kind of file, no file, a flow without the trigger
        r = httpx.post(f"{base}/api/flows/intake/uploads", headers=h,
                       files={"file": ("notes.txt", b"hi", "text/plain")})
        assert r.status_code == 400 and "file<csv>" in r.json()["error"]
        assert httpx.post(f"{base}/api/flows/intake/uploads", headers=h,
                          data={"x": "1"}).status_code == 400
        assert httpx.post(f"{base}/api/flows/nope/uploads", headers=h,
                          files={"file": ("a.csv", data)}).status_code == 404
        # a JSON value never names a server file
        r = httpx.post(f"{base}/api/flows/intake/runs", headers=h,
                       json={"inputs": {"sheet": {"path": "/etc/passwd", "name": "x.csv"}}})
        assert r.status_code == 400 and "upload" in r.json()["error"]
        r = httpx.post(f"{base}/api/flows/intake/runs", headers=h,
                       data={"inputs": json.dumps({"note": "multipart"})},
                       files={"sheet": ("april.csv", data, "text/csv")})
        assert r.status_code == 201, r.text
        run = run_status(service, r.json()["id"], "succeeded", "failed")
        assert run.inputs["note"] == "multipart"
        assert [f.name for f in service.store.run_files(run.id)] == ["april.csv"]


class _Receiver(http.server.BaseHTTPRequestHandler):
    posts: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).posts.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_run_webhooks_are_sent_once_per_pause_and_end(tmp_path, pool):
    from servekit import project_with

    _Receiver.posts = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    project = project_with(tmp_path, "refund_approval")
    try:
        with serving(project, tmp_path / "runs.db", people=PEOPLE, sandbox=pool,
                     webhook_url=url) as (base, service):
            h = {"authorization": f"Bearer {token_for(service, 'carla')}"}
            r = httpx.post(f"{base}/api/flows/refund_approval/runs", headers=h, json={
                "inputs": {"order": {"id": "W-1", "amount": 10.0, "reason": "damaged"}}})
            run_id = r.json()["id"]
            run_status(service, run_id, "paused")
            task = service.store.list_tasks("pending", run_id=run_id)[0]
            wait_for(lambda: any(p.get("event") == "run.paused" for p in _Receiver.posts),
                     "the paused webhook")
            httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=h,
                       json={"action": "approve"})
            run_status(service, run_id, "succeeded")
            wait_for(lambda: any(p.get("event") == "run.succeeded" for p in _Receiver.posts),
                     "the ended webhook")
            for _ in range(5):
                service.run_pass()  # more passes send nothing again
    finally:
        srv.shutdown()
    events = [p["event"] for p in _Receiver.posts if p.get("run") == run_id]
    assert events.count("run.paused") == 1 and events.count("run.succeeded") == 1
    assert all(f"/runs/{run_id}" in p["text"] for p in _Receiver.posts if p.get("run"))


def test_the_inbox_pages_and_filters(tmp_path):
    from servekit import project_with

    project = project_with(tmp_path, "refund_approval")
    people = [*PEOPLE, ("dev", ["compliance"], "dev-pw", None)]
    with serving(project, tmp_path / "runs.db", people=people, worker=False) as (base, service):
        made = [seed_gate(service, title=f"refund number {i:03d}")[1] for i in range(120)]
        seed_gate(service, title="compliance only", role="compliance")
        carla = signed_in(base, "carla", "carla-pw")
        first = carla.get("/inbox")
        assert 'data-testid="total">120 pending' in first.text
        assert "page 1 of 3" in first.text and "compliance only" not in first.text
        seen = []
        for page in (1, 2, 3):
            html = carla.get("/inbox", params={"page": page}).text
            seen += [t.id for t in made if f"/review/{t.id}" in html]
        assert sorted(seen) == sorted(t.id for t in made)  # each task on exactly one page
        assert len(seen) == len(set(seen))
        assert "page 3 of 3" in carla.get("/inbox", params={"page": 999}).text
        assert carla.get("/inbox", params={"page": "x"}).status_code == 200
        filtered = carla.get("/inbox", params={"role": "support_lead"}).text
        assert 'data-testid="total">120 pending' in filtered
        assert 'data-testid="total">0 pending' in carla.get(
            "/inbox", params={"flow": "other_flow"}).text
        dev = signed_in(base, "dev", "dev-pw")
        assert 'data-testid="total">1 pending' in dev.get("/inbox").text


def _flowc(*args, cwd, stdin=None):
    return subprocess.run([sys.executable, "-m", "flowc", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, expected", [
    (["serve", "--project", "nowhere"], "--project: `nowhere` does not exist"),
    (["serve", "--smtp", "nohost"], "--smtp takes HOST:PORT"),
    (["serve", "--replay", "missing.jsonl"], "--replay: `missing.jsonl` is not a file"),
    (["serve", "--port", "x"], "--port"),
    (["token", "ghost"], "no person `ghost`"),
])
def test_command_line_mistakes_are_one_line(tmp_path, args, expected):
    r = _flowc(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert expected in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3


def test_people_passwords_and_tokens_from_the_command_line(tmp_path):
    from flowc.runtime.store import open_store
    from flowc.server.auth import verify_password

    store = tmp_path / ".flowc" / "runs.db"
    r = _flowc("people", "carla", "support_lead", "--email", "carla@example.test",
               "--password-stdin", cwd=tmp_path, stdin="a long passphrase\n")
    assert r.returncode == 0, r.stderr
    r = _flowc("people", "carla", "--email", "not an address", cwd=tmp_path)
    assert r.returncode != 0 and "not an e-mail address" in r.stderr
    r = _flowc("token", "carla", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    s = open_store(str(store))
    try:
        person = s.get_person("carla")
        assert person.roles == ("support_lead",) and person.email == "carla@example.test"
        assert verify_password(person.password_hash, "a long passphrase")
        assert not verify_password(person.password_hash, "wrong")
        assert "passphrase" not in (person.password_hash or "")
        assert s.token_person(token) == "carla"
    finally:
        s.close()
    assert _flowc("token", "carla", "--revoke", cwd=tmp_path).returncode == 0
    s = open_store(str(store))
    try:
        assert s.token_person(token) is None
    finally:
        s.close()


def test_serve_starts_from_the_command_line_and_serves_the_examples(tmp_path):
    from servekit import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "flowc", "serve", "--project",
                             str(EXAMPLES / "refund_approval"), "--port", str(port), "--demo"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        def up():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None
        wait_for(up, "the server")
        assert proc.poll() is None
        c = signed_in(f"http://127.0.0.1:{port}", "carla", "carla-demo")
        assert "refund_approval" in c.get("/flows").text
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err[-2000:]
    assert "demo person: carla" in err


FLAKY = '''flow flaky version "1.0.0"
  "Fails until a marker file exists: error replay from the failed node."

input n: int = 1

node first: int = code python(n: n) """
  result = n + 1
"""

node second: int = code python(x: first) """
  import os
  if not os.environ.get("NEVER_SET_IN_THE_SANDBOX"):
      raise RuntimeError("the upstream service was down")
  result = x
"""

output out = second
'''


def test_error_replay_from_the_failed_node_is_for_admins_only(tmp_path, pool):
    import re

    project = tmp_path / "project"
    project.mkdir()
    (project / "flaky.flow").write_text(FLAKY)
    people = [("carla", ["support_lead", "admin"], "carla-pw", None),
              ("bob", ["finance"], "bob-pw", None)]
    with serving(project, tmp_path / "runs.db", people=people, sandbox=pool) as (base, service):
        h = {"authorization": f"Bearer {token_for(service, 'carla')}"}
        run_id = httpx.post(f"{base}/api/flows/flaky/runs", headers=h, json={}).json()["id"]
        run = run_status(service, run_id, "failed")
        assert "upstream service was down" in (run.error or "")
        bob = signed_in(base, "bob", "bob-pw")
        page = bob.get(f"/runs/{run_id}")
        assert "/replay" not in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        r = bob.post(f"/runs/{run_id}/replay", data={"csrf": csrf, "node": "second"})
        assert r.status_code == 403
        before = {r.id for r in service.store.list_runs()}
        carla = signed_in(base, "carla", "carla-pw")
        page = carla.get(f"/runs/{run_id}")
        assert f"/runs/{run_id}/replay" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert carla.post(f"/runs/{run_id}/replay", data={"node": "second"}).status_code == 403
        r = carla.post(f"/runs/{run_id}/replay", data={"csrf": csrf, "node": "nope"})
        assert r.status_code == 400 and "no node `nope`" in r.text
        r = carla.post(f"/runs/{run_id}/replay", data={"csrf": csrf, "node": ""})
        assert r.status_code == 303
        new_id = r.headers["location"].rsplit("/", 1)[-1]
        assert new_id not in before
        new = run_status(service, new_id, "failed")
        # the node before the failed one kept its result; the failed one ran again
        kept = {n.node_id: n for n in service.store.node_results(new_id)}
        assert kept["first"].output == 2 and kept["second"].status == "failed"
        started = next(e for e in service.store.audit_events(new_id) if e.kind == "run.started")
        assert started.payload["replay_of"] == run_id and started.payload["kept"] == ["first"]
        assert new.status == "failed"


NIGHTLY = '''flow nightly version "1.0.0"
  "A scheduled flow that asks support to look at its count."

on schedule "* * * * *"

input label: str = "scheduled"

node count: int = code python(label: label) """
  result = len(label)
"""

node review = await human(to: role("support_lead"), show: count, actions: [approve, reject],
                          timeout: 48h -> reject)

match review {
  approved -> stop
  rejected -> stop
}
'''


def test_flowc_worker_fires_schedules_and_notifies_apart_from_the_server(tmp_path):
    """`flowc worker --project DIR --webhook URL`: with no server at all, a schedule's tick
    starts a run (once), the worker advances it to its gate and the gate's people are
    notified with a review link; the first pass only records the start point."""
    import sqlite3

    project = tmp_path / "project"
    project.mkdir()
    (project / "nightly.flow").write_text(NIGHTLY)
    store = tmp_path / "runs.db"
    _Receiver.posts = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    args = ("worker", "--once", "--project", project, "--store", store, "--webhook", hook,
            "--base-url", "https://flowc.example.test")
    try:
        assert _flowc("people", "carla", "support_lead", "--store", store,
                      cwd=tmp_path).returncode == 0
        first = _flowc(*args, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert "scheduled:" not in first.stdout  # the start point: no run
        with sqlite3.connect(store) as db:  # as if the worker had been down for two minutes
            (tick,) = db.execute("SELECT tick FROM schedule_ticks").fetchone()
            db.execute("UPDATE schedule_ticks SET tick = ?", (tick - 120,))
        second = _flowc(*args, cwd=tmp_path)
        assert second.returncode == 0, second.stderr
        assert second.stdout.count("scheduled: run ") == 1, second.stdout  # catch-up: latest
        run_id = second.stdout.split("scheduled: run ")[1].split()[0]
        third = _flowc(*args, cwd=tmp_path)
        assert "scheduled:" not in third.stdout  # the same tick never fires again
    finally:
        srv.shutdown()
    with sqlite3.connect(store) as db:
        ticks = db.execute("SELECT run_id FROM schedule_ticks WHERE run_id IS NOT NULL").fetchall()
        (status,) = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    assert ticks == [(run_id,)]
    assert status == "paused"  # advanced by the same worker to its gate
    opened = [p for p in _Receiver.posts if "https://flowc.example.test/" in p.get("text", "")
              and p.get("event") != "run.paused"]
    assert len(opened) == 1, _Receiver.posts  # the gate's notification, once over three passes
    bad = _flowc("worker", "--once", "--project", tmp_path / "nowhere", "--store", store,
                 cwd=tmp_path)
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "--project" in bad.stderr
