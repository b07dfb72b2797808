"""The emulator's HTTP side: a stdlib ThreadingHTTPServer on loopback speaking the Messages API wire protocol.

One daemon thread per connection. Shared state (faults, scripts, records, prompt cache, counters) sits
behind one lock. Closing sets an event that wakes stalled streams, then shuts every open connection
down, so neither `close()` nor a handler thread is left waiting on a socket. A client that goes away
mid-stream is normal here: it is never logged.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import socket
import socketserver
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NoReturn, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

from anthropic import _constants as _sdk_constants

from .._catalog import ModelInfo, Price, catalog_rows
from . import _rules
from ._faults import Fault
from ._limits import RateLimiter, RateLimitExceeded, RateLimits
from ._model import (
    OVERLAPS,
    ModelState,
    Overlap,
    Reply,
    RequestError,
    Script,
    _json_format,
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
SDK_API_VERSION: str = getattr(_sdk_constants, "ANTHROPIC_API_VERSION", "2026-10-21")  # what the SDK sends
_CATALOG_NAMES = {name: row for row in catalog_rows() for name in (row.id, *row.aliases)}
# Every catalog name whose model refuses prefill: the catalog is the one source of these facts.
DEFAULT_REFUSE_PREFILL_MODELS = frozenset(
    name for row in catalog_rows() if not row.accepts_prefill for name in (row.id, *row.aliases)
)
SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
_REASONS = {529: "Overloaded"}


@dataclass
class RequestRecord:
    """One request the emulator received, and what it did about it.

    `headers` has lower-case names, with credentials replaced by "***". `body` is the parsed JSON
    (None when there was none or it was not JSON). `usage` is the usage reported (None for errors);
    `output_tokens_sent` counts the token deltas written before the response ended or was cut;
    `bytes_sent` the body bytes written (chunk framing not counted); `cut` whether the emulator cut
    the connection (a fault, or closing).
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
    model: str | None = None
    bytes_sent: int = 0
    duration: float | None = None
    cut: bool = False

    def log_line(self) -> str:
        """One line for a request log: method, path, model, status, body bytes, faults, duration."""
        status = "cut" if self.cut else str(self.status)
        fault = self.fault.describe() if self.fault is not None else "-"
        duration = f"{self.duration:.3f}s" if self.duration is not None else "-"
        return (
            f"{self.request_id} {self.method} {self.path} model={self.model or '-'} status={status} "
            f"bytes={self.bytes_sent} faults={fault} duration={duration}"
        )


@dataclass(frozen=True)
class RouteRequest:
    """What an extra route's handler gets: the request, parsed, and the emulator (for its state).

    `headers` have lower-case names and include credentials (never log them); `query` holds the last
    value of each query parameter; `body` is the parsed JSON or None.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    emulator: Emulator


@dataclass(frozen=True)
class RouteResponse:
    """What a handler answers: a status, a JSON-able body (or bytes as they are), extra headers."""

    status: int = 200
    body: Any = None
    content_type: str = "application/json"
    headers: Sequence[tuple[str, str]] = ()


RouteHandler = Callable[[RouteRequest], RouteResponse]
# Routes other modules add to every emulator (the Message Batches endpoints, for one), by
# (method, path prefix); the longest matching prefix wins, before the built-in routes. A handler
# raises RequestError(status, error_type, message) to answer an API error.
ROUTES: dict[tuple[str, str], RouteHandler] = {}


def register_route(method: str, path_prefix: str, handler: RouteHandler) -> None:
    """Add a route to every emulator: `handler` answers `method` requests whose path starts with
    `path_prefix` (after the credentials and version checks; faults apply only to POST /v1/messages)."""
    ROUTES[(method.upper(), path_prefix)] = handler


class _Aborted(Exception):
    """The connection was cut on purpose, or the emulator is closing."""


def _supported(flag: bool) -> dict[str, bool]:
    return {"supported": flag}


def model_object(info: ModelInfo) -> dict[str, Any]:
    """The Models API's object for a catalog row: its shape, the row's limits, thinking modes and
    lifecycle, and capabilities the catalog does not track set as a current model has them."""
    thinking = bool(info.thinking_modes)
    effort = "adaptive" in info.thinking_modes
    line = next((name for name in ("opus", "sonnet", "haiku", "fable", "mythos") if name in info.id), None)
    return {
        "type": "model",
        "id": info.id,
        "display_name": info.display_name,
        "created_at": "2025-01-01T00:00:00Z",
        "lifecycle": info.lifecycle,
        "deprecated_at": info.deprecated_at
        or ("2025-12-01T00:00:00Z" if info.lifecycle != "active" else None),
        "retires_at": info.retires_at,
        "line": line,
        "max_input_tokens": info.context_window,
        "max_tokens": info.max_output,
        "capabilities": {
            "batch": _supported(True),
            "citations": _supported(True),
            "code_execution": _supported(effort),
            "context_management": {"supported": effort, "clear_tool_uses_20250919": _supported(effort)},
            "effort": {
                "supported": effort,
                **{level: _supported(effort) for level in ("low", "medium", "high", "max")},
            },
            "image_input": _supported(True),
            "pdf_input": _supported(True),
            "server_tools": {
                "supported": True,
                "web_search": _supported(True),
                "code_execution": _supported(True),
            },
            "structured_outputs": _supported(thinking),
            "thinking": {
                "supported": thinking,
                "types": {
                    "enabled": _supported("enabled" in info.thinking_modes),
                    "adaptive": _supported("adaptive" in info.thinking_modes),
                    "disabled": _supported(True),
                    "between_tools": _supported(effort),
                },
            },
        },
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
            Default: DEFAULT_REFUSE_PREFILL_MODELS (from longcall's catalog). `emu.refuse_prefill_models`
            is a mutable set.
        strict: refuse what the real API refuses (the default): unknown models, `max_tokens` above the
            model's limit, a missing `anthropic-version`, more than 4 cache breakpoints, sampling
            parameters on API versions without them, unsigned thinking blocks, ... (docs/emulator.md has
            the list). `strict=False` is the old lenient emulator: any model name, any `max_tokens`.
        log: where to write one line per request (`RequestRecord.log_line()`): a callable taking the
            line, or a text file (a newline is added and it is flushed). Never holds credentials.
        rate_limits: per-minute limits on POST /v1/messages, answered with the API's
            `anthropic-ratelimit-*` headers and, past them, its 429 `rate_limit_error` with
            `retry-after`. Settable later as `emu.rate_limits`.
        routes: extra (method, path prefix) -> handler routes for this emulator, over `ROUTES`.

    `reset()` restores `refuse_prefill_models`, `continuation_overlap` and the served models to these
    values (models added with `add_model()` are forgotten).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        events_per_chunk: int = 1,
        continuation_overlap: Overlap = "none",
        refuse_prefill_models: Iterable[str] | None = None,
        strict: bool = True,
        log: Callable[[str], object] | TextIO | None = None,
        rate_limits: RateLimits | None = None,
        routes: Mapping[tuple[str, str], RouteHandler] | None = None,
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
        self.strict = strict
        self._models: dict[str, ModelInfo] = {}
        self._log_target = log
        self._initial_rate_limits = rate_limits
        self._limiter: RateLimiter | None = RateLimiter(rate_limits) if rate_limits is not None else None
        self._routes = {**ROUTES, **(routes or {})}
        self._periodic: list[tuple[int, int, Fault]] = []  # (every, requests seen when set, fault)
        self._messages_seen = 0
        self.state: dict[str, Any] = {}  # for extra routes' handlers; cleared by reset()
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
        # Called as intercept(handler, method, path, body) before any route; True if it answered. Unlike
        # a route it may answer only some requests, add response headers (`handler.extra_headers`) or
        # cut the connection: the batch tests' short-window rate limits and broken result downloads.
        self.interceptors: list[Callable[[Any, str, str, Any], bool]] = []

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Listen and serve in a daemon thread. Returns self."""
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = threading.Event()
        server = _Server((self.host, self._requested_port), self)
        if not _is_loopback(self.host):
            # it answers anyone who can reach it, with any key: say so where a person will see it
            print(
                f"warning: the longcall emulator listens on {self.host}, beyond loopback: anyone on your "
                "network can reach it.",
                file=sys.stderr,
                flush=True,
            )
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
        """Queue faults: each new POST /v1/messages takes the next one (FIFO); none left, no fault.
        So a fault added alone applies to the next request only."""
        with self._lock:
            self._faults.extend(faults)

    def fault_every(self, every: int, fault: Fault) -> None:
        """Apply `fault` to every `every`-th POST /v1/messages from now on (the every-th, 2*every-th, ...),
        when no queued fault applies. Several can be set; the first that applies wins. reset() clears them."""
        if every < 1:
            raise ValueError(f"every must be >= 1, not {every}")
        with self._lock:
            self._periodic.append((every, self._messages_seen, fault))

    @property
    def rate_limits(self) -> RateLimits | None:
        """The per-minute limits on POST /v1/messages (None: unlimited, no rate-limit headers)."""
        return self._limiter.limits if self._limiter is not None else None

    @rate_limits.setter
    def rate_limits(self, limits: RateLimits | None) -> None:
        with self._lock:
            self._limiter = RateLimiter(limits) if limits is not None else None

    def add_model(
        self,
        model_id: str,
        *,
        max_tokens: int = 64_000,
        max_input_tokens: int = 200_000,
        accepts_prefill: bool = True,
        thinking_modes: Iterable[str] = ("enabled", "adaptive"),
        display_name: str | None = None,
    ) -> ModelInfo:
        """Serve a model the catalog does not name (until `reset()`), with these limits.

        Returns:
            The row the emulator serves for it (also what GET /v1/models/{id} answers).
        """
        info = ModelInfo(
            id=model_id,
            aliases=(),
            display_name=display_name or model_id,
            context_window=max_input_tokens,
            max_output=max_tokens,
            max_output_beta=None,
            accepts_prefill=accepts_prefill,
            thinking_modes=frozenset(thinking_modes),
            price=Price(0, 0, 0, 0),
        )
        with self._lock:
            self._models[model_id] = info
        if not accepts_prefill:
            self.refuse_prefill_models.add(model_id)
        return info

    def served_models(self) -> dict[str, ModelInfo]:
        """Every model name the emulator answers (catalog ids and aliases, then added models) -> its row."""
        served = dict(_CATALOG_NAMES)
        with self._lock:
            served.update(self._models)
        return served

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
            self._models.clear()
            self._periodic.clear()
            self.state.clear()
        self.refuse_prefill_models = set(self._initial_refusals)
        self.continuation_overlap = self._initial_overlap
        self.rate_limits = self._initial_rate_limits

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
        schema = _json_format(params)
        return document_for(chosen_model, params.get("system"), original_messages(messages), schema).text

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
            self._messages_seen += 1
            if self._faults:
                return self._faults.popleft()
            for every, since, fault in self._periodic:
                if (self._messages_seen - since) % every == 0:
                    return fault
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
            strict=self.strict,
        )

    def message_for(
        self, params: Mapping[str, Any], *, version: str = SDK_API_VERSION, betas: Iterable[str] = ()
    ) -> dict[str, Any]:
        """The Message JSON the emulator answers to POST /v1/messages with `params` (without `stream`):
        no fault, not recorded, not rate limited. For routes that need a reply, such as batch results.

        Raises:
            RequestError: the request is one the emulator refuses (`.status`, `.error_type`, `.message`).
        """
        body = validate(dict(params))
        self._check_strictly(body, count_input_tokens(body), version, frozenset(betas))
        number = self._next_number()
        reply = plan_reply(body, self._model_state(self.continuation_overlap, number))
        payload: dict[str, Any] = json.loads(
            message_body(reply, message_id=f"msg_emu_{number}", model=body["model"])
        )
        return payload

    def _check_strictly(
        self,
        params: dict[str, Any],
        input_tokens: int,
        version: str,
        betas: frozenset[str],
        *,
        count_only: bool = False,
    ) -> None:
        """The model-dependent refusals of the real API (nothing in lenient mode)."""
        if not self.strict:
            return
        info = _rules.check_model(params["model"], self.served_models())
        _rules.check_messages_request(
            params, info, version=version, betas=betas, input_tokens=input_tokens, count_only=count_only
        )

    def _log(self, record: RequestRecord) -> None:
        target = self._log_target
        if target is None:
            return
        line = record.log_line()
        if callable(target):
            target(line)
        else:
            with self._lock:
                target.write(line + "\n")
                target.flush()

    def _route_for(self, method: str, path: str) -> RouteHandler | None:
        matches = [
            (len(prefix), handler)
            for (route_method, prefix), handler in self._routes.items()
            if route_method == method and path.startswith(prefix)
        ]
        return max(matches, key=lambda match: match[0])[1] if matches else None

    def _admit(self, input_tokens: int) -> list[tuple[str, str]]:
        with self._lock:
            limiter = self._limiter
            return limiter.admit(input_tokens, time.monotonic()) if limiter is not None else []

    def _settle(self, output_tokens: int) -> list[tuple[str, str]]:
        with self._lock:
            limiter = self._limiter
            return limiter.settle_output(output_tokens, time.monotonic()) if limiter is not None else []

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


def _unacknowledged_bytes(connection: socket.socket) -> int:
    """Bytes written to `connection` the peer has not acknowledged (Linux; 0 where unknown)."""
    if not sys.platform.startswith("linux"):
        return 0
    import fcntl  # POSIX only: imported where it is used
    import termios

    try:
        queued = fcntl.ioctl(connection.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", queued)[0])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    _version: str | None = None
    _headers: Mapping[str, str] = {}

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
        started = time.monotonic()
        self._bytes_sent = 0
        try:
            self._handle()
        except _Aborted:
            self._record.cut = True
            raise
        finally:
            record = getattr(self, "_record", None)
            if record is not None:
                record.bytes_sent = self._bytes_sent
                record.duration = time.monotonic() - started
                self.server.emulator._log(record)

    def _handle(self) -> None:
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
        vertex_version = body.get("anthropic_version") if isinstance(body, dict) else None
        routed_path, body = _from_vertex(path, body)
        # Vertex names the API version in the body, not in a header.
        self._version = str(vertex_version) if routed_path != path and vertex_version else None
        path = routed_path
        self._record = RequestRecord(
            method=self.command,
            path=path,
            headers={k: "***" if k in SECRET_HEADERS else v for k, v in headers.items()},
            body=body,
            request_id=self._request_id,
            model=body.get("model")
            if isinstance(body, dict) and isinstance(body.get("model"), str)
            else None,
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
                if fault is not None and fault.reset_before_status:
                    self._abort(reset=True)  # a network fault: before anything the API would check
            if emulator.strict:
                _rules.check_credentials(headers)
                if self._version is None and path.startswith("/v1/"):
                    self._version = _rules.check_version(headers)
            elif not headers.get("x-api-key") and not headers.get("authorization"):
                raise RequestError(401, "authentication_error", "x-api-key header is required")
            self._headers = headers
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
        for intercept in list(self.server.emulator.interceptors):
            if intercept(self, self.command, path, body):
                return
        handler = self.server.emulator._route_for(self.command, path)
        if handler is not None:
            query = {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}
            request = RouteRequest(self.command, path, query, dict(self._headers), body, self.server.emulator)
            response = handler(request)
            if isinstance(response.body, bytes):
                payload = response.body
            else:
                payload = json.dumps(response.body, ensure_ascii=False).encode()
            headers = [("content-length", str(len(payload))), *response.headers]
            self._send_headers(response.status, response.content_type, headers)
            self._write(payload)
            return
        if self.command == "POST" and path == "/v1/messages":
            self._messages(body, fault, number)
        elif self.command == "POST" and path == "/v1/messages/count_tokens":
            params = validate(body, count_only=True)
            count = count_input_tokens(params)
            self._check_strictly(params, count, count_only=True)
            self._send_json(200, json.dumps({"input_tokens": count}).encode())
        elif self.command == "GET" and path == "/v1/models":
            rows = list({id(row): row for row in self.server.emulator.served_models().values()}.values())
            models = [model_object(row) for row in rows]
            page = {
                "data": models,
                "has_more": False,
                "first_id": models[0]["id"] if models else None,
                "last_id": models[-1]["id"] if models else None,
            }
            self._send_json(200, json.dumps(page).encode())
        elif self.command == "GET" and path.startswith("/v1/models/"):
            model_id = path.removeprefix("/v1/models/")
            row = self.server.emulator.served_models().get(model_id)
            if row is None:
                raise RequestError(404, "not_found_error", f"model: {model_id}")
            self._send_json(200, json.dumps(model_object(row)).encode())
        else:
            raise RequestError(404, "not_found_error", "Not found")

    def _check_strictly(self, params: dict[str, Any], input_tokens: int, *, count_only: bool = False) -> None:
        self.server.emulator._check_strictly(
            params, input_tokens, self._version or "", _rules.betas_of(self._headers), count_only=count_only
        )

    def _messages(self, body: Any, fault: Fault | None, number: int) -> None:
        emulator = self.server.emulator
        params = validate(body)
        input_tokens = count_input_tokens(params)
        self._check_strictly(params, input_tokens)
        try:
            emulator._admit(input_tokens)
        except RateLimitExceeded as exceeded:
            headers = [("retry-after", str(exceeded.retry_after)), *exceeded.headers]
            self._send_error(429, "rate_limit_error", exceeded.message, headers)
            return
        overlap = fault.overlap if fault is not None and fault.overlap else emulator.continuation_overlap
        reply = plan_reply(params, emulator._model_state(overlap, number))
        self._record.usage = dict(reply.usage)
        limit_headers = emulator._settle(int(reply.usage["output_tokens"]))
        message_id = f"msg_emu_{number}"
        if params.get("stream"):
            events = stream_events(reply, message_id=message_id, model=params["model"])
            self._stream(events, fault, limit_headers)
        else:
            payload = message_body(reply, message_id=message_id, model=params["model"])
            self._message(reply, payload, fault, limit_headers)

    def _message(
        self, reply: Reply, payload: bytes, fault: Fault | None, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        if fault is not None:
            if fault.stall_after_events is not None:
                self._pause(fault.stall_seconds)
            if fault.tokens_per_second is not None:
                self._pause(reply.usage["output_tokens"] / fault.tokens_per_second)
            if fault.error_after_events is not None:
                self._send_error(*fault.http_error())
                return
            cut = fault.cut_after_bytes
            if cut is not None and cut[0] < len(payload):
                self._send_headers(200, "application/json", [("content-length", str(len(payload))), *extra])
                self._write(payload[: cut[0]])
                self._abort(reset=cut[1])
        self._record.output_tokens_sent = int(reply.usage["output_tokens"])
        self._send_json(200, payload, extra)

    def _stream(
        self, events: list[Event], fault: Fault | None, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._send_headers(
            200,
            "text/event-stream",
            [("cache-control", "no-cache"), ("transfer-encoding", "chunked"), *extra],
        )
        body = _ChunkedBody(self, None if fault is None else fault.cut_after_bytes)
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
        self._write(payload)

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        self._bytes_sent += len(data)

    def _send_error(
        self, status: int, error_type: str, message: str, extra: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._send_json(status, error_body(error_type, message, self._request_id), extra)

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and self.server.emulator._closing.wait(seconds):
            self._abort()

    def _abort(self, *, reset: bool = False) -> NoReturn:
        """Cut the connection: shut it down cleanly (FIN), or with `reset` send an RST instead."""
        record = getattr(self, "_record", None)
        if record is not None:  # final before the client can see the cut
            record.cut, record.bytes_sent = True, self._bytes_sent
        with contextlib.suppress(OSError):
            if reset:
                self._reset()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        raise _Aborted

    def _reset(self) -> None:
        connection = self.connection
        # An RST throws away what the kernel has not sent yet: wait until the client has the bytes
        # written (unacknowledged bytes are 0), so they are what it sees before ECONNRESET.
        deadline = time.monotonic() + 5
        while _unacknowledged_bytes(connection) and time.monotonic() < deadline:
            if self.server.emulator._closing.wait(0.001):
                break
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # close() sends the RST only once the last file made from the socket is closed too
        self.rfile.close()
        connection.close()


class _ChunkedBody:
    """Writes events as HTTP chunks, counting body bytes so a drop or reset cuts after exactly N of them."""

    def __init__(self, handler: _Handler, cut: tuple[int, bool] | None) -> None:
        self._handler = handler
        self._cut_after: int | None = cut[0] if cut is not None else None
        self._reset = cut is not None and cut[1]
        self._written = 0

    def send(self, events: Sequence[Event]) -> None:
        if not events:
            return
        data = events[0][0] if len(events) == 1 else b"".join(event for event, _ in events)
        record = self._handler._record
        if self._cut_after is not None and self._written + len(data) >= self._cut_after:
            keep = self._cut_after - self._written
            position = 0
            for event, tokens in events:
                position += len(event)
                if position > keep:
                    break
                record.output_tokens_sent += tokens
            if keep:
                self._write(data[:keep])
            self._handler._abort(reset=self._reset)
        # Counted before writing, so the count is final when the client sees message_stop.
        record.output_tokens_sent += sum(tokens for _, tokens in events)
        self._write(data)
        self._written += len(data)

    def end(self) -> None:
        self._handler.wfile.write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> None:
        self._handler.wfile.write(b"%X\r\n" % len(data) + data + b"\r\n")
        self._handler._bytes_sent += len(data)


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    events_per_chunk: int = 1,
    continuation_overlap: Overlap = "none",
    file: TextIO | None = None,
    strict: bool = True,
    log: Callable[[str], object] | TextIO | None = None,
    rate_limits: RateLimits | None = None,
    faults: Sequence[Fault] = (),
) -> None:
    """Run an emulator in the foreground until Ctrl-C (what `longcall emulate --port P` runs).

    Prints one line: the URL and the environment that points the SDK at it. `faults` are queued (the
    first request takes the first); the other options are the Emulator's.
    """
    with Emulator(
        host=host,
        port=port,
        events_per_chunk=events_per_chunk,
        continuation_overlap=continuation_overlap,
        strict=strict,
        log=log,
        rate_limits=rate_limits,
    ) as emulator:
        emulator.add_faults(*faults)
        print(
            f"longcall emulator listening on {emulator.url}; point the SDK at it with "
            f"ANTHROPIC_BASE_URL={emulator.url} ANTHROPIC_API_KEY=anything",
            file=file if file is not None else sys.stdout,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
