"""Record and replay model exchanges.

A recording is a JSON Lines file, one line per model call, written and flushed (and fsync'ed)
as each call ends, so a crash loses nothing:

```json
{"key": {"node_id": "draft", "item": -1, "attempt": 1, "seq": 1, "purpose": "llm"},
 "alias": "default", "provider": "openai", "model": "gpt-4o-mini",
 "request": {...ModelRequest...}, "response": {...ModelResponse...} | null,
 "usage": {"prompt_tokens": 812, "completion_tokens": 95}, "latency": 1.42,
 "error": null | "ModelTimeout: model `default` (...): ...", "cost": 0.00018,
 "started_at": 1732540000.1, "finished_at": 1732540001.5}
```

`ReplayProvider` serves exchanges back by key: node, for_each item and call number (`seq`).
Several recorded attempts of the same key are served in recorded order; when more calls are
made than were recorded, the last one is served again. A recorded failure is raised again as
the same error. It is built from such a file, from a list of `Exchange`s, or from the run
store's `ModelCallRecord`s (or dicts with their fields), for `flowc replay RUN`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flowc.config import ModelConfig

from .base import (
    CallKey,
    ModelError,
    ModelRequest,
    ModelResponse,
    ReplayMiss,
    Usage,
    error_from_text,
    error_text,
)

__all__ = ["Exchange", "Recorder", "RecordingProvider", "ReplayProvider", "load_exchanges"]


@dataclass(frozen=True)
class Exchange:
    """One recorded model call: its key, the model, request and response (or error)."""

    key: CallKey
    alias: str
    provider: str
    model: str
    request: dict[str, Any] | None
    response: ModelResponse | None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def latency(self) -> float:
        return self.finished_at - self.started_at

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key.to_json(), "alias": self.alias, "provider": self.provider,
                "model": self.model, "request": self.request,
                "response": self.response.to_json() if self.response else None,
                "usage": self.usage.to_json(), "latency": round(self.latency, 6),
                "error": self.error, "cost": self.cost, "started_at": self.started_at,
                "finished_at": self.finished_at}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Exchange:
        response = ModelResponse.from_json(d["response"]) if d.get("response") else None
        usage = Usage.from_json(d["usage"]) if d.get("usage") else (
            response.usage if response else Usage())
        started = float(d.get("started_at") or 0.0)
        finished = float(d.get("finished_at") or started + float(d.get("latency") or 0.0))
        return cls(CallKey.from_json(d["key"]), d.get("alias") or "", d.get("provider") or "",
                   d.get("model") or "", d.get("request"), response, d.get("error"), usage,
                   float(d.get("cost") or 0.0), started, finished)

    @classmethod
    def from_record(cls, r: Any) -> Exchange:
        """From a store `ModelCallRecord` (or a mapping with its fields)."""
        get = r.get if isinstance(r, Mapping) else (lambda name, default=None:
                                                    getattr(r, name, default))
        raw = get("response")
        if isinstance(raw, str):
            raw = json.loads(raw)
        response = ModelResponse.from_json(raw) if raw else None
        usage = Usage(int(get("prompt_tokens") or 0), int(get("completion_tokens") or 0))
        if response is not None and not usage.total_tokens:
            usage = response.usage
        request = get("request")
        if isinstance(request, str):
            request = json.loads(request)
        key = CallKey(get("node_id"), int(get("item", -1)), int(get("attempt", 1) or 1),
                      int(get("seq", 1) or 1), get("purpose") or "llm")
        return cls(key, get("alias") or "", get("provider") or "", get("model") or "",
                   request, response, get("error"), usage, float(get("cost") or 0.0),
                   float(get("started_at") or 0.0), float(get("finished_at") or 0.0))


def load_exchanges(path: str | os.PathLike[str]) -> list[Exchange]:
    """The exchanges of a recording (a last line cut short by a crash is ignored)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ModelError(f"replay file {path} does not exist") from None
    except OSError as e:
        raise ModelError(f"replay file {path}: {e.strerror or e}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(Exchange.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError, AttributeError):
            if n == len(lines) and out:
                break    # the write a crash interrupted (after at least one good line)
            raise ModelError(f"replay file {path} line {n}: not a recorded model exchange") \
                from None
    return out


class Recorder:
    """Appends exchanges to a JSONL file, one flushed line per call. Thread-safe.
    The file is started afresh unless `append`."""

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False,
                 fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a" if append else "w", encoding="utf-8")
        except OSError as e:
            raise ModelError(f"cannot record model calls to {self.path}: "
                             f"{e.strerror or e}") from None

    def write(self, exchange: Exchange) -> None:
        line = json.dumps(exchange.to_json(), ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if self._file.closed:
                raise ModelError(f"the recording {self.path} is closed")
            self._file.write(line + "\n")
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReplayProvider:
    """Serves recorded exchanges by key (see the module docstring). Thread-safe.

    `provider` name "replay"; `complete(config, request, key)` needs the call's key, and
    `take(key)` gives the whole recorded `Exchange` (model, usage, cost)."""

    name = "replay"

    def __init__(self, exchanges: Iterable[Exchange], source: str = "the recorded calls"):
        self.source = source
        self._lock = threading.Lock()
        grouped: dict[tuple[str, int, int], list[Exchange]] = defaultdict(list)
        for ex in exchanges:
            grouped[(ex.key.node_id, ex.key.item, ex.key.seq)].append(ex)
        self._queues = {k: sorted(v, key=lambda e: e.key.attempt) for k, v in grouped.items()}
        self._served: dict[tuple[str, int, int], int] = defaultdict(int)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ReplayProvider:
        return cls(load_exchanges(path), str(path))

    @classmethod
    def from_records(cls, records: Iterable[Any], source: str = "the run's recorded calls"
                     ) -> ReplayProvider:
        """From the store's `ModelCallRecord`s (or mappings with their fields)."""
        ordered = sorted((Exchange.from_record(r) for r in records),
                         key=lambda e: (e.key.attempt, e.started_at))
        return cls(ordered, source)

    @classmethod
    def load(cls, source: Any) -> ReplayProvider:
        """From a path, a `ReplayProvider`, or a list of exchanges, dicts or records."""
        if isinstance(source, ReplayProvider):
            return source
        if isinstance(source, str | os.PathLike):
            return cls.from_file(source)
        items = list(source)
        if all(isinstance(x, Exchange) for x in items):
            return cls(items)
        if all(isinstance(x, Mapping) and "key" in x for x in items):
            return cls([Exchange.from_json(x) for x in items])
        return cls.from_records(items)

    def __len__(self) -> int:
        return sum(len(v) for v in self._queues.values())

    def has(self, key: CallKey) -> bool:
        return (key.node_id, key.item, key.seq) in self._queues

    def take(self, key: CallKey) -> Exchange:
        """The next recorded exchange for `key` (raises `ReplayMiss`)."""
        k = (key.node_id, key.item, key.seq)
        with self._lock:
            queue = self._queues.get(k)
            if not queue:
                raise ReplayMiss(self._miss(key))
            n = self._served[k]
            self._served[k] = n + 1
            return queue[min(n, len(queue) - 1)]

    def _miss(self, key: CallKey) -> str:
        seqs = sorted({s for (node, item, s) in self._queues
                       if node == key.node_id and item == key.item})
        hint = ""
        if seqs:
            hint = f" (it has call{'s' if len(seqs) > 1 else ''} " \
                   f"{', '.join(map(str, seqs))} of that node)"
        elif not any(node == key.node_id for node, _, _ in self._queues):
            hint = " (nothing recorded for that node)"
        return (f"no recorded exchange for node `{key.node_id}` call {key.seq} "
                f"(item {key.item}) in {self.source}{hint}")

    def complete(self, config: ModelConfig | None, request: ModelRequest,
                 key: CallKey | None = None) -> ModelResponse:
        if key is None:
            raise ReplayMiss("the replay provider needs the call's key (node, item, seq)")
        ex = self.take(key)
        if ex.response is None:
            raise error_from_text(ex.error or "ModelError: the recorded call failed")
        return replace(ex.response, usage=ex.usage)


class RecordingProvider:
    """Wraps a provider and records every call it makes (the router does this itself; this
    is for using a provider on its own)."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self.inner, self.recorder = inner, recorder
        self.name = inner.name

    def complete(self, config: ModelConfig, request: ModelRequest,
                 key: CallKey | None = None) -> ModelResponse:
        started = time.time()
        response, error = None, None
        try:
            response = self.inner.complete(config, request)
            return response
        except ModelError as e:
            error = error_text(e)
            raise
        finally:
            usage = response.usage if response else Usage()
            self.recorder.write(Exchange(
                key or CallKey("?"), config.alias, self.inner.name, config.model,
                request.to_json(), response, error, usage,
                config.cost(usage.prompt_tokens, usage.completion_tokens), started, time.time()))
