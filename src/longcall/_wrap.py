"""`wrap(client)`: the SDK client you have, with every generating call made long-safe.

A wrapped client is the SDK client itself with longcall's middleware (`_middleware`) added last
and the SDK's retries off. Each generating method in `SURFACES` is the SDK's own method, called with
longcall's checks and defaults first (`max_tokens` filled in, parameters validated, the pre-check),
a marker header that hands the call's policy and hooks to the middleware, and an explicit `timeout`
so the SDK does not refuse a long non-streaming call ("Streaming is required..."). The middleware
then streams, retries, resumes and stitches, and the SDK builds the result it always builds: a
`Message` or `BetaMessage` (made a `LongcallMessage` / `LongcallBetaMessage`, with `.attempts`), a
`ParsedMessage`, a `Stream`, a `MessageStream`, an `APIResponse` for `with_raw_response` and
`with_streaming_response`, with `_request_id`, `.response` and `.request_id` as the SDK sets them.

Everything else on the client (`models`, `messages.count_tokens`, `messages.batches`, ...) is the
SDK's own, reached through `__getattr__`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, cast

import anthropic
from anthropic._base_client import AsyncAPIClient
from anthropic._response import (
    APIResponse,
    AsyncAPIResponse,
    async_to_raw_response_wrapper,
    async_to_streamed_response_wrapper,
    to_raw_response_wrapper,
    to_streamed_response_wrapper,
)
from anthropic.types import Message, ParsedMessage
from anthropic.types.beta import BetaMessage
from anthropic.types.beta.parsed_beta_message import ParsedBetaMessage
from anthropic.types.beta.parsed_beta_message import ResponseFormatT as BetaResponseFormatT
from anthropic.types.parsed_message import ResponseFormatT

from . import _models_api
from ._catalog import ModelInfo, check_context, lookup, resolve_max_tokens
from ._engine import LongcallMessage, Observer
from ._errors import InvalidRequest
from ._middleware import (
    DEFAULT_JOURNAL,
    HOOK_NAMES,
    MARK_HEADER,
    Call,
    Config,
    LongcallMiddleware,
    register,
)
from ._policy import Policy
from ._record import Recorded
from ._validate import validate_params

ClientT = TypeVar("ClientT", anthropic.Anthropic, anthropic.AsyncAnthropic)


class LongcallBetaMessage(Recorded, BetaMessage):
    """An `anthropic.types.beta.BetaMessage` that also knows how it was made (see `LongcallMessage`)."""


# The SDK's own type variables, so that the unparametrized classes have the SDK's block types.
class LongcallParsedMessage(Recorded, ParsedMessage[ResponseFormatT], Generic[ResponseFormatT]):
    """The SDK's `ParsedMessage` (from `parse`, and the final message of `stream()`), with
    `attempts`, `call_id` and `stopped_by`."""


class LongcallParsedBetaMessage(
    Recorded, ParsedBetaMessage[BetaResponseFormatT], Generic[BetaResponseFormatT]
):
    """The SDK's `ParsedBetaMessage`, with `attempts`, `call_id` and `stopped_by`."""


@dataclass(frozen=True)
class Surface:
    """One generating method of the SDK, made long-safe.

    resource: where it lives on the client. method: its name there. sends: when the SDK sends the
    request: "call" (inside the call, as `create` and `parse`) or "enter" (on `__enter__`, as
    `stream`). The result is always the SDK's; a plain `Message` / `BetaMessage` becomes the class
    in `RECORDED`, which carries `.attempts` and `.call_id`.
    """

    resource: tuple[str, ...]
    method: str
    sends: str


SURFACES = {
    (surface.resource, surface.method): surface
    for surface in (
        Surface(("messages",), "create", "call"),
        Surface(("messages",), "parse", "call"),
        Surface(("messages",), "stream", "enter"),
        Surface(("beta", "messages"), "create", "call"),
        Surface(("beta", "messages"), "parse", "call"),
        Surface(("beta", "messages"), "stream", "enter"),
    )
}
RECORDED: dict[type[Any], type[Any]] = {
    Message: LongcallMessage,
    BetaMessage: LongcallBetaMessage,
    ParsedMessage: LongcallParsedMessage,
    ParsedBetaMessage: LongcallParsedBetaMessage,
}
# The SDK's views that hand back the HTTP response: name -> (sync wrapper, async wrapper).
RESPONSE_VIEWS = {
    "with_raw_response": (to_raw_response_wrapper, async_to_raw_response_wrapper),
    "with_streaming_response": (to_streamed_response_wrapper, async_to_streamed_response_wrapper),
}


# -- what every call does before the SDK sees it ---------------------------------------------------------


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    """Drop the SDK's "not given" markers, so `create(**kwargs)` passthrough code keeps working."""
    return {k: v for k, v in params.items() if not isinstance(v, (anthropic.NotGiven, anthropic.Omit))}


def _betas(params: dict[str, Any]) -> list[str]:
    given = params.get("betas") or []
    headers = params.get("extra_headers") or {}
    header = headers.get("anthropic-beta") or headers.get("Anthropic-Beta") or ""
    parts = [str(beta) for beta in ([given] if isinstance(given, str) else given)]
    return parts + [part.strip() for part in str(header).split(",") if part.strip()]


def _count_key(params: dict[str, Any]) -> str:
    keys = ("model", "system", "messages", "tools", "tool_choice", "thinking", "betas")
    fields = {k: params.get(k) for k in keys}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _count_params(params: dict[str, Any]) -> dict[str, Any]:
    keys = ("model", "system", "messages", "tools", "tool_choice", "thinking", "extra_headers", "betas")
    return {k: params[k] for k in keys if k in params}


@dataclass
class Prepared:
    """One call, ready for the SDK: its keyword arguments (marker included) and what the middleware
    needs; `count` is None when the pre-check still has to count the input."""

    params: dict[str, Any]
    call: Call
    count: int | None
    key: str
    info: ModelInfo


def prepare(params: dict[str, Any], config: Config, *, timeout: Any, info: ModelInfo | None) -> Prepared:
    """Check the parameters, fill in `max_tokens` (from `info`, what `_models_api` says about the
    model), and mark the call for the middleware."""
    params = _clean(params)
    policy = params.pop("longcall_policy", None) or config.policy
    if not isinstance(policy, Policy):
        raise InvalidRequest(f"longcall_policy must be a longcall.Policy, not {type(policy).__name__}")
    given = {name: params.pop(name) for name in HOOK_NAMES if name in params}
    if "model" not in params or not isinstance(params.get("model"), str):
        validate_params(params)  # names the problem with `model`
    requested = params.get("max_tokens")
    if requested is not None and (isinstance(requested, bool) or not isinstance(requested, int)):
        validate_params(params)
    if info is None:
        info = lookup(params["model"])
    max_tokens, warning = resolve_max_tokens(
        requested, info, clamp=policy.clamp_max_tokens, betas=_betas(params)
    )
    if warning:
        warnings.warn(warning, stacklevel=5)
    params["max_tokens"] = max_tokens
    validate_params(params)
    own_timeout = {"timeout": params["timeout"]} if "timeout" in params else {}
    call = Call(
        policy=policy,
        hooks=config.hooks_for(given),
        extra_headers=dict(params.get("extra_headers") or {}),
        extra_body=dict(params.get("extra_body") or {}),
        **own_timeout,
    )
    if "timeout" not in params and timeout is not None:
        params["timeout"] = timeout
    key = _count_key(params)
    params["extra_headers"] = {**(params.get("extra_headers") or {}), MARK_HEADER: register(call)}
    count = config.token_counts.get(key) if policy.precheck else None
    return Prepared(params, call, count, key, info)


def precheck(prepared: Prepared, input_tokens: int, config: Config) -> None:
    config.token_counts[prepared.key] = input_tokens
    params = prepared.params
    check_context(input_tokens, params["max_tokens"], prepared.info, betas=_betas(params))


def _recorded_class(cls: type[Any]) -> type[Any] | None:
    """The class in `RECORDED` for `cls`; `ParsedMessage[Harbor]` gives `LongcallParsedMessage[Harbor]`."""
    found = RECORDED.get(cls)
    if found is not None:
        return found
    generic = getattr(cls, "__pydantic_generic_metadata__", None) or {}
    origin = RECORDED.get(generic.get("origin"))  # type: ignore[arg-type]
    args = generic.get("args")
    return origin[args] if origin is not None and args else None


def recorded(result: Any, call: Call) -> Any:
    """The SDK's message (plain or parsed, beta or not) as the class that also carries the call's
    attempts; anything else as it is."""
    if isinstance(result, (APIResponse, AsyncAPIResponse)):  # `with_raw_response`, `with_streaming_response`
        return _recording(result, "parse", call)
    cls = _recorded_class(type(result))
    if cls is None or call.gen is None:
        return result
    made = call.message.__pydantic_private__ if call.message is not None else None
    private = {**(made or {}), **(result.__pydantic_private__ or {})}  # `_request_id`, as the SDK set it
    private.update(_attempts=call.gen.attempts, _call_id=call.gen.call_id)
    private.setdefault("_stopped_by", None)
    object.__setattr__(result, "__class__", cls)
    object.__setattr__(result, "__pydantic_private__", private)
    return result


def _recording(target: Any, method: str, call: Call) -> Any:
    """`target` (the SDK's `MessageStream` or `APIResponse`, sync or async) whose `method`
    (`get_final_message`, `parse`) gives the SDK's own message in its recorded class."""
    sdk_method = getattr(target, method)
    if inspect.iscoroutinefunction(sdk_method):

        async def arecording(*args: Any, **kwargs: Any) -> Any:
            return recorded(await sdk_method(*args, **kwargs), call)

        setattr(target, method, functools.wraps(sdk_method)(arecording))
    else:

        def recording(*args: Any, **kwargs: Any) -> Any:
            return recorded(sdk_method(*args, **kwargs), call)

        setattr(target, method, functools.wraps(sdk_method)(recording))
    return target


def _no_timeout_given(client: Any) -> Any:
    """The timeout the SDK would use for a stream: passing it keeps the SDK from refusing a long
    non-streaming call; the middleware replaces it per attempt with the idle timeout."""
    return client.timeout


# -- the wrapped resources ----------------------------------------------------------------------------


class _Passthrough(Generic[ClientT]):
    _target: Any

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _Resource:
    """A resource of the client (`messages`, `beta.messages`, `beta`): its generating methods (from
    `SURFACES`) long-safe, its response views too, its sub-resources wrapped, the rest the SDK's."""

    def __init__(self, target: Any, path: tuple[str, ...], client: Any, config: Config) -> None:
        self._target = target
        self._path = path
        self._client = client
        self._config = config

    def __getattr__(self, name: str) -> Any:
        surface = SURFACES.get((self._path, name))
        if surface is not None:
            return self._method(surface)
        if name in RESPONSE_VIEWS and any(path == self._path for path, _ in SURFACES):
            return _ResponseView(self, RESPONSE_VIEWS[name][self._is_async], getattr(self._target, name))
        if any(path[: len(self._path) + 1] == (*self._path, name) for path, _ in SURFACES):
            return type(self)(getattr(self._target, name), (*self._path, name), self._client, self._config)
        return getattr(self._target, name)

    _is_async = 0

    def __repr__(self) -> str:
        return f"<longcall {'.'.join(self._path)} of {type(self._client).__name__}>"

    def _prepare(self, surface: Surface, params: dict[str, Any], info: ModelInfo | None) -> Prepared:
        timeout = None if surface.sends == "enter" else _no_timeout_given(self._client)
        return prepare(params, self._config, timeout=timeout, info=info)

    def _method(self, surface: Surface) -> Callable[..., Any]:
        raise NotImplementedError


def _model(params: dict[str, Any]) -> str | None:
    """The call's model, which the Models API is asked about (None: `prepare` names the problem)."""
    model = params.get("model")
    return model if isinstance(model, str) else None


class _SyncResource(_Resource):
    def _method(self, surface: Surface) -> Callable[..., Any]:
        sdk_method = getattr(self._target, surface.method)

        def generate(**params: Any) -> Any:
            model = _model(params)  # the Models API once per process and server; cached on disk
            store = self._config.journal_observer() is not None
            info = _models_api.resolve(self._client, model, store=store) if model is not None else None
            prepared = self._prepare(surface, params, info)
            if prepared.call.policy.precheck:
                count = prepared.count
                if count is None:
                    count = self._target.count_tokens(**_count_params(prepared.params)).input_tokens
                precheck(prepared, int(count), self._config)
            result = sdk_method(**prepared.params)
            if surface.sends == "enter":
                return _StreamManager(result, prepared.call)
            return recorded(result, prepared.call)

        return functools.wraps(sdk_method)(generate)  # the SDK's signature, for `inspect`


class _AsyncResource(_Resource):
    _is_async = 1

    def _method(self, surface: Surface) -> Callable[..., Any]:
        sdk_method = getattr(self._target, surface.method)

        async def counted(prepared: Prepared) -> None:
            count = prepared.count
            if count is None:
                count = (await self._target.count_tokens(**_count_params(prepared.params))).input_tokens
            precheck(prepared, int(count), self._config)

        async def prepared_for(params: dict[str, Any]) -> Prepared:
            model = _model(params)  # the Models API once per process and server; cached on disk
            store = self._config.journal_observer() is not None
            info = await _models_api.aresolve(self._client, model, store=store) if model is not None else None
            prepared = self._prepare(surface, params, info)
            if prepared.call.policy.precheck:
                await counted(prepared)
            return prepared

        if surface.sends == "enter":

            def open_stream(**params: Any) -> Any:
                async def start() -> tuple[Any, Call]:
                    prepared = await prepared_for(params)
                    return sdk_method(**prepared.params), prepared.call

                return _AsyncStreamManager(start)

            return functools.wraps(sdk_method)(open_stream)

        async def generate(**params: Any) -> Any:
            prepared = await prepared_for(params)
            return recorded(await sdk_method(**prepared.params), prepared.call)

        return functools.wraps(sdk_method)(generate)


class _StreamManager:
    """The `stream()` manager: the SDK's, entered on `__enter__` (where it sends the request), whose
    stream's final message carries the attempts. It holds the call, so the middleware finds it."""

    def __init__(self, manager: Any, call: Call) -> None:
        self._manager = manager
        self._call = call

    def __enter__(self) -> Any:
        return _recording(self._manager.__enter__(), "get_final_message", self._call)

    def __exit__(self, *exc: Any) -> Any:
        return self._manager.__exit__(*exc)


class _AsyncStreamManager:
    """The async `stream()` manager. What needs a round trip before the request (the Models API,
    the pre-check's count) cannot be awaited in `stream()` itself, so it all happens on
    `__aenter__`, where the SDK sends the request; then the SDK's own manager is entered."""

    def __init__(self, start: Callable[[], Awaitable[tuple[Any, Call]]]) -> None:
        self._start = start
        self._manager: Any = None
        self._call: Call | None = None

    async def __aenter__(self) -> Any:
        self._manager, self._call = await self._start()
        stream = await self._manager.__aenter__()
        return _recording(stream, "get_final_message", self._call)

    async def __aexit__(self, *exc: Any) -> Any:
        if self._manager is None:
            return None
        return await self._manager.__aexit__(*exc)


class _ResponseView:
    """`with_raw_response` / `with_streaming_response`: the SDK's wrapper around the long-safe method
    (the response of the last attempt; `.parse()` gives the stitched message)."""

    def __init__(self, resource: _Resource, wrapper: Callable[..., Any], target: Any) -> None:
        self._resource = resource
        self._wrapper = wrapper
        self._target = target

    def __getattr__(self, name: str) -> Any:
        if (self._resource._path, name) in SURFACES and name != "stream":
            return self._wrapper(getattr(self._resource, name))
        return getattr(self._target, name)


# -- the wrapped clients ----------------------------------------------------------------------------


def _driven(client: Any, config: Config) -> Any:
    """The SDK client that does the work: longcall's middleware last, the SDK's retries off."""
    middleware = [*getattr(client, "middleware", ()), LongcallMiddleware(config)]
    return client.with_options(max_retries=0, middleware=middleware)


class _Client(_Passthrough[ClientT]):
    """What the sync and async wrapped clients share."""

    _resource_class: type[_Resource] = _SyncResource

    def __init__(self, client: ClientT, config: Config) -> None:
        self._original: ClientT = client
        self._config = config
        self._target = _driven(client, config)
        self.messages = self._resource_class(self._target.messages, ("messages",), self._target, config)
        self.beta = self._resource_class(self._target.beta, ("beta",), self._target, config)

    @property
    def unwrapped(self) -> ClientT:
        """The SDK client that was wrapped."""
        return self._original

    def copy(self, **options: Any) -> Any:
        """The SDK's `copy()` / `with_options()`, wrapped again with the same settings."""
        return type(self)(self._original.copy(**options), self._config)

    with_options = copy

    def with_middleware(self, *middleware: Any) -> Any:
        """The SDK's `with_middleware()`, wrapped again (longcall's middleware stays the innermost)."""
        return type(self)(self._original.with_middleware(*middleware), self._config)

    def __repr__(self) -> str:
        return f"<longcall {type(self._original).__name__} policy={self._config.policy!r}>"


class LongClient(_Client[anthropic.Anthropic]):
    """A wrapped `anthropic.Anthropic`: use it exactly as the SDK client."""

    def __enter__(self) -> LongClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._target.close()


class AsyncLongClient(_Client[anthropic.AsyncAnthropic]):
    """A wrapped `anthropic.AsyncAnthropic`."""

    _resource_class = _AsyncResource

    async def __aenter__(self) -> AsyncLongClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._target.close()


def _check_client(client: Any) -> None:
    name = type(client).__name__
    if "Bedrock" in name:
        raise InvalidRequest(
            "longcall cannot wrap a Bedrock client yet: Bedrock streams AWS event-stream frames, not SSE; "
            "use anthropic.Anthropic or AsyncAnthropic."
        )
    if not hasattr(client, "messages") or not hasattr(client, "with_options"):
        raise InvalidRequest(f"wrap() takes an anthropic.Anthropic or AsyncAnthropic client, not {name}")


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
    """Wrap an SDK client so every generating call streams, retries and resumes.

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
        for name, value in zip(
            HOOK_NAMES, (on_text, on_thinking, on_tool_input, on_event, on_attempt), strict=True
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
        client = client._original
    else:
        config = Config(
            policy=policy or Policy(), hooks=hooks, journal=journal, observers=list(observers or [])
        )
    if isinstance(client, AsyncAPIClient):
        return AsyncLongClient(cast(anthropic.AsyncAnthropic, client), config)
    return LongClient(client, config)
