"""`report`: column statistics of a CSV file, as JSON, CSV or Markdown (standard library only).

    report --input ./turnsheet.csv --format json
    report --input ./turnsheet.csv --format csv --group-by region --sum revenue

Without `--group-by`, one row per column: count, empty cells, and for numeric columns min,
max, mean, median and sum. With `--group-by COL --sum NUM`, one row per group with the sum of
NUM, largest first.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").strip())
    except ValueError:
        return None


def column_stats(rows: list[dict], columns: list[str]) -> list[dict]:
    out = []
    for col in columns:
        cells = [(r.get(col) or "").strip() for r in rows]
        filled = [c for c in cells if c]
        nums = [n for n in (_number(c) for c in filled) if n is not None]
        entry: dict = {"column": col, "count": len(filled), "empty": len(cells) - len(filled)}
        if filled and len(nums) == len(filled):
            entry.update(min=min(nums), max=max(nums), mean=round(statistics.fmean(nums), 4),
                         median=statistics.median(nums), sum=round(sum(nums), 4))
        out.append(entry)
    return out


def group_sums(rows: list[dict], by: str, col: str) -> list[dict]:
    sums: dict[str, float] = {}
    for r in rows:
        n = _number(r.get(col) or "")
        if n is not None:
            key = (r.get(by) or "").strip() or "(none)"
            sums[key] = sums.get(key, 0.0) + n
    return [{by: k, col: round(v, 2)} for k, v in sorted(sums.items(), key=lambda kv: -kv[1])]


def render(records: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(records, indent=2)
    keys = list(dict.fromkeys(k for r in records for k in r))
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        w.writerows(records)
        return buf.getvalue().rstrip("\n")
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in records]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True)
    ap.add_argument("--format", choices=("json", "csv", "markdown"), default="json")
    ap.add_argument("--group-by")
    ap.add_argument("--sum")
    args = ap.parse_args(argv)
    with open(args.input, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        columns = list(reader.fieldnames or [])
    if args.group_by:
        if not args.sum:
            ap.error("--group-by needs --sum COLUMN")
        for c in (args.group_by, args.sum):
            if c not in columns:
                ap.error(f"no column {c!r}; columns: {', '.join(columns)}")
        records = group_sums(rows, args.group_by, args.sum)
    else:
        records = column_stats(rows, columns)
    try:
        print(render(records, args.format))
    except BrokenPipeError:  # `| head` closed the pipe: that is fine
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
