"""The emulator's HTTP side: a stdlib ThreadingHTTPServer on loopback speaking the Messages API wire protocol.

One daemon thread per connection. Shared state (faults, scripts, records, prompt cache, counters) sits
behind one lock. Closing sets an event that wakes stalled streams, then shuts every open connection
down, so neither `close()` nor a handler thread is left waiting on a socket. A client that goes away
mid-stream is normal here: it is never logged.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NoReturn, TextIO
from urllib.parse import unquote, urlsplit

from ._faults import Fault
from ._model import (
    OVERLAPS,
    ModelState,
    Overlap,
    Reply,
    RequestError,
    Script,
    count_input_tokens,
    document_for,
    invalid,
    last_user_text,
    original_messages,
    plan_reply,
    validate,
)
from ._wire import Event, error_body, error_event, message_body, stream_events

DEFAULT_MODEL = "claude-haiku-4-5"
DEFAULT_REFUSE_PREFILL_MODELS = frozenset(
    {
        "claude-opus-4-6",
        "claude-sonnet-4-6",
        "claude-opus-4-7",
        "claude-sonnet-4-7",
        "claude-opus-4-8",
        "claude-opus-5",
        "claude-sonnet-5",
        "claude-haiku-5",
        "claude-fable-5",
        "claude-mythos-5",
    }
)
MODELS: tuple[tuple[str, str, str], ...] = (
    ("claude-opus-4-7", "Claude Opus 4.7", "2025-12-20T00:00:00Z"),
    ("claude-opus-4-6", "Claude Opus 4.6", "2025-12-18T00:00:00Z"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", "2025-12-18T00:00:00Z"),
    ("claude-haiku-4-5", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
)
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
_REASONS = {529: "Overloaded"}


@dataclass
class RequestRecord:
    """One request the emulator received, and what it did about it.

    `headers` has lower-case names, with credentials replaced by "***". `body` is the parsed JSON
    (None when there was none or it was not JSON). `usage` is the usage reported (None for errors);
    `output_tokens_sent` counts the token deltas written before the response ended or was cut.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    request_id: str
    status: int | None = None
    fault: Fault | None = None
    usage: dict[str, Any] | None = None
    output_tokens_sent: int = 0


class _Aborted(Exception):
    """The connection was cut on purpose, or the emulator is closing."""


def _model_object(model_id: str, display_name: str, created_at: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": display_name,
        "created_at": created_at,
        "lifecycle": "active",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    }


class Emulator:
    """A deterministic fake Claude on 127.0.0.1 for the real `anthropic` client.

    ```python
    with Emulator() as emu:
        client = anthropic.Anthropic(base_url=emu.url, api_key="test")
        emu.add_faults(Fault(status=529, retry_after=0))
    ```

    Args:
        host: interface to listen on.
        port: TCP port; 0 picks a free one.
        events_per_chunk: SSE events written per HTTP chunk (1: flush after every event).
        continuation_overlap: how a "Continue" reply overlaps the partial: "none", "repeat_words"
            (repeat the last 3 words) or "restart_sentence". A Fault can override it per request.
        refuse_prefill_models: model name prefixes that reject assistant prefill with a 400.
            Default: DEFAULT_REFUSE_PREFILL_MODELS. `emu.refuse_prefill_models` is a mutable set.

    `reset()` restores `refuse_prefill_models` and `continuation_overlap` to these values.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        events_per_chunk: int = 1,
        continuation_overlap: Overlap = "none",
        refuse_prefill_models: Iterable[str] | None = None,
    ) -> None:
        if continuation_overlap not in OVERLAPS:
            raise ValueError(f"continuation_overlap must be one of {', '.join(OVERLAPS)}")
        if events_per_chunk < 1:
            raise ValueError("events_per_chunk must be >= 1")
        self.host = host
        self.events_per_chunk = events_per_chunk
        self.continuation_overlap: Overlap = continuation_overlap
        self._initial_overlap: Overlap = continuation_overlap
        self._initial_refusals = frozenset(
            DEFAULT_REFUSE_PREFILL_MODELS if refuse_prefill_models is None else refuse_prefill_models
        )
        self.refuse_prefill_models: set[str] = set(self._initial_refusals)
        self._requested_port = port
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._scripts: dict[str, Script] = {}
        self._records: list[RequestRecord] = []
        self._cached_prefixes: set[str] = set()
        self._counter = 0
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        # Extra endpoints (such as the Message Batches API, `longcall.testing._batches`): each is called
        # as route(handler, method, path, body) before the built-in ones and returns True if it answered.
        self.routes: list[Callable[[Any, str, str, Any], bool]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Listen and serve in a daemon thread. Returns self."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = threading.Event()
        server = _Server((self.host, self._requested_port), self)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="longcall-emulator", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def close(self) -> None:
        """Stop serving: wake stalled streams and cut open connections. Does not wait for clients."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._closing.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running: use `with Emulator() as emu:` or start()")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL for `anthropic.Anthropic(base_url=...)`, e.g. "http://127.0.0.1:PORT"."""
        return f"http://{self.host}:{self.port}"

    # -- test controls ---------------------------------------------------------------------------

    def add_faults(self, *faults: Fault) -> None:
        """Queue faults: each new POST /v1/messages takes the next one (FIFO); none left, no fault."""
        with self._lock:
            self._faults.extend(faults)

    def script(self, prompt: str, script: Script) -> None:
        """Reply with `script` whenever the last user message's text is exactly `prompt`."""
        with self._lock:
            self._scripts[prompt] = script

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests received since the last reset, oldest first (a copy of the list)."""
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        """Forget faults, scripts, records and the prompt cache; restore the constructor's settings."""
        with self._lock:
            self._faults.clear()
            self._scripts.clear()
            self._records.clear()
            self._cached_prefixes.clear()
        self.refuse_prefill_models = set(self._initial_refusals)
        self.continuation_overlap = self._initial_overlap

    def document(self, prompt_or_params: str | Mapping[str, Any], *, model: str = DEFAULT_MODEL) -> str:
        """The whole text the emulator writes for a prompt or request, before max_tokens or stop sequences.

        Args:
            prompt_or_params: a user prompt, or request params (`model`, `system`, `messages`). A prefill
                or "Continue" request gives the document of the original request it continues.
            model: the model, when `prompt_or_params` does not name one.

        Returns:
            The full document text, or a matching script's text blocks concatenated.
        """
        if isinstance(prompt_or_params, str):
            params: Mapping[str, Any] = {"messages": [{"role": "user", "content": prompt_or_params}]}
        else:
            params = prompt_or_params
        messages: Sequence[Mapping[str, Any]] = params["messages"]
        prompt = last_user_text(messages)
        with self._lock:
            script = self._scripts.get(prompt) if prompt is not None else None
        if script is not None:
            return "".join(str(b.get("text", "")) for b in script.content if b.get("type") == "text")
        chosen_model = params.get("model", model)
        return document_for(chosen_model, params.get("system"), original_messages(messages)).text

    # -- used by request handlers ----------------------------------------------------------------

    def _next_number(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def _take_fault(self, header: str | None) -> Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.popleft()
        if header is None:
            return None
        try:
            return Fault.from_header(header)
        except ValueError as exc:
            raise invalid(str(exc)) from exc

    def _remember_prefix(self, key: str) -> bool:
        with self._lock:
            seen = key in self._cached_prefixes
            self._cached_prefixes.add(key)
            return seen

    def _model_state(self, overlap: str, message_number: int) -> ModelState:
        with self._lock:
            scripts = dict(self._scripts)
        return ModelState(
            scripts=scripts,
            refuse_prefill_models=tuple(self.refuse_prefill_models),
            overlap=overlap,
            remember_prefix=self._remember_prefix,
            message_number=message_number,
        )

    def _track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


_VERTEX = re.compile(r"/v1/projects/[^/]+/locations/[^/]+/publishers/anthropic/models/([^/:]+):(\w+)")


def _from_vertex(path: str, body: Any) -> tuple[str, Any]:
    """Google Vertex AI's spelling of the same API (the SDK's AnthropicVertex client): the model is in
    the path, `anthropic_version` in the body. Answered exactly as the Messages API."""
    match = _VERTEX.fullmatch(path)
    if match is None or not isinstance(body, dict):
        return path, body
    model, verb = match.groups()
    body = {key: value for key, value in body.items() if key != "anthropic_version"}
    if model == "count-tokens":
        return "/v1/messages/count_tokens", body
    if verb in ("rawPredict", "streamRawPredict"):
        return "/v1/messages", {"model": model, **body}
    return path, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (socket.getfqdn), which can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that went away is not news


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _record: RequestRecord
    _request_id: str

    def setup(self) -> None:
        super().setup()
        self.server.emulator._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.emulator._track(self.connection, False)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (OSError, _Aborted):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # -- one request -----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        number = emulator._next_number()
        self._request_id = f"req_emu_{number}"
        self.extra_headers: list[tuple[str, str]] = []  # added to the response by a route
        headers = {name.lower(): value for name, value in self.headers.items()}
        path = unquote(urlsplit(self.path).path)
        raw: bytes | None
        try:
            raw = self._read_body()
        except ValueError:
            raw = None
        body: Any = None
        body_error = False
        if raw:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                body_error = True
        path, body = _from_vertex(path, body)
        self._record = RequestRecord(
            method=self.command,
            path=path,
            headers={k: "***" if k in SECRET_HEADERS else v for k, v in headers.items()},
            body=body,
            request_id=self._request_id,
        )
        emulator._record(self._record)
        if raw is None:
            self.close_connection = True  # the framing is unknown: the next request cannot be found
            self._send_error(400, "invalid_request_error", "could not read the request body")
            return
        try:
            fault = None
            if self.command == "POST" and path == "/v1/messages":
                fault = emulator._take_fault(headers.get("x-emulator-fault"))
                self._record.fault = fault
            if not headers.get("x-api-key") and not headers.get("authorization"):
                raise RequestError(401, "authentication_error", "x-api-key header is required")
            if fault is not None and fault.status is not None:
                status, error_type, message = fault.http_error()
                self._send_error(status, error_type, message, fault.retry_headers())
                return
            if body_error:
                raise invalid("There was an error parsing the body of your HTTP request: not valid JSON")
            self._route(path, body, fault, number)
        except RequestError as error:
            self._send_error(error.status, error.error_type, error.message)
        except (OSError, _Aborted):
            raise
        except Exception as exc:  # an emulator bug: answer 500 rather than hang up without a word
            if self._record.status is not None:
                raise
            self._send_error(500, "api_error", f"emulator error: {exc!r}")

    def _route(self, path: str, body: Any, fault: Fault | None, number: int) -> None:
        for route in list(self.server.emulator.routes):
            if route(self, self.command, path, body):
                return
        if self.command == "POST" and path == "/v1/messages":
            self._messages(body, fault, number)
        elif self.command == "POST" and path == "/v1/messages/count_tokens":
            count = count_input_tokens(validate(body, count_only=True))
            self._send_json(200, json.dumps({"input_tokens": count}).encode())
        elif self.command == "GET" and path == "/v1/models":
            models = [_model_object(*model) for model in MODELS]
            page = {
                "data": models,
                "has_more": False,
                "first_id": models[0]["id"],
                "last_id": models[-1]["id"],
            }
            self._send_json(200, json.dumps(page).encode())
        elif self.command == "GET" and path.startswith("/v1/models/"):
            model_id = path.removeprefix("/v1/models/")
            for model in MODELS:
                if model[0] == model_id:
                    self._send_json(200, json.dumps(_model_object(*model)).encode())
                    return
            raise RequestError(404, "not_found_error", f"model: {model_id}")
        else:
            raise RequestError(404, "not_found_error", "Not found")

    def _messages(self, body: Any, fault: Fault | None, number: int) -> None:
        emulator = self.server.emulator
        params = validate(body)
        overlap = fault.overlap if fault is not None and fault.overlap else emulator.continuation_overlap
        reply = plan_reply(params, emulator._model_state(overlap, number))
        self._record.usage = dict(reply.usage)
        message_id = f"msg_emu_{number}"
        if params.get("stream"):
            self._stream(stream_events(reply, message_id=message_id, model=params["model"]), fault)
        else:
            self._message(reply, message_body(reply, message_id=message_id, model=params["model"]), fault)

    def _message(self, reply: Reply, payload: bytes, fault: Fault | None) -> None:
        if fault is not None:
            if fault.stall_after_events is not None:
                self._pause(fault.stall_seconds)
            if fault.tokens_per_second is not None:
                self._pause(reply.usage["output_tokens"] / fault.tokens_per_second)
            if fault.error_after_events is not None:
                self._send_error(*fault.http_error())
                return
            if fault.drop_after_bytes is not None and fault.drop_after_bytes < len(payload):
                self._send_headers(200, "application/json", [("content-length", str(len(payload)))])
                self.wfile.write(payload[: fault.drop_after_bytes])
                self._abort()
        self._record.output_tokens_sent = int(reply.usage["output_tokens"])
        self._send_json(200, payload)

    def _stream(self, events: list[Event], fault: Fault | None) -> None:
        self._send_headers(
            200, "text/event-stream", [("cache-control", "no-cache"), ("transfer-encoding", "chunked")]
        )
        body = _ChunkedBody(self, None if fault is None else fault.drop_after_bytes)
        per_chunk = self.server.emulator.events_per_chunk
        if fault is None or not fault.acts_per_event:
            for start in range(0, len(events), per_chunk):
                body.send(events[start : start + per_chunk])
            body.end()
            return
        pending: list[Event] = []
        interval = 1 / fault.tokens_per_second if fault.tokens_per_second else 0.0
        due: float | None = None
        for count, event in enumerate(events):
            if count == fault.stall_after_events:
                body.send(pending)
                pending = []
                self._pause(fault.stall_seconds)
            if count == fault.error_after_events:
                body.send([*pending, (error_event(*fault.event_error()), 0)])
                body.end()
                return
            if interval and event[1]:
                if due is None:
                    due = time.monotonic()
                else:
                    body.send(pending)
                    pending = []
                    due += interval
                    self._pause(due - time.monotonic())
            pending.append(event)
            if len(pending) >= per_chunk:
                body.send(pending)
                pending = []
        body.send(pending)
        body.end()

    # -- I/O helpers -----------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = self.headers.get("content-length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" not in self.headers.get("transfer-encoding", "").lower():
            return b""
        parts = []
        while size := int(self.rfile.readline(65537).split(b";")[0].strip(), 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline(65537).strip():
            pass  # trailers
        return b"".join(parts)

    def _send_headers(self, status: int, content_type: str, extra: Sequence[tuple[str, str]] = ()) -> None:
        self._record.status = status
        self.send_response(status, _REASONS.get(status))
        self.send_header("content-type", content_type)
        self.send_header("request-id", self._request_id)
        for name, value in (*extra, *self.extra_headers):
            self.send_header(name, value)
        self.end_headers()

    def _send_json(self, status: int, payload: bytes, extra: Sequence[tuple[str, str]] = ()) -> None:
        self._send_headers(status, "application/json", [("content-length", str(len(payload))), *extra])
        self.wfile.write(payload)

    def _send_error(
        self, status: int, error_type: str, message: str, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._send_json(status, error_body(error_type, message, self._request_id), extra)

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and self.server.emulator._closing.wait(seconds):
            self._abort()

    def _abort(self) -> NoReturn:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _Aborted


class _ChunkedBody:
    """Writes events as HTTP chunks, counting body bytes so a drop can cut after exactly N of them."""

    def __init__(self, handler: _Handler, drop_after: int | None) -> None:
        self._handler = handler
        self._drop_after = drop_after
        self._written = 0

    def send(self, events: Sequence[Event]) -> None:
        if not events:
            return
        data = events[0][0] if len(events) == 1 else b"".join(event for event, _ in events)
        record = self._handler._record
        if self._drop_after is not None and self._written + len(data) >= self._drop_after:
            keep = self._drop_after - self._written
            position = 0
            for event, tokens in events:
                position += len(event)
                if position > keep:
                    break
                record.output_tokens_sent += tokens
            if keep:
                self._write(data[:keep])
            self._handler._abort()
        # Counted before writing, so the count is final when the client sees message_stop.
        record.output_tokens_sent += sum(tokens for _, tokens in events)
        self._write(data)
        self._written += len(data)

    def end(self) -> None:
        self._handler.wfile.write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> None:
        self._handler.wfile.write(b"%X\r\n" % len(data) + data + b"\r\n")


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    events_per_chunk: int = 1,
    continuation_overlap: Overlap = "none",
    file: TextIO | None = None,
) -> None:
    """Run an emulator in the foreground until Ctrl-C (what `longcall emulate --port P` runs).

    Prints one line: the URL and the environment that points the SDK at it.
    """
    with Emulator(
        host=host, port=port, events_per_chunk=events_per_chunk, continuation_overlap=continuation_overlap
    ) as emulator:
        print(
            f"longcall emulator listening on {emulator.url}; point the SDK at it with "
            f"ANTHROPIC_BASE_URL={emulator.url} ANTHROPIC_API_KEY=anything",
            file=file if file is not None else sys.stdout,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
