"""Hostile model output (issue 17, adversarial review): whatever an endpoint answers, a run
fails its node with a clear, bounded, one-line-ish error or succeeds with a validated value;
it never hangs, never lets a Python exception's internals stand as the error, never accepts
what does not fit the declared type, and a model-given file name never reaches a file that is
not one this run produced.

Every case goes over real HTTP to the fake OpenAI / Anthropic server, through the real
providers, a real SQLite store and the module's sandbox pool. Cases that show a bug are kept
as strict xfails naming the cause, so the suite stays green and the bug stays recorded."""

from __future__ import annotations

import json
import random
import re
import threading

import pytest
from flowc_testkit import ROOT, plan_of

from flowc.config import ProjectConfig
from flowc.runtime.engine import Engine
from flowc.runtime.models.fakeserver import (
    FakeModelServer,
    error_reply,
    json_reply,
    raw_reply,
    text_reply,
    tool_call_reply,
)
from flowc.runtime.models.router import Models

# ----------------------------------------------------------------------------- the flows
TYPED = '''flow t version "1.0.0"
record Verdict { label: enum { refund, replace, reject }, confidence: float }
input message: str
node verdict: Verdict = llm { prompt "Classify: {message}" }
output label = verdict.label
output confidence = verdict.confidence
'''

AGENT = '''flow a version "1.0.0"
record Note { subject: str, body: str }
input client: str
node draft: Note = agent {
  goal      "Write {client}'s update."
  max_steps 3
}
output subject = draft.subject
output body = draft.body
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

FILE_AGENT = '''flow f version "1.0.0"
use skill render_report @ ^1.3
deliverable Draft {
  text body
  files { report: file<pdf> }
  fields { subject: str }
}
input client: str
node draft: Draft = agent {
  goal      "Write {client}'s update and render it as a PDF."
  skills    [render_report]
  max_steps 3
}
output subject = draft.subject
output report: file<pdf> = draft.report
'''

FLOWS = {"llm": TYPED, "agent": AGENT, "extract": EXTRACT}
INPUTS = {"llm": {"message": "It broke."}, "agent": {"client": "Ada"},
          "extract": {"email": "Please pay INV-7."}}

# Python exception names that must never stand as a node's error: the node's own code let an
# exception through, and the engine's last-resort handler named it.
_INTERNAL = re.compile(r"\b(TypeError|AttributeError|KeyError|IndexError|RecursionError|"
                       r"UnicodeEncodeError|UnicodeDecodeError|OverflowError|ValueError|"
                       r"AssertionError|Traceback|unhashable type|object has no attribute)\b")
_MAX_ERROR = 1500   # "bounded": well under the store's 4000-character cap


def _models(server, provider="openai", **settings):
    settings.setdefault("max_retries", 0)
    settings.setdefault("timeout", 20)
    cfg = server.model_config("default", provider, **settings)
    return Models(ProjectConfig(None, {"default": cfg}))


def _run(store, pool, tmp_path, models, flow, inputs, base_dir=ROOT):
    """Start the run in a thread: a hang is a failure (60 s), not a stuck suite."""
    box: dict = {}

    def go():
        try:
            with Engine(store, sandbox=pool, workspace=str(tmp_path / "ws"),
                        base_dir=str(base_dir), models=models) as e:
                box["run"] = e.start(plan_of(flow, base_dir), inputs)
        except BaseException as ex:  # what escapes is the finding
            box["raised"] = ex

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "the run hung (no result within 60 s)"
    assert "raised" not in box, f"an exception escaped the engine: {box['raised']!r}"
    return box["run"]


def _assert_guarantee(run, kind: str) -> None:
    assert run.status in ("succeeded", "failed"), run.status
    if run.status == "failed":
        err = run.error
        assert isinstance(err, str) and err.strip()
        assert len(err) <= _MAX_ERROR, f"unbounded error ({len(err)} chars): {err[:200]!r}..."
        assert "\x1b" not in err and "\x00" not in err, f"raw control characters: {err[:300]!r}"
        assert err.count("\n") <= 2, f"not one line: {err[:300]!r}"
        assert not _INTERNAL.search(err), f"an internal exception as the error: {err[:300]!r}"
        return
    out = run.outputs
    if kind == "llm":
        assert out["label"] in ("refund", "replace", "reject")
        assert isinstance(out["confidence"], float | int) and not isinstance(
            out["confidence"], bool)
    elif kind == "agent":
        assert isinstance(out["subject"], str) and isinstance(out["body"], str)
    elif kind == "extract":
        assert isinstance(out["number"], str)


# ------------------------------------------------------------------- raw OpenAI answers
def _body(content="x", *, finish="stop", tool_calls=None, message=None, usage=None,
          choices=None, **extra):
    msg = {"role": "assistant", "content": content}
    if tool_calls is not None:
        msg["tool_calls"] = tool_calls
    if message is not None:
        msg = message
    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "fake-gpt",
            "choices": [{"index": 0, "finish_reason": finish, "message": msg}]
            if choices is None else choices,
            "usage": {"prompt_tokens": 5, "completion_tokens": 7} if usage is None else usage}
    body.update(extra)
    return body


def _call(name, arguments):
    return [{"id": "call_1", "type": "function",
             "function": {"name": name, "arguments": arguments}}]


_DEEP = "[" * 200_000 + "]" * 200_000
_GOOD_NOTE = json.dumps({"subject": "Oct", "body": "Up."})
_GOOD_VERDICT = json.dumps({"label": "refund", "confidence": 0.9})

BUG_NONSTR_CONTENT = ("BUG: a non-string `content` (number, object) becomes ModelResponse.text "
                      "unchecked (openai.py parse_response, `text = message.get('content') or "
                      "''`); parse_answer then calls .strip() on it (model.py parse_answer): "
                      "AttributeError as the node's error, no re-ask")
BUG_PARTS = ("BUG: content parts whose `text` is not a string make "
             "`''.join(p.get('text', ''))` raise TypeError (openai.py parse_response)")
BUG_SHAPE = ("BUG: parse_response assumes `choices[0]`, `message` and each `tool_calls` entry "
             "and its `function` are objects (openai.py parse_response: choice.get / "
             "message.get / c.get): AttributeError escapes instead of ModelProtocolError")
BUG_FINISH = ("BUG: an unhashable `finish_reason` (a list) is looked up in the _FINISH dict "
              "(openai.py parse_response `_FINISH.get(...)`): TypeError unhashable type")
BUG_USAGE = ("BUG: usage counts are passed to int() unchecked (openai.py parse_response "
             "`int(usage.get('prompt_tokens') or 0)`): ValueError/TypeError/OverflowError "
             "escapes the llm node (calls.call is outside its try)")
BUG_DEEP = ("BUG: deeply nested JSON makes json.loads raise RecursionError, which "
            "PreparedSchema.decode (schemas.py) and openai._arguments catch no more than "
            "(TypeError, ValueError): it escapes the node (the engine's last-resort "
            "handler names the RecursionError), unrecorded, with no re-ask, and an extract "
            "node fails instead of falling back to its declared text")
BUG_TOOLNAME = ("BUG: a tool call whose name is not a string (a list) reaches "
                "`tc.name in pins` (agent.py _agent, the `did.append` line): TypeError "
                "unhashable type")
BUG_SURROGATE = ("BUG: a lone surrogate escaped in the answer (\\ud800) is kept in the "
                 "conversation; the next request's body is json.dumps(ensure_ascii=False)"
                 ".encode() (transport.py HttpTransport.post) and raises UnicodeEncodeError")
BUG_LONG_KEY = ("BUG: a field name the model invents goes whole into the schema error's path "
                "(validate.py schema_errors: f\"`{path}.{key}` is not a declared field\"), "
                "so a 5000-character key makes a 4000-character run.error")
BUG_HTTP_DEEP = ("BUG: an HTTP body nested too deeply makes response.json() raise "
                 "RecursionError, not ValueError (transport.py HttpTransport.post): it escapes "
                 "as an internal error instead of ModelProtocolError")
BUG_PROVIDER_MSG = ("BUG: the provider's error message goes into the error unbounded and "
                    "unsanitised (transport.py provider_message returns err['message'] as "
                    "it is): kilobytes and raw ESC/newlines in run.error")


# Fixed since they were found (the cases stay, as plain tests): every field of an answer is
# checked in parse_response (runtime/models/base.py answer_text/answer_count), RecursionError
# is "not JSON", a JSON step's tool must be a string; a lone surrogate is sent on and stored
# as its JSON escape (transport.py, store/codec.py).
FIXED = ("BUG: a non-string `content`", "BUG: content parts whose", "BUG: parse_response assumes",
         "BUG: an unhashable `finish_reason`", "BUG: usage counts", "BUG: deeply nested JSON",
         "BUG: a tool call whose name", "BUG: a JSON step whose `tool`",
         "BUG: a `text` block whose", "BUG: an unhashable `stop_reason`",
         "BUG: a field name the model invents", "BUG: an HTTP body nested too deeply",
         "BUG: the provider's error message", "BUG: a lone surrogate escaped",
         "BUG: an answer holding a lone surrogate")


def _xf(reason):
    if reason.startswith(FIXED):
        return ()
    return pytest.mark.xfail(strict=True, reason=reason)


# (id, flow kind, body, xfail reason or None). Each body is served for every call of the run.
OPENAI_CASES = [
    # text the model writes
    ("nul-control-esc-text", "llm", _body("\x00\x01\x1b[2J\x1b]0;pwned\x07\r\n\x7f"), None),
    ("esc-in-enum", "llm", _body(json.dumps({"label": "refund\x1b[31m", "confidence": 1.0})),
     None),
    ("nul-in-enum", "llm", _body(json.dumps({"label": "refund\x00", "confidence": 1.0})), None),
    ("wrong-type-confidence", "llm", _body(json.dumps({"label": "refund",
                                                       "confidence": "0.9"})), None),
    ("bool-as-number", "llm", _body(json.dumps({"label": "refund", "confidence": True})), None),
    ("extra-field", "llm", _body(json.dumps({"label": "refund", "confidence": 1.0,
                                             "x" * 5000: 1})), _xf(BUG_LONG_KEY)),
    ("array-not-object", "llm", _body(json.dumps([{"label": "refund", "confidence": 1}])),
     None),
    ("json-null", "llm", _body("null"), None),
    ("json-scalar", "llm", _body("42"), None),
    ("nan", "llm", _body('{"label": "refund", "confidence": NaN}'), None),
    ("infinity", "llm", _body('{"label": "refund", "confidence": 1e999}'), None),
    ("huge-int", "llm", _body('{"label": "refund", "confidence": ' + "9" * 5000 + "}"), None),
    ("huge-text-not-json", "llm", _body("A" * 2_000_000), None),
    ("huge-label", "llm", _body(json.dumps({"label": "r" * 1_000_000, "confidence": 1.0})),
     None),
    ("valid-then-garbage", "llm", _body(_GOOD_VERDICT + " and " + "z" * 100_000), None),
    ("fenced", "llm", _body("```json\n" + _GOOD_VERDICT + "\n```"), None),
    ("cut-off-valid", "llm", _body(_GOOD_VERDICT, finish="length"), None),
    ("cut-off-invalid", "llm", _body('{"label": "ref', finish="length"), None),
    ("content-filter", "llm", _body("", finish="content_filter"), None),
    ("unknown-finish", "llm", _body(_GOOD_VERDICT, finish="\x1b[31mweird" * 1000), None),
    ("refusal", "llm", _body(None, message={"role": "assistant", "content": None,
                                            "refusal": "I won't." * 3000}), None),
    ("null-content", "llm", _body(None), None),
    ("lone-surrogate-escape", "llm",
     _body('{"label": "refund", "confidence": 1.0, "note": "\\ud800"}'), _xf(BUG_SURROGATE)),
    ("deep-json-text", "llm", _body(_DEEP), _xf(BUG_DEEP)),
    ("content-number", "llm", _body(5), _xf(BUG_NONSTR_CONTENT)),
    ("content-object", "llm", _body({"label": "refund", "confidence": 1.0}),
     _xf(BUG_NONSTR_CONTENT)),
    ("content-parts-bad", "llm", _body([{"type": "text", "text": 5}]), _xf(BUG_PARTS)),
    ("content-parts-ok", "llm", _body([{"type": "text", "text": _GOOD_VERDICT}, "junk"]), None),
    ("choices-empty", "llm", _body(choices=[]), None),
    ("choices-string", "llm", _body(choices="abc"), _xf(BUG_SHAPE)),
    ("choice-null", "llm", _body(choices=[None]), _xf(BUG_SHAPE)),
    ("message-string", "llm", _body(message="hello"), _xf(BUG_SHAPE)),
    ("finish-list", "llm", _body(_GOOD_VERDICT, finish=["length"]), _xf(BUG_FINISH)),
    ("usage-string", "llm", _body(_GOOD_VERDICT, usage={"prompt_tokens": "lots"}),
     _xf(BUG_USAGE)),
    ("usage-not-object", "llm", _body(_GOOD_VERDICT, usage="lots"), _xf(BUG_USAGE)),
    ("usage-infinite", "llm", _body(_GOOD_VERDICT, usage={"prompt_tokens": 1e999}),
     _xf(BUG_USAGE)),
    ("usage-negative", "llm", _body(_GOOD_VERDICT, usage={"prompt_tokens": -10**12,
                                                          "completion_tokens": -5}), None),
    ("extract-content-number", "extract", _body(5), _xf(BUG_NONSTR_CONTENT)),
    ("extract-deep", "extract", _body(_DEEP), _xf(BUG_DEEP)),
    ("extract-usage-string", "extract", _body("x", usage={"completion_tokens": "x"}), None),
    ("extract-nul", "extract", _body('{"number": "INV\\u0000\\u001b[2J", "total": 1}'), None),
    # agents: tool calls
    ("unknown-tool", "agent", _body(None, tool_calls=_call("rm_rf", "{}")), None),
    ("tool-name-esc", "agent", _body(None, tool_calls=_call("\x1b[2J" * 5000, "{}")), None),
    ("tool-name-number", "agent", _body(None, tool_calls=_call(7, _GOOD_NOTE)), None),
    ("tool-name-list", "agent", _body(None, tool_calls=_call(["finish"], _GOOD_NOTE)),
     _xf(BUG_TOOLNAME)),
    ("tool-name-missing", "agent", _body(None, tool_calls=[{"id": "c", "function": {
        "arguments": _GOOD_NOTE}}]), None),
    ("args-not-json", "agent", _body(None, tool_calls=_call("finish", "{" + "x" * 50_000)),
     None),
    ("args-cut-off", "agent", _body(None, finish="length",
                                    tool_calls=_call("finish", '{"subject": "O')), None),
    ("args-array", "agent", _body(None, tool_calls=_call("finish", "[1, 2]")), None),
    ("args-object-not-string", "agent",
     _body(None, tool_calls=_call("finish", {"subject": "Oct", "body": "Up."})), None),
    ("args-wrong-types", "agent", _body(None, tool_calls=_call(
        "finish", json.dumps({"subject": ["Oct"], "body": {"a": 1}}))), None),
    ("args-extra-field", "agent", _body(None, tool_calls=_call(
        "finish", json.dumps({"subject": "Oct", "body": "Up.", "memory": "x"}))), None),
    ("args-nul-esc", "agent", _body(None, tool_calls=_call(
        "finish", json.dumps({"subject": "\x00\x1b[2J", "body": "\x07"}))), None),
    ("args-huge", "agent", _body(None, tool_calls=_call(
        "finish", json.dumps({"subject": "s" * 1_000_000, "body": "b"}))), None),
    ("args-nested-100k", "agent", _body(None, tool_calls=_call(
        "finish", json.dumps({"subject": "s", "body": "b", "x": [[[[1]]]] * 10}))), None),
    ("args-deep", "agent", _body(None, tool_calls=_call("finish", _DEEP)), _xf(BUG_DEEP)),
    ("args-lone-surrogate", "agent", _body(None, tool_calls=_call(
        "finish", '{"subject": "\\udc00", "body": "b"}')), None),
    ("unknown-tool-lone-surrogate", "agent", _body(None, tool_calls=_call(
        "nope", '{"subject": "\\udc00"}')), _xf(BUG_SURROGATE)),
    ("tool-calls-string", "agent", _body(None, tool_calls="finish"), _xf(BUG_SHAPE)),
    ("tool-call-not-object", "agent", _body(None, tool_calls=[5]), _xf(BUG_SHAPE)),
    ("function-not-object", "agent", _body(None, tool_calls=[{"id": "c", "function": "f"}]),
     _xf(BUG_SHAPE)),
    ("many-tool-calls", "agent", _body(None, tool_calls=[
        {"id": f"c{i}", "type": "function", "function": {"name": "finish", "arguments": "{}"}}
        for i in range(2000)]), None),
    ("prose-only", "agent", _body("I am done! " * 2000), None),
]


@pytest.mark.parametrize("kind, body", [
    pytest.param(k, b, id=i, marks=m or ()) for i, k, b, m in OPENAI_CASES])
def test_a_hostile_openai_answer_keeps_the_guarantee(store, pool, tmp_path, kind, body):
    with FakeModelServer() as srv:
        if kind == "extract":   # the reading llm answers plainly; the extraction is hostile
            srv.push(text_reply("Invoice INV-7 for 120.50 EUR."))
        srv.push(*[raw_reply(body)] * 12)
        run = _run(store, pool, tmp_path, _models(srv), FLOWS[kind], INPUTS[kind])
    _assert_guarantee(run, kind)


def test_an_answer_with_a_lone_surrogate_is_still_recorded_in_the_trace(store, pool,
                                                                         tmp_path):
    with FakeModelServer() as srv:
        srv.push(raw_reply(_body(None, tool_calls=_call(
            "finish", '{"subject": "\\udc00", "body": "b"}'))))
        run = _run(store, pool, tmp_path, _models(srv), AGENT, INPUTS["agent"])
    assert run.status == "failed"
    calls = store.model_calls(run.id)
    assert len(calls) == 1
    # kept as it came: the surrogate reads back from the store (stored as its JSON escape)
    assert "\udc00" in json.dumps(calls[0].response, ensure_ascii=False), calls[0].response


def test_a_nul_in_a_finished_text_is_kept_as_text_not_truncated(store, pool, tmp_path):
    """The control case for the NUL cases above: a string with NUL fits `str`, and the run
    keeps it whole."""
    with FakeModelServer() as srv:
        srv.push(raw_reply(_body(None, tool_calls=_call(
            "finish", json.dumps({"subject": "a\x00b", "body": "c"})))))
        run = _run(store, pool, tmp_path, _models(srv), AGENT, INPUTS["agent"])
    assert run.status == "succeeded" and run.outputs["subject"] == "a\x00b"


# ----------------------------------------------------------------- raw HTTP-level answers
HTTP_CASES = [
    ("not-json", raw_reply(b"<html>\x1b[2J" + b"x" * 100_000), None),
    ("binary", raw_reply(bytes(range(256)) * 100), None),
    ("json-array-body", raw_reply([1, 2, 3]), None),
    ("json-string-body", raw_reply('"hello"'), None),
    ("empty-body", raw_reply(b""), None),
    ("deep-body", raw_reply(_DEEP), _xf(BUG_HTTP_DEEP)),
    ("error-400-huge-message", error_reply(400, "\x1b[31mno\n" * 20_000),
     _xf(BUG_PROVIDER_MSG)),
    ("error-400-html", raw_reply(b"<html>" + b"y" * 100_000, status=400), None),
    ("error-500-then-gives-up", error_reply(500, "z" * 50_000), _xf(BUG_PROVIDER_MSG)),
]


@pytest.mark.parametrize("reply", [pytest.param(r, id=i, marks=m or ())
                                   for i, r, m in HTTP_CASES])
def test_a_hostile_http_answer_keeps_the_guarantee(store, pool, tmp_path, reply):
    with FakeModelServer() as srv:
        srv.push(*[reply] * 12)
        run = _run(store, pool, tmp_path, _models(srv), TYPED, INPUTS["llm"])
    assert run.status == "failed"
    _assert_guarantee(run, "llm")


# ---------------------------------------------------------------- JSON steps (agents)
BUG_JSON_STEP_TOOL = ("BUG: a JSON step whose `tool` is unhashable (a list or object) is "
                      "tested with `inner.get('tool') not in names` (agent.py "
                      "parse_json_step): TypeError unhashable type")

JSON_STEP_CASES = [
    ("no-step", {"tool": "finish"}, None),
    ("step-null", {"step": None}, None),
    ("step-string", {"step": "finish"}, None),
    ("tool-unknown", {"step": {"tool": "rm_rf", "arguments": {}}}, None),
    ("tool-number", {"step": {"tool": 1, "arguments": {}}}, None),
    ("tool-list", {"step": {"tool": ["finish"], "arguments": {}}}, _xf(BUG_JSON_STEP_TOOL)),
    ("tool-object", {"step": {"tool": {"a": 1}, "arguments": {}}}, _xf(BUG_JSON_STEP_TOOL)),
    ("args-string", {"step": {"tool": "finish", "arguments": _GOOD_NOTE}}, None),
    ("args-list", {"step": {"tool": "finish", "arguments": ["Oct", "Up."]}}, None),
    ("args-wrong", {"step": {"tool": "finish", "arguments": {"subject": 1, "body": None}}},
     None),
    ("args-esc", {"step": {"tool": "finish", "arguments": {"subject": "\x1b[2J",
                                                           "body": "\x00"}}}, None),
    ("top-level-list", [{"step": {"tool": "finish"}}], None),
]


@pytest.mark.parametrize("answer", [pytest.param(a, id=i, marks=m or ())
                                    for i, a, m in JSON_STEP_CASES])
def test_a_hostile_json_step_keeps_the_guarantee(store, pool, tmp_path, answer):
    with FakeModelServer() as srv:
        srv.push(*[json_reply(answer)] * 12)
        run = _run(store, pool, tmp_path, _models(srv, agent_steps="json"), AGENT,
                   INPUTS["agent"])
    _assert_guarantee(run, "agent")


@pytest.mark.parametrize("text", [
    "\x00" * 10, "{" * 100_000, "x" * 1_000_000, "\x1b[2J\x1b]0;t\x07",
    pytest.param("```\n" + "[" * 4000 + "\n```", id="fenced-deep", marks=_xf(
        BUG_DEEP + " (here model.py parse_answer, called by agent.py parse_json_step, which "
        "catches only ValueError)"))], ids=["nul", "braces", "huge", "esc", "fenced-deep"])
def test_a_json_step_answer_that_is_not_json_fails_bounded(store, pool, tmp_path, text):
    with FakeModelServer() as srv:
        srv.push(*[raw_reply(_body(text, finish="length"))] * 12)
        run = _run(store, pool, tmp_path, _models(srv, agent_steps="json"), AGENT,
                   INPUTS["agent"])
    assert run.status == "failed"
    _assert_guarantee(run, "agent")


# ------------------------------------------------------------------------- Anthropic
def _anthropic(content, stop="end_turn", usage=None):
    return {"id": "m", "type": "message", "role": "assistant", "model": "fake-claude",
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 4} if usage is None else usage}


BUG_ANTHROPIC_TEXT = ("BUG: a `text` block whose text is not a string makes ''.join(texts) "
                      "raise TypeError (anthropic.py parse_response)")
BUG_ANTHROPIC_STOP = ("BUG: an unhashable `stop_reason` is looked up in the _STOP dict "
                      "(anthropic.py parse_response): TypeError unhashable type")
BUG_ANTHROPIC_USAGE = ("BUG: usage counts go to int() unchecked (anthropic.py "
                       "parse_response): ValueError escapes the node")

ANTHROPIC_CASES = [
    ("text-esc", "llm", _anthropic([{"type": "text", "text": "\x1b[2J\x00" * 100}]), None),
    ("content-not-list", "llm", _anthropic({"type": "text"}), None),
    ("blocks-junk", "llm", _anthropic([5, None, "x", {"type": "image"}]), None),
    ("text-number", "llm", _anthropic([{"type": "text", "text": 5}]), _xf(BUG_ANTHROPIC_TEXT)),
    ("stop-list", "llm", _anthropic([{"type": "text", "text": "x"}], stop=["x"]),
     _xf(BUG_ANTHROPIC_STOP)),
    ("usage-string", "llm", _anthropic([{"type": "text", "text": "x"}],
                                       usage={"input_tokens": "many"}),
     _xf(BUG_ANTHROPIC_USAGE)),
    ("answer-tool-wrong-types", "llm", _anthropic([{"type": "tool_use", "id": "t",
                                                    "name": "Verdict",
                                                    "input": {"label": 1, "confidence": "x"}}],
                                                  stop="tool_use"), None),
    ("answer-tool-input-string", "llm", _anthropic([{"type": "tool_use", "id": "t",
                                                     "name": "Verdict", "input": "{}"}]), None),
    ("cut-off", "llm", _anthropic([{"type": "text", "text": '{"label": "re'}],
                                  stop="max_tokens"), None),
    ("agent-unknown-tool", "agent", _anthropic([{"type": "tool_use", "id": "t",
                                                 "name": "\x1b[2Jrm", "input": {}}],
                                               stop="tool_use"), None),
    ("agent-tool-name-list", "agent", _anthropic([{"type": "tool_use", "id": "t",
                                                   "name": ["finish"], "input": {}}],
                                                 stop="tool_use"), _xf(BUG_TOOLNAME)),
    ("agent-finish-wrong", "agent", _anthropic([{"type": "tool_use", "id": "t",
                                                 "name": "finish",
                                                 "input": {"subject": {"x": 1}}}],
                                               stop="tool_use"), None),
]


@pytest.mark.parametrize("kind, body", [pytest.param(k, b, id=i, marks=m or ())
                                        for i, k, b, m in ANTHROPIC_CASES])
def test_a_hostile_anthropic_answer_keeps_the_guarantee(store, pool, tmp_path, kind, body):
    with FakeModelServer() as srv:
        srv.push(*[raw_reply(body)] * 12)
        run = _run(store, pool, tmp_path, _models(srv, "anthropic"), FLOWS[kind],
                   INPUTS[kind])
    _assert_guarantee(run, kind)


# ----------------------------------------------------------------- file names in `finish`
HOSTILE_NAMES = ["../../etc/passwd", "/etc/passwd", "/etc/hostname", "..", ".", "", "/",
                 "~/.ssh/id_rsa", "C:\\Windows\\win.ini", "..\\..\\report.pdf",
                 "file:///etc/passwd", "report.pdf\x00.txt", "report.pdf/..",
                 "\x1b[2J" * 200, "report.pdf\n" * 500, "R" * 100_000]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=[f"n{i}" for i in range(len(HOSTILE_NAMES))])
@pytest.mark.parametrize("after_skill", [False, True], ids=["no-file-yet", "after-skill"])
def test_a_hostile_file_name_in_finish_never_reaches_a_foreign_file(store, pool, tmp_path,
                                                                    name, after_skill):
    finish = {"body": "Up.", "subject": "Oct", "report": name}
    with FakeModelServer() as srv:
        if after_skill:
            srv.push(tool_call_reply("render_report", {"title": "Ada", "body": "Up."}))
        srv.push(*[tool_call_reply("finish", finish, id=f"call_{i}") for i in range(2, 6)])
        run = _run(store, pool, tmp_path, _models(srv), FILE_AGENT, {"client": "Ada"},
                   base_dir=ROOT)
    if run.status == "failed":
        _assert_guarantee(run, "agent-file")
        return
    # accepted: then it is the run's own PDF, the one the skill produced in this run
    report = run.outputs["report"]
    assert after_skill, f"accepted {name!r} with no file produced: {report!r}"
    assert report["name"] == "report.pdf" and report.get("file_id")
    path = str(report.get("path", ""))
    assert "/etc/" not in path and ".ssh" not in path and "win.ini" not in path
    assert str(tmp_path / "ws") in path or path.startswith("file://" + str(tmp_path / "ws"))


# ---------------------------------------------------------------------- a seeded fuzz
def _random_value(rng: random.Random, depth: int = 0):
    pick = rng.randrange(9 if depth < 4 else 5)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False, 0, -1, 1e308, 2 ** 70, 0.5])
    if pick == 2:
        return "".join(chr(rng.choice([0, 7, 27, 10, 92, 34, 0x85, 0x2028, 0xfeff,
                                       rng.randrange(32, 0x2fff)]))
                       for _ in range(rng.randrange(0, 40)))
    if pick == 3:
        return rng.choice(["refund", "replace", "reject", "finish", "Oct", "../x"])
    if pick == 4:
        return "x" * rng.choice([0, 1, 5000, 70_000])
    if pick in (5, 6):
        keys = ["label", "confidence", "subject", "body", "step", "tool", "arguments",
                "value", "number", "total", "\x00", "x" * 300]
        return {rng.choice(keys): _random_value(rng, depth + 1)
                for _ in range(rng.randrange(0, 5))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]


def _random_body(rng: random.Random) -> dict:
    content = rng.choice([
        lambda: json.dumps(_random_value(rng)),
        lambda: json.dumps(_random_value(rng))[: rng.randrange(0, 60)],
        lambda: _random_value(rng) if rng.random() < 0.1 else "plain \x1b text",
        lambda: None,
    ])()
    if not isinstance(content, (str, type(None))):   # known bug (BUG_NONSTR_CONTENT)
        content = json.dumps(content)
    calls = None
    if rng.random() < 0.5:
        name = rng.choice(["finish", "finish", "nope", "", "\x1b[2J"])
        args = rng.choice([lambda: json.dumps(_random_value(rng)),
                           lambda: json.dumps({"subject": _random_value(rng),
                                               "body": _random_value(rng)}),
                           lambda: "{" + "\x00" * rng.randrange(5)])()
        calls = _call(name, args)
    finish = rng.choice(["stop", "length", "tool_calls", "content_filter", "", None, "odd"])
    return _body(content, finish=finish, tool_calls=calls)


@pytest.mark.parametrize("seed", range(6))
def test_seeded_fuzz_of_answers_keeps_the_guarantee(store, pool, tmp_path, seed):
    """Random answers (seeded, repeatable) for the typed llm, the agent and the extraction;
    the shapes already recorded as bugs above (non-string content, unhashable names, deep
    nesting) are left out so that a new failure here is a new finding."""
    rng = random.Random(1700 + seed)
    for kind in ("llm", "agent", "extract"):
        bodies = [_random_body(rng) for _ in range(8)]
        with FakeModelServer() as srv:
            if kind == "extract":
                srv.push(text_reply("Invoice INV-7 for 120.50 EUR."))
            srv.push(*[raw_reply(b) for b in bodies])
            run = _run(store, pool, tmp_path / f"{kind}{seed}", _models(srv), FLOWS[kind],
                       INPUTS[kind])
        _assert_guarantee(run, kind)
