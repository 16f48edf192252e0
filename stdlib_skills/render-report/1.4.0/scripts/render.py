"""Render a Markdown-ish report body (and an optional CSV appendix) to a one-font PDF.

Standard library only: it writes PDF 1.4 by hand with the built-in Helvetica font, which is
enough for text reports. Headings (`#`) are set larger; long lines are wrapped.
"""

from __future__ import annotations

import argparse
import csv
import sys
import textwrap

PAGE_W, PAGE_H, MARGIN = 595, 842, 56  # A4 in points


def _escape(s: str) -> str:
    s = s.encode("latin-1", "replace").decode("latin-1")
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def layout(title: str, body: str, table_rows: list[list[str]],
           footer: str = "") -> list[list[tuple[int, str]]]:
    """Lines as (font size, text), split into pages."""
    lines: list[tuple[int, str]] = [(18, title), (11, "")]
    for raw in body.splitlines():
        if raw.startswith("#"):
            lines += [(11, ""), (14, raw.lstrip("#").strip())]
        else:
            lines += [(11, w) for w in (textwrap.wrap(raw, 90) or [""])]
    if table_rows:
        lines += [(11, ""), (14, "Appendix: figures")]
        widths = [max(len(r[i]) for r in table_rows) for i in range(len(table_rows[0]))]
        for r in table_rows:
            lines.append((9, "  ".join(c.ljust(w) for c, w in zip(r, widths))))
    if footer:
        lines += [(11, ""), (9, footer)]
    pages, page, y = [], [], PAGE_H - MARGIN
    for size, text in lines:
        if y - size * 1.4 < MARGIN:
            pages.append(page)
            page, y = [], PAGE_H - MARGIN
        page.append((size, text))
        y -= size * 1.4
    pages.append(page)
    return pages


def write_pdf(path: str, pages: list[list[tuple[int, str]]]) -> None:
    objs: list[bytes] = []
    kids = []
    font_id = 3
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(b"")  # pages tree, filled in below
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page in pages:
        ops, y = ["BT"], PAGE_H - MARGIN
        for size, text in page:
            ops.append(f"/F1 {size} Tf 1 0 0 1 {MARGIN} {y:.1f} Tm ({_escape(text)}) Tj")
            y -= size * 1.4
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content_id = len(objs)
        objs.append(("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents %d 0 R "
                     "/Resources << /Font << /F1 %d 0 R >> >> >>"
                     % (PAGE_W, PAGE_H, content_id, font_id)).encode())
        kids.append(len(objs))
    objs[1] = ("<< /Type /Pages /Kids [%s] /Count %d >>"
               % (" ".join(f"{k} 0 R" for k in kids), len(kids))).encode()
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    with open(path, "wb") as f:
        f.write(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--title", required=True)
    ap.add_argument("--body", required=True, help="a Markdown file, or - for stdin")
    ap.add_argument("--table", help="a CSV file to append")
    ap.add_argument("--footer", default="")
    ap.add_argument("--output", default="report.pdf")
    args = ap.parse_args(argv)
    body = sys.stdin.read() if args.body == "-" else open(args.body, encoding="utf-8").read()
    rows: list[list[str]] = []
    if args.table:
        with open(args.table, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
    pages = layout(args.title, body, rows, args.footer)
    write_pdf(args.output, pages)
    print(f"{args.output}: {len(pages)} page(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
