"""A 200 answer to a streaming request that is not an event stream (a proxy that ignores `stream`):
a JSON message is read as the message, anything else is refused at once, never retried blindly.

The emulator always streams when asked to, so these run against a tiny real HTTP server of their own
that answers every `POST /v1/messages` with the body it is told to send."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import pytest

import longcall

KINDS = ["sync", "async"]
MESSAGE = {
    "id": "msg_proxy",
    "type": "message",
    "role": "assistant",
    "model": "claude-opus-4-6",
    "content": [
        {"type": "thinking", "thinking": "Plan the answer.", "signature": "sig"},
        {"type": "text", "text": "Ships need a harbor: 港口 protects them."},
        {"type": "tool_use", "id": "toolu_1", "name": "log", "input": {"note": "done", "n": [1, 2]}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 34},
}


class ProxyServer:
    """Answers each POST with `content_type` and `body`, and counts the requests."""

    def __init__(self) -> None:
        self.content_type = "application/json"
        self.body = b""
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("content-length") or 0)
                server.requests.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("content-type", server.content_type)
                self.send_header("content-length", str(len(server.body)))
                self.send_header("request-id", f"req_proxy_{len(server.requests)}")
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, content_type: str, body: bytes) -> None:
        self.content_type, self.body, self.requests = content_type, body, []

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def proxy() -> Iterator[ProxyServer]:
    server = ProxyServer()
    yield server
    server.close()


PARAMS = {"model": "claude-opus-4-6", "max_tokens": 64000, "messages": [{"role": "user", "content": "hi"}]}
POLICY = longcall.Policy(backoff_initial=0.01, backoff_max=0.05, idle_timeout=5)


def call(kind: str, url: str, surface: str) -> Any:
    cls = anthropic.Anthropic if kind == "sync" else anthropic.AsyncAnthropic
    wrapped = longcall.wrap(cls(base_url=url, api_key="k", max_retries=0), journal=None, policy=POLICY)
    if kind == "sync":
        with wrapped:
            if surface == "create":
                return wrapped.messages.create(**PARAMS)
            if surface == "stream":
                with wrapped.messages.stream(**PARAMS) as stream:
                    return stream.get_final_message()
            return [event.type for event in wrapped.messages.create(stream=True, **PARAMS)]

    async def go() -> Any:
        async with wrapped:
            if surface == "create":
                return await wrapped.messages.create(**PARAMS)
            if surface == "stream":
                async with wrapped.messages.stream(**PARAMS) as stream:
                    return await stream.get_final_message()
            return [event.type async for event in await wrapped.messages.create(stream=True, **PARAMS)]

    return asyncio.run(go())


@pytest.mark.parametrize("surface", ["create", "stream", "create(stream=True)"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_json_message_is_read_as_the_message(proxy: ProxyServer, kind: str, surface: str) -> None:
    proxy.answer("application/json", json.dumps(MESSAGE).encode())
    result = call(kind, proxy.url, surface)
    assert len(proxy.requests) == 1 and proxy.requests[0]["stream"] is True
    if surface == "create(stream=True)":
        assert result[0] == "message_start" and result[-1] == "message_stop"
        assert result.count("content_block_start") == result.count("content_block_stop") == 3
        return
    got = {k: v for k, v in result.to_dict().items() if k != "stop_details"}  # the SDK's stream adds it
    assert got == {**MESSAGE, "content": got["content"]}
    thinking, text, tool = result.content
    assert (thinking.thinking, thinking.signature) == ("Plan the answer.", "sig")
    assert text.text == MESSAGE["content"][1]["text"]
    assert (tool.name, tool.input) == ("log", {"note": "done", "n": [1, 2]})
    assert result.stop_reason == "tool_use" and result.usage.output_tokens == 34


@pytest.mark.parametrize(
    "content_type, body, problem",
    [
        ("application/json", b'{"ok": true}', "JSON that is not a message"),
        ("application/json", b"not json at all", "no JSON"),
        ("text/html", b"<html><body>Proxy login</body></html>", "HTML page"),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_anything_else_is_refused_at_once(
    proxy: ProxyServer, kind: str, content_type: str, body: bytes, problem: str
) -> None:
    proxy.answer(content_type, body)
    with pytest.raises(longcall.StreamProtocolError, match=problem) as caught:
        call(kind, proxy.url, "create")
    assert len(proxy.requests) == 1  # not retried
    assert caught.value.partial is None and len(caught.value.attempts) == 1
