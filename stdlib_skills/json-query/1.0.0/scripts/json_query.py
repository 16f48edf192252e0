"""`json_query`: query and reshape a JSON file (standard library only).

    json_query --input data.json --path '.orders[]' --fields id,customer.name --format json
    json_query --input data.json --path '.orders[]' --fields id,total --format csv

Prints a JSON object: result, count, columns (and records, the CSV file, with --format csv).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys

_TOKEN = re.compile(r'\.\[\]|\[\]|\.?\[(-?\d+)\]|\."((?:[^"\\]|\\.)*)"|\.([A-Za-z_][\w-]*)|\.')
_FUNCS = ("keys", "length", "first", "last", "flatten")


class QueryError(Exception):
    pass


def _tokens(path: str) -> list[tuple[str, object]]:
    out, i = [], 0
    path = path.strip()
    while i < len(path):
        m = _TOKEN.match(path, i)
        if not m or m.end() == i:
            raise QueryError(f"cannot read the path at `{path[i:]}`")
        tok = m.group(0)
        if tok in (".[]", "[]"):
            out.append(("each", None))
        elif m.group(1) is not None:
            out.append(("index", int(m.group(1))))
        elif m.group(2) is not None:
            out.append(("key", json.loads('"' + m.group(2) + '"')))
        elif m.group(3) is not None:
            out.append(("key", m.group(3)))
        i = m.end()
    return out


def _step_path(values: list, path: str) -> tuple[list, bool]:
    """Apply one path step to every value; the flag says whether `[]` spread the values."""
    spread = False
    for kind, arg in _tokens(path):
        nxt = []
        for v in values:
            if kind == "key":
                if v is None:
                    nxt.append(None)
                elif isinstance(v, dict):
                    nxt.append(v.get(arg))
                else:
                    raise QueryError(f"`.{arg}`: expected an object, found {type(v).__name__}")
            elif kind == "index":
                if not isinstance(v, list):
                    raise QueryError(f"`[{arg}]`: expected a list, found {type(v).__name__}")
                try:
                    nxt.append(v[arg])
                except IndexError:
                    raise QueryError(f"`[{arg}]`: the list has {len(v)} item(s)") from None
            else:
                if isinstance(v, dict):
                    nxt.extend(v.values())
                elif isinstance(v, list):
                    nxt.extend(v)
                elif v is not None:
                    raise QueryError(f"`[]`: expected a list or object, found {type(v).__name__}")
                spread = True
        values = nxt
    return values, spread


def flatten(value, prefix: str = "") -> dict:
    out: dict = {}
    if isinstance(value, dict):
        for k, v in value.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            else:
                out[key] = v
    else:
        out[prefix or "value"] = value
    return out


def query(doc, path: str):
    """The value(s) `path` selects: a list when any step spread with `[]`."""
    values, spread = [doc], False
    for step in (s.strip() for s in (path or ".").split("|")):
        if step in _FUNCS:
            whole = values if spread else values[0]
            if step == "keys":
                r = list(whole) if isinstance(whole, dict) else list(range(len(whole or [])))
            elif step == "length":
                r = 0 if whole is None else len(whole) if isinstance(whole, (list, dict, str)) else 1
            elif step in ("first", "last"):
                if not isinstance(whole, list):
                    raise QueryError(f"`{step}`: expected a list")
                r = (whole[0] if step == "first" else whole[-1]) if whole else None
            else:
                r = [flatten(x) for x in whole] if isinstance(whole, list) else flatten(whole)
            values, spread = [r], False
        else:
            values, s = _step_path(values, step or ".")
            spread = spread or s
    return values if spread else values[0]


def pick(record, fields: list[str]):
    if not isinstance(record, dict):
        raise QueryError(f"--fields needs objects, found {type(record).__name__}")
    out = {}
    for f in fields:
        name, _, path = f.partition("=") if "=" in f else (f, "", f)
        v = record
        for part in path.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        out[name.strip()] = v
    return out


def write_csv(path: str, records: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(k for r in records for k in r))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        for r in records:
            w.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else
                        "" if v is None else v for k, v in r.items()})
    return columns


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="json_query", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", required=True, help="a JSON file, or - for stdin")
    ap.add_argument("--path", default=".")
    ap.add_argument("--fields", default="", help="comma list of dotted paths; name=path renames")
    ap.add_argument("--format", default="json", help="json (default) or csv")
    ap.add_argument("--output", default="records.csv", help="the CSV file (--format csv)")
    args = ap.parse_args(argv)
    fmt = (args.format or "json").strip().lower()
    if fmt not in ("json", "csv"):
        ap.error(f"--format must be json or csv, not {fmt!r}")
    try:
        text = sys.stdin.read() if args.input == "-" else open(args.input, encoding="utf-8").read()
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        print(f"json_query: cannot read {args.input}: {e}", file=sys.stderr)
        return 1
    fields = [f.strip() for f in (args.fields or "").split(",") if f.strip()]
    try:
        result = query(doc, args.path or ".")
        if fields:
            result = [pick(r, fields) for r in result] if isinstance(result, list) \
                else pick(result, fields)
    except QueryError as e:
        print(f"json_query: {e}", file=sys.stderr)
        return 1
    records = result if isinstance(result, list) else [] if result is None else [result]
    columns = (list(dict.fromkeys(k for r in records for k in r))
               if records and all(isinstance(r, dict) for r in records) else [])
    out: dict = {"count": len(records) if isinstance(result, list) else int(result is not None)}
    if fmt == "csv":
        if not all(isinstance(r, dict) for r in records):
            print("json_query: --format csv needs a list of objects", file=sys.stderr)
            return 1
        flat = [flatten(r) for r in records]
        out["columns"] = write_csv(args.output, flat)
        out["result"] = flat[:20]
        out["records"] = args.output
    else:
        out["columns"] = columns
        out["result"] = result
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
