"""Replies as bytes, shaped exactly as the Messages API sends them: SSE events, Message and error bodies.

Token deltas are encoded once per distinct (block index, delta type, piece) and cached, so a long
document costs a cache lookup per token rather than a JSON encode.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from ._model import Reply

Event = tuple[bytes, int]  # (the event's bytes, output tokens it carries)

PING = b'event: ping\ndata: {"type": "ping"}\n\n'
_PIECE_FIELDS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def sse(event_type: str, payload: Any) -> bytes:
    return b"event: " + event_type.encode() + b"\ndata: " + encode_json(payload) + b"\n\n"


@lru_cache(maxsize=65536)
def _piece_event(index: int, delta_type: str, piece: str) -> bytes:
    delta = {"type": delta_type, _PIECE_FIELDS[delta_type]: piece}
    return sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def _delta(index: int, delta: Any) -> bytes:
    return sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def stream_events(reply: Reply, *, message_id: str, model: str) -> list[Event]:
    """Every event of the streamed reply, from message_start to message_stop, one ping after the first block
    start (or after message_start when there is no block)."""
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "usage": {**reply.usage, "output_tokens": 1},
    }
    events: list[Event] = [(sse("message_start", {"type": "message_start", "message": message}), 0)]
    if not reply.blocks:
        events.append((PING, 0))
    for index, block in enumerate(reply.blocks):
        start = {"type": "content_block_start", "index": index, "content_block": block.start}
        events.append((sse("content_block_start", start), 0))
        if index == 0:
            events.append((PING, 0))
        for citation in block.citations:
            events.append((_delta(index, {"type": "citations_delta", "citation": citation}), 0))
        if block.delta_type is not None:
            delta_type = block.delta_type
            events.extend((_piece_event(index, delta_type, piece), 1) for piece in block.pieces)
        if block.signature is not None:
            events.append((_delta(index, {"type": "signature_delta", "signature": block.signature}), 0))
        for delta in block.raw_deltas:
            events.append((_delta(index, delta), 0))
        events.append((sse("content_block_stop", {"type": "content_block_stop", "index": index}), 0))
    # The API's message_delta usage is cumulative: input and cache counts again, with the final output count.
    delta = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence, "stop_details": None}
    usage = reply.usage
    events.append((sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}), 0))
    events.append((sse("message_stop", {"type": "message_stop"}), 0))
    return events


def message_body(reply: Reply, *, message_id: str, model: str) -> bytes:
    """The non-streaming Message: the same content and usage as the stream accumulates to."""
    return encode_json(
        {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [block.final for block in reply.blocks],
            "stop_reason": reply.stop_reason,
            "stop_sequence": reply.stop_sequence,
            "stop_details": None,
            "usage": reply.usage,
        }
    )


def error_body(error_type: str, message: str, request_id: str) -> bytes:
    return encode_json(
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    )


def error_event(error_type: str, message: str) -> bytes:
    return sse("error", {"type": "error", "error": {"type": error_type, "message": message}})


Interceptor = Callable[[Any, str, str, Any], bool]


def scripted_stream(
    events: Sequence[Mapping[str, Any]], *, hold_open: float = 0.0, times: int = 1
) -> Interceptor:
    """An interceptor (`emu.interceptors.append(...)`) that answers the next `times` streaming
    POST /v1/messages with exactly `events`, each an SSE event named by its `type`, then keeps the
    body open `hold_open` seconds before ending it: for streams the emulator's model never sends
    (an event after message_stop, a server that does not end the body)."""
    frames = [(sse(str(event["type"]), event), 0) for event in events]
    left = [times]
    lock = threading.Lock()

    def intercept(handler: Any, method: str, path: str, body: Any) -> bool:
        if method != "POST" or path != "/v1/messages" or not (isinstance(body, dict) and body.get("stream")):
            return False
        with lock:
            if left[0] <= 0:
                return False
            left[0] -= 1
        from ._server import _ChunkedBody

        headers = [("cache-control", "no-cache"), ("transfer-encoding", "chunked")]
        handler._send_headers(200, "text/event-stream", headers)
        chunked = _ChunkedBody(handler, None)
        for frame in frames:
            chunked.send([frame])
        handler._pause(hold_open)
        chunked.end()
        return True

    return intercept
