"""`helpdesk`: post a reply (an offline stand-in for the examples).

    helpdesk reply --ticket TICKET --body - < reply.txt
    helpdesk reply --to EMAIL --body - [--edited-by USER] < reply.txt
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="helpdesk")
    sub = p.add_subparsers(dest="action", required=True)
    r = sub.add_parser("reply")
    r.add_argument("--ticket", default="")
    r.add_argument("--to", default="")
    r.add_argument("--body", default="-")
    r.add_argument("--edited-by", default="")
    args = vars(p.parse_args(argv))
    if args["body"] == "-":
        args["body"] = sys.stdin.read()
    if not args["body"].strip():
        print("helpdesk: the reply is empty", file=sys.stderr)
        return 2
    if not (args["ticket"] or args["to"]):
        print("helpdesk: give --ticket or --to", file=sys.stderr)
        return 2
    ref = "HD-" + hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:8]
    os.makedirs("helpdesk", exist_ok=True)
    with open(f"helpdesk/{ref}.json", "w") as f:
        json.dump({"reference": ref, **args}, f, indent=1)
    print(json.dumps({"reference": ref, "ticket": args["ticket"] or None,
                      "to": args["to"] or None, "chars": len(args["body"]), "status": "sent"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
