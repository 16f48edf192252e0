"""Flow versions in `flowc serve`: the lifecycle through the API, what runs (the published
version's snapshot, never the working copy; a draft only when named, by a versions role; a
versioned flow with none published does not run), a rollback while a run of the newer version
is paused (it resumes on its own plan), the diff, and a review and publish in a real browser
with the diff on the page."""

from __future__ import annotations

import json

import httpx
import pytest
from servekit import run_status, serving, token_for

FLOW = '''flow pricing version "1.0.0"
  "Quotes a price, checked by a support lead."

input amount: float

node quote: float = code python(amount: amount) """
  result = round(amount * 1.1, 2)
"""

node review = await human(to: role("support_lead"), show: [quote], actions: [approve, reject],
                          timeout: 48h -> reject)

match review {
  approved -> final
  rejected -> stop
}

node final: str = code python(q: quote) """
  result = f"v1 {q}"
"""

output price = final
'''

FLOW_V2 = FLOW.replace('f"v1 {q}"', 'f"v2 {q}"').replace("1.1, 2", "1.2, 2")

PEOPLE = [("dana", ["drafter"], "dana-pw", None), ("rita", ["reviewer"], "rita-pw", None),
          ("pete", ["publisher"], "pete-pw", None),
          ("carla", ["support_lead"], "carla-pw", None)]


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pricing.flow").write_text(FLOW)
    return folder


class Api:
    def __init__(self, base, service):
        self.base = base
        self.h = {name: {"authorization": f"Bearer {token_for(service, name)}"}
                  for name, *_ in PEOPLE}

    def post(self, who, path, body=None, **kw):
        return httpx.post(self.base + path, headers=self.h[who], json=body or {}, timeout=120,
                          **kw)

    def get(self, who, path, **kw):
        return httpx.get(self.base + path, headers=self.h[who], timeout=120, **kw)


def _started(service, run_id):
    return next(e for e in service.store.audit_events(run_id) if e.kind == "run.started").payload


def _approve_and_finish(api, service, run_id):
    run_status(service, run_id, "paused")
    task = service.store.list_tasks("pending", run_id=run_id)[0]
    r = api.post("carla", f"/api/tasks/{task.id}/decision", {"action": "approve"})
    assert r.status_code == 200, r.text
    return run_status(service, run_id, "succeeded", "failed")


def test_the_lifecycle_and_what_runs_through_the_api(project, tmp_path, pool):
    with serving(project, tmp_path / "runs.db", people=PEOPLE, sandbox=pool) as (base,
                                                                                 service):
        api = Api(base, service)
        start = "/api/flows/pricing/runs"
        # never versioned: it runs from its file, with no version recorded
        r = api.post("carla", start, {"inputs": {"amount": 10.5}})
        assert r.status_code == 201, r.text
        assert "version" not in _started(service, r.json()["id"])

        r = api.post("dana", "/api/flows/pricing/versions", {"message": "first"})
        assert r.status_code == 201, r.text
        v1 = r.json()
        assert (v1["number"], v1["status"], v1["actions"]) == (1, "draft", ["review"])
        assert api.post("rita", "/api/flows/pricing/versions").status_code == 403
        # versioned, none published: nothing runs, unless a versions role names a draft
        r = api.post("carla", start, {"inputs": {"amount": 10.5}})
        assert r.status_code == 409 and "none is published" in r.json()["error"]
        assert api.post("carla", start + "?version=1",
                        {"inputs": {"amount": 10.5}}).status_code == 403
        r = api.post("dana", start + "?version=1", {"inputs": {"amount": 10.5}})
        assert r.status_code == 201, r.text
        assert _started(service, r.json()["id"])["version"] == {
            "number": 1, "status": "draft", "hash": v1["hash"]}

        # the roles, on the server
        act = "/api/flows/pricing/versions/1/"
        assert api.post("rita", act + "review").status_code == 403
        assert api.post("dana", act + "review").json()["status"] == "in_review"
        assert api.post("dana", act + "approve").status_code == 403
        assert api.post("rita", act + "reject").status_code == 403  # a reason is needed
        assert api.post("rita", act + "approve", {"message": "ok"}).json()["status"] == \
            "approved"
        assert api.post("rita", act + "publish").status_code == 403
        assert api.post("pete", act + "approve").status_code == 409  # already approved
        assert api.post("pete", act + "publish").json()["status"] == "published"
        assert api.post("pete", act + "launch").status_code == 404
        assert api.get("pete", "/api/flows/pricing/versions/v7").status_code == 404

        # the published version runs from its snapshot, whatever the working copy says
        (project / "pricing.flow").write_text(FLOW_V2)
        r = api.post("carla", start, {"inputs": {"amount": 10.5}})
        run = service.store.get_run(r.json()["id"])
        assert run.plan_hash == v1["hash"] and "versions" in run.base_dir
        assert _approve_and_finish(api, service, run.id).outputs == {"price": "v1 11.55"}

        # v2 from the working copy, reviewed and published: v1 superseded
        v2 = api.post("dana", "/api/flows/pricing/versions", {"message": "new rate"}).json()
        for who, action in (("dana", "review"), ("rita", "approve"), ("pete", "publish")):
            r = api.post(who, f"/api/flows/pricing/versions/2/{action}")
            assert r.status_code == 200, r.text
        listed = api.get("carla", "/api/flows/pricing/versions").json()["versions"]
        assert [(v["number"], v["status"]) for v in listed] == [(2, "published"),
                                                                (1, "superseded")]
        assert listed[0]["actions"] == []  # carla holds no versions role

        # a run of v2 paused at its gate; then v1 is rolled back to
        paused = api.post("carla", start, {"inputs": {"amount": 10.5}}).json()["id"]
        run_status(service, paused, "paused")
        assert service.store.get_run(paused).plan_hash == v2["hash"]
        r = api.post("pete", "/api/flows/pricing/versions/1/rollback",
                     {"message": "the new rate was wrong"})
        assert r.status_code == 200 and r.json()["status"] == "published", r.text
        assert any(e["kind"] == "version.rolled_back" and e["actor"] == "pete" and
                   e["payload"]["message"] == "the new rate was wrong"
                   for e in r.json()["history"])
        # the paused run resumes on its own plan (v2); a new run starts on v1
        assert _approve_and_finish(api, service, paused).outputs == {"price": "v2 12.6"}
        new = api.post("carla", start, {"inputs": {"amount": 10.5}}).json()["id"]
        assert service.store.get_run(new).plan_hash == v1["hash"]
        assert _approve_and_finish(api, service, new).outputs == {"price": "v1 11.55"}
        for run_id in (paused, new):
            assert service.store.verify_audit(run_id).ok

        # the diff: the code node changed, the sources side by side
        d = api.get("rita", "/api/flows/pricing/diff?from=1&to=2").json()
        assert any(c["subject"] in ("final", "quote") for c in d["changes"]), d["changes"]
        assert [f["path"] for f in d["files"]] == ["pricing.flow"]
        assert api.get("rita", "/api/flows/pricing/diff?from=1").status_code == 400
        assert api.get("rita", "/api/flows/pricing/diff?from=1&to=9").status_code == 404

        # export, and a changed export refused by the API
        exported = api.get("rita", "/api/flows/pricing/versions/2/export")
        assert exported.status_code == 200
        doc = exported.json()
        doc["bundle"]["files"]["pricing.flow"]["text"] += "\n"
        r = httpx.post(base + "/api/versions/import", headers=api.h["dana"],
                       content=json.dumps(doc), timeout=120)
        assert r.status_code == 400 and "bundle_sha256" in r.json()["error"]
        assert service.store.verify_version_chain("pricing") == []


def test_a_review_and_publish_in_the_browser_with_the_diff_on_the_page(project, tmp_path):
    from browserkit import browser, sign_in

    with serving(project, tmp_path / "runs.db", people=PEOPLE) as (base, service):
        from flowc.runtime.versions import submit, transition

        for text, n in ((FLOW, 1), (FLOW_V2, 2)):
            (project / "pricing.flow").write_text(text)
            submit(service.store, project / "pricing.flow", "dana", f"version {n}")
        transition(service.store, "pricing", "1", "review", "dana", ["drafter"])
        transition(service.store, "pricing", "1", "approve", "rita", ["reviewer"])
        transition(service.store, "pricing", "1", "publish", "pete", ["publisher"])
        transition(service.store, "pricing", "2", "review", "dana", ["drafter"])
        with browser() as b:
            rita = b.new_context().new_page()
            sign_in(rita, base, "rita", "rita-pw")
            rita.goto(f"{base}/flows/pricing/versions")
            rita.click("text=v2")
            assert rita.locator("[data-testid=version-status]").inner_text() == "in review"
            # the diff against the published version: the plan's changes and the sources
            rita.click("[data-testid=diff-link]")
            semantic = rita.locator("[data-testid=semantic-diff]").inner_text()
            assert "final" in semantic or "quote" in semantic, semantic
            source = rita.locator("[data-testid=source-diff]").inner_text()
            assert 'f"v1 {q}"' in source and 'f"v2 {q}"' in source
            rita.go_back()
            rita.fill("[data-testid=comment-text]", "rate checked against the <b>SOP</b>")
            rita.click("[data-testid=comment-send]")
            assert "rate checked against the <b>SOP</b>" in rita.locator(
                "[data-testid=version-history]").inner_text()  # shown as text, escaped
            assert rita.locator("[data-testid=version-publish]").count() == 0
            rita.fill("[data-testid=version-message]", "looks right")
            rita.click("[data-testid=version-approve]")
            assert rita.locator("[data-testid=version-status]").inner_text() == "approved"

            pete = b.new_context().new_page()
            sign_in(pete, base, "pete", "pete-pw")
            pete.goto(f"{base}/flows/pricing/versions/2")
            pete.click("[data-testid=version-publish]")
            assert pete.locator("[data-testid=version-status]").inner_text() == "published"
            pete.goto(f"{base}/flows")
            assert "v2 published" in pete.locator("[data-testid=flows]").inner_text()
            # the author, with every role, is refused on the server too (a forged form)
            dana = b.new_context().new_page()
            sign_in(dana, base, "dana", "dana-pw")
            dana.goto(f"{base}/flows/pricing/versions/1")
            assert dana.locator("[data-testid=version-rollback]").count() == 0
        assert service.store.get_version("pricing", 2).status == "published"
        assert service.store.get_version("pricing", 1).status == "superseded"
        kinds = [(e.kind, e.actor) for e in service.store.version_events("pricing")]
        assert ("version.approved", "rita") in kinds and ("version.published", "pete") in kinds
        assert ("version.comment", "rita") in kinds


SCHEDULED = '''flow nightly version "1.0.0"
  "Counts, every minute."

on schedule "* * * * *"

input label: str = "tick"

node count: int = code python(label: label) """
  result = len(label)
"""
'''


def test_schedules_start_the_published_version_and_follow_a_new_publish(tmp_path):
    """A schedule fires from the published version's snapshot (recorded in run.started); a
    flow with versions but none published fires no run; publishing changes the schedule
    without a restart."""
    from flowc.runtime.versions import submit, transition
    from flowc.server.service import ServeConfig, Service

    project = tmp_path / "project"
    project.mkdir()
    (project / "nightly.flow").write_text(SCHEDULED)
    now = [1_800_000_000.0]  # a minute boundary
    service = Service(ServeConfig(project=project, store=str(tmp_path / "runs.db"),
                                  worker=False, clock=lambda: now[0]))
    try:
        store = service.store
        v1 = submit(store, project / "nightly.flow", "dana", "first")
        # versioned, none published: the scheduler sees the flow, the tick starts nothing
        service.run_pass()
        now[0] += 60
        service.run_pass()
        assert store.list_runs(limit=10) == []
        for action, who, roles in (("review", "dana", ["drafter"]),
                                   ("approve", "rita", ["reviewer"]),
                                   ("publish", "pete", ["publisher"])):
            transition(store, "nightly", "1", action, who, roles)
        (project / "nightly.flow").write_text(SCHEDULED.replace("len(label)", "0"))
        now[0] += 60
        service.run_pass()
        runs = store.list_runs(limit=10)
        assert len(runs) == 1 and runs[0].plan_hash == v1.hash
        started = next(e for e in store.audit_events(runs[0].id) if e.kind == "run.started")
        assert started.payload["version"]["number"] == 1
        assert "versions" in runs[0].base_dir
    finally:
        service.stop()


def test_actions_in_the_web_app_anchor_the_history_and_a_stale_hash_is_refused(project,
                                                                               tmp_path):
    (project / "flowc.toml").write_text('[audit]\nanchor = "heads.jsonl"\n')
    heads = project / "heads.jsonl"

    def anchored():
        if not heads.exists():
            return []
        return [json.loads(line) for line in heads.read_text().splitlines()]

    with serving(project, tmp_path / "runs.db", people=PEOPLE) as (base, service):
        api = Api(base, service)
        assert api.post("dana", "/api/flows/pricing/versions").status_code == 201
        v1 = api.get("dana", "/api/flows/pricing/versions/1").json()
        r = api.post("dana", "/api/flows/pricing/versions/1/review",
                     {"if_status": "draft", "if_hash": v1["hash"]})
        assert r.status_code == 200, r.text
        # a newer version becomes `latest`: an approval of `latest` with v1's hash is refused
        (project / "pricing.flow").write_text(FLOW_V2)
        assert api.post("dana", "/api/flows/pricing/versions").status_code == 201
        r = api.post("rita", "/api/flows/pricing/versions/latest/approve",
                     {"if_hash": v1["hash"]})
        assert r.status_code == 409 and "not the version you were shown" in r.text, r.text
        assert service.store.get_version("pricing", 2).status == "draft"
        assert [h["seq"] for h in anchored()] == [1, 2, 3]
        r = api.post("rita", "/api/flows/pricing/versions/1/approve", {"if_hash": v1["hash"]})
        assert r.status_code == 200, r.text
        assert [(h["run"], h["seq"]) for h in anchored()][-1] == ("versions/pricing", 4)
        head = service.store.version_chain_head("pricing")
        assert (anchored()[-1]["seq"], anchored()[-1]["head"]) == head
