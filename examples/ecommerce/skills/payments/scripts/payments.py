"""`payments`: refund an order (an offline stand-in for the examples).

    payments refund --order ORDER --amount AMOUNT --currency EUR [--reason duplicate]

Prints the refund's reference on one line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="payments")
    sub = p.add_subparsers(dest="action", required=True)
    r = sub.add_parser("refund")
    r.add_argument("--order", required=True)
    r.add_argument("--amount", type=float, required=True)
    r.add_argument("--currency", default="EUR")
    r.add_argument("--reason", default="return")
    args = vars(p.parse_args(argv))
    if args["amount"] <= 0:
        print("payments: the amount must be positive", file=sys.stderr)
        return 2
    ref = "RF-" + hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:8]
    os.makedirs("payments", exist_ok=True)
    with open(f"payments/{ref}.json", "w") as f:
        json.dump({"reference": ref, **args, "status": "queued"}, f, indent=1)
    print(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
