"""`flowc lsp`: start the language server (stdio by default)."""

from __future__ import annotations

__all__ = ["add_lsp_commands"]


def add_lsp_commands(sub, parser_class) -> None:
    """Register `flowc lsp` (filled in by the language-server work)."""
