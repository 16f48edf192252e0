"""Paste benchmark results into the README and docs, or check that they are there unchanged.

    python scripts/figures.py          # paste every bench/results file into its blocks
    python scripts/figures.py --check  # exit 1 naming each block that differs from its file

A block is `<!-- figures: PATH -->` ... `<!-- /figures -->` in README.md or docs/*.md, PATH
relative to the repository; the file is what a benchmark's `--markdown PATH` wrote."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- figures: (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- /figures -->)",
                   re.S)


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def run(check: bool, root: Path = ROOT) -> int:
    problems, pasted = [], 0
    for doc in documents(root):
        text = doc.read_text(encoding="utf-8")

        def paste(m: re.Match, doc: Path = doc) -> str:
            nonlocal pasted
            source = root / m["path"]
            if not source.is_file():
                problems.append(f"{doc.relative_to(root)}: {m['path']} does not exist "
                                "(run the benchmark with --markdown)")
                return m[0]
            want = source.read_text(encoding="utf-8")
            if m["body"] != want:
                problems.append(f"{doc.relative_to(root)}: the block of {m['path']} differs "
                                "from the file (python scripts/figures.py pastes it)")
            pasted += 1
            return m[1] + want + m[4]

        new = BLOCK.sub(paste, text)
        if not check and new != text:
            doc.write_text(new, encoding="utf-8")
    if check:
        for p in problems:
            print(p)
        print(f"{pasted} figure block(s), {len(problems)} out of date")
        return 1 if problems else 0
    print(f"pasted {pasted} figure block(s)")
    missing = [p for p in problems if "does not exist" in p]
    for p in missing:
        print(p)
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 on a difference")
    ap.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)  # for the tests
    args = ap.parse_args(argv)
    return run(args.check, args.root.resolve())


if __name__ == "__main__":
    sys.exit(main())
