"""Streaming mode: every item through longcall's engine on one asyncio loop, at adaptive concurrency.

Each item is one `messages.create` of a `longcall.wrap`ped `AsyncAnthropic` (retries, resume,
continuation past `max_tokens` when asked), journaled in the run's state file, so an item cut off by
a kill is continued from its last checkpoint by `longcall.aresume` on the next run instead of being
sent again. Every HTTP request of every item passes one gate (an httpx event hook on the client):
there the runner waits out a `retry-after` any request received and a spent rate limit, and applies
the optional requests- and tokens-per-minute caps (aiolimiter); every response is read there for the
`anthropic-ratelimit-*` headers, 429/529 (which halve the concurrency for everyone) and a spend limit
(which stops the run).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import time
from collections.abc import Callable
from typing import Any

import anthropic

from .._engine import Generation, LongcallMessage
from .._record import Attempt
from ..journal import Journal, aresume
from . import _records
from ._input import Item
from ._options import BatchOptions
from ._pacing import Concurrency, Pacer, spend_limit_message
from ._records import Summary
from ._state import Output, RunState

_ITEM: contextvars.ContextVar[str | None] = contextvars.ContextVar("longcall_batch_item", default=None)
_EPOCH: contextvars.ContextVar[int] = contextvars.ContextVar("longcall_batch_epoch", default=0)
_THROTTLE_EVENTS = ("overloaded_error", "rate_limit_error")
_MESSAGES_PATH = "/v1/messages"


class SpendLimitReached(Exception):
    """The API said the organization's spend limit is reached: the run stops, nothing is lost."""


class _ItemObserver:
    """Links each journaled call to its item, so a later run can resume it from its checkpoint."""

    def __init__(self, state: RunState) -> None:
        self._state = state

    def call_started(self, call: Generation) -> None:
        key = _ITEM.get()
        if key is not None:
            self._state.set_call(key, call.call_id)

    def checkpoint(self, call: Generation) -> None:
        pass

    def attempt_ended(self, call: Generation, attempt: Attempt) -> None:
        pass

    def call_ended(
        self, call: Generation, message: LongcallMessage | None, error: BaseException | None
    ) -> None:
        pass


def _message_dict(message: LongcallMessage) -> dict[str, Any]:
    data: dict[str, Any] = message.to_dict(mode="json", warnings=False)  # the fields the API sent
    return data


class StreamRunner:
    """Runs items through the streaming engine; writes each record as it finishes."""

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
        self.state = state
        self.output = output
        self.summary = summary
        self.options = options
        self.policy = options.effective_policy()
        self.clock = clock
        maximum = options.max_concurrency if options.adaptive else options.concurrency
        initial = min(options.concurrency, maximum)
        self.concurrency = Concurrency(initial, minimum=options.min_concurrency, maximum=maximum)
        self.pacer = Pacer()
        self.in_flight = 0
        self.stopping: str | None = None
        self._freed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._never = asyncio.Event()
        self.journal = Journal(state.path)
        self._requests_limiter: Any = None
        self._tokens_limiter: Any = None
        if options.requests_per_minute or options.tokens_per_minute:
            from aiolimiter import AsyncLimiter

            rpm = options.requests_per_minute
            if rpm:
                # One request every 60/rpm seconds: even pacing, not a minute's worth in a burst.
                self._requests_limiter = AsyncLimiter(1, 60 / rpm)
            if options.tokens_per_minute:
                self._tokens_limiter = AsyncLimiter(options.tokens_per_minute, 60)
        self.wrapped = _wrap(client, self.policy, self.journal, [_ItemObserver(state)], self._attempt_ended)

    # -- the gate: every HTTP request and response of the client ---------------------------------

    async def _before_request(self, request: Any) -> None:
        if not request.url.path.endswith(_MESSAGES_PATH):
            return
        _EPOCH.set(self.concurrency.epoch)
        while True:
            if self.stopping:
                await self._never.wait()  # cancelled by the runner: nothing more is sent
            wait = self.pacer.wait(self.clock())
            if wait <= 0:
                break
            await asyncio.sleep(min(wait, 1.0))
        if self._requests_limiter is not None:
            await self._requests_limiter.acquire()
        if self._tokens_limiter is not None:
            estimate = len(request.content or b"") / 4  # about 4 bytes of JSON per input token
            await self._tokens_limiter.acquire(min(estimate, self._tokens_limiter.max_rate))
        self.summary.requests += 1

    async def _after_response(self, response: Any) -> None:
        if not response.request.url.path.endswith(_MESSAGES_PATH):
            return
        now = self.clock()
        self.pacer.response(response.headers, now)
        status = response.status_code
        if status in (429, 529, 503):
            self.summary.throttled += 1
            if self.options.adaptive:
                self.concurrency.throttled(_EPOCH.get())
            retry_after = _retry_after(response.headers)
            if retry_after is not None:
                self.pacer.retry_after(retry_after, now)
        if status in (400, 429):
            await response.aread()
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
            message = spend_limit_message(status, body)
            if message is not None:
                self.stop(f"the API says the spend limit is reached ({message})")

    def _attempt_ended(self, attempt: Attempt) -> None:
        error = attempt.error or ""
        # An error event in an HTTP 200 stream; error statuses are seen by the response hook.
        if "event" in error and any(kind in error for kind in _THROTTLE_EVENTS):
            self.summary.throttled += 1
            if self.options.adaptive:
                self.concurrency.throttled(_EPOCH.get())

    # -- running ------------------------------------------------------------------------------------

    def stop(self, why: str) -> None:
        """Stop the run: nothing new is sent; items in flight are cancelled (their checkpoints stay)."""
        if self.stopping is None:
            self.stopping = why
        for task in list(self._tasks):
            task.cancel()
        self._freed.set()

    async def run(self, items: list[Item]) -> None:
        hooks = _install(self.client, self._before_request, self._after_response)
        try:
            queue = list(reversed(items))
            while queue and self.stopping is None:
                while len(self._tasks) >= self.concurrency.limit and self.stopping is None:
                    self._freed.clear()
                    await self._freed.wait()
                if self.stopping is not None:
                    break
                task = asyncio.ensure_future(self._one(queue.pop()))
                self._tasks.add(task)
                task.add_done_callback(self._done)
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        except asyncio.CancelledError:
            self.stop("interrupted")
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            raise
        finally:
            _uninstall(self.client, hooks)
            self.journal.close()
        self.summary.left = len(queue) + sum(1 for _ in self.state.items("running"))
        self.summary.stopped = self.stopping
        self.summary.concurrency_min = self.concurrency.lowest
        self.summary.concurrency_max = self.concurrency.highest

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._freed.set()

    async def _one(self, item: Item) -> None:
        _ITEM.set(item.custom_id)
        saved = self.state.item(item.custom_id)
        self.state.set_running(item.custom_id)
        self.in_flight += 1
        try:
            try:
                message = await self._generate(item, saved.call_id if saved else None)
            finally:
                in_flight = self.in_flight
                self.in_flight -= 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes the item's error record
            if self.stopping is not None:
                return  # stopped by the runner (a spend limit): the item stays unfinished
            record = _records.from_exception(item.custom_id, item.line, exc, item.params.get("model"))
        else:
            self.concurrency.succeeded(in_flight)
            record = _records.success(
                item.custom_id, item.line, _message_dict(message), len(message.attempts)
            )
        self.state.finish(item.custom_id, record)
        self.output.write(record)
        self.summary.add(record)
        if self._tokens_limiter is not None:
            out = int((record.get("usage") or {}).get("output_tokens") or 0)
            if out:
                await self._tokens_limiter.acquire(min(out, self._tokens_limiter.max_rate))

    async def _generate(self, item: Item, call_id: str | None) -> LongcallMessage:
        if call_id is not None and self.journal.get(call_id) is not None:
            # Started by an earlier run: continue from its checkpoint (or take it, if it finished).
            return await aresume(
                call_id,
                self.client,
                journal=self.journal,
                policy=self.policy,
                observers=[_ItemObserver(self.state)],
                on_attempt=self._attempt_ended,
            )
        message: LongcallMessage = await self.wrapped.messages.create(**item.params)
        return message


def _retry_after(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def _wrap(
    client: anthropic.AsyncAnthropic,
    policy: Any,
    journal: Journal,
    observers: list[Any],
    on_attempt: Callable[[Attempt], None],
) -> Any:
    from .._wrap import wrap

    return wrap(client, policy=policy, journal=journal, observers=observers, on_attempt=on_attempt)


def _install(client: anthropic.AsyncAnthropic, before: Any, after: Any) -> tuple[Any, Any]:
    """Add the runner's gate to the client's HTTP hooks, for this run only."""
    http = client._client
    hooks = http.event_hooks
    hooks.setdefault("request", []).append(before)
    hooks.setdefault("response", []).append(after)
    http.event_hooks = hooks
    return before, after


def _uninstall(client: anthropic.AsyncAnthropic, hooks: tuple[Any, Any]) -> None:
    http = client._client
    current = http.event_hooks
    for name, hook in zip(("request", "response"), hooks, strict=True):
        if hook in current.get(name, []):
            current[name].remove(hook)
    http.event_hooks = current
