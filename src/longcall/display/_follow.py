"""What both views share: the call being followed, its figures, and the Observer methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._engine import Generation, LongcallMessage
from .._record import Attempt
from ._format import _CHARS_PER_TOKEN, estimate_tokens


class _Follower:
    """What both views share: the call being followed, counts, and the Observer methods."""

    journaled = True  # False when no journal records the call: then no `longcall resume` hint

    # Why a finished call stopped, when that is worth a line (the CLI says it in its flags' words).
    stop_note: Callable[[LongcallMessage, int], str | None] = staticmethod(lambda message, output: None)

    def __init__(
        self,
        *,
        model: str,
        max_tokens: int | None,
        budget: int | None,
        clock: Callable[[], float],
        host: str = "",
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.budget = budget
        self.clock = clock
        self.host = host
        self.gen: Generation | None = None
        self.call_id: str | None = None
        self.started = clock()
        self.ended: float | None = None
        self.first_token: float | None = None
        self.chars = 0  # text, thinking and tool input received (seeded text included)
        self.deltas = 0
        self.final: dict[str, Any] | None = None  # the message as the API's JSON, once the call ended
        self.error: BaseException | None = None
        self._seeded_tokens = 0
        # Calibration: the server's output tokens for the attempts that ended, and the characters
        # those attempts brought; the current attempt is estimated at their ratio.
        self._settled_tokens = 0
        self._settled_chars = 0
        self._chars_per_token = _CHARS_PER_TOKEN
        self._calibrated = False
        self._failed_at: float | None = None  # clock time the last failed attempt ended

    # hooks (the hot path: append and count, nothing else)

    def hooks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_text": self.on_text,
            "on_thinking": self.on_thinking,
            "on_tool_input": self.on_tool_input,
            "on_attempt": self.on_attempt,
        }

    def _count(self, text: str) -> None:
        if self.first_token is None:
            self.first_token = self.clock()
        self.chars += len(text)
        self.deltas += 1

    def on_text(self, text: str) -> None:
        self._count(text)

    def on_thinking(self, text: str) -> None:
        self._count(text)

    def on_tool_input(self, text: str) -> None:
        self._count(text)

    def on_attempt(self, attempt: Attempt) -> None:
        output = int(attempt.usage.get("output_tokens") or 0)
        chars = self.chars - self._settled_chars
        # The server's count, or the model's own count of what arrived (the count_tokens endpoint).
        source = getattr(attempt, "usage_source", "estimated" if attempt.usage_estimated else "server")
        if output > 0 and source in ("server", "counted") and chars > 0:
            self._chars_per_token = chars / output
            self._calibrated = True
        self._settled_tokens += output
        self._settled_chars = self.chars
        self._failed_at = self.clock() if attempt.error else None

    # Observer

    def call_started(self, call: Generation) -> None:
        self.gen = call
        self.call_id = call.call_id
        self.model = str(call.params.get("model") or self.model)
        self.max_tokens = call.max_tokens
        self.budget = call.policy.max_output_tokens_total

    def checkpoint(self, call: Generation) -> None:
        pass

    def attempt_ended(self, call: Generation, attempt: Attempt) -> None:
        pass

    def call_ended(
        self, call: Generation, message: LongcallMessage | None, error: BaseException | None
    ) -> None:
        self.ended = self.clock()
        self.final = call.acc.message_dict()
        self.error = error

    # figures

    @property
    def attempts(self) -> list[Attempt]:
        return self.gen.attempts if self.gen is not None else []

    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else self.clock()) - self.started

    def tokens(self) -> int:
        """Output tokens so far: the server's count for ended attempts, an estimate for the current one."""
        current = self.chars - self._settled_chars
        if self._settled_tokens or self._calibrated:
            return self._settled_tokens + round(current / self._chars_per_token)
        return estimate_tokens(self.chars, self.deltas, self._chars_per_token)

    def tokens_estimated(self) -> bool:
        return self.final is None and self.chars > self._settled_chars

    def limit(self) -> int | None:
        return self.budget or self.max_tokens

    def rate(self) -> float:
        if self.first_token is None:
            return 0.0
        seconds = (self.ended if self.ended is not None else self.clock()) - self.first_token
        return (self.tokens() - self._seeded_tokens) / seconds if seconds > 0.05 else 0.0

    def seed(self, text: str) -> None:
        """Text received before (a journaled call being resumed): counted as output, not in the rate."""
        self.chars += len(text)
        self._seeded_tokens = self.tokens()

    def usage(self) -> dict[str, Any]:
        """Usage so far: the server's figures for finished requests, an estimate for the current one."""
        if self.final is not None:
            return dict(self.final.get("usage") or {})
        gen = self.gen
        if gen is None:
            return {"output_tokens": self.tokens()}
        usage = gen.acc.total_usage()
        usage["output_tokens"] = max(int(usage.get("output_tokens") or 0), self.tokens())
        return usage

    def waiting_note(self) -> str:
        """While a failed attempt waits for the next: what failed, the host, and a countdown."""
        attempts = self.attempts
        if not attempts or self.ended is not None:
            return ""
        last = attempts[-1]
        if last.error and last.ended_at is not None:
            host = f" ({self.host})" if self.host else ""
            delay = getattr(self.gen, "next_delay", None)
            if delay and self._failed_at is not None:
                left = max(0.0, delay - (self.clock() - self._failed_at))
                when = f"{left:.0f}" if left >= 10 else f"{left:.1f}"
                return f"retrying{host} in {when} s after: {last.error}"
            return f"retrying{host} after: {last.error}"
        if len(attempts) >= 2 and last.bytes_received == 0 and attempts[-2].error:
            verb = "resuming" if last.kind in ("resume", "continue") else "retrying"
            return f"{verb} after: {attempts[-2].error}"
        return ""
