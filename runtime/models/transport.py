"""HTTP for the providers: one POST of JSON with timeouts and retries.

Retried (up to `max_retries` more times, so `max_retries + 1` attempts): HTTP 408, 409, 429,
5xx (including Anthropic's 529 "overloaded"), timeouts and connection errors. The wait before a
retry honours the server's `retry-after-ms` / `retry-after` header (seconds or an HTTP date;
at most `MAX_RETRY_AFTER`), else it is exponential with jitter:
`min(max_backoff, backoff * 2**n) * uniform(0.5, 1)`. Other 4xx answers are not retried:
`ModelRequestError` carries the provider's own error message. Giving up raises `ModelTimeout`
when the last attempt timed out, else `ModelUnavailable` (with the number of attempts and the
last status).
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from flowc.config import ModelConfig

from .base import (
    MissingKey,
    ModelError,
    ModelProtocolError,
    ModelRequest,
    ModelRequestError,
    ModelResponse,
    ModelTimeout,
    ModelUnavailable,
)
from .schemas import PreparedSchema

__all__ = ["MAX_RETRY_AFTER", "RETRY_STATUSES", "HttpProvider", "HttpTransport",
           "config_headers", "join_url", "provider_message"]

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
MAX_RETRY_AFTER = 60.0


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def config_headers(config: ModelConfig) -> dict[str, str]:
    """The extra headers of flowc.toml, with `${VAR}` replaced by the environment variable (so
    Azure's `api-key = "${AZURE_OPENAI_API_KEY}"` keeps the key out of the file); an unset
    variable raises `MissingKey`."""
    out = {}
    for name, value in config.headers.items():
        def sub(m: re.Match[str]) -> str:
            found = os.environ.get(m.group(1))
            if not found:
                raise MissingKey(config, m.group(1))
            return found
        out[name.lower()] = _ENV_REF.sub(sub, value)
    return out


def join_url(base_url: str, path: str) -> str:
    """`base_url` + `path`, keeping a query (Azure's `?api-version=...`) at the end."""
    parts = urlsplit(base_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + path))


def _one_line(text: str, limit: int = 300) -> str:
    """A provider's text for an error: printable, one line, at most `limit` characters."""
    flat = "".join(c if c.isprintable() else " " for c in " ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def provider_message(response: httpx.Response) -> str:
    """The provider's own error message: `error.message` in both OpenAI's and Anthropic's
    error JSON (and LiteLLM's, vLLM's, Ollama's `error` string), else the body's start; one
    printable line of at most 300 characters (it goes into a run's error)."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict) and err.get("message"):
            kind = err.get("type") or err.get("code")
            return _one_line(f"{err['message']}" + (f" ({kind})" if kind else ""))
        if isinstance(err, str) and err:
            return _one_line(err)
    text = " ".join(response.text.split())[:300]
    return text or (response.reason_phrase or "no message")


def _retry_after(response: httpx.Response) -> float | None:
    ms = response.headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpTransport:
    """A shared httpx client (thread-safe) that POSTs JSON with the retry policy above.

    `sleep` and `rand` are injectable so tests do not wait; `client` to bring your own
    (proxies, certificates)."""

    def __init__(self, *, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random,
                 backoff: float = 0.5, max_backoff: float = 20.0) -> None:
        self._client = client
        self._own = client is None
        self._lock = threading.Lock()
        self.sleep, self.rand = sleep, rand
        self.backoff, self.max_backoff = backoff, max_backoff

    @property
    def client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._own:
                self._client.close()
                self._client = None

    def delay(self, n: int, response: httpx.Response | None = None) -> float:
        """The wait before retry number `n` (from 0)."""
        if response is not None:
            after = _retry_after(response)
            if after is not None:
                return min(after, MAX_RETRY_AFTER)
        return min(self.max_backoff, self.backoff * 2 ** n) * (0.5 + self.rand() / 2)

    def post(self, config: ModelConfig, url: str, headers: dict[str, str],
             body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` as JSON and return the JSON answer (see the module docstring)."""
        attempts = config.max_retries + 1
        try:
            content = json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate (from a model's own answer, say):
            content = json.dumps(body).encode()  # sent as its JSON escape, as it came
        headers = {"content-type": "application/json", **headers}
        last, status, timed_out = "", None, False
        for n in range(attempts):
            response = None
            try:
                response = self.client.post(url, content=content, headers=headers,
                                            timeout=config.timeout)
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
                raise ModelError(f"bad base_url in flowc.toml ({url}): {_short(e)}",
                                 config=config) from None
            except httpx.TimeoutException:
                last, status, timed_out = f"no answer within {config.timeout:g}s", None, True
            except httpx.TransportError as e:
                last, status, timed_out = f"connection failed: {_short(e)}", None, False
            else:
                if response.is_success:
                    try:
                        data = response.json()
                    except ValueError:
                        raise ModelProtocolError(
                            config, f"HTTP {response.status_code} with a body that is not "
                            f"JSON: {response.text[:200]!r}") from None
                    except RecursionError:
                        raise ModelProtocolError(
                            config, f"HTTP {response.status_code} with a JSON body nested too "
                            "deeply") from None
                    if not isinstance(data, dict):
                        raise ModelProtocolError(config, "the JSON body is not an object")
                    return data
                status, timed_out = response.status_code, False
                last = f"HTTP {status}: {provider_message(response)}"
                if status not in RETRY_STATUSES:
                    raise ModelRequestError(config, status, provider_message(response))
            if n + 1 < attempts:
                self.sleep(self.delay(n, response))
        if timed_out:
            raise ModelTimeout(config, attempts)
        raise ModelUnavailable(config, attempts, last, status)


class HttpProvider:
    """What the HTTP providers share: a transport, the key header (`MissingKey` before any
    request when the variable `api_key_env` names is unset) plus flowc.toml's `headers`, and
    one POST of the body `build_payload` makes, read back by `parse_response`. A subclass
    gives `name`, `url`, `key_headers` and the two functions (as static methods); `fixed_headers`
    holds any it always sends. Thread-safe."""

    name: str
    fixed_headers: dict[str, str] = {}

    def __init__(self, transport: HttpTransport | None = None, **transport_options: Any):
        self.transport = transport or HttpTransport(**transport_options)

    def url(self, config: ModelConfig) -> str:
        raise NotImplementedError

    def key_headers(self, key: str) -> dict[str, str]:
        raise NotImplementedError

    @staticmethod
    def build_payload(config: ModelConfig, request: ModelRequest
                      ) -> tuple[dict[str, Any], PreparedSchema | None]:
        raise NotImplementedError

    @staticmethod
    def parse_response(config: ModelConfig, data: dict[str, Any],
                       prepared: PreparedSchema | None = None) -> ModelResponse:
        raise NotImplementedError

    def headers(self, config: ModelConfig) -> dict[str, str]:
        headers = dict(self.fixed_headers)
        if config.api_key_env:
            key = config.api_key()
            if key is None:
                raise MissingKey(config)
            headers.update(self.key_headers(key))
        return {**headers, **config_headers(config)}

    def complete(self, config: ModelConfig, request: ModelRequest) -> ModelResponse:
        headers = self.headers(config)
        body, prepared = self.build_payload(config, request)
        return self.parse_response(
            config, self.transport.post(config, self.url(config), headers, body), prepared)

    def close(self) -> None:
        self.transport.close()


def _short(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return " ".join(text.split())[:200]
