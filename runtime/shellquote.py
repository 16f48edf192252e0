"""Values into a command line: each template hole quoted for where it stands.

A command line's template is literal shell text with holes. A hole's value must arrive as
data, whatever it holds (quotes of both kinds, `$`, backticks, backslashes, newlines,
`$(...)`), and must never change the command's structure. How to quote depends on where the
hole stands, which `hole_contexts` reads from the literal text before it, the way the
sandbox's shell (runtime/sandbox/shell.py) and a POSIX shell read it:

- bare (a word of its own, or part of one): the value in single quotes (`shlex.quote`);
- inside `"..."`: `\\`, `"`, `$` and backticks escaped with a backslash;
- inside `'...'`: the quote closed, the value's own `'` written `'\\''`, the quote reopened;
- inside `$(...)`: bare again, whatever quotes surround the substitution.

A hole straight after an unescaped backslash cannot be quoted (the backslash would escape
the value's first character); the checker refuses it (F0209) and `quote_holes` raises.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence

__all__ = ["BARE", "DOUBLE", "SINGLE", "ESCAPED", "UnquotableHole", "hole_contexts", "quote_in",
           "quote_holes"]

BARE, DOUBLE, SINGLE, ESCAPED = "bare", "double", "single", "escaped"



class UnquotableHole(ValueError):
    """A hole where no quoting keeps the value data (straight after a backslash)."""


_IN_DOUBLE = re.compile(r'([\\"$`])')


def hole_contexts(parts: Sequence) -> list[str]:
    """The context of every hole (every part that is not a string), in order."""
    stack = [BARE]
    escape = False  # the previous character was an unescaped backslash
    out: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            out.append(ESCAPED if escape else stack[-1])
            escape = False
            continue
        i, n = 0, len(part)
        while i < n:
            c = part[i]
            if escape:
                escape = False
            elif stack[-1] == SINGLE:
                if c == "'":
                    stack.pop()
            elif c == "\\":
                escape = True
            elif part.startswith("$(", i):
                stack.append(BARE)
                i += 1
            elif stack[-1] == DOUBLE:
                if c == '"':
                    stack.pop()
            elif c == '"':
                stack.append(DOUBLE)
            elif c == "'":
                stack.append(SINGLE)
            elif c == ")" and len(stack) > 1:
                stack.pop()
            i += 1
    return out


def quote_in(context: str, text: str) -> str:
    """`text` written so that, in `context`, the shell reads exactly `text` back."""
    if context == DOUBLE:
        return _IN_DOUBLE.sub(r"\\\1", text)
    if context == SINGLE:
        return text.replace("'", "'\\''")
    if context == BARE:
        return shlex.quote(text)
    raise UnquotableHole("a value cannot follow a backslash on a command line")


def quote_holes(parts: Sequence, text_of: Callable[[int, object], str]) -> str:
    """The command line: literal parts as written, hole `k` as `text_of(k, part)` quoted for
    its context."""
    contexts = iter(hole_contexts(parts))
    out = []
    for k, part in enumerate(parts):
        out.append(part if isinstance(part, str) else quote_in(next(contexts), text_of(k, part)))
    return "".join(out)
