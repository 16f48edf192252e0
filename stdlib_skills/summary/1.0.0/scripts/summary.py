"""`summary`: an extractive summary of a text (standard library only).

    summary --query "$(web_search --query dify --max_size 30)" --sentences 3

Scores each sentence by the frequency of its content words in the whole text and prints the
best ones in their original order. Deterministic: the same text gives the same summary.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

STOP = set("""a an and are as at be but by for from has have he her his i in is it its of on or
our she that the their them they this to was we were what when which who will with you your not
can also more than into about over after its""".split())
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+|\d+(?:\.\d+)?")


def summarize(text: str, sentences: int = 3, max_words: int = 120) -> str:
    parts = [s.strip() for s in SENTENCE.split(text) if len(s.split()) >= 4]
    if not parts:
        return text.strip()
    freq = Counter(w.lower() for w in WORD.findall(text) if w.lower() not in STOP)

    def score(s: str) -> float:
        words = [w.lower() for w in WORD.findall(s) if w.lower() not in STOP]
        return sum(freq[w] for w in words) / (len(words) + 1)

    best = sorted(range(len(parts)), key=lambda i: -score(parts[i]))[:sentences]
    out, count = [], 0
    for i in sorted(best):
        n = len(parts[i].split())
        if count + n > max_words and out:
            break
        out.append(parts[i])
        count += n
    return " ".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="summary", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--query", required=True, help="the text to summarise, or - for stdin")
    ap.add_argument("--sentences", type=int, default=3)
    ap.add_argument("--max-words", type=int, default=120)
    args = ap.parse_args(argv)
    text = sys.stdin.read() if args.query == "-" else args.query
    print(summarize(text, args.sentences, args.max_words))
    return 0


if __name__ == "__main__":
    sys.exit(main())
