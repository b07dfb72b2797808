"""`Policy`: every knob of retrying, resuming and continuing, in one immutable object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Strategy = Literal["auto", "prefill", "instruction"]


@dataclass(frozen=True)
class Policy:
    """How longcall retries, resumes and continues a generation.

    Give one to `longcall.wrap(client, policy=...)`, and override fields per call with
    `create(..., longcall_policy=Policy(...))` or `policy.replace(...)`.

    Two budgets, kept apart: failures spend `max_attempts`; continuing past `max_tokens` spends
    `max_segments` and `max_output_tokens_total`. A long answer continued over many segments never
    uses up the retries a flaky network needs, and a flaky network never cuts a continuation short.

    Attributes:
        max_attempts: the failure budget: a call makes at most `max_attempts - 1` retries and resumes in
            all (over every segment), so 1 means never retry.
        backoff_initial: seconds before the first retry; doubles each time, up to `backoff_max`.
        backoff_max: the cap on one wait between attempts.
        jitter: spread waits randomly over [wait/2, wait] so many clients do not retry in step.
        idle_timeout: seconds with no bytes at all (pings included) before the stream counts as stalled;
            it is aborted and resumed. None waits forever.
        connect_timeout: seconds to wait for the connection.
        deadline: seconds for the whole call, all attempts included; None for no limit.
        resume: continue a stream broken after content arrived from what was received (True), or raise
            `GenerationFailed` with the partial message (False).
        strategy: how to continue: "prefill" (the received text as the start of the assistant turn),
            "instruction" (the received text, then a user turn asking to continue), or "auto" (from the
            model catalog; unknown models try prefill and switch on the API's refusal).
        continue_on_max_tokens: when the answer stops at `max_tokens`, keep going in further requests
            (segments) until the model stops by itself or a continuation budget is spent; the message
            then says which (`LongcallMessage.stopped_by`).
        max_output_tokens_total: a cap on the output tokens of the whole call, every segment, retry and
            resume included: no request asks for more than what is left of it. None for no cap.
        max_segments: the most segments (the first request and its continuations past `max_tokens`)
            one call may chain; retries and resumes within a segment do not count.
        cache_resume: mark the re-sent prompt with a `cache_control` breakpoint in continuation requests,
            so later continuations read it from the prompt cache.
        clamp_max_tokens: a `max_tokens` above the model's largest output is lowered to it (with a
            warning) instead of raising `InvalidRequest`.
        precheck: count the input tokens with the API before sending and fail early when input plus
            `max_tokens` exceeds the context window.
        checkpoint_interval: seconds between journal checkpoints of a streaming generation.
        checkpoint_bytes: checkpoint sooner once this many new bytes of the stream arrived (64 KB of
            events carry about 3 KB of text).
        max_event_bytes: the largest single SSE line or event accepted; a larger one fails the attempt
            with `StreamProtocolError` instead of growing memory without end (the largest events the
            API sends, whole server tool results, stay far below the default 64 MiB).
    """

    max_attempts: int = 8
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    jitter: bool = True
    idle_timeout: float | None = 90.0
    connect_timeout: float = 10.0
    deadline: float | None = None
    resume: bool = True
    strategy: Strategy = "auto"
    continue_on_max_tokens: bool = False
    max_output_tokens_total: int | None = None
    max_segments: int = 32
    cache_resume: bool = True
    clamp_max_tokens: bool = False
    precheck: bool = False
    checkpoint_interval: float = 1.0
    checkpoint_bytes: int = 65536
    max_event_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ValueError(f"Policy.max_attempts must be a whole number, not {self.max_attempts!r}")
        if self.max_attempts < 1:
            raise ValueError(f"Policy.max_attempts must be at least 1, not {self.max_attempts}")
        if self.strategy not in ("auto", "prefill", "instruction"):
            raise ValueError(
                f"Policy.strategy must be 'auto', 'prefill' or 'instruction', not {self.strategy!r}"
            )
        # Zero is as wrong as negative here: a zero idle timeout stalls every stream at once, a zero
        # backoff retries an overloaded server in a tight loop, a zero deadline never sends anything.
        for name in (
            "backoff_initial",
            "backoff_max",
            "idle_timeout",
            "connect_timeout",
            "deadline",
            "checkpoint_interval",
        ):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"Policy.{name} must be a positive number of seconds, not {value}")
        for name in ("max_output_tokens_total", "max_segments", "checkpoint_bytes", "max_event_bytes"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"Policy.{name} must be a positive whole number, not {value!r}")

    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def backoff(self, retry: int, random: float) -> float:
        """Seconds to wait before retry number `retry` (1-based); `random` is uniform in [0, 1)."""
        wait: float = min(self.backoff_max, self.backoff_initial * 2 ** (retry - 1))
        return wait * (0.5 + random / 2) if self.jitter else wait
