"""For the same bytes, longcall's final message holds every field the SDK's own
`messages.stream(...).get_final_message()` gives, with the same value (longcall may keep more).

The emulator's stream for each scripted reply is recorded once, then the replay server sends the very
same bytes to the SDK's stream helper and to `wrap(client).messages.create()`. Hand-written streams
cover what the emulator does not produce (a message_delta carrying more usage fields, a container,
a last event without a blank line, CRLF or CR line ends)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import anthropic
import httpx2
import pytest

import longcall
from longcall.testing import Emulator, Script

from ..replay import ReplayServer, sse

CITATION = {
    "type": "char_location",
    "cited_text": "The grass is green.",
    "document_index": 0,
    "document_title": "Facts",
    "start_char_index": 0,
    "end_char_index": 19,
}

SCRIPTS: dict[str, Script] = {
    "text": Script(content=[{"type": "text", "text": "Hello there, general reader. " * 40}]),
    "citations": Script(content=[{"type": "text", "text": "The grass is green.", "citations": [CITATION]}]),
    "thinking": Script(
        content=[
            {"type": "thinking", "thinking": "Let me think this through. " * 30},
            {"type": "text", "text": "The answer is 42."},
        ]
    ),
    "redacted_thinking": Script(
        content=[
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
            {"type": "text", "text": "Done."},
        ]
    ),
    "tool_use": Script(
        content=[
            {"type": "text", "text": "Checking the weather."},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": "get_weather",
                "input": {
                    "city": "Paris",
                    "days": [1, 2, 3],
                    "units": {"t": "C"},
                    "note": 'quote " and unicode é ☃',
                },
            },
        ],
        stop_reason="tool_use",
    ),
    "server_tool": Script(
        content=[
            {
                "type": "server_tool_use",
                "id": "srvtoolu_01",
                "name": "web_search",
                "input": {"query": "longcall"},
            },
            {
                "type": "web_search_tool_result",
                "tool_use_id": "srvtoolu_01",
                "content": [
                    {
                        "type": "web_search_result",
                        "title": "T",
                        "url": "https://example.com",
                        "encrypted_content": "abc",
                        "page_age": None,
                    }
                ],
            },
            {"type": "text", "text": "Found it."},
        ],
        usage_extra={"server_tool_use": {"web_search_requests": 1}},
    ),
    "mixed": Script(
        content=[
            {"type": "thinking", "thinking": "Plan: search, then answer."},
            {"type": "text", "text": "Let me look.", "citations": [CITATION]},
            {"type": "tool_use", "id": "toolu_02", "name": "lookup", "input": {}},
            {
                "type": "tool_use",
                "id": "toolu_03",
                "name": "lookup",
                "input": {"deep": {"a": [None, True, 1.5]}},
            },
        ],
        stop_reason="tool_use",
    ),
    "unknown_block": Script(
        content=[
            {"type": "text", "text": "Before."},
            {"type": "future_block", "payload": {"x": 1}},
            {"type": "text", "text": "After."},
        ]
    ),
}


def contains(sdk: Any, ours: Any, path: str = "") -> None:
    """Every field of `sdk` is in `ours` with the same value."""
    if isinstance(sdk, dict):
        assert isinstance(ours, dict), path
        for key, value in sdk.items():
            if key == "parsed_output":  # structured-output field of the SDK's ParsedTextBlock
                continue
            assert key in ours, f"{path}.{key} missing"
            contains(value, ours[key], f"{path}.{key}")
    elif isinstance(sdk, list):
        assert isinstance(ours, list) and len(sdk) == len(ours), path
        for i, (a, b) in enumerate(zip(sdk, ours, strict=True)):
            contains(a, b, f"{path}[{i}]")
    else:
        assert sdk == ours, f"{path}: SDK {sdk!r} != longcall {ours!r}"


def dump(message: Any) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic warns serializing block types the SDK does not know
        result: dict[str, Any] = message.model_dump()
    return result


def recorded(emulator: Emulator, params: dict[str, Any]) -> bytes:
    response = httpx2.post(
        f"{emulator.url}/v1/messages",
        json={**params, "stream": True},
        headers={"x-api-key": "test", "anthropic-version": "2023-06-01"},
    )
    assert response.status_code == 200
    return response.content


def compare(replay: ReplayServer, body: bytes, params: dict[str, Any]) -> anthropic.types.Message:
    client = anthropic.Anthropic(base_url=replay.url, api_key="test", max_retries=0)
    replay.reply(body, cuts=range(7, len(body), 13))
    with client.messages.stream(**params) as stream:
        sdk_message = stream.get_final_message()
    replay.reply(body, cuts=range(5, len(body), 11))
    ours: anthropic.types.Message = longcall.wrap(client, journal=None).messages.create(**params)
    client.close()  # not left to the garbage collector, which may finalize its pooled socket first
    assert isinstance(ours, anthropic.types.Message)
    contains(dump(sdk_message), dump(ours))
    return ours


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_final_message_as_the_sdk(emulator: Emulator, replay: ReplayServer, name: str) -> None:
    emulator.script(name, SCRIPTS[name])
    params = {"model": "claude-opus-4-6", "max_tokens": 2048, "messages": [{"role": "user", "content": name}]}
    ours = compare(replay, recorded(emulator, params), params)
    assert [block.type for block in ours.content] == [block["type"] for block in SCRIPTS[name].content]


def _events_with_extras() -> list[dict[str, Any]]:
    return [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "container": {"id": "c1", "expires_at": "2026-12-01"},
                "usage": {
                    "input_tokens": 10,
                    "cache_creation_input_tokens": 3,
                    "cache_read_input_tokens": 4,
                    "output_tokens": 1,
                    "service_tier": "standard",
                },
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "there ☃"}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"a": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "[1, 2]}"},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None, "container": None},
            "usage": {"output_tokens": 17, "cache_read_input_tokens": 9, "new_usage_field": 5},
        },
        {"type": "message_stop"},
    ]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("trailing_blank", [True, False])
def test_same_message_from_raw_bytes(replay: ReplayServer, newline: str, trailing_blank: bool) -> None:
    body = sse(_events_with_extras(), newline=newline)
    if not trailing_blank:
        body = body[: -2 * len(newline)]
    params = {"model": "claude-opus-4-6", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    ours = compare(replay, body, params)
    assert ours.usage.cache_read_input_tokens == 9  # present in message_delta: overwrites
    assert ours.usage.cache_creation_input_tokens == 3  # absent: the message_start value stays
    assert ours.usage.model_extra == {"new_usage_field": 5}  # a field the SDK would drop is kept
    assert ours.container is not None and ours.container.id == "c1"
    assert json.loads(json.dumps(ours.content[1].input)) == {"a": [1, 2]}


def summary(event: Any) -> tuple[Any, ...]:
    """What a `messages.stream()` consumer reads from each event."""
    kind = event.type
    if kind in ("text", "thinking"):
        return kind, getattr(event, kind), event.snapshot
    if kind == "input_json":
        return kind, event.partial_json, event.snapshot
    if kind == "citation":
        return kind, event.citation.to_dict(), [c.to_dict() for c in event.snapshot]
    if kind == "signature":
        return kind, event.signature
    if kind == "content_block_stop":
        block = dump(event.content_block)
        block.pop("parsed_output", None)
        return kind, event.index, block
    if kind == "message_stop":
        return (kind,)
    if kind == "content_block_delta":
        return kind, event.index, event.delta.type
    return (kind,)


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_messages_stream_yields_what_the_sdk_helper_yields(
    emulator: Emulator, replay: ReplayServer, name: str
) -> None:
    emulator.script(name, SCRIPTS[name])
    params = {"model": "claude-opus-4-6", "max_tokens": 2048, "messages": [{"role": "user", "content": name}]}
    body = recorded(emulator, params)
    client = anthropic.Anthropic(base_url=replay.url, api_key="test", max_retries=0)
    replay.reply(body)
    with client.messages.stream(**params) as stream:
        sdk_events = [summary(event) for event in stream]
        sdk_final = stream.get_final_message()
    replay.reply(body, cuts=range(3, len(body), 17))
    with longcall.wrap(client, journal=None).messages.stream(**params) as stream:
        our_events = [summary(event) for event in stream]
        our_final = stream.get_final_message()
    client.close()
    assert our_events == sdk_events
    contains(dump(sdk_final), dump(our_final))
