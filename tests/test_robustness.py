"""No input, however broken, makes the compiler raise: mistakes become diagnostics.

Random text, random token soups built from the language's own vocabulary, and mutations of
real flows (characters deleted, inserted, swapped; lines dropped or duplicated) all go through
the whole pipeline: parse, check, graph, plan.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowc.compiler.api import compile_source

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted(p for p in (ROOT / "examples").rglob("*.flow")) + sorted(
    (ROOT / "tests" / "cases").glob("*.flow"))
VOCAB = [
    "flow", "version", "node", "input", "output", "record", "enum", "deliverable", "text",
    "files", "fields", "memory", "llm", "agent", "extract", "skill", "code", "python",
    "command", "await", "human", "ask", "for", "each", "in", "concurrency", "when", "after",
    "effect", "external", "match", "else", "import", "sop", "use", "as", "mode", "on",
    "policy", "approval", "error", "not", "and", "or", "true", "false", "null", "{", "}", "(",
    ")", "[", "]", ",", ":", "=", "->", "<-", "??", "==", "<", ">", "?", ".", "@", "|", "+",
    "-", "*", "/", "x", "y", "a.b", "stats.status", '"s {x}"', '"""long"""', "`cmd {x} | y`",
    "48h", "3", "2.5", "^1.2", "list<str>", "file<csv>", "role(\"r\")", "\n", "// c\n",
]
SETTINGS = settings(max_examples=int(__import__("os").environ.get("FLOWC_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _run(text: str, base: Path | None = None) -> None:
    result = compile_source(text, "fuzz.flow", base_dir=base or ROOT / "tests" / "cases")
    for d in result.diagnostics.items:
        assert d.code != "F9999"
        assert 0 <= d.span.start <= max(d.span.end, d.span.start) <= len(text) + 1
        d.start, d.end  # positions resolve  # noqa: B018


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text):
    _run(text)


@SETTINGS
@given(st.lists(st.sampled_from(VOCAB), max_size=60))
def test_token_soup(tokens):
    _run("flow f version \"1.0.0\"\n" + " ".join(tokens))


@st.composite
def _mutated(draw):
    path = draw(st.sampled_from(CORPUS))
    text = path.read_text()
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["delete", "insert", "swap", "dropline", "dupline"]))
        if op == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 8)):]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(VOCAB)) + text[i:]
        elif op == "swap" and i + 1 < len(text):
            text = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        else:
            lines = text.split("\n")
            k = draw(st.integers(0, len(lines) - 1))
            if op == "dropline":
                del lines[k]
            else:
                lines.insert(k, lines[k])
            text = "\n".join(lines)
    return path, text


@SETTINGS
@given(_mutated())
def test_mutated_flows(case):
    path, text = case
    _run(text, path.parent)
