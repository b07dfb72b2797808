"""longcall's exceptions, and the SDK's classes they also are.

```
LongcallError
├── InvalidRequest            bad parameters, found before anything was sent (also a ValueError)
│   └── ContextWindowExceeded input + max_tokens over the model's context window (pre-check)
├── GenerationFailed          the generation could not be finished; `.partial` holds what arrived
│   ├── RequestRejected       the server refused the request itself (HTTP 400, 401, 403, 404, 413, ...)
│   ├── StreamStalled         no bytes for `Policy.idle_timeout` seconds, or past `Policy.deadline`
│   ├── StreamIncomplete      the connection closed or broke before `message_stop`
│   ├── StreamProtocolError   malformed SSE or JSON, events out of order, a body that is no stream
│   │   └── ToolInputInvalid  a tool call's input is not JSON (also a ValueError, as the SDK's)
│   ├── ServerError           the server kept reporting a transient error (overloaded, 5xx, 429)
│   └── ResumeRejected        the server refused the request that would continue the generation
└── JournalError              the journal could not be read or written
```

Through a wrapped client (and the middleware), a `GenerationFailed` is also an instance of the
exception the SDK would have raised for the last failure, so `except anthropic.RateLimitError:` and
friends keep working. The pairs (built once per pair by `with_sdk_class`):

```
last failure                                  SDK class (also)              longcall class
HTTP 429 / 529 / 5xx, retries spent           RateLimitError, OverloadedError,   ServerError
                                              InternalServerError, ...
HTTP 400 / 401 / 403 / 404 / 413 ...          BadRequestError, ...          RequestRejected
                                                                            (ResumeRejected on a resume)
`error` event in an HTTP 200 stream           OverloadedError (overloaded_error), RateLimitError
                                              (rate_limit_error), InternalServerError (api_error),
                                              else APIStatusError; status_code is 200
connection refused, reset, closed early       APIConnectionError            StreamIncomplete
no bytes for the idle timeout, deadline       APITimeoutError               StreamStalled
malformed stream, non-stream body             (none)                        StreamProtocolError
```

Secrets: the SDK's exceptions hold the request, and its headers hold the API key. Every exception
longcall raises holds a copy of the request and response without credential headers (`x-api-key`,
`authorization`, `proxy-authorization`, `cookie`), in `.request`, `.response` and `.cause`, so
their `repr`, `str` and pickles carry no key.

Messages are one sentence: what happened, and what was kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anthropic
import httpx2

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
        cause: the last underlying failure (an SDK or transport exception, or None), holding a
            copy of its request and response without credential headers.
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
        self.cause = scrub_error(cause) if cause is not None else None  # no key in reprs or pickles
        self.call_id = call_id

    def __reduce__(self) -> tuple[Any, ...]:  # keep pickling working with keyword-only fields
        cause = _Portable(self.cause) if self.cause is not None else None
        return (_rebuild, (type(self), str(self), self.partial, self.attempts, cause, self.call_id))


def _rebuild(cls: type[GenerationFailed], *args: Any) -> GenerationFailed:
    message, partial, attempts, cause, call_id = args
    return cls(message, partial=partial, attempts=attempts, cause=cause, call_id=call_id)


class RequestRejected(GenerationFailed):
    """The server refused the request itself (an HTTP 4xx that retrying cannot fix); nothing was
    generated. Also the SDK's class for that status (`anthropic.BadRequestError`, ...)."""


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


# -- the SDK's classes, and no secrets ----------------------------------------------------------------

SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})


def scrub_request(request: httpx2.Request) -> httpx2.Request:
    """A copy of `request` without its credential headers (and without its body stream)."""
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in SECRET_HEADERS]
    return httpx2.Request(request.method, request.url, headers=headers)


def scrub_response(response: httpx2.Response) -> httpx2.Response:
    """A copy of `response` whose request has no credential headers; the body is kept if it was read."""
    try:
        content = response.content
    except httpx2.ResponseNotRead:
        content = b""
    request = scrub_request(response.request) if _has_request(response) else None
    return httpx2.Response(
        response.status_code, headers=response.headers.multi_items(), content=content, request=request
    )


def _has_request(response: httpx2.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises when the response has none
    except RuntimeError:
        return False
    return True


def scrub_error(error: BaseException) -> BaseException:
    """`error` again (same class, same message), holding scrubbed copies of any request or response
    it keeps (SDK exceptions keep both; httpx's keep the request)."""
    state = getattr(error, "__dict__", None)
    if not state or not any(isinstance(v, (httpx2.Request, httpx2.Response)) for v in state.values()):
        return error
    clean = error.__class__.__new__(error.__class__)
    clean.args = error.args
    clean.__dict__.update(_scrubbed_state(state))
    return clean


def _scrubbed_state(state: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state.items():
        if isinstance(value, httpx2.Response):
            value = scrub_response(value)
        elif isinstance(value, httpx2.Request):
            value = scrub_request(value)
        out[key] = value
    response = out.get("response")
    if isinstance(response, httpx2.Response) and "request" in out and _has_request(response):
        out["request"] = response.request  # one scrubbed request, as in the SDK's exception
    return out


_COMBINED: dict[tuple[type[GenerationFailed], type[anthropic.APIError]], type[GenerationFailed]] = {}


def combined_class(ours: type[GenerationFailed], sdk: type[anthropic.APIError]) -> type[GenerationFailed]:
    """The class that is both `ours` and `sdk` (one per pair, built once), named after both, as
    tracebacks show it: `longcall._errors.ServerError[RateLimitError]`."""
    key = (ours, sdk)
    cls = _COMBINED.get(key)
    if cls is None:
        name = f"{ours.__name__}[{sdk.__name__}]"
        cls = type(
            name,
            (ours, sdk),
            {
                "__module__": ours.__module__,
                "__qualname__": name,
                "__reduce__": _reduce_combined,
                "__str__": lambda self: Exception.__str__(self),
                "__doc__": f"{ours.__doc__}\n\nAlso an `anthropic.{sdk.__name__}`.",
            },
        )
        _COMBINED[key] = cls
    return cls


def _reduce_combined(self: GenerationFailed) -> tuple[Any, ...]:
    ours = next(c for c in type(self).__mro__[1:] if issubclass(c, GenerationFailed))
    sdk = next(c for c in type(self).__mro__[1:] if issubclass(c, anthropic.APIError))
    state = dict(self.__dict__)
    if state.get("cause") is not None:
        state["cause"] = _Portable(state["cause"])
    return (_rebuild_combined, (ours, sdk, str(self), state))


class _Portable:
    """Pickles an exception without calling its `__init__`, whose signature need not match its args."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        error = self.error
        return (_rebuild_error, (type(error), error.args, dict(getattr(error, "__dict__", {}))))


def _rebuild_error(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


def _rebuild_combined(
    ours: type[GenerationFailed], sdk: type[anthropic.APIError], message: str, state: dict[str, Any]
) -> GenerationFailed:
    cls = combined_class(ours, sdk)
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


def with_sdk_class(error: GenerationFailed, sdk_error: anthropic.APIError) -> GenerationFailed:
    """`error` as an instance of both its own class and `sdk_error`'s, with the SDK's attributes
    (`status_code`, `response`, `request_id`, `body`, ...) taken from `sdk_error`, scrubbed."""
    ours = type(error)
    while ours.__module__ != __name__ or ours in _COMBINED.values():  # a combined class: its own part
        ours = ours.__mro__[1]
    cls = combined_class(ours, type(sdk_error))
    combined = cls.__new__(cls)
    Exception.__init__(combined, str(error))
    combined.__dict__.update(_scrubbed_state(sdk_error.__dict__))
    combined.partial = error.partial
    combined.attempts = error.attempts
    combined.cause = scrub_error(error.cause) if error.cause is not None else None
    combined.call_id = error.call_id
    combined.__cause__ = error.__cause__
    combined.__traceback__ = error.__traceback__
    return combined
