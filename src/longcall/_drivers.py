"""The two drivers: the only code that touches sockets, clocks and sleeps.

Both are short loops around `Generation` (see `_engine`): ask it for a request, send it through the
SDK's streaming-response API (so keys, headers, base_url, proxies and connection pooling are the
SDK's), feed it the body's bytes, and do what `end()` decides. They differ only in `for`/`async for`,
`await` and the sleep function; `messages.create(stream=True)` and `messages.stream()` use them to
yield the stitched events as they come.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx2

from ._engine import Generation, HookFailed, LongcallMessage

Events = list[dict[str, Any]]


def _timeout(gen: Generation, kwargs: dict[str, Any], now: float) -> None:
    """A read timeout equal to the idle timeout: a stream silent that long is stalled."""
    if "timeout" not in gen.params:
        read = gen.read_timeout(now)
        kwargs["timeout"] = httpx2.Timeout(read, connect=gen.policy.connect_timeout)


def _interrupted(gen: Generation, error: BaseException) -> None:
    """The call stops without a decision of the engine's: the journal keeps what arrived, then the
    exception goes on. Nothing happens for a call that already ended."""
    gen.interrupt(error, time.monotonic(), time.time())


def drive_sync(
    raw_messages: Any, gen: Generation, *, sleep: Callable[[float], None] = time.sleep
) -> Generator[Events, None, LongcallMessage]:
    """Run `gen` to its end; yield stitched event batches when `gen` emits them; return the message."""
    clock = time.monotonic
    emit = gen.acc.emit
    try:
        while True:
            kwargs = gen.request(clock(), time.time())
            _timeout(gen, kwargs, clock())
            error: BaseException | None = None
            try:
                with raw_messages.create(**kwargs) as response:
                    gen.response_started(response.headers.get("request-id"))
                    for chunk in response.iter_bytes():
                        if gen.feed(chunk, clock()):
                            break
                        if emit and gen.acc.out:
                            yield gen.take_events()
            except HookFailed as failed:  # the caller's own exception, as it was raised
                raise failed.error from None
            except Exception as exc:  # noqa: BLE001 - every failure is classified by the engine
                error = exc
            if emit and gen.acc.out:
                yield gen.take_events()
            decision = gen.end(error, clock(), time.time())
            if decision.message is not None:
                if emit:
                    yield gen.final_events()
                return decision.message
            if decision.error is not None:
                raise decision.error
            if decision.delay > 0:
                sleep(decision.delay)
    except BaseException as exc:  # Ctrl-C, a closed generator, a hook's exception: keep what arrived
        _interrupted(gen, exc)
        raise


async def drive_async(
    raw_messages: Any, gen: Generation, result: list[LongcallMessage]
) -> AsyncGenerator[Events, None]:
    """The async twin of `drive_sync`; the message is appended to `result` at the end."""
    clock = time.monotonic
    emit = gen.acc.emit
    try:
        while True:
            kwargs = gen.request(clock(), time.time())
            _timeout(gen, kwargs, clock())
            error: BaseException | None = None
            try:
                async with raw_messages.create(**kwargs) as response:
                    gen.response_started(response.headers.get("request-id"))
                    async for chunk in response.iter_bytes():
                        if gen.feed(chunk, clock()):
                            break
                        if emit and gen.acc.out:
                            yield gen.take_events()
            except HookFailed as failed:  # the caller's own exception, as it was raised
                raise failed.error from None
            except Exception as exc:  # noqa: BLE001 - every failure is classified by the engine
                error = exc
            if emit and gen.acc.out:
                yield gen.take_events()
            decision = gen.end(error, clock(), time.time())
            if decision.message is not None:
                if emit:
                    yield gen.final_events()
                result.append(decision.message)
                return
            if decision.error is not None:
                raise decision.error
            if decision.delay > 0:
                await asyncio.sleep(decision.delay)
    except BaseException as exc:  # Ctrl-C, cancellation, a closed generator, a hook's exception
        _interrupted(gen, exc)
        raise


def run_sync(raw_messages: Any, gen: Generation) -> LongcallMessage:
    """Drive to the end without yielding events (the `create()` path)."""
    driver = drive_sync(raw_messages, gen)
    while True:
        try:
            next(driver)
        except StopIteration as stop:
            message: LongcallMessage = stop.value
            return message


async def run_async(raw_messages: Any, gen: Generation) -> LongcallMessage:
    result: list[LongcallMessage] = []
    async for _ in drive_async(raw_messages, gen, result):
        pass
    return result[0]


def jitter() -> float:
    return random.random()
