"""The concrete syntax of the Flow language: the Lark grammar file and where to find it."""

from pathlib import Path

__all__ = ["GRAMMAR_PATH", "grammar_text"]

GRAMMAR_PATH = Path(__file__).with_name("flow.lark")


def grammar_text() -> str:
    """Return the text of `flow.lark`."""
    return GRAMMAR_PATH.read_text(encoding="utf-8")
