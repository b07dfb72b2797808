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
    ResumeRejected,
    ServerError,
    StreamIncomplete,
    StreamProtocolError,
    StreamStalled,
)
from ._policy import Policy
from ._record import Attempt
from ._wrap import AsyncLongClient, LongClient, wrap
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
    "LongcallError",
    "LongcallMessage",
    "ModelInfo",
    "Observer",
    "Policy",
    "Price",
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
    "resume",
    "to_openai",
    "wrap",
]
