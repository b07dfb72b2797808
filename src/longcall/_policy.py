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

    Attributes:
        max_attempts: requests one call may make in all: the first, retries and resumes share it.
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
            until the model stops by itself or `max_output_tokens_total` is spent.
        max_output_tokens_total: the output budget over all continuations; None for no limit.
        cache_resume: mark the re-sent prompt with a `cache_control` breakpoint in continuation requests,
            so later continuations read it from the prompt cache.
        clamp_max_tokens: a `max_tokens` above the model's largest output is lowered to it (with a
            warning) instead of raising `InvalidRequest`.
        precheck: count the input tokens with the API before sending and fail early when input plus
            `max_tokens` exceeds the context window.
        checkpoint_interval: seconds between journal checkpoints of a streaming generation.
        checkpoint_bytes: checkpoint sooner once this many new bytes of the stream arrived (64 KB of
            events carry about 3 KB of text).
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
    cache_resume: bool = True
    clamp_max_tokens: bool = False
    precheck: bool = False
    checkpoint_interval: float = 1.0
    checkpoint_bytes: int = 65536

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"Policy.max_attempts must be at least 1, not {self.max_attempts}")
        if self.strategy not in ("auto", "prefill", "instruction"):
            raise ValueError(
                f"Policy.strategy must be 'auto', 'prefill' or 'instruction', not {self.strategy!r}"
            )
        for name in ("backoff_initial", "backoff_max", "idle_timeout", "deadline", "checkpoint_interval"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Policy.{name} must not be negative, not {value}")
        if self.max_output_tokens_total is not None and self.max_output_tokens_total < 1:
            raise ValueError("Policy.max_output_tokens_total must be at least 1")

    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def backoff(self, retry: int, random: float) -> float:
        """Seconds to wait before retry number `retry` (1-based); `random` is uniform in [0, 1)."""
        wait: float = min(self.backoff_max, self.backoff_initial * 2 ** (retry - 1))
        return wait * (0.5 + random / 2) if self.jitter else wait
