"""The one error a request handler raises for a request it cannot serve, and the JSON
response every API answer uses."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import JSONResponse as _StarletteJSON

__all__ = ["BodyTooLarge", "JSONResponse", "RequestProblem"]


class JSONResponse(_StarletteJSON):
    """JSON with every non-ASCII character escaped: a lone surrogate that came in a request
    (and is echoed in an error) is written as an escape, never a failed encoding (a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


class RequestProblem(ValueError):
    """A request that cannot be served: a one-line message and its HTTP status."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class BodyTooLarge(Exception):
    """A request body over its route's limit (413)."""
