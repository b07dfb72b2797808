"""The drop-in client: the SDK's parameters in, the SDK's `Message` out, streamed underneath."""

from __future__ import annotations

import anthropic
import pytest
from anthropic.types import Message

import longcall
from longcall.testing import Emulator, Fault

from .drivers import client, create, stream_events, stream_text

KINDS = ["sync", "async"]
MODEL = "claude-opus-4-6"


def prompt(words: int = 300) -> dict:
    return {
        "model": MODEL,
        "max_tokens": 64000,
        "messages": [{"role": "user", "content": f"Write {words} words about bridges"}],
    }


def test_the_sdk_refuses_what_longcall_accepts(emulator: Emulator) -> None:
    sdk = anthropic.Anthropic(base_url=emulator.url, api_key="k", max_retries=0)
    with pytest.raises(ValueError, match="Streaming is required"):
        sdk.messages.create(**prompt())
    message = longcall.wrap(sdk, journal=None).messages.create(**prompt())
    assert message.content[0].text == emulator.document(prompt())


@pytest.mark.parametrize("kind", KINDS)
def test_create_returns_a_full_sdk_message(emulator: Emulator, kind: str) -> None:
    message = create(kind, emulator.url, **prompt(2000))
    assert isinstance(message, Message)
    assert message.content[0].text == emulator.document(prompt(2000))
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 2000
    assert message.usage.input_tokens == emulator.requests[-1].usage["input_tokens"]
    assert [a.kind for a in message.attempts] == ["initial"]
    assert message.attempts[0].request_id and message.attempts[0].request_id.startswith("req_emu_")
    # always streamed underneath
    assert emulator.requests[-1].body["stream"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_max_tokens_defaults_to_the_models_largest_output(emulator: Emulator, kind: str) -> None:
    params = prompt(50)
    del params["max_tokens"]
    create(kind, emulator.url, **params)
    assert emulator.requests[-1].body["max_tokens"] == longcall.lookup(MODEL).max_output


@pytest.mark.parametrize("kind", KINDS)
def test_stream_true_yields_sdk_events(emulator: Emulator, kind: str) -> None:
    events = stream_events(kind, emulator.url, **prompt(100))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == emulator.document(prompt(100))
    assert type(events[0]).__name__ == "RawMessageStartEvent"
    assert events[-2].usage.output_tokens == 100


@pytest.mark.parametrize("kind", KINDS)
def test_messages_stream_surface(emulator: Emulator, kind: str) -> None:
    pieces, message, text = stream_text(kind, emulator.url, **prompt(150))
    assert "".join(pieces) == text == message.content[0].text == emulator.document(prompt(150))
    assert len(pieces) == 150


def test_stream_snapshot_and_events(emulator: Emulator) -> None:
    wrapped = client("sync", emulator.url)
    with wrapped.messages.stream(**prompt(40)) as stream:
        first = next(iter(stream))
        assert first.type == "message_start"
        snapshot = stream.current_message_snapshot
        assert isinstance(snapshot, Message)
        stream.until_done()
        assert stream.current_message_snapshot.content[0].text == emulator.document(prompt(40))


@pytest.mark.parametrize("kind", KINDS)
def test_hooks_per_wrap_and_per_call(emulator: Emulator, kind: str) -> None:
    seen_wrap: list[str] = []
    seen_call: list[str] = []
    events: list[dict] = []
    wrapped = client(kind, emulator.url, on_text=seen_wrap.append, on_event=events.append)
    params = prompt(60)
    if kind == "sync":
        wrapped.messages.create(**params)
        wrapped.messages.create(**params, on_text=seen_call.append)
    else:
        import asyncio

        async def both() -> None:
            await wrapped.messages.create(**params)
            await wrapped.messages.create(**params, on_text=seen_call.append)

        asyncio.run(both())
    document = emulator.document(params)
    assert "".join(seen_wrap) == document  # the per-call hook replaced it on the second call
    assert "".join(seen_call) == document
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"


def test_thinking_and_tool_input_hooks(emulator: Emulator) -> None:
    thinking: list[str] = []
    params = {**prompt(30), "thinking": {"type": "adaptive"}}
    message = create("sync", emulator.url, {"on_thinking": thinking.append}, **params)
    assert message.content[0].type == "thinking"
    assert "".join(thinking) == message.content[0].thinking
    assert message.content[0].signature


def test_everything_else_passes_through(emulator: Emulator) -> None:
    wrapped = client("sync", emulator.url)
    assert wrapped.models.list().data
    count = wrapped.messages.count_tokens(model=MODEL, messages=prompt()["messages"])
    assert count.input_tokens > 0
    assert isinstance(wrapped.with_options(timeout=5), longcall.LongClient)
    assert wrapped.with_options(timeout=5).messages.create(**prompt(10)).content[0].text
    assert wrapped.api_key == "test-key"
    assert "test-key" not in repr(wrapped)


def test_the_callers_params_are_not_changed(emulator: Emulator) -> None:
    params = prompt(20)
    snapshot = repr(params)
    create("sync", emulator.url, **params)
    assert repr(params) == snapshot


def test_wrap_rejects_what_it_cannot_drive() -> None:
    with pytest.raises(longcall.InvalidRequest, match="not str"):
        longcall.wrap("not a client")


@pytest.mark.parametrize("kind", KINDS)
def test_vertex_clients_take_the_same_path(emulator: Emulator, kind: str) -> None:
    """The SDK's Vertex clients send the same SSE through Google's URL scheme, which the emulator
    answers; a broken stream resumes the same way."""
    import asyncio

    params = prompt(300)
    emulator.add_faults(Fault(drop_after_bytes=4000))
    options = {"region": "us-east5", "project_id": "p", "access_token": "t", "base_url": emulator.url + "/v1"}
    if kind == "sync":
        message = longcall.wrap(anthropic.AnthropicVertex(**options), journal=None).messages.create(**params)
    else:

        async def run() -> Message:
            async with longcall.wrap(anthropic.AsyncAnthropicVertex(**options), journal=None) as client:
                return await client.messages.create(**params)

        message = asyncio.run(run())
    assert message.content[0].text == emulator.document(params)
    assert [a.kind for a in message.attempts] == ["initial", "resume"]


def test_bedrock_is_refused_with_a_reason() -> None:
    with pytest.raises(longcall.InvalidRequest, match="event-stream"):
        longcall.wrap(
            anthropic.AnthropicBedrock(aws_region="us-east-1", aws_access_key="a", aws_secret_key="b")
        )
