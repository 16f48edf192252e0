"""`web_search`: a web search that prints one result per line (standard library only).

    web_search --query dify --max_size 30

Uses DuckDuckGo's Instant Answer API (no key needed): the abstract first, then related topics,
each as `title: text (url)`. The sandbox must allow the host `api.duckduckgo.com`.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
import urllib.request

API = "https://api.duckduckgo.com/"


def flatten(topics: list[dict]) -> list[dict]:
    out = []
    for t in topics:
        if "Topics" in t:  # a named group of topics
            out += flatten(t["Topics"])
        elif t.get("Text"):
            out.append(t)
    return out


def search(query: str, max_size: int, timeout: float = 10.0) -> list[str]:
    params = urllib.parse.urlencode({"q": query, "format": "json", "no_html": 1,
                                     "skip_disambig": 1})
    req = urllib.request.Request(f"{API}?{params}", headers={"User-Agent": "flowc-web-search/1.1"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        data = json.load(resp)
    lines = []
    if data.get("AbstractText"):
        lines.append(f"{data.get('Heading') or query}: {data['AbstractText']} "
                     f"({data.get('AbstractURL', '')})")
    for t in flatten(data.get("RelatedTopics", [])):
        lines.append(f"{t['Text']} ({t.get('FirstURL', '')})")
    return lines[:max_size]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="web_search", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--query", required=True)
    ap.add_argument("--max_size", type=int, default=10, help="at most this many results")
    args = ap.parse_args(argv)
    try:
        results = search(args.query, args.max_size)
    except OSError as e:
        print(f"web_search: {e}", file=sys.stderr)
        return 2
    if not results:
        print(f"web_search: no results for {args.query!r}", file=sys.stderr)
        return 1
    print("\n".join(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
