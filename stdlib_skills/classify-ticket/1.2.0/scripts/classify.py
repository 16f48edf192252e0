"""Rule-based ticket classification: category, priority, sentiment and order id.

The rules are the ticket-classification SOP written as data, so that the same message always
gets the same label and a change to the rules is a reviewed change to this file. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

CATEGORIES = {
    "returns": ("return", "refund", "send back", "exchange", "wrong size", "money back"),
    "shipping": ("where is", "tracking", "delivery", "shipped", "courier", "arrive", "parcel"),
    "order_exception": ("cancel", "address", "missing item", "charged twice", "payment failed",
                        "out of stock", "damaged"),
    "complaint": ("unacceptable", "complain", "terrible", "rude", "worst", "disappointed"),
}
URGENT = ("today", "asap", "immediately", "urgent", "charged twice", "fraud")
HIGH = ("again", "still", "second time", "weeks", "lawyer", "chargeback")
NEGATIVE = ("angry", "terrible", "worst", "unacceptable", "disappointed", "never again", "rude")
POSITIVE = ("thank", "great", "love", "appreciate", "happy")
ORDER_ID = re.compile(r"(?:\border\s*#?\s*|#)([A-Z]{0,3}-?\d{3,})\b", re.IGNORECASE)


def classify(message: str, tier: str = "standard") -> dict:
    text = message.lower()
    scores = {c: sum(text.count(k) for k in kws) for c, kws in CATEGORIES.items()}
    best = max(scores, key=lambda c: scores[c])
    total = sum(scores.values())
    if tier in ("gold", "platinum") and best != "complaint":
        category = "vip"
    else:
        category = best if scores[best] else "other"
    confidence = round(scores[best] / total, 2) if total else 0.3
    if any(k in text for k in URGENT):
        priority = "urgent"
    elif any(k in text for k in HIGH) or category == "complaint":
        priority = "high"
    elif category == "other":
        priority = "low"
    else:
        priority = "normal"
    neg = sum(text.count(k) for k in NEGATIVE)
    pos = sum(text.count(k) for k in POSITIVE)
    sentiment = "negative" if neg > pos else "positive" if pos > neg else "neutral"
    m = ORDER_ID.search(message)
    matched = [k for k in CATEGORIES.get(best, ()) if k in text]
    return {
        "category": category,
        "priority": priority,
        "confidence": confidence,
        "sentiment": sentiment,
        "order_id": m.group(1).upper() if m else None,
        "rationale": (f"{category}: matched " + ", ".join(f"'{k}'" for k in matched)
                      if matched else f"{category}: no rule matched"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--message", required=True, help="the ticket text, or - for stdin")
    ap.add_argument("--customer-tier", default="standard")
    args = ap.parse_args(argv)
    message = sys.stdin.read() if args.message == "-" else args.message
    print(json.dumps(classify(message, args.customer_tier)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
