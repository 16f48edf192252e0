"""`flowc serve` end to end over real HTTP: the JSON API (tokens, starting a run, deciding its
gate, the run going on in the server's worker, the audit), the pages (sign-in, CSRF, rate
limiting, the review form, two reviewers at once, replayed forms, escaping) against a real
uvicorn, a real SQLite store and a real Pyodide sandbox (refund_approval runs code nodes)."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from servekit import (
    client,
    csrf_of,
    form_id_of,
    project_with,
    run_status,
    serving,
    signed_in,
    token_for,
    wait_for,
)

PEOPLE = [("carla", ["support_lead"], "carla-pw", "carla@example.test"),
          ("lena", ["support_lead"], "lena-pw", "lena@example.test"),
          ("bob", ["finance"], "bob-pw", None),
          ("mo", ["finance"], "mo-pw", None)]
ORDER = {"order": {"id": "A-17", "amount": 80.0, "reason": "damaged on arrival"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory, pool):
    tmp = tmp_path_factory.mktemp("serve")
    project = project_with(tmp, "refund_approval")
    with serving(project, tmp / "runs.db", people=PEOPLE, sandbox=pool) as (base, service):
        yield base, service


def _api(base, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, headers=headers, timeout=60)


def _paused_run(base, service, token):
    with _api(base, token) as api:
        r = api.post("/api/flows/refund_approval/runs", json={"inputs": ORDER})
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
    run_status(service, run_id, "paused")
    task = wait_for(lambda: service.store.list_tasks("pending", run_id=run_id), "the gate")[0]
    return run_id, task


def test_an_api_call_without_a_valid_token_is_refused(server):
    base, service = server
    for headers in ({}, {"authorization": "Bearer nope"}, {"authorization": "Basic abc"},
                    {"authorization": "Bearer " + "x" * 5000}):
        r = httpx.get(f"{base}/api/runs", headers=headers)
        assert r.status_code == 401 and "Bearer" in r.json()["error"]
    revoked = token_for(service, "bob")
    assert httpx.get(f"{base}/api/runs", headers={"authorization": f"Bearer {revoked}"}
                     ).status_code == 200
    service.store.revoke_api_tokens("bob")
    assert httpx.get(f"{base}/api/runs", headers={"authorization": f"Bearer {revoked}"}
                     ).status_code == 401


def test_openapi_document_lists_the_api(server):
    from openapi_spec_validator import validate

    base, _ = server
    doc = httpx.get(f"{base}/api/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # a valid OpenAPI 3.1 document
    # every API route the app serves is in it
    from flowc.server.api import api_routes
    from flowc.server.app import Pages

    served = {r.path for r in api_routes(server[1], Pages(server[1]))}
    assert served - {"/api/openapi.json"} == set(doc["paths"])
    for path in ("/api/flows/{flow}/runs", "/api/tasks/{task_id}/decision",
                 "/api/runs/{run_id}/audit", "/api/conversations/{conversation}/messages"):
        assert path in doc["paths"]


def test_start_decide_and_finish_through_the_api(server):
    base, service = server
    token = token_for(service, "carla")
    run_id, task = _paused_run(base, service, token)
    with _api(base, token) as api:
        mine = api.get("/api/tasks").json()
        assert task.id in [t["id"] for t in mine["tasks"]]
        # a value that does not fit the form: 400, nothing decided
        r = api.post(f"/api/tasks/{task.id}/decision",
                     json={"action": "edit", "values": {"refund": "lots"}})
        assert r.status_code == 400 and "refund" in r.json()["error"]
        assert service.store.get_task(task.id).status == "pending"
        # not theirs: 403
        bob = token_for(service, "bob")
        r = _api(base, bob).post(f"/api/tasks/{task.id}/decision", json={"action": "approve"})
        assert r.status_code == 403 and "may not decide" in r.json()["error"]
        r = api.post(f"/api/tasks/{task.id}/decision",
                     json={"action": "edit", "values": {"refund": 40.0}, "reason": "half"})
        assert r.status_code == 200, r.text
        assert r.json()["task"]["status"] == "decided"
        assert r.json()["task"]["decision"]["outcome"] == "edited"
        # the first decision stands
        r = api.post(f"/api/tasks/{task.id}/decision", json={"action": "reject"})
        assert r.status_code == 409 and "first decision stands" in r.json()["error"]
    run = run_status(service, run_id, "succeeded", "failed")
    assert run.status == "succeeded", run.error
    assert run.outputs["receipt"]["paid"] == 40.0
    with _api(base, token) as api:
        audit = api.get(f"/api/runs/{run_id}/audit").json()
        assert audit["verified"] is True
        decided = [e for e in audit["export"]["events"] if e["kind"] == "task.decided"]
        assert decided and decided[0]["actor"] == "carla"
        payload = json.loads(decided[0]["payload_json"])
        assert payload["decision"]["values"] == {"refund": 40.0}
        trace = api.get(f"/api/runs/{run_id}/trace").json()
        assert {n["id"] for n in trace["run"]["nodes"]} >= {"proposal", "review", "pay"}


def test_bad_api_requests_get_one_line_errors(server):
    base, service = server
    token = token_for(service, "carla")
    with _api(base, token) as api:
        assert api.post("/api/flows/nope/runs", json={}).status_code == 404
        r = api.post("/api/flows/refund_approval/runs", json={"inputs": {"orderr": {}}})
        assert r.status_code == 400 and "no input `orderr`" in r.json()["error"]
        r = api.post("/api/flows/refund_approval/runs", json={"inputs": {}})
        assert r.status_code == 400 and "order" in r.json()["error"]
        r = api.post("/api/flows/refund_approval/runs", content=b"{not json",
                     headers={"content-type": "application/json"})
        assert r.status_code == 400 and "not JSON" in r.json()["error"]
        assert api.get("/api/runs/r-nope").status_code == 404
        assert api.get("/api/tasks/t-nope").status_code == 404
        r = api.post("/api/flows/refund_approval/runs", content=b"x" * (5 * 1024 * 1024),
                     headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_two_reviewers_approving_at_once_one_wins(server):
    base, service = server
    token = token_for(service, "carla")
    run_id, task = _paused_run(base, service, token)
    carla, lena = signed_in(base, "carla", "carla-pw"), signed_in(base, "lena", "lena-pw")
    pages = [c.get(f"/review/{task.id}") for c in (carla, lena)]
    barrier = threading.Barrier(2)
    results = {}

    def decide(name, c, page):
        barrier.wait()
        results[name] = c.post(f"/review/{task.id}", data={
            "csrf": csrf_of(page.text), "form_id": form_id_of(page.text), "action": "approve"})

    threads = [threading.Thread(target=decide, args=(n, c, p))
               for n, c, p in (("carla", carla, pages[0]), ("lena", lena, pages[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results.values())
    assert codes == [303, 409], {k: (r.status_code, r.text[:300]) for k, r in results.items()}
    loser = next(r for r in results.values() if r.status_code == 409)
    assert "first decision stands" in loser.text
    decided = [e for e in service.store.audit_events(run_id) if e.kind == "task.decided"]
    assert len(decided) == 1


def test_sign_in_csrf_and_rate_limit(server):
    base, service = server
    c = client(base)
    page = c.get("/signin")
    # no CSRF token (or a wrong one): refused before the password is looked at
    assert c.post("/signin", data={"name": "carla", "password": "carla-pw"}).status_code == 403
    assert c.post("/signin", data={"csrf": "forged", "name": "carla",
                                   "password": "carla-pw"}).status_code == 403
    csrf = csrf_of(page.text)
    for _ in range(5):
        r = c.post("/signin", data={"csrf": csrf, "name": "mo", "password": "wrong"})
        assert r.status_code == 401
    # locked: even the right password is refused for now (for that name only)
    r = c.post("/signin", data={"csrf": csrf, "name": "mo", "password": "mo-pw"})
    assert r.status_code == 429
    signed_in(base, "bob", "bob-pw")
    # a page needs a session
    assert client(base).get("/inbox").status_code == 303
    # the session cookie's flags
    ok = client(base)
    p = ok.get("/signin")
    r = ok.post("/signin", data={"csrf": csrf_of(p.text), "name": "carla",
                                 "password": "carla-pw"})
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("flowc_session"))
    assert all(flag in cookie.lower() for flag in ("httponly", "secure", "samesite=lax"))
    # a form without the session's CSRF token changes nothing
    _, task = _paused_run(base, service, token_for(service, "carla"))
    review = ok.get(f"/review/{task.id}")
    r = ok.post(f"/review/{task.id}", data={"form_id": form_id_of(review.text),
                                            "action": "approve"})
    assert r.status_code == 403
    r = ok.post(f"/review/{task.id}", data={"csrf": "x" + csrf_of(review.text),
                                            "form_id": form_id_of(review.text),
                                            "action": "approve"})
    assert r.status_code == 403
    assert service.store.get_task(task.id).status == "pending"
    # a replayed form: the second post of the same form is refused
    data = {"csrf": csrf_of(review.text), "form_id": form_id_of(review.text),
            "action": "edit", "f.refund": "not a number"}
    assert ok.post(f"/review/{task.id}", data=data).status_code == 400
    again = ok.post(f"/review/{task.id}", data=data)
    assert again.status_code == 409 and "already sent" in again.text
    assert service.store.get_task(task.id).status == "pending"


def test_a_person_without_the_role_cannot_see_or_decide(server):
    base, service = server
    _, task = _paused_run(base, service, token_for(service, "carla"))
    bob = signed_in(base, "bob", "bob-pw")
    r = bob.get(f"/review/{task.id}")
    assert r.status_code == 403
    r = bob.post(f"/review/{task.id}", data={"csrf": "x", "action": "approve"})
    assert r.status_code == 403
    assert service.store.get_task(task.id).status == "pending"
    assert task.id not in bob.get("/inbox").text


def test_the_review_page_validates_then_accepts_an_edit(server):
    base, service = server
    run_id, task = _paused_run(base, service, token_for(service, "carla"))
    carla = signed_in(base, "carla", "carla-pw")
    page = carla.get(f"/review/{task.id}")
    assert page.status_code == 200 and "A-17" in page.text
    r = carla.post(f"/review/{task.id}", data={
        "csrf": csrf_of(page.text), "form_id": form_id_of(page.text), "action": "edit",
        "f.refund": "eighty"})
    assert r.status_code == 400 and 'data-testid="error-refund"' in r.text
    r = carla.post(f"/review/{task.id}", data={
        "csrf": csrf_of(r.text), "form_id": form_id_of(r.text), "action": "edit",
        "f.refund": "55.5", "reason": "goodwill"})
    assert r.status_code == 303
    run = run_status(service, run_id, "succeeded", "failed")
    assert run.status == "succeeded" and run.outputs["receipt"]["paid"] == 55.5
    audit = carla.get(f"/runs/{run_id}")
    assert "verified: intact" in audit.text and "task.decided" in audit.text


def test_a_malformed_multipart_body_gets_a_json_error(server):
    base, service = server
    token = token_for(service, "carla")
    r = httpx.post(f"{base}/api/flows/refund_approval/runs",
                   headers={"authorization": f"Bearer {token}",
                            "content-type": "multipart/form-data; boundary=zzz"},
                   content=b"--zzz\r\nContent-Disposition: form-data\r\n\r\nbroken")
    assert r.status_code == 400 and r.json()["error"]
    r = httpx.delete(f"{base}/api/runs", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 405 and r.json()["error"]
