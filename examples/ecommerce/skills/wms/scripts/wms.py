"""`wms`: the warehouse system's command line (an offline stand-in for the examples).

    wms order ORDER --format json
    wms reship --order ORDER --service same --note TEXT
    wms reroute --order ORDER --street S --city C --postcode P --country C
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

ORDERS = Path(__file__).resolve().parent.parent / "data" / "orders.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="wms")
    sub = p.add_subparsers(dest="action", required=True)
    o = sub.add_parser("order")
    o.add_argument("order")
    o.add_argument("--format", choices=("json",), default="json")
    r = sub.add_parser("reship")
    r.add_argument("--order", required=True)
    r.add_argument("--service", default="same")
    r.add_argument("--note", default="")
    a = sub.add_parser("reroute")
    a.add_argument("--order", required=True)
    for field in ("street", "city", "postcode", "country"):
        a.add_argument(f"--{field}", required=True)
    args = vars(p.parse_args(argv))
    orders = json.loads(ORDERS.read_text())
    order = orders.get(args["order"])
    if order is None:
        print(f"wms: no order `{args['order']}`", file=sys.stderr)
        return 1
    action = args.pop("action")
    if action == "order":
        print(json.dumps(order, indent=1))
        return 0
    request = {"action": action, **{k: v for k, v in args.items() if k != "format"}}
    ref = "WMS-" + hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:8]
    os.makedirs("wms", exist_ok=True)
    with open(f"wms/{order['order']}-{action}.json", "w") as f:
        json.dump({"reference": ref, **request}, f, indent=1)
    print(json.dumps({"reference": ref, "order": order["order"], "action": action,
                      "status": "queued"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
