"""Values as the store keeps them: JSON text (orjson on the write path), and back."""

from __future__ import annotations

import json
from typing import Any


def _json_dump(value: Any) -> str:
    """JSON text the store can write: a lone surrogate (a model's answer can hold one, from
    a `\\ud800` escape) is kept as its escape, so it reads back the same."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, separators=(",", ":"))
    return text


try:  # orjson is several times faster on the write path (results, inputs, exchanges)
    import orjson as _orjson

    _ORJSON_OPTS = _orjson.OPT_NON_STR_KEYS

    def _dump(value: Any) -> str | None:
        if value is None:
            return None
        try:
            return _orjson.dumps(value, option=_ORJSON_OPTS).decode("utf-8")
        except TypeError:  # what orjson refuses (e.g. ints over 64 bits), json writes
            return _json_dump(value)
except ImportError:  # pragma: no cover - orjson is a dependency; plain json still works
    _orjson = None

    def _dump(value: Any) -> str | None:
        return None if value is None else _json_dump(value)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)

