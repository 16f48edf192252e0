"""`doc_diff`: a unified diff of two documents and a summary of what changed (stdlib only).

    doc_diff --before v1.md --after v2.md --context 3 [--ignore-whitespace] [--output diff.diff]

Writes the unified diff to --output and prints a JSON object: summary, identical, added,
removed, changed, unchanged, hunks, diff (the file name) and diff_text.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys


def _read(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        return f.read().replace("\r\n", "\n").replace("\r", "\n").splitlines()


def _range(lo: int, hi: int) -> str:
    """1-based inclusive range of the 0-based slice [lo, hi)."""
    if hi <= lo:
        return f"{lo}"  # an empty range: the position after line `lo`
    return f"{lo + 1}" if hi - lo == 1 else f"{lo + 1}-{hi}"


def compare(a: list[str], b: list[str], ignore_ws: bool = False) -> dict:
    norm = (lambda s: " ".join(s.split())) if ignore_ws else (lambda s: s)
    sm = difflib.SequenceMatcher(None, [norm(x) for x in a], [norm(x) for x in b], autojunk=False)
    added = removed = changed = unchanged = 0
    hunks = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            unchanged += i2 - i1
            continue
        old, new = i2 - i1, j2 - j1
        if tag == "replace":
            pairs = min(old, new)
            changed += pairs
            added += new - pairs
            removed += old - pairs
        elif tag == "insert":
            added += new
        else:
            removed += old
        kind = {"replace": "changed", "insert": "added", "delete": "removed"}[tag]
        hunk = {"kind": kind, "before": _range(i1, i2), "after": _range(j1, j2)}
        if old:
            hunk["old"] = a[i1]
        if new:
            hunk["new"] = b[j1]
        hunks.append(hunk)
    return {"added": added, "removed": removed, "changed": changed, "unchanged": unchanged,
            "hunks": hunks}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="doc_diff", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--context", default="3", help="unchanged lines around each change")
    ap.add_argument("--ignore-whitespace", action="store_true")
    ap.add_argument("--output", default="diff.diff")
    args = ap.parse_args(argv)
    try:
        context = int(args.context) if str(args.context).strip() else 3
    except ValueError:
        ap.error(f"--context must be a whole number, not {args.context!r}")
    try:
        a, b = _read(args.before), _read(args.after)
    except OSError as e:
        print(f"doc_diff: {e}", file=sys.stderr)
        return 1
    stats = compare(a, b, args.ignore_whitespace)
    if args.ignore_whitespace:
        na, nb = [" ".join(x.split()) for x in a], [" ".join(x.split()) for x in b]
    else:
        na, nb = a, b
    diff_text = "".join(line + "\n" for line in difflib.unified_diff(
        na, nb, fromfile=args.before, tofile=args.after, n=max(0, context), lineterm=""))
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(diff_text)
    places = len(stats["hunks"])
    identical = places == 0
    summary = ("no changes" if identical else
               f"{stats['changed']} changed, {stats['added']} added, {stats['removed']} removed "
               f"in {places} place{'s' if places != 1 else ''}") + f" ({len(a)} -> {len(b)} lines)"
    print(json.dumps({"summary": summary, "identical": identical, **stats,
                      "diff": args.output, "diff_text": diff_text}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
