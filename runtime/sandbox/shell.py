"""A small POSIX-style shell that runs inside the sandbox (its source is sent with the code).

One command line: words with quotes and escapes, pipes, `$(...)` substitution, redirections
to files in the working directory (`>`, `>>`, `<`, `2>`, `2>&1`). Commands are built-ins
(`ls cat head tail wc grep sort uniq cut echo jq tee`) and the entry commands of the run's
skills, whose Python scripts run in the same interpreter with their own argv, stdin and
stdout. `ls /bin` lists them all. Everything here runs inside Pyodide: it can only reach
the sandbox's own files.
"""

from __future__ import annotations

import collections
import decimal
import functools
import io
import itertools
import json
import operator
import os
import re
import sys

__all__ = ["run_line", "ShellError"]


class ShellError(Exception):
    """A command line that cannot run: a syntax error or an unknown command."""


# ---- parsing -------------------------------------------------------------------------------


def _split_pipeline(line: str) -> list[str]:
    """Split on `|` outside quotes and `$(...)`."""
    parts, buf, quote, i, n = [], [], None, 0, len(line)
    while i < n:
        c = line[i]
        if quote == "'":
            buf.append(c)
            if c == "'":
                quote = None
        elif c == "\\" and i + 1 < n:
            buf.append(line[i:i + 2])
            i += 1
        elif line.startswith("$(", i):  # in double quotes too: its own quotes are its own
            end = _closing(line, i + 2)
            buf.append(line[i:end + 1])
            i = end
        elif c == '"':
            quote = None if quote else '"'
            buf.append(c)
        elif c == "'" and not quote:
            quote = "'"
            buf.append(c)
        elif c == "|" and not quote:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    if quote:
        raise ShellError("unbalanced quotes")
    parts.append("".join(buf))
    return parts


# Redirections: at the start of a word only (`file2>x` is the word `file2`, then `>x`).
_OPERATOR = re.compile(r"2>&1|1?>&2|[12]?>>|[12]?>|<")
_IFS = " \t\n"


def _words(text: str, env) -> list[tuple[str, bool]]:
    """Words of one command as (text, is_operator); `$(...)` runs and substitutes (split
    into words at blanks and newlines when it is not inside double quotes)."""
    out: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _IFS:
            i += 1
            continue
        op = _OPERATOR.match(text, i)
        if op:
            out.append((op.group(0).removeprefix("1"), True))
            i += len(op.group(0))
            continue
        buf: list[str] = []
        solid = False  # the word has quoted or literal text: it exists even when empty
        while i < n and text[i] not in _IFS and text[i] not in "<>":
            c = text[i]
            if c == "'":
                j = text.index("'", i + 1)
                buf.append(text[i + 1 : j])
                solid = True
                i = j + 1
            elif c == '"':
                j, chunk = i + 1, []
                while text[j] != '"':
                    if text[j] == "\\" and text[j + 1] in '"\\$`':
                        chunk.append(text[j + 1])
                        j += 2
                    elif text.startswith("$(", j):
                        value, j = _substitution_at(text, j, env)
                        chunk.append(value)
                    else:
                        chunk.append(text[j])
                        j += 1
                buf.append("".join(chunk))
                solid = True
                i = j + 1
            elif c == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                solid = True
                i += 2
            elif text.startswith("$(", i):
                value, i = _substitution_at(text, i, env)
                fields = [f for f in re.split(r"[ \t\n]+", value) if f]
                if value[:1] in _IFS and value and (buf or solid):
                    out.append(("".join(buf), False))  # a blank ends the word before
                    buf, solid = [], False
                for k, field in enumerate(fields):
                    if k:
                        out.append(("".join(buf), False))
                        buf, solid = [], False
                    buf.append(field)
                    solid = True
                if fields and value[-1:] in _IFS:
                    out.append(("".join(buf), False))
                    buf, solid = [], False
            else:
                buf.append(c)
                solid = True
                i += 1
        if buf or solid:
            out.append(("".join(buf), False))
    return out


def _closing(text: str, start: int) -> int:
    """The index of the `)` that closes the `$(` whose inside starts at `start`: quotes,
    backslashes and nested `$(...)` inside it are skipped as a shell reads them."""
    i, n, quote = start, len(text), None
    while i < n:
        c = text[i]
        if quote == "'":
            if c == "'":
                quote = None
        elif c == "\\":
            i += 1
        elif text.startswith("$(", i):
            i = _closing(text, i + 2)
        elif c == '"':
            quote = None if quote else '"'
        elif c == "'" and not quote:
            quote = "'"
        elif c == ")" and not quote:
            return i
        i += 1
    raise ShellError("`$(` is never closed")


def _substitution_at(text: str, at: int, env) -> tuple[str, int]:
    """Run the `$(...)` starting at `at`; its output and the index just past it."""
    end = _closing(text, at + 2)
    return _substitute(text[at + 2 : end], env), end + 1


_SUBST_ERR: list[bytes] = []  # what `$(...)` wrote to stderr: the stage's stderr


def _substitute(inner: str, env) -> str:
    out, err, _code = _run(inner, _EMPTY, env)
    if err:
        _SUBST_ERR.append(err)
    # undecodable bytes survive as surrogates: arguments carry them back out byte for byte
    return out.bytes().decode("utf-8", "surrogateescape").rstrip("\n")


# ---- running -------------------------------------------------------------------------------


def _safe_path(name: str) -> str:
    norm = os.path.normpath(name)
    if os.path.isabs(name) or norm.startswith(".."):
        raise ShellError(f"`{name}` is outside the workspace")
    return norm


class _Data:
    """What flows through a pipe: bytes, or their text, or its lines (each without its
    newline), or sorted runs (line, count) from `sort`; each form is made from another once,
    when a stage asks for it. The text is the bytes decoded as latin-1, one character per
    byte, so the built-ins are byte-exact on any input (as the real tools with LC_ALL=C),
    and Python's str methods, several times faster than the bytes ones in the sandbox's
    WebAssembly interpreter, do the work. Line-oriented built-ins hand lines to the next
    one, so a pipeline splits its input once and joins its output once."""

    __slots__ = ("_bytes", "_lines", "_open", "_text", "runs")

    def __init__(self, data: bytes | None = None, lines: list | None = None,
                 runs: list | None = None, text: str | None = None, open_end: bool = False):
        self._bytes, self._lines, self.runs, self._text = data, lines, runs, text
        self._open = open_end  # made from lines: the last one has no newline

    def open_end(self) -> bool:
        """The last line has no newline (kept by `cat -n`, `head`, `tail`; the other
        line tools end every line they print, as the real ones do)."""
        self.lines()
        return self._open

    def bytes(self) -> bytes:
        if self._bytes is None:
            self._bytes = self.text().encode("latin-1")
        return self._bytes

    def text(self) -> str:
        if self._text is None:
            if self._bytes is not None:
                self._text = self._bytes.decode("latin-1")
            else:
                lines = self.lines()
                self._text = "\n".join(lines) + ("" if self._open else "\n") if lines else ""
        return self._text

    def lines(self) -> list:
        if self._lines is None:
            if self.runs is not None:
                self._lines = list(_chain.from_iterable(_map(_repeat, *zip(*self.runs)))) \
                    if self.runs else []
            else:
                lines = self.text().split("\n")
                if lines[-1]:
                    self._open = True
                else:
                    lines.pop()  # after the last newline
                self._lines = lines
        return self._lines

    def __len__(self) -> int:  # bytes, for diagnostics
        if self._bytes is not None or self._text is not None:
            return len(self._bytes if self._bytes is not None else self._text)
        return sum(_map(len, self.lines())) + len(self.lines())


def _l1(text: str) -> str:
    """A real string (an argument, a file name) in the latin-1 form of its UTF-8 bytes."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


_EMPTY = _Data(b"")


def _run(line: str, stdin: _Data, env) -> tuple[_Data, bytes, int]:
    data, err_all, code = stdin, b"", 0
    for part in _split_pipeline(line):
        _SUBST_ERR.clear()
        words = _words(part, env)
        err_all += b"".join(_SUBST_ERR)
        argv, redirects = [], []
        k = 0
        while k < len(words):
            text, is_op = words[k]
            if is_op:
                if text in ("2>&1", ">&2"):
                    redirects.append((text, None))
                else:
                    if k + 1 >= len(words) or words[k + 1][1]:
                        raise ShellError(f"`{text}` needs a file name")
                    redirects.append((text, _safe_path(words[k + 1][0])))
                    k += 1
            else:
                argv.append(text)
            k += 1
        if not argv:
            raise ShellError("an empty command in the pipeline")
        # redirections apply left to right, as file descriptors do: where stdout and stderr
        # go ("pipe": the next stage, "err": the line's stderr, or a file), `>` empties its
        # file first, `2>&1` sends stderr where stdout goes now, `>&2` the other way round
        to_out, to_err = "pipe", "err"
        try:  # a redirection that fails fails its stage only, as in a real shell
            for op, target in redirects:
                if op == "<":
                    with open(target, "rb") as f:
                        data = _Data(f.read())
                elif op in (">", ">>", "2>", "2>>"):
                    if op in (">", "2>"):
                        open(target, "wb").close()
                    else:
                        open(target, "ab").close()
                    if op.startswith("2"):
                        to_err = target
                    else:
                        to_out = target
                elif op == "2>&1":
                    to_err = to_out
                else:  # >&2
                    to_out = to_err
        except OSError as e:
            err_all += f"flowc shell: {target}: {e.strerror or e}\n".encode()
            data, code = _EMPTY, 1
            continue
        out, err, code = _command(argv, data, env)
        piped = [out.bytes()] if to_out == "pipe" and to_err == "pipe" else None
        for stream, where in ((out, to_out), (err, to_err)):
            if where == "pipe":
                continue
            raw = stream.bytes() if isinstance(stream, _Data) else stream
            if where == "err":
                err_all += raw
            else:
                with open(where, "ab") as f:
                    f.write(raw)
        if to_out == "pipe":
            data = _Data(piped[0] + err) if piped else out
        elif to_err == "pipe":
            data = _Data(err)
        else:
            data = _EMPTY
    return data, err_all, code


def _command(argv: list[str], stdin: _Data, env) -> tuple[_Data, bytes, int]:
    name, args = argv[0], argv[1:]
    if name in _BUILTINS:
        _ERRORS.clear()
        _STDIN_TAKEN.clear()
        try:
            out = _BUILTINS[name](args, stdin)
        except (OSError, ValueError, KeyError, IndexError, TypeError, re.error) as e:
            msg = e.strerror if isinstance(e, OSError) and e.strerror else e
            where = f"{e.filename}: " if isinstance(e, OSError) and e.filename else ""
            status = _USAGE_STATUS.get(name, 1) if isinstance(e, _Usage) else \
                _FAIL_STATUS.get(name, 1)
            return _EMPTY, f"{name}: {where}{msg}\n".encode(), status
        code = 0
        if isinstance(out, tuple):
            out, code = out
        if isinstance(out, str):
            out = out.encode("utf-8", "surrogateescape")
        err = b""
        if _ERRORS:  # files that could not be read: said, and the others still done
            err = "".join(f"{name}: {m}\n" for m in _ERRORS).encode()
            if code == 0 and name != "grep":  # (grep decides its own status)
                code = _FAIL_STATUS.get(name, 1)
        return (out if isinstance(out, _Data) else _Data(bytes(out))), err, code
    script = env["commands"].get(name)
    if script is None:
        return _EMPTY, f"{name}: command not found (see `ls /bin`)\n".encode(), 127
    out, err, code = _script(script, argv, stdin.bytes())
    return _Data(out), err, code


def _script(path: str, argv: list[str], stdin: bytes) -> tuple[bytes, bytes, int]:
    """Run a skill's entry script in this interpreter, as if it were a process."""
    import runpy

    saved = sys.argv, sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [path, *argv[1:]]
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    code = 0
    try:
        if "flowc_http" in sys.modules and b"urllib" in open(path, "rb").read():
            sys.modules["flowc_http"].install_urllib()  # urlopen through the host's fetch
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if e.code is not None and not isinstance(e.code, int):
            err.write(f"{e.code}\n")
    except Exception as e:  # the script's own failure: its exit status, not ours
        err.write(f"{type(e).__name__}: {e}\n")
        code = 1
    finally:
        sys.argv, sys.stdin, sys.stdout, sys.stderr = saved
    return out.getvalue().encode(), err.getvalue().encode(), code


# ---- built-ins -------------------------------------------------------------------------------
# Each takes (args, stdin: _Data) and returns _Data, bytes or str, or (that, exit status).
# The per-line work is done by C-level iterator chains (map, compress, itemgetter, Counter)
# wherever the semantics allow: the interpreter runs as WebAssembly in the sandbox, where
# every Python bytecode executed per line costs several times what it costs natively.

_map, _repeat, _chain, _compress = map, itertools.repeat, itertools.chain, itertools.compress
_contains, _not, _truth = operator.contains, operator.not_, operator.truth


class _Usage(ValueError):
    """A bad option or operand (exit status 2, as the real tools' usage errors)."""


def _opts(name: str, args: list[str], flags: str = "", valued: str = "",
          numeric: str = "") -> tuple[dict, list[str]]:
    """Short options in any position (`-vc`, `-d,`, `-d ,`, `--` ends them; `-` is an
    operand). Flags map to True, valued options to the list of their values; with `numeric`,
    `-5` means `-{numeric} 5`. An unknown option is a usage error naming the known ones."""
    opts: dict = {}
    operands: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            operands += args[i + 1:]
            break
        if not a.startswith("-") or a == "-":
            operands.append(a)
            i += 1
            continue
        if numeric and a[1:].isdigit():
            opts.setdefault(numeric, []).append(a[1:])
            i += 1
            continue
        j = 1
        while j < len(a):
            c = a[j]
            if c in valued:
                value = a[j + 1:]
                if not value:
                    i += 1
                    if i >= len(args):
                        raise _Usage(f"option -{c} needs a value")
                    value = args[i]
                opts.setdefault(c, []).append(value)
                break
            if c not in flags:
                known = " ".join(f"-{x}" for x in flags + valued) or "none"
                raise _Usage(f"unknown option -{c} (this shell's {name} supports: {known})")
            opts[c] = True
            j += 1
        i += 1
    return opts, operands


_ERRORS: list[str] = []  # the running built-in's complaints (files it could not read)
_USAGE_STATUS = {"grep": 2, "sort": 2, "ls": 2, "jq": 2}  # a bad option; the others: 1
_FAIL_STATUS = {"grep": 2, "sort": 2, "ls": 2, "jq": 5}  # trouble such as an unreadable file


_STDIN_TAKEN: list = []  # the running built-in has read its standard input (a second `-`
                         # reads nothing, as it would from a real pipe)


def _take(stdin: _Data) -> _Data:
    if _STDIN_TAKEN:
        return _EMPTY
    _STDIN_TAKEN.append(True)
    return stdin


def _open(name: str) -> bytes | None:
    """A file's bytes; None (and a complaint) when it cannot be read."""
    try:
        with open(_safe_path(name), "rb") as fh:
            return fh.read()
    except OSError as e:
        _ERRORS.append(f"{name}: {e.strerror or e}")
        return None


def _read(files: list[str], stdin: _Data) -> _Data:
    """The operands' bytes one after another (`-` is standard input), else stdin; an
    unreadable file is skipped with a complaint."""
    if not files or files == ["-"]:
        return _take(stdin)
    if len(files) == 1:
        return _Data(_open(files[0]) or b"")
    chunks = [_take(stdin).bytes() if f == "-" else _open(f) for f in files]
    return _Data(b"".join(c for c in chunks if c))


def _read_lines(files: list[str], stdin: _Data) -> _Data:
    """The operands' lines one after another: each file's last line ends at its end."""
    if len(files) <= 1:
        return _read(files, stdin)
    lines: list[str] = []
    for f in files:
        lines += (_take(stdin) if f == "-" else _Data(_open(f) or b"")).lines()
    return _Data(lines=lines)


def _each_file(files: list[str], stdin: _Data, one) -> _Data:
    """`head`/`tail` of several files: each one's part under a `==> NAME <==` header."""
    if len(files) <= 1:
        return one(_read(files, stdin))
    parts: list[str] = []  # latin-1 text
    for f in files:
        raw = _take(stdin).bytes() if f == "-" else _open(f)
        if raw is None:
            continue
        title = "standard input" if f == "-" else f
        parts.append(("\n" if parts else "") + _l1(f"==> {title} <==\n"))
        part = one(_Data(raw))
        parts.append(part.text() if isinstance(part, _Data) else part.decode("latin-1"))
    return _Data(text="".join(parts))


def _int(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _Usage(f"invalid {what}: `{value}`") from None


def b_cat(args, stdin):
    o, files = _opts("cat", args, flags="n")
    data = _read(files, stdin)
    if "n" in o:
        return _Data(lines=[f"{k:6d}\t{ln}" for k, ln in enumerate(data.lines(), 1)],
                     open_end=data.open_end())
    return data


def b_head(args, stdin):
    o, files = _opts("head", args, valued="nc", numeric="n")
    if "c" in o:  # `-c -N`: all but the last N bytes
        n = _int(o["c"][-1], "byte count")
        return _each_file(files, stdin, lambda d: d.bytes()[:n] if n or o["c"][-1][:1] != "-"
                          else d.bytes())
    spec = o.get("n", ["10"])[-1]
    n = _int(spec, "line count")
    but_last = spec.startswith("-")  # `-n -K`: all but the last K lines

    def head(data: _Data) -> _Data:
        if but_last or data._lines is not None:
            lines = data.lines()
            part = lines[:max(0, len(lines) + n)] if but_last else lines[:n]
            return _Data(lines=part, open_end=data.open_end() and len(part) == len(lines))
        t, pos = data.text(), 0
        for _ in range(n):
            pos = t.find("\n", pos) + 1
            if not pos:
                return data
        return _Data(text=t[:pos])

    return _each_file(files, stdin, head)


def b_tail(args, stdin):
    o, files = _opts("tail", args, valued="nc", numeric="n")
    if "c" in o:
        spec = o["c"][-1]
        if spec.startswith("+"):
            k = max(0, _int(spec[1:], "byte count") - 1)
            return _each_file(files, stdin, lambda d: d.bytes()[k:])
        c = abs(_int(spec, "byte count"))
        return _each_file(files, stdin, lambda d: d.bytes()[-c:] if c else b"")
    spec = o.get("n", ["10"])[-1]
    if spec.startswith("+"):  # `tail -n +K`: from line K on
        k = max(0, _int(spec[1:], "line count") - 1)

        def from_line(data: _Data) -> _Data:
            part = data.lines()[k:]
            return _Data(lines=part, open_end=data.open_end() and bool(part))

        return _each_file(files, stdin, from_line)
    n = abs(_int(spec, "line count"))

    def tail(data: _Data) -> _Data:
        if not n:
            return _EMPTY
        if data._lines is not None:
            return _Data(lines=data.lines()[-n:], open_end=data.open_end())
        t = data.text()
        pos = len(t) - 1 if t.endswith("\n") else len(t)
        for _ in range(n):
            pos = t.rfind("\n", 0, pos)
            if pos < 0:
                return data
        return _Data(text=t[pos + 1:])

    return _each_file(files, stdin, tail)


_UNPRINTABLE = re.compile(rb"[^\x20-\x7e\t\n\v\f\r]")
_PRINTABLE = re.compile(rb"[\x21-\x7e]")


def b_wc(args, stdin):
    o, files = _opts("wc", args, flags="lwc")
    chosen = [f for f in "lwc" if f in o] or ["l", "w", "c"]

    def counts(b: bytes) -> dict:
        # a word: a run of non-blank bytes holding a printable one (GNU's rule, LC_ALL=C)
        words = b.split()
        n = len(words) if not _UNPRINTABLE.search(b) else \
            sum(1 for w in words if _PRINTABLE.search(w))
        return {"l": b.count(b"\n"), "w": n, "c": len(b)}

    if not files:
        c = counts(stdin.bytes())
        return " ".join(str(c[k]) for k in chosen) + "\n"
    rows, total = [], dict.fromkeys("lwc", 0)
    for f in files:
        raw = _take(stdin).bytes() if f == "-" else _open(f)
        if raw is None:
            continue
        c = counts(raw)
        for k in total:
            total[k] += c[k]
        rows.append(" ".join(str(c[k]) for k in chosen) + f" {f}")
    if len(files) > 1:
        rows.append(" ".join(str(total[k]) for k in chosen) + " total")
    return "".join(r + "\n" for r in rows)


_POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "blank": r" \t", "xdigit": "0-9A-Fa-f",
    "punct": r"!-/:-@\[-`{-~", "print": r" -~", "graph": r"!-~", "cntrl": r"\x00-\x1f\x7f",
}


_INTERVAL = re.compile(r"\{(\d*)(,\d*)?\}")
_BRE_INTERVAL = re.compile(r"\\\{(\d*)(,\d*)?\\\}")


def _posix_regex(pattern: str, extended: bool, groups_before: int = 0) -> tuple[str, int]:
    r"""A POSIX basic (grep) or extended (grep -E) regular expression in Python's syntax, as
    GNU grep reads it. In a basic one `\| \+ \? \( \) \{ \}` are the operators and the bare
    characters literal, `^` and `$` anchor only at the ends of the pattern or a group;
    `[[:digit:]]`-style classes work in both, backslash is literal in brackets, `\< \> \b
    \B \w \W \s \S` are GNU's, any other escaped letter is that letter, a repeat of a
    repeat applies to the repeated atom (`a**`, `x+?` is `(x+)?`), and a repeat with
    nothing before it is literal. Back-references count the groups of the patterns before
    this one (`groups_before`), as they are joined into one; returns the number of groups."""
    # atoms: the translated pieces, each a whole atom a repeat may follow; "(" and "|" mark
    # group starts and alternatives; a repeated atom is flagged so another repeat wraps it
    atoms: list[list] = []  # [text, kind]; kind: "atom", "rep" (repeated), "open", "alt", "anchor"
    opens: list[int] = []
    i, n, count = 0, len(pattern), 0

    def start_of_branch() -> bool:
        return not atoms or atoms[-1][1] in ("open", "alt") or \
            (atoms[-1][1] == "anchor" and atoms[-1][0] == "^")

    def repeat(q: str) -> None:
        if start_of_branch():
            atoms.append([re.escape(q), "atom"])  # nothing to repeat: literal
        elif atoms[-1][1] == "rep":
            atoms[-1] = ["(?:" + atoms[-1][0] + ")" + q, "rep"]
        elif atoms[-1][1] == "anchor":
            atoms.append([re.escape(q), "atom"])
        else:
            atoms[-1] = [atoms[-1][0] + q, "rep"]

    while i < n:
        c = pattern[i]
        if c == "[":
            j, neg, body = i + 1, "", []
            if j < n and pattern[j] == "^":
                neg, j = "^", j + 1
            if j < n and pattern[j] == "]":
                body.append("\\]")
                j += 1
            while j < n and pattern[j] != "]":
                m = re.match(r"\[:(\w+):\]", pattern[j:])
                if m:
                    if m.group(1) not in _POSIX_CLASSES:
                        raise _Usage(f"unknown character class [:{m.group(1)}:]")
                    body.append(_POSIX_CLASSES[m.group(1)])
                    j += m.end()
                    continue
                body.append("\\" + pattern[j] if pattern[j] in "\\[" else pattern[j])
                j += 1
            if j >= n:
                raise _Usage("unmatched [ in the pattern")
            atoms.append(["[" + neg + "".join(body) + "]", "atom"])
            i = j + 1
            continue
        op = None  # an operator, in POSIX terms: ( ) | * + ? {m,n}
        if c == "\\" and i + 1 < n:
            d = pattern[i + 1]
            if not extended and d in "|+?(){":
                op, i = d, i + 2
                if d == "{":
                    m = _BRE_INTERVAL.match(pattern, i - 2)
                    if not m:
                        raise _Usage("unmatched \\{ in the pattern")
                    op, i = "{" + m.group(1) + (m.group(2) or "") + "}", m.end()
            elif not extended and d == "}":
                raise _Usage("unmatched \\} in the pattern")
            else:
                i += 2
                if d in "<>":
                    atoms.append([r"\b(?=\w)" if d == "<" else r"\b(?<=\w)", "anchor"])
                elif d in "bB":
                    atoms.append(["\\" + d, "anchor"])
                elif d in "wWsS":
                    atoms.append(["\\" + d, "atom"])
                elif d.isdigit() and d != "0":
                    atoms.append([f"(?:\\{int(d) + groups_before})", "atom"])
                else:
                    atoms.append([re.escape(d), "atom"])
                continue
        elif extended and c in "()|*+?":
            op, i = c, i + 1
        elif extended and c == "{" and _INTERVAL.match(pattern, i):
            m = _INTERVAL.match(pattern, i)
            op, i = m.group(0), m.end()
        elif c == "*" and not extended:
            op, i = "*", i + 1
        elif c in "^$":
            anchor = extended or (c == "^" and start_of_branch()) or \
                (c == "$" and (i + 1 == n or pattern.startswith(("\\)", "\\|"), i + 1)))
            atoms.append([c if anchor else "\\" + c, "anchor" if anchor else "atom"])
            i += 1
            continue
        else:
            atoms.append([re.escape(c) if c != "." else ".", "atom"])
            i += 1
            continue
        if op == "(":
            count += 1
            opens.append(len(atoms))
            atoms.append(["(", "open"])
        elif op == ")":
            if not opens:
                if extended:
                    atoms.append(["\\)", "atom"])  # GNU: a lone ) is literal in an ERE
                    continue
                raise _Usage("unmatched \\) in the pattern")
            k = opens.pop()
            group = "".join(a[0] for a in atoms[k:]) + ")"
            del atoms[k:]
            atoms.append([group, "atom"])
        elif op == "|":
            atoms.append(["|", "alt"])
        else:
            repeat(op)
    if opens:
        raise _Usage("unmatched ( in the pattern")
    return "".join(a[0] for a in atoms), count


_META = re.compile(r"[\\.^$*+?()\[\]{}|]")


def b_grep(args, stdin):
    o, rest = _opts("grep", args, flags="ivcnFEwxoqlh", valued="e")
    patterns = o.get("e") or rest[:1]
    files = rest if "e" in o else rest[1:]
    if not patterns:
        raise _Usage("usage: grep [-ivcnFEwxoqlh] [-e PATTERN | PATTERN] [FILE...]")
    patterns = [q for p in patterns for q in p.split("\n")]  # one pattern a line, as GNU
    icase, invert = "i" in o, "v" in o
    texts = [_l1(p) for p in patterns]
    fixed = "F" in o or not any(_META.search(p) for p in patterns)
    rx = None
    if not (fixed and len(texts) == 1 and not ({"w", "x", "o"} & o.keys())):
        alts, groups = [], 0
        for t in texts:
            if fixed:
                alts.append(re.escape(t))
            else:
                body, count = _posix_regex(t, "E" in o, groups)
                alts.append(body)
                groups += count
        body = "|".join(f"(?:{a})" for a in alts)
        if "w" in o:
            body = rf"(?<!\w)(?:{body})(?!\w)"
        try:
            rx = re.compile(body, re.ASCII | (re.I if icase else 0))
        except re.error as e:
            raise _Usage(f"invalid pattern: {e}") from None
    several = len(files) > 1 and "h" not in o
    plain = not ({"q", "l", "c", "o", "n"} & o.keys()) and not several
    out: list[str] = []
    matched = False
    for name in files or ["-"]:
        complaints = len(_ERRORS)
        data = _read([name], stdin)
        if len(_ERRORS) > complaints:
            continue  # unreadable: said on stderr, nothing printed for it
        if plain and rx is None and not icase and not invert and data._lines is None:
            hits = _grep_sparse(data.text(), texts[0])
            if hits is not None:  # few matches in a big input: no split into lines
                matched |= bool(hits)
                out += hits
                continue
        lines = data.lines()
        if rx is None and icase:  # ASCII case folding, as with LC_ALL=C
            folded = _Data(data.bytes().lower()).lines() if data._lines is None else \
                list(_map(operator.methodcaller("translate", _LOWER), lines))
            test = _map(_contains, folded, _repeat(texts[0].translate(_LOWER)))
        elif rx is None:
            test = _map(_contains, lines, _repeat(texts[0]))
        else:
            test = _map(_truth, _map(rx.fullmatch if "x" in o else rx.search, lines))
        flags = list(_map(_not, test) if invert else test)
        count = sum(flags)
        matched |= bool(count)
        if "q" in o:
            if count:
                return _EMPTY, 0
            continue
        title = "(standard input)" if name == "-" else _l1(name)
        prefix = title + ":" if several else ""
        if "l" in o:
            if count:
                out.append(title)
        elif "c" in o:
            out.append(f"{prefix}{count}")
        elif "o" in o and invert:
            pass  # the selected lines are those without a match: no part to print
        elif "o" in o or "n" in o:
            for k in _compress(range(len(flags)), flags):
                num = f"{k + 1}:" if "n" in o else ""
                if "o" in o:
                    out += [prefix + num + m.group(0) for m in rx.finditer(lines[k])
                            if m.group(0)]
                else:
                    out.append(prefix + num + lines[k])
        elif prefix:
            out += [prefix + ln for ln in _compress(lines, flags)]
        else:
            out += _compress(lines, flags)
    status = 2 if _ERRORS and not ("q" in o and matched) else (0 if matched else 1)
    return _Data(lines=out), status


def _grep_sparse(text: str, needle: str) -> list | None:
    """The lines holding `needle`, found by searching the whole text, when they are few
    (under one line in eight); None when splitting into lines is the faster way."""
    if not needle:
        return None
    head = text[:65536]  # a dense sample says no without counting the whole text
    if head.count(needle) * 8 >= head.count("\n") + 1 or \
            text.count(needle) * 8 >= text.count("\n") + 1:
        return None
    out, pos, find, rfind = [], 0, text.find, text.rfind
    while True:
        at = find(needle, pos)
        if at < 0:
            return out
        start = rfind("\n", 0, at) + 1
        stop = find("\n", at)
        if stop < 0:
            out.append(text[start:])
            return out
        out.append(text[start:stop])
        pos = stop + 1


def _fields(spec: str, what: str) -> list[tuple[int, int | None]]:
    """`1,3-4,6-` as sorted, merged 0-based half-open ranges (None: to the end)."""
    ranges = []
    for part in spec.split(","):
        lo, dash, hi = part.partition("-")
        try:
            a = int(lo) if lo else 1
            b = (int(hi) if hi else None) if dash else a
        except ValueError:
            raise _Usage(f"invalid {what} list `{spec}`") from None
        if a < 1 or (b is not None and b < a):
            raise _Usage(f"invalid {what} range `{part}` (they are numbered from 1)")
        ranges.append((a - 1, b))
    ranges.sort(key=lambda r: (r[0], r[1] is None, r[1] or 0))
    merged: list[list] = []
    for a, b in ranges:
        if merged and (merged[-1][1] is None or a <= merged[-1][1]):
            last = merged[-1]
            last[1] = None if (b is None or last[1] is None) else max(last[1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def b_cut(args, stdin):
    o, files = _opts("cut", args, flags="s", valued="dfcb")
    data = _read_lines(files, stdin)
    lines = data.lines()
    if "f" not in o:
        spec = (o.get("c") or o.get("b") or [None])[-1]
        if spec is None:
            raise _Usage("usage: cut -f LIST [-d DELIM] [-s] | -c LIST | -b LIST [FILE...]")
        slices = [slice(a, b) for a, b in _fields(spec, "position")]
        pick = operator.itemgetter(*slices)
        if len(slices) == 1:
            return _Data(lines=list(_map(pick, lines)))
        return _Data(lines=list(_map("".join, _map(pick, lines))))
    delim = _l1(o.get("d", ["\t"])[-1])
    if len(delim) != 1:
        raise _Usage("the delimiter must be a single byte")
    ranges = _fields(o["f"][-1], "field")
    ends = [b for _, b in ranges]
    most = -1 if None in ends else max(ends)  # split no further than the last field wanted
    slices = [slice(a, b) for a, b in ranges]
    if len(slices) == 1:
        pick = slices[0]
        out = [delim.join(ln.split(delim, most)[pick]) for ln in lines]
    else:
        get = operator.itemgetter(*slices)
        out = list(_map(delim.join, _map(_chain.from_iterable,
                                         (get(ln.split(delim, most)) for ln in lines))))
    has = list(_map(_contains, lines, _repeat(delim)))
    if not all(has):  # a line without the delimiter: printed whole, or dropped with -s
        whole = "s" not in o
        out = [out[k] if h else lines[k] for k, h in enumerate(has) if h or whole]
    return _Data(lines=out)


_NUMBER = re.compile(r"[ \t]*(-?(?:\d+\.?\d*|\.\d+))", re.ASCII)
_ZERO = decimal.Decimal(0)
_BLANKS = re.compile(r"[ \t]+")


def _sort_key(o: dict):
    """The key function of `sort -k/-t/-n/-f` (None: plain byte order)."""
    sep = _l1(o["t"][-1]) if "t" in o else None
    if sep is not None and len(sep) != 1:
        raise _Usage("the field separator must be a single byte")
    keys = []
    for spec in o.get("k", []):
        m = re.fullmatch(r"(\d+)([bfnr]*)(?:,(\d+)([bfnr]*))?", spec)
        if not m or int(m.group(1)) < 1 or (m.group(3) and int(m.group(3)) < int(m.group(1))):
            raise _Usage(f"invalid key `{spec}` (use -k N or -k N,M, fields numbered from 1)")
        start_mods, mods = m.group(2) or "", (m.group(2) or "") + (m.group(4) or "")
        if not mods:  # a key with modifiers of its own takes none of the global options
            start_mods = mods = "".join(f for f in "nfbr" if f in o)
        keys.append((int(m.group(1)) - 1, int(m.group(3)) if m.group(3) else None,
                     "n" in mods, "f" in mods, "b" in start_mods, "r" in mods))
    if not keys:
        if not ({"n", "f", "b"} & o.keys()):
            return None
        keys = [(None, None, "n" in o, "f" in o, "b" in o, "r" in o)]

    def field(line: str, lo: int, hi: int | None) -> str:
        if sep is not None:
            return sep.join(line.split(sep)[lo:hi])
        # a field is a run of non-blanks with the blanks before it (field 1 keeps the
        # line's leading blanks)
        starts = [0] + [m.start() for m in _BLANKS.finditer(line) if m.start() > 0]
        if lo >= len(starts):
            return ""
        end = starts[hi] if hi is not None and hi < len(starts) else len(line)
        return line[starts[lo]:end]

    def num(text: str) -> decimal.Decimal:  # exact: 1e20 and 1e20 - 1 differ
        m = _NUMBER.match(text)
        return decimal.Decimal(m.group(1)) if m else _ZERO

    def key(line: str) -> list:
        out = []
        for lo, hi, n, f, b, _r in keys:
            text = line if lo is None else field(line, lo, hi)
            if b:
                text = text.lstrip(" \t")
            out.append(num(text) if n else (text.translate(_UPPER) if f else text))
        return out

    key.reversed = [k[5] for k in keys]  # which keys compare in reverse
    return key


def b_sort(args, stdin):
    o, files = _opts("sort", args, flags="rnufsb", valued="kt")
    key = _sort_key(o)
    data = _read_lines(files, stdin)
    if _ERRORS:  # the real sort reads every input before it writes anything
        return _EMPTY, 2
    reverse = "r" in o
    lines = data.lines()
    if key is None:  # byte order
        counts = collections.Counter(lines)
        if len(counts) * 4 <= len(lines):  # many repeats: sort the distinct lines only
            runs = sorted(counts.items(), reverse=reverse)
            return _Data(runs=[(k, 1) for k, _ in runs] if "u" in o else runs)
        return _Data(lines=sorted(counts if "u" in o else lines, reverse=reverse))
    last = not ("s" in o or "u" in o)  # equal keys: the whole line decides, unless -s
    if all(r == reverse for r in key.reversed):
        ordered = sorted(lines, key=(lambda ln: (key(ln), ln)) if last else key,
                         reverse=reverse)
    else:  # keys with their own direction: compared one by one (-r only reverses the rest)
        signs = [-1 if r else 1 for r in key.reversed]

        def compare(a, b) -> int:
            for ka, kb, sign in zip(a[0], b[0], signs):
                if ka != kb:
                    return sign if ka > kb else -sign
            if not last or a[1] == b[1]:
                return 0
            return (1 if a[1] > b[1] else -1) * (-1 if reverse else 1)

        decorated = sorted(zip(_map(key, lines), lines), key=functools.cmp_to_key(compare))
        ordered = [ln for _, ln in decorated]
    if "u" in o:  # the first of each run of equal keys
        ordered = [next(g) for _, g in itertools.groupby(ordered, key=key)]
    return _Data(lines=ordered)


def b_uniq(args, stdin):
    o, files = _opts("uniq", args, flags="cdui")
    if len(files) > 1:
        raise _Usage("an output file operand is not supported: use `> FILE`")
    data = _read(files, stdin)
    if data.runs is not None and "i" not in o:
        runs = data.runs
    elif "i" in o:
        runs = [(next(g), 1 + sum(1 for _ in g)) for _, g in
                itertools.groupby(data.lines(), key=operator.methodcaller("translate", _LOWER))]
    else:
        runs = [(k, len(list(g))) for k, g in itertools.groupby(data.lines())]
    if "d" in o:
        runs = [r for r in runs if r[1] > 1]
    if "u" in o:
        runs = [r for r in runs if r[1] == 1]
    if "c" in o:
        return _Data(lines=[f"{n:7d} {k}" for k, n in runs])
    return _Data(lines=[k for k, _ in runs])


_ECHO_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "r": "\r",
                 "v": "\v", "f": "\f", "e": "\x1b"}


def b_echo(args, stdin):
    """bash's echo: leading `-n` (no newline), `-e` (backslash escapes), `-E` words."""
    newline, escapes, k = True, False, 0
    while k < len(args) and re.fullmatch(r"-[neE]+", args[k]):
        newline &= "n" not in args[k]
        escapes = ("e" in args[k]) if ("e" in args[k] or "E" in args[k]) else escapes
        k += 1
    text = " ".join(args[k:])
    if escapes:
        text = re.sub(r"\\(.)", lambda m: _ECHO_ESCAPES.get(m.group(1), m.group(0)), text)
    return text + ("\n" if newline else "")


def b_tee(args, stdin):
    o, files = _opts("tee", args, flags="a")
    data = stdin.bytes()
    for f in files:
        with open(_safe_path(f), "ab" if "a" in o else "wb") as fh:
            fh.write(data)
    return stdin


def b_ls(args, stdin):
    o, targets = _opts("ls", args, flags="1a")
    target = targets[0] if targets else "."
    if target in ("/bin", "/bin/"):
        names = sorted({*_BUILTINS, *_ENV["commands"]})
    else:
        names = sorted(n for n in os.listdir(_safe_path(target))
                       if "a" in o or not n.startswith("."))
    return "".join(f"{n}\n" for n in names)


def b_jq(args, stdin):
    """A small jq: `.`, `.a.b`, `.[]`, `.[N]`, `keys`, `length`, joined with `|`; -r, -c."""
    o, rest = _opts("jq", args, flags="rc")
    raw, compact = "r" in o, "c" in o
    expr = rest[0] if rest else "."
    values = [json.loads(_read(rest[1:], stdin).bytes() or b"null")]
    for step in (s.strip() for s in expr.split("|")):
        nxt = []
        for v in values:
            if step == "keys":
                nxt.append(sorted(v) if isinstance(v, dict) else list(range(len(v))))
            elif step == "length":
                nxt.append(len(v) if v is not None else 0)
            else:
                nxt.extend(_jq_path(v, step))
        values = nxt

    def show(v):
        if raw and isinstance(v, str):
            return v
        return json.dumps(v, separators=(",", ":")) if compact else json.dumps(v, indent=2)

    return "".join(show(v) + "\n" for v in values)


def _jq_path(value, path: str):
    values = [value]
    for tok in re.findall(r"\.\[\]|\[\]|\.\[\d+\]|\[\d+\]|\.[A-Za-z_][\w-]*|\.", path):
        nxt = []
        for v in values:
            if tok in (".[]", "[]"):
                nxt.extend(v.values() if isinstance(v, dict) else v)
            elif tok.startswith((".[", "[")):
                nxt.append(v[int(tok.strip(".[]"))])
            elif tok == ".":
                nxt.append(v)
            else:
                nxt.append(v.get(tok[1:]) if isinstance(v, dict) else None)
        values = nxt
    return values


_BUILTINS = {
    "cat": b_cat, "head": b_head, "tail": b_tail, "wc": b_wc, "grep": b_grep, "sort": b_sort,
    "uniq": b_uniq, "cut": b_cut, "echo": b_echo, "tee": b_tee, "ls": b_ls, "jq": b_jq,
}
_ENV: dict = {"commands": {}}


def run_line(line: str, stdin: str = "", commands: dict | None = None) -> dict:
    """Run one command line; returns stdout, stderr and the exit status."""
    _ENV["commands"] = dict(commands or {})
    try:
        data, err, code = _run(line, _Data(stdin.encode()), _ENV)
        out = data.bytes()
    except ShellError as e:
        return {"stdout": "", "stderr": f"flowc shell: {e}\n", "exit_code": 2}
    except OSError as e:
        return {"stdout": "", "stderr": f"flowc shell: {e}\n", "exit_code": 1}
    return {"stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace"),
            "exit_code": code}
