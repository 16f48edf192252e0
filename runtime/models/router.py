"""`Models`: the one object the engine holds to call models by alias.

```python
models = Models(load_config(flow_dir), record="run.jsonl")        # live, recorded
models = Models(config, replay="run.jsonl")                        # offline
models = Models(config, replay=store.model_calls(run_id), live_nodes={"draft"})
call = models.complete("default", ModelRequest([...]), CallKey("draft", seq=1))
call.response.text, call.usage, call.cost, call.provider, call.model, call.latency
store.record_model_call(call.to_record(run_id))
```

- Live: the alias is looked up in flowc.toml (`UnknownModel` if absent), its provider called
  (`openai` or `anthropic`; `providers={"openai": ...}` replaces one, e.g. with a transport
  whose `sleep` is instant), and the cost worked out from the configured price.
- Replay (`replay=` a recording path, `Exchange`s, or the store's `ModelCallRecord`s): calls
  are served from the recording by key, with the recorded usage, model and provider "replay";
  the alias need not be configured. Calls of the `live_nodes` go to the real provider.
- Record (`record=` a path): every exchange, served live or replayed, failed or not, is
  appended to the file as it ends.

A failed call raises its `ModelError` with the failed `ModelCall` attached as `error.call`, so
the engine can keep it. Thread-safe: nodes run in threads.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from flowc.config import ConfigError, ModelConfig, ProjectConfig

from .base import (
    CallKey,
    MissingKey,
    ModelError,
    ModelRequest,
    ModelResponse,
    Provider,
    UnknownModel,
    Usage,
    error_from_text,
    error_text,
)
from .record import Exchange, Recorder, ReplayProvider

__all__ = ["ModelCall", "Models"]


@dataclass(frozen=True)
class ModelCall:
    """One model call as the engine keeps it (`response` is None when it failed)."""

    response: ModelResponse | None
    provider: str
    alias: str
    model: str
    cost: float
    started_at: float
    finished_at: float
    request: dict[str, Any]
    key: CallKey
    error: str | None = None

    @property
    def usage(self) -> Usage:
        return self.response.usage if self.response else Usage()

    @property
    def latency(self) -> float:
        return self.finished_at - self.started_at

    def exchange(self) -> Exchange:
        return Exchange(self.key, self.alias, self.provider, self.model, self.request,
                        self.response, self.error, self.usage, self.cost, self.started_at,
                        self.finished_at)

    def to_json(self) -> dict[str, Any]:
        return self.exchange().to_json()

    def to_record(self, run_id: str) -> Any:
        """The run store's `ModelCallRecord` for this call."""
        from flowc.runtime.store import ModelCallRecord  # the store is heavy; only when asked
        usage = self.usage
        return ModelCallRecord(
            run_id=run_id, node_id=self.key.node_id, item=self.key.item, seq=self.key.seq,
            attempt=self.key.attempt, purpose=self.key.purpose, provider=self.provider,
            alias=self.alias, model=self.model, request=self.request,
            response=self.response.to_json() if self.response else None, error=self.error,
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
            cost=self.cost, started_at=self.started_at, finished_at=self.finished_at)


class Models:
    """See the module docstring."""

    def __init__(self, config: ProjectConfig, *, record: str | os.PathLike[str] | Recorder |
                 None = None, replay: Any = None, live_nodes: Iterable[str] | None = None,
                 providers: dict[str, Provider] | None = None,
                 sleep: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.live_nodes = frozenset(live_nodes or ())
        self.clock = clock
        self._sleep = sleep
        self._providers: dict[str, Any] = dict(providers or {})
        self._lock = threading.Lock()
        self.replay = ReplayProvider.load(replay) if replay is not None else None
        self.recorder = (record if isinstance(record, Recorder)
                         else Recorder(record) if record is not None else None)

    # -- configuration

    def model_config(self, alias: str) -> ModelConfig:
        """The alias's settings (raises `UnknownModel` with flowc.toml's explanation)."""
        try:
            return self.config.model(alias)
        except ConfigError as e:
            raise UnknownModel(str(e), alias) from None

    def _probed(self, config: ModelConfig) -> ModelConfig:
        """`config` with what a saved probe (`flowc models check --save`) found the endpoint
        refuses taken out: a refused `parallel_tool_calls` would fail every request with tools."""
        if not config.parallel_tool_calls:
            return config
        from .probe import saved_choice

        if saved_choice(getattr(self.config, "root", None), config,
                        "parallel_tool_calls") is False:
            return replace(config, parallel_tool_calls=False)
        return config

    def provider(self, name: str) -> Any:
        with self._lock:
            found = self._providers.get(name)
            if found is None:
                options = {"sleep": self._sleep} if self._sleep is not None else {}
                if name == "openai":
                    from .openai import OpenAIProvider
                    found = OpenAIProvider(**options)
                elif name == "anthropic":
                    from .anthropic import AnthropicProvider
                    found = AnthropicProvider(**options)
                else:
                    raise ModelError(f"no provider `{name}` (providers: openai, anthropic)")
                self._providers[name] = found
            return found

    def preflight(self, alias: str) -> ModelConfig:
        """Check before a run that the alias is configured and its key is set (raises
        `UnknownModel` or `MissingKey`)."""
        config = self.model_config(alias)
        if config.api_key_env and config.api_key() is None:
            raise MissingKey(config)
        return config

    def replays(self, key: CallKey) -> bool:
        """Whether this call is served from the recording."""
        return self.replay is not None and key.node_id not in self.live_nodes

    # -- calls

    def complete(self, alias: str, request: ModelRequest, key: CallKey) -> ModelCall:
        """Call the model `alias` (see the module docstring); raises a `ModelError`."""
        if self.replays(key):
            return self._replayed(alias, request, key)
        config = self._probed(self.model_config(alias))
        provider = self.provider(config.provider)
        started = self.clock()
        try:
            response = provider.complete(config, request)
        except ModelError as e:
            self._failed(e, ModelCall(None, provider.name, alias, config.model, 0.0, started,
                                      self.clock(), request.to_json(), key, error_text(e)))
            raise
        usage = response.usage
        call = ModelCall(response, provider.name, alias, config.model,
                         config.cost(usage.prompt_tokens, usage.completion_tokens), started,
                         self.clock(), request.to_json(), key)
        self._record(call)
        return call

    def _replayed(self, alias: str, request: ModelRequest, key: CallKey) -> ModelCall:
        assert self.replay is not None
        started = self.clock()
        ex = self.replay.take(key)
        configured = self.config.models.get(alias)
        usage = ex.usage
        if configured is not None and (configured.price_input or configured.price_output):
            cost = configured.cost(usage.prompt_tokens, usage.completion_tokens)
        else:
            cost = ex.cost
        response = replace(ex.response, usage=usage) if ex.response is not None else None
        call = ModelCall(response, ReplayProvider.name, alias, ex.model, cost, started,
                         self.clock(), request.to_json(), key, ex.error)
        if response is None:
            error = error_from_text(ex.error or "ModelError: the recorded call failed")
            self._failed(error, call)
            raise error
        self._record(call)
        return call

    def _failed(self, error: ModelError, call: ModelCall) -> None:
        error.call = call
        self._record(call)

    def _record(self, call: ModelCall) -> None:
        if self.recorder is not None:
            self.recorder.write(call.exchange())

    def close(self) -> None:
        """Close the recording and the providers' connections."""
        if self.recorder is not None:
            self.recorder.close()
        with self._lock:
            for p in self._providers.values():
                close = getattr(p, "close", None)
                if callable(close):
                    close()

    def __enter__(self) -> Models:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
