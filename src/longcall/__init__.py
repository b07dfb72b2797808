"""longcall: long Claude generations that stream, resume and are never lost.

import anthropic, longcall
client = longcall.wrap(anthropic.Anthropic())
message = client.messages.create(model="claude-sonnet-4-6", max_tokens=64000, messages=[...])
"""

from ._catalog import ModelInfo, Price, UnknownModelWarning, cost, lookup
from ._engine import Hooks, LongcallMessage, Observer
from ._errors import (
    ContextWindowExceeded,
    GenerationFailed,
    InvalidRequest,
    JournalError,
    LongcallError,
    RequestRejected,
    ResumeRejected,
    ServerError,
    StreamIncomplete,
    StreamProtocolError,
    StreamStalled,
)
from ._middleware import LongcallMiddleware, middleware
from ._policy import Policy
from ._record import Attempt
from ._wrap import AsyncLongClient, LongcallBetaMessage, LongClient, wrap
from .journal import Journal, JournalWarning, aresume, resume
from .openai import from_openai, to_openai

__version__ = "0.1.0"

__all__ = [
    "AsyncLongClient",
    "Attempt",
    "ContextWindowExceeded",
    "GenerationFailed",
    "Hooks",
    "InvalidRequest",
    "Journal",
    "JournalError",
    "JournalWarning",
    "LongClient",
    "LongcallBetaMessage",
    "LongcallError",
    "LongcallMessage",
    "LongcallMiddleware",
    "ModelInfo",
    "Observer",
    "Policy",
    "Price",
    "RequestRejected",
    "ResumeRejected",
    "ServerError",
    "StreamIncomplete",
    "StreamProtocolError",
    "StreamStalled",
    "UnknownModelWarning",
    "__version__",
    "aresume",
    "cost",
    "from_openai",
    "lookup",
    "middleware",
    "resume",
    "to_openai",
    "wrap",
]
