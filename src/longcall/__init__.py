"""longcall: long Claude generations that stream, resume and are never lost.

import anthropic, longcall
client = longcall.wrap(anthropic.Anthropic())
message = client.messages.create(model="claude-sonnet-4-6", max_tokens=64000, messages=[...])
"""

import typing as _typing

if _typing.TYPE_CHECKING:  # the names, for type checkers; at run time each is imported when first used
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

# Where each public name lives. Imported lazily (PEP 562) because the SDK takes over a second to
# import, and `longcall --help` (which imports this package first) must not wait for it.
_MODULES = {
    "._catalog": ("ModelInfo", "Price", "UnknownModelWarning", "cost", "lookup"),
    "._engine": ("Hooks", "LongcallMessage", "Observer"),
    "._errors": (
        "ContextWindowExceeded",
        "GenerationFailed",
        "InvalidRequest",
        "JournalError",
        "LongcallError",
        "ResumeRejected",
        "ServerError",
        "StreamIncomplete",
        "StreamProtocolError",
        "StreamStalled",
    ),
    "._policy": ("Policy",),
    "._record": ("Attempt",),
    "._wrap": ("AsyncLongClient", "LongClient", "wrap"),
    ".journal": ("Journal", "JournalWarning", "aresume", "resume"),
    ".openai": ("from_openai", "to_openai"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> object:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'longcall' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


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
