"""Rate limits as the API applies them: token buckets per minute, with its headers and its 429. No I/O.

The API's limits are continuously replenished buckets (not fixed windows): a limit of 60 requests per
minute gives back one request a second, up to 60 held at once. Three buckets are kept: requests,
input tokens and output tokens. A request is admitted when a request and its input tokens are there
and the output bucket is not empty; its output tokens are taken when its reply is planned (the
emulator knows them then), which may run the output bucket below zero, as the API's estimate-then-
settle does. A refused request costs nothing.

Every answer to POST /v1/messages carries `anthropic-ratelimit-{requests,input-tokens,output-tokens}-
{limit,remaining,reset}` (reset: RFC 3339, when the bucket is full again) while limits are set; a 429
also carries `retry-after` (whole seconds until the request would be admitted).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

KINDS = ("requests", "input-tokens", "output-tokens")
_DOCS = "https://docs.claude.com/en/api/rate-limits"


@dataclass(frozen=True)
class RateLimits:
    """Per-minute limits for POST /v1/messages; None leaves that kind unlimited (and without headers).

    Args:
        requests_per_minute: requests admitted per minute.
        input_tokens_per_minute: input tokens (the emulator's count) admitted per minute.
        output_tokens_per_minute: output tokens generated per minute.
    """

    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "input_tokens_per_minute", "output_tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"RateLimits.{name} must be > 0, not {value}")

    def per_kind(self) -> dict[str, int | None]:
        return {
            "requests": self.requests_per_minute,
            "input-tokens": self.input_tokens_per_minute,
            "output-tokens": self.output_tokens_per_minute,
        }


@dataclass
class _Bucket:
    capacity: int
    level: float
    updated: float

    def refill(self, now: float) -> None:
        rate = self.capacity / 60
        self.level = min(self.capacity, self.level + (now - self.updated) * rate)
        self.updated = now

    def seconds_until(self, amount: float) -> float:
        return max(0.0, (amount - self.level) / (self.capacity / 60))


class RateLimitExceeded(Exception):
    """A request would go over a limit: the 429's message, `retry-after` seconds and headers."""

    def __init__(self, message: str, retry_after: int, headers: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.headers = headers


@dataclass
class RateLimiter:
    """The buckets of one emulator. `now` is monotonic seconds; `wall` converts it to Unix time."""

    limits: RateLimits
    wall_offset: float = field(default_factory=lambda: time.time() - time.monotonic())
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def _refilled(self, now: float) -> dict[str, _Bucket]:
        for kind, capacity in self.limits.per_kind().items():
            if capacity is None:
                self._buckets.pop(kind, None)
                continue
            bucket = self._buckets.get(kind)
            if bucket is None or bucket.capacity != capacity:
                bucket = self._buckets[kind] = _Bucket(capacity, float(capacity), now)
            bucket.refill(now)
        return self._buckets

    def admit(self, input_tokens: int, now: float) -> list[tuple[str, str]]:
        """Take a request and its input tokens, or raise RateLimitExceeded (nothing taken)."""
        buckets = self._refilled(now)
        needs = {"requests": 1.0, "input-tokens": float(input_tokens), "output-tokens": 1.0}
        for kind, bucket in buckets.items():
            if needs[kind] > bucket.capacity:
                raise RateLimitExceeded(self._message(kind, bucket.capacity), 60, self.headers(now))
            if bucket.level < needs[kind]:
                wait = math.ceil(bucket.seconds_until(needs[kind]))
                raise RateLimitExceeded(self._message(kind, bucket.capacity), max(1, wait), self.headers(now))
        for kind, bucket in buckets.items():
            if kind != "output-tokens":
                bucket.level -= needs[kind]
        return self.headers(now)

    def settle_output(self, output_tokens: int, now: float) -> list[tuple[str, str]]:
        """Take the output tokens of an admitted request's reply; the headers after it."""
        buckets = self._refilled(now)
        if "output-tokens" in buckets:
            buckets["output-tokens"].level -= output_tokens
        return self.headers(now)

    def headers(self, now: float) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = []
        for kind, bucket in self._refilled(now).items():
            full_at = now + bucket.seconds_until(bucket.capacity) + self.wall_offset
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(full_at)))
            headers += [
                (f"anthropic-ratelimit-{kind}-limit", str(bucket.capacity)),
                (f"anthropic-ratelimit-{kind}-remaining", str(max(0, math.floor(bucket.level)))),
                (f"anthropic-ratelimit-{kind}-reset", reset),
            ]
        return headers

    @staticmethod
    def _message(kind: str, capacity: int) -> str:
        what = kind.replace("-", " ")
        return (
            f"This request would exceed your organization's rate limit of {capacity:,} {what} per minute. "
            f"For details, refer to: {_DOCS}. You can see the response headers for current usage. Please "
            "reduce the prompt length or the maximum tokens requested, or try again later."
        )
