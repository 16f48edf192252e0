"""Diagnostics out: text with source excerpts and carets, JSON, SARIF 2.1.0, GitHub annotations.

Text rendering builds plain lines with style tags; colour comes from rich only when the
output is a terminal, and rich is imported only when there is something to print.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePath
from urllib.parse import quote

from .codes import CODES
from .diagnostics import Diagnostic

__all__ = ["docs_anchor", "render_concise", "render_text", "render_json", "render_sarif",
           "render_github", "summary_line", "visible"]

_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}

# control characters (C0 but tab and newline, DEL, C1) drawn as visible symbols, one column
# each so carets stay aligned: a NUL or an escape sequence in a file never reaches the terminal
_VISIBLE = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_VISIBLE.update({0x7F: "\u2421", **{c: "\ufffd" for c in range(0x80, 0xA0)}})
_VISIBLE_BUT_CR = {c: v for c, v in _VISIBLE.items() if c != 0x0D}


def visible(text: str) -> str:
    """`text` with control characters replaced by visible symbols (NUL: U+2400)."""
    return text.translate(_VISIBLE)


def _excerpt_rows(d: Diagnostic) -> list[tuple[int, int, int, str, str]]:
    """(line, col_start, col_end, marker, label) for the primary span and same-file related."""
    rows = []
    src = d.source

    def add(span, marker, label):
        s_pos = src.position(span.start)
        e_pos = src.position(max(span.end, span.start))
        line_len = len(src.line_text(s_pos.line))
        end_col = e_pos.column if e_pos.line == s_pos.line else line_len + 1
        end_col = max(end_col, s_pos.column + 1)
        rows.append((s_pos.line, s_pos.column, end_col, marker, label))

    add(d.span, "^", d.label)
    for r in d.related:
        if r.source is src or r.source.path == src.path:
            add(r.span, "-", r.label)
    return rows


def _render_one(d: Diagnostic) -> list[tuple[str, str]]:
    """Segments (text, style) for one diagnostic, newline-terminated lines."""
    out: list[tuple[str, str]] = []
    sev = d.severity
    out.append((f"{sev}[{d.code}]", _STYLE[sev]))
    out.append((f": {d.message}\n", "bold"))
    pos = d.start
    rows = _excerpt_rows(d)
    width = len(str(max(r[0] for r in rows)))
    pad = " " * width
    out.append((f"{pad}--> ", "bold blue"))
    out.append((f"{d.source.path}:{pos.line}:{pos.column}\n", ""))
    if d.source.text:
        out.append((f"{pad} |\n", "bold blue"))
        by_line: dict[int, list] = {}
        for row in rows:
            by_line.setdefault(row[0], []).append(row)
        prev = None
        for line in sorted(by_line):
            if prev is not None and line > prev + 1:
                out.append(("...\n", "bold blue"))
            text = d.source.line_text(line).replace("\t", " ")
            out.append((f"{line:>{width}} | ", "bold blue"))
            out.append((text + "\n", ""))
            for _, c0, c1, marker, label in sorted(by_line[line], key=lambda r: r[1]):
                out.append((f"{pad} | ", "bold blue"))
                style = _STYLE[sev] if marker == "^" else "bold blue"
                out.append((" " * (c0 - 1) + marker * (c1 - c0) + (f" {label}" if label else "")
                            + "\n", style))
            prev = line
        out.append((f"{pad} |\n", "bold blue"))
    for r in d.related:
        if not (r.source is d.source or r.source.path == d.source.path):
            rp = r.source.position(r.span.start)
            out.append((f"{pad} ::: ", "bold blue"))
            out.append((f"{r.source.path}:{rp.line}:{rp.column}: {r.label}\n", ""))
    if d.help:
        out.append((f"{pad} = ", "bold blue"))
        out.append(("help", "bold"))
        out.append((f": {d.help}\n", ""))
    for note in d.notes:
        out.append((f"{pad} = ", "bold blue"))
        out.append(("note", "bold"))
        out.append((f": {note}\n", ""))
    return out


def summary_line(diags: list[Diagnostic], files: int) -> str:
    e = sum(1 for d in diags if d.severity == "error")
    w = sum(1 for d in diags if d.severity == "warning")
    noun = "file" if files == 1 else "files"
    if not e and not w:
        return f"checked {files} {noun}: no problems"
    parts = []
    if e:
        parts.append(f"{e} error{'s' if e != 1 else ''}")
    if w:
        parts.append(f"{w} warning{'s' if w != 1 else ''}")
    return f"checked {files} {noun}: " + ", ".join(parts)


def render_text(diags: list[Diagnostic], *, color: bool = False) -> str:
    """The human form: one block per diagnostic, separated by blank lines."""
    segments: list[tuple[str, str]] = []
    for i, d in enumerate(diags):
        if i:
            segments.append(("\n", ""))
        segments.extend((visible(text), style) for text, style in _render_one(d))
    if not color:
        return "".join(text for text, _ in segments)
    from rich.console import Console
    from rich.text import Text

    t = Text()
    for text, style in segments:
        t.append(text, style=style or None)
    console = Console(force_terminal=True, color_system="standard", width=10_000,
                      highlight=False, soft_wrap=True)
    with console.capture() as cap:
        console.print(t, end="")
    return cap.get()


def render_concise(diags: list[Diagnostic]) -> str:
    """One line per diagnostic, as mypy and ruff's `concise` print them, for grep and the
    quickfix lists of editors: `path:line:col: severity: message [CODE]`."""
    lines = []
    for d in diags:
        s = d.start
        sev = "note" if d.severity == "info" else d.severity
        msg = " ".join(d.message.split("\n"))
        lines.append(f"{d.source.path}:{s.line}:{s.column}: {sev}: {msg} [{d.code}]")
    return "\n".join(lines) + ("\n" if lines else "")


def render_json(diags: list[Diagnostic]) -> str:
    return json.dumps([d.to_dict() for d in diags], indent=2, ensure_ascii=False) + "\n"


def docs_anchor(code: str, title: str) -> str:
    """The anchor GitHub gives the heading `## CODE: title` of docs/diagnostics.md: lower
    case, punctuation dropped (hyphens and underscores kept), spaces to hyphens."""
    text = f"{code}: {title}".strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _artifact_uri(path: str) -> str:
    """A SARIF artifact URI: a relative path as a percent-encoded URI reference (code scanning
    resolves it against the repository's root), an absolute one as a `file:` URI."""
    if path.startswith("<"):
        return quote(path, safe="")
    p = PurePath(path)
    if p.is_absolute():
        return Path(path).as_uri()
    return quote(p.as_posix(), safe="/")


def _sarif_location(source, span, label: str) -> dict:
    s = source.position(span.start)
    e = source.position(max(span.end, span.start))
    loc: dict = {"physicalLocation": {
        "artifactLocation": {"uri": _artifact_uri(source.path)},
        "region": {"startLine": s.line, "startColumn": s.column,
                   "endLine": e.line, "endColumn": e.column},
    }}
    if label:
        loc["message"] = {"text": label}
    return loc


def render_sarif(diags: list[Diagnostic], version: str, *, docs_url: str | None = None,
                 information_uri: str | None = None) -> str:
    """SARIF 2.1.0: one rule per code used (its help link an absolute URL under `docs_url`),
    one result per diagnostic with its related spans; columns count code points."""
    from flowc import DOCS_URL, PROJECT_URL

    base = (docs_url or DOCS_URL).rstrip("/")
    used = sorted({d.code for d in diags})
    rules = [
        {
            "id": c,
            "name": CODES[c].title.title().replace(" ", "").replace("-", ""),
            "shortDescription": {"text": CODES[c].title},
            "fullDescription": {"text": CODES[c].explanation},
            "defaultConfiguration": {"level": _sarif_level(CODES[c].severity)},
            "helpUri": f"{base}/diagnostics.md#{docs_anchor(c, CODES[c].title)}",
            "help": {"text": f"{CODES[c].title}: run `flowc explain {c}`"},
        }
        for c in used
    ]
    index = {c: i for i, c in enumerate(used)}
    results = []
    for d in diags:
        msg = d.message + (f"\nhelp: {d.help}" if d.help else "")
        result = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": _sarif_level(d.severity),
            "message": {"text": msg},
            "locations": [_sarif_location(d.source, d.span, d.label)],
        }
        if d.related:
            result["relatedLocations"] = [
                {"id": i, **_sarif_location(r.source, r.span, r.label)}
                for i, r in enumerate(d.related, 1)]
        results.append(result)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "flowc", "version": version,
                                "semanticVersion": version,
                                "informationUri": information_uri or PROJECT_URL,
                                "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _sarif_level(sev: str) -> str:
    return {"error": "error", "warning": "warning", "info": "note"}[sev]


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diags: list[Diagnostic]) -> str:
    """GitHub Actions workflow commands, one annotation per diagnostic."""
    lines = []
    for d in diags:
        s, e = d.start, d.end
        kind = {"error": "error", "warning": "warning", "info": "notice"}[d.severity]
        props = (f"file={_gh_escape(d.source.path, True)},line={s.line},col={s.column},"
                 f"endLine={e.line},endColumn={e.column},title={_gh_escape(d.code, True)}")
        msg = d.message + (f" (help: {d.help})" if d.help else "")
        # CR and LF are the escape's (%0D, %0A), the other control characters drawn visibly
        lines.append(f"::{kind} {props}::{_gh_escape(msg.translate(_VISIBLE_BUT_CR))}")
    return "\n".join(lines) + ("\n" if lines else "")
