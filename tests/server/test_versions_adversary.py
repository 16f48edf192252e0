"""An outside review of flow versions (docs/versions.md): each test is one attack on a claim
(separation of duties, compare-and-set transitions, the chained history, export/import, what
`flowc serve` runs, path and markup tricks in URLs and pages) through the real server over
HTTP, the real command line and a real SQLite store. A test that asserts a guarantee that
does not hold is kept, marked `xfail(strict=True, reason="FINDING: ...")`.

No run is advanced (the servers run without their worker, `worker=False`): what a run would
run is read from the store (its plan hash, its stored plan, its `run.started` event)."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from servekit import csrf_of, serving, signed_in, token_for

FLOW = '''flow pricing version "1.0.0"
  "Quotes a price."

input amount: float

node quote: float = code python(amount: amount) """
  result = round(amount * 1.1, 2)
"""

output price = quote
'''


def flow_text(rate: str, extra: str = "") -> str:
    """The pricing flow with another rate (so another plan hash), `extra` lines after the
    header."""
    text = FLOW.replace("1.1, 2", f"{rate}, 2")
    if extra:
        text = text.replace("input amount", extra + "\ninput amount", 1)
    return text


INTAKE = '''flow intake version "1.0.0"
  "Counts the rows of an uploaded sheet."

on upload file<csv>

input sheet: file<csv>

node count: int = code python(sheet: sheet) """
  result = 1
"""

output rows = count
'''

# (name, roles, password, email); a password only for those who sign in to the pages
PEOPLE = [("dana", ["drafter"], "dana-pw", None), ("rita", ["reviewer"], "rita-pw", None),
          ("pete", ["publisher"], None, None), ("carla", ["support_lead"], "carla-pw", None),
          ("ada", ["admin"], None, None), ("solo", ["drafter", "reviewer", "publisher"],
                                           "solo-pw", None),
          ("rex", ["reviewer"], None, None), ("rue", ["reviewer"], None, None),
          ("nobody", [], None, None)]


class Api:
    def __init__(self, base, service):
        self.base = base
        self.service = service
        self.h = {name: {"authorization": f"Bearer {token_for(service, name)}"}
                  for name, *_ in PEOPLE}

    def post(self, who, path, body=None, **kw):
        return httpx.post(self.base + path, headers=self.h[who], json=body or {},
                          timeout=120, **kw)

    def raw(self, who, path, content: bytes | str, **kw):
        return httpx.post(self.base + path, headers=self.h[who], content=content,
                          timeout=120, **kw)

    def get(self, who, path, **kw):
        return httpx.get(self.base + path, headers=self.h[who], timeout=120, **kw)

    def act(self, who, n, action, message=""):
        return self.post(who, f"/api/flows/pricing/versions/{n}/{action}",
                         {"message": message} if message else None)

    def draft(self, text=None, who="dana"):
        """Write the project's file (if text) and record it as a draft: its JSON."""
        if text is not None:
            (self.project / "pricing.flow").write_text(text)
        r = self.post(who, "/api/flows/pricing/versions", {"message": "m"})
        assert r.status_code == 201, r.text
        return r.json()

    def to(self, n, status):
        """Move version n along the lifecycle to `status` (by dana, rita, pete)."""
        steps = {"in_review": [("dana", "review")],
                 "approved": [("dana", "review"), ("rita", "approve")],
                 "published": [("dana", "review"), ("rita", "approve"), ("pete", "publish")]}
        for who, action in steps[status]:
            r = self.act(who, n, action)
            assert r.status_code == 200, (action, r.text)


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pricing.flow").write_text(FLOW)
    return folder


@contextmanager
def server(project, store_path, *, signin=False, **config):
    """A server without its worker over `store_path`; `signin`: the people get their
    passwords (hashing them is the slow part of starting)."""
    config.setdefault("worker", False)
    people = [(n, r, pw if signin else None, e) for n, r, pw, e in PEOPLE]
    with serving(project, store_path, people=people, **config) as (base, service):
        api = Api(base, service)
        api.project = project
        yield api


SIGNS_IN = {"test_a_forged_page_form_is_refused_on_the_server_whatever_the_page_shows",
            "test_versioned_but_unpublished_runs_nowhere_and_drafts_need_a_role",
            "test_an_approval_lands_on_the_version_the_reviewer_saw",
            "test_path_tricks_in_flow_names_and_refs_are_plain_refusals",
            "test_markup_in_authors_messages_comments_and_sources_is_escaped"}


@pytest.fixture
def api(project, tmp_path, request):
    with server(project, tmp_path / "runs.db",
                signin=request.node.originalname in SIGNS_IN) as a:
        yield a


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory):
    """One server for the attacks that must leave nothing recorded."""
    tmp = tmp_path_factory.mktemp("shared")
    (tmp / "project").mkdir()
    (tmp / "project" / "pricing.flow").write_text(FLOW)
    with server(tmp / "project", tmp / "runs.db") as a:
        yield a


def started(service, run_id):
    return next(e for e in service.store.audit_events(run_id)
                if e.kind == "run.started").payload


def bundle_of(folder: Path, text: str, name: str = "pricing.flow") -> dict:
    from flowc.runtime.versions import build_bundle

    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return build_bundle(folder / name)


def export_of(bundle: dict, author="dana", number=1, status="approved") -> dict:
    from flowc.runtime.versions import EXPORT_FORMAT, bundle_sha256

    bundle = json.loads(json.dumps(bundle))
    return {"format": EXPORT_FORMAT, "bundle": bundle, "bundle_sha256": bundle_sha256(bundle),
            "version": {"flow": bundle["flow"], "number": number, "hash": bundle["plan_hash"],
                        "status": status, "author": author, "message": "from elsewhere",
                        "origin": None, "created_at": 0.0},
            "history": []}


def resealed(bundle: dict, **changes) -> dict:
    """A copy of the bundle with `changes` to its files (None: removed), its sha256 made
    again by export_of (the attacker's tool)."""
    b = json.loads(json.dumps(bundle))
    for name, text in changes.items():
        if text is None:
            b["files"].pop(name, None)
        else:
            b["files"][name] = {"text": text}
    return b


def flowc(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# ================================================================ 1. separation of duties

def test_an_admin_author_can_neither_approve_nor_publish_their_own_version(api):
    v = api.draft(flow_text("1.3"), who="ada")
    assert v["author"] == "ada" and v["actions"] == ["review"]  # not approve, not publish
    assert api.act("ada", 1, "review").status_code == 200
    r = api.act("ada", 1, "approve")
    assert r.status_code == 403 and "separation of duties" in r.json()["error"]
    assert api.act("rita", 1, "approve").status_code == 200
    r = api.act("ada", 1, "publish")
    assert r.status_code == 403 and "its author cannot publish" in r.json()["error"]
    assert api.service.store.get_version("pricing", 1).status == "approved"
    assert api.act("pete", 1, "publish").json()["status"] == "published"


def test_a_forged_page_form_is_refused_on_the_server_whatever_the_page_shows(api):
    base = api.base
    (api.project / "pricing.flow").write_text(flow_text("1.4"))
    solo = signed_in(base, "solo", "solo-pw")
    page = solo.get("/flows/pricing/versions")
    for data in ({"message": "no token"}, {"csrf": "x" * 40, "message": "wrong token"}):
        assert solo.post("/flows/pricing/versions", data=data).status_code == 403
    assert api.service.store.list_versions("pricing") == []
    r = solo.post("/flows/pricing/versions", data={"csrf": csrf_of(page.text),
                                                   "message": "mine"})
    assert r.status_code == 303, r.text
    page = solo.get("/flows/pricing/versions/1")
    csrf = csrf_of(page.text)
    assert solo.post("/flows/pricing/versions/1", data={
        "csrf": csrf, "action": "review"}).status_code == 303
    page = solo.get("/flows/pricing/versions/1")
    assert 'data-testid="version-approve"' not in page.text  # the page hides it...
    # ...and the server refuses the hand-made form: the author, and no/wrong CSRF token
    r = solo.post("/flows/pricing/versions/1", data={"csrf": csrf, "action": "approve"})
    assert r.status_code == 403 and "separation of duties" in r.text
    dana = signed_in(base, "dana", "dana-pw")
    other = csrf_of(dana.get("/flows/pricing/versions/1").text)
    rita = signed_in(base, "rita", "rita-pw")
    for data in ({"action": "approve"}, {"csrf": other, "action": "approve"},
                 {"csrf": "", "action": "approve"}):
        assert rita.post("/flows/pricing/versions/1", data=data).status_code == 403
    # a person with no versions role cannot even comment through the page
    carla = signed_in(base, "carla", "carla-pw")
    ccsrf = csrf_of(carla.get("/flows/pricing/versions/1").text)
    r = carla.post("/flows/pricing/versions/1", data={"csrf": ccsrf, "action": "comment",
                                                      "message": "hi"})
    assert r.status_code == 403
    assert api.service.store.get_version("pricing", 1).status == "in_review"
    assert [e.kind for e in api.service.store.version_events("pricing")] == [
        "version.submitted", "version.review_requested"]


def test_a_broken_versions_setting_fails_closed(project, tmp_path):
    with server(project, tmp_path / "runs.db") as api:
        api.draft(flow_text("1.5"), who="solo")
        api.act("solo", 1, "review")
        (project / "flowc.toml").write_text("[versions]\nseparate_duties = 'no'\n")
        r = api.act("solo", 1, "approve")
        assert r.status_code == 403, r.text
        (project / "flowc.toml").write_text("[versions]\nseparate_duties = false\n")
        assert api.act("solo", 1, "approve").status_code == 200  # the project's choice


def test_an_imported_version_keeps_its_author_so_they_cannot_approve_it_here(api, tmp_path):
    doc = export_of(bundle_of(tmp_path / "elsewhere", flow_text("1.6")), author="solo")
    r = api.raw("ada", "/api/versions/import", json.dumps(doc))
    assert r.status_code == 201 and r.json()["author"] == "solo", r.text
    assert r.json()["status"] == "draft"  # an approved version arrives as a draft
    assert api.act("dana", 1, "review").status_code == 200
    assert api.act("solo", 1, "approve").status_code == 403
    assert api.act("rita", 1, "approve").status_code == 200
    assert api.act("solo", 1, "publish").status_code == 403


def test_an_import_cannot_launder_authorship_to_get_around_separation_of_duties(api,
                                                                                 tmp_path):
    mine = bundle_of(tmp_path / "ada-laptop", flow_text("6.66"))
    r = api.raw("ada", "/api/versions/import", json.dumps(export_of(mine, author="ghost")))
    assert r.status_code == 201, r.text
    assert api.act("ada", 1, "review").status_code == 200
    approved = api.act("ada", 1, "approve")
    published = api.act("ada", 1, "publish") if approved.status_code == 200 else None
    assert approved.status_code == 403, (
        "ada imported her own flow as 'ghost' and approved it"
        + (f"; publish: {published.status_code}" if published is not None else ""))


# ============================================================ 2. compare-and-set transitions

def test_a_version_cannot_skip_or_reverse_states(api):
    for rate in ("1.2", "1.3", "1.4", "1.5"):
        api.draft(flow_text(rate))
    api.to(2, "in_review")
    assert api.act("rita", 2, "reject", "no").status_code == 200
    api.to(3, "approved")
    api.to(4, "published")
    # (who, version, action): every one refused (the version is not in a state it takes)
    wrong = [("pete", 1, "publish"), ("rita", 1, "approve"), ("rita", 1, "reject"),
             ("pete", 1, "rollback"),                             # a draft
             ("rita", 2, "approve"), ("pete", 2, "publish"), ("dana", 2, "review"),
             ("pete", 2, "rollback"),                             # rejected
             ("rita", 3, "approve"), ("dana", 3, "review"), ("pete", 3, "rollback"),  # approved
             ("pete", 4, "publish"), ("rita", 4, "reject"), ("rita", 4, "approve"),
             ("pete", 4, "rollback"), ("dana", 4, "review")]       # published
    before = [(v.number, v.status) for v in api.service.store.list_versions("pricing")]
    for who, n, action in wrong:
        r = api.act(who, n, action, "why")
        assert r.status_code == 409, (who, n, action, r.status_code, r.text)
    assert [(v.number, v.status) for v in api.service.store.list_versions("pricing")] == \
        before == [(4, "published"), (3, "approved"), (2, "rejected"), (1, "draft")]
    # an approved version may still be rejected, and is then gone for good
    assert api.act("rita", 3, "reject", "late doubt").status_code == 200
    assert api.act("pete", 3, "publish").status_code == 409
    assert api.service.store.verify_version_chain("pricing") == []


def test_reviewers_approving_at_once_exactly_one_wins_over_http(api):
    api.draft(flow_text("1.7"))
    api.to(1, "in_review")
    people = ["rita", "rex", "rue", "ada", "solo"]
    barrier = threading.Barrier(len(people))
    codes = {}

    def go(who):
        barrier.wait()
        codes[who] = api.act(who, 1, "approve", f"ok by {who}").status_code

    threads = [threading.Thread(target=go, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes.values()) == [200] + [409] * (len(people) - 1), codes
    events = api.service.store.version_events("pricing")
    approvals = [e for e in events if e.kind == "version.approved"]
    assert len(approvals) == 1 and codes[approvals[0].actor] == 200
    assert api.service.store.verify_version_chain("pricing") == []


def test_publishes_and_rollbacks_racing_leave_exactly_one_published_version(api):
    for rate in ("1.2", "1.3", "1.4", "1.5"):
        api.draft(flow_text(rate))
    api.to(1, "published")
    api.to(2, "published")                  # v1 superseded
    api.to(3, "approved")
    api.to(4, "approved")
    jobs = [("pete", 3, "publish", ""), ("ada", 4, "publish", ""),
            ("solo", 1, "rollback", "back"), ("pete", 3, "publish", ""),
            ("ada", 1, "rollback", "back again")]
    barrier = threading.Barrier(len(jobs))
    results = []

    def go(job):
        who, n, action, msg = job
        barrier.wait()
        results.append((job, api.act(who, n, action, msg).status_code))

    threads = [threading.Thread(target=go, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(code in (200, 409) for _, code in results), results
    store = api.service.store
    statuses = {v.number: v.status for v in store.list_versions("pricing")}
    assert list(statuses.values()).count("published") == 1, statuses
    events = store.version_events("pricing")
    wins = sum(1 for _, code in results if code == 200)
    moved = [e for e in events if e.kind in ("version.published", "version.rolled_back")]
    assert len(moved) == 2 + wins  # v1 and v2 before, then one per 200
    # every publish or rollback superseded the one published just before it
    assert sum(1 for e in events if e.kind == "version.superseded") == 1 + wins
    assert store.verify_version_chain("pricing") == []


# ================================================================= 3. the chained history

def _history_db(tmp_path: Path, project: Path) -> Path:
    """A store with pricing v1 published (dana, rita, pete), a comment, and v2 a draft."""
    from flowc.runtime.store import open_store
    from flowc.runtime.versions import comment, submit, transition

    db = tmp_path / "hist.db"
    st = open_store(str(db))
    try:
        submit(st, project / "pricing.flow", "dana", "first")
        transition(st, "pricing", "1", "review", "dana", ["drafter"])
        transition(st, "pricing", "1", "approve", "rita", ["reviewer"], message="fine")
        transition(st, "pricing", "1", "publish", "pete", ["publisher"])
        comment(st, "pricing", "1", "rita", ["reviewer"], "looks good")
        (project / "pricing.flow").write_text(flow_text("1.9"))
        submit(st, project / "pricing.flow", "dana", "second")
        for name, roles in (("carla", ["support_lead"]), ("dana", ["drafter"])):
            st.set_person(name, roles=roles)
    finally:
        st.close()
    return db


def _sql(db: Path, *statements):
    with sqlite3.connect(db) as c:
        for s in statements:
            if isinstance(s, tuple):
                c.execute(*s)
            else:
                c.execute(s)
    c.close()


def _verify(db: Path) -> list[str]:
    from flowc.runtime.store import open_store

    st = open_store(str(db))
    try:
        return st.verify_version_chain("pricing")
    finally:
        st.close()


@pytest.mark.parametrize("tamper", [
    "UPDATE version_events SET payload_json = replace(payload_json, 'fine', 'rubber stamp')"
    " WHERE flow = 'pricing' AND kind = 'version.approved'",
    "UPDATE version_events SET actor = 'pete' WHERE flow = 'pricing' AND"
    " kind = 'version.approved'",
    "UPDATE version_events SET ts = ts + 86400 WHERE flow = 'pricing' AND seq = 3",
    "UPDATE version_events SET kind = 'version.rejected' WHERE flow = 'pricing' AND seq = 3",
], ids=["message", "actor", "time", "kind"])
def test_a_changed_event_is_named_by_verify_on_the_command_line(project, tmp_path, tamper):
    db = _history_db(tmp_path, project)
    assert _verify(db) == []
    _sql(db, tamper)
    r = flowc("versions", "pricing", "--verify", "--store", db, cwd=tmp_path)
    assert r.returncode == 1 and "history broken: event 3" in r.stdout, r.stdout + r.stderr


def test_removed_reordered_appended_and_moved_events_are_detected(project, tmp_path):
    db = _history_db(tmp_path, project)
    copies = {}
    for name in ("removed", "reordered", "appended", "appended_linked", "moved",
                 "head_rewound"):
        copies[name] = tmp_path / f"{name}.db"
        copies[name].write_bytes(db.read_bytes())
    _sql(copies["removed"], "DELETE FROM version_events WHERE flow = 'pricing' AND seq = 2")
    _sql(copies["reordered"],
         "UPDATE version_events SET seq = -3 WHERE flow = 'pricing' AND seq = 3",
         "UPDATE version_events SET seq = 3 WHERE flow = 'pricing' AND seq = 4",
         "UPDATE version_events SET seq = 4 WHERE flow = 'pricing' AND seq = -3")
    # an event added at the end whose prev_hash links to the real head but whose head was
    # not recorded; and one with a made-up hash
    with sqlite3.connect(db) as c:
        last = c.execute("SELECT seq, hash, ts FROM version_events WHERE flow = 'pricing'"
                         " ORDER BY seq DESC LIMIT 1").fetchone()
    c.close()
    from flowc.runtime.store.chain import _audit_hash_text

    payload = '{"message":"self approved","version":2}'
    digest = _audit_hash_text(last[1], "versions/pricing", last[0] + 1, last[2],
                              "version.approved", "dana", payload)
    row = ("INSERT INTO version_events (flow, seq, ts, kind, actor, payload_json, prev_hash,"
           " hash) VALUES ('pricing', ?, ?, 'version.approved', 'dana', ?, ?, ?)")
    _sql(copies["appended_linked"], (row, (last[0] + 1, last[2], payload, last[1], digest)))
    _sql(copies["appended"], (row, (last[0] + 1, last[2], payload, last[1], "f" * 64)))
    # another flow's chain: the same events under another flow's name do not verify there
    _sql(copies["moved"], "UPDATE version_events SET flow = 'other'",
         "UPDATE version_chains SET flow = 'other'")
    _sql(copies["head_rewound"], "DELETE FROM version_events WHERE flow = 'pricing' AND"
         " seq = (SELECT MAX(seq) FROM version_events WHERE flow = 'pricing')")
    from flowc.runtime.store import open_store

    for name, path in copies.items():
        st = open_store(str(path))
        try:
            flow = "other" if name == "moved" else "pricing"
            problems = st.verify_version_chain(flow)
        finally:
            st.close()
        assert problems, name


def test_wiping_a_flows_whole_history_is_detected(project, tmp_path):
    db = _history_db(tmp_path, project)
    _sql(db, "DELETE FROM version_events WHERE flow = 'pricing'",
         "DELETE FROM version_chains WHERE flow = 'pricing'")
    assert _verify(db), "a flow with 2 versions and no history verifies as intact"


def _rewrite_approver(db: Path, who: str) -> None:
    """Rewrite who approved, and recompute every later hash and the recorded head: what
    someone with write access to the database, who read flowc's source, can do."""
    from flowc.runtime.store.chain import AUDIT_GENESIS, _audit_hash_text, _normalised

    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT seq, ts, kind, actor, payload_json FROM version_events"
                         " WHERE flow = 'pricing' ORDER BY seq").fetchall()
        prev = AUDIT_GENESIS
        for seq, ts, kind, actor, text in rows:
            if kind == "version.approved":
                actor = who
            _, canon = _normalised(json.loads(text))
            digest = _audit_hash_text(prev, "versions/pricing", seq, ts, kind, actor, canon)
            c.execute("UPDATE version_events SET actor = ?, prev_hash = ?, hash = ? WHERE"
                      " flow = 'pricing' AND seq = ?", (actor, prev, digest, seq))
            prev = digest
        c.execute("UPDATE version_chains SET head = ? WHERE flow = 'pricing'", (prev,))
    c.close()


def test_a_rewritten_chain_with_recomputed_hashes_is_detected_against_the_anchor(project,
                                                                                  tmp_path):
    # Unkeyed, the chain alone cannot see a rewrite with every hash recomputed (the same
    # holds for runs' trails): the heads anchored outside the store can.
    from flowc.runtime.audit import Anchor, verify_versions
    from flowc.runtime.store import open_store

    db = _history_db(tmp_path, project)
    anchor = Anchor(str(tmp_path / "heads.jsonl"))
    st = open_store(str(db))
    try:
        assert [h.run for h in anchor.record_versions(st, ["pricing"])] == ["versions/pricing"]
        assert verify_versions(st, "pricing", anchor=anchor) == []
    finally:
        st.close()
    _rewrite_approver(db, "mallory")
    assert _verify(db) == [], "the chain alone verifies (the limit the anchor is for)"
    st = open_store(str(db))
    try:
        problems = verify_versions(st, "pricing", anchor=anchor)
    finally:
        st.close()
    assert problems and "rewritten" in problems[-1], problems
    # the command line says so too, and `flowc store check` with the anchor
    r = flowc("versions", "pricing", "--verify", "--store", db, "--anchor",
              tmp_path / "heads.jsonl", cwd=tmp_path)
    assert r.returncode == 1 and "was rewritten" in r.stdout, (r.stdout, r.stderr)
    r = flowc("store", "check", "--store", db, "--anchor", tmp_path / "heads.jsonl",
              cwd=tmp_path)
    assert r.returncode == 1 and "pricing: event" in r.stdout, (r.stdout, r.stderr)


def test_cutting_an_anchored_history_short_is_detected(project, tmp_path):
    from flowc.runtime.audit import Anchor, verify_versions
    from flowc.runtime.store import open_store

    db = _history_db(tmp_path, project)
    anchor = Anchor(str(tmp_path / "heads.jsonl"))
    st = open_store(str(db))
    try:
        anchor.record_versions(st, ["pricing"])
    finally:
        st.close()
    # drop v2 and its events, and record the shorter head: the chain alone is consistent
    _sql(db, "DELETE FROM version_events WHERE flow = 'pricing' AND seq > 5",
         "DELETE FROM flow_versions WHERE flow = 'pricing' AND number = 2",
         "UPDATE version_chains SET seq = 5, head = (SELECT hash FROM version_events WHERE"
         " flow = 'pricing' AND seq = 5) WHERE flow = 'pricing'")
    assert _verify(db) == []
    st = open_store(str(db))
    try:
        problems = verify_versions(st, "pricing", anchor=anchor)
    finally:
        st.close()
    assert problems and "cut short" in problems[0], problems


def test_a_draft_marked_published_in_the_table_is_detected_and_not_run(project, tmp_path):
    db = _history_db(tmp_path, project)
    _sql(db, "UPDATE flow_versions SET status = 'superseded' WHERE number = 1",
         "UPDATE flow_versions SET status = 'published' WHERE number = 2")
    problems = _verify(db)
    with server(project, db) as api:
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        ran = r.status_code == 201 and api.service.store.get_run(r.json()["id"]).plan_hash \
            == api.service.store.get_version("pricing", 2).hash
    # both: verify names it, and the server refuses to run the tampered version
    assert problems and not ran, (problems, ran)
    assert any("v2 is published in the table" in p for p in problems), problems


def test_a_snapshot_changed_in_the_table_does_not_run(project, tmp_path):
    db = _history_db(tmp_path, project)
    with sqlite3.connect(db) as c:
        (text,) = c.execute("SELECT bundle FROM flow_versions WHERE flow = 'pricing' AND"
                            " number = 1").fetchone()
        bundle = json.loads(text)
        evil = json.dumps(bundle["plan"]).replace("amount * 1.1", "amount * 9.9")
        assert evil != json.dumps(bundle["plan"])
        bundle["plan"] = json.loads(evil)
        bundle["files"]["pricing.flow"]["text"] = bundle["files"]["pricing.flow"][
            "text"].replace("1.1", "9.9")
        c.execute("UPDATE flow_versions SET bundle = ? WHERE flow = 'pricing' AND number = 1",
                  (json.dumps(bundle),))
    c.close()
    problems = _verify(db)
    with server(project, db) as api:
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        store = api.service.store
        ran_evil = r.status_code == 201 and "9.9" in store.get_plan(
            store.get_run(r.json()["id"]).plan_hash)
    assert problems and not ran_evil, (problems, ran_evil)
    assert r.status_code == 409 and "does not verify" in r.json()["error"], r.text
    assert any("stored snapshot does not hash" in p for p in problems), problems


# ========================================================================= 4. export/import

def _import_crafted(api, bundle, who="dana", **kw):
    return api.raw(who, "/api/versions/import", json.dumps(export_of(bundle, **kw)))


def test_changed_or_escaping_exports_are_refused_and_nothing_is_recorded(api, tmp_path):
    from flowc.runtime.versions import bundle_sha256

    good = bundle_of(tmp_path / "src", flow_text("2.1"))
    cases = {}
    doc = export_of(good)
    doc["bundle"]["files"]["pricing.flow"]["text"] += "\n// changed\n"
    cases["changed, digest kept"] = (json.dumps(doc), "bundle_sha256")
    for name in ("../escape.txt", "../../escape.txt", "/tmp/escape.txt", "a/../../escape.txt",
                 "a\\..\\..\\escape.txt", "C:\\escape.txt", "a\x00b", "./a", "a//b", "a/",
                 "", "..", "a/./b", "a/.", "a/.."):
        cases[f"path {name!r}"] = (json.dumps(export_of(resealed(good, **{name: "x"}))),
                                   "inside its folder")
    b = json.loads(json.dumps(good))
    b["entry"] = "../pricing.flow"
    cases["entry escapes"] = (json.dumps(export_of(b)), "inside its folder")
    b = json.loads(json.dumps(good))
    b["plan"]["hash"] = "0" * 64
    cases["plan changed"] = (json.dumps(export_of(b)), "do not compile to its plan")
    b = resealed(good, **{f"f{i}.txt": "x" for i in range(2001)})
    cases["2001 files"] = (json.dumps(export_of(b)), "1 to 2000 files")
    b = json.loads(json.dumps(good))
    b["files"]["pricing.flow"] = {"text": FLOW, "base64": "eA=="}
    cases["text and base64"] = (json.dumps(export_of(b)), "neither text nor base64")
    doc = export_of(good)
    doc["bundle_sha256"] = bundle_sha256(good).upper()
    cases["sha256 in capitals"] = (json.dumps(doc), "bundle_sha256")
    cases["not JSON"] = ("{", "not a version export")
    cases["a list"] = ("[]", "not a version export")
    doc = export_of(good)
    doc["version"]["author"] = ["dana"]
    cases["author not text"] = (json.dumps(doc), "names no author")
    doc = export_of(good)
    doc["version"]["author"] = "x" * 201
    cases["author too long"] = (json.dumps(doc), "names no author")
    for name, (body, text) in cases.items():
        r = api.raw("dana", "/api/versions/import", body)
        assert r.status_code == 400 and text in r.json()["error"], (name, r.status_code,
                                                                    r.text[:300])
    assert api.service.store.list_versions("pricing") == []
    assert api.service.store.version_events("pricing") == []
    assert not list(tmp_path.rglob("escape.txt"))
    assert not Path("/tmp/escape.txt").exists()


def test_lookalike_file_names_are_written_inside_the_versions_folder(api, tmp_path):
    tricky = ["\u2024\u2024\uff0fescape1.txt",      # one-dot leaders, fullwidth solidus
              "..\u2215escape2.txt",                # division slash
              "%2e%2e%2fescape3.txt", "..%2Fescape4.txt",
              "\u202etxt.escape5", "C:escape6.txt", "a:b/..\u200b/escape7.txt",
              "caf\u00e9.md", "cafe\u0301.md",      # NFC and NFD: two files here
              "\uff0e\uff0e/escape8.txt"]           # fullwidth full stops
    bundle = resealed(bundle_of(tmp_path / "src", flow_text("2.2")),
                      **{n: n for n in tricky})
    r = _import_crafted(api, bundle)
    assert r.status_code == 201, r.text
    v = api.service.store.get_version("pricing", 1)
    # run it explicitly (a drafter): its files are written out under the store's folder
    r = api.post("dana", "/api/flows/pricing/runs?version=1", {"inputs": {"amount": 1}})
    assert r.status_code == 201, r.text
    folder = tmp_path / "versions" / "pricing" / v.hash[:16]
    written = files_under(folder)
    assert set(tricky) | {"pricing.flow"} == written
    for name in tricky:
        assert (folder / name).read_text() == name
    outside = [p for p in tmp_path.rglob("*escape*") if folder not in p.parents]
    assert outside == []


@pytest.mark.parametrize("case", ["file-and-folder", "dot-name", "long-name", "deep-path",
                                  "nested-array", "nested-object", "sop-proc-mem"])
def test_hostile_imports_are_refused_not_crashed(shared_api, tmp_path, case):
    api = shared_api
    good = bundle_of(tmp_path / "src", flow_text("2.3"))
    body = {
        "file-and-folder": lambda: json.dumps(export_of(resealed(good, **{
            "notes": "a file", "notes/inner.txt": "and a file inside it"}))),
        "dot-name": lambda: json.dumps(export_of(resealed(good, **{".": "x"}))),
        "long-name": lambda: json.dumps(export_of(resealed(good, **{"n" * 300: "x"}))),
        "deep-path": lambda: json.dumps(export_of(resealed(good, **{
            "/".join(["d"] * 3000): "x"}))),
        "nested-array": lambda: "[" * 100_000 + "]" * 100_000,
        "nested-object": lambda: '{"format": "flowc.version-export/1", "bundle": '
                                 + '{"a": ' * 50_000 + "1" + "}" * 50_001,
        "sop-proc-mem": lambda: json.dumps(export_of(resealed(good, **{
            "pricing.flow": flow_text("2.3", 'import sop "/proc/self/mem" as mem')}))),
    }[case]()
    r = api.raw("dana", "/api/versions/import", body)
    assert httpx.get(api.base + "/healthz", timeout=30).status_code == 200  # still up
    assert api.service.store.list_versions() == []
    assert r.status_code == 400, (r.status_code, r.text[:200])


def test_cli_import_of_deeply_nested_json_is_a_one_line_refusal(tmp_path):
    db = tmp_path / "runs.db"
    assert flowc("people", "ivan", "drafter", "--store", db, cwd=tmp_path).returncode == 0
    path = tmp_path / "nested.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    r = flowc("version", "import", path, "--as", "ivan", "--store", db, cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.strip().startswith("flowc: error: refused: "), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_huge_import_body_is_bounded_and_the_server_keeps_serving(api):
    pad = "x" * (6 * 1024 * 1024)
    body = '{"format": "flowc.version-export/1", "pad": "' + pad + '"}'
    r = api.raw("dana", "/api/versions/import", body)
    assert 400 <= r.status_code < 500, r.status_code
    assert api.get("dana", "/api/flows/pricing/versions").status_code == 200
    assert api.service.store.list_versions() == []


def test_duplicate_json_keys_cannot_split_what_is_checked_from_what_runs(api, tmp_path):
    """A file whose first `text` is benign and last is not: whichever flowc takes, it is the
    one hashed, compiled, shown in the diff and written out for a run."""
    benign = bundle_of(tmp_path / "a", flow_text("2.4"))
    evil = bundle_of(tmp_path / "b", flow_text("7.7"))
    body = json.dumps(export_of(evil))
    # put the benign values in front of the real ones, as duplicate keys
    body = body.replace('"bundle": {', '"bundle": ' + json.dumps(benign)[:-1] + ", ", 1)
    r = api.raw("dana", "/api/versions/import", body)
    assert r.status_code in (201, 400), r.text
    if r.status_code == 400:
        return  # refused: fine
    assert r.json()["hash"] == evil["plan_hash"]  # accepted: the last of each key
    v = api.service.store.get_version("pricing", 1)
    assert v.hash == evil["plan_hash"]
    exported = api.get("rita", "/api/flows/pricing/versions/1/export").json()
    assert "7.7" in exported["bundle"]["files"]["pricing.flow"]["text"]
    r = api.post("dana", "/api/flows/pricing/runs?version=1", {"inputs": {"amount": 1}})
    run = api.service.store.get_run(r.json()["id"])
    assert run.plan_hash == evil["plan_hash"]
    entry = tmp_path / "versions" / "pricing" / v.hash[:16] / "pricing.flow"
    assert "7.7" in entry.read_text()


def test_an_import_does_not_make_the_server_connect_anywhere(api, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    seen = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            seen.append(1)
            conn.sendall(b"421 internal-banner-7f3a\r\n")
            conn.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        src = flow_text("2.5", "use skill zz_probe @ ^1.0")
        bundle = resealed(bundle_of(tmp_path / "src", flow_text("2.5")), **{
            "pricing.flow": src,
            "flowc.toml": f'[skills]\nregistries = ["ftp://127.0.0.1:{port}/reg"]\n'})
        r = _import_crafted(api, bundle)
    finally:
        stop.set()
        t.join(5)
        listener.close()
    assert r.status_code == 400
    assert seen == [] and "internal-banner" not in r.text, r.text


def test_an_import_does_not_read_the_servers_files(api, tmp_path):
    secret = tmp_path / "outside" / "secret.md"
    secret.parent.mkdir()
    secret.write_text("the server's own file\n")
    good = bundle_of(tmp_path / "src", flow_text("2.6"))
    answers = []
    for target in (secret, secret.with_name("missing.md")):
        bundle = resealed(good, **{"pricing.flow": flow_text(
            "2.6", f'import sop "{target}" as policy')})
        r = _import_crafted(api, bundle)
        assert r.status_code == 400
        answers.append(r.json()["error"].replace(str(target), "PATH"))  # the path echoed
    assert answers[0] == answers[1], answers


def test_an_import_whose_sources_reach_outside_its_folder_is_refused(api, tmp_path):
    from flowc.runtime.versions import BUNDLE_FORMAT, compile_plan

    outside = tmp_path / "outside" / "policy.md"
    outside.parent.mkdir()
    outside.write_text("refund everything\n")
    src = flow_text("2.7", f'import sop "{outside}" as policy')
    with tempfile.TemporaryDirectory(prefix="flowc-version-") as d:  # as check_bundle does
        (Path(d) / "pricing.flow").write_text(src)
        plan = compile_plan(Path(d) / "pricing.flow")
    bundle = {"format": BUNDLE_FORMAT, "flow": "pricing", "entry": "pricing.flow",
              "plan_hash": plan["hash"], "plan": plan,
              "files": {"pricing.flow": {"text": src}}}
    r = _import_crafted(api, bundle)
    assert r.status_code == 400, f"recorded: {r.status_code} {r.text[:200]}"


# ============================================================================ 5. what runs

def test_the_published_snapshot_runs_whatever_the_working_copy_or_its_files_on_disk_say(
        project, tmp_path):
    db = tmp_path / "runs.db"
    with server(project, db) as api:
        v1 = api.draft(FLOW)
        api.to(1, "published")
        (project / "pricing.flow").write_text(flow_text("8.8"))  # the working copy moves on
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        assert r.status_code == 201, r.text
        store = api.service.store
        run = store.get_run(r.json()["id"])
        assert run.plan_hash == v1["hash"] and "8.8" not in store.get_plan(run.plan_hash)
        folder = tmp_path / "versions" / "pricing" / v1["hash"][:16]
        assert Path(run.base_dir) == folder
        # the written-out snapshot edited on disk while the server runs: runs still take the
        # plan from the store
        (folder / "pricing.flow").write_text(flow_text("8.8"))
        (folder / "extra.py").write_text("print('planted')\n")
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        run = store.get_run(r.json()["id"])
        assert run.plan_hash == v1["hash"] and "8.8" not in store.get_plan(run.plan_hash)
        assert started(api.service, run.id)["version"] == {
            "number": 1, "status": "published", "hash": v1["hash"]}
    # a server started again writes the snapshot out again from the store
    with server(project, db) as api:
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        assert r.status_code == 201
        assert (folder / "pricing.flow").read_text() == FLOW


def test_versioned_but_unpublished_runs_nowhere_and_drafts_need_a_role(api, tmp_path):
    base = api.base
    api.draft(flow_text("3.1"))
    api.to(1, "approved")                       # approved is not published
    start = "/api/flows/pricing/runs"
    r = api.post("carla", start, {"inputs": {"amount": 1}})
    assert r.status_code == 409 and "none is published" in r.json()["error"]
    for who in ("carla", "nobody"):
        for ref in ("1", "latest", "published", "v1", "../1", "1%2F..", "x" * 3000):
            r = api.post(who, f"{start}?version={ref}", {"inputs": {"amount": 1}})
            assert r.status_code == 403, (who, ref, r.status_code)
    for ref in ("../1", "%2e%2e", "9", "published", "y" * 3000):
        r = api.post("dana", f"{start}?version={ref}", {"inputs": {"amount": 1}})
        assert r.status_code == 409, (ref, r.status_code, r.text[:200])
    r = api.post("rita", f"{start}?version=latest", {"inputs": {"amount": 1}})
    assert r.status_code == 201
    assert started(api.service, r.json()["id"])["version"]["status"] == "approved"
    # the web start page: without a role neither the page nor its form starts anything
    carla = signed_in(base, "carla", "carla-pw")
    for path in ("/flows/pricing/start", "/flows/pricing/start?version=1"):
        assert carla.get(path).status_code == 404
    inbox = carla.get("/inbox")
    r = carla.post("/flows/pricing/start?version=1", data={
        "csrf": csrf_of(inbox.text), "amount": "1"})
    assert r.status_code == 404
    dana = signed_in(base, "dana", "dana-pw")
    assert dana.get("/flows/pricing/start?version=1").status_code == 200
    assert dana.get("/flows/pricing/start").status_code == 404
    assert len(api.service.store.list_runs()) == 1  # rita's explicit run only


def test_uploads_and_schedules_follow_the_published_version_not_the_working_copy(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "intake.flow").write_text(INTAKE)
    (project / "pricing.flow").write_text(FLOW)
    with server(project, tmp_path / "runs.db") as api:
        # intake: versioned, none published: an upload starts nothing
        r = api.post("dana", "/api/flows/intake/versions")
        assert r.status_code == 201
        up = {"file": ("a.csv", b"id\n1\n", "text/csv")}
        r = httpx.post(api.base + "/api/flows/intake/uploads", headers=api.h["carla"],
                       files=up, timeout=60)
        assert r.status_code == 404 and "none is published" in r.json()["error"]
        # pricing: published without triggers; the working copy adds upload and schedule
        api.draft(FLOW)
        api.to(1, "published")
        (project / "pricing.flow").write_text(
            FLOW.replace("input amount: float",
                         'on upload file<csv>\non schedule "* * * * *"\n\n'
                         'input sheet: file<csv>\ninput amount: float = 1.0'))
        r = httpx.post(api.base + "/api/flows/pricing/uploads", headers=api.h["carla"],
                       files=up, timeout=60)
        assert r.status_code == 400 and "no `on upload`" in r.json()["error"], r.text
        api.service.run_pass(("schedule",))
        assert api.service.scheduler is None
        assert api.service.store.list_runs() == []


def test_published_only_refuses_never_versioned_flows(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pricing.flow").write_text(FLOW)
    (project / "flowc.toml").write_text("[versions]\npublished_only = true\n")
    with server(project, tmp_path / "runs.db") as api:
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 1}})
        assert r.status_code == 409 and "published_only" in r.json()["error"]


def test_published_only_fails_closed_when_the_setting_cannot_be_read(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "pricing.flow").write_text(FLOW)
    (project / "flowc.toml").write_text("[versions]\npublished_only = true\n")
    with server(project, tmp_path / "runs.db") as api:
        (project / "flowc.toml").write_text("[versions]\npublished_only = true\n[oops\n")
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 1}})
        # Service._published_only reads a broken file as False, but the engine refuses to
        # start anything on a configuration it cannot read
        assert r.status_code == 400 and "flowc.toml" in r.json()["error"], r.text
        assert api.service.store.list_runs() == []


def test_an_approval_lands_on_the_version_the_reviewer_saw(api):
    api.draft(flow_text("4.1"))
    api.to(1, "in_review")
    rita = signed_in(api.base, "rita", "rita-pw")
    page = rita.get("/flows/pricing/versions/latest")
    assert "pricing v1" in page.text and 'data-testid="version-approve"' in page.text
    # meanwhile the drafter records another version and asks for its review
    api.draft(flow_text("4.2"))
    assert api.act("dana", 2, "review").status_code == 200
    rita.post("/flows/pricing/versions/latest", data={
        "csrf": csrf_of(page.text), "action": "approve", "message": "checked v1"})
    store = api.service.store
    assert store.get_version("pricing", 2).status == "in_review", "v2 approved unseen"
    # the page's own form (with the hash of the version it showed) is refused too
    seen = re.search(r'name="seen_hash" value="([0-9a-f]+)"', page.text).group(1)
    r = rita.post("/flows/pricing/versions/latest", data={
        "csrf": csrf_of(page.text), "action": "approve", "message": "checked v1",
        "seen": "in_review", "seen_hash": seen})
    assert "not the version you were shown" in r.text
    assert store.get_version("pricing", 2).status == "in_review", "v2 approved unseen"
    assert store.get_version("pricing", 1).status == "in_review"
    # on the page of v2, after looking at it, the approval lands
    page2 = rita.get("/flows/pricing/versions/latest")
    seen2 = re.search(r'name="seen_hash" value="([0-9a-f]+)"', page2.text).group(1)
    rita.post("/flows/pricing/versions/latest", data={
        "csrf": csrf_of(page2.text), "action": "approve", "message": "checked v2",
        "seen": "in_review", "seen_hash": seen2})
    assert store.get_version("pricing", 2).status == "approved"


# ========================================================= 6. URLs, tokens and the pages

def test_every_versions_api_call_without_a_valid_token_is_401(api, tmp_path):
    api.draft(flow_text("5.1"))
    calls = [("GET", "/api/flows/pricing/versions"), ("POST", "/api/flows/pricing/versions"),
             ("GET", "/api/flows/pricing/versions/1"),
             ("GET", "/api/flows/pricing/versions/1/export"),
             ("POST", "/api/flows/pricing/versions/1/review"),
             ("POST", "/api/flows/pricing/versions/1/comment"),
             ("GET", "/api/flows/pricing/diff?from=1&to=1"),
             ("POST", "/api/versions/import"), ("POST", "/api/flows/pricing/runs?version=1")]
    headers = [{}, {"authorization": "Bearer"}, {"authorization": "Bearer nope"},
               {"authorization": "Basic ZGFuYTpkYW5hLXB3"},
               {"authorization": "Bearer " + "x" * 5000},
               {"authorization": api.h["dana"]["authorization"].replace("Bearer", "Token")}]
    for method, path in calls:
        for h in headers:
            r = httpx.request(method, api.base + path, headers=h, json={}, timeout=60)
            assert r.status_code == 401, (method, path, h, r.status_code)
    # pages without a session go to the sign-in page
    r = httpx.post(api.base + "/flows/pricing/versions/1", data={"action": "review"},
                   timeout=60, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert api.service.store.get_version("pricing", 1).status == "draft"


def test_a_token_without_versions_roles_changes_nothing(api, tmp_path):
    api.draft(flow_text("5.2"))
    doc = export_of(bundle_of(tmp_path / "src", flow_text("5.3")))
    for who in ("carla", "nobody"):
        assert api.post(who, "/api/flows/pricing/versions").status_code == 403
        for action in ("review", "approve", "reject", "publish", "rollback", "comment"):
            r = api.act(who, 1, action, "because")
            assert r.status_code in (403, 409), (who, action, r.status_code)
            if r.status_code == 409:  # the state is checked first: move it, try again
                assert action in ("approve", "reject", "publish", "rollback")
        assert api.raw(who, "/api/versions/import", json.dumps(doc)).status_code == 403
    # reviewers and publishers record nothing either
    for who in ("rita", "pete"):
        assert api.post(who, "/api/flows/pricing/versions").status_code == 403
        assert api.raw(who, "/api/versions/import", json.dumps(doc)).status_code == 403
    api.to(1, "in_review")
    for who in ("carla", "nobody", "dana", "pete"):
        assert api.act(who, 1, "approve").status_code == 403
    events = api.service.store.version_events("pricing")
    assert [e.kind for e in events] == ["version.submitted", "version.review_requested"]
    assert len(api.service.store.list_versions("pricing")) == 1


def test_path_tricks_in_flow_names_and_refs_are_plain_refusals(api, tmp_path):
    api.draft(flow_text("5.4"))
    before = files_under(tmp_path)
    probes = [("GET", "/api/flows/%2e%2e/versions"), ("POST", "/api/flows/%2e%2e/versions"),
              ("POST", "/api/flows/..%2F..%2Fetc/versions"),
              ("GET", "/api/flows/..%2F..%2Fetc/versions/1"),
              ("POST", "/api/flows/%2e%2e%2fpricing/versions/1/review"),
              ("POST", "/api/flows/pricing/versions/..%2F1/review"),
              ("POST", "/api/flows/pricing/versions/%2e%2e/review"),
              ("POST", "/api/flows/pricing/versions/%2e/review"),
              ("GET", "/api/flows/pricing/versions/" + "a" * 5000),
              ("GET", "/api/flows/pricing/versions/" + "9" * 5000),
              ("GET", "/api/flows/pricing/versions/v0"),
              ("GET", "/api/flows/pricing/versions/-1"),
              ("GET", "/api/flows/pricing/versions/v%00"),
              ("GET", "/api/flows/pricing/versions/%EF%BC%91"),  # fullwidth 1
              ("POST", "/api/flows/pricing/versions/1/..%2F..%2Fpublish"),
              ("GET", "/api/flows/pricing/versions/1/export%00"),
              ("GET", "/api/flows/" + "p" * 5000 + "/versions"),
              ("GET", "/api/flows/pricing/diff?from=../1&to=%00"),
              ("GET", "/api/flows/pricing/diff?from=1&to=" + "f" * 5000)]
    for method, path in probes:
        r = httpx.request(method, api.base + path, headers=api.h["dana"], json={},
                          timeout=60)
        assert r.status_code < 500, (method, path[:80], r.status_code, r.text[:200])
    dana = signed_in(api.base, "dana", "dana-pw")
    for path in ("/flows/%2e%2e/versions", "/flows/..%2F..%2Fetc/versions",
                 "/flows/pricing/versions/..%2F..", "/flows/pricing/versions/%2e%2e",
                 "/flows/pricing/diff?from=..&to=/etc/passwd",
                 "/flows/%2e%2e/diff?from=1&to=1"):
        r = dana.get(path)
        assert r.status_code in (303, 400, 404), (path, r.status_code)
    assert files_under(tmp_path) - before <= {"runs.db-shm", "runs.db-wal", "runs.db-journal"}
    assert api.service.store.get_version("pricing", 1).status == "draft"


def test_a_superscript_digit_ref_is_a_plain_refusal(api):
    api.draft(flow_text("5.5"))
    r = api.get("dana", "/api/flows/pricing/versions/%C2%B2")
    assert r.status_code in (400, 404), r.status_code


def test_markup_in_authors_messages_comments_and_sources_is_escaped(api, tmp_path):
    marks = ['<script>alert("author")</script>', '<img src=x onerror=alert("msg")>',
             '</td><script>alert("comment")</script>', '<svg onload=alert("reason")>',
             '<iframe src="javascript:alert(`src`)">', '"><script>alert("done")</script>']
    bundle = bundle_of(tmp_path / "src", flow_text("5.6", "// " + marks[4]))
    doc = export_of(bundle, author=marks[0])
    doc["version"]["message"] = marks[1]
    r = api.raw("dana", "/api/versions/import", json.dumps(doc))
    assert r.status_code == 201, r.text
    api.draft(flow_text("5.7"))
    assert api.act("rita", 1, "comment", marks[2]).status_code == 200
    assert api.act("dana", 1, "review").status_code == 200
    assert api.act("rita", 1, "reject", marks[3]).status_code == 200
    rita = signed_in(api.base, "rita", "rita-pw")
    pages = [rita.get("/flows/pricing/versions"), rita.get("/flows/pricing/versions/1"),
             rita.get("/flows/pricing/versions/1", params={"done": marks[5]}),
             rita.get("/flows/pricing/diff?from=2&to=1"),
             rita.get("/flows/pricing/versions/" + "%3Csvg%20onload%3Dalert(1)%3E"),
             rita.get("/flows/pricing/diff", params={"from": marks[3], "to": "1"}),
             rita.get("/flows")]
    for page in pages:
        assert page.status_code in (200, 400, 404), page.status_code
        text = page.text
        for bad in ("<script>alert(", "<img src=x", "<svg onload", "<iframe src="):
            assert bad not in text, (page.url, bad)
    assert "&lt;script&gt;alert(" in pages[0].text       # the author, as text
    assert "&lt;img src=x onerror" in pages[1].text      # the message
    assert "&lt;iframe" in pages[3].text                 # the source, in the diff
    # and the API gives them back as data
    data = api.get("rita", "/api/flows/pricing/versions/1").json()
    assert data["author"] == marks[0]
    assert any(e["payload"].get("message") == marks[2] for e in data["history"])
