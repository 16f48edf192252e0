"""A real local HTTP server that speaks the OpenAI and Anthropic protocols, for tests and demos.

```python
with FakeModelServer(api_key="k") as srv:
    srv.push(text_reply("hello"), error_reply(429, retry_after=0.01))
    config = srv.model_config("default", "openai", api_key_env="MY_KEY")
    ...
    srv.requests[-1].body     # what the client sent
```

It listens on 127.0.0.1 (a free port) in a background thread and serves, faithfully in shape:

- `POST .../chat/completions` (OpenAI: `id`, `object: "chat.completion"`, `created`, `model`,
  `choices[0].message{role, content, tool_calls}`, `finish_reason`, `usage`); base URL
  `srv.openai_url` (= `srv.base_url + "/v1"`);
- `POST /v1/messages` (Anthropic: `id`, `type: "message"`, `role`, `content` blocks `text` /
  `tool_use`, `stop_reason`, `usage{input_tokens, output_tokens}`); base URL `srv.base_url`;
- errors in each provider's own JSON shape (OpenAI `{"error": {message, type, param, code}}`,
  Anthropic `{"type": "error", "error": {type, message}}`), with `retry-after` when asked.

It checks what the real APIs check and answers 400 like them: OpenAI wants `model` and
`messages`, `tool` messages that answer a preceding assistant's `tool_calls`, and a strict
`json_schema` whose objects are closed with every property required; Anthropic wants the
`anthropic-version` header, `max_tokens`, only user/assistant roles, `tool_result`s that
answer the previous message's `tool_use`s, and a forced tool that exists. With `api_key` set,
a wrong or missing key (`Authorization: Bearer`, Azure's `api-key`, Anthropic's `x-api-key`)
gets a 401.

Replies come from the queue (`push`), else from `handler(protocol, request_json)` (protocol is
"openai" or "anthropic"; it returns a `Reply`, or None for the default), else the default: a
sample object of the requested schema for a structured request, or the text
"fake answer to: <the last user message>". A `json_reply` is the message content (OpenAI) or a
`tool_use` of the forced tool (Anthropic: the `tool_choice` tool, else the request's last tool).

Usage is counted with `tokens.estimate_tokens` (word pieces): prompt tokens are the pieces of
every message text (and system prompt, tool-call arguments, tool results), of the tool
definitions and the response schema as compact JSON, plus 3 a message; completion tokens are
the pieces of the answer's text and of its tool calls' arguments. A reply may set `usage`.

Like llama.cpp's server when asked (`FakeModelServer.llama_like()`, or the options one by one):
`ignore_tools` (tool calls never come back: a scripted tool call arrives as its text, the default
answer is text), `refuse_tool_choice` (the `tool_choice` forms answered HTTP 400: "object",
"required", ...), `refuse_params` (body keys answered HTTP 400, e.g. "parallel_tool_calls").

`python -m flowc.runtime.models.fakeserver [--port N] [--api-key K]` runs one in the
foreground (default replies) for trying a flow without a provider.
"""

from __future__ import annotations

import argparse
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flowc.config import ModelConfig

from .tokens import count_prompt, estimate_json_tokens, estimate_tokens

__all__ = ["FakeModelServer", "ReceivedRequest", "Reply", "error_reply", "json_reply",
           "raw_reply", "sample_value", "slow_reply", "text_reply", "tool_call_reply",
           "tool_calls_reply"]


# ------------------------------------------------------------------------------ replies


@dataclass(frozen=True)
class Reply:
    """One scripted answer. `kind`: "text", "tool_calls", "json", "error" or "raw"."""

    kind: str = "text"
    text: str = ""
    tool_calls: tuple[tuple[str, str, dict[str, Any]], ...] = ()   # (id, name, arguments)
    value: Any = None                 # the object of a "json" reply; the body of a "raw" one
    status: int = 200
    error_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0                # seconds to wait before answering
    finish_reason: str | None = None  # in the protocol's own vocabulary
    usage: tuple[int, int] | None = None
    model: str | None = None


def text_reply(text: str, **kw: Any) -> Reply:
    return Reply("text", text=text, **kw)


def tool_calls_reply(*calls: tuple[str, dict[str, Any]], text: str = "", **kw: Any) -> Reply:
    """Several tool calls `(name, arguments)` in one answer (ids `call_1`, `call_2`, ...
    unless a call is given as `(id, name, arguments)`)."""
    full = tuple(c if len(c) == 3 else (f"call_{i}", c[0], c[1])
                 for i, c in enumerate(calls, 1))
    return Reply("tool_calls", text=text, tool_calls=full, **kw)


def tool_call_reply(name: str, arguments: dict[str, Any], *, id: str = "call_1",
                    text: str = "", **kw: Any) -> Reply:
    return tool_calls_reply((id, name, arguments), text=text, **kw)


def json_reply(value: Any, **kw: Any) -> Reply:
    """A structured answer: `value` is the object the model returns."""
    return Reply("json", value=value, **kw)


def error_reply(status: int, message: str | None = None, *, retry_after: float | None = None,
                error_type: str | None = None, **kw: Any) -> Reply:
    headers = dict(kw.pop("headers", {}))
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return Reply("error", text=message or "", status=status, error_type=error_type,
                 headers=headers, **kw)


def slow_reply(seconds: float, reply: Reply | None = None) -> Reply:
    """`reply` (default: a text reply) after `seconds`: longer than a timeout to test it."""
    return replace(reply or text_reply("late"), delay=seconds)


def raw_reply(body: Any, status: int = 200, **kw: Any) -> Reply:
    """Send `body` as it is (JSON unless it is str or bytes): malformed answers."""
    return Reply("raw", value=body, status=status, **kw)


def sample_value(schema: Any) -> Any:
    """A small value of a JSON schema (required properties only, null where null is allowed):
    the default answer."""
    if not isinstance(schema, dict):
        return None
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            if any(isinstance(b, dict) and b.get("type") == "null" for b in schema[key]):
                return None    # an optional value: leave it out
            return sample_value(schema[key][0])
    t = schema.get("type")
    if isinstance(t, list):
        t = "null" if "null" in t else t[0]
    if t == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required", list(props))
        return {k: sample_value(v) for k, v in props.items() if k in required}
    if t == "array":
        n = schema.get("minItems", 0)
        return [sample_value(schema.get("items", {})) for _ in range(n)]
    if t == "string":
        return {"date": "2024-01-01", "date-time": "2024-01-01T00:00:00Z",
                "duration": "P1D"}.get(schema.get("format", ""), "text")
    return {"integer": 0, "number": 0.0, "boolean": False, "null": None}.get(t, "value")


# ------------------------------------------------------------------------------ protocols

_OPENAI_ERRORS = {400: "invalid_request_error", 401: "invalid_request_error",
                  403: "permission_error", 404: "invalid_request_error", 408: "timeout",
                  409: "conflict", 429: "rate_limit_exceeded", 500: "server_error",
                  502: "server_error", 503: "server_error", 529: "server_error"}
_ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error",
                     403: "permission_error", 404: "not_found_error", 408: "timeout_error",
                     413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                     502: "api_error", 503: "api_error", 529: "overloaded_error"}
_MESSAGES = {400: "Bad request", 401: "Invalid authentication", 408: "Request timed out",
             409: "Conflict", 429: "Rate limit reached for requests",
             500: "The server had an error while processing your request",
             502: "Bad gateway", 503: "The engine is currently overloaded",
             529: "Overloaded"}


class _Invalid(Exception):
    def __init__(self, message: str, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.param, self.status = param, status


def error_body(protocol: str, status: int, message: str, error_type: str | None = None,
               param: str | None = None) -> dict[str, Any]:
    """An error body in the provider's real shape."""
    if protocol == "anthropic":
        return {"type": "error", "error": {
            "type": error_type or _ANTHROPIC_ERRORS.get(status, "api_error"),
            "message": message}}
    kind = error_type or _OPENAI_ERRORS.get(status, "server_error")
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _strict_problems(schema: Any, where: str = "()") -> str | None:
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return (f"In context={where}, 'additionalProperties' is required to be supplied "
                    "and to be false.")
        props = schema.get("properties") or {}
        missing = [k for k in props if k not in schema.get("required", [])]
        if missing:
            return (f"In context={where}, 'required' is required to be supplied and to be an "
                    f"array including every key in properties. Missing '{missing[0]}'.")
        for k, v in props.items():
            found = _strict_problems(v, f"('properties', '{k}')")
            if found:
                return found
    for key in ("items",):
        found = _strict_problems(schema.get(key), f"('{key}',)")
        if found:
            return found
    for i, b in enumerate(schema.get("anyOf", []) or []):
        found = _strict_problems(b, f"('anyOf', '{i}')")
        if found:
            return found
    return None


def _openai_check(body: Any) -> None:
    if not isinstance(body, dict):
        raise _Invalid("We could not parse the JSON body of your request.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _Invalid("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid("[] is too short - 'messages'", "messages")
    open_ids: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise _Invalid(f"Invalid value: '{role}'. Supported values are: 'system', "
                           "'assistant', 'user', 'tool', 'developer'.", f"messages[{i}].role")
        if role == "assistant":
            open_ids = {c.get("id") for c in m.get("tool_calls") or []}
            for c in m.get("tool_calls") or []:
                if not isinstance((c.get("function") or {}).get("arguments"), str):
                    raise _Invalid(f"Invalid type for 'messages[{i}].tool_calls.function."
                                   "arguments': expected a string", f"messages[{i}]")
        elif role == "tool":
            if m.get("tool_call_id") not in open_ids:
                raise _Invalid("Invalid parameter: messages with role 'tool' must be a response "
                               "to a preceeding message with 'tool_calls'.",
                               f"messages.[{i}].role")
        else:
            open_ids = set()
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        js = fmt.get("json_schema") or {}
        if not js.get("name"):
            raise _Invalid("Missing required parameter: 'response_format.json_schema.name'.",
                           "response_format.json_schema.name")
        if js.get("strict"):
            problem = _strict_problems(js.get("schema"))
            if problem:
                raise _Invalid(f"Invalid schema for response_format '{js['name']}': {problem}",
                               "response_format")


def _anthropic_check(body: Any, headers: dict[str, str]) -> None:
    if "anthropic-version" not in headers:
        raise _Invalid("anthropic-version: header is required")
    if not isinstance(body, dict):
        raise _Invalid("The request body is not valid JSON.")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _Invalid("model: Field required")
    if not isinstance(body.get("max_tokens"), int):
        raise _Invalid("max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid("messages: at least one message is required")
    previous_uses: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            raise _Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        blocks = m["content"] if isinstance(m.get("content"), list) else []
        if role == "user":
            for j, b in enumerate(blocks):
                if b.get("type") == "tool_result" and b.get("tool_use_id") not in previous_uses:
                    raise _Invalid(f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                                   "`tool_result` blocks: "
                                   f"{b.get('tool_use_id')}. Each `tool_result` block must have "
                                   "a corresponding `tool_use` block in the previous message.")
        previous_uses = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
    choice = body.get("tool_choice") or {}
    names = [t.get("name") for t in body.get("tools") or []]
    if choice.get("type") == "tool" and choice.get("name") not in names:
        raise _Invalid(f"tool_choice.name: tool `{choice.get('name')}` not found in tools")


def _text_of(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        if part.get("type") in ("text", None) and "text" in part:
            out.append(part["text"])
        elif part.get("type") == "tool_use":
            out.append(json.dumps(part.get("input"), sort_keys=True))
        elif part.get("type") == "tool_result":
            out.extend(_text_of(part.get("content")))
    return out


def _prompt_tokens(protocol: str, body: dict[str, Any]) -> int:
    texts: list[str] = []
    messages = body.get("messages") or []
    extras: list[Any] = []
    if protocol == "anthropic":
        texts.extend(_text_of(body.get("system")))
        extras.extend(body.get("tools") or [])
    else:
        for t in body.get("tools") or []:
            extras.append(t.get("function", t))
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            extras.append((fmt.get("json_schema") or {}).get("schema"))
    for m in messages:
        texts.extend(_text_of(m.get("content")))
        for c in m.get("tool_calls") or []:
            texts.append((c.get("function") or {}).get("arguments") or "")
    return count_prompt(texts, len(messages) + bool(body.get("system")), extras)


def _last_user_text(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages") or []):
        if m.get("role") == "user":
            return " ".join(_text_of(m.get("content")))
    return ""


def _requested_schema(protocol: str, body: dict[str, Any]) -> dict[str, Any] | None:
    if protocol == "openai":
        fmt = body.get("response_format") or {}
        return (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == \
            "json_schema" else None
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        for t in body.get("tools") or []:
            if t.get("name") == choice.get("name"):
                return t.get("input_schema")
    return None


# ------------------------------------------------------------------------------ the server


@dataclass(frozen=True)
class ReceivedRequest:
    protocol: str                     # "openai", "anthropic" or "unknown"
    path: str
    headers: dict[str, str]           # lower-case names
    body: Any                         # the parsed JSON (None if it was not JSON)
    at: float


class FakeModelServer:
    """See the module docstring. Thread-safe; use as a context manager or `start()`/`close()`."""

    def __init__(self, *, api_key: str | None = None,
                 handler: Callable[[str, dict[str, Any]], Reply | None] | None = None,
                 replies: list[Reply] | None = None, port: int = 0,
                 ignore_tools: bool = False, refuse_tool_choice: tuple[str, ...] = (),
                 refuse_params: tuple[str, ...] = ()) -> None:
        self.api_key = api_key
        self.ignore_tools = ignore_tools
        self.refuse_tool_choice = tuple(refuse_tool_choice)
        self.refuse_params = tuple(refuse_params)
        self.handler = handler
        self._queue: deque[Reply] = deque(replies or [])
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self.requests: list[ReceivedRequest] = []
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def llama_like(cls, **kw: Any) -> FakeModelServer:
        """A server like llama.cpp's with the model's own chat template: `tools` ignored, the
        object form of `tool_choice` refused (HTTP 400), json_schema honoured."""
        kw.setdefault("ignore_tools", True)
        kw.setdefault("refuse_tool_choice", ("object",))
        return cls(**kw)

    def _refused(self, body: Any) -> str | None:
        """Why a request is refused by the llama-like options (None: it is not)."""
        if not isinstance(body, dict):
            return None
        choice = body.get("tool_choice")
        if choice is not None:
            form = "object" if isinstance(choice, dict) else str(choice)
            if form in self.refuse_tool_choice:
                return f"Unsupported tool_choice: {json.dumps(choice)}"
        for key in self.refuse_params:
            if key in body:
                return f"Unsupported param: {key}"
        return None

    # -- lifecycle

    def start(self) -> FakeModelServer:
        if self._server is None:
            self._server = _Server(("127.0.0.1", self._port), _handler_class(self))
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05},
                                            name="fake-model-server", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake model server is not running (use `with` or start())")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """The Anthropic base URL (the server root)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """The OpenAI-compatible base URL (`.../v1`)."""
        return f"{self.base_url}/v1"

    def model_config(self, alias: str = "default", provider: str = "openai", *,
                     model: str | None = None, api_key_env: str | None = "",
                     **settings: Any) -> ModelConfig:
        """A `ModelConfig` pointing at this server (no key unless `api_key_env` names one)."""
        settings.setdefault("base_url",
                            self.base_url if provider == "anthropic" else self.openai_url)
        return ModelConfig(
            alias=alias, provider=provider,
            model=model or ("fake-claude" if provider == "anthropic" else "fake-gpt"),
            api_key_env=api_key_env or None, **settings)

    # -- scripting

    def push(self, *replies: Reply) -> None:
        """Queue replies, served in order before the handler."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def requests_for(self, protocol: str) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.protocol == protocol]

    @property
    def last(self) -> ReceivedRequest:
        with self._lock:
            return self.requests[-1]

    # -- serving (called from the server's threads)

    def _next_reply(self, protocol: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.handler is not None:
            found = self.handler(protocol, body)
            if found is not None:
                return found
        schema = _requested_schema(protocol, body)
        if schema is not None:
            return json_reply(sample_value(schema))
        return text_reply(f"fake answer to: {_last_user_text(body)[:200]}")

    def _auth_ok(self, protocol: str, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        if protocol == "anthropic":
            return headers.get("x-api-key") == self.api_key
        return (headers.get("authorization") == f"Bearer {self.api_key}"
                or headers.get("api-key") == self.api_key)

    def serve(self, path: str, headers: dict[str, str],
              raw: bytes) -> tuple[int, dict[str, str], bytes, float]:
        """(status, headers, body, delay) for one POST."""
        route = path.split("?", 1)[0].rstrip("/")
        protocol = ("openai" if route.endswith("/chat/completions")
                    else "anthropic" if route.endswith("/v1/messages") else "unknown")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(ReceivedRequest(protocol, path, headers, body, time.time()))
        if protocol == "unknown":
            return self._json(404, error_body("openai", 404, f"Unknown path {route}"))
        if not self._auth_ok(protocol, headers):
            message = ("invalid x-api-key" if protocol == "anthropic" else
                       "Incorrect API key provided. You can find your API key at "
                       "https://platform.openai.com/account/api-keys.")
            return self._json(401, error_body(protocol, 401, message))
        try:
            if protocol == "openai":
                _openai_check(body)
            else:
                _anthropic_check(body, headers)
        except _Invalid as e:
            return self._json(e.status, error_body(protocol, e.status, str(e), param=e.param))
        refused = self._refused(body)
        if refused is not None:
            return self._json(400, error_body(protocol, 400, refused))
        reply = self._next_reply(protocol, body)
        if self.ignore_tools and reply.tool_calls:
            reply = replace(reply, kind="text", tool_calls=(), text=reply.text or json.dumps(
                [{"name": n, "arguments": a} for _, n, a in reply.tool_calls]))
        status, out_headers, data = self._render(protocol, body, reply)
        return status, out_headers, data, reply.delay

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None,
              delay: float = 0.0) -> tuple[int, dict[str, str], bytes, float]:
        return status, dict(headers or {}), json.dumps(body).encode(), delay

    def _render(self, protocol: str, body: dict[str, Any],
                reply: Reply) -> tuple[int, dict[str, str], bytes]:
        if reply.kind == "raw":
            value = reply.value
            data = value if isinstance(value, bytes) else (
                value.encode() if isinstance(value, str) else json.dumps(value).encode())
            return reply.status, dict(reply.headers), data
        if reply.kind == "error":
            message = reply.text or _MESSAGES.get(reply.status, "Error")
            return (reply.status, dict(reply.headers),
                    json.dumps(error_body(protocol, reply.status, message,
                                          reply.error_type)).encode())
        n = next(self._ids)
        model = reply.model or body.get("model") or "fake"
        calls = list(reply.tool_calls)
        text = reply.text
        if reply.kind == "json":
            if protocol == "openai":
                text = json.dumps(reply.value)
            else:
                choice = body.get("tool_choice") or {}
                tools = body.get("tools") or [{}]
                name = choice.get("name") if choice.get("type") == "tool" else tools[-1].get(
                    "name", "deliverable")
                calls = [(f"toolu_fake_{n}", name, reply.value)]
        if reply.usage is not None:
            prompt, completion = reply.usage
        else:
            prompt = _prompt_tokens(protocol, body)
            completion = estimate_tokens(text) + sum(estimate_json_tokens(a)
                                                     for _, _, a in calls)
        if protocol == "openai":
            message: dict[str, Any] = {"role": "assistant", "content": text or None,
                                       "refusal": None}
            if calls:
                message["tool_calls"] = [
                    {"id": i, "type": "function",
                     "function": {"name": name, "arguments": json.dumps(args)}}
                    for i, name, args in calls]
            out = {"id": f"chatcmpl-fake{n}", "object": "chat.completion",
                   "created": int(time.time()), "model": model,
                   "choices": [{"index": 0, "message": message, "logprobs": None,
                                "finish_reason": reply.finish_reason or (
                                    "tool_calls" if calls else "stop")}],
                   "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion},
                   "system_fingerprint": "fp_fake"}
        else:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            blocks += [{"type": "tool_use", "id": i, "name": name, "input": args}
                       for i, name, args in calls]
            out = {"id": f"msg_fake{n}", "type": "message", "role": "assistant",
                   "model": model, "content": blocks,
                   "stop_reason": reply.finish_reason or ("tool_use" if calls else "end_turn"),
                   "stop_sequence": None,
                   "usage": {"input_tokens": prompt, "output_tokens": completion}}
        return reply.status, dict(reply.headers), json.dumps(out).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass   # a client that gave up (a timeout test) is not an error worth a traceback


def _handler_class(fake: FakeModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeModelServer/1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, data, delay = fake.serve(self.path, headers, raw)
            if delay and fake._closing.wait(delay):
                return
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in out_headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.close_connection = True

        def do_GET(self) -> None:
            data = json.dumps(error_body("openai", 404, "Only POST is served")).encode()
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowc.runtime.models.fakeserver",
                                     description="A local fake OpenAI + Anthropic endpoint.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=None, help="require this key (default: any)")
    args = parser.parse_args(argv)
    with FakeModelServer(api_key=args.api_key, port=args.port) as srv:
        print(f"OpenAI-compatible: base_url = \"{srv.openai_url}\"\n"
              f"Anthropic:         base_url = \"{srv.base_url}\"\n(Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
