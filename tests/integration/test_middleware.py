"""`longcall.middleware()` inside an SDK client you do not call yourself: streaming Messages API
requests get retries, resume and stitching; everything else passes through untouched."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import longcall
from longcall.testing import Emulator, Fault

KINDS = ["sync", "async"]
MODEL = "claude-opus-4-6"
FAST = longcall.Policy(backoff_initial=0.01, backoff_max=0.05, idle_timeout=5)


def prompt(words: int = 400, max_tokens: int = 64000) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": f"Write {words} words about canals"}],
    }


def client(kind: str, url: str, **options: Any) -> Any:
    cls = anthropic.Anthropic if kind == "sync" else anthropic.AsyncAnthropic
    return cls(base_url=url, api_key="test-key", max_retries=0, middleware=[longcall.middleware(**options)])


def messages_sent(emulator: Emulator) -> list[Any]:
    return [r for r in emulator.requests if r.path.startswith("/v1/messages") and "count" not in r.path]


@pytest.mark.parametrize("kind", KINDS)
def test_the_sdks_own_stream_is_retried_and_resumed(emulator: Emulator, kind: str) -> None:
    attempts: list[longcall.Attempt] = []
    sdk = client(kind, emulator.url, policy=FAST, on_attempt=attempts.append)
    emulator.add_faults(Fault(status=529), Fault(drop_after_bytes=3000))
    if kind == "sync":
        with sdk, sdk.messages.stream(**prompt()) as stream:
            assert stream.request_id and stream.response.status_code == 200
            text = stream.get_final_text()
            message = stream.get_final_message()
    else:

        async def go() -> tuple[str, Any]:
            async with sdk, sdk.messages.stream(**prompt()) as stream:
                assert stream.request_id and stream.response.status_code == 200
                return await stream.get_final_text(), await stream.get_final_message()

        text, message = asyncio.run(go())
    assert text == emulator.document(prompt())
    assert message.stop_reason == "end_turn" and message.usage.output_tokens >= 400
    assert [a.kind for a in attempts] == ["initial", "retry", "resume"]
    assert len(messages_sent(emulator)) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_create_stream_true_yields_one_stitched_stream(emulator: Emulator, kind: str) -> None:
    sdk = client(kind, emulator.url, policy=FAST)
    emulator.add_faults(
        Fault(drop_after_bytes=2500), Fault(error_after_events=30, error_type="overloaded_error")
    )
    if kind == "sync":
        with sdk:
            events = list(sdk.beta.messages.create(stream=True, **prompt()))
    else:

        async def go() -> list[Any]:
            async with sdk:
                return [event async for event in await sdk.beta.messages.create(stream=True, **prompt())]

        events = asyncio.run(go())
    kinds = [event.type for event in events]
    assert kinds.count("message_start") == 1 and kinds[-1] == "message_stop"
    text = "".join(event.delta.text for event in events if event.type == "content_block_delta")
    assert text == emulator.document(prompt())
    assert len(messages_sent(emulator)) == 3


@pytest.mark.parametrize("kind", KINDS)
def test_everything_else_passes_through(emulator: Emulator, kind: str) -> None:
    sdk = client(kind, emulator.url, policy=FAST)
    small = prompt(30, max_tokens=1000)
    emulator.add_faults(Fault(status=529))

    async def calls() -> Any:
        with pytest.raises(anthropic.OverloadedError) as caught:  # not longcall's: the SDK's, unretried
            await sdk.messages.create(**small)
        assert not isinstance(caught.value, longcall.LongcallError)
        message = await sdk.messages.create(**small)
        count = await sdk.messages.count_tokens(model=MODEL, messages=small["messages"])
        models = await sdk.models.list()
        return message, count, models

    if kind == "sync":
        with sdk:
            with pytest.raises(anthropic.OverloadedError) as caught:
                sdk.messages.create(**small)
            assert not isinstance(caught.value, longcall.LongcallError)
            message = sdk.messages.create(**small)
            count = sdk.messages.count_tokens(model=MODEL, messages=small["messages"])
            models = sdk.models.list()
    else:

        async def go() -> Any:
            async with sdk:
                return await calls()

        message, count, models = asyncio.run(go())
    assert message.content[0].text == emulator.document(small)
    assert count.input_tokens > 0 and models.data
    assert [r.body.get("stream") for r in messages_sent(emulator)] == [None, None]


def test_a_long_non_streaming_create_is_refused_by_the_sdk_before_any_middleware(emulator: Emulator) -> None:
    sdk = client("sync", emulator.url)
    with pytest.raises(ValueError, match="Streaming is required"):
        sdk.messages.create(**prompt())
    assert emulator.requests == []
    # what wrap() is for: the same client, wrapped, sends it streamed
    message = longcall.wrap(sdk, journal=None).messages.create(**prompt(50))
    assert message.content[0].text == emulator.document(prompt(50))


@pytest.mark.parametrize("kind", KINDS)
def test_a_failure_through_the_middleware_is_the_sdks_class(emulator: Emulator, kind: str) -> None:
    sdk = client(kind, emulator.url, policy=FAST.replace(max_attempts=2))
    emulator.add_faults(Fault(status=429), Fault(status=429))

    async def go() -> None:
        async with sdk, sdk.messages.stream(**prompt()) as stream:
            await stream.until_done()

    with pytest.raises(anthropic.RateLimitError) as caught:
        if kind == "sync":
            with sdk, sdk.messages.stream(**prompt()) as stream:
                stream.until_done()
        else:
            asyncio.run(go())
    assert isinstance(caught.value, longcall.ServerError) and len(caught.value.attempts) == 2
    assert len(messages_sent(emulator)) == 2  # the SDK did not send it again (max_retries=0)


def test_pydantic_ai_streams_through_the_middleware_with_faults(emulator: Emulator) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    attempts: list[longcall.Attempt] = []
    sdk = client("async", emulator.url, policy=FAST, on_attempt=attempts.append)
    agent = Agent(AnthropicModel(MODEL, provider=AnthropicProvider(anthropic_client=sdk)))
    emulator.add_faults(Fault(status=529), Fault(drop_after_bytes=3000))

    async def go() -> tuple[str, str]:
        async with agent.run_stream("Write 400 words about canals") as result:
            streamed = await result.get_output()
        answered = await agent.run("Write 20 words about canals")
        return streamed, answered.output

    streamed, answered = asyncio.run(go())
    sent = messages_sent(emulator)
    assert streamed == emulator.document(sent[0].body)
    assert [a.kind for a in attempts] == ["initial", "retry", "resume", "initial"]
    assert answered == emulator.document(sent[-1].body)
    assert [r.body.get("stream") for r in sent] == [True, True, True, True]  # pydantic-ai streams both


# -- the stitched stream's bytes ------------------------------------------------------------------------

_pieces = st.text(st.characters(codec="utf-8"), max_size=12)
_delta_events = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["content_block_delta", "content_block_start", "future_event"]),
        "index": st.one_of(st.integers(0, 300), st.booleans(), st.text(max_size=2)),
        "delta": st.one_of(
            st.tuples(
                st.sampled_from(["text_delta", "thinking_delta", "input_json_delta", "odd"]),
                st.sampled_from(["text", "thinking", "partial_json", "other"]),
                st.one_of(_pieces, st.integers()),
            ).map(lambda delta: {"type": delta[0], delta[1]: delta[2]}),
            st.none(),
        ),
    }
)


_reordered = _delta_events.map(lambda event: dict(reversed(list(event.items()))))


@given(st.lists(st.one_of(_delta_events, _reordered), max_size=6))
def test_the_stitched_events_are_written_as_json_dumps_writes_them(events: list[dict[str, Any]]) -> None:
    from longcall._middleware import sse_bytes

    expected = b"".join(
        b"event: %s\ndata: %s\n\n" % (event["type"].encode(), json.dumps(event, ensure_ascii=False).encode())
        for event in events
    )
    assert sse_bytes(events) == expected
