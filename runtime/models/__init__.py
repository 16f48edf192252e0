"""Model providers: one interface over OpenAI-compatible and Anthropic endpoints, with
record and replay."""
