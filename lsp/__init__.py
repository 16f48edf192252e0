"""`flowc lsp`: the language server (pygls) over the compiler\x27s API."""
