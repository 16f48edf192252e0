"""A deterministic token estimate, the same on every machine and for every model.

`estimate_tokens(text)` counts word pieces: every run of letters or digits is cut into pieces
of at most 4 characters, and every other non-space character (punctuation, symbols) is one
piece. English prose comes out near real tokenizers (about 4 characters a token); the point is
not accuracy but a stable figure for the fake server's `usage`, budgets and benchmarks.

`estimate_request_tokens(request)` adds up a request the way the fake server counts a prompt:
every message's text, tool-call arguments (as JSON), the tool definitions and the response
schema (as JSON), plus 3 tokens of framing per message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["MESSAGE_OVERHEAD", "count_prompt", "estimate_json_tokens", "estimate_request_tokens",
           "estimate_tokens"]

MESSAGE_OVERHEAD = 3
_PIECE = re.compile(r"[^\W_]{1,4}|[^\w\s]|_")


def estimate_tokens(text: str) -> int:
    """The number of word pieces in `text` (see the module docstring)."""
    if not text:
        return 0
    return len(_PIECE.findall(text))


def estimate_json_tokens(value: Any) -> int:
    """`estimate_tokens` of a value's compact JSON text (0 for None)."""
    if value is None:
        return 0
    return estimate_tokens(json.dumps(value, separators=(",", ":"), sort_keys=True,
                                      ensure_ascii=False))


def count_prompt(texts: Iterable[str], n_messages: int, extras: Iterable[Any] = ()) -> int:
    """Prompt tokens from message texts, a message count and JSON extras (tools, schema)."""
    return (sum(estimate_tokens(t) for t in texts) + MESSAGE_OVERHEAD * n_messages
            + sum(estimate_json_tokens(x) for x in extras))


def estimate_request_tokens(request: Any) -> int:
    """The prompt size of a `ModelRequest`, as the fake server would count it."""
    texts: list[str] = []
    for m in request.messages:
        texts.append(m.content)
        texts.extend(json.dumps(c.arguments, sort_keys=True) for c in m.tool_calls)
    extras: list[Any] = [{"name": t.name, "description": t.description,
                          "parameters": t.parameters} for t in request.tools]
    if request.response_schema is not None:
        extras.append(request.response_schema)
    return count_prompt(texts, len(request.messages), extras)
