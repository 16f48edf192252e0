"""Monthly portfolio statistics from a holdings CSV (standard library only).

Prints a JSON object (summary, total_return, anomalies, status) and writes the table with
`value` and `return_pct` columns to `table.csv` in the working directory.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys


def load(path: str) -> tuple[list[dict], list[str]]:
    rows, skipped = [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                qty = float(row["quantity"])
                start = float(row["start_price"])
                end = float(row["end_price"])
            except (KeyError, TypeError, ValueError):
                skipped.append(row.get("symbol") or "?")
                continue
            if start <= 0:
                skipped.append(row.get("symbol") or "?")
                continue
            rows.append({**row, "value": qty * end,
                         "return_pct": (end - start) / start * 100.0,
                         "start_value": qty * start})
    return rows, skipped


def analyse(rows: list[dict], threshold: float) -> tuple[float, list[str]]:
    start_total = sum(r["start_value"] for r in rows)
    end_total = sum(r["value"] for r in rows)
    total = (end_total - start_total) / start_total * 100.0 if start_total else 0.0
    returns = [r["return_pct"] for r in rows]
    anomalies = []
    if len(returns) >= 2:
        mean = statistics.fmean(returns)
        sd = statistics.pstdev(returns)
        for r in rows:
            if sd > 0 and abs(r["return_pct"] - mean) / sd > threshold:
                anomalies.append(r["symbol"])
    for r in rows:
        if r["return_pct"] < -20.0 and r["symbol"] not in anomalies:
            anomalies.append(r["symbol"])
    return total, anomalies


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input", required=True)
    ap.add_argument("--currency", default="EUR")
    ap.add_argument("--threshold", type=float, default=2.5)
    ap.add_argument("--table", default="table.csv")
    args = ap.parse_args(argv)

    rows, skipped = load(args.input)
    if not rows:
        print(f"no usable rows in {args.input}", file=sys.stderr)
        return 1
    total, anomalies = analyse(rows, args.threshold)

    fields = [k for k in rows[0] if k != "start_value"]
    with open(args.table, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "value": f"{r['value']:.2f}", "return_pct": f"{r['return_pct']:.2f}"})

    summary = (f"{len(rows)} positions worth {sum(r['value'] for r in rows):,.2f} "
               f"{args.currency}; total return {total:+.1f}% this month.")
    if anomalies:
        summary += " Unusual moves: " + ", ".join(anomalies) + "."
    if skipped:
        summary += " Skipped rows without prices: " + ", ".join(skipped) + "."
    print(json.dumps({
        "summary": summary,
        "total_return": round(total, 4),
        "anomalies": anomalies,
        "status": "anomaly" if anomalies else "ok",
        "table": args.table,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
