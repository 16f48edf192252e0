"""`flowc lsp`: the language server (pygls) over the compiler's API."""
