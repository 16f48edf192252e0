"""What a review page shows of a flow's values, messages and files, made safe for HTML.

Everything here comes from a flow or a model and is treated as hostile: a gate's message is
Markdown whose raw HTML is not trusted, shown values are any JSON (text with `<script>`,
control and bidi characters, deep nesting, millions of items), file names carry `../`, NUL,
quotes and line breaks. Each function bounds what it reads and what it writes.

- `markdown_html`: Markdown (markdown-it-py, CommonMark with tables and strikethrough; raw HTML
  is shown as text, images as links) sanitised by nh3 to an allowlist of tags and attributes,
  links only http(s)/mailto/relative with `rel="noopener noreferrer nofollow"`.
- `value_html`: a value as escaped HTML: records as definition lists, lists of records as
  tables, other lists as lists, text escaped (a visible mark for control and bidi characters),
  a file as a link (through the caller's `files`), bounded depth and size.
- `csv_preview`, `file_preview_kind`, `safe_download_name`, `download_name`: what a file may be
  shown as, and the Content-Disposition of a download.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import threading
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

__all__ = ["markdown_html", "value_html", "csv_preview", "file_preview_kind",
           "safe_download_name", "download_name", "visible_text", "MAX_MARKDOWN_CHARS",
           "IMAGE_TYPES"]

MAX_MARKDOWN_CHARS = 100_000
# Shown inline (from this server, with nosniff): raster formats only, never SVG (it can carry
# script) nor anything a browser might run or render as a document
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
               "gif": "image/gif", "webp": "image/webp"}
_CSV_EXTS = {"csv": ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel"),
             "tsv": ("text/tab-separated-values", "text/plain")}
_TEXT_EXTS = {"txt", "text", "log", "md", "markdown", "json", "jsonl", "ndjson", "yaml", "yml",
              "toml", "ini", "cfg"}
_TEXT_TYPES = ("text/plain", "text/markdown", "application/json", "application/x-ndjson",
               "application/yaml", "text/yaml", "application/toml")


# ---- Markdown ---------------------------------------------------------------------------------

_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "s",
         "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody",
         "tr", "th", "td"}
_ATTRS = {"a": {"href", "title"}, "ol": {"start"}}
_local = threading.local()


def _parser():
    md = getattr(_local, "md", None)
    if md is None:
        from markdown_it import MarkdownIt

        # html off: raw HTML in the text is text; maxNesting bounds nested blocks and inlines
        md = MarkdownIt("commonmark", {"html": False, "maxNesting": 20, "linkify": False,
                                       "typographer": False})
        md.enable(["table", "strikethrough"])
        md.disable("image")     # an image would load from anywhere: `![x](url)` is a link
        _local.md = md
    return md


def markdown_html(text: Any, *, max_chars: int = MAX_MARKDOWN_CHARS) -> Markup:
    """A message written in Markdown as sanitised HTML; text beyond `max_chars` is cut (with
    a note). Raises nothing for any text."""
    import nh3

    text = text if isinstance(text, str) else ("" if text is None else str(text))
    cut = len(text) - max_chars if len(text) > max_chars else 0
    text = text[:max_chars].encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")
    try:
        html = _parser().render(text)
    except RecursionError:   # not seen with maxNesting; never a 500 for a message
        html = f"<pre>{escape(text)}</pre>"
    clean = nh3.clean(html, tags=_TAGS, attributes=_ATTRS, clean_content_tags={"script", "style"},
                      url_schemes={"http", "https", "mailto"},
                      link_rel="noopener noreferrer nofollow", strip_comments=True)
    if cut:
        clean += f'<p class="cut">… ({cut} more characters not shown)</p>'
    return Markup(clean)


# ---- values -----------------------------------------------------------------------------------

_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def visible_text(text: str, limit: int | None = None) -> str:
    """`text` with what cannot be seen made visible: a control character as `␀`-style
    pictures or U+FFFD, a bidi or other format character as `⟨U+202E⟩` (it could reorder what
    a reviewer reads); cut at `limit` characters with `…`. Line breaks and tabs stay."""
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c in "\n\t" or c.isprintable():
            out.append(c)
            continue
        if c == "\r":           # a line end's CR (a lone one shows nothing)
            continue
        cat = unicodedata.category(c)
        if c in _BIDI or cat == "Cf":
            out.append(f"⟨U+{ord(c):04X}⟩")
        elif cat == "Cc" and ord(c) < 0x20:
            out.append(chr(0x2400 + ord(c)))   # ␀, ␍, ␛ ...
        elif cat == "Zs":
            out.append(" ")
        elif cat in ("Zl", "Zp"):
            out.append("\n")
        elif cat == "Cn":          # unassigned in this Python's Unicode: shown as it is
            out.append(c)
        else:                      # DEL, C1 controls, lone surrogates, private use
            out.append("\ufffd")
    return "".join(out)


def _float_text(v: float) -> str:
    if not math.isfinite(v):
        return str(v)
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _size_text(n: Any) -> str:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        return ""
    if n < 1024:
        return f"{n} bytes"
    if n < 2**20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 2**20:.1f} MiB"


def _is_file(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("file_id"), str) and \
        isinstance(value.get("name"), str)


def _safe_link(url: Any) -> str | None:
    """A link the caller made for a file: a path on this site only."""
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//") or \
            "\\" in url or len(url) > 2000 or not url.isprintable():
        return None
    return url


class _Budget:
    def __init__(self, items: int, chars: int):
        self.items, self.chars = items, chars


def value_html(value: Any, *, files: Callable[[dict], str | None] | None = None,
               max_depth: int = 6, max_items: int = 2000, max_chars: int = 200_000,
               max_text: int = 20_000) -> Markup:
    """A shown value as HTML: text escaped (a string with line breaks in a `<pre>`), numbers
    as they are, records as `<dl>`, lists of records as a table, other lists as `<ol>`, a file
    value (`file_id`, `name`, ...) as a link to `files(value)` (a path on this site; none: its
    name only) with its size and, for a CSV or an image, a preview link. At most `max_depth`
    levels (deeper ones are summed up), `max_items` values and `max_chars` characters of
    text in all, `max_text` of one text. Raises nothing for any value."""
    budget = _Budget(max_items, max_chars)
    return Markup(_html(value, 0, max_depth, max_text, budget, files))


def _more(n: int, what: str) -> str:
    return f'<span class="v-more">… {n} more {what}</span>'


def _summary(value: Any) -> str:
    n = len(value)
    if isinstance(value, Mapping):
        return f'<span class="v-more">{{… {n} field{"s" if n != 1 else ""}}}</span>'
    return f'<span class="v-more">[… {n} item{"s" if n != 1 else ""}]</span>'


def _html(v: Any, depth: int, max_depth: int, max_text: int, b: _Budget, files) -> str:
    b.items -= 1
    if b.items < 0:
        return '<span class="v-more">…</span>'
    if v is None:
        return '<span class="v-null">none</span>'
    if isinstance(v, bool):
        return f'<span class="v-bool">{"true" if v else "false"}</span>'
    if isinstance(v, int):
        try:
            return f'<span class="v-num">{v}</span>'
        except ValueError:       # more digits than Python prints
            return '<span class="v-num">(a very large whole number)</span>'
    if isinstance(v, float):
        return f'<span class="v-num">{escape(_float_text(v))}</span>'
    if isinstance(v, str):
        return _text_html(v, max_text, b)
    if _is_file(v):
        return _file_html(v, files)
    if isinstance(v, Mapping):
        if not v:
            return '<span class="v-empty">(no fields)</span>'
        if depth >= max_depth:
            return _summary(v)
        parts = ['<dl class="v-record">']
        for i, (k, item) in enumerate(v.items()):
            if i >= 200 or b.items <= 0:
                parts.append(f"<dt>…</dt><dd>{_more(len(v) - i, 'fields')}</dd>")
                break
            key = escape(visible_text(str(k) if not isinstance(k, str) else k, 200))
            parts.append(f"<dt>{key}</dt><dd>"
                         f"{_html(item, depth + 1, max_depth, max_text, b, files)}</dd>")
        parts.append("</dl>")
        return "".join(parts)
    if isinstance(v, (list, tuple)):
        if not v:
            return '<span class="v-empty">(empty list)</span>'
        if depth >= max_depth:
            return _summary(v)
        table = _table_html(v, depth, max_depth, max_text, b, files)
        if table is not None:
            return table
        parts = ['<ol class="v-list">']
        for i, item in enumerate(v):
            if i >= 500 or b.items <= 0:
                parts.append(f"<li>{_more(len(v) - i, 'items')}</li>")
                break
            parts.append(f"<li>{_html(item, depth + 1, max_depth, max_text, b, files)}</li>")
        parts.append("</ol>")
        return "".join(parts)
    return f'<span class="v-other">({escape(type(v).__name__[:60])})</span>'


def _text_html(v: str, max_text: int, b: _Budget) -> str:
    limit = max(0, min(max_text, b.chars))
    cut = len(v) - limit if len(v) > limit else 0
    shown = visible_text(v[:limit])
    b.chars -= len(v[:limit])
    more = f'<span class="v-more">… ({cut} more characters)</span>' if cut else ""
    if "\n" in shown:
        return f'<pre class="v-text">{escape(shown)}</pre>{more}'
    return f'<span class="v-str">{escape(shown)}</span>{more}'


def _table_html(rows: Any, depth: int, max_depth: int, max_text: int, b: _Budget,
                files) -> str | None:
    """A list of records as a table (at most 20 columns, 200 rows), or None if it is not
    one."""
    if len(rows) < 2 or depth + 1 >= max_depth or \
            not all(isinstance(r, Mapping) and r and not _is_file(r) for r in rows[:200]):
        return None
    cols: list = []
    for r in rows[:200]:
        for k in r:
            if k not in cols:
                cols.append(k)
                if len(cols) > 20:
                    return None
    head = "".join(f"<th>{escape(visible_text(str(k), 200))}</th>" for k in cols)
    parts = [f'<table class="v-table"><thead><tr>{head}</tr></thead><tbody>']
    for i, r in enumerate(rows):
        if i >= 200 or b.items <= 0:
            parts.append(f'<tr><td colspan="{len(cols)}">{_more(len(rows) - i, "rows")}'
                         "</td></tr>")
            break
        if not isinstance(r, Mapping):
            parts.append(f'<tr><td colspan="{len(cols)}">'
                         f"{_html(r, depth + 1, max_depth, max_text, b, files)}</td></tr>")
            continue
        cells = "".join(
            "<td>" + (_html(r[k], depth + 2, max_depth, max_text, b, files) if k in r else "")
            + "</td>" for k in cols)
        parts.append(f"<tr>{cells}</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _file_html(v: Mapping, files) -> str:
    name = download_name(v.get("name"))
    shown = escape(visible_text(name, 200))
    size = _size_text(v.get("size"))
    size_html = f' <span class="v-size">({escape(size)})</span>' if size else ""
    url = None
    if files is not None:
        try:
            url = _safe_link(files(dict(v)))
        except Exception:        # a link that cannot be made: the name alone
            url = None
    if url is None:
        return f'<span class="v-file">{shown}</span>{size_html}'
    out = f'<a class="v-file" href="{escape(url)}">{shown}</a>{size_html}'
    if file_preview_kind(name, None) in ("csv", "image"):
        sep = "&" if "?" in url else "?"
        out += f' <a class="v-preview" href="{escape(url + sep + "preview=1")}">preview</a>'
    return out


# ---- files ------------------------------------------------------------------------------------

def _ext(name: Any) -> str:
    """A file name's extension in lower case, or "" (none, or one that is not plain ASCII
    letters and digits: `x.png\\0.html`, `x.png.`, `x.ｐｎｇ`)."""
    if not isinstance(name, str) or not name or len(name) > 4096:
        return ""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if not base.isprintable() or "." not in base:
        return ""
    ext = base.rsplit(".", 1)[-1]
    return ext.lower() if re.fullmatch(r"[A-Za-z0-9]{1,10}", ext) else ""


def file_preview_kind(name: Any, media_type: str | None = None) -> str:
    """How a file may be shown: "image" (png, jpeg, gif, webp only: never SVG), "csv",
    "text" (plain text formats, shown escaped), else "download" (HTML, SVG, PDF and
    everything else: sent as an attachment with nosniff). The name's extension decides; a
    `media_type` that says otherwise makes it a download."""
    ext = _ext(name)
    mt = media_type.split(";", 1)[0].strip().lower() if isinstance(media_type, str) else ""
    if ext in IMAGE_TYPES and (not mt or mt == IMAGE_TYPES[ext] or
                               (mt == "image/jpg" and ext in ("jpg", "jpeg"))):
        return "image"
    if ext in _CSV_EXTS and (not mt or mt in _CSV_EXTS[ext]):
        return "csv"
    if ext in _TEXT_EXTS and (not mt or mt in _TEXT_TYPES):
        return "text"
    return "download"


def download_name(name: Any, *, limit: int = 150) -> str:
    """A file's name as a download may carry it: its last path part only (`../../x` is
    `x`), no control, format (bidi) or line characters, none of `<>:"/\\\\|?*` (each `_`),
    no leading dots or blanks, at most `limit` characters (the extension kept); "download"
    if nothing is left."""
    text = name if isinstance(name, str) else ""
    text = text[:4096].replace("\\", "/").rsplit("/", 1)[-1]
    out = []
    for c in text:
        cat = unicodedata.category(c)
        if cat[0] == "C" or cat in ("Zl", "Zp"):
            continue
        out.append("_" if c in '<>:"|?*' else (" " if cat == "Zs" else c))
    text = "".join(out).strip().lstrip(".").strip()
    if len(text) > limit:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 10 and stem:
            text = stem[:limit - len(ext) - 1].rstrip() + "." + ext
        else:
            text = text[:limit]
    return text.rstrip(". ") or "download"


def safe_download_name(name: Any, *, disposition: str = "attachment") -> str:
    """A Content-Disposition header value for a download of a file called `name` (RFC 6266):
    `attachment; filename="ASCII"; filename*=UTF-8''PERCENT-ENCODED`. Only printable ASCII,
    no quotes, backslashes, CR/LF or path parts in it, whatever `name` holds."""
    clean = download_name(name)
    fallback = "".join(c for c in unicodedata.normalize("NFKD", clean)
                       if unicodedata.category(c) != "Mn")       # é: e
    fallback = re.sub(r"[^A-Za-z0-9._ ()+-]", "_", fallback).strip().lstrip(".")
    stem = fallback.rsplit(".", 1)[0] if "." in fallback else fallback
    if not stem.strip("_ ."):                                   # nothing readable in ASCII
        ext = _ext(clean)
        fallback = "download" + (f".{ext}" if ext else "")
    kind = "inline" if disposition == "inline" else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


def _decode(data: bytes, partial: bool) -> tuple[str, bool]:
    """Bytes as text: UTF-8 (a byte-order mark dropped; with `partial`, a character cut at
    the end is dropped too), UTF-16 with its mark, else UTF-8 with bad bytes replaced (the
    flag says so)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), False
        except UnicodeDecodeError:
            return data.decode("utf-16", "replace"), True
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return codecs.getincrementaldecoder("utf-8")("strict").decode(data, final=not partial), \
            False
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), True


def _delimiter(sample: str) -> str:
    """The delimiter of the first line: the most frequent of , ; tab | (a comma on ties)."""
    first = sample.split("\n", 1)[0]
    best, count = ",", first.count(",")
    for d in (";", "\t", "|"):
        n = first.count(d)
        if n > count:
            best, count = d, n
    return best


def csv_preview(data: bytes, max_rows: int = 200, max_cols: int = 50, *,
                max_bytes: int = 2**20, max_cell: int = 500) -> dict:
    """The first rows of a CSV (or TSV) file for a table: `header` (the first row), `rows`,
    each as wide as the widest (ragged rows padded with ""), `truncated` (rows, columns, bytes
    or cells were left out, or the rest could not be read), `replaced` (bytes that are not
    UTF-8 were replaced). At most `max_bytes` are read; cells are cut at `max_cell`
    characters, with control and bidi characters made visible. Raises nothing for any bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = b""
    data = bytes(data[:max_bytes + 1])
    truncated = len(data) > max_bytes
    text, replaced = _decode(data[:max_bytes], truncated)
    text = text.replace("\x00", "\ufffd")
    if truncated and "\n" in text:
        text = text[:text.rindex("\n") + 1]    # the last line was cut: left out
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text[:65536]),
                        strict=False)
    table: list[list[str]] = []
    try:
        for row in reader:
            if len(table) > max_rows:
                truncated = True
                break
            if len(row) > max_cols:
                truncated, row = True, row[:max_cols]
            cells = []
            for c in row:
                if len(c) > max_cell:
                    truncated = True
                cells.append(visible_text(c, max_cell))
            table.append(cells)
    except csv.Error:           # a field over csv's size limit, ...: what came before it
        truncated = True
    width = max((len(r) for r in table), default=0)
    table = [r + [""] * (width - len(r)) for r in table]
    return {"header": table[0] if table else [], "rows": table[1:max_rows + 1],
            "truncated": truncated, "replaced": replaced}
