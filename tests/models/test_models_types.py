"""Data types round-trip through JSON; schemas, tokens, the fake server's own checks, the doc."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from models_helpers import KEY, KEY_ENV

from flowc.config import load_config
from flowc.runtime.models import (
    CallKey,
    Message,
    ModelError,
    ModelRequest,
    ModelResponse,
    ModelTimeout,
    ModelUnavailable,
    Recorder,
    RecordingProvider,
    ToolCall,
    ToolSpec,
    Usage,
    estimate_request_tokens,
    estimate_tokens,
    load_exchanges,
)
from flowc.runtime.models.base import error_from_text, error_text
from flowc.runtime.models.fakeserver import FakeModelServer, sample_value, text_reply
from flowc.runtime.models.schemas import clean_schema, prepare_schema, tool_name

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"

CALL = ToolCall("c1", "lookup", {"q": "acme", "n": [1, 2]})
REQUEST = ModelRequest(
    [Message("system", "sys"), Message("user", "hi"),
     Message("assistant", "", tool_calls=[CALL]), Message("tool", "ok", tool_call_id="c1")],
    tools=[ToolSpec("lookup", "Look up", {"type": "object"})],
    response_schema={"type": "object"}, schema_name="answer", temperature=0.0, max_tokens=9,
    tool_choice="required")


@pytest.mark.parametrize("value", [
    CALL, ToolSpec("t", "d", {"type": "object"}), Message("user", "hi"),
    Message("assistant", "x", tool_calls=[CALL]), Message("tool", "r", tool_call_id="c1"),
    REQUEST, ModelRequest([Message("user", "hi")]), Usage(3, 4),
    ModelResponse("{}", [CALL], Usage(1, 2), "tool_calls", "m"),
    CallKey("draft", item=2, attempt=3, seq=4, purpose="reask"),
], ids=lambda v: type(v).__name__)
def test_types_round_trip_through_json(value):
    text = json.dumps(value.to_json())
    assert type(value).from_json(json.loads(text)) == value


def test_bad_role_or_tool_choice_is_refused():
    with pytest.raises(ValueError, match="message role"):
        Message("robot", "x")
    with pytest.raises(ValueError, match="tool_choice"):
        ModelRequest([], tool_choice="always")


@pytest.mark.parametrize("error", [
    ModelTimeout.__new__(ModelTimeout), ModelUnavailable.__new__(ModelUnavailable)])
def test_recorded_errors_come_back_as_their_class(error):
    Exception.__init__(error, "model `x` (...): boom")
    again = error_from_text(error_text(error))
    assert type(again) is type(error) and str(again) == str(error)
    assert again.attempts is None      # attributes exist even on a replayed error
    assert type(error_from_text("KeyError: odd")) is ModelError


def test_tokens_are_a_deterministic_word_piece_count():
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello, world!") == 6            # Hell o , worl d !
    assert estimate_tokens("a_b 12345") == 5                # a _ b 1234 5
    assert estimate_tokens("naïve café") == estimate_tokens("naïve café")
    n = estimate_request_tokens(REQUEST)
    assert n == estimate_request_tokens(ModelRequest.from_json(REQUEST.to_json())) > 10


def test_clean_schema_keeps_properties_named_like_keywords():
    schema = {"type": "object", "title": "T", "x-flowc-deliverable": {"a": "text"},
              "properties": {"title": {"type": "string", "title": "x", "default": "d"}}}
    assert clean_schema(schema) == {"type": "object",
                                    "properties": {"title": {"type": "string"}}}


def test_strict_schema_makes_optional_nullable_and_reads_back():
    schema = {"type": "object", "properties": {
        "a": {"type": "string"}, "b": {"type": "integer"},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "k": {"type": "string"}, "v": {"type": "string"}}, "required": ["k"]}}},
        "required": ["a"]}
    p = prepare_schema(schema, "my answer!", strict=True)
    assert p.strict and p.name == "my_answer_"
    inner = p.schema["properties"]["items"]["anyOf"][0]["items"]
    assert inner["required"] == ["k", "v"] and inner["additionalProperties"] is False
    answer = {"a": "x", "b": None, "items": [{"k": "1", "v": None}]}
    assert json.loads(p.decode(json.dumps(answer))) == {"a": "x", "items": [{"k": "1"}]}
    assert p.decode("not json") == "not json"


@pytest.mark.parametrize("schema", [
    {"type": "object"},                                            # free-form object
    {"type": "object", "properties": {"x": {}}},                   # any value
    {"type": "object", "properties": {"x": {"allOf": [{"type": "string"}]}}},
])
def test_schemas_strict_mode_cannot_express_go_non_strict(schema):
    assert not prepare_schema(schema, strict=True).strict


def test_tool_names_are_made_acceptable():
    assert tool_name("client report") == "client_report"
    assert tool_name("") == "deliverable"
    assert len(tool_name("x" * 100)) == 64


def test_sample_value():
    assert sample_value({"type": "object", "properties": {
        "d": {"type": "string", "format": "date"}, "e": {"enum": ["b", "a"]},
        "o": {"anyOf": [{"type": "string"}, {"type": "null"}]}, "skip": {"type": "string"}},
        "required": ["d", "e", "o"]}) == {"d": "2024-01-01", "e": "b", "o": None}


def test_fake_server_refuses_what_the_real_apis_refuse():
    with FakeModelServer(api_key=KEY) as srv, httpx.Client() as client:
        r = client.post(f"{srv.openai_url}/chat/completions", json={"model": "m", "messages": [
            {"role": "user", "content": "x"}], "response_format": {
                "type": "json_schema", "json_schema": {
                    "name": "n", "strict": True,
                    "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}},
            headers={"authorization": f"Bearer {KEY}"})
        assert r.status_code == 400
        assert "'additionalProperties' is required to be supplied" in r.json()["error"]["message"]
        r = client.post(f"{srv.base_url}/v1/messages", headers={"x-api-key": KEY},
                        json={"model": "m", "max_tokens": 5,
                              "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 400
        assert r.json() == {"type": "error", "error": {
            "type": "invalid_request_error", "message": "anthropic-version: header is required"}}
        r = client.post(f"{srv.base_url}/v1/messages", headers={"x-api-key": "bad",
                                                                 "anthropic-version": "x"},
                        json={})
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
        r = client.post(f"{srv.base_url}/v2/embeddings", json={})
        assert r.status_code == 404
        assert [q.protocol for q in srv.requests] == ["openai", "anthropic", "anthropic",
                                                      "unknown"]


def test_recording_provider_wraps_one_provider(tmp_path, providers, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeModelServer(api_key=KEY, replies=[text_reply("hi")]) as srv, \
            Recorder(tmp_path / "r.jsonl") as rec:
        config = srv.model_config(api_key_env=KEY_ENV, price_input=1e6)
        wrapped = RecordingProvider(providers["openai"], rec)
        assert wrapped.complete(config, ModelRequest([Message("user", "x")]),
                                CallKey("n")).text == "hi"
    [ex] = load_exchanges(tmp_path / "r.jsonl")
    assert (ex.key.node_id, ex.provider, ex.response.text) == ("n", "openai", "hi")
    assert ex.cost == ex.usage.prompt_tokens > 0


def test_the_docs_toml_examples_load(tmp_path, monkeypatch):
    monkeypatch.delenv("FLOWC_CONFIG", raising=False)
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 3
    for i, block in enumerate(blocks):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "flowc.toml").write_text(block)
        assert load_config(folder).models
