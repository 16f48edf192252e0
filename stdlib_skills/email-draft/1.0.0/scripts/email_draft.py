"""`email_draft`: fill an email template's {placeholders} from a JSON object (never sends).

    email_draft --template welcome.txt --values - < values.json
    email_draft --template body.txt --values '{"name": "Ada"}' --subject 'Hello {name}'

Prints a JSON object: subject, body, to, cc, placeholders, unused. Exits with status 1 when a
placeholder has neither a value nor a default.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][\w.-]*)(?:\|([^{}]*))?\}")
_HEADER = re.compile(r"^(Subject|To|Cc)\s*:\s*(.*)$", re.IGNORECASE)
_MISSING = object()


def _lookup(values: dict, path: str):
    v = values
    for part in path.split("."):
        if isinstance(v, dict) and part in v:
            v = v[part]
        elif isinstance(v, list) and part.isdigit() and int(part) < len(v):
            v = v[int(part)]
        else:
            return _MISSING
    return v


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, dict)):
        return ", ".join(_text(x) for x in v) if isinstance(v, list) else json.dumps(v)
    return str(v)


def fill(template: str, values: dict, used: list, missing: list) -> str:
    def sub(m: re.Match) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        name, default = m.group(1), m.group(2)
        if name not in used:
            used.append(name)
        v = _lookup(values, name)
        if v is _MISSING or v is None:
            if default is not None:
                return default
            if name not in missing:
                missing.append(name)
            return m.group(0)
        return _text(v)

    return _PLACEHOLDER.sub(sub, template)


def split_headers(template: str) -> tuple[dict, str]:
    lines = template.splitlines()
    headers: dict = {}
    i = 0
    while i < len(lines) and (m := _HEADER.match(lines[i])):
        headers[m.group(1).lower()] = m.group(2).strip()
        i += 1
    if not headers:
        return {}, template
    if i < len(lines) and lines[i].strip() == "":
        i += 1
    return headers, "\n".join(lines[i:]).rstrip() + "\n"


def _addresses(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def draft(template: str, values: dict, subject: str | None = None) -> tuple[dict, list]:
    headers, body_t = split_headers(template)
    if subject:
        headers["subject"] = subject
    used: list = []
    missing: list = []
    out = {
        "subject": fill(headers.get("subject", ""), values, used, missing).strip(),
        "body": fill(body_t, values, used, missing),
        "to": _addresses(fill(headers.get("to", ""), values, used, missing)),
        "cc": _addresses(fill(headers.get("cc", ""), values, used, missing)),
    }
    roots = {u.split(".")[0] for u in used}
    out["placeholders"] = used
    out["unused"] = [k for k in values if k not in roots]
    return out, missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="email_draft", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--template", required=True, help="the template file")
    ap.add_argument("--values", required=True, help="a JSON object, or - for stdin")
    ap.add_argument("--subject", help="the subject, for a template without headers")
    args = ap.parse_args(argv)
    raw = sys.stdin.read() if args.values == "-" else args.values
    try:
        values = json.loads(raw) if raw.strip() else {}
    except ValueError as e:
        print(f"email_draft: the values are not JSON: {e}", file=sys.stderr)
        return 1
    if not isinstance(values, dict):
        print("email_draft: the values must be a JSON object", file=sys.stderr)
        return 1
    try:
        with open(args.template, encoding="utf-8") as f:
            template = f.read()
    except OSError as e:
        print(f"email_draft: {e}", file=sys.stderr)
        return 1
    out, missing = draft(template, values, args.subject)
    if missing:
        print("email_draft: no value for " + ", ".join(f"{{{m}}}" for m in missing)
              + " (add it to the values, or give a default: {name|default})", file=sys.stderr)
        return 1
    if not out["subject"]:
        print("email_draft: the draft has no subject (a `Subject:` header or --subject)",
              file=sys.stderr)
        return 1
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
