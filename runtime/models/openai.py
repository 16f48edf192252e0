"""Any OpenAI-compatible chat-completions endpoint: `POST {base_url}/chat/completions`.

OpenAI itself, Azure OpenAI (a deployment's base URL plus `headers = { "api-key" = ... }` or
a bearer key), Ollama (`http://localhost:11434/v1`), vLLM, the llama.cpp server and LiteLLM.

- The key is read from the variable `api_key_env` names and sent as `Authorization: Bearer`;
  an endpoint that needs no key has `api_key_env = ""`. A missing key raises `MissingKey`
  before any request is made.
- Tools go out as `{"type": "function", "function": {...}}`; the answer's `tool_calls` come
  back as `ToolCall`s (arguments parsed from their JSON text); assistant messages with tool
  calls and `tool` messages are sent back in the same shape.
- A response schema goes out as `response_format: {"type": "json_schema", ...}`, strict when
  the schema allows it (see `schemas`); the answer's JSON text is `ModelResponse.text`.
- Extra `headers` from flowc.toml are sent as they are, `${VAR}` replaced from the environment
  (Azure's deployment API: `headers = { "api-key" = "${AZURE_OPENAI_API_KEY}" }`,
  `api_key_env = ""` and the `?api-version=...` query on `base_url`).
- With tools, `parallel_tool_calls: false` is sent unless the model's `parallel_tool_calls =
  false` in flowc.toml says the endpoint refuses it (one tool call per step).
- `max_tokens` is sent as `max_completion_tokens` to api.openai.com (its newer models refuse
  `max_tokens`) and as `max_tokens` elsewhere (what compatible servers understand).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from flowc.config import ModelConfig

from .base import (
    ModelProtocolError,
    ModelRequest,
    ModelResponse,
    ToolCall,
    Usage,
    answer_count,
    answer_text,
)
from .schemas import PreparedSchema, clean_schema, prepare_schema, tool_name
from .transport import HttpProvider, join_url

__all__ = ["OpenAIProvider", "build_payload", "parse_response"]

_FINISH = {"stop": "stop", "tool_calls": "tool_calls", "function_call": "tool_calls",
           "length": "length", "content_filter": "content_filter"}


def _message(m) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.role == "assistant" and m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name,
                          "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
            for c in m.tool_calls]
    return out


def build_payload(config: ModelConfig,
                  request: ModelRequest) -> tuple[dict[str, Any], PreparedSchema | None]:
    """The chat-completions body for `request`, and the prepared response schema if any."""
    body: dict[str, Any] = {"model": config.model,
                            "messages": [_message(m) for m in request.messages]}
    if request.tools:
        body["tools"] = [{"type": "function",
                          "function": {"name": tool_name(t.name), "description": t.description,
                                       "parameters": clean_schema(t.parameters) or {
                                           "type": "object", "properties": {}}}}
                         for t in request.tools]
        if request.tool_choice:
            body["tool_choice"] = request.tool_choice
        if config.parallel_tool_calls:
            body["parallel_tool_calls"] = False
    prepared = None
    if request.response_schema is not None:
        prepared = prepare_schema(request.response_schema, request.schema_name, strict=True)
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": prepared.name, "schema": prepared.schema, "strict": prepared.strict}}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    max_tokens = request.max_tokens or config.max_tokens
    if max_tokens:
        host = urlsplit(config.base_url).hostname or ""
        body["max_completion_tokens" if host == "api.openai.com" else "max_tokens"] = max_tokens
    return body, prepared


def _arguments(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text or "{}")
    except (TypeError, ValueError, RecursionError):
        return {"_invalid_json": answer_text(text) if isinstance(text, str) else repr(text)[:200]}
    return value if isinstance(value, dict) else {"_invalid_json": answer_text(str(text))}


def _object(config: ModelConfig, value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ModelProtocolError(config, f"`{what}` in the answer is not an object")
    return value


def parse_response(config: ModelConfig, data: dict[str, Any],
                   prepared: PreparedSchema | None = None) -> ModelResponse:
    """A `ModelResponse` from a chat-completions answer (each field checked: a server or a
    proxy can answer anything)."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise ModelProtocolError(config, "no `choices[0]` in the answer")
    choice = _object(config, choices[0], "choices[0]")
    message = _object(config, choice.get("message") or {}, "choices[0].message")
    raw_calls = message.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise ModelProtocolError(config, "`tool_calls` in the answer is not a list")
    calls = []
    for i, c in enumerate(raw_calls):
        c = _object(config, c, f"tool_calls[{i}]")
        function = _object(config, c.get("function") or {}, f"tool_calls[{i}].function")
        calls.append(ToolCall(answer_text(c.get("id")) or f"call_{i}",
                              answer_text(function.get("name")),
                              _arguments(function.get("arguments"))))
    content = message.get("content")
    if isinstance(content, list):   # some servers answer with content parts
        text = "".join(answer_text(p.get("text")) for p in content if isinstance(p, dict))
    elif content is None or isinstance(content, str):
        text = answer_text(content)
    else:
        raise ModelProtocolError(config, "`content` in the answer is not text")
    reason = choice.get("finish_reason")
    reason = reason if isinstance(reason, str) and reason else "stop"
    finish = _FINISH.get(reason, reason)
    refusal = answer_text(message.get("refusal"))
    if refusal and not text:
        text, finish = refusal, "refusal"
    elif calls and finish == "stop":
        finish = "tool_calls"
    if prepared is not None and text and not calls and finish != "refusal":
        text = prepared.decode(text)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return ModelResponse(text, calls, Usage(answer_count(usage.get("prompt_tokens")),
                                            answer_count(usage.get("completion_tokens"))),
                         finish, answer_text(data.get("model")) or config.model)


class OpenAIProvider(HttpProvider):
    """The OpenAI-compatible provider (see the module docstring). Thread-safe."""

    name = "openai"
    build_payload = staticmethod(build_payload)
    parse_response = staticmethod(parse_response)

    def url(self, config: ModelConfig) -> str:
        return join_url(config.base_url, "/chat/completions")

    def key_headers(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}
