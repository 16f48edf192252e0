"""Real-model behaviours against the HTTP fake (issue 17): cut-off answers, re-asks that
change, truncated tool calls, refused `tool_choice` forms, endpoints without tool calling
(agents in JSON steps), extract's structured output and the model capability settings."""

from __future__ import annotations

import json

import pytest
from flowc_testkit import ROOT, plan_of

from flowc.config import ConfigError, ProjectConfig, load_config
from flowc.runtime.engine import Engine
from flowc.runtime.models.fakeserver import (
    FakeModelServer,
    json_reply,
    raw_reply,
    text_reply,
    tool_call_reply,
)
from flowc.runtime.models.router import Models


def _models(server, **settings):
    cfg = server.model_config("default", "openai", **settings)
    return Models(ProjectConfig(None, {"default": cfg}))


def _engine(store, pool, tmp_path, models):
    return Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"), base_dir=str(ROOT),
                  models=models)


def _raw(content, finish="stop", tool_calls=None, completion=7):
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                  "function": {"name": n, "arguments": a}}
                                 for i, (n, a) in enumerate(tool_calls, 1)]
    return raw_reply({"id": "x", "object": "chat.completion", "created": 0, "model": "fake-gpt",
                      "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                      "usage": {"prompt_tokens": 5, "completion_tokens": completion,
                                "total_tokens": 5 + completion}})


TYPED = '''flow t version "1.0.0"
record Verdict { label: enum { refund, replace, reject }, confidence: float }
input message: str
node verdict: Verdict = llm { prompt "Classify: {message}" }
output label = verdict.label
'''

AGENT = '''flow a version "1.0.0"
record Note { subject: str, body: str }
input client: str
node draft: Note = agent {
  goal      "Write {client}'s update."
  max_steps 4
}
output subject = draft.subject
'''

EXTRACT = '''flow e version "1.0.0"
record Invoice { number: str, total: float }
input email: str
node read = llm { prompt "Read this invoice e-mail: {email}" }
node invoice: Invoice = extract {
  from     read.memory
  fallback read.text
}
output number = invoice.number ?? "none"
'''


# ------------------------------------------------------------------------ cut-off answers
def test_a_cut_off_answer_is_named_with_its_cause_and_the_fix(store, pool, tmp_path):
    with FakeModelServer() as srv:
        srv.push(*[_raw('{"label": "refund", "confidence": 0.', "length", completion=64)] * 3)
        with _engine(store, pool, tmp_path, _models(srv)) as e:
            run = e.start(plan_of(TYPED), {"message": "It broke."})
        assert run.status == "failed"
        assert "cut off at the token limit (finish_reason `length`, 64 completion tokens)" \
            in run.error and "raise `max_tokens` on the node or in flowc.toml" in run.error
        assert "Unterminated" not in run.error
        feedback = srv.requests[1].body["messages"][-1]["content"]
        assert "cut off" in feedback and "shorter" in feedback


def test_re_asks_change_the_request_and_use_the_reask_temperature(store, pool, tmp_path):
    with FakeModelServer() as srv:
        srv.push(json_reply({"label": "refund"}), json_reply({"label": "oops"}),
                 json_reply({"label": "refund", "confidence": 0.9}))
        with _engine(store, pool, tmp_path, _models(srv, reask_temperature=0.7)) as e:
            run = e.start(plan_of(TYPED), {"message": "It broke."})
        assert run.status == "succeeded", run.error
        bodies = [r.body for r in srv.requests]
        assert "temperature" not in bodies[0] and bodies[1]["temperature"] == 0.7
        assert json.dumps(bodies[1], sort_keys=True) != json.dumps(bodies[2], sort_keys=True)
        assert "does not fit" in bodies[1]["messages"][-1]["content"]


# ---------------------------------------------------------------------------- tool calls
def test_a_truncated_tool_call_is_an_error_about_the_call(store, pool, tmp_path):
    with FakeModelServer() as srv:
        srv.push(*[_raw(None, "length", [("finish", '{"subject": "Oct", "body": "Up 1')],
                        completion=512)] * 4)
        with _engine(store, pool, tmp_path, _models(srv, agent_steps="tools")) as e:
            run = e.start(plan_of(AGENT), {"client": "Ada"})
        assert run.status == "failed"
        assert "call of `finish` had arguments that are not valid JSON" in run.error
        assert "finish_reason `length`" in run.error and "max_tokens" in run.error
        assert "_invalid_json" not in run.error and "declared field" not in run.error
        told = [m for m in srv.requests[1].body["messages"] if m["role"] == "tool"][-1]
        assert "not valid JSON" in told["content"] and "cut off" in told["content"]


def test_parallel_tool_calls_false_goes_with_tools_unless_configured_off(store, pool, tmp_path):
    finish = tool_call_reply("finish", {"subject": "Oct", "body": "Up."})
    with FakeModelServer() as srv:
        srv.push(finish)
        with _engine(store, pool, tmp_path, _models(srv)) as e:
            assert e.start(plan_of(AGENT), {"client": "Ada"}).status == "succeeded"
        assert srv.last.body["parallel_tool_calls"] is False
        srv.push(finish)
        with _engine(store, pool, tmp_path, _models(srv, parallel_tool_calls=False)) as e:
            assert e.start(plan_of(AGENT), {"client": "Ada"}).status == "succeeded"
        assert "parallel_tool_calls" not in srv.last.body


# -------------------------------------------------------------------------- JSON steps
def _json_step(tool, arguments):
    return json_reply({"step": {"tool": tool, "arguments": arguments}})


def test_an_agent_on_an_endpoint_without_tools_finishes_through_json_steps(store, pool,
                                                                           tmp_path):
    with FakeModelServer.llama_like() as srv:
        srv.push(tool_call_reply("finish", {"subject": "x", "body": "y"}),  # ignored: text
                 _json_step("finish", {"subject": "Oct"}),                  # missing `body`
                 _json_step("finish", {"subject": "Oct", "body": "Up 1.8%."}))
        with _engine(store, pool, tmp_path, _models(srv)) as e:
            run = e.start(plan_of(AGENT), {"client": "Ada"})
        assert run.status == "succeeded", run.error
        assert run.outputs == {"subject": "Oct"}
        first, second, third = (r.body for r in srv.requests)
        assert first["tool_choice"] == "required" and "response_format" not in first
        fmt = second["response_format"]["json_schema"]
        assert "tools" not in second and fmt["schema"]["required"] == ["step"]
        assert [o["properties"]["tool"]["enum"] for o in
                fmt["schema"]["properties"]["step"]["anyOf"]] == [["finish"]]
        assert "`finish`" in second["messages"][0]["content"]   # tools in the system prompt
        told = third["messages"][-1]
        assert told["role"] == "user" and told["content"].startswith("Result of `finish`: Not "
                                                                     "accepted")
        assert all(m["role"] != "tool" for m in third["messages"])
        rec = next(r for r in store.node_results(run.id) if r.node_id == "draft")
        assert rec.metrics["agent_steps"] == "json" and rec.metrics["agent_steps_switched"] == 2


def test_a_refused_tool_choice_form_is_retried_as_a_json_step_at_once(store, pool, tmp_path):
    with FakeModelServer(refuse_tool_choice=("required",)) as srv:
        srv.push(_json_step("finish", {"subject": "Oct", "body": "Up."}))
        with _engine(store, pool, tmp_path, _models(srv)) as e:
            run = e.start(plan_of(AGENT), {"client": "Ada"})
        assert run.status == "succeeded", run.error
        assert len(srv.requests) == 2 and "response_format" in srv.requests[1].body
        rec = next(r for r in store.node_results(run.id) if r.node_id == "draft")
        assert rec.metrics["agent_steps"] == "json" and rec.metrics["steps"] == 1


def test_agent_steps_tools_keeps_native_calls_and_refusals_fail(store, pool, tmp_path):
    with FakeModelServer(refuse_tool_choice=("required",)) as srv:
        with _engine(store, pool, tmp_path, _models(srv, agent_steps="tools")) as e:
            run = e.start(plan_of(AGENT), {"client": "Ada"})
        assert run.status == "failed" and "HTTP 400" in run.error and len(srv.requests) == 1


def test_agent_steps_json_from_the_first_step_and_its_replay(store, pool, tmp_path):
    recording = tmp_path / "rec.jsonl"
    with FakeModelServer() as srv:
        srv.push(text_reply("not json at all"),
                 _json_step("finish", {"subject": "Oct", "body": "Up."}))
        cfg = srv.model_config("default", "openai", agent_steps="json")
        models = Models(ProjectConfig(None, {"default": cfg}), record=str(recording))
        with _engine(store, pool, tmp_path, models) as e:
            run = e.start(plan_of(AGENT), {"client": "Ada"})
        assert run.status == "succeeded", run.error
        assert "tools" not in srv.requests[0].body
        assert "not JSON" in srv.requests[1].body["messages"][-1]["content"]
        with _engine(store, pool, tmp_path, Models(ProjectConfig(None, {"default": cfg}),
                                                    replay=str(recording))) as e:
            again = e.start(plan_of(AGENT), {"client": "Ada"})
        assert again.status == "succeeded" and again.outputs == run.outputs


def test_an_auto_switched_run_replays_the_same_way(store, pool, tmp_path):
    recording = tmp_path / "rec.jsonl"
    with FakeModelServer.llama_like() as srv:
        srv.push(text_reply("I will write it."),
                 _json_step("finish", {"subject": "Oct", "body": "Up."}))
        models = Models(ProjectConfig(None, {"default": srv.model_config()}),
                        record=str(recording))
        with _engine(store, pool, tmp_path, models) as e:
            run = e.start(plan_of(AGENT), {"client": "Ada"})
        assert run.status == "succeeded", run.error
    with _engine(store, pool, tmp_path, Models(ProjectConfig(None), replay=str(recording))) as e:
        again = e.start(plan_of(AGENT), {"client": "Ada"})
    assert again.status == "succeeded" and again.outputs == run.outputs


def test_a_run_switched_by_a_refused_tool_choice_replays_the_same_way(store, pool, tmp_path):
    """The HTTP 400 is recorded as the call's error; replayed, the same refusal switches the
    agent to JSON steps at the same step, with no server at all."""
    recording = tmp_path / "rec.jsonl"
    with FakeModelServer(refuse_tool_choice=("required",)) as srv:
        srv.push(_json_step("finish", {"subject": "Oct", "body": "Up."}))
        models = Models(ProjectConfig(None, {"default": srv.model_config()}),
                        record=str(recording))
        with _engine(store, pool, tmp_path, models) as e:
            run = e.start(plan_of(AGENT), {"client": "Ada"})
        assert run.status == "succeeded", run.error
    lines = [json.loads(x) for x in recording.read_text().splitlines()]
    assert len(lines) == 2 and "HTTP 400" in lines[0]["error"] and lines[1]["error"] is None
    with _engine(store, pool, tmp_path, Models(ProjectConfig(None), replay=str(recording))) as e:
        again = e.start(plan_of(AGENT), {"client": "Ada"})
    assert again.status == "succeeded" and again.outputs == run.outputs
    rec = next(r for r in store.node_results(again.id) if r.node_id == "draft")
    assert rec.metrics["agent_steps"] == "json" and rec.metrics["agent_steps_switched"] == 1


# ------------------------------------------------------------------- structured output
def test_extract_sends_its_schema_as_response_format(store, pool, tmp_path):
    with FakeModelServer() as srv:
        srv.push(text_reply("Invoice INV-7 for 120.50 EUR."),
                 json_reply({"number": "INV-7", "total": 120.5}))
        with _engine(store, pool, tmp_path, _models(srv)) as e:
            run = e.start(plan_of(EXTRACT), {"email": "Please pay INV-7."})
        assert run.status == "succeeded" and run.outputs == {"number": "INV-7"}
        body = srv.last.body
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and set(fmt["json_schema"]["schema"][
            "properties"]) == {"number", "total"}
        assert "Fields: number: text; total: number" in body["messages"][0]["content"]


def test_structured_output_none_puts_the_schema_in_the_prompt(store, pool, tmp_path):
    with FakeModelServer() as srv:
        srv.push(text_reply("Invoice INV-7 for 120.50 EUR."),
                 json_reply({"number": "INV-7", "total": 120.5}),
                 json_reply({"label": "refund", "confidence": 0.9}))
        with _engine(store, pool, tmp_path, _models(srv, structured_output="none")) as e:
            assert e.start(plan_of(EXTRACT), {"email": "x"}).status == "succeeded"
            assert "response_format" not in srv.last.body
            assert e.start(plan_of(TYPED), {"message": "x"}).status == "succeeded"
        assert "response_format" not in srv.last.body
        assert '"confidence"' in srv.last.body["messages"][-1]["content"]


# ------------------------------------------------------------------------------ config
@pytest.mark.parametrize("line, message", [
    ('structured_output = "grammar"', "`structured_output` must be one of"),
    ('agent_steps = "native"', "`agent_steps` must be one of"),
    ('parallel_tool_calls = "no"', "`parallel_tool_calls` must be true or false"),
    ('reask_temperature = "hot"', "`reask_temperature` must be"),
])
def test_capability_settings_are_validated(tmp_path, line, message):
    (tmp_path / "flowc.toml").write_text(
        f'[models.local]\nprovider = "openai"\nmodel = "m"\n{line}\n')
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path)


def test_capability_settings_are_read(tmp_path):
    (tmp_path / "flowc.toml").write_text(
        '[models.local]\nprovider = "openai"\nmodel = "m"\nstructured_output = "json_schema"\n'
        'agent_steps = "json"\nparallel_tool_calls = false\nreask_temperature = 0.6\n')
    m = load_config(tmp_path).models["local"]
    assert (m.structured_output, m.agent_steps, m.parallel_tool_calls, m.reask_temperature) == \
        ("json_schema", "json", False, 0.6)


def test_a_paragraph_given_as_a_file_name_is_named_on_one_short_line():
    """Seen live: SmolLM2 put a paragraph (with quotes, braces and a newline) where `finish`
    names a file; the run's error quotes it on one line, bounded."""
    from flowc.runtime.nodes.agent import _named

    said = "The recent report is a reminder\nof how much\x1b[31m we are leaving " * 5 + "}}]{}"
    named = _named(said)
    assert len(named) == 80 and named.endswith("…")
    assert "\n" not in named and "\x1b" not in named and named.startswith("The recent report")
    assert _named("table.csv") == "table.csv"


def test_a_model_sees_a_file_by_name_and_digest_never_its_handle_or_host_path():
    """Seen live: the agent's context held the table file's random handle and this host's
    path, so replaying the same run in another folder sent a different prompt."""
    from flowc.runtime.nodes.model import render_value

    table = {"file_id": "f6f9cb4460b2f831994d04b8136113d75", "name": "table.csv",
             "path": "file:///tmp/run-1/files/table.csv", "sha256": "ab" * 32, "size": 120,
             "media_type": "text/csv"}
    looks_like_a_file = {"path": "notes.txt", "sha256": "cd" * 32}  # data: no handle
    text = render_value({"status": "ok", "table": table, "rows": [table],
                         "data": looks_like_a_file})
    assert "f6f9cb44" not in text and "/tmp/run-1" not in text
    assert text.count('"table.csv"') == 2 and text.count("ab" * 32) == 2
    assert '"notes.txt"' in text   # only files the runtime minted are rewritten


def test_anthropic_asks_for_one_tool_call_per_step_unless_configured_off():
    """Anthropic's form of `parallel_tool_calls: false`: `disable_parallel_tool_use` on the
    tool choice, whenever the request has tools (never with `none`, never on the answer tool
    alone)."""
    from flowc.runtime.models.anthropic import build_payload
    from flowc.runtime.models.base import Message, ModelRequest, ToolSpec

    with FakeModelServer() as srv:
        on = srv.model_config("default", "anthropic")
        off = srv.model_config("default", "anthropic", parallel_tool_calls=False)
    tool = ToolSpec("weather", "The weather.", {"type": "object", "properties": {}})
    ask = [Message("user", "Weather?")]
    body, _ = build_payload(on, ModelRequest(ask, tools=[tool], tool_choice="required"))
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    body, _ = build_payload(on, ModelRequest(ask, tools=[tool]))
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body, _ = build_payload(on, ModelRequest(ask, tools=[tool], tool_choice="none"))
    assert body["tool_choice"] == {"type": "none"}
    body, _ = build_payload(on, ModelRequest(ask, response_schema={
        "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}))
    assert "disable_parallel_tool_use" not in body["tool_choice"]   # the answer tool alone
    body, _ = build_payload(off, ModelRequest(ask, tools=[tool], tool_choice="required"))
    assert body["tool_choice"] == {"type": "any"}
