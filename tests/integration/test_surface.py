"""Every generating surface of the SDK is long-safe through `wrap()`, sync and async, with the SDK's
own types: `max_tokens` at the model's limit (which the SDK refuses without streaming), a connection
dropped mid-answer (so longcall's resume is what produced the answer), and the SDK's result."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
import pydantic
import pytest
from anthropic.lib.streaming import MessageStream
from anthropic.types import Message, ParsedMessage
from anthropic.types.beta import BetaMessage
from anthropic.types.beta.parsed_beta_message import ParsedBetaMessage

import longcall
from longcall._drivers import TAIL_WAIT
from longcall.testing import Emulator, Fault, Script
from longcall.testing._wire import scripted_stream

from .drivers import sent

KINDS = ["sync", "async"]
MODEL = "claude-opus-4-6"
LIMIT = longcall.lookup(MODEL).max_output
FAST = longcall.Policy(backoff_initial=0.01, backoff_max=0.05, idle_timeout=5)
BETA = "context-1m-2025-08-07"


def prompt(words: int = 400) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": LIMIT,
        "messages": [{"role": "user", "content": f"Write {words} words about lighthouses"}],
    }


def sdk(kind: str, url: str) -> Any:
    cls = anthropic.Anthropic if kind == "sync" else anthropic.AsyncAnthropic
    return cls(base_url=url, api_key="test-key", max_retries=0)


# Each surface, as a user calls it: (sync, async) functions of (client, params) -> the final message.
def _sync_stream(resource: Any, params: dict[str, Any]) -> Any:
    with resource.stream(**params) as stream:
        assert stream.response.status_code == 200 and stream.request_id
        return stream.get_final_message()


async def _async_stream(resource: Any, params: dict[str, Any]) -> Any:
    async with resource.stream(**params) as stream:
        assert stream.response.status_code == 200 and stream.request_id
        return await stream.get_final_message()


def _sync_events(resource: Any, params: dict[str, Any]) -> Any:
    stream = resource.create(stream=True, **params)
    assert stream.response.headers["request-id"]
    return _message_from_events(list(stream))


async def _async_events(resource: Any, params: dict[str, Any]) -> Any:
    stream = await resource.create(stream=True, **params)
    assert stream.response.headers["request-id"]
    return _message_from_events([event async for event in stream])


def _message_from_events(events: list[Any]) -> dict[str, Any]:
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("message_start") == 1 and kinds.count("content_block_start") == 1
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    return {"text": text, "stop_reason": events[-2].delta.stop_reason}


def _sync_raw(resource: Any, params: dict[str, Any]) -> Any:
    response = resource.with_raw_response.create(**params)
    assert response.is_closed and response.headers["request-id"]
    message = response.parse()
    assert message._request_id == response.headers["request-id"]
    return message


async def _async_raw(resource: Any, params: dict[str, Any]) -> Any:
    response = await resource.with_raw_response.create(**params)
    assert response.is_closed and response.headers["request-id"]
    message = await response.parse()
    assert message._request_id == response.headers["request-id"]
    return message


def _sync_streamed(resource: Any, params: dict[str, Any]) -> Any:
    with resource.with_streaming_response.create(**params) as response:
        assert not response.is_closed  # the body is read when asked, as the SDK does
        return response.parse()


async def _async_streamed(resource: Any, params: dict[str, Any]) -> Any:
    async with resource.with_streaming_response.create(**params) as response:
        assert not response.is_closed
        return await response.parse()


SURFACES: dict[str, tuple[Any, Any, type[Any] | None]] = {
    "create": (lambda r, p: r.create(**p), lambda r, p: r.create(**p), Message),
    "parse": (lambda r, p: r.parse(**p), lambda r, p: r.parse(**p), ParsedMessage),
    "stream": (_sync_stream, _async_stream, Message),
    "create(stream=True)": (_sync_events, _async_events, None),
    "with_raw_response.create": (_sync_raw, _async_raw, Message),
    "with_streaming_response.create": (_sync_streamed, _async_streamed, Message),
}
BETA_TYPES = {Message: BetaMessage, ParsedMessage: ParsedBetaMessage}


def run_surface(kind: str, url: str, surface: str, beta: bool, params: dict[str, Any]) -> Any:
    sync_call, async_call, _ = SURFACES[surface]

    def resource(client: Any) -> Any:
        return client.beta.messages if beta else client.messages

    if kind == "sync":
        with longcall.wrap(sdk(kind, url), journal=None, policy=FAST) as client:
            return sync_call(resource(client), params)

    async def go() -> Any:
        async with longcall.wrap(sdk(kind, url), journal=None, policy=FAST) as client:
            return await async_call(resource(client), params)

    return asyncio.run(go())


@pytest.mark.parametrize("beta", [False, True], ids=["messages", "beta.messages"])
@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("kind", KINDS)
def test_every_generating_surface_resumes_at_the_models_limit(
    emulator: Emulator, kind: str, surface: str, beta: bool
) -> None:
    params = {**prompt(), **({"betas": [BETA]} if beta else {})}
    emulator.add_faults(Fault(drop_after_bytes=3000))
    result = run_surface(kind, emulator.url, surface, beta, params)
    expected = emulator.document(prompt())
    sent = [
        r for r in emulator.requests if r.path.startswith("/v1/messages") and "count_tokens" not in r.path
    ]
    assert len(sent) == 2  # the dropped one, and the resume
    assert all(r.body["stream"] is True for r in sent)
    assert sent[0].body["max_tokens"] == LIMIT  # (what a resume may ask for is the engine's: issue 9)
    if beta:
        assert all(r.headers.get("anthropic-beta") == BETA for r in sent)
        assert all("beta=true" in r.path or r.headers.get("anthropic-beta") for r in sent)
    assert all("x-longcall-call" not in r.headers for r in sent)  # the marker stays in the process
    wanted = SURFACES[surface][2]
    if wanted is None:
        assert result == {"text": expected, "stop_reason": "end_turn"}
        return
    if beta:
        wanted = BETA_TYPES[wanted]
    assert isinstance(result, wanted), type(result)
    assert result.content[0].text == expected and result.stop_reason == "end_turn"
    if surface != "stream":  # the SDK's MessageStream builds its own message, without one
        assert result._request_id == sent[-1].request_id  # the last attempt's
    assert [a.kind for a in result.attempts] == ["initial", "resume"], surface
    assert result.attempts[-1].request_id == sent[-1].request_id
    assert "attempts" not in result.to_dict() and result.stopped_by is None


@pytest.mark.parametrize("kind", KINDS)
def test_create_keeps_the_attempts_on_the_sdks_type(emulator: Emulator, kind: str) -> None:
    for beta, cls in ((False, longcall.LongcallMessage), (True, longcall.LongcallBetaMessage)):
        emulator.add_faults(Fault(drop_after_bytes=3000))
        message = run_surface(kind, emulator.url, "create", beta, prompt())
        assert type(message) is cls
        assert [a.kind for a in message.attempts] == ["initial", "resume"]
        assert message._request_id == message.attempts[-1].request_id
        assert "attempts" not in message.to_dict() and message.to_dict()["content"][0]["text"]


def test_the_sdk_refuses_these_surfaces_without_longcall(emulator: Emulator) -> None:
    client = sdk("sync", emulator.url)
    for call in (
        lambda: client.messages.create(**prompt()),
        lambda: client.messages.parse(**prompt()),
        lambda: client.beta.messages.create(**prompt()),
        lambda: client.beta.messages.parse(**prompt()),
        lambda: client.messages.with_raw_response.create(**prompt()),
        lambda: client.messages.with_streaming_response.create(**prompt()).__enter__(),
    ):
        with pytest.raises(ValueError, match="Streaming is required"):
            call()
    assert emulator.requests == []


class Harbor(pydantic.BaseModel):
    name: str
    depth_m: int


@pytest.mark.parametrize("beta", [False, True], ids=["messages", "beta.messages"])
@pytest.mark.parametrize("kind", KINDS)
def test_parse_builds_parsed_output_from_the_stitched_text(emulator: Emulator, kind: str, beta: bool) -> None:
    name = " ".join(f"pier{number}" for number in range(500))
    answer = json.dumps({"name": name, "depth_m": 12})
    emulator.script("Describe a harbor as JSON", Script(content=[{"type": "text", "text": answer}]))
    emulator.add_faults(Fault(drop_after_bytes=2500))
    params = {**prompt(), "messages": [{"role": "user", "content": "Describe a harbor as JSON"}]}
    params["output_format"] = Harbor
    message = run_surface(kind, emulator.url, "parse", beta, params)
    assert isinstance(message, ParsedBetaMessage if beta else ParsedMessage)
    assert message.content[0].text == answer
    assert message.parsed_output == Harbor(name=name, depth_m=12)
    sent = [
        r for r in emulator.requests if r.path.startswith("/v1/messages") and "count_tokens" not in r.path
    ]
    assert len(sent) == 2
    assert sent[0].body["output_config"]["format"]["type"] == "json_schema"


@pytest.mark.parametrize("kind", KINDS)
def test_streams_send_when_the_sdk_does(emulator: Emulator, kind: str) -> None:
    """`messages.stream()` sends on `__enter__` (so a 400 surfaces there), not before and not later;
    `create(stream=True)` sends inside the call."""
    if kind == "sync":
        with longcall.wrap(sdk(kind, emulator.url), journal=None) as client:
            manager = client.messages.stream(**prompt(20))
            assert sent(emulator) == []
            with manager as stream:
                assert len(sent(emulator)) == 1
                assert isinstance(stream, MessageStream)
            client.messages.create(stream=True, **prompt(20)).close()
            assert len(sent(emulator)) == 2
            emulator.add_faults(Fault(status=400, message="bad thing"))
            with pytest.raises(anthropic.BadRequestError, match="bad thing"):  # noqa: SIM117
                with client.messages.stream(**prompt(20)):
                    pytest.fail("the stream was entered although the request was refused")
        return

    async def go() -> None:
        async with longcall.wrap(sdk(kind, emulator.url), journal=None) as client:
            manager = client.messages.stream(**prompt(20))
            assert sent(emulator) == []
            async with manager:
                assert len(sent(emulator)) == 1
            await (await client.messages.create(stream=True, **prompt(20))).close()
            assert len(sent(emulator)) == 2
            emulator.add_faults(Fault(status=400, message="bad thing"))
            with pytest.raises(anthropic.BadRequestError, match="bad thing"):
                async with client.messages.stream(**prompt(20)):
                    pytest.fail("the stream was entered although the request was refused")

    asyncio.run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_copies_of_the_client_stay_wrapped(emulator: Emulator, kind: str) -> None:
    seen: list[str] = []

    def log(request: Any, call_next: Any) -> Any:
        seen.append(request.url)
        return call_next(request)

    async def alog(request: Any, call_next: Any) -> Any:
        seen.append(request.url)
        return await call_next(request)

    async def each(copies: list[Any]) -> list[Any]:
        results = []
        for copy in copies:
            emulator.add_faults(Fault(drop_after_bytes=3000))
            results.append(await copy.messages.create(**prompt()))
        return results

    wrapped = longcall.wrap(sdk(kind, emulator.url), journal=None, policy=FAST)
    mine = log if kind == "sync" else alog
    copies = [wrapped.copy(), wrapped.with_options(timeout=30), wrapped.with_middleware(mine)]
    cls = longcall.LongClient if kind == "sync" else longcall.AsyncLongClient
    assert all(isinstance(copy, cls) for copy in copies)
    assert all(copy.unwrapped is not wrapped.unwrapped for copy in copies)
    if kind == "sync":
        messages = []
        for copy in copies:
            emulator.add_faults(Fault(drop_after_bytes=3000))
            messages.append(copy.messages.create(**prompt()))
    else:
        messages = asyncio.run(each(copies))
    for message in messages:
        assert message.content[0].text == emulator.document(prompt())
        assert [a.kind for a in message.attempts] == ["initial", "resume"]
    # the caller's middleware sees the one call; longcall's attempts are inside it (a count_tokens
    # request that measures a broken attempt's output passes it too)
    assert len([url for url in seen if url.endswith("/v1/messages")]) == 1


# -- events after message_stop ------------------------------------------------------------------------

TAIL_EVENTS: list[dict[str, Any]] = [
    {"type": "future_event", "n": -1},  # before message_start: the SDK passes it on as it is
    {
        "type": "message_start",
        "message": {
            "id": "msg_tail",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        },
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "future_event", "n": 0},  # after the last block's stop, which longcall holds back
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 2},
    },
    {"type": "message_stop"},
    {"type": "future_event", "n": 1},
    {"type": "ping"},
    {"type": "future_event", "n": 2},
]


def _tail_kinds(kind: str, url: str, way: str, beta: bool, wrapped: bool) -> tuple[list[str], Any]:
    """The event types the caller sees, and the final message (None for create(stream=True))."""
    params = {**prompt(20), "max_tokens": 100}

    def client_for() -> Any:
        client = sdk(kind, url)
        return longcall.wrap(client, journal=None, policy=FAST) if wrapped else client

    def resource(client: Any) -> Any:
        return client.beta.messages if beta else client.messages

    if kind == "sync":
        with client_for() as client:
            if way == "stream":
                with resource(client).stream(**params) as stream:
                    return [event.type for event in stream], stream.get_final_message()
            return [event.type for event in resource(client).create(stream=True, **params)], None

    async def go() -> tuple[list[str], Any]:
        async with client_for() as client:
            if way == "stream":
                async with resource(client).stream(**params) as stream:
                    return [event.type async for event in stream], await stream.get_final_message()
            stream = await resource(client).create(stream=True, **params)
            return [event.type async for event in stream], None

    return asyncio.run(go())


@pytest.mark.parametrize("beta", [False, True], ids=["messages", "beta.messages"])
@pytest.mark.parametrize("way", ["stream", "create(stream=True)"])
@pytest.mark.parametrize("kind", KINDS)
def test_events_after_message_stop_are_yielded_as_the_sdk_yields_them(
    emulator: Emulator, kind: str, way: str, beta: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "interceptors", [scripted_stream(TAIL_EVENTS, times=2)])
    sdks, _ = _tail_kinds(kind, emulator.url, way, beta, wrapped=False)
    ours, final = _tail_kinds(kind, emulator.url, way, beta, wrapped=True)
    assert sdks[-3:] == ["message_stop", "future_event", "future_event"]
    assert ours == sdks
    if final is not None:
        assert final.content[0].text == "Hello" and final.stop_reason == "end_turn"


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_that_keeps_the_body_open_after_message_stop_is_not_waited_for(
    emulator: Emulator, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "interceptors", [scripted_stream(TAIL_EVENTS, hold_open=20)])
    started = time.monotonic()
    kinds, final = _tail_kinds(kind, emulator.url, "stream", False, wrapped=True)
    assert time.monotonic() - started < TAIL_WAIT + 3  # not the 20 s the server holds the body open
    assert kinds[-3:] == ["message_stop", "future_event", "future_event"]
    assert final.content[0].text == "Hello"
