"""`carrier`: parcel tracking (an offline stand-in for the examples).

    carrier track --id TRACKING_NUMBER --format json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PARCELS = Path(__file__).resolve().parent.parent / "data" / "parcels.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="carrier")
    sub = p.add_subparsers(dest="action", required=True)
    t = sub.add_parser("track")
    t.add_argument("--id", required=True)
    t.add_argument("--format", choices=("json",), default="json")
    args = p.parse_args(argv)
    parcel = json.loads(PARCELS.read_text()).get(args.id)
    if parcel is None:
        print(f"carrier: no parcel `{args.id}`", file=sys.stderr)
        return 1
    print(json.dumps(parcel, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
