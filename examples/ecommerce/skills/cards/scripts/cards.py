"""`cards`: order a hand-written card (an offline stand-in for the examples).

    cards order --to EMAIL --from USER
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="cards")
    sub = p.add_subparsers(dest="action", required=True)
    o = sub.add_parser("order")
    o.add_argument("--to", required=True)
    o.add_argument("--from", dest="sender", required=True)
    args = vars(p.parse_args(argv))
    ref = "CD-" + hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:8]
    os.makedirs("cards", exist_ok=True)
    with open(f"cards/{ref}.json", "w") as f:
        json.dump({"reference": ref, **args}, f, indent=1)
    print(json.dumps({"reference": ref, "to": args["to"], "status": "ordered"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
