"""`--via batches`: drive the Message Batches API round after round, from the run's state file.

A round submits every pending item (split within the API's limits), polls each batch with a growing
interval until it ends, downloads its results (again from the start if the download breaks: applying
a result twice is impossible, since an item takes only results of the batch it is in) and decides
each item's next step (`_rounds.judge`). Each batch is recorded in the state file in the same
transaction that marks its items submitted, and an intent row before the create call, so a run killed
at any point re-attaches to its batches instead of submitting them twice (after a kill in the instant
between the create call and that commit, the batch is found again in the API's list by its size and
creation time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import anthropic
import httpx2

from .._catalog import lookup, resolve_max_tokens
from .._errors import LongcallError
from .._validate import validate_params
from . import _records
from ._input import Item
from ._options import BatchOptions
from ._pacing import spend_limit_message
from ._records import Summary
from ._rounds import judge, split, strategy_for
from ._state import Output, RunState

_DOWNLOAD_ATTEMPTS = 5
_SDK_OPTIONS = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
# A results download cut off midway: from the SDK, the HTTP stack (httpx or aiohttp) or the socket.
_BROKEN_DOWNLOAD: tuple[type[BaseException], ...] = (
    anthropic.APIConnectionError,
    httpx2.TransportError,
    httpx2.StreamError,
    OSError,
    ValueError,
)
try:
    import aiohttp

    _BROKEN_DOWNLOAD += (aiohttp.ClientError,)
except ImportError:  # pragma: no cover - aiohttp is optional
    pass
_BROKEN_DOWNLOAD += (anthropic.APIStatusError,)  # a 5xx or 429 is retried too; other statuses raise


class BatchRejected(LongcallError):
    """The Message Batches API refused to create a batch; nothing of it was submitted."""


def prepare_params(params: dict[str, Any]) -> dict[str, Any]:
    """The request as a batch sends it: `max_tokens` filled in (the model's largest output, as the
    streaming runner does), checked as longcall checks every request. Raises InvalidRequest."""
    # The SDK's own options are not request parameters: a batch request has nowhere to put them.
    params = {key: value for key, value in params.items() if key not in _SDK_OPTIONS}
    if params.get("max_tokens") is None:
        params["max_tokens"], _ = resolve_max_tokens(None, lookup(str(params.get("model"))), clamp=False)
    validate_params(params)
    return params


class BatchRounds:
    """Runs items through Message Batches, in rounds, until each has its record."""

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        state: RunState,
        output: Output,
        summary: Summary,
        options: BatchOptions,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.batches: Any = client.beta.messages.batches if options.beta else client.messages.batches
        self.state = state
        self.output = output
        self.summary = summary
        self.options = options
        self.policy = options.effective_policy()
        self.clock = clock
        self._woken = asyncio.Event()
        self.items: dict[str, Item] = {}
        self.live: dict[str, dict[str, Any]] = {}  # batch id -> latest status and counts, for the view
        self.stopping: str | None = None

    def stop(self, why: str) -> None:
        """Stop polling: the batches go on at the API; the next run re-attaches to them."""
        if self.stopping is None:
            self.stopping = why
        self._woken.set()

    async def sleep(self, seconds: float) -> None:
        """Wait, unless the run is stopped meanwhile."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._woken.wait(), seconds)

    async def run(self, items: list[Item]) -> None:
        self.items = {item.custom_id: item for item in items}
        await self._reattach()
        interval = self.options.poll_initial
        while True:
            if self.stopping is None:
                created = await self._submit_pending()
                if created:
                    interval = self.options.poll_initial
            active = [batch for batch in self.state.batches(collected=False) if batch["id"]]
            if not active or self.stopping is not None:
                break
            ended = 0
            for batch in active:
                if await self._poll(batch["id"]):
                    ended += 1
            if ended:
                continue  # collected: submit the next round at once
            await self.sleep(interval)
            interval = min(self.options.poll_max, interval * 1.5)
        self.summary.left = sum(
            1 for item in self.state.items() if item.status != "done" and item.key in self.items
        )
        self.summary.stopped = self.stopping

    # -- submitting ---------------------------------------------------------------------------------

    async def _submit_pending(self) -> int:
        ready: list[tuple[str, dict[str, Any]]] = []
        rounds = 0
        for item in self.state.items("pending"):
            original = self.items.get(item.key)
            if original is None:
                continue  # in the state from an earlier input, not in this one
            if item.next_params is None:
                continue
            ready.append((item.key, item.next_params))
            rounds = max(rounds, item.rounds)
        created = 0
        for group in split(
            ready, max_requests=self.options.max_batch_requests, max_bytes=self.options.max_batch_bytes
        ):
            keys = [key for key, _ in group]
            intent = self.state.add_intent(keys)
            try:
                batch = await self.batches.create(
                    requests=[{"custom_id": key, "params": params} for key, params in group]
                )
            except anthropic.APIStatusError as exc:
                self.state.drop_intent(intent)
                message = spend_limit_message(exc.status_code, exc.body)
                if message is not None:
                    self.stop(f"the API says the spend limit is reached ({message})")
                    return created
                raise BatchRejected(
                    f"The Message Batches API refused a batch of {len(group)} requests (HTTP "
                    f"{exc.status_code}: {exc.message}); nothing of it was submitted; the state is kept."
                ) from exc
            self.state.add_batch(intent, batch.id, rounds + 1, keys)
            self.live[batch.id] = _view(batch)
            self.summary.batches += 1
            self.summary.rounds = max(self.summary.rounds, rounds + 1)
            created += 1
        return created

    async def _reattach(self) -> None:
        """An intent with no batch: the run died around a create call. Find that batch, or forget it."""
        intents = self.state.intents()
        if not intents:
            return
        known = {batch["id"] for batch in self.state.batches()}
        candidates = []
        try:
            async for batch in self.batches.list(limit=100):
                candidates.append(batch)
                if len(candidates) >= 1000:
                    break
        except anthropic.APIError:
            candidates = []
        for intent, created_at, keys in intents:
            match = None
            for batch in candidates:
                total = sum(batch.request_counts.to_dict().values())
                started = batch.created_at.timestamp()
                if (
                    batch.id not in known
                    and total == len(keys)
                    and created_at - 5 <= started <= created_at + 120
                ):
                    match = batch
                    break
            if match is None:
                self.state.drop_intent(intent)
                continue
            known.add(match.id)
            rounds = max((item.rounds for item in self.state.items("pending") if item.key in keys), default=0)
            self.state.add_batch(intent, match.id, rounds + 1, keys)

    # -- polling and results ------------------------------------------------------------------------

    async def _poll(self, batch_id: str) -> bool:
        try:
            batch = await self.batches.retrieve(batch_id)
        except (anthropic.APIConnectionError, anthropic.InternalServerError, anthropic.RateLimitError):
            return False  # try again at the next poll
        counts = batch.request_counts.to_dict()
        self.state.set_batch(batch_id, batch.processing_status, counts)
        self.live[batch_id] = _view(batch)
        if batch.processing_status != "ended":
            return False
        await self._collect(batch_id)
        return True

    async def _collect(self, batch_id: str) -> None:
        for attempt in range(1, _DOWNLOAD_ATTEMPTS + 1):
            try:
                results = await self.batches.results(batch_id)
                async for result in results:
                    self._apply(batch_id, result.to_dict())
                break
            except _BROKEN_DOWNLOAD as exc:
                if (
                    isinstance(exc, anthropic.APIStatusError)
                    and exc.status_code < 500
                    and exc.status_code != 429
                ):
                    raise
                if attempt == _DOWNLOAD_ATTEMPTS:
                    raise
                await self.sleep(min(30.0, 0.5 * 2**attempt))
        for item in self.state.items_where("status = 'submitted' AND batch_id = ?", (batch_id,)):
            # Not in the results at all: submit it again.
            self.state.update(item.key, status="pending", batch_id=None)
        self.state.collected(batch_id)

    def _apply(self, batch_id: str, result: dict[str, Any]) -> None:
        key = str(result.get("custom_id"))
        item = self.state.item(key)
        original = self.items.get(key)
        if item is None or original is None or item.status != "submitted" or item.batch_id != batch_id:
            return  # not ours, or already taken from an earlier download of these results
        params = prepare_params(original.params)
        strategy = item.strategy or strategy_for(params, self.policy.strategy)
        outcome = judge(
            params,
            item.partial,
            item.next_params or params,
            result.get("result") or {},
            strategy=strategy,
            continue_on_max_tokens=self.policy.continue_on_max_tokens,
            output_budget=self.policy.max_output_tokens_total,
            rounds_left=self.options.max_rounds - item.rounds,
        )
        if outcome.action in ("continue", "again"):
            self.state.update(
                key,
                status="pending",
                batch_id=None,
                next_params=outcome.params,
                partial=outcome.partial,
                strategy=outcome.strategy,
            )
            return
        model = params.get("model")
        if outcome.action == "done":
            assert outcome.partial is not None
            record = _records.success(key, original.line, outcome.partial, item.rounds, batch=True)
        else:
            usage = (outcome.partial or {}).get("usage")
            record = _records.failure(
                key,
                original.line,
                outcome.error_type,
                outcome.error_message,
                status=outcome.status,
                usage=usage,
                model=model,
                attempts=item.rounds,
                partial=outcome.partial,
                batch=True,
            )
        self.state.finish(key, record)
        self.output.write(record)
        self.summary.add(record)


def _view(batch: Any) -> dict[str, Any]:
    return {"status": batch.processing_status, "counts": batch.request_counts.to_dict()}
