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
    except (TypeError, ValueError):
        return {"_invalid_json": str(text)}
    return value if isinstance(value, dict) else {"_invalid_json": str(text)}


def parse_response(config: ModelConfig, data: dict[str, Any],
                   prepared: PreparedSchema | None = None) -> ModelResponse:
    """A `ModelResponse` from a chat-completions answer."""
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
    except (KeyError, IndexError, TypeError):
        raise ModelProtocolError(config, "no `choices[0]` in the answer") from None
    calls = [ToolCall(c.get("id") or f"call_{i}", (c.get("function") or {}).get("name", ""),
                      _arguments((c.get("function") or {}).get("arguments")))
             for i, c in enumerate(message.get("tool_calls") or [])]
    text = message.get("content") or ""
    if isinstance(text, list):   # some servers answer with content parts
        text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    finish = _FINISH.get(choice.get("finish_reason") or "", choice.get("finish_reason") or "stop")
    if message.get("refusal") and not text:
        text, finish = message["refusal"], "refusal"
    elif calls and finish == "stop":
        finish = "tool_calls"
    if prepared is not None and text and not calls and finish != "refusal":
        text = prepared.decode(text)
    usage = data.get("usage") or {}
    return ModelResponse(text, calls, Usage(int(usage.get("prompt_tokens") or 0),
                                            int(usage.get("completion_tokens") or 0)),
                         finish, data.get("model") or config.model)


class OpenAIProvider(HttpProvider):
    """The OpenAI-compatible provider (see the module docstring). Thread-safe."""

    name = "openai"
    build_payload = staticmethod(build_payload)
    parse_response = staticmethod(parse_response)

    def url(self, config: ModelConfig) -> str:
        return join_url(config.base_url, "/chat/completions")

    def key_headers(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}
