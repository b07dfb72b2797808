"""What a failure means: retry, resume, or give up. One place that knows SDK and transport errors."""

from __future__ import annotations

from dataclasses import dataclass

import anthropic
import httpx2

from ._accumulate import ProtocolViolation, ServerReportedError

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
RETRY_ERROR_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})


class DeadlinePassed(Exception):
    """Policy.deadline passed while the stream was still going."""


@dataclass(frozen=True)
class Failure:
    """A classified failure.

    kind: "http" (an error status before the stream began), "server" (an `error` event in the
    stream), "network" (connection refused, reset or broken), "stall" (no bytes for too long),
    "incomplete" (the stream ended before `message_stop`), "protocol" (malformed stream).
    """

    kind: str
    transient: bool
    message: str
    retry_after: float | None = None
    status: int | None = None


def _retry_after(headers: httpx2.Headers | None) -> float | None:
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue  # an HTTP date: rare from this API; fall back to our own backoff
        if 0 <= seconds <= 600:
            return seconds
    return None


def classify(error: BaseException | None) -> Failure:
    """Classify what ended an attempt; `None` means the stream ended without `message_stop`."""
    if error is None:
        return Failure("incomplete", True, "the stream ended before message_stop")
    if isinstance(error, DeadlinePassed):
        return Failure("stall", False, "the call's deadline passed")
    if isinstance(error, ServerReportedError):
        kind = str(error.error.get("type") or "error")
        return Failure("server", kind in RETRY_ERROR_TYPES, f"the server sent an {kind} event: {error}")
    if isinstance(error, ProtocolViolation):
        return Failure("protocol", False, f"the server sent an invalid event stream: {error}")
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        body = error.body
        error_type = ""
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error_type = str(body["error"].get("type") or "")
        transient = status in RETRY_STATUSES or error_type in RETRY_ERROR_TYPES
        return Failure(
            "http", transient, f"HTTP {status}: {error.message}", _retry_after(error.response.headers), status
        )
    if isinstance(error, (httpx2.TimeoutException, anthropic.APITimeoutError)):
        if isinstance(error, (httpx2.ConnectTimeout, httpx2.PoolTimeout)):
            return Failure("network", True, "the connection timed out")
        return Failure("stall", True, "no bytes arrived within the idle timeout")
    if isinstance(error, (httpx2.TransportError, anthropic.APIConnectionError, ConnectionError)):
        return Failure("network", True, f"the connection failed ({type(error).__name__}: {error})")
    if isinstance(error, (httpx2.StreamError,)):
        return Failure("network", True, f"the stream broke ({type(error).__name__})")
    return Failure("unexpected", False, f"{type(error).__name__}: {error}")
