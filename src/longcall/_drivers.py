"""The two drivers: the only code that touches sockets, clocks and sleeps.

Both are short loops around `Generation` (see `_engine`): ask it for a request, send it through the
SDK's streaming-response API (so keys, headers, base_url, proxies and connection pooling are the
SDK's), feed it the body's bytes, and do what `end()` decides. They differ only in `for`/`async for`,
`await` and the sleep function; `messages.create(stream=True)` and `messages.stream()` use them to
yield the stitched events as they come.

`Policy.deadline` is held whatever the idle timeout: a read timeout only bounds the wait for the next
bytes, so at the deadline a timer shuts the response's socket down, which wakes a blocked read on
both drivers; the engine then reports the deadline.

A streamed call reads past `message_stop` to the end of the body, as the SDK does, so an event the
server sends after it reaches the caller; a server that keeps the body open is cut `TAIL_WAIT`
seconds after `message_stop` (the message is complete by then; only the wait for more is bounded).
A call that does not stream events stops reading at `message_stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx2

from ._engine import Decision, Generation, HookFailed, LongcallMessage

Events = list[dict[str, Any]]


_COUNT_TIMEOUT = 5.0  # seconds for one count_tokens request: it only refines a usage figure
TAIL_WAIT = 1.0  # seconds the body may go on after message_stop before it is cut


def _timeout(gen: Generation, kwargs: dict[str, Any], now: float) -> None:
    """A read timeout equal to the idle timeout: a stream silent that long is stalled."""
    if "timeout" not in gen.params:
        read = gen.read_timeout(now)
        connect = gen.policy.connect_timeout if read is None else min(gen.policy.connect_timeout, read)
        kwargs["timeout"] = httpx2.Timeout(read, connect=connect)


def _count_kwargs(gen: Generation, params: dict[str, Any], now: float) -> dict[str, Any]:
    left = gen.time_left(now)
    limit = _COUNT_TIMEOUT if left is None else max(0.001, min(_COUNT_TIMEOUT, left))
    return {**params, "timeout": httpx2.Timeout(limit, connect=min(limit, gen.policy.connect_timeout))}


def _socket_of(response: Any) -> socket.socket | None:
    http = getattr(response, "http_response", response)
    stream = getattr(http, "extensions", {}).get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    return sock if hasattr(sock, "shutdown") else None


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _cut_timer(response: Any, seconds: float | None) -> threading.Timer | None:
    """Shut `response`'s socket down in `seconds` (None: never), which wakes a blocked read."""
    sock = _socket_of(response) if seconds is not None else None
    if seconds is None or sock is None:
        return None
    timer = threading.Timer(max(0.0, seconds), _cut, (sock,))
    timer.daemon = True
    timer.start()
    return timer


def _cut_handle(response: Any, seconds: float | None) -> asyncio.TimerHandle | None:
    sock = _socket_of(response) if seconds is not None else None
    if seconds is None or sock is None:
        return None
    return asyncio.get_running_loop().call_later(max(0.0, seconds), _cut, sock)


def _count_sync(raw_messages: Any, gen: Generation, decision: Decision) -> Decision:
    """Answer the engine's count_tokens requests; any failure is a None (the engine estimates)."""
    clock = time.monotonic
    while decision.count is not None:
        counts: list[int | None] = []
        for params in decision.count:
            try:
                with raw_messages.count_tokens(**_count_kwargs(gen, params, clock())) as response:
                    counts.append(int(response.parse().input_tokens))
            except Exception:  # noqa: BLE001 - a count that fails is estimated instead
                counts.append(None)
                break
        decision = gen.counted(counts, clock(), time.time())
    return decision


async def _count_async(raw_messages: Any, gen: Generation, decision: Decision) -> Decision:
    clock = time.monotonic
    while decision.count is not None:
        counts: list[int | None] = []
        for params in decision.count:
            try:
                async with raw_messages.count_tokens(**_count_kwargs(gen, params, clock())) as response:
                    counts.append(int((await response.parse()).input_tokens))
            except Exception:  # noqa: BLE001 - a count that fails is estimated instead
                counts.append(None)
                break
        decision = gen.counted(counts, clock(), time.time())
    return decision


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
    gen.counts_tokens = True
    try:
        while True:
            kwargs = gen.request(clock(), time.time())
            _timeout(gen, kwargs, clock())
            error: BaseException | None = None
            timers: list[threading.Timer | None] = []
            try:
                with raw_messages.create(**kwargs) as response:
                    gen.response_started(response.headers.get("request-id"))
                    timers.append(_cut_timer(response, gen.time_left(clock())))
                    tail_ends: float | None = None
                    for chunk in response.iter_bytes():
                        stopped = gen.feed(chunk, clock())
                        if emit and gen.acc.out:
                            yield gen.take_events()
                        if stopped:
                            if not emit:
                                break
                            if tail_ends is None:  # read on for events after message_stop
                                tail_ends = clock() + TAIL_WAIT
                                timers.append(_cut_timer(response, TAIL_WAIT))
                            elif clock() >= tail_ends:
                                break
            except HookFailed as failed:  # the caller's own exception, as it was raised
                raise failed.error from None
            except Exception as exc:  # noqa: BLE001 - every failure is classified by the engine
                error = exc
            finally:
                for timer in timers:
                    if timer is not None:
                        timer.cancel()
            if emit and gen.acc.out:
                yield gen.take_events()
            decision = _count_sync(raw_messages, gen, gen.end(error, clock(), time.time()))
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
    gen.counts_tokens = True
    try:
        while True:
            kwargs = gen.request(clock(), time.time())
            _timeout(gen, kwargs, clock())
            error: BaseException | None = None
            handles: list[asyncio.TimerHandle | None] = []
            try:
                async with raw_messages.create(**kwargs) as response:
                    gen.response_started(response.headers.get("request-id"))
                    handles.append(_cut_handle(response, gen.time_left(clock())))
                    tail_ends: float | None = None
                    async for chunk in response.iter_bytes():
                        stopped = gen.feed(chunk, clock())
                        if emit and gen.acc.out:
                            yield gen.take_events()
                        if stopped:
                            if not emit:
                                break
                            if tail_ends is None:  # read on for events after message_stop
                                tail_ends = clock() + TAIL_WAIT
                                handles.append(_cut_handle(response, TAIL_WAIT))
                            elif clock() >= tail_ends:
                                break
            except HookFailed as failed:  # the caller's own exception, as it was raised
                raise failed.error from None
            except Exception as exc:  # noqa: BLE001 - every failure is classified by the engine
                error = exc
            finally:
                for handle in handles:
                    if handle is not None:
                        handle.cancel()
            if emit and gen.acc.out:
                yield gen.take_events()
            decision = await _count_async(raw_messages, gen, gen.end(error, clock(), time.time()))
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
