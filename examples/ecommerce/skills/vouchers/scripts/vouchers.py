"""`vouchers`: issue a goodwill voucher (an offline stand-in for the examples).

    vouchers issue --email EMAIL --amount 15 --currency EUR --ticket TICKET

Prints the voucher code on one line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="vouchers")
    sub = p.add_subparsers(dest="action", required=True)
    i = sub.add_parser("issue")
    i.add_argument("--email", required=True)
    i.add_argument("--amount", type=int, required=True)
    i.add_argument("--currency", default="EUR")
    i.add_argument("--ticket", default="")
    args = vars(p.parse_args(argv))
    if args["amount"] <= 0:
        print("vouchers: the amount must be positive", file=sys.stderr)
        return 2
    code = "GW-" + hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:8]
    os.makedirs("vouchers", exist_ok=True)
    with open(f"vouchers/{code}.json", "w") as f:
        json.dump({"code": code, **args}, f, indent=1)
    print(code.upper())
    return 0


if __name__ == "__main__":
    sys.exit(main())
