"""Values that come from inside a sandbox, parsed as hostile input.

A sandbox's result is JSON text written by code flowc does not trust (the host's own message
can be forged from inside). Before anything else in flowc sees it, it is parsed with these
bounds, each of which would otherwise crash or hang some later step (the store's encoder,
the schema checker, a file system, a terminal):

- nesting at most `MAX_DEPTH` deep (a 2,000-deep list raises RecursionError downstream);
- at most `MAX_NODES` values in all;
- numbers finite (`NaN`, `Infinity`, `1e400` are refused: JSON has no such numbers);
- strings and keys valid Unicode (a lone surrogate such as "\\ud800" cannot be encoded as
  UTF-8, so no file, store or terminal can take it).
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["HostileValue", "loads", "check", "clean_text", "cut_utf8", "utf8_size", "MAX_DEPTH",
           "MAX_NODES"]

MAX_DEPTH = 100
MAX_NODES = 1_000_000


class HostileValue(ValueError):
    """A value that breaks one of the bounds above; the message says which, and where."""


def _no_constant(name: str):
    raise HostileValue(f"the result holds {name}, which is not a JSON number")


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """JSON text to a value within the bounds; HostileValue otherwise."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except HostileValue:
        raise
    except RecursionError:
        raise HostileValue(f"the result is nested more than {max_depth} levels deep") from None
    except MemoryError:
        raise HostileValue("the result is too large to read") from None
    except (ValueError, TypeError) as e:
        raise HostileValue(f"the result is not valid JSON ({str(e)[:100]})") from None
    check(value, max_depth=max_depth, max_nodes=max_nodes)
    return value


def _where(path: list) -> str:
    out = "$"
    for p in path[:12]:
        out += f"[{p}]" if isinstance(p, int) else f".{clean_text(str(p))[:40]}"
    return out + ("..." if len(path) > 12 else "")


def _bad_text(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check(value: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> None:
    """Raise HostileValue when `value` (already parsed) breaks a bound. A value's place is
    kept as a link to its parent's and spelled out only for an error (no list per value)."""
    stack: list[tuple[Any, int, tuple | None]] = [(value, 0, None)]
    nodes = 0

    def where(link: tuple | None) -> str:
        path: list = []
        while link is not None:
            link, key = link
            path.append(key)
        return _where(path[::-1])

    while stack:
        v, depth, link = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise HostileValue(f"the result holds more than {max_nodes} values")
        if isinstance(v, str):
            if _bad_text(v):
                raise HostileValue(f"the result holds text that is not valid Unicode (a lone "
                                   f"surrogate) at {where(link)}")
        elif isinstance(v, bool) or v is None or isinstance(v, int):
            continue
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise HostileValue(f"the result holds a number that is not finite at "
                                   f"{where(link)}")
        elif isinstance(v, (list, tuple)):
            if depth >= max_depth:
                raise HostileValue(f"the result is nested more than {max_depth} levels deep")
            for i in range(len(v) - 1, -1, -1):
                stack.append((v[i], depth + 1, (link, i)))
        elif isinstance(v, dict):
            if depth >= max_depth:
                raise HostileValue(f"the result is nested more than {max_depth} levels deep")
            for k, item in v.items():
                if not isinstance(k, str) or _bad_text(k):
                    raise HostileValue(f"the result holds a key that is not valid Unicode at "
                                       f"{where(link)}")
                stack.append((item, depth + 1, (link, k)))
        else:
            raise HostileValue(f"the result holds a {type(v).__name__} at {where(link)}")


def clean_text(s: Any, limit: int | None = None) -> str:
    """Text from a sandbox made safe to show and store: valid Unicode (lone surrogates become
    U+FFFD), cut to `limit` characters."""
    s = s if isinstance(s, str) else str(s)
    if limit is not None:
        s = s[:limit]
    if _bad_text(s):
        s = s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return s


def utf8_size(s: str) -> int:
    """The size of `s` in UTF-8 (a lone surrogate counted as the 3 bytes of U+FFFD)."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-8", "replace"))


def cut_utf8(s: Any, limit: int) -> str:
    """clean_text, cut to at most `limit` bytes of UTF-8 (never inside a character): limits
    are documented in bytes, and a character can take up to 4."""
    s = clean_text(s, limit)  # (a character is at least one byte)
    if s.isascii():
        return s
    data = s.encode("utf-8")
    return s if len(data) <= limit else data[:limit].decode("utf-8", "ignore")
