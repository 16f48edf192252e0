"""The OpenAI-compatible and Anthropic clients against a real HTTP server on loopback."""

from __future__ import annotations

import json

import pytest
from models_helpers import KEY, KEY_ENV, PROTOCOLS, config_for

from flowc.runtime.models import (
    Message,
    MissingKey,
    ModelProtocolError,
    ModelRequest,
    ModelRequestError,
    ModelTimeout,
    ModelUnavailable,
    ToolCall,
    ToolSpec,
)
from flowc.runtime.models.fakeserver import (
    FakeModelServer,
    error_reply,
    json_reply,
    raw_reply,
    slow_reply,
    text_reply,
    tool_call_reply,
    tool_calls_reply,
)
from flowc.runtime.models.tokens import estimate_tokens
from flowc.runtime.models.transport import HttpTransport

WEATHER = ToolSpec("get_weather", "The weather in a city",
                   {"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]})


def ask(text: str, **kw) -> ModelRequest:
    return ModelRequest([Message("system", "Be brief."), Message("user", text)], **kw)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_text_reply_and_request_shape(server, providers, protocol):
    server.push(text_reply("Hello, Ada."))
    config = config_for(server, protocol)
    r = providers[protocol].complete(config, ask("Say hello to Ada", temperature=0.2))
    assert (r.text, r.tool_calls, r.finish_reason) == ("Hello, Ada.", [], "stop")
    assert r.model == config.model
    assert r.usage.completion_tokens == estimate_tokens("Hello, Ada.") == 5
    assert r.usage.prompt_tokens > 0
    sent = server.last
    assert sent.protocol == protocol
    assert sent.body["model"] == config.model and sent.body["temperature"] == 0.2
    if protocol == "openai":
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert sent.body["messages"] == [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": "Say hello to Ada"}]
        assert "max_tokens" not in sent.body
    else:
        assert sent.path == "/v1/messages"
        assert sent.headers["x-api-key"] == KEY
        assert sent.headers["anthropic-version"] == "2023-06-01"
        assert sent.body["system"] == "Be brief."
        assert sent.body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "Say hello to Ada"}]}]
        assert sent.body["max_tokens"] == 4096


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_max_tokens_from_request_then_config(server, providers, protocol):
    config = config_for(server, protocol, max_tokens=300)
    providers[protocol].complete(config, ask("hi"))
    assert server.last.body["max_tokens"] == 300
    providers[protocol].complete(config, ask("hi", max_tokens=50))
    assert server.last.body["max_tokens"] == 50


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_tool_call_round_trip(server, providers, protocol):
    server.push(tool_call_reply("get_weather", {"city": "Paris"}, id="call_w1"),
                text_reply("Sunny in Paris."))
    config = config_for(server, protocol)
    provider = providers[protocol]
    request = ask("Weather in Paris?", tools=[WEATHER], tool_choice="auto")
    first = provider.complete(config, request)
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls == [ToolCall("call_w1", "get_weather", {"city": "Paris"})]
    sent = server.last.body
    if protocol == "openai":
        assert sent["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "description": "The weather in a city",
            "parameters": WEATHER.parameters}}]
        assert sent["tool_choice"] == "auto"
    else:
        assert sent["tools"] == [{"name": "get_weather", "description": "The weather in a city",
                                  "input_schema": WEATHER.parameters}]
        assert sent["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}

    follow = ModelRequest([*request.messages,
                           Message("assistant", "", tool_calls=first.tool_calls),
                           Message("tool", '{"temp_c": 21, "sky": "clear"}',
                                   tool_call_id="call_w1")], tools=[WEATHER])
    final = provider.complete(config, follow)   # the fake 400s on a malformed history
    assert (final.text, final.finish_reason, final.tool_calls) == ("Sunny in Paris.", "stop", [])
    sent = server.last.body["messages"]
    if protocol == "openai":
        assert sent[2] == {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_w1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
        assert sent[3] == {"role": "tool", "tool_call_id": "call_w1",
                           "content": '{"temp_c": 21, "sky": "clear"}'}
    else:
        assert sent[1] == {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_w1", "name": "get_weather",
             "input": {"city": "Paris"}}]}
        assert sent[2] == {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_w1",
             "content": '{"temp_c": 21, "sky": "clear"}'}]}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_parallel_tool_calls_answered_together(server, providers, protocol):
    server.push(tool_calls_reply(("get_weather", {"city": "Oslo"}),
                                 ("get_weather", {"city": "Rome"}), text="Checking both."),
                text_reply("Cold and warm."))
    config = config_for(server, protocol)
    first = providers[protocol].complete(config, ask("Oslo and Rome?", tools=[WEATHER]))
    assert first.text == "Checking both."
    assert [c.arguments["city"] for c in first.tool_calls] == ["Oslo", "Rome"]
    history = [*ask("Oslo and Rome?").messages,
               Message("assistant", first.text, tool_calls=first.tool_calls),
               *(Message("tool", f"result {c.id}", tool_call_id=c.id) for c in first.tool_calls)]
    final = providers[protocol].complete(config, ModelRequest(history, tools=[WEATHER]))
    assert final.text == "Cold and warm."
    if protocol == "anthropic":   # both results in one user turn, after one assistant turn
        roles = [m["role"] for m in server.last.body["messages"]]
        assert roles == ["user", "assistant", "user"]
        assert [b["type"] for b in server.last.body["messages"][2]["content"]] == \
            ["tool_result", "tool_result"]


def test_unanswered_tool_message_is_refused_with_the_providers_message(server, providers):
    bad = ModelRequest([Message("user", "hi"), Message("tool", "x", tool_call_id="nope")])
    with pytest.raises(ModelRequestError) as e:
        providers["openai"].complete(config_for(server, "openai"), bad)
    assert e.value.status == 400
    assert "messages with role 'tool' must be a response to a preceeding message" in str(e.value)
    assert len(server.requests) == 1    # not retried


DELIVERABLE = {
    "type": "object", "title": "Summary", "x-flowc-deliverable": {"summary": "text"},
    "properties": {"summary": {"type": "string", "minLength": 1},
                   "confidence": {"type": "number"},
                   "tags": {"type": "array", "items": {"type": "string"}},
                   "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
    "required": ["summary", "confidence"], "additionalProperties": False,
}


def test_openai_structured_output_is_strict_and_read_back(server, providers):
    server.push(json_reply({"summary": "All good.", "confidence": 0.9, "tags": None,
                            "note": None}))
    r = providers["openai"].complete(config_for(server, "openai"),
                                     ask("Summarise", response_schema=DELIVERABLE,
                                         schema_name="client report"))
    # `tags` was optional: strict mode's forced null is dropped; `note` may be null
    assert json.loads(r.text) == {"summary": "All good.", "confidence": 0.9, "note": None}
    fmt = server.last.body["response_format"]
    assert fmt["type"] == "json_schema"
    js = fmt["json_schema"]
    assert js["name"] == "client_report" and js["strict"] is True
    text = json.dumps(js["schema"])
    assert "x-flowc" not in text and "title" not in text and "minLength" not in text
    assert js["schema"]["required"] == ["summary", "confidence", "tags", "note"]
    assert js["schema"]["properties"]["tags"] == {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}


def test_openai_schema_strict_mode_cannot_express_is_sent_non_strict(server, providers):
    schema = {"type": "object", "properties": {"counts": {"type": "object",
                                                          "additionalProperties":
                                                              {"type": "integer"}}}}
    server.push(json_reply({"counts": {"a": 1}}))
    r = providers["openai"].complete(config_for(server, "openai"),
                                     ask("Count", response_schema=schema))
    assert json.loads(r.text) == {"counts": {"a": 1}}
    js = server.last.body["response_format"]["json_schema"]
    assert js["strict"] is False and js["schema"] == schema


def test_anthropic_structured_output_is_a_forced_tool(server, providers):
    server.push(json_reply({"summary": "Fine.", "confidence": 0.5}))
    r = providers["anthropic"].complete(config_for(server, "anthropic"),
                                        ask("Summarise", response_schema=DELIVERABLE))
    assert json.loads(r.text) == {"summary": "Fine.", "confidence": 0.5}
    assert (r.tool_calls, r.finish_reason) == ([], "stop")
    body = server.last.body
    assert body["tool_choice"] == {"type": "tool", "name": "deliverable"}
    [tool] = body["tools"]
    assert tool["name"] == "deliverable"
    assert tool["input_schema"]["required"] == ["summary", "confidence"]
    assert "x-flowc" not in json.dumps(tool) and "title" not in json.dumps(tool)


def test_anthropic_structured_output_with_other_tools(server, providers):
    config = config_for(server, "anthropic")
    server.push(tool_call_reply("get_weather", {"city": "Oslo"}),
                json_reply({"summary": "Cold.", "confidence": 1}))
    request = ask("Weather report", tools=[WEATHER], response_schema=DELIVERABLE)
    first = providers["anthropic"].complete(config, request)
    assert first.tool_calls[0].name == "get_weather" and first.text == ""
    assert server.last.body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert [t["name"] for t in server.last.body["tools"]] == ["get_weather", "deliverable"]
    second = providers["anthropic"].complete(config, request)
    assert json.loads(second.text) == {"summary": "Cold.", "confidence": 1}
    assert second.tool_calls == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_structured_output_of_a_non_object_is_wrapped_and_unwrapped(server, providers, protocol):
    schema = {"type": "array", "items": {"type": "string"}}
    server.push(json_reply({"value": ["a", "b"]}))
    r = providers[protocol].complete(config_for(server, protocol),
                                     ask("List", response_schema=schema))
    assert json.loads(r.text) == ["a", "b"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_default_structured_reply_samples_the_schema(server, providers, protocol):
    r = providers[protocol].complete(config_for(server, protocol),
                                     ask("Summarise", response_schema=DELIVERABLE))
    expected = {"summary": "text", "confidence": 0.0}
    if protocol == "openai":    # strict: every property is sent; null for the nullable one
        expected["note"] = None
    assert json.loads(r.text) == expected


# ------------------------------------------------------------------------------ failures


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_rate_limit_then_success_honours_retry_after(server, providers, sleeps, protocol):
    server.push(error_reply(429, retry_after=1.5), text_reply("ok"))
    r = providers[protocol].complete(config_for(server, protocol), ask("hi"))
    assert r.text == "ok"
    assert sleeps == [1.5]
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [500, 503, 529, 408])
def test_transient_errors_are_retried_with_backoff(server, providers, sleeps, status):
    server.push(error_reply(status), error_reply(status), text_reply("ok"))
    r = providers["anthropic"].complete(config_for(server, "anthropic"), ask("hi"))
    assert r.text == "ok"
    assert len(sleeps) == 2 and 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_exhausted_retries_raise_unavailable_with_the_count(server, providers, protocol):
    server.push(*[error_reply(500, "boom")] * 3)
    config = config_for(server, protocol, max_retries=2)
    with pytest.raises(ModelUnavailable) as e:
        providers[protocol].complete(config, ask("hi"))
    message = str(e.value)
    assert e.value.attempts == 3 and e.value.status == 500
    assert "gave up after 3 attempts" in message and "HTTP 500: boom" in message
    assert message.startswith(f"model `default` ({protocol} {config.model} at {config.base_url})")
    assert "\n" not in message
    assert len(server.requests) == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_bad_request_is_not_retried_and_carries_the_providers_message(server, providers,
                                                                     protocol):
    server.push(error_reply(400, "temperature: must be at most 2"))
    with pytest.raises(ModelRequestError) as e:
        providers[protocol].complete(config_for(server, protocol), ask("hi"))
    assert e.value.status == 400
    assert "temperature: must be at most 2" in str(e.value)
    assert "(invalid_request_error)" in str(e.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_key_is_a_401_in_the_providers_shape(server, providers, monkeypatch, protocol):
    monkeypatch.setenv(KEY_ENV, "wrong")
    with pytest.raises(ModelRequestError) as e:
        providers[protocol].complete(config_for(server, protocol), ask("hi"))
    assert e.value.status == 401
    expected = "invalid x-api-key" if protocol == "anthropic" else "Incorrect API key provided"
    assert expected in str(e.value)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_timeout_raises_model_timeout_after_retries(server, providers, protocol):
    server.push(slow_reply(3.0), slow_reply(3.0))
    config = config_for(server, protocol, timeout=0.2, max_retries=1)
    # without the timeout the slow replies would arrive and the call succeed: no elapsed
    # bound is needed to show that it fired
    with pytest.raises(ModelTimeout) as e:
        providers[protocol].complete(config, ask("hi"))
    assert e.value.attempts == 2
    assert "timed out after 0.2s (2 attempts" in str(e.value)


def test_connection_refused_is_retried_then_unavailable(providers, sleeps, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeModelServer() as srv:
        config = config_for(srv, "openai", max_retries=1)
    with pytest.raises(ModelUnavailable) as e:   # the server is gone: nothing listens
        providers["openai"].complete(config, ask("hi"))
    assert "gave up after 2 attempts (last: connection failed" in str(e.value)
    assert len(sleeps) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_missing_key_names_the_variable_before_any_request(server, providers, monkeypatch,
                                                           protocol):
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(MissingKey) as e:
        providers[protocol].complete(config_for(server, protocol), ask("hi"))
    assert e.value.env_var == KEY_ENV
    assert f"set the environment variable {KEY_ENV}" in str(e.value)
    assert "model `default`" in str(e.value)
    assert server.requests == []


def test_no_key_needed_sends_no_authorization(providers):
    with FakeModelServer() as srv:    # like Ollama or a local vLLM
        r = providers["openai"].complete(srv.model_config(api_key_env=""), ask("hi"))
        assert r.text.startswith("fake answer to: hi")
        assert "authorization" not in srv.last.headers


def test_azure_style_header_key_and_api_version_query(server, providers, monkeypatch):
    monkeypatch.setenv("AZ_TEST_KEY", KEY)
    config = config_for(server, "openai", api_key_env="",
                        base_url=f"{server.base_url}/openai/deployments/gpt4o"
                                 "?api-version=2024-10-21",
                        headers={"api-key": "${AZ_TEST_KEY}"})
    assert providers["openai"].complete(config, ask("hi")).text
    assert server.last.path == "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
    assert server.last.headers["api-key"] == KEY
    monkeypatch.delenv("AZ_TEST_KEY")
    with pytest.raises(MissingKey, match="set the environment variable AZ_TEST_KEY"):
        providers["openai"].complete(config, ask("hi"))


def test_a_body_that_is_not_json_is_a_protocol_error(server, providers):
    server.push(raw_reply("<html>proxy error</html>"))
    with pytest.raises(ModelProtocolError, match="not JSON"):
        providers["openai"].complete(config_for(server, "openai"), ask("hi"))


def test_backoff_is_exponential_with_jitter_and_capped():
    high = HttpTransport(rand=lambda: 1.0, backoff=0.5, max_backoff=4.0)
    assert [high.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    low = HttpTransport(rand=lambda: 0.0, backoff=0.5, max_backoff=4.0)
    assert [low.delay(n) for n in range(3)] == [0.25, 0.5, 1.0]
