"""The settings of a batch run, shared by the streaming runner and the Message Batches rounds."""

from __future__ import annotations

from dataclasses import dataclass

from .._policy import Policy

MAX_BATCH_REQUESTS = 100_000  # the Message Batches API's limits per batch
MAX_BATCH_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch.

    Args:
        via: "stream" (default: every request streamed from here, through longcall's engine) or
            "batches" (the Message Batches API, at half the price, in rounds).
        concurrency: requests in flight at the start (streaming).
        max_concurrency: the most requests in flight; adaptive concurrency grows up to it. Equal to
            `concurrency` (or `adaptive=False`) for a fixed number.
        min_concurrency: the fewest in flight however often the server pushes back.
        adaptive: grow while requests succeed, halve on 429/529 for everyone.
        requests_per_minute, tokens_per_minute: caps of this runner's own (tokens: input estimated
            from the request size, plus output as reported).
        policy: longcall's retry / resume / continuation policy for every request.
        continue_on_max_tokens: continue answers that stop at `max_tokens` (both modes).
        max_batch_requests, max_batch_bytes: split Message Batches within these (the API's limits).
        poll_initial, poll_max: seconds between polls of a batch, growing from one to the other.
        max_rounds: batches one item may go through: continuations and resubmissions share them.
        beta: use `client.beta.messages.batches` (for beta features in batch requests).
        refresh: seconds between progress lines when stderr is not a terminal.
    """

    via: str = "stream"
    concurrency: int = 16
    max_concurrency: int = 256
    min_concurrency: int = 1
    adaptive: bool = True
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    policy: Policy | None = None
    continue_on_max_tokens: bool = False
    max_batch_requests: int = MAX_BATCH_REQUESTS
    max_batch_bytes: int = MAX_BATCH_BYTES
    poll_initial: float = 5.0
    poll_max: float = 60.0
    max_rounds: int = 8
    beta: bool = False
    refresh: float = 5.0

    def __post_init__(self) -> None:
        if self.via not in ("stream", "batches"):
            raise ValueError(f'via must be "stream" or "batches", not {self.via!r}')
        for name in ("concurrency", "max_concurrency", "min_concurrency", "max_rounds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 < self.max_batch_requests <= MAX_BATCH_REQUESTS:
            raise ValueError(f"max_batch_requests must be from 1 to {MAX_BATCH_REQUESTS:,}")
        if not 0 < self.max_batch_bytes <= MAX_BATCH_BYTES:
            raise ValueError(f"max_batch_bytes must be from 1 to {MAX_BATCH_BYTES:,}")
        if self.poll_initial <= 0 or self.poll_max < self.poll_initial:
            raise ValueError("poll_initial must be positive and at most poll_max")

    def effective_policy(self) -> Policy:
        policy = self.policy or Policy()
        if self.continue_on_max_tokens and not policy.continue_on_max_tokens:
            policy = policy.replace(continue_on_max_tokens=True)
        return policy
