"""Every external effect gets a key: code, command and skill nodes that declare (or whose
skill declares) `effect external` get a stable idempotency key per (run, node, item), an
intent/done record in the store, and the key handed to the effect (`idempotency_key` in code,
`FLOWC_IDEMPOTENCY_KEY` in the environment of commands and skill scripts, and an
`Idempotency-Key` header that flowc adds to their HTTP requests).

The outside world is a real local HTTP server that honours the key: it acts on the first
delivery of each key and counts every delivery. The crash test kills the real `flowc run`
process with SIGKILL at enumerated points of each kind of effect (after the intent is
recorded, when the request has reached the server, after the effect returned, after its
result was recorded), lets `flowc worker` resume the run, and checks that each effect was
acted on once, with one key, and that no delivery came without a key. The short form covers
every point once and every node kind; `-m slow` covers every point on every kind.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from flowc_testkit import open_again, plan_of, raw_sql

from flowc.runtime.store import SQLiteStore


class Receiver(http.server.BaseHTTPRequestHandler):
    """A receiver that honours `Idempotency-Key`: it acts once per key (a delivery without a
    key is acted on every time: there is nothing to recognise it by)."""

    lock = threading.Lock()
    deliveries: list[tuple[str, str]] = []   # (body, key) of every request, in order
    acted: dict[str, int] = {}               # body -> times acted on
    keys: dict[str, str] = {}                # key -> the body first delivered with it
    kill: set[str] = set()                   # bodies whose first delivery kills flowc
    kill_pids: dict[str, int] = {}           # body -> the pid of the `flowc run` to kill

    @classmethod
    def reset(cls) -> None:
        with cls.lock:
            cls.deliveries.clear()
            cls.acted.clear()
            cls.keys.clear()
            cls.kill.clear()
            cls.kill_pids.clear()

    def do_POST(self):
        key = self.headers.get("Idempotency-Key") or ""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        with Receiver.lock:
            Receiver.deliveries.append((body, key))
            if not key or key not in Receiver.keys:
                Receiver.acted[body] = Receiver.acted.get(body, 0) + 1
                if key:
                    Receiver.keys[key] = body
            doomed = body in Receiver.kill
            Receiver.kill.discard(body)
        if doomed:  # the request reached the receiver (and was acted on): flowc dies now
            give_up = time.monotonic() + 120  # (its pid is noted just after it started)
            while body not in Receiver.kill_pids and time.monotonic() < give_up:
                time.sleep(0.01)
            os.kill(Receiver.kill_pids[body], signal.SIGKILL)
            self.close_connection = True
            return
        out = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


@pytest.fixture
def receiver():
    Receiver.reset()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


# A command runs `pay`, which sets the header itself from FLOWC_IDEMPOTENCY_KEY (flowc_http);
# the skill `notify` declares the external effect in its SKILL.md and its unchanged script
# uses urllib: flowc adds the header. Both print the key they were given.
_PAY = '''import json, os, sys
import flowc_http
a = sys.argv[1:]
url, what = a[a.index("--url") + 1], a[a.index("--what") + 1]
key = os.environ.get("FLOWC_IDEMPOTENCY_KEY", "")
r = flowc_http.post_sync(url, body=what, headers={"Idempotency-Key": key})
print(json.dumps({"status": r["status"], "key": key}))
'''
_NOTIFY = '''import json, os, sys, urllib.request
a = sys.argv[1:]
url, what = a[a.index("--url") + 1], a[a.index("--what") + 1]
req = urllib.request.Request(url, data=f"skill:{what}".encode(), method="POST")
with urllib.request.urlopen(req) as resp:
    status = resp.status
print(json.dumps({"status": status, "key": os.environ.get("FLOWC_IDEMPOTENCY_KEY", "")}))
'''


def _skills(root: Path) -> Path:
    skills = root / "skills"
    for name, effects, script, entry in (
            ("pay", "[]", _PAY, "pay --url {url} --what {what}"),
            ("notify", "[external]", _NOTIFY, "notify --url {url} --what {what}")):
        (skills / name / "scripts").mkdir(parents=True, exist_ok=True)
        (skills / name / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: Sends a request (test skill).\nversion: 1.0.0\n"
            "inputs:\n  url: str\n  what: str\noutputs:\n  text: receipt\n"
            f"  fields: {{ key: str }}\neffects: {effects}\nentry: {entry}\n---\n# {name}\n")
        (skills / name / "scripts" / f"{name}.py").write_text(script)
    return skills


FLOW = '''flow effects version "1.0.0"
policy approval: off
use skill pay @ 1.0.0
use skill notify @ 1.0.0
input n: int
node c: str = code python(v: n) """
import flowc_http
await flowc_http.post("http://{host}/act", body=f"code:{{v}}", headers={{"Idempotency-Key": idempotency_key}})
result = idempotency_key
"""
  effect external
  hosts ["{host}"]
node m = command `pay --url http://{host}/act --what cmd:{{n}}`
  after c
  effect external
  hosts ["{host}"]
node s = skill notify(url: "http://{host}/act", what: "{{n}}")
  after m
  hosts ["{host}"]
output code_key: str = c
output command_out: str = m.stdout
output skill_key: str = s.key
'''

NODES = {"c": ("code", "code:{n}"), "m": ("command", "cmd:{n}"), "s": ("skill", "skill:{n}")}
POINTS = ("intent", "delivered", "returned", "done")
# deliveries of the effect killed at that point (the others: one), and how often flowc
# started it (`starts` in its record)
DELIVERIES = {"intent": 1, "delivered": 2, "returned": 2, "done": 1}
STARTS = {"intent": 2, "delivered": 2, "returned": 2, "done": 1}


def _crash_trials(trials: list[tuple[str, str]], tmp_path: Path, host: str) -> None:
    _skills(tmp_path)
    flow = tmp_path / "effects.flow"
    flow.write_text(FLOW.format(host=host))
    store_path = tmp_path / "runs.db"
    base = {**os.environ, "FLOWC_LEASE_SECONDS": "1", "FLOWC_STORE": str(store_path)}
    base.pop("FLOWC_EFFECT_CRASH", None)
    exits = {}
    for n, (point, node) in enumerate(trials):
        env = dict(base)
        body = NODES[node][1].format(n=n)
        if point == "delivered":
            with Receiver.lock:
                Receiver.kill.add(body)
        else:
            env["FLOWC_EFFECT_CRASH"] = f"{point}@{node}"
        proc = subprocess.Popen([sys.executable, "-m", "flowc", "run", str(flow), "--input",
                                 f"n={n}"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        Receiver.kill_pids[body] = proc.pid
        _out, err = proc.communicate(timeout=600)
        exits[n] = (proc.returncode, err[-500:])
    store = SQLiteStore(str(store_path))
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        pending = [r for r in store.list_runs(limit=10_000) if r.status in ("queued", "running")]
        if not pending:
            break
        time.sleep(1.2)  # the killed process's lease lapses
        subprocess.run([sys.executable, "-m", "flowc", "worker", "--once"], env=base,
                       cwd=tmp_path, capture_output=True, timeout=900)
    runs = {r.inputs["n"]: r for r in store.list_runs(limit=10_000)}
    assert sorted(runs) == list(range(len(trials)))

    # no delivery without a key; one key per effect, each acted on once
    keyless = [b for b, k in Receiver.deliveries if not k]
    assert keyless == [], f"deliveries without an idempotency key: {keyless}"
    keys_of: dict[str, set[str]] = {}
    for b, k in Receiver.deliveries:
        keys_of.setdefault(b, set()).add(k)
    expected = {spec.format(n=n) for n in runs for _kind, spec in NODES.values()}
    assert set(keys_of) == expected
    assert all(len(k) == 1 for k in keys_of.values()), keys_of
    assert len(Receiver.keys) == len(expected)  # distinct keys == effects
    assert Receiver.acted == {b: 1 for b in expected}, Receiver.acted

    for n, (point, crashed) in enumerate(trials):
        run = runs[n]
        assert exits[n][0] == -signal.SIGKILL, (point, crashed, exits[n])
        assert run.status == "succeeded", (point, crashed, run.error)
        records = {e[1]: e for e in sqlite3.connect(store_path).execute(
            "SELECT key, node_id, status, kind, starts FROM effects WHERE run_id = ?",
            (run.id,))}
        assert set(records) == set(NODES), (point, crashed, records)
        for node, (kind, spec) in NODES.items():
            body = spec.format(n=n)
            key, _node, status, rec_kind, starts = records[node]
            assert (status, rec_kind) == ("done", kind)
            assert keys_of[body] == {key}  # the key delivered is the one recorded
            delivered = sum(1 for b, _k in Receiver.deliveries if b == body)
            want = DELIVERIES[point] if node == crashed else 1
            assert delivered == want, (point, crashed, node, delivered)
            assert starts == (STARTS[point] if node == crashed else 1), (point, crashed, node)
        # the effect itself was handed the same key (code: the variable; command and skill:
        # the environment variable)
        assert run.outputs["code_key"] == records["c"][0]
        assert json.loads(run.outputs["command_out"])["key"] == records["m"][0]
        assert run.outputs["skill_key"] == records["s"][0]
    store.close()


# every point once, every node kind re-delivered at least once
SHORT = [("intent", "m"), ("delivered", "m"), ("returned", "s"), ("delivered", "c"),
         ("done", "s")]


def test_kill9_at_every_effect_point_short(tmp_path, receiver):
    _crash_trials(SHORT, tmp_path, receiver)


@pytest.mark.slow
def test_kill9_at_every_effect_point_on_every_kind(tmp_path, receiver):
    _crash_trials([(p, n) for n in NODES for p in POINTS], tmp_path, receiver)


# ---- in one process ------------------------------------------------------------------------
def test_the_store_counts_each_start_and_keeps_the_first_result(store):
    from flowc.runtime.effects import effect_key

    store.put_plan("p" * 64, "{}")
    run = store.create_run("f", "p" * 64)
    key = effect_key(run.id, "pay", 3)
    assert key == effect_key(run.id, "pay", 3) != effect_key(run.id, "pay", 4)
    assert effect_key(run.id, "pay", 3) != effect_key(run.id, "charge", 3)
    first = store.effect_start(key, run.id, "pay", 3, "command")
    assert (first.status, first.kind, first.starts, first.item) == ("intent", "command", 1, 3)
    again = store.effect_start(key, run.id, "pay", 3, "command")  # a resume: same key
    assert (again.status, again.starts, again.created_at) == ("intent", 2, first.created_at)
    done = store.effect_done(key, {"shell": {"exit_code": 0}, "files": []})
    assert done.status == "done" and done.starts == 2
    after = store.effect_start(key, run.id, "pay", 3, "command")  # done: not started again
    assert after == done
    with store.transaction():  # starts inside one transaction each count
        other = effect_key(run.id, "mail", -1)
        store.effect_start(other, run.id, "mail", -1, "skill")
        store.effect_start(other, run.id, "mail", -1, "skill")
    assert store.get_effect(other).starts == 2


def test_each_effect_kind_and_item_gets_its_own_stable_key(store, pool, tmp_path, receiver):
    """Code (Python with and without setting the header, JavaScript), command, skill, and a
    `for each` of commands: every delivery carries a key, one per (node, item), the one recorded; a node
    without an effect sends none; running the run again from the committed effects repeats
    nothing."""
    from flowc.runtime.engine import Engine

    host = receiver
    _skills(tmp_path)
    text = f'''flow k version "1.0.0"
policy approval: off
use skill pay @ 1.0.0
use skill notify @ 1.0.0
node own: str = code python() """
import flowc_http
await flowc_http.post("http://{host}/act", body="own", headers={{"Idempotency-Key": idempotency_key + ":1"}})
result = idempotency_key
"""
  effect external
  hosts ["{host}"]
node auto: str = code python() """
import flowc_http
await flowc_http.post("http://{host}/act", body="auto")
result = idempotency_key
"""
  effect external
  hosts ["{host}"]
node js: str = code javascript() """
result = idempotency_key;
"""
  effect external
node quiet: int = code python() """
import flowc_http
await flowc_http.post("http://{host}/act", body="quiet")
result = 1
"""
  hosts ["{host}"]
node each = for each x in ["a", "b"] concurrency 2 {{
  command `pay --url http://{host}/act --what each:{{x}}`
}}
  effect external
  hosts ["{host}"]
node s = skill notify(url: "http://{host}/act", what: "one")
  hosts ["{host}"]
output own_key: str = own
output auto_key: str = auto
output q: int = quiet
output js_key: str = js
output skill_key: str = s.key
'''
    engine = Engine(store, sandbox=pool, base_dir=str(tmp_path))
    run = engine.start(plan_of(text, tmp_path), {})
    assert run.status == "succeeded", run.error
    got = dict(Receiver.deliveries)
    keyless = [b for b, k in Receiver.deliveries if not k and b != "quiet"]
    assert keyless == [], f"deliveries without an idempotency key: {keyless}"
    rows = raw_sql(store, "SELECT node_id, item, key, status, kind FROM effects WHERE"
                   " run_id = ?", (run.id,))
    rec = {(r[0], r[1]): r[2:] for r in rows}
    assert set(rec) == {("own", -1), ("auto", -1), ("js", -1), ("each", 0), ("each", 1),
                        ("s", -1)}
    assert {r[1] for r in rec.values()} == {"done"}
    assert {k: r[2] for k, r in rec.items()} == {
        ("own", -1): "code", ("auto", -1): "code", ("js", -1): "code", ("each", 0): "command",
        ("each", 1): "command", ("s", -1): "skill"}
    keys = {k: r[0] for k, r in rec.items()}
    assert len(set(keys.values())) == 6
    assert got["own"] == keys[("own", -1)] + ":1"       # a header the code sets is its own
    assert got["auto"] == keys[("auto", -1)]            # else flowc adds the node's key
    assert got["quiet"] == ""                           # no effect declared: no key
    assert got["each:a"] == keys[("each", 0)] and got["each:b"] == keys[("each", 1)]
    assert got["skill:one"] == keys[("s", -1)] == run.outputs["skill_key"]
    items = {r.item: r.output for r in store.node_results(run.id) if r.node_id == "each"}
    assert [json.loads(items[i]["stdout"])["key"] for i in (0, 1)] == \
        [keys[("each", 0)], keys[("each", 1)]]
    assert run.outputs["own_key"] == keys[("own", -1)]
    assert run.outputs["auto_key"] == keys[("auto", -1)]
    assert run.outputs["js_key"] == keys[("js", -1)]

    # the same run advanced again from its committed effects (its node results lost, as in
    # a crash after the effects were recorded): nothing is delivered again
    before = len(Receiver.deliveries)
    raw_sql(store, "DELETE FROM node_executions WHERE run_id = ? AND node_id != 'quiet'",
            (run.id,))
    raw_sql(store, "UPDATE runs SET status = 'running', outputs_json = NULL WHERE id = ?",
            (run.id,))
    again = Engine(open_again(store), sandbox=pool,
                   base_dir=str(tmp_path)).advance(run.id)
    assert again.status == "succeeded", again.error
    assert again.outputs == run.outputs
    assert len(Receiver.deliveries) == before


def test_a_run_session_does_not_leak_the_key_to_the_next_node(store, pool, tmp_path, receiver):
    """`isolation "run"` shares one interpreter: a command after an effect command in the same
    session sees no key, and its requests carry none."""
    from flowc.runtime.engine import Engine

    host = receiver
    _skills(tmp_path)
    text = f'''flow r version "1.0.0"
policy approval: off
use skill pay @ 1.0.0
node first = command `pay --url http://{host}/act --what first`
  effect external
  isolation "run"
  hosts ["{host}"]
node second = command `pay --url http://{host}/act --what second`
  after first
  isolation "run"
  hosts ["{host}"]
output a: str = first.stdout
output b: str = second.stdout
'''
    engine = Engine(store, sandbox=pool, base_dir=str(tmp_path))
    run = engine.start(plan_of(text, tmp_path), {})
    assert run.status == "succeeded", run.error
    got = dict(Receiver.deliveries)
    key = store.get_effect(got["first"]).key if got["first"] else None
    assert key and json.loads(run.outputs["a"])["key"] == key
    assert got["second"] == "" and json.loads(run.outputs["b"])["key"] == ""


def test_the_key_is_the_same_for_every_attempt(store, pool, tmp_path, receiver):
    """`retry`: a failed attempt and the next one deliver with the same key (the receiver
    that acted on the first does not act again)."""
    from flowc.runtime.engine import Engine

    host = receiver
    text = f'''flow t version "1.0.0"
policy approval: off
node flaky: int = code python() """
import builtins, flowc_http
await flowc_http.post("http://{host}/act", body="flaky")
if not getattr(builtins, "_tried", False):  # (the run's session keeps it)
    builtins._tried = True
    raise RuntimeError("the first attempt fails after acting")
result = 1
"""
  effect external
  retry 1
  isolation "run"
  hosts ["{host}"]
output x: int = flaky
'''
    engine = Engine(store, sandbox=pool, base_dir=str(tmp_path))
    run = engine.start(plan_of(text, tmp_path), {})
    assert run.status == "succeeded", run.error
    keys = [k for b, k in Receiver.deliveries if b == "flaky"]
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    assert Receiver.acted == {"flaky": 1}
    rows = raw_sql(store, "SELECT key, status, starts FROM effects WHERE run_id = ?",
                   (run.id,))
    assert rows == [(keys[0], "done", 2)]
