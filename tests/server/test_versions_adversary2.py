"""A second outside review of flow versions (docs/versions.md): separation of duties across
imports, decisions landing on the version the person saw, tamper detection in the store and
in a long-running server, anchored histories, and one-line errors on the command line.

Each test is one attack, asserted to hold (the test fails if it breaks). The review found six
breaks, each fixed since and its test kept: a deleted version row not named (and the working
copy run in its place), a server's cached check letting a later tamper run, an unreadable event
payload or anchor line crashing verify (and the server's start), an unreadable snapshot
crashing export and diff, and a comment landing on a version the person was not shown.
Servers run without their worker: what a run would run is read from the store."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
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


def flow_text(rate: str) -> str:
    return FLOW.replace("1.1, 2", f"{rate}, 2")


PEOPLE = [("dana", ["drafter"], "dana-pw", None), ("rita", ["reviewer"], "rita-pw", None),
          ("rex", ["reviewer"], None, None), ("rue", ["reviewer"], None, None),
          ("pete", ["publisher"], None, None), ("carla", ["support_lead"], None, None),
          ("ada", ["admin"], None, None),
          ("solo", ["drafter", "reviewer", "publisher"], None, None)]
ROLES = {name: roles for name, roles, *_ in PEOPLE}


# ------------------------------------------------------------------------------ helpers

class Api:
    def __init__(self, base, service, project):
        self.base, self.service, self.project = base, service, project
        self.h = {n: {"authorization": f"Bearer {token_for(service, n)}"} for n, *_ in PEOPLE}

    def post(self, who, path, body=None):
        return httpx.post(self.base + path, headers=self.h[who], json=body or {}, timeout=120)

    def raw(self, who, path, content):
        return httpx.post(self.base + path, headers=self.h[who], content=content, timeout=120)

    def get(self, who, path):
        return httpx.get(self.base + path, headers=self.h[who], timeout=120)

    def act(self, who, ref, action, body=None):
        return self.post(who, f"/api/flows/pricing/versions/{ref}/{action}", body)

    def draft(self, text, who="dana"):
        (self.project / "pricing.flow").write_text(text)
        r = self.post(who, "/api/flows/pricing/versions", {"message": "m"})
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pricing.flow").write_text(FLOW)
    return folder


@contextmanager
def server(project, store_path, *, signin=False, **config):
    config.setdefault("worker", False)
    people = [(n, r, pw if signin else None, e) for n, r, pw, e in PEOPLE]
    with serving(project, store_path, people=people, **config) as (base, service):
        yield Api(base, service, project)


def open_db(path):
    from flowc.runtime.store import open_store

    return open_store(str(path))


def sql(db: Path, *statements):
    c = sqlite3.connect(db)
    try:
        with c:
            for s in statements:
                c.execute(*s) if isinstance(s, tuple) else c.execute(s)
    finally:
        c.close()


def verify(db: Path, flow="pricing") -> list[str]:
    st = open_db(db)
    try:
        return st.verify_version_chain(flow)
    finally:
        st.close()


def flowc(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "flowc", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def one_line_error(r) -> bool:
    """A refusal as the guarantee has it: non-zero exit, one line on stderr, no traceback,
    not flowc's 'internal error' (a crash reported as a bug)."""
    err = r.stderr.strip()
    return (r.returncode != 0 and err.count("\n") == 0 and "Traceback" not in r.stderr
            and "internal error" not in r.stderr and err != "")


def bundle_of(folder: Path, text: str) -> dict:
    from flowc.runtime.versions import build_bundle

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pricing.flow").write_text(text)
    return build_bundle(folder / "pricing.flow")


def export_of(bundle: dict, author="dana") -> str:
    from flowc.runtime.versions import EXPORT_FORMAT, bundle_sha256

    return json.dumps({
        "format": EXPORT_FORMAT, "bundle": bundle, "bundle_sha256": bundle_sha256(bundle),
        "version": {"flow": bundle["flow"], "number": 7, "hash": bundle["plan_hash"],
                    "status": "published", "author": author, "message": "from elsewhere",
                    "origin": None, "created_at": 0.0}, "history": []})


def history_db(tmp_path: Path, project: Path, name="hist.db") -> Path:
    """pricing v1 published (dana, rita, pete), a comment, v2 a draft (dana), people."""
    from flowc.runtime.versions import comment, submit, transition

    db = tmp_path / name
    st = open_db(db)
    try:
        for n, roles, *_ in PEOPLE:
            st.set_person(n, roles=roles)
        submit(st, project / "pricing.flow", "dana", "first")
        transition(st, "pricing", "1", "review", "dana", ["drafter"])
        transition(st, "pricing", "1", "approve", "rita", ["reviewer"], message="fine")
        transition(st, "pricing", "1", "publish", "pete", ["publisher"])
        comment(st, "pricing", "1", "rita", ["reviewer"], "looks good")
        (project / "pricing.flow").write_text(flow_text("1.9"))
        submit(st, project / "pricing.flow", "dana", "second")
        (project / "pricing.flow").write_text(FLOW)
    finally:
        st.close()
    return db


def cli_store(tmp_path: Path) -> Path:
    """An empty store with the people recorded (for command-line tests)."""
    db = tmp_path / "cli.db"
    st = open_db(db)
    try:
        for n, roles, *_ in PEOPLE:
            st.set_person(n, roles=roles)
    finally:
        st.close()
    return db


def anchor_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ==================================================================== 1. separation of duties

@pytest.mark.parametrize("author", ["ghost", "Solo", "solo ", " solo", "s\u043elo", "SOLO",
                                    "solo\u200b", "rita", "pete"])
def test_whoever_imports_cannot_approve_or_publish_whatever_author_the_file_names(
        tmp_path, author):
    from flowc.runtime.versions import (
        VersionRefused,
        allowed_actions,
        import_version,
        transition,
    )

    db = cli_store(tmp_path)
    st = open_db(db)
    try:
        v = import_version(st, export_of(bundle_of(tmp_path / "src", flow_text("3.1")),
                                         author=author), "solo")
        assert v.author == author and v.status == "draft"
        transition(st, "pricing", "1", "review", "solo", ROLES["solo"])
        v = st.get_version("pricing", 1)
        rec = st.version_submission("pricing", 1).actor
        assert rec == "solo"
        assert "approve" not in allowed_actions(v, "solo", ROLES["solo"], recorded_by=rec)
        with pytest.raises(VersionRefused, match="separation of duties"):
            transition(st, "pricing", "1", "approve", "solo", ROLES["solo"])
        approver = "rex" if author != "rex" else "rue"
        transition(st, "pricing", "1", "approve", approver, ROLES[approver])
        with pytest.raises(VersionRefused, match="separation of duties"):
            transition(st, "pricing", "1", "publish", "solo", ROLES["solo"])
        if author == "pete":  # the file's author is bound too, even a real person's name
            with pytest.raises(VersionRefused, match="its author cannot publish"):
                transition(st, "pricing", "1", "publish", "pete", ROLES["pete"])
            transition(st, "pricing", "1", "publish", "ada", ROLES["ada"])
        else:
            transition(st, "pricing", "1", "publish", "pete", ROLES["pete"])
        assert st.get_version("pricing", 1).status == "published"
        assert st.verify_version_chain("pricing") == []
    finally:
        st.close()


def test_an_admin_importer_through_the_api_is_bound_and_a_second_import_changes_nothing(
        project, tmp_path):
    doc = export_of(bundle_of(tmp_path / "src", flow_text("3.2")), author="rita")
    with server(project, tmp_path / "runs.db") as api:
        r = api.raw("ada", "/api/versions/import", doc)
        assert r.status_code == 201 and r.json()["actions"] == ["review"], r.text
        # the same file again, by another drafter: refused, the importer stays ada
        again = api.raw("solo", "/api/versions/import", doc)
        assert again.status_code == 409, again.text
        store = api.service.store
        assert store.version_submission("pricing", 1).actor == "ada"
        assert api.act("ada", 1, "review").status_code == 200
        assert api.act("ada", 1, "approve").status_code == 403      # the importer
        assert api.act("rita", 1, "approve").status_code == 403     # the file's author
        assert api.act("rex", 1, "approve").status_code == 200
        r = api.act("ada", 1, "publish")
        assert r.status_code == 403 and "recorded" in r.json()["error"], r.text
        assert api.get("ada", "/api/flows/pricing/versions/1").json()["actions"] == []
        assert api.act("pete", 1, "publish").status_code == 200
        assert [e.actor for e in store.version_events("pricing")] == [
            "ada", "ada", "rex", "pete"]


def test_cli_import_then_approval_by_the_importer_is_refused_on_both_paths(project,
                                                                          tmp_path):
    db = cli_store(tmp_path)
    export = tmp_path / "v.json"
    export.write_text(export_of(bundle_of(tmp_path / "src", flow_text("3.3")), author="ghost"))
    r = flowc("version", "import", export, "--as", "solo", "--store", db, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = flowc("version", "import", export, "--as", "dana", "--store", db, cwd=tmp_path)
    assert one_line_error(r) and "nothing to import" in r.stderr, r.stderr
    assert flowc("version", "review", "pricing", "1", "--as", "solo", "--store", db,
                 cwd=tmp_path).returncode == 0
    r = flowc("version", "approve", "pricing", "1", "--as", "solo", "--store", db,
              cwd=tmp_path)
    assert one_line_error(r) and "separation of duties" in r.stderr, r.stderr
    # and through the server over the same store
    with server(project, db) as api:
        assert api.act("solo", 1, "approve").status_code == 403
        assert api.act("rita", 1, "approve").status_code == 200
        assert api.act("solo", 1, "publish").status_code == 403
    assert verify(db) == []


# ============================================================ 2. decisions on what was seen

@pytest.mark.parametrize("ref", ["2", "v2", "V2", "02", "v02", "%202", "2%20", "%09v2"])
def test_numeric_refs_in_every_spelling_honour_if_hash(project, tmp_path, ref):
    with server(project, tmp_path / "runs.db") as api:
        v1 = api.draft(flow_text("4.1"))
        v2 = api.draft(flow_text("4.2"))
        r = api.act("dana", ref, "review", {"if_hash": v1["hash"]})
        assert r.status_code == 409 and "not the version you were shown" in r.json()["error"]
        for stale in (v2["hash"][:12], v2["hash"].upper(), "", v2["hash"] + " "):
            assert api.act("dana", ref, "review", {"if_hash": stale}).status_code == 409
        store = api.service.store
        assert [v.status for v in store.list_versions("pricing")] == ["draft", "draft"]
        r = api.act("dana", ref, "review", {"if_hash": v2["hash"], "if_status": "draft"})
        assert r.status_code == 200 and r.json()["number"] == 2, r.text
        assert store.get_version("pricing", 1).status == "draft"


def test_hostile_refs_are_4xx_and_change_nothing(project, tmp_path):
    with server(project, tmp_path / "runs.db") as api:
        api.draft(flow_text("4.3"))
        for ref in ("9" * 8, "9" * 65, "a" * 5000, "%C3%A9t%C3%A9", "%EF%BC%92", "%D9%A1",
                    "v", "v-1", "-1", "0", "v0", "1e3", "0x1", "%E2%80%8B1", "1%00",
                    "latest%0a", "publishedx"):
            r = api.act("dana", ref, "review", {"if_hash": "0" * 64})
            assert 400 <= r.status_code < 500, (ref[:30], r.status_code, r.text[:200])
        assert api.service.store.get_version("pricing", 1).status == "draft"
        assert len(api.service.store.version_events("pricing")) == 1


def test_page_decisions_on_movable_refs_need_the_hash_the_page_showed(project, tmp_path):
    with server(project, tmp_path / "runs.db", signin=True) as api:
        v1 = api.draft(flow_text("4.4"))
        for who, action in (("dana", "review"), ("rita", "approve"), ("pete", "publish")):
            assert api.act(who, 1, action).status_code == 200
        api.draft(flow_text("4.5"))
        assert api.act("dana", 2, "review").status_code == 200
        rita = signed_in(api.base, "rita", "rita-pw")
        page = rita.get("/flows/pricing/versions/2")
        csrf = csrf_of(page.text)
        store = api.service.store
        before = len(store.version_events("pricing"))
        for ref in ("latest", "v2", v1["hash"][:8], store.get_version("pricing", 2).hash[:10],
                    "%202", "published", "LATEST"):
            r = rita.post(f"/flows/pricing/versions/{ref}", data={
                "csrf": csrf, "action": "approve", "seen": "in_review"})
            assert "does not say which version you were shown" in r.text, (ref, r.text[:300])
            # with the hash of another version than the ref names: refused
            r = rita.post(f"/flows/pricing/versions/{ref}", data={
                "csrf": csrf, "action": "reject", "message": "no", "seen": "in_review",
                "seen_hash": v1["hash"] if ref != v1["hash"][:8] else "0" * 64})
            assert r.status_code != 303, (ref, r.status_code)
        assert len(store.version_events("pricing")) == before
        assert store.get_version("pricing", 2).status == "in_review"
        # the page's own form lands
        seen = re.search(r'name="seen_hash" value="([0-9a-f]+)"', page.text).group(1)
        r = rita.post("/flows/pricing/versions/latest", data={
            "csrf": csrf, "action": "approve", "seen": "in_review", "seen_hash": seen})
        assert r.status_code == 303 and store.get_version("pricing", 2).status == "approved"


def test_an_approval_of_latest_races_a_new_draft_and_never_lands_on_the_unseen_one(
        project, tmp_path):
    """Two processes (two store connections) at once: a reviewer approving `latest` with
    the hash they saw, a drafter recording and sending for review a new version."""
    from flowc.runtime.versions import VersionConflict, submit, transition

    db = cli_store(tmp_path)
    setup = open_db(db)
    outcomes = []
    try:
        for rnd in range(8):
            (project / "pricing.flow").write_text(flow_text(f"5.{rnd}1"))
            seen = submit(setup, project / "pricing.flow", "dana", "seen")
            transition(setup, "pricing", "latest", "review", "dana", ["drafter"])
            (project / "pricing.flow").write_text(flow_text(f"5.{rnd}2"))
            barrier = threading.Barrier(2)
            result = {}

            def reviewer(seen=seen, result=result, barrier=barrier):
                st = open_db(db)
                try:
                    barrier.wait()
                    try:
                        v = transition(st, "pricing", "latest", "approve", "rita", ["reviewer"],
                                       seen="in_review", seen_hash=seen.hash)
                        result["approved"] = v.number
                    except VersionConflict:
                        result["approved"] = None
                finally:
                    st.close()

            def drafter(barrier=barrier, result=result):
                st = open_db(db)
                try:
                    barrier.wait()
                    v = submit(st, project / "pricing.flow", "dana", "unseen")
                    transition(st, "pricing", str(v.number), "review", "dana", ["drafter"])
                    result["new"] = v.number
                finally:
                    st.close()

            threads = [threading.Thread(target=reviewer), threading.Thread(target=drafter)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert result["new"] == seen.number + 1
            assert result["approved"] in (seen.number, None), result
            assert setup.get_version("pricing", result["new"]).status == "in_review"
            outcomes.append(result["approved"])
        assert setup.verify_version_chain("pricing") == []
    finally:
        setup.close()


def test_reviewers_in_separate_connections_at_once_exactly_one_decision_lands(tmp_path,
                                                                             project):
    from flowc.runtime.versions import VersionConflict, submit, transition

    db = cli_store(tmp_path)
    st = open_db(db)
    v = submit(st, project / "pricing.flow", "dana", "m")
    transition(st, "pricing", "1", "review", "dana", ["drafter"])
    jobs = [("rita", "approve"), ("rex", "reject"), ("rue", "approve"), ("ada", "reject"),
            ("solo", "approve")]
    barrier = threading.Barrier(len(jobs))
    wins, conflicts = [], []

    def go(who, action):
        own = open_db(db)
        try:
            barrier.wait()
            transition(own, "pricing", "latest", action, who, ROLES[who], message="why",
                       seen="in_review", seen_hash=v.hash)
            wins.append((who, action))
        except VersionConflict:
            conflicts.append(who)
        finally:
            own.close()

    threads = [threading.Thread(target=go, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert len(wins) == 1 and len(conflicts) == len(jobs) - 1, (wins, conflicts)
        events = st.version_events("pricing")
        assert len(events) == 3 and events[-1].actor == wins[0][0]
        assert st.verify_version_chain("pricing") == []
    finally:
        st.close()


def test_a_comment_with_a_stale_if_hash_is_refused(project, tmp_path):
    with server(project, tmp_path / "runs.db") as api:
        v1 = api.draft(flow_text("4.6"))
        api.draft(flow_text("4.7"))
        r = api.act("rita", "latest", "comment", {"message": "v1 is fine",
                                                  "if_hash": v1["hash"]})
        assert r.status_code == 409, (r.status_code, r.text[:200])


# ===================================================================== 3. tamper detection

TAMPERS = {
    "number_moved": ["UPDATE flow_versions SET number = 3 WHERE flow = 'pricing' AND number = 2"],
    "numbers_swapped": [
        "UPDATE flow_versions SET number = -1 WHERE flow = 'pricing' AND number = 1",
        "UPDATE flow_versions SET number = 1 WHERE flow = 'pricing' AND number = 2",
        "UPDATE flow_versions SET number = 2 WHERE flow = 'pricing' AND number = -1"],
    "bundles_swapped": [
        "UPDATE flow_versions SET bundle = (SELECT bundle FROM flow_versions WHERE number = 2)"
        " WHERE flow = 'pricing' AND number = 1"],
    "bundles_and_shas_swapped": [
        "UPDATE flow_versions SET bundle = (SELECT bundle FROM flow_versions WHERE number = 2),"
        " bundle_sha256 = (SELECT bundle_sha256 FROM flow_versions WHERE number = 2)"
        " WHERE flow = 'pricing' AND number = 1"],
    "hash_changed": ["UPDATE flow_versions SET hash = 'ab' || substr(hash, 3) WHERE number = 1"],
    "author_changed": ["UPDATE flow_versions SET author = 'rita' WHERE number = 2"],
    "author_case": ["UPDATE flow_versions SET author = 'Dana' WHERE number = 2"],
    "status_published": [
        "UPDATE flow_versions SET status = 'superseded' WHERE number = 1",
        "UPDATE flow_versions SET status = 'published' WHERE number = 2"],
    "status_approved": ["UPDATE flow_versions SET status = 'approved' WHERE number = 2"],
    "snapshot_whitespace": ["UPDATE flow_versions SET bundle = bundle || ' ' WHERE number = 1"],
    "event_payload_hash": [
        "UPDATE version_events SET payload_json = replace(payload_json, 'first', 'FIRST')"
        " WHERE seq = 1"],
    "chain_head_dropped": ["DELETE FROM version_chains WHERE flow = 'pricing'"],
    "history_wiped": ["DELETE FROM version_events WHERE flow = 'pricing'",
                      "DELETE FROM version_chains WHERE flow = 'pricing'"],
    "events_wiped_head_kept": ["DELETE FROM version_events WHERE flow = 'pricing'"],
    "submitted_event_dropped_relinked": [],   # done in code below
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_row_snapshot_and_event_tampering_is_named(project, tmp_path, name):
    db = history_db(tmp_path, project)
    assert verify(db) == []
    sql(db, *TAMPERS[name])
    if name == "submitted_event_dropped_relinked":
        _drop_event_and_relink(db, kind="version.submitted", version=2)
    problems = verify(db)
    assert problems, name
    r = flowc("versions", "pricing", "--verify", "--store", db, cwd=tmp_path)
    assert r.returncode == 1 and "history broken:" in r.stdout, (r.stdout, r.stderr)
    assert "internal error" not in r.stderr


def _drop_event_and_relink(db: Path, *, kind: str, version: int) -> None:
    """Remove one event and recompute the chain after it (seq, prev_hash, hash, head)."""
    from flowc.runtime.store.chain import AUDIT_GENESIS, _audit_hash_text, _normalised

    c = sqlite3.connect(db)
    with c:
        rows = c.execute("SELECT seq, ts, kind, actor, payload_json FROM version_events"
                         " WHERE flow = 'pricing' ORDER BY seq").fetchall()
        keep = [r for r in rows if not (r[2] == kind and json.loads(r[4]).get("version")
                                       == version)]
        c.execute("DELETE FROM version_events WHERE flow = 'pricing'")
        prev = AUDIT_GENESIS
        for seq, (_, ts, k, actor, text) in enumerate(keep, 1):
            _, canon = _normalised(json.loads(text))
            digest = _audit_hash_text(prev, "versions/pricing", seq, ts, k, actor, canon)
            c.execute("INSERT INTO version_events VALUES ('pricing', ?, ?, ?, ?, ?, ?, ?)",
                      (seq, ts, k, actor, text, prev, digest))
            prev = digest
        c.execute("UPDATE version_chains SET seq = ?, head = ? WHERE flow = 'pricing'",
                  (len(keep), prev))
    c.close()


def test_a_version_moved_to_another_flow_is_named_in_that_flow(project, tmp_path):
    db = history_db(tmp_path, project)
    sql(db, "UPDATE flow_versions SET flow = 'intake' WHERE flow = 'pricing' AND number = 2")
    assert verify(db, "intake"), "a version without history in its new flow verifies"


def test_a_deleted_version_row_is_named(project, tmp_path):
    db = history_db(tmp_path, project)
    sql(db, "DELETE FROM flow_versions WHERE flow = 'pricing' AND number = 2")
    assert verify(db), "v2 is gone from the table and the history still verifies"


def test_deleting_all_version_rows_neither_verifies_nor_runs_the_working_copy(project,
                                                                             tmp_path):
    db = history_db(tmp_path, project)
    (project / "pricing.flow").write_text(flow_text("7.77"))  # never reviewed
    sql(db, "DELETE FROM flow_versions WHERE flow = 'pricing'")
    problems = verify(db)
    with server(project, db) as api:
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        ran_working_copy = r.status_code == 201
    assert problems and not ran_working_copy, (problems, r.status_code, r.text[:200])


@pytest.mark.parametrize("payload", ["{not json", "NaN"])
def test_an_event_payload_made_unreadable_is_named_not_a_crash(project, tmp_path, payload):
    db = history_db(tmp_path, project)
    sql(db, ("UPDATE version_events SET payload_json = ? WHERE flow = 'pricing' AND seq = 2",
             (payload,)))
    r = flowc("versions", "pricing", "--verify", "--store", db, cwd=tmp_path)
    assert r.returncode == 1 and "history broken: event 2" in r.stdout, (r.stdout, r.stderr)


def test_an_unreadable_event_payload_refuses_runs_and_does_not_stop_the_server(project,
                                                                               tmp_path):
    db = history_db(tmp_path, project)
    sql(db, "UPDATE version_events SET payload_json = '{not json' WHERE flow = 'pricing'"
            " AND seq = 2")
    started = False
    try:
        with server(project, db) as api:
            started = True
            r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
            code = r.status_code
            page = api.get("dana", "/api/flows/pricing/versions")
    except json.JSONDecodeError as e:
        raise AssertionError(f"the server did not start: {e}") from None
    assert started and code == 409 and page.status_code == 200, code


def test_a_status_tamper_after_the_server_verified_a_version_still_refuses(project,
                                                                          tmp_path):
    db = history_db(tmp_path, project)
    with server(project, db) as api:
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        assert r.status_code == 201, r.text   # v1 verified and cached
        sql(db, "UPDATE flow_versions SET status = 'superseded' WHERE number = 1",
            "UPDATE flow_versions SET status = 'published' WHERE number = 2")
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        assert r.status_code == 409 and "does not verify" in r.json()["error"], r.text
        # put back: it runs again
        sql(db, "UPDATE flow_versions SET status = 'published' WHERE number = 1",
            "UPDATE flow_versions SET status = 'draft' WHERE number = 2")
        assert api.post("carla", "/api/flows/pricing/runs",
                        {"inputs": {"amount": 10}}).status_code == 201
        # a second server over the same store (another process) checks for itself
        sql(db, "UPDATE version_events SET actor = 'dana' WHERE kind = 'version.approved'")
    with server(project, db) as fresh:
        r = fresh.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        assert r.status_code == 409 and "does not verify" in r.json()["error"], r.text


def test_an_event_rewritten_after_a_verified_run_stops_the_running_server(project, tmp_path):
    db = history_db(tmp_path, project)
    with server(project, db) as api:
        assert api.post("carla", "/api/flows/pricing/runs",
                        {"inputs": {"amount": 10}}).status_code == 201
        sql(db, "UPDATE version_events SET actor = 'dana' WHERE kind = 'version.approved'")
        assert verify(db), "verify names the rewritten approval"
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        assert r.status_code == 409, (r.status_code, r.text[:200])


def test_a_published_row_pointed_at_another_plan_after_a_verified_run_does_not_run(
        project, tmp_path):
    from flowc.runtime.store.chain import canonical_json

    db = history_db(tmp_path, project)
    evil = bundle_of(tmp_path / "evil", flow_text("9.99"))
    with server(project, db) as api:
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        assert r.status_code == 201, r.text
        sql(db, ("UPDATE flow_versions SET hash = ?, bundle = ? WHERE flow = 'pricing' AND"
                 " number = 1", (evil["plan_hash"], canonical_json(evil))))
        assert verify(db), "verify names it"
        r = api.post("carla", "/api/flows/pricing/runs", {"inputs": {"amount": 10}})
        store = api.service.store
        ran = (r.status_code == 201 and store.get_run(r.json()["id"]).plan_hash
               == evil["plan_hash"])
        assert not ran and r.status_code == 409, (r.status_code, r.text[:200])


# ============================================================================ 4. anchoring

def test_every_cli_version_command_anchors_its_head_and_refusals_append_nothing(project,
                                                                              tmp_path):
    db = cli_store(tmp_path)
    heads = tmp_path / "vault" / "deep" / "heads.jsonl"
    flow = project / "pricing.flow"
    common = ["--store", db, "--anchor", heads]
    steps = [("version", "submit", flow, "--as", "dana", "-m", "one"),
             ("version", "review", "pricing", "1", "--as", "dana"),
             ("version", "comment", "pricing", "1", "--as", "rita", "-m", "hm"),
             ("version", "approve", "pricing", "1", "--as", "rita"),
             ("publish", "pricing", "1", "--as", "pete")]
    refused = [("version", "approve", "pricing", "1", "--as", "rita"),     # not in review
               ("version", "approve", "pricing", "latest", "--as", "dana"),
               ("publish", "pricing", "1", "--as", "dana"),
               ("version", "comment", "pricing", "1", "--as", "carla", "-m", "x"),
               ("version", "submit", flow, "--as", "dana"),                   # nothing new
               ("version", "review", "pricing", "v9", "--as", "dana")]
    for n, step in enumerate(steps, 1):
        r = flowc(*step, *common, cwd=tmp_path)
        assert r.returncode == 0, (step, r.stderr)
        lines = anchor_lines(heads)
        assert len(lines) == n and lines[-1]["run"] == "versions/pricing"
        st = open_db(db)
        try:
            assert (lines[-1]["seq"], lines[-1]["head"]) == st.version_chain_head("pricing")
        finally:
            st.close()
    size = heads.stat().st_size
    for step in refused:
        r = flowc(*step, *common, cwd=tmp_path)
        assert one_line_error(r), (step, r.returncode, r.stderr)
    assert heads.stat().st_size == size
    r = flowc("versions", "pricing", "--verify", *common, cwd=tmp_path)
    assert r.returncode == 0 and "every head anchored" in r.stdout, r.stdout + r.stderr
    # rewrite the approver with every hash recomputed: named against the anchor
    _rewrite(db, lambda kind, actor: "ada" if kind == "version.approved" else actor)
    r = flowc("versions", "pricing", "--verify", *common, cwd=tmp_path)
    assert r.returncode == 1 and "rewritten" in r.stdout, r.stdout
    r = flowc("store", "check", "--store", db, "--anchor", heads, cwd=tmp_path)
    assert r.returncode == 1 and "pricing: event" in r.stdout, r.stdout


def _rewrite(db: Path, change) -> None:
    from flowc.runtime.store.chain import AUDIT_GENESIS, _audit_hash_text, _normalised

    c = sqlite3.connect(db)
    with c:
        prev = AUDIT_GENESIS
        for seq, ts, kind, actor, text in c.execute(
                "SELECT seq, ts, kind, actor, payload_json FROM version_events WHERE"
                " flow = 'pricing' ORDER BY seq").fetchall():
            actor = change(kind, actor)
            _, canon = _normalised(json.loads(text))
            digest = _audit_hash_text(prev, "versions/pricing", seq, ts, kind, actor, canon)
            c.execute("UPDATE version_events SET actor = ?, prev_hash = ?, hash = ? WHERE"
                      " flow = 'pricing' AND seq = ?", (actor, prev, digest, seq))
            prev = digest
        c.execute("UPDATE version_chains SET head = ? WHERE flow = 'pricing'", (prev,))
    c.close()


def test_an_anchor_that_cannot_be_written_is_a_one_line_warning_and_the_action_stays(
        project, tmp_path):
    db = cli_store(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    for bad in (blocker / "heads.jsonl", tmp_path):     # under a file; a folder
        r = flowc("version", "submit", project / "pricing.flow", "--as", "dana", "--store",
                  db, "--anchor", bad, "-m", str(bad), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        err = r.stderr.strip()
        assert err.count("\n") == 0 and err.startswith("flowc: warning:"), err
        (project / "pricing.flow").write_text(flow_text("8.1"))
    st = open_db(db)
    try:
        assert [v.number for v in st.list_versions("pricing")] == [2, 1]
    finally:
        st.close()
    # through flowc.toml's [audit] anchor, from the project folder, the same
    (project / "flowc.toml").write_text(f'[audit]\nanchor = "{blocker}/x/heads.jsonl"\n')
    r = flowc("version", "review", "pricing", "2", "--as", "dana", "--store", db,
              cwd=project)
    assert r.returncode == 0 and r.stderr.strip().startswith("flowc: warning:"), r.stderr


@pytest.mark.parametrize("line", ["garbage", "[1, 2]", "null",
                                  '{"run": "versions/pricing", "seq": "x", "head": "h",'
                                  ' "at": 0}',
                                  '{"run": "versions/pricing", "head": "h", "at": 0}'])
def test_an_anchor_with_garbage_lines_is_a_one_line_refusal(project, tmp_path, line):
    db = history_db(tmp_path, project)
    heads = tmp_path / "heads.jsonl"
    heads.write_text(line + "\n")
    r = flowc("versions", "pricing", "--verify", "--store", db, "--anchor", heads,
              cwd=tmp_path)
    assert one_line_error(r), (r.returncode, r.stderr)
    r = flowc("store", "check", "--store", db, "--anchor", heads, cwd=tmp_path)
    assert one_line_error(r), (r.returncode, r.stderr)


@pytest.mark.parametrize("line", [
    '{"run": "versions/pricing", "seq": 1e999, "head": "h", "at": 0}',
    '{"run": "versions/pricing", "seq": 1, "head": "h", "at": 1e999}',
    '{"run": "versions/pricing", "seq": 1, "head": "h", "at": NaN}',
    '{"run": "versions/pricing", "seq": 1, "head": "h", "at": -1e300}'],
    ids=["seq_inf", "at_inf", "at_nan", "at_huge_negative"])
def test_an_anchor_line_with_out_of_range_numbers_is_a_one_line_refusal(project, tmp_path,
                                                                         line):
    db = history_db(tmp_path, project)
    heads = tmp_path / "heads.jsonl"
    heads.write_text(line + "\n")
    for args in (("versions", "pricing", "--verify"), ("store", "check")):
        r = flowc(*args, "--store", db, "--anchor", heads, cwd=tmp_path)
        assert r.returncode in (1, 2, 4) and "internal error" not in r.stderr, (args, r.stderr)


def test_server_actions_anchor_refusals_do_not_and_a_broken_anchor_keeps_the_action(
        project, tmp_path):
    heads = tmp_path / "vault" / "heads.jsonl"
    (project / "flowc.toml").write_text(f'[audit]\nanchor = "{heads}"\n')
    src = bundle_of(tmp_path / "src", flow_text("6.1"))
    with server(project, tmp_path / "runs.db") as api:
        store = api.service.store
        api.draft(flow_text("6.2"))
        assert api.raw("solo", "/api/versions/import", export_of(src, "x")).status_code == 201
        ok = [("dana", 1, "review", {}), ("rita", 1, "comment", {"message": "c"}),
              ("rita", 1, "approve", {})]
        for who, n, action, body in ok:
            assert api.act(who, n, action, body).status_code == 200, action
        lines = anchor_lines(heads)
        assert len(lines) == 5 and {x["run"] for x in lines} == {"versions/pricing"}
        assert (lines[-1]["seq"], lines[-1]["head"]) == store.version_chain_head("pricing")
        bad = [("dana", 1, "approve", {}), ("pete", 2, "publish", {}),
               ("rita", "latest", "approve", {"if_hash": "0" * 64}),
               ("carla", 1, "comment", {"message": "x"}), ("rita", 1, "reject", {})]
        for who, n, action, body in bad:
            assert api.act(who, n, action, body).status_code in (403, 409), (who, action)
        assert api.raw("solo", "/api/versions/import", export_of(src, "x")).status_code == 409
        assert api.post("dana", "/api/flows/pricing/versions").status_code == 409
        assert len(anchor_lines(heads)) == 5
        # the anchor becomes unwritable: the action is committed, the answer is 200
        heads.unlink()
        heads.mkdir()
        r = api.act("pete", 1, "publish")
        assert r.status_code == 200 and store.get_version("pricing", 1).status == "published"


def test_store_check_names_a_flow_history_cut_short_and_rolled_back(project, tmp_path):
    db = history_db(tmp_path, project)
    heads = tmp_path / "heads.jsonl"
    old = tmp_path / "old.db"
    old.write_bytes(db.read_bytes())                 # a backup before v2's review
    from flowc.runtime.audit import Anchor
    from flowc.runtime.versions import transition

    st = open_db(db)
    try:
        transition(st, "pricing", "2", "review", "dana", ["drafter"])
        Anchor(str(heads)).record_versions(st, ["pricing"])
    finally:
        st.close()
    r = flowc("store", "check", "--store", old, "--anchor", heads, cwd=tmp_path)
    assert r.returncode == 1 and "cut short or rolled back" in r.stdout, r.stdout
    r = flowc("versions", "pricing", "--verify", "--store", old, "--anchor", heads,
              cwd=tmp_path)
    assert r.returncode == 1 and "cut short" in r.stdout, r.stdout


# ======================================================== 5. one-line errors, never a crash

@pytest.mark.parametrize("args", [
    ("version", "show", "pricing", ""), ("version", "show", "pricing", "v"),
    ("version", "show", "pricing", "9" * 200), ("version", "show", "pricing", "été"),
    ("version", "show", "pricing", "v99999"), ("version", "show", "nope", "1"),
    ("version", "approve", "pricing", "1", "--as", ""),
    ("version", "approve", "pricing", "1", "--as", "   "),
    ("version", "approve", "pricing", "1", "--as", "rita", "--anchor", "::bad::"),
    ("version", "reject", "pricing", "latest", "--as", "rita"),
    ("version", "comment", "pricing", "1", "--as", "rita", "-m", "   "),
    ("version", "comment", "pricing", "1", "--as", "rita", "-m", "x" * 10001),
    ("version", "export", "pricing", "1", "-o", "/nonexistent/dir/x.json"),
    ("version", "import", "/nonexistent.json", "--as", "dana"),
    ("version", "import", ".", "--as", "dana"),
    ("version", "submit", "nope.flow", "--as", "dana"),
    ("diff", "pricing", "1", "zz"), ("diff", "pricing", "1", "v7"),
    ("rollback", "pricing", "2", "--as", "pete", "-m", "   "),
    ("publish", "pricing", "--as", "pete"),
    ("versions", "pricing", "--verify", "--anchor", "/"),
])
def test_bad_input_on_the_command_line_is_one_line(project, tmp_path, args):
    db = history_db(tmp_path, project)
    r = flowc(*args, "--store", db, cwd=tmp_path)
    assert one_line_error(r), (args, r.returncode, r.stdout[-300:], r.stderr)


@pytest.mark.parametrize("args", [("version", "export", "pricing", "1"),
                                  ("diff", "pricing", "1", "2")])
def test_a_tampered_snapshot_is_a_one_line_error_on_the_command_line(project, tmp_path,
                                                                      args):
    db = history_db(tmp_path, project)
    sql(db, "UPDATE flow_versions SET bundle = 'not json' WHERE number = 1")
    r = flowc(*args, "--store", db, cwd=tmp_path)
    assert one_line_error(r), (r.returncode, r.stderr)
