"""What a failure means: retry, resume, or give up. One place that knows SDK and transport errors."""

from __future__ import annotations

from dataclasses import dataclass

import anthropic
import httpx2

from ._accumulate import InvalidToolJSON, ProtocolViolation, ServerReportedError

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
RETRY_ERROR_TYPES = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})
# A 429 that says a spend limit was reached does not clear in seconds: retrying only burns the budget.
FINAL_ERROR_CODES = frozenset(
    {
        "contract_spend_limit_reached",
        "enforced_spend_limit_reached",
        "linked_organization_spend_limit_reached",
        "linked_organization_billing_unavailable",
        "organization_on_hold",
    }
)


class DeadlinePassed(Exception):
    """Policy.deadline passed while the stream was still going."""


@dataclass(frozen=True)
class Failure:
    """A classified failure.

    kind: "http" (an error status before the stream began), "server" (an `error` event in the
    stream), "network" (connection refused, reset or broken), "stall" (no bytes for too long, or
    the deadline passed), "incomplete" (the stream ended before `message_stop`), "protocol"
    (malformed stream), "tool_json" (a tool input that is not JSON), "unexpected" (anything else).
    transient: worth another request. Not transient: HTTP errors other than 408, 409, 429 and 5xx
    (and those too when the server says `x-should-retry: false` or a spend limit was reached),
    error events other than overloaded/api/rate-limit/timeout, protocol errors, the deadline.
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


def _error_type_and_code(body: object) -> tuple[str, str]:
    """`error.type` and `error.details.error_code` (or `error.error_code`) of an API error body."""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    assert isinstance(error, dict)
    details = error.get("details")
    code = details.get("error_code") if isinstance(details, dict) else None
    return str(error.get("type") or ""), str(code or error.get("error_code") or "")


def classify(error: BaseException | None) -> Failure:
    """Classify what ended an attempt; `None` means the stream ended without `message_stop`."""
    if error is None:
        return Failure("incomplete", True, "the stream ended before message_stop")
    if isinstance(error, DeadlinePassed):
        return Failure("stall", False, "the call's deadline passed")
    if isinstance(error, ServerReportedError):
        kind = str(error.error.get("type") or "error")
        return Failure("server", kind in RETRY_ERROR_TYPES, f"the server sent an {kind} event: {error}")
    if isinstance(error, InvalidToolJSON):
        return Failure("tool_json", False, f"the model sent tool input that is not JSON: {error}")
    if isinstance(error, ProtocolViolation):
        return Failure("protocol", False, f"the server sent an invalid event stream: {error}")
    if isinstance(error, anthropic.APIStatusError):
        status = error.status_code
        error_type, error_code = _error_type_and_code(error.body)
        transient = status in RETRY_STATUSES or error_type in RETRY_ERROR_TYPES
        message = f"HTTP {status}: {error.message}"
        headers = error.response.headers
        if error_code in FINAL_ERROR_CODES:
            transient = False
            message = f"HTTP {status} ({error_code}, not retried): {error.message}"
        elif headers.get("x-should-retry") == "false":  # the server's own word wins, as in the SDK
            transient = False
            message = f"HTTP {status} (the server said x-should-retry: false): {error.message}"
        elif headers.get("x-should-retry") == "true":
            transient = True
        return Failure("http", transient, message, _retry_after(headers), status)
    if isinstance(error, (httpx2.TimeoutException, anthropic.APITimeoutError)):
        if isinstance(error, (httpx2.ConnectTimeout, httpx2.PoolTimeout)):
            return Failure("network", True, "the connection timed out")
        return Failure("stall", True, "no bytes arrived within the idle timeout")
    if isinstance(error, (httpx2.TransportError, anthropic.APIConnectionError, ConnectionError)):
        return Failure("network", True, f"the connection failed ({type(error).__name__}: {error})")
    if isinstance(error, (httpx2.StreamError,)):
        return Failure("network", True, f"the stream broke ({type(error).__name__})")
    return Failure("unexpected", False, f"{type(error).__name__}: {error}")
