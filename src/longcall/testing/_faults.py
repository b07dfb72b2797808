"""Faults the emulator injects into one request: HTTP errors, error events, drops, resets, stalls, pacing."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ._model import OVERLAPS

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
STATUSES = {error_type: status for status, error_type in ERROR_TYPES.items()}
MESSAGES = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of requests has exceeded your rate limit.",
    "api_error": "Internal server error",
    "overloaded_error": "Overloaded",
}


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one POST /v1/messages request. Every field is optional; combine freely.

    Args:
        status: reply with this HTTP error status and a real error body instead of a message. Takes
            precedence over every stream fault.
        error_type: the error body's `error.type`. Default: by status (529 overloaded_error, 429
            rate_limit_error, ...; other statuses api_error), or overloaded_error for an error event.
        message: the error body's `error.message`. Default: a fixed sentence per error type.
        retry_after: seconds, sent as the `retry-after` header of a status error.
        retry_after_ms: milliseconds, sent as the `retry-after-ms` header of a status error.
        error_after_events: after this many SSE events (message_start and ping count), send an `error`
            event and end the response cleanly. Non-streaming: the HTTP error for `error_type`.
        drop_after_bytes: after exactly this many body bytes (chunk framing not counted), shut the
            connection down without the terminating chunk: a clean close (FIN), as a proxy that gives up.
        reset_after_bytes: after exactly this many body bytes, reset the connection (RST: SO_LINGER 0,
            then close), as a network that breaks: the client's next read fails with ECONNRESET. 0
            resets right after the headers. The bytes before it reach the client first (on Linux the
            emulator waits until they are acknowledged), so `output_tokens_sent` is what it could see.
            With `drop_after_bytes` too, the smaller count acts (the reset on a tie).
        reset_before_status: reset the connection once the request is read, before the status line
            (the client sees ECONNRESET with no response at all). Takes precedence over every other
            field, `status` included.
        stall_after_events: after this many events, pause `stall_seconds`, then carry on.
            Non-streaming: pause before replying.
        stall_seconds: how long the stall lasts.
        tokens_per_second: pace the token deltas (non-streaming: wait output_tokens / rate).
        overlap: this request's continuation overlap: "none", "repeat_words" or "restart_sentence".

    A count past the end of the stream never fires.
    """

    status: int | None = None
    error_type: str | None = None
    message: str | None = None
    retry_after: float | None = None
    retry_after_ms: float | None = None
    error_after_events: int | None = None
    drop_after_bytes: int | None = None
    reset_after_bytes: int | None = None
    reset_before_status: bool = False
    stall_after_events: int | None = None
    stall_seconds: float = 0.0
    tokens_per_second: float | None = None
    overlap: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"Fault.status must be an HTTP error status (400-599), not {self.status}")
        for name in (
            "error_after_events",
            "drop_after_bytes",
            "reset_after_bytes",
            "stall_after_events",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Fault.{name} must be >= 0, not {value}")
        if self.stall_seconds < 0:
            raise ValueError(f"Fault.stall_seconds must be >= 0, not {self.stall_seconds}")
        if self.tokens_per_second is not None and self.tokens_per_second <= 0:
            raise ValueError(f"Fault.tokens_per_second must be > 0, not {self.tokens_per_second}")
        if self.overlap is not None and self.overlap not in OVERLAPS:
            raise ValueError(f"Fault.overlap must be one of {', '.join(OVERLAPS)}, not {self.overlap!r}")

    @classmethod
    def from_header(cls, value: str) -> Fault:
        """The fault in an `x-emulator-fault` header: a JSON object of Fault fields. ValueError if not."""
        try:
            fields = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"x-emulator-fault is not JSON: {exc}") from exc
        if not isinstance(fields, dict):
            raise ValueError("x-emulator-fault must be a JSON object of Fault fields")
        unknown = set(fields) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"x-emulator-fault has unknown fields: {', '.join(sorted(unknown))}")
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ValueError(f"x-emulator-fault: {exc}") from exc

    def http_error(self) -> tuple[int, str, str]:
        """(status, error type, message) of a status fault, or of an error event when not streaming."""
        if self.status is not None:
            error_type = self.error_type or ERROR_TYPES.get(self.status, "api_error")
            status = self.status
        else:
            error_type = self.error_type or "overloaded_error"
            status = STATUSES.get(error_type, 500)
        return status, error_type, self.message or MESSAGES.get(error_type, "Error")

    @property
    def cut_after_bytes(self) -> tuple[int, bool] | None:
        """(body bytes, reset?) of the cut that comes first, drop or reset; None without either."""
        cuts = [
            (count, reset)
            for count, reset in ((self.reset_after_bytes, True), (self.drop_after_bytes, False))
            if count is not None
        ]
        return min(cuts, key=lambda cut: cut[0]) if cuts else None

    @property
    def acts_per_event(self) -> bool:
        """Whether the fault needs the stream written event by event (error, stall or pacing)."""
        return (
            self.error_after_events is not None
            or self.stall_after_events is not None
            or self.tokens_per_second is not None
        )

    def event_error(self) -> tuple[str, str]:
        """(error type, message) of the `error` event."""
        error_type = self.error_type or "overloaded_error"
        return error_type, self.message or MESSAGES.get(error_type, "Error")

    def describe(self) -> str:
        """The fields set, as `name=value` joined by commas (for request logs)."""
        fields = [
            f"{f.name}={getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        ]
        return ",".join(fields) or "none"

    def retry_headers(self) -> list[tuple[str, str]]:
        headers = []
        if self.retry_after is not None:
            headers.append(("retry-after", f"{self.retry_after:g}"))
        if self.retry_after_ms is not None:
            headers.append(("retry-after-ms", f"{self.retry_after_ms:g}"))
        return headers
