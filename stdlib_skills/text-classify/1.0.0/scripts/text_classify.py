"""`text_classify`: label a text with keyword and regex rules (standard library only).

    text_classify --text - --rules rules.json --min-score 1 < message.txt

Prints a JSON object: label, score, confidence, labels, scores, matches.
"""

from __future__ import annotations

import argparse
import json
import re
import sys


class RulesError(Exception):
    pass


def _terms(spec, where: str) -> list[tuple[str, float]]:
    if spec is None:
        return []
    if isinstance(spec, list):
        return [(str(t), 1.0) for t in spec]
    if isinstance(spec, dict):
        try:
            return [(str(t), float(p)) for t, p in spec.items()]
        except (TypeError, ValueError):
            raise RulesError(f"{where}: points must be numbers") from None
    raise RulesError(f"{where} must be a list or an object of term to points")


def compile_rules(rules: dict) -> tuple[list[tuple[str, float, list]], str]:
    if not isinstance(rules, dict) or not isinstance(rules.get("labels"), dict) \
            or not rules["labels"]:
        raise RulesError("the rules file needs a non-empty `labels` object")
    flags = 0 if rules.get("case_sensitive") else re.IGNORECASE
    compiled = []
    for label, spec in rules["labels"].items():
        if not isinstance(spec, dict):
            raise RulesError(f"label `{label}` must be an object with keywords/patterns")
        try:
            weight = float(spec.get("weight", 1.0))
        except (TypeError, ValueError):
            raise RulesError(f"label `{label}`: weight must be a number") from None
        checks = []
        for term, pts in _terms(spec.get("keywords"), f"{label}.keywords"):
            words = r"\s+".join(re.escape(w) for w in term.split())
            checks.append((term, pts, re.compile(r"(?<!\w)" + words + r"(?!\w)", flags)))
        for pat, pts in _terms(spec.get("patterns"), f"{label}.patterns"):
            try:
                checks.append((pat, pts, re.compile(pat, flags)))
            except re.error as e:
                raise RulesError(f"{label}.patterns: bad regular expression {pat!r}: {e}") from None
        compiled.append((str(label), weight, checks))
    return compiled, str(rules.get("default", "other"))


def classify(text: str, rules: dict, min_score: float = 1.0) -> dict:
    compiled, default = compile_rules(rules)
    scores, matches = {}, {}
    for label, weight, checks in compiled:
        score, hit = 0.0, []
        for term, pts, rx in checks:
            n = len(rx.findall(text))
            if n:
                score += n * pts * weight
                hit.append(term)
        scores[label] = round(score, 4)
        if hit:
            matches[label] = hit
    order = {label: i for i, (label, _, _) in enumerate(compiled)}
    ranked = sorted(scores, key=lambda lb: (-scores[lb], order[lb]))
    passing = [lb for lb in ranked if scores[lb] >= min_score and scores[lb] > 0]
    total = sum(scores.values())
    label = passing[0] if passing else default
    score = scores.get(label, 0.0)
    return {
        "label": label,
        "score": score,
        "confidence": round(score / total, 2) if total and passing else 0.0,
        "labels": passing,
        "scores": scores,
        "matches": matches,
        "rationale": (f"{label} ({score:g}): matched " + ", ".join(f"'{t}'" for t in matches[label])
                      if label in matches and passing else f"{label}: no label reached {min_score:g}"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="text_classify", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True, help="the text, or - for stdin")
    ap.add_argument("--rules", required=True, help="a JSON rules file")
    ap.add_argument("--min-score", default="1", help="the score a label needs (default 1)")
    args = ap.parse_args(argv)
    try:
        min_score = float(args.min_score) if str(args.min_score).strip() else 1.0
    except ValueError:
        ap.error(f"--min-score must be a number, not {args.min_score!r}")
    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        with open(args.rules, encoding="utf-8") as f:
            rules = json.load(f)
        result = classify(text, rules, min_score)
    except (OSError, ValueError, RulesError) as e:
        print(f"text_classify: {args.rules}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
