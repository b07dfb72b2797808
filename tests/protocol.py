"""Invariants of a stitched call, for any test (and the fault soak) to assert after a run.

`check_events(events)` validates a `create(stream=True)` event sequence (SDK event objects or dicts)
against the Messages API's stream protocol and returns the message the events accumulate to, as the
SDK's own accumulator builds it. `check_usage(message)` checks a message's usage against its attempt
records and the rules for broken attempts.
"""

from __future__ import annotations

from typing import Any

from anthropic._models import construct_type
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent

DELTA_FOR_BLOCK = {
    "text_delta": ("text",),
    "citations_delta": ("text",),
    "thinking_delta": ("thinking",),
    "signature_delta": ("thinking",),
    "input_json_delta": ("tool_use", "server_tool_use", "mcp_tool_use"),
}
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _as_dict(event: Any) -> dict[str, Any]:
    if isinstance(event, dict):
        return event
    data: dict[str, Any] = event.to_dict() if hasattr(event, "to_dict") else dict(event)
    return data


def check_events(events: list[Any]) -> Message:
    """Assert the stream protocol; return the message the SDK's accumulator builds from `events`.

    Rules: message_start first and once; message_stop last and once, right after one message_delta;
    block indices start at 0 and go up by one; each block has one content_block_start, then only its
    own deltas (of a type its block accepts), then one content_block_stop; no block starts before the
    one before it stopped; nothing after message_stop.
    """
    kinds = [_as_dict(event)["type"] for event in events]
    assert kinds and kinds[0] == "message_start", kinds[:3]
    assert kinds.count("message_start") == 1, "message_start more than once"
    assert kinds[-1] == "message_stop" and kinds.count("message_stop") == 1, kinds[-3:]
    assert kinds.count("message_delta") == 1 and kinds[-2] == "message_delta", kinds[-3:]
    open_block: int | None = None
    block_types: list[str] = []
    stopped: set[int] = set()
    for event in map(_as_dict, events):
        kind = event["type"]
        if kind == "content_block_start":
            index = event["index"]
            assert open_block is None, f"block {index} started while block {open_block} was open"
            assert index == len(block_types), f"block {index} started, expected {len(block_types)}"
            block_types.append(event["content_block"]["type"])
            open_block = index
        elif kind == "content_block_delta":
            index = event["index"]
            assert index not in stopped, f"a delta for block {index} after its content_block_stop"
            assert index == open_block, f"a delta for block {index}, which is not open"
            allowed = DELTA_FOR_BLOCK.get(event["delta"]["type"])
            if allowed is not None:
                assert block_types[index] in allowed, (event["delta"]["type"], block_types[index])
        elif kind == "content_block_stop":
            index = event["index"]
            assert index == open_block, f"content_block_stop for block {index}, which is not open"
            stopped.add(index)
            open_block = None
        elif kind in ("message_delta", "message_stop"):
            assert open_block is None, f"{kind} while block {open_block} was open"
    assert stopped == set(range(len(block_types)))
    snapshot: Message | None = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        typed = (
            event if not isinstance(event, dict) else construct_type(type_=RawMessageStreamEvent, value=event)
        )
        snapshot = accumulate_event(event=typed, current_snapshot=snapshot, json_bufs=json_bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    return snapshot


def check_usage(message: Any, requests: list[Any] | None = None) -> None:
    """The message's usage is the sum over its attempts; every attempt says where its output count
    comes from, and a complete attempt's is the server's. With the emulator's `requests` (English
    documents: the emulator's count_tokens counts words), a broken attempt's count is what the emulator
    wrote before the cut, within a token or two."""
    for name in USAGE_FIELDS:
        total = sum(int(attempt.usage.get(name) or 0) for attempt in message.attempts)
        assert (getattr(message.usage, name) or 0) == total, name
    for attempt in message.attempts:
        assert attempt.usage_source in ("server", "counted", "estimated")
        if attempt.error is None:
            assert attempt.usage_source == "server"
    if requests is not None:
        generating = [record for record in requests if record.path == "/v1/messages"]
        assert len(generating) == len(message.attempts)
        for attempt, record in zip(message.attempts, generating, strict=True):
            if attempt.usage_source == "server":
                assert attempt.usage["output_tokens"] == record.usage["output_tokens"]
            elif attempt.usage_source == "counted" and record.status == 200:
                # Counting the received text is the model's count of that text, not of the stream's
                # tokens: a token of whitespace alone counts as nothing, so allow a token or two.
                sent = record.output_tokens_sent
                assert abs(attempt.usage["output_tokens"] - sent) <= max(2, sent // 100), (
                    attempt.usage["output_tokens"],
                    sent,
                )
