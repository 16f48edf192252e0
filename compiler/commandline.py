"""Validation of a `command` node's line: one POSIX-style command line, nothing more.

Allowed: words, single and double quotes, backslash escapes, pipes, `$(...)` substitution
(nested), and redirections to relative paths inside the workspace. Refused: command lists
(`;`, `&&`, `||`), background jobs (`&`), unbalanced quotes or parentheses, empty pipeline
stages, and redirections to absolute paths or out of the workspace (`..`).
"""

from __future__ import annotations

import re

__all__ = ["command_words", "CommandProblem", "validate_command_line", "mask_holes",
           "holes_after_backslash"]


class CommandProblem:
    __slots__ = ("help", "length", "message", "offset")

    def __init__(self, offset: int, length: int, message: str, help: str | None = None):
        self.offset, self.length, self.message, self.help = offset, length, message, help

    def __repr__(self) -> str:
        return f"CommandProblem({self.offset}, {self.message!r})"


_HOLE = re.compile(r"\{\{|\}\}|\{[^{}]*\}")


def mask_holes(line: str) -> str:
    """Replace template holes with same-length plain words so that offsets are kept."""
    return _HOLE.sub(lambda m: "x" * len(m.group(0)) if len(m.group(0)) > 2 else "xx", line)


def validate_command_line(line: str) -> list[CommandProblem]:
    """Problems with `line` (template holes already masked); an empty list when it is valid."""
    problems: list[CommandProblem] = []
    i, n = 0, len(line)
    depth_stack: list[int] = []          # offsets of open `$(`
    words_in_stage = 0
    stage_start = 0
    pending_redirect: int | None = None

    def end_stage(at: int, op: str) -> None:
        nonlocal words_in_stage, stage_start
        if words_in_stage == 0:
            problems.append(CommandProblem(at, len(op), f"`{op}` has no command before it",
                                           "each stage of a pipeline needs a command"))
        words_in_stage = 0
        stage_start = at + len(op)

    while i < n:
        c = line[i]
        if c in " \t\n\r":
            i += 1
            continue
        two = line[i : i + 2]
        if two in ("&&", "||"):
            problems.append(CommandProblem(i, 2, f"`{two}` joins two commands",
                                           "a command node runs one command line; use two "
                                           "nodes, or a skill for the logic"))
            i += 2
            continue
        if c == ";":
            problems.append(CommandProblem(i, 1, "`;` runs a second command",
                                           "a command node runs one command line; use "
                                           "another node for the next command"))
            i += 1
            continue
        if c == "&":
            problems.append(CommandProblem(i, 1, "`&` starts a background job",
                                           "commands run in the foreground of the workspace"))
            i += 1
            continue
        if c == "|":
            end_stage(i, "|")
            i += 1
            continue
        if c == ")":
            if depth_stack:
                depth_stack.pop()
                words_in_stage = 1  # the substitution as a whole is a word of the outer stage
            else:
                problems.append(CommandProblem(i, 1, "unbalanced `)`"))
            i += 1
            continue
        if c in "<>":
            j = i + 1
            if j < n and line[j] in ">&":
                j += 1
            if line[i:j] in (">&",) or (j < n and line[j - 1] == "&"):
                # `2>&1`-style duplication: a file descriptor follows, not a path
                while j < n and line[j].isdigit():
                    j += 1
                i = j
                continue
            pending_redirect = i
            i = j
            continue
        # a word
        start = i
        word_chars: list[str] = []
        while i < n and line[i] not in " \t\n\r|;&<>)":
            ch = line[i]
            if ch == "\\" and i + 1 < n:
                word_chars.append(line[i + 1])
                i += 2
            elif ch in "'\"":
                close = line.find(ch, i + 1)
                while ch == '"' and close != -1 and line[close - 1] == "\\":
                    close = line.find(ch, close + 1)
                if close == -1:
                    problems.append(CommandProblem(i, 1, f"unclosed quote `{ch}`",
                                                   f"close it with `{ch}`"))
                    return problems
                word_chars.append(line[i + 1 : close])
                i = close + 1
            elif line.startswith("$(", i):
                depth_stack.append(i)
                i += 2
                words_in_stage += 1
                break
            else:
                word_chars.append(ch)
                i += 1
        word = "".join(word_chars)
        if pending_redirect is not None:
            if word.startswith("/") or word.startswith("~") or ".." in word.split("/"):
                problems.append(CommandProblem(
                    start, max(1, i - start), f"redirection to `{word}` leaves the workspace",
                    "redirect to a relative path inside the workspace"))
            pending_redirect = None
        elif word or i > start:
            words_in_stage += 1
    if pending_redirect is not None:
        problems.append(CommandProblem(pending_redirect, 1, "redirection without a target"))
    for at in depth_stack:
        problems.append(CommandProblem(at, 2, "`$(` is never closed", "close it with `)`"))
    if words_in_stage == 0:
        if stage_start == 0 and not problems:
            problems.append(CommandProblem(0, max(1, n), "the command line is empty"))
        elif stage_start > 0:
            problems.append(CommandProblem(max(stage_start - 1, 0), 1,
                                           "the pipeline ends with `|`",
                                           "add the command that reads the pipe"))
    return problems


_SEPARATORS = re.compile(r"\$\(|\||;|\)|&&|\|\|")


def command_words(line: str) -> set[str]:
    """The command names a line runs: the first word of every pipeline stage and `$(...)`
    (holes masked first). Used to count a skill as used when a command line calls its entry."""
    out = set()
    for stage in _SEPARATORS.split(line):
        words = stage.split()
        while words and "=" in words[0] and not words[0].startswith("="):
            words = words[1:]  # NAME=value prefixes
        if words:
            out.add(words[0].strip("'\""))
    return out


def holes_after_backslash(pieces) -> list[int]:
    """The indexes (among `pieces`, text and holes) of the holes that follow an unescaped
    backslash outside single quotes. The runtime quotes a value for where its hole stands
    (bare, in double or single quotes: runtime/shellquote.py), but a backslash just before
    a hole would escape the quoted value's first character, so no quoting keeps it data."""
    stack = ["bare"]
    escape = False
    out: list[int] = []
    for k, piece in enumerate(pieces):
        if not isinstance(piece, str):
            if escape:
                out.append(k)
            escape = False
            continue
        i, n = 0, len(piece)
        while i < n:
            c = piece[i]
            if escape:
                escape = False
            elif stack[-1] == "single":
                if c == "'":
                    stack.pop()
            elif c == "\\":
                escape = True
            elif piece.startswith("$(", i):
                stack.append("bare")
                i += 1
            elif stack[-1] == "double":
                if c == '"':
                    stack.pop()
            elif c in "\"'":
                stack.append("double" if c == '"' else "single")
            elif c == ")" and len(stack) > 1:
                stack.pop()
            i += 1
    return out
