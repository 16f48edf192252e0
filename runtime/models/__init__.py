"""Model providers: one interface over OpenAI-compatible and Anthropic endpoints, with
record and replay.

The engine holds one `Models` (router.py) and calls `complete(alias, request, key)`; the
types are in base.py; the providers in openai.py and anthropic.py; record/replay in
record.py; a real local fake endpoint for tests and demos in fakeserver.py. See
docs/models.md.
"""

from .base import (
    CallKey,
    Message,
    MissingKey,
    ModelError,
    ModelProtocolError,
    ModelRequest,
    ModelRequestError,
    ModelResponse,
    ModelTimeout,
    ModelUnavailable,
    Provider,
    ReplayMiss,
    ToolCall,
    ToolSpec,
    UnknownModel,
    Usage,
)
from .record import Exchange, Recorder, RecordingProvider, ReplayProvider, load_exchanges
from .router import ModelCall, Models
from .tokens import estimate_request_tokens, estimate_tokens

__all__ = [
    "CallKey", "Exchange", "Message", "MissingKey", "ModelCall", "ModelError",
    "ModelProtocolError", "ModelRequest", "ModelRequestError", "ModelResponse", "ModelTimeout",
    "ModelUnavailable", "Models", "Provider", "Recorder", "RecordingProvider", "ReplayMiss",
    "ReplayProvider", "ToolCall", "ToolSpec", "UnknownModel", "Usage", "estimate_request_tokens",
    "estimate_tokens", "load_exchanges",
]
