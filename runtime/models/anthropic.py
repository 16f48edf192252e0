"""Anthropic's Messages API: `POST {base_url}/v1/messages`.

- Headers `x-api-key` (from the variable `api_key_env` names; `MissingKey` before any request
  when unset) and `anthropic-version: 2023-06-01`, plus flowc.toml's `headers` (`${VAR}`
  expanded from the environment).
- System messages go to the top-level `system`; the others become content blocks: an
  assistant's tool calls are `tool_use` blocks, `tool` messages are `tool_result` blocks in
  the next user turn (consecutive ones share it, as the API requires).
- `max_tokens` is required by the API: the request's, else flowc.toml's, else 4096.
- `tool_choice`: auto -> `auto`, required -> `any`, none -> `none`; with the request's tools
  it carries `disable_parallel_tool_use: true` unless the model's `parallel_tool_calls =
  false` in flowc.toml.
- Structured output is a tool named `schema_name` whose `input_schema` is the response schema:
  forced (`tool_choice: {"type": "tool"}`) when the request has no other tools; with other
  tools the model must call one of them or the answer tool (`any`). The answer tool's input
  becomes `ModelResponse.text` as JSON, and is not a tool call.
- `stop_reason` maps to flowc's vocabulary: end_turn/stop_sequence -> stop, tool_use ->
  tool_calls, max_tokens -> length, refusal -> refusal. Prompt tokens include cache reads and
  writes.
"""

from __future__ import annotations

from typing import Any

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

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_MAX_TOKENS", "AnthropicProvider", "build_payload",
           "parse_response"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_STOP = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls",
         "max_tokens": "length", "refusal": "refusal", "pause_turn": "stop"}


def _messages(request: ModelRequest) -> tuple[str, list[dict[str, Any]]]:
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            role = "user"
            blocks = [{"type": "tool_result", "tool_use_id": m.tool_call_id or "",
                       "content": m.content}]
        elif m.role == "assistant":
            role = "assistant"
            blocks = [{"type": "text", "text": m.content}] if m.content else []
            blocks += [{"type": "tool_use", "id": c.id, "name": tool_name(c.name),
                        "input": c.arguments} for c in m.tool_calls]
        else:
            role = "user"
            blocks = [{"type": "text", "text": m.content}]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:   # one turn per role, tool results together
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for turn in out:   # tool results first in a user turn, as the API wants
        turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return system, out


def build_payload(config: ModelConfig,
                  request: ModelRequest) -> tuple[dict[str, Any], PreparedSchema | None]:
    """The Messages API body for `request`, and the prepared response schema if any."""
    system, messages = _messages(request)
    body: dict[str, Any] = {
        "model": config.model, "messages": messages,
        "max_tokens": request.max_tokens or config.max_tokens or DEFAULT_MAX_TOKENS}
    if system:
        body["system"] = system
    tools = [{"name": tool_name(t.name), "description": t.description,
              "input_schema": clean_schema(t.parameters) or {"type": "object",
                                                             "properties": {}}}
             for t in request.tools]
    choice = {"auto": {"type": "auto"}, "required": {"type": "any"},
              "none": {"type": "none"}}.get(request.tool_choice or "")
    prepared = None
    if request.response_schema is not None:
        prepared = prepare_schema(request.response_schema, request.schema_name)
        tools.append({"name": prepared.name,
                      "description": "Give the final answer: call this tool with it.",
                      "input_schema": prepared.schema})
        if len(tools) == 1 or request.tool_choice == "none":
            choice = {"type": "tool", "name": prepared.name}
        else:
            choice = {"type": "any"}
    if request.tools and config.parallel_tool_calls and (choice or {}).get("type") != "none":
        # one tool call per step, as `parallel_tool_calls: false` asks of OpenAI's API
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if tools:
        body["tools"] = tools
        if choice:
            body["tool_choice"] = choice
    if request.temperature is not None:
        body["temperature"] = request.temperature
    return body, prepared


def parse_response(config: ModelConfig, data: dict[str, Any],
                   prepared: PreparedSchema | None = None) -> ModelResponse:
    """A `ModelResponse` from a Messages API answer."""
    blocks = data.get("content")
    if not isinstance(blocks, list):
        raise ModelProtocolError(config, "no `content` blocks in the answer")
    texts, calls, answer = [], [], None
    for b in blocks:
        if not isinstance(b, dict):
            continue
        if b.get("type") == "text":
            texts.append(answer_text(b.get("text")))
        elif b.get("type") == "tool_use":
            args = b.get("input") if isinstance(b.get("input"), dict) else {}
            name = answer_text(b.get("name"))
            if prepared is not None and name == prepared.name and answer is None:
                answer = args
            else:
                calls.append(ToolCall(answer_text(b.get("id")) or f"toolu_{len(calls)}", name,
                                      args))
    reason = data.get("stop_reason")
    reason = reason if isinstance(reason, str) and reason else "stop"
    finish = _STOP.get(reason, reason)
    text = "".join(texts)
    if answer is not None:
        text = prepared.unwrap(answer)
        if not calls and finish == "tool_calls":
            finish = "stop"
    elif prepared is not None and text and not calls:
        text = prepared.decode(text)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    prompt = sum(answer_count(usage.get(k)) for k in
                 ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    return ModelResponse(text, calls, Usage(prompt, answer_count(usage.get("output_tokens"))),
                         finish, answer_text(data.get("model")) or config.model)


class AnthropicProvider(HttpProvider):
    """The Anthropic Messages API provider (see the module docstring). Thread-safe."""

    name = "anthropic"
    fixed_headers = {"anthropic-version": ANTHROPIC_VERSION}
    build_payload = staticmethod(build_payload)
    parse_response = staticmethod(parse_response)

    def url(self, config: ModelConfig) -> str:
        base = config.base_url.split("?", 1)[0].rstrip("/")
        return join_url(config.base_url, "/messages" if base.endswith("/v1") else "/v1/messages")

    def key_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}
