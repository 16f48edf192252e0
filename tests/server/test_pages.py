"""The pages' defences, over real HTTP against a real `flowc serve`: signed review links
(forged, expired, reused, for another task), file downloads and previews with path tricks in
stored rows, response headers, redirects that stay on the site, escaping, the vendored chart
library pinned by its digest."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from servekit import ROOT, client, project_with, seed_gate, serving, signed_in

PEOPLE = [("carla", ["support_lead", "admin"], "carla-pw", "carla@example.test"),
          ("bob", ["finance"], "bob-pw", None)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    project = project_with(tmp, "refund_approval")
    with serving(project, tmp / "runs.db", people=PEOPLE, worker=False) as s:
        yield s


def test_a_signed_link_signs_its_person_in_once_and_only_for_its_task(server):
    base, service = server
    _, task = seed_gate(service)
    _, other = seed_gate(service)
    token = service.signer.make(task.id, "carla", 3600)
    c = client(base)
    # for another task: refused, nothing used
    r = c.get(f"/review/{other.id}?link={token}")
    assert r.status_code == 403 and "another task" in r.text
    r = c.get(f"/review/{task.id}?link={token}")
    assert r.status_code == 303 and r.headers["location"] == f"/review/{task.id}"
    page = c.get(f"/review/{task.id}")
    assert page.status_code == 200 and 'data-testid="me">carla' in page.text
    # used once
    r = client(base).get(f"/review/{task.id}?link={token}")
    assert r.status_code == 403 and "already used" in r.text


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),  # tampered signature
    lambda t: "x" + t,                                                  # tampered payload
    lambda t: "not-a-token",
    lambda t: "a" * 5000,                                               # over-long
    lambda t: "",
])
def test_forged_links_are_refused(server, mangle):
    base, service = server
    _, task = seed_gate(service)
    token = mangle(service.signer.make(task.id, "carla", 3600))
    r = client(base).get(f"/review/{task.id}", params={"link": token})
    assert r.status_code == 403 and "cannot be used" in r.text
    assert "flowc_session" not in r.headers.get("set-cookie", "")


def test_a_link_signed_with_another_secret_or_expired_is_refused(server, tmp_path):
    base, service = server
    from flowc.server.notify import LinkSigner

    _, task = seed_gate(service)
    stranger = LinkSigner("another secret").make(task.id, "carla", 3600)
    r = client(base).get(f"/review/{task.id}", params={"link": stranger})
    assert r.status_code == 403
    import time

    late = LinkSigner(service.secret, clock=lambda: time.time() - 7200).make(task.id, "carla",
                                                                              60)
    r = client(base).get(f"/review/{task.id}", params={"link": late})
    assert r.status_code == 403 and "expired" in r.text


def test_security_headers_and_cookies(server):
    base, _ = server
    r = httpx.get(f"{base}/signin")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert "<script" not in r.text.split("</main>")[0].split("<main>")[1]


@pytest.mark.parametrize("target", ["https://evil.test/x", "//evil.test/x", "/\\evil.test",
                                    "javascript:alert(1)"])
def test_sign_in_never_redirects_off_the_site(server, target):
    base, _ = server
    c = client(base)
    page = c.get("/signin", params={"next": target})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.post("/signin", params={"next": target},
               data={"csrf": csrf, "name": "carla", "password": "carla-pw"})
    assert r.status_code == 303 and r.headers["location"] == "/inbox"


def test_hostile_text_is_escaped_in_inbox_review_and_run_pages(server):
    base, service = server
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    run, task = seed_gate(service, title=evil, show=[evil, {"name": evil}, [evil], 1.5])
    carla = signed_in(base, "carla", "carla-pw")
    for path in ("/inbox", f"/review/{task.id}", f"/runs/{run.id}"):
        html = carla.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path


def test_file_downloads_check_the_stored_row(server, tmp_path):
    """A file record whose location climbs out of the workspace (a tampered row), or a file
    id from another run, reads nothing; a real one downloads as an attachment."""
    base, service = server
    from flowc.runtime.store import FileRecord, new_file_id

    run, _ = seed_gate(service)
    other, _ = seed_gate(service)
    ws = tmp_path / "ws"
    (ws / run.id).mkdir(parents=True)
    data = b"id,amount\nA-17,40\n"
    (ws / run.id / "a.csv").write_bytes(data)
    good = FileRecord(new_file_id(), run.id, "n", -1, "a.csv", hashlib.sha256(data).hexdigest(),
                      len(data), str(ws), f"{run.id}/a.csv", 0.0)
    secret = b"root:x:0:0:root:/root:/bin/bash\n"
    evil = FileRecord(new_file_id(), run.id, "n", -1, "passwd",
                      hashlib.sha256(secret).hexdigest(), len(secret), str(ws),
                      "../../../../../../etc/passwd", 0.0)
    service.store.record_files([good, evil])
    carla = signed_in(base, "carla", "carla-pw")
    r = carla.get(f"/files/{run.id}/{good.id}")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["content-type"] == "application/octet-stream"
    preview = carla.get(f"/files/{run.id}/{good.id}", params={"preview": "1"})
    assert preview.status_code == 200 and "A-17" in preview.text and "<table" in preview.text
    r = carla.get(f"/files/{run.id}/{evil.id}")
    assert r.status_code == 404 and b"root:x" not in r.content
    assert carla.get(f"/files/{other.id}/{good.id}").status_code == 404
    for trick in ("..%2F..%2Fetc%2Fpasswd", "%2e%2e", "x" * 500):
        assert carla.get(f"/files/{run.id}/{trick}").status_code == 404
    assert client(base).get(f"/files/{run.id}/{good.id}").status_code == 303  # signed out


def test_the_vendored_chart_library_is_the_pinned_one(server):
    base, _ = server
    script = (ROOT / "scripts" / "vendor_js.sh").read_text()
    pinned = re.search(r'FILE_SHA256="([0-9a-f]{64})"', script).group(1)
    served = httpx.get(f"{base}/static/vendor/chart.umd.js")
    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == pinned
    on_disk = ROOT / "server" / "static" / "vendor" / "chart.umd.js"
    assert hashlib.sha256(on_disk.read_bytes()).hexdigest() == pinned


def test_stats_page_lists_nodes_and_models(server):
    base, service = server
    import json

    run, _ = seed_gate(service)
    service.store.start_node(run.id, "proposal", started_at=run.created_at)
    service.store.finish_node(run.id, "proposal", -1, "succeeded", output={"refund": 40.0})
    carla = signed_in(base, "carla", "carla-pw")
    r = carla.get("/stats", params={"from": "2000-01-01", "to": "2100-01-01"})
    assert r.status_code == 200
    data = json.loads(re.search(r'id="stats-data">(.*?)</script>', r.text, re.S).group(1))
    node = next(n for n in data["nodes"] if n["node"] == "refund_approval.proposal")
    assert node["count"] >= 1 and sum(node["histogram"]) == node["count"]
    assert carla.get("/stats", params={"from": "garbage"}).status_code == 200


def test_a_file_the_gate_shows_links_to_its_download_and_preview(server, tmp_path):
    base, service = server
    from flowc.runtime.store import FileRecord, new_file_id

    data = b"id,amount\nA-17,40\n"
    fid = new_file_id()
    value = {"file_id": fid, "name": "sheet.csv", "sha256": hashlib.sha256(data).hexdigest(),
             "size": len(data)}
    run, task = seed_gate(service, show=[value, "A-17", 40.0, "half"])
    ws = tmp_path / "ws2"
    (ws / run.id).mkdir(parents=True)
    (ws / run.id / "sheet.csv").write_bytes(data)
    service.store.record_files([FileRecord(fid, run.id, "n", -1, "sheet.csv", value["sha256"],
                                           len(data), str(ws), f"{run.id}/sheet.csv", 0.0)])
    carla = signed_in(base, "carla", "carla-pw")
    html = carla.get(f"/review/{task.id}").text
    href = f"/files/{run.id}/{fid}"
    assert f'href="{href}' in html
    assert carla.get(href).content == data


def test_an_ask_human_question_is_answered_on_its_page(server):
    base, service = server
    from servekit import csrf_of, form_id_of

    run, _ = seed_gate(service)
    task = service.store.create_task(
        run.id, "where", kind="ask", assignees=[{"kind": "user", "name": "carla"}],
        title="Which office?", form={"schema": {"type": "string",
                                                "enum": ["london", "shanghai"]},
                                     "choices": ["london", "shanghai"],
                                     "question": "Which office are you based in?"})
    carla = signed_in(base, "carla", "carla-pw")
    page = carla.get(f"/review/{task.id}")
    assert page.status_code == 200 and "Which office are you based in?" in page.text
    assert '<option value="shanghai"' in page.text
    r = carla.post(f"/review/{task.id}", data={"csrf": csrf_of(page.text),
                                               "form_id": form_id_of(page.text),
                                               "answer": "paris"})
    assert r.status_code == 400 and "one of" in r.text
    assert service.store.get_task(task.id).status == "pending"
    r = carla.post(f"/review/{task.id}", data={"csrf": csrf_of(r.text),
                                               "form_id": form_id_of(r.text),
                                               "answer": "shanghai"})
    assert r.status_code == 303
    done = service.store.get_task(task.id)
    assert done.status == "decided" and done.decision["value"] == "shanghai"
    assert done.decided_by == "carla"
    # bob holds no role of it
    bob = signed_in(base, "bob", "bob-pw")
    assert bob.get(f"/review/{task.id}").status_code == 403


def test_a_decision_form_id_is_bound_to_its_session_and_task(server):
    base, service = server
    from servekit import csrf_of, form_id_of

    _, task = seed_gate(service)
    _, other = seed_gate(service)
    carla = signed_in(base, "carla", "carla-pw")
    page = carla.get(f"/review/{task.id}")
    other_page = carla.get(f"/review/{other.id}")
    csrf = csrf_of(page.text)
    for made_up in ("x", "abc.def", form_id_of(other_page.text)):  # invented, or another task's
        r = carla.post(f"/review/{task.id}", data={"csrf": csrf, "form_id": made_up,
                                                   "action": "approve"})
        assert r.status_code == 409 and "not made for you" in r.text
    assert service.store.get_task(task.id).status == "pending"
    # another session of the same person: its form ids are not this session's
    again = signed_in(base, "carla", "carla-pw")
    fresh = again.get(f"/review/{task.id}")
    r = carla.post(f"/review/{task.id}", data={"csrf": csrf, "form_id": form_id_of(fresh.text),
                                               "action": "approve"})
    assert r.status_code == 409
    r = carla.post(f"/review/{task.id}", data={"csrf": csrf, "form_id": form_id_of(page.text),
                                               "action": "approve"})
    assert r.status_code == 303
