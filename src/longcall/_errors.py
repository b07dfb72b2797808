"""longcall's exceptions.

```
LongcallError
├── InvalidRequest            bad parameters, found before anything was sent (also a ValueError)
│   └── ContextWindowExceeded input + max_tokens over the model's context window (pre-check)
├── GenerationFailed          the generation could not be finished; `.partial` holds what arrived
│   ├── StreamStalled         no bytes for `Policy.idle_timeout` seconds, or past `Policy.deadline`
│   ├── StreamIncomplete      the connection closed or broke before `message_stop`
│   ├── StreamProtocolError   malformed SSE or JSON, events out of order
│   │   └── ToolInputInvalid  a tool call's input is not JSON (also a ValueError, as the SDK's)
│   ├── ServerError           the server kept reporting a transient error (overloaded, 5xx)
│   └── ResumeRejected        the server refused the request that would continue the generation
└── JournalError              the journal could not be read or written
```

HTTP errors that are not worth retrying (400, 401, 403, 404, 413, ...) are raised as the SDK's own
exception classes (`anthropic.BadRequestError`, ...), so code that already catches them keeps working.

Messages are one sentence: what happened, and what was kept. They never contain an API key or an
auth header: longcall never formats request headers into any message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anthropic.types import Message

    from ._record import Attempt


class LongcallError(Exception):
    """The root of every exception longcall raises itself."""


class InvalidRequest(LongcallError, ValueError):
    """The request's parameters are wrong; nothing was sent."""


class ContextWindowExceeded(InvalidRequest):
    """The input plus `max_tokens` does not fit the model's context window; nothing was sent."""

    def __init__(self, message: str, *, input_tokens: int, max_tokens: int, context_window: int) -> None:
        super().__init__(message)
        self.input_tokens = input_tokens
        self.max_tokens = max_tokens
        self.context_window = context_window


class GenerationFailed(LongcallError):
    """A generation could not be finished.

    Attributes:
        partial: the `anthropic.types.Message` stitched from everything received, or None if
            nothing arrived. Its `stop_reason` is None.
        attempts: the record of every request made for this call.
        cause: the last underlying failure (an SDK or transport exception, or None).
    """

    def __init__(
        self,
        message: str,
        *,
        partial: Message | None = None,
        attempts: list[Attempt] | None = None,
        cause: BaseException | None = None,
        call_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.partial = partial
        self.attempts = attempts or []
        self.cause = cause
        self.call_id = call_id

    def __reduce__(self) -> tuple[Any, ...]:  # keep pickling working with keyword-only fields
        return (_rebuild, (type(self), str(self), self.partial, self.attempts, self.cause, self.call_id))


def _rebuild(cls: type[GenerationFailed], *args: Any) -> GenerationFailed:
    message, partial, attempts, cause, call_id = args
    return cls(message, partial=partial, attempts=attempts, cause=cause, call_id=call_id)


class StreamStalled(GenerationFailed):
    """No bytes arrived for `Policy.idle_timeout` seconds, or `Policy.deadline` passed."""


class StreamIncomplete(GenerationFailed):
    """The stream ended or broke before `message_stop`."""


class StreamProtocolError(GenerationFailed):
    """The server sent something that is not a valid Messages API event stream."""


class ServerError(GenerationFailed):
    """The server kept reporting a transient error (overloaded, rate limited, 5xx)."""


class ResumeRejected(GenerationFailed):
    """The server refused the request that would continue a broken generation."""


class JournalError(LongcallError):
    """The journal could not be opened, read or written."""


class ToolInputInvalid(StreamProtocolError, ValueError):
    """A tool call's streamed input is not valid JSON; a `ValueError` too, as the SDK raises one."""
