"""`wrap(client)`: the SDK client you have, with `messages.create` and `messages.stream` made long-safe.

Everything else on the client (`models`, `messages.count_tokens`, `beta`, `with_options`, ...) is the
SDK's own, reached through `__getattr__`. The sync and async clients share all preparation here; only
the driver loop differs (`_drivers`).
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import anthropic
from anthropic._base_client import AsyncAPIClient
from anthropic._models import construct_type
from anthropic.lib.streaming._types import (
    CitationEvent,
    ContentBlockStopEvent,
    InputJsonEvent,
    MessageStopEvent,
    SignatureEvent,
    TextEvent,
    ThinkingEvent,
)
from anthropic.types import ContentBlock, RawMessageStreamEvent
from pydantic import PrivateAttr

from ._catalog import check_context, lookup, resolve_max_tokens
from ._drivers import drive_async, drive_sync, jitter, run_async, run_sync
from ._engine import Generation, Hooks, LongcallMessage, Observer
from ._errors import InvalidRequest
from ._policy import Policy
from ._validate import validate_params

HOOK_NAMES = ("on_text", "on_thinking", "on_tool_input", "on_event", "on_attempt")
DEFAULT_JOURNAL: Any = object()  # sentinel: the per-user journal (see longcall.journal)

ClientT = TypeVar("ClientT", anthropic.Anthropic, anthropic.AsyncAnthropic)


@dataclass
class Config:
    """What `wrap()` was given; shared by every call through the wrapped client."""

    policy: Policy = field(default_factory=Policy)
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    journal: Any = DEFAULT_JOURNAL
    observers: list[Observer] = field(default_factory=list)
    token_counts: dict[str, int] = field(default_factory=dict)

    def journal_observer(self) -> Observer | None:
        if self.journal is None:
            return None
        try:
            from .journal import Journal
        except ImportError:  # pragma: no cover - the journal module is part of the package
            return None
        if self.journal is DEFAULT_JOURNAL:
            self.journal = Journal.default()
        elif isinstance(self.journal, str):
            self.journal = Journal(self.journal)
        observer: Observer = self.journal
        return observer


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    """Drop the SDK's "not given" markers, so `create(**kwargs)` passthrough code keeps working."""
    return {k: v for k, v in params.items() if not isinstance(v, (anthropic.NotGiven, anthropic.Omit))}


def _split(params: dict[str, Any], config: Config) -> tuple[dict[str, Any], Policy, Hooks]:
    params = _clean(params)
    policy = params.pop("longcall_policy", None) or config.policy
    if not isinstance(policy, Policy):
        raise InvalidRequest(f"longcall_policy must be a longcall.Policy, not {type(policy).__name__}")
    given = {name: params.pop(name) for name in HOOK_NAMES if name in params}
    merged = {**config.hooks, **given}
    journal = config.journal_observer()
    observers = ([journal] if journal is not None else []) + list(config.observers)  # journal first
    return params, policy, Hooks(**merged, observers=observers)


def _betas(params: dict[str, Any]) -> list[str]:
    headers = params.get("extra_headers") or {}
    value = headers.get("anthropic-beta") or headers.get("Anthropic-Beta") or ""
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _count_key(params: dict[str, Any]) -> str:
    fields = {k: params.get(k) for k in ("model", "system", "messages", "tools", "tool_choice", "thinking")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _count_params(params: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "system", "messages", "tools", "tool_choice", "thinking", "extra_headers")
    return {k: params[k] for k in keys if k in params}


def prepare(params: dict[str, Any], config: Config, *, emit: bool) -> tuple[Generation, int | None]:
    """Check the parameters and build the call's engine. Returns it and, when the policy asks for a
    pre-check, None if the input still has to be counted (else the cached count)."""
    params, policy, hooks = _split(params, config)
    if "model" not in params or not isinstance(params.get("model"), str):
        validate_params(params)  # names the problem with `model`
    info = lookup(params["model"])
    requested = params.get("max_tokens")
    if requested is not None and (isinstance(requested, bool) or not isinstance(requested, int)):
        validate_params(params)
    max_tokens, warning = resolve_max_tokens(
        requested, info, clamp=policy.clamp_max_tokens, betas=_betas(params)
    )
    if warning:
        warnings.warn(warning, stacklevel=4)
    params["max_tokens"] = max_tokens
    validate_params(params)
    gen = Generation(
        params,
        policy,
        hooks=hooks,
        emit=emit,
        accepts_prefill=info.accepts_prefill,
        now=time.monotonic(),
        wall=time.time(),
        random=jitter,
    )
    counted = config.token_counts.get(_count_key(params)) if policy.precheck else None
    return gen, counted


def precheck(gen: Generation, input_tokens: int, config: Config) -> None:
    config.token_counts[_count_key(gen.params)] = input_tokens
    check_context(input_tokens, gen.max_tokens, lookup(gen.params["model"]), betas=_betas(gen.params))


def typed_event(event: dict[str, Any]) -> RawMessageStreamEvent:
    """An event dict as the SDK's own type, as `create(stream=True)` yields it."""
    return cast(RawMessageStreamEvent, construct_type(type_=RawMessageStreamEvent, value=event))


View = Callable[[Generation, dict[str, Any]], list[Any]]


def raw_view(gen: Generation, event: dict[str, Any]) -> list[Any]:
    """`create(stream=True)`: each stitched event, as the SDK's type."""
    return [typed_event(event)]


class _LazySnapshot:
    """`snapshot` computed when read. The SDK's stream helper copies the whole block into every event,
    which costs time quadratic in the stream's length; here it costs only when someone looks."""

    def __getattr__(self, name: str) -> Any:
        if name == "snapshot":
            return object.__getattribute__(self, "__pydantic_private__")["_source"]()
        return super().__getattr__(name)  # type: ignore[misc]


class _TextEvent(_LazySnapshot, TextEvent):
    _source: Callable[[], Any] = PrivateAttr()


class _ThinkingEvent(_LazySnapshot, ThinkingEvent):
    _source: Callable[[], Any] = PrivateAttr()


class _InputJsonEvent(_LazySnapshot, InputJsonEvent):
    _source: Callable[[], Any] = PrivateAttr()


def _lazy(cls: type[Any], source: Callable[[], Any], **fields: Any) -> Any:
    event = cls.construct(**fields)
    event.__dict__.pop("snapshot", None)
    event._source = source
    return event


def helper_view(gen: Generation, event: dict[str, Any]) -> list[Any]:
    """`messages.stream()`: what the SDK's `MessageStream` yields for each event — the event, then a
    `text`, `thinking`, `input_json`, `citation` or `signature` event for a delta; the finished block on
    `content_block_stop`, the message on `message_stop`."""
    kind = event["type"]
    if kind == "content_block_delta":
        block = gen.acc.blocks[event["index"]]
        delta = event["delta"]
        derived: Any
        match delta.get("type"):
            case "text_delta":
                derived = _lazy(_TextEvent, block.text_value, type="text", text=delta["text"])
            case "thinking_delta":
                derived = _lazy(
                    _ThinkingEvent,
                    lambda: block.thinking_value(getattr(event, "parts", None)),
                    type="thinking",
                    thinking=delta["thinking"],
                )
            case "input_json_delta":
                derived = _lazy(
                    _InputJsonEvent,
                    lambda: block.input_snapshot(getattr(event, "parts", None)),
                    type="input_json",
                    partial_json=delta["partial_json"],
                )
            case "citations_delta":
                derived = CitationEvent.construct(
                    type="citation", citation=delta["citation"], snapshot=list(block.citations or [])
                )
            case "signature_delta":
                derived = SignatureEvent.construct(type="signature", signature=delta["signature"])
            case _:
                return [typed_event(event)]
        return [typed_event(event), derived]
    if kind == "content_block_stop":
        content_block = construct_type(type_=ContentBlock, value=gen.acc.blocks[event["index"]].to_dict())
        return [ContentBlockStopEvent.construct(type=kind, index=event["index"], content_block=content_block)]
    if kind == "message_stop":
        return [MessageStopEvent.construct(type=kind, message=gen.message())]
    return [typed_event(event)]


def _check_client(client: Any) -> None:
    name = type(client).__name__
    if "Bedrock" in name:
        raise InvalidRequest(
            "longcall cannot wrap a Bedrock client yet: Bedrock streams AWS event-stream frames, not SSE; "
            "use anthropic.Anthropic or AsyncAnthropic."
        )
    if not hasattr(client, "messages") or not hasattr(client, "with_options"):
        raise InvalidRequest(f"wrap() takes an anthropic.Anthropic or AsyncAnthropic client, not {name}")


# -- sync -----------------------------------------------------------------------------------------


class LongStream:
    """What `create(stream=True)` returns: the stitched events, typed as the SDK types them."""

    def __init__(self, raw_messages: Any, gen: Generation, view: View | None = None) -> None:
        self._gen = gen
        self._view = view or raw_view
        self._driver = drive_sync(raw_messages, gen)
        self._iterator = self._events()
        self.message: LongcallMessage | None = None

    def _events(self) -> Iterator[Any]:
        while True:
            try:
                batch = next(self._driver)
            except StopIteration as stop:
                self.message = stop.value
                return
            for event in batch:
                yield from self._view(self._gen, event)

    def __iter__(self) -> Iterator[Any]:
        return self._iterator

    def __next__(self) -> Any:
        return next(self._iterator)

    def __enter__(self) -> LongStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._driver.close()

    def get_final_message(self) -> LongcallMessage:
        for _ in self._iterator:
            pass
        assert self.message is not None
        return self.message


class _StreamView:
    """What the sync and async `messages.stream()` objects share: the message so far, the attempts."""

    _stream: Any

    @property
    def current_message_snapshot(self) -> LongcallMessage:
        message: LongcallMessage = self._stream.message or self._stream._gen.message()
        return message

    @property
    def attempts(self) -> list[Any]:
        attempts: list[Any] = self._stream._gen.attempts
        return attempts


class LongMessageStream(_StreamView):
    """The `messages.stream()` surface: events, `text_stream`, the snapshot, the final message."""

    def __init__(self, stream: LongStream) -> None:
        self._stream: LongStream = stream
        self.text_stream = self._text()

    def _text(self) -> Iterator[str]:
        for event in self._stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                yield event.delta.text

    def __iter__(self) -> Iterator[Any]:
        return iter(self._stream)

    def __next__(self) -> Any:
        return next(self._stream)

    def until_done(self) -> None:
        for _ in self._stream:
            pass

    def get_final_message(self) -> LongcallMessage:
        return self._stream.get_final_message()

    def get_final_text(self) -> str:
        return _final_text(self.get_final_message())

    def close(self) -> None:
        self._stream.close()


def _final_text(message: LongcallMessage) -> str:
    texts = [block.text for block in message.content if block.type == "text"]
    if not texts:
        kinds = ", ".join(block.type for block in message.content) or "no content"
        raise RuntimeError(f"get_final_text() needs a text block, but the message has {kinds}")
    return "".join(texts)


class LongMessageStreamManager:
    def __init__(self, make: Callable[[], LongStream]) -> None:
        self._make = make
        self._stream: LongMessageStream | None = None

    def __enter__(self) -> LongMessageStream:
        self._stream = LongMessageStream(self._make())
        return self._stream

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            self._stream.close()


class _Passthrough(Generic[ClientT]):
    _target: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _Client(_Passthrough[ClientT]):
    """What the sync and async wrapped clients share."""

    _config: Config

    @property
    def unwrapped(self) -> ClientT:
        """The SDK client that was wrapped."""
        client: ClientT = self._target
        return client

    def __repr__(self) -> str:
        return f"<longcall {type(self._target).__name__} policy={self._config.policy!r}>"


class LongMessages(_Passthrough[anthropic.Anthropic]):
    """`client.messages`, with `create` and `stream` streamed, retried and resumed."""

    def __init__(self, client: anthropic.Anthropic, config: Config) -> None:
        self._target = client.messages
        self._raw = client.with_options(max_retries=0).messages.with_streaming_response
        self._config = config

    def create(self, **params: Any) -> Any:
        """`messages.create` with the SDK's parameters; returns a `Message` (an iterator of events
        with `stream=True`). Also takes `longcall_policy=` and the hooks `on_text=`, ... per call."""
        stream = bool(params.pop("stream", False))
        gen = self._prepare(params, emit=stream)
        if stream:
            return LongStream(self._raw, gen)
        return run_sync(self._raw, gen)

    def stream(self, **params: Any) -> LongMessageStreamManager:
        """Like the SDK's `messages.stream`: a context manager giving a stream with `text_stream`,
        `get_final_message()` and `get_final_text()`."""
        params.pop("stream", None)
        return LongMessageStreamManager(
            lambda: LongStream(self._raw, self._prepare(params, emit=True), helper_view)
        )

    def _prepare(self, params: dict[str, Any], *, emit: bool) -> Generation:
        gen, counted = prepare(params, self._config, emit=emit)
        if gen.policy.precheck:
            if counted is None:
                counted = self._target.count_tokens(**_count_params(gen.params)).input_tokens
            precheck(gen, int(counted), self._config)
        return gen


class LongClient(_Client[anthropic.Anthropic]):
    """A wrapped `anthropic.Anthropic`: use it exactly as the SDK client."""

    def __init__(self, client: anthropic.Anthropic, config: Config) -> None:
        self._target = client
        self._config = config
        self.messages = LongMessages(client, config)

    def with_options(self, **options: Any) -> LongClient:
        return LongClient(self._target.with_options(**options), self._config)

    def __enter__(self) -> LongClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._target.close()


# -- async ----------------------------------------------------------------------------------------


class AsyncLongStream:
    """The async `create(stream=True)` result."""

    def __init__(self, raw_messages: Any, gen: Generation, view: View | None = None) -> None:
        self._gen = gen
        self._view = view or raw_view
        self._result: list[LongcallMessage] = []
        self._driver = drive_async(raw_messages, gen, self._result)
        self._iterator = self._events()

    @property
    def message(self) -> LongcallMessage | None:
        return self._result[0] if self._result else None

    async def _events(self) -> AsyncIterator[Any]:
        async for batch in self._driver:
            for event in batch:
                for item in self._view(self._gen, event):
                    yield item

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterator

    async def __anext__(self) -> Any:
        return await self._iterator.__anext__()

    async def __aenter__(self) -> AsyncLongStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._driver.aclose()

    async def get_final_message(self) -> LongcallMessage:
        async for _ in self._iterator:
            pass
        assert self._result
        return self._result[0]


class AsyncLongMessageStream(_StreamView):
    def __init__(self, stream: AsyncLongStream) -> None:
        self._stream: AsyncLongStream = stream
        self.text_stream = self._text()

    async def _text(self) -> AsyncIterator[str]:
        async for event in self._stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                yield event.delta.text

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._stream.__aiter__()

    async def __anext__(self) -> Any:
        return await self._stream.__anext__()

    async def until_done(self) -> None:
        async for _ in self._stream:
            pass

    async def get_final_message(self) -> LongcallMessage:
        return await self._stream.get_final_message()

    async def get_final_text(self) -> str:
        return _final_text(await self.get_final_message())

    async def close(self) -> None:
        await self._stream.close()


class AsyncLongMessageStreamManager:
    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._stream: AsyncLongMessageStream | None = None

    async def __aenter__(self) -> AsyncLongMessageStream:
        self._stream = AsyncLongMessageStream(await self._make())
        return self._stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stream is not None:
            await self._stream.close()


class AsyncLongMessages(_Passthrough[anthropic.AsyncAnthropic]):
    """The async `client.messages`."""

    def __init__(self, client: anthropic.AsyncAnthropic, config: Config) -> None:
        self._target = client.messages
        self._raw = client.with_options(max_retries=0).messages.with_streaming_response
        self._config = config

    async def create(self, **params: Any) -> Any:
        """Async `messages.create`; see `LongMessages.create`."""
        stream = bool(params.pop("stream", False))
        gen = await self._prepare(params, emit=stream)
        if stream:
            return AsyncLongStream(self._raw, gen)
        return await run_async(self._raw, gen)

    def stream(self, **params: Any) -> AsyncLongMessageStreamManager:
        params.pop("stream", None)

        async def make() -> AsyncLongStream:
            return AsyncLongStream(self._raw, await self._prepare(params, emit=True), helper_view)

        return AsyncLongMessageStreamManager(make)

    async def _prepare(self, params: dict[str, Any], *, emit: bool) -> Generation:
        gen, counted = prepare(params, self._config, emit=emit)
        if gen.policy.precheck:
            if counted is None:
                counted = (await self._target.count_tokens(**_count_params(gen.params))).input_tokens
            precheck(gen, int(counted), self._config)
        return gen


class AsyncLongClient(_Client[anthropic.AsyncAnthropic]):
    """A wrapped `anthropic.AsyncAnthropic`."""

    def __init__(self, client: anthropic.AsyncAnthropic, config: Config) -> None:
        self._target = client
        self._config = config
        self.messages = AsyncLongMessages(client, config)

    def with_options(self, **options: Any) -> AsyncLongClient:
        return AsyncLongClient(self._target.with_options(**options), self._config)

    async def __aenter__(self) -> AsyncLongClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._target.close()


def wrap(
    client: Any,
    *,
    policy: Policy | None = None,
    journal: Any = DEFAULT_JOURNAL,
    on_text: Callable[[str], None] | None = None,
    on_thinking: Callable[[str], None] | None = None,
    on_tool_input: Callable[[str], None] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_attempt: Callable[[Any], None] | None = None,
    observers: list[Observer] | None = None,
) -> Any:
    """Wrap an SDK client so every `messages.create` streams, retries and resumes.

    Args:
        client: an `anthropic.Anthropic` or `anthropic.AsyncAnthropic` (or a subclass, such as the
            Vertex clients, which speak the same SSE).
        policy: retry/resume/continue settings; `longcall.Policy()` by default.
        journal: where calls are recorded: the per-user journal by default, a path, a
            `longcall.Journal`, or None for no journal.
        on_text, on_thinking, on_tool_input: called with each new piece of text, thinking or tool
            input JSON as it arrives (after stitching, so a resume never repeats text).
        on_event: called with each raw event dict as received from the server.
        on_attempt: called with each `Attempt` record when that request ends.
        observers: extra `Observer`s (see `longcall._engine.Observer`).

    Returns:
        A client with the same surface; `LongClient` or `AsyncLongClient`.

    Raises:
        InvalidRequest: the client is not one longcall can drive.
    """
    _check_client(client)
    hooks = {
        name: value
        for name, value in (
            ("on_text", on_text),
            ("on_thinking", on_thinking),
            ("on_tool_input", on_tool_input),
            ("on_event", on_event),
            ("on_attempt", on_attempt),
        )
        if value is not None
    }
    if isinstance(client, (LongClient, AsyncLongClient)):
        base = client._config
        config = replace(
            base,
            policy=policy or base.policy,
            hooks={**base.hooks, **hooks},
            journal=base.journal if journal is DEFAULT_JOURNAL else journal,
        )
        client = client._target
    else:
        config = Config(
            policy=policy or Policy(), hooks=hooks, journal=journal, observers=list(observers or [])
        )
    if isinstance(client, AsyncAPIClient):
        return AsyncLongClient(cast(anthropic.AsyncAnthropic, client), config)
    return LongClient(client, config)
