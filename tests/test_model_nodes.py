"""llm, agent and extract nodes, end to end: real plans, a real SQLite store, the real sandbox
for the agent's skills, and the real OpenAI / Anthropic client code talking to a local server
that speaks those protocols."""

from __future__ import annotations

import json

import pytest
from flowc_testkit import ROOT, plan_of

from flowc.config import ProjectConfig
from flowc.runtime.engine import Engine, RunRefused
from flowc.runtime.models.fakeserver import (
    FakeModelServer,
    error_reply,
    json_reply,
    raw_reply,
    text_reply,
    tool_call_reply,
)
from flowc.runtime.models.router import Models


@pytest.fixture
def server():
    with FakeModelServer(api_key="sk-test") as srv:
        yield srv


def _models(server, provider="openai", **kw):
    cfg = server.model_config("default", provider, api_key_env="FLOWC_TEST_KEY",
                              price_input=1.0, price_output=2.0, max_retries=2)
    return Models(ProjectConfig(None, {"default": cfg}), **kw)


@pytest.fixture
def engine(store, pool, server, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_TEST_KEY", "sk-test")
    with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"), base_dir=str(ROOT),
                models=_models(server)) as e:
        yield e


LLM = '''flow l version "1.0.0"
input topic: str
node brief = llm {
  system "You write briefs."
  prompt "Write a brief on {topic}."
  model  "default"
}
output text = brief.text
'''


def test_an_llm_reply_is_recorded_with_tokens_and_cost(engine, store, server):
    server.push(text_reply("Returns are up 4%.", usage=(120, 8)))
    run = engine.start(plan_of(LLM), {"topic": "returns"})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"text": "Returns are up 4%."}
    sent = server.last.body
    assert sent["messages"][0] == {"role": "system", "content": "You write briefs."}
    assert sent["messages"][-1]["content"] == "Write a brief on returns."
    (call,) = store.model_calls(run.id)
    assert (call.node_id, call.purpose, call.prompt_tokens, call.completion_tokens) == \
        ("brief", "llm", 120, 8)
    assert call.cost == pytest.approx((120 * 1.0 + 8 * 2.0) / 1e6)
    rec = next(r for r in store.node_results(run.id) if r.node_id == "brief")
    assert rec.metrics is None  # its figures are its calls': not written twice
    from flowc.runtime.trace import build_trace

    node = next(n for n in build_trace(store, run.id).nodes if n.id == "brief")
    assert (node.prompt_tokens, node.completion_tokens, node.calls, node.model) == \
        (120, 8, 1, "default")
    assert node.cost == pytest.approx((120 * 1.0 + 8 * 2.0) / 1e6)
    assert rec.output["memory"]["messages"][-1] == {"role": "assistant",
                                                    "content": "Returns are up 4%."}


TYPED = '''flow t version "1.0.0"
record Verdict { label: enum { refund, replace, reject }, confidence: float }
input message: str
node verdict: Verdict = llm { prompt "Classify: {message}" }
node review = await human(
  when:    verdict.confidence < 0.8,
  to:      role("lead"),
  title:   "Unsure: {verdict.label}",
  actions: [approve, reject],
  timeout: 1h -> reject,
)
output label = verdict.label
output decided = review.outcome
'''


def test_structured_output_is_checked_and_re_asked_then_drives_a_gate(engine, store, server):
    server.push(json_reply({"label": "refund"}),                       # missing a field
                json_reply({"label": "refund", "confidence": 0.55}))
    run = engine.start(plan_of(TYPED), {"message": "It broke."})
    assert run.status == "paused"  # confidence 0.55 < 0.8: a person looks at it
    assert len(server.requests) == 2
    reask = server.requests[1].body["messages"][-1]["content"]
    assert "confidence" in reask and "does not fit" in reask
    calls = store.model_calls(run.id)
    assert [c.purpose for c in calls] == ["llm", "reask"]
    rec = next(r for r in store.node_results(run.id) if r.node_id == "verdict")
    assert rec.metrics["reasks"] == 1 and rec.output["confidence"] == 0.55
    # the schema went over the wire as OpenAI's strict json_schema
    fmt = server.requests[0].body["response_format"]
    assert fmt["type"] == "json_schema" and "confidence" in fmt["json_schema"]["schema"][
        "properties"]


def test_a_confident_verdict_passes_the_gate(engine, server):
    server.push(json_reply({"label": "replace", "confidence": 0.97}))
    run = engine.start(plan_of(TYPED), {"message": "Wrong size."})
    assert run.status == "succeeded" and run.outputs == {"label": "replace",
                                                         "decided": "approved"}


def test_answers_that_never_fit_fail_after_bounded_re_asks(engine, server):
    server.push(*[raw_reply({"id": "x", "object": "chat.completion", "created": 0,
                             "model": "fake-gpt", "choices": [{"index": 0, "finish_reason":
                             "stop", "message": {"role": "assistant", "content": "not json"}}],
                             "usage": {"prompt_tokens": 5, "completion_tokens": 2,
                                       "total_tokens": 7}})] * 3)
    run = engine.start(plan_of(TYPED), {"message": "?"})
    assert run.status == "failed"
    assert "did not fit the type after 2 re-asks" in run.error and "not JSON" in run.error
    assert len(server.requests) == 3


def test_a_provider_error_fails_the_node_with_a_clear_message(engine, server):
    server.push(error_reply(400, "Invalid 'messages': too long"))
    run = engine.start(plan_of(LLM), {"topic": "x"})
    assert run.status == "failed" and "too long" in run.error and "brief" in run.error


def test_rate_limits_are_retried(engine, server):
    server.push(error_reply(429, retry_after=0.01), text_reply("fine"))
    run = engine.start(plan_of(LLM), {"topic": "x"})
    assert run.status == "succeeded" and run.outputs["text"] == "fine"


def test_unknown_alias_and_missing_key_are_refused_before_the_run(store, pool, server,
                                                                  monkeypatch):
    text = LLM.replace('model  "default"', 'model  "large"')
    engine = Engine(store, sandbox=pool, models=_models(server))
    with pytest.raises(RunRefused, match=r"node `brief` \(line 3\): unknown model `large`"):
        engine.start(plan_of(text), {"topic": "x"})
    monkeypatch.delenv("FLOWC_TEST_KEY", raising=False)
    with pytest.raises(RunRefused, match="FLOWC_TEST_KEY"):
        engine.start(plan_of(LLM), {"topic": "x"})
    assert store.list_runs() == []


AGENT = '''flow a version "1.0.0"
import sop "sops/style.md" as style
use skill render_report @ ^1.3
deliverable Draft {
  text body
  files { report: file<pdf> }
  fields { subject: str }
  memory
}
input client: str
node draft: Draft = agent {
  goal      "Write {client}'s update and render it as a PDF."
  sops      [style]
  skills    [render_report]
  context   [client]
  max_steps 4
}
output subject = draft.subject
output report: file<pdf> = draft.report
'''


def _agent_plan(tmp_path):
    (tmp_path / "sops").mkdir(exist_ok=True)
    (tmp_path / "sops" / "style.md").write_text("# Style\nShort sentences. No jargon.\n")
    return plan_of(AGENT, tmp_path)


def test_an_agent_calls_a_skill_in_the_sandbox_and_must_finish_with_its_deliverable(
        engine, store, server, tmp_path):
    server.push(
        tool_call_reply("render_report", {"title": "Ada: October", "body": "Up 1.8%."}),
        text_reply("Done, the PDF is rendered."),                 # prose is not an ending
        tool_call_reply("finish", {"body": "Up 1.8%.", "subject": "October",
                                   "report": "nothing.pdf"}, id="call_2"),   # no such file
        tool_call_reply("finish", {"body": "Up 1.8%.", "subject": "October",
                                   "report": "report.pdf"}, id="call_3"))
    engine.base_dir = tmp_path
    run = engine.start(_agent_plan(tmp_path), {"client": "Ada"})
    assert run.status == "succeeded", run.error
    assert run.outputs["subject"] == "October"
    assert run.outputs["report"]["name"] == "report.pdf" and run.outputs["report"]["size"] > 200
    first = server.requests[0].body
    assert [t["function"]["name"] for t in first["tools"]] == ["render_report", "finish"]
    assert "Short sentences" in first["messages"][0]["content"]       # the SOP is in context
    # the skill's observation went back to the model
    tool_msgs = [m for m in server.requests[1].body["messages"] if m["role"] == "tool"]
    assert "exit status 0" in tool_msgs[0]["content"] and "report.pdf" in tool_msgs[0]["content"]
    refused = [m for m in server.requests[3].body["messages"] if m["role"] == "tool"][-1]
    assert "no file `nothing.pdf`" in refused["content"]
    rec = next(r for r in store.node_results(run.id) if r.node_id == "draft")
    assert rec.metrics["steps"] == 4 and rec.metrics["tool_calls"] == 3
    memory = rec.output["memory"]["messages"]
    assert memory[0]["role"] == "system" and memory[-1]["content"] == "accepted"
    # each step is stored as the messages it adds; the trace puts the conversation back
    stored = sorted(store.model_calls(run.id), key=lambda c: c.seq)
    assert "continues" not in stored[0].request and stored[3].request["continues"] == {
        "seq": 3, "messages": len(stored[2].request["messages"]) + stored[2].request[
            "continues"]["messages"]}
    assert len(stored[3].request["messages"]) <= 3
    from flowc.runtime.trace import build_trace

    traced = build_trace(store, run.id, full=True)
    steps = next(n for n in traced.nodes if n.id == "draft").model_calls
    assert [len(c.request["messages"]) for c in steps] == \
        [len(r.body["messages"]) for r in server.requests]


def test_an_agent_that_never_finishes_fails_within_its_step_budget(engine, server, tmp_path):
    server.push(*[text_reply("thinking...")] * 4)
    engine.base_dir = tmp_path
    run = engine.start(_agent_plan(tmp_path), {"client": "Ada"})
    assert run.status == "failed"
    assert "did not call `finish` within 4 steps" in run.error
    assert run.error.endswith("; its steps: no tool call x4"), run.error  # what the model did
    assert len(server.requests) == 4


EXTRACT = '''flow e version "1.0.0"
record Invoice { number: str, total: float, currency: str = "EUR" }
input email: str
node read = llm { prompt "Read this invoice e-mail: {email}" }
node invoice: Invoice = extract {
  from     read.memory
  fallback read.text
}
node booking: str = code python(n: invoice.number) """
result = f"booked {n}"
"""
node by_hand: str = code python(t: invoice.text) """
result = "by hand: " + t
"""
match invoice {
  extracted -> booking
  fallback -> by_hand
}
output result = booking ?? by_hand
'''


def test_extraction_fills_typed_fields_from_memory(engine, store, server):
    server.push(text_reply("Invoice INV-7 for 120.50 EUR, due in 30 days."),
                json_reply({"number": "INV-7", "total": 120.5, "currency": None}))
    run = engine.start(plan_of(EXTRACT), {"email": "Please pay INV-7."})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": "booked INV-7"}
    rec = next(r for r in store.node_results(run.id) if r.node_id == "invoice")
    assert rec.outcome == "extracted" and rec.output["currency"] == "EUR"  # the default
    assert rec.metrics["fallback"] is False
    sent = server.last.body
    assert "INV-7 for 120.50" in sent["messages"][-1]["content"]  # the memory window


def test_extraction_falls_back_to_text_and_says_so(engine, store, server):
    server.push(text_reply("Some invoice, amount unclear."), error_reply(500), error_reply(500),
                error_reply(500))
    run = engine.start(plan_of(EXTRACT), {"email": "?"})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": "by hand: Some invoice, amount unclear."}
    rec = next(r for r in store.node_results(run.id) if r.node_id == "invoice")
    assert rec.outcome == "fallback" and rec.metrics["fallback"] is True
    assert "500" in rec.metrics["fallback_reason"] or "gave up" in rec.metrics["fallback_reason"]
    events = [e for e in store.audit_events(run.id) if e.kind == "extract.fallback"]
    assert events and events[0].payload["node"] == "invoice"


def test_anthropic_messages_api_runs_an_llm_node(store, pool, server, monkeypatch):
    monkeypatch.setenv("FLOWC_TEST_KEY", "sk-test")
    server.push(json_reply({"label": "reject", "confidence": 0.99}))
    with Engine(store, sandbox=pool, models=_models(server, "anthropic")) as engine:
        run = engine.start(plan_of(TYPED), {"message": "spam"})
    assert run.status == "succeeded" and run.outputs["label"] == "reject"
    body = server.last.body
    assert body["tool_choice"]["type"] == "tool" and body["max_tokens"] > 0


def test_record_then_replay_without_any_server(store, pool, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWC_TEST_KEY", "sk-test")
    recording = tmp_path / "rec.jsonl"
    with FakeModelServer(api_key="sk-test") as srv:
        srv.push(text_reply("Invoice INV-9, 10 EUR."),
                 json_reply({"number": "INV-9", "total": 10.0, "currency": "EUR"}))
        with Engine(store, sandbox=pool, models=_models(srv, record=str(recording))) as e:
            first = e.start(plan_of(EXTRACT), {"email": "x"})
    assert first.status == "succeeded"
    assert len(recording.read_text().splitlines()) == 2
    # the server is gone: the replay serves every exchange from the file
    with Engine(store, sandbox=pool,
                models=Models(ProjectConfig(None), replay=str(recording))) as e:
        again = e.start(plan_of(EXTRACT), {"email": "x"})
    assert again.status == "succeeded" and again.outputs == first.outputs
    assert {c.provider for c in store.model_calls(again.id)} == {"replay"}


REPLAY = '''flow r version "1.0.0"
record Figures { total: float }
input text: str
node figures: Figures = llm { prompt "Read the figures in: {text}" }
node share: float = code python(t: figures.total) """
result = 100 / t
"""
output ratio = share
'''


def test_error_replay_reproduces_a_failure_from_the_recorded_calls(engine, store, server):
    server.push(json_reply({"total": 0.0}))
    failed = engine.start(plan_of(REPLAY), {"text": "nothing sold"})
    assert failed.status == "failed" and "ZeroDivisionError" in failed.error
    served = len(server.requests)
    again = engine.replay(failed.id)          # from the failed node: `share`
    assert again.status == "failed" and "ZeroDivisionError" in again.error
    assert len(server.requests) == served     # no model call: `figures` was kept
    kept = next(r for r in store.node_results(again.id) if r.node_id == "figures")
    assert kept.output == {"total": 0.0}
    # its calls stay with the first run: the figures they gave go along with the result
    assert store.model_calls(again.id) == [] or \
        all(c.node_id != "figures" for c in store.model_calls(again.id))
    assert kept.metrics["calls"] == 1 and kept.metrics["model"] == "default" and \
        kept.metrics["reasks"] == 0 and kept.metrics["prompt_tokens"] > 0
    events = store.audit_events(again.id)
    assert events[0].payload["replay_of"] == failed.id and events[0].payload["from"] == "share"


def test_error_replay_from_a_model_node_uses_the_recorded_answer_or_goes_live(
        store, pool, server, monkeypatch):
    monkeypatch.setenv("FLOWC_TEST_KEY", "sk-test")
    with Engine(store, sandbox=pool, models=_models(server)) as e:
        server.push(json_reply({"total": 0.0}))
        failed = e.start(plan_of(REPLAY), {"text": "nothing sold"})
    recorded = store.model_calls(failed.id)
    start, rerun = Engine.replay_scope(store, failed, "figures")
    assert (start, rerun) == ("figures", {"figures", "share"})
    with Engine(store, sandbox=pool,
                models=Models(ProjectConfig(None), replay=recorded)) as e:
        same = e.replay(failed.id, "figures")
    assert same.status == "failed" and "ZeroDivisionError" in same.error
    server.push(json_reply({"total": 4.0}))   # live: the provider answers again
    with Engine(store, sandbox=pool, models=_models(server, replay=recorded,
                                                     live_nodes=rerun)) as e:
        live = e.replay(failed.id, "figures")
    assert live.status == "succeeded" and live.outputs == {"ratio": 25.0}
    with pytest.raises(RunRefused, match="has no node `nope`"):
        Engine.replay_scope(store, failed, "nope")


def test_the_memory_window_keeps_the_newest_messages_within_its_token_budget():
    from flowc.runtime.models.tokens import estimate_tokens
    from flowc.runtime.nodes.model import memory_window

    memory = {"messages": [{"role": "system", "content": "S" * 5000}] + [
        {"role": "user", "content": f"line {i} " + "word " * 20} for i in range(100)]}
    window = memory_window(memory, 200)
    assert estimate_tokens(window) <= 200 + 4
    assert "line 99" in window and "line 0 " not in window and "SSSS" not in window
    json.dumps(memory)


def test_an_extraction_of_twenty_fields_stays_under_500_tokens(engine, store, server):
    fields = ", ".join(f"f{i}: str" for i in range(20))
    text = f'''flow x version "1.0.0"
record Form {{ {fields} }}
input note: str
node read = llm {{ prompt "Read: {{note}}" }}
node form: Form = extract {{
  from     read.memory
  fallback read.text
}}
output ok = form.extracted
'''
    server.push(text_reply("word " * 2000),
                json_reply({f"f{i}": f"value {i}" for i in range(20)}))
    run = engine.start(plan_of(text), {"note": "a long note"})
    assert run.status == "succeeded" and run.outputs == {"ok": True}
    call = next(c for c in store.model_calls(run.id) if c.purpose == "extract")
    assert call.prompt_tokens + call.completion_tokens < 500
    assert "f19: text" in call.request["messages"][0]["content"]


def test_an_agent_is_never_given_a_skill_with_external_effects_as_a_tool(engine, server):
    text = '''flow s version "1.0.0"
use skill send_mail @ ^1.0
input to: str
node note = agent {
  goal   "Write a note to {to}."
  skills [send_mail]
}
output text = note.text
'''
    server.push(tool_call_reply("finish", {"text": "Hello."}))
    run = engine.start(plan_of(text), {"to": "ada@example.com"})
    assert run.status == "succeeded" and run.outputs == {"text": "Hello."}
    body = server.last.body
    assert [t["function"]["name"] for t in body["tools"]] == ["finish"]
    assert "send_mail" in body["messages"][0]["content"]  # named as a playbook, not a tool
