"""longcall inside the SDK: a middleware that makes Messages API requests long-safe.

`anthropic.Anthropic(middleware=[longcall.middleware()])` (SDK 2.12 and later) runs this once per
call the SDK sends. A streaming `POST /v1/messages` (`messages.stream()`, `create(stream=True)`, the
beta twins) is driven by longcall's engine: each attempt goes down the rest of the chain, failures are
retried or resumed, and the SDK reads one stitched SSE stream as if the server had sent it, so the
SDK's own objects (`Stream`, `MessageStream`, `.response`, `.request_id`) do everything else. Every
other request passes through untouched.

`wrap()` sends every generating call through the same middleware, marked with `MARK_HEADER`, which
also turns a non-streaming call into a streamed one whose answer the SDK reads as a JSON message:
that is how `create`, `parse`, `with_raw_response` and the beta types stay the SDK's own.

Invariants: the engine and the two drivers are the only code deciding anything; this module only
translates between the SDK's request/response objects and the drivers' `create(**params)`, and
between longcall's failures and the SDK's exception classes (`with_sdk_class`). The marker header
never reaches the server.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from json.encoder import encode_basestring
from typing import Any

import anthropic
import httpx2
from anthropic._compat import model_copy
from anthropic._constants import RAW_RESPONSE_HEADER
from anthropic._middleware import AsyncCallNext, CallNext, Middleware
from anthropic._request import APIRequest
from anthropic._response import APIResponse, AsyncAPIResponse

from . import _errors
from ._accumulate import ProtocolViolation, ServerReportedError
from ._catalog import UnknownModelWarning, lookup
from ._drivers import drive_async, drive_sync, jitter, run_async, run_sync
from ._engine import Generation, Hooks, LongcallMessage, Observer
from ._policy import Policy
from ._retry import DeadlinePassed

MARK_HEADER = "x-longcall-call"
HOOK_NAMES = ("on_text", "on_thinking", "on_tool_input", "on_event", "on_attempt")
DEFAULT_JOURNAL: Any = object()  # sentinel: the per-user journal (see longcall.journal)
_NOT_GIVEN: Any = object()


@dataclass
class Config:
    """What `wrap()` or `middleware()` was given; shared by every call through that client."""

    policy: Policy = field(default_factory=Policy)
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    journal: Any = DEFAULT_JOURNAL
    observers: list[Observer] = field(default_factory=list)
    token_counts: dict[str, int] = field(default_factory=dict)

    def journal_observer(self) -> Observer | None:
        if self.journal is None:
            return None
        from .journal import Journal

        if self.journal is DEFAULT_JOURNAL:
            self.journal = Journal.default()
        elif isinstance(self.journal, str):
            self.journal = Journal(self.journal)
        observer: Observer = self.journal
        return observer

    def hooks_for(self, given: dict[str, Callable[..., Any]]) -> Hooks:
        """The call's hooks: the per-call ones over the client's, the journal first among observers."""
        journal = self.journal_observer()
        observers = ([journal] if journal is not None else []) + list(self.observers)
        return Hooks(**{**self.hooks, **given}, observers=observers)


@dataclass(eq=False)
class Call:
    """What `wrap()` decided for one call; the middleware finds it through `MARK_HEADER`."""

    policy: Policy
    hooks: Hooks
    timeout: Any = _NOT_GIVEN  # the caller's own `timeout=`, if any
    extra_headers: dict[str, Any] = field(default_factory=dict)  # the caller's own `extra_headers=`
    extra_body: dict[str, Any] = field(default_factory=dict)  # and `extra_body=`
    gen: Generation | None = None
    message: LongcallMessage | None = None  # the engine's message (its `stopped_by` and the rest)
    # Fields of the server's last message_delta that the engine does not keep (`context_management`,
    # `input_transformations`, ...): carried onto the stitched message_delta and message.
    delta_fields: dict[str, Any] = field(default_factory=dict)

    def note_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "message_delta":
            self.delta_fields = {k: v for k, v in event.items() if k not in ("type", "delta", "usage")}

    def with_delta_fields(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.delta_fields:
            return events
        return [
            {**event, **self.delta_fields} if event["type"] == "message_delta" else event for event in events
        ]


_CALLS: weakref.WeakValueDictionary[str, Call] = weakref.WeakValueDictionary()


def register(call: Call) -> str:
    """The marker value under which the middleware finds `call` (while the caller holds it)."""
    key = uuid.uuid4().hex
    _CALLS[key] = call
    return key


def is_messages_request(request: APIRequest) -> bool:
    return request.method.lower() == "post" and httpx2.URL(request.url).path.endswith("/v1/messages")


class LongcallMiddleware(Middleware):
    """Retries, resume and stitching for the streaming Messages API requests of an SDK client.

    Pass it to `anthropic.Anthropic(middleware=[...])`, `AsyncAnthropic(middleware=[...])` or
    `client.with_middleware(...)`; `longcall.middleware(...)` builds one. Give that client
    `max_retries=0`: longcall does the retrying, and a failure it gives up on would otherwise be sent
    again by the SDK.
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()

    def __repr__(self) -> str:
        return f"<longcall middleware policy={self.config.policy!r}>"

    def handle(self, request: APIRequest, call_next: CallNext) -> APIResponse[Any]:
        planned = self._plan(request)
        if planned is None:
            return call_next(request)
        gen, call = planned
        sender = _Sender(request, call_next)
        try:
            if request.stream:
                driver = drive_sync(sender, gen)
                first = next(driver)  # the request is sent, and answered, when the SDK's would be
                return sender.stream_response(_frames(first, driver, sender, call))
            message = call.message = run_sync(sender, gen)
        except Exception as exc:
            raise translate(exc, sender, gen) from exc.__cause__
        return sender.message_response(message, call)

    async def handle_async(self, request: APIRequest, call_next: AsyncCallNext) -> AsyncAPIResponse[Any]:
        planned = self._plan(request)
        if planned is None:
            return await call_next(request)
        gen, call = planned
        sender = _AsyncSender(request, call_next)
        try:
            if request.stream:
                result: list[LongcallMessage] = []
                driver = drive_async(sender, gen, result)
                first = await driver.__anext__()
                return sender.stream_response(_aframes(first, driver, result, sender, call))
            message = call.message = await run_async(sender, gen)
        except Exception as exc:
            raise translate(exc, sender, gen) from exc.__cause__
        return await sender.message_response(message, call)

    def _plan(self, request: APIRequest) -> tuple[Generation, Call] | None:
        """The engine for this request, or None when it passes through."""
        if not is_messages_request(request) or not isinstance(request.json, dict):
            return None
        key = request.headers.get(MARK_HEADER)
        call = _CALLS.get(str(key)) if key is not None else None
        if call is None:
            if not request.stream:
                return None  # a plain create(): the SDK already refused it if it could take too long
            call = Call(policy=self.config.policy, hooks=self.config.hooks_for({}))
        params = {k: v for k, v in request.json.items() if k != "stream"}
        # Kept as the caller gave them, so the journal can replay the call exactly.
        extra_body = {**call.extra_body, **(request.options.extra_json or {})}
        if extra_body:  # the SDK merged the caller's into the body: take them out again
            for name, value in extra_body.items():
                if params.get(name) == value:
                    del params[name]
            params["extra_body"] = extra_body
        extra_headers = dict(call.extra_headers)
        beta = request.headers.get("anthropic-beta")
        if beta and not any(name.lower() == "anthropic-beta" for name in extra_headers):
            extra_headers["anthropic-beta"] = beta  # from `betas=[...]`
        if extra_headers:
            params["extra_headers"] = extra_headers
        if call.timeout is not _NOT_GIVEN:
            params["timeout"] = call.timeout
        elif key is None and not isinstance(request.timeout, anthropic.NotGiven):
            params["timeout"] = request.timeout  # set per call on an unwrapped client: honour it
        with warnings.catch_warnings():
            if key is None:  # the model was never checked by wrap(): the engine only needs a guess
                warnings.simplefilter("ignore", UnknownModelWarning)
            accepts_prefill = lookup(str(params.get("model"))).accepts_prefill
        user_on_event = call.hooks.on_event

        def on_event(event: dict[str, Any]) -> None:
            call.note_event(event)
            if user_on_event is not None:
                user_on_event(event)

        gen = Generation(
            params,
            call.policy,
            hooks=replace(call.hooks, on_event=on_event),
            emit=request.stream,
            accepts_prefill=accepts_prefill,
            now=time.monotonic(),
            wall=time.time(),
            random=jitter,
        )
        call.gen = gen
        return gen, call


def middleware(
    *,
    policy: Policy | None = None,
    journal: Any = None,
    on_text: Callable[[str], None] | None = None,
    on_thinking: Callable[[str], None] | None = None,
    on_tool_input: Callable[[str], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_attempt: Callable[[Any], None] | None = None,
    observers: list[Observer] | None = None,
) -> LongcallMiddleware:
    """longcall as an SDK middleware, for clients you do not call yourself (frameworks).

    ```python
    client = anthropic.Anthropic(max_retries=0, middleware=[longcall.middleware()])
    agent = pydantic_ai.Agent(AnthropicModel("claude-sonnet-4-6", provider=AnthropicProvider(
        anthropic_client=client)))
    ```

    Streaming Messages API requests through that client (the SDK's `messages.stream()`,
    `create(stream=True)`, `beta.messages.*`) are retried, resumed and stitched; everything else
    passes through. A non-streaming `create` with a large `max_tokens` is still refused by the SDK
    before any middleware runs: use `wrap()` for that.

    Args:
        policy: retry/resume/continue settings; `longcall.Policy()` by default.
        journal: None (the default here: frameworks make many calls), a path, or a `longcall.Journal`.
        on_text, on_thinking, on_tool_input, on_event, on_attempt, observers: as for `wrap()`.

    Returns:
        A `LongcallMiddleware`, usable by sync and async clients.
    """
    hooks = {
        name: value
        for name, value in zip(
            HOOK_NAMES, (on_text, on_thinking, on_tool_input, on_event, on_attempt), strict=True
        )
        if value is not None
    }
    return LongcallMiddleware(
        Config(policy=policy or Policy(), hooks=hooks, journal=journal, observers=list(observers or []))
    )


# -- one attempt: the drivers' `create(**params)` over the rest of the chain --------------------------


class _Replay:
    """A JSON message read as the SSE stream that would have carried it."""

    def __init__(self, headers: httpx2.Headers, body: bytes) -> None:
        self.headers = headers
        self._body = body

    def iter_bytes(self) -> Iterator[bytes]:
        yield self._body


class _AsyncReplay(_Replay):
    async def iter_bytes(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        yield self._body


class _BaseSender:
    """What the sync and async senders share: building each attempt's request, and the responses
    handed back to the SDK."""

    def __init__(self, request: APIRequest) -> None:
        self.request = request
        self.last: Any = None  # the last attempt's APIResponse that answered 2xx
        self.http: httpx2.Response | None = None  # the last attempt's response, whatever its status

    def attempt_request(self, params: dict[str, Any]) -> APIRequest:
        timeout = params.pop("timeout", _NOT_GIVEN)
        extra_body = params.pop("extra_body", None)
        extra_headers = params.pop("extra_headers", None) or {}
        options = model_copy(self.request.options)
        headers = {k: v for k, v in self.request.headers.items() if k.lower() != MARK_HEADER}
        options.headers = {**headers, **extra_headers}
        options.json_data = params
        options.extra_json = extra_body
        if timeout is not _NOT_GIVEN:
            options.timeout = timeout
        return APIRequest(
            options=options,
            cast_to=self.request.cast_to,
            stream=True,
            stream_cls=self.request.stream_cls or anthropic.Stream,
            retries_taken=self.request.retries_taken,
        )

    def opened(self, response: Any) -> bool:
        """Note an attempt's 2xx response; True when its body is JSON rather than an event stream
        (a proxy that ignored `stream`). An HTML page is refused at once, never retried."""
        http: httpx2.Response = response.http_response
        self.http = http
        self.last = response
        kind = http.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "text/html":
            raise ProtocolViolation("the server answered with an HTML page, not an event stream")
        return kind == "application/json" or kind.endswith("+json")  # else SSE, as the SDK assumes

    def json_body(self, http: httpx2.Response) -> bytes:
        try:
            body = http.json()
        except ValueError:
            raise ProtocolViolation("the server answered with a JSON content type but no JSON") from None
        if not (isinstance(body, dict) and body.get("type") == "message"):
            raise ProtocolViolation(
                f"the server answered a streaming request with JSON that is not a message: {str(body)[:200]}"
            )
        return message_stream_bytes(body)

    def _headers(self, content_type: str) -> httpx2.Headers:
        headers: httpx2.Headers = self.last.http_response.headers.copy()
        for name in ("content-encoding", "content-length", "transfer-encoding"):
            headers.pop(name, None)
        headers["content-type"] = content_type
        return headers

    def _message_http(self, message: LongcallMessage, call: Call) -> httpx2.Response:
        data = {**message.to_dict(mode="json", warnings=False), **call.delta_fields}
        body = json.dumps(data, ensure_ascii=False).encode()
        return httpx2.Response(  # a body to read, as the SDK's `with_streaming_response` expects
            200,
            headers=self._headers("application/json"),
            stream=httpx2.ByteStream(body),
            request=self.last.http_response.request,
        )

    def _stream_http(self, stream: Any) -> httpx2.Response:
        return httpx2.Response(
            self.last.http_response.status_code,
            headers=self._headers("text/event-stream"),
            stream=stream,
            request=self.last.http_response.request,
        )

    def streamed_view(self) -> bool:
        """Whether the caller asked for `with_streaming_response` (the body is read when asked)."""
        return self.request.headers.get(RAW_RESPONSE_HEADER) == "stream"

    def _response_args(self) -> dict[str, Any]:
        last = self.last
        return {
            "cast_to": self.request.cast_to,
            "client": last._client,
            "options": last._options,
            "retries_taken": self.request.retries_taken,
        }


class _Sender(_BaseSender):
    def __init__(self, request: APIRequest, call_next: CallNext) -> None:
        super().__init__(request)
        self._call_next = call_next

    @contextmanager
    def create(self, **params: Any) -> Iterator[Any]:
        response = self._call_next(self.attempt_request(params))
        http = response.http_response
        try:
            if not http.is_success:
                http.read()
                self.http = http
                raise response._client._make_status_error_from_response(http)
            if not self.opened(response):
                yield response
            else:
                http.read()
                yield _Replay(http.headers, self.json_body(http))
        finally:
            http.close()

    def count_tokens(self, **params: Any) -> Any:
        """The engine's count of a broken attempt's output, through the SDK (it passes the middleware)."""
        if self.last is None:
            raise RuntimeError("no response yet to count with")
        return self.last._client.messages.with_streaming_response.count_tokens(**params)

    def stream_response(self, frames: Iterator[bytes]) -> APIResponse[Any]:
        raw = self._stream_http(_FrameStream(frames))
        return APIResponse(raw=raw, stream=True, stream_cls=self.request.stream_cls, **self._response_args())

    def message_response(self, message: LongcallMessage, call: Call) -> APIResponse[Any]:
        raw = self._message_http(message, call)
        if not self.streamed_view():
            raw.read()
        return APIResponse(raw=raw, stream=False, stream_cls=None, **self._response_args())


class _AsyncSender(_BaseSender):
    def __init__(self, request: APIRequest, call_next: AsyncCallNext) -> None:
        super().__init__(request)
        self._call_next = call_next

    @asynccontextmanager
    async def create(self, **params: Any) -> AsyncIterator[Any]:
        response = await self._call_next(self.attempt_request(params))
        http = response.http_response
        try:
            if not http.is_success:
                await http.aread()
                self.http = http
                raise response._client._make_status_error_from_response(http)
            if not self.opened(response):
                yield response
            else:
                await http.aread()
                yield _AsyncReplay(http.headers, self.json_body(http))
        finally:
            await http.aclose()

    def count_tokens(self, **params: Any) -> Any:
        if self.last is None:
            raise RuntimeError("no response yet to count with")
        return self.last._client.messages.with_streaming_response.count_tokens(**params)

    def stream_response(self, frames: AsyncIterator[bytes]) -> AsyncAPIResponse[Any]:
        raw = self._stream_http(_AsyncFrameStream(frames))
        return AsyncAPIResponse(
            raw=raw, stream=True, stream_cls=self.request.stream_cls, **self._response_args()
        )

    async def message_response(self, message: LongcallMessage, call: Call) -> AsyncAPIResponse[Any]:
        raw = self._message_http(message, call)
        if not self.streamed_view():
            await raw.aread()
        return AsyncAPIResponse(raw=raw, stream=False, stream_cls=None, **self._response_args())


# -- the stitched stream, as the bytes the SDK reads ------------------------------------------------


_encode = json.JSONEncoder(ensure_ascii=False).encode  # one encoder: `json.dumps` builds one per call
_DELTA_KEYS = ("type", "index", "delta")
_DELTA_FIELDS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}
_DELTA_EVENT = (
    'event: content_block_delta\ndata: {"type": "content_block_delta", "index": %d, '
    '"delta": {"type": "%s", "%s": %s}}\n\n'
)


def sse_bytes(events: list[dict[str, Any]]) -> bytes:
    """The events as the SSE bytes the SDK reads, each exactly as `json.dumps` writes it; a token
    delta (nearly every event) is filled into a template, 6x cheaper than encoding its dict."""
    parts = []
    for event in events:
        if tuple(event) == _DELTA_KEYS and event["type"] == "content_block_delta":
            index, delta = event["index"], event["delta"]
            if type(index) is int and type(delta) is dict and len(delta) == 2:
                kind = delta.get("type")
                field = _DELTA_FIELDS.get(kind) if type(kind) is str else None
                piece = delta.get(field) if field is not None else None
                if type(piece) is str and tuple(delta) == ("type", field):
                    parts.append(_DELTA_EVENT % (index, kind, field, encode_basestring(piece)))
                    continue
        parts.append(f"event: {event['type']}\ndata: {_encode(event)}\n\n")
    return "".join(parts).encode()


def message_stream_bytes(message: dict[str, Any]) -> bytes:
    """A whole message (a JSON answer to a streaming request) as the events that stream it."""
    content = message.get("content") or []
    start = {k: v for k, v in message.items() if k not in ("stop_reason", "stop_sequence")}
    start.update(content=[], stop_reason=None, stop_sequence=None)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(content):
        kind = block.get("type")
        delta: dict[str, Any] | None = None
        opened = dict(block)
        if kind == "text":
            opened["text"] = ""
            delta = {"type": "text_delta", "text": block.get("text", "")}
        elif kind == "thinking":
            opened.update(thinking="", signature="")
            delta = {"type": "thinking_delta", "thinking": block.get("thinking", "")}
        elif kind in ("tool_use", "server_tool_use"):
            opened["input"] = {}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))}
        events.append({"type": "content_block_start", "index": index, "content_block": opened})
        if delta is not None:
            events.append({"type": "content_block_delta", "index": index, "delta": delta})
        if kind == "thinking" and block.get("signature"):
            signature = {"type": "signature_delta", "signature": block["signature"]}
            events.append({"type": "content_block_delta", "index": index, "delta": signature})
        events.append({"type": "content_block_stop", "index": index})
    stop = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    events.append({"type": "message_delta", "delta": stop, "usage": message.get("usage") or {}})
    events.append({"type": "message_stop"})
    return sse_bytes(events)


def _frames(
    first: list[dict[str, Any]], driver: Iterator[list[dict[str, Any]]], sender: _Sender, call: Call
) -> Iterator[bytes]:
    assert call.gen is not None
    try:
        yield sse_bytes(first)
        while True:
            try:
                batch = next(driver)
            except StopIteration as stop:
                call.message = stop.value  # for the stream's final message: its `stopped_by`
                return
            yield sse_bytes(call.with_delta_fields(batch))
    except Exception as exc:
        raise translate(exc, sender, call.gen) from exc.__cause__
    finally:
        driver.close()  # type: ignore[attr-defined]


async def _aframes(
    first: list[dict[str, Any]],
    driver: Any,
    result: list[LongcallMessage],
    sender: _AsyncSender,
    call: Call,
) -> AsyncIterator[bytes]:
    assert call.gen is not None
    try:
        yield sse_bytes(first)
        async for batch in driver:
            yield sse_bytes(call.with_delta_fields(batch))
        call.message = result[0] if result else None
    except Exception as exc:
        raise translate(exc, sender, call.gen) from exc.__cause__
    finally:
        await driver.aclose()


class _FrameStream(httpx2.SyncByteStream):
    def __init__(self, frames: Iterator[bytes]) -> None:
        self._frames = frames

    def __iter__(self) -> Iterator[bytes]:
        return self._frames

    def close(self) -> None:
        self._frames.close()  # type: ignore[attr-defined]


class _AsyncFrameStream(httpx2.AsyncByteStream):
    def __init__(self, frames: AsyncIterator[bytes]) -> None:
        self._frames = frames

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames

    async def aclose(self) -> None:
        await self._frames.aclose()  # type: ignore[attr-defined]


# -- failures, as the SDK's classes ----------------------------------------------------------------

_EVENT_ERROR_CLASSES: dict[str, type[anthropic.APIStatusError]] = {
    "overloaded_error": anthropic.OverloadedError,
    "rate_limit_error": anthropic.RateLimitError,
    "api_error": anthropic.InternalServerError,
}


def translate(error: BaseException, sender: _BaseSender, gen: Generation) -> BaseException:
    """`error` as the caller sees it: a longcall failure that is also the SDK's class for its cause."""
    if isinstance(error, anthropic.APIStatusError) and not isinstance(error, _errors.GenerationFailed):
        # Refused before anything arrived: the SDK's exception, also a longcall one.
        failed = _errors.RequestRejected(
            error.message, attempts=gen.attempts, cause=error, call_id=gen.call_id
        )
        return _errors.with_sdk_class(failed, error)
    if not isinstance(error, _errors.GenerationFailed):
        return error
    sdk = _sdk_error(error, sender)
    return error if sdk is None else _errors.with_sdk_class(error, sdk)


def _sdk_error(error: _errors.GenerationFailed, sender: _BaseSender) -> anthropic.APIError | None:
    cause = error.cause
    if isinstance(cause, anthropic.APIError):
        return cause
    http = sender.http
    if isinstance(cause, ServerReportedError) and http is not None:
        body = {"type": "error", "error": cause.error}
        cls = _EVENT_ERROR_CLASSES.get(str(cause.error.get("type")), anthropic.APIStatusError)
        return cls(f"{body}", response=http, body=body)
    if isinstance(error, _errors.StreamProtocolError):
        return None
    request = http.request if http is not None else httpx2.Request("POST", sender.request.url)
    if isinstance(error, _errors.StreamStalled) or isinstance(
        cause, (httpx2.TimeoutException, DeadlinePassed)
    ):
        return anthropic.APITimeoutError(request=request)
    if isinstance(error, (_errors.StreamIncomplete, _errors.ServerError)):
        return anthropic.APIConnectionError(request=request)
    return None
