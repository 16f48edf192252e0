"""A small POSIX-style shell that runs inside the sandbox (its source is sent with the code).

One command line: words with quotes and escapes, pipes, `$(...)` substitution, redirections
to files in the working directory (`>`, `>>`, `<`, `2>`, `2>&1`). Commands are built-ins
(`ls cat head tail wc grep sort uniq cut echo jq tee`) and the entry commands of the run's
skills, whose Python scripts run in the same interpreter with their own argv, stdin and
stdout. `ls /bin` lists them all. Everything here runs inside Pyodide: it can only reach
the sandbox's own files.
"""

from __future__ import annotations

import io
import json
import os
import re
import runpy
import sys

__all__ = ["run_line", "ShellError"]


class ShellError(Exception):
    """A command line that cannot run: a syntax error or an unknown command."""


# ---- parsing -------------------------------------------------------------------------------


def _split_pipeline(line: str) -> list[str]:
    """Split on `|` outside quotes and `$(...)`."""
    parts, buf, depth, quote, i = [], [], 0, None, 0
    while i < len(line):
        c = line[i]
        if quote:
            buf.append(c)
            if c == "\\" and quote == '"' and i + 1 < len(line):
                buf.append(line[i + 1])
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            buf.append(c)
        elif c == "\\" and i + 1 < len(line):
            buf.append(c + line[i + 1])
            i += 1
        elif line.startswith("$(", i):
            depth += 1
            buf.append("$(")
            i += 1
        elif c == ")" and depth:
            depth -= 1
            buf.append(c)
        elif c == "|" and not depth:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    if quote or depth:
        raise ShellError("unbalanced quotes or `$(`")
    parts.append("".join(buf))
    return parts


_OPERATOR = re.compile(r"2>&1|2>>|2>|>>|>|<")


def _words(text: str, env) -> list[tuple[str, bool]]:
    """Words of one command as (text, is_operator); `$(...)` runs and substitutes."""
    out: list[tuple[str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        op = _OPERATOR.match(text, i)
        if op:
            out.append((op.group(0), True))
            i += len(op.group(0))
            continue
        buf = []
        while i < n and not text[i].isspace() and not _OPERATOR.match(text, i):
            c = text[i]
            if c == "'":
                j = text.index("'", i + 1)
                buf.append(text[i + 1 : j])
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
                i = j + 1
            elif c == "\\" and i + 1 < n:
                buf.append(text[i + 1])
                i += 2
            elif text.startswith("$(", i):
                value, i = _substitution_at(text, i, env)
                buf.append(value)
            else:
                buf.append(c)
                i += 1
        out.append(("".join(buf), False))
    return out


def _closing(text: str, start: int) -> int:
    depth, i, quote = 1, start, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif text.startswith("$(", i):
            depth += 1
            i += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellError("`$(` is never closed")


def _substitution_at(text: str, at: int, env) -> tuple[str, int]:
    """Run the `$(...)` starting at `at`; its output and the index just past it."""
    end = _closing(text, at + 2)
    return _substitute(text[at + 2 : end], env), end + 1


def _substitute(inner: str, env) -> str:
    out, _err, _code = _run(inner, b"", env)
    return out.decode("utf-8", "replace").rstrip("\n")


# ---- running -------------------------------------------------------------------------------


def _safe_path(name: str) -> str:
    norm = os.path.normpath(name)
    if os.path.isabs(name) or norm.startswith(".."):
        raise ShellError(f"`{name}` is outside the workspace")
    return norm


def _run(line: str, stdin: bytes, env) -> tuple[bytes, bytes, int]:
    data, err_all, code = stdin, b"", 0
    for part in _split_pipeline(line):
        words = _words(part, env)
        argv, redirects = [], []
        k = 0
        while k < len(words):
            text, is_op = words[k]
            if is_op:
                if text == "2>&1":
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
        for op, target in redirects:
            if op == "<":
                with open(target, "rb") as f:
                    data = f.read()
        out, err, code = _command(argv, data, env)
        for op, target in redirects:
            if op in (">", ">>"):
                with open(target, "ab" if op == ">>" else "wb") as f:
                    f.write(out)
                out = b""
            elif op in ("2>", "2>>"):
                with open(target, "ab" if op == "2>>" else "wb") as f:
                    f.write(err)
                err = b""
            elif op == "2>&1":
                out, err = out + err, b""
        err_all += err
        data = out
    return data, err_all, code


def _command(argv: list[str], stdin: bytes, env) -> tuple[bytes, bytes, int]:
    name, args = argv[0], argv[1:]
    if name in _BUILTINS:
        try:
            out = _BUILTINS[name](args, stdin)
            return (out if isinstance(out, bytes) else out.encode()), b"", 0
        except (OSError, ValueError, KeyError, IndexError) as e:
            return b"", f"{name}: {e}\n".encode(), 1
    script = env["commands"].get(name)
    if script is None:
        return b"", f"{name}: command not found (see `ls /bin`)\n".encode(), 127
    return _script(script, argv, stdin)


def _script(path: str, argv: list[str], stdin: bytes) -> tuple[bytes, bytes, int]:
    """Run a skill's entry script in this interpreter, as if it were a process."""
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


def _read(args: list[str], stdin: bytes) -> bytes:
    files = [a for a in args if not a.startswith("-")]
    if not files:
        return stdin
    data = b""
    for f in files:
        with open(_safe_path(f), "rb") as fh:
            data += fh.read()
    return data


def _count_opt(args, default=10) -> int:
    for i, a in enumerate(args):
        if a == "-n" and i + 1 < len(args):
            return int(args[i + 1])
        if re.fullmatch(r"-\d+", a):
            return int(a[1:])
    return default


def _files_only(args):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ("-n", "-d", "-f", "-k", "-t"):
            skip = True
            continue
        if not a.startswith("-") or a == "-":
            out.append(a)
    return out


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def b_cat(args, stdin):
    return _read(args, stdin)


def b_head(args, stdin):
    return b"".join(_lines(_read(_files_only(args), stdin))[: _count_opt(args)])


def b_tail(args, stdin):
    lines = _lines(_read(_files_only(args), stdin))
    for i, a in enumerate(args):  # `tail -n +K`: from line K on
        if a == "-n" and i + 1 < len(args) and args[i + 1].startswith("+"):
            return b"".join(lines[max(0, int(args[i + 1][1:]) - 1):])
        if a.startswith("-n+") or a.startswith("+"):
            return b"".join(lines[max(0, int(a.lstrip("-n+")) - 1):])
    n = _count_opt(args)
    return b"".join(lines[-n:] if n else [])


def b_wc(args, stdin):
    data = _read(_files_only(args), stdin)
    counts = {"-l": data.count(b"\n"), "-w": len(data.split()), "-c": len(data)}
    chosen = [f for f in args if f in counts] or ["-l", "-w", "-c"]
    return " ".join(str(counts[f]) for f in chosen) + "\n"


def b_grep(args, stdin):
    flags = [a for a in args if a.startswith("-")]
    rest = [a for a in args if not a.startswith("-")]
    if not rest:
        raise ValueError("usage: grep [-i] [-v] [-c] PATTERN [FILE...]")
    pattern = re.compile(rest[0].encode(), re.I if "-i" in flags else 0)
    data = _read(rest[1:], stdin)
    if "-v" in flags:
        lines = [ln for ln in _lines(data) if not pattern.search(ln)]
    else:
        # one search over the whole buffer, each hit widened to its line
        lines, end = [], -1
        for m in pattern.finditer(data):
            if m.start() < end:
                continue
            start = data.rfind(b"\n", 0, m.start()) + 1
            stop = data.find(b"\n", m.start())
            end = len(data) if stop == -1 else stop + 1
            lines.append(data[start:end])
    return f"{len(lines)}\n".encode() if "-c" in flags else b"".join(lines)


def b_sort(args, stdin):
    lines = _lines(_read(_files_only(args), stdin))
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    key = None
    if "-n" in args:
        def key(ln):
            m = re.match(rb"\s*(-?\d+(\.\d+)?)", ln)
            return float(m.group(1)) if m else 0.0
    return b"".join(sorted(lines, key=key, reverse="-r" in args))


def b_uniq(args, stdin):
    out, prev, n = [], None, 0
    for ln in [*_lines(_read(_files_only(args), stdin)), None]:
        if ln == prev:
            n += 1
            continue
        if prev is not None:
            out.append((f"{n:>7} ".encode() if "-c" in args else b"") + prev)
        prev, n = ln, 1
    return b"".join(out)


def b_cut(args, stdin):
    delim, fields = "\t", None
    for i, a in enumerate(args):
        if a == "-d":
            delim = args[i + 1]
        elif a.startswith("-d") and len(a) > 2:
            delim = a[2:]
        elif a == "-f":
            fields = args[i + 1]
        elif a.startswith("-f") and len(a) > 2:
            fields = a[2:]
    if not fields:
        raise ValueError("usage: cut -d DELIM -f LIST [FILE]")
    idx = []
    for part in fields.split(","):
        lo, _, hi = part.partition("-")
        idx += list(range(int(lo), int(hi or lo) + 1))
    sep = delim.encode()
    picks = [i - 1 for i in idx]
    out = []
    for ln in _read(_files_only(args), stdin).splitlines():
        cols = ln.split(sep)
        n = len(cols)
        out.append(sep.join([cols[i] for i in picks if i < n]))
    return b"\n".join(out) + (b"\n" if out else b"")


def b_echo(args, stdin):
    return " ".join(args) + "\n"


def b_tee(args, stdin):
    for f in args:
        with open(_safe_path(f), "wb") as fh:
            fh.write(stdin)
    return stdin


def b_ls(args, stdin):
    target = args[0] if args else "."
    if target in ("/bin", "/bin/"):
        names = sorted({*_BUILTINS, *_ENV["commands"]})
    else:
        names = sorted(os.listdir(_safe_path(target)))
    return "".join(f"{n}\n" for n in names)


def b_jq(args, stdin):
    """A small jq: `.`, `.a.b`, `.[]`, `.[N]`, `keys`, `length`, joined with `|`; -r, -c."""
    raw = "-r" in args
    compact = "-c" in args
    expr = next((a for a in args if not a.startswith("-")), ".")
    values = [json.loads(_read(_files_only(args)[1:], stdin) or b"null")]
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
        out, err, code = _run(line, stdin.encode(), _ENV)
    except ShellError as e:
        return {"stdout": "", "stderr": f"flowc shell: {e}\n", "exit_code": 2}
    except OSError as e:
        return {"stdout": "", "stderr": f"flowc shell: {e}\n", "exit_code": 1}
    return {"stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace"),
            "exit_code": code}
