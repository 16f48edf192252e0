"""An outside reviewer's attacks on `flowc serve`, over real HTTP (and Chromium) against a
real uvicorn over a real SQLite store. Each test asserts that a guarantee of docs/serve.md
HOLDS: a failing test is a vulnerability. The nine it found first (a server file read through a
`@PATH` input, tasks and runs shown to people without the role, any token cancelling any run,
the sign-in limit passed by concurrent attempts, nested JSON and lone surrogates answered 500,
a chunked upload past the cap, /runs answering 500) are fixed; their tests pass."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from servekit import (
    client,
    csrf_of,
    form_id_of,
    project_with,
    run_status,
    seed_gate,
    serving,
    signed_in,
    token_for,
    wait_for,
)

# a flow with a text input (the Start form's textarea), one with files inside a record and a
# list, a chat flow that echoes each message
NOTE = '''flow note version "1.0.0"
  "Keeps a note."

input note: str
input count: int = 1

node echo: str = code python(note: note) """
result = note
"""

output text = echo
'''
DOCS = '''flow docs version "1.0.0"
  "Files inside records and lists."

record Doc { title: str, sheet: file<csv> }

input doc: Doc
input sheets: list<file<csv>>
input maybe: file<csv>?

node count: int = code python(d: doc, s: sheets) """
result = 1
"""

output n = count
'''
ECHO = '''flow echo version "1.0.0"
  "Answers each message with itself."

mode chat

input message: str

node say: str = code python(m: message) """
result = m
"""

output answer = say
'''
PEOPLE = [("carla", ["support_lead", "admin"], "carla-pw", "carla@example.test"),
          ("lena", ["support_lead"], "lena-pw", None),
          ("bob", ["finance"], "bob-pw", None),
          ("ana", ["customer"], "ana-pw", None),
          # a person named like the role, people holding look-alikes of it
          ("support_lead", [], "sl-pw", None),
          ("spacey", ["support_lead ", "Support_Lead", "support_lead\u200b", "support_lead,x"],
           "spacey-pw", None),
          ("gone", ["support_lead"], "gone-pw", None)]
EVIL = '<script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)>'
RAW = ("<script>alert(", "<img src=x", "<svg onload")
SECRET_MARK = "root:x:0:0"


@pytest.fixture(scope="module")
def server(tmp_path_factory, pool):
    tmp = tmp_path_factory.mktemp("adversary")
    project = project_with(tmp, "refund_approval")
    (project / "note.flow").write_text(NOTE)
    (project / "docs.flow").write_text(DOCS)
    (project / "echo.flow").write_text(ECHO)
    with serving(project, tmp / "runs.db", people=PEOPLE, sandbox=pool) as (base, service):
        yield base, service


@pytest.fixture
def fresh(tmp_path):
    """A server of its own (its sign-in counters start at zero), no worker."""
    project = project_with(tmp_path, "refund_approval")
    people = [("mo", ["finance"], "mo-pw", None), ("kim", ["finance"], "kim-pw", None)]
    with serving(project, tmp_path / "runs.db", people=people, worker=False) as s:
        yield s


def _h(service, person):
    return {"authorization": f"Bearer {token_for(service, person)}"}


def _alive(base):
    assert httpx.get(f"{base}/healthz").status_code == 200


def _no_trace(r: httpx.Response):
    assert r.status_code < 500, (r.status_code, r.text[:300])
    assert "Traceback" not in r.text and 'File "/' not in r.text


def _file_gate(service, tmp_path, *, fields, values, show=None, kind="gate", form=None):
    """A paused run with one task whose form is the given one."""
    run, _ = seed_gate(service)
    with service.store.transaction():
        task = service.store.create_task(
            run.id, f"n{time.monotonic_ns()}", kind=kind,
            assignees=[{"kind": "role", "name": "support_lead"}], title="files", show=show or [],
            form=form or {"fields": fields, "values": values,
                          "actions": ["approve", "edit", "reject"]})
    return run, task


def _record_file(service, run_id, folder, name, data):
    from flowc.runtime.store import FileRecord, new_file_id

    (folder / run_id).mkdir(parents=True, exist_ok=True)
    (folder / run_id / name).write_bytes(data)
    rec = FileRecord(new_file_id(), run_id, "n", -1, name, hashlib.sha256(data).hexdigest(),
                     len(data), str(folder), f"{run_id}/{name}", 0.0)
    service.store.record_files([rec])
    return rec


# ---------------------------------------------------------------- who may see and decide

def test_the_api_does_not_show_a_task_to_a_person_without_its_role(server):
    base, service = server
    _, task = seed_gate(service, title="secret refund", show=["A-17", "customer IBAN DE00"])
    bob = _h(service, "bob")
    assert signed_in(base, "bob", "bob-pw").get(f"/review/{task.id}").status_code == 403
    r = httpx.get(f"{base}/api/tasks/{task.id}", headers=bob)
    assert r.status_code in (403, 404) and "IBAN" not in r.text
    listed = httpx.get(f"{base}/api/tasks", params={"all": "1", "limit": "1000"}, headers=bob)
    assert task.id not in listed.text and "IBAN" not in listed.text


def test_a_gate_file_is_not_served_to_a_person_who_may_not_see_the_gate(server, tmp_path):
    base, service = server
    run, _ = seed_gate(service)
    rec = _record_file(service, run.id, tmp_path / "ws", "payroll.csv", b"name,iban\nx,DE00\n")
    bob = signed_in(base, "bob", "bob-pw")
    assert signed_in(base, "carla", "carla-pw").get(f"/files/{run.id}/{rec.id}").content \
        .startswith(b"name,iban")
    r = bob.get(f"/files/{run.id}/{rec.id}")
    assert r.status_code in (403, 404) and b"DE00" not in r.content


def test_a_person_who_may_not_decide_cannot_withdraw_the_gate_by_cancelling(server):
    base, service = server
    run, task = seed_gate(service)
    r = httpx.post(f"{base}/api/runs/{run.id}/cancel", headers=_h(service, "bob"))
    assert r.status_code == 403, r.text
    assert service.store.get_task(task.id).status == "pending"
    assert service.store.get_run(run.id).status == "paused"


def test_a_name_like_the_role_or_a_lookalike_role_neither_sees_nor_decides(server):
    base, service = server
    _, task = seed_gate(service)
    for name, pw in (("support_lead", "sl-pw"), ("spacey", "spacey-pw")):
        c = signed_in(base, name, pw)
        page = c.get(f"/review/{task.id}")
        assert page.status_code == 403
        inbox = c.get("/inbox", params={"role": "support_lead"})
        assert task.id not in inbox.text
        mine = c.get("/inbox")
        r = c.post(f"/review/{task.id}", data={"csrf": csrf_of(mine.text), "form_id": name,
                                               "action": "approve"})
        assert r.status_code == 403
        r = httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=_h(service, name),
                       json={"action": "approve"})
        assert r.status_code == 403
        assert task.id not in httpx.get(f"{base}/api/tasks", headers=_h(service, name)).text
    assert service.store.get_task(task.id).status == "pending"


def test_a_task_for_a_user_is_not_for_a_person_holding_a_role_of_that_name(server):
    base, service = server
    run, _ = seed_gate(service)
    service.store.set_person("carla-role-holder", roles=["lena"])
    with service.store.transaction():
        task = service.store.create_task(run.id, "u", assignees=[{"kind": "user",
                                                                  "name": "lena"}],
                                         title="for lena", show=[], form={
                                             "fields": [], "values": {}, "actions": ["approve"]})
    r = httpx.post(f"{base}/api/tasks/{task.id}/decision",
                   headers=_h(service, "carla-role-holder"), json={"action": "approve"})
    assert r.status_code == 403
    assert service.store.get_task(task.id).status == "pending"


def test_an_escalation_step_not_yet_fired_does_not_let_its_people_decide(server):
    base, service = server
    run, _ = seed_gate(service)
    with service.store.transaction():
        task = service.store.create_task(
            run.id, "esc", assignees=[{"kind": "role", "name": "support_lead"}], title="esc",
            show=["x"], form={"fields": [], "values": {}, "actions": ["approve", "reject"]},
            escalations=[{"at": time.time() + 3600, "to": [{"kind": "role",
                                                            "name": "finance"}]}])
    bob = signed_in(base, "bob", "bob-pw")
    page = bob.get(f"/review/{task.id}")   # seeing it is allowed (a later step names bob)
    r = bob.post(f"/review/{task.id}", data={"csrf": csrf_of(page.text),
                                             "form_id": form_id_of(page.text),
                                             "action": "approve"})
    assert r.status_code == 403
    r = httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=_h(service, "bob"),
                   json={"action": "approve"})
    assert r.status_code == 403 and "yet" in r.json()["error"]
    assert service.store.get_task(task.id).status == "pending"
    # once the step fires, bob may decide: widened, as documented
    assert service.store.escalate_task(task.id, 1) is not None
    page = bob.get(f"/review/{task.id}")
    r = bob.post(f"/review/{task.id}", data={"csrf": csrf_of(page.text),
                                             "form_id": form_id_of(page.text),
                                             "action": "approve"})
    assert r.status_code == 303
    assert service.store.get_task(task.id).decided_by == "bob"


def test_idor_a_valid_form_of_mine_posted_to_someone_elses_task(server):
    base, service = server
    _, theirs = seed_gate(service)
    run, _ = seed_gate(service)
    with service.store.transaction():
        mine = service.store.create_task(run.id, "mine", assignees=[
            {"kind": "role", "name": "finance"}], title="bob's", show=[], form={
            "fields": [], "values": {}, "actions": ["approve"]})
    bob = signed_in(base, "bob", "bob-pw")
    page = bob.get(f"/review/{mine.id}")
    assert page.status_code == 200
    r = bob.post(f"/review/{theirs.id}", data={"csrf": csrf_of(page.text),
                                               "form_id": form_id_of(page.text),
                                               "action": "approve"})
    assert r.status_code == 403
    assert service.store.get_task(theirs.id).status == "pending"


def test_another_persons_conversation_is_not_found(server):
    base, service = server
    ana = signed_in(base, "ana", "ana-pw")
    page = ana.get("/chat/echo")
    r = ana.post("/chat/echo", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303
    cid = r.headers["location"].rsplit("/", 1)[-1]
    service.store.add_chat_message(cid, "user", "my private message", None)
    bob = signed_in(base, "bob", "bob-pw")
    assert bob.get(f"/chat/c/{cid}").status_code == 404
    inbox = bob.get("/inbox")
    r = bob.post(f"/chat/c/{cid}/send", data={"csrf": csrf_of(inbox.text), "text": "hi"})
    assert r.status_code == 404 and "private" not in r.text
    for method in ("GET", "POST"):
        r = httpx.request(method, f"{base}/api/conversations/{cid}/messages",
                          headers=_h(service, "bob"), json={"text": "hi"})
        assert r.status_code == 404 and "private" not in r.text
    assert [m.text for m in service.store.chat_messages(cid)] == ["my private message"]


# ---------------------------------------------------------------- sessions

def test_sessions_cannot_be_fixed_tampered_or_used_after_sign_out(server):
    base, _ = server
    c = client(base)
    planted = "attacker-chosen-session-id"
    c.cookies.set("flowc_session", planted)
    page = c.get("/signin")
    r = c.post("/signin", data={"csrf": csrf_of(page.text), "name": "lena",
                                "password": "lena-pw"})
    assert r.status_code == 303
    header = next(h for h in r.headers.get_list("set-cookie")
                  if h.startswith("flowc_session="))
    sid = header.split(";", 1)[0].split("=", 1)[1]
    assert sid != planted and len(sid) >= 40
    flags = header.lower()
    assert "httponly" in flags and "secure" in flags and "samesite=lax" in flags
    assert httpx.get(f"{base}/inbox", cookies={"flowc_session": planted}).status_code == 303
    for forged in (sid[:-1] + ("A" if sid[-1] != "A" else "B"), sid + "x", sid.upper(),
                   hashlib.sha256(sid.encode()).hexdigest(), "", "x" * 300):
        r = httpx.get(f"{base}/inbox", cookies={"flowc_session": forged})
        assert r.status_code == 303, forged
    live = httpx.get(f"{base}/inbox", cookies={"flowc_session": sid})
    assert live.status_code == 200
    # sign-out needs the session's CSRF token (no cross-site sign-out) ...
    r = httpx.post(f"{base}/signout", cookies={"flowc_session": sid}, data={"csrf": "x"})
    assert r.status_code == 403
    assert httpx.get(f"{base}/inbox", cookies={"flowc_session": sid}).status_code == 200
    # ... and ends the session in the store: the cookie kept elsewhere is dead
    r = httpx.post(f"{base}/signout", cookies={"flowc_session": sid},
                   data={"csrf": csrf_of(live.text)})
    assert r.status_code == 303
    assert httpx.get(f"{base}/inbox", cookies={"flowc_session": sid}).status_code == 303


def test_every_form_post_refuses_another_sessions_token_and_cross_site_posts(server):
    base, service = server
    run, task = seed_gate(service)
    carla, bob = signed_in(base, "carla", "carla-pw"), signed_in(base, "bob", "bob-pw")
    bobs = csrf_of(bob.get("/inbox").text)
    page = carla.get("/chat/echo")
    cid = carla.post("/chat/echo", data={"csrf": csrf_of(page.text)}).headers["location"] \
        .rsplit("/", 1)[-1]
    runs_before = len(service.store.list_runs(limit=1000))
    evil = {"origin": "https://evil.test", "referer": "https://evil.test/x"}
    posts = [(f"/review/{task.id}", {"form_id": "f1", "action": "approve"}),
             ("/flows/note/start", {"note": "hello"}),
             ("/chat/echo", {}),
             (f"/chat/c/{cid}/send", {"text": "hello"}),
             (f"/runs/{run.id}/replay", {"node": "proposal"}),
             ("/signout", {})]
    for path, data in posts:
        for token in (bobs, None, ""):
            form = dict(data, **({"csrf": token} if token is not None else {}))
            r = carla.post(path, data=form, headers=evil)
            assert r.status_code == 403, (path, token, r.status_code)
    assert service.store.get_task(task.id).status == "pending"
    assert len(service.store.list_runs(limit=1000)) == runs_before
    assert service.store.chat_messages(cid) == []
    assert carla.get("/inbox").status_code == 200      # still signed in
    # the sign-in form: a token of another pre-session is refused
    other = client(base).get("/signin")
    c = client(base)
    c.get("/signin")
    r = c.post("/signin", data={"csrf": csrf_of(other.text), "name": "carla",
                                "password": "carla-pw"}, headers=evil)
    assert r.status_code == 403 and "flowc_session" not in r.headers.get("set-cookie", "")


# ---------------------------------------------------------------- signed review links

def test_a_review_link_works_once_when_requests_race(server):
    base, service = server
    _, task = seed_gate(service)
    token = service.signer.make(task.id, "carla", 3600)
    n = 8
    barrier = threading.Barrier(n)
    codes: list[int] = []
    cookies: list[str] = []

    def follow():
        c = client(base)
        barrier.wait()
        r = c.get(f"/review/{task.id}", params={"link": token})
        codes.append(r.status_code)
        if "flowc_session=" in r.headers.get("set-cookie", ""):
            cookies.append(r.headers["set-cookie"])

    threads = [threading.Thread(target=follow) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [303] + [403] * (n - 1), codes
    assert len(cookies) == 1


def test_a_link_for_a_deleted_person_or_another_person_grants_nothing_more(server):
    base, service = server
    _, task = seed_gate(service)
    token = service.signer.make(task.id, "gone", 3600)
    with sqlite3.connect(str(service.store_path)) as con:
        con.execute("DELETE FROM people WHERE name = 'gone'")
    r = client(base).get(f"/review/{task.id}", params={"link": token})
    assert r.status_code == 403 and "flowc_session" not in r.headers.get("set-cookie", "")
    # a link signed for bob to a support_lead task: bob's session, which still cannot see it
    c = client(base)
    r = c.get(f"/review/{task.id}", params={"link": service.signer.make(task.id, "bob", 3600)})
    assert r.status_code == 303
    assert c.get(f"/review/{task.id}").status_code == 403
    # a link for a task, tried on another, then on its own after expiry
    from flowc.server.notify import LinkSigner

    _, other = seed_gate(service)
    expired = LinkSigner(service.secret, clock=lambda: time.time() - 7200).make(
        task.id, "carla", 60)
    for tid, tok in ((other.id, service.signer.make(task.id, "carla", 3600)),
                     (task.id, expired)):
        r = client(base).get(f"/review/{tid}", params={"link": tok})
        assert r.status_code == 403 and "flowc_session" not in r.headers.get("set-cookie", "")


# ---------------------------------------------------------------- decisions

def test_pages_and_api_deciding_at_once_exactly_one_wins(server):
    base, service = server
    run, task = seed_gate(service)
    browsers = [signed_in(base, n, f"{n}-pw") for n in ("carla", "lena")]
    pages = [b.get(f"/review/{task.id}") for b in browsers]
    tokens = [_h(service, "carla"), _h(service, "lena")]
    barrier = threading.Barrier(4)
    results: list[tuple[str, int]] = []

    def page_post(b, p, action):
        barrier.wait()
        r = b.post(f"/review/{task.id}", data={"csrf": csrf_of(p.text),
                                               "form_id": form_id_of(p.text),
                                               "action": action, "f.refund": "12"})
        results.append(("page", r.status_code))

    def api_post(h, action):
        barrier.wait()
        r = httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=h, timeout=60,
                       json={"action": action, "values": {"refund": 13.0}
                             if action == "edit" else {}})
        results.append(("api", r.status_code))

    threads = [threading.Thread(target=page_post, args=(browsers[0], pages[0], "edit")),
               threading.Thread(target=page_post, args=(browsers[1], pages[1], "reject")),
               threading.Thread(target=api_post, args=(tokens[0], "approve")),
               threading.Thread(target=api_post, args=(tokens[1], "edit"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if r[1] in (200, 303)]
    assert len(won) == 1 and all(r[1] == 409 for r in results if r not in won), results
    decided = [e for e in service.store.audit_events(run.id) if e.kind == "task.decided"]
    assert len(decided) == 1
    # the winning page form, replayed, is refused
    r = browsers[0].post(f"/review/{task.id}", data={"csrf": csrf_of(pages[0].text),
                                                     "form_id": form_id_of(pages[0].text),
                                                     "action": "approve"})
    assert r.status_code == 409
    assert len([e for e in service.store.audit_events(run.id)
                if e.kind == "task.decided"]) == 1


def test_edited_forms_wrong_types_and_oversize_values_are_refused(server):
    base, service = server
    run, task = seed_gate(service)
    carla = signed_in(base, "carla", "carla-pw")
    h = _h(service, "carla")
    bad_pages = [{"action": "edit", "f.refund": "1", "f.approved_by": "ceo"},
                 {"action": "edit", "f.refund": ["1", "2"]},
                 {"action": "edit", "f.refund": "1e999"},
                 {"action": "edit", "f.refund": "NaN"},
                 {"action": "edit", "f.refund": "9" * 5000},
                 {"action": "edit", "f.refund": "x" * (3 * 1024 * 1024)},
                 {"action": "approve", "reason": "r" * (2 * 1024 * 1024 + 10)},
                 {"action": "delete"},
                 {"action": "answer", "answer": "yes"}]
    for data in bad_pages:
        page = carla.get(f"/review/{task.id}")
        r = carla.post(f"/review/{task.id}", data={"csrf": csrf_of(page.text),
                                                   "form_id": form_id_of(page.text), **data})
        _no_trace(r)
        assert r.status_code in (400, 403, 413), (list(data), r.status_code)
    bad_api = [{"action": "edit", "values": {"approved_by": "ceo"}},
               {"action": "edit", "values": {"refund": "40"}},
               {"action": "edit", "values": {"refund": True}},
               {"action": "edit", "values": {"refund": [40]}},
               {"action": "edit", "values": {"refund": 10 ** 400}},
               {"action": "edit", "values": ["refund", 1]},
               {"action": "approve", "values": {"refund": 1.0}},
               {"action": ["approve"]},
               {"action": "approve", "reason": "r" * (3 * 1024 * 1024)},
               {"answer": "yes"}]
    for body in bad_api:
        r = httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=h, json=body)
        _no_trace(r)
        assert r.status_code in (400, 413) and r.json()["error"], (body, r.text[:200])
    after = service.store.get_task(task.id)
    assert after.status == "pending" and after.form == task.form
    assert service.store.verify_audit(run.id).ok
    _alive(base)


def test_decisions_never_read_a_server_file(server, tmp_path):
    base, service = server
    from flowc.compiler.api import compile_file

    plan = compile_file(service.config.project / "docs.flow").plan
    schemas = {s.name: s.schema_ for s in plan.inputs}
    run, _ = seed_gate(service)
    held = _record_file(service, run.id, tmp_path / "ws", "kept.csv", b"a\n1\n")
    handle = {"file_id": held.id, "path": "x", "name": "kept.csv", "sha256": held.sha256,
              "size": held.size}
    fields = [{"name": "doc", "schema": schemas["doc"]},
              {"name": "sheets", "schema": schemas["sheets"]},
              {"name": "maybe", "schema": schemas["maybe"]},
              {"name": "note", "schema": {"type": "string"}},
              {"name": "blob", "schema": {}}]
    values = {"doc": {"title": "t", "sheet": handle}, "sheets": [handle], "maybe": handle,
              "note": "n", "blob": {}}
    passwd = {"path": "/etc/passwd", "name": "passwd.csv"}
    carla = signed_in(base, "carla", "carla-pw")
    h = _h(service, "carla")

    def check_untouched(task):
        t = service.store.get_task(task.id)
        names = [f.name for f in service.store.run_files(run.id)]
        assert "passwd.csv" not in names and "passwd" not in names
        assert SECRET_MARK not in json.dumps(t.decision or {})

    page_edits = [{"f.doc": json.dumps({"title": "t", "sheet": passwd})},
                  {"f.sheets": json.dumps([handle, passwd])},
                  {"f.sheets": json.dumps([{**handle, "path": "/etc/passwd"}])},
                  {"f.maybe": json.dumps(passwd)},
                  {"f.maybe": "@/etc/passwd"},
                  {"f.doc": "@/etc/passwd"}]
    for edit in page_edits:
        _, task = _file_gate(service, tmp_path, fields=fields, values=values)
        page = carla.get(f"/review/{task.id}")
        r = carla.post(f"/review/{task.id}", data={"csrf": csrf_of(page.text),
                                                   "form_id": form_id_of(page.text),
                                                   "action": "edit", **edit})
        _no_trace(r)
        assert r.status_code == 400, (edit, r.status_code)
        check_untouched(task)
    api_edits = [{"doc": {"title": "t", "sheet": passwd}}, {"sheets": [passwd]},
                 {"maybe": passwd}, {"maybe": "@/etc/passwd"}]
    for edit in api_edits:
        _, task = _file_gate(service, tmp_path, fields=fields, values=values)
        r = httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=h,
                       json={"action": "edit", "values": edit})
        assert r.status_code == 400, (edit, r.text)
        check_untouched(task)
    # "@/etc/passwd" in a text field, and a path in a plain JSON field, are only text
    _, task = _file_gate(service, tmp_path, fields=fields, values=values)
    page = carla.get(f"/review/{task.id}")
    r = carla.post(f"/review/{task.id}", data={"csrf": csrf_of(page.text),
                                               "form_id": form_id_of(page.text),
                                               "action": "edit", "f.note": "@/etc/passwd",
                                               "f.blob": json.dumps(passwd)})
    assert r.status_code == 303
    decided = service.store.get_task(task.id).decision
    assert decided["values"]["note"] == "@/etc/passwd" and decided["values"]["blob"] == passwd
    check_untouched(task)
    # a question whose answer is a file, or a record holding one
    for schema in (schemas["maybe"], schemas["doc"]):
        _, task = _file_gate(service, tmp_path, fields=None, values=None, kind="ask",
                             form={"schema": schema, "question": "which file?"})
        r = httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=h,
                       json={"answer": {"title": "t", "sheet": passwd} if "properties" in
                             schema and "title" in schema["properties"] else passwd})
        assert r.status_code == 400
        page = carla.get(f"/review/{task.id}")
        r = carla.post(f"/review/{task.id}", data={"csrf": csrf_of(page.text),
                                                   "form_id": form_id_of(page.text),
                                                   "action": "answer",
                                                   "answer": json.dumps(passwd)})
        assert r.status_code == 400
        assert service.store.get_task(task.id).status == "pending"


def test_starting_a_run_never_reads_a_server_file(server):
    base, service = server
    secret = service.store_path.parent / "serve-secret"
    bob = signed_in(base, "bob", "bob-pw")
    page = bob.get("/flows/note/start")
    r = bob.post("/flows/note/start", data={"csrf": csrf_of(page.text),
                                            "note": "@/etc/passwd"}, files={"x": ("", b"")})
    if r.status_code == 303:
        run = service.store.get_run(r.headers["location"].rsplit("/", 1)[-1])
        assert run.inputs["note"] == "@/etc/passwd"
    assert SECRET_MARK not in r.text
    r = httpx.post(f"{base}/api/flows/note/runs", headers=_h(service, "bob"),
                   files={"note": (None, f"@{secret}")})
    assert service.secret not in r.text
    if r.status_code == 201:
        assert r.json()["inputs"]["note"] == f"@{secret}"
    # a record input: not even the file's first line in the error
    r = bob.post("/flows/refund_approval/start", data={"csrf": csrf_of(page.text),
                                                       "order": "@/etc/passwd"},
                 files={"x": ("", b"")})
    assert SECRET_MARK not in r.text


def test_json_inputs_naming_server_files_are_refused(server):
    base, service = server
    h = _h(service, "bob")
    passwd = {"path": "/etc/passwd", "name": "x.csv"}
    handle = {"path": "/etc/passwd", "name": "x.csv", "file_id": "f-1", "sha256": "0" * 64}
    bodies = [{"doc": {"title": "t", "sheet": passwd}, "sheets": []},
              {"doc": {"title": "t", "sheet": handle}, "sheets": []},
              {"sheets": [passwd], "doc": None},
              {"maybe": passwd},
              {"maybe": "/etc/passwd"},
              {"maybe": "@/etc/passwd"}]
    before = len(service.store.list_runs(limit=1000))
    for inputs in bodies:
        r = httpx.post(f"{base}/api/flows/docs/runs", headers=h, json={"inputs": inputs})
        assert r.status_code == 400, (inputs, r.text)
        r = httpx.post(f"{base}/api/flows/docs/runs", headers=h,
                       data={"inputs": json.dumps(inputs)},
                       files={"unused": ("a.csv", b"a\n1\n", "text/csv")})
        assert r.status_code == 400, (inputs, r.text)
    bob = signed_in(base, "bob", "bob-pw")
    page = bob.get("/flows/docs/start")
    for name, text in (("doc", json.dumps({"title": "t", "sheet": passwd})),
                       ("sheets", json.dumps([passwd])), ("maybe", "/etc/passwd"),
                       ("maybe", "@/etc/passwd")):
        r = bob.post("/flows/docs/start", data={"csrf": csrf_of(page.text), name: text},
                     files={"x": ("", b"")})
        assert r.status_code == 400, (name, r.status_code)
    assert len(service.store.list_runs(limit=1000)) == before


# ---------------------------------------------------------------- escaping

def _hostile_world(service, tmp_path):
    """Flow-provided text with script in every place a page shows: titles, shown values,
    Markdown messages, field names, file names, run errors, flow names, chat messages,
    decision reasons, node names on the stats page, CSV cells."""
    from servekit import EXAMPLES

    from flowc.compiler.api import compile_file

    run, _ = seed_gate(service)
    csv = _record_file(service, run.id, tmp_path / "ws", "a.csv",
                       f'"{EVIL}",b\n"{EVIL}",2\n'.encode())
    evil_file = {"file_id": csv.id, "name": f'"><{EVIL}.csv', "size": 3}
    message = (f"# {EVIL}\n\n<script>alert(4)</script>\n\n[click](javascript:alert(5)) "
               f"[x](data:text/html,{EVIL}) <iframe src=javascript:alert(6)>")
    with service.store.transaction():
        task = service.store.create_task(
            run.id, "hostile", assignees=[{"kind": "role", "name": "support_lead"}],
            title=EVIL, show=[EVIL, {EVIL: EVIL}, [{EVIL: EVIL}, {EVIL: 1}], evil_file],
            form={"fields": [{"name": f'x"><{EVIL}', "schema": {"type": "string"}},
                             {"name": "pick", "schema": {"enum": [EVIL, "b"]}}],
                  "values": {f'x"><{EVIL}': EVIL, "pick": EVIL},
                  "actions": ["approve", "edit", "reject"], "message": message,
                  "show_labels": [EVIL, EVIL, EVIL, EVIL]})
        decided = service.store.create_task(
            run.id, "hostile2", assignees=[{"kind": "role", "name": "support_lead"}],
            title=EVIL, show=[EVIL], form={"fields": [], "values": {}, "actions": ["reject"]})
    service.store.decide_task(decided.id, {"outcome": "rejected", "values": {},
                                           "reason": EVIL}, EVIL)
    plan = compile_file(EXAMPLES / "refund_approval" / "refund_approval.flow").plan
    bad = service.store.create_run(EVIL, plan.hash, {EVIL: EVIL}, status="running")
    service.store.start_node(bad.id, EVIL, started_at=bad.created_at)
    service.store.finish_node(bad.id, EVIL, -1, "failed", error=EVIL)
    service.store.set_run_status(bad.id, "failed", error=EVIL, outputs={EVIL: EVIL})
    cid = "c-" + hashlib.sha256(str(time.monotonic_ns()).encode()).hexdigest()[:20]
    service.store.create_conversation(cid, EVIL, "carla")
    service.store.add_chat_message(cid, "user", EVIL, None)
    service.store.add_chat_message(cid, "assistant", EVIL, run.id)
    return {"inbox": "/inbox", "review": f"/review/{task.id}",
            "decided": f"/review/{decided.id}", "run": f"/runs/{bad.id}",
            "run-gate": f"/runs/{run.id}", "stats": "/stats?from=2000-01-01&to=2100-01-01",
            "chat": f"/chat/c/{cid}", "csv": f"/files/{run.id}/{csv.id}?preview=1",
            "flows": "/flows", "error": "/review/" + EVIL.replace("/", "%2F"),
            "inbox-filter": "/inbox?flow=" + EVIL + "&role=" + EVIL}


class _Markup(HTMLParser):
    """Collects what in a page could run script: inline scripts, event handler attributes,
    javascript:/data: URLs, frames and plugins."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and not (a.get("src") or "").startswith("/static/") and \
                a.get("type") != "application/json":
            self.found.append(f"inline <script {a}>")
        if tag in ("iframe", "frame", "object", "embed", "svg", "math", "base") or \
                (tag == "meta" and "http-equiv" in a):
            self.found.append(f"<{tag}>")
        for k, v in attrs:
            if k.startswith("on"):
                self.found.append(f"<{tag} {k}=...>")
            if k in ("href", "src", "action", "formaction", "xlink:href") and v and \
                    re.sub(r"[\s\x00-\x1f]", "", v).lower().startswith(
                        ("javascript:", "data:", "vbscript:")):
                self.found.append(f"<{tag} {k}={v[:40]}>")


def _active_markup(html: str) -> list[str]:
    p = _Markup()
    p.feed(html)
    return p.found


def test_hostile_text_is_escaped_on_every_page_and_csp_holds(server, tmp_path):
    base, service = server
    pages = _hostile_world(service, tmp_path)
    carla = signed_in(base, "carla", "carla-pw")
    for name, path in pages.items():
        r = carla.get(path)
        assert r.status_code in (200, 403, 404), (name, r.status_code)
        for raw in RAW:
            assert raw not in r.text, (name, raw)
        assert _active_markup(r.text) == [], name
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, name
        assert r.headers["x-content-type-options"] == "nosniff"
    # headers on everything: redirects, JSON, static files, unknown routes
    for r in (httpx.get(f"{base}/"), httpx.get(f"{base}/api/runs"),
              httpx.get(f"{base}/static/app.css"), httpx.get(f"{base}/no/such/page"),
              httpx.get(f"{base}/api/openapi.json")):
        assert "script-src 'self'" in r.headers["content-security-policy"], r.url
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"


def test_no_inline_script_runs_in_chromium(server, tmp_path):
    from browserkit import browser, sign_in

    base, service = server
    pages = _hostile_world(service, tmp_path)
    dialogs: list[str] = []
    with browser() as b:
        ctx = b.new_context()
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        sign_in(page, base, "carla", "carla-pw")
        for name, path in pages.items():
            response = page.goto(base + path)
            page.wait_for_load_state("load")
            assert "script-src 'self'" in response.headers["content-security-policy"], name
            # the review page's own script runs (CSP allows 'self'); typing in the form
            # fills the live diff with hostile prefill text, through textContent only
            if name == "review":
                page.fill("textarea, input[type=text]", "changed " + EVIL)
                page.wait_for_selector("[data-testid=diff] li")
        ctx.close()
    assert dialogs == []


@pytest.mark.parametrize("query", ["", "?status=paused"])
def test_the_runs_page_answers_and_escapes_flow_names(server, tmp_path, query):
    base, service = server
    _hostile_world(service, tmp_path)
    r = signed_in(base, "carla", "carla-pw").get("/runs" + query)
    _alive(base)
    assert r.status_code == 200, r.status_code
    assert _active_markup(r.text) == [] and not any(raw in r.text for raw in RAW)


# ---------------------------------------------------------------- files

def test_files_are_inline_only_as_raster_images_and_stored_row_tricks_read_nothing(
        server, tmp_path):
    base, service = server
    run, _ = seed_gate(service)
    ws = tmp_path / "ws"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    html = b"<html><script>alert(1)</script></html>"
    recs = {name: _record_file(service, run.id, ws, name, data) for name, data in (
        ("x.svg", svg), ("x.html", html), ("svg-as.png", svg), ("x.png.html", html),
        ("x.pdf", b"%PDF-1.4"), ("x.txt", html), ("x.csv", html))}
    carla = signed_in(base, "carla", "carla-pw")
    for name, rec in recs.items():
        for params in ({}, {"preview": "1"}):
            r = carla.get(f"/files/{run.id}/{rec.id}", params=params)
            assert r.status_code == 200
            ctype = r.headers["content-type"]
            assert r.headers["x-content-type-options"] == "nosniff"
            if name == "x.csv" and params:
                assert "<script>alert" not in r.text      # the CSV table, escaped
                continue
            assert not ctype.startswith(("text/html", "image/svg", "application/xhtml",
                                         "text/xml", "application/xml")), (name, ctype)
            if ctype != "image/png":
                assert r.headers["content-disposition"].startswith("attachment"), name
    # a link in the workspace pointing out, with the target's size and digest recorded
    from flowc.runtime.store import FileRecord, new_file_id

    target = b"root:x:0:0:root:/root:/bin/bash\n"
    (tmp_path / "outside").write_bytes(target)
    (ws / run.id / "link.csv").symlink_to(tmp_path / "outside")
    (ws / run.id / "dir").mkdir()
    (ws / run.id / "dir" / "up").symlink_to(tmp_path)
    digest = hashlib.sha256(target).hexdigest()
    rows = [FileRecord(new_file_id(), run.id, "n", -1, "link.csv", digest, len(target),
                       str(ws), f"{run.id}/link.csv", 0.0),
            FileRecord(new_file_id(), run.id, "n", -1, "o.csv", digest, len(target),
                       str(ws), f"{run.id}/dir/up/outside", 0.0),
            FileRecord(new_file_id(), run.id, "n", -1, "abs.csv", digest, len(target),
                       str(ws), str(tmp_path / "outside"), 0.0),
            FileRecord(new_file_id(), run.id, "n", -1, "dev", "0" * 64, 0, str(ws),
                       "../../../../../dev/zero", 0.0)]
    service.store.record_files(rows)
    for rec in rows:
        r = carla.get(f"/files/{run.id}/{rec.id}")
        assert r.status_code == 404 and b"root:x" not in r.content, rec.location
    # a file of this run through another family's run id
    other, _ = seed_gate(service)
    assert carla.get(f"/files/{other.id}/{recs['x.pdf'].id}").status_code == 404


# ---------------------------------------------------------------- the API's input handling

def test_api_tokens_no_token_wrong_or_revoked_and_sessions_are_not_tokens(server):
    base, service = server
    carla = signed_in(base, "carla", "carla-pw")
    sid = next(c.value for c in carla.cookies.jar if c.name == "flowc_session")
    token = token_for(service, "ana")
    for headers, cookies in (({}, {"flowc_session": sid}),
                             ({"authorization": f"Bearer {sid}"}, {}),
                             ({"authorization": f"Bearer {token}x"}, {}),
                             ({"authorization": f"Bearer {token[:-1]}"}, {}),
                             ({"authorization": f"Token {token}"}, {}),
                             ({"authorization": f"Bearer  {token}x"}, {}),
                             ({"authorization": "Bearer " + hashlib.sha256(
                                 token.encode()).hexdigest()}, {})):
        for path in ("/api/runs", "/api/tasks", "/api/flows"):
            r = httpx.get(f"{base}{path}", headers=headers, cookies=cookies)
            assert r.status_code == 401, (headers, path)
    assert httpx.get(f"{base}/api/runs", params={"access_token": token}).status_code == 401
    service.store.revoke_api_tokens("ana")
    assert httpx.get(f"{base}/api/runs", headers={"authorization": f"Bearer {token}"}
                     ).status_code == 401


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("where", ["decision", "start", "chat", "multipart-inputs",
                                   "start-page-inputs"])
def test_deeply_nested_json_is_a_400_not_a_500(server, where):
    base, service = server
    _, task = seed_gate(service)
    h = _h(service, "carla")
    if where == "decision":
        r = httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=h, content=DEEP)
    elif where == "start":
        r = httpx.post(f"{base}/api/flows/refund_approval/runs", headers=h, content=DEEP)
    elif where == "chat":
        cid = httpx.post(f"{base}/api/chat/echo/conversations", headers=h).json()["id"]
        r = httpx.post(f"{base}/api/conversations/{cid}/messages", headers=h, content=DEEP)
    elif where == "multipart-inputs":
        r = httpx.post(f"{base}/api/flows/refund_approval/runs", headers=h,
                       data={"inputs": DEEP.decode()}, files={"x": ("a.csv", b"1")})
    else:
        carla = signed_in(base, "carla", "carla-pw")
        page = carla.get("/flows/refund_approval/start")
        r = carla.post("/flows/refund_approval/start", data={
            "csrf": csrf_of(page.text), "inputs": DEEP.decode()}, files={"x": ("", b"")})
    _alive(base)
    assert r.status_code in (400, 413), (r.status_code, r.text[:200])
    assert service.store.get_task(task.id).status == "pending"


def test_odd_json_gets_one_line_errors_and_corrupts_nothing(server):
    base, service = server
    run, task = seed_gate(service)
    h = {**_h(service, "carla"), "content-type": "application/json"}
    order = '{"id": "A-1", "amount": %s, "reason": %s}'
    start_bodies = [b"", b"{", b"null", b"[]", b'"x"', b"1e999", b'{"inputs": []}',
                    b'{"inputs": null}', b'{"inputs": {"order": null}}',
                    ('{"inputs": {"order": ' + order % ("NaN", '"x"') + "}}").encode(),
                    ('{"inputs": {"order": ' + order % ("Infinity", '"x"') + "}}").encode(),
                    ('{"inputs": {"order": ' + order % ("1e999", '"x"') + "}}").encode(),
                    ('{"inputs": {"order": ' + order % ("1" * 4200, '"x"') + "}}").encode(),
                    ('{"inputs": {"order": ' + order % ("1", '"\\ud800"') + "}}").encode(),
                    ('{"inputs": {"order": ' + order % ("1", '"\\udfff\\ud800"') + "}}")
                    .encode(),
                    b'\xff\xfe\x00{', b'{"inputs": {"order": "\xed\xa0\x80"}}',
                    b'{"inputs": {"order": ' + b"[" * 900 + b"]" * 900 + b"}}",
                    b'{"a": 1, "a": 2, "inputs": {}}']
    for body in start_bodies:
        r = httpx.post(f"{base}/api/flows/refund_approval/runs", headers=h, content=body)
        _no_trace(r)
        assert r.status_code == 400 and "\n" not in r.json()["error"], (body[:80], r.text)
    decision_bodies = [b'{"action": "edit", "values": {"refund": NaN}}',
                       b'{"action": "edit", "values": {"refund": -Infinity}}',
                       b'{"action": "edit", "values": {"refund": 1e400}}',
                       b'{"action": "edit", "values": {"refund": ' + b"9" * 4000 + b"}}",
                       b'{"action": "reject", "reason": "\\ud800"}',
                       b'{"action": "edit", "values": {"refund": ' + b"[" * 900 + b"]" * 900
                       + b"}}",
                       b'{"answer": "\\ud800"}', b"[]", b"true"]
    for body in decision_bodies:
        r = httpx.post(f"{base}/api/tasks/{task.id}/decision", headers=h, content=body)
        _no_trace(r)
        assert r.status_code == 400 and "\n" not in r.json()["error"], (body[:80], r.text)
    cid = httpx.post(f"{base}/api/chat/echo/conversations", headers=h).json()["id"]
    for body in (b'{"text": "\\ud800"}', b'{"text": 5}', b'{"text": ["a"]}', b"{"):
        r = httpx.post(f"{base}/api/conversations/{cid}/messages", headers=h, content=body)
        _no_trace(r)
        assert r.status_code == 400, (body, r.status_code, r.text[:200])
    for q in ({"limit": "1e999"}, {"limit": "-5"}, {"offset": "9" * 50}, {"status": "\x00"},
              {"status": "pending' OR 1=1 --"}, {"all": "1", "flow": "'; DROP TABLE runs"}):
        for path in ("/api/tasks", "/api/runs"):
            _no_trace(httpx.get(f"{base}{path}", headers=h, params=q))
    after = service.store.get_task(task.id)
    assert after.status == "pending" and after.form == task.form
    assert service.store.verify_audit(run.id).ok
    assert service.store.get_run(run.id).status == "paused"
    _alive(base)


@pytest.mark.parametrize("where,body", [
    ("start", b'{"inputs": {"\\ud800": 1}}'),
    ("decision", b'{"action": "\\ud800"}'),
    ("decision", b'{"action": "edit", "values": {"\\udfff": 1}}')])
def test_a_lone_surrogate_echoed_in_an_error_is_not_a_500(server, where, body):
    base, service = server
    _, task = seed_gate(service)
    path = ("/api/flows/refund_approval/runs" if where == "start"
            else f"/api/tasks/{task.id}/decision")
    r = httpx.post(base + path, content=body, headers={**_h(service, "carla"),
                                                       "content-type": "application/json"})
    _alive(base)
    assert r.status_code == 400, r.status_code
    assert service.store.get_task(task.id).status == "pending"


def test_a_chunked_multipart_body_over_the_cap_is_refused(server):
    base, _ = server

    def body():
        yield (b'--B\r\nContent-Disposition: form-data; name="f"; filename="a.bin"\r\n'
               b"Content-Type: application/octet-stream\r\n\r\n")
        chunk = b"x" * (1 << 20)
        for _ in range(70):           # 70 MiB: over MAX_UPLOAD_BYTES (64 MiB)
            yield chunk
        yield b"\r\n--B--\r\n"

    r = httpx.post(f"{base}/signin", content=body(), timeout=300,
                   headers={"content-type": "multipart/form-data; boundary=B"})
    _alive(base)
    assert r.status_code == 413


# ---------------------------------------------------------------- sign-in

def test_the_sign_in_limit_holds_under_concurrent_attempts(fresh):
    base, _ = fresh
    n = 12
    clients = [client(base) for _ in range(n)]
    forms = [csrf_of(c.get("/signin").text) for c in clients]
    barrier = threading.Barrier(n)
    codes: list[int] = []

    def attempt(c, csrf, i):
        barrier.wait()
        codes.append(c.post("/signin", data={"csrf": csrf, "name": "mo",
                                             "password": f"guess-{i}"}).status_code)

    threads = [threading.Thread(target=attempt, args=(c, f, i))
               for i, (c, f) in enumerate(zip(clients, forms, strict=True))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(codes) <= {401, 429}
    assert codes.count(401) <= 5, sorted(codes)


def test_sign_in_does_not_tell_which_names_exist(fresh):
    base, _ = fresh
    c = client(base)
    csrf = csrf_of(c.get("/signin").text)

    def shape(name):
        r = c.post("/signin", data={"csrf": csrf, "name": name, "password": "wrong"})
        return r.status_code, r.text.replace(name, "NAME"), sorted(
            k for k in r.headers if k not in ("date", "content-length"))

    for _ in range(5):
        assert shape("kim") == shape("nobody-here")
    assert shape("kim")[0] == shape("nobody-here")[0] == 429
    # the lock is per name: the right password of another name still works
    signed_in(base, "mo", "mo-pw")
    # a trailing blank is the same name (the same counter)
    r = c.post("/signin", data={"csrf": csrf, "name": " kim ", "password": "kim-pw"})
    assert r.status_code == 429


@pytest.mark.parametrize("target", [
    "/\t/evil.test", "/\\/evil.test", "/%5C%5Cevil.test", "\\\\evil.test", "http:evil.test",
    "https:/evil.test", "//evil.test@127.0.0.1", "/\r\nLocation: https://evil.test",
    "\x00//evil.test", " //evil.test", "/%2F%2Fevil.test", "///evil.test",
    "/\u3000/evil.test", "/.\\evil.test", "javascript:alert(1)//", "data:text/html,x"])
def test_next_never_sends_a_signed_in_person_off_the_site(server, target):
    base, _ = server
    c = client(base)
    page = c.get("/signin", params={"next": target})
    _no_trace(page)
    r = c.post("/signin", params={"next": target},
               data={"csrf": csrf_of(page.text), "name": "ana", "password": "ana-pw"})
    assert r.status_code == 303
    location = r.headers["location"]
    assert "\r" not in location and "\n" not in location
    resolved = urlsplit(urljoin(base + "/signin", location.replace("\\", "/")))
    assert resolved.scheme == "http" and resolved.netloc == urlsplit(base).netloc, location


# ---------------------------------------------------------------- chat

def _events(response):
    """Server-sent events as the spec reads them: lines end at CR, LF or CRLF only."""
    text = b"".join(response.iter_raw()).decode("utf-8")
    out, name = [], None
    for line in re.split(r"\r\n|\r|\n", text):
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            out.append((name, json.loads(line[6:])))
    return out


def test_chat_text_cannot_forge_events_and_is_escaped(server):
    base, service = server
    h = _h(service, "ana")
    forged = ('hi\n\nevent: answer\ndata: {"text": "forged"}\n\n\r\nevent: done\r\n'
              'data: {}\r\n\r\n\u2028' + EVIL)
    cid = httpx.post(f"{base}/api/chat/echo/conversations", headers=h).json()["id"]
    with httpx.stream("POST", f"{base}/api/conversations/{cid}/messages", headers=h,
                      json={"text": forged}, timeout=300) as r:
        assert r.status_code == 200
        events = _events(r)
    answers = [d for k, d in events if k == "answer"]
    assert len(answers) == 1 and answers[0]["text"] == forged, events
    assert [k for k, _ in events][-1] == "done"
    # the page's form: the same stream; the page shows the messages escaped
    ana = signed_in(base, "ana", "ana-pw")
    page = ana.get(f"/chat/c/{cid}")
    assert page.status_code == 200 and not any(raw in page.text for raw in RAW)
    with ana.stream("POST", f"/chat/c/{cid}/send", timeout=300,
                    data={"csrf": csrf_of(page.text), "text": forged}) as r:
        assert r.status_code == 200
        events = _events(r)
    assert [d["text"] for k, d in events if k == "answer"] == [forged]
    # over the limit: refused on both, nothing recorded
    n = len(service.store.chat_messages(cid))
    r = ana.post(f"/chat/c/{cid}/send", data={"csrf": csrf_of(page.text),
                                              "text": "é" * 20_000})
    assert r.status_code == 413
    r = httpx.post(f"{base}/api/conversations/{cid}/messages", headers=h,
                   json={"text": "x" * (32 * 1024 + 1)})
    assert r.status_code == 413
    assert len(service.store.chat_messages(cid)) == n


# ---------------------------------------------------------------- robustness

def test_replay_cancel_and_odd_paths_never_500(server):
    base, service = server
    run, task = seed_gate(service)
    carla = signed_in(base, "carla", "carla-pw")
    csrf = csrf_of(carla.get("/inbox").text)
    for node in ("nope", "../../etc", "\x00", "x" * 10_000, ""):
        _no_trace(carla.post(f"/runs/{run.id}/replay", data={"csrf": csrf, "node": node}))
    _no_trace(carla.post("/runs/r-nope/replay", data={"csrf": csrf}))
    h = _h(service, "carla")
    assert httpx.post(f"{base}/api/runs/r-nope/cancel", headers=h).status_code == 404
    for path in ("/review/%ED%A0%80", "/runs/%00", "/files/x/%00", "/review/" + "a" * 10_000,
                 "/runs/%ED%A0%80/audit.json", "/chat/c/%ED%A0%80", "/chat/%3Cx%3E",
                 "/inbox?page=99999999999999999999&role=%00", "/stats?from=0001-01-01",
                 "/stats?from=9999-12-31&to=0001-01-01", "/flows/%00/start",
                 "/files/%2E%2E/%2E%2E"):
        _no_trace(carla.get(path))
    for path in ("/api/tasks/%ED%A0%80", "/api/runs/%00", "/api/runs/%00/trace",
                 "/api/runs/%00/audit", "/api/conversations/%ED%A0%80/messages"):
        r = httpx.get(f"{base}{path}", headers=h)
        _no_trace(r)
        assert r.status_code == 404
    # a run started, cancelled twice at once: one wins, the other is told
    r = httpx.post(f"{base}/api/flows/refund_approval/runs", headers=h, json={"inputs": {
        "order": {"id": "C-1", "amount": 5.0, "reason": "late"}}})
    rid = r.json()["id"]
    barrier = threading.Barrier(2)
    codes: list[int] = []

    def cancel():
        barrier.wait()
        codes.append(httpx.post(f"{base}/api/runs/{rid}/cancel", headers=h).status_code)

    threads = [threading.Thread(target=cancel) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409], codes
    assert run_status(service, rid, "cancelled").status == "cancelled"
    assert wait_for(lambda: service.store.verify_audit(rid).ok, "the audit to verify")
    assert service.store.get_task(task.id).status == "pending"
    _alive(base)
