"""The one provider interface and its data types.

Every provider (OpenAI-compatible, Anthropic, replay) turns a `ModelRequest` into a
`ModelResponse` for a model configured in `flowc.toml` (`ModelConfig`). The types are plain
dataclasses that round-trip through JSON (`to_json()` / `from_json()`), so a request and its
response can be recorded to a file or the run store and served back later.

`finish_reason` uses one vocabulary for every provider: "stop" (a final answer), "tool_calls"
(the model wants tools run), "length" (cut off by max_tokens), "content_filter", "refusal".

Errors are `ModelError`s with a one-line message that names the model alias and its endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from flowc.config import ModelConfig

__all__ = [
    "CallKey", "Message", "MissingKey", "ModelError", "ModelProtocolError", "ModelRequest",
    "ModelRequestError", "ModelResponse", "ModelTimeout", "ModelUnavailable", "Provider",
    "ReplayMiss", "ROLES", "TOOL_CHOICES", "ToolCall", "ToolSpec", "UnknownModel", "Usage",
    "endpoint_of", "error_from_text", "error_text",
]

Role = Literal["system", "user", "assistant", "tool"]
ROLES = ("system", "user", "assistant", "tool")
TOOL_CHOICES = ("auto", "required", "none")


# ------------------------------------------------------------------------------ data types


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call; `parameters` is the JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "parameters": self.parameters}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ToolSpec:
        return cls(d["name"], d.get("description", ""), d.get("parameters") or {})


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for. Arguments that were not valid JSON arrive as
    `{"_invalid_json": "<the text>"}`."""

    id: str
    name: str
    arguments: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ToolCall:
        return cls(d["id"], d["name"], d.get("arguments") or {})


@dataclass(frozen=True)
class Message:
    """A chat message. An assistant message may carry `tool_calls`; a `tool` message answers
    one of them (`tool_call_id`) with `content` as the result text."""

    role: Role
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role must be one of {', '.join(ROLES)}, not {self.role!r}")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            d["tool_calls"] = [c.to_json() for c in self.tool_calls]
        if self.tool_call_id is not None:
            d["tool_call_id"] = self.tool_call_id
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Message:
        return cls(d["role"], d.get("content") or "",
                   [ToolCall.from_json(c) for c in d.get("tool_calls") or []],
                   d.get("tool_call_id"))


@dataclass(frozen=True)
class ModelRequest:
    """What the engine asks of a model. With `response_schema`, the answer is a JSON object
    of that schema (the provider's structured-output mechanism, named `schema_name`)."""

    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    response_schema: dict[str, Any] | None = None
    schema_name: str = "deliverable"
    temperature: float | None = None
    max_tokens: int | None = None
    tool_choice: Literal["auto", "required", "none"] | None = None

    def __post_init__(self) -> None:
        if self.tool_choice is not None and self.tool_choice not in TOOL_CHOICES:
            raise ValueError(f"tool_choice must be one of {', '.join(TOOL_CHOICES)}, "
                             f"not {self.tool_choice!r}")

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"messages": [m.to_json() for m in self.messages]}
        if self.tools:
            d["tools"] = [t.to_json() for t in self.tools]
        if self.response_schema is not None:
            d["response_schema"] = self.response_schema
            d["schema_name"] = self.schema_name
        for name in ("temperature", "max_tokens", "tool_choice"):
            if getattr(self, name) is not None:
                d[name] = getattr(self, name)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelRequest:
        return cls([Message.from_json(m) for m in d.get("messages") or []],
                   [ToolSpec.from_json(t) for t in d.get("tools") or []],
                   d.get("response_schema"), d.get("schema_name", "deliverable"),
                   d.get("temperature"), d.get("max_tokens"), d.get("tool_choice"))


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_json(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> Usage:
        d = d or {}
        return cls(int(d.get("prompt_tokens") or 0), int(d.get("completion_tokens") or 0))


@dataclass(frozen=True)
class ModelResponse:
    """The model's answer. For a structured-output request `text` is the JSON text of the
    object; `model` is the model name the provider reports."""

    text: str
    tool_calls: list[ToolCall]
    usage: Usage
    finish_reason: str
    model: str

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "tool_calls": [c.to_json() for c in self.tool_calls],
                "usage": self.usage.to_json(), "finish_reason": self.finish_reason,
                "model": self.model}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelResponse:
        return cls(d.get("text") or "", [ToolCall.from_json(c) for c in d.get("tool_calls") or []],
                   Usage.from_json(d.get("usage")), d.get("finish_reason") or "stop",
                   d.get("model") or "")


@dataclass(frozen=True)
class CallKey:
    """One model call within a run: the node (and for_each item, -1 outside a loop), the
    node's attempt, the call's number within that attempt (from 1), and what it is for
    ("llm", "reask", "agent_step", "extract", ...)."""

    node_id: str
    item: int = -1
    attempt: int = 1
    seq: int = 1
    purpose: str = "llm"

    def to_json(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "item": self.item, "attempt": self.attempt,
                "seq": self.seq, "purpose": self.purpose}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CallKey:
        return cls(d["node_id"], int(d.get("item", -1)), int(d.get("attempt", 1)),
                   int(d.get("seq", 1)), d.get("purpose", "llm"))


# ------------------------------------------------------------------------------ the interface


@runtime_checkable
class Provider(Protocol):
    """A model provider: one blocking call. Must be safe to call from several threads."""

    name: str

    def complete(self, config: ModelConfig, request: ModelRequest) -> ModelResponse: ...


# ------------------------------------------------------------------------------ errors


def endpoint_of(config: ModelConfig) -> str:
    """How messages name a configured model: "model `default` (openai gpt-4o at URL)"."""
    return f"model `{config.alias}` ({config.provider} {config.model} at {config.base_url})"


class ModelError(Exception):
    """A model call failed. The message is one line that names the model and endpoint."""

    alias: str | None = None
    endpoint: str | None = None
    status: int | None = None       # the last HTTP status, when there was one
    attempts: int | None = None     # how many requests were made
    env_var: str | None = None      # MissingKey: the variable to set
    call: Any = None    # the router attaches the failed `ModelCall` (for the run's records)

    def __init__(self, message: str, *, config: ModelConfig | None = None) -> None:
        if config is not None:
            self.alias, self.endpoint = config.alias, config.base_url
            message = f"{endpoint_of(config)}: {message}"
        super().__init__(message)


class MissingKey(ModelError):
    """The model needs an API key and its environment variable is not set."""

    def __init__(self, config: ModelConfig, env_var: str | None = None) -> None:
        self.env_var = env_var or config.api_key_env
        hint = (" (or `api_key_env = \"\"` in flowc.toml for an endpoint that needs none)"
                if self.env_var == config.api_key_env else " (a header in flowc.toml uses it)")
        super().__init__(f"no API key: set the environment variable {self.env_var}{hint}",
                         config=config)


class UnknownModel(ModelError):
    """The alias is not configured in flowc.toml."""

    def __init__(self, message: str, alias: str | None = None) -> None:
        super().__init__(message)
        self.alias = alias


class ModelUnavailable(ModelError):
    """Gave up after retrying transient failures (rate limits, 5xx, connection errors)."""

    def __init__(self, config: ModelConfig, attempts: int, last: str,
                 status: int | None = None) -> None:
        self.attempts, self.status = attempts, status
        super().__init__(f"unavailable, gave up after {attempts} attempt"
                         f"{'s' if attempts != 1 else ''} (last: {last})", config=config)


class ModelRequestError(ModelError):
    """The provider refused the request (a 4xx that retrying will not fix)."""

    def __init__(self, config: ModelConfig, status: int, provider_message: str) -> None:
        self.status, self.provider_message = status, provider_message
        super().__init__(f"request refused (HTTP {status}): {provider_message}", config=config)


class ModelTimeout(ModelError):
    """Every attempt timed out."""

    def __init__(self, config: ModelConfig, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(f"timed out after {config.timeout:g}s ({attempts} attempt"
                         f"{'s' if attempts != 1 else ''}; raise `timeout` in flowc.toml if the "
                         "model is slow)", config=config)


class ModelProtocolError(ModelError):
    """The endpoint answered 2xx with something that is not a valid response."""

    def __init__(self, config: ModelConfig, what: str) -> None:
        super().__init__(f"unexpected response: {what}", config=config)


class ReplayMiss(ModelError):
    """Replay mode and no recorded exchange for this call."""


_ERRORS: dict[str, type[ModelError]] = {
    c.__name__: c for c in (ModelError, MissingKey, UnknownModel, ModelUnavailable,
                            ModelRequestError, ModelTimeout, ModelProtocolError, ReplayMiss)}


def error_text(e: BaseException) -> str:
    """How a failed call's error is recorded: "ModelTimeout: model `default` (...): ..."."""
    return f"{type(e).__name__}: {e}"


def error_from_text(text: str) -> ModelError:
    """The error a recorded `error_text` stands for (replayed as the same class when known)."""
    name, sep, message = text.partition(": ")
    cls = _ERRORS.get(name) if sep else None
    err = ModelError.__new__(cls or ModelError)
    Exception.__init__(err, message if cls else text)
    return err


# ------------------------------------------------- fields of an answer, read as hostile input

def answer_text(value: Any) -> str:
    """A text field of a model's answer: a string (lone surrogates replaced, so the next
    request and the trace can encode it), else nothing."""
    if not isinstance(value, str):
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def answer_count(value: Any) -> int:
    """A token count of a model's answer: a finite, non-negative number, else 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        return 0
    return min(int(value), 1 << 40)
