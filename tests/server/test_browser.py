"""In a real browser (Debian's Chromium driven by Playwright) against a real `flowc serve`:

- a reviewer gets the e-mail on a local SMTP server (aiosmtpd), opens its signed link, enters a
  bad value and sees the error (the page's own check, then the server's), fixes it, approves;
  the run goes on; the run page shows the decision and the change in the audit trail;
- a chat conversation with two turns, a gate inside the second, decided by a support lead in
  another browser while the person chatting waits for the answer (a real local model server
  that speaks OpenAI's protocol answers the model calls).
"""

from __future__ import annotations

import email
import json
import re
import threading

import pytest
from browserkit import browser, sign_in, wait_until
from servekit import EXAMPLES, project_with, run_status, serving, token_for, wait_for

PEOPLE = [("carla", ["support_lead"], "carla-pw", "carla@example.test"),
          ("ana", ["customer"], "ana-pw", "ana@example.test")]


class Mailbox:
    """A local SMTP server (aiosmtpd) keeping what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.Message] = []
        self.lock = threading.Lock()
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                msg = email.message_from_bytes(envelope.content)
                with box.lock:
                    box.messages.append(msg)
                return "250 OK"

        from servekit import free_port

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def _body(msg) -> str:
    if msg.is_multipart():
        part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
        return part.get_payload(decode=True).decode()
    return msg.get_payload(decode=True).decode()


def test_a_reviewer_follows_the_emailed_link_fixes_a_bad_value_and_approves(tmp_path, pool):
    project = project_with(tmp_path, "refund_approval")
    with Mailbox() as mailbox, serving(project, tmp_path / "runs.db", people=PEOPLE,
                                       sandbox=pool, smtp_host="127.0.0.1",
                                       smtp_port=mailbox.port) as (base, service):
        import httpx

        token = token_for(service, "carla")
        r = httpx.post(f"{base}/api/flows/refund_approval/runs",
                       headers={"authorization": f"Bearer {token}"},
                       json={"inputs": {"order": {"id": "B-9", "amount": 120.0,
                                                  "reason": "arrived late"}}})
        assert r.status_code == 201, r.text
        run_id = r.json()["id"]
        run_status(service, run_id, "paused")
        msg = wait_for(lambda: mailbox.messages[:1], "the review e-mail")[0]
        assert msg["To"] == "carla@example.test"
        link = re.search(r"(http://127\.0\.0\.1:\d+/review/\S+)", _body(msg)).group(1)
        with browser() as b:
            page = b.new_page()
            page.goto(link)
            # the link signed carla in and took her to the task, without the token in the URL
            assert "link=" not in page.url and "/review/" in page.url
            assert page.locator("[data-testid=me]").inner_text().startswith("carla")
            assert "B-9" in page.content()
            refund = page.locator("[name='f.refund']")
            assert refund.input_value() == "60"  # half of 120: the proposal
            # a bad value: the page's own check stops it (nothing is sent)
            refund.fill("")
            page.click("[data-testid=edit]")
            assert page.evaluate("document.querySelector(\"[name='f.refund']\").validity.valid") \
                is False
            assert service.store.get_task(service.store.list_tasks(
                "pending", run_id=run_id)[0].id).status == "pending"
            # the server checks again: a value the page would not stop (checks turned off)
            page.evaluate("document.querySelector('[data-testid=decide-form]').noValidate = true")
            refund.fill("")
            page.click("[data-testid=edit]")
            page.wait_for_selector("[data-testid=error-refund]")
            assert page.locator("[data-testid=error-refund]").inner_text()
            # fixed: the edit shows as a change, then approve
            page.locator("[name='f.refund']").fill("75.5")
            assert "75.5" in page.locator("[data-testid=diff]").inner_text()
            page.fill("textarea[name=reason]", "late delivery: a bit more")
            page.click("[data-testid=edit]")
            page.wait_for_selector("[data-testid=decided]")
            run = run_status(service, run_id, "succeeded", "failed")
            assert run.status == "succeeded", run.error
            assert run.outputs["receipt"]["paid"] == 75.5
            # the run page: the audit trail verified, with the decision and the change
            page.goto(f"{base}/runs/{run_id}")
            assert page.locator("[data-testid=audit-state]").inner_text() == "verified: intact"
            audit = page.locator("[data-testid=audit]").inner_text()
            assert "task.decided" in audit and "carla" in audit
            decided = next(e for e in service.store.audit_events(run_id)
                           if e.kind == "task.decided")
            assert decided.payload["decision"]["values"] == {"refund": 75.5}
            assert decided.payload["form_before"] == {"refund": 60.0}
            # the link works once
            again = b.new_page()
            again.goto(link)
            assert "already used" in again.locator("[data-testid=problem]").inner_text()


def _chat_model(srv):
    """Turn 1 promises nothing, turn 2 a refund (so its answer waits for a support lead)."""
    from flowc.runtime.models.fakeserver import json_reply

    def handler(protocol, body):
        text = json.dumps(body)
        if "broken" in text:
            return json_reply({"answer": "Sorry about that: we refund the 25 EUR.",
                               "refund": 25.0})
        return json_reply({"answer": "Your parcel ships on Monday.", "refund": 0.0})

    srv.handler = handler


def test_a_chat_with_two_turns_and_a_gate_inside_one(tmp_path, pool):
    from flowc.runtime.models.fakeserver import FakeModelServer

    project = tmp_path / "project"
    project.mkdir()
    (project / "helpdesk.flow").write_text((EXAMPLES / "helpdesk" / "helpdesk.flow").read_text())
    with FakeModelServer() as srv:
        _chat_model(srv)
        (project / "flowc.toml").write_text(
            f'[models.default]\nprovider = "openai"\nbase_url = "{srv.openai_url}"\n'
            f'model = "fake"\napi_key_env = ""\n')
        with serving(project, tmp_path / "runs.db", people=PEOPLE, sandbox=pool) as (base,
                                                                                     service):
            with browser() as b:
                ana = b.new_context().new_page()
                sign_in(ana, base, "ana", "ana-pw")
                ana.goto(f"{base}/chat/helpdesk")
                ana.click("[data-testid=new-conversation]")
                ana.wait_for_url(re.compile(r".*/chat/c/.*"))
                ana.fill("[data-testid=chat-text]", "When does my parcel ship?")
                ana.click("[data-testid=chat-send]")
                ana.wait_for_selector("li.msg.assistant")
                assert "ships on Monday" in ana.locator("li.msg.assistant").inner_text()
                # turn 2: the answer promises money, so it waits for a support lead
                ana.fill("[data-testid=chat-text]", "It arrived broken, I want my money back")
                ana.click("[data-testid=chat-send]")
                ana.wait_for_selector("[data-testid=chat-task-link]")
                href = ana.locator("[data-testid=chat-task-link]").get_attribute("href")
                assert href.startswith("/review/")
                assert ana.locator("li.msg.assistant").count() == 1
                carla = b.new_context().new_page()
                sign_in(carla, base, "carla", "carla-pw")
                carla.goto(base + href)
                assert "It arrived broken" in carla.content()
                carla.click("[data-testid=approve]")
                carla.wait_for_selector("[data-testid=decided]")
                ana.locator("li.msg.assistant").nth(1).wait_for()
                assert "refund the 25 EUR" in ana.locator("li.msg.assistant").nth(1).inner_text()
                # the conversation is kept: a reload shows both turns
                ana.reload()
                texts = ana.locator("li.msg").all_inner_texts()
                assert len(texts) == 4 and "ships on Monday" in texts[1]
            # the second turn's run had the first turn in its history
            conv = service.store.list_runs(limit=10)
            second = next(r for r in conv if "broken" in json.dumps(r.inputs))
            assert any("ships on Monday" in h for h in second.inputs["history"])


@pytest.mark.parametrize("name", ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>'])
def test_flow_provided_text_is_escaped_in_the_page(tmp_path, pool, name):
    project = project_with(tmp_path, "refund_approval")
    with serving(project, tmp_path / "runs.db", people=PEOPLE, sandbox=pool) as (base, service):
        import httpx

        token = token_for(service, "carla")
        r = httpx.post(f"{base}/api/flows/refund_approval/runs",
                       headers={"authorization": f"Bearer {token}"},
                       json={"inputs": {"order": {"id": name, "amount": 10.0,
                                                  "reason": name}}})
        run_id = r.json()["id"]
        run_status(service, run_id, "paused")
        task = service.store.list_tasks("pending", run_id=run_id)[0]
        with browser() as b:
            page = b.new_page()
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            sign_in(page, base, "carla", "carla-pw")
            page.goto(f"{base}/review/{task.id}")
            page.goto(f"{base}/inbox")
            page.goto(f"{base}/runs/{run_id}")
            assert dialogs == []
            assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0


def test_a_second_browser_deciding_the_same_task_gets_a_clear_message(tmp_path):
    from servekit import seed_gate

    project = project_with(tmp_path, "refund_approval")
    people = [*PEOPLE, ("lena", ["support_lead"], "lena-pw", None)]
    with serving(project, tmp_path / "runs.db", people=people, worker=False) as (base, service):
        _, task = seed_gate(service)
        with browser() as b:
            carla = b.new_context().new_page()
            lena = b.new_context().new_page()
            sign_in(carla, base, "carla", "carla-pw")
            sign_in(lena, base, "lena", "lena-pw")
            for page in (carla, lena):
                page.goto(f"{base}/review/{task.id}")
            carla.click("[data-testid=approve]")
            carla.wait_for_selector("[data-testid=decided]")
            lena.click("[data-testid=reject]")
            problem = lena.locator("[data-testid=problem]").inner_text()
            assert "already" in problem and "first decision stands" in problem
            assert "carla" in lena.locator("[data-testid=decided]").inner_text()
        done = service.store.get_task(task.id)
        assert done.decided_by == "carla" and done.decision["outcome"] == "approved"


def test_the_stats_page_draws_its_charts_with_the_vendored_library(tmp_path):
    from servekit import seed_gate

    project = project_with(tmp_path, "refund_approval")
    people = [("carla", ["support_lead", "admin"], "carla-pw", None)]
    with serving(project, tmp_path / "runs.db", people=people, worker=False) as (base, service):
        run, _ = seed_gate(service)
        service.store.start_node(run.id, "proposal", started_at=run.created_at)
        service.store.finish_node(run.id, "proposal", -1, "succeeded", output={"refund": 1.0})
        with browser() as b:
            page = b.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            sign_in(page, base, "carla", "carla-pw")
            page.goto(f"{base}/stats?from=2000-01-01&to=2100-01-01")
            wait_until(page, "window.flowcLatencyChart !== undefined")
            labels = page.evaluate("window.flowcLatencyChart.data.labels")
            assert "refund_approval.proposal" in labels
            assert errors == []
