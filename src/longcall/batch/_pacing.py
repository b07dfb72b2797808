"""How fast the streaming runner sends: adaptive concurrency, pauses, rate-limit headers. Pure.

`Concurrency` is additive-increase / multiplicative-decrease, as TCP does it:
- it starts at `initial` and, while requests succeed with the limit in use (as many in flight as
  allowed), grows by one per success (doubling per round trip) until the first throttle, then by one
  per `limit` successes;
- a throttle (HTTP 429 or 529, an `overloaded_error` or `rate_limit_error` event) halves it for
  everyone, once per "epoch": requests started before the last decrease cannot decrease it again, so
  one burst of 429s halves it once, not once per request;
- it never leaves [minimum, maximum].

`Pacer` decides when the next request may go: not before a `retry-after` pause that any request
received (the whole runner waits), and not while the `anthropic-ratelimit-*` headers of the latest
response say a limit is spent (then until its reset time). Times are passed in; nothing here sleeps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

RATE_LIMIT_KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
_PREFIX = "anthropic-ratelimit-"


class Concurrency:
    """The number of requests allowed in flight, adapted to what the server accepts."""

    def __init__(self, initial: int, *, minimum: int = 1, maximum: int | None = None) -> None:
        self.maximum = max(initial, maximum if maximum is not None else initial)
        self.minimum = max(1, min(minimum, initial))
        self.value = float(initial)
        self.threshold = math.inf  # slow start until the first throttle
        self.epoch = 0
        self.lowest = initial
        self.highest = initial

    @property
    def limit(self) -> int:
        return int(self.value)

    def succeeded(self, in_flight: int) -> None:
        """A request finished well; `in_flight` counts it. Grow only when the limit was in use."""
        if in_flight < self.limit or self.value >= self.maximum:
            return
        step = 1.0 if self.value < self.threshold else 1.0 / self.value
        self.value = min(float(self.maximum), self.value + step)
        self.highest = max(self.highest, self.limit)

    def throttled(self, started_epoch: int) -> bool:
        """The server pushed back on a request started in `started_epoch`. True if this decreased."""
        if started_epoch < self.epoch:
            return False
        self.value = max(float(self.minimum), math.floor(self.value / 2))
        self.threshold = self.value
        self.epoch += 1
        self.lowest = min(self.lowest, self.limit)
        return True


def _reset_at(value: str, now_wall: float) -> float | None:
    """An RFC 3339 reset time as epoch seconds (None if unreadable)."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        try:
            return now_wall + float(value)
        except ValueError:
            return None


@dataclass
class Limit:
    kind: str
    limit: int
    remaining: int
    reset_at: float | None  # epoch seconds


def read_rate_limits(headers: Mapping[str, str], now_wall: float) -> list[Limit]:
    """The `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
    headers of a response."""
    limits = []
    for kind in RATE_LIMIT_KINDS:
        remaining = headers.get(f"{_PREFIX}{kind}-remaining")
        if remaining is None:
            continue
        try:
            limit = int(headers.get(f"{_PREFIX}{kind}-limit") or 0)
            left = int(remaining)
        except ValueError:
            continue
        reset = headers.get(f"{_PREFIX}{kind}-reset")
        limits.append(Limit(kind, limit, left, _reset_at(reset, now_wall) if reset else None))
    return limits


@dataclass
class Pacer:
    """When the next request may be sent (wall-clock epoch seconds)."""

    # A request kind is spent when fewer than this share of its limit is left (at least one unit).
    reserve: float = 0.01
    paused_until: float = 0.0
    why: str = ""
    last_limits: list[Limit] = field(default_factory=list)

    def retry_after(self, seconds: float, now_wall: float) -> None:
        """A `retry-after`: nobody sends until it has passed."""
        until = now_wall + max(0.0, seconds)
        if until > self.paused_until:
            self.paused_until = until
            self.why = f"the server asked to wait {seconds:g} s"

    def response(self, headers: Mapping[str, str], now_wall: float) -> None:
        """Read a response's rate-limit headers; pause until the reset of any limit that is spent."""
        limits = read_rate_limits(headers, now_wall)
        if not limits:
            return
        self.last_limits = limits
        for limit in limits:
            spent = limit.remaining <= max(0, math.ceil(limit.limit * self.reserve) - 1)
            if spent and limit.reset_at is not None and limit.reset_at > self.paused_until:
                self.paused_until = limit.reset_at
                self.why = f"the {limit.kind} rate limit ({limit.limit:,}) is spent until its reset"

    def wait(self, now_wall: float) -> float:
        """Seconds to wait before sending (0: send now)."""
        return max(0.0, self.paused_until - now_wall)


def spend_limit_message(status: int, body: object) -> str | None:
    """The API's message if this error says the organization's spend limit is reached, else None.

    The API says so with a 429 `rate_limit_error` whose `error.details.error_code` is
    `enforced_spend_limit_reached` (no `retry-after`: it lasts until the month turns or the limit is
    raised), or a 400 whose message starts "You have reached your specified ... API usage limits".
    """
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    message = str(error.get("message") or "")
    details = error.get("details")
    code = details.get("error_code") if isinstance(details, dict) else None
    if status == 429 and code == "enforced_spend_limit_reached":
        return message or "the organization's spend limit is reached"
    if status == 400 and message.startswith("You have reached your specified") and "usage limits" in message:
        return message
    return None
