"""Rule-based ticket classification: category, priority and confidence. Prints JSON."""

from __future__ import annotations

import argparse
import json
import sys

CATEGORIES = {
    "returns": ("return", "refund", "send back", "exchange", "wrong size"),
    "shipping": ("where is", "tracking", "delivery", "shipped", "courier", "parcel"),
    "order_exception": ("cancel", "address", "missing item", "charged twice", "damaged"),
    "complaint": ("unacceptable", "complain", "terrible", "rude", "worst"),
}
HIGH = ("again", "still", "urgent", "today", "charged twice")


def classify(message: str) -> dict:
    text = message.lower()
    scores = {c: sum(text.count(k) for k in kws) for c, kws in CATEGORIES.items()}
    best = max(scores, key=lambda c: scores[c])
    total = sum(scores.values())
    category = best if scores[best] else "other"
    if any(k in text for k in HIGH) or category == "complaint":
        priority = "high"
    elif category == "other":
        priority = "low"
    else:
        priority = "normal"
    return {
        "category": category,
        "priority": priority,
        "confidence": round(scores[best] / total, 2) if total else 0.3,
        "rationale": f"{category} (score {scores[best]} of {total})",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--message", required=True, help="the ticket text, or - for stdin")
    args = ap.parse_args(argv)
    message = sys.stdin.read() if args.message == "-" else args.message
    print(json.dumps(classify(message)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
