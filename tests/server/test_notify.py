"""Signed review links and task notifications (server/notify.py), against real components: a
real SQLite store file, a real SMTP server (aiosmtpd on 127.0.0.1) and a real HTTP receiver
for the webhook. No test asserts how long anything takes."""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from itsdangerous import URLSafeSerializer

from flowc.runtime.store import SQLiteStore
from flowc.server.notify import (
    MAX_TOKEN_CHARS,
    Link,
    LinkRefused,
    LinkSigner,
    Notifier,
    SmtpConfig,
    one_line,
)

SECRET = "s3cret-for-tests-only-0123456789"
BASE = "https://flowc.example"
PLAN = "p" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping what it received (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos),
                                   envelope.original_content or envelope.content))
        return "250 OK"

    def messages(self):
        with self.lock:
            got = list(self.envelopes)
        return [(frm, rcpts, email.message_from_bytes(raw, policy=email.policy.default))
                for frm, rcpts, raw in got]


def start_smtp(port: int) -> tuple[Controller, Mailbox]:
    box = Mailbox()
    ctl = Controller(box, hostname="127.0.0.1", port=port)
    ctl.start()
    return ctl, box


@pytest.fixture
def smtp():
    """(SmtpConfig, Mailbox) of a live SMTP server on a free local port."""
    port = free_port()
    ctl, box = start_smtp(port)
    yield SmtpConfig(host="127.0.0.1", port=port, sender="flowc@example.org", timeout=10), box
    ctl.stop()


class Hook:
    """A loopback HTTP receiver: keeps each POST's body; answers `status`."""

    def __init__(self):
        self.bodies: list[bytes] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                hook.bodies.append(self.rfile.read(n))
                self.send_response(hook.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def db(tmp_path, clock):
    """A real SQLite store file whose "now" is the test's clock; ana and bo hold role lead,
    bo also finance, cy holds lead but has no address, dee has no role."""
    s = SQLiteStore(str(tmp_path / "runs.db"), clock=clock)
    s.set_person("ana", roles=["lead"], email="ana@example.org")
    s.set_person("bo", roles=["lead", "finance"], email="bo@example.org")
    s.set_person("cy", roles=["lead"])
    s.set_person("dee", roles=[], email="dee@example.org")
    s.put_plan(PLAN, '{"flow": "refunds"}')
    yield s
    s.close()


def new_task(store, assignees, title="Approve refund #42", escalations=(), **kw):
    run = store.create_run("refunds", PLAN)
    return store.create_task(run.id, "approve", assignees=assignees, title=title,
                             escalations=list(escalations), **kw)


def user(name):
    return {"kind": "user", "name": name}


def role(name):
    return {"kind": "role", "name": name}


def notifier(store, signer, *, smtp=None, webhook=None, clock=None, **kw):
    return Notifier(store, signer, base_url=BASE, smtp=smtp, webhook_url=webhook,
                    clock=clock or signer.clock, **kw)


def link_in(body: str) -> str:
    urls = re.findall(r"https://flowc\.example/review/\S+", body)
    signed = [u for u in urls if "?link=" in u]
    assert len(signed) == 1, body
    return signed[0]


def to(msg) -> list[str]:
    return [str(a) for a in msg["To"].addresses] if msg["To"] else []


# ---------------------------------------------------------------- e-mail

def test_the_assignee_gets_one_email_with_a_personal_link(db, smtp, clock):
    cfg, box = smtp
    signer = LinkSigner(SECRET, clock=clock)
    task = new_task(db, [user("ana")], deadline=clock.now + 3600)
    sent = notifier(db, signer, smtp=cfg).run_once()
    assert [(s.channel, s.recipient, s.step, s.attempt, s.ok) for s in sent] == \
        [("email", "ana", 0, 1, True)]
    [(frm, rcpts, msg)] = box.messages()
    assert frm == "flowc@example.org" and rcpts == ["ana@example.org"]
    assert to(msg) == ["ana@example.org"]
    assert "Approve refund #42" in msg["Subject"]
    body = msg.get_content()
    assert "Approve refund #42" in body and "Deadline:" in body and "user ana" in body
    url = urlsplit(link_in(body))
    assert url.path == f"/review/{task.id}"
    link = signer.check(parse_qs(url.query)["link"][0])
    assert (link.task_id, link.person) == (task.id, "ana")
    assert link.expires_at == clock.now + 7 * 86400
    signer.consume(db, link)
    with pytest.raises(LinkRefused, match="already used"):
        signer.consume(db, link)
    [row] = db.notifications(task.id)
    assert (row["key"], row["status"], row["error"]) == (f"{task.id}:0:email:ana", "sent", None)
    # a second pass sends nothing more
    assert notifier(db, signer, smtp=cfg).run_once() == []
    assert len(box.messages()) == 1


def test_a_role_reaches_everyone_holding_it_who_has_an_address(db, smtp, clock):
    cfg, box = smtp
    signer = LinkSigner(SECRET, clock=clock)
    task = new_task(db, [role("lead"), user("dee")])
    notifier(db, signer, smtp=cfg).run_once()
    got = {tuple(rcpts): msg for _, rcpts, msg in box.messages()}
    assert set(got) == {("ana@example.org",), ("bo@example.org",), ("dee@example.org",)}
    for (address,), msg in got.items():   # each link is signed for its own reader
        link = signer.check(parse_qs(urlsplit(link_in(msg.get_content())).query)["link"][0])
        assert link.task_id == task.id and f"{link.person}@example.org" == address
    assert {r["recipient"] for r in db.notifications(task.id)} == {"ana", "bo", "dee"}


def test_an_escalation_notifies_the_new_deciders_only(db, smtp, clock):
    cfg, box = smtp
    signer = LinkSigner(SECRET, clock=clock)
    task = new_task(db, [user("ana")], escalations=[
        {"after": 60, "at": clock.now + 60, "to": [role("finance"), user("ana")]},
        {"after": 120, "at": clock.now + 120, "to": [user("dee")]}])
    n = notifier(db, signer, smtp=cfg)
    assert [s.recipient for s in n.run_once()] == ["ana"]
    assert n.run_once() == []
    db.escalate_task(task.id, 1, at=clock.now + 60)
    sent = n.run_once()
    assert [(s.recipient, s.step) for s in sent] == [("bo", 1)]   # ana knows already
    _, rcpts, msg = box.messages()[-1]
    assert rcpts == ["bo@example.org"] and msg["Subject"].startswith("Escalated")
    assert "Escalated (step 1)" in msg.get_content()
    db.escalate_task(task.id, 2, at=clock.now + 120)
    assert [(s.recipient, s.step) for s in n.run_once()] == [("dee", 2)]
    assert n.run_once() == []
    assert sorted(r for _, [r], _ in box.messages()) == \
        ["ana@example.org", "bo@example.org", "dee@example.org"]


def test_a_task_escalated_before_the_first_pass_mails_each_person_once(db, smtp, clock):
    cfg, box = smtp
    signer = LinkSigner(SECRET, clock=clock)
    task = new_task(db, [user("ana")], escalations=[
        {"after": 60, "at": clock.now + 60, "to": [role("lead")]}])
    db.escalate_task(task.id, 1, at=clock.now + 60)
    sent = notifier(db, signer, smtp=cfg).run_once()
    assert sorted((s.recipient, s.step) for s in sent) == [("ana", 0), ("bo", 1)]
    assert len(box.messages()) == 2


def test_decided_tasks_are_not_notified(db, smtp, clock):
    cfg, box = smtp
    task = new_task(db, [user("ana")])
    db.decide_task(task.id, {"outcome": "approved"}, "ana")
    assert notifier(db, LinkSigner(SECRET, clock=clock), smtp=cfg).run_once() == []
    assert box.messages() == []


def test_a_hostile_title_cannot_add_headers_or_recipients(db, smtp, clock):
    cfg, box = smtp
    title = ("Pay now\r\nBcc: evil@attacker.example\r\nX-Injected: 1\n\nbody\u2028Cc: x@y.z"
             + "\x00\x1b[31m" + "A" * 5000)
    new_task(db, [user("ana")], title=title)
    [s] = notifier(db, LinkSigner(SECRET, clock=clock), smtp=cfg).run_once()
    assert s.ok, s.error
    [(_, rcpts, msg)] = box.messages()
    assert rcpts == ["ana@example.org"]
    assert msg["Bcc"] is None and msg["Cc"] is None and msg["X-Injected"] is None
    subject = msg["Subject"]
    assert "\n" not in subject and "\r" not in subject and len(subject) <= 160
    assert subject.startswith("Decision needed: Pay now Bcc: evil@attacker.example")
    assert "\x00" not in msg.get_content() and "\x1b" not in msg.get_content()


def test_a_bad_address_is_never_written_to(db, smtp, clock):
    cfg, box = smtp
    db.set_person("eve", roles=["lead"], email="eve@example.org\r\nBcc: evil@attacker.example")
    new_task(db, [role("lead")])
    sent = notifier(db, LinkSigner(SECRET, clock=clock), smtp=cfg).run_once()
    assert sorted(s.recipient for s in sent) == ["ana", "bo"]
    assert all(rcpts != ["evil@attacker.example"] for _, rcpts, _ in box.messages())
    assert len(box.messages()) == 2


def test_one_line():
    assert one_line("a\r\nb\tc\u2028d\x00e\u202ef") == "a b c def"
    assert one_line("x" * 50, 10) == "x" * 9 + "…"
    assert one_line(None) == ""


# ---------------------------------------------------------------- failures and retries

def test_a_mail_server_down_is_recorded_and_retried_later(db, clock):
    port = free_port()   # nothing listens there yet
    cfg = SmtpConfig(host="127.0.0.1", port=port, sender="flowc@example.org", timeout=5)
    signer = LinkSigner(SECRET, clock=clock)
    task = new_task(db, [role("lead")])   # ana and bo
    n = notifier(db, signer, smtp=cfg, max_attempts=3, retry_after=300)
    sent = n.run_once()   # no exception out of the pass
    # the server is down: one attempt failed, the other e-mail was not even claimed
    assert len(sent) == 1 and not sent[0].ok and "mail server" in sent[0].error
    [row] = db.notifications(task.id)
    assert row["status"] == "failed" and row["error"]
    failed = sent[0].recipient
    clock.now += 10
    # too soon to retry that one; the other one's first attempt fails the same way
    [again] = n.run_once()
    assert again.recipient != failed and (again.attempt, again.ok) == (1, False)
    clock.now += 10
    assert n.run_once() == []   # both failed less than retry_after ago
    ctl, box = start_smtp(port)
    try:
        clock.now += 300
        sent = n.run_once()
        assert sorted((s.recipient, s.attempt, s.ok) for s in sent) == \
            [("ana", 2, True), ("bo", 2, True)]
        assert sorted(r for _, [r], _ in box.messages()) == ["ana@example.org",
                                                              "bo@example.org"]
        clock.now += 1000
        assert n.run_once() == []
    finally:
        ctl.stop()
    rows = {r["key"]: r["status"] for r in db.notifications(task.id)}
    assert rows == {f"{task.id}:0:email:ana": "failed", f"{task.id}:0:email#2:ana": "sent",
                    f"{task.id}:0:email:bo": "failed", f"{task.id}:0:email#2:bo": "sent"}


def test_failed_sends_give_up_after_max_attempts(db, clock):
    cfg = SmtpConfig(host="127.0.0.1", port=free_port(), timeout=5)
    task = new_task(db, [user("ana")])
    n = notifier(db, LinkSigner(SECRET, clock=clock), smtp=cfg, max_attempts=3,
                 retry_after=60)
    attempts = []
    for _ in range(6):
        attempts += [s.attempt for s in n.run_once()]
        clock.now += 61
    assert attempts == [1, 2, 3]
    assert [r["status"] for r in db.notifications(task.id)] == ["failed"] * 3


def test_a_refused_recipient_fails_that_email_only(db, clock):
    class Picky(Mailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.startswith("ana@"):
                return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    port = free_port()
    picky = Picky()
    ctl = Controller(picky, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        cfg = SmtpConfig(host="127.0.0.1", port=port, timeout=5)
        new_task(db, [role("lead")])
        sent = notifier(db, LinkSigner(SECRET, clock=clock), smtp=cfg).run_once()
        assert sorted((s.recipient, s.ok) for s in sent) == [("ana", False), ("bo", True)]
        assert [r for _, [r], _ in picky.messages()] == ["bo@example.org"]
    finally:
        ctl.stop()


# ---------------------------------------------------------------- exactly once

def test_racing_notifiers_send_each_email_exactly_once(tmp_path, smtp):
    cfg, box = smtp
    path = str(tmp_path / "shared.db")
    setup = SQLiteStore(path)
    for i in range(8):
        setup.set_person(f"p{i}", roles=["lead"], email=f"p{i}@example.org")
    setup.put_plan(PLAN, "{}")
    tasks = [new_task(setup, [role("lead")], title=f"task {i}") for i in range(5)]
    setup.close()
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[list] = [[] for _ in range(workers)]
    errors: list[BaseException] = []

    def work(i):
        store = SQLiteStore(path)   # each its own connection to the one file
        try:
            n = Notifier(store, LinkSigner(SECRET), base_url=BASE, smtp=cfg,
                         webhook_url=None)
            barrier.wait()
            results[i] = n.run_once() + n.run_once()
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    expected = 5 * 8
    received = box.messages()
    assert len(received) == expected
    pairs = set()
    signer = LinkSigner(SECRET)
    for _, [rcpt], msg in received:
        link = signer.check(parse_qs(urlsplit(link_in(msg.get_content())).query)["link"][0])
        pairs.add((link.task_id, link.person))
        assert rcpt == f"{link.person}@example.org"
    assert pairs == {(t.id, f"p{i}") for t in tasks for i in range(8)}
    assert sum(len(r) for r in results) == expected and all(s.ok for r in results for s in r)


# ---------------------------------------------------------------- webhook

def test_the_webhook_gets_one_post_per_task_step_without_a_signed_link(db, hook, clock):
    signer = LinkSigner(SECRET, clock=clock)
    task = new_task(db, [user("ana")], title="Refund <!channel> & co",
                    escalations=[{"after": 60, "at": clock.now + 60, "to": [role("finance")]}])
    anyone = new_task(db, [], title="Anyone may answer", kind="ask")
    n = notifier(db, signer, webhook=hook.url)
    sent = n.run_once()
    assert sorted((s.task_id, s.step, s.channel) for s in sent) == \
        sorted([(task.id, 0, "webhook"), (anyone.id, 0, "webhook")])
    db.escalate_task(task.id, 1, at=clock.now + 60)
    assert [(s.task_id, s.step) for s in n.run_once()] == [(task.id, 1)]
    assert n.run_once() == []
    bodies = [json.loads(b) for b in hook.bodies]
    assert len(bodies) == 3
    for body in bodies:
        assert isinstance(body["text"], str) and isinstance(body["blocks"], list)
        assert f"{BASE}/review/{body['task']}" in body["text"]
        raw = json.dumps(body)
        assert "link=" not in raw and "?link" not in raw
        assert "<!channel>" not in raw
    by = {(b["task"], b["step"]): b for b in bodies}
    assert "&lt;!channel&gt; &amp; co" in by[(task.id, 0)]["text"]
    assert by[(task.id, 1)]["event"] == "task.escalated"
    assert "role finance" in by[(task.id, 1)]["text"]
    assert "for anyone" in by[(anyone.id, 0)]["text"]


def test_a_failing_webhook_is_recorded_not_raised(db, hook, clock):
    hook.status = 500
    task = new_task(db, [user("ana")])
    n = notifier(db, LinkSigner(SECRET, clock=clock), webhook=hook.url, retry_after=0)
    [s] = n.run_once()
    assert s.error == "HTTP 500"
    [row] = db.notifications(task.id)
    assert (row["status"], row["error"]) == ("failed", "HTTP 500")
    hook.status = 200
    [s] = n.run_once()
    assert (s.ok, s.attempt) == (True, 2)


def test_email_and_webhook_together(db, smtp, hook, clock):
    cfg, box = smtp
    new_task(db, [user("ana")])
    sent = notifier(db, LinkSigner(SECRET, clock=clock), smtp=cfg, webhook=hook.url).run_once()
    assert sorted(s.channel for s in sent) == ["email", "webhook"]
    assert len(box.messages()) == 1 and len(hook.bodies) == 1


# ---------------------------------------------------------------- links

def test_a_link_checks_only_for_its_signer(clock):
    signer = LinkSigner(SECRET, clock=clock)
    token = signer.make("T1", "ana", 60)
    assert signer.check(token) == Link("T1", "ana", signer.check(token).once_id,
                                       clock.now + 60)
    assert re.fullmatch(r"[A-Za-z0-9_.\-]+", token)   # URL-safe as it is
    with pytest.raises(LinkRefused, match="signature"):
        LinkSigner("another secret", clock=clock).check(token)
    # same secret, another salt (e.g. another itsdangerous use of the same key)
    other = URLSafeSerializer(SECRET, salt="something-else").dumps([1, "T1", "ana", "x", 1e12])
    with pytest.raises(LinkRefused, match="signature"):
        signer.check(other)
    # same secret, no salt
    with pytest.raises(LinkRefused, match="signature"):
        signer.check(URLSafeSerializer(SECRET).dumps([1, "T1", "ana", "x", 1e12]))


def test_forged_tampered_and_malformed_tokens_are_refused(clock):
    signer = LinkSigner(SECRET, clock=clock)
    token = signer.make("T1", "ana", 60)
    payload, sig = token.rsplit(".", 1)
    for bad in ["forged", "x.y", payload + ".AAAA" + sig[4:],
                payload[:-2] + ("AB" if payload[-2:] != "AB" else "CD") + "." + sig,
                token + "x", token[:-1]]:
        with pytest.raises(LinkRefused) as e:
            signer.check(bad)
        assert "\n" not in e.value.reason
    # a valid signature over something that is not a link
    sealed = URLSafeSerializer(SECRET, salt="flowc.review-link.v1")
    for shape in [{"t": "T1"}, [1, "T1", "ana"], [2, "T1", "ana", "o", 1e12],
                  [1, "T1", "", "o", 1e12], [1, "T1", "ana", "o", "soon"],
                  [1, "T1", "ana", "o", True]]:
        with pytest.raises(LinkRefused, match="malformed"):
            signer.check(sealed.dumps(shape))
    for nothing in ["", None, 42, b"bytes"]:
        with pytest.raises(LinkRefused):
            signer.check(nothing)


def test_an_over_long_token_is_refused_before_parsing(clock):
    signer = LinkSigner(SECRET, clock=clock)
    with pytest.raises(LinkRefused, match="too long"):
        signer.check("A" * (MAX_TOKEN_CHARS + 1))
    with pytest.raises(ValueError):   # nor does the signer make one
        signer.make("T1", "n" * 1000, 60)


def test_an_expired_link_is_refused(db, clock):
    signer = LinkSigner(SECRET, clock=clock)
    link = signer.check(signer.make("T1", "ana", 3600))
    clock.now += 3599
    assert signer.check(signer.make("T2", "ana", 1)).task_id == "T2"
    token = signer.make("T1", "ana", 1)
    clock.now += 1
    with pytest.raises(LinkRefused, match="expired"):
        signer.check(token)
    with pytest.raises(LinkRefused, match="expired"):   # expiry is checked on use as well
        signer.consume(db, link)
    assert db.use_once(link.once_id, "review-link")   # and it did not use the link up


def test_a_link_is_used_once_across_stores(tmp_path, clock):
    path = str(tmp_path / "once.db")
    a, b = SQLiteStore(path), SQLiteStore(path)
    try:
        signer = LinkSigner(SECRET, clock=clock)
        link = signer.check(signer.make("T1", "ana", 60))
        signer.consume(a, link)
        with pytest.raises(LinkRefused, match="already used"):
            signer.consume(b, link)
        other = signer.check(signer.make("T1", "ana", 60))   # a fresh link is a new one
        signer.consume(b, other)
    finally:
        a.close()
        b.close()


def test_an_empty_secret_is_refused():
    with pytest.raises(ValueError):
        LinkSigner("")
